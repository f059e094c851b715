package host

import "math/bits"

// Philox4x32-10 constants (Salmon, Moraes, Dror and Shaw, "Parallel random
// numbers: as easy as 1, 2, 3", SC 2011): the round multipliers and the Weyl
// sequence that bumps the key between rounds.
const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox4x32 is the counter-based generator Philox4x32-10: ten rounds of the
// Philox S-box over the 128-bit counter ctr under the 64-bit key, as in
// Random123, cuRAND and PyTorch. The same counter and key always give the same
// four words, on the CPU and in the GPU kernels.
func Philox4x32(ctr [4]uint32, key [2]uint32) [4]uint32 {
	c0, c1, c2, c3 := ctr[0], ctr[1], ctr[2], ctr[3]
	k0, k1 := key[0], key[1]
	for r := 0; r < 10; r++ {
		if r > 0 {
			k0 += philoxW0
			k1 += philoxW1
		}
		hi0, lo0 := bits.Mul32(philoxM0, c0)
		hi1, lo1 := bits.Mul32(philoxM1, c2)
		c0, c1, c2, c3 = hi1^c1^k0, lo1, hi0^c3^k1, lo0
	}
	return [4]uint32{c0, c1, c2, c3}
}

// DropoutKeep reports whether element i of a Dropout op with drop
// probability p, seed and offset is kept. It draws
//
//	e = offset + i (as uint64)
//	r = Philox4x32(ctr = {uint32(e), uint32(e>>32), 0, 0},
//	               key = {uint32(seed), uint32(seed>>32)})
//	u = float32(r[0]>>8) · 2⁻²⁴, uniform in [0, 1) on a 2⁻²⁴ grid
//
// and keeps the element when u ≥ p. So p = 0 keeps every element, p = 1 none,
// and a layer that draws several masks from one seed gives each a disjoint
// range of offsets.
func DropoutKeep(p float32, seed, offset uint64, i int) bool {
	return dropoutUniform(seed, offset+uint64(i)) >= p
}

// dropoutUniform is u of DropoutKeep for element e = offset + i.
func dropoutUniform(seed, e uint64) float32 {
	r := Philox4x32([4]uint32{uint32(e), uint32(e >> 32), 0, 0}, [2]uint32{uint32(seed), uint32(seed >> 32)})
	return float32(r[0]>>8) * (1.0 / (1 << 24))
}
