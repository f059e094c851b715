package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
	"github.com/emotionlab/emotion/model"
	"github.com/emotionlab/emotion/model/metrics"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"
)

func init() {
	register(&command{
		name:    "train",
		summary: "Train and evaluate a sentence or dialog model",
		usage:   "[flags]",
		help: `Trains a model on the training split of --protocol, validates after every
epoch, keeps the epoch with the best validation accuracy (--monitor val_ua:
UA, val_loss: the lowest loss; early stopping after --patience epochs
without a better one), then evaluates it on the test split.

A run lands in --out: config.json, log.jsonl (one JSON line per epoch),
metrics.json, confusion.png, curves.png, model.safetensors (the best epoch:
PyTorch state_dict names, config and vocabulary in its metadata) and
state.safetensors (everything --resume needs). With --protocol loso each fold
has its own folder fold1 … fold5 and metrics.json holds mean ± std. A
fresh run into a folder that holds an earlier run first removes that run's
files (these, and its fold folders'): to keep a run, give another --out.

Ctrl-C stops after the current batch and saves state.safetensors; --resume
continues to the same result as an uninterrupted run.`,
		examples: `emotion train
emotion train --data ../shared/data/iemocap --model dialog --out runs/dialog
emotion train --data ../shared/data/iemocap --protocol loso --quiet
emotion train --data ../shared/data/iemocap --embeddings glove.6B.100d.txt --min-count 1
emotion train --resume runs/dialog/state.safetensors`,
		run: runTrain,
	})
}

// trainConfig is the training configuration the flags give, with
// classWeights.
func (t trainOptions) trainConfig(classWeights []float32) model.TrainConfig {
	tc := model.TrainConfig{Epochs: t.epochs, LR: t.lr, WeightDecay: t.weightDecay, ClipNorm: t.clip,
		Patience: t.patience, ClassWeights: classWeights, Schedule: t.schedule, Monitor: t.monitor,
		FreezeEmbeddings: t.freezeEmbeddings, LabelSmoothing: t.labelSmoothing, EMA: t.ema}
	if t.schedule != model.ScheduleConstant {
		tc.MinLR = t.minLR
	}
	if t.schedule == model.SchedulePlateau {
		tc.LRFactor, tc.LRPatience = t.lrFactor, t.lrPatience
	}
	return tc
}

// trainOptions are the train command's own flags.
type trainOptions struct {
	epochs, batchSize, patience int
	maxBatches                  int
	lr, weightDecay, clip       float32
	labelSmoothing              float32
	ema                         float32 // --ema: decay of the weights' moving average
	schedule, monitor           string  // --lr-schedule, --monitor
	minLR, lrFactor             float32 // --min-lr, --lr-factor
	lrPatience                  int     // --lr-patience
	noClassWeights, bucket      bool
	embeddings                  string // --embeddings: pretrained word vectors
	freezeEmbeddings            bool
	device, out, resume         string
	data                        string // --data with --resume: where the run's data now is
	quiet, compress, jsonOut    bool
	epochsSet                   bool // --epochs given with --resume: train up to that many
	embeddingsMoved             bool // --embeddings given with --resume: where the run's vectors now are
}

func runTrain(args []string) (err error) {
	fs := newFlagSet("train")
	o := dataFlags(fs)
	_ = fs.MarkHidden("dialog") // --model decides the seed protocol's split sizes
	fs.Lookup("seed").Usage = "seed of the splits, the initial parameters, dropout and shuffling"
	mf := addModelFlags(fs)
	var t trainOptions
	fs.IntVar(&t.epochs, "epochs", 30, "maximum training epochs")
	fs.IntVar(&t.maxBatches, "max-batches", 0, "stop each epoch after this many batches (0: all; for quick checks and profiles)")
	fs.IntVar(&t.batchSize, "batch-size", 32, "utterances (or windows) per batch")
	fs.Float32Var(&t.lr, "lr", 1e-3, "Adam learning rate")
	fs.StringVar(&t.schedule, "lr-schedule", model.ScheduleConstant, "learning-rate schedule: constant, cosine (from --lr to --min-lr over --epochs) or plateau (× --lr-factor after more than --lr-patience epochs without a better validation score)")
	fs.Float32Var(&t.minLR, "min-lr", 0, "least learning rate of the cosine and plateau schedules")
	fs.Float32Var(&t.lrFactor, "lr-factor", 0.5, "plateau schedule: factor of each reduction of the learning rate")
	fs.IntVar(&t.lrPatience, "lr-patience", 2, "plateau schedule: epochs without a better validation score tolerated before a reduction")
	fs.Float32Var(&t.weightDecay, "weight-decay", 0, "L2 weight decay (Adam's)")
	fs.Float32Var(&t.clip, "clip", 0, "clip the global gradient norm to this (0: off)")
	fs.IntVar(&t.patience, "patience", 5, "stop after this many epochs without a better validation score (--monitor) (0: never)")
	fs.StringVar(&t.monitor, "monitor", model.MonitorAccuracy, "validation score that chooses the best epoch, for early stopping and the plateau schedule: val_acc (accuracy, WA), val_ua (unweighted accuracy, the mean recall) or val_loss (the lower the better)")
	fs.BoolVar(&t.noClassWeights, "no-class-weights", false, "train with an unweighted loss instead of balanced class weights")
	fs.Float32Var(&t.labelSmoothing, "label-smoothing", 0, "label smoothing ε of the loss: the target is (1−ε)·onehot + ε/4 (PyTorch's label_smoothing)")
	fs.Float32Var(&t.ema, "ema", 0, "keep an exponential moving average of the weights with this decay (0.99, say; 0: off), validated and kept in their place (Keras's use_ema and ema_momentum)")
	fs.StringVar(&t.embeddings, "embeddings", "", "start the embedding from pretrained word vectors: GloVe or word2vec/fastText text (.txt, .vec) or word2vec binary (.bin), plain, .gz or .zst (--embed defaults to their size)")
	fs.BoolVar(&t.freezeEmbeddings, "freeze-embeddings", false, "keep the embedding as initialised (no gradient, no update)")
	fs.BoolVar(&t.bucket, "bucket", true, "batch utterances of similar length together (less padding)")
	fs.StringVar(&t.device, "device", "auto", "compute device: cpu, cuda or auto")
	addThreadsFlag(fs)
	addDependentLaunchFlag(fs)
	fs.StringVar(&t.out, "out", "", "run folder (default runs/<model>-<protocol>)")
	fs.StringVar(&t.resume, "resume", "", "continue the run saved in this state.safetensors (with --epochs: up to that many epochs)")
	fs.BoolVar(&t.quiet, "quiet", false, "no progress bar, no report: only errors (the files are written)")
	fs.BoolVar(&t.jsonOut, "json", false, "print JSON lines on stdout: each epoch's log line, then the test report (and the folds' summary)")
	fs.BoolVar(&t.compress, "compress", false, "write zstd-compressed checkpoints")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the run to this file")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if err := checkDataFlag(fs); err != nil {
		return err
	}
	if err := checkThreads(); err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, perr := startCPUProfile(*cpuProfile)
		if perr != nil {
			return perr
		}
		defer stopCPUProfile(stop, &err) // err: the command's, not a shadow
	}
	ctx, cancel := commandContext()
	defer cancel()
	if t.resume != "" {
		var fixed []string
		fs.Visit(func(f *pflag.Flag) {
			if !resumeFlags[f.Name] {
				fixed = append(fixed, "--"+f.Name)
			}
		})
		if len(fixed) > 0 {
			var allowed []string
			for _, name := range slices.Sorted(maps.Keys(resumeFlags)) {
				if name != "resume" {
					allowed = append(allowed, "--"+name)
				}
			}
			return usagef("--resume continues a run with the settings it was started with; %s cannot change them (with --resume: %s; --data and --embeddings say where the run's data and word vectors now are)",
				strings.Join(fixed, ", "), strings.Join(allowed, ", "))
		}
		t.epochsSet = fs.Changed("epochs")
		if t.epochsSet && t.epochs < 1 {
			return usagef("--epochs %d: want at least 1", t.epochs)
		}
		if fs.Changed("data") {
			t.data = o.Data
		}
		t.embeddingsMoved = fs.Changed("embeddings")
		return resumeTrain(ctx, t)
	}
	if err := o.Validate(); err != nil {
		return flagError(err)
	}
	if !t.quiet {
		noteModelFlags(fs, mf.kind)
	}
	if t.freezeEmbeddings && t.embeddings == "" && !t.quiet {
		fmt.Fprintf(stderr, "note: --freeze-embeddings without --embeddings keeps the random initial embedding fixed\n")
	}
	if o.ValSplit == dataset.ValSplitSpeaker && mf.kind == model.KindDialog && !t.quiet {
		fmt.Fprintf(stderr, "note: --val-split speaker: the validation speakers' turns are still the context of their partners' training windows; --val-split session keeps them out of training altogether\n")
	}
	if t.embeddings != "" {
		dim, err := dataset.WordVectorsDim(t.embeddings)
		if err != nil {
			return err
		}
		if mf.embed == 0 {
			mf.embed = dim
		} else if mf.embed != dim {
			return usagef("--embed %d, but the vectors of --embeddings %s have %d values: leave --embed out (it defaults to theirs) or give %d",
				mf.embed, t.embeddings, dim, dim)
		}
		if t.embeddings, err = filepath.Abs(t.embeddings); err != nil {
			return err
		}
	}
	if _, err := mf.config(1, *o); err != nil {
		return flagError(err)
	}
	inf := func(x float32) bool { return math.IsInf(float64(x), 1) }
	switch {
	case t.epochs < 1:
		return usagef("--epochs %d: want at least 1", t.epochs)
	case t.batchSize < 1:
		return usagef("--batch-size %d: want at least 1", t.batchSize)
	case !(t.lr > 0) || inf(t.lr):
		return usagef("--lr %g: want a positive, finite learning rate", t.lr)
	}
	if !(t.weightDecay >= 0) || !(t.clip >= 0) || t.patience < 0 || inf(t.weightDecay) || inf(t.clip) {
		return usagef("--weight-decay, --clip and --patience must not be negative (nor infinite)")
	}
	if t.monitor != model.MonitorAccuracy && t.monitor != model.MonitorUA && t.monitor != model.MonitorLoss {
		return usagef("--monitor %q: want %s, %s or %s", t.monitor, model.MonitorAccuracy, model.MonitorUA, model.MonitorLoss)
	}
	if !slices.Contains(model.Schedules, t.schedule) {
		return usagef("--lr-schedule %q: want one of %s", t.schedule, strings.Join(model.Schedules, ", "))
	}
	for _, f := range []string{"lr-factor", "lr-patience"} {
		if fs.Changed(f) && t.schedule != model.SchedulePlateau {
			return usagef("--%s drives the plateau schedule; give --lr-schedule plateau (not %s)", f, t.schedule)
		}
	}
	if fs.Changed("min-lr") && t.schedule == model.ScheduleConstant {
		return usagef("--min-lr is the least rate of a cosine or plateau schedule; give --lr-schedule cosine or plateau")
	}
	if err := t.trainConfig(nil).Validate(); err != nil {
		return flagError(err)
	}
	if t.maxBatches < 0 {
		// The run record would hold it, and eval, predict and --resume
		// refuse a record with a negative max_batches.
		return usagef("--max-batches must not be negative (0: every batch)")
	}
	o.Dialog = mf.kind == model.KindDialog
	if t.out == "" {
		t.out = filepath.Join("runs", mf.kind+"-"+o.Protocol)
	}
	be, err := newBackend(t.device)
	if err != nil {
		return err
	}
	corpus, err := dataset.Load(ctx, o.Data)
	if err != nil {
		return err
	}
	if !t.quiet {
		for _, w := range corpus.Warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	folds, err := dataset.Folds(corpus, *o)
	if err != nil {
		return err
	}
	if err := checkSplits(folds, *o); err != nil {
		return err
	}
	o.Data = dataset.AbsData(o.Data) // eval and --resume find it from anywhere
	rec := runRecord{Data: *o, Model: mf.kind, BatchSize: t.batchSize, Bucket: t.bucket, Seed: o.Seed,
		Out: t.out, Compress: t.compress, Device: t.device, MaxBatches: t.maxBatches, Embeddings: t.embeddings}
	return trainFolds(ctx, be, corpus, folds, rec, t, mf, nil, nil)
}

// checkSplits refuses a fold whose training or validation split is
// empty: nothing to learn from (the first epoch's validation loss was NaN,
// which failed its save), or no epoch to choose (every validation
// accuracy 0, the first epoch kept).
func checkSplits(folds []dataset.Fold, o dataset.Options) error {
	hint := func(way string) string {
		if o.Protocol == dataset.ProtocolSeed {
			return "give more data"
		}
		return fmt.Sprintf("%s --val-fraction (%v of each class of the training sessions)", way, o.ValFraction)
	}
	for _, f := range folds {
		switch {
		case len(f.Train) == 0:
			return fmt.Errorf("fold %s: the training split is empty (%d validation, %d test utterances): %s", f.Name, len(f.Val), len(f.Test), hint("lower"))
		case len(f.Val) == 0:
			return fmt.Errorf("fold %s: the validation split is empty (%d training utterances), so no epoch could be chosen: %s", f.Name, len(f.Train), hint("raise"))
		}
	}
	return nil
}

// resumeFlags are the flags --resume takes: how long and where to run, and
// what to print. Every other setting is the run's own, from its record.
var resumeFlags = map[string]bool{"resume": true, "epochs": true, "device": true, "threads": true,
	"dependent-launch": true, "quiet": true, "json": true, "cpuprofile": true, "data": true, "embeddings": true}

// trainFolds trains the folds from rec.Fold on; first, when not nil, is a
// resumed trainer for fold rec.Fold with its checkpoint's meta.
func trainFolds(ctx context.Context, be host.Backend, corpus *dataset.Corpus, folds []dataset.Fold, rec runRecord, t trainOptions, mf *modelFlags, first *model.Trainer, firstMeta *model.Meta) error {
	start := rec.Fold
	if err := os.MkdirAll(rec.Out, 0o755); err != nil {
		return err
	}
	unlock, err := lockRunFolder(rec.Out)
	if err != nil {
		return err
	}
	defer unlock()
	if first == nil {
		// A fresh run replaces whatever run the folder held, before it
		// writes anything: killed before its first save, it must not
		// leave its config.json and log.jsonl beside the earlier run's
		// checkpoints and metrics, which eval and --resume would trust.
		removed, err := removeEarlierRun(rec.Out)
		if err != nil {
			return fmt.Errorf("run folder %s holds an earlier run, which this fresh run replaces, and removing it failed: %w (remove it, or give another --out)", rec.Out, err)
		}
		if len(removed) > 0 && !t.quiet {
			fmt.Fprintf(stderr, "note: %s held an earlier run: removed its %s (a fresh run replaces the run in its --out; give another --out to keep one)\n",
				rec.Out, strings.Join(removed, ", "))
		}
	}
	// A resumed fold that has nothing left to train (its run finished, and
	// no new --epochs) only writes its report again; the folds after it
	// finished then too, and keep their reports. One that trains on makes
	// the folds after it anew.
	resumedDone := first != nil && (first.State.Stopped || first.State.Epoch >= first.Cfg.Epochs)
	if first != nil && !resumedDone && len(folds) > 1 {
		// The summary over the folds is stale until they are all done.
		if err := removeIfExists(filepath.Join(rec.Out, "metrics.json")); err != nil {
			return err
		}
	}
	var reports []metrics.Report
	if len(folds) > 1 {
		// A resumed run's earlier folds are done: their reports are on disk.
		for k := range start {
			rep, err := readFoldReport(filepath.Join(rec.Out, fmt.Sprintf("fold%d", k+1), "metrics.json"))
			if err != nil {
				return err
			}
			reports = append(reports, rep)
		}
	}
	for k := start; k < len(folds); k++ {
		rec.Fold = k
		dir := rec.Out
		if len(folds) > 1 {
			dir = filepath.Join(rec.Out, fmt.Sprintf("fold%d", k+1))
		}
		var tr *model.Trainer
		var meta *model.Meta
		if k == start {
			tr, meta = first, firstMeta
		} else if resumedDone {
			if rep, err := readFoldReport(filepath.Join(dir, "metrics.json")); err == nil {
				if !t.quiet {
					fmt.Fprintf(stderr, "%s: finished before; its report kept\n", dir)
				}
				reports = append(reports, rep)
				continue
			}
		}
		rep, err := trainFold(ctx, be, corpus, folds[k], dir, rec, t, mf, tr, meta)
		if err != nil {
			return err
		}
		reports = append(reports, rep)
	}
	if len(folds) > 1 {
		s := metrics.Summarize(reports)
		if err := metrics.WriteJSON(filepath.Join(rec.Out, "metrics.json"), map[string]any{
			"protocol": rec.Data.Protocol, "model": rec.Model, "folds": reports, "summary": s}); err != nil {
			return err
		}
		if t.jsonOut {
			return printJSONLine(map[string]any{"protocol": rec.Data.Protocol, "model": rec.Model, "summary": s})
		}
		if !t.quiet {
			_, err := fmt.Fprintf(stdout, "\n%s over %d folds\n%s\n", rec.Data.Protocol, len(folds), s.String())
			return err
		}
	}
	return nil
}

// printJSONLine prints v on stdout as one JSON line.
func printJSONLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// readFoldReport reads the test report of a finished fold from its
// metrics.json.
func readFoldReport(path string) (metrics.Report, error) {
	var m struct {
		Report *metrics.Report `json:"report"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return metrics.Report{}, fmt.Errorf("the summary over the folds needs each fold's report: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return metrics.Report{}, fmt.Errorf("%s: %w", path, err)
	}
	if m.Report == nil {
		return metrics.Report{}, fmt.Errorf("%s: no \"report\"", path)
	}
	return *m.Report, nil
}

// trainFold trains one fold (or continues tr) and evaluates its best epoch
// on the fold's test split, writing the run folder dir.
func trainFold(ctx context.Context, be host.Backend, corpus *dataset.Corpus, fold dataset.Fold, dir string, rec runRecord, t trainOptions, mf *modelFlags, tr *model.Trainer, meta *model.Meta) (metrics.Report, error) {
	var none metrics.Report
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return none, err
	}
	removeStaleTemps(dir)
	o := rec.Data
	var enc *dataset.Encoded
	var vectors *dataset.WordVectors // pretrained, for a fresh fold with --embeddings
	fresh := tr == nil
	if fresh {
		if !t.quiet {
			for k, n := range dataset.ClassCounts(corpus, fold.Train) {
				if n == 0 {
					fmt.Fprintf(stderr, "warning: %s: the training split has no %s utterances: the model cannot learn to predict %s\n",
						dir, dataset.LabelNames[k], dataset.LabelNames[k])
				}
			}
		}
		enc = dataset.Encode(corpus, fold.Train, o)
		if enc.LongTokens > 0 && !t.quiet {
			fmt.Fprintf(stderr, "warning: %s: %s longer than %d characters (the longest, %s, has %d): not words, they are left out of the vocabulary and read as %s\n",
				dir, plural(enc.LongTokens, "training token is", "training tokens are"), dataset.MaxTokenRunes, quoteStart(enc.Longest, 20), utf8.RuneCountInString(enc.Longest), dataset.UnkToken)
		}
		cfg, err := mf.config(enc.Vocab.Len(), o)
		if err != nil {
			return none, err
		}
		// Saving the first epoch would fail on a vocabulary too large for
		// a checkpoint: fail now, saying so.
		if err := checkMeta(model.Meta{Config: cfg, Vocab: enc.Vocab.Tokens(), Labels: dataset.LabelNames[:]}); err != nil {
			return none, fmt.Errorf("%s: %w; --min-count %d keeps tokens seen that often: raise it to keep fewer", dir, err, max(o.MinCount, 1))
		}
		if rec.Embeddings != "" {
			if vectors, err = dataset.ReadWordVectors(rec.Embeddings, enc.Vocab); err != nil {
				return none, err
			}
			if vectors.Dim != cfg.Embed {
				return none, fmt.Errorf("%s: the vectors of %s have %d values, the run's embedding %d", dir, rec.Embeddings, vectors.Dim, cfg.Embed)
			}
		}
		cfg.Seed = seedOf(rec.Seed, rec.Fold)
		net, err := model.New(be, cfg)
		if err != nil {
			return none, err
		}
		if vectors != nil {
			if err := net.Embedding().SetRows(vectors.Rows); err != nil {
				net.Release()
				return none, err
			}
		}
		tc := t.trainConfig(classWeights(corpus, fold.Train, !t.noClassWeights))
		if tr, err = model.NewTrainer(be, net, tc); err != nil {
			net.Release()
			return none, err
		}
		meta = &model.Meta{Vocab: enc.Vocab.Tokens(), Labels: dataset.LabelNames[:]}
	} else {
		v, err := dataset.NewVocab(meta.Vocab)
		if err != nil {
			return none, err
		}
		enc = dataset.EncodeWithVocab(corpus, v, o)
	}
	defer tr.Net.Release()
	defer tr.Release()
	rec.Splits, rec.NoSpeakers = splitFingerprint(corpus, fold), !corpus.HasSpeakers
	// Written again on --resume: a new --epochs or backend is the run's now.
	runConfig := map[string]any{
		"run": rec, "model": tr.Net.Config(), "train": tr.Cfg, "fold": fold.Name, "backend": be.Name(),
		"train_size": len(fold.Train), "val_size": len(fold.Val), "test_size": len(fold.Test),
		"vocab_size": enc.Vocab.Len(), "truncated_utterances": enc.Truncated}
	if fold.ValHeldOut != nil {
		runConfig["val_held_out"] = fold.ValHeldOut // speakers or sessions (--val-split)
	}
	if vectors != nil {
		runConfig["embeddings_found"] = vectors.Found
	} else if old, err := readEmbeddingsFound(filepath.Join(dir, "config.json")); err == nil && old > 0 {
		runConfig["embeddings_found"] = old // a resumed fold: what its start found
	}
	if err := metrics.WriteJSON(filepath.Join(dir, "config.json"), runConfig); err != nil {
		return none, err
	}
	meta.Run = rec.encode()

	data := &foldData{kind: rec.Model, enc: enc, fold: fold, window: o.Window, batchSize: rec.BatchSize,
		bucket: rec.Bucket, seed: rec.Seed, maxBatches: rec.MaxBatches}
	// A resumed fold adds to its log; a fresh one starts it again.
	logPath := filepath.Join(dir, "log.jsonl")
	logMode := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if fresh {
		logMode |= os.O_TRUNC
	} else if err := writeLog(logPath, tr.State.History); err != nil {
		return none, err
	}
	logFile, err := os.OpenFile(logPath, logMode, 0o644)
	if err != nil {
		return none, err
	}
	defer logFile.Close()
	statePath := filepath.Join(dir, "state.safetensors")
	modelPath := filepath.Join(dir, "model.safetensors")
	if rec.Compress {
		statePath += ".zst"
		modelPath += ".zst"
	}

	var bar *progressbar.ProgressBar
	if !t.quiet {
		fmt.Fprintf(stderr, "%s: %s model, fold %s: %d train, %d val, %d test; vocabulary %d; %d parameters on %s\n",
			dir, rec.Model, fold.Name, len(fold.Train), len(fold.Val), len(fold.Test), enc.Vocab.Len(), model.NumParams(tr.Net), be.Name())
		if vectors != nil {
			frozen := ""
			if tr.Cfg.FreezeEmbeddings {
				frozen = ", frozen"
			}
			fmt.Fprintf(stderr, "%s: word vectors for %d of the %d tokens (%.1f%%) from %s (%d vectors of %d values)%s; the others drawn from N(0, %g²)\n",
				dir, vectors.Found, enc.Vocab.Len()-2, 100*vectors.Coverage(), rec.Embeddings, vectors.Words, vectors.Dim, frozen, tr.Net.Config().EmbedStd)
			if vectors.Coverage() < lowCoverage {
				fmt.Fprintf(stderr, "warning: %s: most tokens have no vector in %s: the tokens are lowercase, split as NLTK's word_tokenize splits (do n't, gon na); are these English word vectors?\n",
					dir, rec.Embeddings)
			}
		}
	}
	tr.OnBatch = func(done, total, seen int, loss, acc float64) {
		if t.quiet || !isTerminal(stderr) {
			return // a bar redrawn into a log file is noise; the epoch lines stay
		}
		if bar == nil {
			bar = newBar(stderr, total, tr.State.Epoch+1, tr.Cfg.Epochs)
		}
		rate := float64(seen) / max(tr.State.Seconds, 1e-9)
		bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f acc %.3f %5.0f utt/s", tr.State.Epoch+1, tr.Cfg.Epochs, loss, acc, rate))
		_ = bar.Set(done)
	}
	tr.OnEpoch = func(l model.EpochLog) error {
		if bar != nil {
			_ = bar.Finish()
			bar = nil
		}
		line, _ := json.Marshal(l)
		if _, err := fmt.Fprintf(logFile, "%s\n", line); err != nil {
			return err
		}
		var printErr error
		if t.jsonOut {
			_, printErr = fmt.Fprintf(stdout, "%s\n", line)
		} else if !t.quiet {
			mark := ""
			if l.Best {
				mark = " *"
			}
			rate := ""
			if t.schedule != model.ScheduleConstant {
				rate = fmt.Sprintf(" lr %.3g", l.LR)
			}
			fmt.Fprintf(stderr, "epoch %d:%s train loss %.4f acc %.4f | val loss %.4f acc %.4f UA %.4f | %.2fs %.0f utt/s%s\n",
				l.Epoch, rate, l.TrainLoss, l.TrainAcc, l.ValLoss, l.ValAcc, l.ValUA, l.Seconds, l.UttPerSec, mark)
		}
		if l.Best {
			if err := model.SaveModel(modelPath, be, tr.Net, tr.Best, *meta, rec.Compress); err != nil {
				return err
			}
		}
		if err := model.SaveTraining(statePath, be, tr, *meta, rec.Compress); err != nil {
			return err
		}
		if printErr != nil {
			// Stop, the epoch saved: its line is in log.jsonl, and
			// --resume goes on once standard output can be written.
			return fmt.Errorf("epoch %d: --json line: %w (the epoch is saved: continue with 'emotion train --resume %s')", l.Epoch, printErr, statePath)
		}
		return nil
	}
	if !fresh && !tr.State.Stopped && tr.State.Epoch < tr.Cfg.Epochs {
		// The report of the run so far is its best epoch's until now:
		// training on may find a better one, and a run stopped before
		// its end must not leave that report beside a newer
		// model.safetensors.
		for _, name := range []string{"metrics.json", "confusion.png", "curves.png"} {
			if err := removeIfExists(filepath.Join(dir, name)); err != nil {
				return none, err
			}
		}
	}
	if err := tr.Run(ctx, data); err != nil {
		if errors.Is(err, model.ErrInterrupted) {
			if bar != nil {
				_ = bar.Exit()
			}
			if serr := model.SaveTraining(statePath, be, tr, *meta, rec.Compress); serr != nil {
				return none, fmt.Errorf("interrupted, and saving failed: %w", serr)
			}
			return none, fmt.Errorf("%w at epoch %d batch %d; state saved: continue with 'emotion train --resume %s'",
				model.ErrInterrupted, tr.State.Epoch+1, tr.State.Batch, statePath)
		}
		return none, err
	}
	if err := tr.RestoreBest(); err != nil {
		return none, err
	}
	if err := model.SaveModel(modelPath, be, tr.Net, nil, *meta, rec.Compress); err != nil {
		return none, err
	}
	test, _ := model.Batches(rec.Model, enc, fold.Test, o.Window, 128, false, false, rec.Seed, 0)
	ev, err := model.Evaluate(be, tr.Net, test, nil)
	if err != nil {
		return none, fmt.Errorf("test: %w", err)
	}
	rep := reportOf(ev)
	curve := metrics.Curve{}
	for _, l := range tr.State.History {
		curve.Epoch = append(curve.Epoch, l.Epoch)
		curve.TrainLoss = append(curve.TrainLoss, l.TrainLoss)
		curve.ValLoss = append(curve.ValLoss, l.ValLoss)
		curve.TrainAcc = append(curve.TrainAcc, l.TrainAcc)
		curve.ValAcc = append(curve.ValAcc, l.ValAcc)
	}
	title := fmt.Sprintf("%s model, %s, fold %s", rec.Model, o.Protocol, fold.Name)
	if err := metrics.PlotConfusion(filepath.Join(dir, "confusion.png"), rep, title); err != nil {
		return none, err
	}
	if err := metrics.PlotCurves(filepath.Join(dir, "curves.png"), curve, title); err != nil {
		return none, err
	}
	// The best epoch's validation figures, whichever chose it.
	var best model.EpochLog
	if b := tr.State.BestEpoch; b >= 1 && b <= len(tr.State.History) {
		best = tr.State.History[b-1]
	}
	result := map[string]any{
		"protocol": o.Protocol, "model": rec.Model, "fold": fold.Name, "split": "test",
		"best_epoch": tr.State.BestEpoch, "monitor": t.monitor, "best_val_acc": best.ValAcc, "best_val_ua": best.ValUA,
		"best_val_loss": best.ValLoss,
		"epochs":        tr.State.Epoch, "report": rep}
	if err := metrics.WriteJSON(filepath.Join(dir, "metrics.json"), result); err != nil {
		return none, err
	}
	if t.jsonOut { // stdout stays JSON lines: the epochs', then this
		if err := printJSONLine(result); err != nil {
			return none, err
		}
	} else if !t.quiet {
		if _, err := fmt.Fprintf(stdout, "\n%s — test (best epoch %d by %s: validation loss %.4f, accuracy %.4f, UA %.4f)\n\n%s\n%s\naccuracy (WA) %.4f  UA %.4f  macro F1 %.4f  weighted F1 %.4f\n",
			title, tr.State.BestEpoch, t.monitor, best.ValLoss, best.ValAcc, best.ValUA, rep.ClassificationReport(4), rep.ConfusionTable(),
			rep.Accuracy, rep.UA, rep.MacroF1, rep.WeightedF1); err != nil {
			return none, err
		}
	}
	return rep, nil
}

// removeIfExists removes path, if there is one.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// runFiles are the files a training writes into a run folder (or a
// loso run's fold folder), checkpoints first: the order in which
// removeEarlierRun removes them, so that one it fails to remove leaves
// no checkpoint beside a config it removed.
var runFiles = []string{
	"state.safetensors", "state.safetensors.zst", "model.safetensors", "model.safetensors.zst",
	"metrics.json", "confusion.png", "curves.png", "log.jsonl", "config.json",
}

// removeEarlierRun removes the files of an earlier run from the run
// folder out, which a fresh run is about to write (the caller holds its
// lock): its runFiles, and those of its fold folders fold1, fold2, … (a
// loso run's; a folder left empty goes too), whatever protocol the new
// run has. Other files stay. It returns the names it removed, relative
// to out ("model.safetensors", "fold1/"), with a fold folder named once.
func removeEarlierRun(out string) ([]string, error) {
	// removeIn removes the runFiles of dir, returning those it removed.
	removeIn := func(dir string) ([]string, error) {
		var gone []string
		for _, name := range runFiles {
			err := os.Remove(filepath.Join(dir, name))
			if err == nil {
				gone = append(gone, name)
			} else if !errors.Is(err, os.ErrNotExist) {
				return gone, err
			}
		}
		return gone, nil
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		name := e.Name()
		digits := strings.TrimPrefix(name, "fold")
		if !e.IsDir() || digits == name || digits == "" || strings.Trim(digits, "0123456789") != "" {
			continue // not a fold folder (a symlink is not followed)
		}
		dir := filepath.Join(out, name)
		removeStaleTemps(dir)
		gone, err := removeIn(dir)
		if len(gone) > 0 {
			removed = append(removed, name+"/")
		}
		if err != nil {
			return removed, err
		}
		os.Remove(dir) // only when empty: other files stay
	}
	gone, err := removeIn(out)
	return append(removed, gone...), err
}

// checkMeta is model.CheckMeta; tests replace it (a vocabulary too large
// for it takes tens of megabytes of text, seconds to tokenize).
var checkMeta = model.CheckMeta

// quoteStart quotes the first n characters of s, with … when it has
// more.
func quoteStart(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return strconv.Quote(string(r[:n])) + "…"
	}
	return strconv.Quote(s)
}

// removeStaleTemps removes the temporary checkpoint files that a run
// killed while saving (SIGKILL, a power cut) left in its folder dir: each
// is a partial copy of a checkpoint, up to its full size, that nothing
// else would ever remove. The caller holds the run folder's lock, so no
// other training is writing them.
func removeStaleTemps(dir string) {
	entries, err := os.ReadDir(dir) // not Glob: a folder named run[1] is no pattern
	if err != nil {
		return
	}
	for _, e := range entries {
		for _, name := range []string{"model.safetensors", "state.safetensors"} {
			for _, ext := range []string{"", ".zst"} {
				// safetensors.Save's temporary names (os.CreateTemp's):
				// "." + base + ".tmp-" + digits.
				digits, ok := strings.CutPrefix(e.Name(), "."+name+ext+".tmp-")
				if ok && e.Type().IsRegular() && digits != "" && strings.Trim(digits, "0123456789") == "" {
					os.Remove(filepath.Join(dir, e.Name()))
				}
			}
		}
	}
}

// writeLog writes log.jsonl again from a resumed run's history, the
// epochs its state holds. The log line of an epoch is written before its
// state: a run killed between the two (or whose state save failed) logged
// an epoch that the resumed run trains again, and appending would give
// that epoch two lines.
func writeLog(path string, history []model.EpochLog) error {
	return metrics.WriteAtomic(path, func(w io.Writer) error {
		for _, l := range history {
			line, err := json.Marshal(l)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "%s\n", line); err != nil {
				return err
			}
		}
		return nil
	})
}

// isTerminal reports whether w is a terminal (a character device), where a
// progress bar can redraw itself.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newBar(w io.Writer, total, epoch, epochs int) *progressbar.ProgressBar {
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// reportOf turns an evaluation into the metrics report.
func reportOf(ev *model.Eval) metrics.Report {
	c := metrics.NewConfusion(dataset.LabelNames[:])
	for i, y := range ev.Labels {
		if y >= 0 {
			c.Add(y, ev.Preds[i])
		}
	}
	return c.Report()
}

// resumeTrain continues the run saved in t.resume.
func resumeTrain(ctx context.Context, t trainOptions) error {
	be, err := newBackend(t.device)
	if err != nil {
		return err
	}
	tr, meta, err := model.LoadTraining(t.resume, be)
	if err != nil {
		return err
	}
	rec, err := decodeRunRecord(t.resume, meta.Run)
	if err != nil {
		return err
	}
	if t.data != "" {
		rec.Data.Data = dataset.AbsData(t.data)
	}
	if t.embeddingsMoved {
		// Where the run's word vectors now are, for the folds still to
		// start (a started fold's embedding is in its state).
		if rec.Embeddings == "" {
			return usagef("%s: the run was started without --embeddings; --embeddings with --resume says where its word vectors now are", t.resume)
		}
		dim, err := dataset.WordVectorsDim(t.embeddings)
		if err != nil {
			return err
		}
		if embed := tr.Net.Config().Embed; dim != embed {
			return fmt.Errorf("--embeddings %s has vectors of %d values, the run's embedding %d: give the run's own word vectors (%s)", t.embeddings, dim, embed, rec.Embeddings)
		}
		if rec.Embeddings, err = filepath.Abs(t.embeddings); err != nil {
			return err
		}
	}
	corpus, err := loadRunData(ctx, t.resume, rec, t.data != "", t.quiet)
	if err != nil {
		return err
	}
	folds, err := dataset.Folds(corpus, rec.Data)
	if err != nil {
		return err
	}
	if rec.Fold >= len(folds) {
		return fmt.Errorf("%s: fold %d of %d", t.resume, rec.Fold+1, len(folds))
	}
	if t.data != "" {
		// --data says where the run's data now is. Other data would go on
		// training the run on other utterances; its vocabulary tells.
		f := folds[rec.Fold]
		if v := dataset.Encode(corpus, f.Train, rec.Data).Vocab.Tokens(); !slices.Equal(v, meta.Vocab) {
			return fmt.Errorf("--data %s is not the data of %s: the training split of its fold %s gives another vocabulary (%d tokens, the run's %d); give the run's own data, or train afresh",
				t.data, t.resume, f.Name, len(v), len(meta.Vocab))
		}
	}
	if err := rec.verifySplits(t.resume, corpus, folds[rec.Fold]); err != nil {
		return fmt.Errorf("%w; give the run's own data, or train afresh", err)
	}
	// The run folder is the one that holds the state file (or its fold
	// folder), wherever the run was started from or has been moved to.
	abs, err := filepath.Abs(t.resume) // "state.safetensors" from inside its fold folder
	if err != nil {
		return err
	}
	rec.Out = filepath.Dir(abs)
	if len(folds) > 1 {
		if want := fmt.Sprintf("fold%d", rec.Fold+1); filepath.Base(rec.Out) != want {
			return fmt.Errorf("%s: the state of fold %d of a %s run must be in its folder %s", t.resume, rec.Fold+1, rec.Data.Protocol, want)
		}
		rec.Out = filepath.Dir(rec.Out)
	}
	if t.epochsSet && t.epochs != tr.Cfg.Epochs && len(folds) > 1 && rec.Fold > 0 {
		return usagef("%s: --epochs %d would train folds %d–%d for other epochs than folds 1–%d (%d); a %s run keeps its epochs once a fold is done",
			t.resume, t.epochs, rec.Fold+1, len(folds), rec.Fold, tr.Cfg.Epochs, rec.Data.Protocol)
	}
	cfg := tr.Net.Config()
	mf := &modelFlags{kind: cfg.Kind, embed: cfg.Embed, hidden: cfg.Hidden, dense: cfg.Dense,
		dialogHid: cfg.DialogHid, heads: cfg.Heads, attnDim: cfg.AttnDim, dropout: cfg.Dropout, wordDropout: cfg.WordDropout, embedStd: cfg.EmbedStd}
	asked := tr.Cfg.Epochs
	if t.epochsSet && t.epochs != tr.Cfg.Epochs {
		// Continue a finished run for more epochs, unless early stopping
		// ended it. Fewer epochs than it has trained end it where it is,
		// and its config.json says how many it trained.
		asked = t.epochs
		tr.Cfg.Epochs = max(t.epochs, tr.State.Epoch)
		if tr.State.Epoch < t.epochs && (tr.Cfg.Patience == 0 || tr.State.BadEpochs < tr.Cfg.Patience) {
			tr.State.Stopped = false
		}
	}
	if st := &tr.State; !t.quiet && (st.Stopped || st.Epoch >= tr.Cfg.Epochs) {
		// Nothing to train: say so, rather than reprint the report as if
		// the run had gone on.
		why := fmt.Sprintf("it has trained %d epochs, and --epochs is %d (a larger --epochs trains on)", st.Epoch, asked)
		if tr.Cfg.Patience > 0 && st.BadEpochs >= tr.Cfg.Patience {
			why = fmt.Sprintf("early stopping ended it at epoch %d (%d epochs without a better validation score, --patience %d)",
				st.Epoch, st.BadEpochs, tr.Cfg.Patience)
		}
		fmt.Fprintf(stderr, "note: %s: nothing left to train: %s; writing the best epoch's test report again\n", t.resume, why)
	}
	t.epochs, t.patience = tr.Cfg.Epochs, tr.Cfg.Patience
	t.lr, t.weightDecay, t.clip = tr.Cfg.LR, tr.Cfg.WeightDecay, tr.Cfg.ClipNorm
	t.schedule, t.minLR, t.lrFactor, t.lrPatience = cmp.Or(tr.Cfg.Schedule, model.ScheduleConstant), tr.Cfg.MinLR, tr.Cfg.LRFactor, tr.Cfg.LRPatience
	t.monitor = cmp.Or(tr.Cfg.Monitor, model.MonitorAccuracy)
	t.noClassWeights = tr.Cfg.ClassWeights == nil
	t.freezeEmbeddings = tr.Cfg.FreezeEmbeddings
	t.labelSmoothing = tr.Cfg.LabelSmoothing
	t.ema = tr.Cfg.EMA
	return trainFolds(ctx, be, corpus, folds, rec, t, mf, tr, meta)
}

// lowCoverage is the share of the vocabulary with pretrained vectors
// below which train warns: GloVe 6B covers 95% of IEMOCAP's tokens.
const lowCoverage = 0.5

// readEmbeddingsFound returns the embeddings_found of a fold's config.json:
// how many tokens its start found pretrained vectors for.
func readEmbeddingsFound(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var c struct {
		Found int `json:"embeddings_found"`
	}
	err = json.Unmarshal(b, &c)
	return c.Found, err
}
