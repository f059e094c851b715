// sequence.cu: batch-major ↔ time-major rearrangement for the recurrence,
// with per-sequence reversal for the backward direction of a BiLSTM.
//
// Launch: one block per (t, b) row of the time-major side (grid steps·batch,
// as t·batch + b), 128 threads striding over the feat features. 4 B read and
// 4 B written per element (8 B read when accumulating).
#include "common.cuh"

// seq_to_time_major: y[(t·batch+b)·feat + f] = x[(b·steps+p)·ldX + f] with p
// = t, or lengths[b]−1−t when reverse; zeros for t ≥ lengths[b].
KERNEL void seq_to_time_major(int batch, int steps, int feat, dptr<const float> x, int ldX,
                              dptr<const int> lengths, int reverse, dptr<float> y, dptr<int> status) {
  int t = blockIdx.x / batch, b = blockIdx.x % batch;
  int len = checked_length(lengths, b, steps, status);
  auto yr = y + (long long)blockIdx.x * feat;
  if (t >= len) {
    for (int f = threadIdx.x; f < feat; f += blockDim.x) yr[f] = 0.0f;
    return;
  }
  int p = reverse ? len - 1 - t : t;
  auto xr = x + ((long long)b * steps + p) * ldX;
  for (int f = threadIdx.x; f < feat; f += blockDim.x) yr[f] = xr[f];
}

// seq_from_time_major: the adjoint. Block (p, b) of the batch-major side
// (grid batch·steps as b·steps + p): x[(b·steps+p)·ldX + f] (+)= y[(t·batch+b)·
// feat + f] with t = p, or lengths[b]−1−p when reverse; padded positions are
// zeroed, or left alone when accumulating.
KERNEL void seq_from_time_major(int batch, int steps, int feat, dptr<const float> y, dptr<const int> lengths,
                                int reverse, dptr<float> x, int ldX, int accumulate, dptr<int> status) {
  int b = blockIdx.x / steps, p = blockIdx.x % steps;
  int len = checked_length(lengths, b, steps, status);
  auto xr = x + (long long)blockIdx.x * ldX;
  if (p >= len) {
    if (!accumulate)
      for (int f = threadIdx.x; f < feat; f += blockDim.x) xr[f] = 0.0f;
    return;
  }
  int t = reverse ? len - 1 - p : p;
  auto yr = y + ((long long)t * batch + b) * feat;
  for (int f = threadIdx.x; f < feat; f += blockDim.x) xr[f] = accumulate ? xr[f] + yr[f] : yr[f];
}
