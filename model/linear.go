package model

import (
	"errors"

	"github.com/emotionlab/emotion/host"
)

// Linear is torch.nn.Linear(in, out, bias): y = x·Wᵀ + b over the rows of x.
type Linear struct {
	In, Out int
	Weight  *Param // weight [out, in]
	Bias    *Param // bias [out]; nil without bias

	be            host.Backend
	values, grads *host.F32 // the allocations Weight and Bias are views of
	rows          int
	x             *host.F32 // input of the last Forward
	y             layerBuf
	dx            layerBuf
}

// NewLinear returns a linear layer initialised as PyTorch's: weight and bias
// U(−1/√in, 1/√in). The parameters are named prefix + ".weight" and
// prefix + ".bias".
func NewLinear(be host.Backend, rng *RNG, prefix string, in, out int, bias bool) (*Linear, error) {
	if err := errors.Join(checkPositive("Linear", "in", in), checkPositive("Linear", "out", out)); err != nil {
		return nil, err
	}
	l := &Linear{In: in, Out: out, be: be}
	specs := []paramSpec{{paramName(prefix, "weight"), []int{out, in}}}
	if bias {
		specs = append(specs, paramSpec{paramName(prefix, "bias"), []int{out}})
	}
	var ps []*Param
	ps, l.values, l.grads = newAdjacentParams(be, specs...)
	l.Weight = ps[0]
	initUniform(be, rng, linearBound(in), l.Weight)
	if bias {
		l.Bias = ps[1]
		initUniform(be, rng, linearBound(in), l.Bias)
	}
	return l, nil
}

// Forward computes y [rows, out] from x [rows, in]. The result is owned by
// l and valid until the next Forward; x must stay unchanged until Backward.
func (l *Linear) Forward(rows int, x *host.F32) *host.F32 {
	l.rows, l.x = rows, x
	y := l.y.get(l.be, rows*l.Out)
	l.be.Gemm(false, true, rows, l.Out, l.In, 1, x, l.In, l.Weight.Value, l.In, 0, y, l.Out)
	if l.Bias != nil {
		l.be.AddBias(rows, l.Out, y, l.Bias.Value)
	}
	return y
}

// Backward accumulates the parameter gradients from dy [rows, out] and
// returns the gradient of the input [rows, in], owned by l.
func (l *Linear) Backward(dy *host.F32) *host.F32 {
	be := l.be
	// dW += dyᵀ·x; db += Σ_rows dy; dx = dy·W.
	be.Gemm(true, false, l.Out, l.In, l.rows, 1, dy, l.Out, l.x, l.In, 1, l.Weight.Grad, l.In)
	if l.Bias != nil {
		be.BiasGrad(l.rows, l.Out, dy, l.Bias.Grad)
	}
	dx := l.dx.get(be, l.rows*l.In)
	be.Gemm(false, false, l.rows, l.In, l.Out, 1, dy, l.Out, l.Weight.Value, l.In, 0, dx, l.In)
	return dx
}

// Params returns weight and, when present, bias.
func (l *Linear) Params() []*Param {
	if l.Bias == nil {
		return []*Param{l.Weight}
	}
	return []*Param{l.Weight, l.Bias}
}

// bindParams frees the allocation the weight and bias were made in and
// spans them where they are now (see packParams).
func (l *Linear) bindParams() {
	l.be.Free(l.values)
	l.be.Free(l.grads)
	ps := l.Params()
	l.values = host.Join(ps[0].Value, ps[len(ps)-1].Value)
	l.grads = host.Join(ps[0].Grad, ps[len(ps)-1].Grad)
}

// Release frees l's buffers and parameters.
func (l *Linear) Release() {
	l.y.release(l.be)
	l.dx.release(l.be)
	l.be.Free(l.values)
	l.be.Free(l.grads)
	l.values, l.grads = nil, nil
	l.Weight.Value, l.Weight.Grad = nil, nil
	if l.Bias != nil {
		l.Bias.Value, l.Bias.Grad = nil, nil
	}
}
