package model

import "github.com/emotionlab/emotion/host"

// ReLU is torch.nn.ReLU: y = max(x, 0) elementwise. It has no parameters.
type ReLU struct {
	be host.Backend
	y  layerBuf
	dx layerBuf
}

// NewReLU returns a ReLU layer.
func NewReLU(be host.Backend) *ReLU { return &ReLU{be: be} }

// Forward computes y = max(x, 0) over x.Len() elements. The result is owned
// by r and valid until the next Forward; Backward reads it.
func (r *ReLU) Forward(x *host.F32) *host.F32 {
	y := r.y.get(r.be, x.Len())
	r.be.ReLU(x, y)
	return y
}

// Backward returns dx = dy where the last output was positive, else 0.
func (r *ReLU) Backward(dy *host.F32) *host.F32 {
	dx := r.dx.get(r.be, dy.Len())
	r.be.ReLUBackward(r.y.view, dy, dx)
	return dx
}

// Release frees r's buffers.
func (r *ReLU) Release() {
	r.y.release(r.be)
	r.dx.release(r.be)
}

// Tanh is torch.nn.Tanh: y = tanh(x) elementwise. It has no parameters.
type Tanh struct {
	be host.Backend
	y  layerBuf
	dx layerBuf
}

// NewTanh returns a Tanh layer.
func NewTanh(be host.Backend) *Tanh { return &Tanh{be: be} }

// Forward computes y = tanh(x) over x.Len() elements. The result is owned by
// t and valid until the next Forward; Backward reads it.
func (t *Tanh) Forward(x *host.F32) *host.F32 {
	y := t.y.get(t.be, x.Len())
	t.be.Tanh(x, y)
	return y
}

// Backward returns dx = dy·(1 − y²) from the last output y.
func (t *Tanh) Backward(dy *host.F32) *host.F32 {
	dx := t.dx.get(t.be, dy.Len())
	t.be.TanhBackward(t.y.view, dy, dx)
	return dx
}

// Release frees t's buffers.
func (t *Tanh) Release() {
	t.y.release(t.be)
	t.dx.release(t.be)
}
