package model

import (
	"errors"

	"github.com/emotionlab/emotion/host"
)

// MeanPool averages a batch-major sequence [batch, steps, feat] over each
// sequence's real steps (the first lengths[b]) into [batch, feat]. It has no
// parameters.
type MeanPool struct {
	be                 host.Backend
	batch, steps, feat int
	lengths            *host.I32
	y                  layerBuf
	dx                 layerBuf
}

// NewMeanPool returns a masked mean pooling layer.
func NewMeanPool(be host.Backend) *MeanPool { return &MeanPool{be: be} }

// Forward returns the masked mean of x [batch, steps, feat] over time,
// [batch, feat] (zeros for an empty sequence), owned by m and valid until
// the next Forward. lengths must stay unchanged until Backward.
func (m *MeanPool) Forward(batch, steps, feat int, x *host.F32, lengths *host.I32) *host.F32 {
	m.batch, m.steps, m.feat, m.lengths = batch, steps, feat, lengths
	y := m.y.get(m.be, batch*feat)
	m.be.MeanPool(batch, steps, feat, lengths, x, y, feat)
	return y
}

// Backward returns the gradient of the input [batch, steps, feat] from dy
// [batch, feat]: dy[b]/lengths[b] at the real steps, zero at padding.
func (m *MeanPool) Backward(dy *host.F32) *host.F32 {
	dx := m.dx.get(m.be, m.batch*m.steps*m.feat)
	m.be.MeanPoolBackward(m.batch, m.steps, m.feat, m.lengths, dy, m.feat, dx)
	return dx
}

// Release frees m's buffers.
func (m *MeanPool) Release() {
	m.y.release(m.be)
	m.dx.release(m.be)
}

// AttentionPool is additive attention pooling over time (Yang et al. 2016,
// "Hierarchical attention networks"): for each step of a sequence
//
//	u_t = tanh(W·x_t + b),  score_t = vᵀ·u_t,
//	α = softmax(score) over the real steps,  y = Σ_t α_t·x_t.
//
// Parameters: proj.weight W [attnDim, in], proj.bias b [attnDim] (as a
// Linear, with the same initialisation) and context.weight v [1, attnDim]
// (a bias-free Linear(attnDim, 1)), each under the given prefix. The pooling
// weights α of the last Forward are exposed by Weights.
type AttentionPool struct {
	In, AttnDim int
	Proj        *Linear
	Context     *Param // context.weight [1, attnDim]

	be           host.Backend
	batch, steps int
	x            *host.F32
	lengths      *host.I32
	u            layerBuf // tanh(W·x + b)   [batch·steps, attnDim]
	score        layerBuf // vᵀ·u            [batch·steps]
	alpha        layerBuf // softmax weights [batch, steps]
	y            layerBuf // pooled          [batch, in]
	dalpha       layerBuf // [batch, steps]
	dscore       layerBuf // [batch·steps]
	du           layerBuf // [batch·steps, attnDim]
	dz           layerBuf // [batch·steps, attnDim], du through tanh
	dx           layerBuf // [batch, steps, in]
}

// NewAttentionPool returns an attention pooling layer over in features with
// an attnDim-wide scoring projection.
func NewAttentionPool(be host.Backend, rng *RNG, prefix string, in, attnDim int) (*AttentionPool, error) {
	if err := errors.Join(checkPositive("AttentionPool", "in", in), checkPositive("AttentionPool", "attnDim", attnDim)); err != nil {
		return nil, err
	}
	proj, err := NewLinear(be, rng, paramName(prefix, "proj"), in, attnDim, true)
	if err != nil {
		return nil, err
	}
	a := &AttentionPool{In: in, AttnDim: attnDim, Proj: proj, be: be}
	a.Context = newParam(be, paramName(prefix, "context.weight"), 1, attnDim)
	initUniform(be, rng, linearBound(attnDim), a.Context)
	return a, nil
}

// Forward pools x [batch, steps, in] over each sequence's first lengths[b]
// steps into [batch, in], owned by a and valid until the next Forward. x and
// lengths must stay unchanged until Backward. An empty sequence pools to
// zeros.
func (a *AttentionPool) Forward(batch, steps int, x *host.F32, lengths *host.I32) *host.F32 {
	be := a.be
	a.batch, a.steps, a.x, a.lengths = batch, steps, x, lengths
	rows := batch * steps
	u := a.u.get(be, rows*a.AttnDim)
	be.Gemm(false, true, rows, a.AttnDim, a.In, 1, x, a.In, a.Proj.Weight.Value, a.In, 0, u, a.AttnDim)
	be.AddBias(rows, a.AttnDim, u, a.Proj.Bias.Value)
	be.Tanh(u, u)
	score := a.score.get(be, rows)
	be.Gemm(false, true, rows, 1, a.AttnDim, 1, u, a.AttnDim, a.Context.Value, a.AttnDim, 0, score, 1)
	alpha := a.alpha.get(be, rows)
	be.SoftmaxForward(batch, steps, 1, lengths, 1, score, alpha)
	// y[b] = α[b]·x[b]: a [1, steps]·[steps, in] product per sequence.
	y := a.y.get(be, batch*a.In)
	be.GemmStridedBatched(false, false, 1, a.In, steps, 1, alpha, steps, steps, x, a.In, steps*a.In, 0, y, a.In, a.In, batch)
	return y
}

// Weights returns the pooling weights α [batch, steps] of the last Forward
// (zeros at padding), owned by a.
func (a *AttentionPool) Weights() *host.F32 { return a.alpha.view }

// Backward accumulates the parameter gradients from dy [batch, in] and
// returns the gradient of the input [batch, steps, in], owned by a.
func (a *AttentionPool) Backward(dy *host.F32) *host.F32 {
	be := a.be
	batch, steps, in, ad := a.batch, a.steps, a.In, a.AttnDim
	rows := batch * steps
	alpha, u := a.alpha.view, a.u.view
	// dα[b,t] = dy[b]·x[b,t]: [1, in]·[steps, in]ᵀ per sequence.
	dalpha := a.dalpha.get(be, rows)
	be.GemmStridedBatched(false, true, 1, steps, in, 1, dy, in, in, a.x, in, steps*in, 0, dalpha, steps, steps, batch)
	// dx[b,t] = α[b,t]·dy[b]: [steps, 1]·[1, in] per sequence.
	dx := a.dx.get(be, rows*in)
	be.GemmStridedBatched(false, false, steps, in, 1, 1, alpha, 1, steps, dy, in, in, 0, dx, in, steps*in, batch)
	// Through the masked softmax.
	dscore := a.dscore.get(be, rows)
	be.SoftmaxBackward(batch, steps, 1, a.lengths, 1, alpha, dalpha, dscore)
	// dv += dscoreᵀ·u; du = dscore·v; through tanh.
	be.Gemm(true, false, 1, ad, rows, 1, dscore, 1, u, ad, 1, a.Context.Grad, ad)
	du := a.du.get(be, rows*ad)
	be.Gemm(false, false, rows, ad, 1, 1, dscore, 1, a.Context.Value, ad, 0, du, ad)
	dz := a.dz.get(be, rows*ad)
	be.TanhBackward(u, du, dz)
	// Through the projection: dW += dzᵀ·x, db += Σ dz, dx += dz·W.
	be.Gemm(true, false, ad, in, rows, 1, dz, ad, a.x, in, 1, a.Proj.Weight.Grad, in)
	be.BiasGrad(rows, ad, dz, a.Proj.Bias.Grad)
	be.Gemm(false, false, rows, in, ad, 1, dz, ad, a.Proj.Weight.Value, in, 1, dx, in)
	return dx
}

// Params returns proj.weight, proj.bias and context.weight.
func (a *AttentionPool) Params() []*Param {
	return append(a.Proj.Params(), a.Context)
}

// bindParams lets the projection span its moved parameters (see
// packParams).
func (a *AttentionPool) bindParams() { a.Proj.bindParams() }

// Release frees a's buffers and parameters.
func (a *AttentionPool) Release() {
	for _, b := range []*layerBuf{&a.u, &a.score, &a.alpha, &a.y, &a.dalpha, &a.dscore, &a.du, &a.dz, &a.dx} {
		b.release(a.be)
	}
	a.Proj.Release()
	freeParams(a.be, a.Context)
}
