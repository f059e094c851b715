// emu_api.h: the C interface of the emulated device (cudaemu build), called
// from Go through cgo. Device memory is host memory from the emulator's own
// allocator, which records every allocation so that kernels' pointers can be
// bounds-checked. Functions that can fail return 0 on success and -1 on
// failure, with a message in err (errlen bytes).
#ifndef EMOTION_EMU_API_H
#define EMOTION_EMU_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Kinds of kernel argument.
enum { EMU_ARG_I32 = 1, EMU_ARG_U64 = 2, EMU_ARG_F32 = 3, EMU_ARG_PTR = 4 };

// emu_arg is one kernel argument: its kind and its bits (an int32 or float32
// in the low 32 bits).
typedef struct {
  int32_t kind;
  int32_t pad;
  uint64_t bits;
} emu_arg;

// emu_malloc allocates bytes of device memory, filled with 0xff bytes (NaN
// as float32) so that reads of memory nobody wrote show; 0 when the device
// is out of memory.
uint64_t emu_malloc(size_t bytes);
// emu_free frees an allocation made by emu_malloc, after checking the guard
// bytes past its end.
int emu_free(uint64_t p, char* err, int errlen);
// emu_check_range checks that [p, p+bytes) lies inside one allocation.
int emu_check_range(uint64_t p, size_t bytes, char* err, int errlen);
// emu_copy_to_device, emu_copy_to_host, emu_copy_device and emu_memset32
// copy or set device memory after checking the device range(s).
int emu_copy_to_device(uint64_t dst, const void* src, size_t bytes, char* err, int errlen);
int emu_copy_to_host(void* dst, uint64_t src, size_t bytes, char* err, int errlen);
int emu_copy_device(uint64_t dst, uint64_t src, size_t bytes, char* err, int errlen);
int emu_memset32(uint64_t dst, uint32_t v, size_t n, char* err, int errlen);
// emu_set_capacity sets the device memory size (bytes); emu_in_use is the
// number of bytes allocated.
void emu_set_capacity(size_t bytes);
size_t emu_in_use(void);
size_t emu_capacity(void);

// emu_launch runs kernel name over grid×block threads with args.
int emu_launch(const char* name, const unsigned grid[3], const unsigned block[3], unsigned shared, const emu_arg* args,
               int nargs, char* err, int errlen);
// emu_kernel_names writes the registered kernel names, separated by
// newlines, into buf and returns the length needed.
int emu_kernel_names(char* buf, int len);

// emu_sgemm is cublasSgemmStridedBatched on column-major matrices
// (transa/transb: 0 = N, 1 = T).
int emu_sgemm(int transa, int transb, int m, int n, int k, float alpha, uint64_t a, int lda, int64_t strideA,
              uint64_t b, int ldb, int64_t strideB, float beta, uint64_t c, int ldc, int64_t strideC, int batch,
              char* err, int errlen);

#ifdef __cplusplus
}
#endif

#endif  // EMOTION_EMU_API_H
