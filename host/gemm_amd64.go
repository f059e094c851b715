//go:build amd64 && !purego

package host

import "golang.org/x/sys/cpu"

// hasAVX2FMA reports whether this CPU (and its operating system) supports
// AVX2 and FMA, which the assembly kernels (GEMM, sigmoid and tanh) need.
// Without them Gemm takes the portable path (see gemmKindFor) and the
// vector math its Go loops. Tests clear it to run the Go kernels.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// sgemmKernelAVX2 is the AVX2+FMA micro-kernel (gemm_amd64.s) behind
// sgemmKernel, with strides in elements and no bounds checks.
//
//go:noescape
func sgemmKernelAVX2(kc int, a *float32, rsA, csA int, b, c *float32, ldc int, alpha, beta float32, load bool)

// sgemmKernel8AVX2 is sgemmKernelAVX2 for the left 8 columns of the block.
//
//go:noescape
func sgemmKernel8AVX2(kc int, a *float32, rsA, csA int, b, c *float32, ldc int, alpha, beta float32, load bool)

// sgemmKernel computes a 6×16 block of C (row stride ldc) from kc columns of
// A and kc rows of a packed B sliver:
//
//	acc[r][j] = Σ_{p<kc} A[r·rsA + p·csA]·b[16p + j]   (FMA, p in order)
//	C[r][j]   = alpha·acc[r][j] + beta·C[r][j]   (load)
//	C[r][j]   = alpha·acc[r][j]                  (!load: C not read)
//
// where beta·C[r][j] + alpha·acc[r][j] is one fused multiply-add. A is read
// in place, with any row and column strides (a packed sliver has rsA = 1,
// csA = 6). It runs the assembly kernel when the CPU has AVX2 and FMA and
// sgemmKernelGo, which computes the same values, otherwise.
func sgemmKernel(kc int, a []float32, rsA, csA int, b, c []float32, ldc int, alpha, beta float32, load bool) {
	sgemmKernelCheck(kc, a, rsA, csA, b, c, ldc)
	if !hasAVX2FMA {
		sgemmKernelGo(kc, a, rsA, csA, b, c, ldc, alpha, beta, load)
		return
	}
	sgemmKernelAVX2(kc, &a[0], rsA, csA, &b[0], &c[0], ldc, alpha, beta, load)
}

// sgemmPackT16AVX2 transposes 16 rows of src (row stride ld) into kc8
// blocks of 8×16 floats at dst: dst[16p + j] = src[j·ld + p] for
// p < 8·kc8, j < 16. kc8 ≥ 1, no bounds checks.
//
//go:noescape
func sgemmPackT16AVX2(dst, src *float32, ld, kc8 int)

// sgemmPackT16 sets dst[16p + j] = src[j·ld + p] for p < kc, j < 16: a
// full sliver of a transposed op(B).
func sgemmPackT16(dst, src []float32, ld, kc int) {
	if len(dst) < sgemmNR*kc || len(src) < (sgemmNR-1)*ld+kc {
		panic("host: sgemmPackT16 operands out of range")
	}
	k8 := 0
	if hasAVX2FMA {
		if k8 = kc / 8 * 8; k8 > 0 {
			sgemmPackT16AVX2(&dst[0], &src[0], ld, k8/8)
		}
	}
	if k8 < kc {
		sgemmPackT16Go(dst, src, ld, k8, kc)
	}
}

// sgemmCopy16AVX2 copies rows ≥ 1 rows of 16 floats from src (row stride
// ld) to dst, packed; no bounds checks.
//
//go:noescape
func sgemmCopy16AVX2(dst, src *float32, ld, rows int)

// sgemmCopy16 sets dst[16r + j] = src[r·ld + j] for r < rows, j < 16.
func sgemmCopy16(dst, src []float32, ld, rows int) {
	if rows < 1 || len(dst) < sgemmNR*rows || len(src) < (rows-1)*ld+sgemmNR {
		panic("host: sgemmCopy16 operands out of range")
	}
	if !hasAVX2FMA {
		sgemmCopyGo(dst, src, ld, rows, sgemmNR)
		return
	}
	sgemmCopy16AVX2(&dst[0], &src[0], ld, rows)
}

// sgemmKernel8 is sgemmKernel for the left 6×8 half of the block (b is
// still a 16-column sliver): it computes the same values for those columns,
// with half the work, and does not touch the right half of C.
func sgemmKernel8(kc int, a []float32, rsA, csA int, b, c []float32, ldc int, alpha, beta float32, load bool) {
	sgemmKernelCheck(kc, a, rsA, csA, b, c, ldc)
	if !hasAVX2FMA {
		sgemmKernelGo8(kc, a, rsA, csA, b, c, ldc, alpha, beta, load)
		return
	}
	sgemmKernel8AVX2(kc, &a[0], rsA, csA, &b[0], &c[0], ldc, alpha, beta, load)
}
