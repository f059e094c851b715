// reduce.cu: sums (and sums of squares) in two deterministic passes, and the
// column sums of the bias gradient.
#include "common.cuh"

// reduce_partial_f32: partials[blockIdx.x] = Σ x[i] (or x[i]²) over the
// block's grid-stride share of x[0:n). 1-D block of a multiple of 32 threads
// (the host uses 256), grid of at most 1024 blocks. Reads 4 B per element,
// writes 4 B per block.
KERNEL void reduce_partial_f32(int n, dptr<const float> x, int squares, dptr<float> partials) {
  GRID_DEPENDENCY_SYNC();
  float s = 0.0f;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float v = x[i];
    s += squares ? v * v : v;
  }
  s = block_sum(s);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// reduce_final_f32: out[0] = Σ partials[0:m). One block of a multiple of 32
// threads (the host uses 1024). Reads 4·m B, writes 4 B.
KERNEL void reduce_final_f32(int m, dptr<const float> partials, dptr<float> out) {
  GRID_DEPENDENCY_SYNC();
  float s = 0.0f;
  for (int i = threadIdx.x; i < m; i += blockDim.x) s += partials[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = s;
}

// bias_grad_f32: column sums of the rows×cols dy over chunks of rows:
//   out[s·cols + c] = Σ dy[r·cols + c] over the rows r of chunk s,
// chunk s being rows [s·rowsPerSplit, (s+1)·rowsPerSplit) ∩ [0, rows); with
// accumulate, out[…] += the sum instead. Block 32×8: x over 32 columns (a
// warp reads 128 contiguous bytes of a row), y over the chunk's rows with
// stride 8; the 8 partial sums of a column meet in shared memory. Grid
// (ceil(cols/32), splits). With one chunk the host passes dbias as out and
// accumulates; with several, out is a [splits, cols] scratch that
// bias_grad_final_f32 sums into dbias, so the result does not depend on
// timing (no atomics). Reads dy once (4 B per element), writes 4 B per
// column and chunk.
//
// The first version gave each column one block-column of 8 threads over all
// rows: 8 blocks for a 4H = 256 bias, 80 µs for 1600 rows on the H200
// (0.5% of its copy bandwidth); splitting the rows gives the chip hundreds
// of blocks.
KERNEL void bias_grad_f32(int rows, int cols, int rowsPerSplit, dptr<const float> dy, dptr<float> out, int accumulate) {
  GRID_DEPENDENCY_SYNC();
  SHARED_MATRIX(float, part, 8, 33);
  int c = blockIdx.x * 32 + threadIdx.x;
  int r0 = blockIdx.y * rowsPerSplit;
  int r1 = min(rows, r0 + rowsPerSplit);
  float s = 0.0f;
  if (c < cols) {
    for (int r = r0 + threadIdx.y; r < r1; r += blockDim.y) s += dy[(long long)r * cols + c];
  }
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.0f;
    for (int k = 0; k < (int)blockDim.y; k++) t += part[k][threadIdx.x];
    long long o = (long long)blockIdx.y * cols + c;
    out[o] = accumulate ? out[o] + t : t;
  }
}

// bias_grad_final_f32: dbias[c] += Σ partials[s·cols + c] over s < splits,
// in order. 1-D blocks (the host uses 256 threads) over the columns. Reads
// 4·splits B and writes 4 B per column.
KERNEL void bias_grad_final_f32(int splits, int cols, dptr<const float> partials, dptr<float> dbias) {
  GRID_DEPENDENCY_SYNC();
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float t = 0.0f;
  for (int s = 0; s < splits; s++) t += partials[(long long)s * cols + c];
  dbias[c] += t;
}

// gemm_split_sum_f32: the second pass of a GEMM split over k (host/gpu.go,
// gemmSplitK): for problem i of batch and each element (r, j) of its m×n
// output,
//   c[i·strideC + r·ldc + j] = Σ partials[((i·parts + s)·m + r)·n + j] over s < parts, in order
//                              + beta·c[…] (c not read when beta is 0).
// Block 256×1 over j; grid (ceil(n/256), m, batch). Reads 4·parts B of
// partials (and 4 B of c when beta ≠ 0) and writes 4 B per output element.
KERNEL void gemm_split_sum_f32(int m, int n, int parts, dptr<const float> partials, float beta, dptr<float> c, int ldc,
                               unsigned long long strideC) {
  GRID_DEPENDENCY_SYNC();
  int j = blockIdx.x * blockDim.x + threadIdx.x, r = blockIdx.y, i = blockIdx.z;
  if (j >= n) return;
  long long plane = (long long)m * n;
  long long first = (long long)i * parts * plane + (long long)r * n + j;
  float t = 0.0f;
  for (int s = 0; s < parts; s++) t += partials[first + s * plane];
  long long o = (long long)(i * strideC) + (long long)r * ldc + j;
  c[o] = beta == 0.0f ? t : t + beta * c[o];
}
