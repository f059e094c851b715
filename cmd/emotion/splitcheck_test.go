package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// parquetRow is a row of the IEMOCAP_Text layout.
type parquetRow struct {
	Text  string `parquet:"text"`
	Label int64  `parquet:"label"`
}

// writeParquetFixture writes five sessions of rows in the IEMOCAP_Text
// layout (no utterance IDs, so no speakers) into dir/data; reverse writes
// each session's rows in the opposite order.
func writeParquetFixture(t *testing.T, dir string, reverse bool) string {
	t.Helper()
	for s := 1; s <= 5; s++ {
		var rows []parquetRow
		for i := range 24 {
			rows = append(rows, parquetRow{Text: fmt.Sprintf("session %d words %d and more %d.", s, i%7, i), Label: int64((i + s) % 4)})
		}
		if reverse {
			slices.Reverse(rows)
		}
		path := filepath.Join(dir, "data", fmt.Sprintf("session%d-00000-of-00001.parquet", s))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := parquet.NewGenericWriter[parquetRow](f)
		if _, err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestEvalRefusesOtherSplits: a run records its splits by content, so
// that eval of a copy of its data in another row order (whose stratified
// splits are other utterances, the test split holding training ones) is
// refused, where a copy in the same order is evaluated as the data itself.
func TestEvalRefusesOtherSplits(t *testing.T) {
	data := writeParquetFixture(t, t.TempDir(), false)
	same := writeParquetFixture(t, t.TempDir(), false)
	reordered := writeParquetFixture(t, t.TempDir(), true)
	run := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", run, "--quiet", "--protocol", "seed"}, tinyRun...)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	ckpt := filepath.Join(run, "model.safetensors")
	code, want, e := runEmotion(t, "eval", "--checkpoint", ckpt, "--device", "cpu")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, e)
	}
	report := func(out string) string { _, r, _ := strings.Cut(out, "precision"); return r } // after the title naming the data
	if code, got, e := runEmotion(t, "eval", "--checkpoint", ckpt, "--data", same, "--device", "cpu"); code != 0 || report(got) != report(want) || report(want) == "" {
		t.Errorf("eval of a copy in the same order: exit %d: %s\n%s\nwant\n%s", code, e, got, want)
	}
	code, _, e = runEmotion(t, "eval", "--checkpoint", ckpt, "--data", reordered, "--device", "cpu")
	if code != 1 || !strings.Contains(e, "gives fold seed other splits than "+ckpt+" was trained with") || !strings.Contains(e, "--split all") {
		t.Errorf("eval of a copy in another order: exit %d, stderr %q", code, e)
	}
	if code, _, e := runEmotion(t, "eval", "--checkpoint", ckpt, "--data", reordered, "--split", "all", "--device", "cpu"); code != 0 {
		t.Errorf("eval --split all of a copy in another order: exit %d: %s", code, e)
	}
	code, _, e = runEmotion(t, "train", "--resume", filepath.Join(run, "state.safetensors"), "--data", reordered, "--epochs", "2", "--device", "cpu")
	if code != 1 || !strings.Contains(e, "other splits") && !strings.Contains(e, "is not the data of") {
		t.Errorf("--resume --data of a copy in another order: exit %d, stderr %q", code, e)
	}
}

// TestNoSpeakersModel: a model trained on data without speakers (parquet)
// never saw a speaker feature, so predict gives the same probabilities
// with a speaker as without (the weights of those inputs are as drawn),
// and says once that it leaves the speakers out.
func TestNoSpeakersModel(t *testing.T) {
	data := writeParquetFixture(t, t.TempDir(), false)
	run := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", run, "--quiet"}, tinyRun...)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	var c struct {
		Run struct {
			NoSpeakers bool `json:"no_speakers"`
		} `json:"run"`
	}
	if b, err := os.ReadFile(filepath.Join(run, "config.json")); err != nil || json.Unmarshal(b, &c) != nil || !c.Run.NoSpeakers {
		t.Errorf("config.json does not record a run without speakers (%v)", err)
	}
	ckpt := filepath.Join(run, "model.safetensors")
	code, plain, e := runEmotion(t, "predict", "--checkpoint", ckpt, "--json", "--device", "cpu", "I am so happy for you!", "Leave me alone.")
	if code != 0 || strings.Contains(e, "without speakers") {
		t.Fatalf("predict: exit %d: %s", code, e)
	}
	for _, spk := range []string{"F", "M"} {
		code, got, e := runEmotion(t, "predict", "--checkpoint", ckpt, "--json", "--speaker", spk, "--device", "cpu", "I am so happy for you!", "Leave me alone.")
		if code != 0 || got != plain {
			t.Errorf("--speaker %s: exit %d, output\n%s\nwant the output without a speaker\n%s", spk, code, got, plain)
		}
		if n := strings.Count(e, "was trained on data without speakers: it leaves the speakers given out of its inputs"); n != 1 {
			t.Errorf("--speaker %s: the note printed %d times: %s", spk, n, e)
		}
	}
}

// TestNoSpeakersModelEval: eval of a model trained without speakers, on a
// copy of its data that has them (a CSV with utterance IDs), leaves them
// out of its inputs, as predict does: its predictions are those on its own
// data, utterance for utterance.
func TestNoSpeakersModelEval(t *testing.T) {
	data := writeParquetFixture(t, t.TempDir(), false)
	run := filepath.Join(t.TempDir(), "run")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", data, "--out", run, "--quiet"}, tinyRun...)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, e)
	}
	// The same utterances, in the same order, with speakers.
	csvDir := t.TempDir()
	var b strings.Builder
	b.WriteString("Dialogue_ID,Utterance_Id,Utterance,Emotion,Valence,Activation,Dominance\n")
	names := []string{"ang", "hap", "neu", "sad"}
	for s := 1; s <= 5; s++ {
		dialog := fmt.Sprintf("Ses%02dF_impro01", s)
		for i := range 24 {
			g := "FM"[i%2]
			fmt.Fprintf(&b, "%s,%s_%c%03d,\"session %d words %d and more %d.\",%s,1,2,3\n", dialog, dialog, g, i/2, s, i%7, i, names[(i+s)%4])
		}
	}
	if err := os.WriteFile(filepath.Join(csvDir, "all.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(run, "model.safetensors")
	// preds evaluates the checkpoints (the speaker-less model's unless
	// given) on every utterance.
	preds := func(extra ...string) []prediction {
		t.Helper()
		path := filepath.Join(t.TempDir(), "p.jsonl")
		args := []string{"eval", "--device", "cpu", "--split", "all", "--predictions", path}
		if !slices.Contains(extra, "--checkpoint") {
			args = append(args, "--checkpoint", ckpt)
		}
		code, _, e := runEmotion(t, append(args, extra...)...)
		if code != 0 {
			t.Fatalf("eval %v: exit %d: %s", extra, code, e)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out []prediction
		for l := range strings.Lines(string(raw)) {
			var p prediction
			if err := json.Unmarshal([]byte(l), &p); err != nil {
				t.Fatal(err)
			}
			p.ID = "" // the CSV's utterances have IDs, the parquet's none
			out = append(out, p)
		}
		return out
	}
	own, withSpeakers := preds(), preds("--data", csvDir)
	// In an ensemble with a model trained with speakers, on the same
	// data, only the speaker-less member leaves them out: the ensemble's
	// probabilities are the mean of the two members' own.
	speakerRun := filepath.Join(t.TempDir(), "speakers")
	if code, _, e := runEmotion(t, append([]string{"train", "--data", csvDir, "--out", speakerRun, "--quiet"}, tinyRun...)...); code != 0 {
		t.Fatalf("train with speakers: exit %d: %s", code, e)
	}
	speakerCkpt := filepath.Join(speakerRun, "model.safetensors")
	speakers := preds("--data", csvDir, "--checkpoint", speakerCkpt)
	both := preds("--data", csvDir, "--checkpoint", ckpt, "--checkpoint", speakerCkpt)
	if len(both) != len(own) || len(speakers) != len(own) {
		t.Fatalf("%d ensemble and %d speaker-model predictions for %d utterances", len(both), len(speakers), len(own))
	}
	for i, p := range both {
		for name, v := range p.Probs {
			if want := (own[i].Probs[name] + speakers[i].Probs[name]) / 2; math.Abs(v-want) > 1.5e-4 { // each rounded to 4 places
				t.Fatalf("utterance %d: ensemble p(%s) %.4f, want the members' mean %.4f (%.4f without speakers, %.4f with)",
					i+1, name, v, want, own[i].Probs[name], speakers[i].Probs[name])
			}
		}
	}
	if len(own) != 120 || !reflect.DeepEqual(own, withSpeakers) {
		t.Errorf("eval on a copy with speakers: %d predictions differ from the %d on the model's own data", len(withSpeakers), len(own))
	}
	// The data's warnings (parquet: no speakers) are said when eval loads
	// it again, and not by a --quiet --resume.
	const warning = "warning: " // the source's own text follows
	if code, _, e := runEmotion(t, "eval", "--checkpoint", ckpt, "--device", "cpu"); code != 0 || !strings.Contains(e, warning) {
		t.Errorf("eval on parquet data: exit %d, stderr %q; want its warnings", code, e)
	}
	if code, _, e := runEmotion(t, "train", "--resume", filepath.Join(run, "state.safetensors"), "--quiet", "--device", "cpu"); code != 0 || strings.Contains(e, warning) {
		t.Errorf("--resume --quiet: exit %d, stderr %q; want no warning", code, e)
	}
}
