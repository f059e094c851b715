package host

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// On the portable path (no AVX2+FMA, or the purego build), GEMMs are cut
// into tiles of C; a tile (of one problem of a batch) is one task for the
// workers. Every tile sums over the whole of k in the same order whichever
// worker computes it and however many there are, and the tile size depends
// on the shape alone, so results do not depend on the thread count.
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
	kind                      int // gemmKind*
	tileM, tileN              int // tile size
	tilesM, tilesN            int // tiles per problem (of the chunk, for the blocked GEMM)

	// The blocked GEMM's current chunk: problems [q0, q0+nq), columns
	// [jc, jc+nc), whose op(B) is packed in bp (see sgemmChunk).
	q0, nq, jc, nc int
	ncPad          int // nc rounded up to sgemmNR
	kc             int // depth of the slices of k (the last one may be shorter)
	packGroup      int // B slivers per packing task
	bp             []float32
}

// The ways a GEMM's tiles are computed.
const (
	gemmKindSIMD   = iota // the blocked GEMM with the 6×16 micro-kernel (sgemm*)
	gemmKindPacked        // the portable packed GEMM with the 4×2 Go micro-kernel
	gemmKindGonum         // gonum's Sgemm
)

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(A) is m×k (A is k×m when transA) and op(B) is k×n (B is n×k when
// transB); lda, ldb, ldc are row strides. With beta = 0, C is not read; with
// k = 0 or alpha = 0, A and B are not read.
//
// On a CPU with AVX2 and FMA (amd64, not the purego build) it runs a blocked
// GEMM with an assembly micro-kernel (see sgemmChunk); otherwise each tile
// of C is computed by the portable packed GEMM of this package or by gonum's
// Sgemm, whichever measured faster for the shape (see gemmKindFor). Every
// path sums each element's products in an order fixed by k alone, so results
// do not depend on the number of threads, on timing or on alignment. On
// gonum's path a product whose A factor is exactly zero is skipped, so a NaN
// or Inf in B facing a zero in A does not propagate; the other paths follow
// IEEE arithmetic (0·Inf = NaN).
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
		return satAdd(satMul(batch-1, stride), one)
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
		kind: gemmKindFor(transA, transB),
	}
	g := &c.gemmJob
	if readAB {
		g.a, g.b = a.cpu, b.cpu
	}
	if readAB && g.kind == gemmKindSIMD {
		c.sgemm(g, batch)
		*g = gemmArgs{}
		return
	}
	g.tileM, g.tileN = gemmTileM, gemmTileN
	if g.kind == gemmKindGonum {
		g.tileN = gemmGonumTileN
		if transA {
			g.tileM = gemmGonumTNTileM
		}
	}
	g.tilesM = (m + g.tileM - 1) / g.tileM
	g.tilesN = (n + g.tileN - 1) / g.tileN
	tasks := batch * g.tilesM * g.tilesN
	flops := 2 * batch * m * n * max(k, 1)
	if tasks == 1 || c.threads == 1 || flops < gemmParallelFlops {
		for t := range tasks {
			g.tile(&c.gemmScratch[0], t)
		}
	} else {
		c.work.run(tasks, c.gemmTasks().tile)
	}
	*g = gemmArgs{} // drop the references to the buffers
}

// gemmTaskFuncs are the task functions of c's GEMMs for its workers, made
// once so that a parallel GEMM allocates nothing.
type gemmTaskFuncs struct {
	tile, packB, sgemmTile func(worker, task int)
}

// gemmTasks returns c's task functions, making them on first use.
func (c *CPU) gemmTasks() *gemmTaskFuncs {
	f := &c.gemmScratch[0].tasks
	if f.tile == nil {
		f.tile = func(w, t int) { c.gemmJob.tile(&c.gemmScratch[w], t) }
		f.packB = func(_, t int) { c.gemmJob.sgemmPackB(t) }
		f.sgemmTile = func(w, t int) { c.gemmJob.sgemmTile(&c.gemmScratch[w], t) }
	}
	return f
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
	if g.kind == gemmKindGonum {
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

// gemmKindFor chooses how a GEMM is computed: the blocked GEMM with the
// assembly micro-kernel wherever the CPU has AVX2 and FMA, else gonum's
// Sgemm, or the portable packed kernel for Aᵀ·Bᵀ. The choice depends on the
// machine and the transposes alone, so results stay deterministic.
//
// BenchmarkGemm on one core of the 2-core AMD EPYC (Zen 4, boosting to
// about 3.6 GHz) this was tuned on, GFLOP/s of the fastest call (the
// machine was shared), blocked against gonum against portable packed:
// input projection 3200×512×128 NT 105 / 19 / 7.8; its weight gradient
// 512×128×3200 TN 102 / 17 / 6.4; recurrent 32×256×64 NT 87 / 16 / 7.2;
// batched attention 32×(100×100×64) NT 88 / 15 / 6.9; the classifier
// 32×4×256 NT 21 / 19 / 5.1; 200³ TT 105 / 5.4 / 7.8. The micro-kernel
// alone peaks at 117 (BenchmarkSgemmKernel: 32 FLOP a cycle, the AVX2 FMA
// peak), so the blocked GEMM runs at 75–95% of peak from the LSTM's
// 32-row steps up. gonum's 4-wide SSE level-1 kernels beat the scalar
// micro-kernel on every NN, NT and TN shape; its Aᵀ·Bᵀ path uses strided
// axpys and loses.
//
// No AVX-512 kernel: Zen 4 runs 512-bit FMAs as two 256-bit halves, so its
// FMA peak is the AVX2 one, which the micro-kernel reaches.
func gemmKindFor(transA, transB bool) int {
	switch gemmForce {
	case gemmForcePacked:
		return gemmKindPacked
	case gemmForceGonum:
		return gemmKindGonum
	case gemmForceSIMD:
		return gemmKindSIMD
	}
	switch {
	case hasAVX2FMA:
		return gemmKindSIMD
	case transA && transB:
		return gemmKindPacked
	}
	return gemmKindGonum
}

// gemmForce overrides gemmKindFor in tests and benchmarks. gemmForceSIMD
// runs the blocked GEMM even where the CPU lacks AVX2 or FMA, with the Go
// micro-kernel.
var gemmForce int

const (
	gemmForceNone = iota
	gemmForcePacked
	gemmForceGonum
	gemmForceSIMD
)

// The blocked GEMM (gemmKindSIMD), after BLIS and OpenBLAS. op(B) is packed
// once per call into slivers of sgemmNR columns, k-major, cut in slices of
// at most sgemmKC rows; tasks then compute tiles of C: for each slice of k,
// a task runs the 6×16 micro-kernel over its tile, one B sliver (16 KiB, in
// L1) against each sliver of sgemmMR rows of op(A), read in place (in L2),
// in turn.
//
// Every element of C is one lane of the micro-kernel: it sums the products
// of one slice of k in order with FMA, starting from zero, and adds the
// slice's sum to C (alpha·sum + beta·C for the first slice, alpha·sum + C
// for the others), whatever the tile, the task, the thread or the padding
// around it. The slices are fixed by k alone, so results depend on the
// shape alone; tile sizes, packing and the split into tasks only change
// the speed.
const (
	sgemmMR = 6   // rows of a micro-tile
	sgemmNR = 16  // columns of a micro-tile: two 8-float vectors
	sgemmKC = 256 // greatest depth of a slice of k: a B sliver is 16 KiB
	sgemmMC = 96  // largest task tile height: A's part is at most 96 KiB
	sgemmNC = 512 // largest task tile width

	// sgemmPackGrain is the least work of a B packing task, in floats.
	sgemmPackGrain = 1 << 14
)

// sgemmPackCap bounds the packed op(B) of one chunk, in floats (4 MiB):
// larger calls are computed in chunks of columns or of problems. (A
// variable for the tests.)
var sgemmPackCap = 1 << 20

// sgemm computes the batched GEMM g of batch problems with k ≥ 1 by the
// blocked algorithm, chunk by chunk.
func (c *CPU) sgemm(g *gemmArgs, batch int) {
	nPad := roundUp(g.n, sgemmNR)
	nc, nq := g.n, 1
	if g.k*nPad > sgemmPackCap {
		nc = max(sgemmNR, sgemmPackCap/g.k/sgemmNR*sgemmNR)
	} else {
		nq = max(1, min(batch, sgemmPackCap/(g.k*nPad)))
	}
	// k is cut into equal slices (the last one shorter), as few as fit
	// sgemmKC: k = 320 is two slices of 160, not 256 and 64, whose
	// micro-kernel calls would be short.
	slices := (g.k + sgemmKC - 1) / sgemmKC
	g.kc = (g.k + slices - 1) / slices
	for q0 := 0; q0 < batch; q0 += nq {
		for jc := 0; jc < g.n; jc += nc {
			g.q0, g.nq, g.jc, g.nc = q0, min(nq, batch-q0), jc, min(nc, g.n-jc)
			c.sgemmChunk(g)
		}
	}
}

// sgemmChunk packs op(B) of the chunk's problems and columns and computes
// their tiles of C.
func (c *CPU) sgemmChunk(g *gemmArgs) {
	g.ncPad = roundUp(g.nc, sgemmNR)
	need := g.nq * g.k * g.ncPad
	s0 := &c.gemmScratch[0]
	if cap(s0.pb) < need {
		s0.pb = alignedF32(need)
	}
	g.bp = s0.pb[:need]
	parallel := c.threads > 1 && 2*g.nq*g.m*g.nc*g.k >= gemmParallelFlops

	slivers := g.ncPad / sgemmNR
	g.packGroup = max(1, min(slivers, sgemmPackGrain/(g.k*sgemmNR)))
	groups := (slivers + g.packGroup - 1) / g.packGroup
	if tasks := g.nq * groups; parallel && tasks > 1 && need >= 2*sgemmPackGrain {
		c.work.run(tasks, c.gemmTasks().packB)
	} else {
		for t := range tasks {
			g.sgemmPackB(t)
		}
	}

	// Tiles: at most sgemmMC×sgemmNC, of even sizes. When the chunk is
	// parallel and that makes fewer than four tasks per worker (for the
	// dynamic scheduling to balance), lower first, down to four A slivers,
	// and then narrower.
	tilesM := (g.m + sgemmMC - 1) / sgemmMC
	tilesN := (g.nc + sgemmNC - 1) / sgemmNC
	if want := 4 * c.threads; parallel && g.nq*tilesM*tilesN < want {
		tilesM = max(tilesM, min((g.m+4*sgemmMR-1)/(4*sgemmMR), (want+g.nq*tilesN-1)/(g.nq*tilesN)))
		if g.nq*tilesM*tilesN < want {
			tilesN = min((want+g.nq*tilesM-1)/(g.nq*tilesM), slivers)
		}
	}
	g.tileM = roundUp((g.m+tilesM-1)/tilesM, sgemmMR)
	g.tilesM = (g.m + g.tileM - 1) / g.tileM
	g.tileN = roundUp((g.nc+tilesN-1)/tilesN, sgemmNR)
	g.tilesN = (g.nc + g.tileN - 1) / g.tileN
	tasks := g.nq * g.tilesM * g.tilesN
	if parallel && tasks > 1 {
		c.work.run(tasks, c.gemmTasks().sgemmTile)
	} else {
		for t := range tasks {
			g.sgemmTile(s0, t)
		}
	}
}

// roundUp rounds n ≥ 0 up to a multiple of m.
func roundUp(n, m int) int { return (n + m - 1) / m * m }

// sgemmPackB packs packing task t of the chunk: packGroup slivers of one
// problem's op(B), all of k. The chunk's packed B holds, per problem, per
// slice of k (at row pc), its slivers one after the other: sliver s of the
// slice starting at pc·ncPad + s·kc·sgemmNR, element (p, j) at p·sgemmNR + j.
func (g *gemmArgs) sgemmPackB(t int) {
	groups := (g.ncPad/sgemmNR + g.packGroup - 1) / g.packGroup
	q, t := t/groups, t%groups
	s0 := t * g.packGroup
	s1 := min(s0+g.packGroup, g.ncPad/sgemmNR)
	b := g.b[(g.q0+q)*g.strideB:]
	bq := g.bp[q*g.k*g.ncPad:]
	for pc := 0; pc < g.k; pc += g.kc {
		kc := min(g.kc, g.k-pc)
		for s := s0; s < s1; s++ {
			j := s * sgemmNR
			dst := bq[pc*g.ncPad+s*kc*sgemmNR:][:kc*sgemmNR]
			sgemmPackBSliver(dst, g.transB, b, g.ldb, pc, kc, g.jc+j, min(sgemmNR, g.nc-j))
		}
	}
}

// sgemmPackBSliver packs rows [pc, pc+kc) and columns [j, j+cols) of op(B)
// into dst: dst[p·sgemmNR + jj] = op(B)[pc+p, j+jj], zero for jj ≥ cols.
func sgemmPackBSliver(dst []float32, transB bool, b []float32, ldb, pc, kc, j, cols int) {
	if !transB {
		if cols == sgemmNR {
			sgemmCopy16(dst, b[pc*ldb+j:], ldb, kc)
			return
		}
		clear(dst[:kc*sgemmNR])
		for p := range kc {
			copy(dst[p*sgemmNR:p*sgemmNR+cols], b[(pc+p)*ldb+j:][:cols])
		}
		return
	}
	// op(B)[p, j] = B[j, p]: B's rows are contiguous in p.
	if cols == sgemmNR {
		sgemmPackT16(dst, b[j*ldb+pc:], ldb, kc)
		return
	}
	clear(dst[:kc*sgemmNR])
	for jj := range cols {
		src := b[(j+jj)*ldb+pc:][:kc]
		d := dst[jj:]
		for p, v := range src {
			d[p*sgemmNR] = v
		}
	}
}

// sgemmTile computes task t of the chunk: one tile of C of one problem.
func (g *gemmArgs) sgemmTile(s *gemmScratch, t int) {
	per := g.tilesM * g.tilesN
	q, t := t/per, t%per
	i0, j0 := t/g.tilesN*g.tileM, t%g.tilesN*g.tileN
	mt, nt := min(g.tileM, g.m-i0), min(g.tileN, g.nc-j0)
	p := g.q0 + q
	a := g.a[p*g.strideA:]
	c := g.c[p*g.strideC+i0*g.ldc+g.jc+j0:]
	bq := g.bp[q*g.k*g.ncPad:]
	full := mt / sgemmMR * sgemmMR // rows in full A slivers
	for pc := 0; pc < g.k; pc += g.kc {
		kc := min(g.kc, g.k-pc)
		beta, load := g.beta, g.beta != 0
		if pc > 0 {
			beta, load = 1, true
		}
		// A is read in place: sliver i of the tile at ap[i·step:], element
		// (r, p) at r·rsA + p·csA. (Packing it into slivers measured slower
		// at every shape of BenchmarkGemm, by 0–20%: the micro-kernel's six
		// broadcast streams are as fast from A's rows or columns.) The last,
		// partial sliver is packed with zero rows, which the kernel reads.
		var ap []float32
		var rsA, csA, step int
		if g.transA { // A is k×m: op(A)[i, p] = A[p, i]
			ap, rsA, csA, step = a[pc*g.lda+i0:], 1, g.lda, sgemmMR
		} else {
			ap, rsA, csA, step = a[i0*g.lda+pc:], g.lda, 1, sgemmMR*g.lda
		}
		var edgeA []float32
		if full < mt {
			edgeA = s.sgemmPackEdgeA(g.transA, a, g.lda, i0+full, mt-full, pc, kc)
		}
		panel := bq[pc*g.ncPad:]
		for jr := 0; jr < nt; jr += sgemmNR {
			cols := min(sgemmNR, nt-jr)
			bs := panel[(j0+jr)*kc:][:kc*sgemmNR]
			for ir := 0; ir < mt; ir += sgemmMR {
				as, rs, cs := edgeA, 1, sgemmMR
				if ir < full {
					as, rs, cs = ap[ir/sgemmMR*step:], rsA, csA
				}
				ct := c[ir*g.ldc+jr:]
				if rows := min(sgemmMR, mt-ir); rows < sgemmMR || cols < sgemmNR {
					sgemmEdge(kc, as, rs, cs, bs, ct, g.ldc, rows, cols, g.alpha, beta, load)
				} else {
					sgemmKernel(kc, as, rs, cs, bs, ct, g.ldc, g.alpha, beta, load)
				}
			}
		}
	}
}

// sgemmEdge is sgemmKernel for a micro-tile of C cut to rows×cols: the
// kernel computes a full 6×16 block (or its left half, when cols ≤ 8) in a
// buffer, through the same instructions, and only the tile's part is
// copied to and from C.
func sgemmEdge(kc int, a []float32, rsA, csA int, b, c []float32, ldc, rows, cols int, alpha, beta float32, load bool) {
	var buf [sgemmMR * sgemmNR]float32
	if load {
		for r := range rows {
			copy(buf[r*sgemmNR:r*sgemmNR+cols], c[r*ldc:r*ldc+cols])
		}
	}
	if cols <= sgemmNR/2 {
		sgemmKernel8(kc, a, rsA, csA, b, buf[:], sgemmNR, alpha, beta, load)
	} else {
		sgemmKernel(kc, a, rsA, csA, b, buf[:], sgemmNR, alpha, beta, load)
	}
	for r := range rows {
		copy(c[r*ldc:r*ldc+cols], buf[r*sgemmNR:r*sgemmNR+cols])
	}
}

// sgemmPackEdgeA packs rows [i0, i0+rows), rows < sgemmMR, and columns
// [pc, pc+kc) of op(A) into a sliver in the worker's scratch, zero past
// row rows: element (r, p) at p·sgemmMR + r.
func (s *gemmScratch) sgemmPackEdgeA(transA bool, a []float32, lda, i0, rows, pc, kc int) []float32 {
	if cap(s.pa) < sgemmMR*kc {
		s.pa = alignedF32(sgemmMR * sgemmKC)
	}
	d := s.pa[:sgemmMR*kc]
	clear(d)
	for r := range rows {
		if transA { // A is k×m: op(A)[i, p] = A[p, i]
			for p := range kc {
				d[p*sgemmMR+r] = a[(pc+p)*lda+i0+r]
			}
			continue
		}
		for p, v := range a[(i0+r)*lda+pc:][:kc] {
			d[p*sgemmMR+r] = v
		}
	}
	return d
}
