package model

import (
	"math"
	"testing"

	"github.com/emotionlab/emotion/host"
)

func TestActivationGradients(t *testing.T) {
	type layer interface {
		Forward(x *host.F32) *host.F32
		Backward(dy *host.F32) *host.F32
		Release()
	}
	tests := []struct {
		name string
		new  func(be host.Backend) layer
		ref  func(float64) float64
	}{
		{"ReLU", func(be host.Backend) layer { return NewReLU(be) }, func(x float64) float64 { return max(x, 0) }},
		{"Tanh", func(be host.Backend) layer { return NewTanh(be) }, math.Tanh},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			l := tc.new(be)
			defer l.Release()
			rng := testRand(6)
			x := randVals(rng, 37, 2)
			for i := range x { // keep away from ReLU's kink at 0
				if math.Abs(x[i]) < 1e-3 {
					x[i] = 0.5
				}
			}
			ref := func() []float64 {
				y := make([]float64, len(x))
				for i, v := range x {
					y[i] = tc.ref(v)
				}
				return y
			}
			y := l.Forward(upload(be, x))
			checkForward(t, "output", download(t, be, y), ref())
			r := randVals(rng, len(x), 1)
			dx := l.Backward(upload(be, r))
			checkGrads(t, []gradVar{{"x", x, download(t, be, dx)}}, func() float64 { return dotLoss(ref(), r) })
		})
	}
}
