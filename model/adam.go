package model

import (
	"fmt"
	"math"

	"github.com/emotionlab/emotion/host"
)

// Adam is torch.optim.Adam (AdamW with Decoupled) over a fixed list of
// parameters, one fused backend op per parameter per step.
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	Decoupled                          bool
	// ClipNorm, when positive, scales the gradients so that their global L2
	// norm is at most ClipNorm before the update, as
	// torch.nn.utils.clip_grad_norm_ (it costs one host synchronisation).
	ClipNorm float32
	Step     int // updates done so far

	be     host.Backend
	params []*Param
	m, v   []*host.F32
	sq     *host.F32 // [len(params)] squared norms
}

// NewAdam returns Adam with PyTorch's defaults (β = 0.9, 0.999, ε = 1e-8)
// and learning rate lr over params.
func NewAdam(be host.Backend, params []*Param, lr float32) *Adam {
	a := &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, be: be, params: params}
	for _, p := range params {
		a.m = append(a.m, be.Alloc(p.Len()))
		a.v = append(a.v, be.Alloc(p.Len()))
	}
	a.sq = be.Alloc(max(len(params), 1))
	return a
}

// Update applies one step to every parameter from its gradient, then zeroes
// the gradients.
func (a *Adam) Update() {
	be := a.be
	if a.ClipNorm > 0 {
		a.clip()
	}
	a.Step++
	hp := host.AdamParams{LR: a.LR, Beta1: a.Beta1, Beta2: a.Beta2, Eps: a.Eps,
		WeightDecay: a.WeightDecay, Decoupled: a.Decoupled, Step: a.Step}
	for i, p := range a.params {
		be.AdamStep(hp, p.Value, p.Grad, a.m[i], a.v[i])
		be.Fill(p.Grad, 0)
	}
}

func (a *Adam) clip() {
	be := a.be
	for i, p := range a.params {
		be.SumSquares(p.Grad, a.sq.Slice(i, 1))
	}
	sq := make([]float32, a.sq.Len())
	be.Download(sq, a.sq)
	var total float64
	for _, s := range sq[:len(a.params)] {
		total += float64(s)
	}
	norm := math.Sqrt(total)
	if norm > float64(a.ClipNorm) {
		scale := float32(float64(a.ClipNorm) / (norm + 1e-6))
		for _, p := range a.params {
			be.Scale(scale, p.Grad)
		}
	}
}

// Moments returns the first and second moment buffers of parameter i, for
// checkpoints.
func (a *Adam) Moments(i int) (m, v *host.F32) { return a.m[i], a.v[i] }

// Params returns the parameters a updates.
func (a *Adam) Params() []*Param { return a.params }

// SetMoments uploads saved moments of parameter i.
func (a *Adam) SetMoments(i int, m, v []float32) error {
	if len(m) != a.m[i].Len() || len(v) != a.v[i].Len() {
		return fmt.Errorf("adam: moments of %s have %d and %d elements, want %d", a.params[i].Name, len(m), len(v), a.m[i].Len())
	}
	a.be.Upload(a.m[i], m)
	a.be.Upload(a.v[i], v)
	return nil
}

// Release frees the optimiser's state.
func (a *Adam) Release() {
	for i := range a.m {
		a.be.Free(a.m[i])
		a.be.Free(a.v[i])
	}
	a.be.Free(a.sq)
	a.m, a.v = nil, nil
}
