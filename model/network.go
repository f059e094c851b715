package model

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
)

// Model kinds.
const (
	KindSentence = "sentence"
	KindDialog   = "dialog"
)

// Config is the architecture of a model: everything needed to build it
// again from a checkpoint. Sizes default as in DefaultConfig.
type Config struct {
	Kind       string `json:"kind"`        // "sentence" or "dialog"
	Vocab      int    `json:"vocab"`       // vocabulary size, PAD and UNK included
	Classes    int    `json:"classes"`     // 4
	SpeakerDim int    `json:"speaker_dim"` // speaker features per utterance
	Embed      int    `json:"embed"`       // embedding size
	// EmbedStd is the standard deviation of the embeddings' initial
	// N(0, σ²) (PyTorch's default is 1; 0 reads as 1, for older configs).
	EmbedStd  float32 `json:"embed_init_std,omitempty"`
	Hidden    int     `json:"hidden"` // utterance BiLSTM size per direction
	Dense     int     `json:"dense"`  // sentence model: hidden Linear size
	DialogHid int     `json:"dialog_hidden"`
	Heads     int     `json:"heads"`    // dialog model: attention heads
	AttnDim   int     `json:"attn_dim"` // dialog model: attention pooling size
	Dropout   float32 `json:"dropout"`
	// WordDropout replaces each token by <unk> with this probability while
	// training (0: off), so that the model learns to do without words it
	// has not seen, as it must on new speakers.
	WordDropout float32 `json:"word_dropout,omitempty"`
	Window      int     `json:"window"`  // dialog model: turns per window
	MaxLen      int     `json:"max_len"` // tokens per utterance
	// Seed draws the initial parameters and keys the dropout masks.
	Seed uint64 `json:"seed"`
}

// DefaultConfig returns the default architecture of a model kind, with
// vocab and speakerDim given by the data.
func DefaultConfig(kind string, vocab, speakerDim int) Config {
	c := Config{Kind: kind, Vocab: vocab, Classes: 4, SpeakerDim: speakerDim, Dropout: 0.5, MaxLen: 100, EmbedStd: 0.1}
	switch kind {
	case KindSentence:
		c.Embed, c.Hidden, c.Dense = 128, 64, 64
	case KindDialog:
		c.Embed, c.Hidden, c.DialogHid, c.Heads, c.AttnDim, c.Window = 100, 64, 128, 4, 256, 10
	}
	return c
}

// Validate reports the first size that cannot build a model.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s = %d, must be positive", name, v))
		}
	}
	pos("vocab", c.Vocab)
	pos("classes", c.Classes)
	pos("embed", c.Embed)
	pos("hidden", c.Hidden)
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab", c.Vocab}, {"classes", c.Classes}, {"speaker_dim", c.SpeakerDim}, {"embed", c.Embed}, {"hidden", c.Hidden},
		{"dense", c.Dense}, {"dialog_hidden", c.DialogHid}, {"heads", c.Heads}, {"attn_dim", c.AttnDim},
		{"window", c.Window}, {"max_len", c.MaxLen}} {
		if f.v > maxConfigSize {
			errs = append(errs, fmt.Errorf("%s = %d, more than %d", f.name, f.v, maxConfigSize))
		}
	}
	if c.SpeakerDim < 0 {
		errs = append(errs, fmt.Errorf("speaker_dim = %d, must not be negative", c.SpeakerDim))
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		errs = append(errs, fmt.Errorf("dropout = %g, must be in [0, 1)", c.Dropout))
	}
	if !(c.EmbedStd >= 0) || math.IsInf(float64(c.EmbedStd), 1) {
		errs = append(errs, fmt.Errorf("embed_init_std = %g, must be finite and not negative", c.EmbedStd))
	}
	if !(c.WordDropout >= 0 && c.WordDropout < 1) {
		errs = append(errs, fmt.Errorf("word_dropout = %g, must be in [0, 1)", c.WordDropout))
	}
	switch c.Kind {
	case KindSentence:
		pos("dense", c.Dense)
	case KindDialog:
		pos("dialog_hidden", c.DialogHid)
		pos("heads", c.Heads)
		pos("attn_dim", c.AttnDim)
		pos("window", c.Window)
		if c.Heads > 0 && (2*c.DialogHid)%c.Heads != 0 {
			errs = append(errs, fmt.Errorf("heads = %d does not divide the attention size 2·dialog_hidden = %d", c.Heads, 2*c.DialogHid))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown model kind %q (want sentence or dialog)", c.Kind))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("model config: %w", err)
	}
	return nil
}

// maxConfigSize bounds every size of a Config, far above any useful one, so
// that a corrupt config is refused before it allocates and its parameter
// count (NumParams) cannot overflow.
const maxConfigSize = 1 << 24

// NumParams is the number of parameters a network of this (valid)
// architecture has, counted without building it: what a checkpoint's
// tensors must hold before the network is allocated for them.
func (c Config) NumParams() int64 {
	var n int64
	for _, p := range c.ParamShapes() {
		k := int64(1)
		for _, d := range p.Shape {
			k *= int64(d)
		}
		n += k
	}
	return n
}

// ParamShape is a parameter's state_dict name and shape.
type ParamShape struct {
	Name  string
	Shape []int
}

// ParamShapes lists the parameters of a network of this (valid)
// architecture, in Params order, without building it (see the package
// documentation for the layout; a test holds them to the networks').
func (c Config) ParamShapes() []ParamShape {
	var ps []ParamShape
	add := func(name string, shape ...int) { ps = append(ps, ParamShape{name, shape}) }
	lstm := func(prefix string, in, hidden int) { // bidirectional, one layer
		for _, dir := range []string{"", "_reverse"} {
			add(prefix+".weight_ih_l0"+dir, 4*hidden, in)
			add(prefix+".weight_hh_l0"+dir, 4*hidden, hidden)
			add(prefix+".bias_ih_l0"+dir, 4*hidden)
			add(prefix+".bias_hh_l0"+dir, 4*hidden)
		}
	}
	linear := func(prefix string, in, out int) {
		add(prefix+".weight", out, in)
		add(prefix+".bias", out)
	}
	add("embedding.weight", c.Vocab, c.Embed)
	if c.Kind == KindSentence {
		lstm("lstm", c.Embed, c.Hidden)
		linear("fc1", 2*c.Hidden+c.SpeakerDim, c.Dense)
		linear("fc2", c.Dense, c.Classes)
		return ps
	}
	e := 2 * c.DialogHid
	lstm("utterance_lstm", c.Embed, c.Hidden)
	lstm("dialog_lstm", 2*c.Hidden+c.SpeakerDim, c.DialogHid)
	add("attention.in_proj_weight", 3*e, e)
	add("attention.in_proj_bias", 3*e)
	linear("attention.out_proj", e, e)
	linear("attention_pool.proj", e, c.AttnDim)
	add("attention_pool.context.weight", 1, c.AttnDim)
	linear("out", e, c.Classes)
	return ps
}

// Inputs is one batch in the form both models take: windows of Turns
// utterances of MaxLen tokens (Turns = 1 for the sentence model).
type Inputs struct {
	Size, Turns, MaxLen int
	Tokens              []int32   // [Size, Turns, MaxLen], PAD-padded
	Lengths             []int32   // [Size·Turns] tokens per utterance (0 for padded turns)
	TurnCounts          []int32   // [Size] real turns per window (the target is the last)
	Speaker             []float32 // [Size, Turns, SpeakerDim]
	Labels              []int32   // [Size], −1 when unknown
}

// Network is a classifier of the target utterance of each window.
type Network interface {
	Module
	// Config is the architecture the network was built with.
	Config() Config
	// SetTraining switches dropout on (training) or off (evaluation).
	SetTraining(on bool)
	// Forward uploads in and returns the logits [in.Size, Classes], owned by
	// the network and valid until the next Forward. Inputs whose slices do
	// not match their sizes, or whose turn counts or lengths lie outside
	// their windows, are an error; backend errors surface at Sync.
	Forward(in *Inputs) (*host.F32, error)
	// Backward backpropagates the logit gradient of the last Forward,
	// accumulating the parameter gradients.
	Backward(dlogits *host.F32)
	// Labels is the device copy of the last Forward's labels.
	Labels() *host.I32
	// Dropouts lists the dropout layers, whose counters a checkpoint saves.
	Dropouts() []*Dropout
	// Embedding is the word embedding table, for pretrained vectors and
	// freezing.
	Embedding() *Embedding
	// Release frees the network's buffers.
	Release()
}

// New builds a freshly initialised network of config c on be, its
// parameters drawn from c.Seed.
func New(be host.Backend, c Config) (Network, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := checkParamMemory(c.NumParams(), 2, "its parameters and their gradients"); err != nil {
		return nil, err
	}
	rng := NewRNG(c.Seed)
	switch c.Kind {
	case KindSentence:
		return newSentence(be, rng, c, c.Seed)
	default:
		return newDialog(be, rng, c, c.Seed)
	}
}

// deviceInputs holds a batch's inputs on the device, grown as needed: the
// int32 ones (token ids, lengths, turn counts, labels and the permutations
// of the length sort) in one buffer filled by one upload, the speaker
// features in another. On a GPU an upload waits for the work queued before
// it and the work after it waits for the upload, so each is a round trip
// between two steps; one upload per type instead of six.
type deviceInputs struct {
	ints    i32Buf
	pack    []int32 // the int32 inputs on the host, as uploaded
	speaker layerBuf
}

// packAlign is the element alignment of each input in the packed int32
// buffer: 16 bytes, so that every view starts as aligned as a buffer of
// its own (kernels may read 16 bytes at a time).
const packAlign = 4

// deviceBatch is a batch's inputs on the device (views into deviceInputs).
type deviceBatch struct {
	tokens, lengths, turns, labels *host.I32
	// perms is sortedRows.invHost on the device: the inverse of the sort's
	// permutation, then the permutation.
	perms   *host.I32
	speaker *host.F32
}

// upload puts in and the permutations of its length sort (perms) on the
// device in two uploads.
func (d *deviceInputs) upload(be host.Backend, in *Inputs, perms []int32) deviceBatch {
	parts := [...][]int32{in.Tokens, in.Lengths, in.TurnCounts, in.Labels, perms}
	var offs [len(parts)]int
	d.pack = d.pack[:0]
	for i, p := range parts {
		for len(d.pack)%packAlign != 0 {
			d.pack = append(d.pack, 0)
		}
		offs[i] = len(d.pack)
		d.pack = append(d.pack, p...)
	}
	all := d.ints.put(be, d.pack)
	view := func(i int) *host.I32 { return all.Slice(offs[i], len(parts[i])) }
	b := deviceBatch{tokens: view(0), lengths: view(1), turns: view(2), labels: view(3), perms: view(4)}
	b.speaker = d.speaker.get(be, len(in.Speaker))
	if len(in.Speaker) > 0 {
		be.Upload(b.speaker, in.Speaker)
	}
	return b
}

func (d *deviceInputs) release(be host.Backend) {
	d.ints.release(be)
	d.speaker.release(be)
}

// i32Buf is layerBuf for int32 buffers.
type i32Buf struct {
	all, view *host.I32
}

// put uploads src into a view of exactly len(src) elements.
func (b *i32Buf) put(be host.Backend, src []int32) *host.I32 {
	n := len(src)
	if b.view == nil || b.view.Len() != n {
		if b.all == nil || b.all.Len() < n {
			be.FreeI32(b.all)
			b.all = be.AllocI32(max(n, 1))
		}
		b.view = b.all.Slice(0, n)
	}
	if n > 0 {
		be.UploadI32(b.view, src)
	}
	return b.view
}

func (b *i32Buf) release(be host.Backend) {
	be.FreeI32(b.all)
	b.all, b.view = nil, nil
}

// checkInputs reports inputs whose slices do not match their sizes, a
// window's turn count outside 1 to Turns and an utterance's length
// outside 0 to MaxLen.
func checkInputs(in *Inputs, speakerDim int) error {
	if in.Size <= 0 || in.Turns <= 0 || in.MaxLen <= 0 ||
		in.Turns > math.MaxInt/in.Size || in.MaxLen > math.MaxInt/(in.Size*in.Turns) ||
		speakerDim > 0 && in.Size*in.Turns > math.MaxInt/speakerDim {
		return fmt.Errorf("model: inputs of size %d×%d×%d", in.Size, in.Turns, in.MaxLen)
	}
	n := in.Size * in.Turns
	switch {
	case len(in.Tokens) != n*in.MaxLen:
		return fmt.Errorf("model: %d tokens for %d×%d×%d inputs", len(in.Tokens), in.Size, in.Turns, in.MaxLen)
	case len(in.Lengths) != n:
		return fmt.Errorf("model: %d lengths for %d utterances", len(in.Lengths), n)
	case len(in.TurnCounts) != in.Size:
		return fmt.Errorf("model: %d turn counts for %d windows", len(in.TurnCounts), in.Size)
	case len(in.Speaker) != n*speakerDim:
		return fmt.Errorf("model: %d speaker features for %d utterances of %d", len(in.Speaker), n, speakerDim)
	case len(in.Labels) != in.Size:
		return fmt.Errorf("model: %d labels for %d windows", len(in.Labels), in.Size)
	}
	for i, tc := range in.TurnCounts {
		if tc < 1 || int(tc) > in.Turns {
			return fmt.Errorf("model: window %d has %d turns, want 1 to %d", i, tc, in.Turns)
		}
	}
	for i, l := range in.Lengths {
		if l < 0 || int(l) > in.MaxLen {
			return fmt.Errorf("model: utterance %d has length %d, want 0 to %d", i, l, in.MaxLen)
		}
	}
	return nil
}

// sortedRows sorts the utterances of a batch by length, longest first
// (stably), so that an LSTM over them computes only running rows
// (LSTM.ForwardSorted). It keeps its buffers from batch to batch.
type sortedRows struct {
	in      Inputs    // the inputs with Tokens and Lengths in sorted order
	tokens  []int32   // backing of in.Tokens
	lengths []int32   // backing of in.Lengths
	perm    []int     // perm[k] is the row of the k-th longest utterance
	invHost []int32   // invHost[i] is the sorted position of row i, then perm
	dev     *host.I32 // invHost on the device (uploaded with the inputs)
}

// sort returns in with its utterances (Tokens and Lengths) sorted longest
// first; its other fields are in's.
func (s *sortedRows) sort(in *Inputs) *Inputs {
	n, L := len(in.Lengths), in.MaxLen
	s.perm = s.perm[:0]
	for i := range n {
		s.perm = append(s.perm, i)
	}
	slices.SortStableFunc(s.perm, func(a, b int) int { return cmp.Compare(in.Lengths[b], in.Lengths[a]) })
	s.tokens = slices.Grow(s.tokens[:0], n*L)[:n*L]
	s.lengths = slices.Grow(s.lengths[:0], n)[:n]
	s.invHost = slices.Grow(s.invHost[:0], 2*n)[:2*n]
	for k, i := range s.perm {
		copy(s.tokens[k*L:(k+1)*L], in.Tokens[i*L:(i+1)*L])
		s.lengths[k] = in.Lengths[i]
		s.invHost[i] = int32(k)
		s.invHost[n+k] = int32(i)
	}
	s.in = *in
	s.in.Tokens, s.in.Lengths = s.tokens, s.lengths
	return &s.in
}

// uploaded records dev, invHost of the last sort on the device, and
// returns the inverse permutation: row i of a sorted buffer goes back to row
// i with EmbeddingForward(inv, …).
func (s *sortedRows) uploaded(dev *host.I32) *host.I32 {
	s.dev = dev
	return dev.Slice(0, dev.Len()/2)
}

// order returns the permutation of the last upload on the device: row k of
// a sorted buffer is row order[k] of the original, so EmbeddingForward(order,
// …) gathers a batch-order buffer into sorted order (a gather: no zeroing,
// no scatter-add).
func (s *sortedRows) order() *host.I32 {
	n := s.dev.Len() / 2
	return s.dev.Slice(n, n)
}

// wordDropout replaces tokens of a batch by <unk> with probability P in
// training mode, drawing from the same counter-based generator as Dropout
// (host.DropoutKeep, keyed by its own seed), so that a run is reproducible
// and a checkpoint resumes it: its Dropout holds the seed, the counter and
// the mode, and is listed among the network's Dropouts.
type wordDropout struct {
	*Dropout
	in     Inputs
	tokens []int32
}

func newWordDropout(be host.Backend, p float32, seed uint64) (*wordDropout, error) {
	d, err := NewDropout(be, p, seed)
	if err != nil {
		return nil, fmt.Errorf("word dropout: %w", err)
	}
	return &wordDropout{Dropout: d}, nil
}

// apply returns in, or in training a copy whose tokens other than padding
// and <unk> are each replaced by <unk> with probability P.
func (w *wordDropout) apply(in *Inputs) *Inputs {
	if !w.Training() || w.P == 0 {
		return in
	}
	w.tokens = append(w.tokens[:0], in.Tokens...)
	off := w.Counter()
	for i, t := range w.tokens {
		if t > dataset.UnkID && !host.DropoutKeep(w.P, w.Seed, off, i) {
			w.tokens[i] = dataset.UnkID
		}
	}
	w.SetCounter(off + uint64(len(w.tokens)))
	w.in = *in
	w.in.Tokens = w.tokens
	return &w.in
}

// embedStd is the initial standard deviation of the embeddings.
func (c Config) embedStd() float64 {
	if c.EmbedStd == 0 {
		return 1
	}
	return float64(c.EmbedStd)
}
