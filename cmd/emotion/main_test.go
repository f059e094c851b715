package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// runEmotion runs the command line with captured output.
func runEmotion(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	oldOut, oldErr := stdout, stderr
	stdout, stderr = &o, &e
	defer func() { stdout, stderr = oldOut, oldErr }()
	code = emotion(args)
	return code, o.String(), e.String()
}

func TestMainHelp(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err []string
	}{
		{nil, 2, nil, []string{"Usage:", "data"}},
		{[]string{"--help"}, 0, []string{"Usage:", "Commands:", "data", "Load a data source"}, nil},
		{[]string{"help"}, 0, []string{"Commands:"}, nil},
		{[]string{"help", "data"}, 0, []string{"Usage: emotion data [flags]", "--protocol", "--data", "Examples:", "emotion data --data ../shared/data/iemocap"}, nil},
		{[]string{"data", "--help"}, 0, []string{"Usage: emotion data", "--min-count"}, nil},
		{[]string{"data", "-h"}, 0, []string{"Usage: emotion data"}, nil},
		{[]string{"help", "nope"}, 2, nil, []string{`unknown command "nope"`}},
		{[]string{"nope"}, 2, nil, []string{`emotion: unknown command "nope"`}},
		{[]string{"data", "--bogus"}, 2, nil, []string{"emotion: unknown flag: --bogus", "emotion data --help"}},
		{[]string{"data", "extra"}, 2, nil, []string{`emotion: unexpected argument "extra"`}},
		{[]string{"data", "--window", "x"}, 2, nil, []string{"emotion: invalid argument"}},
		{[]string{"eval", "--checkpoint", "/nonexistent/model.safetensors", "--split", "tset"}, 2, nil, []string{`unknown --split "tset"`}},
		{[]string{"train", "--threads", "-2", "--data", "/nonexistent"}, 2, nil, []string{"--threads must not be negative"}},
		{[]string{"train", "--resume", "/nonexistent/state.safetensors", "--threads", "-1"}, 2, nil, []string{"--threads must not be negative"}},
		{[]string{"eval", "--checkpoint", "/nonexistent/model.safetensors", "--threads", "-1"}, 2, nil, []string{"--threads must not be negative"}},
		{[]string{"predict", "--checkpoint", "/nonexistent/model.safetensors", "--threads", "-3", "hello"}, 2, nil, []string{"--threads must not be negative"}},
		{[]string{"serve", "--checkpoint", "/nonexistent/model.safetensors", "--threads", "-1"}, 2, nil, []string{"--threads must not be negative"}},
		// eval, predict and --resume refuse a run record with a negative
		// max_batches: train must not write one.
		{[]string{"train", "--max-batches", "-1", "--data", "/nonexistent"}, 2, nil, []string{"--max-batches must not be negative"}},
		// Infinities passed the flag checks and failed after the data had
		// loaded (downloaded, for the default source), with exit 1.
		{[]string{"train", "--lr", "inf", "--data", "/nonexistent"}, 2, nil, []string{"--lr +Inf: want a positive, finite learning rate"}},
		{[]string{"train", "--lr", "-1", "--data", "/nonexistent"}, 2, nil, []string{"--lr -1: want a positive, finite learning rate"}},
		{[]string{"train", "--epochs", "0", "--data", "/nonexistent"}, 2, nil, []string{"--epochs 0: want at least 1"}},
		{[]string{"train", "--batch-size", "0", "--data", "/nonexistent"}, 2, nil, []string{"--batch-size 0: want at least 1"}},
		{[]string{"train", "--clip", "+Inf", "--data", "/nonexistent"}, 2, nil, []string{"--weight-decay, --clip and --patience must not be negative"}},
		{[]string{"train", "--weight-decay", "inf", "--data", "/nonexistent"}, 2, nil, []string{"--weight-decay, --clip and --patience"}},
	}
	defer func() { cpuThreads = 0 }()
	for _, tc := range tests {
		code, out, errOut := runEmotion(t, tc.args...)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errOut)
		}
		for _, w := range tc.out {
			if !strings.Contains(out, w) {
				t.Errorf("%q: stdout lacks %q:\n%s", tc.args, w, out)
			}
		}
		for _, w := range tc.err {
			if !strings.Contains(errOut, w) {
				t.Errorf("%q: stderr lacks %q:\n%s", tc.args, w, errOut)
			}
		}
	}
}

func TestRegisterAndExitCodes(t *testing.T) {
	defer delete(commands, "test-fail")
	defer delete(commands, "test-usage")
	register(&command{name: "test-fail", summary: "fails", run: func([]string) error { return errors.New("it broke") }})
	register(&command{name: "test-usage", summary: "bad usage", run: func([]string) error { return usagef("bad %s", "flag") }})
	if code, _, e := runEmotion(t, "test-fail"); code != 1 || e != "emotion: it broke\n" {
		t.Errorf("failure: exit %d, stderr %q", code, e)
	}
	if code, _, e := runEmotion(t, "test-usage"); code != 2 || !strings.HasPrefix(e, "emotion: bad flag\n") {
		t.Errorf("usage: exit %d, stderr %q", code, e)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	register(&command{name: "test-fail", run: func([]string) error { return nil }})
}

// TestFlagError: a config's validation error names the flag that sets the
// field it names, at the start of a line or after its prefix, and leaves
// the rest (a field named inside the sentence, an unknown one) alone.
func TestFlagError(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"heads = 3 does not divide the attention size 2·dialog_hidden = 256", "--heads 3 does not divide the attention size 2·dialog_hidden = 256"},
		{"model config: hidden = -1, must be positive\ndense = -2, must be positive", "model config: --hidden -1, must be positive\n--dense -2, must be positive"},
		{"validation fraction 1.5 outside (0, 1)", "--val-fraction 1.5 outside (0, 1)"},
		{"window 0, want at least 1", "--window 0, want at least 1"},
		{"min_lr = 0.01, want less than lr = 0.001", "--min-lr 0.01, want less than lr = 0.001"},
		{"speaker_dim = -1, must not be negative", "speaker_dim = -1, must not be negative"},
	} {
		err := flagError(errors.New(tc.in))
		var ue usageError
		if !errors.As(err, &ue) || err.Error() != tc.want {
			t.Errorf("flagError(%q) = %q (usage error %v), want %q", tc.in, err, errors.As(err, &ue), tc.want)
		}
	}
}

// TestHelpWriteError: help that cannot be written (emotion help >
// /dev/full) exits 1 and says so, as every other output does.
func TestHelpWriteError(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"help", "train"}, {"eval", "-h"}, {"bench", "--help"}, {"bench", "kernels", "--help"}, {"help", "bench", "train"}} {
		code, e := emotionStdoutFull(args)
		if code != 1 || !strings.Contains(e, "emotion: writing the help: no space left on device") {
			t.Errorf("%q into a full disk: exit %d, stderr %q", args, code, e)
		}
		if code, out, _ := runEmotion(t, args...); code != 0 || out == "" {
			t.Errorf("%q: exit %d, %d bytes of help", args, code, len(out))
		}
	}
}
