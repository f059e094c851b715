//go:build amd64 && !purego

#include "textflag.h"

// Four-lane float64 kernels of the float32 sigmoid and tanh (see
// vecmath.go, whose sigmoid32v and tanh32v do the same operations in the
// same order). Each constant is a 32-byte vector of four copies.

DATA vmLog2e<>+0(SB)/8, $0x3FF71547652B82FE
DATA vmLog2e<>+8(SB)/8, $0x3FF71547652B82FE
DATA vmLog2e<>+16(SB)/8, $0x3FF71547652B82FE
DATA vmLog2e<>+24(SB)/8, $0x3FF71547652B82FE
GLOBL vmLog2e<>(SB), RODATA|NOPTR, $32

DATA vmLn2Hi<>+0(SB)/8, $0x3FE62E42FEE00000
DATA vmLn2Hi<>+8(SB)/8, $0x3FE62E42FEE00000
DATA vmLn2Hi<>+16(SB)/8, $0x3FE62E42FEE00000
DATA vmLn2Hi<>+24(SB)/8, $0x3FE62E42FEE00000
GLOBL vmLn2Hi<>(SB), RODATA|NOPTR, $32

DATA vmLn2Lo<>+0(SB)/8, $0x3DEA39EF35793C76
DATA vmLn2Lo<>+8(SB)/8, $0x3DEA39EF35793C76
DATA vmLn2Lo<>+16(SB)/8, $0x3DEA39EF35793C76
DATA vmLn2Lo<>+24(SB)/8, $0x3DEA39EF35793C76
GLOBL vmLn2Lo<>(SB), RODATA|NOPTR, $32

DATA vmMagic<>+0(SB)/8, $0x4338000000000000
DATA vmMagic<>+8(SB)/8, $0x4338000000000000
DATA vmMagic<>+16(SB)/8, $0x4338000000000000
DATA vmMagic<>+24(SB)/8, $0x4338000000000000
GLOBL vmMagic<>(SB), RODATA|NOPTR, $32

DATA vmMax<>+0(SB)/8, $0x4069000000000000
DATA vmMax<>+8(SB)/8, $0x4069000000000000
DATA vmMax<>+16(SB)/8, $0x4069000000000000
DATA vmMax<>+24(SB)/8, $0x4069000000000000
GLOBL vmMax<>(SB), RODATA|NOPTR, $32

DATA vmMin<>+0(SB)/8, $0xC069000000000000
DATA vmMin<>+8(SB)/8, $0xC069000000000000
DATA vmMin<>+16(SB)/8, $0xC069000000000000
DATA vmMin<>+24(SB)/8, $0xC069000000000000
GLOBL vmMin<>(SB), RODATA|NOPTR, $32

DATA vmOne<>+0(SB)/8, $0x3FF0000000000000
DATA vmOne<>+8(SB)/8, $0x3FF0000000000000
DATA vmOne<>+16(SB)/8, $0x3FF0000000000000
DATA vmOne<>+24(SB)/8, $0x3FF0000000000000
GLOBL vmOne<>(SB), RODATA|NOPTR, $32

DATA vmMinus2<>+0(SB)/8, $0xC000000000000000
DATA vmMinus2<>+8(SB)/8, $0xC000000000000000
DATA vmMinus2<>+16(SB)/8, $0xC000000000000000
DATA vmMinus2<>+24(SB)/8, $0xC000000000000000
GLOBL vmMinus2<>(SB), RODATA|NOPTR, $32

DATA vmSign<>+0(SB)/8, $0x8000000000000000
DATA vmSign<>+8(SB)/8, $0x8000000000000000
DATA vmSign<>+16(SB)/8, $0x8000000000000000
DATA vmSign<>+24(SB)/8, $0x8000000000000000
GLOBL vmSign<>(SB), RODATA|NOPTR, $32

DATA vmAbs<>+0(SB)/8, $0x7FFFFFFFFFFFFFFF
DATA vmAbs<>+8(SB)/8, $0x7FFFFFFFFFFFFFFF
DATA vmAbs<>+16(SB)/8, $0x7FFFFFFFFFFFFFFF
DATA vmAbs<>+24(SB)/8, $0x7FFFFFFFFFFFFFFF
GLOBL vmAbs<>(SB), RODATA|NOPTR, $32

DATA vmBias<>+0(SB)/8, $0x00000000000003FF
DATA vmBias<>+8(SB)/8, $0x00000000000003FF
DATA vmBias<>+16(SB)/8, $0x00000000000003FF
DATA vmBias<>+24(SB)/8, $0x00000000000003FF
GLOBL vmBias<>(SB), RODATA|NOPTR, $32

DATA vmSmall<>+0(SB)/8, $0x3FB0000000000000
DATA vmSmall<>+8(SB)/8, $0x3FB0000000000000
DATA vmSmall<>+16(SB)/8, $0x3FB0000000000000
DATA vmSmall<>+24(SB)/8, $0x3FB0000000000000
GLOBL vmSmall<>(SB), RODATA|NOPTR, $32

DATA vmT3<>+0(SB)/8, $0xBFD5555555555555
DATA vmT3<>+8(SB)/8, $0xBFD5555555555555
DATA vmT3<>+16(SB)/8, $0xBFD5555555555555
DATA vmT3<>+24(SB)/8, $0xBFD5555555555555
GLOBL vmT3<>(SB), RODATA|NOPTR, $32

DATA vmT5<>+0(SB)/8, $0x3FC1111111111111
DATA vmT5<>+8(SB)/8, $0x3FC1111111111111
DATA vmT5<>+16(SB)/8, $0x3FC1111111111111
DATA vmT5<>+24(SB)/8, $0x3FC1111111111111
GLOBL vmT5<>(SB), RODATA|NOPTR, $32

DATA vmT7<>+0(SB)/8, $0xBFABA1BA1BA1BA1C
DATA vmT7<>+8(SB)/8, $0xBFABA1BA1BA1BA1C
DATA vmT7<>+16(SB)/8, $0xBFABA1BA1BA1BA1C
DATA vmT7<>+24(SB)/8, $0xBFABA1BA1BA1BA1C
GLOBL vmT7<>(SB), RODATA|NOPTR, $32

DATA vmT9<>+0(SB)/8, $0x3F9664F4882C10FA
DATA vmT9<>+8(SB)/8, $0x3F9664F4882C10FA
DATA vmT9<>+16(SB)/8, $0x3F9664F4882C10FA
DATA vmT9<>+24(SB)/8, $0x3F9664F4882C10FA
GLOBL vmT9<>(SB), RODATA|NOPTR, $32

DATA vmC0<>+0(SB)/8, $0x3FF0000000000000
DATA vmC0<>+8(SB)/8, $0x3FF0000000000000
DATA vmC0<>+16(SB)/8, $0x3FF0000000000000
DATA vmC0<>+24(SB)/8, $0x3FF0000000000000
GLOBL vmC0<>(SB), RODATA|NOPTR, $32

DATA vmC1<>+0(SB)/8, $0x3FF0000000000000
DATA vmC1<>+8(SB)/8, $0x3FF0000000000000
DATA vmC1<>+16(SB)/8, $0x3FF0000000000000
DATA vmC1<>+24(SB)/8, $0x3FF0000000000000
GLOBL vmC1<>(SB), RODATA|NOPTR, $32

DATA vmC2<>+0(SB)/8, $0x3FE0000000000000
DATA vmC2<>+8(SB)/8, $0x3FE0000000000000
DATA vmC2<>+16(SB)/8, $0x3FE0000000000000
DATA vmC2<>+24(SB)/8, $0x3FE0000000000000
GLOBL vmC2<>(SB), RODATA|NOPTR, $32

DATA vmC3<>+0(SB)/8, $0x3FC5555555555555
DATA vmC3<>+8(SB)/8, $0x3FC5555555555555
DATA vmC3<>+16(SB)/8, $0x3FC5555555555555
DATA vmC3<>+24(SB)/8, $0x3FC5555555555555
GLOBL vmC3<>(SB), RODATA|NOPTR, $32

DATA vmC4<>+0(SB)/8, $0x3FA5555555555555
DATA vmC4<>+8(SB)/8, $0x3FA5555555555555
DATA vmC4<>+16(SB)/8, $0x3FA5555555555555
DATA vmC4<>+24(SB)/8, $0x3FA5555555555555
GLOBL vmC4<>(SB), RODATA|NOPTR, $32

DATA vmC5<>+0(SB)/8, $0x3F81111111111111
DATA vmC5<>+8(SB)/8, $0x3F81111111111111
DATA vmC5<>+16(SB)/8, $0x3F81111111111111
DATA vmC5<>+24(SB)/8, $0x3F81111111111111
GLOBL vmC5<>(SB), RODATA|NOPTR, $32

DATA vmC6<>+0(SB)/8, $0x3F56C16C16C16C17
DATA vmC6<>+8(SB)/8, $0x3F56C16C16C16C17
DATA vmC6<>+16(SB)/8, $0x3F56C16C16C16C17
DATA vmC6<>+24(SB)/8, $0x3F56C16C16C16C17
GLOBL vmC6<>(SB), RODATA|NOPTR, $32

DATA vmC7<>+0(SB)/8, $0x3F2A01A01A01A01A
DATA vmC7<>+8(SB)/8, $0x3F2A01A01A01A01A
DATA vmC7<>+16(SB)/8, $0x3F2A01A01A01A01A
DATA vmC7<>+24(SB)/8, $0x3F2A01A01A01A01A
GLOBL vmC7<>(SB), RODATA|NOPTR, $32

DATA vmC8<>+0(SB)/8, $0x3EFA01A01A01A01A
DATA vmC8<>+8(SB)/8, $0x3EFA01A01A01A01A
DATA vmC8<>+16(SB)/8, $0x3EFA01A01A01A01A
DATA vmC8<>+24(SB)/8, $0x3EFA01A01A01A01A
GLOBL vmC8<>(SB), RODATA|NOPTR, $32

DATA vmC9<>+0(SB)/8, $0x3EC71DE3A556C734
DATA vmC9<>+8(SB)/8, $0x3EC71DE3A556C734
DATA vmC9<>+16(SB)/8, $0x3EC71DE3A556C734
DATA vmC9<>+24(SB)/8, $0x3EC71DE3A556C734
GLOBL vmC9<>(SB), RODATA|NOPTR, $32

DATA vmC10<>+0(SB)/8, $0x3E927E4FB7789F5C
DATA vmC10<>+8(SB)/8, $0x3E927E4FB7789F5C
DATA vmC10<>+16(SB)/8, $0x3E927E4FB7789F5C
DATA vmC10<>+24(SB)/8, $0x3E927E4FB7789F5C
GLOBL vmC10<>(SB), RODATA|NOPTR, $32

DATA vmC11<>+0(SB)/8, $0x3E5AE64567F544E4
DATA vmC11<>+8(SB)/8, $0x3E5AE64567F544E4
DATA vmC11<>+16(SB)/8, $0x3E5AE64567F544E4
DATA vmC11<>+24(SB)/8, $0x3E5AE64567F544E4
GLOBL vmC11<>(SB), RODATA|NOPTR, $32

// VM_EXP sets p = e^y for y clamped (or NaN), through t, n and y; Y15
// holds vmMagic.
#define VM_EXP(y, t, n, p) \
	VMOVAPD      Y15, t;                \
	VFMADD231PD  vmLog2e<>(SB), y, t;   \
	VSUBPD       Y15, t, n;             \
	VFNMADD231PD vmLn2Hi<>(SB), n, y;   \
	VFNMADD231PD vmLn2Lo<>(SB), n, y;   \
	VMOVAPD      vmC11<>(SB), p;        \
	VFMADD213PD  vmC10<>(SB), y, p;     \
	VFMADD213PD  vmC9<>(SB), y, p;      \
	VFMADD213PD  vmC8<>(SB), y, p;      \
	VFMADD213PD  vmC7<>(SB), y, p;      \
	VFMADD213PD  vmC6<>(SB), y, p;      \
	VFMADD213PD  vmC5<>(SB), y, p;      \
	VFMADD213PD  vmC4<>(SB), y, p;      \
	VFMADD213PD  vmC3<>(SB), y, p;      \
	VFMADD213PD  vmC2<>(SB), y, p;      \
	VFMADD213PD  vmC1<>(SB), y, p;      \
	VFMADD213PD  vmC0<>(SB), y, p;      \
	VPADDQ       vmBias<>(SB), t, t;    \
	VPSLLQ       $52, t, t;             \
	VMULPD       t, p, p

// VM_SIGMOID sets px (p's low half) to the 4 float32 1/(1 + e^−y) for y
// the 4 floats at off(SI), through y, t, n and p.
#define VM_SIGMOID(off, y, t, n, p, px) \
	VCVTPS2PD  off(SI), y;    \
	VXORPD     Y11, y, y;     \
	VMINPD     y, Y14, y;     \
	VMAXPD     y, Y13, y;     \
	VM_EXP(y, t, n, p);       \
	VADDPD     Y12, p, p;     \
	VDIVPD     p, Y12, p;     \
	VCVTPD2PSY p, px

// func sigmoid32AVX2(dst, src *float32, n int)
TEXT ·sigmoid32AVX2(SB), NOSPLIT, $0-24
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    n+16(FP), CX
	SHRQ    $2, CX
	VMOVUPD vmMagic<>(SB), Y15
	VMOVUPD vmMax<>(SB), Y14
	VMOVUPD vmMin<>(SB), Y13
	VMOVUPD vmOne<>(SB), Y12
	VMOVUPD vmSign<>(SB), Y11

	CMPQ CX, $2
	JLT  sigone

sigloop:
	VM_SIGMOID(0, Y0, Y1, Y2, Y3, X3)
	VM_SIGMOID(16, Y4, Y5, Y6, Y7, X7)
	VMOVUPS X3, (DI)
	VMOVUPS X7, 16(DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $2, CX
	CMPQ    CX, $2
	JGE     sigloop

sigone:
	TESTQ CX, CX
	JEQ   sigdone
	VM_SIGMOID(0, Y0, Y1, Y2, Y3, X3)
	VMOVUPS X3, (DI)

sigdone:
	VZEROUPPER
	RET

// func tanh32AVX2(dst, src *float32, n int)
TEXT ·tanh32AVX2(SB), NOSPLIT, $0-24
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    n+16(FP), CX
	SHRQ    $2, CX
	VMOVUPD vmMagic<>(SB), Y15
	VMOVUPD vmMin<>(SB), Y13
	VMOVUPD vmOne<>(SB), Y12
	VMOVUPD vmSign<>(SB), Y11

tanhloop:
	VCVTPS2PD   (SI), Y0
	VANDPD      Y11, Y0, Y5          // sign of x
	VANDPD      vmAbs<>(SB), Y0, Y4  // a = |x|
	// small |x|: a + a·(a²·q(a²))
	VMULPD      Y4, Y4, Y6
	VMOVAPD     vmT9<>(SB), Y7
	VFMADD213PD vmT7<>(SB), Y6, Y7
	VFMADD213PD vmT5<>(SB), Y6, Y7
	VFMADD213PD vmT3<>(SB), Y6, Y7
	VMULPD      Y6, Y7, Y7
	VFMADD213PD Y4, Y4, Y7
	// (1 − e)/(1 + e), e = e^{−2a}
	VMULPD      vmMinus2<>(SB), Y4, Y0
	VMAXPD      Y0, Y13, Y0
	VM_EXP(Y0, Y1, Y2, Y3)
	VSUBPD      Y3, Y12, Y8
	VADDPD      Y12, Y3, Y3
	VDIVPD      Y3, Y8, Y8
	VCMPPD      $0x11, vmSmall<>(SB), Y4, Y9
	VBLENDVPD   Y9, Y7, Y8, Y8
	VORPD       Y5, Y8, Y8
	VCVTPD2PSY  Y8, X8
	VMOVUPS     X8, (DI)
	ADDQ        $16, SI
	ADDQ        $16, DI
	DECQ        CX
	JNE         tanhloop
	VZEROUPPER
	RET

// func adamAVX(a *adamStep, param, grad, m, v *float32, n int)
//
// The Adam update of adamStep.updateGo with no weight decay (wd 0, decay
// 1), eight lanes at a time, n a positive multiple of 8: the same float32
// operations in the same order, none fused, so the results are the same
// bits. a's fields are read at their offsets: b1 0, b2 4, c1 8, c2 12, eps
// 16, stepSize 20, root 24 (adamStepLayout in the tests checks them).
TEXT ·adamAVX(SB), NOSPLIT, $0-48
	MOVQ         a+0(FP), AX
	MOVQ         param+8(FP), DI
	MOVQ         grad+16(FP), SI
	MOVQ         m+24(FP), R8
	MOVQ         v+32(FP), R9
	MOVQ         n+40(FP), CX
	VBROADCASTSS 0(AX), Y8             // b1
	VBROADCASTSS 4(AX), Y9             // b2
	VBROADCASTSS 8(AX), Y10            // c1
	VBROADCASTSS 12(AX), Y11           // c2
	VBROADCASTSS 16(AX), Y12           // eps
	VBROADCASTSS 20(AX), Y13           // stepSize
	VBROADCASTSS 24(AX), Y14           // root
	XORQ         BX, BX

adamloop:
	VMOVUPS      (SI)(BX*4), Y0        // g
	VMULPS       (R8)(BX*4), Y8, Y1    // b1·m
	VMULPS       Y10, Y0, Y3           // c1·g
	VADDPS       Y3, Y1, Y1            // m = b1·m + c1·g
	VMULPS       (R9)(BX*4), Y9, Y2    // b2·v
	VMULPS       Y11, Y0, Y4           // c2·g
	VMULPS       Y0, Y4, Y4            // (c2·g)·g
	VADDPS       Y4, Y2, Y2            // v = b2·v + c2·g·g
	VMOVUPS      Y1, (R8)(BX*4)
	VMOVUPS      Y2, (R9)(BX*4)
	VSQRTPS      Y2, Y5                // √v
	VDIVPS       Y14, Y5, Y5           // √v / root
	VADDPS       Y12, Y5, Y5           // + eps
	VMULPS       Y13, Y1, Y6           // stepSize·m
	VDIVPS       Y5, Y6, Y6            // stepSize·m / (√v/root + eps)
	VMOVUPS      (DI)(BX*4), Y7        // p
	VSUBPS       Y6, Y7, Y7
	VMOVUPS      Y7, (DI)(BX*4)
	ADDQ         $8, BX
	CMPQ         BX, CX
	JLT          adamloop
	VZEROUPPER
	RET

// func biasRowsAVX(blk, dy *float32, rows, ld int)
//
// blk[j] += dy[r·ld + j] for j < 64 and r = 0, 1, …, rows−1 in that order
// (rows ≥ 1): cpuBiasStrip's inner loop over a full strip, eight
// accumulators of eight lanes, each column's sum in the same order as the
// Go loop, so the same bits.
TEXT ·biasRowsAVX(SB), NOSPLIT, $0-32
	MOVQ    blk+0(FP), DI
	MOVQ    dy+8(FP), SI
	MOVQ    rows+16(FP), CX
	MOVQ    ld+24(FP), DX
	SHLQ    $2, DX
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7

biasloop:
	VADDPS  0(SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	VADDPS  128(SI), Y4, Y4
	VADDPS  160(SI), Y5, Y5
	VADDPS  192(SI), Y6, Y6
	VADDPS  224(SI), Y7, Y7
	ADDQ    DX, SI
	DECQ    CX
	JNE     biasloop
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	VZEROUPPER
	RET

// func addAVX(dst, src *float32, n int)
//
// dst[i] += src[i] for i < n, n a positive multiple of 8, eight lanes at a
// time: AddBias's inner loop over a row.
TEXT ·addAVX(SB), NOSPLIT, $0-24
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    n+16(FP), CX
	XORQ    BX, BX

addloop:
	VMOVUPS (DI)(BX*4), Y0
	VADDPS  (SI)(BX*4), Y0, Y0
	VMOVUPS Y0, (DI)(BX*4)
	ADDQ    $8, BX
	CMPQ    BX, CX
	JLT     addloop
	VZEROUPPER
	RET
