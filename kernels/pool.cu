// pool.cu: masked mean pooling over time, forward and backward.
#include "common.cuh"

// mean_pool_fwd: y[b·ldY + f] = mean of x[(b·steps+t)·feat + f] over t <
// lengths[b]; zeros for an empty sequence. Block 128 threads over features,
// grid (ceil(feat/128), batch). Reads 4 B per real position, writes 4 B per
// output.
KERNEL void mean_pool_fwd(int batch, int steps, int feat, dptr<const int> lengths, dptr<const float> x,
                          dptr<float> y, int ldY, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  int b = blockIdx.y, f = blockIdx.x * blockDim.x + threadIdx.x;
  if (f >= feat) return;
  int len = checked_length(lengths, b, steps, status);
  float s = 0.0f;
  for (int t = 0; t < len; t++) s += x[((long long)b * steps + t) * feat + f];
  y[(long long)b * ldY + f] = len > 0 ? s / (float)len : 0.0f;
}

// mean_pool_bwd: dx[(b·steps+t)·feat + f] = dy[b·ldDY + f]/lengths[b] for t <
// lengths[b], else 0. Block 128 threads over f, grid (ceil(feat/128), steps,
// batch): no index arithmetic beyond a multiply-add. Writes 4 B per element;
// dy stays in cache. The first version, a 1-D grid-stride loop that divided
// 64-bit indices twice per element, ran at 25% of the H200's copy bandwidth.
KERNEL void mean_pool_bwd(int batch, int steps, int feat, dptr<const int> lengths, dptr<const float> dy, int ldDY,
                          dptr<float> dx, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  int f = blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y, b = blockIdx.z;
  if (f >= feat) return;
  int len = checked_length(lengths, b, steps, status);
  dx[((long long)b * steps + t) * feat + f] = t < len ? dy[(long long)b * ldDY + f] / (float)len : 0.0f;
}
