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

// TestAdamClip checks gradient clipping against the formula of
// torch.nn.utils.clip_grad_norm_ (coefficient min(1, max/(norm + 1e-6)),
// over the norm of every gradient together), including a norm just under
// the limit and non-finite gradients.
func TestAdamClip(t *testing.T) {
	be := newBackend(t)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name  string
		grads [][]float32
		max   float32
	}{
		{"above", [][]float32{{3, 0}, {4}}, 1},
		{"far below", [][]float32{{0.3, 0}, {0.4}}, 1},
		{"at the limit", [][]float32{{3, 0}, {4}}, 5}, // norm 5 ≤ 5, still times 5/(5 + 1e-6)
		{"NaN", [][]float32{{3, nan}, {4}}, 1},
		{"Inf", [][]float32{{3, inf}, {4}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var params []*Param
			var total float64
			for i, g := range tc.grads {
				p := newParam(be, string(rune('a'+i)), len(g))
				be.Upload(p.Grad, g)
				params = append(params, p)
				for _, v := range g {
					total += float64(v) * float64(v)
				}
			}
			opt := NewAdam(be, params, 1e-3)
			opt.ClipNorm = tc.max
			opt.clip()
			coef := math.Min(1, float64(tc.max)/(math.Sqrt(total)+1e-6))
			for i, g := range tc.grads {
				got := make([]float32, len(g))
				be.Download(got, params[i].Grad)
				if err := be.Sync(); err != nil {
					t.Fatal(err)
				}
				for j, v := range g {
					want := v * float32(coef) // Scale's float32 product: exact
					if got[j] != want && !(math.IsNaN(float64(got[j])) && math.IsNaN(float64(want))) {
						t.Errorf("grad %d[%d] = %v, want %v (coefficient %v)", i, j, got[j], want, coef)
					}
				}
			}
		})
	}
}
