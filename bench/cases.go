package bench

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/emotionlab/emotion/host"
)

// Tolerances of the validation (see the package documentation).
const (
	tolExact = 1e-5 // elementwise ops and copies
	tolReduc = 1e-4 // reductions, GEMMs, exponentials, scatter-adds
)

// kernelCase is one op at one shape: its buffers, how to fill them, how to
// run it, what it outputs and what it costs.
type kernelCase struct {
	op, variant string
	dims        []Dim
	bytes       int64 // compulsory traffic of one call
	flops       int64
	tol         float64

	f32, i32, hst []int // element counts of the float32, int32 and host buffers
	// fill sets the initial contents; buffers it leaves alone are N(0, 1)
	// (float32) or zero (int32).
	fill func(r *rand.Rand, d *caseData)
	run  func(be host.Backend, x *instance)
	outs []ref // outputs compared by validation
	// link is linkUpload or linkDownload for an op that moves its bytes
	// over the host link, "" for one within device memory.
	link string
	// inPlace marks an op that writes over its own inputs: its timing
	// restores them before each group of calls.
	inPlace bool
}

// lstmVariant names an LSTM gate case's form: in place, as the model's LSTM
// runs the op (TargetVariants), or with separate buffers, the only form
// before the model ran them in place (so its name is the one earlier
// reports give).
func lstmVariant(inPlace bool) string {
	if inPlace {
		return "2 directions, in place"
	}
	return "2 directions"
}

// ref names a buffer of an instance: a float32 device buffer, or (host) a
// host slice.
type ref struct {
	idx  int
	host bool
}

func dev(i int) ref   { return ref{idx: i} }
func hostb(i int) ref { return ref{idx: i, host: true} }

// caseData is the host contents of a case's buffers.
type caseData struct {
	f   [][]float32
	i   [][]int32
	hst [][]float32
}

// instance is one copy of a case's buffers on a backend.
type instance struct {
	f   []*host.F32
	i   []*host.I32
	hst [][]float32
}

// name is "Op" or "Op (variant)".
func (c *kernelCase) name() string {
	if c.variant == "" {
		return c.op
	}
	return c.op + " (" + c.variant + ")"
}

// seed derives the case's generator seed from its name and shape.
func (c *kernelCase) seed() uint64 { return c.seedOf(c.name()) }

// opSeed is seed without the variant: the forms of one op at one shape
// (the LSTM steps in place and apart) draw the same lengths.
func (c *kernelCase) opSeed() uint64 { return c.seedOf(c.op) }

// seedOf hashes name and the case's shape.
func (c *kernelCase) seedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name + " " + formatDims(c.dims)))
	return h.Sum64()
}

// footprint is the memory of one instance, in bytes.
func (c *kernelCase) footprint() int64 {
	var n int64
	for _, s := range c.f32 {
		n += 4 * int64(s)
	}
	for _, s := range c.i32 {
		n += 4 * int64(s)
	}
	for _, s := range c.hst {
		n += 4 * int64(s)
	}
	return n
}

// data generates the case's inputs.
func (c *kernelCase) data() *caseData {
	r := rand.New(rand.NewPCG(c.seed(), 0x62656e6368)) // "bench"
	d := &caseData{}
	for _, n := range c.f32 {
		x := make([]float32, n)
		normal(r, x)
		d.f = append(d.f, x)
	}
	for _, n := range c.i32 {
		d.i = append(d.i, make([]int32, n))
	}
	for _, n := range c.hst {
		x := make([]float32, n)
		normal(r, x)
		d.hst = append(d.hst, x)
	}
	if c.fill != nil {
		c.fill(r, d)
	}
	return d
}

// build allocates an instance on be and uploads d into it.
func (c *kernelCase) build(be host.Backend, d *caseData) *instance {
	x := &instance{}
	for k, n := range c.f32 {
		b := be.Alloc(n)
		be.Upload(b, d.f[k])
		x.f = append(x.f, b)
	}
	for k, n := range c.i32 {
		b := be.AllocI32(n)
		be.UploadI32(b, d.i[k])
		x.i = append(x.i, b)
	}
	for k := range c.hst {
		x.hst = append(x.hst, append([]float32(nil), d.hst[k]...))
	}
	return x
}

// release frees x's buffers.
func (x *instance) release(be host.Backend) {
	for _, b := range x.f {
		be.Free(b)
	}
	for _, b := range x.i {
		be.FreeI32(b)
	}
}

// outputs downloads the case's outputs from x.
func (c *kernelCase) outputs(be host.Backend, x *instance) [][]float32 {
	var out [][]float32
	for _, o := range c.outs {
		if o.host {
			out = append(out, append([]float32(nil), x.hst[o.idx]...))
			continue
		}
		v := make([]float32, x.f[o.idx].Len())
		be.Download(v, x.f[o.idx])
		out = append(out, v)
	}
	return out
}

func normal(r *rand.Rand, x []float32) {
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
}

func uniform(r *rand.Rand, x []float32, lo, hi float64) {
	for i := range x {
		x[i] = float32(lo + (hi-lo)*r.Float64())
	}
}

// seqLengths draws n sequence lengths in [ceil(steps/2), steps], the last
// one steps (a bucketed batch: similar lengths, the longest sets steps).
func seqLengths(seed uint64, n, steps int) []int32 {
	r := rand.New(rand.NewPCG(seed, 0x6c656e67)) // "leng"
	lo := (steps + 1) / 2
	l := make([]int32, n)
	for i := range l {
		l[i] = int32(lo + r.IntN(steps-lo+1))
	}
	l[n-1] = int32(steps)
	return l
}

// stepLengths are the lengths of the LSTM step cases' b rows: 2, or 1 for
// about one row in ten, which has ended at step 1 and carries its state.
func stepLengths(seed uint64, b int) []int32 {
	r := rand.New(rand.NewPCG(seed, 2))
	l := make([]int32, b)
	for i := range l {
		l[i] = 2
		if r.IntN(10) == 0 {
			l[i] = 1
		}
	}
	return l
}

// distinctIDs returns the distinct ids other than pad, in increasing order.
func distinctIDs(ids []int32, pad int32) []int32 {
	var d []int32
	for _, id := range ids {
		if id != pad {
			d = append(d, id)
		}
	}
	slices.Sort(d)
	return slices.Compact(d)
}

// endedAt counts the sequences of lengths that have ended by step s.
func endedAt(lengths []int32, s int) int {
	n := 0
	for _, l := range lengths {
		if int(l) <= s {
			n++
		}
	}
	return n
}

func sum32(x []int32) int64 {
	var s int64
	for _, v := range x {
		s += int64(v)
	}
	return s
}

func i64(vals ...int) int64 {
	p := int64(1)
	for _, v := range vals {
		p *= int64(v)
	}
	return p
}

// gemmCost is the bytes and FLOPs of a batch of m×n×k GEMMs.
func gemmCost(batch, m, n, k int, beta float32) (bytes, flops int64) {
	bytes = 4 * i64(batch) * (i64(m, k) + i64(k, n) + i64(m, n))
	flops = 2 * i64(batch, m, n, k)
	if beta != 0 {
		bytes += 4 * i64(batch, m, n)
		flops += 2 * i64(batch, m, n)
	}
	return bytes, flops
}

// lstmSequenceFlops is the arithmetic of a whole-sequence LSTM pass of
// dirs directions over b sequences of t steps with real row-steps L = Σ
// lengths: the recurrent product, 2·4H FLOPs per unit of every row (the
// kernels compute it for ended rows too) at the t − 1 steps that have one
// (the forward has none at step 0, h_{−1} being 0; the backward none at the
// last step, there being no dpre after it), and per unit a running step's
// run FLOPs and an ended one's ended.
func lstmSequenceFlops(dirs, t, b, h int, L int64, run, ended int64) int64 {
	product := 8 * i64(dirs, t-1, b, h, h)
	return product + i64(dirs, h)*(run*L+ended*(i64(t, b)-L))
}

// cases returns the benchmark cases of s, op by op.
func cases(s Shapes) []*kernelCase {
	var cs []*kernelCase
	add := func(c *kernelCase) { cs = append(cs, c) }
	bth := func(b, t, h int) []Dim { return []Dim{{"B", b}, {"T", t}, {"H", h}} }

	// Elementwise ops, copies, reductions and transfers over a BiLSTM
	// output [B, T, 2H].
	type elem struct {
		op           string
		nbuf         int
		bytes, flops int64 // per element
		tol          float64
		fill         func(r *rand.Rand, d *caseData)
		run          func(be host.Backend, x *instance)
		outs         []ref
		host         bool   // one host buffer
		link         string // kernelCase.link
	}
	elems := []elem{
		{op: "Fill", nbuf: 1, bytes: 4, tol: tolExact, outs: []ref{dev(0)},
			run: func(be host.Backend, x *instance) { be.Fill(x.f[0], 0.5) }},
		{op: "Copy", nbuf: 2, bytes: 8, tol: tolExact, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.Copy(x.f[1], x.f[0]) }},
		{op: "Axpy", nbuf: 2, bytes: 12, flops: 2, tol: tolExact, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.Axpy(1e-3, x.f[0], x.f[1]) }},
		{op: "Scale", nbuf: 1, bytes: 8, flops: 1, tol: tolExact, outs: []ref{dev(0)},
			run: func(be host.Backend, x *instance) { be.Scale(-1, x.f[0]) }},
		{op: "Sum", nbuf: 2, bytes: 4, flops: 1, tol: tolReduc, outs: []ref{dev(1)},
			fill: func(r *rand.Rand, d *caseData) { uniform(r, d.f[0], 0, 1) },
			run:  func(be host.Backend, x *instance) { be.Sum(x.f[0], x.f[1].Slice(0, 1)) }},
		{op: "SumSquares", nbuf: 2, bytes: 4, flops: 2, tol: tolReduc, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.SumSquares(x.f[0], x.f[1].Slice(0, 1)) }},
		{op: "ReLU", nbuf: 2, bytes: 8, flops: 1, tol: tolExact, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.ReLU(x.f[0], x.f[1]) }},
		{op: "ReLUBackward", nbuf: 3, bytes: 12, flops: 1, tol: tolExact, outs: []ref{dev(2)},
			fill: func(r *rand.Rand, d *caseData) {
				for i, v := range d.f[0] {
					d.f[0][i] = max(v, 0)
				}
			},
			run: func(be host.Backend, x *instance) { be.ReLUBackward(x.f[0], x.f[1], x.f[2]) }},
		{op: "Tanh", nbuf: 2, bytes: 8, flops: 1, tol: tolExact, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.Tanh(x.f[0], x.f[1]) }},
		{op: "TanhBackward", nbuf: 3, bytes: 12, flops: 3, tol: tolExact, outs: []ref{dev(2)},
			fill: func(r *rand.Rand, d *caseData) { uniform(r, d.f[0], -1, 1) },
			run:  func(be host.Backend, x *instance) { be.TanhBackward(x.f[0], x.f[1], x.f[2]) }},
		{op: "Dropout", nbuf: 2, bytes: 8, flops: 1, tol: tolExact, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.Dropout(0.5, 7, 12345, x.f[0], x.f[1]) }},
		{op: "DropoutBackward", nbuf: 2, bytes: 8, flops: 1, tol: tolExact, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.DropoutBackward(0.5, 7, 12345, x.f[0], x.f[1]) }},
		{op: "Upload", nbuf: 1, bytes: 4, tol: tolExact, outs: []ref{dev(0)}, host: true, link: linkUpload,
			run: func(be host.Backend, x *instance) { be.Upload(x.f[0], x.hst[0]) }},
		{op: "Download", nbuf: 1, bytes: 4, tol: tolExact, outs: []ref{hostb(0)}, host: true, link: linkDownload,
			run: func(be host.Backend, x *instance) { be.Download(x.hst[0], x.f[0]) }},
	}
	for _, e := range elems {
		s.sweep("BTH", func(b, t, h, _ int) {
			n := b * t * 2 * h
			c := &kernelCase{op: e.op, variant: "[B,T,2H]", dims: bth(b, t, h),
				bytes: e.bytes * int64(n), flops: e.flops * int64(n), tol: e.tol,
				fill: e.fill, run: e.run, outs: e.outs, link: e.link}
			for range e.nbuf {
				c.f32 = append(c.f32, n)
			}
			if e.op == "Sum" || e.op == "SumSquares" {
				c.f32[1] = 1
			}
			if e.host {
				c.hst = []int{n}
			}
			add(c)
		})
	}

	// Concatenating the BiLSTM output with the speaker features.
	s.sweep("BTH", func(b, t, h, _ int) {
		rows, cols := b*t, 2*h
		add(&kernelCase{op: "Copy2D", variant: "[B·T,2H] into [B·T,2H+3]", dims: bth(b, t, h),
			bytes: 8 * i64(rows, cols), tol: tolExact,
			f32: []int{rows * cols, rows * (cols + 3)}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.Copy2D(rows, cols, x.f[0], cols, x.f[1], cols+3, false) }})
	})
	// Biases of the LSTM pre-activations [B·T, 4H].
	s.sweep("BTH", func(b, t, h, _ int) {
		rows, cols := b*t, 4*h
		add(&kernelCase{op: "AddBias", variant: "[B·T,4H]", dims: bth(b, t, h),
			bytes: 8*i64(rows, cols) + 4*int64(cols), flops: i64(rows, cols), tol: tolExact,
			f32: []int{rows * cols, cols}, outs: []ref{dev(0)},
			run: func(be host.Backend, x *instance) { be.AddBias(rows, cols, x.f[0], x.f[1]) }})
	})
	s.sweep("BTH", func(b, t, h, _ int) {
		rows, cols := b*t, 4*h
		add(&kernelCase{op: "BiasGrad", variant: "[B·T,4H]", dims: bth(b, t, h),
			bytes: 4*i64(rows, cols) + 8*int64(cols), flops: i64(rows, cols), tol: tolReduc,
			f32: []int{rows * cols, cols}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.BiasGrad(rows, cols, x.f[0], x.f[1]) }})
	})

	// Embedding of B·T token ids into E = 2H features; padded positions
	// (id 0) after each utterance's length.
	embIDs := func(c *kernelCase, b, t int) (ids []int32, real int64) {
		lens := seqLengths(c.seed(), b, t)
		r := rand.New(rand.NewPCG(c.seed(), 1))
		ids = make([]int32, b*t)
		for i := range b {
			for j := range int(lens[i]) {
				ids[i*t+j] = int32(1 + r.IntN(s.Vocab-1))
			}
		}
		return ids, sum32(lens)
	}
	s.sweep("BTH", func(b, t, h, _ int) {
		n, e := b*t, 2*h
		c := &kernelCase{op: "EmbeddingForward", variant: "E=2H", dims: bth(b, t, h), tol: tolExact,
			f32: []int{s.Vocab * e, n * e}, i32: []int{n}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.EmbeddingForward(x.i[0], e, 0, x.f[0], x.f[1]) }}
		// Each distinct id's row is read once: a repeated id's row comes
		// from cache (the table is at most V·E floats, 6.6 MB at H = 512),
		// as a reused row of a GEMM operand does. Counting a read per
		// position would let a perfect kernel pass 100% of the copy
		// bandwidth (B = 512, T = 100: 38,000 positions of 1,613 ids).
		ids, _ := embIDs(c, b, t)
		distinct := int64(len(distinctIDs(ids, 0)))
		c.bytes = 4*int64(n) + 4*(distinct+int64(n))*int64(e)
		c.fill = func(_ *rand.Rand, d *caseData) { copy(d.i[0], ids) }
		add(c)
	})
	s.sweep("BTH", func(b, t, h, _ int) {
		n, e := b*t, 2*h
		c := &kernelCase{op: "EmbeddingBackward", variant: "E=2H", dims: bth(b, t, h), tol: tolExact,
			f32: []int{n * e, s.Vocab * e}, i32: []int{n}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.EmbeddingBackward(x.i[0], e, 0, x.f[0], x.f[1]) }}
		ids, real := embIDs(c, b, t)
		distinct := int64(len(distinctIDs(ids, 0)))
		c.bytes = 4*(2*distinct+1+real) + 4*real*int64(e) + 8*distinct*int64(e)
		c.flops = real * int64(e)
		c.fill = func(_ *rand.Rand, d *caseData) { copy(d.i[0], ids) }
		add(c)
	})

	// The BiLSTM's layout changes, both directions in one op: its input x
	// [B, T, E=2H] to time-major, and h [2, T, B, H] back into the output
	// [B, T, 2H].
	s.sweep("BTH", func(b, t, h, _ int) {
		f := 2 * h
		c := &kernelCase{op: "SequenceToTimeMajor", variant: "2 directions, F=2H", dims: bth(b, t, h), tol: tolExact,
			f32: []int{b * t * f, 2 * t * b * f}, i32: []int{b}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) {
				be.SequenceToTimeMajor(b, t, f, 2, x.f[0], f, 0, x.i[0], x.f[1])
			}}
		lens := seqLengths(c.seed(), b, t)
		c.bytes = 4*int64(b) + 2*(4*sum32(lens)*int64(f)+4*i64(b, t, f))
		c.fill = func(_ *rand.Rand, d *caseData) { copy(d.i[0], lens) }
		add(c)
	})
	s.sweep("BTH", func(b, t, h, _ int) {
		c := &kernelCase{op: "SequenceFromTimeMajor", variant: "2 directions, F=H into [B,T,2H]", dims: bth(b, t, h), tol: tolExact,
			f32: []int{2 * t * b * h, b * t * 2 * h}, i32: []int{b}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) {
				be.SequenceFromTimeMajor(b, t, h, 2, x.f[0], x.i[0], x.f[1], 2*h, h, false)
			}}
		lens := seqLengths(c.seed(), b, t)
		c.bytes = 4*int64(b) + 2*(4*sum32(lens)*int64(h)+4*i64(b, t, h))
		c.fill = func(_ *rand.Rand, d *caseData) { copy(d.i[0], lens) }
		add(c)
	})

	// One LSTM step of both directions. The cost of a step does not depend
	// on the sequence length, so the buffers hold two steps and step 1 is
	// timed (stepLengths). In place (the model's LSTM: act is pre, dpre is
	// act) and, for comparison, with separate buffers: the same bytes.
	for _, inPlace := range []bool{true, false} {
		s.sweep("BH", func(b, _, h, _ int) {
			const dirs, steps = 2, 2
			g, st := dirs*steps*b*4*h, dirs*steps*b*h
			c := &kernelCase{op: "LSTMGatesForward", variant: lstmVariant(inPlace), dims: []Dim{{"B", b}, {"H", h}}, tol: tolReduc,
				// pre, act, c, h
				f32: []int{g, g, st, st}, i32: []int{b}, outs: []ref{dev(1), dev(2), dev(3)},
				run: func(be host.Backend, x *instance) {
					be.LSTMGatesForward(dirs, steps, b, h, 1, x.i[0], x.f[0], x.f[1], x.f[2], x.f[3])
				}}
			if inPlace { // pre (then act), c, h
				c.inPlace, c.f32, c.outs = true, []int{g, st, st}, []ref{dev(0), dev(1), dev(2)}
				c.run = func(be host.Backend, x *instance) {
					be.LSTMGatesForward(dirs, steps, b, h, 1, x.i[0], x.f[0], x.f[0], x.f[1], x.f[2])
				}
			}
			lens := stepLengths(c.opSeed(), b)
			// A running unit moves 11H (h_{s−1} went into the GEMM), a carried
			// one 8H.
			ended := endedAt(lens, 1)
			c.bytes = 4*int64(b) + 4*i64(dirs, h)*(11*int64(b-ended)+8*int64(ended))
			c.flops = i64(dirs, b-ended, h, 9) // an ended row only copies
			c.fill = func(_ *rand.Rand, d *caseData) { copy(d.i[0], lens) }
			add(c)
		})
	}
	// The whole-sequence ops: every step's recurrent product and gates in
	// one op, over B sequences of T steps.
	s.sweep("BTH", func(b, t, h, _ int) {
		const dirs = 2
		g, st, w := dirs*t*b*4*h, dirs*t*b*h, dirs*4*h*h
		c := &kernelCase{op: "LSTMSequenceForward", variant: "2 directions", dims: bth(b, t, h), tol: tolReduc,
			// whhT, pre, act, c, h
			f32: []int{w, g, g, st, st}, i32: []int{b}, outs: []ref{dev(2), dev(3), dev(4)},
			run: func(be host.Backend, x *instance) {
				be.LSTMSequenceForward(dirs, t, b, h, x.i[0], x.f[0], 4*h*h, x.f[1], x.f[2], x.f[3], x.f[4])
			}}
		lens := seqLengths(c.seed(), b, t)
		// Every row-step reads its 4H pre-activations and writes c and h;
		// only the L = Σ lengths running ones write their 4H gates.
		c.bytes = 4*int64(b) + 4*int64(dirs)*(i64(t, b, 6*h)+sum32(lens)*int64(4*h)) + 4*int64(w)
		c.flops = lstmSequenceFlops(dirs, t, b, h, sum32(lens), 13, 0)
		c.fill = func(r *rand.Rand, d *caseData) {
			copy(d.i[0], lens)
			uniform(r, d.f[0], -0.2, 0.2) // weights of PyTorch's scale
		}
		add(c)
	})
	s.sweep("BTH", func(b, t, h, _ int) {
		const dirs = 2
		g, st, w := dirs*t*b*4*h, dirs*t*b*h, dirs*4*h*h
		c := &kernelCase{op: "LSTMSequenceBackward", variant: "2 directions", dims: bth(b, t, h), tol: tolReduc,
			bytes: 4*int64(b) + 4*i64(dirs, t, b, 10*h) + 4*i64(dirs, b, h) + 4*int64(w),
			// whh, act, c, dh, dc, dpre
			f32: []int{w, g, st, st, st, g}, i32: []int{b}, outs: []ref{dev(5)},
			run: func(be host.Backend, x *instance) {
				be.LSTMSequenceBackward(dirs, t, b, h, x.i[0], x.f[0], 4*h*h, x.f[1], x.f[2], x.f[3], x.f[4], x.f[5])
			}}
		lens := seqLengths(c.seed(), b, t)
		c.flops = lstmSequenceFlops(dirs, t, b, h, sum32(lens), 24, 1)
		c.fill = func(r *rand.Rand, d *caseData) {
			copy(d.i[0], lens)
			uniform(r, d.f[0], -0.2, 0.2)
			uniform(r, d.f[1], 0, 1)
		}
		add(c)
	})
	// W_hh [4H, H] of both directions, transposed once per forward for
	// LSTMSequenceForward.
	s.sweep("H", func(_, _, h, _ int) {
		rows, cols := 4*h, h
		add(&kernelCase{op: "Transpose", variant: "W_hh [4H,H], 2 directions", dims: []Dim{{"H", h}}, tol: tolExact,
			bytes: 8 * i64(2, rows, cols), f32: []int{2 * rows * cols, 2 * rows * cols}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) {
				be.Transpose(2, rows, cols, x.f[0], cols, rows*cols, x.f[1], rows, rows*cols)
			}})
	})
	for _, inPlace := range []bool{true, false} {
		s.sweep("BH", func(b, _, h, _ int) {
			const dirs, steps = 2, 2
			g, st := dirs*steps*b*4*h, dirs*steps*b*h
			c := &kernelCase{op: "LSTMGatesBackward", variant: lstmVariant(inPlace), dims: []Dim{{"B", b}, {"H", h}}, tol: tolReduc,
				// act, c, dh, dc, dpre
				f32: []int{g, st, st, st, g}, i32: []int{b}, outs: []ref{dev(2), dev(3), dev(4)},
				run: func(be host.Backend, x *instance) {
					be.LSTMGatesBackward(dirs, steps, b, h, 1, x.i[0], x.f[0], x.f[1], x.f[2], x.f[3], x.f[4])
				}}
			if inPlace { // act (then dpre), c, dh, dc
				c.inPlace, c.f32, c.outs = true, []int{g, st, st, st}, []ref{dev(0), dev(2), dev(3)}
				c.run = func(be host.Backend, x *instance) {
					be.LSTMGatesBackward(dirs, steps, b, h, 1, x.i[0], x.f[0], x.f[1], x.f[2], x.f[3], x.f[0])
				}
			}
			lens := stepLengths(c.opSeed(), b)
			// A running unit moves 13H, a carried one 15H (it adds dh_s into
			// dh_{s−1}).
			ended := endedAt(lens, 1)
			c.bytes = 4*int64(b) + 4*i64(dirs, h)*(13*int64(b-ended)+15*int64(ended))
			c.flops = i64(dirs, h) * (23*int64(b-ended) + int64(ended)) // an ended row adds dh_s into dh_{s−1}
			c.fill = func(r *rand.Rand, d *caseData) {
				copy(d.i[0], lens)
				uniform(r, d.f[0], 0, 1) // activated gates: σ in (0, 1), tanh in (−1, 1)
			}
			add(c)
		})
	}

	// Attention softmax over the keys of R-turn windows: B·heads·R rows
	// of R scores, keys masked from each window's length on.
	s.sweep("BRH", func(b, _, h, r int) {
		rows, cols, rpl := b*s.Heads*r, r, s.Heads*r
		scale := float32(1 / math.Sqrt(float64(2*h/s.Heads)))
		c := &kernelCase{op: "SoftmaxForward", variant: "attention", dims: []Dim{{"B", b}, {"R", r}, {"H", h}}, tol: tolReduc,
			bytes: 8*i64(rows, cols) + 4*int64(b), flops: 6 * i64(rows, cols),
			f32: []int{rows * cols, rows * cols}, i32: []int{b}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) {
				be.SoftmaxForward(rows, cols, scale, x.i[0], rpl, x.f[0], x.f[1])
			}}
		lens := seqLengths(c.seed(), b, r)
		c.fill = func(_ *rand.Rand, d *caseData) { copy(d.i[0], lens) }
		add(c)
	})
	s.sweep("BRH", func(b, _, h, r int) {
		rows, cols, rpl := b*s.Heads*r, r, s.Heads*r
		scale := float32(1 / math.Sqrt(float64(2*h/s.Heads)))
		c := &kernelCase{op: "SoftmaxBackward", variant: "attention", dims: []Dim{{"B", b}, {"R", r}, {"H", h}}, tol: tolReduc,
			bytes: 12*i64(rows, cols) + 4*int64(b), flops: 5 * i64(rows, cols),
			f32: []int{rows * cols, rows * cols, rows * cols}, i32: []int{b}, outs: []ref{dev(2)},
			run: func(be host.Backend, x *instance) {
				be.SoftmaxBackward(rows, cols, scale, x.i[0], rpl, x.f[0], x.f[1], x.f[2])
			}}
		lens := seqLengths(c.seed(), b, r)
		c.fill = func(r *rand.Rand, d *caseData) {
			copy(d.i[0], lens)
			uniform(r, d.f[0], 0, 0.2)
		}
		add(c)
	})

	// Multi-head attention's layout change of qkv [B·R, 3E] (E = 2H) into
	// one matrix per (part, window, head), and back for its gradient.
	for _, merge := range []bool{false, true} {
		s.sweep("BRH", func(b, _, h, r int) {
			e := 2 * h
			n := b * r * 3 * e
			op := "SplitHeads"
			if merge {
				op = "MergeHeads"
			}
			add(&kernelCase{op: op, variant: "qkv", dims: []Dim{{"B", b}, {"R", r}, {"H", h}}, tol: tolExact,
				bytes: 8 * int64(n), f32: []int{n, n}, outs: []ref{dev(1)},
				run: func(be host.Backend, x *instance) {
					if merge {
						be.MergeHeads(b, r, 3, s.Heads, e/s.Heads, x.f[0], x.f[1])
					} else {
						be.SplitHeads(b, r, 3, s.Heads, e/s.Heads, x.f[0], x.f[1])
					}
				}})
		})
	}

	// The loss of a batch over 4 classes.
	s.sweep("B", func(b, _, _, _ int) {
		const classes = 4
		add(&kernelCase{op: "CrossEntropy", variant: "4 classes, weighted", dims: []Dim{{"B", b}}, tol: tolReduc,
			bytes: 12*i64(b, classes) + 4*int64(b) + 4*classes + 4, flops: 9 * i64(b, classes),
			// logits, weights, loss, dlogits, probs; labels
			f32: []int{b * classes, classes, 1, b * classes, b * classes}, i32: []int{b},
			outs: []ref{dev(2), dev(3), dev(4)},
			fill: func(r *rand.Rand, d *caseData) {
				for i := range d.i[0] {
					d.i[0][i] = int32(r.IntN(classes))
				}
				uniform(r, d.f[1], 0.8, 1.3)
			},
			run: func(be host.Backend, x *instance) {
				be.CrossEntropy(b, classes, 0, x.f[0], x.i[0], x.f[1], x.f[2], x.f[3], x.f[4])
			}})
	})

	// Mean pooling of the utterance BiLSTM output [B, T, 2H].
	s.sweep("BTH", func(b, t, h, _ int) {
		f := 2 * h
		c := &kernelCase{op: "MeanPool", variant: "F=2H", dims: bth(b, t, h), tol: tolReduc,
			f32: []int{b * t * f, b * f}, i32: []int{b}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.MeanPool(b, t, f, x.i[0], x.f[0], x.f[1], f) }}
		lens := seqLengths(c.seed(), b, t)
		c.bytes = 4*int64(b) + 4*sum32(lens)*int64(f) + 4*i64(b, f)
		c.flops = sum32(lens)*int64(f) + i64(b, f)
		c.fill = func(_ *rand.Rand, d *caseData) { copy(d.i[0], lens) }
		add(c)
	})
	s.sweep("BTH", func(b, t, h, _ int) {
		f := 2 * h
		c := &kernelCase{op: "MeanPoolBackward", variant: "F=2H", dims: bth(b, t, h), tol: tolReduc,
			f32: []int{b * f, b * t * f}, i32: []int{b}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) { be.MeanPoolBackward(b, t, f, x.i[0], x.f[0], f, x.f[1]) }}
		lens := seqLengths(c.seed(), b, t)
		c.bytes = 4*int64(b) + 4*i64(b, f) + 4*i64(b, t, f)
		c.flops = sum32(lens) * int64(f)
		c.fill = func(_ *rand.Rand, d *caseData) { copy(d.i[0], lens) }
		add(c)
	})

	// Adam on the embedding table [V, 2H], the largest parameter, zeroing
	// the gradient as model.Adam does.
	s.sweep("H", func(_, _, h, _ int) {
		n := s.Vocab * 2 * h
		hp := host.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 10, ZeroGrad: true}
		add(&kernelCase{op: "AdamStep", variant: "[V,2H]", dims: []Dim{{"V", s.Vocab}, {"H", h}}, tol: tolReduc,
			bytes: 32 * int64(n), flops: 14 * int64(n),
			f32: []int{n, n, n, n}, outs: []ref{dev(0), dev(1), dev(2), dev(3)},
			fill: func(r *rand.Rand, d *caseData) { uniform(r, d.f[3], 0, 1) }, // v ≥ 0
			run:  func(be host.Backend, x *instance) { be.AdamStep(hp, x.f[0], x.f[1], x.f[2], x.f[3]) }})
	})

	// GEMMs of the LSTM, both directions in one strided-batched call as
	// model.LSTM issues them, with input features E = 2H.
	s.sweep("BTH", func(b, t, h, _ int) {
		m, n, k := t*b, 4*h, 2*h
		c := &kernelCase{op: "GemmStridedBatched", variant: "LSTM input projection x·W_ihᵀ", dims: bth(b, t, h), tol: tolReduc,
			f32: []int{2 * m * k, 2 * n * k, 2 * m * n}, outs: []ref{dev(2)},
			run: func(be host.Backend, x *instance) {
				be.GemmStridedBatched(false, true, m, n, k, 1, x.f[0], k, m*k, x.f[1], k, n*k, 0, x.f[2], n, m*n, 2)
			}}
		c.bytes, c.flops = gemmCost(2, m, n, k, 0)
		add(c)
	})
	s.sweep("BH", func(b, _, h, _ int) {
		m, n, k := b, 4*h, h
		c := &kernelCase{op: "GemmStridedBatched", variant: "LSTM recurrent step pre += h·W_hhᵀ", dims: []Dim{{"B", b}, {"H", h}}, tol: tolReduc,
			f32: []int{2 * m * k, 2 * n * k, 2 * m * n}, outs: []ref{dev(2)},
			run: func(be host.Backend, x *instance) {
				be.GemmStridedBatched(false, true, m, n, k, 1, x.f[0], k, m*k, x.f[1], k, n*k, 1, x.f[2], n, m*n, 2)
			}}
		c.bytes, c.flops = gemmCost(2, m, n, k, 1)
		add(c)
	})
	s.sweep("BTH", func(b, t, h, _ int) {
		m, n, k := 4*h, 2*h, t*b
		c := &kernelCase{op: "GemmStridedBatched", variant: "LSTM weight gradient dW_ih += dpreᵀ·x", dims: bth(b, t, h), tol: tolReduc,
			f32: []int{2 * k * m, 2 * k * n, 2 * m * n}, outs: []ref{dev(2)},
			run: func(be host.Backend, x *instance) {
				be.GemmStridedBatched(true, false, m, n, k, 1, x.f[0], m, k*m, x.f[1], n, k*n, 1, x.f[2], n, m*n, 2)
			}}
		c.bytes, c.flops = gemmCost(2, m, n, k, 1)
		add(c)
	})
	s.sweep("BTH", func(b, t, h, _ int) {
		m, n, k := t*b, 2*h, 4*h
		c := &kernelCase{op: "GemmStridedBatched", variant: "LSTM input gradient dx = dpre·W_ih", dims: bth(b, t, h), tol: tolReduc,
			f32: []int{2 * m * k, 2 * k * n, 2 * m * n}, outs: []ref{dev(2)},
			run: func(be host.Backend, x *instance) {
				be.GemmStridedBatched(false, false, m, n, k, 1, x.f[0], k, m*k, x.f[1], n, k*n, 0, x.f[2], n, m*n, 2)
			}}
		c.bytes, c.flops = gemmCost(2, m, n, k, 0)
		add(c)
	})

	// The LSTM's biases on a launch-bound backend: GEMMs against a shared
	// matrix of ones (stride 0), both biases (adjacent in memory) and both
	// directions in one call; A's ones are counted once.
	ones := func(r *rand.Rand, d *caseData) {
		for i := range d.f[0] {
			d.f[0][i] = 1
		}
		uniform(r, d.f[1], -1, 1)
		uniform(r, d.f[2], -1, 1)
	}
	s.sweep("BTH", func(b, t, h, _ int) {
		m, n, k := t*b, 4*h, 2
		c := &kernelCase{op: "GemmStridedBatched", variant: "LSTM biases, ones·[b_ih;b_hh]", dims: bth(b, t, h), tol: tolReduc,
			f32: []int{m * k, 2 * 4 * h * k, 2 * m * n}, outs: []ref{dev(2)}, fill: ones,
			run: func(be host.Backend, x *instance) {
				be.GemmStridedBatched(false, false, m, n, k, 1, x.f[0], k, 0, x.f[1], n, 4*h*k, 1, x.f[2], n, m*n, 2)
			}}
		c.bytes, c.flops = gemmCost(2, m, n, k, 1)
		c.bytes -= 4 * i64(m, k)
		add(c)
	})
	s.sweep("BTH", func(b, t, h, _ int) {
		m, n, k := 2, 4*h, t*b
		c := &kernelCase{op: "GemmStridedBatched", variant: "LSTM bias grads, onesᵀ·dpre", dims: bth(b, t, h), tol: tolReduc,
			f32: []int{m * k, 2 * k * n, 2 * m * n}, outs: []ref{dev(2)}, fill: ones,
			run: func(be host.Backend, x *instance) {
				be.GemmStridedBatched(false, false, m, n, k, 1, x.f[0], k, 0, x.f[1], n, k*n, 1, x.f[2], n, m*n, 2)
			}}
		c.bytes, c.flops = gemmCost(2, m, n, k, 1)
		c.bytes -= 4 * i64(m, k)
		add(c)
	})

	// Multi-head attention over windows of R turns with E = 2H features,
	// as model.MultiheadAttention issues it: the in-projection, then per
	// head strided views of qkv [B·R, 3E] (one head is timed).
	s.sweep("BRH", func(b, _, h, r int) {
		e := 2 * h
		m, n, k := b*r, 3*e, e
		c := &kernelCase{op: "Gemm", variant: "attention in-projection x·W_inᵀ", dims: []Dim{{"B", b}, {"R", r}, {"H", h}}, tol: tolReduc,
			f32: []int{m * k, n * k, m * n}, outs: []ref{dev(2)},
			run: func(be host.Backend, x *instance) {
				be.Gemm(false, true, m, n, k, 1, x.f[0], k, x.f[1], k, 0, x.f[2], n)
			}}
		c.bytes, c.flops = gemmCost(1, m, n, k, 0)
		add(c)
	})
	s.sweep("BRH", func(b, _, h, r int) {
		e := 2 * h
		d, heads := e/s.Heads, s.Heads
		c := &kernelCase{op: "GemmStridedBatched", variant: "attention scores Q·Kᵀ, one head", dims: []Dim{{"B", b}, {"R", r}, {"H", h}}, tol: tolReduc,
			f32: []int{b * r * 3 * e, b * heads * r * r}, outs: []ref{dev(1)},
			run: func(be host.Backend, x *instance) {
				qkv := x.f[0]
				be.GemmStridedBatched(false, true, r, r, d, 1, qkv, 3*e, r*3*e, qkv.Slice(e, qkv.Len()-e), 3*e, r*3*e,
					0, x.f[1], r, heads*r*r, b)
			}}
		c.bytes, c.flops = gemmCost(b, r, r, d, 0)
		add(c)
	})
	s.sweep("BRH", func(b, _, h, r int) {
		e := 2 * h
		d, heads := e/s.Heads, s.Heads
		c := &kernelCase{op: "GemmStridedBatched", variant: "attention context P·V, one head", dims: []Dim{{"B", b}, {"R", r}, {"H", h}}, tol: tolReduc,
			f32: []int{b * heads * r * r, b * r * 3 * e, b * r * e}, outs: []ref{dev(2)},
			run: func(be host.Backend, x *instance) {
				qkv := x.f[1]
				be.GemmStridedBatched(false, false, r, d, r, 1, x.f[0], r, heads*r*r, qkv.Slice(2*e, qkv.Len()-2*e), 3*e, r*3*e,
					0, x.f[2], e, r*e, b)
			}}
		c.fill = func(rr *rand.Rand, dd *caseData) { uniform(rr, dd.f[0], 0, 0.2) }
		c.bytes, c.flops = gemmCost(b, r, d, r, 0)
		add(c)
	})
	return cs
}
