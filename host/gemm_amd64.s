//go:build amd64 && !purego

#include "textflag.h"

// The AVX2+FMA micro-kernel of the packed GEMM (see sgemmKernel in
// gemm_amd64.go): a 6×16 block of C in twelve YMM accumulators, Y0…Y11
// (row r in Y(2r) and Y(2r+1)). Each step p loads one 16-float row of the
// packed B sliver into Y12 and Y13, broadcasts the six values of column p of
// the A sliver in turn into Y14 and Y15, and adds their products to the
// accumulators with FMA. Every element of C is one lane of one accumulator,
// which sums its kc products in the order p = 0, 1, …, kc−1.

// SGEMM_STEP is step p of the k loop, B's row at boff(DI); SI and R10 point
// at rows 0 and 3 of A's column p, R8 is A's row stride in bytes.
#define SGEMM_STEP(boff) \
	VMOVUPS      boff(DI), Y12; \
	VMOVUPS      boff+32(DI), Y13; \
	VBROADCASTSS (SI), Y14; \
	VFMADD231PS  Y12, Y14, Y0; \
	VFMADD231PS  Y13, Y14, Y1; \
	VBROADCASTSS (SI)(R8*1), Y15; \
	VFMADD231PS  Y12, Y15, Y2; \
	VFMADD231PS  Y13, Y15, Y3; \
	VBROADCASTSS (SI)(R8*2), Y14; \
	VFMADD231PS  Y12, Y14, Y4; \
	VFMADD231PS  Y13, Y14, Y5; \
	VBROADCASTSS (R10), Y15; \
	VFMADD231PS  Y12, Y15, Y6; \
	VFMADD231PS  Y13, Y15, Y7; \
	VBROADCASTSS (R10)(R8*1), Y14; \
	VFMADD231PS  Y12, Y14, Y8; \
	VFMADD231PS  Y13, Y14, Y9; \
	VBROADCASTSS (R10)(R8*2), Y15; \
	VFMADD231PS  Y12, Y15, Y10; \
	VFMADD231PS  Y13, Y15, Y11; \
	ADDQ         R9, SI; \
	ADDQ         R9, R10

// SGEMM_LOADC adds beta·C (beta in Y13) of row DX to accumulators lo, hi.
#define SGEMM_LOADC(lo, hi) \
	VFMADD231PS (DX), Y13, lo; \
	VFMADD231PS 32(DX), Y13, hi

// SGEMM_STOREC stores accumulators lo, hi to row DX and moves DX on a row.
#define SGEMM_STOREC(lo, hi) \
	VMOVUPS lo, (DX); \
	VMOVUPS hi, 32(DX); \
	ADDQ    R11, DX

// func sgemmKernelAVX2(kc int, a *float32, rsA, csA int, b, c *float32, ldc int, alpha, beta float32, load bool)
TEXT ·sgemmKernelAVX2(SB), NOSPLIT, $0-65
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R8
	SHLQ $2, R8
	MOVQ csA+24(FP), R9
	SHLQ $2, R9
	MOVQ b+32(FP), DI
	LEAQ (SI)(R8*2), R10
	ADDQ R8, R10

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	CMPQ CX, $4
	JLT  tail

loop4:
	SGEMM_STEP(0)
	SGEMM_STEP(64)
	SGEMM_STEP(128)
	SGEMM_STEP(192)
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JEQ   store

loop1:
	SGEMM_STEP(0)
	ADDQ $64, DI
	DECQ CX
	JNE  loop1

store:
	MOVQ         c+40(FP), DX
	MOVQ         ldc+48(FP), R11
	SHLQ         $2, R11
	VBROADCASTSS alpha+56(FP), Y12
	VMULPS       Y12, Y0, Y0
	VMULPS       Y12, Y1, Y1
	VMULPS       Y12, Y2, Y2
	VMULPS       Y12, Y3, Y3
	VMULPS       Y12, Y4, Y4
	VMULPS       Y12, Y5, Y5
	VMULPS       Y12, Y6, Y6
	VMULPS       Y12, Y7, Y7
	VMULPS       Y12, Y8, Y8
	VMULPS       Y12, Y9, Y9
	VMULPS       Y12, Y10, Y10
	VMULPS       Y12, Y11, Y11
	MOVBQZX      load+64(FP), AX
	TESTQ        AX, AX
	JEQ          storeonly

	VBROADCASTSS beta+60(FP), Y13
	SGEMM_LOADC(Y0, Y1)
	SGEMM_STOREC(Y0, Y1)
	SGEMM_LOADC(Y2, Y3)
	SGEMM_STOREC(Y2, Y3)
	SGEMM_LOADC(Y4, Y5)
	SGEMM_STOREC(Y4, Y5)
	SGEMM_LOADC(Y6, Y7)
	SGEMM_STOREC(Y6, Y7)
	SGEMM_LOADC(Y8, Y9)
	SGEMM_STOREC(Y8, Y9)
	SGEMM_LOADC(Y10, Y11)
	SGEMM_STOREC(Y10, Y11)
	VZEROUPPER
	RET

storeonly:
	SGEMM_STOREC(Y0, Y1)
	SGEMM_STOREC(Y2, Y3)
	SGEMM_STOREC(Y4, Y5)
	SGEMM_STOREC(Y6, Y7)
	SGEMM_STOREC(Y8, Y9)
	SGEMM_STOREC(Y10, Y11)
	VZEROUPPER
	RET

// SGEMM_TRANSPOSE8 transposes the 8×8 block in Y0…Y7 (row i in Yi) into
// Y8…Y15 (column j in Y(8+j)), through Y8…Y15 and Y0…Y7 as scratch.
#define SGEMM_TRANSPOSE8 \
	VUNPCKLPS  Y1, Y0, Y8;         \
	VUNPCKHPS  Y1, Y0, Y9;         \
	VUNPCKLPS  Y3, Y2, Y10;        \
	VUNPCKHPS  Y3, Y2, Y11;        \
	VUNPCKLPS  Y5, Y4, Y12;        \
	VUNPCKHPS  Y5, Y4, Y13;        \
	VUNPCKLPS  Y7, Y6, Y14;        \
	VUNPCKHPS  Y7, Y6, Y15;        \
	VSHUFPS    $0x44, Y10, Y8, Y0; \
	VSHUFPS    $0xEE, Y10, Y8, Y1; \
	VSHUFPS    $0x44, Y11, Y9, Y2; \
	VSHUFPS    $0xEE, Y11, Y9, Y3; \
	VSHUFPS    $0x44, Y14, Y12, Y4; \
	VSHUFPS    $0xEE, Y14, Y12, Y5; \
	VSHUFPS    $0x44, Y15, Y13, Y6; \
	VSHUFPS    $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8;  \
	VPERM2F128 $0x20, Y5, Y1, Y9;  \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15

// SGEMM_LOAD8 loads 8 floats at column offset off of the 8 rows at
// base, base+ld, …, base+7ld (R8 = ld, R9 = 3ld in bytes; base+4ld in R10).
#define SGEMM_LOAD8(base, b4, off) \
	VMOVUPS off(base), Y0;          \
	VMOVUPS off(base)(R8*1), Y1;    \
	VMOVUPS off(base)(R8*2), Y2;    \
	VMOVUPS off(base)(R9*1), Y3;    \
	VMOVUPS off(b4), Y4;            \
	VMOVUPS off(b4)(R8*1), Y5;      \
	VMOVUPS off(b4)(R8*2), Y6;      \
	VMOVUPS off(b4)(R9*1), Y7

// SGEMM_STORE8 stores Y8…Y15 as 8 rows of 16 floats at off(DI).
#define SGEMM_STORE8(off) \
	VMOVUPS Y8, off(DI);       \
	VMOVUPS Y9, off+64(DI);    \
	VMOVUPS Y10, off+128(DI);  \
	VMOVUPS Y11, off+192(DI);  \
	VMOVUPS Y12, off+256(DI);  \
	VMOVUPS Y13, off+320(DI);  \
	VMOVUPS Y14, off+384(DI);  \
	VMOVUPS Y15, off+448(DI)

// func sgemmPackT16AVX2(dst, src *float32, ld, kc8 int)
TEXT ·sgemmPackT16AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ kc8+24(FP), CX
	LEAQ (R8)(R8*2), R9
	LEAQ (SI)(R8*4), R10
	LEAQ (R10)(R8*4), R11
	LEAQ (R11)(R8*4), R12

ploop:
	SGEMM_LOAD8(SI, R10, 0)
	SGEMM_TRANSPOSE8
	SGEMM_STORE8(0)
	SGEMM_LOAD8(R11, R12, 0)
	SGEMM_TRANSPOSE8
	SGEMM_STORE8(32)
	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $512, DI
	DECQ CX
	JNE  ploop
	VZEROUPPER
	RET

// func sgemmCopy16AVX2(dst, src *float32, ld, rows int)
TEXT ·sgemmCopy16AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8
	MOVQ rows+24(FP), CX

copy16:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    R8, SI
	ADDQ    $64, DI
	DECQ    CX
	JNE     copy16
	VZEROUPPER
	RET

// SGEMM_STEP8 is SGEMM_STEP for the left 8 columns: one vector of B, six
// accumulators Y0…Y5.
#define SGEMM_STEP8(boff) \
	VMOVUPS      boff(DI), Y12;    \
	VBROADCASTSS (SI), Y14;        \
	VFMADD231PS  Y12, Y14, Y0;     \
	VBROADCASTSS (SI)(R8*1), Y15;  \
	VFMADD231PS  Y12, Y15, Y1;     \
	VBROADCASTSS (SI)(R8*2), Y14;  \
	VFMADD231PS  Y12, Y14, Y2;     \
	VBROADCASTSS (R10), Y15;       \
	VFMADD231PS  Y12, Y15, Y3;     \
	VBROADCASTSS (R10)(R8*1), Y14; \
	VFMADD231PS  Y12, Y14, Y4;     \
	VBROADCASTSS (R10)(R8*2), Y15; \
	VFMADD231PS  Y12, Y15, Y5;     \
	ADDQ         R9, SI;           \
	ADDQ         R9, R10

// SGEMM_LOADSTORE8 finishes accumulator acc into row DX: alpha·acc (alpha
// in Y12) plus beta·C (beta in Y13) when AX ≠ 0, and moves DX on a row.
#define SGEMM_FINISH8(acc) \
	VMULPS      Y12, acc, acc; \
	TESTQ       AX, AX;        \
	JEQ         2(PC);         \
	VFMADD231PS (DX), Y13, acc; \
	VMOVUPS     acc, (DX);     \
	ADDQ        R11, DX

// func sgemmKernel8AVX2(kc int, a *float32, rsA, csA int, b, c *float32, ldc int, alpha, beta float32, load bool)
TEXT ·sgemmKernel8AVX2(SB), NOSPLIT, $0-65
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R8
	SHLQ $2, R8
	MOVQ csA+24(FP), R9
	SHLQ $2, R9
	MOVQ b+32(FP), DI
	LEAQ (SI)(R8*2), R10
	ADDQ R8, R10

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5

	CMPQ CX, $4
	JLT  tail8

loop8x4:
	SGEMM_STEP8(0)
	SGEMM_STEP8(64)
	SGEMM_STEP8(128)
	SGEMM_STEP8(192)
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop8x4

tail8:
	TESTQ CX, CX
	JEQ   store8

loop8x1:
	SGEMM_STEP8(0)
	ADDQ $64, DI
	DECQ CX
	JNE  loop8x1

store8:
	MOVQ         c+40(FP), DX
	MOVQ         ldc+48(FP), R11
	SHLQ         $2, R11
	VBROADCASTSS alpha+56(FP), Y12
	VBROADCASTSS beta+60(FP), Y13
	MOVBQZX      load+64(FP), AX
	SGEMM_FINISH8(Y0)
	SGEMM_FINISH8(Y1)
	SGEMM_FINISH8(Y2)
	SGEMM_FINISH8(Y3)
	SGEMM_FINISH8(Y4)
	SGEMM_FINISH8(Y5)
	VZEROUPPER
	RET
