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

// TestAdamUpdateDecayEpsClip checks Update end to end against PyTorch's
// documented algorithm in float64 — clip_grad_norm_ over every gradient,
// then Adam's L2 penalty (g + wd·θ) or AdamW's decoupled decay
// (θ·(1 − lr·wd)), then θ −= lr·m̂/(√v̂ + ε) — with an ε large enough that
// its place relative to the bias correction shows (√v̂ + ε, not
// (√v + ε)/√(1 − β2ᵗ)). TestAdam covers the defaults, where neither decay
// nor clipping nor ε matters.
func TestAdamUpdateDecayEpsClip(t *testing.T) {
	for _, decoupled := range []bool{false, true} {
		t.Run(map[bool]string{false: "Adam", true: "AdamW"}[decoupled], func(t *testing.T) {
			be := newBackend(t)
			const lr, b1, b2, eps, wd, clip = 0.05, 0.8, 0.9, 0.1, 0.3, 0.5
			// Two parameters in separate allocations: two runs, one norm.
			params := []*Param{newParam(be, "a", 5), newParam(be, "b", 3)}
			defer freeParams(be, params...)
			rng := testRand(17)
			theta := make([][]float64, len(params))
			start := make([][]float64, len(params))
			m := make([][]float64, len(params))
			v := make([][]float64, len(params))
			for i, p := range params {
				theta[i] = randVals(rng, p.Len(), 1)
				start[i] = append([]float64(nil), theta[i]...)
				m[i], v[i] = make([]float64, p.Len()), make([]float64, p.Len())
				setParam(be, p, theta[i])
			}
			opt := NewAdam(be, params, lr)
			defer opt.Release()
			opt.Beta1, opt.Beta2, opt.Eps, opt.WeightDecay, opt.Decoupled, opt.ClipNorm = b1, b2, eps, wd, decoupled, clip
			for step := 1; step <= 3; step++ {
				grads := make([][]float64, len(params))
				var sq float64
				for i, p := range params {
					grads[i] = randVals(rng, p.Len(), 2) // norm well above clip
					be.Upload(p.Grad, to32(grads[i]))
					for _, g := range grads[i] {
						sq += g * g
					}
				}
				coef := math.Min(1, clip/(math.Sqrt(sq)+1e-6))
				if coef >= 1 {
					t.Fatal("test gradients do not need clipping")
				}
				for i := range params {
					for k, g := range grads[i] {
						g *= coef
						if decoupled {
							theta[i][k] *= 1 - lr*wd
						} else {
							g += wd * theta[i][k]
						}
						m[i][k] = b1*m[i][k] + (1-b1)*g
						v[i][k] = b2*v[i][k] + (1-b2)*g*g
						mh := m[i][k] / (1 - math.Pow(b1, float64(step)))
						vh := v[i][k] / (1 - math.Pow(b2, float64(step)))
						theta[i][k] -= lr * mh / (math.Sqrt(vh) + eps)
					}
				}
				opt.Update()
				// Compare the distance travelled, not the values, so that
				// a wrong update is not hidden by the parameters' size.
				for i, p := range params {
					got := download(t, be, p.Value)
					moved, want := make([]float32, len(got)), make([]float64, len(got))
					for k := range got {
						moved[k] = float32(float64(got[k]) - start[i][k])
						want[k] = theta[i][k] - start[i][k]
					}
					if e := relErr(moved, want); e > 1e-4 {
						t.Errorf("step %d: %s moved %v, want %v (relative error %.2g)", step, p.Name, moved, want, e)
					}
				}
			}
		})
	}
}

// TestAdamRunsNeedAdjacentGradients: parameters whose values are adjacent
// but whose gradients are not form separate runs (one fused op reads one
// span of values and one span of gradients), and each is updated from its
// own gradient.
func TestAdamRunsNeedAdjacentGradients(t *testing.T) {
	be := newBackend(t)
	values := be.Alloc(5)
	defer be.Free(values)
	a := &Param{Name: "a", Shape: []int{2}, Value: values.Slice(0, 2), Grad: be.Alloc(2)}
	b := &Param{Name: "b", Shape: []int{3}, Value: values.Slice(2, 3), Grad: be.Alloc(3)}
	defer be.Free(a.Grad)
	defer be.Free(b.Grad)
	opt := NewAdam(be, []*Param{a, b}, 0.1)
	defer opt.Release()
	if len(opt.runs) != 2 {
		t.Fatalf("%d runs, want 2: the gradients are not adjacent", len(opt.runs))
	}
	be.Upload(a.Grad, []float32{1, -1})
	be.Upload(b.Grad, []float32{0, 2, -3})
	opt.Update()
	// First step from zero moments: m̂ = g and v̂ = g², so each parameter
	// moves by −lr·g/(|g| + ε): −0.1·sign(g), nothing where g = 0.
	want := []float64{-0.1, 0.1, 0, -0.1, 0.1}
	if e := relErr(download(t, be, values), want); e > 1e-6 {
		t.Errorf("values %v, want %v", download(t, be, values), want)
	}
}

// TestAdamSetMomentsChecksSizes: moments of another size are refused, the
// first or the second.
func TestAdamSetMomentsChecksSizes(t *testing.T) {
	be := newBackend(t)
	p := newParam(be, "p", 3)
	defer freeParams(be, p)
	opt := NewAdam(be, []*Param{p}, 1e-3)
	defer opt.Release()
	if err := opt.SetMoments(0, make([]float32, 3), make([]float32, 3)); err != nil {
		t.Fatal(err)
	}
	for _, mv := range [][2]int{{2, 3}, {3, 4}, {4, 4}} {
		if err := opt.SetMoments(0, make([]float32, mv[0]), make([]float32, mv[1])); err == nil {
			t.Errorf("SetMoments accepted moments of %d and %d elements for 3", mv[0], mv[1])
		}
	}
}
