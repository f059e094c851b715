package model

import (
	"fmt"
	"math"

	"github.com/emotionlab/emotion/host"
)

// Adam is torch.optim.Adam (AdamW with Decoupled) over a fixed list of
// parameters: one fused backend op per run of parameters that lie one after
// another in memory (an LSTM's eight, a Linear's weight and bias), which
// also zeroes the run's gradients.
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
	m, v   []*host.F32 // per parameter: views of its run's moments
	runs   []adamRun
	sq     *host.F32 // [len(runs)] squared norms
}

// adamRun is parameters params[lo:hi] whose values, and whose gradients,
// are adjacent: value and grad span them, m and v are their moments. A
// run's parameters are all frozen or none is.
type adamRun struct {
	lo, hi            int
	value, grad, m, v *host.F32
	frozen            bool
}

// NewAdam returns Adam with PyTorch's defaults (β = 0.9, 0.999, ε = 1e-8)
// and learning rate lr over params. Parameters frozen now (Param.Frozen)
// are never updated; their moments stay zero.
func NewAdam(be host.Backend, params []*Param, lr float32) *Adam {
	a := &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, be: be, params: params}
	for lo := 0; lo < len(params); {
		hi := lo + 1
		for hi < len(params) && host.Adjacent(params[hi-1].Value, params[hi].Value) &&
			host.Adjacent(params[hi-1].Grad, params[hi].Grad) && params[hi].Frozen == params[lo].Frozen {
			hi++
		}
		r := adamRun{lo: lo, hi: hi, value: host.Join(params[lo].Value, params[hi-1].Value),
			grad: host.Join(params[lo].Grad, params[hi-1].Grad), frozen: params[lo].Frozen}
		r.m, r.v = be.Alloc(r.value.Len()), be.Alloc(r.value.Len())
		off := 0
		for _, p := range params[lo:hi] {
			a.m = append(a.m, r.m.Slice(off, p.Len()))
			a.v = append(a.v, r.v.Slice(off, p.Len()))
			off += p.Len()
		}
		a.runs = append(a.runs, r)
		lo = hi
	}
	a.sq = be.Alloc(max(len(a.runs), 1))
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
		WeightDecay: a.WeightDecay, Decoupled: a.Decoupled, Step: a.Step, ZeroGrad: true}
	for _, r := range a.runs {
		if !r.frozen {
			be.AdamStep(hp, r.value, r.grad, r.m, r.v)
		}
	}
}

func (a *Adam) clip() {
	be := a.be
	for i, r := range a.runs {
		if r.frozen {
			be.Fill(a.sq.Slice(i, 1), 0) // no gradient, as requires_grad=False
		} else {
			be.SumSquares(r.grad, a.sq.Slice(i, 1))
		}
	}
	sq := make([]float32, a.sq.Len())
	be.Download(sq, a.sq)
	var total float64
	for _, s := range sq[:len(a.runs)] {
		total += float64(s)
	}
	// As clip_grad_norm_: every gradient times min(1, max/(norm + 1e-6)),
	// so a norm just under max is scaled a little; a NaN norm makes every
	// gradient NaN and an infinite one 0 or NaN (its default
	// error_if_nonfinite=False).
	norm := math.Sqrt(total)
	if coef := float64(a.ClipNorm) / (norm + 1e-6); coef < 1 || math.IsNaN(coef) {
		for _, r := range a.runs {
			if !r.frozen {
				be.Scale(float32(coef), r.grad)
			}
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
	for _, r := range a.runs {
		a.be.Free(r.m)
		a.be.Free(r.v)
	}
	a.be.Free(a.sq)
	a.m, a.v, a.runs = nil, nil, nil
}
