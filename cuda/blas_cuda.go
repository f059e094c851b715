//go:build cuda && !cudaemu

package cuda

// A tiny shim that loads cuBLAS at run time with dlopen, so that the binary
// links only libcuda (and libdl) and runs on any CUDA 11.8+ install:
// libcublas.so.13, .12 and .11 are tried in turn. It also holds the one
// driver call gorgonia.org/cu lacks (page-locked host allocation).

/*
#cgo LDFLAGS: -lcuda -ldl
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stddef.h>

typedef int (*blas_create_t)(void**);
typedef int (*blas_destroy_t)(void*);
typedef int (*blas_set_stream_t)(void*, void*);
typedef int (*blas_set_math_t)(void*, int);
typedef int (*blas_sgemm_t)(void*, int, int, int, int, int, const float*, const float*, int, const float*, int,
                            const float*, float*, int);
typedef int (*blas_sgemm_sb_t)(void*, int, int, int, int, int, const float*, const float*, int, long long,
                               const float*, int, long long, const float*, float*, int, long long, int);

static void* blas_lib;
static blas_create_t blas_create;
static blas_destroy_t blas_destroy;
static blas_set_stream_t blas_set_stream;
static blas_set_math_t blas_set_math;
static blas_sgemm_t blas_sgemm;
static blas_sgemm_sb_t blas_sgemm_sb;

// blas_load opens the newest cuBLAS it finds; 0 on success, else -1 with
// dlerror's message in err. Go serialises its calls (blasLoaded);
// blas_lib is set only once every entry point has resolved.
static int blas_load(char* which, int wlen, char* err, int errlen) {
	static const char* names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"};
	if (blas_lib != NULL) return 0;
	err[0] = 0;
	void* lib = NULL;
	for (int i = 0; i < 3 && lib == NULL; i++) {
		lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (lib != NULL) {
			snprintf(which, wlen, "%s", names[i]);
		} else {
			const char* e = dlerror();
			snprintf(err, errlen, "%s", e ? e : names[i]);
		}
	}
	if (lib == NULL) return -1;
	blas_create = (blas_create_t)dlsym(lib, "cublasCreate_v2");
	blas_destroy = (blas_destroy_t)dlsym(lib, "cublasDestroy_v2");
	blas_set_stream = (blas_set_stream_t)dlsym(lib, "cublasSetStream_v2");
	blas_set_math = (blas_set_math_t)dlsym(lib, "cublasSetMathMode");
	blas_sgemm = (blas_sgemm_t)dlsym(lib, "cublasSgemm_v2");
	blas_sgemm_sb = (blas_sgemm_sb_t)dlsym(lib, "cublasSgemmStridedBatched");
	if (!blas_create || !blas_destroy || !blas_set_stream || !blas_set_math || !blas_sgemm || !blas_sgemm_sb) {
		snprintf(err, errlen, "%s lacks a cuBLAS v2 entry point", which);
		dlclose(lib);  // so that a later load tries again instead of calling NULL
		return -1;
	}
	blas_lib = lib;
	return 0;
}

// blas_new creates a handle on stream; on an error no handle is left.
static int blas_new(void** h, void* stream) {
	int rc = blas_create(h);
	if (rc != 0) return rc;
	rc = blas_set_math(*h, 0);  // CUBLAS_DEFAULT_MATH: true float32, no TF32
	if (rc == 0) rc = blas_set_stream(*h, stream);
	if (rc != 0) {
		blas_destroy(*h);
		*h = NULL;
	}
	return rc;
}

static int blas_free(void* h) { return blas_destroy(h); }

static int blas_gemm(void* h, int ta, int tb, int m, int n, int k, float alpha, unsigned long long a, int lda,
                     long long sa, unsigned long long b, int ldb, long long sb, float beta, unsigned long long c,
                     int ldc, long long sc, int batch) {
	if (batch == 1 && sa == 0 && sb == 0 && sc == 0)
		return blas_sgemm(h, ta, tb, m, n, k, &alpha, (const float*)a, lda, (const float*)b, ldb, &beta, (float*)c, ldc);
	return blas_sgemm_sb(h, ta, tb, m, n, k, &alpha, (const float*)a, lda, sa, (const float*)b, ldb, sb, &beta,
	                     (float*)c, ldc, sc, batch);
}

static int host_alloc(void** p, size_t bytes) { return (int)cuMemAllocHost(p, bytes); }
static int host_free(void* p) { return (int)cuMemFreeHost(p); }
static int host_device_ptr(CUdeviceptr* d, void* p) { return (int)cuMemHostGetDevicePointer(d, p, 0); }
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// cublasStatus names cuBLAS's status codes.
func cublasStatus(rc C.int) error {
	names := map[C.int]string{
		1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
		8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
		14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR",
	}
	if rc == 0 {
		return nil
	}
	if n, ok := names[rc]; ok {
		return errors.New(n)
	}
	return fmt.Errorf("cuBLAS status %d", int(rc))
}

// blasHandle is a cuBLAS handle bound to a stream.
type blasHandle struct {
	h   unsafe.Pointer
	lib string
}

// blasLoaded serialises the loading of cuBLAS (devices may open on
// several goroutines) and remembers which library it loaded.
var blasLoaded struct {
	sync.Mutex
	lib string
}

// newBlas loads cuBLAS and creates a handle on stream (a CUstream). It
// must run on the device's thread, with its context current.
func newBlas(stream unsafe.Pointer) (*blasHandle, error) {
	blasLoaded.Lock()
	if blasLoaded.lib == "" {
		var which, msg [256]C.char
		if C.blas_load(&which[0], 256, &msg[0], 256) != 0 {
			blasLoaded.Unlock()
			return nil, fmt.Errorf("load cuBLAS (libcublas.so.13, .12, .11): %s", C.GoString(&msg[0]))
		}
		blasLoaded.lib = C.GoString(&which[0])
	}
	lib := blasLoaded.lib
	blasLoaded.Unlock()
	b := &blasHandle{lib: lib}
	if err := cublasStatus(C.blas_new(&b.h, stream)); err != nil {
		return nil, fmt.Errorf("cublasCreate on %s: %w", b.lib, err)
	}
	return b, nil
}

func (b *blasHandle) destroy() error {
	if b == nil || b.h == nil {
		return nil
	}
	err := cublasStatus(C.blas_free(b.h))
	b.h = nil
	return err
}

func cint(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// gemm is cublasSgemm (batch 1, zero strides) or cublasSgemmStridedBatched.
func (b *blasHandle) gemm(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda, strideA int, bm DevicePtr, ldb, strideB int, beta float32, c DevicePtr, ldc, strideC, batch int) error {
	for _, v := range []int{m, n, k, lda, ldb, ldc, batch} {
		if v > math.MaxInt32 { // cuBLAS takes int: refuse, as the emulation does, rather than truncate
			return fmt.Errorf("size %d exceeds int32", v)
		}
	}
	return cublasStatus(C.blas_gemm(b.h, cint(transA), cint(transB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.ulonglong(a), C.int(lda), C.longlong(strideA), C.ulonglong(bm), C.int(ldb), C.longlong(strideB),
		C.float(beta), C.ulonglong(c), C.int(ldc), C.longlong(strideC), C.int(batch)))
}

// hostAlloc allocates page-locked host memory with cuMemAllocHost.
func hostAlloc(bytes int) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	if rc := C.host_alloc(&p, C.size_t(bytes)); rc != 0 {
		if rc == C.CUDA_ERROR_OUT_OF_MEMORY {
			return nil, fmt.Errorf("cuMemAllocHost(%d): %w", bytes, ErrOutOfMemory)
		}
		return nil, fmt.Errorf("cuMemAllocHost(%d): CUresult %d", bytes, int(rc))
	}
	return p, nil
}

// hostDevicePtr is the device's address of page-locked host memory p.
func hostDevicePtr(p unsafe.Pointer) (DevicePtr, error) {
	var d C.CUdeviceptr
	if rc := C.host_device_ptr(&d, p); rc != 0 {
		return 0, fmt.Errorf("cuMemHostGetDevicePointer: CUresult %d", int(rc))
	}
	return DevicePtr(d), nil
}

func hostFree(p unsafe.Pointer) error {
	if rc := C.host_free(p); rc != 0 {
		return fmt.Errorf("cuMemFreeHost: CUresult %d", int(rc))
	}
	return nil
}
