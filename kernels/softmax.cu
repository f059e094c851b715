// softmax.cu: batched masked softmax for attention, forward and backward.
//
// One warp per row: block 128 threads (4 rows), grid ceil(rows/4). A lane
// handles columns lane, lane+32, … so rows of any length work; for the few
// hundred columns of attention a row is at most a dozen loads per lane. Row r
// uses its first n = lengths[r / rowsPerLength] columns (all cols when
// lengths is null); masked columns and empty rows are written as zeros.
#include "common.cuh"

#define SOFTMAX_WARPS 4

// SOFTMAX_REGS is how many columns per lane softmax_fwd keeps in registers:
// rows of up to 32·SOFTMAX_REGS = 256 columns (attention over 100 tokens or
// 10 turns) are read once and exponentiated once.
#define SOFTMAX_REGS 8

// softmax_fwd: y = softmax(scale·x) over each row's first n columns. Rows of
// at most 256 columns are read once into registers: 8 B per element of DRAM
// traffic, one expf per element. Longer rows read x three times (twice from
// cache) and exponentiate twice. The first version took every row the long
// way and ran at 37% of the H200's copy bandwidth for 512·4·100 rows of 100
// (the backward, one pass fewer, at 67%). The registers are loaded before
// the row's length is read, so that a warp waits for memory once.
KERNEL void softmax_fwd(int rows, int cols, float scale, dptr<const int> lengths, int rowsPerLength,
                        dptr<const float> x, dptr<float> y, dptr<int> status) {
  int row = blockIdx.x * SOFTMAX_WARPS + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (row >= rows) return;  // the whole warp leaves together
  auto xr = x + (long long)row * cols;
  auto yr = y + (long long)row * cols;
  if (cols <= 32 * SOFTMAX_REGS) {
    // Every column is loaded, then the length: the loads do not wait for it.
    float v[SOFTMAX_REGS];
    for (int k = 0; k < SOFTMAX_REGS; k++) {
      int c = lane + 32 * k;
      v[k] = c < cols ? xr[c] : 0.0f;
    }
    int n = lengths ? checked_length(lengths, row / rowsPerLength, cols, status) : cols;
    float m = -INFINITY;
    for (int k = 0; k < SOFTMAX_REGS; k++) {
      int c = lane + 32 * k;
      v[k] = c < n ? scale * v[k] : -INFINITY;
      m = fmaxf(m, v[k]);
    }
    m = warp_max(m);
    float s = 0.0f;
    for (int k = 0; k < SOFTMAX_REGS; k++) {
      int c = lane + 32 * k;
      v[k] = c < n ? expf(v[k] - m) : 0.0f;
      s += v[k];
    }
    s = warp_sum(s);
    float inv = n > 0 ? 1.0f / s : 0.0f;
    for (int k = 0; k < SOFTMAX_REGS; k++) {
      int c = lane + 32 * k;
      if (c < cols) yr[c] = v[k] * inv;
    }
    return;
  }
  int n = lengths ? checked_length(lengths, row / rowsPerLength, cols, status) : cols;
  float m = -INFINITY;
  for (int c = lane; c < n; c += 32) m = fmaxf(m, scale * xr[c]);
  m = warp_max(m);
  float s = 0.0f;
  for (int c = lane; c < n; c += 32) s += expf(scale * xr[c] - m);
  s = warp_sum(s);
  float inv = n > 0 ? 1.0f / s : 0.0f;
  for (int c = lane; c < cols; c += 32) yr[c] = c < n ? expf(scale * xr[c] - m) * inv : 0.0f;
}

// softmax_bwd: dx = scale·y·(dy − Σ y·dy) over each row's first n columns,
// zeros elsewhere. Rows of at most 256 columns are read once into registers
// (12 B per element: y, dy, dx); longer rows read y and dy twice (once from
// cache). The first version took every row the long way and ran at 67% of
// the H200's copy bandwidth for 512·4·100 rows of 100.
KERNEL void softmax_bwd(int rows, int cols, float scale, dptr<const int> lengths, int rowsPerLength,
                        dptr<const float> y, dptr<const float> dy, dptr<float> dx, dptr<int> status) {
  int row = blockIdx.x * SOFTMAX_WARPS + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (row >= rows) return;
  long long base = (long long)row * cols;
  if (cols <= 32 * SOFTMAX_REGS) {
    float yv[SOFTMAX_REGS], dv[SOFTMAX_REGS];
    for (int k = 0; k < SOFTMAX_REGS; k++) {  // every column first, then the length
      int c = lane + 32 * k;
      yv[k] = c < cols ? y[base + c] : 0.0f;
      dv[k] = c < cols ? dy[base + c] : 0.0f;
    }
    int n = lengths ? checked_length(lengths, row / rowsPerLength, cols, status) : cols;
    float dot = 0.0f;
    for (int k = 0; k < SOFTMAX_REGS; k++) {
      int c = lane + 32 * k;
      if (c >= n) yv[k] = dv[k] = 0.0f;
      dot += yv[k] * dv[k];
    }
    dot = warp_sum(dot);
    for (int k = 0; k < SOFTMAX_REGS; k++) {
      int c = lane + 32 * k;
      if (c < cols) dx[base + c] = c < n ? scale * yv[k] * (dv[k] - dot) : 0.0f;
    }
    return;
  }
  int n = lengths ? checked_length(lengths, row / rowsPerLength, cols, status) : cols;
  float dot = 0.0f;
  for (int c = lane; c < n; c += 32) dot += y[base + c] * dy[base + c];
  dot = warp_sum(dot);
  for (int c = lane; c < cols; c += 32) dx[base + c] = c < n ? scale * y[base + c] * (dy[base + c] - dot) : 0.0f;
}
