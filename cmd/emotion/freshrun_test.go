package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinyRun are the flags of a one-batch training of a tiny model.
var tinyRun = []string{"--epochs", "1", "--max-batches", "1", "--device", "cpu", "--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1"}

// TestFreshRunReplacesEarlierRun: a fresh train into a folder that holds an
// earlier run removes that run's checkpoints, metrics and plots when it
// starts, so that a run stopped before its end does not leave its
// config.json and log.jsonl beside the earlier run's model, state and
// metrics (which eval and --resume would trust). Here the earlier run
// wrote compressed checkpoints and the new one stops after its first
// epoch: the folder held the old .zst checkpoints and metrics.json beside
// the new run's files.
func TestFreshRunReplacesEarlierRun(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", out, "--quiet", "--compress"}, tinyRun...)...); code != 0 {
		t.Fatalf("earlier run: exit %d: %s", code, e)
	}
	if err := os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The new run stops after its first epoch (its --json line cannot be
	// written), before its test report.
	code, e := emotionStdoutFull(append([]string{"train", "--data", data, "--out", out, "--json", "--seed", "7", "--epochs", "2"}, tinyRun[2:]...))
	if code != 1 {
		t.Fatalf("new run: exit %d, want 1: %s", code, e)
	}
	if !strings.Contains(e, "note: "+out+" held an earlier run: removed its state.safetensors.zst, model.safetensors.zst, metrics.json, confusion.png, curves.png, log.jsonl, config.json") {
		t.Errorf("the new run does not say what it removed: %q", e)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	if want := []string{"config.json", "log.jsonl", "model.safetensors", "notes.txt", "state.safetensors"}; !slices.Equal(names, want) {
		t.Errorf("the folder holds %q, want the new run's files (and the user's) %q", names, want)
	}
	var cfg struct {
		Run runRecord `json:"run"`
	}
	if b, err := os.ReadFile(filepath.Join(out, "config.json")); err != nil || json.Unmarshal(b, &cfg) != nil || cfg.Run.Seed != 7 {
		t.Errorf("config.json is not the new run's: %+v, %v", cfg.Run, err)
	}
	// --resume of the new run finishes it; it removes nothing.
	code, _, errOut := runEmotion(t, "train", "--resume", filepath.Join(out, "state.safetensors"), "--device", "cpu")
	if code != 0 || strings.Contains(errOut, "earlier run") {
		t.Errorf("--resume: exit %d, stderr %q", code, errOut)
	}
	for _, name := range []string{"metrics.json", "model.safetensors", "notes.txt"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("after --resume: %v", err)
		}
	}
}

// TestFreshRunReplacesEarlierLOSO: a fresh seed-protocol run into the
// folder of a loso run removes the loso run's fold folders (their run
// files; a folder that holds other files stays with them) and its
// summary, and --quiet removes them without a note.
func TestFreshRunReplacesEarlierLOSO(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", out, "--quiet", "--protocol", "loso"}, tinyRun...)...); code != 0 {
		t.Fatalf("loso run: exit %d: %s", code, e)
	}
	if err := os.WriteFile(filepath.Join(out, "fold2", "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", out, "--quiet"}, tinyRun...)...); code != 0 || e != "" {
		t.Fatalf("seed run: exit %d, stderr %q", code, e)
	}
	for _, gone := range []string{"fold1", "fold3", "fold5", "fold2/model.safetensors", "fold2/config.json"} {
		if _, err := os.Lstat(filepath.Join(out, gone)); !os.IsNotExist(err) {
			t.Errorf("%s of the loso run is still there (%v)", gone, err)
		}
	}
	for _, kept := range []string{"fold2/notes.txt", "model.safetensors", "metrics.json"} {
		if _, err := os.Stat(filepath.Join(out, kept)); err != nil {
			t.Error(err)
		}
	}
	var m map[string]any
	if b, err := os.ReadFile(filepath.Join(out, "metrics.json")); err != nil || json.Unmarshal(b, &m) != nil || m["protocol"] != "session5" {
		t.Errorf("metrics.json is not the seed run's: %v %v", m["protocol"], err)
	}
}

// TestFreshRunCannotRemoveEarlierRun: a fresh run that cannot remove the
// earlier run's files stops before it writes anything, naming the folder
// and the file.
func TestFreshRunCannotRemoveEarlierRun(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", out, "--quiet"}, tinyRun...)...); code != 0 {
		t.Fatalf("earlier run: exit %d: %s", code, e)
	}
	// A metrics.json that os.Remove cannot remove: a folder with a file.
	bad := filepath.Join(out, "metrics.json")
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(bad, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(out, "config.json"))
	code, _, errOut := runEmotion(t, append([]string{"train", "--data", data, "--out", out, "--quiet", "--seed", "7"}, tinyRun...)...)
	if code != 1 || !strings.Contains(errOut, "run folder "+out+" holds an earlier run") || !strings.Contains(errOut, bad) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(out, "config.json")); !bytes.Equal(before, after) {
		t.Errorf("config.json changed")
	}
	for _, name := range []string{"model.safetensors", "state.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, name)); !os.IsNotExist(err) {
			t.Errorf("%s: %v: the checkpoints go first", name, err)
		}
	}
}
