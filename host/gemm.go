package host

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// GEMMs are cut into tiles of C; a tile (of one problem of a batch) is one
// task for the workers. Every tile sums over the whole of k in the same
// order whichever worker computes it and however many there are, and the
// tile size depends on the shape alone, so results do not depend on the
// thread count.
//
// The packed kernel takes 64×64 tiles. Tiles for gonum's Sgemm stay below
// four 64×64 blocks, which keeps gonum on its serial path (it would start
// goroutines of its own); 128 columns measured up to 1.6 times faster than
// 64 (longer level-1 calls), and Aᵀ·B, whose loop streams every row of the
// tile for each k, up to 2.6 times faster with 16-row tiles than 64-row ones
// (a 64-row tile with a power-of-two ldc thrashes the L1 cache).
const (
	gemmTileM        = 64
	gemmTileN        = 64
	gemmGonumTileN   = 128
	gemmGonumTNTileM = 16
)

// gemmArgs is one (batched) GEMM call, with the buffers' elements.
type gemmArgs struct {
	transA, transB            bool
	m, n, k                   int
	alpha, beta               float32
	a, b, c                   []float32
	lda, ldb, ldc             int
	strideA, strideB, strideC int
	tileM, tileN              int // tile size
	tilesM, tilesN            int // tiles per problem
	gonum                     bool
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(A) is m×k (A is k×m when transA) and op(B) is k×n (B is n×k when
// transB); lda, ldb, ldc are row strides. With beta = 0, C is not read; with
// k = 0 or alpha = 0, A and B are not read.
//
// Each tile of C is computed either by the packed, register-blocked GEMM of
// this package or by gonum's Sgemm (assembly level-1 kernels), whichever
// measured faster for the shape (see gemmUseGonum); the choice depends on the
// shape alone. On gonum's path a product whose A factor is exactly zero is
// skipped, so a NaN or Inf in B facing a zero in A does not propagate.
func (c *CPU) Gemm(transA, transB bool, m, n, k int, alpha float32, a *F32, lda int, b *F32, ldb int, beta float32, cm *F32, ldc int) {
	c.gemmOp("Gemm", transA, transB, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, cm, ldc, 0, 1)
}

// GemmStridedBatched is Gemm over batch independent problems: problem i
// uses A at element offset i·strideA, B at i·strideB and C at i·strideC.
// The problems' C matrices must not overlap. All tiles of all problems are
// computed in parallel, so a batch of small matrices fills every worker.
func (c *CPU) GemmStridedBatched(transA, transB bool, m, n, k int, alpha float32, a *F32, lda, strideA int, b *F32, ldb, strideB int, beta float32, cm *F32, ldc, strideC int, batch int) {
	c.gemmOp("GemmStridedBatched", transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, cm, ldc, strideC, batch)
}

func (c *CPU) gemmOp(op string, transA, transB bool, m, n, k int, alpha float32, a *F32, lda, strideA int, b *F32, ldb, strideB int, beta float32, cm *F32, ldc, strideC, batch int) {
	const names = "m n k lda ldb ldc strideA strideB strideC batch"
	if c.failed() || !c.nonNeg(op, names, m, n, k, lda, ldb, ldc, strideA, strideB, strideC, batch) {
		return
	}
	if m == 0 || n == 0 || batch == 0 {
		return
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	readAB := k > 0 && alpha != 0
	span := func(stride, one int) int {
		if one == 0 {
			return 0
		}
		return (batch-1)*stride + one
	}
	if readAB {
		if !c.ld(op, "lda", lda, colsA, "m n k lda", m, n, k, lda) ||
			!c.ld(op, "ldb", ldb, colsB, "m n k ldb", m, n, k, ldb) ||
			!c.f32(op, "A", a, span(strideA, cpuMatLen(rowsA, colsA, lda)), "m k lda strideA batch", m, k, lda, strideA, batch) ||
			!c.f32(op, "B", b, span(strideB, cpuMatLen(rowsB, colsB, ldb)), "k n ldb strideB batch", k, n, ldb, strideB, batch) {
			return
		}
	}
	if !c.ld(op, "ldc", ldc, n, "m n ldc", m, n, ldc) {
		return
	}
	if batch == 1 {
		if !c.f32(op, "C", cm, cpuMatLen(m, n, ldc), "m n ldc", m, n, ldc) {
			return
		}
	} else if !c.f32(op, "C", cm, span(strideC, cpuMatLen(m, n, ldc)), "m n ldc strideC batch", m, n, ldc, strideC, batch) {
		return
	}
	c.gemmJob = gemmArgs{
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		c:   cm.cpu,
		lda: lda, ldb: ldb, ldc: ldc,
		strideA: strideA, strideB: strideB, strideC: strideC,
		gonum: gemmUseGonum(transA, transB),
	}
	g := &c.gemmJob
	g.tileM, g.tileN = gemmTileM, gemmTileN
	if g.gonum {
		g.tileN = gemmGonumTileN
		if transA {
			g.tileM = gemmGonumTNTileM
		}
	}
	g.tilesM = (m + g.tileM - 1) / g.tileM
	g.tilesN = (n + g.tileN - 1) / g.tileN
	if readAB {
		g.a, g.b = a.cpu, b.cpu
	}
	tasks := batch * g.tilesM * g.tilesN
	flops := 2 * batch * m * n * max(k, 1)
	if tasks == 1 || c.threads == 1 || flops < gemmParallelFlops {
		for t := range tasks {
			g.tile(&c.gemmScratch[0], t)
		}
	} else {
		c.work.run(tasks, func(w, t int) { c.gemmJob.tile(&c.gemmScratch[w], t) })
	}
	*g = gemmArgs{} // drop the references to the buffers
}

// gemmParallelFlops is the work below which a GEMM runs on one goroutine.
const gemmParallelFlops = 1 << 17

// tile computes tile t of the batched GEMM g.
func (g *gemmArgs) tile(s *gemmScratch, t int) {
	perProblem := g.tilesM * g.tilesN
	p, t := t/perProblem, t%perProblem
	i0, j0 := t/g.tilesN*g.tileM, t%g.tilesN*g.tileN
	mt, nt := min(g.tileM, g.m-i0), min(g.tileN, g.n-j0)
	c := g.c[p*g.strideC+i0*g.ldc+j0:]
	if g.a == nil { // k = 0 or alpha = 0: C = beta·C
		for r := range mt {
			cr := c[r*g.ldc : r*g.ldc+nt]
			if g.beta == 0 {
				clear(cr)
			} else if g.beta != 1 {
				for j := range cr {
					cr[j] *= g.beta
				}
			}
		}
		return
	}
	a := g.a[p*g.strideA:]
	if g.transA {
		a = a[i0:]
	} else {
		a = a[i0*g.lda:]
	}
	b := g.b[p*g.strideB:]
	if g.transB {
		b = b[j0*g.ldb:]
	} else {
		b = b[j0:]
	}
	if g.gonum {
		tA, tB := blas.NoTrans, blas.NoTrans
		if g.transA {
			tA = blas.Trans
		}
		if g.transB {
			tB = blas.Trans
		}
		blas32.Implementation().Sgemm(tA, tB, mt, nt, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc)
		return
	}
	gemmPacked(s, g.transA, g.transB, mt, nt, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc)
}

// gemmUseGonum reports whether gonum's Sgemm computes the tiles of a GEMM
// rather than the packed kernel. BenchmarkGemm, both threads of the 2-core
// AMD EPYC (Zen 4, 2.6 GHz) this was tuned on, GFLOP/s of gonum against
// packed: input projection 3200×512×128 NT 30–36 against 15; its weight
// gradient 512×128×3200 TN 13–25 against 7–12; recurrent 32×256×64 NT 12
// against 6.5; batched attention 32×(100×100×64) NT 16–28 against 7–11; the
// classifier 32×4×256 NT 19 against 2–5. gonum's 4-wide SSE level-1 kernels
// beat the scalar micro-kernel on every NN, NT and TN shape; its Aᵀ·Bᵀ path
// uses strided axpys and loses (200³ TT: 3.3–5 against 7.5–11.5). The choice
// depends on the transposes alone, so results stay deterministic.
func gemmUseGonum(transA, transB bool) bool {
	switch gemmForce {
	case gemmForcePacked:
		return false
	case gemmForceGonum:
		return true
	}
	return !(transA && transB)
}

// gemmForce overrides gemmUseGonum in tests and benchmarks.
var gemmForce int

const (
	gemmForceNone = iota
	gemmForcePacked
	gemmForceGonum
)
