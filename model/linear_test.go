package model

import (
	"fmt"
	"math"
	"testing"
)

// refLinear computes y = x·wᵀ + b over rows of x (b may be nil).
func refLinear(rows, in, out int, x, w, b []float64) []float64 {
	y := make([]float64, rows*out)
	for r := range rows {
		for o := range out {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for i := range in {
				s += w[o*in+i] * x[r*in+i]
			}
			y[r*out+o] = s
		}
	}
	return y
}

func TestLinearGradients(t *testing.T) {
	tests := []struct {
		rows, in, out int
		bias          bool
	}{
		{7, 5, 3, true},
		{1, 9, 4, true},
		{5, 3, 6, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%dx%d->%d bias=%v", tc.rows, tc.in, tc.out, tc.bias), func(t *testing.T) {
			be := newBackend(t)
			l, err := NewLinear(be, NewRNG(2), "fc", tc.in, tc.out, tc.bias)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			rng := testRand(uint64(tc.rows))
			var vars []gradVar
			for _, p := range l.Params() {
				v := paramVals(t, be, p) // the initialisation itself
				vars = append(vars, gradVar{name: p.Name, vals: v})
			}
			w := vars[0].vals
			var b []float64
			if tc.bias {
				b = vars[1].vals
			}
			x := randVals(rng, tc.rows*tc.in, 1)
			y := l.Forward(tc.rows, upload(be, x))
			checkForward(t, "output", download(t, be, y), refLinear(tc.rows, tc.in, tc.out, x, w, b))
			r := randVals(rng, tc.rows*tc.out, 1)
			// Two Backward calls: parameter gradients accumulate, the input
			// gradient does not.
			l.Backward(upload(be, r))
			dx := l.Backward(upload(be, r))
			for i, p := range l.Params() {
				vars[i].got = download(t, be, p.Grad)
				for j := range vars[i].got {
					vars[i].got[j] /= 2
				}
			}
			vars = append(vars, gradVar{name: "x", vals: x, got: download(t, be, dx)})
			checkGrads(t, vars, func() float64 { return dotLoss(refLinear(tc.rows, tc.in, tc.out, x, w, b), r) })
		})
	}
}

func TestLinearInit(t *testing.T) {
	be := newBackend(t)
	l, err := NewLinear(be, NewRNG(1), "classifier", 16, 40, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.Weight.Name != "classifier.weight" || l.Bias.Name != "classifier.bias" {
		t.Errorf("names %q %q", l.Weight.Name, l.Bias.Name)
	}
	bound := 0.25 // 1/√16
	for _, p := range l.Params() {
		v := download(t, be, p.Value)
		mean, hi := 0.0, 0.0
		for _, x := range v {
			mean += float64(x) / float64(len(v))
			hi = max(hi, math.Abs(float64(x)))
		}
		if hi > bound || hi < 0.8*bound || math.Abs(mean) > 0.1 {
			t.Errorf("%s: max |v| %g mean %g, want U(±%g)", p.Name, hi, mean, bound)
		}
	}
	if _, err := NewLinear(be, NewRNG(1), "", 0, 3, true); err == nil {
		t.Error("accepted in = 0")
	}
}
