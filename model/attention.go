package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/emotionlab/emotion/host"
)

// MultiheadAttention is self-attention as
// torch.nn.MultiheadAttention(embed, heads, batch_first=True) called with
// query = key = value = x and a key_padding_mask that masks each sequence's
// steps from lengths[b] on:
//
//	[Q K V] = x·in_projᵀ + in_proj_bias
//	head h:  P_h = softmax(Q_h·K_hᵀ/√(embed/heads)) over the real keys
//	         O_h = P_h·V_h
//	y = [O_1 … O_heads]·out_projᵀ + out_proj_bias
//
// As in PyTorch, padded query steps are not masked: they attend to the
// real keys, and their outputs are finite values that later layers mask.
// Unlike PyTorch (NaN), an empty sequence, with every key masked, gets zero
// attention weights, so its outputs are out_proj.bias.
// Parameters (under the prefix): in_proj_weight [3E, E], in_proj_bias [3E],
// out_proj.weight [E, E], out_proj.bias [E].
type MultiheadAttention struct {
	Embed, Heads int
	InWeight     *Param // in_proj_weight [3E, E]
	InBias       *Param // in_proj_bias [3E]
	OutProj      *Linear

	be                host.Backend
	inValues, inGrads *host.F32 // the allocations InWeight and InBias are views of
	batch, steps      int
	x                 *host.F32
	lengths           *host.I32
	qkv               layerBuf // [batch·steps, 3E]
	scores            layerBuf // [batch, heads, steps, steps]
	probs             layerBuf // [batch, heads, steps, steps]
	attn              layerBuf // concatenated heads [batch·steps, E]
	dprobs            layerBuf // [batch, heads, steps, steps]
	dscores           layerBuf // [batch, heads, steps, steps]
	dqkv              layerBuf // [batch·steps, 3E]
	dx                layerBuf // [batch·steps, E]
	// batchedHeads computes every head of every sequence with one GEMM per
	// product, on qkv split into a contiguous steps×d matrix per (part,
	// sequence, head), instead of one GEMM per head: set on a launch-bound
	// backend (host.IsLaunchBound) with more than one head, where it
	// trades 2·heads GEMMs forward and 4·heads backward for 2 + 2 and
	// 4 + 2 launches.
	batchedHeads bool
	qkvh         layerBuf // [3, batch, heads, steps, d]
	oh           layerBuf // [batch, heads, steps, d]
	doh          layerBuf // [batch, heads, steps, d]
	dqkvh        layerBuf // [3, batch, heads, steps, d]
}

// NewMultiheadAttention returns self-attention over embed features split in
// heads heads (embed must be a multiple of heads), initialised as PyTorch's:
// in_proj_weight xavier_uniform, out_proj.weight as a Linear's, biases zero.
func NewMultiheadAttention(be host.Backend, rng *RNG, prefix string, embed, heads int) (*MultiheadAttention, error) {
	if err := errors.Join(checkPositive("MultiheadAttention", "embed", embed), checkPositive("MultiheadAttention", "heads", heads)); err != nil {
		return nil, err
	}
	if embed%heads != 0 {
		return nil, fmt.Errorf("model: MultiheadAttention: embed %d is not a multiple of heads %d", embed, heads)
	}
	m := &MultiheadAttention{Embed: embed, Heads: heads, be: be, batchedHeads: host.IsLaunchBound(be) && heads > 1}
	ps, values, grads := newAdjacentParams(be,
		paramSpec{paramName(prefix, "in_proj_weight"), []int{3 * embed, embed}},
		paramSpec{paramName(prefix, "in_proj_bias"), []int{3 * embed}})
	m.InWeight, m.InBias, m.inValues, m.inGrads = ps[0], ps[1], values, grads
	initUniform(be, rng, xavierBound(embed, 3*embed), m.InWeight)
	out, err := NewLinear(be, rng, paramName(prefix, "out_proj"), embed, embed, true)
	if err != nil {
		return nil, err
	}
	be.Fill(out.Bias.Value, 0)
	m.OutProj = out
	return m, nil
}

// Forward computes self-attention over x [batch, steps, E] with the keys of
// sequence b masked from lengths[b] on, into [batch, steps, E] owned by m and
// valid until the next Forward. x and lengths must stay unchanged until
// Backward.
func (m *MultiheadAttention) Forward(batch, steps int, x *host.F32, lengths *host.I32) *host.F32 {
	be := m.be
	m.batch, m.steps, m.x, m.lengths = batch, steps, x, lengths
	E, H, T := m.Embed, m.Heads, steps
	d := E / H
	rows := batch * T
	tt := T * T

	qkv := m.qkv.get(be, rows*3*E)
	be.Gemm(false, true, rows, 3*E, E, 1, x, E, m.InWeight.Value, E, 0, qkv, 3*E)
	be.AddBias(rows, 3*E, qkv, m.InBias.Value)

	scores := m.scores.get(be, batch*H*tt)
	probs := m.probs.get(be, batch*H*tt)
	attn := m.attn.get(be, rows*E)
	scale := float32(1 / math.Sqrt(float64(d)))
	if m.batchedHeads {
		// Q, K, V of (b, h) are contiguous T×d matrices at (b·H+h)·T·d
		// of their part; so are the scores [b, h] at (b·H+h)·T² and the
		// outputs O [b, h].
		bh, td := batch*H, T*d
		qkvh := m.qkvh.get(be, rows*3*E)
		be.SplitHeads(batch, T, 3, H, d, qkv, qkvh)
		q, k, v := qkvh.Slice(0, bh*td), qkvh.Slice(bh*td, bh*td), qkvh.Slice(2*bh*td, bh*td)
		be.GemmStridedBatched(false, true, T, T, d, 1, q, d, td, k, d, td, 0, scores, T, tt, bh)
		be.SoftmaxForward(batch*H*T, T, scale, lengths, H*T, scores, probs)
		oh := m.oh.get(be, rows*E)
		be.GemmStridedBatched(false, false, T, d, T, 1, probs, T, tt, v, d, td, 0, oh, d, td, bh)
		be.MergeHeads(batch, T, 1, H, d, oh, attn)
		return m.OutProj.Forward(rows, attn)
	}

	// For head h and sequence b: Q, K and V are T×d column blocks of qkv
	// (row stride 3E), at columns h·d, E+h·d and 2E+h·d; each sequence's
	// block starts T·3E further on. Scores [b, h] start at (b·H+h)·T².
	for h := range H {
		q := qkv.Slice(h*d, qkv.Len()-h*d)
		k := qkv.Slice(E+h*d, qkv.Len()-E-h*d)
		s := scores.Slice(h*tt, scores.Len()-h*tt)
		be.GemmStridedBatched(false, true, T, T, d, 1, q, 3*E, T*3*E, k, 3*E, T*3*E, 0, s, T, H*tt, batch)
	}
	be.SoftmaxForward(batch*H*T, T, scale, lengths, H*T, scores, probs)

	for h := range H {
		p := probs.Slice(h*tt, probs.Len()-h*tt)
		v := qkv.Slice(2*E+h*d, qkv.Len()-2*E-h*d)
		o := attn.Slice(h*d, attn.Len()-h*d)
		be.GemmStridedBatched(false, false, T, d, T, 1, p, T, H*tt, v, 3*E, T*3*E, 0, o, E, T*E, batch)
	}
	return m.OutProj.Forward(rows, attn)
}

// Weights returns the attention probabilities [batch, heads, steps, steps]
// of the last Forward (query rows, key columns; zeros at masked keys),
// owned by m. PyTorch's need_weights=True averages them over heads.
func (m *MultiheadAttention) Weights() *host.F32 { return m.probs.view }

// Backward accumulates the parameter gradients from dy [batch, steps, E] and
// returns the gradient of the input [batch, steps, E], owned by m.
func (m *MultiheadAttention) Backward(dy *host.F32) *host.F32 {
	be := m.be
	E, H, T, batch := m.Embed, m.Heads, m.steps, m.batch
	d := E / H
	rows := batch * T
	tt := T * T
	qkv, probs := m.qkv.view, m.probs.view

	dattn := m.OutProj.Backward(dy)

	dprobs := m.dprobs.get(be, batch*H*tt)
	dscores := m.dscores.get(be, batch*H*tt)
	dqkv := m.dqkv.get(be, rows*3*E)
	scale := float32(1 / math.Sqrt(float64(d)))
	if m.batchedHeads {
		bh, td := batch*H, T*d
		qkvh := m.qkvh.view
		q, k, v := qkvh.Slice(0, bh*td), qkvh.Slice(bh*td, bh*td), qkvh.Slice(2*bh*td, bh*td)
		doh := m.doh.get(be, rows*E)
		be.SplitHeads(batch, T, 1, H, d, dattn, doh)
		dqkvh := m.dqkvh.get(be, rows*3*E)
		dq, dk, dv := dqkvh.Slice(0, bh*td), dqkvh.Slice(bh*td, bh*td), dqkvh.Slice(2*bh*td, bh*td)
		// dP = dO·Vᵀ and dV = Pᵀ·dO.
		be.GemmStridedBatched(false, true, T, T, d, 1, doh, d, td, v, d, td, 0, dprobs, T, tt, bh)
		be.GemmStridedBatched(true, false, T, d, T, 1, probs, T, tt, doh, d, td, 0, dv, d, td, bh)
		be.SoftmaxBackward(batch*H*T, T, scale, m.lengths, H*T, probs, dprobs, dscores)
		// dQ = dS·K and dK = dSᵀ·Q (the scale is inside dS).
		be.GemmStridedBatched(false, false, T, d, T, 1, dscores, T, tt, k, d, td, 0, dq, d, td, bh)
		be.GemmStridedBatched(true, false, T, d, T, 1, dscores, T, tt, q, d, td, 0, dk, d, td, bh)
		be.MergeHeads(batch, T, 3, H, d, dqkvh, dqkv)
		return m.inputBackward(dqkv)
	}
	for h := range H {
		// dP = dO·Vᵀ and dV = Pᵀ·dO.
		do := dattn.Slice(h*d, dattn.Len()-h*d)
		v := qkv.Slice(2*E+h*d, qkv.Len()-2*E-h*d)
		dp := dprobs.Slice(h*tt, dprobs.Len()-h*tt)
		be.GemmStridedBatched(false, true, T, T, d, 1, do, E, T*E, v, 3*E, T*3*E, 0, dp, T, H*tt, batch)
		p := probs.Slice(h*tt, probs.Len()-h*tt)
		dv := dqkv.Slice(2*E+h*d, dqkv.Len()-2*E-h*d)
		be.GemmStridedBatched(true, false, T, d, T, 1, p, T, H*tt, do, E, T*E, 0, dv, 3*E, T*3*E, batch)
	}
	be.SoftmaxBackward(batch*H*T, T, scale, m.lengths, H*T, probs, dprobs, dscores)
	for h := range H {
		// dQ = dS·K and dK = dSᵀ·Q (the scale is inside dS).
		ds := dscores.Slice(h*tt, dscores.Len()-h*tt)
		q := qkv.Slice(h*d, qkv.Len()-h*d)
		k := qkv.Slice(E+h*d, qkv.Len()-E-h*d)
		dq := dqkv.Slice(h*d, dqkv.Len()-h*d)
		dk := dqkv.Slice(E+h*d, dqkv.Len()-E-h*d)
		be.GemmStridedBatched(false, false, T, d, T, 1, ds, T, H*tt, k, 3*E, T*3*E, 0, dq, 3*E, T*3*E, batch)
		be.GemmStridedBatched(true, false, T, d, T, 1, ds, T, H*tt, q, 3*E, T*3*E, 0, dk, 3*E, T*3*E, batch)
	}

	return m.inputBackward(dqkv)
}

// inputBackward backpropagates dqkv [batch·steps, 3E] through the input
// projection: it accumulates the in_proj gradients and returns dx, owned by
// m.
func (m *MultiheadAttention) inputBackward(dqkv *host.F32) *host.F32 {
	be := m.be
	E, rows := m.Embed, m.batch*m.steps
	be.Gemm(true, false, 3*E, E, rows, 1, dqkv, 3*E, m.x, E, 1, m.InWeight.Grad, E)
	be.BiasGrad(rows, 3*E, dqkv, m.InBias.Grad)
	dx := m.dx.get(be, rows*E)
	be.Gemm(false, false, rows, E, 3*E, 1, dqkv, 3*E, m.InWeight.Value, E, 0, dx, E)
	return dx
}

// Params returns in_proj_weight, in_proj_bias, out_proj.weight and
// out_proj.bias, the order of PyTorch's state_dict.
func (m *MultiheadAttention) Params() []*Param {
	return append([]*Param{m.InWeight, m.InBias}, m.OutProj.Params()...)
}

// bindParams frees the allocation in_proj's weight and bias were made in
// and spans them where they are now, and so does out_proj (see
// packParams).
func (m *MultiheadAttention) bindParams() {
	m.be.Free(m.inValues)
	m.be.Free(m.inGrads)
	m.inValues = host.Join(m.InWeight.Value, m.InBias.Value)
	m.inGrads = host.Join(m.InWeight.Grad, m.InBias.Grad)
	m.OutProj.bindParams()
}

// Release frees m's buffers and parameters.
func (m *MultiheadAttention) Release() {
	for _, b := range []*layerBuf{&m.qkv, &m.scores, &m.probs, &m.attn, &m.dprobs, &m.dscores, &m.dqkv, &m.dx, &m.qkvh, &m.oh, &m.doh, &m.dqkvh} {
		b.release(m.be)
	}
	m.OutProj.Release()
	m.be.Free(m.inValues)
	m.be.Free(m.inGrads)
	m.inValues, m.inGrads = nil, nil
	m.InWeight.Value, m.InWeight.Grad, m.InBias.Value, m.InBias.Grad = nil, nil, nil, nil
}
