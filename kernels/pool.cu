// pool.cu: masked mean pooling over time, forward and backward.
#include "common.cuh"

// mean_pool_fwd: y[b·ldY + f] = mean of x[(b·steps+t)·feat + f] over t <
// lengths[b]; zeros for an empty sequence. Block 128 threads over features,
// grid (ceil(feat/128), batch). Reads 4 B per real position, writes 4 B per
// output.
KERNEL void mean_pool_fwd(int batch, int steps, int feat, dptr<const int> lengths, dptr<const float> x,
                          dptr<float> y, int ldY, dptr<int> status) {
  int b = blockIdx.y, f = blockIdx.x * blockDim.x + threadIdx.x;
  if (f >= feat) return;
  int len = checked_length(lengths, b, steps, status);
  float s = 0.0f;
  for (int t = 0; t < len; t++) s += x[((long long)b * steps + t) * feat + f];
  y[(long long)b * ldY + f] = len > 0 ? s / (float)len : 0.0f;
}

// mean_pool_bwd: dx[(b·steps+t)·feat + f] = dy[b·ldDY + f]/lengths[b] for t <
// lengths[b], else 0. 1-D grid-stride over batch·steps·feat (block 256).
// Writes 4 B per element; dy stays in cache.
KERNEL void mean_pool_bwd(int batch, int steps, int feat, dptr<const int> lengths, dptr<const float> dy, int ldDY,
                          dptr<float> dx, dptr<int> status) {
  long long total = (long long)batch * steps * feat;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    int f = (int)(i % feat);
    long long bt = i / feat;
    int t = (int)(bt % steps), b = (int)(bt / steps);
    int len = checked_length(lengths, b, steps, status);
    dx[i] = t < len ? dy[(long long)b * ldDY + f] / (float)len : 0.0f;
  }
}
