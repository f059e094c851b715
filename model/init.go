package model

import (
	"math"

	"github.com/emotionlab/emotion/host"
)

// RNG is the seeded, deterministic generator that initialises parameters:
// SplitMix64 (Steele, Lea and Flood 2014), a 64-bit counter advanced by the
// golden-ratio increment and passed through a bijective mixer. The same seed
// gives the same parameters on every platform and backend. It is not safe
// for concurrent use.
type RNG struct {
	state uint64
	spare float64 // second normal of the last Box–Muller pair
	has   bool    // spare is valid
}

// NewRNG returns a generator seeded with seed.
func NewRNG(seed uint64) *RNG {
	return &RNG{state: seed}
}

// Uint64 returns the next 64 random bits.
func (r *RNG) Uint64() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Float64 returns a uniform number in [0, 1) with 53 random bits.
func (r *RNG) Float64() float64 {
	return float64(r.Uint64()>>11) * 0x1p-53
}

// Uniform returns a uniform number in [lo, hi). The product is rounded
// before the sum (the explicit conversion), so that GOAMD64=v3, which may
// fuse a*b+c, gives the same numbers.
func (r *RNG) Uniform(lo, hi float64) float64 {
	return lo + float64((hi-lo)*r.Float64())
}

// NormFloat64 returns a standard normal number (Box–Muller; the pair's
// second value is kept for the next call).
func (r *RNG) NormFloat64() float64 {
	if r.has {
		r.has = false
		return r.spare
	}
	u1 := 1 - r.Float64() // (0, 1]: log is finite
	u2 := r.Float64()
	rad := math.Sqrt(-2 * math.Log(u1))
	s, c := math.Sincos(2 * math.Pi * u2)
	r.spare, r.has = rad*s, true
	return rad * c
}

// Seed derives an independent 64-bit seed from r, for a consumer (a dropout
// layer, a shuffler) that needs its own stream.
func (r *RNG) Seed() uint64 {
	return r.Uint64()
}

// initUniform sets p to U(−bound, bound), as torch.nn.init.uniform_.
func initUniform(be host.Backend, r *RNG, bound float64, p *Param) {
	v := make([]float32, p.Len())
	for i := range v {
		v[i] = float32(r.Uniform(-bound, bound))
	}
	be.Upload(p.Value, v)
}

// linearBound is the bound of PyTorch's default Linear initialisation,
// kaiming_uniform_(a=√5) for the weight and U(−1/√fanIn, 1/√fanIn) for the
// bias: gain √(2/(1+5)) times √(3/fanIn) is 1/√fanIn for both.
func linearBound(fanIn int) float64 {
	return 1 / math.Sqrt(float64(fanIn))
}

// xavierBound is the bound of torch.nn.init.xavier_uniform_ for a weight of
// shape [fanOut, fanIn]: √(6/(fanIn+fanOut)).
func xavierBound(fanIn, fanOut int) float64 {
	return math.Sqrt(6 / float64(fanIn+fanOut))
}
