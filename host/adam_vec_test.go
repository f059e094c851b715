package host

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestAdamVecBits checks that adamStep.update, which hands all but the last
// few elements to the AVX kernel where there is one, gives the same bits as
// updateGo, element by element, at every length up to 40 and at offsets
// that break the alignment, on values that include zeros of both signs,
// tiny and huge gradients, and a NaN.
func TestAdamVecBits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 3e20, -7e19, float32(math.NaN()), 1, -1}
	for _, params := range []AdamParams{
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1},
		{LR: 3e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, Step: 17},
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 4, WeightDecay: 0.01},                  // Go only
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 4, WeightDecay: 0.01, Decoupled: true}, // Go only
	} {
		a := adamConsts(params)
		for _, n := range append([]int{1, 7, 8, 9, 15, 16, 17, 33, 40}, 1000) {
			for _, off := range []int{0, 1, 3} {
				mk := func(scale float64) []float32 {
					x := make([]float32, off+n)
					for i := range x {
						x[i] = float32(r.NormFloat64() * scale)
						if r.IntN(8) == 0 {
							x[i] = special[r.IntN(len(special))]
						}
					}
					return x
				}
				p, g, m, v := mk(1), mk(0.1), mk(0.01), mk(0.001)
				for i := range v {
					v[i] = float32(math.Abs(float64(v[i]))) // a second moment is not negative
				}
				cp := func(x []float32) []float32 { return append([]float32(nil), x...) }
				p2, g2, m2, v2 := cp(p), cp(g), cp(m), cp(v)
				a.update(p[off:], g[off:], m[off:], v[off:], true)
				a.updateGo(p2[off:], g2[off:], m2[off:], v2[off:])
				clear(g2[off:])
				for _, c := range []struct {
					name      string
					got, want []float32
				}{{"p", p, p2}, {"g", g, g2}, {"m", m, m2}, {"v", v, v2}} {
					for i := range c.got {
						if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
							t.Fatalf("%+v n=%d off=%d: %s[%d] = %v (%#x), Go reference %v (%#x)", params, n, off, c.name, i,
								c.got[i], math.Float32bits(c.got[i]), c.want[i], math.Float32bits(c.want[i]))
						}
					}
				}
			}
		}
	}
}

// TestAdamStepLayout pins the field offsets adamAVX reads (vecmath_amd64.s).
func TestAdamStepLayout(t *testing.T) {
	var a adamStep
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"b1", unsafe.Offsetof(a.b1), 0}, {"b2", unsafe.Offsetof(a.b2), 4}, {"c1", unsafe.Offsetof(a.c1), 8},
		{"c2", unsafe.Offsetof(a.c2), 12}, {"eps", unsafe.Offsetof(a.eps), 16},
		{"stepSize", unsafe.Offsetof(a.stepSize), 20}, {"root", unsafe.Offsetof(a.root), 24},
	} {
		if c.got != c.want {
			t.Errorf("adamStep.%s at offset %d, the AVX kernel reads it at %d", c.name, c.got, c.want)
		}
	}
}

// BenchmarkAdamUpdate measures Adam's CPU update per element, the AVX path
// (update) against the Go loop (updateGo), over the sentence model's
// embedding (1,614 × 128, which stays in the L3 cache).
func BenchmarkAdamUpdate(b *testing.B) {
	n := 1614 * 128
	p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range p {
		p[i], g[i] = float32(i%17)/17, float32(i%5-2)/100
	}
	a := adamConsts(AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 3})
	for _, bm := range []struct {
		name string
		f    func()
	}{
		{"update", func() { a.update(p, g, m, v, false) }},
		{"updateGo", func() { a.updateGo(p, g, m, v) }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			for range b.N {
				bm.f()
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*n), "ns/element")
		})
	}
}
