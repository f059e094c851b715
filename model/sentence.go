package model

import "github.com/emotionlab/emotion/host"

// Sentence is the sentence model: Embedding(V, E) → BiLSTM(H per direction,
// the final state of each direction) → concat speaker features →
// Linear(Dense) → ReLU → Dropout → Linear(classes). Its state_dict names are
// embedding.weight, lstm.*_l0[_reverse], fc1.*, fc2.*.
type Sentence struct {
	cfg   Config
	be    host.Backend
	emb   *Embedding
	lstm  *LSTM
	fc1   *Linear
	relu  *ReLU
	drop  *Dropout
	words *wordDropout
	fc2   *Linear
	in    deviceInputs
	z     layerBuf // [B, 2H + speakerDim]
	df    [2]layerBuf
	// The BiLSTM reads the batch sorted longest first (see sortedRows);
	// fw holds its final states back in batch order, dfs their gradients
	// in sorted order.
	sorted sortedRows
	fw     [2]layerBuf
	dfs    [2]layerBuf
	batch  int
	steps  int
	lbl    *host.I32
	// values and grads hold every parameter (packParams).
	values, grads *host.F32
}

func newSentence(be host.Backend, rng *RNG, c Config, seed uint64) (_ *Sentence, err error) {
	m := &Sentence{cfg: c, be: be, relu: NewReLU(be)}
	defer func() {
		if err != nil {
			m.Release()
		}
	}()
	if m.emb, err = NewEmbeddingStd(be, rng, "embedding", c.Vocab, c.Embed, 0, c.embedStd()); err != nil {
		return nil, err
	}
	if m.lstm, err = NewLSTM(be, rng, LSTMConfig{Prefix: "lstm", In: c.Embed, Hidden: c.Hidden, Bidirectional: true}); err != nil {
		return nil, err
	}
	m.lstm.FinalOnly = true // the model reads h_n only
	if m.fc1, err = NewLinear(be, rng, "fc1", 2*c.Hidden+c.SpeakerDim, c.Dense, true); err != nil {
		return nil, err
	}
	if m.drop, err = NewDropout(be, c.Dropout, seed^0x5eed_d50f); err != nil {
		return nil, err
	}
	if m.words, err = newWordDropout(be, c.WordDropout, seed^0x3070_d5ee_d000); err != nil {
		return nil, err
	}
	if m.fc2, err = NewLinear(be, rng, "fc2", c.Dense, c.Classes, true); err != nil {
		return nil, err
	}
	m.values, m.grads = packParams(be, m.modules()...)
	return m, nil
}

// Config returns the architecture.
func (m *Sentence) Config() Config { return m.cfg }

// SetTraining switches dropout.
func (m *Sentence) SetTraining(on bool) {
	m.drop.SetTraining(on)
	m.words.SetTraining(on)
}

// Dropouts returns the dropout layer.
func (m *Sentence) Dropouts() []*Dropout { return []*Dropout{m.drop, m.words.Dropout} }

// Embedding returns the word embedding.
func (m *Sentence) Embedding() *Embedding { return m.emb }

// Labels returns the device labels of the last Forward.
func (m *Sentence) Labels() *host.I32 { return m.lbl }

// modules returns the layers with parameters, in state_dict order.
func (m *Sentence) modules() []Module { return []Module{m.emb, m.lstm, m.fc1, m.fc2} }

// Params returns the parameters in state_dict order, one after another in
// one allocation.
func (m *Sentence) Params() []*Param {
	var ps []*Param
	for _, mod := range m.modules() {
		ps = append(ps, mod.Params()...)
	}
	return ps
}

// Forward classifies each utterance of in (one turn per window; only the
// target turn, the last, is read).
func (m *Sentence) Forward(in *Inputs) (*host.F32, error) {
	if err := checkInputs(in, m.cfg.SpeakerDim); err != nil {
		return nil, err
	}
	if in.Turns != 1 {
		sub := targetTurns(in, m.cfg.SpeakerDim)
		in = &sub
	}
	be, c := m.be, m.cfg
	B, T, H := in.Size, in.MaxLen, c.Hidden
	m.batch, m.steps = B, T
	sin := m.sorted.sort(m.words.apply(in))
	db := m.in.upload(be, sin, m.sorted.invHost)
	tokens, lengths, speaker := db.tokens, db.lengths, db.speaker
	inv := m.sorted.uploaded(db.perms)
	m.lbl = db.labels
	x := m.emb.Forward(tokens)
	m.lstm.ForwardSorted(B, T, x, lengths, sin.Lengths) // FinalOnly: no output
	w := 2*H + c.SpeakerDim
	z := m.z.get(be, B*w)
	for d := range 2 {
		f := m.fw[d].get(be, B*H)
		be.EmbeddingForward(inv, H, -1, m.lstm.Final(d), f) // back to batch order
		be.Copy2D(B, H, f, H, z.Slice(d*H, z.Len()-d*H), w, false)
	}
	if c.SpeakerDim > 0 {
		be.Copy2D(B, c.SpeakerDim, speaker, c.SpeakerDim, z.Slice(2*H, z.Len()-2*H), w, false)
	}
	y := m.fc1.Forward(B, z)
	y = m.relu.Forward(y)
	y = m.drop.Forward(y)
	return m.fc2.Forward(B, y), nil
}

// Backward backpropagates dlogits [B, classes] through the last Forward.
func (m *Sentence) Backward(dlogits *host.F32) {
	be, c := m.be, m.cfg
	B, H := m.batch, c.Hidden
	w := 2*H + c.SpeakerDim
	dy := m.fc2.Backward(dlogits)
	dy = m.drop.Backward(dy)
	dy = m.relu.Backward(dy)
	dz := m.fc1.Backward(dy)
	var dfs [2]*host.F32
	for d := range 2 {
		df := m.df[d].get(be, B*H)
		be.Copy2D(B, H, dz.Slice(d*H, dz.Len()-d*H), w, df, H, false)
		dfs[d] = m.dfs[d].get(be, B*H)
		be.EmbeddingForward(m.sorted.order(), H, -1, df, dfs[d]) // to sorted order
	}
	m.lstm.NoInputGrad = m.emb.Weight.Frozen // nothing below it learns
	dx := m.lstm.Backward(nil, dfs[0], dfs[1])
	m.emb.Backward(dx)
}

// Release frees every buffer and parameter.
func (m *Sentence) Release() {
	if m.emb != nil {
		m.emb.Release()
	}
	if m.lstm != nil {
		m.lstm.Release()
	}
	if m.fc1 != nil {
		m.fc1.Release()
	}
	m.relu.Release()
	if m.drop != nil {
		m.drop.Release()
	}
	if m.words != nil {
		m.words.Release()
	}
	if m.fc2 != nil {
		m.fc2.Release()
	}
	m.in.release(m.be)
	m.z.release(m.be)
	for d := range 2 {
		m.df[d].release(m.be)
		m.fw[d].release(m.be)
		m.dfs[d].release(m.be)
	}
	m.be.Free(m.values)
	m.be.Free(m.grads)
	m.values, m.grads = nil, nil
}

// targetTurns keeps only the last real turn of each window of in: the
// sentence model reads a dialog batch as its target utterances.
func targetTurns(in *Inputs, speakerDim int) Inputs {
	out := Inputs{Size: in.Size, Turns: 1, MaxLen: in.MaxLen, Labels: in.Labels}
	out.Tokens = make([]int32, in.Size*in.MaxLen)
	out.Lengths = make([]int32, in.Size)
	out.TurnCounts = make([]int32, in.Size)
	out.Speaker = make([]float32, in.Size*speakerDim)
	for b := range in.Size {
		t := b*in.Turns + int(in.TurnCounts[b]) - 1
		copy(out.Tokens[b*in.MaxLen:(b+1)*in.MaxLen], in.Tokens[t*in.MaxLen:(t+1)*in.MaxLen])
		out.Lengths[b] = in.Lengths[t]
		out.TurnCounts[b] = 1
		copy(out.Speaker[b*speakerDim:(b+1)*speakerDim], in.Speaker[t*speakerDim:(t+1)*speakerDim])
	}
	return out
}
