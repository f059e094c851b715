package host

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// vmSweep returns the float32 values of [−lim, lim] at a relative step of
// about step, both signs, and 0.
func vmSweep(lim float32, step float64) []float32 {
	var xs []float32
	for x := float32(1e-30); x <= lim; x = math.Nextafter32(x, lim+1) + float32(step*float64(x)) {
		xs = append(xs, x, -x)
	}
	return append(xs, 0)
}

// vmSpecials are values where the functions saturate, underflow or must
// keep their sign.
func vmSpecials() []float32 {
	inf := float32(math.Inf(1))
	return []float32{
		0, float32(math.Copysign(0, -1)), inf, -inf,
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		1e-38, -1e-38, 1e-20, -1e-20, 0.0625, -0.0625, math.Nextafter32(0.0625, 0), -math.Nextafter32(0.0625, 0),
		9, -9, 17, -17, 20, -20, 88, -88, 89, -89, 103, -103, 104, -104, 150, -150, 200, -200, 201, -201, 1e30, -1e30,
	}
}

// TestVecMath32Accuracy sweeps sigmoid32v and tanh32v over [−20, 20] and
// beyond against float64 math: relative error at most 2⁻²⁴ (half an ulp,
// 6e-8) plus the float64 error where the result is a normal float32, and
// almost always the correctly rounded value; and checks saturation,
// underflow, signed zeros, infinities and NaN.
func TestVecMath32Accuracy(t *testing.T) {
	tests := []struct {
		name string
		f    func(float32) float32
		ref  func(float64) float64
	}{
		{"sigmoid32v", sigmoid32v, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
		{"tanh32v", tanh32v, math.Tanh},
	}
	xs := append(vmSweep(20, 1e-4), vmSweep(300, 1e-3)...)
	xs = append(xs, vmSpecials()...)
	for _, tt := range tests {
		var maxRel float64
		off := 0
		for _, x := range xs {
			got, ref := tt.f(x), tt.ref(float64(x))
			want := float32(ref)
			if got == want && math.Signbit(float64(got)) == math.Signbit(float64(want)) {
				if math.Abs(ref) >= 0x1p-126 { // float32 normal: below, the error is the underflow's
					maxRel = max(maxRel, math.Abs(float64(got)-ref)/math.Abs(ref))
				}
				continue
			}
			off++
			rel := math.Abs(float64(got)-ref) / math.Abs(ref)
			if !(rel <= 7e-8) {
				t.Fatalf("%s(%g) = %g, want %g (relative error %.3g)", tt.name, x, got, want, rel)
			}
			maxRel = max(maxRel, rel)
		}
		if off > len(xs)/100000 {
			t.Errorf("%s: %d of %d values not correctly rounded", tt.name, off, len(xs))
		}
		t.Logf("%s: %d values, %d not correctly rounded, max relative error %.3g", tt.name, len(xs), off, maxRel)
		if got := tt.f(float32(math.NaN())); !math.IsNaN(float64(got)) {
			t.Errorf("%s(NaN) = %g", tt.name, got)
		}
	}
}

// TestVecMath32Kernels checks that vecSigmoid32 and vecTanh32 (the AVX2
// kernels where the CPU has them) give the bits of the scalar functions at
// every length around the four-lane blocks, in place too, on sweeps, special
// values, NaN and random values.
func TestVecMath32Kernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	src := append(vmSweep(30, 1e-3), vmSpecials()...)
	src = append(src, float32(math.NaN()), float32(math.NaN()))
	for range 4096 {
		src = append(src, float32(rng.NormFloat64()*8))
	}
	for _, tt := range []struct {
		name   string
		vec    func(dst, src []float32)
		scalar func(float32) float32
	}{
		{"sigmoid", vecSigmoid32, sigmoid32v},
		{"tanh", vecTanh32, tanh32v},
	} {
		same := func(what string, x, got float32) {
			t.Helper()
			want := tt.scalar(x)
			if math.Float32bits(got) != math.Float32bits(want) && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
				t.Fatalf("%s %s(%g) = %g (%#x), scalar %g (%#x)", tt.name, what, x, got, math.Float32bits(got), want, math.Float32bits(want))
			}
		}
		dst := make([]float32, len(src))
		tt.vec(dst, src)
		for i, x := range src {
			same("", x, dst[i])
		}
		for n := range 19 {
			for off := range 3 {
				s := src[off*97 : off*97+n]
				d := make([]float32, n+1)
				d[n] = -5
				tt.vec(d, s)
				for i, x := range s {
					same(fmt.Sprintf("n=%d", n), x, d[i])
				}
				if d[n] != -5 {
					t.Fatalf("%s n=%d: wrote past the end", tt.name, n)
				}
				in := append([]float32(nil), s...)
				tt.vec(in, in)
				for i, x := range s {
					same(fmt.Sprintf("in place n=%d", n), x, in[i])
				}
			}
		}
	}
}

// TestVecMath32Go runs TestVecMath32Kernels' checks on the Go loops: with
// the AVX2 kernels off, the same bits come out.
func TestVecMath32Go(t *testing.T) {
	if !hasAVX2FMA {
		t.Skip("no AVX2+FMA: TestVecMath32Kernels ran the Go loops")
	}
	xs := append(vmSweep(30, 1e-3), vmSpecials()...)
	asm := make([]float32, len(xs))
	goLoop := make([]float32, len(xs))
	for _, f := range []func(dst, src []float32){vecSigmoid32, vecTanh32} {
		f(asm, xs)
		func() {
			defer func() { hasAVX2FMA = true }()
			hasAVX2FMA = false
			f(goLoop, xs)
		}()
		for i := range xs {
			if math.Float32bits(asm[i]) != math.Float32bits(goLoop[i]) {
				t.Fatalf("x=%g: kernel %g, Go loop %g", xs[i], asm[i], goLoop[i])
			}
		}
	}
}

// BenchmarkVecMath32 measures the vector sigmoid and tanh against the
// float64 math helpers, per value.
func BenchmarkVecMath32(b *testing.B) {
	src := make([]float32, 256)
	for i := range src {
		src[i] = float32(i-128) / 16
	}
	dst := make([]float32, len(src))
	for _, bm := range []struct {
		name string
		f    func(dst, src []float32)
	}{
		{"vecSigmoid32", vecSigmoid32},
		{"vecTanh32", vecTanh32},
		{"sigmoid32", func(d, s []float32) {
			for i, v := range s {
				d[i] = sigmoid32(v)
			}
		}},
		{"tanh32", func(d, s []float32) {
			for i, v := range s {
				d[i] = tanh32(v)
			}
		}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for range b.N {
				bm.f(dst, src)
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*len(src)), "ns/value")
		})
	}
}
