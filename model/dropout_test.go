package model

import (
	"math"
	"testing"

	"github.com/emotionlab/emotion/host"
)

func TestDropout(t *testing.T) {
	const n, p, seed = 4001, 0.3, 42
	be := newBackend(t)
	d, err := NewDropout(be, p, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	rng := testRand(3)
	x := randVals(rng, n, 1)
	for i := range x {
		if x[i] == 0 {
			x[i] = 1
		}
	}
	xb := upload(be, x)
	dyv := randVals(rng, n, 1)
	dy := upload(be, dyv)

	// masks returns which elements one training Forward kept, checking the
	// scaling of the kept ones and that Backward applies the same mask.
	masks := func(offset uint64) []bool {
		t.Helper()
		if d.Counter() != offset {
			t.Fatalf("counter %d before Forward, want %d", d.Counter(), offset)
		}
		y := download(t, be, d.Forward(xb))
		dx := download(t, be, d.Backward(dy))
		keep := make([]bool, n)
		kept := 0
		for i := range n {
			keep[i] = y[i] != 0
			if keep[i] != host.DropoutKeep(p, seed, offset, i) {
				t.Fatalf("element %d kept=%v, host.DropoutKeep says %v", i, keep[i], !keep[i])
			}
			scale := 0.0
			if keep[i] {
				kept++
				scale = 1 / (1 - p)
			}
			if math.Abs(float64(y[i])-x[i]*scale) > 1e-6 || math.Abs(float64(dx[i])-dyv[i]*scale) > 1e-6 {
				t.Fatalf("element %d: y %g dx %g, want %g and %g", i, y[i], dx[i], x[i]*scale, dyv[i]*scale)
			}
		}
		// Binomial(n, 0.7): σ ≈ 29; allow 5σ.
		if math.Abs(float64(kept)-(1-p)*n) > 5*math.Sqrt(n*p*(1-p)) {
			t.Errorf("kept %d of %d, want about %g", kept, n, (1-p)*n)
		}
		return keep
	}
	first := masks(0)
	second := masks(n)
	same := 0
	for i := range first {
		if first[i] == second[i] {
			same++
		}
	}
	if same == n {
		t.Error("two training calls drew the same mask")
	}
	// Reproducible: rewinding the counter redraws the first mask.
	d.SetCounter(0)
	again := masks(0)
	for i := range first {
		if again[i] != first[i] {
			t.Fatalf("mask differs at %d after SetCounter(0)", i)
		}
	}

	// Evaluation mode is the identity and does not advance the counter.
	d.SetTraining(false)
	c := d.Counter()
	if y := d.Forward(xb); y != xb {
		t.Error("evaluation Forward did not return its input")
	}
	if dx := d.Backward(dy); dx != dy {
		t.Error("evaluation Backward did not return its input")
	}
	if d.Counter() != c {
		t.Error("evaluation Forward advanced the counter")
	}
	for _, bad := range []float32{-0.1, 1, float32(math.NaN())} {
		if _, err := NewDropout(be, bad, 1); err == nil {
			t.Errorf("NewDropout accepted p = %g", bad)
		}
	}
}
