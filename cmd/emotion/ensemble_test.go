package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/host"
)

// readPredictions reads eval --predictions lines by utterance ID.
func readPredictions(t *testing.T, path string) map[string]prediction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]prediction{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p prediction
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out[p.ID] = p
	}
	return out
}

// TestEvalEnsemble: eval of several checkpoints predicts each utterance
// from the mean of their probabilities (against each checkpoint's own
// --predictions), mixes model kinds, and refuses checkpoints evaluated
// on other utterances (the validation splits of two seeds).
func TestEvalEnsemble(t *testing.T) {
	data, _ := writeFixture(t)
	dir := t.TempDir()
	var ckpts []string
	for _, m := range []struct{ kind, seed string }{{"sentence", "1"}, {"sentence", "2"}, {"dialog", "3"}} {
		out := filepath.Join(dir, m.kind+m.seed)
		if code, _, e := runEmotion(t, "train", "--data", data, "--out", out, "--quiet", "--device", "cpu", "--threads", "1", "--epochs", "3", "--patience", "0",
			"--model", m.kind, "--seed", m.seed, "--embed", "8", "--hidden", "4", "--dense", "4", "--dialog-hidden", "4", "--heads", "2", "--attn-dim", "8",
			"--window", "3", "--min-count", "1", "--lr", "0.02"); code != 0 {
			t.Fatalf("train %s: exit %d: %s", m.kind, code, e)
		}
		ckpts = append(ckpts, filepath.Join(out, "model.safetensors"))
	}
	var single []map[string]prediction
	for i, c := range ckpts {
		p := filepath.Join(dir, "p"+string(rune('0'+i))+".jsonl")
		if code, _, e := runEmotion(t, "eval", "--checkpoint", c, "--device", "cpu", "--predictions", p); code != 0 {
			t.Fatalf("eval %s: exit %d: %s", c, code, e)
		}
		single = append(single, readPredictions(t, p))
	}
	ens := filepath.Join(dir, "ens.jsonl")
	code, out, e := runEmotion(t, "eval", "--checkpoint", ckpts[0], "--checkpoint", ckpts[1], "--checkpoint", ckpts[2], "--device", "cpu",
		"--predictions", ens, "--out", filepath.Join(dir, "ens"))
	if code != 0 {
		t.Fatalf("eval of the ensemble: exit %d: %s", code, e)
	}
	if !strings.Contains(out, "ensemble of 3 checkpoints (sentence, sentence, dialog) on the test split") {
		t.Errorf("the report's title: %q", out[:min(len(out), 200)])
	}
	got := readPredictions(t, ens)
	if len(got) == 0 || len(got) != len(single[0]) {
		t.Fatalf("%d ensemble predictions, %d of one checkpoint", len(got), len(single[0]))
	}
	right := 0
	for id, p := range got {
		best, bestP := "", -1.0
		for label, v := range p.Probs {
			mean := 0.0
			for _, s := range single {
				mean += s[id].Probs[label] / 3
			}
			if math.Abs(v-mean) > 2e-4 { // each file rounds to 4 decimals
				t.Errorf("%s: %s %g, want the mean %g", id, label, v, mean)
			}
			if v > bestP {
				best, bestP = label, v
			}
		}
		if p.Pred != best || p.True != single[0][id].True {
			t.Errorf("%s: predicted %s (true %s), want %s (%s)", id, p.Pred, p.True, best, single[0][id].True)
		}
		if p.Pred == p.True {
			right++
		}
	}
	var m struct {
		Model   string
		Members []struct{ Checkpoint string }
		Report  struct{ Accuracy float64 }
	}
	b, _ := os.ReadFile(filepath.Join(dir, "ens", "metrics.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Model != "ensemble" || len(m.Members) != 3 || m.Members[2].Checkpoint != ckpts[2] || math.Abs(m.Report.Accuracy-float64(right)/float64(len(got))) > 1e-12 {
		t.Errorf("metrics.json: %+v; want the ensemble of the 3 checkpoints at accuracy %d/%d", m, right, len(got))
	}
	code, _, e = runEmotion(t, "eval", "--checkpoint", ckpts[0], "--checkpoint", ckpts[1], "--device", "cpu", "--split", "val")
	if code != 1 || !strings.Contains(e, "were evaluated on other utterances") {
		t.Errorf("an ensemble on two seeds' validation splits: exit %d, %q", code, e)
	}
}

// TestPredictEnsemble: predict with several checkpoints prints, for each
// turn of a dialog, the mean of the checkpoints' own probabilities (a
// sentence and a dialog model here) and their argmax; --explain, one
// model's attention, takes one checkpoint.
func TestPredictEnsemble(t *testing.T) {
	data, _ := writeFixture(t)
	dir := t.TempDir()
	var ckpts []string
	for _, kind := range []string{"sentence", "dialog"} {
		out := filepath.Join(dir, kind)
		if code, _, e := runEmotion(t, "train", "--data", data, "--out", out, "--quiet", "--device", "cpu", "--threads", "1", "--epochs", "3", "--patience", "0",
			"--model", kind, "--embed", "8", "--hidden", "4", "--dense", "4", "--dialog-hidden", "4", "--heads", "2", "--attn-dim", "8",
			"--window", "3", "--min-count", "1", "--lr", "0.02"); code != 0 {
			t.Fatalf("train %s: exit %d: %s", kind, code, e)
		}
		ckpts = append(ckpts, filepath.Join(out, "model.safetensors"))
	}
	texts := []string{"word1, and more words 2.", "word7 word3.", "and more", "word12, word5 and words.", "word9."}
	predict := func(ckpts ...string) []predictOutput {
		t.Helper()
		args := []string{"predict", "--device", "cpu", "--json", "--speaker", "M"}
		for _, c := range ckpts {
			args = append(args, "--checkpoint", c)
		}
		code, out, e := runEmotion(t, append(args, texts...)...)
		if code != 0 {
			t.Fatalf("predict %v: exit %d: %s", ckpts, code, e)
		}
		var outs []predictOutput
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var o predictOutput
			if err := json.Unmarshal([]byte(l), &o); err != nil {
				t.Fatal(err)
			}
			outs = append(outs, o)
		}
		if len(outs) != len(texts) {
			t.Fatalf("predict %v: %d lines for %d texts", ckpts, len(outs), len(texts))
		}
		return outs
	}
	sentence, dialog, both := predict(ckpts[0]), predict(ckpts[1]), predict(ckpts...)
	for i, o := range both {
		best, bestP := "", -1.0
		for label, p := range o.Probs {
			if mean := (sentence[i].Probs[label] + dialog[i].Probs[label]) / 2; math.Abs(p-mean) > 1e-4 {
				t.Errorf("turn %d: %s %g, want the mean %g", i+1, label, p, mean)
			}
			if p > bestP {
				best, bestP = label, p
			}
		}
		if o.Label != best || o.Turn != i+1 || o.Text != texts[i] || o.Context != nil {
			t.Errorf("turn %d: %+v, want label %s", i+1, o, best)
		}
	}
	code, _, e := runEmotion(t, "predict", "--checkpoint", ckpts[1], "--checkpoint", ckpts[1], "--explain", "a")
	if code != 2 || !strings.Contains(e, "give one --checkpoint, not 2") {
		t.Errorf("--explain with two checkpoints: exit %d, %q", code, e)
	}
}

// TestEnsembleName: confusion.png's title counts the members of each
// kind, so that it stays within the plot's width however many there are.
func TestEnsembleName(t *testing.T) {
	for _, c := range []struct {
		kinds []string
		want  string
	}{
		{[]string{"sentence", "sentence", "sentence"}, "ensemble of 3 checkpoints (3 sentence)"},
		{[]string{"sentence", "dialog", "sentence", "dialog", "dialog", "sentence"}, "ensemble of 6 checkpoints (3 sentence, 3 dialog)"},
	} {
		if got := ensembleName(c.kinds); got != c.want {
			t.Errorf("ensembleName(%v) = %q, want %q", c.kinds, got, c.want)
		}
	}
}

// TestServeEnsemble: serve with a sentence and a dialog checkpoint answers
// a dialog longer than a batch (so in parts, each with the longest
// window's context) as predict answers it with both, describes its
// members in /v1/model, and refuses "explain".
func TestServeEnsemble(t *testing.T) {
	ckpts := []string{trainTiny(t, "sentence"), trainTiny(t, "dialog")} // window 3
	var e ensemble
	for _, c := range ckpts {
		p, err := loadPredictor(c, host.NewCPU(1))
		if err != nil {
			t.Fatal(err)
		}
		defer p.net.Release()
		e = append(e, p)
	}
	s := newEnsembleServer(e, ckpts, 4, 0)
	ts := httptest.NewServer(s.handler())
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		s.serveBatches(stop)
		close(done)
	}()
	defer func() {
		ts.Close()
		close(stop)
		<-done
	}()
	if s.info.Model != "ensemble" || len(s.info.Members) != 2 || s.info.Window != 3 || s.info.Members[1].Checkpoint != ckpts[1] ||
		s.info.Parameters != s.info.Members[0].Parameters+s.info.Members[1].Parameters {
		t.Errorf("/v1/model: %+v", s.info)
	}
	var texts, turns []string
	for i := range 9 {
		texts = append(texts, fmt.Sprintf("word%d, and more words %d.", i*5%17, i%3))
		turns = append(turns, fmt.Sprintf(`{"text": %q, "speaker": "F"}`, texts[i]))
	}
	code, resp, msg := post(t, ts.URL, `{"turns": [`+strings.Join(turns, ", ")+`]}`)
	if code != 200 || resp.Model != "ensemble" {
		t.Fatalf("status %d, model %q: %s", code, resp.Model, msg)
	}
	if got := s.batches.Load(); got < 3 {
		t.Errorf("%d batches of at most 4 turns for 9 turns", got)
	}
	code, out, errOut := runEmotion(t, append([]string{"predict", "--checkpoint", ckpts[0], "--checkpoint", ckpts[1], "--device", "cpu", "--json", "--speaker", "F"}, texts...)...)
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 9 || len(resp.Predictions) != 9 {
		t.Fatalf("%d predictions served, %d printed, want 9", len(resp.Predictions), len(lines))
	}
	for i, l := range lines {
		var want predictOutput
		if err := json.Unmarshal([]byte(l), &want); err != nil {
			t.Fatal(err)
		}
		got := resp.Predictions[i]
		if got.Turn != want.Turn || got.Label != want.Label {
			t.Errorf("turn %d: served %+v, predict %+v", i+1, got, want)
		}
		for label, p := range want.Probs {
			if math.Abs(got.Probs[label]-p) > 1.5e-4 {
				t.Errorf("turn %d: %s %g served, %g printed", i+1, label, got.Probs[label], p)
			}
		}
	}
	if code, _, msg := post(t, ts.URL, `{"text": "a", "explain": true}`); code != 400 || !strings.Contains(msg, "this is an ensemble of 2 checkpoints") {
		t.Errorf("explain of an ensemble: status %d, %q", code, msg)
	}
}
