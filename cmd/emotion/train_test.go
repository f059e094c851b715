package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/dataset"
)

// fixtureLines returns the path of writeFixture's CSV in data and its
// lines, for a test to edit and write back.
func fixtureLines(t *testing.T, data string) (string, []string) {
	t.Helper()
	csv := filepath.Join(data, "all.csv")
	b, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	return csv, strings.Split(string(b), "\n")
}

// TestTrainWarnsMissingClass: a training split without one of the four
// classes trains (the test split may still have it) but says so.
func TestTrainWarnsMissingClass(t *testing.T) {
	data, _ := writeFixture(t)
	csv, lines := fixtureLines(t, data)
	all := strings.Join(lines, "\n")
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
		{"all four", all, false},
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

// TestResumeRefusesOtherData: --resume --data names where the run's data
// now is; data that gives another vocabulary is not the run's, and
// resuming on it trained the run on other utterances without a word.
func TestResumeRefusesOtherData(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", out, "--quiet"}, tinyRun...)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	state := filepath.Join(out, "state.safetensors")
	// The same data, moved: resumes.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(data, moved); err != nil {
		t.Fatal(err)
	}
	if code, _, e := runEmotion(t, "train", "--resume", state, "--data", moved, "--epochs", "2", "--quiet", "--device", "cpu"); code != 0 {
		t.Fatalf("--resume --data of the moved data: exit %d: %s", code, e)
	}
	// Other texts: refused, naming the data and the state.
	b, err := os.ReadFile(filepath.Join(moved, "all.csv"))
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "all.csv"), []byte(strings.ReplaceAll(string(b), "word", "mot")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runEmotion(t, "train", "--resume", state, "--data", other, "--epochs", "3", "--quiet", "--device", "cpu")
	if code != 1 || !strings.Contains(errOut, "--data "+other+" is not the data") || !strings.Contains(errOut, state) {
		t.Errorf("--resume --data of other data: exit %d, stderr %q", code, errOut)
	}
}

// TestTrainLossAndAverageFlags: --label-smoothing and --ema reach the
// training config, which a --resume keeps (config.json, written again from
// the state), and a value outside [0, 1) is a usage error, naming the
// flag, before anything is written.
func TestTrainLossAndAverageFlags(t *testing.T) {
	data, _ := writeFixture(t)
	for _, tc := range []struct{ flag, field string }{
		{"--label-smoothing", "label_smoothing"},
		{"--ema", "ema"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			args := append([]string{"train", "--data", data, "--out", out, "--quiet", tc.flag, "0.2"}, tinyRun...)
			if code, _, e := runEmotion(t, args...); code != 0 {
				t.Fatalf("train: exit %d: %s", code, e)
			}
			if code, _, e := runEmotion(t, "train", "--resume", filepath.Join(out, "state.safetensors"), "--epochs", "2", "--quiet", "--device", "cpu"); code != 0 {
				t.Fatalf("--resume: exit %d: %s", code, e)
			}
			var c struct {
				Train map[string]any `json:"train"`
			}
			b, err := os.ReadFile(filepath.Join(out, "config.json"))
			if err == nil {
				err = json.Unmarshal(b, &c)
			}
			if v, ok := c.Train[tc.field].(float64); err != nil || !ok || float32(v) != 0.2 {
				t.Errorf("config.json after --resume: %s %v (%v), want 0.2", tc.field, c.Train[tc.field], err)
			}
			for _, v := range []string{"1", "-0.1", "NaN"} {
				bad := filepath.Join(t.TempDir(), "bad")
				code, _, errOut := runEmotion(t, "train", "--data", data, "--out", bad, tc.flag, v)
				if code != 2 || !strings.Contains(errOut, tc.flag+" "+v+", want") {
					t.Errorf("%s %s: exit %d, stderr %q", tc.flag, v, code, errOut)
				}
				if _, err := os.Stat(bad); !os.IsNotExist(err) {
					t.Errorf("%s %s: the run folder was created", tc.flag, v)
				}
			}
		})
	}
}

// TestTrainClassWeights: a run's loss is weighted by the balanced class
// weights of its own training split (not of its validation or test
// split, whose class mixes differ here), recorded in config.json and in
// the state, so that --resume keeps them; --no-class-weights trains
// unweighted, and a resumed run stays so.
func TestTrainClassWeights(t *testing.T) {
	data, _ := writeFixture(t)
	csv, lines := fixtureLines(t, data)
	for i, l := range lines {
		if strings.HasPrefix(l, "Ses05") { // the test session: no happy turns, more sad ones
			lines[i] = strings.Replace(strings.Replace(l, ",hap,", ",sad,", 1), ",exc,", ",sad,", 1)
		}
	}
	if err := os.WriteFile(csv, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	corpus, err := dataset.Load(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	folds, err := dataset.Folds(corpus, dataset.DefaultOptions()) // train's defaults: session5, seed 1
	if err != nil {
		t.Fatal(err)
	}
	f := folds[0]
	want := dataset.ClassWeights(corpus, f.Train)
	if want == dataset.ClassWeights(corpus, f.Test) {
		t.Fatalf("the fixture's splits have the same class weights %v: the test cannot tell them apart", want)
	}
	readWeights := func(out string) []float32 {
		t.Helper()
		var c struct {
			Train struct {
				ClassWeights []float32 `json:"class_weights"`
			} `json:"train"`
		}
		b, err := os.ReadFile(filepath.Join(out, "config.json"))
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil {
			t.Fatal(err)
		}
		return c.Train.ClassWeights
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  []float32
	}{
		{"balanced", nil, want[:]},
		{"--no-class-weights", []string{"--no-class-weights"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			args := append(append([]string{"train", "--data", data, "--out", out, "--quiet"}, tinyRun...), tc.flags...)
			if code, _, e := runEmotion(t, args...); code != 0 {
				t.Fatalf("train: exit %d: %s", code, e)
			}
			if got := readWeights(out); !slices.Equal(got, tc.want) {
				t.Errorf("config.json class_weights %v, want %v", got, tc.want)
			}
			if code, _, e := runEmotion(t, "train", "--resume", filepath.Join(out, "state.safetensors"), "--epochs", "2", "--quiet", "--device", "cpu"); code != 0 {
				t.Fatalf("--resume: exit %d: %s", code, e)
			}
			if got := readWeights(out); !slices.Equal(got, tc.want) {
				t.Errorf("after --resume: config.json class_weights %v, want %v", got, tc.want)
			}
		})
	}
}
