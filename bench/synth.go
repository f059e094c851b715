package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/model"
)

// Batches are the training batches of a benchmark: the first Warmup are run
// before timing, the others are timed in turn.
type Batches struct {
	Kind         string         `json:"kind"`   // model.KindSentence or model.KindDialog
	Source       string         `json:"source"` // "synthetic" or the --data source
	Vocab        int            `json:"vocab"`
	SpeakerDim   int            `json:"speaker_dim"`
	Classes      int            `json:"classes"`
	ClassWeights []float32      `json:"class_weights"`
	Warmup       int            `json:"warmup"`
	Inputs       []model.Inputs `json:"-"`
}

// Timed returns the batches after the warm-up ones.
func (b *Batches) Timed() []model.Inputs { return b.Inputs[b.Warmup:] }

// BatchStats summarise batches: labelled rows (utterances trained on),
// real tokens and token slots including padding.
type BatchStats struct {
	Rows, Tokens, Padded int
}

// Add adds o to s.
func (s *BatchStats) Add(o BatchStats) {
	s.Rows += o.Rows
	s.Tokens += o.Tokens
	s.Padded += o.Padded
}

// Stats sums ins.
func Stats(ins []model.Inputs) BatchStats {
	var s BatchStats
	for _, in := range ins {
		s.Rows += in.Size
		s.Padded += len(in.Tokens)
		for _, l := range in.Lengths {
			s.Tokens += int(l)
		}
	}
	return s
}

// IEMOCAP's shape, measured on ../shared/data/iemocap (10,039 utterances
// in 151 dialogs; tokens by dataset.Tokenize): utterance lengths are close
// to log-normal, ln(tokens) of mean 2.36 and standard deviation 0.84 (mean
// 14.6 tokens, median 11, 99th percentile 55, longest 100 after
// truncation); 5,531 utterances (55%) carry one of the four classes, in
// the proportions of ClassCounts; a dialog has 66 turns on average, so
// that 12.8% of the dialog windows of 10 turns are shorter (9.33 turns on
// average, 7% fewer than 10). The session5 training vocabulary has 1,614
// tokens.
const (
	lenLogMean    = 2.36
	lenLogSD      = 0.84
	labelledShare = 5531.0 / 10039
	dialogTurns   = 66
	// DefaultVocab is the vocabulary size of synthetic batches.
	DefaultVocab = 1614
)

// classCounts are IEMOCAP's 4-class counts (angry, happy+excited, neutral,
// sad).
var classCounts = [dataset.NumClasses]float64{1103, 1636, 1708, 1084}

// SynthOptions describe a synthetic corpus.
type SynthOptions struct {
	Vocab  int    // vocabulary size, PAD and UNK included (default DefaultVocab)
	Window int    // dialog window (default dataset.DefaultWindow)
	MaxLen int    // tokens per utterance at most (default dataset.DefaultMaxLen)
	Bucket bool   // batch utterances of similar length together, as emotion train does
	Seed   uint64 // everything is drawn from a PCG generator seeded with it
}

// Synthetic makes count batches of batchSize utterances (sentence) or
// dialog windows (dialog) of IEMOCAP's shape, the first warmup of which
// are for warm-up. It draws a corpus of dialogs with exactly
// count·batchSize labelled utterances and cuts it with the dataset's own
// batching (dataset.SentenceBatches and DialogBatches, shuffled, bucketed
// when o.Bucket), so the batches are those emotion train would make of
// such a corpus:
//
//   - dialogs of 33 to 99 turns (uniform), two speakers of opposite
//     genders, the speaker changing at a turn with probability 0.8;
//   - utterance lengths round(exp(N(2.36, 0.84))) clamped to [1, MaxLen];
//   - token ids 2 + Zipf(s = 1.1) below Vocab (0 is PAD, 1 UNK);
//   - a turn labelled with probability 0.55, the class drawn in IEMOCAP's
//     proportions; the class weights are the balanced ones of the labelled
//     turns.
//
// The same options give the same batches.
func Synthetic(kind string, count, warmup, batchSize int, o SynthOptions) (*Batches, error) {
	if kind != model.KindSentence && kind != model.KindDialog {
		return nil, fmt.Errorf("synthetic batches: unknown model kind %q", kind)
	}
	if count < 1 || batchSize < 1 || warmup < 0 || warmup >= count {
		return nil, fmt.Errorf("synthetic batches: %d batches of %d with %d warm-up", count, batchSize, warmup)
	}
	if o.Vocab == 0 {
		o.Vocab = DefaultVocab
	}
	if o.Window == 0 {
		o.Window = dataset.DefaultWindow
	}
	if o.MaxLen == 0 {
		o.MaxLen = dataset.DefaultMaxLen
	}
	if o.Vocab < 3 || o.Window < 1 || o.MaxLen < 1 {
		return nil, fmt.Errorf("synthetic batches: vocabulary %d, window %d, max length %d", o.Vocab, o.Window, o.MaxLen)
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x73796e7468)) // "synth"
	zipf := rand.NewZipf(r, 1.1, 1, uint64(o.Vocab-3))
	var total float64
	for _, c := range classCounts {
		total += c
	}
	drawClass := func() dataset.Label {
		u := r.Float64() * total
		for k, c := range classCounts {
			if u < c {
				return dataset.Label(k)
			}
			u -= c
		}
		return dataset.Label(len(classCounts) - 1)
	}

	need := count * batchSize
	c := &dataset.Corpus{Source: "synthetic", HasSpeakers: true, HasDialogs: true}
	var tokens [][]int32
	labelled := 0
	for d := 0; labelled < need; d++ {
		dialog := fmt.Sprintf("syn%04d", d)
		genders := [2]byte{'F', 'M'}
		if r.IntN(2) == 1 {
			genders = [2]byte{'M', 'F'}
		}
		who := 0
		turns := dialogTurns/2 + r.IntN(dialogTurns+1)
		for t := 0; t < turns && labelled < need; t++ {
			if t > 0 && r.Float64() < 0.8 {
				who = 1 - who
			}
			g := genders[who]
			n := int(math.Round(math.Exp(lenLogMean + lenLogSD*r.NormFloat64())))
			n = min(max(n, 1), o.MaxLen)
			ids := make([]int32, n)
			for i := range ids {
				ids[i] = 2 + int32(zipf.Uint64())
			}
			label := dataset.NoLabel
			if r.Float64() < labelledShare {
				label = drawClass()
				labelled++
			}
			c.Utterances = append(c.Utterances, dataset.Utterance{
				ID: fmt.Sprintf("%s_%c%03d", dialog, g, t), Dialog: dialog, Session: 1,
				Speaker: dialog + string(g), Gender: g, Turn: t, Label: label,
			})
			tokens = append(tokens, ids)
		}
	}
	words := []string{dataset.PadToken, dataset.UnkToken}
	for i := 2; i < o.Vocab; i++ {
		words = append(words, "w"+strconv.Itoa(i))
	}
	v, err := dataset.NewVocab(words)
	if err != nil {
		return nil, fmt.Errorf("synthetic batches: %w", err)
	}
	enc := &dataset.Encoded{Corpus: c, Vocab: v, Tokens: tokens, MaxLen: o.MaxLen}
	items := c.Labelled()
	ins, _ := model.Batches(kind, enc, items, o.Window, batchSize, true, o.Bucket, int64(o.Seed), 1)
	w := dataset.ClassWeights(c, items)
	return &Batches{Kind: kind, Source: "synthetic", Vocab: o.Vocab, SpeakerDim: dataset.SpeakerDim,
		Classes: dataset.NumClasses, ClassWeights: w[:], Warmup: warmup, Inputs: ins}, nil
}

// RealBatches makes count batches (warmup of them for warm-up) of the
// training split of the session5 protocol of the source data, as emotion
// train would in its first epochs (shuffled, bucketed when bucket), with
// the vocabulary of that split and its balanced class weights.
func RealBatches(ctx context.Context, data, kind string, count, warmup, batchSize int, bucket bool, seed int64) (*Batches, error) {
	if count < 1 || batchSize < 1 || warmup < 0 || warmup >= count {
		return nil, fmt.Errorf("batches of %s: %d batches of %d with %d warm-up", data, count, batchSize, warmup)
	}
	c, err := dataset.Load(ctx, data)
	if err != nil {
		return nil, err
	}
	o := dataset.DefaultOptions()
	o.Data, o.Seed, o.Dialog = data, seed, kind == model.KindDialog
	folds, err := dataset.Folds(c, o)
	if err != nil {
		return nil, err
	}
	train := folds[0].Train
	if len(train) == 0 {
		return nil, errors.New("batches of " + data + ": the session5 training split is empty")
	}
	enc := dataset.Encode(c, train, o)
	var ins []model.Inputs
	for epoch := 1; len(ins) < count; epoch++ {
		more, _ := model.Batches(kind, enc, train, o.Window, batchSize, true, bucket, seed, epoch)
		ins = append(ins, more...)
	}
	w := dataset.ClassWeights(c, train)
	return &Batches{Kind: kind, Source: data, Vocab: enc.Vocab.Len(), SpeakerDim: dataset.SpeakerDim,
		Classes: dataset.NumClasses, ClassWeights: w[:], Warmup: warmup, Inputs: ins[:count]}, nil
}
