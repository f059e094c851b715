package host

import (
	"fmt"
	"math"
	"testing"
)

// refGemm computes C = alpha·op(A)·op(B) + beta·C in float64 with the
// simplest loops, and the error bound scale Σ|alpha·a·b| + |beta·c| of each
// element. C is not read when beta = 0.
func refGemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) (out, bound []float64) {
	out = append([]float64(nil), c...)
	bound = make([]float64, len(c))
	for i := range m {
		for j := range n {
			var s, sa float64
			for p := range k {
				var av, bv float64
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
				sa += math.Abs(av * bv)
			}
			v := alpha * s
			bd := math.Abs(alpha) * sa
			if beta != 0 {
				v += beta * c[i*ldc+j]
				bd += math.Abs(beta * c[i*ldc+j])
			}
			out[i*ldc+j] = v
			bound[i*ldc+j] = bd
		}
	}
	return out, bound
}

// cpuCheckBound fails unless |got−want| ≤ tol·bound + 1e-30 everywhere
// (elements outside the matrix must be unchanged: their bound is 0).
func cpuCheckBound(t *testing.T, what string, got []float32, want, bound []float64, tol float64) {
	t.Helper()
	for i := range got {
		g, w := float64(got[i]), want[i]
		if math.IsNaN(g) || math.Abs(g-w) > tol*bound[i]+1e-30 {
			t.Fatalf("%s: [%d] = %.9g, want %.9g (bound %.3g)", what, i, g, w, tol*bound[i])
		}
	}
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	pad            int // extra stride on every leading dimension
	alpha, beta    float32
}

func (g gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,pad=%d,alpha=%g,beta=%g", g.transA, g.transB, g.m, g.n, g.k, g.pad, g.alpha, g.beta)
}

// dims returns the leading dimensions and buffer sizes of the case.
func (g gemmCase) dims() (lda, ldb, ldc, na, nb, nc int) {
	rowsA, colsA := g.m, g.k
	if g.transA {
		rowsA, colsA = g.k, g.m
	}
	rowsB, colsB := g.k, g.n
	if g.transB {
		rowsB, colsB = g.n, g.k
	}
	lda, ldb, ldc = colsA+g.pad, colsB+g.pad, g.n+g.pad
	return lda, ldb, ldc, max(rowsA*lda, 1), max(rowsB*ldb, 1), g.m * ldc
}

func gemmCases() []gemmCase {
	var cases []gemmCase
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		for _, s := range [][3]int{{1, 1, 1}, {7, 33, 65}, {65, 7, 33}, {33, 65, 7}, {70, 130, 300}, {4, 2, 1}, {1, 129, 2}} {
			for _, ab := range [][2]float32{{1, 0}, {0.5, -1.5}} {
				cases = append(cases, gemmCase{tr[0], tr[1], s[0], s[1], s[2], 3, ab[0], ab[1]})
			}
		}
	}
	return append(cases,
		gemmCase{false, false, 5, 6, 0, 0, 1, 0},     // k = 0, beta = 0: C = 0
		gemmCase{false, true, 5, 6, 0, 1, 1, 2},      // k = 0: C = beta·C
		gemmCase{true, false, 5, 6, 7, 0, 0, -1},     // alpha = 0
		gemmCase{false, false, 64, 64, 256, 0, 1, 1}, // exact tiles and slices
		gemmCase{true, true, 66, 67, 513, 2, -1, 0.25},
	)
}

// runGemmCase runs one case on a fresh backend and compares it with refGemm.
// C starts as NaN when beta = 0, which must not propagate.
func runGemmCase(t *testing.T, h *cpuHarness, g gemmCase) []float32 {
	t.Helper()
	lda, ldb, ldc, na, nb, nc := g.dims()
	av, bv, cv := h.rand(na), h.rand(nb), h.rand(nc)
	if g.beta == 0 {
		for i := range cv {
			if i%ldc < g.n {
				cv[i] = float32(math.NaN())
			}
		}
	}
	a, b, c := h.up(av), h.up(bv), h.up(cv)
	h.c.Gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
	got := h.down(c)
	want, bound := refGemm(g.transA, g.transB, g.m, g.n, g.k, float64(g.alpha), cpuF64(av), lda, cpuF64(bv), ldb, float64(g.beta), cpuF64(cv), ldc)
	for i := range want { // padding columns stay as they were
		if i%ldc >= g.n {
			want[i], bound[i] = float64(cv[i]), 0
		}
	}
	cpuCheckBound(t, g.String(), got, want, bound, 1e-4)
	return got
}

// TestGemm checks every transpose combination, strides, alpha and beta at
// awkward sizes, on each kernel (the blocked one with the Go micro-kernel
// where the CPU lacks AVX2+FMA), against float64 loops, and that results
// are bit-identical for 1 and 4 threads.
func TestGemm(t *testing.T) {
	for _, force := range []struct {
		name string
		v    int
	}{{"auto", gemmForceNone}, {"simd", gemmForceSIMD}, {"packed", gemmForcePacked}, {"gonum", gemmForceGonum}} {
		t.Run(force.name, func(t *testing.T) {
			defer func(v int) { gemmForce = v }(gemmForce)
			gemmForce = force.v
			for _, g := range gemmCases() {
				h1, h4 := newCPUHarness(t, 1), newCPUHarness(t, 4)
				r1 := runGemmCase(t, h1, g)
				r4 := runGemmCase(t, h4, g)
				for i := range r1 {
					if math.Float32bits(r1[i]) != math.Float32bits(r4[i]) {
						t.Fatalf("%v: 1 and 4 threads differ at %d: %g, %g", g, i, r1[i], r4[i])
					}
				}
			}
		})
	}
}

// stridedCase is a GemmStridedBatched test case.
type stridedCase struct {
	name           string
	transA, transB bool
	m, n, k, batch int
	interleave     bool // C_i is columns [i·n, (i+1)·n) of an m×(batch·n) matrix
	alpha, beta    float32
}

// TestGemmStridedBatched checks batches whose C matrices are separate and
// batches that interleave them as the heads of a wider matrix, on each
// kernel.
func TestGemmStridedBatched(t *testing.T) {
	tests := []stridedCase{
		{"nn", false, false, 7, 9, 5, 3, false, 1, 0},
		{"nt heads", false, true, 33, 33, 8, 4, true, 0.125, 0},
		{"tn beta", true, false, 8, 65, 33, 2, false, 1, 0.5},
		{"tt one", true, true, 70, 3, 66, 1, false, -2, 1},
		{"big batch", false, true, 20, 20, 16, 40, true, 1, 0},
	}
	for _, tt := range tests {
		for _, force := range []struct {
			name string
			v    int
		}{{"simd", gemmForceSIMD}, {"packed", gemmForcePacked}, {"gonum", gemmForceGonum}} {
			t.Run(tt.name+"/"+force.name, func(t *testing.T) {
				defer func(v int) { gemmForce = v }(gemmForce)
				gemmForce = force.v
				for _, threads := range []int{1, 3} {
					runStridedCase(t, newCPUHarness(t, threads), tt)
				}
			})
		}
	}
}

// runStridedCase runs one case and compares it with refGemm per problem.
func runStridedCase(t *testing.T, h *cpuHarness, tt stridedCase) {
	t.Helper()
	g := gemmCase{tt.transA, tt.transB, tt.m, tt.n, tt.k, 1, tt.alpha, tt.beta}
	lda, ldb, ldc, na, nb, nc := g.dims()
	strideA, strideB, strideC := na+5, nb+2, nc+3
	if tt.interleave {
		ldc = tt.n * tt.batch
		strideC = tt.n
	}
	av, bv := h.rand(strideA*tt.batch), h.rand(strideB*tt.batch)
	cSize := (tt.batch-1)*strideC + (tt.m-1)*ldc + tt.n
	cv := h.rand(cSize + 4)
	a, b, c := h.up(av), h.up(bv), h.up(cv)
	h.c.GemmStridedBatched(tt.transA, tt.transB, tt.m, tt.n, tt.k, tt.alpha, a, lda, strideA, b, ldb, strideB, tt.beta, c, ldc, strideC, tt.batch)
	got := h.down(c)
	want, bound := cpuF64(cv), make([]float64, len(cv))
	for i := range tt.batch {
		w, bd := refGemm(tt.transA, tt.transB, tt.m, tt.n, tt.k, float64(tt.alpha),
			cpuF64(av[i*strideA:]), lda, cpuF64(bv[i*strideB:]), ldb, float64(tt.beta), cpuF64(cv[i*strideC:]), ldc)
		for r := range tt.m {
			for j := range tt.n {
				o := i*strideC + r*ldc + j
				want[o], bound[o] = w[r*ldc+j], bd[r*ldc+j]
			}
		}
	}
	cpuCheckBound(t, fmt.Sprintf("threads=%d", h.c.Threads()), got, want, bound, 1e-4)
}

// TestGemmKernel4x2 checks the micro-kernel alone, odd and even depths.
func TestGemmKernel4x2(t *testing.T) {
	for _, kc := range []int{1, 2, 3, 8, 255} {
		ap, bp := make([]float32, 4*kc), make([]float32, 2*kc)
		for i := range ap {
			ap[i] = float32(i%7) - 3
		}
		for i := range bp {
			bp[i] = float32(i%5) - 2
		}
		var acc [8]float32
		gemmKernel4x2(kc, ap, bp, &acc)
		for r := range 4 {
			for j := range 2 {
				var want float32
				for p := range kc {
					want += ap[p*4+r] * bp[p*2+j]
				}
				if acc[r*2+j] != want { // small integers: exact
					t.Fatalf("kc=%d: acc[%d][%d] = %g, want %g", kc, r, j, acc[r*2+j], want)
				}
			}
		}
	}
}

// gemmPackedRef is the portable packed GEMM's arithmetic in float32, one
// element at a time: per slice of gemmKC products, their sum in order, each
// product rounded before it is added, then alpha·sum + beta·C (C not read
// when beta = 0) for the first slice and C + alpha·sum for the others, each
// product rounded. (The conversions keep GOAMD64=v3 from fusing them here.)
func gemmPackedRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := range m {
		for j := range n {
			for pc := 0; pc < k; pc += gemmKC {
				var acc float32
				for p := pc; p < min(pc+gemmKC, k); p++ {
					var av, bv float32
					if transA {
						av = a[p*lda+i]
					} else {
						av = a[i*lda+p]
					}
					if transB {
						bv = b[j*ldb+p]
					} else {
						bv = b[p*ldb+j]
					}
					acc += float32(av * bv)
				}
				ci := &c[i*ldc+j]
				switch {
				case pc > 0:
					*ci += float32(alpha * acc)
				case beta == 0:
					*ci = alpha * acc
				default:
					*ci = float32(alpha*acc) + float32(beta**ci)
				}
			}
		}
	}
}

// TestGemmPackedBits checks the portable packed GEMM (the path for Aᵀ·Bᵀ
// without AVX2 and FMA, or in the purego build) bit for bit against its
// arithmetic, so that its results do not depend on the build's instruction
// level: GOAMD64=v3 fused the micro-kernel's c += a·b and the store's
// alpha·acc + beta·c into FMAs.
func TestGemmPackedBits(t *testing.T) {
	tests := []gemmCase{
		{true, true, 7, 5, 33, 1, 1, 0},
		{true, true, 66, 67, 513, 2, -1, 0.25},
		{false, false, 9, 17, 300, 0, 0.5, 1},
		{false, true, 4, 2, 65, 3, 1, -1},
		{true, false, 65, 3, 257, 1, -0.5, 2},
	}
	defer func(v int) { gemmForce = v }(gemmForce)
	gemmForce = gemmForcePacked
	for _, g := range tests {
		t.Run(g.String(), func(t *testing.T) {
			lda, ldb, ldc, na, nb, nc := g.dims()
			h := newCPUHarness(t, 2)
			av, bv, cv := h.rand(na), h.rand(nb), h.rand(nc)
			want := append([]float32(nil), cv...)
			gemmPackedRef(g.transA, g.transB, g.m, g.n, g.k, g.alpha, av, lda, bv, ldb, g.beta, want, ldc)
			c := h.up(cv)
			h.c.Gemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, h.up(av), lda, h.up(bv), ldb, g.beta, c, ldc)
			for i, v := range h.down(c) {
				if math.Float32bits(v) != math.Float32bits(want[i]) {
					t.Fatalf("C[%d] = %g (%#08x), want %g (%#08x)", i, v, math.Float32bits(v), want[i], math.Float32bits(want[i]))
				}
			}
		})
	}
}
