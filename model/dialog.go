package model

import "github.com/emotionlab/emotion/host"

// Dialog is the dialog model. Each utterance of a window goes through
// Embedding(V, E) → BiLSTM(H) → masked mean pooling; its speaker features
// are appended; the window's turns go through a dialog BiLSTM(DialogHid) →
// masked multi-head self-attention → masked attention pooling → Dropout →
// Linear(classes), which classifies the window's last (target) turn.
// Padding never enters a pooling, an attention or a recurrence as data:
// sequences are packed by length and keys are masked.
//
// Its state_dict names are embedding.weight, utterance_lstm.*,
// dialog_lstm.*, attention.in_proj_weight/in_proj_bias/out_proj.*,
// attention_pool.proj.*/context.weight and out.*.
type Dialog struct {
	cfg   Config
	be    host.Backend
	emb   *Embedding
	utt   *LSTM
	mean  *MeanPool
	dlg   *LSTM
	attn  *MultiheadAttention
	pool  *AttentionPool
	drop  *Dropout
	words *wordDropout
	out   *Linear
	in    deviceInputs
	din   layerBuf // [B·W, 2H + speakerDim]
	dp    layerBuf // [B·W, 2H]
	lbl   *host.I32

	// The encoder reads the B·W utterances sorted longest first (see
	// sortedRows), so that it computes no padding; pw holds the pooled
	// utterances back in window order, and dps the gradient in sorted order.
	sorted sortedRows
	pw     layerBuf // [B·W, 2H] window order
	dps    layerBuf // [B·W, 2H] sorted order

	batch, turns, maxLen int
	// values and grads hold every parameter (packParams).
	values, grads *host.F32
}

func newDialog(be host.Backend, rng *RNG, c Config, seed uint64) (_ *Dialog, err error) {
	m := &Dialog{cfg: c, be: be, mean: NewMeanPool(be)}
	defer func() {
		if err != nil {
			m.Release()
		}
	}()
	if m.emb, err = NewEmbeddingStd(be, rng, "embedding", c.Vocab, c.Embed, 0, c.embedStd()); err != nil {
		return nil, err
	}
	if m.utt, err = NewLSTM(be, rng, LSTMConfig{Prefix: "utterance_lstm", In: c.Embed, Hidden: c.Hidden, Bidirectional: true}); err != nil {
		return nil, err
	}
	if m.dlg, err = NewLSTM(be, rng, LSTMConfig{Prefix: "dialog_lstm", In: 2*c.Hidden + c.SpeakerDim, Hidden: c.DialogHid, Bidirectional: true}); err != nil {
		return nil, err
	}
	if m.attn, err = NewMultiheadAttention(be, rng, "attention", 2*c.DialogHid, c.Heads); err != nil {
		return nil, err
	}
	if m.pool, err = NewAttentionPool(be, rng, "attention_pool", 2*c.DialogHid, c.AttnDim); err != nil {
		return nil, err
	}
	if m.drop, err = NewDropout(be, c.Dropout, seed^0xd1a1_06d5); err != nil {
		return nil, err
	}
	if m.words, err = newWordDropout(be, c.WordDropout, seed^0x3070_d5ee_d000); err != nil {
		return nil, err
	}
	if m.out, err = NewLinear(be, rng, "out", 2*c.DialogHid, c.Classes, true); err != nil {
		return nil, err
	}
	m.values, m.grads = packParams(be, m.modules()...)
	return m, nil
}

// Config returns the architecture.
func (m *Dialog) Config() Config { return m.cfg }

// SetTraining switches dropout.
func (m *Dialog) SetTraining(on bool) {
	m.drop.SetTraining(on)
	m.words.SetTraining(on)
}

// Dropouts returns the dropout layer.
func (m *Dialog) Dropouts() []*Dropout { return []*Dropout{m.drop, m.words.Dropout} }

// Embedding returns the word embedding.
func (m *Dialog) Embedding() *Embedding { return m.emb }

// Labels returns the device labels of the last Forward.
func (m *Dialog) Labels() *host.I32 { return m.lbl }

// modules returns the layers with parameters, in state_dict order.
func (m *Dialog) modules() []Module { return []Module{m.emb, m.utt, m.dlg, m.attn, m.pool, m.out} }

// Params returns the parameters in state_dict order, one after another in
// one allocation.
func (m *Dialog) Params() []*Param {
	var ps []*Param
	for _, mod := range m.modules() {
		ps = append(ps, mod.Params()...)
	}
	return ps
}

// Forward classifies the target turn of each window of in.
func (m *Dialog) Forward(in *Inputs) (*host.F32, error) {
	if err := checkInputs(in, m.cfg.SpeakerDim); err != nil {
		return nil, err
	}
	be, c := m.be, m.cfg
	B, W, L := in.Size, in.Turns, in.MaxLen
	N, H2, S := B*W, 2*c.Hidden, c.SpeakerDim
	m.batch, m.turns, m.maxLen = B, W, L
	sin := m.sorted.sort(m.words.apply(in))
	db := m.in.upload(be, sin, m.sorted.invHost)
	tokens, lengths, turns, speaker := db.tokens, db.lengths, db.turns, db.speaker
	inv := m.sorted.uploaded(db.perms)
	m.lbl = db.labels

	x := m.emb.Forward(tokens)
	u := m.utt.ForwardSorted(N, L, x, lengths, sin.Lengths)
	ps := m.mean.Forward(N, L, H2, u, lengths)
	p := m.pw.get(be, N*H2)
	be.EmbeddingForward(inv, H2, -1, ps, p) // back to window order
	din := m.din.get(be, N*(H2+S))
	be.Copy2D(N, H2, p, H2, din, H2+S, false)
	if S > 0 {
		be.Copy2D(N, S, speaker, S, din.Slice(H2, din.Len()-H2), H2+S, false)
	}
	d := m.dlg.Forward(B, W, din, turns)
	a := m.attn.Forward(B, W, d, turns)
	z := m.pool.Forward(B, W, a, turns)
	z = m.drop.Forward(z)
	return m.out.Forward(B, z), nil
}

// Backward backpropagates dlogits [B, classes] through the last Forward.
func (m *Dialog) Backward(dlogits *host.F32) {
	be, c := m.be, m.cfg
	N, H2, S := m.batch*m.turns, 2*c.Hidden, c.SpeakerDim
	dz := m.out.Backward(dlogits)
	dz = m.drop.Backward(dz)
	da := m.pool.Backward(dz)
	dd := m.attn.Backward(da)
	ddin := m.dlg.Backward(dd)
	dp := m.dp.get(be, N*H2)
	be.Copy2D(N, H2, ddin, H2+S, dp, H2, false)
	dps := m.dps.get(be, N*H2)
	be.EmbeddingForward(m.sorted.order(), H2, -1, dp, dps) // to sorted order
	du := m.mean.Backward(dps)
	m.utt.NoInputGrad = m.emb.Weight.Frozen // nothing below it learns
	dx := m.utt.Backward(du)
	m.emb.Backward(dx)
}

// PoolingWeights returns the attention pooling weights of the last Forward
// [batch, turns] (zeros at padded turns): how much each context turn
// counted for the prediction.
func (m *Dialog) PoolingWeights() *host.F32 { return m.pool.Weights() }

// Release frees every buffer and parameter.
func (m *Dialog) Release() {
	if m.emb != nil {
		m.emb.Release()
	}
	if m.utt != nil {
		m.utt.Release()
	}
	m.mean.Release()
	if m.dlg != nil {
		m.dlg.Release()
	}
	if m.attn != nil {
		m.attn.Release()
	}
	if m.pool != nil {
		m.pool.Release()
	}
	if m.drop != nil {
		m.drop.Release()
	}
	if m.words != nil {
		m.words.Release()
	}
	if m.out != nil {
		m.out.Release()
	}
	m.in.release(m.be)
	m.din.release(m.be)
	m.dp.release(m.be)
	m.pw.release(m.be)
	m.dps.release(m.be)
	m.be.Free(m.values)
	m.be.Free(m.grads)
	m.values, m.grads = nil, nil
}
