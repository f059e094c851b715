// heads.cu: the layout change of multi-head attention between batch-major
// rows with the heads side by side and one contiguous matrix per (part,
// sequence, head), so that one strided-batched GEMM covers every head of
// every sequence instead of one GEMM per head.
//
// x is [batch, steps, parts·heads·dim]: part p (Q, K, V), head h at columns
// (p·heads + h)·dim. y is [parts, batch, heads, steps, dim].
//
// Launch: one block per row (b, t) of x, grid (batch, steps), 128 threads
// striding over the row's parts·heads·dim columns; column c is part p = c /
// (heads·dim), head h = c / dim mod heads, feature j = c mod dim (32-bit
// divisions). 4 B read and 4 B written per element; x's row is read or
// written coalesced, y in runs of dim consecutive floats.
#include "common.cuh"

// split_heads: y[p, b, h, t, j] = x[b, t, (p·heads + h)·dim + j], or with
// merge the inverse, x from y.
KERNEL void split_heads(int batch, int steps, int parts, int heads, int dim, dptr<float> x, dptr<float> y,
                        int merge) {
  GRID_DEPENDENCY_SYNC();
  int b = blockIdx.x, t = blockIdx.y;
  int hd = heads * dim, cols = parts * hd;
  auto xr = x + ((long long)b * steps + t) * cols;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    int p = c / hd, h = (c - p * hd) / dim, j = c - p * hd - h * dim;
    long long yi = ((((long long)p * batch + b) * heads + h) * steps + t) * dim + j;
    if (merge)
      xr[c] = y[yi];
    else
      y[yi] = xr[c];
  }
}
