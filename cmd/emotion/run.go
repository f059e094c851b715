package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"strings"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/model"
	"github.com/spf13/pflag"
)

// runRecord is what a checkpoint remembers of the command that trained it,
// so that eval and --resume rebuild the same splits and batches.
type runRecord struct {
	Data      dataset.Options `json:"data"`
	Model     string          `json:"model"`
	Fold      int             `json:"fold"` // 0-based index into the protocol's folds
	BatchSize int             `json:"batch_size"`
	Bucket    bool            `json:"bucket"`
	Seed      int64           `json:"seed"`
	Out       string          `json:"out"`
	Compress  bool            `json:"compress"`
	Device    string          `json:"device"`
	// MaxBatches is --max-batches (0: every batch of an epoch).
	MaxBatches int `json:"max_batches,omitempty"`
	// Embeddings is the pretrained word vectors' file (--embeddings), read
	// again by each fold that starts.
	Embeddings string `json:"embeddings,omitempty"`
	// Splits fingerprints the fold's training, validation and test splits
	// by content (splitFingerprint), so that data read again (a copy, in
	// another row order, or other data) is refused where it would give
	// other splits; "" in checkpoints from before it.
	Splits string `json:"splits,omitempty"`
	// NoSpeakers says that the training data did not know speakers (no
	// utterance IDs: parquet or the hub): the model never saw a speaker
	// feature, whose weights stayed as drawn, so its inputs' speakers are
	// left out wherever it predicts.
	NoSpeakers bool `json:"no_speakers,omitempty"`
}

// splitFingerprint hashes the three splits of fold f of c by content: each
// part's utterances as label and text, sorted, so that the same splits of
// a copy in another row order give the same hash, and splits that differ
// by an utterance do not.
func splitFingerprint(c *dataset.Corpus, f dataset.Fold) string {
	h := sha256.New()
	for _, part := range [][]int{f.Train, f.Val, f.Test} {
		keys := make([]string, len(part))
		for i, u := range part {
			keys[i] = fmt.Sprintf("%d\x1f%s", c.Utterances[u].Label, c.Utterances[u].Text)
		}
		slices.Sort(keys)
		for _, k := range keys {
			h.Write([]byte(k))
			h.Write([]byte{0x1e})
		}
		h.Write([]byte{0x1d})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// verifySplits refuses data that gives fold f other splits than the run
// that wrote ckpt had: evaluated or trained on, they would not be its
// splits, and a test split could hold its training utterances.
func (r runRecord) verifySplits(ckpt string, c *dataset.Corpus, f dataset.Fold) error {
	if r.Splits == "" || splitFingerprint(c, f) == r.Splits {
		return nil
	}
	return fmt.Errorf("the data %s gives fold %s other splits than %s was trained with (its rows are in another order, or they are other utterances): "+
		"its test split would not be the run's, and could hold the run's training utterances", r.Data.Data, f.Name, ckpt)
}

func (r runRecord) encode() string {
	b, _ := json.Marshal(r) // plain data: cannot fail
	return string(b)
}

func decodeRunRecord(path, s string) (runRecord, error) {
	var r runRecord
	if s == "" {
		return r, fmt.Errorf("checkpoint %s has no run record (emotion.run metadata)", path)
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, fmt.Errorf("checkpoint %s: run record: %w", path, err)
	}
	if r.Fold < 0 || r.BatchSize < 0 || r.MaxBatches < 0 {
		return r, fmt.Errorf("checkpoint %s: run record: fold %d, batch size %d, max batches %d: must not be negative", path, r.Fold, r.BatchSize, r.MaxBatches)
	}
	return r, nil
}

// loadRunData loads the data of the run that wrote checkpoint ckpt (or,
// when given, the --data given in its place), printing the source's
// warnings unless quiet (as train and data do: a parquet copy of CSV data
// has no speakers).
func loadRunData(ctx context.Context, ckpt string, rec runRecord, given, quiet bool) (*dataset.Corpus, error) {
	corpus, err := dataset.Load(ctx, rec.Data.Data)
	if err != nil {
		if given { // the user's own --data: no hint to give it
			return nil, err
		}
		return nil, fmt.Errorf("the data %s was trained on: %w (where it has moved, give --data)", ckpt, err)
	}
	for _, w := range corpus.Warnings {
		if !quiet {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	return corpus, nil
}

// modelFlags adds the architecture flags (0 = the model kind's default).
type modelFlags struct {
	kind                                            string
	embed, hidden, dense, dialogHid, heads, attnDim int
	dropout, wordDropout, embedStd                  float32
}

func addModelFlags(fs *pflag.FlagSet) *modelFlags {
	m := &modelFlags{}
	fs.StringVar(&m.kind, "model", model.KindSentence, "model: sentence or dialog")
	fs.IntVar(&m.embed, "embed", 0, "embedding size (default 128 sentence, 100 dialog)")
	fs.IntVar(&m.hidden, "hidden", 0, "utterance BiLSTM size per direction (default 64)")
	fs.IntVar(&m.dense, "dense", 0, "sentence model: hidden dense size (default 64)")
	fs.IntVar(&m.dialogHid, "dialog-hidden", 0, "dialog model: dialog BiLSTM size per direction (default 128)")
	fs.IntVar(&m.heads, "heads", 0, "dialog model: attention heads (default 4)")
	fs.IntVar(&m.attnDim, "attn-dim", 0, "dialog model: attention pooling size (default 256)")
	fs.Float32Var(&m.dropout, "dropout", 0.5, "dropout probability")
	fs.Float32Var(&m.wordDropout, "word-dropout", 0, "probability of replacing each training token by <unk>")
	fs.Float32Var(&m.embedStd, "embed-init-std", 0.1, "standard deviation of the embeddings' initial normal distribution (PyTorch's default: 1)")
	return m
}

func (m *modelFlags) config(vocab int, o dataset.Options) (model.Config, error) {
	if m.kind != model.KindSentence && m.kind != model.KindDialog {
		return model.Config{}, usagef("unknown --model %q (want sentence or dialog)", m.kind)
	}
	c := model.DefaultConfig(m.kind, vocab, dataset.SpeakerDim)
	set := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	set(&c.Embed, m.embed)
	set(&c.Hidden, m.hidden)
	set(&c.Dense, m.dense)
	set(&c.DialogHid, m.dialogHid)
	set(&c.Heads, m.heads)
	set(&c.AttnDim, m.attnDim)
	c.Dropout, c.WordDropout, c.EmbedStd = m.dropout, m.wordDropout, m.embedStd
	c.MaxLen = o.MaxLen
	if m.kind == model.KindDialog {
		c.Window = o.Window
	}
	return c, c.Validate()
}

// noteModelFlags says which size flags given belong to the model kind not
// chosen, which it does not use (scripts often give one set for both).
func noteModelFlags(fs *pflag.FlagSet, kind string) {
	var other []string
	for _, f := range map[string][]string{
		model.KindSentence: {"dialog-hidden", "heads", "attn-dim"},
		model.KindDialog:   {"dense"},
	}[kind] {
		if fs.Changed(f) {
			other = append(other, "--"+f)
		}
	}
	if len(other) > 0 {
		fmt.Fprintf(stderr, "note: %s: the %s model has none, and does not use them (--dense sizes the sentence model; --dialog-hidden, --heads and --attn-dim the dialog model)\n",
			strings.Join(other, ", "), kind)
	}
}

// foldData serves one fold's batches to a trainer.
type foldData struct {
	kind      string
	enc       *dataset.Encoded
	fold      dataset.Fold
	window    int
	batchSize int
	bucket    bool
	seed      int64
	// maxBatches, when positive, cuts every epoch to its first batches.
	maxBatches int
	val        []model.Inputs
}

func (d *foldData) Train(epoch int) []model.Inputs {
	ins, _ := model.Batches(d.kind, d.enc, d.fold.Train, d.window, d.batchSize, true, d.bucket, d.seed, epoch)
	if d.maxBatches > 0 && len(ins) > d.maxBatches {
		ins = ins[:d.maxBatches]
	}
	return ins
}

// startCPUProfile writes a CPU profile to path until the returned stop,
// which returns the error of any write of the profile (runtime/pprof
// drops them: a profile to a full disk, or to /dev/full, would otherwise
// be lost without a word).
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &errWriter{w: f}
	if err := pprof.StartCPUProfile(w); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		err := w.err
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("cpu profile %s is incomplete: %w", path, err)
		}
		return nil
	}, nil
}

// stopCPUProfile stops the profile of stop (from startCPUProfile) and
// adds its error to *err, the command's.
func stopCPUProfile(stop func() error, err *error) {
	if perr := stop(); perr != nil {
		*err = errors.Join(*err, perr)
	}
}

// errWriter writes to w and keeps its first error; after one, it writes
// nothing more.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	e.err = err
	return n, err
}

func (d *foldData) Val() []model.Inputs {
	if d.val == nil {
		d.val, _ = model.Batches(d.kind, d.enc, d.fold.Val, d.window, 128, false, false, d.seed, 0)
	}
	return d.val
}

// classWeights returns the balanced weights of the training split as a
// slice, or nil when weighting is off.
func classWeights(c *dataset.Corpus, train []int, on bool) []float32 {
	if !on {
		return nil
	}
	w := dataset.ClassWeights(c, train)
	return w[:]
}

// seedOf turns the command's seed into the model's init seed.
func seedOf(seed int64, fold int) uint64 {
	return uint64(seed)*0x9e3779b97f4a7c15 + uint64(fold) + 1
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// plural is "n one" for n == 1, else "n many": "1 training token is",
// "3 training tokens are".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
