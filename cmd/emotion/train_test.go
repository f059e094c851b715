package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainWarnsMissingClass: a training split without one of the four
// classes trains (the test split may still have it) but says so.
func TestTrainWarnsMissingClass(t *testing.T) {
	data, _ := writeFixture(t)
	csv := filepath.Join(data, "all.csv")
	b, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "Ses05") { // sad only in the test session
			lines[i] = strings.Replace(l, ",sad,", ",neu,", 1)
		}
	}
	args := []string{"train", "--epochs", "1", "--max-batches", "1", "--device", "cpu", "--embed", "8", "--hidden", "4", "--dense", "4"}
	for _, tc := range []struct {
		name, text string
		warn       bool
	}{
		{"all four", string(b), false},
		{"no sad", strings.Join(lines, "\n"), true},
	} {
		if err := os.WriteFile(csv, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "run")
		code, _, errOut := runEmotion(t, append(args, "--data", data, "--out", out)...)
		warned := strings.Contains(errOut, "warning: "+out+": the training split has no sad utterances: the model cannot learn to predict sad")
		if code != 0 || warned != tc.warn || strings.Contains(errOut, "no angry") {
			t.Errorf("%s: exit %d, warned %v (want %v): %s", tc.name, code, warned, tc.warn, errOut)
		}
	}
}

// TestTrainRefusesEmptySplit: a --val-fraction that leaves the training or
// the validation split empty is an error naming the split, before any
// epoch (an empty training split once trained to a NaN validation loss
// that failed the first save with "json: unsupported value: NaN").
func TestTrainRefusesEmptySplit(t *testing.T) {
	data, _ := writeFixture(t)
	args := []string{"train", "--data", data, "--epochs", "1", "--device", "cpu", "--embed", "8", "--hidden", "4", "--dense", "4"}
	for _, tc := range []struct{ frac, want string }{
		{"0.001", "fold session5: the validation split is empty"},
		{"0.999", "fold session5: the training split is empty"},
	} {
		out := filepath.Join(t.TempDir(), "run")
		code, _, errOut := runEmotion(t, append(args, "--val-fraction", tc.frac, "--out", out)...)
		if code != 1 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "--val-fraction") {
			t.Errorf("--val-fraction %s: exit %d, stderr %q, want %q", tc.frac, code, errOut, tc.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("--val-fraction %s: the run folder was created (%v)", tc.frac, err)
		}
	}
}
