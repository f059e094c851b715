package host

import "math"

// Vectorisable float32 sigmoid and tanh for the LSTM cell. Each value is
// widened to float64, computed there with an error near 1e-13, and rounded
// once to float32: the result is the correctly rounded one except when the
// exact value lies within about 1e-13 (relative) of a halfway point between
// two float32s, where it may be one ulp off; the relative error is at most
// about 6e-8. The same float64 operations, in the same order, run in the
// AVX2 kernels (vecmath_amd64.s, four lanes at a time) and in sigmoid32v and
// tanh32v here, which give the same bits (math.FMA is the fused
// multiply-add of the assembly).
//
// eʸ is 2ⁿ·eʳ with n = round(y·log₂e) and r = y − n·ln2 (ln2 in two parts,
// as in math.Exp), |r| ≤ ln2/2, and eʳ by its Taylor polynomial of degree
// 11 (remainder below 1e-14). y is clamped to [−200, 200], far beyond the
// float32 range of the results that use it.
const (
	vmLog2e  = 1.4426950408889634         // log₂e
	vmLn2Hi  = 6.93147180369123816490e-01 // ln2, upper 32 bits (exact n·vmLn2Hi)
	vmLn2Lo  = 1.90821492927058770002e-10 // ln2 − vmLn2Hi
	vmMagic  = 0x1.8p52                   // adding it rounds to an integer, kept in the low bits
	vmExpMax = 200                        // |y| clamp of eʸ

	// tanh x = x + x³·q(x²) below vmTanhSmall (Taylor to x⁹, remainder below
	// 1e-14 relative), and (1 − e)/(1 + e) with e = e^{−2|x|} above, where
	// 1 − e loses at most 3 bits.
	vmTanhSmall = 0.0625
	vmT3        = -1.0 / 3
	vmT5        = 2.0 / 15
	vmT7        = -17.0 / 315
	vmT9        = 62.0 / 2835
)

// vmExpPoly are the Taylor coefficients 1/k! of eʳ, k = 11 down to 0.
var vmExpPoly = [12]float64{
	1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040, 1.0 / 720,
	1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1,
}

// vmClamp clamps y to [−vmExpMax, vmExpMax]; NaN stays NaN.
func vmClamp(y float64) float64 {
	if y > vmExpMax {
		return vmExpMax
	}
	if y < -vmExpMax {
		return -vmExpMax
	}
	return y
}

// vmExp is eʸ for y in [−vmExpMax, vmExpMax] or NaN.
func vmExp(y float64) float64 {
	t := math.FMA(y, vmLog2e, vmMagic)
	n := t - vmMagic
	r := math.FMA(-n, vmLn2Hi, y)
	r = math.FMA(-n, vmLn2Lo, r)
	p := vmExpPoly[0]
	for _, c := range vmExpPoly[1:] {
		p = math.FMA(p, r, c)
	}
	// t's low bits hold n: 2ⁿ has exponent field n + 1023.
	return p * math.Float64frombits((math.Float64bits(t)+1023)<<52)
}

// sigmoid32v is 1/(1 + e⁻ˣ) (see vmExp), NaN for NaN.
func sigmoid32v(x float32) float32 {
	e := vmExp(vmClamp(-float64(x)))
	return float32(1 / (1 + e))
}

// tanh32v is tanh x (see vmExp), with tanh(±0) = ±0 and NaN for NaN.
func tanh32v(x float32) float32 {
	X := float64(x)
	a := math.Abs(X)
	var r float64
	if a < vmTanhSmall {
		a2 := a * a
		q := math.FMA(math.FMA(math.FMA(vmT9, a2, vmT7), a2, vmT5), a2, vmT3)
		r = math.FMA(a, q*a2, a)
	} else {
		e := vmExp(vmClamp(-2 * a))
		r = (1 - e) / (1 + e)
	}
	return float32(math.Copysign(r, X))
}

// vecSigmoid32Go sets dst[i] = sigmoid32v(src[i]).
func vecSigmoid32Go(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = sigmoid32v(v)
	}
}

// vecTanh32Go sets dst[i] = tanh32v(src[i]).
func vecTanh32Go(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = tanh32v(v)
	}
}

// vecAdd32Go sets dst[i] += src[i] for i < len(src).
func vecAdd32Go(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}
