//go:build !amd64 || purego

package host

// vecSigmoid32 sets dst[i] = sigmoid32v(src[i]) for i < len(src). dst may
// be src.
func vecSigmoid32(dst, src []float32) { vecSigmoid32Go(dst, src) }

// vecTanh32 sets dst[i] = tanh32v(src[i]) for i < len(src). dst may be src.
func vecTanh32(dst, src []float32) { vecTanh32Go(dst, src) }

// adamVec steps nothing here: adamStep.update does it all in Go.
func adamVec(a *adamStep, p, g, m, v []float32) int { return 0 }

// biasRowsVec does nothing here: cpuBiasStrip's Go loop does the sums.
func biasRowsVec(blk *[cpuBiasCols]float32, dy []float32, rows, ld int) bool { return false }

// vecAdd32 sets dst[i] += src[i] for i < len(src).
func vecAdd32(dst, src []float32) { vecAdd32Go(dst, src) }
