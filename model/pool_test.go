package model

import (
	"fmt"
	"math"
	"testing"
)

// refMeanPool averages x [B, T, F] over each sequence's first lengths[b] steps.
func refMeanPool(B, T, F int, x []float64, lengths []int) []float64 {
	y := make([]float64, B*F)
	for b := range B {
		for t := range lengths[b] {
			for f := range F {
				y[b*F+f] += x[(b*T+t)*F+f] / float64(lengths[b])
			}
		}
	}
	return y
}

func TestMeanPoolGradients(t *testing.T) {
	tests := []struct {
		batch, steps, feat int
		lengths            []int
	}{
		{3, 5, 7, []int{5, 1, 3}},
		{1, 4, 3, []int{2}},
		{2, 3, 2, []int{0, 3}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.lengths), func(t *testing.T) {
			be := newBackend(t)
			p := NewMeanPool(be)
			defer p.Release()
			rng := testRand(4)
			B, T, F := tc.batch, tc.steps, tc.feat
			x := randVals(rng, B*T*F, 1)
			y := p.Forward(B, T, F, upload(be, x), uploadInts(be, tc.lengths))
			checkForward(t, "output", download(t, be, y), refMeanPool(B, T, F, x, tc.lengths))
			r := randVals(rng, B*F, 1)
			dx := p.Backward(upload(be, r))
			checkGrads(t, []gradVar{{"x", x, download(t, be, dx)}}, func() float64 {
				return dotLoss(refMeanPool(B, T, F, x, tc.lengths), r)
			})
		})
	}
}

// refAttentionPool returns the pooled [B, in] and the weights [B, T] of
// additive attention pooling with projection w [A, in], bias [A] and context
// v [A].
func refAttentionPool(B, T, in, A int, x, w, bias, v []float64, lengths []int) (y, alpha []float64) {
	y = make([]float64, B*in)
	alpha = make([]float64, B*T)
	for b := range B {
		L := lengths[b]
		score := make([]float64, L)
		for t := range L {
			for a := range A {
				z := bias[a]
				for i := range in {
					z += w[a*in+i] * x[(b*T+t)*in+i]
				}
				score[t] += v[a] * math.Tanh(z)
			}
		}
		p := refSoftmax(score, 1)
		copy(alpha[b*T:], p)
		for t := range L {
			for i := range in {
				y[b*in+i] += p[t] * x[(b*T+t)*in+i]
			}
		}
	}
	return y, alpha
}

func TestAttentionPoolGradients(t *testing.T) {
	tests := []struct {
		batch, steps, in, attn int
		lengths                []int
	}{
		{3, 5, 7, 5, []int{5, 1, 3}},
		{2, 6, 3, 9, []int{2, 6}},
		{1, 3, 4, 2, []int{3}},
		{3, 4, 3, 2, []int{0, 4, 1}},
	}
	worst := 0.0
	for _, tc := range tests {
		t.Run(fmt.Sprintf("B%d_T%d_in%d_A%d", tc.batch, tc.steps, tc.in, tc.attn), func(t *testing.T) {
			be := newBackend(t)
			a, err := NewAttentionPool(be, NewRNG(8), "pool", tc.in, tc.attn)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release()
			rng := testRand(uint64(tc.in + tc.attn))
			B, T, in, A := tc.batch, tc.steps, tc.in, tc.attn
			var vars []gradVar
			for _, p := range a.Params() {
				v := randVals(rng, p.Len(), 1)
				setParam(be, p, v)
				vars = append(vars, gradVar{name: p.Name, vals: v})
			}
			w, bias, v := vars[0].vals, vars[1].vals, vars[2].vals
			x := randVals(rng, B*T*in, 1)
			y := a.Forward(B, T, upload(be, x), uploadInts(be, tc.lengths))
			wantY, wantAlpha := refAttentionPool(B, T, in, A, x, w, bias, v, tc.lengths)
			checkForward(t, "pooled", download(t, be, y), wantY)
			checkForward(t, "weights", download(t, be, a.Weights()), wantAlpha)

			r := randVals(rng, B*in, 1)
			// Two Backward calls: parameter gradients accumulate, the input
			// gradient does not.
			a.Backward(upload(be, r))
			dx := a.Backward(upload(be, r))
			for i, p := range a.Params() {
				vars[i].got = download(t, be, p.Grad)
				for j := range vars[i].got {
					vars[i].got[j] /= 2
				}
			}
			vars = append(vars, gradVar{name: "x", vals: x, got: download(t, be, dx)})
			worst = max(worst, checkGrads(t, vars, func() float64 {
				y, _ := refAttentionPool(B, T, in, A, x, w, bias, v, tc.lengths)
				return dotLoss(y, r)
			}))
		})
	}
	t.Logf("AttentionPool: worst gradient relative error %.3g", worst)
}

func TestAttentionPoolParams(t *testing.T) {
	be := newBackend(t)
	a, err := NewAttentionPool(be, NewRNG(1), "pool", 6, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	want := []struct {
		name  string
		shape string
	}{{"pool.proj.weight", "[4 6]"}, {"pool.proj.bias", "[4]"}, {"pool.context.weight", "[1 4]"}}
	for i, p := range a.Params() {
		if p.Name != want[i].name || fmt.Sprint(p.Shape) != want[i].shape {
			t.Errorf("param %d = %s %v, want %s %s", i, p.Name, p.Shape, want[i].name, want[i].shape)
		}
	}
	if _, err := NewAttentionPool(be, NewRNG(1), "", 6, 0); err == nil {
		t.Error("accepted attnDim 0")
	}
}
