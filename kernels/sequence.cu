// sequence.cu: batch-major ↔ time-major rearrangement for the recurrence,
// every direction of a BiLSTM in one launch, the second reversing each
// sequence.
//
// Direction d of the batch-major x is the feat columns at d·dirCols of its
// rows (dirCols 0: the directions share them); the time-major y is [dirs,
// steps, batch, feat]. Both kernels stride 128 threads over the feat
// features of a row. 4 B read and 4 B written per element and direction (8
// B read when accumulating).
#include "common.cuh"

// seq_to_time_major: grid (steps·batch, dirs), block (t·batch + b, d) of
// y: y[((d·steps+t)·batch+b)·feat + f] = x[(b·steps+p)·ldX + d·dirCols + f]
// with p = t, or lengths[b]−1−t for d = 1; zeros for t ≥ lengths[b].
KERNEL void seq_to_time_major(int batch, int steps, int feat, dptr<const float> x, int ldX, int dirCols,
                              dptr<const int> lengths, dptr<float> y, dptr<int> status) {
  int t = blockIdx.x / batch, b = blockIdx.x % batch, d = blockIdx.y;
  int len = checked_length(lengths, b, steps, status);
  auto yr = y + ((long long)d * steps * batch + blockIdx.x) * feat;
  if (t >= len) {
    for (int f = threadIdx.x; f < feat; f += blockDim.x) yr[f] = 0.0f;
    return;
  }
  int p = d == 1 ? len - 1 - t : t;
  auto xr = x + ((long long)b * steps + p) * ldX + d * dirCols;
  for (int f = threadIdx.x; f < feat; f += blockDim.x) yr[f] = xr[f];
}

// seq_from_time_major: the adjoint. Block (p, b) of the batch-major side
// (grid batch·steps as b·steps + p), every direction: x[(b·steps+p)·ldX +
// d·dirCols + f] (+)= y[((d·steps+t)·batch+b)·feat + f] with t = p, or
// lengths[b]−1−p for d = 1; with dirCols = 0 the directions' values are
// summed (in order, by one thread) into the same columns. Padded positions
// are zeroed, or left alone when accumulating.
KERNEL void seq_from_time_major(int batch, int steps, int feat, int dirs, dptr<const float> y, dptr<const int> lengths,
                                dptr<float> x, int ldX, int dirCols, int accumulate, dptr<int> status) {
  int b = blockIdx.x / steps, p = blockIdx.x % steps;
  int len = checked_length(lengths, b, steps, status);
  auto xr = x + (long long)blockIdx.x * ldX;
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
    for (int f = threadIdx.x; f < feat; f += blockDim.x) xd[f] = add ? xd[f] + yr[f] : yr[f];
  }
}
