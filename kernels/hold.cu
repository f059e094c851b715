// hold.cu: the stream hold of the kernel benchmarks. To time what the
// device does, not how fast the host issues it, `emotion bench kernels`
// queues a group of calls behind a kernel that keeps the compute stream
// busy until the host has issued the whole group (as NVIDIA's nvbench
// does with its blocking kernel); the calls then run back to back, and
// the events around them time the device alone. The host releases the
// hold with a plain store to the release word, page-locked host memory
// that the spinning thread reads over the bus (host.GPU.TimeOps); no
// stream stands between the two.
#include "common.cuh"

#ifdef CUDA_EMU
#include <chrono>
// The emulation's clock: nanoseconds of the host's steady clock.
inline long long device_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline int read_volatile(dptr<const int> p) { return p[0]; }
inline void pause_ns(unsigned) {}
#else
// device_ns is the GPU's global timer, in nanoseconds.
__device__ __forceinline__ long long device_ns() {
  long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
// read_volatile reads *p afresh each time (not from a cache), so that the
// host's store becomes visible.
__device__ __forceinline__ int read_volatile(const int *p) { return *(const volatile int *)p; }
__device__ __forceinline__ void pause_ns(unsigned ns) { __nanosleep(ns); }
#endif

// stream_hold returns once release[0] is not zero, or after timeout_ns
// have passed; then it writes timed_out[0] = 1 (a group too long for the
// stream's queue: the host blocked in a launch while the hold waited, and
// the time includes the host's). Launch: one block of one thread. Traffic:
// one 4 B read of release (over the bus) every microsecond or so, at most
// one 4 B write.
KERNEL void stream_hold(dptr<const int> release, unsigned long long timeout_ns, dptr<int> timed_out) {
  GRID_DEPENDENCY_SYNC();
  long long start = device_ns();
  while (read_volatile(release) == 0) {
    if ((unsigned long long)(device_ns() - start) > timeout_ns) {
      timed_out[0] = 1;
      return;
    }
    pause_ns(1000);
  }
}
