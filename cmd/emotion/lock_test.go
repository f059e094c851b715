//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainLocksRunFolder: a training into a folder another training is
// writing stops before it writes anything there (two concurrent runs
// into one --out interleaved their log.jsonl lines, and the folder ended
// with one run's config.json beside the other's checkpoints); once that
// run has ended, the folder is free again.
func TestTrainLocksRunFolder(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockRunFolder(out) // the other run
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"train", "--data", data, "--out", out, "--epochs", "1", "--max-batches", "1", "--quiet", "--device", "cpu",
		"--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1"}
	code, _, errOut := runEmotion(t, args...)
	if code != 1 || !strings.Contains(errOut, out) || !strings.Contains(errOut, "in use by another training") {
		t.Errorf("train into a locked folder: exit %d, stderr %q", code, errOut)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("train into a locked folder wrote %d files there", len(entries))
	}
	unlock()
	if code, _, errOut := runEmotion(t, args...); code != 0 {
		t.Fatalf("train after the other run ended: exit %d, stderr %q", code, errOut)
	}
	// --resume locks the folder of its state file too.
	unlock, err = lockRunFolder(out)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	code, _, errOut = runEmotion(t, "train", "--resume", filepath.Join(out, "state.safetensors"), "--epochs", "2", "--quiet", "--device", "cpu")
	if code != 1 || !strings.Contains(errOut, "in use by another training") {
		t.Errorf("--resume into a locked folder: exit %d, stderr %q", code, errOut)
	}
}

// TestTrainRemovesStaleTemps: the partial checkpoints that a run killed
// while saving leaves behind (.state.safetensors.tmp-N, as big as the
// checkpoint) are removed when a training next writes the folder, whose
// name may hold a glob's metacharacters; other files stay.
func TestTrainRemovesStaleTemps(t *testing.T) {
	for _, name := range []string{"run", "run[1]", "run["} {
		t.Run(name, func(t *testing.T) { checkRemovesStaleTemps(t, name) })
	}
}

func checkRemovesStaleTemps(t *testing.T, name string) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := []string{".state.safetensors.tmp-1430145933", ".model.safetensors.zst.tmp-2099857621", ".state.safetensors.zst.tmp-9"}
	keep := []string{"notes.txt", ".model.safetensors.tmp-mine", ".state.safetensors.tmp-"}
	for _, n := range append(stale, keep...) {
		if err := os.WriteFile(filepath.Join(out, n), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, e := runEmotion(t, "train", "--data", data, "--out", out, "--epochs", "1", "--max-batches", "1", "--quiet", "--device", "cpu",
		"--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	for _, n := range stale {
		if _, err := os.Lstat(filepath.Join(out, n)); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", n, err)
		}
	}
	for _, n := range keep {
		if _, err := os.Lstat(filepath.Join(out, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}
