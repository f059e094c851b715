package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/model/safetensors"
)

// interruptWriter is a standard output that, at its line n, stops the
// command as Ctrl-C does: it cancels the command's context.
type interruptWriter struct {
	buf    bytes.Buffer
	lines  int
	n      int
	cancel context.CancelFunc
}

func (w *interruptWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	w.lines += bytes.Count(p, []byte("\n"))
	if w.lines == w.n {
		w.cancel()
	}
	return len(p), nil
}

// TestTrainInterruptKeepsBestModel: Ctrl-C after epoch 2 stops the run at
// the first batch of epoch 3, saying so (the epoch it stopped in, not the
// last finished one), and the model.safetensors it leaves is the best
// epoch's (epoch 2 here, as its log.jsonl line says): each better epoch
// writes it when validated, not only the first one and the end of the run.
func TestTrainInterruptKeepsBestModel(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old := commandContext
	commandContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	defer func() { commandContext = old }()
	w := &interruptWriter{n: 2, cancel: cancel}
	var e bytes.Buffer
	oldOut, oldErr := stdout, stderr
	stdout, stderr = w, &e
	code := emotion(append([]string{"train", "--data", data, "--out", out, "--json", "--epochs", "5", "--monitor", "val_loss", "--lr", "0.01"}, tinyResumeRun...))
	stdout, stderr = oldOut, oldErr
	if code != 130 || !strings.Contains(e.String(), "training interrupted at epoch 3 batch 0; state saved") {
		t.Fatalf("Ctrl-C after epoch 2: exit %d, stderr %q", code, e.String())
	}
	logs := readLogLines(t, out)
	if len(logs) != 2 || !logs[1].Best {
		t.Fatalf("log.jsonl %+v: the test needs a run whose epoch 2 is its best", logs)
	}
	ts, _, err := safetensors.Load(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := safetensors.Load(filepath.Join(out, "state.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	best := map[string][]byte{}
	for _, x := range st {
		if name, ok := strings.CutPrefix(x.Name, "best."); ok {
			best[name] = x.Data
		}
	}
	if len(ts) == 0 || len(best) != len(ts) {
		t.Fatalf("model.safetensors has %d tensors, the state %d best ones", len(ts), len(best))
	}
	for _, x := range ts {
		if !bytes.Equal(x.Data, best[x.Name]) {
			t.Errorf("model.safetensors %s is not the best epoch's (the state's best.%s)", x.Name, x.Name)
		}
	}
}
