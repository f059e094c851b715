package host

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// cpuHarness wraps a CPU backend for tests: uploads, downloads and checks
// that fail the test at once.
type cpuHarness struct {
	t   testing.TB
	c   *CPU
	rng *rand.Rand
}

func newCPUHarness(t testing.TB, threads int) *cpuHarness {
	return &cpuHarness{t: t, c: NewCPU(threads), rng: rand.New(rand.NewPCG(1, 2))}
}

// up uploads vals into a new buffer.
func (h *cpuHarness) up(vals []float32) *F32 {
	b := h.c.Alloc(len(vals))
	h.c.Upload(b, vals)
	return b
}

// upI uploads vals into a new int32 buffer.
func (h *cpuHarness) upI(vals []int32) *I32 {
	b := h.c.AllocI32(len(vals))
	h.c.UploadI32(b, vals)
	return b
}

// down downloads b, failing the test on a backend error.
func (h *cpuHarness) down(b *F32) []float32 {
	h.t.Helper()
	out := make([]float32, b.Len())
	h.c.Download(out, b)
	h.ok()
	return out
}

// ok fails the test if the backend recorded an error.
func (h *cpuHarness) ok() {
	h.t.Helper()
	if err := h.c.Err(); err != nil {
		h.t.Fatalf("backend error: %v", err)
	}
}

// rand returns n uniform values in [-1, 1).
func (h *cpuHarness) rand(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(2*h.rng.Float64() - 1)
	}
	return v
}

// lengths returns batch random lengths in [0, steps] that include 0 and
// steps when batch allows.
func (h *cpuHarness) lengths(batch, steps int) []int32 {
	l := make([]int32, batch)
	for i := range l {
		l[i] = int32(h.rng.IntN(steps + 1))
	}
	if batch > 0 {
		l[0] = int32(steps)
	}
	if batch > 2 {
		l[batch-1] = 0
	}
	return l
}

// cpuF64 converts to float64.
func cpuF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// cpuCheckClose fails unless |got−want| ≤ tol·|want| + abs for every element.
func cpuCheckClose(t testing.TB, what string, got []float32, want []float64, tol, abs float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), want[i]
		if math.IsNaN(w) != math.IsNaN(g) || math.Abs(g-w) > tol*math.Abs(w)+abs {
			t.Fatalf("%s[%d] = %.9g, want %.9g (tolerance %g relative + %g)", what, i, g, w, tol, abs)
		}
	}
}

// cpuGradErr is the worst relative error of an analytic gradient against a
// numeric one: max |a−n| / (|n| + 1e-3·max|n|), with a floor of 1e-6 on the
// denominator.
func cpuGradErr(analytic []float32, numeric []float64) float64 {
	var scale float64
	for _, v := range numeric {
		scale = max(scale, math.Abs(v))
	}
	var worst float64
	for i, n := range numeric {
		d := math.Abs(n) + 1e-3*scale + 1e-6
		worst = max(worst, math.Abs(float64(analytic[i])-n)/d)
	}
	return worst
}

// cpuNumGrad is the central-difference gradient of f at x (x is restored).
func cpuNumGrad(x []float64, f func() float64) []float64 {
	const h = 1e-6
	g := make([]float64, len(x))
	for i := range x {
		v := x[i]
		x[i] = v + h
		fp := f()
		x[i] = v - h
		fm := f()
		x[i] = v
		g[i] = (fp - fm) / (2 * h)
	}
	return g
}

// cpuDot is Σ r_i·y_i in float64.
func cpuDot(r, y []float64) float64 {
	var s float64
	for i := range r {
		s += r[i] * y[i]
	}
	return s
}

// cpuCheckGrad compares an analytic gradient with a numeric one and logs the
// worst relative error, failing above 1e-3.
func cpuCheckGrad(t *testing.T, what string, analytic []float32, numeric []float64) {
	t.Helper()
	e := cpuGradErr(analytic, numeric)
	t.Logf("%s: worst relative error against finite differences %.2e", what, e)
	if e > 1e-3 {
		for i := range numeric {
			t.Logf("  [%d] analytic %.8g numeric %.8g", i, analytic[i], numeric[i])
		}
		t.Fatalf("%s: gradient error %.2e > 1e-3", what, e)
	}
}

func TestCPUName(t *testing.T) {
	c := NewCPU(0)
	if c.Threads() < 1 || !strings.HasPrefix(c.Name(), "cpu") {
		t.Fatalf("NewCPU(0): threads %d, name %q", c.Threads(), c.Name())
	}
	if c := NewCPU(3); c.Threads() != 3 {
		t.Fatalf("NewCPU(3).Threads() = %d", c.Threads())
	}
}

// TestCPUStickyErrors checks that a bad call records an error naming the op
// and its sizes, without panicking, and that later ops are skipped.
func TestCPUStickyErrors(t *testing.T) {
	gpuLike := &F32{n: 4, dev: 0x1000}
	tests := []struct {
		name string
		call func(c *CPU, b func(n int) *F32, bi func(v ...int32) *I32)
		want string
	}{
		{"gemm C short", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Gemm(false, false, 3, 4, 2, 1, b(6), 2, b(8), 4, 0, b(10), 4)
		}, "host: Gemm: C has 10 elements, needs 12 (m=3 n=4 ldc=4)"},
		{"gemm A short", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Gemm(true, false, 3, 4, 2, 1, b(5), 3, b(8), 4, 0, b(12), 4)
		}, "host: Gemm: A has 5 elements, needs 6"},
		{"gemm lda", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Gemm(false, true, 3, 4, 2, 1, b(6), 1, b(8), 2, 0, b(12), 4)
		}, "host: Gemm: lda=1 is less than the row length 2"},
		{"gemm nil B", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Gemm(false, false, 3, 4, 2, 1, b(6), 2, nil, 4, 0, b(12), 4)
		}, "host: Gemm: B is nil"},
		{"gemm negative", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Gemm(false, false, -1, 4, 2, 1, b(6), 2, b(8), 4, 0, b(12), 4)
		}, "host: Gemm: negative size (m=-1"},
		{"batched C short", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.GemmStridedBatched(false, false, 2, 2, 2, 1, b(8), 2, 4, b(8), 2, 4, 0, b(7), 2, 4, 2)
		}, "host: GemmStridedBatched: C has 7 elements, needs 8"},
		{"gpu buffer", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Copy(b(4), gpuLike)
		}, "host: Copy: src is not a CPU buffer"},
		{"copy lengths", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Copy(b(5), b(4))
		}, "host: Copy: dst has 5 elements, src 4"},
		{"upload length", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Upload(b(5), make([]float32, 4))
		}, "host: Upload: dst has 5 elements, src 4"},
		{"label out of range", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.CrossEntropy(2, 3, 0, b(6), bi(0, 3), nil, b(1), b(6), nil)
		}, "host: CrossEntropy: labels[1] = 3, not below classes=3"},
		{"id outside table", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.EmbeddingForward(bi(1, 5, 2), 2, -1, b(10), b(6))
		}, "host: EmbeddingForward: ids[1] = 5 outside [0, 5)"},
		{"negative id", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.EmbeddingBackward(bi(-2), 2, -1, b(2), b(10))
		}, "host: EmbeddingBackward: ids[0] = -2 outside [0, 5)"},
		{"length too long", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.SequenceToTimeMajor(2, 3, 1, 2, b(6), 1, 0, bi(3, 4), b(12))
		}, "host: SequenceToTimeMajor: lengths[1] = 4 outside [0, 3]"},
		{"sequence dirs", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.SequenceToTimeMajor(2, 3, 1, 3, b(6), 1, 0, bi(3, 2), b(18))
		}, "host: SequenceToTimeMajor: dirs=3, want 1 or 2"},
		{"sequence overlapping directions", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.SequenceFromTimeMajor(2, 3, 4, 2, b(48), bi(3, 2), b(42), 7, 3, false)
		}, "host: SequenceFromTimeMajor: dirCols=3 overlaps the 4 features of the other direction"},
		{"sequence x short for two directions", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.SequenceFromTimeMajor(2, 3, 4, 2, b(48), bi(3, 2), b(44), 8, 4, false)
		}, "host: SequenceFromTimeMajor: x has 44 elements, needs 48"},
		{"lstm step", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.LSTMGatesForward(1, 2, 1, 1, 2, bi(2), b(8), b(8), b(2), b(2))
		}, "host: LSTMGatesForward: step s=2 outside [0, 2)"},
		{"lstm nil lengths", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.LSTMGatesBackward(1, 2, 1, 1, 0, nil, b(8), b(2), b(2), b(2), b(8))
		}, "host: LSTMGatesBackward: lengths is nil, needs 1 elements (batch=1)"},
		{"softmax lengths", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.SoftmaxForward(4, 3, 1, bi(3), 2, b(12), b(12))
		}, "host: SoftmaxForward: lengths has 1 elements, needs 2"},
		{"dropout p", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Dropout(1.5, 1, 0, b(3), b(3))
		}, "host: Dropout: p=1.5 outside [0, 1]"},
		{"adam step", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.AdamStep(AdamParams{LR: 1}, b(3), b(3), b(3), b(3))
		}, "host: AdamStep: Step=0, must be ≥ 1"},
		{"meanpool y", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.MeanPool(2, 3, 4, bi(1, 2), b(24), b(7), 4)
		}, "host: MeanPool: y has 7 elements, needs 8"},
		{"transpose ld", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Transpose(1, 2, 3, b(6), 3, 0, b(6), 1, 0)
		}, "host: Transpose: ldDst=1 is less than the row length 2"},
		{"lstm sequence weights", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.LSTMSequenceForward(2, 2, 1, 2, bi(2), b(20), 16, b(32), b(32), b(8), b(8))
		}, "host: LSTMSequenceForward: whhT has 20 elements, needs 32"},
		{"lstm sequence ldDir", func(c *CPU, b func(int) *F32, bi func(...int32) *I32) {
			c.LSTMSequenceBackward(1, 2, 1, 2, bi(2), b(16), 8, b(16), b(4), b(4), b(4), b(16))
		}, "host: LSTMSequenceBackward: ldDir=8 is less than the row length 16"},
		{"split heads y", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.SplitHeads(2, 3, 3, 2, 4, b(144), b(143))
		}, "host: SplitHeads: y has 143 elements, needs 144 (batch=2 steps=3 parts=3 heads=2 dim=4)"},
		{"merge heads negative", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.MergeHeads(2, -3, 3, 2, 4, b(144), b(144))
		}, "host: MergeHeads: negative size (batch=2 steps=-3"},
		{"copy2d ld", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			c.Copy2D(2, 3, b(6), 3, b(6), 2, false)
		}, "host: Copy2D: ldDst=2 is less than the row length 3"},
		{"double free", func(c *CPU, b func(int) *F32, _ func(...int32) *I32) {
			x := c.Alloc(3)
			c.Free(x)
			c.Free(x)
		}, "host: Free: buffer freed twice"},
		{"foreign free", func(c *CPU, _ func(int) *F32, _ func(...int32) *I32) {
			c.Free(&F32{n: 2, cpu: make([]float32, 2)})
		}, "host: Free: buffer not allocated by this backend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCPU(2)
			b := func(n int) *F32 { return c.Alloc(n) }
			bi := func(v ...int32) *I32 {
				x := c.AllocI32(len(v))
				c.UploadI32(x, v)
				return x
			}
			if err := c.Err(); err != nil {
				t.Fatal(err)
			}
			tt.call(c, b, bi)
			err := c.Err()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			}
			if !errors.Is(c.Sync(), err) {
				t.Fatalf("Sync() = %v, want %v", c.Sync(), err)
			}
			// Later ops are skipped and the first error stays.
			y := c.Alloc(2)
			c.Fill(y, 7)
			c.Gemm(false, false, 9, 9, 9, 1, nil, 9, nil, 9, 0, nil, 9)
			got := []float32{-1, -1}
			c.Download(got, y)
			if got[0] != -1 || c.Err() != err {
				t.Fatalf("ops after an error ran: %v, error %v", got, c.Err())
			}
		})
	}
	if !errors.Is(func() error {
		c := NewCPU(1)
		c.Free(&F32{n: 1, cpu: make([]float32, 1)})
		return c.Err()
	}(), errCPUForeign) {
		t.Fatal("a foreign free does not wrap errCPUForeign")
	}
}

// TestCPUFreeView checks that freeing a view or nil does nothing.
func TestCPUFreeView(t *testing.T) {
	c := NewCPU(1)
	x := c.Alloc(10)
	c.Free(x.Slice(2, 3))
	c.Free(nil)
	c.FreeI32(nil)
	xi := c.AllocI32(4)
	c.FreeI32(xi.Slice(1, 1))
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	if x.Len() != 10 || xi.Len() != 4 {
		t.Fatal("freeing a view freed its allocation")
	}
	c.Free(x)
	c.FreeI32(xi)
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	if x.Len() != 0 {
		t.Fatalf("a freed buffer has length %d", x.Len())
	}
}

// cpuRunAllOps runs every op at sizes large enough to split across workers
// and returns every output, for comparisons between thread counts.
func cpuRunAllOps(h *cpuHarness) map[string][]float32 {
	c := h.c
	out := map[string][]float32{}
	last := c.work.dispatches
	keep := func(name string, b *F32) {
		h.t.Helper()
		out[name] = h.down(b)
		// Each op here is large enough to run on several workers.
		if d := c.work.dispatches; d == last && c.threads > 1 && !strings.Contains(name, " ") {
			h.t.Fatalf("%s ran on one thread only", name)
		}
		last = c.work.dispatches
	}

	const n = 90001
	xv := h.rand(n)
	x, y := h.up(xv), h.up(h.rand(n))
	s := c.Alloc(1)
	c.Sum(x, s)
	keep("Sum", s)
	c.SumSquares(x, s)
	keep("SumSquares", s)
	c.Axpy(0.3, x, y)
	keep("Axpy", y)
	c.Tanh(x, y)
	keep("Tanh", y)
	c.TanhBackward(y, x, y)
	keep("TanhBackward", y)
	c.Dropout(0.2, 5, 77, x, y)
	keep("Dropout", y)

	const rows, cols = 600, 130
	m := h.up(h.rand(rows * cols))
	bias := h.up(h.rand(cols))
	c.AddBias(rows, cols, m, bias)
	keep("AddBias", m)
	c.BiasGrad(rows, cols, m, bias)
	keep("BiasGrad", bias)
	sm := c.Alloc(rows * cols)
	lens := h.upI(h.lengths(rows/5, cols))
	c.SoftmaxForward(rows, cols, 0.7, lens, 5, m, sm)
	keep("SoftmaxForward", sm)
	c.SoftmaxBackward(rows, cols, 0.7, lens, 5, sm, m, y.Slice(0, rows*cols))
	keep("SoftmaxBackward", y)

	labels := make([]int32, 6000)
	for i := range labels {
		labels[i] = int32(h.rng.IntN(5)) - 1
	}
	dl, pr := c.Alloc(6000*4), c.Alloc(6000*4)
	c.CrossEntropy(6000, 4, 0, x.Slice(0, 24000), h.upI(labels), h.up([]float32{1, 2, 0.5, 3}), s, dl, pr)
	keep("CrossEntropy", s)
	keep("CrossEntropy dlogits", dl)

	ids := make([]int32, 700)
	for i := range ids {
		ids[i] = int32(h.rng.IntN(50))
	}
	table, emb := h.up(h.rand(50*100)), c.Alloc(700*100)
	c.EmbeddingForward(h.upI(ids), 100, 3, table, emb)
	keep("EmbeddingForward", emb)
	c.EmbeddingBackward(h.upI(ids), 100, 3, x.Slice(0, 70000), table)
	keep("EmbeddingBackward", table)

	const batch, steps, feat = 33, 40, 65
	sl := h.upI(h.lengths(batch, steps))
	tm := c.Alloc(2 * batch * steps * feat)
	c.SequenceToTimeMajor(batch, steps, feat, 2, x, feat, 0, sl, tm)
	keep("SequenceToTimeMajor", tm)
	seq := h.up(h.rand(batch * steps * (2*feat + 1)))
	c.SequenceFromTimeMajor(batch, steps, feat, 2, tm, sl, seq, 2*feat+1, feat, true)
	keep("SequenceFromTimeMajor", seq)
	pool := c.Alloc(batch * feat)
	c.MeanPool(batch, steps, feat, sl, x.Slice(0, batch*steps*feat), pool, feat)
	keep("MeanPool", pool)
	c.MeanPoolBackward(batch, steps, feat, sl, pool, feat, tm)
	keep("MeanPoolBackward", tm)

	const dirs, hidden = 2, 65
	ln := dirs * steps * batch * hidden
	pre, act := h.up(h.rand(4*ln)), c.Alloc(4*ln)
	cs, hs, dh, dc, dpre := c.Alloc(ln), c.Alloc(ln), h.up(h.rand(ln)), c.Alloc(ln), c.Alloc(4*ln)
	for t := range steps {
		c.LSTMGatesForward(dirs, steps, batch, hidden, t, sl, pre, act, cs, hs)
	}
	for t := steps - 1; t >= 0; t-- {
		c.LSTMGatesBackward(dirs, steps, batch, hidden, t, sl, act, cs, dh, dc, dpre)
	}
	keep("LSTMGates", hs)
	keep("LSTMGates dpre", dpre)
	keep("LSTMGates dh", dh)

	pm, pv := c.Alloc(n), c.Alloc(n)
	p := h.up(xv)
	for t := 1; t <= 3; t++ {
		c.AdamStep(AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Decoupled: t%2 == 0, Step: t}, p, y, pm, pv)
	}
	keep("AdamStep", p)
	return out
}

// TestCPUThreadDeterminism checks that every op gives bit-identical results
// on 1, 2 and 4 threads.
func TestCPUThreadDeterminism(t *testing.T) {
	ref := cpuRunAllOps(newCPUHarness(t, 1))
	for _, threads := range []int{2, 4} {
		got := cpuRunAllOps(newCPUHarness(t, threads))
		for name, want := range ref {
			g := got[name]
			for i := range want {
				if math.Float32bits(g[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s on %d threads differs from 1 thread at %d: %g, %g", name, threads, i, g[i], want[i])
				}
			}
		}
	}
}

// TestCPUSmallOpsAllocateNothing checks that ops small enough to run on the
// calling goroutine allocate nothing, so that a CPU training step of small
// shapes does not churn the garbage collector.
func TestCPUSmallOpsAllocateNothing(t *testing.T) {
	h := newCPUHarness(t, 2)
	c := h.c
	x, y, z, s := h.up(h.rand(64)), h.up(h.rand(64)), h.up(h.rand(64)), c.Alloc(1)
	st, w := h.up(h.rand(16)), c.Alloc(64)
	lens, lens2 := h.upI([]int32{4, 2}), h.upI([]int32{2, 1})
	ids := h.upI([]int32{1, 2, 3, 0})
	tab := h.up(h.rand(5 * 4))
	tests := []struct {
		name string
		op   func()
	}{
		{"Fill", func() { c.Fill(x, 1) }},
		{"Copy", func() { c.Copy(y, x) }},
		{"Copy2D", func() { c.Copy2D(4, 4, x, 8, y, 8, true) }},
		{"Axpy", func() { c.Axpy(2, x, y) }},
		{"Scale", func() { c.Scale(0.5, x) }},
		{"Sum", func() { c.Sum(x, s) }},
		{"AddBias", func() { c.AddBias(8, 8, x, y) }},
		{"BiasGrad", func() { c.BiasGrad(8, 8, x, y) }},
		{"ReLU", func() { c.ReLU(x, y) }},
		{"Tanh", func() { c.Tanh(x, y) }},
		{"Dropout", func() { c.Dropout(0.5, 1, 2, x, y) }},
		{"Gemm", func() { c.Gemm(false, true, 4, 4, 4, 1, x, 4, y, 4, 0, z, 4) }},
		{"GemmStridedBatched", func() { c.GemmStridedBatched(true, false, 2, 2, 2, 1, x, 2, 4, y, 2, 4, 1, z, 2, 4, 4) }},
		{"SoftmaxForward", func() { c.SoftmaxForward(8, 8, 1, lens, 4, x, y) }},
		{"SoftmaxBackward", func() { c.SoftmaxBackward(8, 8, 1, lens, 4, x, y, z) }},
		{"CrossEntropy", func() { c.CrossEntropy(4, 4, 0, x, ids, nil, s, y, z) }},
		{"EmbeddingForward", func() { c.EmbeddingForward(ids, 4, -1, tab, y) }},
		{"EmbeddingBackward", func() { c.EmbeddingBackward(ids, 4, -1, y, tab) }},
		{"SequenceToTimeMajor", func() { c.SequenceToTimeMajor(2, 4, 4, 2, x, 4, 0, lens, y) }},
		{"SequenceFromTimeMajor", func() { c.SequenceFromTimeMajor(2, 4, 4, 2, x, lens, y, 4, 0, false) }},
		{"MeanPool", func() { c.MeanPool(2, 4, 4, lens, x, y, 4) }},
		{"MeanPoolBackward", func() { c.MeanPoolBackward(2, 4, 4, lens, x, 4, y) }},
		{"LSTMGatesForward", func() { c.LSTMGatesForward(1, 2, 2, 4, 1, lens2, x, y, st, z) }},
		{"LSTMGatesBackward", func() { c.LSTMGatesBackward(1, 2, 2, 4, 1, lens2, x, st, y, z, x) }},
		{"SplitHeads", func() { c.SplitHeads(2, 2, 2, 2, 4, x, y) }},
		{"MergeHeads", func() { c.MergeHeads(2, 2, 2, 2, 4, y, x) }},
		{"AdamStep", func() { c.AdamStep(AdamParams{LR: 1e-3, Beta1: .9, Beta2: .99, Eps: 1e-8, Step: 3}, x, y, z, w) }},
	}
	for _, tt := range tests {
		tt.op()
		h.ok()
		if n := testing.AllocsPerRun(10, tt.op); n != 0 {
			t.Errorf("%s allocates %v times per call", tt.name, n)
		}
	}
}

// TestCPUWorkersStop checks that a CPU's helper goroutines stop once the
// CPU is garbage collected.
func TestCPUWorkersStop(t *testing.T) {
	// Let the helpers of CPUs made by earlier tests be collected first, so
	// that the count does not drop under us.
	before := runtime.NumGoroutine()
	for range 50 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == before {
			break
		}
		before = n
	}
	func() {
		c := NewCPU(8)
		x := c.Alloc(1 << 18)
		c.Fill(x, 1) // wake the helpers once
		if runtime.NumGoroutine() < before+7 {
			t.Fatalf("%d goroutines after NewCPU(8), had %d", runtime.NumGoroutine(), before)
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
