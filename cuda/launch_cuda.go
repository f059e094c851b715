//go:build cuda && !cudaemu

package cuda

// Kernel launches through the driver, with programmatic dependent launch
// where the device has it. gorgonia.org/cu's Function.Launch copies the
// arguments into two malloc'd arrays per launch and has no launch
// attributes; this is one cgo call that points the driver at the caller's
// argument words.

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>
#include <stdint.h>
#include <string.h>

enum { EMOTION_MAX_KERNEL_ARGS = 32 };

// emotion_launch launches f over grid g of blocks b with shared bytes of
// dynamic shared memory on stream s; its n parameters are the words of
// vals (each parameter reads its size from the start of its word). With
// dependent set the launch allows programmatic stream serialization: the
// kernel may begin while the kernel before it on s still runs, and waits
// for it in griddepcontrol.wait (GRID_DEPENDENCY_SYNC in the kernels).
static CUresult emotion_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned shared, CUstream s, uint64_t *vals, int n, int dependent) {
  void *params[EMOTION_MAX_KERNEL_ARGS];
  if (n > EMOTION_MAX_KERNEL_ARGS) return CUDA_ERROR_INVALID_VALUE;
  for (int i = 0; i < n; i++) params[i] = &vals[i];
  if (!dependent) return cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shared, s, params, NULL);
  CUlaunchAttribute attr;
  memset(&attr, 0, sizeof attr);
  attr.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
  attr.value.programmaticStreamSerializationAllowed = 1;
  CUlaunchConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.gridDimX = gx;
  cfg.gridDimY = gy;
  cfg.gridDimZ = gz;
  cfg.blockDimX = bx;
  cfg.blockDimY = by;
  cfg.blockDimZ = bz;
  cfg.sharedMemBytes = shared;
  cfg.hStream = s;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  return cuLaunchKernelEx(&cfg, f, params, NULL);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// maxKernelArgs is EMOTION_MAX_KERNEL_ARGS.
const maxKernelArgs = C.EMOTION_MAX_KERNEL_ARGS

// dependentLaunchMajor is the compute capability from which kernels may be
// launched with programmatic dependent launch (Hopper, sm_90).
const dependentLaunchMajor = 9

// launch launches fn on the compute stream with the argument words vals;
// d.mu is held and the context current.
func (d *Device) launch(fn cu.Function, grid, block [3]int, shared int, vals []uint64) error {
	if len(vals) > maxKernelArgs {
		return fmt.Errorf("%d arguments, more than the %d a launch takes", len(vals), maxKernelArgs)
	}
	var p *C.uint64_t
	if len(vals) > 0 {
		p = (*C.uint64_t)(unsafe.Pointer(&vals[0]))
	}
	dependent := C.int(0)
	if d.dependent {
		dependent = 1
	}
	f := *(*C.CUfunction)(unsafe.Pointer(&fn)) // cu.Function is struct{ fn C.CUfunction }
	launch := func(dependent C.int) C.CUresult {
		return C.emotion_launch(f, C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]), C.uint(block[0]),
			C.uint(block[1]), C.uint(block[2]), C.uint(shared), C.CUstream(d.rawStream(Compute)), p,
			C.int(len(vals)), dependent)
	}
	r := launch(dependent)
	if r != C.CUDA_SUCCESS && dependent != 0 {
		// A driver or tool that refuses the attribute (a profiler, a
		// sanitizer, a virtualised GPU): if the same launch goes in stream
		// order, launch so from now on. A launch that fails both ways
		// reports the stream-order error.
		if r = launch(0); r == C.CUDA_SUCCESS {
			d.dependent, d.canDepend = false, false
		}
	}
	if r != C.CUDA_SUCCESS {
		return asResult(int(r), cu.Success)
	}
	return nil
}

// asResult is code as gorgonia.org/cu's (unexported) CUresult type, whose
// Error names the code as cu's own calls do.
func asResult[R interface {
	~int
	error
}](code int, _ R) error {
	return R(code)
}
