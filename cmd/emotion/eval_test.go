package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/dataset"
)

// TestNewPrediction: a --predictions line names each probability by its
// class, in the model's output order angry, happy, neutral, sad.
func TestNewPrediction(t *testing.T) {
	u := &dataset.Utterance{ID: "Ses01F_impro01_F000", Text: "I love it.", Label: 1}
	p := newPrediction(u, []float32{0.1, 0.2, 0.3, 0.4}, 3)
	want := prediction{ID: "Ses01F_impro01_F000", Text: "I love it.", True: "happy", Pred: "sad",
		Probs: map[string]float64{"angry": 0.1, "happy": 0.2, "neutral": 0.3, "sad": 0.4}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("newPrediction = %+v, want %+v", p, want)
	}
	// Class 0 (angry) is a label too; NoLabel (a context turn) is none.
	u.Label = dataset.Angry
	if p := newPrediction(u, []float32{0.1, 0.2, 0.3, 0.4}, 3); p.True != "angry" {
		t.Errorf("an angry utterance: true %q, want angry", p.True)
	}
	u.Label = dataset.NoLabel
	if p := newPrediction(u, []float32{0.1, 0.2, 0.3, 0.4}, 3); p.True != "" {
		t.Errorf("an unlabelled utterance: true %q, want none", p.True)
	}
}

// TestEvalOutputChecks: eval refuses, before loading anything, an --out
// that is a training run's folder (its metrics.json is the run's report)
// or not a folder, and a --predictions file whose folder does not exist;
// an earlier eval's folder is fine.
func TestEvalOutputChecks(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	evalDir := filepath.Join(dir, "eval")
	for path, body := range map[string]string{
		filepath.Join(run, "config.json"):      "{}",
		filepath.Join(run, "metrics.json"):     "{}",
		filepath.Join(evalDir, "metrics.json"): "{}",
		filepath.Join(dir, "file"):             "x",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.safetensors")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"run folder", []string{"--split", "val", "--out", run},
			"--out " + run + " is a training run's folder (it holds config.json): eval would replace the run's metrics.json and confusion.png with its report on the val split; give another folder, such as " + filepath.Join(run, "eval-val")},
		{"a file", []string{"--out", filepath.Join(dir, "file")}, "is not a folder"},
		{"predictions into a missing folder", []string{"--predictions", filepath.Join(dir, "nope", "p.jsonl")},
			"--predictions " + filepath.Join(dir, "nope", "p.jsonl") + ": folder " + filepath.Join(dir, "nope") + " does not exist"},
		{"predictions into a folder", []string{"--predictions", dir}, "is a folder; give a file"},
		// These pass the checks and fail on the checkpoint.
		{"an earlier eval's folder", []string{"--out", evalDir}, missing},
		{"a new folder", []string{"--out", filepath.Join(dir, "new", "deeper")}, missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runEmotion(t, append([]string{"eval", "--checkpoint", missing}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errOut, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed eval created its --out folder: %v", err)
	}
}

// TestEvalFoldOutOfRange: a checkpoint whose run record names a fold the
// protocol does not have (fold 2 of session5, which has one) is an error,
// not a crash.
func TestEvalFoldOutOfRange(t *testing.T) {
	data, _ := writeFixture(t)
	run := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", run, "--quiet"}, tinyRun...)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	ckpt := filepath.Join(run, "model.safetensors")
	b, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	// The run record is a JSON string in the header's metadata: the same
	// length, so the header's size holds.
	fold0 := []byte(`\"fold\":0,`)
	if bytes.Count(b, fold0) != 1 {
		t.Fatalf("%s: no single %s in its run record", ckpt, fold0)
	}
	if err := os.WriteFile(ckpt, bytes.Replace(b, fold0, []byte(`\"fold\":1,`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, e := runEmotion(t, "eval", "--checkpoint", ckpt, "--device", "cpu")
	if code != 1 || !strings.Contains(e, "was trained on fold 2; session5 has 1 folds") {
		t.Errorf("eval of fold 2 of session5: exit %d, stderr %q", code, e)
	}
}

// TestMeanEval: an ensemble's probabilities are the members' mean, its
// prediction their argmax, a tie going to the first class of the highest
// (as model.Evaluate's and NumPy's argmax).
func TestMeanEval(t *testing.T) {
	sum := [][]float64{{1.0, 1.0, 0, 0}, {0, 0.4, 1.2, 0.4}, {0.5, 0.5, 0.5, 0.5}, {0, 0, 0.2, 1.8}}
	ev := meanEval(sum, 2)
	wantPreds := []int{0, 2, 0, 3}
	if !reflect.DeepEqual(ev.Preds, wantPreds) {
		t.Errorf("predictions %v, want %v", ev.Preds, wantPreds)
	}
	for r, ps := range sum {
		for k, p := range ps {
			if ev.Probs[r][k] != float32(p/2) {
				t.Errorf("row %d class %d: %g, want %g", r, k, ev.Probs[r][k], p/2)
			}
		}
	}
}
