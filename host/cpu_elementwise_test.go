package host

import (
	"fmt"
	"math"
	"testing"
)

// cpuSizes1D are element counts for elementwise ops: awkward small sizes and
// one large enough to run on several workers.
var cpuSizes1D = []int{1, 7, 33, 65, 70001}

func TestCPUFillCopyAxpyScale(t *testing.T) {
	for _, n := range cpuSizes1D {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := newCPUHarness(t, 2)
			xv, yv := h.rand(n), h.rand(n)
			x, y := h.up(xv), h.up(yv)

			f := h.c.Alloc(n)
			h.c.Fill(f, -2.5)
			want := make([]float64, n)
			for i := range want {
				want[i] = -2.5
			}
			cpuCheckClose(t, "Fill", h.down(f), want, 0, 0)

			h.c.Copy(f, x)
			cpuCheckClose(t, "Copy", h.down(f), cpuF64(xv), 0, 0)

			h.c.Axpy(-0.75, x, y)
			for i := range want {
				want[i] = float64(yv[i]) + -0.75*float64(xv[i])
			}
			cpuCheckClose(t, "Axpy", h.down(y), want, 1e-5, 1e-7)

			h.c.Scale(3, x)
			for i := range want {
				want[i] = 3 * float64(xv[i])
			}
			cpuCheckClose(t, "Scale", h.down(x), want, 1e-5, 0)
		})
	}
}

func TestCPUCopy2D(t *testing.T) {
	tests := []struct{ rows, cols, ldSrc, ldDst int }{
		{1, 1, 1, 1}, {7, 3, 5, 3}, {33, 65, 70, 65}, {300, 260, 300, 270},
	}
	for _, tt := range tests {
		for _, acc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/acc=%v", tt, acc), func(t *testing.T) {
				h := newCPUHarness(t, 3)
				sv := h.rand((tt.rows-1)*tt.ldSrc + tt.cols)
				dv := h.rand(tt.rows * tt.ldDst)
				src, dst := h.up(sv), h.up(dv)
				h.c.Copy2D(tt.rows, tt.cols, src, tt.ldSrc, dst, tt.ldDst, acc)
				want := cpuF64(dv)
				for r := range tt.rows {
					for c := range tt.cols {
						v := float64(sv[r*tt.ldSrc+c])
						if acc {
							v += float64(dv[r*tt.ldDst+c])
						}
						want[r*tt.ldDst+c] = v
					}
				}
				cpuCheckClose(t, "Copy2D", h.down(dst), want, 1e-6, 0)
			})
		}
	}
}

func TestCPUTranspose(t *testing.T) {
	for _, tt := range []struct{ batch, rows, cols, ldSrc, strideSrc, ldDst, strideDst int }{
		{1, 1, 1, 1, 0, 1, 0}, {1, 3, 5, 5, 0, 3, 0}, {1, 7, 2, 4, 0, 9, 0},
		{2, 3, 5, 6, 20, 4, 23}, // two matrices with gaps between them
		{3, 4, 2, 2, 8, 4, 8},   // packed
	} {
		h := newCPUHarness(t, 1)
		sv := h.rand((tt.batch-1)*tt.strideSrc + (tt.rows-1)*tt.ldSrc + tt.cols)
		dv := h.rand((tt.batch-1)*tt.strideDst + (tt.cols-1)*tt.ldDst + tt.rows)
		src, dst := h.up(sv), h.up(dv)
		h.c.Transpose(tt.batch, tt.rows, tt.cols, src, tt.ldSrc, tt.strideSrc, dst, tt.ldDst, tt.strideDst)
		h.ok()
		want := cpuF64(dv)
		for i := range tt.batch {
			for r := range tt.rows {
				for c := range tt.cols {
					want[i*tt.strideDst+c*tt.ldDst+r] = float64(sv[i*tt.strideSrc+r*tt.ldSrc+c])
				}
			}
		}
		cpuCheckClose(t, fmt.Sprintf("Transpose%v", tt), h.down(dst), want, 0, 0)
	}
}

// TestCPUHeads checks SplitHeads against its index formula and MergeHeads
// as its inverse.
func TestCPUHeads(t *testing.T) {
	for _, tt := range []struct{ batch, steps, parts, heads, dim int }{{1, 1, 1, 1, 1}, {2, 3, 3, 4, 5}, {3, 1, 1, 2, 7}, {1, 4, 3, 1, 2}} {
		h := newCPUHarness(t, 1)
		n := tt.batch * tt.steps * tt.parts * tt.heads * tt.dim
		xv := h.rand(n)
		x, y, back := h.up(xv), h.up(h.rand(n)), h.up(h.rand(n))
		h.c.SplitHeads(tt.batch, tt.steps, tt.parts, tt.heads, tt.dim, x, y)
		want := make([]float64, n)
		for b := range tt.batch {
			for s := range tt.steps {
				for p := range tt.parts {
					for hd := range tt.heads {
						for j := range tt.dim {
							src := ((b*tt.steps+s)*tt.parts*tt.heads+p*tt.heads+hd)*tt.dim + j
							dst := (((p*tt.batch+b)*tt.heads+hd)*tt.steps+s)*tt.dim + j
							want[dst] = float64(xv[src])
						}
					}
				}
			}
		}
		cpuCheckClose(t, fmt.Sprintf("SplitHeads%v", tt), h.down(y), want, 0, 0)
		h.c.MergeHeads(tt.batch, tt.steps, tt.parts, tt.heads, tt.dim, y, back)
		cpuCheckClose(t, fmt.Sprintf("MergeHeads%v", tt), h.down(back), cpuF64(xv), 0, 0)
		h.ok()
	}
}

func TestCPUSum(t *testing.T) {
	for _, n := range append([]int{0}, append(cpuSizes1D, 3*cpuSumBlock+5)...) {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := newCPUHarness(t, 2)
			xv := h.rand(n)
			x, out := h.up(xv), h.c.Alloc(1)
			var s, sa, s2 float64
			for _, v := range xv {
				s += float64(v)
				sa += math.Abs(float64(v))
				s2 += float64(v) * float64(v)
			}
			h.c.Sum(x, out)
			if got := float64(h.down(out)[0]); math.Abs(got-s) > 1e-4*sa+1e-30 {
				t.Fatalf("Sum = %g, want %g", got, s)
			}
			h.c.SumSquares(x, out)
			if got := float64(h.down(out)[0]); math.Abs(got-s2) > 1e-4*s2+1e-30 {
				t.Fatalf("SumSquares = %g, want %g", got, s2)
			}
		})
	}
}

// cpuSumSquaresRef is SumSquares' documented arithmetic in float32, every
// square rounded before it is added (the conversions keep GOAMD64=v3 from
// fusing them into FMAs here too): per block of cpuSumBlock elements, four
// interleaved partial sums combined as (s0+s1)+(s2+s3), then the tail in
// order; the block sums added in order.
func cpuSumSquaresRef(x []float32) float32 {
	var total float32
	for b0 := 0; b0 < len(x); b0 += cpuSumBlock {
		blk := x[b0:min(b0+cpuSumBlock, len(x))]
		var s [4]float32
		i := 0
		for ; i+4 <= len(blk); i += 4 {
			for j := range s {
				s[j] += float32(blk[i+j] * blk[i+j])
			}
		}
		sum := (s[0] + s[1]) + (s[2] + s[3])
		for _, v := range blk[i:] {
			sum += float32(v * v)
		}
		total += sum
	}
	return total
}

// TestCPUSumSquaresBits checks SumSquares bit for bit against its
// documented arithmetic, so that its result does not depend on the build's
// instruction level: GOAMD64=v3 fused s += v·v into an FMA, which rounds
// the square with the sum (0x407ca8cf where a v1 build gives 0x407ca8d0 for
// the 12 values of the first case).
func TestCPUSumSquaresBits(t *testing.T) {
	tests := []struct {
		name string
		x    []float32
	}{
		{"fused differs", []float32{-0.521536, 0.04039644, 0.560503, 0.19759917, -1.0977124, 0.5022226,
			-0.7342027, -0.37196505, 0.6954993, -0.49398157, 0.1322356, 0.6641743}},
		{"tail only", []float32{0.1, 0.7, -1.3}},
	}
	h := newCPUHarness(t, 1)
	for _, n := range []int{5, 12, 63, 1001, 2*cpuSumBlock + 7} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(h.rng.NormFloat64())
		}
		tests = append(tests, struct {
			name string
			x    []float32
		}{fmt.Sprintf("normal n=%d", n), x})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := cpuSumSquaresRef(tt.x)
			for _, threads := range []int{1, 3} {
				h := newCPUHarness(t, threads)
				out := h.c.Alloc(1)
				h.c.SumSquares(h.up(tt.x), out)
				if got := h.down(out)[0]; math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("threads=%d: SumSquares = %g (%#08x), want %g (%#08x)", threads, got, math.Float32bits(got), want, math.Float32bits(want))
				}
			}
		})
	}
}

func TestCPUAddBiasBiasGrad(t *testing.T) {
	tests := []struct{ rows, cols int }{{1, 1}, {7, 3}, {33, 65}, {65, 7}, {600, 130}, {1000, 4}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt), func(t *testing.T) {
			h := newCPUHarness(t, 2)
			xv, bv := h.rand(tt.rows*tt.cols), h.rand(tt.cols)
			x, bias := h.up(xv), h.up(bv)
			h.c.AddBias(tt.rows, tt.cols, x, bias)
			want := make([]float64, len(xv))
			for i := range want {
				want[i] = float64(xv[i]) + float64(bv[i%tt.cols])
			}
			cpuCheckClose(t, "AddBias", h.down(x), want, 1e-5, 1e-7)

			// BiasGrad is the gradient of L = Σ r·(x + bias) with respect to
			// bias, accumulated into what dbias holds.
			r, d0 := h.rand(tt.rows*tt.cols), h.rand(tt.cols)
			db := h.up(d0)
			h.c.BiasGrad(tt.rows, tt.cols, h.up(r), db)
			bias64, x64, r64 := cpuF64(bv), cpuF64(xv), cpuF64(r)
			got := h.down(db)
			for j := range got {
				got[j] -= d0[j]
			}
			if tt.rows*tt.cols < 10000 {
				cpuCheckGrad(t, "BiasGrad", got, cpuNumGrad(bias64, func() float64 {
					y := make([]float64, len(x64))
					for i := range y {
						y[i] = x64[i] + bias64[i%tt.cols]
					}
					return cpuDot(r64, y)
				}))
			}
			// The column sums, exactly, with the bound Σ|r| of a float32 sum.
			sums, abs := make([]float64, tt.cols), make([]float64, tt.cols)
			for i, v := range r64 {
				sums[i%tt.cols] += v
				abs[i%tt.cols] += math.Abs(v)
			}
			for j := range sums {
				if e := math.Abs(float64(got[j]) - sums[j]); e > 1e-5*(abs[j]+math.Abs(float64(d0[j]))) {
					t.Fatalf("BiasGrad[%d] = %g, want %g", j, got[j], sums[j])
				}
			}
		})
	}
}

func TestCPUReLUTanh(t *testing.T) {
	for _, n := range cpuSizes1D {
		for _, inPlace := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/inplace=%v", n, inPlace), func(t *testing.T) {
				h := newCPUHarness(t, 2)
				xv := h.rand(n)
				for i := range xv {
					xv[i] *= 4
				}
				want := make([]float64, n)

				x := h.up(xv)
				y := x
				if !inPlace {
					y = h.c.Alloc(n)
				}
				h.c.ReLU(x, y)
				for i, v := range xv {
					want[i] = math.Max(float64(v), 0)
				}
				cpuCheckClose(t, "ReLU", h.down(y), want, 0, 0)

				x = h.up(xv)
				y = x
				if !inPlace {
					y = h.c.Alloc(n)
				}
				h.c.Tanh(x, y)
				for i, v := range xv {
					want[i] = math.Tanh(float64(v))
				}
				cpuCheckClose(t, "Tanh", h.down(y), want, 1e-6, 1e-9)
			})
		}
	}
	h := newCPUHarness(t, 1)
	x := h.up([]float32{float32(math.NaN())})
	h.c.ReLU(x, x)
	if v := h.down(x)[0]; !math.IsNaN(float64(v)) {
		t.Fatalf("ReLU(NaN) = %g, want NaN as in PyTorch", v)
	}
}

// TestCPUActivationBackward checks ReLUBackward, TanhBackward and
// DropoutBackward against central differences of float64 forwards.
func TestCPUActivationBackward(t *testing.T) {
	for _, n := range []int{1, 7, 33, 65} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := newCPUHarness(t, 2)
			xv, r := h.rand(n), h.rand(n)
			for i := range xv { // keep ReLU's inputs away from its kink
				if math.Abs(float64(xv[i])) < 0.01 {
					xv[i] = 0.5
				}
			}
			x64, r64 := cpuF64(xv), cpuF64(r)
			dy := h.up(r)

			x, y, dx := h.up(xv), h.c.Alloc(n), h.c.Alloc(n)
			h.c.ReLU(x, y)
			h.c.ReLUBackward(y, dy, dx)
			cpuCheckGrad(t, "ReLUBackward", h.down(dx), cpuNumGrad(x64, func() float64 {
				s := 0.0
				for i, v := range x64 {
					s += r64[i] * math.Max(v, 0)
				}
				return s
			}))

			h.c.Tanh(x, y)
			h.c.TanhBackward(y, dy, dx)
			cpuCheckGrad(t, "TanhBackward", h.down(dx), cpuNumGrad(x64, func() float64 {
				s := 0.0
				for i, v := range x64 {
					s += r64[i] * math.Tanh(v)
				}
				return s
			}))

			const p, seed, offset = 0.3, 99, 12345
			h.c.DropoutBackward(p, seed, offset, dy, dx)
			cpuCheckGrad(t, "DropoutBackward", h.down(dx), cpuNumGrad(x64, func() float64 {
				s := 0.0
				for i, v := range x64 {
					if DropoutKeep(p, seed, offset, i) {
						s += r64[i] * v / (1 - p)
					}
				}
				return s
			}))
		})
	}
}

func TestCPUDropout(t *testing.T) {
	for _, n := range cpuSizes1D {
		for _, p := range []float32{0, 0.1, 0.5, 1} {
			t.Run(fmt.Sprintf("%d/p=%g", n, p), func(t *testing.T) {
				h := newCPUHarness(t, 3)
				xv := h.rand(n)
				x, y := h.up(xv), h.c.Alloc(n)
				const seed, offset = 7, 1 << 33
				h.c.Dropout(p, seed, offset, x, y)
				got := h.down(y)
				want := make([]float64, n)
				for i, v := range xv {
					if DropoutKeep(p, seed, offset, i) {
						want[i] = float64(v) / (1 - float64(p))
					}
				}
				cpuCheckClose(t, "Dropout", got, want, 1e-6, 0)
				if p == 0 {
					cpuCheckClose(t, "Dropout p=0", got, cpuF64(xv), 0, 0)
				}
			})
		}
	}
}

// TestCPUMath32 sweeps the float32 transcendental helpers against math's
// float64 functions: within one float32 ulp, and rarely off the correctly
// rounded value.
func TestCPUMath32(t *testing.T) {
	tests := []struct {
		name string
		f    func(float32) float32
		ref  func(float64) float64
	}{
		{"tanh32", tanh32, math.Tanh},
		{"sigmoid32", sigmoid32, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
		{"exp32", exp32, math.Exp},
	}
	for _, tt := range tests {
		n, off := 0, 0
		for x := float32(-40); x < 40; x = math.Nextafter32(x, 100) + 3e-5*float32(math.Abs(float64(x))+1e-5) {
			n++
			got, want := tt.f(x), float32(tt.ref(float64(x)))
			if got == want {
				continue
			}
			off++
			if ulps := math.Float32bits(got) - math.Float32bits(want); ulps != 1 && ulps != ^uint32(0) {
				t.Fatalf("%s(%g) = %g, want %g", tt.name, x, got, want)
			}
		}
		if off > n/100000 {
			t.Errorf("%s: %d of %d values off by one ulp", tt.name, off, n)
		}
		t.Logf("%s: %d of %d values off by one ulp", tt.name, off, n)
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1))} {
		if got, want := tanh32(x), float32(math.Tanh(float64(x))); got != want || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
			t.Errorf("tanh32(%g) = %g, want %g", x, got, want)
		}
	}
	if !math.IsNaN(float64(tanh32(float32(math.NaN())))) {
		t.Error("tanh32(NaN) is not NaN")
	}
}
