// sequence.cu: batch-major ↔ time-major rearrangement for the recurrence,
// every direction of a BiLSTM in one launch, the second reversing each
// sequence.
//
// Direction d of the batch-major x is the feat columns at d·dirCols of its
// rows (dirCols 0: the directions share them); the time-major y is [dirs,
// steps, batch, feat]. A block is blockDim.y rows of blockDim.x threads,
// each thread map_strided over the features of its row (the host gives a
// row ceil(feat/4) threads, rounded up to a warp, at most 128, and a block
// 256 threads: at feat = 64 eight rows of 32 threads, where one row of 128
// threads left half of them idle and moved 256 B a block). 4 B read and 4 B
// written per element and direction (8 B read when accumulating).
#include "common.cuh"

// seq_to_time_major: grid (ceil(steps·batch / blockDim.y), dirs); row
// t·batch + b of direction d of y: y[((d·steps+t)·batch+b)·feat + f] =
// x[(b·steps+p)·ldX + d·dirCols + f] with p = t, or lengths[b]−1−t for d =
// 1; zeros for t ≥ lengths[b].
KERNEL void seq_to_time_major(int batch, int steps, int feat, dptr<const float> x, int ldX, int dirCols,
                              dptr<const int> lengths, dptr<float> y, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  int row = blockIdx.x * blockDim.y + threadIdx.y, d = blockIdx.y;
  if (row >= steps * batch) return;
  int t = row / batch, b = row % batch;
  int len = checked_length(lengths, b, steps, status);
  auto yr = y + ((long long)d * steps * batch + row) * feat;
  if (t >= len) {
    for (int f = threadIdx.x; f < feat; f += blockDim.x) yr[f] = 0.0f;
    return;
  }
  int p = d == 1 ? len - 1 - t : t;
  auto xr = x + ((long long)b * steps + p) * ldX + d * dirCols;
  map_strided(threadIdx.x, feat, blockDim.x, [&](long long f) { return xr[f]; }, [&](long long f, float v) { yr[f] = v; });
}

// seq_from_time_major: the adjoint. Grid ceil(batch·steps / blockDim.y);
// row b·steps + p of the batch-major side, every direction: x[(b·steps+p)·ldX
// + d·dirCols + f] (+)= y[((d·steps+t)·batch+b)·feat + f] with t = p, or
// lengths[b]−1−p for d = 1; with dirCols = 0 the directions' values are
// summed (in order, by one thread) into the same columns. Padded positions
// are zeroed, or left alone when accumulating.
KERNEL void seq_from_time_major(int batch, int steps, int feat, int dirs, dptr<const float> y, dptr<const int> lengths,
                                dptr<float> x, int ldX, int dirCols, int accumulate, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  int row = blockIdx.x * blockDim.y + threadIdx.y;
  if (row >= batch * steps) return;
  int b = row / steps, p = row % steps;
  int len = checked_length(lengths, b, steps, status);
  auto xr = x + (long long)row * ldX;
  long long dirStride = (long long)steps * batch * feat;
  for (int d = 0; d < dirs; d++) {
    auto xd = xr + d * dirCols;
    bool add = accumulate || (d > 0 && dirCols == 0);  // the sum of the directions
    if (p >= len) {
      if (!add)
        for (int f = threadIdx.x; f < feat; f += blockDim.x) xd[f] = 0.0f;
      continue;
    }
    int t = d == 1 ? len - 1 - p : p;
    auto yr = y + d * dirStride + ((long long)t * batch + b) * feat;
    map_strided(
        threadIdx.x, feat, blockDim.x, [&](long long f) { return f32x2{yr[f], add ? xd[f] : 0.0f}; },
        [&](long long f, f32x2 v) { xd[f] = add ? v.b + v.a : v.a; });
  }
}
