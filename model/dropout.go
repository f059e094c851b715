package model

import (
	"fmt"

	"github.com/emotionlab/emotion/host"
)

// Dropout is torch.nn.Dropout(p): in training mode it zeroes each element
// with probability p and scales the others by 1/(1−p); in evaluation mode it
// is the identity. The mask comes from the backend's counter-based generator
// (Philox4x32-10 keyed by Seed): every training Forward of n elements uses
// the counters [Counter(), Counter()+n) and then advances Counter by n, so
// each call draws a fresh mask, a run with the same seed draws the same
// masks, and Backward redraws the mask instead of storing it.
type Dropout struct {
	P    float32
	Seed uint64

	be       host.Backend
	training bool
	counter  uint64 // counter offset of the next training Forward
	offset   uint64 // counter offset used by the last Forward
	active   bool   // the last Forward applied a mask
	y        layerBuf
	dx       layerBuf
}

// NewDropout returns a dropout layer in training mode (as PyTorch modules
// start) with drop probability p in [0, 1) and mask seed seed.
func NewDropout(be host.Backend, p float32, seed uint64) (*Dropout, error) {
	if !(p >= 0 && p < 1) {
		return nil, fmt.Errorf("model: Dropout: p = %g, must be in [0, 1)", p)
	}
	return &Dropout{P: p, Seed: seed, be: be, training: true}, nil
}

// SetTraining switches between training (masks drawn) and evaluation
// (identity) mode.
func (d *Dropout) SetTraining(on bool) { d.training = on }

// Training reports whether d is in training mode.
func (d *Dropout) Training() bool { return d.training }

// Counter is the generator counter offset the next training Forward will
// use; save it with a checkpoint to resume the same sequence of masks.
func (d *Dropout) Counter() uint64 { return d.counter }

// SetCounter sets the counter offset of the next training Forward.
func (d *Dropout) SetCounter(c uint64) { d.counter = c }

// Forward applies dropout to the x.Len() elements of x. In evaluation mode
// or with p = 0 it returns x itself; otherwise the result is owned by d and
// valid until the next Forward.
func (d *Dropout) Forward(x *host.F32) *host.F32 {
	d.active = d.training && d.P > 0
	if !d.active {
		return x
	}
	n := x.Len()
	d.offset = d.counter
	d.counter += uint64(n)
	y := d.y.get(d.be, n)
	d.be.Dropout(d.P, d.Seed, d.offset, x, y)
	return y
}

// Backward returns the gradient of the last Forward's input: dy masked and
// scaled as the forward was (dy itself when Forward was the identity).
func (d *Dropout) Backward(dy *host.F32) *host.F32 {
	if !d.active {
		return dy
	}
	dx := d.dx.get(d.be, dy.Len())
	d.be.DropoutBackward(d.P, d.Seed, d.offset, dy, dx)
	return dx
}

// Release frees d's buffers.
func (d *Dropout) Release() {
	d.y.release(d.be)
	d.dx.release(d.be)
}
