//go:build cuda || cudaemu

package host

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emotionlab/emotion/cuda"
)

// Parity of every op of the GPU backend (real or emulated) with the CPU
// backend, on random inputs at awkward sizes: not multiples of 32, ragged
// lengths with empty and full sequences, a batch of one.

const (
	tolElem   = 1e-5 // elementwise ops
	tolReduce = 1e-4 // reductions, GEMMs, ops with sums inside
)

type parity struct {
	t   *testing.T
	cpu *CPU
	gpu *GPU
	rng *rand.Rand
}

func newParity(t *testing.T) *parity {
	t.Helper()
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	return &parity{t: t, cpu: NewCPU(2), gpu: g, rng: rand.New(rand.NewPCG(1, 2))}
}

// pair is one buffer on both backends.
type pair struct{ c, g *F32 }

func (p *parity) randn(n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(p.rng.NormFloat64() * scale)
	}
	return x
}

// buf uploads x to both backends.
func (p *parity) buf(x []float32) pair {
	c, g := p.cpu.Alloc(len(x)), p.gpu.Alloc(len(x))
	p.cpu.Upload(c, x)
	p.gpu.Upload(g, x)
	return pair{c, g}
}

func (p *parity) rand(n int) pair { return p.buf(p.randn(n, 1)) }

// bufAt is buf with x placed off floats into a larger buffer on both
// sides (a view, as a sub-buffer of a model's parameters or activations).
func (p *parity) bufAt(x []float32, off int) pair {
	if off == 0 {
		return p.buf(x)
	}
	whole := p.buf(append(make([]float32, off), x...))
	return pair{whole.c.Slice(off, len(x)), whole.g.Slice(off, len(x))}
}

func (p *parity) ints(x []int32) (*I32, *I32) {
	c, g := p.cpu.AllocI32(len(x)), p.gpu.AllocI32(len(x))
	p.cpu.UploadI32(c, x)
	p.gpu.UploadI32(g, x)
	return c, g
}

// check compares the two sides of b elementwise: |g − c| ≤ tol·max(|c|,
// s), where s, the floor under which a difference is judged against the
// tensor's scale rather than the element, is the largest |c| of the tensor
// but at most 1: a gradient whose elements are all about 1e-3 is checked
// to tol relative to that, not to 1 (which passed a 10% error at
// tol = 1e-4), and an element that cancels to near 0 in a tensor of
// larger ones is not held to a relative tolerance of its own.
func (p *parity) check(name string, b pair, tol float64) {
	p.t.Helper()
	if err := p.cpu.Err(); err != nil {
		p.t.Fatalf("%s: cpu: %v", name, err)
	}
	if err := p.gpu.Sync(); err != nil {
		p.t.Fatalf("%s: gpu: %v", name, err)
	}
	n := b.c.Len()
	c, g := make([]float32, n), make([]float32, n)
	p.cpu.Download(c, b.c)
	p.gpu.Download(g, b.g)
	if err := p.gpu.Err(); err != nil {
		p.t.Fatalf("%s: gpu download: %v", name, err)
	}
	floor := 0.0
	for _, v := range c {
		if a := math.Abs(float64(v)); a > floor && !math.IsInf(a, 0) {
			floor = a
		}
	}
	floor = min(floor, 1)
	bad := 0
	for i := range c {
		cv, gv := float64(c[i]), float64(g[i])
		if cv == gv || math.IsNaN(cv) && math.IsNaN(gv) { // equal infinities too
			continue
		}
		if !(math.Abs(gv-cv) <= tol*math.Max(math.Abs(cv), floor)) {
			if bad < 5 {
				p.t.Errorf("%s[%d]: gpu %v, cpu %v", name, i, gv, cv)
			}
			bad++
		}
	}
	if bad > 0 {
		p.t.Errorf("%s: %d of %d elements differ", name, bad, n)
	}
}

// eachGridCap runs f under the backend's cap on grid-stride grids and
// under a cap of 3 blocks, with which every thread of the tests' sizes
// loops: the unrolled rounds of map_grid_stride (elementwise.cu) and its
// tail.
func eachGridCap(t *testing.T, f func(t *testing.T)) {
	for _, blocks := range []int{gridStrideBlocks, 3} {
		t.Run(fmt.Sprintf("grid%d", blocks), func(t *testing.T) {
			old := gridStrideBlocks
			gridStrideBlocks = blocks
			defer func() { gridStrideBlocks = old }()
			f(t)
		})
	}
}

func TestGPUParityElementwise(t *testing.T) {
	p := newParity(t)
	eachGridCap(t, func(t *testing.T) { testGPUParityElementwise(t, p) })
}

func testGPUParityElementwise(t *testing.T, p *parity) {
	for _, n := range []int{1, 33, 1000, 3074, 70001} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p.t = t
			x, y := p.rand(n), p.rand(n)
			p.cpu.Fill(y.c, 2.5)
			p.gpu.Fill(y.g, 2.5)
			p.check("Fill", y, tolElem)

			p.cpu.Axpy(-0.75, x.c, y.c)
			p.gpu.Axpy(-0.75, x.g, y.g)
			p.check("Axpy", y, tolElem)

			p.cpu.Scale(1.5, y.c)
			p.gpu.Scale(1.5, y.g)
			p.check("Scale", y, tolElem)

			z := p.rand(n)
			p.cpu.Copy(z.c, x.c)
			p.gpu.Copy(z.g, x.g)
			p.check("Copy", z, tolElem)

			r, dr := p.rand(n), p.rand(n)
			p.cpu.ReLU(x.c, r.c)
			p.gpu.ReLU(x.g, r.g)
			p.check("ReLU", r, tolElem)
			p.cpu.ReLUBackward(r.c, y.c, dr.c)
			p.gpu.ReLUBackward(r.g, y.g, dr.g)
			p.check("ReLUBackward", dr, tolElem)

			th, dt := p.rand(n), p.rand(n)
			p.cpu.Tanh(x.c, th.c)
			p.gpu.Tanh(x.g, th.g)
			p.check("Tanh", th, tolElem)
			p.cpu.TanhBackward(th.c, y.c, dt.c)
			p.gpu.TanhBackward(th.g, y.g, dt.g)
			p.check("TanhBackward", dt, tolElem)

			// In place, as the doc allows.
			p.cpu.Tanh(z.c, z.c)
			p.gpu.Tanh(z.g, z.g)
			p.check("Tanh in place", z, tolElem)

			s, ss := p.rand(1), p.rand(1)
			p.cpu.Sum(x.c, s.c)
			p.gpu.Sum(x.g, s.g)
			p.check("Sum", s, tolReduce)
			p.cpu.SumSquares(x.c, ss.c)
			p.gpu.SumSquares(x.g, ss.g)
			p.check("SumSquares", ss, tolReduce)
		})
	}
}

func TestGPUParityDropout(t *testing.T) {
	p := newParity(t)
	eachGridCap(t, func(t *testing.T) { p.t = t; testGPUParityDropout(t, p) })
}

func testGPUParityDropout(t *testing.T, p *parity) {
	for _, tc := range []struct {
		n      int
		prob   float32
		seed   uint64
		offset uint64
	}{{1, 0.5, 1, 0}, {999, 0.3, 42, 7}, {4097, 0.9, 1 << 40, 1<<33 + 5}, {100, 0, 3, 0}, {100, 1, 3, 0}} {
		x, y, dx := p.rand(tc.n), p.rand(tc.n), p.rand(tc.n)
		p.cpu.Dropout(tc.prob, tc.seed, tc.offset, x.c, y.c)
		p.gpu.Dropout(tc.prob, tc.seed, tc.offset, x.g, y.g)
		p.check(fmt.Sprintf("Dropout%+v", tc), y, tolElem)
		p.cpu.DropoutBackward(tc.prob, tc.seed, tc.offset, x.c, dx.c)
		p.gpu.DropoutBackward(tc.prob, tc.seed, tc.offset, x.g, dx.g)
		p.check(fmt.Sprintf("DropoutBackward%+v", tc), dx, tolElem)
	}
	// The GPU draws DropoutKeep's mask exactly.
	n := 5000
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	x, y := p.gpu.Alloc(n), p.gpu.Alloc(n)
	p.gpu.Upload(x, ones)
	p.gpu.Dropout(0.4, 99, 12345, x, y)
	got := make([]float32, n)
	p.gpu.Download(got, y)
	if err := p.gpu.Err(); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if (v != 0) != DropoutKeep(0.4, 99, 12345, i) {
			t.Fatalf("element %d: gpu %v, DropoutKeep %v", i, v, DropoutKeep(0.4, 99, 12345, i))
		}
	}
}

func TestGPUParityCopy2DBias(t *testing.T) {
	p := newParity(t)
	eachGridCap(t, func(t *testing.T) { p.t = t; testGPUParityCopy2DBias(p) })
}

func testGPUParityCopy2DBias(p *parity) {
	for _, tc := range []struct{ rows, cols, ldSrc, ldDst int }{{1, 1, 1, 1}, {7, 33, 40, 35}, {300, 5, 5, 9}, {37, 70, 70, 70}, {1601, 257, 257, 260}} {
		name := fmt.Sprintf("%+v", tc)
		src, dst := p.rand(matLen(tc.rows, tc.cols, tc.ldSrc)), p.rand(matLen(tc.rows, tc.cols, tc.ldDst))
		p.cpu.Copy2D(tc.rows, tc.cols, src.c, tc.ldSrc, dst.c, tc.ldDst, false)
		p.gpu.Copy2D(tc.rows, tc.cols, src.g, tc.ldSrc, dst.g, tc.ldDst, false)
		p.check("Copy2D"+name, dst, tolElem)
		p.cpu.Copy2D(tc.rows, tc.cols, src.c, tc.ldSrc, dst.c, tc.ldDst, true)
		p.gpu.Copy2D(tc.rows, tc.cols, src.g, tc.ldSrc, dst.g, tc.ldDst, true)
		p.check("Copy2D accumulate"+name, dst, tolElem)

		x, bias, db := p.rand(tc.rows*tc.cols), p.rand(tc.cols), p.rand(tc.cols)
		p.cpu.AddBias(tc.rows, tc.cols, x.c, bias.c)
		p.gpu.AddBias(tc.rows, tc.cols, x.g, bias.g)
		p.check("AddBias"+name, x, tolElem)
		p.cpu.BiasGrad(tc.rows, tc.cols, x.c, db.c)
		p.gpu.BiasGrad(tc.rows, tc.cols, x.g, db.g)
		p.check("BiasGrad"+name, db, tolReduce)
	}
}

func TestGPUParityGemm(t *testing.T) {
	p := newParity(t)
	defaultTiledMax := gemmTiledMaxFMAs
	defer func() { gemmTiledMaxFMAs = defaultTiledMax }()
	cases := []struct {
		ta, tb      bool
		m, n, k     int
		pad         int
		alpha, beta float32
		batch       int
	}{
		{false, false, 5, 37, 33, 0, 1, 0, 1},
		{true, false, 33, 7, 65, 3, 0.5, 1, 1},
		{false, true, 1, 100, 17, 1, -1, 0.25, 1},
		{true, true, 40, 41, 1, 2, 2, 0, 1},
		{false, false, 9, 13, 11, 0, 1, 0, 4},
		{false, true, 17, 17, 33, 5, 0.125, 0.5, 3},
		{true, false, 6, 50, 37, 0, 1, 0, 2},
		// Whole tiles and steps of the tiled kernel, then several of each
		// with ragged edges.
		{false, false, 32, 32, 32, 0, 1, 0, 1},
		{true, true, 64, 32, 64, 0, 1, 0.5, 2},
		{false, true, 65, 97, 70, 3, 0.75, 0, 1},
		{true, false, 100, 3, 129, 1, 1, 1, 2},
		// Operands that fill their pool size class exactly (1,024 floats,
		// 4 KiB), so that the emulated device sees a read one row past
		// them: a smaller one has slack that hides it.
		{false, false, 16, 16, 64, 0, 1, 0, 1},
		{true, true, 16, 16, 64, 0, 1, 0, 1},
		// Small outputs over long k: split over k (gemmSplitK) when not
		// tiled, with a short last chunk, an even split, both transposes,
		// batches.
		{true, false, 40, 24, 1601, 3, 1, 1, 2},
		{false, true, 2, 70, 1000, 0, 0.5, 0, 1},
		{true, false, 33, 65, 1280, 1, 1, 0.5, 3},
		{false, false, 7, 9, 4099, 2, -1, 0, 1},
		{true, true, 130, 3, 700, 2, 1, 0, 4},
		// Split with n past one block of gemm_split_sum_f32 (256 columns).
		{false, false, 3, 300, 600, 1, 1, 0.5, 1},
		// More problems than a grid's z (65,535) in few outputs: within
		// the tiled kernel's other limits, but on cuBLAS.
		{true, false, 1, 1, 3, 1, 1, 0.5, maxGridY + 1},
	}
	// Every case twice: small products on the tiled kernel (the default),
	// then with it off, so that cuBLAS sees them all.
	routes := map[string]int{}
	for _, tiledMax := range []int64{gemmTiledMaxFMAs, 0} {
		gemmTiledMaxFMAs = tiledMax
		for _, tc := range cases {
			name := fmt.Sprintf("Gemm%+v, tiled up to %d FMAs", tc, tiledMax)
			ar, ac := tc.m, tc.k
			if tc.ta {
				ar, ac = tc.k, tc.m
			}
			br, bc := tc.k, tc.n
			if tc.tb {
				br, bc = tc.n, tc.k
			}
			lda, ldb, ldc := ac+tc.pad, bc+tc.pad, tc.n+tc.pad
			sa, sb, sc := matLen(ar, ac, lda)+tc.pad, matLen(br, bc, ldb), matLen(tc.m, tc.n, ldc)+1
			a, b := p.rand(sa*tc.batch), p.rand(sb*tc.batch)
			cInit := p.randn(sc*tc.batch, 1)
			if tc.beta == 0 {
				for i := range cInit {
					cInit[i] = float32(math.NaN()) // beta = 0 must not read C
				}
			}
			c := p.buf(cInit)
			launches := p.gpu.Device().Launches()
			if tc.batch == 1 {
				p.cpu.Gemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.alpha, a.c, lda, b.c, ldb, tc.beta, c.c, ldc)
				p.gpu.Gemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.alpha, a.g, lda, b.g, ldb, tc.beta, c.g, ldc)
			} else {
				p.cpu.GemmStridedBatched(tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.alpha, a.c, lda, sa, b.c, ldb, sb, tc.beta, c.c, ldc, sc, tc.batch)
				p.gpu.GemmStridedBatched(tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.alpha, a.g, lda, sa, b.g, ldb, sb, tc.beta, c.g, ldc, sc, tc.batch)
			}
			want, route := int64(1), "cuBLAS"
			switch tiled, parts := gemmRoute(tc.m, tc.n, tc.k, tc.batch, p.gpu.Device().Multiprocessors()); {
			case tiled:
				route = "tiled"
			case parts > 1:
				want, route = int64(tc.batch)+2, "split" // the last chunk, a GEMM per problem, the sum
			}
			routes[route]++
			if got := p.gpu.Device().Launches() - launches; got != want {
				p.t.Errorf("%s: %d launches, want %d", name, got, want)
			}
			p.check(name, c, tolReduce)
		}
	}
	gemmTiledMaxFMAs = defaultTiledMax
	if routes["tiled"] < 8 || routes["split"] != 12 || routes["cuBLAS"] < 11 {
		t.Errorf("routes taken %v: want at least 8 cases tiled, 12 split, the rest on cuBLAS", routes)
	}
}

// lengthsFor returns ragged lengths in [0, steps] with an empty and a full
// sequence when batch allows.
func (p *parity) lengthsFor(batch, steps int) []int32 {
	l := make([]int32, batch)
	for i := range l {
		l[i] = int32(p.rng.IntN(steps + 1))
	}
	l[0] = int32(steps)
	if batch > 2 {
		l[2] = 0
	}
	return l
}

func TestGPUParitySequence(t *testing.T) {
	p := newParity(t)
	for _, tc := range []struct{ batch, steps, feat, ldX int }{{1, 1, 1, 1}, {5, 9, 33, 70}, {3, 17, 7, 7}, {33, 4, 130, 261}, {2, 5, 600, 1203}} {
		for _, dc := range []struct{ dirs, dirCols int }{{1, 0}, {2, 0}, {2, tc.feat}} {
			used := (dc.dirs-1)*dc.dirCols + tc.feat
			if used > tc.ldX {
				continue
			}
			name := fmt.Sprintf("%+v %+v", tc, dc)
			lc, lg := p.ints(p.lengthsFor(tc.batch, tc.steps))
			x, y := p.rand(matLen(tc.batch*tc.steps, used, tc.ldX)), p.rand(dc.dirs*tc.batch*tc.steps*tc.feat)
			p.cpu.SequenceToTimeMajor(tc.batch, tc.steps, tc.feat, dc.dirs, x.c, tc.ldX, dc.dirCols, lc, y.c)
			p.gpu.SequenceToTimeMajor(tc.batch, tc.steps, tc.feat, dc.dirs, x.g, tc.ldX, dc.dirCols, lg, y.g)
			p.check("SequenceToTimeMajor"+name, y, tolElem)
			for _, acc := range []bool{false, true} {
				y2 := p.rand(dc.dirs * tc.batch * tc.steps * tc.feat)
				p.cpu.SequenceFromTimeMajor(tc.batch, tc.steps, tc.feat, dc.dirs, y2.c, lc, x.c, tc.ldX, dc.dirCols, acc)
				p.gpu.SequenceFromTimeMajor(tc.batch, tc.steps, tc.feat, dc.dirs, y2.g, lg, x.g, tc.ldX, dc.dirCols, acc)
				p.check(fmt.Sprintf("SequenceFromTimeMajor%s acc=%v", name, acc), x, tolElem)
			}
		}
	}
}

// TestGPUParityLSTM runs the LSTM step kernels over every step of a pass,
// forward then backward: hidden sizes that take the scalar kernels (not a
// multiple of 4) and the four-unit ones, and buffers one float past an
// aligned start (off 1), which must fall back to the scalar kernels. In
// place, the GPU's pre, act and dpre are one buffer, as the model's LSTM
// runs them, against the CPU's three.
func TestGPUParityLSTM(t *testing.T) {
	p := newParity(t)
	for _, tc := range []struct{ dirs, steps, batch, hidden, off int }{
		{1, 1, 1, 1, 0}, {2, 7, 5, 33, 0}, {1, 4, 3, 70, 0}, {2, 3, 1, 17, 0}, {2, 3, 4, 150, 0}, {1, 3, 4, 530, 0},
		{1, 3, 2, 4, 0}, {2, 5, 3, 64, 0}, {2, 3, 3, 300, 0}, {2, 5, 3, 64, 1}, {1, 3, 4, 516, 1},
	} {
		for _, inPlace := range []bool{false, true} {
			name := fmt.Sprintf("%+v", tc)
			if inPlace {
				name += " in place"
			}
			n := tc.dirs * tc.steps * tc.batch * tc.hidden
			lc, lg := p.ints(p.lengthsFor(tc.batch, tc.steps))
			at := func(x []float32) pair { return p.bufAt(x, tc.off) }
			pre := at(p.randn(4*n, 2))
			act, c, h := at(p.randn(4*n, 1)), at(p.randn(n, 1)), at(p.randn(n, 1))
			if inPlace {
				act.g = pre.g
			}
			for s := range tc.steps {
				p.cpu.LSTMGatesForward(tc.dirs, tc.steps, tc.batch, tc.hidden, s, lc, pre.c, act.c, c.c, h.c)
				p.gpu.LSTMGatesForward(tc.dirs, tc.steps, tc.batch, tc.hidden, s, lg, pre.g, act.g, c.g, h.g)
			}
			if !inPlace { // in place, an ended row keeps its pre-activations
				p.check("LSTMGatesForward act"+name, act, tolElem)
			}
			p.check("LSTMGatesForward c"+name, c, tolElem)
			p.check("LSTMGatesForward h"+name, h, tolElem)

			dh, dpre := at(p.randn(n, 1)), at(p.randn(4*n, 1))
			dc := at(make([]float32, n))
			if inPlace {
				dpre.g = act.g
			}
			for s := tc.steps - 1; s >= 0; s-- {
				p.cpu.LSTMGatesBackward(tc.dirs, tc.steps, tc.batch, tc.hidden, s, lc, act.c, c.c, dh.c, dc.c, dpre.c)
				p.gpu.LSTMGatesBackward(tc.dirs, tc.steps, tc.batch, tc.hidden, s, lg, act.g, c.g, dh.g, dc.g, dpre.g)
			}
			p.check("LSTMGatesBackward dpre"+name, dpre, tolElem)
			p.check("LSTMGatesBackward dc"+name, dc, tolElem)
			p.check("LSTMGatesBackward dh"+name, dh, tolElem)
		}
	}
}

// TestLSTMVectors checks when the LSTM step takes the four-unit kernels.
func TestLSTMVectors(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	a, b := g.Alloc(64), g.Alloc(64)
	for _, tc := range []struct {
		name   string
		hidden int
		bufs   []*F32
		want   bool
	}{
		{"aligned", 64, []*F32{a, b}, true},
		{"hidden not a multiple of 4", 66, []*F32{a, b}, false},
		{"a view one float in", 64, []*F32{a, b.Slice(1, 32)}, false},
		{"a view two floats in (8-byte aligned)", 64, []*F32{a, b.Slice(2, 32)}, false},
		{"a view four floats in", 64, []*F32{a.Slice(4, 32), b}, true},
	} {
		if got := lstmVectors(tc.hidden, tc.bufs...); got != tc.want {
			t.Errorf("%s: lstmVectors = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestGPUParitySoftmax(t *testing.T) {
	p := newParity(t)
	for _, tc := range []struct {
		rows, cols, rowsPerLength int
		masked                    bool
		scale                     float32
	}{{1, 1, 1, false, 1}, {37, 45, 3, true, 0.125}, {10, 300, 1, true, 1}, {9, 33, 9, false, 0.5}, {64, 7, 8, true, 2}, {6, 256, 2, true, 1}, {5, 257, 1, true, 1}, {17, 100, 10, true, 0.5}, {3, 300, 1, false, 1},
		// Rows over 256 columns (the kernels' long-row path) scaled, as
		// attention over more than 256 turns is by 1/√d.
		{4, 300, 2, true, 0.125}, {3, 513, 1, false, 2}} {
		name := fmt.Sprintf("%+v", tc)
		var lc, lg *I32
		if tc.masked {
			lc, lg = p.ints(p.lengthsFor((tc.rows+tc.rowsPerLength-1)/tc.rowsPerLength, tc.cols))
		}
		x, y := p.buf(p.randn(tc.rows*tc.cols, 3)), p.rand(tc.rows*tc.cols)
		p.cpu.SoftmaxForward(tc.rows, tc.cols, tc.scale, lc, tc.rowsPerLength, x.c, y.c)
		p.gpu.SoftmaxForward(tc.rows, tc.cols, tc.scale, lg, tc.rowsPerLength, x.g, y.g)
		p.check("SoftmaxForward"+name, y, tolReduce)
		dy, dx := p.rand(tc.rows*tc.cols), p.rand(tc.rows*tc.cols)
		p.cpu.SoftmaxBackward(tc.rows, tc.cols, tc.scale, lc, tc.rowsPerLength, y.c, dy.c, dx.c)
		p.gpu.SoftmaxBackward(tc.rows, tc.cols, tc.scale, lg, tc.rowsPerLength, y.g, dy.g, dx.g)
		p.check("SoftmaxBackward"+name, dx, tolReduce)
		// y that is not a softmax: nonzero in the masked columns too,
		// which the gradient ignores.
		y2 := p.rand(tc.rows * tc.cols)
		p.cpu.SoftmaxBackward(tc.rows, tc.cols, tc.scale, lc, tc.rowsPerLength, y2.c, dy.c, dx.c)
		p.gpu.SoftmaxBackward(tc.rows, tc.cols, tc.scale, lg, tc.rowsPerLength, y2.g, dy.g, dx.g)
		p.check("SoftmaxBackward of any y"+name, dx, tolReduce)
	}
}

func TestGPUParityCrossEntropy(t *testing.T) {
	p := newParity(t)
	for _, tc := range []struct {
		n, classes int
		weighted   bool
		ignore     bool
	}{{1, 4, false, false}, {37, 4, true, true}, {300, 4, true, false}, {5, 45, false, true}, {70, 3, true, true}, {1500, 4, true, true},
		{512, 8, true, true}, {513, 4, true, false}, {20, 9, false, true}, {6, 1, true, false}} {
		for _, eps := range []float32{0, 0.15} {
			crossEntropyParity(p, tc.n, tc.classes, tc.weighted, tc.ignore, eps)
		}
	}
	// 4 classes in buffers that are not 16-byte aligned (views one float
	// in) take the kernel's 4-byte path; aligned ones took the 16-byte
	// path above: both agree with the CPU.
	for _, off := range []int{1, 2, 3} {
		for _, eps := range []float32{0, 0.2} {
			const n, classes = 77, 4
			labels := make([]int32, n)
			for i := range labels {
				labels[i] = int32(p.rng.IntN(classes))
			}
			lc, lg := p.ints(labels)
			x := p.bufAt(p.randn(n*classes, 2), off)
			w := p.bufAt([]float32{0.7, 1.2, 0.9, 1.4}, 4-off)
			loss, dl, probs := p.rand(1), p.bufAt(p.randn(n*classes, 1), off), p.bufAt(p.randn(n*classes, 1), 0)
			p.cpu.CrossEntropy(n, classes, eps, x.c, lc, w.c, loss.c, dl.c, probs.c)
			p.gpu.CrossEntropy(n, classes, eps, x.g, lg, w.g, loss.g, dl.g, probs.g)
			name := fmt.Sprintf(" (4 classes, views %d floats in, smoothing %g)", off, eps)
			p.check("CrossEntropy loss"+name, loss, tolReduce)
			p.check("CrossEntropy dlogits"+name, dl, tolReduce)
			p.check("CrossEntropy probs"+name, probs, tolReduce)
		}
	}
	// Every label ignored: NaN loss, zero gradient, as in PyTorch.
	for _, eps := range []float32{0, 0.1} {
		lc, lg := p.ints([]int32{-1, -1, -1})
		x, loss, dl := p.rand(12), p.rand(1), p.rand(12)
		p.cpu.CrossEntropy(3, 4, eps, x.c, lc, nil, loss.c, dl.c, nil)
		p.gpu.CrossEntropy(3, 4, eps, x.g, lg, nil, loss.g, dl.g, nil)
		p.check("CrossEntropy all ignored loss", loss, tolReduce)
		p.check("CrossEntropy all ignored dlogits", dl, tolReduce)
	}
}

// crossEntropyParity compares one CrossEntropy case between the backends:
// with its gradient and probabilities, and without (evaluation).
func crossEntropyParity(p *parity, n, classes int, weighted, ignore bool, eps float32) {
	name := fmt.Sprintf("{n:%d classes:%d weighted:%v ignore:%v smoothing:%g}", n, classes, weighted, ignore, eps)
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(p.rng.IntN(classes))
		if ignore && i%4 == 1 {
			labels[i] = -1
		}
	}
	lc, lg := p.ints(labels)
	var w pair
	if weighted {
		ws := make([]float32, classes)
		for i := range ws {
			ws[i] = 0.5 + p.rng.Float32()
		}
		w = p.buf(ws)
	}
	x := p.buf(p.randn(n*classes, 2))
	loss, dl, probs := p.rand(1), p.rand(n*classes), p.rand(n*classes)
	p.cpu.CrossEntropy(n, classes, eps, x.c, lc, w.c, loss.c, dl.c, probs.c)
	p.gpu.CrossEntropy(n, classes, eps, x.g, lg, w.g, loss.g, dl.g, probs.g)
	p.check("CrossEntropy loss"+name, loss, tolReduce)
	p.check("CrossEntropy dlogits"+name, dl, tolReduce)
	p.check("CrossEntropy probs"+name, probs, tolReduce)
	// Evaluation: no gradient, no probabilities.
	loss2 := p.rand(1)
	p.cpu.CrossEntropy(n, classes, eps, x.c, lc, w.c, loss2.c, nil, nil)
	p.gpu.CrossEntropy(n, classes, eps, x.g, lg, w.g, loss2.g, nil, nil)
	p.check("CrossEntropy eval loss"+name, loss2, tolReduce)
}

// TestEmbeddingPlan checks the host-side sort of EmbeddingBackward: one
// segment per distinct id in increasing order, positions ascending.
func TestEmbeddingPlan(t *testing.T) {
	for _, tc := range []struct {
		ids      []int32
		pad      int32
		want     []int32
		segments int
		bad      int
	}{
		{[]int32{3, 1, 3, 0, 1, 3}, 0, []int32{0, 2, 5, 1, 3, 1, 4, 0, 2, 5}, 2, -1},
		{[]int32{3, 1, 3, 0, 1, 3}, -1, []int32{0, 1, 3, 6, 0, 1, 3, 3, 1, 4, 0, 2, 5}, 3, -1},
		{[]int32{2, 2}, 2, []int32{0}, 0, -1},
		{[]int32{1, 4, 0}, -1, nil, 0, 1},
	} {
		var g GPU
		plan, segments, bad := g.embeddingPlan(tc.ids, tc.pad, 4)
		if !slices.Equal(plan, tc.want) || segments != tc.segments || bad != tc.bad {
			t.Errorf("embeddingPlan(%v, pad %d) = %v, %d segments, bad %d; want %v, %d, %d",
				tc.ids, tc.pad, plan, segments, bad, tc.want, tc.segments, tc.bad)
		}
	}
}

func TestGPUParityEmbedding(t *testing.T) {
	p := newParity(t)
	for _, tc := range []struct {
		n, vocab, dim int
		pad           int32
	}{{1, 1, 1, -1}, {37, 11, 33, 0}, {200, 50, 130, 3}, {5, 3, 7, -1}, {301, 3, 40, 1}, {9, 4, 5, 2}} {
		wholeUpload := tc.n%2 == 0
		name := fmt.Sprintf("%+v", tc)
		ids := make([]int32, tc.n)
		for i := range ids {
			ids[i] = int32(p.rng.IntN(tc.vocab)) // repeats: the scatter-add must add them all
		}
		if tc.n == 9 {
			ids = []int32{2, 2, 2, 2, 2, 2, 2, 2, 2} // only pad: nothing to add
		}
		// ids lives in the middle of a larger allocation, uploaded in two
		// parts, or whole with the view taken after: the GPU plans from the
		// host copy of exactly this view and reads the device's.
		whole := p.gpu.AllocI32(tc.n + 5)
		ig := whole.Slice(2, tc.n)
		if wholeUpload {
			all := append([]int32{-7, -7}, ids...)
			p.gpu.UploadI32(whole, append(all, -7, -7, -7))
		} else {
			p.gpu.UploadI32(whole.Slice(0, 2), []int32{-7, -7})
			p.gpu.UploadI32(ig, ids)
		}
		ic := p.cpu.AllocI32(tc.n)
		p.cpu.UploadI32(ic, ids)
		table, out := p.rand(tc.vocab*tc.dim), p.rand(tc.n*tc.dim)
		p.cpu.EmbeddingForward(ic, tc.dim, tc.pad, table.c, out.c)
		p.gpu.EmbeddingForward(ig, tc.dim, tc.pad, table.g, out.g)
		p.check("EmbeddingForward"+name, out, tolElem)
		dout, dtable := p.rand(tc.n*tc.dim), p.rand(tc.vocab*tc.dim)
		p.cpu.EmbeddingBackward(ic, tc.dim, tc.pad, dout.c, dtable.c)
		p.gpu.EmbeddingBackward(ig, tc.dim, tc.pad, dout.g, dtable.g)
		// Each id's rows are added in the CPU's order: the same bits.
		p.check("EmbeddingBackward"+name, dtable, 0)
	}
}

func TestGPUParityMeanPool(t *testing.T) {
	p := newParity(t)
	for _, tc := range []struct{ batch, steps, feat, ld int }{{1, 1, 1, 1}, {5, 9, 33, 40}, {33, 4, 130, 130}, {3, 17, 7, 20}} {
		name := fmt.Sprintf("%+v", tc)
		lc, lg := p.ints(p.lengthsFor(tc.batch, tc.steps))
		x, y := p.rand(tc.batch*tc.steps*tc.feat), p.rand(matLen(tc.batch, tc.feat, tc.ld))
		p.cpu.MeanPool(tc.batch, tc.steps, tc.feat, lc, x.c, y.c, tc.ld)
		p.gpu.MeanPool(tc.batch, tc.steps, tc.feat, lg, x.g, y.g, tc.ld)
		p.check("MeanPool"+name, y, tolReduce)
		dx := p.rand(tc.batch * tc.steps * tc.feat)
		p.cpu.MeanPoolBackward(tc.batch, tc.steps, tc.feat, lc, y.c, tc.ld, dx.c)
		p.gpu.MeanPoolBackward(tc.batch, tc.steps, tc.feat, lg, y.g, tc.ld, dx.g)
		p.check("MeanPoolBackward"+name, dx, tolElem)
	}
}

func TestGPUParityAdam(t *testing.T) {
	p := newParity(t)
	eachGridCap(t, func(t *testing.T) {
		p.t = t
		testGPUParityAdam(p)
	})
}

func testGPUParityAdam(p *parity) {
	for _, tc := range []struct {
		n  int
		ap AdamParams
	}{
		{1, AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}},
		{1000, AdamParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.98, Eps: 1e-6, WeightDecay: 0.01, Step: 3}},
		{333, AdamParams{LR: 5e-4, Beta1: 0.8, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Decoupled: true, Step: 7}},
		{70001, AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 2}},
	} {
		name := fmt.Sprintf("%+v", tc)
		param, m := p.rand(tc.n), p.buf(p.randn(tc.n, 0.1))
		vs := p.randn(tc.n, 0.1)
		for i := range vs {
			vs[i] *= vs[i]
		}
		v := p.buf(vs)
		for i := range 3 {
			grad := p.rand(tc.n)
			tc.ap.ZeroGrad = i == 1
			p.cpu.AdamStep(tc.ap, param.c, grad.c, m.c, v.c)
			p.gpu.AdamStep(tc.ap, param.g, grad.g, m.g, v.g)
			tc.ap.Step++
			p.check("AdamStep grad"+name, grad, 0) // read-only, or zeroed on both
		}
		p.check("AdamStep param"+name, param, tolElem)
		p.check("AdamStep m"+name, m, tolElem)
		p.check("AdamStep v"+name, v, tolElem)
	}
}

// TestGPUDeviceErrors checks that bad inputs found on the device become the
// backend's error at the next Sync, naming the op.
func TestGPUDeviceErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(g *GPU)
		want string
	}{
		{"label out of range", func(g *GPU) {
			x, l, loss := g.Alloc(8), g.AllocI32(2), g.Alloc(1)
			g.UploadI32(l, []int32{1, 4})
			g.CrossEntropy(2, 4, 0, x, l, nil, loss, nil, nil)
		}, "CrossEntropy: label 4 of row 1"},
		// The general path of the kernel (more rows than its block, or
		// more classes than a thread takes) checks labels as the one-row
		// path does: a label equal to the number of classes is out of
		// range.
		{"label out of range, many rows", func(g *GPU) {
			x, l, loss := g.Alloc(4*600), g.AllocI32(600), g.Alloc(1)
			labels := make([]int32, 600)
			labels[599] = 4
			g.UploadI32(l, labels)
			g.CrossEntropy(600, 4, 0, x, l, nil, loss, nil, nil)
		}, "CrossEntropy: label 4 of row 599"},
		{"label out of range, many classes", func(g *GPU) {
			x, l, loss := g.Alloc(2*9), g.AllocI32(2), g.Alloc(1)
			g.UploadI32(l, []int32{8, 9})
			g.CrossEntropy(2, 9, 0, x, l, nil, loss, nil, nil)
		}, "CrossEntropy: label 9 of row 1"},
		{"token equal to the vocabulary size", func(g *GPU) {
			ids, table, out := g.AllocI32(3), g.Alloc(10), g.Alloc(6)
			g.UploadI32(ids, []int32{0, 5, 1})
			g.EmbeddingForward(ids, 2, -1, table, out)
		}, "Embedding: id 5 at position 1"},
		// Two ops' errors before one Sync: the first is reported whole,
		// its value and index with it, not the second's.
		{"two errors before a Sync", func(g *GPU) {
			x, l, loss := g.Alloc(8), g.AllocI32(2), g.Alloc(1)
			g.UploadI32(l, []int32{1, 4})
			g.CrossEntropy(2, 4, 0, x, l, nil, loss, nil, nil)
			lengths, px, y := g.AllocI32(3), g.Alloc(18), g.Alloc(6)
			g.UploadI32(lengths, []int32{3, 3, 9})
			g.MeanPool(3, 3, 2, lengths, px, y, 2)
		}, "CrossEntropy: label 4 of row 1 is not"},
		{"token out of range", func(g *GPU) {
			ids, table, out := g.AllocI32(3), g.Alloc(10), g.Alloc(6)
			g.UploadI32(ids, []int32{0, 7, 1})
			g.EmbeddingForward(ids, 2, -1, table, out)
		}, "Embedding: id 7 at position 1"},
		{"token out of range, backward", func(g *GPU) {
			ids, dout, dtable := g.AllocI32(3), g.Alloc(6), g.Alloc(10)
			g.UploadI32(ids, []int32{0, 1, -2})
			g.EmbeddingBackward(ids, 2, -1, dout, dtable)
		}, "Embedding: id -2 at position 2"},
		{"ids never uploaded", func(g *GPU) {
			ids, dout, dtable := g.AllocI32(3), g.Alloc(6), g.Alloc(10)
			g.EmbeddingBackward(ids, 2, -1, dout, dtable)
		}, "EmbeddingBackward: ids were never uploaded"},
		{"length out of range", func(g *GPU) {
			l, x, y := g.AllocI32(2), g.Alloc(12), g.Alloc(6)
			g.UploadI32(l, []int32{3, 4})
			g.MeanPool(2, 3, 2, l, x, y, 2)
		}, "lengths[1] = 4 outside [0, steps]"},
		{"buffer too small", func(g *GPU) {
			g.Axpy(1, g.Alloc(10), g.Alloc(9))
		}, "Axpy: y has 9 elements, needs 10"},
		{"CPU buffer", func(g *GPU) {
			g.Fill(NewCPU(1).Alloc(3), 1)
		}, "not a GPU buffer"},
		// As on the CPU: no rows to look ids up in, and a step count of 0
		// even with nothing to step.
		{"ids with dim 0", func(g *GPU) {
			ids := g.AllocI32(2)
			g.UploadI32(ids, []int32{0, 1})
			g.EmbeddingForward(ids, 0, -1, g.Alloc(4), nil)
		}, "EmbeddingForward: dim=0 with 2 ids"},
		{"ids with dim 0, backward", func(g *GPU) {
			ids := g.AllocI32(2)
			g.UploadI32(ids, []int32{0, 1})
			g.EmbeddingBackward(ids, 0, -1, nil, g.Alloc(4))
		}, "EmbeddingBackward: dim=0 with 2 ids"},
		{"Adam step 0 of nothing", func(g *GPU) {
			g.AdamStep(AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, nil, nil, nil, nil)
		}, "AdamStep: step 0 must be 1-based"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGPU(0)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			tc.run(g)
			err = g.Sync()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Sync: %v, want an error containing %q", err, tc.want)
			}
			// Sticky: later ops are skipped and the error stays.
			g.Fill(g.Alloc(4), 1)
			if err2 := g.Sync(); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("error changed to %v", err2)
			}
		})
	}
}

// TestGPUPoolSteadyState checks that a repeated step allocates nothing on
// the device after the first.
func TestGPUPoolSteadyState(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	step := func() {
		a, b := g.Alloc(1000), g.Alloc(37)
		l := g.AllocI32(5)
		g.UploadI32(l, []int32{1, 2, 3, 4, 5})
		g.Fill(a, 1)
		g.Sum(a, b.Slice(3, 1))
		out := make([]float32, 1)
		g.Download(out, b.Slice(3, 1))
		if out[0] != 1000 {
			t.Fatalf("sum %v", out[0])
		}
		g.Free(a)
		g.Free(b)
		g.FreeI32(l)
	}
	step()
	m0, _ := g.PoolStats()
	for range 5 {
		step()
	}
	if m, _ := g.PoolStats(); m != m0 {
		t.Errorf("device allocations grew from %d to %d in steady state", m0, m)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	// Fresh buffers from the pool are zeroed.
	x := g.Alloc(1000)
	got := make([]float32, 1000)
	g.Download(got, x)
	for i, v := range got {
		if v != 0 {
			t.Fatalf("recycled buffer element %d = %v", i, v)
		}
	}
}

// TestGPUUploadRing pushes more uploads through the staging ring than it
// holds, and one larger than it, checking every value arrives.
func TestGPUUploadRing(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sizes := []int{ringInitial/4/3 + 7, ringInitial/4/3 + 7, ringInitial/4/3 + 7, ringInitial/4/3 + 7, ringInitial/4 + 100, 5}
	var bufs []*F32
	var want [][]float32
	for i, n := range sizes {
		x := make([]float32, n)
		for j := range x {
			x[j] = float32(i*1000 + j%1000)
		}
		b := g.Alloc(n)
		g.Upload(b, x)
		bufs = append(bufs, b)
		want = append(want, x)
	}
	for i, b := range bufs {
		got := make([]float32, b.Len())
		g.Download(got, b)
		for j := range got {
			if got[j] != want[i][j] {
				t.Fatalf("upload %d element %d: %v, want %v", i, j, got[j], want[i][j])
			}
		}
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestGPUTimeOps checks that TimeOps runs f n times, held or not, waits for
// the ops and returns their device time and the time to issue them, and
// that an op's failure inside is its error.
func TestGPUTimeOps(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, held := range []bool{false, true} {
		x := g.Alloc(1 << 20)
		g.Fill(x, 1)
		calls := 0
		d, issue, err := g.TimeOps(5, held, func() {
			calls++
			g.Scale(2, x)
		})
		if err != nil {
			t.Fatalf("held %v: %v", held, err)
		}
		if calls != 5 || d <= 0 || issue <= 0 {
			t.Fatalf("held %v: %d calls, device %v, issue %v", held, calls, d, issue)
		}
		got := make([]float32, 1<<20)
		g.Download(got, x)
		if got[0] != 32 || got[len(got)-1] != 32 {
			t.Fatalf("held %v: after 5 doublings: %v %v, want 32", held, got[0], got[len(got)-1])
		}
		g.Free(x)
	}
	bad := g.AllocI32(1)
	g.UploadI32(bad, []int32{7})
	table, out := g.Alloc(3*4), g.Alloc(4)
	g.Fill(table, 1)
	if _, _, err := g.TimeOps(1, true, func() { g.EmbeddingForward(bad, 4, -1, table, out) }); err == nil {
		t.Error("TimeOps around an embedding of id 7 of 3: no error")
	}
}

// TestGPUTimeOpsHostWaits checks that a held group in which an op waits
// for the device (a Download) is released for it, finishes, and fails with
// ErrHostWaited; the same group not held is timed.
func TestGPUTimeOpsHostWaits(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	x := g.Alloc(1000)
	g.Fill(x, 2)
	got := make([]float32, 1000)
	download := func() { g.Download(got, x) }
	if _, _, err := g.TimeOps(3, true, download); !errors.Is(err, ErrHostWaited) {
		t.Errorf("held Downloads: %v, want ErrHostWaited", err)
	}
	if got[999] != 2 {
		t.Errorf("downloaded %v, want 2", got[999])
	}
	if _, _, err := g.TimeOps(3, false, download); err != nil {
		t.Errorf("Downloads not held: %v", err)
	}
	// The next held group, without waits, is held again.
	if _, _, err := g.TimeOps(3, true, func() { g.Scale(2, x) }); err != nil {
		t.Errorf("held Scales after: %v", err)
	}
}

// TestGPUTimeOpsHolds checks on a GPU that a held group runs once it is
// all issued: with the host pausing 5 ms between calls, the held group's
// device time is that of its small ops, the group not held waits for the
// host. (The emulation runs each op as it is issued: there the hold
// cannot hold, and TestGPUTimeOps covers it.)
func TestGPUTimeOpsHolds(t *testing.T) {
	if cuda.Emulated {
		t.Skip("the emulated device runs each op when it is issued")
	}
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	x := g.Alloc(1024)
	const calls, pause = 4, 5 * time.Millisecond
	slow := func() {
		time.Sleep(pause)
		g.Scale(1, x)
	}
	held, issueHeld, err := g.TimeOps(calls, true, slow)
	if err != nil {
		t.Fatal(err)
	}
	paced, _, err := g.TimeOps(calls, false, slow)
	if err != nil {
		t.Fatal(err)
	}
	if issueHeld < calls*pause || held > pause || paced < (calls-1)*pause {
		t.Errorf("4 calls 5 ms apart: held %v of device time (issued in %v), not held %v; want under 5 ms, and over 15 ms not held", held, issueHeld, paced)
	}
}

// TestGPULaunchBound checks that the GPU backend asks for few large ops and
// the CPU backend does not.
func TestGPULaunchBound(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if !IsLaunchBound(g) || IsLaunchBound(NewCPU(1)) {
		t.Errorf("IsLaunchBound: GPU %v, CPU %v; want true, false", IsLaunchBound(g), IsLaunchBound(NewCPU(1)))
	}
}

func TestGPUParityTranspose(t *testing.T) {
	p := newParity(t)
	for _, tc := range []struct{ batch, rows, cols, ldSrc, ldDst int }{{1, 1, 1, 1, 1}, {1, 33, 70, 70, 33}, {2, 256, 64, 70, 260}, {3, 5, 100, 101, 9}} {
		name := fmt.Sprintf("%+v", tc)
		ss, sd := matLen(tc.rows, tc.cols, tc.ldSrc)+3, matLen(tc.cols, tc.rows, tc.ldDst)+5 // matrices with gaps
		src, dst := p.rand(tc.batch*ss), p.rand(tc.batch*sd)
		p.cpu.Transpose(tc.batch, tc.rows, tc.cols, src.c, tc.ldSrc, ss, dst.c, tc.ldDst, sd)
		p.gpu.Transpose(tc.batch, tc.rows, tc.cols, src.g, tc.ldSrc, ss, dst.g, tc.ldDst, sd)
		p.check("Transpose"+name, dst, tolElem)
	}
}

// TestGPUBiasGradWritesOnlyDBias checks that BiasGrad writes no column
// past dbias's: a view of 33 columns at the start of a buffer whose other
// floats are −0, which adding zero would turn into +0 (the emulated
// device checks accesses against the allocation, not the view).
func TestGPUBiasGradWritesOnlyDBias(t *testing.T) {
	p := newParity(t)
	const rows, cols, whole = 5, 33, 64
	init := p.randn(whole, 1)
	for i := cols; i < whole; i++ {
		init[i] = float32(math.Copysign(0, -1))
	}
	db := p.buf(init)
	dy := p.rand(rows * cols)
	p.cpu.BiasGrad(rows, cols, dy.c, db.c.Slice(0, cols))
	p.gpu.BiasGrad(rows, cols, dy.g, db.g.Slice(0, cols))
	p.check("BiasGrad", db, tolReduce)
	got := make([]float32, whole)
	p.gpu.Download(got, db.g)
	if err := p.gpu.Err(); err != nil {
		t.Fatal(err)
	}
	for i := cols; i < whole; i++ {
		if math.Float32bits(got[i]) != 0x80000000 {
			t.Fatalf("element %d past dbias: %v (bits %#x), want −0 untouched", i, got[i], math.Float32bits(got[i]))
		}
	}
}

func TestGPUParityHeads(t *testing.T) {
	p := newParity(t)
	for _, tc := range []struct{ batch, steps, parts, heads, dim int }{{1, 1, 1, 1, 1}, {3, 10, 3, 4, 64}, {2, 7, 3, 3, 33}, {5, 2, 1, 8, 17}} {
		name := fmt.Sprintf("%+v", tc)
		n := tc.batch * tc.steps * tc.parts * tc.heads * tc.dim
		x, y, back := p.rand(n), p.rand(n), p.rand(n)
		p.cpu.SplitHeads(tc.batch, tc.steps, tc.parts, tc.heads, tc.dim, x.c, y.c)
		p.gpu.SplitHeads(tc.batch, tc.steps, tc.parts, tc.heads, tc.dim, x.g, y.g)
		p.check("SplitHeads"+name, y, 0)
		p.cpu.MergeHeads(tc.batch, tc.steps, tc.parts, tc.heads, tc.dim, y.c, back.c)
		p.gpu.MergeHeads(tc.batch, tc.steps, tc.parts, tc.heads, tc.dim, y.g, back.g)
		p.check("MergeHeads"+name, back, 0)
	}
}

// TestGPUParityLSTMSequence runs whole LSTM passes, forward then backward,
// on both backends, with the device's multiprocessors and with one (blocks
// of 1 to 4 rows with a partial last block),
// hidden sizes that are not multiples of 32, directions ldDir apart with a
// gap, and ragged lengths with empty rows.
func TestGPUParityLSTMSequence(t *testing.T) {
	p := newParity(t)
	// On one multiprocessor every block takes as many rows as fit.
	for _, sms := range []int{p.gpu.sms, 1} {
		t.Run(fmt.Sprintf("sms%d", sms), func(t *testing.T) {
			old := p.gpu.sms
			p.gpu.sms = sms
			defer func() { p.gpu.sms = old }()
			p.t = t
			testGPUParityLSTMSequence(p)
		})
	}
}

// TestLSTMSequenceKernelForms checks that the sequence kernels that hold
// their weights in registers (_regs) or load more of them ahead (_deep)
// give the bits of the plain ones, at hidden sizes up to their limits.
func TestLSTMSequenceKernelForms(t *testing.T) {
	p := newParity(t)
	defer func(r, d int) { lstmSeqRegHidden, lstmSeqDeepHidden = r, d }(lstmSeqRegHidden, lstmSeqDeepHidden)
	for _, tc := range []struct{ dirs, steps, batch, hidden int }{{2, 6, 7, 64}, {1, 4, 5, 33}, {2, 3, 9, 1}, {2, 4, 3, 128}, {1, 3, 6, 100}} {
		name := fmt.Sprintf("%+v", tc)
		H, n := tc.hidden, tc.dirs*tc.steps*tc.batch*tc.hidden
		ldDir := 4 * H * H
		_, lg := p.ints(p.lengthsFor(tc.batch, tc.steps))
		whh, whhT := p.rand(tc.dirs*ldDir), p.rand(tc.dirs*ldDir)
		pre, dh, dc := p.buf(p.randn(4*n, 1)), p.rand(n), p.rand(n)
		outs := func(reg, deep int) (string, [][]float32) {
			lstmSeqRegHidden, lstmSeqDeepHidden = reg, deep
			act, c, h, dpre := p.gpu.Alloc(4*n), p.gpu.Alloc(n), p.gpu.Alloc(n), p.gpu.Alloc(4*n)
			p.gpu.LSTMSequenceForward(tc.dirs, tc.steps, tc.batch, H, lg, whhT.g, ldDir, pre.g, act, c, h)
			p.gpu.LSTMSequenceBackward(tc.dirs, tc.steps, tc.batch, H, lg, whh.g, ldDir, act, c, dh.g, dc.g, dpre)
			var got [][]float32
			for _, b := range []*F32{act, c, h, dpre} {
				x := make([]float32, b.Len())
				p.gpu.Download(x, b)
				got = append(got, x)
			}
			return lstmSeqKernel("lstm_seq_fwd", H), got
		}
		plainName, plain := outs(0, 0)
		for _, form := range [][2]int{{0, 128}, {64, 128}} {
			kernel, got := outs(form[0], form[1])
			if kernel == plainName {
				continue // this hidden size has no such form
			}
			for i, what := range []string{"act", "c", "h", "dpre"} {
				for k := range got[i] {
					if math.Float32bits(got[i][k]) != math.Float32bits(plain[i][k]) {
						t.Errorf("%s: %s[%d] = %g with %s, %g with %s", name, what, k, got[i][k], kernel, plain[i][k], plainName)
						break
					}
				}
			}
		}
		if err := p.gpu.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// In place, the GPU's pre, act and dpre are one buffer, as the model's LSTM
// runs them, against the CPU's three.
func testGPUParityLSTMSequence(p *parity) {
	type seqCase struct{ dirs, steps, batch, hidden int }
	cases := []seqCase{{1, 1, 1, 1}, {2, 5, 7, 33}, {2, 3, 301, 9}, {2, 3, 1030, 5}, {1, 4, 3, 150}, {2, 3, 3, 512}, {2, 4, 5, 100}}
	for _, tc := range cases {
		testGPUParityLSTMSequenceCase(p, tc.dirs, tc.steps, tc.batch, tc.hidden, false)
	}
	for _, tc := range []seqCase{{2, 5, 7, 33}, {2, 4, 3, 64}, {1, 4, 3, 128}, {2, 3, 3, 150}} { // each kernel form
		testGPUParityLSTMSequenceCase(p, tc.dirs, tc.steps, tc.batch, tc.hidden, true)
	}
}

// testGPUParityLSTMSequenceCase is one pass of testGPUParityLSTMSequence.
func testGPUParityLSTMSequenceCase(p *parity, dirs, steps, batch, hidden int, inPlace bool) {
	name := fmt.Sprintf("{dirs:%d steps:%d batch:%d hidden:%d}", dirs, steps, batch, hidden)
	if inPlace {
		name += " in place"
	}
	H, n := hidden, dirs*steps*batch*hidden
	ldDir := 4*H*H + 7
	lc, lg := p.ints(p.lengthsFor(batch, steps))
	whh := p.buf(p.randn(dirs*ldDir, 0.3))
	whhT := p.rand(dirs * ldDir)
	p.cpu.Transpose(dirs, 4*H, H, whh.c, H, ldDir, whhT.c, 4*H, ldDir)
	p.gpu.Transpose(dirs, 4*H, H, whh.g, H, ldDir, whhT.g, 4*H, ldDir)
	pre := p.buf(p.randn(4*n, 1))
	act, c, h := p.rand(4*n), p.rand(n), p.rand(n)
	if inPlace {
		act.g = pre.g
	}
	p.cpu.LSTMSequenceForward(dirs, steps, batch, H, lc, whhT.c, ldDir, pre.c, act.c, c.c, h.c)
	p.gpu.LSTMSequenceForward(dirs, steps, batch, H, lg, whhT.g, ldDir, pre.g, act.g, c.g, h.g)
	if !inPlace { // in place, an ended row keeps its pre-activations
		p.check("LSTMSequenceForward act"+name, act, tolReduce)
	}
	p.check("LSTMSequenceForward c"+name, c, tolReduce)
	p.check("LSTMSequenceForward h"+name, h, tolReduce)

	// dh: the output's gradient at every step; dc: the last step's
	// gradient of c (the rest is scratch).
	dh, dc, dpre := p.rand(n), p.rand(n), p.rand(4*n)
	if inPlace {
		dpre.g = act.g
	}
	p.cpu.LSTMSequenceBackward(dirs, steps, batch, H, lc, whh.c, ldDir, act.c, c.c, dh.c, dc.c, dpre.c)
	p.gpu.LSTMSequenceBackward(dirs, steps, batch, H, lg, whh.g, ldDir, act.g, c.g, dh.g, dc.g, dpre.g)
	p.check("LSTMSequenceBackward dpre"+name, dpre, tolReduce)
	if inPlace {
		return // the dc-nil runs below read act again, which now holds dpre
	}

	// dc nil: no gradient into the last c, as a zero dc.
	for _, nilOnGPU := range []bool{true, false} {
		dh2, dc0 := p.rand(n), p.buf(make([]float32, n))
		dcC, dcG := dc0.c, dc0.g
		if nilOnGPU {
			dcG = nil
		} else {
			dcC = nil
		}
		p.cpu.LSTMSequenceBackward(dirs, steps, batch, H, lc, whh.c, ldDir, act.c, c.c, dh2.c, dcC, dpre.c)
		p.gpu.LSTMSequenceBackward(dirs, steps, batch, H, lg, whh.g, ldDir, act.g, c.g, dh2.g, dcG, dpre.g)
		p.check(fmt.Sprintf("LSTMSequenceBackward dpre, dc nil on the GPU %v%s", nilOnGPU, name), dpre, tolReduce)
	}
}

// TestGPULSTMSequenceLimits checks that a hidden size the sequence kernel
// cannot take is the backend's error, naming the op.
func TestGPULSTMSequenceLimits(t *testing.T) {
	g, err := NewGPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const H = lstmSeqMaxHidden + 1
	lengths := g.AllocI32(1)
	g.UploadI32(lengths, []int32{1})
	w, gates, state := g.Alloc(4*H*H), g.Alloc(4*H), g.Alloc(H)
	g.LSTMSequenceForward(1, 1, 1, H, lengths, w, 4*H*H, gates, gates, state, state)
	if err := g.Sync(); err == nil || !strings.Contains(err.Error(), "LSTMSequenceForward: hidden=513 is too large") {
		t.Errorf("hidden %d: %v", H, err)
	}
}

// TestLSTMSeqLaunch checks that the sequence kernels' blocks fit one wave
// with the fewest rows a block, where shared memory and LSTM_SEQ_ROWS let
// them.
func TestLSTMSeqLaunch(t *testing.T) {
	for _, tc := range []struct{ dirs, batch, hidden, sms, rows int }{
		{2, 32, 64, 132, 1},  // the sentence model: 64 blocks
		{2, 320, 64, 132, 3}, // the dialog model's utterances: 264 places
		{2, 32, 128, 132, 1}, // its dialog LSTM
		{2, 512, 512, 132, 2},
		{1, 5000, 64, 132, 3},  // more rows than a block of the _regs kernels takes: two waves
		{1, 5000, 100, 132, 4}, // or than LSTM_SEQ_ROWS
		{2, 40, 300, 1, 3},     // 4·300 floats a row: three fit
	} {
		grid, block, rows := lstmSeqLaunch(tc.dirs, tc.batch, tc.hidden, tc.sms)
		places := tc.sms * max(1, smRegisters/(block[0]*lstmSeqRegisters))
		if rows != tc.rows || grid[0] != (tc.batch+rows-1)/rows || grid[1] != tc.dirs || block[0] != min((4*tc.hidden+31)/32*32, 512) {
			t.Errorf("%+v: grid %v, block %v, %d rows; want %d rows", tc, grid, block, rows, tc.rows)
		}
		if rows < lstmSeqRegRows && rows*4*tc.hidden*2 <= lstmSeqShared && grid[0]*grid[1] > places {
			t.Errorf("%+v: %d blocks for %d places", tc, grid[0]*grid[1], places)
		}
	}
}

// TestGemmSplits pins the split-over-k policy at the models' shapes (132
// multiprocessors, an H100 SXM's or H200's).
// TestGemmRoute checks the limits of the tiled GEMM at their edges.
func TestGemmRoute(t *testing.T) {
	for _, tc := range []struct {
		m, n, k, batch int
		tiled          bool
	}{
		{10, 10, gemmTiledMaxK, 128, true},
		{10, 10, gemmTiledMaxK + 1, 128, false},
		{1, 1, 3, maxGridY, true},
		{1, 1, 3, maxGridY + 1, false},
		{256, 256, 1, 1, true},
		{256, 257, 1, 1, false},
	} {
		if got, _ := gemmRoute(tc.m, tc.n, tc.k, tc.batch, 132); got != tc.tiled {
			t.Errorf("gemmRoute(%d, %d, %d, %d): tiled = %v, want %v", tc.m, tc.n, tc.k, tc.batch, got, tc.tiled)
		}
	}
}

// TestLSTMSeqKernelChoice checks the hidden sizes at the edges of the
// sequence kernels' forms.
func TestLSTMSeqKernelChoice(t *testing.T) {
	for _, tc := range []struct {
		hidden int
		want   string
	}{
		{1, "lstm_seq_fwd_regs"},
		{lstmSeqRegHidden, "lstm_seq_fwd_regs"},
		{lstmSeqRegHidden + 1, "lstm_seq_fwd_deep"},
		{lstmSeqDeepHidden, "lstm_seq_fwd_deep"},
		{lstmSeqDeepHidden + 1, "lstm_seq_fwd"},
	} {
		if got := lstmSeqKernel("lstm_seq_fwd", tc.hidden); got != tc.want {
			t.Errorf("lstmSeqKernel(hidden %d) = %s, want %s", tc.hidden, got, tc.want)
		}
	}
}

func TestGemmSplits(t *testing.T) {
	for _, tc := range []struct {
		name           string
		m, n, k, batch int
		want           int
	}{
		{"sentence dW_ih, 1,152 rows", 256, 128, 1152, 2, 9},
		{"dialog utterance dW_ih, 32,000 rows", 256, 100, 32000, 2, 32},
		{"dialog utterance dW_hh", 256, 64, 31680, 2, 32},
		{"LSTM biases onesᵀ·dpre, 1,600 rows", 2, 256, 1600, 2, 12},
		{"dialog LSTM dW_ih, 320 rows: k too short", 512, 131, 320, 2, 1},
		{"k = 511: three chunks are not worth it", 64, 64, 511, 1, 1},
		{"k = 512: four", 64, 64, 512, 1, 4},
		{"large LSTM dW_ih: the output fills the device", 2048, 512, 51200, 2, 1},
		{"attention heads: batch too large", 100, 32, 4096, 8, 1},
	} {
		if got := gemmSplits(tc.m, tc.n, tc.k, tc.batch, 132); got != tc.want {
			t.Errorf("%s: gemmSplits(%d, %d, %d, %d) = %d, want %d", tc.name, tc.m, tc.n, tc.k, tc.batch, got, tc.want)
		}
	}
}

// TestGPUParityEmpty runs the reductions and the loss over no elements,
// their inputs nil as the Backend allows for zero elements: both backends
// write a sum of 0 and a NaN mean loss (PyTorch's), and neither fails.
func TestGPUParityEmpty(t *testing.T) {
	p := newParity(t)
	for _, op := range []struct {
		name string
		run  func(b Backend, out *F32)
	}{
		{"Sum", func(b Backend, out *F32) { b.Sum(nil, out) }},
		{"SumSquares", func(b Backend, out *F32) { b.SumSquares(nil, out) }},
		{"CrossEntropy", func(b Backend, out *F32) { b.CrossEntropy(0, 4, 0, nil, nil, nil, out, nil, nil) }},
	} {
		out := p.rand(1)
		op.run(p.cpu, out.c)
		op.run(p.gpu, out.g)
		p.check(op.name+" of nothing", out, 0)
		v := make([]float32, 1)
		p.cpu.Download(v, out.c)
		if want := op.name == "CrossEntropy"; math.IsNaN(float64(v[0])) != want || (!want && v[0] != 0) {
			t.Errorf("%s of nothing = %v", op.name, v[0])
		}
	}
}

// TestGPUParityReLUSpecials: ReLU of NaN is NaN (torch.relu), of −0 is 0,
// of ±Inf itself or 0, on both backends.
func TestGPUParityReLUSpecials(t *testing.T) {
	p := newParity(t)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	x := p.buf([]float32{nan, float32(math.Copysign(0, -1)), -1, 2, inf, -inf})
	y := p.rand(6)
	p.cpu.ReLU(x.c, y.c)
	p.gpu.ReLU(x.g, y.g)
	p.check("ReLU of specials", y, 0)
	got := make([]float32, 6)
	p.cpu.Download(got, y.c)
	if !math.IsNaN(float64(got[0])) || math.Signbit(float64(got[1])) || got[2] != 0 || got[3] != 2 || got[4] != inf || got[5] != 0 {
		t.Errorf("ReLU of [NaN -0 -1 2 Inf -Inf] = %v", got)
	}
}

// TestGPUParityGemmNoProduct: with alpha = 0 or k = 0 a GEMM is C = beta·C
// and reads neither A nor B (BLAS's rule): NaNs in A do not reach C, and
// with k = 0 A and B may be nil with leading dimensions of 0, on both
// backends, small (the tiled kernel's sizes) and batched.
func TestGPUParityGemmNoProduct(t *testing.T) {
	p := newParity(t)
	nan := float32(math.NaN())
	for _, batch := range []int{1, 3} {
		const m, n, k = 2, 3, 4
		aNaN := make([]float32, batch*m*k)
		for i := range aNaN {
			aNaN[i] = nan
		}
		a, b := p.buf(aNaN), p.rand(batch*k*n)
		for _, beta := range []float32{0, 0.5, 1} {
			c := p.rand(batch * m * n)
			p.cpu.GemmStridedBatched(false, false, m, n, k, 0, a.c, k, m*k, b.c, n, k*n, beta, c.c, n, m*n, batch)
			p.gpu.GemmStridedBatched(false, false, m, n, k, 0, a.g, k, m*k, b.g, n, k*n, beta, c.g, n, m*n, batch)
			p.check(fmt.Sprintf("alpha 0, beta %g, batch %d", beta, batch), c, 0)
			c2 := p.rand(batch * m * n)
			p.cpu.GemmStridedBatched(true, true, m, n, 0, 1.5, nil, 0, 0, nil, 0, 0, beta, c2.c, n, m*n, batch)
			p.gpu.GemmStridedBatched(true, true, m, n, 0, 1.5, nil, 0, 0, nil, 0, 0, beta, c2.g, n, m*n, batch)
			p.check(fmt.Sprintf("k 0, beta %g, batch %d", beta, batch), c2, 0)
			got := make([]float32, c.c.Len())
			p.cpu.Download(got, c.c)
			for i, v := range got {
				if math.IsNaN(float64(v)) {
					t.Fatalf("alpha 0: C[%d] is NaN", i)
				}
			}
		}
	}
}
