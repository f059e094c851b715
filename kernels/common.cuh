// common.cuh: what every kernel file shares: the device pointer type, the
// KERNEL qualifier, the strided loop of memory-bound kernels, warp and block
// reductions, and the status word through which kernels report bad inputs
// (a label or token id out of range).
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

// SHARED_ARRAY declares a __shared__ array of n T's, SHARED_MATRIX a
// __shared__ rows×cols array; under emulation every access to them is
// bounds-checked and race-checked (emu::shared_array in cudaemu.h). Kernels
// declare shared memory only through these.
#ifdef CUDA_EMU
#define SHARED_ARRAY(T, name, n) static thread_local emu::shared_array<T, (n)> name(#name)
#define SHARED_MATRIX(T, name, rows, cols) static thread_local emu::shared_matrix<T, (rows), (cols)> name(#name)
#else
#define SHARED_ARRAY(T, name, n) __shared__ T name[n]
#define SHARED_MATRIX(T, name, rows, cols) __shared__ T name[rows][cols]
#endif

// UNROLL before a loop with a constant trip count asks nvcc to unroll it
// fully, so that the register arrays it indexes stay in registers; ONE_AT_A_TIME
// asks it not to unroll at all, so that iterations do not overlap and add
// up their registers (the host compiler of the emulation ignores both).
#ifdef CUDA_EMU
#define UNROLL
#define ONE_AT_A_TIME
#else
#define UNROLL _Pragma("unroll")
#define ONE_AT_A_TIME _Pragma("unroll 1")
#endif

// KERNEL marks an entry point; extern "C" keeps its name unmangled so the
// host looks it up by name in the fatbin.
#define KERNEL extern "C" __global__

// GRID_DEPENDENCY_SYNC() is the first statement of every kernel (or
// GRID_DEPENDENCY_WAIT(), below). It waits until the kernel before this one
// on the stream has finished and its writes are visible
// (griddepcontrol.wait), then lets the kernel after this one begin its
// launch (griddepcontrol.launch_dependents). The device layer launches
// kernels with programmatic dependent launch on sm_90 (cuda.Device,
// DependentLaunch), so a kernel's launch -- block scheduling, parameters,
// the start of its blocks -- overlaps the kernel before it instead of
// following its end: the 3.5-4 us a dependent launch cost on the H200 (see
// NOTES.md). Launched without it, or before sm_90, both are no-ops. A
// kernel touches no device memory before it: under emulation any device
// memory access before it fails the launch (emu::dptr).
//
// GRID_DEPENDENCY_WAIT() waits the same way but leaves out the trigger, so
// the kernel after this one launches when this one's blocks have all exited
// (the implicit trigger). The LSTM gate kernels of one step and the
// cross-entropy open with it: launched early, the next kernel's blocks
// slowed them -- on the H200 the gates ran at 62-64% of the copy rate with
// the trigger at their top, 71-74% with it at their exit (the H100: 71 ->
// 76-82%), and the cross-entropy took 1.79 -> 1.73 us (the H100: 2.00 ->
// 1.83). Every kernel at exit would cost the small ones their overlap (a
// one-float Fill 650 -> 784 ns on the H200). NOTES.md, "Where the trigger
// goes".
#ifdef CUDA_EMU
#define GRID_DEPENDENCY_SYNC() emu::grid_dependency_sync()
#define GRID_DEPENDENCY_WAIT() emu::grid_dependency_sync()
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define GRID_DEPENDENCY_SYNC()                           \
  do {                                                   \
    asm volatile("griddepcontrol.wait;" ::: "memory");   \
    asm volatile("griddepcontrol.launch_dependents;" :::); \
  } while (0)
#define GRID_DEPENDENCY_WAIT()                         \
  do {                                                 \
    asm volatile("griddepcontrol.wait;" ::: "memory"); \
  } while (0)
#else
#define GRID_DEPENDENCY_SYNC() \
  do {                         \
  } while (0)
#define GRID_DEPENDENCY_WAIT() \
  do {                         \
  } while (0)
#endif

#define FULL_MASK 0xffffffffu

// load4 reads p[i … i+3] into v with one 16-byte load, store4 writes them
// with one store: p + i must be 16-byte aligned (a misaligned vector access
// faults on a GPU; under emulation it fails the launch).
#ifdef CUDA_EMU
template <class T>
void check_aligned16(dptr<T> p, long long i) {
  if (reinterpret_cast<uintptr_t>(p.raw() + i) % 16 != 0)
    emu::fail("misaligned 16-byte access: index %lld from %p", i, static_cast<const void *>(p.raw()));
}
__device__ __forceinline__ void load4(dptr<const float> p, long long i, float (&v)[4]) {
  check_aligned16(p, i);
  for (int k = 0; k < 4; k++) v[k] = p[i + k];
}
__device__ __forceinline__ void store4(dptr<float> p, long long i, float a, float b, float c, float d) {
  check_aligned16(p, i);
  p[i] = a;
  p[i + 1] = b;
  p[i + 2] = c;
  p[i + 3] = d;
}
#else
__device__ __forceinline__ void load4(dptr<const float> p, long long i, float (&v)[4]) {
  float4 t = *reinterpret_cast<const float4 *>(p + i);
  v[0] = t.x;
  v[1] = t.y;
  v[2] = t.z;
  v[3] = t.w;
}
__device__ __forceinline__ void store4(dptr<float> p, long long i, float a, float b, float c, float d) {
  *reinterpret_cast<float4 *>(p + i) = make_float4(a, b, c, d);
}
#endif

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

// MAP_UNROLL is how many elements a thread of map_strided loads before it
// stores any; the host sizes the grids of those kernels by it (mapUnroll in
// host/gpu.go).
#define MAP_UNROLL 4

// map_strided runs value = load(j), then store(j, value), for the indices
// j = first, first + s, first + 2s, … below n. It takes MAP_UNROLL of them
// at a time and issues all their loads before any store, so that four loads
// per thread are in flight instead of one: a loop of one element at a time
// waits a full memory latency per element (ReLU, Tanh and Scale ran at
// 70–72% of the copy bandwidth on the H200, Axpy with two loads at 85%).
// load is called once per index, in increasing j; a thread loads and stores
// only its own indices, so the output may alias the input.
template <class Load, class Store>
__device__ __forceinline__ void map_strided(long long first, long long n, long long s, Load load, Store store) {
  for (long long j = first; j < n; j += MAP_UNROLL * s) {
    decltype(load(j)) v[MAP_UNROLL];
    for (int u = 0; u < MAP_UNROLL; u++)
      if (j + u * s < n) v[u] = load(j + u * s);
    for (int u = 0; u < MAP_UNROLL; u++)
      if (j + u * s < n) store(j + u * s, v[u]);
  }
}

// map_grid_stride is map_strided over a 1-D grid: element i goes to thread
// i mod s (s the grid's thread count), so that each round of loads is
// coalesced.
template <class Load, class Store>
__device__ __forceinline__ void map_grid_stride(long long n, Load load, Store store) {
  map_strided((long long)blockIdx.x * blockDim.x + threadIdx.x, n, (long long)gridDim.x * blockDim.x, load, store);
}

// f32x2 is the two inputs of a binary elementwise op.
struct f32x2 {
  float a, b;
};

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

// block_sum_once<SLOT> returns the sum of v over a one-dimensional block
// whose size is a multiple of 32, in every thread, with one barrier: each
// warp's sum goes to shared memory and every warp then adds them up in
// order (the same sums in every warp, so the same bits). Every thread of
// the block must call it. Each SLOT has its own shared array: a kernel can
// make a second sum right after a first if it uses another SLOT; a second
// call with the same SLOT needs a barrier between (its partials would
// overwrite ones still being read). block_sum is that barrier included.
template <int SLOT>
__device__ __forceinline__ float block_sum_once(float v) {
  SHARED_ARRAY(float, partOnce, 32);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) partOnce[warp] = v;
  __syncthreads();
  int nwarps = blockDim.x >> 5;
  return warp_sum(lane < nwarps ? partOnce[lane] : 0.0f);
}

// block_sum2_once<SLOT> is block_sum_once<SLOT> of two values at once,
// replacing a and b by their sums under the one barrier: each sum has the
// same bits as its own block_sum_once. SLOT's shared arrays are its own, as
// above.
template <int SLOT>
__device__ __forceinline__ void block_sum2_once(float& a, float& b) {
  SHARED_ARRAY(float, partOnceA, 32);
  SHARED_ARRAY(float, partOnceB, 32);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  a = warp_sum(a);
  b = warp_sum(b);
  if (lane == 0) {
    partOnceA[warp] = a;
    partOnceB[warp] = b;
  }
  __syncthreads();
  int nwarps = blockDim.x >> 5;
  a = warp_sum(lane < nwarps ? partOnceA[lane] : 0.0f);
  b = warp_sum(lane < nwarps ? partOnceB[lane] : 0.0f);
}

// block_sum returns the sum of v over a one-dimensional block whose size is
// a multiple of 32, in every thread; it may be called again right away.
// Every thread of the block must call it.
__device__ __forceinline__ float block_sum(float v) {
  float s = block_sum_once<-1>(v);
  __syncthreads();  // every warp has read the partials: a next call may write them
  return s;
}

#endif  // EMOTION_COMMON_CUH
