package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
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
	if !strings.Contains(errOut, "note: "+state+" is a training state: using the best epoch's weights (epoch ") {
		t.Errorf("predict with state.safetensors: stderr %q", errOut)
	}
	code, out, errOut := runEmotion(t, "eval", "--checkpoint", state, "--device", "cpu")
	if code != 0 || !strings.Contains(errOut, "is a training state") || !strings.Contains(out, "accuracy") {
		t.Errorf("eval with state.safetensors: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
}

// TestPredictFromUnvalidatedState: the state of a run stopped before its
// first epoch ended holds only the last weights, and no model.safetensors
// holds them; the note said "using the last ones (…) weights, as the
// run's model.safetensors holds".
func TestPredictFromUnvalidatedState(t *testing.T) {
	ckpt := trainTiny(t, "sentence")
	be := host.NewCPU(1)
	tr, meta, err := model.LoadTraining(filepath.Join(filepath.Dir(ckpt), "state.safetensors"), be)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Net.Release()
	defer tr.Release()
	tr.State, tr.Best = model.TrainState{}, nil // as in the first epoch
	state := filepath.Join(t.TempDir(), "state.safetensors")
	if err := model.SaveTraining(state, be, tr, *meta, false); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runEmotion(t, "predict", "--checkpoint", state, "--device", "cpu", "hello")
	want := "note: " + state + " is a training state: using the last weights (epoch 0; no epoch has been validated, so there is no model.safetensors yet)\n"
	if code != 0 || errOut != want {
		t.Errorf("predict: exit %d, stderr %q, want %q", code, errOut, want)
	}
}

// sizeRecorder is a network that records the largest batch it is given.
type sizeRecorder struct {
	model.Network
	largest int
}

func (s *sizeRecorder) Forward(in *model.Inputs) (*host.F32, error) {
	s.largest = max(s.largest, in.Size)
	return s.Network.Forward(in)
}

// TestPredictLongDialog: a long dialog is predicted in batches of at most
// predictBatch windows (one batch of every turn took 8 GB for 20,000
// turns), each turn still from its full window: the labels,
// probabilities and --explain weights are those of one batch of every
// window.
func TestPredictLongDialog(t *testing.T) {
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, "train", "--data", data, "--out", out, "--model", "dialog", "--epochs", "1", "--max-batches", "1",
		"--quiet", "--device", "cpu", "--embed", "8", "--hidden", "4", "--dialog-hidden", "4", "--heads", "2", "--attn-dim", "4", "--min-count", "1"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	be := host.NewCPU(1)
	net, meta, err := model.LoadModel(filepath.Join(out, "model.safetensors"), be)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Release()
	rec, err := decodeRunRecord("model", meta.Run)
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := dataset.NewVocab(meta.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	turns := make([]dataset.RawTurn, 2*predictBatch+37)
	for i := range turns {
		turns[i] = dataset.RawTurn{Text: fmt.Sprintf("word%d, and more words %d.", i%17, i%5), Speaker: "FM"[i%3%2]}
	}

	// What one batch of every window gives.
	b, err := dataset.PredictDialog(vocab, rec.Data, turns)
	if err != nil {
		t.Fatal(err)
	}
	in := model.DialogInputs(b)
	ev, err := model.Evaluate(be, net, []model.Inputs{in}, nil)
	if err != nil {
		t.Fatal(err)
	}
	weights := make([]float32, in.Size*in.Turns)
	be.Download(weights, net.(*model.Dialog).PoolingWeights())
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}

	rows := &sizeRecorder{Network: net}
	for _, explain := range []bool{false, true} {
		var w bytes.Buffer
		p := &predictor{be: be, net: rows, vocab: vocab, opts: rec.Data}
		if explain {
			p.net = net // --explain reads the dialog model's weights
		}
		pr := &predictionPrinter{explain: explain, json: true, w: &w}
		if err := pr.predict(ensemble{p}, turns); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(w.String()), "\n")
		if len(lines) != len(turns) {
			t.Fatalf("explain %v: %d lines for %d turns", explain, len(lines), len(turns))
		}
		for i, l := range lines {
			var got predictOutput
			if err := json.Unmarshal([]byte(l), &got); err != nil {
				t.Fatal(err)
			}
			want := predictOutput{Turn: i + 1, Text: turns[i].Text, Label: dataset.LabelNames[ev.Preds[i]], Probs: map[string]float64{}}
			for k, v := range ev.Probs[i] {
				want.Probs[dataset.LabelNames[k]] = round4(float64(v))
			}
			if explain {
				for tt := range int(in.TurnCounts[i]) {
					want.Context = append(want.Context, round4(float64(weights[i*in.Turns+tt])))
				}
			}
			wj, _ := json.Marshal(want)
			if l != string(wj) {
				t.Fatalf("explain %v, turn %d: %s, want %s", explain, i+1, l, wj)
			}
		}
	}
	if limit := predictBatch + rec.Data.Window - 1; rows.largest > limit {
		t.Errorf("the largest batch had %d windows, want at most %d", rows.largest, limit)
	}
}

// TestPredictStdinErrors: the byte that is not UTF-8 (or begins an escape
// of half a surrogate pair) is counted from the start of its line of
// standard input, as an editor shows it, byte order mark and leading
// spaces included (it was counted in the line stripped of them); and a
// line with anything after its JSON object is refused.
func TestPredictStdinErrors(t *testing.T) {
	ckpt := trainTiny(t, "sentence")
	for _, tc := range []struct{ in, want string }{
		{"{\"text\": \"caf\xe9\"}\n", "line 1: not UTF-8 text: byte 14 is 0xe9"},
		{"\t  {\"text\": \"caf\xe9\"}\n", "line 1: not UTF-8 text: byte 17 is 0xe9"},
		{"\ufeff {\"text\": \"caf\xe9\"}\n", "line 1: not UTF-8 text: byte 18 is 0xe9"},
		{"{\"text\": \"ok\"}\n  {\"text\": \"\xff\"}\n", "line 2: not UTF-8 text: byte 13 is 0xff"},
		// JSON's \u escape of half a surrogate pair: encoding/json reads it
		// as U+FFFD, so it is refused as bytes that are not UTF-8 are.
		{`  {"text": "x\ud83d"}` + "\n", `line 1: not UTF-8 text: byte 14 begins \ud83d, half a surrogate pair without its other half`},
		{`{"text": "\ude00 y"}` + "\n", `line 1: not UTF-8 text: byte 11 begins \ude00`},
		// Text after the JSON object, even a lone } or ] (which
		// json.Decoder.More passes over), is refused as serve refuses it.
		{`{"text": "hi"}}` + "\n", "line 1: more than one JSON value, or text after it"},
		{`{"text": "hi"}]` + "\n", "line 1: more than one JSON value, or text after it"},
		{`{"text": "hi"} {"text": "b"}` + "\n", "line 1: more than one JSON value, or text after it"},
		// Type errors in the JSON's terms, not Go's.
		{`{"text": 5}` + "\n", `line 1: field "text" is a number, not a string: want a JSON object`},
		{`{"text": "a", "speaker": true}` + "\n", `line 1: field "speaker" is a boolean, not a string`},
		{`["hi"]` + "\n", `line 1: the value is an array: want a JSON object`},
	} {
		oldIn := stdin
		stdin = strings.NewReader(tc.in)
		code, _, errOut := runEmotion(t, "predict", "--checkpoint", ckpt, "--device", "cpu")
		stdin = oldIn
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("predict with standard input %q: exit %d, stderr %q; want %q", tc.in, code, errOut, tc.want)
		}
	}
}

// TestCheckJSONSurrogates: an escape of half a surrogate pair is refused
// wherever it is in a string, a whole pair and an escaped backslash
// before "u" are not.
func TestCheckJSONSurrogates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" for no error
	}{
		{`{"text": "\ud83d\ude00 caf\u00e9"}`, ""},
		{`{"text": "\\ud83d"}`, ""},
		{`{"text": "a\\", "b": "\u12"}`, ""}, // malformed: the decoder's to report
		{`{"text": "\ud83d"}`, `byte 11 begins \ud83d`},
		{`{"text": "\ude00"}`, `byte 11 begins \ude00`},
		{`{"text": "\ud83d\u0041"}`, `byte 11 begins \ud83d`},
		{`{"text": "\ud83d\ud83d\ude00"}`, `byte 11 begins \ud83d`},
		{`{"te\"xt": "\"\udbff"}`, `byte 15 begins \udbff`},
		{`{"\udc00": "x"}`, `byte 3 begins \udc00`},
		{`{"text": "ok"} \ud800`, ""}, // outside a string: not an escape
	} {
		err := checkJSONSurrogates(tc.in)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestPredictExplainText: predict --explain's text output lists, under
// each turn's prediction, the turns of its window (the window of 3 here:
// turn k's are k−2…k, fewer at the start) by number and text, with the
// attention weights --json gives.
func TestPredictExplainText(t *testing.T) {
	ckpt := trainTiny(t, "dialog")
	texts := []string{"word3 and more", "word5, words", "a b c", "word1 and", "last one."}
	args := append([]string{"predict", "--checkpoint", ckpt, "--device", "cpu", "--explain"}, texts...)
	code, text, errOut := runEmotion(t, args...)
	if code != 0 {
		t.Fatalf("predict --explain: exit %d: %s", code, errOut)
	}
	code, js, errOut := runEmotion(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("predict --explain --json: exit %d: %s", code, errOut)
	}
	var want []predictOutput
	for l := range strings.Lines(js) {
		var p predictOutput
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	if len(want) != len(texts) {
		t.Fatalf("--json: %d predictions for %d turns", len(want), len(texts))
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	k := 0
	for i, p := range want {
		if k >= len(lines) || !strings.HasPrefix(lines[k], p.Label+" ") || !strings.HasSuffix(lines[k], "  "+texts[i]) {
			t.Fatalf("line %d: %q; want turn %d's prediction %s … %s", k+1, lines[min(k, len(lines)-1)], i+1, p.Label, texts[i])
		}
		k++
		first := max(0, i-2)
		if len(p.Context) != i-first+1 {
			t.Fatalf("turn %d: %d attention weights, want %d", i+1, len(p.Context), i-first+1)
		}
		for c, w := range p.Context {
			turn := first + c
			suffix := fmt.Sprintf("turn %d: %s", turn+1, texts[turn])
			if k >= len(lines) || !strings.HasPrefix(lines[k], fmt.Sprintf("    %5.3f ", w)) || !strings.HasSuffix(lines[k], suffix) {
				t.Fatalf("line %d: %q; want weight %5.3f and %q", k+1, lines[min(k, len(lines)-1)], w, suffix)
			}
			k++
		}
	}
	if k != len(lines) {
		t.Errorf("%d lines printed, %d expected:\n%s", len(lines), k, text)
	}
}
