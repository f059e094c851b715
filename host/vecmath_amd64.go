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

// vecSigmoid32 sets dst[i] = sigmoid32v(src[i]) for i < len(src), with the
// AVX2 kernel where the CPU has AVX2 and FMA. dst may be src.
func vecSigmoid32(dst, src []float32) {
	dst = dst[:len(src)]
	n4 := 0
	if hasAVX2FMA {
		if n4 = len(src) / 4 * 4; n4 > 0 {
			sigmoid32AVX2(&dst[0], &src[0], n4)
		}
	}
	vecSigmoid32Go(dst[n4:], src[n4:])
}

// vecTanh32 sets dst[i] = tanh32v(src[i]) for i < len(src), with the AVX2
// kernel where the CPU has AVX2 and FMA. dst may be src.
func vecTanh32(dst, src []float32) {
	dst = dst[:len(src)]
	n4 := 0
	if hasAVX2FMA {
		if n4 = len(src) / 4 * 4; n4 > 0 {
			tanh32AVX2(&dst[0], &src[0], n4)
		}
	}
	vecTanh32Go(dst[n4:], src[n4:])
}
