package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/emotionlab/emotion/host"
)

// Tolerances: the float32 forward against the float64 reference, and the
// float32 Backward against float64 central differences (DESIGN.md).
const (
	forwardTol = 1e-4
	gradTol    = 1e-3
	fdStep     = 1e-6 // central-difference step in float64
)

// newBackend returns the CPU reference backend for a test.
func newBackend(t testing.TB) host.Backend {
	t.Helper()
	return host.NewCPU(2)
}

// testRand returns a seeded generator for test data.
func testRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x5eed))
}

// randVals returns n uniform values in [−scale, scale), rounded to float32 so
// that the float32 layer and the float64 reference see the same numbers.
func randVals(r *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(float32(scale * (2*r.Float64() - 1)))
	}
	return v
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func to64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// upload copies v into a new backend buffer.
func upload(be host.Backend, v []float64) *host.F32 {
	b := be.Alloc(len(v))
	be.Upload(b, to32(v))
	return b
}

// uploadInts copies v into a new int32 backend buffer.
func uploadInts(be host.Backend, v []int) *host.I32 {
	b := be.AllocI32(len(v))
	w := make([]int32, len(v))
	for i, x := range v {
		w[i] = int32(x)
	}
	be.UploadI32(b, w)
	return b
}

// download returns b's contents, failing the test on a backend error.
func download(t testing.TB, be host.Backend, b *host.F32) []float32 {
	t.Helper()
	out := make([]float32, b.Len())
	be.Download(out, b)
	if err := be.Err(); err != nil {
		t.Fatalf("backend: %v", err)
	}
	return out
}

// setParam uploads v (float32-representable) into p.
func setParam(be host.Backend, p *Param, v []float64) {
	be.Upload(p.Value, to32(v))
}

// paramVals downloads p's values as float64.
func paramVals(t testing.TB, be host.Backend, p *Param) []float64 {
	t.Helper()
	return to64(download(t, be, p.Value))
}

// relErr is the norm-based relative error ‖got − want‖₂ / ‖want‖₂, with the
// absolute error when want is (nearly) zero.
func relErr(got []float32, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range want {
		d := float64(got[i]) - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	if den < 1e-20 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// dotLoss is the scalar Σ out·r whose gradient with respect to out is r.
func dotLoss(out, r []float64) float64 {
	s := 0.0
	for i := range out {
		s += out[i] * r[i]
	}
	return s
}

// gradVar is one differentiable input of a gradient check: its float64
// values (perturbed in place by the check, then restored) and the gradient
// the layer's Backward computed.
type gradVar struct {
	name string
	vals []float64
	got  []float32
}

// numericGrad returns the central-difference gradient of loss with respect
// to vals, perturbing vals in place and restoring it.
func numericGrad(vals []float64, loss func() float64) []float64 {
	g := make([]float64, len(vals))
	for i, v := range vals {
		vals[i] = v + fdStep
		lp := loss()
		vals[i] = v - fdStep
		lm := loss()
		vals[i] = v
		g[i] = (lp - lm) / (2 * fdStep)
	}
	return g
}

// checkGrads compares every variable's Backward gradient with central
// differences of the float64 reference loss, fails the test above gradTol
// and returns the worst relative error.
func checkGrads(t *testing.T, vars []gradVar, loss func() float64) float64 {
	t.Helper()
	worst := 0.0
	for _, v := range vars {
		want := numericGrad(v.vals, loss)
		e := relErr(v.got, want)
		if e > gradTol || math.IsNaN(e) {
			t.Errorf("gradient of %s: relative error %.3g > %g\n got %v\nwant %v", v.name, e, gradTol, v.got, want)
		}
		worst = max(worst, e)
	}
	t.Logf("worst gradient relative error %.3g", worst)
	return worst
}

// checkForward fails the test when the float32 output is not within
// forwardTol of the float64 reference, and returns the relative error.
func checkForward(t *testing.T, what string, got []float32, want []float64) float64 {
	t.Helper()
	e := relErr(got, want)
	if e > forwardTol || math.IsNaN(e) {
		t.Errorf("%s: relative error %.3g > %g\n got %v\nwant %v", what, e, forwardTol, got, want)
	}
	t.Logf("%s: forward relative error %.3g", what, e)
	return e
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// refSoftmax returns softmax(scale·x) over x (float64 reference).
func refSoftmax(x []float64, scale float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, scale*v)
	}
	out := make([]float64, len(x))
	s := 0.0
	for i, v := range x {
		out[i] = math.Exp(scale*v - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

func TestRelErr(t *testing.T) {
	tests := []struct {
		got  []float32
		want []float64
		err  float64
	}{
		{[]float32{1, 2}, []float64{1, 2}, 0},
		{[]float32{3, 0}, []float64{4, 0}, 0.25},
		{[]float32{1e-3}, []float64{0}, 1e-3},
	}
	for _, tc := range tests {
		if e := relErr(tc.got, tc.want); math.Abs(e-tc.err) > 1e-9 {
			t.Errorf("relErr(%v, %v) = %g, want %g", tc.got, tc.want, e, tc.err)
		}
	}
	// The check itself must catch a wrong gradient.
	vals := []float64{0.3, -0.7}
	loss := func() float64 { return vals[0] * vals[0] * vals[1] }
	want := numericGrad(vals, loss)
	if e := relErr([]float32{2 * 0.3 * -0.7, 0.09}, want); e > 1e-6 {
		t.Errorf("numericGrad of x²y: relative error %g", e)
	}
	if e := relErr([]float32{2 * 0.3 * -0.7, 0.1}, want); e < 1e-3 {
		t.Errorf("a wrong gradient passes with relative error %g", e)
	}
}
