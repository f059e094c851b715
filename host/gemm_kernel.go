package host

import "math"

// The packed GEMM: for each KC-deep slice of the inner dimension, a tile of
// op(A) is packed into slivers of gemmMR rows and a tile of op(B) into
// slivers of gemmNR columns, both stored k-major so that the micro-kernel
// reads them contiguously; the micro-kernel keeps a gemmMR×gemmNR block of C
// in registers over the whole slice.
//
// Register blocking in Go: the compiler schedules the products of an
// iteration before the sums, so the accumulators, the loaded operands and the
// products must all fit the 15 usable XMM registers. 4×2 accumulators, with
// the k loop unrolled twice, measured fastest (9.1 GFLOP/s on one core of the
// AMD EPYC this was written on, against 4.2 for 4×4 and 4.3 for 4×3, which
// spill).
const (
	gemmMR = 4   // rows of a micro-tile
	gemmNR = 2   // columns of a micro-tile
	gemmKC = 256 // depth of a packed slice
)

// gemmScratch is one worker's packing memory: a and b for the portable
// packed GEMM, pa for the blocked GEMM's partial A slivers. Worker 0's pb holds the
// blocked GEMM's packed B, which all workers read, and its tasks the CPU's
// task functions (see gemmTasks).
type gemmScratch struct {
	a, b   []float32
	pa, pb []float32
	tasks  gemmTaskFuncs
}

// buffers returns packing buffers for an mt×kc tile of A and a kc×nt tile of
// B, growing them once.
func (s *gemmScratch) buffers(mt, nt, kc int) (a, b []float32) {
	na := (mt + gemmMR - 1) / gemmMR * gemmMR * kc
	nb := (nt + gemmNR - 1) / gemmNR * gemmNR * kc
	if cap(s.a) < na {
		s.a = make([]float32, gemmTileM*gemmKC)
	}
	if cap(s.b) < nb {
		s.b = make([]float32, gemmTileN*gemmKC)
	}
	return s.a[:na], s.b[:nb]
}

// gemmPacked computes the mt×nt block C = alpha·op(A)·op(B) + beta·C with
// mt ≤ gemmTileM and nt ≤ gemmTileN, serially, where a, b and c start at the
// block's first element. The sum over k is taken in slices of gemmKC, each
// added to C (the first one with beta·C, unless beta = 0).
func gemmPacked(s *gemmScratch, transA, transB bool, mt, nt, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	var acc [gemmMR * gemmNR]float32
	for pc := 0; pc < k; pc += gemmKC {
		kc := min(gemmKC, k-pc)
		ap, bp := s.buffers(mt, nt, kc)
		gemmPackA(ap, transA, a, lda, mt, pc, kc)
		gemmPackB(bp, transB, b, ldb, nt, pc, kc)
		first := pc == 0
		for ir := 0; ir < mt; ir += gemmMR {
			as := ap[ir*kc : (ir+gemmMR)*kc]
			rows := min(gemmMR, mt-ir)
			for jr := 0; jr < nt; jr += gemmNR {
				gemmKernel4x2(kc, as, bp[jr*kc:(jr+gemmNR)*kc], &acc)
				gemmStore(&acc, c[ir*ldc+jr:], ldc, rows, min(gemmNR, nt-jr), alpha, beta, first)
			}
		}
	}
}

// gemmPackA packs rows [0, mt) and columns [pc, pc+kc) of op(A) into slivers
// of gemmMR rows: dst[(r/MR)·MR·kc + p·MR + r%MR] = op(A)[r, pc+p], zero past
// row mt.
func gemmPackA(dst []float32, transA bool, a []float32, lda, mt, pc, kc int) {
	if !transA {
		for r := range mt {
			src := a[r*lda+pc : r*lda+pc+kc]
			d := dst[r/gemmMR*gemmMR*kc+r%gemmMR:]
			for p, v := range src {
				d[p*gemmMR] = v
			}
		}
	} else {
		// op(A)[r, p] = A[p, r]: A's rows are contiguous in r.
		for p := range kc {
			src := a[(pc+p)*lda : (pc+p)*lda+mt]
			for r, v := range src {
				dst[r/gemmMR*gemmMR*kc+p*gemmMR+r%gemmMR] = v
			}
		}
	}
	for r := mt; r%gemmMR != 0; r++ {
		d := dst[r/gemmMR*gemmMR*kc+r%gemmMR:]
		for p := range kc {
			d[p*gemmMR] = 0
		}
	}
}

// gemmPackB packs rows [pc, pc+kc) and columns [0, nt) of op(B) into slivers
// of gemmNR columns: dst[(j/NR)·NR·kc + p·NR + j%NR] = op(B)[pc+p, j], zero
// past column nt.
func gemmPackB(dst []float32, transB bool, b []float32, ldb, nt, pc, kc int) {
	if !transB {
		for p := range kc {
			src := b[(pc+p)*ldb : (pc+p)*ldb+nt]
			for j, v := range src {
				dst[j/gemmNR*gemmNR*kc+p*gemmNR+j%gemmNR] = v
			}
		}
	} else {
		// op(B)[p, j] = B[j, p]: B's rows are contiguous in p.
		for j := range nt {
			src := b[j*ldb+pc : j*ldb+pc+kc]
			d := dst[j/gemmNR*gemmNR*kc+j%gemmNR:]
			for p, v := range src {
				d[p*gemmNR] = v
			}
		}
	}
	for j := nt; j%gemmNR != 0; j++ {
		d := dst[j/gemmNR*gemmNR*kc+j%gemmNR:]
		for p := range kc {
			d[p*gemmNR] = 0
		}
	}
}

// gemmKernel4x2 computes the 4×2 product of a packed A sliver (4 values per
// k) and a packed B sliver (2 values per k) over kc steps into acc (row-major
// 4×2). The loop advances the slices instead of indexing, which lets the
// compiler drop the bounds checks, and is unrolled twice. Each product is
// rounded before it is added: the conversions forbid fusing c += a·b into
// an FMA, as GOAMD64=v3 otherwise does, so the bits do not depend on the
// build.
func gemmKernel4x2(kc int, ap, bp []float32, acc *[gemmMR * gemmNR]float32) {
	var c00, c01, c10, c11, c20, c21, c30, c31 float32
	ap = ap[:4*kc]
	bp = bp[:2*kc]
	for len(ap) >= 8 && len(bp) >= 4 {
		b0, b1 := bp[0], bp[1]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		c00 += float32(a0 * b0)
		c01 += float32(a0 * b1)
		c10 += float32(a1 * b0)
		c11 += float32(a1 * b1)
		c20 += float32(a2 * b0)
		c21 += float32(a2 * b1)
		c30 += float32(a3 * b0)
		c31 += float32(a3 * b1)
		b0, b1 = bp[2], bp[3]
		a0, a1, a2, a3 = ap[4], ap[5], ap[6], ap[7]
		c00 += float32(a0 * b0)
		c01 += float32(a0 * b1)
		c10 += float32(a1 * b0)
		c11 += float32(a1 * b1)
		c20 += float32(a2 * b0)
		c21 += float32(a2 * b1)
		c30 += float32(a3 * b0)
		c31 += float32(a3 * b1)
		ap = ap[8:]
		bp = bp[4:]
	}
	if len(ap) >= 4 && len(bp) >= 2 {
		b0, b1 := bp[0], bp[1]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		c00 += float32(a0 * b0)
		c01 += float32(a0 * b1)
		c10 += float32(a1 * b0)
		c11 += float32(a1 * b1)
		c20 += float32(a2 * b0)
		c21 += float32(a2 * b1)
		c30 += float32(a3 * b0)
		c31 += float32(a3 * b1)
	}
	*acc = [gemmMR * gemmNR]float32{c00, c01, c10, c11, c20, c21, c30, c31}
}

// gemmStore writes the rows×cols top-left part of a micro-tile acc to c:
// c = alpha·acc + beta·c on the first slice of k (c not read when beta = 0),
// c += alpha·acc on the later ones, each product rounded before the sum
// (not fused, whatever the build).
func gemmStore(acc *[gemmMR * gemmNR]float32, c []float32, ldc, rows, cols int, alpha, beta float32, first bool) {
	for r := range rows {
		cr := c[r*ldc : r*ldc+cols]
		ar := acc[r*gemmNR : r*gemmNR+cols]
		switch {
		case !first:
			for j, v := range ar {
				cr[j] += float32(alpha * v)
			}
		case beta == 0:
			for j, v := range ar {
				cr[j] = alpha * v
			}
		default:
			for j, v := range ar {
				cr[j] = float32(alpha*v) + float32(beta*cr[j])
			}
		}
	}
}

// sgemmKernelCheck panics unless the operands of a sgemmKernel call lie
// within their slices: the assembly kernel does no bounds checks.
func sgemmKernelCheck(kc int, a []float32, rsA, csA int, b, c []float32, ldc int) {
	if kc < 1 || rsA < 0 || csA < 0 || ldc < sgemmNR ||
		len(a) <= (sgemmMR-1)*rsA+(kc-1)*csA || len(b) < sgemmNR*kc || len(c) < (sgemmMR-1)*ldc+sgemmNR {
		panic("host: sgemmKernel operands out of range")
	}
}

// sgemmKernelGo is the micro-kernel in Go: the same values as the assembly
// kernel, bit for bit (fma32 rounds once, as the FMA instruction does). It
// is the kernel of builds without assembly and the tests' reference.
func sgemmKernelGo(kc int, a []float32, rsA, csA int, b, c []float32, ldc int, alpha, beta float32, load bool) {
	var acc [sgemmMR][sgemmNR]float32
	for p := range kc {
		bp := b[p*sgemmNR : (p+1)*sgemmNR]
		for r := range sgemmMR {
			av := a[r*rsA+p*csA]
			for j, bv := range bp {
				acc[r][j] = fma32(av, bv, acc[r][j])
			}
		}
	}
	for r := range sgemmMR {
		cr := c[r*ldc : r*ldc+sgemmNR]
		for j := range cr {
			v := alpha * acc[r][j]
			if load {
				v = fma32(beta, cr[j], v)
			}
			cr[j] = v
		}
	}
}

// sgemmKernelGo8 is sgemmKernelGo for the left 8 columns of the block: it
// leaves the right 8 of C as they are.
func sgemmKernelGo8(kc int, a []float32, rsA, csA int, b, c []float32, ldc int, alpha, beta float32, load bool) {
	var right [sgemmMR][sgemmNR / 2]float32
	for r := range sgemmMR {
		copy(right[r][:], c[r*ldc+sgemmNR/2:r*ldc+sgemmNR])
	}
	sgemmKernelGo(kc, a, rsA, csA, b, c, ldc, alpha, beta, load)
	for r := range sgemmMR {
		copy(c[r*ldc+sgemmNR/2:r*ldc+sgemmNR], right[r][:])
	}
}

// fma32 returns x·y + z rounded once to float32 (to nearest, ties to even),
// as a float32 fused multiply-add does. The product is exact in float64;
// the sum is rounded to float64 first, which can only mislead the rounding
// to float32 when it lands exactly halfway between two float32 values; the
// sum's rounding error (Knuth's TwoSum) then says which way the exact value
// lies.
func fma32(x, y, z float32) float32 {
	p := float64(x) * float64(y)
	s := p + float64(z)
	r := float32(s)
	if math.IsNaN(s) || math.IsInf(s, 0) || float64(r) == s {
		return r
	}
	bv := s - p
	e := (p - (s - bv)) + (float64(z) - bv)
	if e == 0 {
		return r
	}
	other := math.Nextafter32(r, float32(math.Inf(1)))
	if float64(r) > s {
		other = math.Nextafter32(r, float32(math.Inf(-1)))
	}
	if (float64(r)+float64(other))/2 != s { // not a tie: r is right
		return r
	}
	if (e > 0) == (other > r) {
		return other
	}
	return r
}

// sgemmPackT16Go sets dst[16p + j] = src[j·ld + p] for p in [p0, kc), j < 16.
func sgemmPackT16Go(dst, src []float32, ld, p0, kc int) {
	for j := range sgemmNR {
		d := dst[j:]
		for p, v := range src[j*ld+p0 : j*ld+kc] {
			d[(p0+p)*sgemmNR] = v
		}
	}
}

// sgemmCopyGo sets dst[w·r + j] = src[r·ld + j] for r < rows, j < w.
func sgemmCopyGo(dst, src []float32, ld, rows, w int) {
	for r := range rows {
		copy(dst[r*w:(r+1)*w], src[r*ld:r*ld+w])
	}
}
