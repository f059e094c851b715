// softmax.cu: batched masked softmax for attention, forward and backward.
//
// A warp per two rows: block 128 threads (8 rows), grid ceil(rows/8). A
// lane handles columns lane, lane+32, … so rows of any length work; for the few
// hundred columns of attention a row is at most a dozen loads per lane. Row r
// uses its first n = lengths[r / rowsPerLength] columns (all cols when
// lengths is null); masked columns and empty rows are written as zeros.
#include "common.cuh"

#define SOFTMAX_WARPS 4

// SOFTMAX_WARP_ROWS is how many rows a warp takes: rows first, first + 1,
// … of first = SOFTMAX_WARP_ROWS·(the warp's index in the grid). Grid
// ceil(rows / (SOFTMAX_WARPS·SOFTMAX_WARP_ROWS)).
#define SOFTMAX_WARP_ROWS 2

// Rows of up to 32·8 = 256 columns (attention over 100 tokens or 10 turns)
// are read once into registers and exponentiated once: rows of up to 128
// columns two at a time with 4 registers a lane each (both rows' loads
// issued before either is reduced: 800 B in flight per warp at 100
// columns, not 400, which with 64 warps an SM is about what the H200's
// bandwidth times its latency asks for, with no margin), longer ones one at
// a time with 8. Either way a lane holds 8 values (16 backward), so the
// kernels keep their registers, and their occupancy, of one row at a time.
// The rows' loads are issued before their lengths are read, so that a
// warp waits for memory once.

// softmax_fwd_regs is softmax_fwd for the rows first … first+ROWS−1 (those
// below rows) of at most 32·REGS columns, held in registers.
template <int ROWS, int REGS>
__device__ __forceinline__ void softmax_fwd_regs(int first, int rows, int cols, float scale, dptr<const int> lengths,
                                                 int rowsPerLength, dptr<const float> x, dptr<float> y,
                                                 dptr<int> status) {
  int lane = threadIdx.x & 31;
  float v[ROWS][REGS];
  UNROLL for (int q = 0; q < ROWS; q++) {
    UNROLL for (int k = 0; k < REGS; k++) {
      int c = lane + 32 * k;
      v[q][k] = first + q < rows && c < cols ? x[(long long)(first + q) * cols + c] : 0.0f;
    }
  }
  int n[ROWS];
  float m[ROWS], s[ROWS];
  UNROLL for (int q = 0; q < ROWS; q++) {
    int r = first + q;
    n[q] = r >= rows ? 0 : lengths ? checked_length(lengths, r / rowsPerLength, cols, status) : cols;
    m[q] = -INFINITY;
    UNROLL for (int k = 0; k < REGS; k++) {
      int c = lane + 32 * k;
      v[q][k] = c < n[q] ? scale * v[q][k] : -INFINITY;
      m[q] = fmaxf(m[q], v[q][k]);
    }
  }
  UNROLL for (int q = 0; q < ROWS; q++) m[q] = warp_max(m[q]);
  UNROLL for (int q = 0; q < ROWS; q++) {
    s[q] = 0.0f;
    UNROLL for (int k = 0; k < REGS; k++) {
      int c = lane + 32 * k;
      v[q][k] = c < n[q] ? expf(v[q][k] - m[q]) : 0.0f;
      s[q] += v[q][k];
    }
  }
  UNROLL for (int q = 0; q < ROWS; q++) s[q] = warp_sum(s[q]);
  UNROLL for (int q = 0; q < ROWS; q++) {
    int r = first + q;
    if (r >= rows) break;
    float inv = n[q] > 0 ? 1.0f / s[q] : 0.0f;
    auto yr = y + (long long)r * cols;
    UNROLL for (int k = 0; k < REGS; k++) {
      int c = lane + 32 * k;
      if (c < cols) yr[c] = v[q][k] * inv;
    }
  }
}

// softmax_fwd: y = softmax(scale·x) over each row's first n columns. 8 B per
// element of DRAM traffic and one expf per element for rows of at most 256
// columns (softmax_fwd_regs); longer rows read x three times (twice from
// cache) and exponentiate twice. The first version took every row the long
// way and ran at 37% of the H200's copy bandwidth for 512·4·100 rows of 100
// (the backward, one pass fewer, at 67%).
KERNEL void softmax_fwd(int rows, int cols, float scale, dptr<const int> lengths, int rowsPerLength,
                        dptr<const float> x, dptr<float> y, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  int first = (blockIdx.x * SOFTMAX_WARPS + (threadIdx.x >> 5)) * SOFTMAX_WARP_ROWS;
  int lane = threadIdx.x & 31;
  if (first >= rows) return;  // the whole warp leaves together
  if (cols <= 128) {
    softmax_fwd_regs<SOFTMAX_WARP_ROWS, 4>(first, rows, cols, scale, lengths, rowsPerLength, x, y, status);
    return;
  }
  if (cols <= 256) {
    ONE_AT_A_TIME for (int q = 0; q < SOFTMAX_WARP_ROWS; q++)
      softmax_fwd_regs<1, 8>(first + q, rows, cols, scale, lengths, rowsPerLength, x, y, status);
    return;
  }
  for (int r = first; r < first + SOFTMAX_WARP_ROWS && r < rows; r++) {
    auto xr = x + (long long)r * cols;
    auto yr = y + (long long)r * cols;
    int n = lengths ? checked_length(lengths, r / rowsPerLength, cols, status) : cols;
    float m = -INFINITY;
    for (int c = lane; c < n; c += 32) m = fmaxf(m, scale * xr[c]);
    m = warp_max(m);
    float s = 0.0f;
    for (int c = lane; c < n; c += 32) s += expf(scale * xr[c] - m);
    s = warp_sum(s);
    float inv = n > 0 ? 1.0f / s : 0.0f;
    for (int c = lane; c < cols; c += 32) yr[c] = c < n ? expf(scale * xr[c] - m) * inv : 0.0f;
  }
}

// softmax_bwd_regs is softmax_bwd for the rows first … first+ROWS−1 (those
// below rows) of at most 32·REGS columns, held in registers.
template <int ROWS, int REGS>
__device__ __forceinline__ void softmax_bwd_regs(int first, int rows, int cols, float scale, dptr<const int> lengths,
                                                 int rowsPerLength, dptr<const float> y, dptr<const float> dy,
                                                 dptr<float> dx, dptr<int> status) {
  int lane = threadIdx.x & 31;
  float yv[ROWS][REGS], dv[ROWS][REGS];
  UNROLL for (int q = 0; q < ROWS; q++) {  // every column first, then the lengths
    UNROLL for (int k = 0; k < REGS; k++) {
      int c = lane + 32 * k;
      bool in = first + q < rows && c < cols;
      long long i = (long long)(first + q) * cols + c;
      yv[q][k] = in ? y[i] : 0.0f;
      dv[q][k] = in ? dy[i] : 0.0f;
    }
  }
  int n[ROWS];
  float dot[ROWS];
  UNROLL for (int q = 0; q < ROWS; q++) {
    int r = first + q;
    n[q] = r >= rows ? 0 : lengths ? checked_length(lengths, r / rowsPerLength, cols, status) : cols;
    dot[q] = 0.0f;
    UNROLL for (int k = 0; k < REGS; k++) {
      int c = lane + 32 * k;
      if (c >= n[q]) yv[q][k] = dv[q][k] = 0.0f;
      dot[q] += yv[q][k] * dv[q][k];
    }
  }
  UNROLL for (int q = 0; q < ROWS; q++) dot[q] = warp_sum(dot[q]);
  UNROLL for (int q = 0; q < ROWS; q++) {
    int r = first + q;
    if (r >= rows) break;
    UNROLL for (int k = 0; k < REGS; k++) {
      int c = lane + 32 * k;
      if (c < cols) dx[(long long)r * cols + c] = c < n[q] ? scale * yv[q][k] * (dv[q][k] - dot[q]) : 0.0f;
    }
  }
}

// softmax_bwd: dx = scale·y·(dy − Σ y·dy) over each row's first n columns,
// zeros elsewhere. 12 B per element (y, dy, dx) for rows of at most 256
// columns (softmax_bwd_regs); longer rows read y and dy twice (once from
// cache). The first version took every row the long way and ran at 67% of
// the H200's copy bandwidth for 512·4·100 rows of 100.
KERNEL void softmax_bwd(int rows, int cols, float scale, dptr<const int> lengths, int rowsPerLength,
                        dptr<const float> y, dptr<const float> dy, dptr<float> dx, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  int first = (blockIdx.x * SOFTMAX_WARPS + (threadIdx.x >> 5)) * SOFTMAX_WARP_ROWS;
  int lane = threadIdx.x & 31;
  if (first >= rows) return;
  if (cols <= 128) {
    softmax_bwd_regs<SOFTMAX_WARP_ROWS, 4>(first, rows, cols, scale, lengths, rowsPerLength, y, dy, dx, status);
    return;
  }
  if (cols <= 256) {
    ONE_AT_A_TIME for (int q = 0; q < SOFTMAX_WARP_ROWS; q++)
      softmax_bwd_regs<1, 8>(first + q, rows, cols, scale, lengths, rowsPerLength, y, dy, dx, status);
    return;
  }
  for (int r = first; r < first + SOFTMAX_WARP_ROWS && r < rows; r++) {
    long long base = (long long)r * cols;
    int n = lengths ? checked_length(lengths, r / rowsPerLength, cols, status) : cols;
    float dot = 0.0f;
    for (int c = lane; c < n; c += 32) dot += y[base + c] * dy[base + c];
    dot = warp_sum(dot);
    for (int c = lane; c < cols; c += 32) dx[base + c] = c < n ? scale * y[base + c] * (dy[base + c] - dot) : 0.0f;
  }
}
