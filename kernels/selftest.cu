// selftest.cu: small kernels that test the cudaemu emulation itself (correct
// ones, and ones with the bugs the emulation must catch). They are compiled
// only into the emulated build, never into the fatbin.
#include "common.cuh"

// selftest_iota writes y[i] = i. Grid-stride; 1-D launch of any shape.
KERNEL void selftest_iota(int n, dptr<float> y) {
  GRID_DEPENDENCY_SYNC();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) y[i] = (float)i;
}

// selftest_warp_softmax: one warp per row of a rows×cols x, y = softmax(x).
// Block (32·w); grid ceil(rows / w).
KERNEL void selftest_warp_softmax(int rows, int cols, dptr<const float> x, dptr<float> y) {
  GRID_DEPENDENCY_SYNC();
  int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  int lane = threadIdx.x & 31;
  if (row >= rows) return;  // the whole warp leaves together
  auto xr = x + (ptrdiff_t)row * cols;
  auto yr = y + (ptrdiff_t)row * cols;
  float m = -INFINITY;
  for (int c = lane; c < cols; c += 32) m = fmaxf(m, xr[c]);
  m = warp_max(m);
  float s = 0.0f;
  for (int c = lane; c < cols; c += 32) s += expf(xr[c] - m);
  s = warp_sum(s);
  for (int c = lane; c < cols; c += 32) yr[c] = expf(xr[c] - m) / s;
}

// selftest_block_sum writes the sum of x[0:n) to out[0]. One block.
KERNEL void selftest_block_sum(int n, dptr<const float> x, dptr<float> out) {
  GRID_DEPENDENCY_SYNC();
  float s = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = s;
}

// selftest_missing_barrier: threads past n leave before a barrier the others
// wait at (a bug).
KERNEL void selftest_missing_barrier(int n, dptr<float> y) {
  GRID_DEPENDENCY_SYNC();
  SHARED_ARRAY(float, buf, 1024);
  if ((int)threadIdx.x >= n) return;
  buf[threadIdx.x] = (float)threadIdx.x;
  __syncthreads();
  y[threadIdx.x] = buf[n - 1 - threadIdx.x];
}

// selftest_oob writes one element past y[0:n) (a bug).
KERNEL void selftest_oob(int n, dptr<float> y) {
  GRID_DEPENDENCY_SYNC();
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) y[i] = 1.0f;
}

// selftest_shfl_exited: the upper half of each warp leaves before a
// full-mask shuffle (a bug).
KERNEL void selftest_shfl_exited(dptr<float> y) {
  GRID_DEPENDENCY_SYNC();
  int lane = threadIdx.x & 31;
  if (lane >= 16) return;
  y[threadIdx.x] = warp_sum(1.0f);
}

// selftest_shfl_down: y[i] = x[i + d] within the warp (own value past it).
KERNEL void selftest_shfl_down(int d, dptr<const float> x, dptr<float> y) {
  GRID_DEPENDENCY_SYNC();
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = __shfl_down_sync(FULL_MASK, x[i], d);
}

// selftest_shared_race: shared memory used across threads with no barrier
// between the accesses, or before it is written (bugs; block of n ≤ 1024
// threads). mode 0: thread i writes buf[i] and reads buf[i−1] (read after
// another's write); 1: reads buf[i+1], then writes buf[i] (write after
// another's read); 2: every thread writes buf[0]; 3: thread i reads
// buf[1025 − n + i], the last one past the array's end; 4: thread i reads
// buf[i], which no thread of the block wrote (garbage on a GPU). Modes 1
// and 3 first fill buf, then pass a barrier, so that only their own bug is
// there.
KERNEL void selftest_shared_race(int mode, int n, dptr<float> y) {
  GRID_DEPENDENCY_SYNC();
  SHARED_ARRAY(float, buf, 1024);
  int i = threadIdx.x;
  if (mode == 1 || mode == 3) {
    for (int j = i; j < 1024; j += n) buf[j] = 0.0f;
    __syncthreads();
  }
  switch (mode) {
    case 0:
      buf[i] = (float)i;
      y[i] = i > 0 ? buf[i - 1] : 0.0f;
      break;
    case 1:
      y[i] = i + 1 < n ? buf[i + 1] : 0.0f;
      buf[i] = (float)i;
      break;
    case 2:
      buf[0] = (float)i;
      break;
    case 3:
      y[i] = buf[1025 - n + i];
      break;
    case 4:
      y[i] = buf[i];
      break;
  }
}

// selftest_read_before_sync reads x[0] before GRID_DEPENDENCY_SYNC() (a bug:
// with dependent launch the kernel before it may still be writing x).
KERNEL void selftest_read_before_sync(dptr<const float> x, dptr<float> y) {
  float v = x[0];
  GRID_DEPENDENCY_SYNC();
  y[threadIdx.x] = v;
}
