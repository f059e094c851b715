package model

import (
	"math"
	"testing"
)

func TestEmbeddingGradients(t *testing.T) {
	tests := []struct {
		name string
		pad  int
		ids  []int
	}{
		{"pad 0", 0, []int{3, 0, 5, 3, 8, 0, 1, 3, 2}},
		{"no pad", -1, []int{0, 4, 4, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t)
			const V, E = 9, 5
			e, err := NewEmbedding(be, NewRNG(4), "embedding", V, E, tc.pad)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Release()
			w := paramVals(t, be, e.Weight)
			ref := func() []float64 {
				out := make([]float64, len(tc.ids)*E)
				for i, id := range tc.ids {
					if id != tc.pad {
						copy(out[i*E:(i+1)*E], w[id*E:])
					}
				}
				return out
			}
			ids := uploadInts(be, tc.ids)
			checkForward(t, "output", download(t, be, e.Forward(ids)), ref())
			r := randVals(testRand(1), len(tc.ids)*E, 1)
			e.Backward(upload(be, r))
			g := download(t, be, e.Weight.Grad)
			checkGrads(t, []gradVar{{"weight", w, g}}, func() float64 { return dotLoss(ref(), r) })
			if tc.pad >= 0 {
				for j := range E {
					if g[tc.pad*E+j] != 0 {
						t.Fatalf("padding row received gradient %v", g[tc.pad*E:(tc.pad+1)*E])
					}
				}
			}
		})
	}
}

func TestEmbeddingInit(t *testing.T) {
	be := newBackend(t)
	const V, E, pad = 200, 50, 0
	e, err := NewEmbedding(be, NewRNG(1), "embedding", V, E, pad)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	if e.Weight.Name != "embedding.weight" {
		t.Errorf("name %q", e.Weight.Name)
	}
	w := download(t, be, e.Weight.Value)
	for j := range E {
		if w[pad*E+j] != 0 {
			t.Fatalf("padding row not zero: %v", w[:E])
		}
	}
	var s, s2 float64
	rest := w[E:]
	for _, x := range rest {
		s += float64(x)
		s2 += float64(x) * float64(x)
	}
	n := float64(len(rest))
	mean, variance := s/n, s2/n-(s/n)*(s/n)
	// N(0, 1) over 9950 draws: mean within 4σ/√n ≈ 0.04, variance within ≈ 0.06.
	if math.Abs(mean) > 0.04 || math.Abs(variance-1) > 0.06 {
		t.Errorf("weights have mean %g and variance %g, want N(0, 1)", mean, variance)
	}
	if _, err := NewEmbedding(be, NewRNG(1), "", 5, 3, 5); err == nil {
		t.Error("accepted padding index 5 for a vocabulary of 5")
	}
}
