// reduce.cu: sums (and sums of squares) in two deterministic passes, and the
// column sums of the bias gradient.
#include "common.cuh"

// reduce_partial_f32: partials[blockIdx.x] = Σ x[i] (or x[i]²) over the
// block's grid-stride share of x[0:n). 1-D block of a multiple of 32 threads
// (the host uses 256), grid of at most 1024 blocks. Reads 4 B per element,
// writes 4 B per block.
KERNEL void reduce_partial_f32(int n, dptr<const float> x, int squares, dptr<float> partials) {
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
  float s = 0.0f;
  for (int i = threadIdx.x; i < m; i += blockDim.x) s += partials[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = s;
}

// bias_grad_f32: dbias[c] += Σ_r dy[r·cols + c]. Block 32×8: x over 32
// columns, y over rows with stride 8; the 8 partial sums of a column meet in
// shared memory. Grid ceil(cols/32). Reads dy once (4 B per element), reads
// and writes dbias once.
KERNEL void bias_grad_f32(int rows, int cols, dptr<const float> dy, dptr<float> dbias) {
  __shared__ float part[8][33];
  int c = blockIdx.x * 32 + threadIdx.x;
  float s = 0.0f;
  if (c < cols) {
    for (int r = threadIdx.y; r < rows; r += blockDim.y) s += dy[(long long)r * cols + c];
  }
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.0f;
    for (int k = 0; k < (int)blockDim.y; k++) t += part[k][threadIdx.x];
    dbias[c] += t;
  }
}
