//go:build cudaemu

package kernels

// #cgo CXXFLAGS: -std=c++17 -O2 -Wall -Wno-unused-function
// #include <stdlib.h>
// #include <string.h>
// #include "emu_api.h"
// static void emu_poke(uint64_t p, const void* b, size_t n) { memcpy((void*)p, b, n); }
import "C"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unsafe"
)

// This file is the emulated device of the cudaemu build: device memory,
// launches by kernel name and a cuBLAS-like SGEMM, all on the CPU. Package
// cuda wraps it in the same Device API as the real GPU.

// ErrOutOfMemory is returned by EmuMalloc when the emulated device's
// capacity (EmuSetCapacity) would be exceeded.
var ErrOutOfMemory = errors.New("out of device memory")

const errLen = 512

func errString(buf []C.char) string {
	return C.GoString(&buf[0])
}

// EmuArgKind is the kind of a kernel argument.
type EmuArgKind int32

// Kinds of kernel arguments, as the kernels' parameters: int, unsigned long
// long, float and device pointers.
const (
	ArgI32 EmuArgKind = C.EMU_ARG_I32
	ArgU64 EmuArgKind = C.EMU_ARG_U64
	ArgF32 EmuArgKind = C.EMU_ARG_F32
	ArgPtr EmuArgKind = C.EMU_ARG_PTR
)

// EmuArg is one kernel argument for EmuLaunch.
type EmuArg struct {
	Kind EmuArgKind
	Bits uint64 // int32 and float32 in the low 32 bits
}

// EmuMalloc allocates bytes of emulated device memory (filled with 0xff
// bytes, NaN as float32) and returns its address.
func EmuMalloc(bytes int) (uintptr, error) {
	if bytes < 0 {
		return 0, fmt.Errorf("malloc of %d bytes", bytes)
	}
	p := C.emu_malloc(C.size_t(bytes))
	if p == 0 {
		return 0, fmt.Errorf("malloc of %d bytes (%d of %d in use): %w", bytes, uint64(C.emu_in_use()), uint64(C.emu_capacity()), ErrOutOfMemory)
	}
	return uintptr(p), nil
}

// EmuFree frees an allocation of EmuMalloc, checking its guard bytes.
func EmuFree(p uintptr) error {
	var buf [errLen]C.char
	if C.emu_free(C.uint64_t(p), &buf[0], errLen) != 0 {
		return errors.New(errString(buf[:]))
	}
	return nil
}

// EmuCheckRange reports an error unless [p, p+bytes) lies inside one
// allocation.
func EmuCheckRange(p uintptr, bytes int) error {
	var buf [errLen]C.char
	if C.emu_check_range(C.uint64_t(p), C.size_t(bytes), &buf[0], errLen) != 0 {
		return errors.New(errString(buf[:]))
	}
	return nil
}

// EmuSetCapacity sets the emulated device's memory size in bytes.
func EmuSetCapacity(bytes int) { C.emu_set_capacity(C.size_t(bytes)) }

// EmuCapacity is the emulated device's memory size in bytes.
func EmuCapacity() int { return int(C.emu_capacity()) }

// EmuInUse is the number of bytes allocated on the emulated device.
func EmuInUse() int { return int(C.emu_in_use()) }

// EmuLaunch runs kernel name over a grid of blocks with args, checking the
// launch shape as a GPU would (at most 1024 threads a block, no dimension 0,
// at most 48 KiB of dynamic shared memory), every access through a device
// pointer, and that every barrier is reached by all the threads it waits for.
func EmuLaunch(name string, grid, block [3]int, shared int, args []EmuArg) error {
	var g, b [3]C.uint
	for i := range 3 {
		if grid[i] < 0 || grid[i] > math.MaxUint32 || block[i] < 0 || block[i] > math.MaxUint32 {
			return fmt.Errorf("invalid launch shape: grid %v block %v", grid, block)
		}
		g[i], b[i] = C.uint(grid[i]), C.uint(block[i])
	}
	if shared < 0 || shared > math.MaxUint32 {
		return fmt.Errorf("invalid launch shape: %d bytes of shared memory", shared)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	cargs := make([]C.emu_arg, len(args)+1) // +1: never empty
	for i, a := range args {
		cargs[i].kind = C.int32_t(a.Kind)
		cargs[i].bits = C.uint64_t(a.Bits)
	}
	var buf [errLen]C.char
	if C.emu_launch(cname, &g[0], &b[0], C.uint(shared), &cargs[0], C.int(len(args)), &buf[0], errLen) != 0 {
		return errors.New(errString(buf[:]))
	}
	return nil
}

// EmuKernelNames lists the kernels the emulated device can launch.
func EmuKernelNames() []string {
	n := C.emu_kernel_names(nil, 0)
	buf := make([]C.char, n)
	C.emu_kernel_names(&buf[0], n)
	return strings.Split(C.GoString(&buf[0]), "\n")
}

// EmuSgemm is cublasSgemmStridedBatched on column-major matrices: for each
// of batch problems p, C_p = alpha·op(A_p)·op(B_p) + beta·C_p with op(A) m×k
// and op(B) k×n, A_p at a + 4·p·strideA bytes and so on. With beta = 0, C is
// not read. Every matrix must lie inside one allocation.
func EmuSgemm(transA, transB bool, m, n, k int, alpha float32, a uintptr, lda, strideA int, b uintptr, ldb, strideB int, beta float32, c uintptr, ldc, strideC, batch int) error {
	for _, v := range []int{m, n, k, lda, ldb, ldc, batch} {
		if v > math.MaxInt32 {
			return fmt.Errorf("sgemm: size %d exceeds int32", v)
		}
	}
	var buf [errLen]C.char
	if C.emu_sgemm(cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.uint64_t(a), C.int(lda), C.int64_t(strideA), C.uint64_t(b), C.int(ldb), C.int64_t(strideB),
		C.float(beta), C.uint64_t(c), C.int(ldc), C.int64_t(strideC), C.int(batch), &buf[0], errLen) != 0 {
		return errors.New(errString(buf[:]))
	}
	return nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// EmuCopyToDevice copies bytes from host memory src to device address dst.
func EmuCopyToDevice(dst uintptr, src unsafe.Pointer, bytes int) error {
	var buf [errLen]C.char
	if C.emu_copy_to_device(C.uint64_t(dst), src, C.size_t(bytes), &buf[0], errLen) != 0 {
		return errors.New(errString(buf[:]))
	}
	return nil
}

// EmuCopyToHost copies bytes from device address src to host memory dst.
func EmuCopyToHost(dst unsafe.Pointer, src uintptr, bytes int) error {
	var buf [errLen]C.char
	if C.emu_copy_to_host(dst, C.uint64_t(src), C.size_t(bytes), &buf[0], errLen) != 0 {
		return errors.New(errString(buf[:]))
	}
	return nil
}

// EmuCopyDevice copies bytes between device addresses.
func EmuCopyDevice(dst, src uintptr, bytes int) error {
	var buf [errLen]C.char
	if C.emu_copy_device(C.uint64_t(dst), C.uint64_t(src), C.size_t(bytes), &buf[0], errLen) != 0 {
		return errors.New(errString(buf[:]))
	}
	return nil
}

// EmuMemset32 sets n 32-bit words at device address p to v.
func EmuMemset32(p uintptr, v uint32, n int) error {
	var buf [errLen]C.char
	if C.emu_memset32(C.uint64_t(p), C.uint32_t(v), C.size_t(n), &buf[0], errLen) != 0 {
		return errors.New(errString(buf[:]))
	}
	return nil
}

// emuPoke writes raw bytes at device address p without any check (tests
// use it to overrun an allocation's guard).
func emuPoke(p uintptr, b []byte) {
	C.emu_poke(C.uint64_t(p), unsafe.Pointer(&b[0]), C.size_t(len(b)))
}
