package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/model"
	"github.com/emotionlab/emotion/model/metrics"
)

func init() {
	register(&command{
		name:    "eval",
		summary: "Evaluate a checkpoint on a split of its data",
		usage:   "--checkpoint FILE [flags]",
		help: `Loads a checkpoint written by 'emotion train' and evaluates it on a split of
the data it was trained on (the same source, protocol, seed and fold, from the
checkpoint's metadata; --data reads another copy of the source). Prints the
classification report and the confusion matrix; --out writes metrics.json and
confusion.png; --predictions writes one JSON line per utterance: id (when the
source has IDs), text, true label, predicted label and the four probabilities.`,
		examples: `emotion eval --checkpoint runs/sentence-session5/model.safetensors
emotion eval --checkpoint runs/dialog-session5/model.safetensors --predictions preds.jsonl
emotion eval --checkpoint model.safetensors --data ../shared/data/iemocap --split val --out eval`,
		run: runEval,
	})
}

func runEval(args []string) error {
	fs := newFlagSet("eval")
	ckpt := fs.String("checkpoint", "", "model checkpoint (model.safetensors[.zst])")
	data := fs.String("data", "", "read the data from here instead of the checkpoint's source")
	split := fs.String("split", "test", "split to evaluate: test, val, train or all (every labelled utterance)")
	preds := fs.String("predictions", "", "write one JSON line per utterance to this file")
	out := fs.String("out", "", "write metrics.json and confusion.png into this folder")
	device := fs.String("device", "auto", "compute device: cpu, cuda or auto")
	addDependentLaunchFlag(fs)
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if err := checkDataFlag(fs); err != nil {
		return err
	}
	if *ckpt == "" {
		return usagef("--checkpoint is required")
	}
	if !slices.Contains([]string{"test", "val", "train", "all"}, *split) {
		// Before loading anything: a typo should not wait for the data.
		return usagef("unknown --split %q (want test, val, train or all)", *split)
	}
	ctx, cancel := signalContext()
	defer cancel()
	be, err := newBackend(*device)
	if err != nil {
		return err
	}
	net, meta, err := loadCheckpoint(*ckpt, be)
	if err != nil {
		return err
	}
	defer net.Release()
	rec, err := decodeRunRecord(*ckpt, meta.Run)
	if err != nil {
		return err
	}
	if *data != "" {
		rec.Data.Data = *data
	}
	corpus, err := loadRunData(ctx, *ckpt, rec, *data != "", false)
	if err != nil {
		return err
	}
	var items []int
	what := "every labelled utterance" // for the report's title
	if *split == "all" {
		items = corpus.Labelled()
	} else {
		folds, err := dataset.Folds(corpus, rec.Data)
		if err != nil {
			return err
		}
		if rec.Fold >= len(folds) {
			return fmt.Errorf("checkpoint %s was trained on fold %d; %s has %d folds", *ckpt, rec.Fold+1, rec.Data.Protocol, len(folds))
		}
		f := folds[rec.Fold]
		what = fmt.Sprintf("the %s split of fold %s", *split, f.Name)
		switch *split {
		case "test":
			items = f.Test
		case "val":
			items = f.Val
		case "train":
			items = f.Train
		default:
			return usagef("unknown --split %q (want test, val, train or all)", *split)
		}
	}
	vocab, err := dataset.NewVocab(meta.Vocab)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", *ckpt, err)
	}
	enc := dataset.EncodeWithVocab(corpus, vocab, rec.Data)
	batches, index := model.Batches(rec.Model, enc, items, rec.Data.Window, 128, false, false, rec.Seed, 0)
	ev, err := model.Evaluate(be, net, batches, nil)
	if err != nil {
		return err
	}
	rep := reportOf(ev)
	// The report may be all the user asked for (eval > report.txt): a
	// failed write is an error, after the files are written.
	_, printErr := fmt.Fprintf(stdout, "%s model on %s of %s: %d utterances\n\n%s\n%s\naccuracy (WA) %.4f  UA %.4f  macro F1 %.4f  weighted F1 %.4f\n",
		rec.Model, what, rec.Data.Data, len(items),
		rep.ClassificationReport(4), rep.ConfusionTable(), rep.Accuracy, rep.UA, rep.MacroF1, rep.WeightedF1)
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		if err := metrics.WriteJSON(filepath.Join(*out, "metrics.json"), map[string]any{
			"checkpoint": *ckpt, "split": *split, "protocol": rec.Data.Protocol, "model": rec.Model, "report": rep}); err != nil {
			return err
		}
		if err := metrics.PlotConfusion(filepath.Join(*out, "confusion.png"), rep, fmt.Sprintf("%s model, %s split", rec.Model, *split)); err != nil {
			return err
		}
	}
	if *preds != "" {
		var rows []int
		for _, b := range index {
			rows = append(rows, b...)
		}
		if err := writePredictions(*preds, corpus, rows, ev); err != nil {
			return err
		}
	}
	return printErr
}

// prediction is one line of --predictions.
type prediction struct {
	ID    string             `json:"id,omitempty"`
	Text  string             `json:"text"`
	True  string             `json:"true,omitempty"`
	Pred  string             `json:"pred"`
	Probs map[string]float64 `json:"probs"`
}

func newPrediction(u *dataset.Utterance, probs []float32, pred int) prediction {
	p := prediction{ID: u.ID, Text: u.Text, Pred: dataset.LabelNames[pred], Probs: map[string]float64{}}
	if u.Label >= 0 {
		p.True = u.Label.String()
	}
	for k, v := range probs {
		p.Probs[dataset.LabelNames[k]] = round4(float64(v))
	}
	return p
}

// writePredictions writes the JSON lines of ev (rows are the utterance
// indices of its rows) to path through a temporary file.
func writePredictions(path string, c *dataset.Corpus, rows []int, ev *model.Eval) error {
	return metrics.WriteAtomic(path, func(f io.Writer) error {
		w := bufio.NewWriter(f)
		enc := json.NewEncoder(w)
		for r, i := range rows {
			if err := enc.Encode(newPrediction(&c.Utterances[i], ev.Probs[r], ev.Preds[r])); err != nil {
				return err
			}
		}
		return w.Flush()
	})
}
