package host

import "math"

// Fill sets the x.Len() elements of x to v.
func (c *CPU) Fill(x *F32, v float32) {
	if c.failed() || !c.f32("Fill", "x", x, 0, "") || x == nil {
		return
	}
	xs := x.cpu
	if k := c.chunks(len(xs), cpuGrainCheap); k > 1 {
		c.parallelRange(len(xs), k, func(lo, hi int) { cpuFill(xs[lo:hi], v) })
	} else {
		cpuFill(xs, v)
	}
}

func cpuFill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}

// Copy copies src into dst; their lengths must be equal.
func (c *CPU) Copy(dst, src *F32) {
	const op = "Copy"
	n := src.Len()
	if c.failed() || !c.f32(op, "src", src, n, "n", n) || !c.f32(op, "dst", dst, n, "n", n) {
		return
	}
	if dst.Len() != n {
		c.failf(op, "dst has %d elements, src %d", dst.Len(), n)
		return
	}
	if n == 0 {
		return
	}
	d, s := dst.cpu, src.cpu
	if k := c.chunks(n, 4*cpuGrainCheap); k > 1 {
		c.parallelRange(n, k, func(lo, hi int) { copy(d[lo:hi], s[lo:hi]) })
	} else {
		copy(d, s)
	}
}

// Copy2D copies (or, with accumulate, adds) a rows×cols sub-matrix:
// dst[r*ldDst+c] (+)= src[r*ldSrc+c].
func (c *CPU) Copy2D(rows, cols int, src *F32, ldSrc int, dst *F32, ldDst int, accumulate bool) {
	const op, names = "Copy2D", "rows cols ldSrc ldDst"
	if c.failed() || !c.nonNeg(op, names, rows, cols, ldSrc, ldDst) {
		return
	}
	if rows == 0 || cols == 0 {
		return
	}
	if !c.ld(op, "ldSrc", ldSrc, cols, names, rows, cols, ldSrc, ldDst) ||
		!c.ld(op, "ldDst", ldDst, cols, names, rows, cols, ldSrc, ldDst) ||
		!c.f32(op, "src", src, cpuMatLen(rows, cols, ldSrc), names, rows, cols, ldSrc, ldDst) ||
		!c.f32(op, "dst", dst, cpuMatLen(rows, cols, ldDst), names, rows, cols, ldSrc, ldDst) {
		return
	}
	s, d := src.cpu, dst.cpu
	if k := c.chunks(rows*cols, cpuGrainCheap); k > 1 {
		c.parallelRange(rows, min(k, rows), func(lo, hi int) {
			cpuCopy2D(lo, hi, cols, s, ldSrc, d, ldDst, accumulate)
		})
	} else {
		cpuCopy2D(0, rows, cols, s, ldSrc, d, ldDst, accumulate)
	}
}

func cpuCopy2D(lo, hi, cols int, s []float32, ldSrc int, d []float32, ldDst int, accumulate bool) {
	for r := lo; r < hi; r++ {
		sr := s[r*ldSrc : r*ldSrc+cols]
		dr := d[r*ldDst : r*ldDst+cols]
		if accumulate {
			for i, v := range sr {
				dr[i] += v
			}
		} else {
			copy(dr, sr)
		}
	}
}

// Axpy computes y += alpha·x over the x.Len() elements of x; y must hold at
// least as many.
func (c *CPU) Axpy(alpha float32, x, y *F32) {
	const op = "Axpy"
	n := x.Len()
	if c.failed() || !c.f32(op, "x", x, n, "n", n) || !c.f32(op, "y", y, n, "n", n) || n == 0 {
		return
	}
	xs, ys := x.cpu, y.cpu[:n]
	if k := c.chunks(n, cpuGrainCheap); k > 1 {
		c.parallelRange(n, k, func(lo, hi int) { cpuAxpy(alpha, xs[lo:hi], ys[lo:hi]) })
	} else {
		cpuAxpy(alpha, xs, ys)
	}
}

func cpuAxpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scale computes x *= alpha.
func (c *CPU) Scale(alpha float32, x *F32) {
	if c.failed() || !c.f32("Scale", "x", x, 0, "") || x.Len() == 0 {
		return
	}
	xs := x.cpu
	if k := c.chunks(len(xs), cpuGrainCheap); k > 1 {
		c.parallelRange(len(xs), k, func(lo, hi int) { cpuScale(alpha, xs[lo:hi]) })
	} else {
		cpuScale(alpha, xs)
	}
}

func cpuScale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// cpuSumBlock is the size of the blocks a Sum or SumSquares adds up
// separately (in parallel when there are several) before adding the block
// sums in order: fixed, so that results do not depend on the thread count.
const cpuSumBlock = 1 << 14

// Sum writes the sum of x's elements to out[0]: float32 sums of blocks of
// 16384 elements, each over four interleaved partial sums, added in order.
func (c *CPU) Sum(x, out *F32) { c.reduce("Sum", x, out, false) }

// SumSquares writes the sum of squares of x's elements to out[0], blocked
// as Sum.
func (c *CPU) SumSquares(x, out *F32) { c.reduce("SumSquares", x, out, true) }

func (c *CPU) reduce(op string, x, out *F32, squares bool) {
	n := x.Len()
	if c.failed() || !c.f32(op, "x", x, n, "n", n) || !c.f32(op, "out", out, 1, "n", n) {
		return
	}
	if n == 0 { // x may be nil
		out.cpu[0] = 0
		return
	}
	xs := x.cpu
	blocks := (n + cpuSumBlock - 1) / cpuSumBlock
	part := c.scratch(blocks)
	if blocks > 1 && c.threads > 1 {
		c.work.run(blocks, func(_, b int) {
			part[b] = cpuSum(xs[b*cpuSumBlock:min((b+1)*cpuSumBlock, n)], squares)
		})
	} else {
		for b := range blocks {
			part[b] = cpuSum(xs[b*cpuSumBlock:min((b+1)*cpuSumBlock, n)], squares)
		}
	}
	var s float32
	for _, v := range part {
		s += v
	}
	out.cpu[0] = s
}

// cpuSum adds x's elements (or their squares) with four interleaved partial
// sums, combined as (s0+s1)+(s2+s3), then the tail in order. Each square is
// rounded to float32 before it is added: the conversions forbid fusing
// s += v·v into an FMA, as GOAMD64=v3 otherwise does, so that the result
// does not depend on the build.
func cpuSum(x []float32, squares bool) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	if squares {
		for ; i+4 <= len(x); i += 4 {
			v := x[i : i+4 : i+4]
			s0 += float32(v[0] * v[0])
			s1 += float32(v[1] * v[1])
			s2 += float32(v[2] * v[2])
			s3 += float32(v[3] * v[3])
		}
	} else {
		for ; i+4 <= len(x); i += 4 {
			v := x[i : i+4 : i+4]
			s0 += v[0]
			s1 += v[1]
			s2 += v[2]
			s3 += v[3]
		}
	}
	s := (s0 + s1) + (s2 + s3)
	for _, v := range x[i:] {
		if squares {
			v = float32(v * v)
		}
		s += v
	}
	return s
}

// AddBias adds bias[c] to x[r*cols+c] for every row r of a rows×cols x.
func (c *CPU) AddBias(rows, cols int, x, bias *F32) {
	const op, names = "AddBias", "rows cols"
	if c.failed() || !c.nonNeg(op, names, rows, cols) ||
		!c.f32(op, "x", x, satMul(rows, cols), names, rows, cols) ||
		!c.f32(op, "bias", bias, cols, names, rows, cols) || rows*cols == 0 {
		return
	}
	xs, bs := x.cpu, bias.cpu[:cols]
	if k := c.chunks(rows*cols, cpuGrainCheap); k > 1 {
		c.parallelRange(rows, min(k, rows), func(lo, hi int) { cpuAddBias(xs[lo*cols:hi*cols], bs) })
	} else {
		cpuAddBias(xs[:rows*cols], bs)
	}
}

// cpuAddBias adds bias to each len(bias)-element row of x.
func cpuAddBias(x, bias []float32) {
	for len(x) >= len(bias) && len(bias) > 0 {
		vecAdd32(x[:len(bias)], bias)
		x = x[len(bias):]
	}
}

// Column and row blocks of BiasGrad: each task sums a strip of
// cpuBiasCols columns, over blocks of cpuBiasRows rows whose sums are added
// in order.
const (
	cpuBiasCols = 64
	cpuBiasRows = 256
)

// BiasGrad accumulates the column sums of the rows×cols dy into dbias. Each
// column sum is the in-order float32 sum of the sums of blocks of 256 rows,
// added to dbias at the end.
func (c *CPU) BiasGrad(rows, cols int, dy, dbias *F32) {
	const op, names = "BiasGrad", "rows cols"
	if c.failed() || !c.nonNeg(op, names, rows, cols) ||
		!c.f32(op, "dy", dy, satMul(rows, cols), names, rows, cols) ||
		!c.f32(op, "dbias", dbias, cols, names, rows, cols) || rows*cols == 0 {
		return
	}
	d, db := dy.cpu, dbias.cpu
	strips := (cols + cpuBiasCols - 1) / cpuBiasCols
	if strips > 1 && c.chunks(rows*cols, cpuGrainCheap) > 1 {
		c.work.run(strips, func(_, t int) { cpuBiasStrip(rows, cols, t*cpuBiasCols, d, db) })
	} else {
		for t := range strips {
			cpuBiasStrip(rows, cols, t*cpuBiasCols, d, db)
		}
	}
}

// cpuBiasStrip adds the column sums of columns [j0, j0+cpuBiasCols) of the
// rows×cols dy into dbias.
func cpuBiasStrip(rows, cols, j0 int, dy, dbias []float32) {
	w := min(cpuBiasCols, cols-j0)
	var acc, blk [cpuBiasCols]float32
	for r0 := 0; r0 < rows; r0 += cpuBiasRows {
		blk = [cpuBiasCols]float32{}
		r1 := min(r0+cpuBiasRows, rows)
		// A full strip goes to the AVX kernel where there is one: the same
		// sums in the same order.
		if w < cpuBiasCols || !biasRowsVec(&blk, dy[r0*cols+j0:], r1-r0, cols) {
			for r := r0; r < r1; r++ {
				row := dy[r*cols+j0 : r*cols+j0+w]
				for j, v := range row {
					blk[j] += v
				}
			}
		}
		for j := range w {
			acc[j] += blk[j]
		}
	}
	for j := range w {
		dbias[j0+j] += acc[j]
	}
}

// ReLU computes y = max(x, 0) over the x.Len() elements of x (NaN stays NaN);
// x and y may be the same buffer.
func (c *CPU) ReLU(x, y *F32) {
	const op = "ReLU"
	n := x.Len()
	if c.failed() || !c.f32(op, "x", x, n, "n", n) || !c.f32(op, "y", y, n, "n", n) || n == 0 {
		return
	}
	xs, ys := x.cpu, y.cpu[:n]
	if k := c.chunks(n, cpuGrainCheap); k > 1 {
		c.parallelRange(n, k, func(lo, hi int) { cpuReLU(xs[lo:hi], ys[lo:hi]) })
	} else {
		cpuReLU(xs, ys)
	}
}

func cpuReLU(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// ReLUBackward computes dx = dy where y > 0, else 0, over y.Len() elements.
func (c *CPU) ReLUBackward(y, dy, dx *F32) {
	const op = "ReLUBackward"
	n := y.Len()
	if c.failed() || !c.f32(op, "y", y, n, "n", n) || !c.f32(op, "dy", dy, n, "n", n) ||
		!c.f32(op, "dx", dx, n, "n", n) || n == 0 {
		return
	}
	ys, dys, dxs := y.cpu, dy.cpu[:n], dx.cpu[:n]
	if k := c.chunks(n, cpuGrainCheap); k > 1 {
		c.parallelRange(n, k, func(lo, hi int) { cpuReLUBackward(ys[lo:hi], dys[lo:hi], dxs[lo:hi]) })
	} else {
		cpuReLUBackward(ys, dys, dxs)
	}
}

func cpuReLUBackward(y, dy, dx []float32) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	for i, v := range y {
		if v > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

// Tanh computes y = tanh(x) over x.Len() elements (correctly rounded from
// float64); x and y may be the same buffer.
func (c *CPU) Tanh(x, y *F32) {
	const op = "Tanh"
	n := x.Len()
	if c.failed() || !c.f32(op, "x", x, n, "n", n) || !c.f32(op, "y", y, n, "n", n) || n == 0 {
		return
	}
	xs, ys := x.cpu, y.cpu[:n]
	if k := c.chunks(n, cpuGrainMath); k > 1 {
		c.parallelRange(n, k, func(lo, hi int) { cpuTanh(xs[lo:hi], ys[lo:hi]) })
	} else {
		cpuTanh(xs, ys)
	}
}

func cpuTanh(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = tanh32(v)
	}
}

// TanhBackward computes dx = dy·(1 − y²) over y.Len() elements.
func (c *CPU) TanhBackward(y, dy, dx *F32) {
	const op = "TanhBackward"
	n := y.Len()
	if c.failed() || !c.f32(op, "y", y, n, "n", n) || !c.f32(op, "dy", dy, n, "n", n) ||
		!c.f32(op, "dx", dx, n, "n", n) || n == 0 {
		return
	}
	ys, dys, dxs := y.cpu, dy.cpu[:n], dx.cpu[:n]
	if k := c.chunks(n, cpuGrainCheap); k > 1 {
		c.parallelRange(n, k, func(lo, hi int) { cpuTanhBackward(ys[lo:hi], dys[lo:hi], dxs[lo:hi]) })
	} else {
		cpuTanhBackward(ys, dys, dxs)
	}
}

func cpuTanhBackward(y, dy, dx []float32) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	for i, v := range y {
		dx[i] = dy[i] * (1 - v*v)
	}
}

// Dropout computes y = x·scale where DropoutKeep(p, seed, offset, i) keeps
// element i and y = 0 elsewhere, with scale = 1/(1−p) computed in float32;
// p = 0 copies x and p = 1 gives zeros. p outside [0, 1] is an error.
func (c *CPU) Dropout(p float32, seed, offset uint64, x, y *F32) {
	c.dropout("Dropout", p, seed, offset, x, y)
}

// DropoutBackward computes dx = dy·scale where Dropout kept element i and
// dx = 0 elsewhere (the same mask and scale as Dropout).
func (c *CPU) DropoutBackward(p float32, seed, offset uint64, dy, dx *F32) {
	c.dropout("DropoutBackward", p, seed, offset, dy, dx)
}

func (c *CPU) dropout(op string, p float32, seed, offset uint64, x, y *F32) {
	n := x.Len()
	if c.failed() || !c.f32(op, "x", x, n, "n", n) || !c.f32(op, "y", y, n, "n", n) {
		return
	}
	if !(p >= 0 && p <= 1) {
		c.failf(op, "p=%g outside [0, 1]", p)
		return
	}
	if n == 0 {
		return
	}
	xs, ys := x.cpu, y.cpu[:n]
	if p == 0 {
		copy(ys, xs)
		return
	}
	if k := c.chunks(n, cpuGrainMath); k > 1 {
		c.parallelRange(n, k, func(lo, hi int) { cpuDropout(p, seed, offset+uint64(lo), xs[lo:hi], ys[lo:hi]) })
	} else {
		cpuDropout(p, seed, offset, xs, ys)
	}
}

// cpuDropout is Dropout of x into y, whose element 0 has counter offset.
func cpuDropout(p float32, seed, offset uint64, x, y []float32) {
	scale := 1 / (1 - p)
	y = y[:len(x)]
	for i, v := range x {
		if dropoutUniform(seed, offset+uint64(i)) >= p {
			y[i] = v * scale
		} else {
			y[i] = 0
		}
	}
}

// sigmoid32 is the logistic function 1/(1+e⁻ˣ), computed in float64 and
// rounded to float32.
func sigmoid32(x float32) float32 {
	return float32(1 / (1 + math.Exp(-float64(x))))
}

// tanh32 is tanh computed in float64 and rounded to float32. (math.Tanh
// measured as fast as or faster than tanh through math.Exp: 4.7 ns below
// |x| = 0.625, where it evaluates a rational function, 12 ns above.)
func tanh32(x float32) float32 {
	return float32(math.Tanh(float64(x)))
}

// exp32 is eˣ computed in float64 and rounded to float32.
func exp32(x float32) float32 {
	return float32(math.Exp(float64(x)))
}
