package model

import (
	"testing"

	"github.com/emotionlab/emotion/host"
)

// countingBackend counts the allocations made through it.
type countingBackend struct {
	host.Backend
	allocs int
}

func (c *countingBackend) Alloc(n int) *host.F32 {
	c.allocs++
	return c.Backend.Alloc(n)
}

func (c *countingBackend) AllocI32(n int) *host.I32 {
	c.allocs++
	return c.Backend.AllocI32(n)
}

// TestSteadyStateAllocatesNothing runs every layer through a training step
// of a shape, then again with the same and with a smaller shape: only the
// first step may allocate.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	be := &countingBackend{Backend: newBackend(t)}
	rng := testRand(1)
	const B, T, E = 3, 5, 6
	x := upload(be, randVals(rng, B*T*E, 1))
	dSeq := upload(be, randVals(rng, B*T*E, 1))
	dVec := upload(be, randVals(rng, B*E, 1))
	dFin := upload(be, randVals(rng, B*3, 1))
	ids := uploadInts(be, []int{1, 2, 0, 3, 4, 5, 1, 0, 0, 0, 7, 7, 2, 0, 0})
	labels := uploadInts(be, []int{0, 2, -1})
	lengths := uploadInts(be, []int{5, 1, 3})
	short := uploadInts(be, []int{4, 1})

	emb, _ := NewEmbedding(be, NewRNG(1), "", 9, E, 0)
	lstm, _ := NewLSTM(be, NewRNG(1), LSTMConfig{In: E, Hidden: 3, Bidirectional: true})
	lin, _ := NewLinear(be, NewRNG(1), "", E, 4, true)
	drop, _ := NewDropout(be, 0.5, 1)
	mha, _ := NewMultiheadAttention(be, NewRNG(1), "", E, 2)
	pool, _ := NewAttentionPool(be, NewRNG(1), "", E, 4)
	ce, _ := NewCrossEntropyLoss(be, 4, []float32{1, 2, 1, 1})
	relu, tanh, mean := NewReLU(be), NewTanh(be), NewMeanPool(be)

	step := func(batch, steps int, lengths *host.I32) {
		n := batch * steps
		emb.Forward(ids.Slice(0, n))
		emb.Backward(dSeq.Slice(0, n*E))
		lstm.Forward(batch, steps, x.Slice(0, n*E), lengths)
		lstm.Backward(dSeq.Slice(0, n*E), dFin.Slice(0, batch*3), dFin.Slice(0, batch*3))
		lin.Forward(n, x.Slice(0, n*E))
		lin.Backward(dSeq.Slice(0, n*4))
		drop.Forward(x.Slice(0, n*E))
		drop.Backward(dSeq.Slice(0, n*E))
		mha.Forward(batch, steps, x.Slice(0, n*E), lengths)
		mha.Backward(dSeq.Slice(0, n*E))
		pool.Forward(batch, steps, x.Slice(0, n*E), lengths)
		pool.Backward(dVec.Slice(0, batch*E))
		ce.Forward(batch, x.Slice(0, batch*4), labels.Slice(0, batch))
		relu.Forward(x.Slice(0, n*E))
		relu.Backward(dSeq.Slice(0, n*E))
		tanh.Forward(x.Slice(0, n*E))
		tanh.Backward(dSeq.Slice(0, n*E))
		mean.Forward(batch, steps, E, x.Slice(0, n*E), lengths)
		mean.Backward(dVec.Slice(0, batch*E))
		if err := be.Err(); err != nil {
			t.Fatal(err)
		}
	}
	step(B, T, lengths)
	before := be.allocs
	step(B, T, lengths)
	step(2, 4, short)
	step(B, T, lengths)
	if n := be.allocs - before; n != 0 {
		t.Errorf("%d allocations after the first step", n)
	}
}
