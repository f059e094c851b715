package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tinyResumeRun is the model and data settings of the resume tests.
var tinyResumeRun = []string{"--max-batches", "2", "--patience", "0", "--device", "cpu", "--threads", "1",
	"--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1"}

// TestResumeRemovesTheStaleReport: a resumed run that trains on removes
// the report of its run so far before it trains (metrics.json and the
// plots), so that a run stopped before its end (here: standard output
// failing under --json after epoch 2) does not leave a report of epoch 1
// beside the model of epoch 2.
func TestResumeRemovesTheStaleReport(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", out, "--epochs", "1", "--quiet"}, tinyResumeRun...)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	for _, name := range []string{"metrics.json", "confusion.png", "curves.png"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Fatalf("the first run wrote no %s: %v", name, err)
		}
	}
	code, e := emotionStdoutFull([]string{"train", "--resume", filepath.Join(out, "state.safetensors"), "--epochs", "3", "--json", "--device", "cpu", "--threads", "1"})
	if code != 1 || !strings.Contains(e, "--json line") {
		t.Fatalf("--resume with a failing standard output: exit %d, stderr %q", code, e)
	}
	for _, name := range []string{"metrics.json", "confusion.png", "curves.png"} {
		if _, err := os.Stat(filepath.Join(out, name)); !os.IsNotExist(err) {
			t.Errorf("%s of the run before the resume is still there beside the newer model (%v)", name, err)
		}
	}
	if code, _, e := runEmotion(t, "train", "--resume", filepath.Join(out, "state.safetensors"), "--quiet", "--device", "cpu"); code != 0 {
		t.Fatalf("--resume to the end: exit %d: %s", code, e)
	}
	if _, err := readFoldReport(filepath.Join(out, "metrics.json")); err != nil {
		t.Errorf("the finished run has no report: %v", err)
	}
}

// TestResumeFinishedLOSOFold: resuming a fold of a finished loso run,
// from inside its folder by a relative path, trains nothing: its report
// is written again and the later folds keep theirs (their checkpoints are
// not rewritten). A --epochs below 1 is a usage error.
func TestResumeFinishedLOSOFold(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", out, "--epochs", "1", "--protocol", "loso", "--quiet"}, tinyResumeRun...)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	fold5 := filepath.Join(out, "fold5", "model.safetensors")
	before, err := os.Stat(fold5)
	if err != nil {
		t.Fatal(err)
	}
	summary, err := os.ReadFile(filepath.Join(out, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a rewrite would change the modification time
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(filepath.Join(out, "fold3")); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	code, _, e := runEmotion(t, "train", "--resume", "state.safetensors", "--device", "cpu", "--threads", "1")
	if code != 0 {
		t.Fatalf("--resume state.safetensors in fold3: exit %d: %s", code, e)
	}
	if !strings.Contains(e, "fold5: finished before; its report kept") {
		t.Errorf("the later folds were not kept: %s", e)
	}
	if after, err := os.Stat(fold5); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("fold 5's model.safetensors was rewritten (%v)", err)
	}
	if again, err := os.ReadFile(filepath.Join(out, "metrics.json")); err != nil || !bytes.Equal(again, summary) {
		t.Errorf("the summary over the folds changed (%v)", err)
	}
	for _, epochs := range []string{"0", "-3"} {
		code, _, e := runEmotion(t, "train", "--resume", "state.safetensors", "--epochs", epochs, "--device", "cpu")
		if code != 2 || !strings.Contains(e, "--epochs "+epochs+": want at least 1") {
			t.Errorf("--resume --epochs %s: exit %d, stderr %q", epochs, code, e)
		}
	}
}
