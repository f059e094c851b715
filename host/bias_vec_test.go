package host

import (
	"math"
	"math/rand/v2"
	"testing"
)

// biasGradRef is BiasGrad's definition, one element at a time: each column
// sums blocks of cpuBiasRows rows in order, then the block sums in order,
// then adds the total to dbias.
func biasGradRef(rows, cols int, dy, dbias []float32) {
	for j := range cols {
		var acc float32
		for r0 := 0; r0 < rows; r0 += cpuBiasRows {
			var blk float32
			for r := r0; r < min(r0+cpuBiasRows, rows); r++ {
				blk += dy[r*cols+j]
			}
			acc += blk
		}
		dbias[j] += acc
	}
}

// TestBiasGradBits checks that BiasGrad, whose full strips of 64 columns go
// to the AVX kernel where there is one, gives the reference's bits at
// awkward sizes (partial strips and blocks), with signed zeros and a NaN
// among the values, on one thread and on several.
func TestBiasGradBits(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-30, 3e20, -3e20, float32(math.NaN())}
	for _, threads := range []int{1, 3} {
		c := NewCPU(threads)
		for _, rows := range []int{1, 255, 256, 257, 600} {
			for _, cols := range []int{1, 64, 65, 130, 256} {
				dy := make([]float32, rows*cols)
				for i := range dy {
					dy[i] = float32(r.NormFloat64())
					if r.IntN(50) == 0 {
						dy[i] = special[r.IntN(len(special))]
					}
				}
				db := make([]float32, cols)
				for i := range db {
					db[i] = float32(r.NormFloat64())
				}
				want := append([]float32(nil), db...)
				biasGradRef(rows, cols, dy, want)
				dyb, dbb := c.Alloc(len(dy)), c.Alloc(cols)
				c.Upload(dyb, dy)
				c.Upload(dbb, db)
				c.BiasGrad(rows, cols, dyb, dbb)
				got := make([]float32, cols)
				c.Download(got, dbb)
				if err := c.Err(); err != nil {
					t.Fatal(err)
				}
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
						t.Fatalf("threads %d, %d×%d: dbias[%d] = %v, reference %v", threads, rows, cols, j, got[j], want[j])
					}
				}
			}
		}
	}
}

// BenchmarkBiasGrad measures BiasGrad on one thread per element of dy, at
// the dialog model's utterance LSTM shape (4H = 256 columns, both
// directions' 14,059 padded slots of a batch), with its AVX strips and with
// the Go loop alone.
func BenchmarkBiasGrad(b *testing.B) {
	rows, cols := 14059, 256
	c := NewCPU(1)
	dy, db := c.Alloc(rows*cols), c.Alloc(cols)
	c.Fill(dy, 0.5)
	for _, bm := range []struct {
		name string
		vec  bool
	}{{"vector", true}, {"Go", false}} {
		b.Run(bm.name, func(b *testing.B) {
			saved := hasAVX2FMA
			hasAVX2FMA = hasAVX2FMA && bm.vec
			defer func() { hasAVX2FMA = saved }()
			for range b.N {
				c.BiasGrad(rows, cols, dy, db)
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*rows*cols), "ns/element")
		})
	}
}

// TestVecAdd32 checks the vector add of AddBias against the scalar loop at
// every length up to 40 and at unaligned offsets, bit for bit.
func TestVecAdd32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for n := range 41 {
		for _, off := range []int{0, 1, 5} {
			dst, src := make([]float32, off+n), make([]float32, off+n)
			for i := range dst {
				dst[i], src[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			}
			want := append([]float32(nil), dst...)
			for i := off; i < off+n; i++ {
				want[i] += src[i]
			}
			vecAdd32(dst[off:], src[off:])
			for i := range dst {
				if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d off=%d: dst[%d] = %v, want %v", n, off, i, dst[i], want[i])
				}
			}
		}
	}
}
