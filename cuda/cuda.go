// Package cuda is emotion's device layer: device memory, streams, events,
// kernel launches by name and single-precision GEMMs with cuBLAS's
// column-major semantics, behind one small API (Device) with two
// implementations chosen by build tag:
//
//   - cuda: a real GPU through gorgonia.org/cu (the CUDA driver API), on one
//     OS thread locked to the device's primary context, with the kernels of
//     package kernels loaded from an embedded fatbin and cuBLAS loaded at run
//     time with dlopen (libcublas.so.13, .12 or .11);
//   - cudaemu: an emulated device (package kernels compiled for the CPU) that
//     checks launch shapes, barriers and every device-memory access, so that
//     the GPU backend and the models run unchanged on a machine without GPU.
//
// In the default build the package holds only the types below.
package cuda

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// DevicePtr is a device memory address.
type DevicePtr uintptr

// Stream names one of a Device's two streams. Launches and GEMMs run on
// Compute; uploads may run on Copy, ordered against Compute with events.
type Stream int

// The streams of a Device.
const (
	Compute Stream = iota
	Copy
)

// String names the stream, for messages: "compute" or "copy".
func (s Stream) String() string {
	switch s {
	case Compute:
		return "compute"
	case Copy:
		return "copy"
	}
	return fmt.Sprintf("stream(%d)", int(s))
}

// ErrOutOfMemory is wrapped by the error of an allocation the device cannot
// satisfy.
var ErrOutOfMemory = errors.New("cuda: out of device memory")

// Kinds of kernel arguments, as the kernels declare them: int, unsigned long
// long, float and device pointers.
type argKind int32

const (
	argI32 argKind = 1
	argU64 argKind = 2
	argF32 argKind = 3
	argPtr argKind = 4
)

// encodedArg is one kernel argument as the device takes it.
type encodedArg struct {
	kind argKind
	bits uint64 // int32 and float32 in the low 32 bits
}

// encodeArgs turns Launch's arguments into device arguments: int, int32 and
// bool become int (an int outside int32 is an error), uint32 becomes
// unsigned, uint64 becomes unsigned long long, float32 float, and DevicePtr
// a pointer.
func encodeArgs(args []any) ([]encodedArg, error) {
	out := make([]encodedArg, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int:
			if v < math.MinInt32 || v > math.MaxInt32 {
				return nil, fmt.Errorf("argument %d: int %d does not fit int32", i, v)
			}
			out[i] = encodedArg{argI32, uint64(uint32(int32(v)))}
		case int32:
			out[i] = encodedArg{argI32, uint64(uint32(v))}
		case uint32:
			out[i] = encodedArg{argI32, uint64(v)}
		case bool:
			var b uint64
			if v {
				b = 1
			}
			out[i] = encodedArg{argI32, b}
		case uint64:
			out[i] = encodedArg{argU64, v}
		case float32:
			out[i] = encodedArg{argF32, uint64(math.Float32bits(v))}
		case DevicePtr:
			out[i] = encodedArg{argPtr, uint64(v)}
		default:
			return nil, fmt.Errorf("argument %d: unsupported type %T", i, a)
		}
	}
	return out, nil
}

// describeArgs renders kernel arguments for an error message.
func describeArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case DevicePtr:
			parts[i] = fmt.Sprintf("ptr %#x", uintptr(v))
		default:
			parts[i] = fmt.Sprintf("%T %v", a, a)
		}
	}
	return strings.Join(parts, ", ")
}

// checkShape reports launch shapes that no device runs.
func checkShape(grid, block [3]int, shared int) error {
	threads := 1
	for i := range 3 {
		if grid[i] <= 0 || block[i] <= 0 {
			return fmt.Errorf("invalid launch shape: grid %v block %v has a dimension ≤ 0", grid, block)
		}
		threads *= block[i]
	}
	if threads > 1024 || block[2] > 64 {
		return fmt.Errorf("invalid launch shape: block %v exceeds 1024 threads (or z > 64)", block)
	}
	if grid[0] > math.MaxInt32 || grid[1] > 65535 || grid[2] > 65535 {
		return fmt.Errorf("invalid launch shape: grid %v exceeds (2^31-1, 65535, 65535)", grid)
	}
	if shared < 0 || shared > 48<<10 {
		return fmt.Errorf("invalid launch shape: %d bytes of dynamic shared memory (at most 48 KiB)", shared)
	}
	return nil
}

// launchError wraps err with what was launched.
func launchError(kernel string, grid, block [3]int, shared int, args []any, err error) error {
	return fmt.Errorf("cuda: launch %s grid %v block %v shared %d (%s): %w", kernel, grid, block, shared, describeArgs(args), err)
}

// gemmShape describes a GEMM for error messages.
func gemmShape(transA, transB bool, m, n, k, lda, ldb, ldc int) string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s m=%d n=%d k=%d lda=%d ldb=%d ldc=%d", t(transA), t(transB), m, n, k, lda, ldb, ldc)
}
