package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// failWriter fails every write, as standard output does on a full disk
// (emotion eval > report.txt).
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestStdoutWriteErrors: a report or prediction that cannot be written to
// standard output is an error, not exit 0 with the output lost.
func TestStdoutWriteErrors(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, "train", "--data", data, "--out", out, "--epochs", "1", "--max-batches", "1", "--quiet", "--device", "cpu",
		"--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	ckpt := filepath.Join(out, "model.safetensors")
	for _, args := range [][]string{
		{"eval", "--checkpoint", ckpt, "--device", "cpu"},
		{"predict", "--checkpoint", ckpt, "--device", "cpu", "I am so happy."},
		{"train", "--data", data, "--out", filepath.Join(t.TempDir(), "run"), "--epochs", "1", "--max-batches", "1", "--device", "cpu",
			"--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1"},
	} {
		var e bytes.Buffer
		oldOut, oldErr := stdout, stderr
		stdout, stderr = failWriter{}, &e
		code := emotion(args)
		stdout, stderr = oldOut, oldErr
		if code != 1 || !strings.Contains(e.String(), "no space left on device") {
			t.Errorf("%s with a failing standard output: exit %d, stderr %q", args[0], code, e.String())
		}
	}
}
