package host

import "math"

// Size arithmetic for the ops' buffer checks. An op's sizes are arbitrary
// ints, so the number of elements they need can exceed math.MaxInt; plain
// int arithmetic would wrap around to a small (or negative) need that a
// short buffer passes, and the op would then slice out of range. These
// saturate at math.MaxInt instead, a need no buffer meets, so the check
// fails with its usual message. Below math.MaxInt they are exact.

// satMul is the product of the non-negative factors, or math.MaxInt when it
// exceeds math.MaxInt. Any zero factor gives 0, even beside a product that
// would saturate.
func satMul(factors ...int) int {
	p := 1
	for _, f := range factors {
		if f == 0 {
			return 0
		}
		if p > math.MaxInt/f {
			p = math.MaxInt
		} else if p != math.MaxInt {
			p *= f
		}
	}
	return p
}

// satAdd is the sum of the non-negative terms, or math.MaxInt when it
// exceeds math.MaxInt.
func satAdd(terms ...int) int {
	s := 0
	for _, t := range terms {
		if t > math.MaxInt-s {
			return math.MaxInt
		}
		s += t
	}
	return s
}

// ceilDiv is ⌈a/b⌉ for a ≥ 0 and b > 0, without the overflow of
// (a+b−1)/b for a near math.MaxInt.
func ceilDiv(a, b int) int {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// maxAllocElems is the most elements Alloc hands out (2^60, 4 EiB of
// float32): beyond it the byte count 4n, and the pools' size classes,
// would wrap around to a small allocation that claims n elements.
const maxAllocElems = 1 << 60
