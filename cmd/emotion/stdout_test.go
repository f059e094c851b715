package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/bench"
)

// failWriter fails every write, as standard output does on a full disk
// (emotion eval > report.txt).
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// emotionStdoutFull runs the command with args while every write to
// standard output fails (a full disk), and returns its exit code and what
// it wrote to standard error.
func emotionStdoutFull(args []string) (code int, errOut string) {
	var e bytes.Buffer
	oldOut, oldErr := stdout, stderr
	stdout, stderr = failWriter{}, &e
	defer func() { stdout, stderr = oldOut, oldErr }()
	return emotion(args), e.String()
}

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
		code, e := emotionStdoutFull(args)
		if code != 1 || !strings.Contains(e, "no space left on device") {
			t.Errorf("%s with a failing standard output: exit %d, stderr %q", args[0], code, e)
		}
	}
}

// TestBenchStdoutWriteErrors: bench's text reports (kernels, its --list,
// train, compare) that cannot be written to standard output are an
// error, not exit 0 with the report lost; kernels still writes its
// --json-out file first.
func TestBenchStdoutWriteErrors(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	dir := t.TempDir()
	k1, t1 := filepath.Join(dir, "k1.json"), filepath.Join(dir, "t1.json")
	if code, _, e := runEmotion(t, append(append([]string{}, tinyKernels...), "--ops", `^Tanh`, "--json-out", k1)...); code != 0 {
		t.Fatalf("bench kernels: exit %d: %s", code, e)
	}
	if code, _, e := runEmotion(t, append([]string{"bench", "train", "--threads", "1", "--json-out", t1}, tinyTrain...)...); code != 0 {
		t.Fatalf("bench train: exit %d: %s", code, e)
	}
	saved := filepath.Join(dir, "k-failed-stdout.json")
	for _, args := range [][]string{
		append(append([]string{}, tinyKernels...), "--ops", `^Tanh`, "--json-out", saved),
		{"bench", "kernels", "--list"},
		append([]string{"bench", "train", "--threads", "1"}, tinyTrain...),
		{"bench", "compare", k1, k1},
		{"bench", "compare", t1, t1},
	} {
		code, e := emotionStdoutFull(args)
		if code != 1 || !strings.Contains(e, "no space left on device") {
			t.Errorf("%q with a failing standard output: exit %d, stderr %q", args, code, e)
		}
	}
	var rep bench.KernelReport
	if err := readReport(saved, &rep); err != nil || len(rep.Results) == 0 {
		t.Errorf("bench kernels --json-out with a failing standard output: %d results: %v", len(rep.Results), err)
	}
}

// TestTrainJSONLineWriteError: train --json stops at the first epoch whose
// JSON line cannot be written to standard output (it went on training to
// the end, the lines lost), once that epoch is saved, and says how to go
// on; --resume then finishes the run.
func TestTrainJSONLineWriteError(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	code, e := emotionStdoutFull([]string{"train", "--data", data, "--out", out, "--epochs", "3", "--patience", "0", "--max-batches", "1", "--json", "--device", "cpu",
		"--embed", "8", "--hidden", "4", "--dense", "4", "--min-count", "1"})
	state := filepath.Join(out, "state.safetensors")
	if code != 1 || !strings.Contains(e, "epoch 1: --json line: ") || !strings.Contains(e, "no space left on device") ||
		!strings.Contains(e, "emotion train --resume "+state) {
		t.Fatalf("train --json with a failing standard output: exit %d, stderr %q", code, e)
	}
	if b, err := os.ReadFile(filepath.Join(out, "log.jsonl")); err != nil || strings.Count(string(b), "\n") != 1 {
		t.Errorf("log.jsonl after the failed first line: %q, %v; want epoch 1's line", b, err)
	}
	if _, err := os.Stat(filepath.Join(out, "metrics.json")); !os.IsNotExist(err) {
		t.Errorf("the run trained on after its output failed: metrics.json: %v", err)
	}
	code, o, errOut := runEmotion(t, "train", "--resume", state, "--json", "--device", "cpu")
	if code != 0 || strings.Count(o, "\n") != 3 {
		t.Errorf("--resume: exit %d, stdout %q, stderr %q; want epochs 2 and 3 and the report", code, o, errOut)
	}
}
