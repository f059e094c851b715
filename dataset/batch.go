package dataset

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
)

// SentenceBatch is a batch of single utterances, padded to the longest one.
type SentenceBatch struct {
	Size, MaxLen int     // MaxLen = the longest utterance of the batch, at least 1
	Tokens       []int32 // [Size, MaxLen] row-major, PadID-padded
	Lengths      []int32 // [Size]; 0 when a text tokenises to nothing
	// Speaker is [Size, SpeakerDim]: the gender one-hot and a same-speaker
	// feature of 1 (an utterance is its own target) when speakers are known.
	Speaker []float32
	Labels  []int32 // [Size], 0..3, or -1 for an unlabelled utterance
	Items   []int   // utterance indices
}

// DialogBatch is a batch of dialog windows: each target utterance with up to
// window−1 earlier turns of its dialog.
type DialogBatch struct {
	// Turns = the longest window of the batch (≤ the window size), MaxLen =
	// the longest utterance of the batch (at least 1).
	Size, Turns, MaxLen int
	// Tokens is [Size, Turns, MaxLen]: turn 0 is the earliest, the target is
	// turn TurnCounts[b]−1, the turns after it are padding (all PadID).
	Tokens     []int32
	Lengths    []int32   // [Size·Turns] token counts (0 for padded turns)
	TurnCounts []int32   // [Size] real turns in each window (≥ 1)
	Speaker    []float32 // [Size, Turns, SpeakerDim]; zeros for padded turns
	Labels     []int32   // [Size] the target's label (−1 when unlabelled)
	Items      []int     // target utterance indices
}

// bucketBatches is how many batches a bucketing chunk spans.
const bucketBatches = 50

// SentenceBatches cuts items into batches of batchSize utterances (the last
// one may be smaller; batchSize < 1 means one batch). The result depends
// only on its arguments: with shuffle the items are permuted by a generator
// seeded from (seed, epoch); with bucket the items are sorted by length
// within chunks of about 50 batches, so that a batch pads little, and then
// (when shuffling) the order of the batches is shuffled.
func SentenceBatches(e *Encoded, items []int, batchSize int, shuffle, bucket bool, seed int64, epoch int) []SentenceBatch {
	key := func(i int) [2]int { return [2]int{len(e.Tokens[i]), 0} }
	groups := plan(items, batchSize, shuffle, bucket, seed, epoch, key)
	out := make([]SentenceBatch, len(groups))
	for g, its := range groups {
		out[g] = e.sentenceBatch(its)
	}
	return out
}

func (e *Encoded) sentenceBatch(items []int) SentenceBatch {
	b := SentenceBatch{Size: len(items), MaxLen: 1, Items: slices.Clone(items)}
	for _, i := range items {
		b.MaxLen = max(b.MaxLen, len(e.Tokens[i]))
	}
	b.Tokens = make([]int32, b.Size*b.MaxLen)
	b.Lengths = make([]int32, b.Size)
	b.Speaker = make([]float32, b.Size*SpeakerDim)
	b.Labels = make([]int32, b.Size)
	for r, i := range items {
		t := e.Tokens[i]
		copy(b.Tokens[r*b.MaxLen:], t)
		b.Lengths[r] = int32(len(t))
		e.Corpus.SpeakerFeatures(i, i, b.Speaker[r*SpeakerDim:])
		b.Labels[r] = int32(e.Corpus.Utterances[i].Label)
	}
	return b
}

// DialogBatches cuts items into batches of dialog windows of up to window
// turns (each item with up to window−1 earlier turns of its dialog, see
// Corpus.WindowStart); batching, shuffling and bucketing are as in
// SentenceBatches, bucketing by the longest utterance of a window and then
// by its number of turns.
func DialogBatches(e *Encoded, items []int, window, batchSize int, shuffle, bucket bool, seed int64, epoch int) []DialogBatch {
	window = max(window, 1)
	key := func(i int) [2]int {
		s := e.Corpus.WindowStart(i, window)
		m := 0
		for j := s; j <= i; j++ {
			m = max(m, len(e.Tokens[j]))
		}
		return [2]int{m, i - s + 1}
	}
	groups := plan(items, batchSize, shuffle, bucket, seed, epoch, key)
	out := make([]DialogBatch, len(groups))
	for g, its := range groups {
		out[g] = e.dialogBatch(its, window)
	}
	return out
}

func (e *Encoded) dialogBatch(items []int, window int) DialogBatch {
	c := e.Corpus
	b := DialogBatch{Size: len(items), Turns: 1, MaxLen: 1, Items: slices.Clone(items)}
	starts := make([]int, len(items))
	for r, i := range items {
		starts[r] = c.WindowStart(i, window)
		b.Turns = max(b.Turns, i-starts[r]+1)
		for j := starts[r]; j <= i; j++ {
			b.MaxLen = max(b.MaxLen, len(e.Tokens[j]))
		}
	}
	b.Tokens = make([]int32, b.Size*b.Turns*b.MaxLen)
	b.Lengths = make([]int32, b.Size*b.Turns)
	b.TurnCounts = make([]int32, b.Size)
	b.Speaker = make([]float32, b.Size*b.Turns*SpeakerDim)
	b.Labels = make([]int32, b.Size)
	for r, i := range items {
		b.TurnCounts[r] = int32(i - starts[r] + 1)
		b.Labels[r] = int32(c.Utterances[i].Label)
		for t, j := 0, starts[r]; j <= i; t, j = t+1, j+1 {
			row := r*b.Turns + t
			copy(b.Tokens[row*b.MaxLen:], e.Tokens[j])
			b.Lengths[row] = int32(len(e.Tokens[j]))
			c.SpeakerFeatures(j, i, b.Speaker[row*SpeakerDim:])
		}
	}
	return b
}

// Batches are allocated zeroed, which is padding because PadID is 0; this
// fails to compile if PadID ever changes.
var _ = [1]struct{}{}[PadID]

// plan orders items and cuts them into batches (see SentenceBatches).
func plan(items []int, batchSize int, shuffle, bucket bool, seed int64, epoch int, key func(int) [2]int) [][]int {
	order := slices.Clone(items)
	if len(order) == 0 {
		return nil
	}
	if batchSize < 1 {
		batchSize = len(order)
	}
	const salt = 0x6261746368000000 // "batch"
	rng := rand.New(rand.NewPCG(uint64(seed), salt^uint64(epoch)))
	if shuffle {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	}
	if bucket {
		keys := make(map[int][2]int, len(order))
		for _, i := range order {
			keys[i] = key(i)
		}
		chunk := bucketBatches * min(batchSize, len(order)) // no overflow for any batch size
		for s := 0; s < len(order); s += chunk {
			slices.SortStableFunc(order[s:min(s+chunk, len(order))], func(a, b int) int {
				ka, kb := keys[a], keys[b]
				return cmp.Or(cmp.Compare(ka[0], kb[0]), cmp.Compare(ka[1], kb[1]))
			})
		}
	}
	var groups [][]int
	for s := 0; s < len(order); s += batchSize {
		groups = append(groups, order[s:min(s+batchSize, len(order))])
	}
	if bucket && shuffle {
		rng.Shuffle(len(groups), func(a, b int) { groups[a], groups[b] = groups[b], groups[a] })
	}
	return groups
}

// All returns the indices of every utterance of e's corpus, labelled or not
// (e.g. the turns of a raw corpus to predict).
func (e *Encoded) All() []int {
	items := make([]int, len(e.Corpus.Utterances))
	for i := range items {
		items[i] = i
	}
	return items
}

// PredictSentences encodes raw utterances with a checkpoint's vocabulary
// into one sentence batch (labels −1), in the given order.
func PredictSentences(v *Vocab, o Options, turns []RawTurn) (SentenceBatch, error) {
	c, err := NewRawCorpus(turns)
	if err != nil {
		return SentenceBatch{}, fmt.Errorf("predict: %w", err)
	}
	e := encodeRaw(c, v, o, turns)
	return e.sentenceBatch(e.All()), nil
}

// PredictDialog encodes a dialog given as raw turns, in conversation order,
// with a checkpoint's vocabulary into one dialog batch with one window per
// turn (of up to o.Window turns ending at that turn; labels −1), so that
// every turn is predicted from its own context.
func PredictDialog(v *Vocab, o Options, turns []RawTurn) (DialogBatch, error) {
	return PredictDialogs(v, o, [][]RawTurn{turns})
}

// PredictDialogs is PredictDialog of several dialogs in one batch: the rows
// are every turn of the first dialog, then of the second, and so on, each
// window within its own dialog (NewRawDialogs).
func PredictDialogs(v *Vocab, o Options, dialogs [][]RawTurn) (DialogBatch, error) {
	c, err := NewRawDialogs(dialogs)
	if err != nil {
		return DialogBatch{}, fmt.Errorf("predict: %w", err)
	}
	e := encodeRaw(c, v, o, slices.Concat(dialogs...))
	return e.dialogBatch(e.All(), max(o.Window, 1)), nil
}

// encodeRaw encodes c, the corpus of turns (NewRawDialogs), as
// EncodeWithVocab does (but for Truncated), taking each turn's IDs when
// it has them.
func encodeRaw(c *Corpus, v *Vocab, o Options, turns []RawTurn) *Encoded {
	e := &Encoded{Corpus: c, Vocab: v, Tokens: make([][]int32, len(turns)), MaxLen: truncation(o)}
	for i, t := range turns {
		e.Tokens[i] = t.IDs
		if t.IDs == nil {
			e.Tokens[i] = EncodeText(v, o, t.Text)
		}
	}
	return e
}
