package host

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// refSoftmax is SoftmaxForward in float64.
func refSoftmax(rows, cols int, scale float64, lengths []int32, rowsPerLength int, x []float64) []float64 {
	y := make([]float64, rows*cols)
	for r := range rows {
		n := cols
		if lengths != nil {
			n = int(lengths[r/rowsPerLength])
		}
		m := math.Inf(-1)
		for j := range n {
			m = math.Max(m, scale*x[r*cols+j])
		}
		var s float64
		for j := range n {
			s += math.Exp(scale*x[r*cols+j] - m)
		}
		for j := range n {
			y[r*cols+j] = math.Exp(scale*x[r*cols+j]-m) / s
		}
	}
	return y
}

type softmaxCase struct {
	rows, cols    int
	scale         float32
	lengths       []int32
	rowsPerLength int
}

func softmaxCases() []softmaxCase {
	return []softmaxCase{
		{1, 1, 1, nil, 0},
		{7, 33, 0.125, nil, 0},
		{6, 5, 2, []int32{5, 0, 3}, 2},
		{65, 7, 1, []int32{7, 1, 4, 0, 7, 6, 2, 7, 3, 5, 1, 2, 7}, 5},
		{300, 65, 0.5, nil, 0},
	}
}

func TestSoftmaxForward(t *testing.T) {
	for _, tt := range softmaxCases() {
		t.Run(fmt.Sprint(tt), func(t *testing.T) {
			h := newCPUHarness(t, 2)
			xv := h.rand(tt.rows * tt.cols)
			for i := range xv {
				xv[i] *= 8
			}
			var lens *I32
			if tt.lengths != nil {
				lens = h.upI(tt.lengths)
			}
			x, y := h.up(xv), h.up(h.rand(len(xv)))
			h.c.SoftmaxForward(tt.rows, tt.cols, tt.scale, lens, tt.rowsPerLength, x, y)
			want := refSoftmax(tt.rows, tt.cols, float64(tt.scale), tt.lengths, tt.rowsPerLength, cpuF64(xv))
			cpuCheckClose(t, "SoftmaxForward", h.down(y), want, 1e-5, 1e-9)
		})
	}
}

// TestSoftmaxForwardLargeScores checks that the maximum subtracted before
// exp is that of the scaled scores (scale·x, as the documented v_j = scale·x_j,
// m = max v_j): with large scores, subtracting max x instead underflows every
// exp(scale·x − max x) to zero when scale < 1 (0/0 = NaN), and overflows it
// when scale > 1. The reference is the float64 softmax.
func TestSoftmaxForwardLargeScores(t *testing.T) {
	for _, tt := range []struct {
		scale float32
		x     []float32
	}{
		{0.125, []float32{1000, 992, 996, -1000, 1000, 984}}, // scaled: 125, 124, 124.5, …
		{2, []float32{100, 99, 98.5, -3, 90, 100}},           // scaled: 200, 198, 197, …
	} {
		h := newCPUHarness(t, 1)
		cols := len(tt.x)
		x, y := h.up(tt.x), h.c.Alloc(cols)
		h.c.SoftmaxForward(1, cols, tt.scale, nil, 0, x, y)
		want := refSoftmax(1, cols, float64(tt.scale), nil, 0, cpuF64(tt.x))
		cpuCheckClose(t, fmt.Sprintf("SoftmaxForward scale=%g", tt.scale), h.down(y), want, 1e-5, 1e-9)
	}
}

func TestSoftmaxBackward(t *testing.T) {
	for _, tt := range softmaxCases()[:4] {
		t.Run(fmt.Sprint(tt), func(t *testing.T) {
			h := newCPUHarness(t, 2)
			xv, r := h.rand(tt.rows*tt.cols), h.rand(tt.rows*tt.cols)
			var lens *I32
			if tt.lengths != nil {
				lens = h.upI(tt.lengths)
			}
			x, y, dx := h.up(xv), h.c.Alloc(len(xv)), h.up(h.rand(len(xv)))
			h.c.SoftmaxForward(tt.rows, tt.cols, tt.scale, lens, tt.rowsPerLength, x, y)
			h.c.SoftmaxBackward(tt.rows, tt.cols, tt.scale, lens, tt.rowsPerLength, y, h.up(r), dx)
			x64, r64 := cpuF64(xv), cpuF64(r)
			cpuCheckGrad(t, "SoftmaxBackward", h.down(dx), cpuNumGrad(x64, func() float64 {
				return cpuDot(r64, refSoftmax(tt.rows, tt.cols, float64(tt.scale), tt.lengths, tt.rowsPerLength, x64))
			}))
		})
	}
}

// refCrossEntropy is PyTorch's documented CrossEntropyLoss with weight w,
// reduction "mean" and label_smoothing eps, ignoring labels < 0: the target
// is the mixture q_i = (1−eps)·onehot(y_i) + eps/C, and
//
//	ℓ_i = −Σ_c w[c]·q_i[c]·log(exp(x_i[c]) / Σ_k exp(x_i[k])),  loss = Σ ℓ_i / Σ w[y_i]
//
// written directly in float64 (no max subtraction: the test logits are
// small).
func refCrossEntropy(n, classes int, x []float64, y []int32, w []float64, eps float64) float64 {
	var num, den float64
	for i := range n {
		if y[i] < 0 {
			continue
		}
		var s float64
		for c := range classes {
			s += math.Exp(x[i*classes+c])
		}
		weight := func(c int) float64 {
			if w == nil {
				return 1
			}
			return w[c]
		}
		for c := range classes {
			q := eps / float64(classes)
			if c == int(y[i]) {
				q += 1 - eps
			}
			num += -weight(c) * q * math.Log(math.Exp(x[i*classes+c])/s)
		}
		den += weight(int(y[i]))
	}
	return num / den
}

func TestCrossEntropy(t *testing.T) {
	tests := []struct {
		name       string
		n, classes int
		labels     []int32
		weights    []float32
		eps        float32
	}{
		{"one", 1, 1, []int32{0}, nil, 0},
		{"plain", 5, 4, []int32{0, 3, 1, 2, 2}, nil, 0},
		{"weighted ignored", 7, 4, []int32{3, -1, 0, 0, -100, 2, 1}, []float32{0.5, 2, 1, 3}, 0},
		{"many", 300, 7, nil, []float32{1, 2, 3, 4, 5, 6, 0.5}, 0},
		{"smoothed", 5, 4, []int32{0, 3, 1, 2, 2}, nil, 0.1},
		{"smoothed weighted ignored", 7, 4, []int32{3, -1, 0, 0, -100, 2, 1}, []float32{0.5, 2, 1, 3}, 0.3},
		{"smoothed many", 300, 7, nil, []float32{1, 2, 3, 4, 5, 6, 0.5}, 0.05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCPUHarness(t, 2)
			if tt.labels == nil {
				tt.labels = make([]int32, tt.n)
				for i := range tt.labels {
					tt.labels[i] = int32(h.rng.IntN(tt.classes+1)) - 1
				}
			}
			xv := h.rand(tt.n * tt.classes)
			for i := range xv {
				xv[i] *= 4
			}
			var w *F32
			var w64 []float64
			if tt.weights != nil {
				w, w64 = h.up(tt.weights), cpuF64(tt.weights)
			}
			x, labels, loss := h.up(xv), h.upI(tt.labels), h.c.Alloc(1)
			dx, probs := h.up(h.rand(len(xv))), h.c.Alloc(len(xv))
			h.c.CrossEntropy(tt.n, tt.classes, tt.eps, x, labels, w, loss, dx, probs)
			x64 := cpuF64(xv)
			want := refCrossEntropy(tt.n, tt.classes, x64, tt.labels, w64, float64(tt.eps))
			cpuCheckClose(t, "loss", h.down(loss), []float64{want}, 1e-5, 0)
			cpuCheckClose(t, "probs", h.down(probs), refSoftmax(tt.n, tt.classes, 1, nil, 0, x64), 1e-5, 1e-9)
			grad := h.down(dx)
			cpuCheckGrad(t, "CrossEntropy dlogits", grad, cpuNumGrad(x64, func() float64 {
				return refCrossEntropy(tt.n, tt.classes, x64, tt.labels, w64, float64(tt.eps))
			}))
			for i, y := range tt.labels {
				for c := range tt.classes {
					if y < 0 && grad[i*tt.classes+c] != 0 {
						t.Fatalf("ignored row %d has gradient %g", i, grad[i*tt.classes+c])
					}
				}
			}
			// Evaluation: no gradient wanted, same loss.
			h.c.CrossEntropy(tt.n, tt.classes, tt.eps, x, labels, w, loss, nil, nil)
			cpuCheckClose(t, "loss without gradient", h.down(loss), []float64{want}, 1e-5, 0)
		})
	}
}

// TestCrossEntropyKnown checks a case computed by hand: logits (0, ln 3)
// with label 1 and weight 2 give −log(3/4); a second row is ignored.
func TestCrossEntropyKnown(t *testing.T) {
	h := newCPUHarness(t, 1)
	x := h.up([]float32{0, float32(math.Log(3)), 5, -5})
	loss, dx := h.c.Alloc(1), h.c.Alloc(4)
	h.c.CrossEntropy(2, 2, 0, x, h.upI([]int32{1, -100}), h.up([]float32{1, 2}), loss, dx, nil)
	cpuCheckClose(t, "loss", h.down(loss), []float64{-math.Log(0.75)}, 1e-6, 0)
	// (p − onehot)·w/Σw = ((1/4, 3/4) − (0, 1))·2/2
	cpuCheckClose(t, "dlogits", h.down(dx), []float64{0.25, -0.25, 0, 0}, 1e-6, 0)

	// Every label ignored: the loss is 0/0 = NaN as in PyTorch, the gradient 0.
	h.c.CrossEntropy(2, 2, 0, x, h.upI([]int32{-1, -1}), nil, loss, dx, nil)
	if l := h.down(loss)[0]; !math.IsNaN(float64(l)) {
		t.Fatalf("loss with every label ignored = %g, want NaN", l)
	}
	cpuCheckClose(t, "dlogits", h.down(dx), []float64{0, 0, 0, 0}, 0, 0)
}

func TestEmbedding(t *testing.T) {
	tests := []struct {
		name   string
		vocab  int
		dim    int
		ids    []int32
		pad    int32
		random int // extra random ids
	}{
		{"one", 1, 1, []int32{0}, -1, 0},
		{"pad", 5, 7, []int32{0, 4, 0, 2, 0, 4}, 0, 0},
		{"repeat", 9, 33, []int32{3, 3, 3, 8, 1}, -1, 0},
		{"wide", 50, 100, nil, 1, 700},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCPUHarness(t, 3)
			for range tt.random {
				tt.ids = append(tt.ids, int32(h.rng.IntN(tt.vocab)))
			}
			n, dim := len(tt.ids), tt.dim
			tv := h.rand(tt.vocab * dim)
			table, ids, out := h.up(tv), h.upI(tt.ids), h.up(h.rand(n*dim))
			h.c.EmbeddingForward(ids, dim, tt.pad, table, out)
			gather := func(t64 []float64) []float64 {
				y := make([]float64, n*dim)
				for i, id := range tt.ids {
					if id != tt.pad {
						copy(y[i*dim:(i+1)*dim], t64[int(id)*dim:])
					}
				}
				return y
			}
			cpuCheckClose(t, "EmbeddingForward", h.down(out), gather(cpuF64(tv)), 0, 0)

			r, d0 := h.rand(n*dim), h.rand(tt.vocab*dim)
			dtable := h.up(d0)
			h.c.EmbeddingBackward(ids, dim, tt.pad, h.up(r), dtable)
			got := h.down(dtable)
			for i := range got {
				got[i] -= d0[i]
			}
			t64, r64 := cpuF64(tv), cpuF64(r)
			if len(t64) <= 400 {
				cpuCheckGrad(t, "EmbeddingBackward", got, cpuNumGrad(t64, func() float64 { return cpuDot(r64, gather(t64)) }))
			}
			scatter := make([]float64, len(t64)) // the gradient of the gather, exactly
			for i, id := range tt.ids {
				for j := 0; id != tt.pad && j < dim; j++ {
					scatter[int(id)*dim+j] += r64[i*dim+j]
				}
			}
			cpuCheckClose(t, "EmbeddingBackward", got, scatter, 1e-5, 1e-6)
		})
	}
}

// refToTimeMajor is SequenceToTimeMajor in float64.
// refToTimeMajor is SequenceToTimeMajor in float64: direction d reads the
// columns at d·dirCols, direction 1 each sequence backwards.
func refToTimeMajor(batch, steps, feat, dirs int, x []float64, ldX, dirCols int, lengths []int32) []float64 {
	y := make([]float64, dirs*steps*batch*feat)
	for d := range dirs {
		for t := range steps {
			for b := range batch {
				l := int(lengths[b])
				if t >= l {
					continue
				}
				p := t
				if d == 1 {
					p = l - 1 - t
				}
				for f := range feat {
					y[((d*steps+t)*batch+b)*feat+f] = x[(b*steps+p)*ldX+d*dirCols+f]
				}
			}
		}
	}
	return y
}

// refFromTimeMajor is the adjoint of refToTimeMajor: every y element added
// to the x element it came from (so directions sharing columns are summed),
// zeros elsewhere.
func refFromTimeMajor(batch, steps, feat, dirs int, y []float64, lengths []int32, ldX, dirCols, xn int) []float64 {
	x := make([]float64, xn)
	for d := range dirs {
		for b := range batch {
			l := int(lengths[b])
			for p := range l {
				t := p
				if d == 1 {
					t = l - 1 - p
				}
				for f := range feat {
					x[(b*steps+p)*ldX+d*dirCols+f] += y[((d*steps+t)*batch+b)*feat+f]
				}
			}
		}
	}
	return x
}

// TestSequenceTimeMajor checks both Sequence ops against the float64
// references, one direction and two (sharing x's columns, or side by side),
// and that From is To's adjoint, hence its gradient.
func TestSequenceTimeMajor(t *testing.T) {
	tests := []struct {
		batch, steps, feat, ldX int
		lengths                 []int32
	}{
		{1, 1, 1, 1, []int32{1}},
		{1, 4, 3, 5, []int32{0}},
		{3, 5, 7, 9, []int32{5, 2, 0}},
		{2, 6, 3, 7, []int32{6, 3}},
		{7, 33, 65, 130, nil},
	}
	for _, tt := range tests {
		for _, dc := range []struct{ dirs, dirCols int }{{1, 0}, {2, 0}, {2, tt.feat}} {
			if (dc.dirs-1)*dc.dirCols+tt.feat > tt.ldX {
				continue
			}
			t.Run(fmt.Sprintf("%v/dirs=%d,dirCols=%d", tt, dc.dirs, dc.dirCols), func(t *testing.T) {
				h := newCPUHarness(t, 2)
				if tt.lengths == nil {
					tt.lengths = h.lengths(tt.batch, tt.steps)
				}
				used := (dc.dirs-1)*dc.dirCols + tt.feat // x's columns the op touches
				xn := (tt.batch*tt.steps-1)*tt.ldX + used
				yn := dc.dirs * tt.steps * tt.batch * tt.feat
				xv, yv := h.rand(xn), h.rand(yn)
				x, lens, y := h.up(xv), h.upI(tt.lengths), h.up(h.rand(yn))
				h.c.SequenceToTimeMajor(tt.batch, tt.steps, tt.feat, dc.dirs, x, tt.ldX, dc.dirCols, lens, y)
				x64 := cpuF64(xv)
				to := func() []float64 {
					return refToTimeMajor(tt.batch, tt.steps, tt.feat, dc.dirs, x64, tt.ldX, dc.dirCols, tt.lengths)
				}
				cpuCheckClose(t, "SequenceToTimeMajor", h.down(y), to(), 0, 0)

				// From is the adjoint of To, so it is To's gradient: for
				// L = Σ y·To(x), dL/dx = From(y), the columns of x outside
				// the op keeping their values.
				y = h.up(yv)
				back := h.up(xv)
				h.c.SequenceFromTimeMajor(tt.batch, tt.steps, tt.feat, dc.dirs, y, lens, back, tt.ldX, dc.dirCols, false)
				got := h.down(back)
				y64 := cpuF64(yv)
				var num []float64
				if xn <= 300 {
					num = cpuNumGrad(x64, func() float64 { return cpuDot(y64, to()) })
				} else { // the same, exactly: the gradient of each x is the y it lands on
					num = refFromTimeMajor(tt.batch, tt.steps, tt.feat, dc.dirs, y64, tt.lengths, tt.ldX, dc.dirCols, xn)
				}
				for i := range num {
					if i%tt.ldX >= used {
						num[i] = float64(xv[i])
					}
				}
				if xn <= 300 {
					cpuCheckGrad(t, "SequenceFromTimeMajor", got, num)
				}
				cpuCheckClose(t, "SequenceFromTimeMajor", got, num, 1e-5, 1e-9)
				// ⟨To(x), y⟩ = ⟨x, From(y)⟩ over the op's elements.
				var lhs, rhs float64
				lhs = cpuDot(to(), y64)
				for i := range x64 {
					if i%tt.ldX < used {
						rhs += x64[i] * float64(got[i])
					}
				}
				if math.Abs(lhs-rhs) > 1e-5*(math.Abs(lhs)+1) {
					t.Fatalf("<To(x), y> = %g but <x, From(y)> = %g", lhs, rhs)
				}

				// With accumulate it adds and leaves padded positions alone.
				h.c.SequenceFromTimeMajor(tt.batch, tt.steps, tt.feat, dc.dirs, y, lens, back, tt.ldX, dc.dirCols, true)
				acc := h.down(back)
				for i := range acc {
					want := float64(got[i])
					if i%tt.ldX < used {
						want += num[i]
					}
					if math.Abs(float64(acc[i])-want) > 1e-6*math.Abs(want)+1e-7 {
						t.Fatalf("accumulate [%d] = %g, want %g", i, acc[i], want)
					}
				}
			})
		}
	}
}

// refMeanPool is MeanPool in float64.
func refMeanPool(batch, steps, feat int, lengths []int32, x []float64, ldY int) []float64 {
	y := make([]float64, (batch-1)*ldY+feat)
	for b := range batch {
		for f := range feat {
			var s float64
			for t := range int(lengths[b]) {
				s += x[(b*steps+t)*feat+f]
			}
			if lengths[b] > 0 {
				y[b*ldY+f] = s / float64(lengths[b])
			}
		}
	}
	return y
}

func TestMeanPool(t *testing.T) {
	tests := []struct {
		batch, steps, feat, ld int
		lengths                []int32
	}{
		{1, 1, 1, 1, []int32{1}},
		{3, 4, 5, 7, []int32{4, 0, 1}},
		{7, 33, 65, 65, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt), func(t *testing.T) {
			h := newCPUHarness(t, 2)
			if tt.lengths == nil {
				tt.lengths = h.lengths(tt.batch, tt.steps)
			}
			xn, yn := tt.batch*tt.steps*tt.feat, (tt.batch-1)*tt.ld+tt.feat
			xv, yv := h.rand(xn), h.rand(yn)
			x, lens, y := h.up(xv), h.upI(tt.lengths), h.up(yv)
			h.c.MeanPool(tt.batch, tt.steps, tt.feat, lens, x, y, tt.ld)
			x64 := cpuF64(xv)
			want := refMeanPool(tt.batch, tt.steps, tt.feat, tt.lengths, x64, tt.ld)
			for i := range want {
				if i%tt.ld >= tt.feat {
					want[i] = float64(yv[i])
				}
			}
			cpuCheckClose(t, "MeanPool", h.down(y), want, 1e-5, 1e-7)

			r := h.rand(yn)
			dx := h.up(h.rand(xn))
			h.c.MeanPoolBackward(tt.batch, tt.steps, tt.feat, lens, h.up(r), tt.ld, dx)
			r64 := cpuF64(r)
			for i := range r64 {
				if i%tt.ld >= tt.feat {
					r64[i] = 0
				}
			}
			if xn <= 200 {
				cpuCheckGrad(t, "MeanPoolBackward", h.down(dx), cpuNumGrad(x64, func() float64 {
					return cpuDot(r64, refMeanPool(tt.batch, tt.steps, tt.feat, tt.lengths, x64, tt.ld))
				}))
			}
			want = make([]float64, xn) // the gradient of the mean, exactly
			for b := range tt.batch {
				for s := range int(tt.lengths[b]) {
					for f := range tt.feat {
						want[(b*tt.steps+s)*tt.feat+f] = r64[b*tt.ld+f] / float64(tt.lengths[b])
					}
				}
			}
			cpuCheckClose(t, "MeanPoolBackward", h.down(dx), want, 1e-6, 0)
		})
	}
}

// refAdam is torch.optim.Adam / AdamW for one tensor in float64, written
// from PyTorch's documented algorithm.
func refAdam(p AdamParams, param, grad, m, v []float64) {
	b1, b2 := float64(p.Beta1), float64(p.Beta2)
	lr, wd, eps := float64(p.LR), float64(p.WeightDecay), float64(p.Eps)
	t := float64(p.Step)
	for i := range param {
		g := grad[i]
		if p.Decoupled {
			param[i] *= 1 - lr*wd
		} else {
			g += wd * param[i]
		}
		m[i] = b1*m[i] + (1-b1)*g
		v[i] = b2*v[i] + (1-b2)*g*g
		mh := m[i] / (1 - math.Pow(b1, t))
		vh := v[i] / (1 - math.Pow(b2, t))
		param[i] -= lr * mh / (math.Sqrt(vh) + eps)
	}
}

func TestAdamStep(t *testing.T) {
	tests := []struct {
		name string
		n    int
		p    AdamParams
	}{
		{"adam", 7, AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}},
		{"adam wd", 33, AdamParams{LR: 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1}},
		{"adamw", 65, AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Decoupled: true}},
		{"big", 40001, AdamParams{LR: 5e-4, Beta1: 0.9, Beta2: 0.98, Eps: 1e-8, WeightDecay: 0.05, Decoupled: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCPUHarness(t, 2)
			pv := h.rand(tt.n)
			param, grad, m, v := h.up(pv), h.c.Alloc(tt.n), h.c.Alloc(tt.n), h.c.Alloc(tt.n)
			p64, m64, v64 := cpuF64(pv), make([]float64, tt.n), make([]float64, tt.n)
			for step := 1; step <= 5; step++ {
				gv := h.rand(tt.n)
				h.c.Upload(grad, gv)
				tt.p.Step = step
				h.c.AdamStep(tt.p, param, grad, m, v)
				refAdam(tt.p, p64, cpuF64(gv), m64, v64)
			}
			cpuCheckClose(t, "m", h.down(m), m64, 1e-5, 1e-7) // m cancels: absolute on the scale of g
			cpuCheckClose(t, "v", h.down(v), v64, 1e-5, 1e-12)
			// The update moves each parameter by about lr per step: compare
			// against that scale.
			cpuCheckClose(t, "param", h.down(param), p64, 1e-6, 1e-5*float64(tt.p.LR))

			// With ZeroGrad the same step, and a zeroed gradient.
			gv := h.rand(tt.n)
			tt.p.Step++
			param2, m2, v2 := h.up(h.down(param)), h.up(h.down(m)), h.up(h.down(v))
			h.c.Upload(grad, gv)
			h.c.AdamStep(tt.p, param, grad, m, v)
			zp := tt.p
			zp.ZeroGrad = true
			grad2 := h.up(gv)
			h.c.AdamStep(zp, param2, grad2, m2, v2)
			for _, pair := range [][2]*F32{{param, param2}, {m, m2}, {v, v2}, {grad, h.up(gv)}} {
				if a, b := h.down(pair[0]), h.down(pair[1]); !slices.Equal(a, b) {
					t.Fatalf("ZeroGrad changed the update")
				}
			}
			if g := h.down(grad2); slices.ContainsFunc(g, func(x float32) bool { return x != 0 }) {
				t.Errorf("ZeroGrad left a nonzero gradient")
			}
		})
	}
}
