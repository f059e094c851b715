// common.cuh: what every kernel file shares: the device pointer type, the
// KERNEL qualifier, warp and block reductions, and the status word through
// which kernels report bad inputs (a label or token id out of range).
#ifndef EMOTION_COMMON_CUH
#define EMOTION_COMMON_CUH

#ifdef CUDA_EMU
#include "cudaemu.h"
// dptr is a device pointer: bounds-checked under emulation.
template <class T>
using dptr = emu::dptr<T>;
#else
// dptr is a device pointer: a plain pointer on the GPU.
template <class T>
using dptr = T*;
#endif

// KERNEL marks an entry point; extern "C" keeps its name unmangled so the
// host looks it up by name in the fatbin.
#define KERNEL extern "C" __global__

#define FULL_MASK 0xffffffffu

// Status codes a kernel writes into status[0] (first error wins); status[1]
// holds the offending value and status[2] its index.
#define STATUS_LABEL_RANGE 1
#define STATUS_TOKEN_RANGE 2
#define STATUS_LENGTH_RANGE 3


__device__ __forceinline__ void report_status(dptr<int> status, int code, int value, int index) {
  if (atomicCAS(&status[0], 0, code) == 0) {
    status[1] = value;
    status[2] = index;
  }
}

// checked_length returns lengths[i] clamped to [0, limit], reporting a length
// outside that range in status (the host turns it into an error).
__device__ __forceinline__ int checked_length(dptr<const int> lengths, int i, int limit, dptr<int> status) {
  int n = lengths[i];
  if (n < 0 || n > limit) {
    report_status(status, STATUS_LENGTH_RANGE, n, i);
    n = n < 0 ? 0 : limit;
  }
  return n;
}

__device__ __forceinline__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

// warp_sum returns the sum of v over the 32 lanes, in every lane.
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
  return v;
}

// warp_max returns the maximum of v over the 32 lanes, in every lane.
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
  return v;
}

// block_sum returns the sum of v over a one-dimensional block whose size is
// a multiple of 32, in every thread. Every thread of the block must call it.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float part[33];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    int nwarps = blockDim.x >> 5;
    float s = lane < nwarps ? part[lane] : 0.0f;
    s = warp_sum(s);
    if (lane == 0) part[32] = s;
  }
  __syncthreads();
  return part[32];
}

#endif  // EMOTION_COMMON_CUH
