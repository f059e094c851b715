package model

import (
	"fmt"

	"github.com/emotionlab/emotion/host"
)

// Param is a named trainable tensor, named and shaped as in PyTorch's
// state_dict (see the package documentation for the mapping). Value and Grad
// are backend buffers of Len() elements, row-major in Shape. Grad is
// accumulated by the layers' Backward and zeroed by the optimiser.
type Param struct {
	Name  string
	Shape []int
	Value *host.F32
	Grad  *host.F32
	// Frozen parameters (requires_grad=False) get no gradient and no
	// update: their layer skips them in Backward, Adam passes them over.
	Frozen bool
}

// Len is the number of elements of p: the product of its Shape.
func (p *Param) Len() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// Module is anything with trainable parameters. Params returns them in a
// fixed order, the order of the PyTorch module's state_dict.
type Module interface {
	Params() []*Param
}

// ZeroGrads sets the gradients of every parameter of m to zero.
func ZeroGrads(be host.Backend, m Module) {
	for _, p := range m.Params() {
		be.Fill(p.Grad, 0)
	}
}

// NumParams is the total number of trainable elements of m.
func NumParams(m Module) int {
	n := 0
	for _, p := range m.Params() {
		n += p.Len()
	}
	return n
}

// newParam allocates a zeroed parameter and its zeroed gradient.
func newParam(be host.Backend, name string, shape ...int) *Param {
	p := &Param{Name: name, Shape: shape}
	p.Value = be.Alloc(p.Len())
	p.Grad = be.Alloc(p.Len())
	return p
}

// paramSpec names and shapes a parameter of newAdjacentParams.
type paramSpec struct {
	name  string
	shape []int
}

// newAdjacentParams allocates zeroed parameters one after another in one
// value allocation and one gradient allocation, which it returns for the
// owner to free: the optimiser then updates them with one op.
func newAdjacentParams(be host.Backend, specs ...paramSpec) (ps []*Param, values, grads *host.F32) {
	n := 0
	for _, sp := range specs {
		ps = append(ps, &Param{Name: sp.name, Shape: sp.shape})
		n += ps[len(ps)-1].Len()
	}
	values, grads = be.Alloc(n), be.Alloc(n)
	off := 0
	for _, p := range ps {
		p.Value, p.Grad = values.Slice(off, p.Len()), grads.Slice(off, p.Len())
		off += p.Len()
	}
	return ps, values, grads
}

// paramBinder is a module that keeps views spanning several of its
// parameters (an LSTM's per-direction block, a Linear's weight and bias).
type paramBinder interface {
	// bindParams, called once its parameters have moved, frees the
	// allocations they were made in and takes its views from where they
	// are now.
	bindParams()
}

// packParams moves the parameters of modules, in order, into one value
// allocation and one gradient allocation, which it returns (values copied,
// gradients zero), and frees the ones they were made in. The optimiser then
// updates and zeroes every parameter with one op (Adam joins adjacent
// parameters), and a module's parameters stay adjacent as they were.
func packParams(be host.Backend, modules ...Module) (values, grads *host.F32) {
	var ps []*Param
	for _, m := range modules {
		ps = append(ps, m.Params()...)
	}
	n := NumParams(paramList(ps))
	values, grads = be.Alloc(n), be.Alloc(n)
	off := 0
	for _, p := range ps {
		v, g := values.Slice(off, p.Len()), grads.Slice(off, p.Len())
		be.Copy(v, p.Value)
		be.Free(p.Value) // a parameter allocated alone; Free ignores views, which their module frees
		be.Free(p.Grad)
		p.Value, p.Grad = v, g
		off += p.Len()
	}
	for _, m := range modules {
		if b, ok := m.(paramBinder); ok {
			b.bindParams()
		}
	}
	return values, grads
}

// paramList is a Module of a fixed list of parameters.
type paramList []*Param

// Params returns the list.
func (l paramList) Params() []*Param { return l }

// freeParams returns the buffers of ps to the backend's pool. Views of a
// larger allocation are not freed (Free ignores views); the owner frees the
// allocation.
func freeParams(be host.Backend, ps ...*Param) {
	for _, p := range ps {
		if p == nil {
			continue
		}
		be.Free(p.Value)
		be.Free(p.Grad)
		p.Value, p.Grad = nil, nil
	}
}

// paramName joins a module prefix and a parameter name as PyTorch does:
// "lstm" and "weight_ih_l0" give "lstm.weight_ih_l0"; an empty prefix gives
// the name alone.
func paramName(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// checkPositive returns an error naming the layer and the size when v is not
// positive. Combine several with errors.Join.
func checkPositive(layer, name string, v int) error {
	if v <= 0 {
		return fmt.Errorf("model: %s: %s = %d, must be positive", layer, name, v)
	}
	return nil
}

// layerBuf is a device buffer owned by a layer (an output, a saved
// activation, an input gradient). It grows only when a bigger size is
// asked for, so that a training step with the shapes of an earlier one
// allocates nothing. Its contents are not cleared when it is reused.
type layerBuf struct {
	all  *host.F32 // the allocation
	view *host.F32 // the last view handed out
}

// get returns a view of exactly n elements, reallocating (zeroed) only when
// the allocation is smaller than n.
func (b *layerBuf) get(be host.Backend, n int) *host.F32 {
	if b.view != nil && b.view.Len() == n {
		return b.view
	}
	if b.all == nil || b.all.Len() < n {
		be.Free(b.all)
		b.all = be.Alloc(max(n, 1)) // a view of 0 elements needs an allocation too
	}
	b.view = b.all.Slice(0, n)
	return b.view
}

// release returns the allocation to the backend's pool.
func (b *layerBuf) release(be host.Backend) {
	if b.all != nil {
		be.Free(b.all)
	}
	b.all, b.view = nil, nil
}

// onesBuf is a buffer of ones that grows as needed, filled only when it is
// (re)allocated.
type onesBuf struct{ layerBuf }

// get returns a view of n ones (the last one again for the same n).
func (b *onesBuf) get(be host.Backend, n int) *host.F32 {
	if b.all.Len() < n {
		be.Free(b.all)
		b.all = be.Alloc(n)
		be.Fill(b.all, 1)
		b.view = nil
	}
	if b.view == nil || b.view.Len() != n {
		b.view = b.all.Slice(0, n)
	}
	return b.view
}
