package host

import (
	"math"
	"testing"
)

// TestPhilox4x32KAT checks Philox4x32-10 against the known-answer vectors of
// Random123 (kat_vectors, philox4x32_10).
func TestPhilox4x32KAT(t *testing.T) {
	tests := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0},
			[4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, tt := range tests {
		if got := Philox4x32(tt.ctr, tt.key); got != tt.want {
			t.Errorf("Philox4x32(%08x, %08x) = %08x, want %08x", tt.ctr, tt.key, got, tt.want)
		}
	}
}

// TestDropoutKeepFormula pins down how DropoutKeep forms counter and key,
// and that it keeps u = p, so that the GPU kernel can be written from the
// doc comment.
func TestDropoutKeepFormula(t *testing.T) {
	seed, offset := uint64(0x0123456789abcdef), uint64(0xfffffffe)
	for i := range 5 {
		e := offset + uint64(i) // crosses 2^32 at i = 2
		r := Philox4x32([4]uint32{uint32(e), uint32(e >> 32), 0, 0}, [2]uint32{0x89abcdef, 0x01234567})
		u := float64(r[0]>>8) / (1 << 24)
		// p = u itself (u is on a 2⁻²⁴ grid, so exact in float32): the
		// element is kept, as u ≥ p says and a keep rate of exactly 1 − p
		// needs.
		for _, p := range []float32{0, 0.1, 0.5, 0.9, 1, float32(u)} {
			if got, want := DropoutKeep(p, seed, offset, i), u >= float64(p); got != want {
				t.Fatalf("DropoutKeep(%g, i=%d) = %v, want %v (u=%g)", p, i, got, want, u)
			}
		}
	}
}

// TestDropoutKeepRate checks the keep rate and that masks of different seeds
// are independent.
func TestDropoutKeepRate(t *testing.T) {
	const n = 200000
	for _, p := range []float32{0, 0.1, 0.25, 0.5, 0.9, 1} {
		kept, both := 0, 0
		for i := range n {
			k := DropoutKeep(p, 42, 1000, i)
			if k {
				kept++
				if DropoutKeep(p, 43, 1000, i) {
					both++
				}
			}
		}
		q := 1 - float64(p)
		sd := math.Sqrt(q * (1 - q) / n)
		rate := float64(kept) / n
		if math.Abs(rate-q) > 5*sd+1e-12 {
			t.Errorf("p=%g: keep rate %.5f, want %.5f ± %.5f", p, rate, q, 5*sd)
		}
		if kept > 0 {
			joint := float64(both) / n
			if sdj := math.Sqrt(q * q * (1 - q*q) / n); math.Abs(joint-q*q) > 5*sdj+1e-12 {
				t.Errorf("p=%g: seeds 42 and 43 keep together %.5f, want %.5f", p, joint, q*q)
			}
		}
	}
}
