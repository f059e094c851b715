//go:build !amd64 || purego

package host

// hasAVX2FMA is false: this build has no assembly kernels; Gemm takes the
// portable path (see gemmKindFor).
var hasAVX2FMA = false

// sgemmKernel computes a 6×16 block of C from kc columns of A and kc rows of
// a packed B sliver (see the amd64 version for the contract). Without
// assembly it is sgemmKernelGo; the blocked driver reaches it only when a
// test forces that driver.
func sgemmKernel(kc int, a []float32, rsA, csA int, b, c []float32, ldc int, alpha, beta float32, load bool) {
	sgemmKernelCheck(kc, a, rsA, csA, b, c, ldc)
	sgemmKernelGo(kc, a, rsA, csA, b, c, ldc, alpha, beta, load)
}

// sgemmPackT16 sets dst[16p + j] = src[j·ld + p] for p < kc, j < 16: a
// full sliver of a transposed op(B).
func sgemmPackT16(dst, src []float32, ld, kc int) {
	sgemmPackT16Go(dst, src, ld, 0, kc)
}

// sgemmCopy16 sets dst[16r + j] = src[r·ld + j] for r < rows, j < 16.
func sgemmCopy16(dst, src []float32, ld, rows int) { sgemmCopyGo(dst, src, ld, rows, sgemmNR) }

// sgemmKernel8 is sgemmKernel for the left 6×8 half of the block.
func sgemmKernel8(kc int, a []float32, rsA, csA int, b, c []float32, ldc int, alpha, beta float32, load bool) {
	sgemmKernelCheck(kc, a, rsA, csA, b, c, ldc)
	sgemmKernelGo8(kc, a, rsA, csA, b, c, ldc, alpha, beta, load)
}
