package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPredictFromState: predict and eval given a run's state.safetensors
// use its best epoch's weights, those of model.safetensors, and say so.
func TestPredictFromState(t *testing.T) {
	ckpt := trainTiny(t, "dialog")
	state := filepath.Join(filepath.Dir(ckpt), "state.safetensors")
	args := []string{"--device", "cpu", "--json", "--speaker", "F", "word3, and more words 1.", "word11", "hello there"}
	code, want, errOut := runEmotion(t, append([]string{"predict", "--checkpoint", ckpt}, args...)...)
	if code != 0 || errOut != "" {
		t.Fatalf("predict with model.safetensors: exit %d, stderr %q", code, errOut)
	}
	code, got, errOut := runEmotion(t, append([]string{"predict", "--checkpoint", state}, args...)...)
	if code != 0 {
		t.Fatalf("predict with state.safetensors: exit %d, stderr %q", code, errOut)
	}
	if got != want {
		t.Errorf("state.safetensors predicts\n%s\nmodel.safetensors\n%s", got, want)
	}
	if !strings.Contains(errOut, "note: "+state+" is a training state: using the best epoch's (epoch ") {
		t.Errorf("predict with state.safetensors: stderr %q", errOut)
	}
	code, out, errOut := runEmotion(t, "eval", "--checkpoint", state, "--device", "cpu")
	if code != 0 || !strings.Contains(errOut, "is a training state") || !strings.Contains(out, "accuracy") {
		t.Errorf("eval with state.safetensors: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
}
