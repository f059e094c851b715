package host

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// gemmBenchShapes are the GEMMs of the models: the input projection of all
// time steps x·W_ihᵀ (M = batch·steps, N = 4H, K = E) with its two backward
// GEMMs, the recurrent step h·W_hhᵀ with its backward, and batched attention.
var gemmBenchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k, batch int
}{
	{"proj_3200x512x128_NT", false, true, 3200, 512, 128, 1},
	{"proj_3200x256x100_NT", false, true, 3200, 256, 100, 1},
	{"proj_1000x512x64_NT", false, true, 1000, 512, 64, 1},
	{"proj_1000x256x128_NT", false, true, 1000, 256, 128, 1},
	{"projdX_3200x128x512_NN", false, false, 3200, 128, 512, 1},
	{"projdW_512x128x3200_TN", true, false, 512, 128, 3200, 1},
	{"rec_32x256x64_NT", false, true, 32, 256, 64, 1},
	{"recdh_32x64x256_NN", false, false, 32, 64, 256, 1},
	{"recdW_256x64x32_TN", true, false, 256, 64, 32, 1},
	{"rec_32x1024x256_NT", false, true, 32, 1024, 256, 1},
	{"attnQK_100x100x64_NT_b32", false, true, 100, 100, 64, 32},
	{"attnPV_100x64x100_NN_b32", false, false, 100, 64, 100, 32},
	{"attndP_100x100x64_NT_b32", false, true, 100, 100, 64, 32},
	{"attndV_100x64x100_TN_b32", true, false, 100, 64, 100, 32},
	{"cls_32x4x256_NT", false, true, 32, 4, 256, 1},
	// The dialog model (utterance BiLSTM H = 64 over embeddings of 100,
	// dialog BiLSTM H = 128 over 2·64+3 features), both directions at once.
	{"uttproj_256x256x100_NT_b2", false, true, 256, 256, 100, 2},
	{"uttdX_256x100x256_NN_b2", false, false, 256, 100, 256, 2},
	{"uttrec_128x256x64_NT_b2", false, true, 128, 256, 64, 2},
	{"uttrecdh_128x64x256_NN_b2", false, false, 128, 64, 256, 2},
	{"uttdW_256x100x320_TN_b2", true, false, 256, 100, 320, 2},
	{"dlgproj_320x512x131_NT_b2", false, true, 320, 512, 131, 2},
	{"dlgdW_512x131x320_TN_b2", true, false, 512, 131, 320, 2},
	{"dlgrec_32x512x128_NT_b2", false, true, 32, 512, 128, 2},
	{"uttrec_8x256x64_NT_b2", false, true, 8, 256, 64, 2},
	{"uttrec_24x256x64_NT_b2", false, true, 24, 256, 64, 2},
	{"tt_200x200x200_TT", true, true, 200, 200, 200, 1},
}

// BenchmarkGemm measures the three kernels at the models' shapes, on one
// thread and on as many as GOMAXPROCS, in GFLOP/s. On the 2-core AMD EPYC
// (Zen 4) this was tuned on, the float32 peak with AVX2 FMA is 32 FLOP a
// cycle, about 117 GFLOP/s a core at its boost clock. The portable packed
// kernel compiles to scalar SSE, gonum's Sgemm uses 4-wide SSE level-1
// assembly kernels, the blocked GEMM an AVX2+FMA micro-kernel (see
// sgemmChunk, and the figures in gemmKindFor).
func BenchmarkGemm(b *testing.B) {
	for _, s := range gemmBenchShapes {
		for _, kern := range []struct {
			name string
			v    int
		}{{"simd", gemmForceSIMD}, {"gonum", gemmForceGonum}, {"packed", gemmForcePacked}} {
			for _, threads := range []int{1, 0} {
				name := fmt.Sprintf("%s/%s/t%d", s.name, kern.name, threads)
				if threads == 0 {
					name = fmt.Sprintf("%s/%s/tmax", s.name, kern.name)
				}
				b.Run(name, func(b *testing.B) {
					defer func(v int) { gemmForce = v }(gemmForce)
					gemmForce = kern.v
					benchGemm(b, NewCPU(threads), s.transA, s.transB, s.m, s.n, s.k, s.batch)
				})
			}
		}
	}
}

// benchGemm times GemmStridedBatched on c at one shape, inputs 0.5 and
// 0.25, beta = 0, and reports GFLOP/s, on average and of the fastest call
// (best-GFLOP/s: on a shared machine, the speed when no other process took
// the cores).
func benchGemm(b *testing.B, c *CPU, transA, transB bool, m, n, k, batch int) {
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	x, y, z := c.Alloc(m*k*batch), c.Alloc(k*n*batch), c.Alloc(m*n*batch)
	c.Fill(x, 0.5)
	c.Fill(y, 0.25)
	flop := 2 * float64(m*n*k*batch)
	best := time.Duration(math.MaxInt64)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		c.GemmStridedBatched(transA, transB, m, n, k, 1, x, lda, m*k, y, ldb, k*n, 0, z, n, m*n, batch)
		best = min(best, time.Since(t0))
	}
	b.StopTimer()
	if err := c.Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(flop/best.Seconds()/1e9, "best-GFLOP/s")
}

// BenchmarkGemmKernel4x2 measures the packed micro-kernel alone on one
// core, its operands in L1: the ceiling of the packed GEMM.
func BenchmarkGemmKernel4x2(b *testing.B) {
	ap, bp := make([]float32, gemmMR*gemmKC), make([]float32, gemmNR*gemmKC)
	for i := range ap {
		ap[i] = float32(i%7) * 0.25
	}
	for i := range bp {
		bp[i] = float32(i%5) * 0.5
	}
	var acc [gemmMR * gemmNR]float32
	for range b.N {
		gemmKernel4x2(gemmKC, ap, bp, &acc)
	}
	b.ReportMetric(2*gemmMR*gemmNR*gemmKC*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemmKernel measures the blocked GEMM's micro-kernel alone on
// one core, its operands in L1 (a packed A sliver, a B sliver, C loaded
// and stored): the ceiling of the blocked GEMM. best-GFLOP/s is the
// fastest of batches of 64 calls.
func BenchmarkSgemmKernel(b *testing.B) {
	for _, kc := range []int{64, 256} {
		b.Run(fmt.Sprintf("kc=%d", kc), func(b *testing.B) {
			ap, bp := make([]float32, sgemmMR*kc), make([]float32, sgemmNR*kc)
			for i := range ap {
				ap[i] = float32(i%7) * 0.25
			}
			for i := range bp {
				bp[i] = float32(i%5) * 0.5
			}
			c := make([]float32, sgemmMR*sgemmNR)
			flop := 2 * sgemmMR * sgemmNR * float64(kc)
			best := time.Duration(math.MaxInt64)
			b.ResetTimer()
			for i := 0; i < b.N; i += 64 {
				t0 := time.Now()
				for range min(64, b.N-i) {
					sgemmKernel(kc, ap, 1, sgemmMR, bp, c, sgemmNR, 1, 1, true)
				}
				if i+64 <= b.N {
					best = min(best, time.Since(t0))
				}
			}
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if best < math.MaxInt64 {
				b.ReportMetric(64*flop/best.Seconds()/1e9, "best-GFLOP/s")
			}
		})
	}
}
