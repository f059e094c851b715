package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
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
source has IDs), text, true label, predicted label and the four probabilities.

Several --checkpoint flags evaluate their ensemble: the mean of the
checkpoints' probabilities, on a split they share (the test split of
session5 or loso runs of one fold that differ only in --seed, or in model
kind; the seed protocol's --seed draws the test split itself).`,
		examples: `emotion eval --checkpoint runs/sentence-session5/model.safetensors
emotion eval --checkpoint runs/dialog-session5/model.safetensors --predictions preds.jsonl
emotion eval --checkpoint model.safetensors --data ../shared/data/iemocap --split val --out eval
emotion eval --checkpoint runs/s1/model.safetensors --checkpoint runs/s2/model.safetensors --checkpoint runs/s3/model.safetensors`,
		run: runEval,
	})
}

func runEval(args []string) error {
	fs := newFlagSet("eval")
	ckpts := fs.StringArray("checkpoint", nil, "model checkpoint (model.safetensors[.zst]); give it more than once to evaluate the ensemble of the checkpoints (the mean of their probabilities)")
	data := fs.String("data", "", "read the data from here instead of the checkpoint's source")
	split := fs.String("split", "test", "split to evaluate: test, val, train or all (every labelled utterance)")
	preds := fs.String("predictions", "", "write one JSON line per utterance to this file")
	out := fs.String("out", "", "write metrics.json and confusion.png into this folder")
	device := fs.String("device", "auto", "compute device: cpu, cuda or auto")
	addThreadsFlag(fs)
	addDependentLaunchFlag(fs)
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if err := checkThreads(); err != nil {
		return err
	}
	if err := checkDataFlag(fs); err != nil {
		return err
	}
	if len(*ckpts) == 0 || slices.Contains(*ckpts, "") {
		return usagef("--checkpoint is required")
	}
	if !slices.Contains([]string{"test", "val", "train", "all"}, *split) {
		// Before loading anything: a typo should not wait for the data.
		return usagef("unknown --split %q (want test, val, train or all)", *split)
	}
	// Before the work: where the results go must take them.
	if err := checkEvalOut(*out, *split); err != nil {
		return err
	}
	if *preds != "" {
		if err := checkOutputFile("--predictions", *preds); err != nil {
			return err
		}
	}
	be, err := newBackend(*device)
	if err != nil {
		return err
	}
	corpora := map[string]*dataset.Corpus{} // by source: an ensemble's members share their data
	var runs []*evalRun
	for _, ckpt := range *ckpts {
		r, err := evalCheckpoint(be, ckpt, *data, *split, corpora)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	first := runs[0]
	ev, err := ensembleEval(runs)
	if err != nil {
		return err
	}
	rep := reportOf(ev)
	title := fmt.Sprintf("%s model on %s of %s", first.rec.Model, first.what, first.rec.Data.Data)
	if len(runs) > 1 {
		kinds := make([]string, len(runs))
		for i, r := range runs {
			kinds[i] = r.rec.Model
		}
		title = fmt.Sprintf("ensemble of %d checkpoints (%s) on %s of %s", len(runs), strings.Join(kinds, ", "), first.what, first.rec.Data.Data)
	}
	// The report may be all the user asked for (eval > report.txt): a
	// failed write is an error, after the files are written.
	var head strings.Builder
	fmt.Fprintf(&head, "%s: %d utterances\n\n", title, len(first.rows))
	if len(runs) > 1 {
		for _, r := range runs {
			m := reportOf(r.ev)
			fmt.Fprintf(&head, "  %s: accuracy (WA) %.4f  UA %.4f\n", r.ckpt, m.Accuracy, m.UA)
		}
		head.WriteString("\nthe ensemble:\n\n")
	}
	_, printErr := fmt.Fprintf(stdout, "%s%s\n%s\naccuracy (WA) %.4f  UA %.4f  macro F1 %.4f  weighted F1 %.4f\n",
		head.String(), rep.ClassificationReport(4), rep.ConfusionTable(), rep.Accuracy, rep.UA, rep.MacroF1, rep.WeightedF1)
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		result := map[string]any{"checkpoint": first.ckpt, "split": *split, "protocol": first.rec.Data.Protocol, "model": first.rec.Model, "report": rep}
		if len(runs) > 1 {
			members := make([]map[string]any, len(runs))
			for i, r := range runs {
				m := reportOf(r.ev)
				members[i] = map[string]any{"checkpoint": r.ckpt, "model": r.rec.Model, "accuracy": m.Accuracy, "ua": m.UA}
			}
			delete(result, "checkpoint")
			result["model"], result["members"] = "ensemble", members
		}
		if err := metrics.WriteJSON(filepath.Join(*out, "metrics.json"), result); err != nil {
			return err
		}
		plotTitle := first.rec.Model + " model"
		if len(runs) > 1 {
			kinds := make([]string, len(runs))
			for i, r := range runs {
				kinds[i] = r.rec.Model
			}
			plotTitle = ensembleName(kinds)
		}
		if err := metrics.PlotConfusion(filepath.Join(*out, "confusion.png"), rep, fmt.Sprintf("%s, %s split", plotTitle, *split)); err != nil {
			return err
		}
	}
	if *preds != "" {
		if err := writePredictions(*preds, first.corpus, first.rows, ev); err != nil {
			return err
		}
	}
	return printErr
}

// checkEvalOut refuses an --out folder that is a training run's (it
// holds one of runFiles other than metrics.json and confusion.png, or a
// fold folder's): eval would replace the run's own metrics.json and
// confusion.png with its report of one split. A path that exists and is
// not a folder is refused too. A folder of an earlier eval is fine.
func checkEvalOut(dir, split string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("--out %s is not a folder", dir)
	}
	for _, name := range runFiles {
		if name == "metrics.json" || name == "confusion.png" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("--out %s is a training run's folder (it holds %s): eval would replace the run's metrics.json and confusion.png with its report on the %s split; give another folder, such as %s",
				dir, name, split, filepath.Join(dir, "eval-"+split))
		}
	}
	return nil
}

// checkOutputFile checks, before any work, that a file can be written
// at path (flag names it): its folder exists, and path is not a folder.
func checkOutputFile(flag, path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s %s is a folder; give a file", flag, path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s %s: folder %s does not exist", flag, path, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", flag, err)
	case !fi.IsDir():
		return fmt.Errorf("%s %s: %s is not a folder", flag, path, dir)
	}
	return nil
}

// ensembleName names an ensemble of checkpoints of the model kinds for
// confusion.png's title, by the count of each kind ("ensemble of 6
// checkpoints (3 sentence, 3 dialog)"): a title listing every member's
// kind outgrows the plot's width from 6 members and is cut off.
func ensembleName(kinds []string) string {
	var order []string
	count := map[string]int{}
	for _, k := range kinds {
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = fmt.Sprintf("%d %s", count[k], k)
	}
	return fmt.Sprintf("ensemble of %d checkpoints (%s)", len(kinds), strings.Join(parts, ", "))
}

// evalRun is one checkpoint evaluated on a split: the utterances of its
// rows (indices into corpus) and their evaluation.
type evalRun struct {
	ckpt   string
	rec    runRecord
	corpus *dataset.Corpus
	what   string // the split, for the report's title
	rows   []int
	ev     *model.Eval
}

// evalCheckpoint evaluates checkpoint ckpt on split of its data (or of
// data, when given), loading each source once into corpora.
func evalCheckpoint(be host.Backend, ckpt, data, split string, corpora map[string]*dataset.Corpus) (*evalRun, error) {
	net, meta, err := loadCheckpoint(ckpt, be)
	if err != nil {
		return nil, err
	}
	defer net.Release()
	rec, err := decodeRunRecord(ckpt, meta.Run)
	if err != nil {
		return nil, err
	}
	if data != "" {
		rec.Data.Data = data
	}
	corpus := corpora[rec.Data.Data]
	if corpus == nil {
		// Ctrl-C cancels a download cleanly; once the data is in, it
		// stops the evaluation at once (the files are written at the end).
		ctx, stop := signalContext()
		corpus, err = loadRunData(ctx, ckpt, rec, data != "", false)
		stop()
		if err != nil {
			return nil, err
		}
		corpora[rec.Data.Data] = corpus
	}
	var items []int
	what := "every labelled utterance"
	if split == "all" {
		items = corpus.Labelled()
	} else {
		folds, err := dataset.Folds(corpus, rec.Data)
		if err != nil {
			return nil, err
		}
		if rec.Fold >= len(folds) {
			return nil, fmt.Errorf("checkpoint %s was trained on fold %d; %s has %d folds", ckpt, rec.Fold+1, rec.Data.Protocol, len(folds))
		}
		f := folds[rec.Fold]
		if err := rec.verifySplits(ckpt, corpus, f); err != nil {
			return nil, fmt.Errorf("%w; give the data the run was trained on (the same files, or a copy in the same row order), or evaluate --split all", err)
		}
		what = fmt.Sprintf("the %s split of fold %s", split, f.Name)
		switch split {
		case "test":
			items = f.Test
		case "val":
			items = f.Val
		case "train":
			items = f.Train
		default:
			return nil, usagef("unknown --split %q (want test, val, train or all)", split)
		}
	}
	vocab, err := dataset.NewVocab(meta.Vocab)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", ckpt, err)
	}
	if rec.NoSpeakers && corpus.HasSpeakers {
		// The model never saw a speaker feature: give it none here either
		// (a copy: the corpus is shared with the ensemble's other members).
		c := *corpus
		c.HasSpeakers = false
		corpus = &c
	}
	enc := dataset.EncodeWithVocab(corpus, vocab, rec.Data)
	batches, index := model.Batches(rec.Model, enc, items, rec.Data.Window, 128, false, false, rec.Seed, 0)
	ev, err := model.Evaluate(be, net, batches, nil)
	if err != nil {
		return nil, err
	}
	var rows []int
	for _, b := range index {
		rows = append(rows, b...)
	}
	return &evalRun{ckpt: ckpt, rec: rec, corpus: corpus, what: what, rows: rows, ev: ev}, nil
}

// ensembleEval is the evaluation of the runs' ensemble: each utterance's
// probabilities are the mean of the runs' (in the first run's row order),
// its prediction their argmax. Every run must have evaluated the same
// utterances of the same data: for the session5 protocol the test split
// is the same whatever the seed; the validation splits are not. A single
// run is its own ensemble. The ensemble's Loss is not computed (0).
func ensembleEval(runs []*evalRun) (*model.Eval, error) {
	first := runs[0]
	if len(runs) == 1 {
		return first.ev, nil
	}
	rowOf := make(map[int]int, len(first.rows))
	for r, i := range first.rows {
		rowOf[i] = r
	}
	classes := len(dataset.LabelNames)
	sum := make([][]float64, len(first.rows))
	for r := range sum {
		sum[r] = make([]float64, classes)
	}
	for _, run := range runs {
		same := len(run.rows) == len(first.rows)
		for _, i := range run.rows {
			if _, ok := rowOf[i]; !ok || !same || run.corpus.Utterances[i].Text != first.corpus.Utterances[i].Text ||
				run.corpus.Utterances[i].Label != first.corpus.Utterances[i].Label {
				same = false
				break
			}
		}
		if !same {
			return nil, fmt.Errorf("%s and %s were evaluated on other utterances (%s of %s, %d utterances; %s of %s, %d): an ensemble's checkpoints must share their split, as the test split of a session5 or loso fold is shared whatever the seed",
				first.ckpt, run.ckpt, first.what, first.rec.Data.Data, len(first.rows), run.what, run.rec.Data.Data, len(run.rows))
		}
		for r, i := range run.rows {
			for k, p := range run.ev.Probs[r] {
				sum[rowOf[i]][k] += float64(p)
			}
		}
	}
	ev := meanEval(sum, len(runs))
	ev.Labels = first.ev.Labels
	return ev, nil
}

// meanEval is the evaluation whose rows' probabilities are sum's over n
// (the sums of n members' probabilities), its predictions their argmax
// (the first class of the highest, as model.Evaluate's).
func meanEval(sum [][]float64, n int) *model.Eval {
	ev := &model.Eval{Probs: make([][]float32, len(sum)), Preds: make([]int, len(sum))}
	for r, ps := range sum {
		ev.Probs[r] = make([]float32, len(ps))
		for k, p := range ps {
			ev.Probs[r][k] = float32(p / float64(n))
			if p > ps[ev.Preds[r]] {
				ev.Preds[r] = k
			}
		}
	}
	return ev
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
