// cudaemu.h: what the kernels in this directory use of CUDA, for compiling
// them with the host C++ compiler (the cudaemu build).
//
// Each CUDA thread of a block runs as a cooperative fiber (ucontext); the
// fibers of a block run on one OS thread, one at a time, each until it
// reaches a barrier (__syncthreads, __syncwarp or a warp shuffle/vote) or
// exits. The scheduler (emu_runtime.cc) releases a barrier only when every
// thread that must reach it has; a thread that exits while others wait is an
// error, as is a shuffle that names a lane that is not there. __shared__
// arrays (SHARED_ARRAY, SHARED_MATRIX) are static thread_local: one copy per
// OS thread, so one per block being run, with every access bounds-checked
// and checked for races between barriers (emu::shared_array). Device
// pointers are bounds-checked wrappers (emu::dptr) over the allocation they
// point into.
#ifndef EMOTION_CUDAEMU_H
#define EMOTION_CUDAEMU_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

namespace emu {

// uint3 is CUDA's three-component index (threadIdx, blockIdx, blockDim,
// gridDim).
struct uint3 {
  unsigned x, y, z;
};

// ThreadState is the current fiber's view of the launch.
struct ThreadState {
  uint3 tid, bid, bdim, gdim;
  // synced is whether the thread has run GRID_DEPENDENCY_SYNC(); device
  // memory is out of bounds before it.
  bool synced;
};

extern thread_local ThreadState ts;

// fail records a device-side error (first one wins), abandons the launch and
// never returns to the calling fiber.
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// grid_dependency_sync is GRID_DEPENDENCY_SYNC() and GRID_DEPENDENCY_WAIT():
// the emulation runs launches one after another, so it only marks the
// thread as allowed to touch device memory.
void grid_dependency_sync();

// syncthreads is __syncthreads(): a barrier every thread of the block must reach.
void syncthreads();
// syncwarp is __syncwarp(mask): a barrier for the lanes of mask.
void syncwarp(unsigned mask);
// warp_exchange posts bits and returns the bits posted by lane src (the
// caller's own bits when src is not a lane of the warp).
uint64_t warp_exchange(unsigned mask, uint64_t bits, int src);
// warp_ballot returns the ballot of pred over the lanes of mask.
unsigned warp_ballot(unsigned mask, int pred);
// lane_id is the caller's lane within its warp.
int lane_id();

// dptr is a bounds-checked device pointer: every access through it must fall
// inside the allocation [lo, hi) it was made from.
template <class T>
class dptr {
 public:
  dptr() = default;
  dptr(std::nullptr_t) {}
  dptr(T* p, const char* lo, const char* hi) : p_(p), lo_(lo), hi_(hi) {}
  // A dptr<T> converts to a dptr<const T>.
  template <class U, class = std::enable_if_t<std::is_same<const U, T>::value && !std::is_same<U, T>::value>>
  dptr(const dptr<U>& o) : p_(o.raw()), lo_(o.lo()), hi_(o.hi()) {}

  T& operator[](ptrdiff_t i) const { return *check(p_ + i, i); }
  T& operator*() const { return *check(p_, 0); }
  dptr operator+(ptrdiff_t i) const { return dptr(p_ + i, lo_, hi_); }
  dptr operator-(ptrdiff_t i) const { return dptr(p_ - i, lo_, hi_); }
  dptr& operator+=(ptrdiff_t i) {
    p_ += i;
    return *this;
  }
  explicit operator bool() const { return p_ != nullptr; }

  T* raw() const { return p_; }
  const char* lo() const { return lo_; }
  const char* hi() const { return hi_; }

 private:
  T* check(T* q, ptrdiff_t i) const {
    if (p_ == nullptr) fail("null device pointer dereferenced (index %td)", i);
    if (!ts.synced) fail("device memory accessed before GRID_DEPENDENCY_SYNC() (index %td)", i);
    const char* b = reinterpret_cast<const char*>(q);
    if (b < lo_ || b + sizeof(T) > hi_) {
      fail("out-of-bounds access: index %td from %p is %td bytes %s an allocation of %td bytes at %p", i,
           static_cast<const void*>(p_), b < lo_ ? lo_ - b : b + sizeof(T) - hi_, b < lo_ ? "before" : "past",
           hi_ - lo_, static_cast<const void*>(lo_));
    }
    return q;
  }
  T* p_ = nullptr;
  const char* lo_ = nullptr;
  const char* hi_ = nullptr;
};

// ---------------------------------------------------------------- shared memory

// barrier_interval names the stretch of the current block between two of
// its __syncthreads() (or its start): a number that changes at every
// barrier and at every block, never reused on an OS thread.
uint64_t barrier_interval();
// block_interval is barrier_interval() at the start of the current block:
// shared memory written before it was written by another block.
uint64_t block_interval();
// thread_linear is the calling fiber's linear thread index in its block.
int thread_linear();

// SharedShadow is what the race check knows of one element of __shared__
// memory: the thread that last wrote it and the threads that read it, each
// with the barrier interval they did it in.
struct SharedShadow {
  uint64_t wrote = 0, read = 0;  // barrier intervals of the last write and of the reads
  int writer = 0, reader = 0;    // linear thread indices; reader kManyReaders for several
};
constexpr int kManyReaders = -1;

// shared_array is a __shared__ array of N T's (SHARED_ARRAY in common.cuh)
// whose every access is bounds-checked, checked to read only what its
// block wrote (shared memory starts as garbage), and race-checked: two threads
// touching one element between two __syncthreads(), at least one of them
// writing, is an error. On a GPU their order is undefined (compute-
// sanitizer's racecheck reports such hazards there); under emulation the
// threads run in index order, which would hide the bug.
template <class T, size_t N>
class shared_array {
 public:
  explicit shared_array(const char* name) : name_(name) {}

  // ref is one element: reading it converts to T, assigning writes it.
  class ref {
   public:
    ref(shared_array* a, ptrdiff_t i) : a_(a), i_(i) {}
    operator T() const { return a_->load(i_); }
    ref& operator=(T v) {
      a_->store(i_, v);
      return *this;
    }
    ref& operator=(const ref& o) { return *this = static_cast<T>(o); }
    ref& operator+=(T v) { return *this = a_->load(i_) + v; }

   private:
    shared_array* a_;
    ptrdiff_t i_;
  };

  ref operator[](ptrdiff_t i) {
    if (i < 0 || i >= static_cast<ptrdiff_t>(N))
      fail("out-of-bounds access: index %td of __shared__ %s[%zu]", i, name_, N);
    return ref(this, i);
  }

  T load(ptrdiff_t i) {
    SharedShadow& s = shadow_[i];
    uint64_t now = barrier_interval();
    int t = thread_linear();
    if (s.wrote < block_interval())  // never written, or by an earlier block: garbage on a GPU
      fail("reads __shared__ %s[%td] before any thread of this block wrote it", name_, i);
    if (s.wrote == now && s.writer != t)
      fail("shared memory hazard: reads __shared__ %s[%td], which thread %d wrote since the last __syncthreads()",
           name_, i, s.writer);
    if (s.read != now) {
      s.read = now;
      s.reader = t;
    } else if (s.reader != t) {
      s.reader = kManyReaders;
    }
    return data_[i];
  }

  void store(ptrdiff_t i, T v) {
    SharedShadow& s = shadow_[i];
    uint64_t now = barrier_interval();
    int t = thread_linear();
    if (s.wrote == now && s.writer != t)
      fail("shared memory hazard: writes __shared__ %s[%td], which thread %d wrote since the last __syncthreads()",
           name_, i, s.writer);
    if (s.read == now && s.reader != t) {
      if (s.reader == kManyReaders)
        fail("shared memory hazard: writes __shared__ %s[%td], which other threads read since the last "
             "__syncthreads()",
             name_, i);
      fail("shared memory hazard: writes __shared__ %s[%td], which thread %d read since the last __syncthreads()",
           name_, i, s.reader);
    }
    s.wrote = now;
    s.writer = t;
    data_[i] = v;
  }

 private:
  const char* name_;
  T data_[N];
  SharedShadow shadow_[N];
};

// shared_matrix is a __shared__ R×C array (SHARED_MATRIX in common.cuh),
// checked as shared_array; m[r][c] is element r·C + c.
template <class T, size_t R, size_t C>
class shared_matrix {
 public:
  explicit shared_matrix(const char* name) : name_(name), a_(name) {}

  class row {
   public:
    row(shared_matrix* m, ptrdiff_t r) : m_(m), r_(r) {}
    typename shared_array<T, R * C>::ref operator[](ptrdiff_t c) const {
      if (c < 0 || c >= static_cast<ptrdiff_t>(C))
        fail("out-of-bounds access: index [%td][%td] of __shared__ %s[%zu][%zu]", r_, c, m_->name_, R, C);
      return m_->a_[r_ * static_cast<ptrdiff_t>(C) + c];
    }

   private:
    shared_matrix* m_;
    ptrdiff_t r_;
  };

  row operator[](ptrdiff_t r) {
    if (r < 0 || r >= static_cast<ptrdiff_t>(R))
      fail("out-of-bounds access: row %td of __shared__ %s[%zu][%zu]", r, name_, R, C);
    return row(this, r);
  }

 private:
  const char* name_;
  shared_array<T, R * C> a_;
};

template <class T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8, "shuffle of a value wider than 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}

template <class T>
T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

}  // namespace emu

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define __constant__ static const

#define threadIdx (emu::ts.tid)
#define blockIdx (emu::ts.bid)
#define blockDim (emu::ts.bdim)
#define gridDim (emu::ts.gdim)
#define warpSize 32

inline void __syncthreads() { emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { emu::syncwarp(mask); }

template <class T>
T __shfl_sync(unsigned mask, T v, int srcLane, int width = warpSize) {
  int lane = emu::lane_id();
  int src = (lane & ~(width - 1)) + (srcLane & (width - 1));
  return emu::from_bits<T>(emu::warp_exchange(mask, emu::to_bits(v), src));
}

template <class T>
T __shfl_xor_sync(unsigned mask, T v, int laneMask, int width = warpSize) {
  int lane = emu::lane_id();
  int src = lane ^ laneMask;
  if (src >= ((lane / width) + 1) * width) src = lane;
  return emu::from_bits<T>(emu::warp_exchange(mask, emu::to_bits(v), src));
}

template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  int lane = emu::lane_id();
  int src = ((lane & (width - 1)) + static_cast<int>(delta) >= width) ? lane : lane + static_cast<int>(delta);
  return emu::from_bits<T>(emu::warp_exchange(mask, emu::to_bits(v), src));
}

template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  int lane = emu::lane_id();
  int src = ((lane & (width - 1)) < static_cast<int>(delta)) ? lane : lane - static_cast<int>(delta);
  return emu::from_bits<T>(emu::warp_exchange(mask, emu::to_bits(v), src));
}

inline unsigned __ballot_sync(unsigned mask, int pred) { return emu::warp_ballot(mask, pred); }
inline int __any_sync(unsigned mask, int pred) { return emu::warp_ballot(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return emu::warp_ballot(mask, pred) == emu::warp_ballot(mask, 1); }

// Atomics. A block's fibers never run at the same time and blocks run one
// after another, so a plain read-modify-write is atomic here.
template <class T>
T atomicAdd(T* addr, T v) {
  T old = *addr;
  *addr = old + v;
  return old;
}
inline int atomicCAS(int* addr, int compare, int v) {
  int old = *addr;
  if (old == compare) *addr = v;
  return old;
}
inline unsigned atomicCAS(unsigned* addr, unsigned compare, unsigned v) {
  unsigned old = *addr;
  if (old == compare) *addr = v;
  return old;
}
template <class T>
T atomicMax(T* addr, T v) {
  T old = *addr;
  if (v > old) *addr = v;
  return old;
}
inline int atomicExch(int* addr, int v) {
  int old = *addr;
  *addr = v;
  return old;
}

// Math intrinsics.
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline float __int_as_float(int i) { return emu::from_bits<float>(static_cast<uint32_t>(i)); }
inline int __float_as_int(float f) { return static_cast<int>(static_cast<uint32_t>(emu::to_bits(f))); }
inline float __uint_as_float(unsigned i) { return emu::from_bits<float>(i); }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<uint64_t>(a) * b) >> 32);
}
template <class T>
T __ldg(const T* p) {
  return *p;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

#endif  // EMOTION_CUDAEMU_H
