package main

import (
	"strings"
	"testing"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
)

// fingerprintCorpus is a corpus of four labelled utterances a, b, c, d.
func fingerprintCorpus() *dataset.Corpus {
	return &dataset.Corpus{Utterances: []dataset.Utterance{
		{Text: "a", Label: dataset.Angry},
		{Text: "b", Label: dataset.Happy},
		{Text: "c", Label: dataset.Neutral},
		{Text: "d", Label: dataset.Sad},
	}}
}

// TestSplitFingerprint: the fingerprint of a fold's splits changes when an
// utterance of a split is relabelled or moves across a split boundary, and
// not when a split lists the same utterances in another order.
func TestSplitFingerprint(t *testing.T) {
	c := fingerprintCorpus()
	f := dataset.Fold{Name: "f", Train: []int{0, 1}, Val: []int{2}, Test: []int{3}}
	base := splitFingerprint(c, f)
	if base == "" {
		t.Fatal("empty fingerprint")
	}

	relabelled := fingerprintCorpus()
	relabelled.Utterances[1].Label = dataset.Sad
	if got := splitFingerprint(relabelled, f); got == base {
		t.Errorf("relabelling a training utterance kept the fingerprint %s", got)
	}

	moved := dataset.Fold{Name: "f", Train: []int{0}, Val: []int{1, 2}, Test: []int{3}}
	if got := splitFingerprint(c, moved); got == base {
		t.Errorf("moving b from train to val kept the fingerprint %s", got)
	}

	permuted := dataset.Fold{Name: "f", Train: []int{1, 0}, Val: []int{2}, Test: []int{3}}
	if got := splitFingerprint(c, permuted); got != base {
		t.Errorf("the same splits in another row order: fingerprint %s, want %s", got, base)
	}
	big := dataset.Fold{Name: "f", Train: []int{3, 1, 0}, Val: []int{2}}
	bigPermuted := dataset.Fold{Name: "f", Train: []int{0, 3, 1}, Val: []int{2}}
	if a, b := splitFingerprint(c, big), splitFingerprint(c, bigPermuted); a != b {
		t.Errorf("the same splits in another row order: fingerprints %s and %s", a, b)
	}
}

// TestVerifySplitsBeforeFingerprints: a run record from before split
// fingerprints (Splits "") verifies against any data; one with a
// fingerprint refuses other splits.
func TestVerifySplitsBeforeFingerprints(t *testing.T) {
	c := fingerprintCorpus()
	f := dataset.Fold{Name: "f", Train: []int{0, 1}, Val: []int{2}, Test: []int{3}}
	if err := (runRecord{}).verifySplits("old.safetensors", c, f); err != nil {
		t.Errorf("a record without a fingerprint: %v", err)
	}
	if err := (runRecord{Splits: "0123"}).verifySplits("new.safetensors", c, f); err == nil || !strings.Contains(err.Error(), "other splits") {
		t.Errorf("a record with another fingerprint: %v", err)
	}
	if err := (runRecord{Splits: splitFingerprint(c, f)}).verifySplits("new.safetensors", c, f); err != nil {
		t.Errorf("a record with the data's fingerprint: %v", err)
	}
}

// TestSeedOf: each fold of a run, and each seed, starts from other
// initial weights.
func TestSeedOf(t *testing.T) {
	if seedOf(1, 0) == seedOf(1, 1) || seedOf(7, 3) == seedOf(7, 4) {
		t.Errorf("folds share a seed: %d %d", seedOf(1, 0), seedOf(1, 1))
	}
	if seedOf(1, 0) == seedOf(2, 0) {
		t.Errorf("seeds 1 and 2 share an init seed %d", seedOf(1, 0))
	}
}

// TestDecodeRunRecordNegative: a run record with a negative fold, batch
// size or max batches is an error.
func TestDecodeRunRecordNegative(t *testing.T) {
	for _, tc := range []struct {
		run string
		ok  bool
	}{
		{`{"fold":0,"batch_size":4,"max_batches":2}`, true},
		{`{"fold":-1}`, false},
		{`{"batch_size":-1}`, false},
		{`{"max_batches":-1}`, false},
	} {
		_, err := decodeRunRecord("x.safetensors", tc.run)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "must not be negative")) {
			t.Errorf("%s: error %v, want ok %v", tc.run, err, tc.ok)
		}
	}
}

// TestEnsembleEvalRefusesOtherRows: an ensemble whose members were
// evaluated on other utterances (fewer of them, or other labels) is
// refused; members on the same utterances in another order are averaged.
func TestEnsembleEvalRefusesOtherRows(t *testing.T) {
	c := fingerprintCorpus()
	ev := func(n int) *model.Eval {
		e := &model.Eval{Probs: make([][]float32, n), Preds: make([]int, n)}
		for r := range e.Probs {
			e.Probs[r] = []float32{0.25, 0.25, 0.25, 0.25}
		}
		return e
	}
	run := func(name string, c *dataset.Corpus, rows ...int) *evalRun {
		return &evalRun{ckpt: name, corpus: c, what: "the test split", rows: rows, ev: ev(len(rows))}
	}
	first := run("a.safetensors", c, 0, 1, 2)
	if _, err := ensembleEval([]*evalRun{first, run("b.safetensors", c, 2, 0, 1)}); err != nil {
		t.Errorf("the same rows in another order: %v", err)
	}
	if _, err := ensembleEval([]*evalRun{first, run("b.safetensors", c, 0, 1)}); err == nil || !strings.Contains(err.Error(), "other utterances") {
		t.Errorf("a member on fewer utterances: %v", err)
	}
	relabelled := fingerprintCorpus()
	relabelled.Utterances[1].Label = dataset.Sad
	if _, err := ensembleEval([]*evalRun{first, run("b.safetensors", relabelled, 0, 1, 2)}); err == nil || !strings.Contains(err.Error(), "other utterances") {
		t.Errorf("a member on other labels: %v", err)
	}
}

// TestCPUBackendThreads: --threads sets the CPU backend's threads.
func TestCPUBackendThreads(t *testing.T) {
	defer func(n int) { cpuThreads = n }(cpuThreads)
	cpuThreads = 3
	be, err := newBackend("cpu")
	if err != nil {
		t.Fatal(err)
	}
	if cpu, ok := be.(*host.CPU); !ok || cpu.Threads() != 3 || !strings.Contains(be.Name(), "3 threads") {
		t.Errorf("--threads 3: backend %q", be.Name())
	}
}

// TestNegativeThreads: --threads -1 is a usage error in every command
// that has it.
func TestNegativeThreads(t *testing.T) {
	for _, args := range [][]string{
		{"train", "--threads", "-1", "--data", "missing.csv"},
		{"eval", "--threads", "-1", "--checkpoint", "missing.safetensors"},
		{"predict", "--threads", "-1", "--checkpoint", "missing.safetensors", "hi"},
		{"serve", "--threads", "-1", "--checkpoint", "missing.safetensors"},
		{"bench", "train", "--threads", "-1", "--steps", "1"},
	} {
		code, _, errOut := runEmotion(t, args...)
		if code != 2 || !strings.Contains(errOut, "--threads must not be negative") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2", args, code, errOut)
		}
	}
}
