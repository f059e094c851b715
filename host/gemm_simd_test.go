package host

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// fma32Exact is x·y + z rounded once to float32, by exact arithmetic.
func fma32Exact(x, y, z float32) float32 {
	const prec = 400
	f := func(v float32) *big.Float { return new(big.Float).SetPrec(prec).SetFloat64(float64(v)) }
	p := new(big.Float).SetPrec(prec).Mul(f(x), f(y))
	s := new(big.Float).SetPrec(prec).Add(p, f(z))
	r, _ := s.Float32()
	return r
}

// TestFma32 checks the Go FMA against exact arithmetic, on special values,
// on products that land exactly halfway between two float32 values with a
// tiny addend (where rounding through float64 first goes wrong), and on
// random operands.
func TestFma32(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	mid := float32(1 + 1.0/4096) // mid² = 1 + 2⁻¹¹ + 2⁻²⁴, halfway between two float32s
	tiny := float32(math.Ldexp(1, -80))
	tests := []struct {
		x, y, z, want float32
	}{
		{1, 1, 0, 1},
		{2, 3, 4, 10},
		{0, inf, 1, nan},
		{inf, 1, -inf, nan},
		{inf, 2, 1, inf},
		{nan, 0, 0, nan},
		{math.MaxFloat32, 2, -math.MaxFloat32, math.MaxFloat32},
		{math.MaxFloat32, 2, 0, inf},
		{mid, mid, 0, 1 + 1.0/2048},                  // tie to even: down
		{mid, mid, tiny, 1 + 1.0/2048 + 1.0/(1<<23)}, // just above the tie: up
		{mid, mid, -tiny, 1 + 1.0/2048},              // just below: down
		{-mid, mid, -tiny, -(1 + 1.0/2048 + 1.0/(1<<23))},
	}
	for _, tt := range tests {
		got := fma32(tt.x, tt.y, tt.z)
		if math.Float32bits(got) != math.Float32bits(tt.want) && !(math.IsNaN(float64(got)) && math.IsNaN(float64(tt.want))) {
			t.Errorf("fma32(%g, %g, %g) = %g, want %g", tt.x, tt.y, tt.z, got, tt.want)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	// short significands: products of 13-bit significands often land on a
	// tie of float32, which a tiny z must then break.
	short := func() float32 {
		m := float64(rng.IntN(1<<13) | 1<<12)
		return float32(math.Ldexp(m, rng.IntN(20)-22))
	}
	for i := range 200000 {
		var x, y, z float32
		switch i % 3 {
		case 0:
			x, y = short(), short()
			z = float32(math.Ldexp(rng.Float64()-0.5, -rng.IntN(60)))
		case 1:
			x, y, z = short(), short(), short()
		default:
			x = float32(math.Ldexp(rng.Float64()-0.5, rng.IntN(40)-20))
			y = float32(math.Ldexp(rng.Float64()-0.5, rng.IntN(40)-20))
			z = float32(math.Ldexp(rng.Float64()-0.5, rng.IntN(80)-40))
		}
		if got, want := fma32(x, y, z), fma32Exact(x, y, z); got != want {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", x, y, z, got, want)
		}
	}
}

// TestSgemmKernel checks that the micro-kernel (the assembly one where the
// CPU has it) gives the Go kernel's values bit for bit, for every operand
// layout, depths around the unrolling, alpha and beta, and that without
// load it neither reads C (NaN there) nor writes outside the 6×16 block.
func TestSgemmKernel(t *testing.T) {
	if !hasAVX2FMA {
		t.Log("no AVX2+FMA: sgemmKernel is the Go kernel")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	nan := float32(math.NaN())
	for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 255, 256} {
		for _, layout := range []struct {
			name     string
			rs, cs   int
			elements int
		}{
			{"packed", 1, sgemmMR, sgemmMR * kc},
			{"rows", kc + 3, 1, (sgemmMR-1)*(kc+3) + kc},
			{"columns", 1, 11, sgemmMR + (kc-1)*11},
		} {
			for _, ab := range []struct {
				alpha, beta float32
				load        bool
			}{{1, 0, false}, {-0.75, 0, false}, {1, 1, true}, {0.5, -1.5, true}, {2, 0, true}} {
				name := fmt.Sprintf("kc=%d/%s/alpha=%g,beta=%g,load=%v", kc, layout.name, ab.alpha, ab.beta, ab.load)
				a, b := make([]float32, layout.elements), make([]float32, sgemmNR*kc)
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				for i := range b {
					b[i] = float32(rng.NormFloat64())
				}
				const ldc = 21
				c0 := make([]float32, sgemmMR*ldc)
				for i := range c0 {
					switch {
					case i%ldc >= sgemmNR:
						c0[i] = -7 // outside the block: must stay
					case ab.load:
						c0[i] = float32(rng.NormFloat64())
					default:
						c0[i] = nan
					}
				}
				got, want := append([]float32(nil), c0...), append([]float32(nil), c0...)
				sgemmKernel(kc, a, layout.rs, layout.cs, b, got, ldc, ab.alpha, ab.beta, ab.load)
				sgemmKernelGo(kc, a, layout.rs, layout.cs, b, want, ldc, ab.alpha, ab.beta, ab.load)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: c[%d] = %g, Go kernel %g", name, i, got[i], want[i])
					}
				}
				// The 8-column kernel: the left half of the same values, the
				// right half untouched.
				half := append([]float32(nil), c0...)
				sgemmKernel8(kc, a, layout.rs, layout.cs, b, half, ldc, ab.alpha, ab.beta, ab.load)
				for i := range half {
					w := want[i]
					if i%ldc >= sgemmNR/2 {
						w = c0[i]
					}
					if math.Float32bits(half[i]) != math.Float32bits(w) {
						t.Fatalf("%s: 8 columns: c[%d] = %g, want %g", name, i, half[i], w)
					}
				}
				// The Go kernel against float64 sums.
				for r := range sgemmMR {
					for j := range sgemmNR {
						var s, bound float64
						for p := range kc {
							v := float64(a[r*layout.rs+p*layout.cs]) * float64(b[p*sgemmNR+j])
							s += v
							bound += math.Abs(v)
						}
						w := float64(ab.alpha) * s
						bound *= math.Abs(float64(ab.alpha))
						if ab.load {
							w += float64(ab.beta) * float64(c0[r*ldc+j])
							bound += math.Abs(float64(ab.beta) * float64(c0[r*ldc+j]))
						}
						if g := float64(want[r*ldc+j]); !(math.Abs(g-w) <= 1e-5*bound+1e-30) {
							t.Fatalf("%s: c[%d][%d] = %g, want %g", name, r, j, g, w)
						}
					}
				}
			}
		}
	}
}

// TestSgemmPackT16 checks the transposing B packer at depths around its
// 8-step blocks.
func TestSgemmPackT16(t *testing.T) {
	for _, kc := range []int{1, 7, 8, 9, 16, 100, 256} {
		const ld = 261
		src := make([]float32, (sgemmNR-1)*ld+kc)
		for i := range src {
			src[i] = float32(i)
		}
		dst := make([]float32, sgemmNR*kc+5)
		for i := range dst {
			dst[i] = -1
		}
		sgemmPackT16(dst, src, ld, kc)
		for i, v := range dst {
			want := float32(-1)
			if i < sgemmNR*kc {
				p, j := i/sgemmNR, i%sgemmNR
				want = src[j*ld+p]
			}
			if v != want {
				t.Fatalf("kc=%d: dst[%d] = %g, want %g", kc, i, v, want)
			}
		}
	}
}

// sgemmSweep returns GEMM cases for the blocked GEMM: the sizes 1, 3, 7,
// 17, 33, 65, 127 and 300 in every role and every transpose, strides wider
// than the rows, several slices of k, and alpha/beta combinations.
func sgemmSweep() []gemmCase {
	sizes := []int{1, 3, 7, 17, 33, 65, 127, 300}
	abs := [][2]float32{{1, 0}, {0.5, -1.5}, {-1, 1}}
	var cases []gemmCase
	for i := range sizes {
		m, n, k := sizes[i], sizes[(i+3)%len(sizes)], sizes[(i+5)%len(sizes)]
		for tr := range 4 {
			ab := abs[(i+tr)%len(abs)]
			cases = append(cases, gemmCase{tr&1 != 0, tr&2 != 0, m, n, k, i % 4, ab[0], ab[1]})
		}
	}
	for tr := range 4 {
		cases = append(cases,
			gemmCase{tr&1 != 0, tr&2 != 0, 65, 33, 600, 5, 1, 0},     // three slices of k
			gemmCase{tr&1 != 0, tr&2 != 0, 38, 130, 257, 0, -0.5, 2}, // a slice of one
			gemmCase{tr&1 != 0, tr&2 != 0, 300, 17, 7, 1, 1, 0.25},
			gemmCase{tr&1 != 0, tr&2 != 0, 6, 16, 256, 0, 1, 0}, // one micro-tile
		)
	}
	return cases
}

// withGemm runs f with gemmForce, hasAVX2FMA and sgemmPackCap set, and
// restores them.
func withGemm(force int, simd bool, packCap int, f func()) {
	defer func(f int, s bool, p int) { gemmForce, hasAVX2FMA, sgemmPackCap = f, s, p }(gemmForce, hasAVX2FMA, sgemmPackCap)
	gemmForce, hasAVX2FMA, sgemmPackCap = force, simd, packCap
	f()
}

// TestGemmSIMD checks the blocked GEMM against float64 loops over the
// sweep, and that its results are bit-identical on 1, 2 and 4 threads, with
// the Go micro-kernel instead of the assembly one, and when op(B) is packed
// in small chunks.
func TestGemmSIMD(t *testing.T) {
	asm := hasAVX2FMA
	for _, g := range sgemmSweep() {
		var ref []float32
		same := func(what string, got []float32) {
			t.Helper()
			for i := range ref {
				if math.Float32bits(ref[i]) != math.Float32bits(got[i]) {
					t.Fatalf("%v: %s differs at %d: %g, want %g", g, what, i, got[i], ref[i])
				}
			}
		}
		withGemm(gemmForceSIMD, asm, sgemmPackCap, func() {
			ref = runGemmCase(t, newCPUHarness(t, 1), g)
			same("2 threads", runGemmCase(t, newCPUHarness(t, 2), g))
			same("4 threads", runGemmCase(t, newCPUHarness(t, 4), g))
		})
		withGemm(gemmForceSIMD, asm, 3*sgemmNR*sgemmKC, func() {
			same("small chunks", runGemmCase(t, newCPUHarness(t, 2), g))
		})
		if asm {
			withGemm(gemmForceSIMD, false, sgemmPackCap, func() {
				same("Go micro-kernel", runGemmCase(t, newCPUHarness(t, 2), g))
			})
		}
	}
}

// TestGemmSIMDAlignment checks that the blocked GEMM gives the same bits
// whatever the alignment of A, B and C.
func TestGemmSIMDAlignment(t *testing.T) {
	for _, g := range []gemmCase{
		{false, true, 37, 70, 300, 1, 1, 0},
		{true, false, 13, 33, 260, 0, 0.5, 1},
		{false, false, 64, 48, 64, 3, 1, 1},
	} {
		lda, ldb, ldc, na, nb, nc := g.dims()
		h := newCPUHarness(t, 2)
		av, bv, cv := h.rand(na), h.rand(nb), h.rand(nc)
		var ref []float32
		for off := range 8 {
			// A, B and C start off floats into their buffers.
			up := func(v []float32) *F32 {
				b := h.up(append(make([]float32, off), v...))
				return b.Slice(off, len(v))
			}
			a, b, c := up(av), up(bv), up(cv)
			withGemm(gemmForceSIMD, hasAVX2FMA, sgemmPackCap, func() {
				h.c.Gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
			})
			got := h.down(c)
			if off == 0 {
				ref = got
				continue
			}
			for i := range ref {
				if math.Float32bits(ref[i]) != math.Float32bits(got[i]) {
					t.Fatalf("%v: offset %d differs at %d: %g, want %g", g, off, i, got[i], ref[i])
				}
			}
		}
	}
}

// TestGemmAllocs checks that GEMMs allocate nothing once their scratch
// memory has grown, serial or parallel, on each path.
func TestGemmAllocs(t *testing.T) {
	for _, force := range []int{gemmForceSIMD, gemmForcePacked, gemmForceGonum} {
		withGemm(force, hasAVX2FMA, sgemmPackCap, func() {
			c := NewCPU(2)
			a, b, cm := c.Alloc(200*300), c.Alloc(300*100), c.Alloc(200*100)
			for _, g := range []struct {
				transA, transB bool
				m, n, k        int
			}{{false, true, 200, 100, 300}, {true, false, 200, 100, 300}, {false, false, 4, 4, 4}} {
				lda, ldb := g.k, g.n
				if g.transA {
					lda = g.m
				}
				if g.transB {
					ldb = g.k
				}
				op := func() { c.Gemm(g.transA, g.transB, g.m, g.n, g.k, 1, a, lda, b, ldb, 0, cm, g.n) }
				op()
				if n := testing.AllocsPerRun(10, op); n != 0 {
					t.Errorf("force=%d %+v: %v allocations per call", force, g, n)
				}
			}
			if err := c.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGemmCPUCollected checks that a CPU that ran parallel GEMMs (whose
// task functions refer back to it) is still garbage collected, helpers and
// all.
func TestGemmCPUCollected(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		c := NewCPU(8)
		a, b, cm := c.Alloc(200*300), c.Alloc(300*100), c.Alloc(200*100)
		for _, force := range []int{gemmForceSIMD, gemmForceGonum} {
			withGemm(force, hasAVX2FMA, sgemmPackCap, func() {
				c.Gemm(false, true, 200, 100, 300, 1, a, 300, b, 300, 0, cm, 100)
			})
		}
		if c.work.dispatches == 0 {
			t.Fatal("the GEMMs ran serially")
		}
	}()
	for range 100 {
		runtime.GC()
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d goroutines remain after the CPU was collected, had %d", runtime.NumGoroutine(), before)
}
