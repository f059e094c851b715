package model

import (
	"math"
	"testing"
)

// TestAdam checks the optimiser against torch.optim.Adam's update computed
// in float64, over three steps, on parameters that form runs (an LSTM's
// eight are adjacent in memory) and parameters that stand alone (a
// Linear's weight and bias, an embedding); that the gradients are zeroed
// after each update; and that Moments gives each parameter's own moments.
// Parameters that are not adjacent (two layers) are separate runs.
func TestAdam(t *testing.T) {
	be := newBackend(t)
	rng := NewRNG(5)
	lstm, err := NewLSTM(be, rng, LSTMConfig{In: 3, Hidden: 2, Bidirectional: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lstm.Release()
	lin, err := NewLinear(be, rng, "out", 3, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	defer lin.Release()
	params := append(lstm.Params(), lin.Params()...)

	const lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
	opt := NewAdam(be, params, lr)
	defer opt.Release()
	if got := len(opt.runs); got != 2 {
		t.Errorf("%d runs of parameters, want 2 (the LSTM's eight, the Linear's weight and bias)", got)
	}

	type state struct{ p, m, v []float64 }
	ref := make([]state, len(params))
	for i, p := range params {
		ref[i] = state{p: to64(download(t, be, p.Value)), m: make([]float64, p.Len()), v: make([]float64, p.Len())}
	}
	grng := testRand(8)
	for step := 1; step <= 3; step++ {
		for i, p := range params {
			g := randVals(grng, p.Len(), 1)
			be.Upload(p.Grad, to32(g))
			r := &ref[i]
			for k := range g {
				gk := float64(float32(g[k]))
				r.m[k] = b1*r.m[k] + (1-b1)*gk
				r.v[k] = b2*r.v[k] + (1-b2)*gk*gk
				mh := r.m[k] / (1 - math.Pow(b1, float64(step)))
				vh := r.v[k] / (1 - math.Pow(b2, float64(step)))
				r.p[k] -= lr * mh / (math.Sqrt(vh) + eps)
			}
		}
		opt.Update()
		for i, p := range params {
			if e := relErr(download(t, be, p.Value), ref[i].p); e > 1e-5 {
				t.Errorf("step %d: %s differs from torch.optim.Adam's by %.2g", step, p.Name, e)
			}
			for _, g := range download(t, be, p.Grad) {
				if g != 0 {
					t.Fatalf("step %d: %s's gradient not zeroed", step, p.Name)
				}
			}
			m, _ := opt.Moments(i)
			if e := relErr(download(t, be, m), ref[i].m); e > 1e-5 {
				t.Errorf("step %d: first moment of %s differs by %.2g", step, p.Name, e)
			}
		}
	}
}
