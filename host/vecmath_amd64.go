//go:build amd64 && !purego

package host

// sigmoid32AVX2 and tanh32AVX2 set dst[i] = sigmoid32v(src[i]) and
// tanh32v(src[i]) for i < n, n a positive multiple of 4, four lanes at a
// time (vecmath_amd64.s); no bounds checks.
//
//go:noescape
func sigmoid32AVX2(dst, src *float32, n int)

//go:noescape
func tanh32AVX2(dst, src *float32, n int)

// vecHead runs kernel over the longest prefix of src whose length is a
// multiple of lanes, where the CPU has AVX2 and FMA, and returns that
// length: the caller's Go loop does the rest. dst must be as long as src.
func vecHead(dst, src []float32, lanes int, kernel func(dst, src *float32, n int)) int {
	n := len(src) / lanes * lanes
	if !hasAVX2FMA || n == 0 {
		return 0
	}
	_ = dst[len(src)-1]
	kernel(&dst[0], &src[0], n)
	return n
}

// vecSigmoid32 sets dst[i] = sigmoid32v(src[i]) for i < len(src), with the
// AVX2 kernel where the CPU has AVX2 and FMA. dst may be src.
func vecSigmoid32(dst, src []float32) {
	n := vecHead(dst, src, 4, sigmoid32AVX2)
	vecSigmoid32Go(dst[n:len(src)], src[n:])
}

// vecTanh32 sets dst[i] = tanh32v(src[i]) for i < len(src), with the AVX2
// kernel where the CPU has AVX2 and FMA. dst may be src.
func vecTanh32(dst, src []float32) {
	n := vecHead(dst, src, 4, tanh32AVX2)
	vecTanh32Go(dst[n:len(src)], src[n:])
}

// adamAVX is adamStep.updateGo without weight decay over n elements, n a
// positive multiple of 8, eight lanes at a time (vecmath_amd64.s); no
// bounds checks, and g is not zeroed.
//
//go:noescape
func adamAVX(a *adamStep, param, grad, m, v *float32, n int)

// adamVec steps the longest prefix of p whose length is a multiple of 8
// with the AVX kernel, where the CPU has it and the update has no weight
// decay (the kernel's operations are updateGo's, so the bits are the same),
// and returns that length.
func adamVec(a *adamStep, p, g, m, v []float32) int {
	n8 := len(p) / 8 * 8
	if !hasAVX2FMA || a.wd != 0 || a.decay != 1 || n8 == 0 {
		return 0
	}
	g, m, v = g[:n8], m[:n8], v[:n8]
	adamAVX(a, &p[0], &g[0], &m[0], &v[0], n8)
	return n8
}

// biasRowsAVX adds rows rows of 64 floats, ld apart, into blk (64 floats),
// row by row (vecmath_amd64.s); rows ≥ 1, no bounds checks.
//
//go:noescape
func biasRowsAVX(blk, dy *float32, rows, ld int)

// biasRowsVec adds the rows rows of 64 floats at dy[r·ld:] into blk, row
// by row, with the AVX kernel where the CPU has it, and reports whether it
// did (the caller's Go loop does the same sums in the same order).
func biasRowsVec(blk *[cpuBiasCols]float32, dy []float32, rows, ld int) bool {
	if !hasAVX2FMA || rows < 1 {
		return false
	}
	_ = dy[(rows-1)*ld+cpuBiasCols-1] // the last element read
	biasRowsAVX(&blk[0], &dy[0], rows, ld)
	return true
}

// addAVX sets dst[i] += src[i] for i < n, n a positive multiple of 8
// (vecmath_amd64.s); no bounds checks.
//
//go:noescape
func addAVX(dst, src *float32, n int)

// vecAdd32 sets dst[i] += src[i] for i < len(src), eight lanes at a time
// where the CPU has AVX2 (one float32 add per element either way, so the
// same bits).
func vecAdd32(dst, src []float32) {
	n := vecHead(dst, src, 8, addAVX)
	vecAdd32Go(dst[n:len(src)], src[n:])
}
