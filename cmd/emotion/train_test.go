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
