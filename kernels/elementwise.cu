// elementwise.cu: fill, copies, axpy/scale, bias, activations and dropout.
//
// Unless said otherwise a kernel here is 1-D and grid-stride: any block size
// (the host uses 256) and any grid (the host uses ceil(n/256), capped), each
// thread handling elements i, i + gridDim·blockDim, …. They are memory bound:
// the traffic given is per element.
#include "common.cuh"
#include "philox.cuh"

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// fill_f32: x[i] = v. Writes 4 B.
KERNEL void fill_f32(int n, float v, dptr<float> x) {
  GRID_STRIDE(i, n) x[i] = v;
}

// copy2d_f32: dst[r·ldDst + c] (+)= src[r·ldSrc + c] for a rows×cols block.
// 2-D grid-stride: x over columns, y over rows (block 32×8, grid
// ceil(cols/32) × min(ceil(rows/8), 65535)). Reads 4 B (8 B accumulating),
// writes 4 B.
KERNEL void copy2d_f32(int rows, int cols, dptr<const float> src, int ldSrc, dptr<float> dst, int ldDst,
                       int accumulate) {
  for (int r = blockIdx.y * blockDim.y + threadIdx.y; r < rows; r += gridDim.y * blockDim.y) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x) {
      float v = src[(long long)r * ldSrc + c];
      long long d = (long long)r * ldDst + c;
      dst[d] = accumulate ? dst[d] + v : v;
    }
  }
}

// transpose_f32: dst[z·strideDst + c·ldDst + r] = src[z·strideSrc + r·ldSrc
// + c] for rows×cols matrices z = 0, 1, …. Block 32×8 over a 32×32 tile,
// staged in shared memory (one column of padding against bank conflicts)
// so that both the reads of src and the writes of dst are coalesced; grid
// (ceil(cols/32), ceil(rows/32), matrices). Reads 4 B, writes 4 B per
// element.
KERNEL void transpose_f32(int rows, int cols, dptr<const float> src, int ldSrc, int strideSrc, dptr<float> dst,
                          int ldDst, int strideDst) {
  __shared__ float tile[32][33];
  int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
  src = src + (long long)blockIdx.z * strideSrc;
  dst = dst + (long long)blockIdx.z * strideDst;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    int r = r0 + i, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[i][threadIdx.x] = src[(long long)r * ldSrc + c];
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    int c = c0 + i, r = r0 + threadIdx.x;
    if (r < rows && c < cols) dst[(long long)c * ldDst + r] = tile[threadIdx.x][i];
  }
}

// axpy_f32: y[i] += alpha·x[i]. Reads 8 B, writes 4 B.
KERNEL void axpy_f32(int n, float alpha, dptr<const float> x, dptr<float> y) {
  GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

// scale_f32: x[i] *= alpha. Reads 4 B, writes 4 B.
KERNEL void scale_f32(int n, float alpha, dptr<float> x) {
  GRID_STRIDE(i, n) x[i] *= alpha;
}

// add_bias_f32: x[r·cols + c] += bias[c] over n = rows·cols elements. Reads
// 4 B (the bias stays in cache), writes 4 B.
KERNEL void add_bias_f32(int rows, int cols, dptr<float> x, dptr<const float> bias) {
  long long n = (long long)rows * cols;
  GRID_STRIDE(i, n) x[i] += bias[i % cols];
}

// relu_fwd: y = max(x, 0). Reads 4 B, writes 4 B.
KERNEL void relu_fwd(int n, dptr<const float> x, dptr<float> y) {
  GRID_STRIDE(i, n) y[i] = fmaxf(x[i], 0.0f);
}

// relu_bwd: dx = y > 0 ? dy : 0. Reads 8 B, writes 4 B.
KERNEL void relu_bwd(int n, dptr<const float> y, dptr<const float> dy, dptr<float> dx) {
  GRID_STRIDE(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// tanh_fwd: y = tanh(x). Reads 4 B, writes 4 B.
KERNEL void tanh_fwd(int n, dptr<const float> x, dptr<float> y) {
  GRID_STRIDE(i, n) y[i] = tanhf(x[i]);
}

// tanh_bwd: dx = dy·(1 − y²). Reads 8 B, writes 4 B.
KERNEL void tanh_bwd(int n, dptr<const float> y, dptr<const float> dy, dptr<float> dx) {
  GRID_STRIDE(i, n) {
    float t = y[i];
    dx[i] = dy[i] * (1.0f - t * t);
  }
}

// dropout_f32: y = keep ? x/(1−p) : 0, keep drawn as host.DropoutKeep at
// counter offset + i (forward and backward alike: backward passes dy, dx).
// Reads 4 B, writes 4 B; ten Philox rounds of integer work per element.
KERNEL void dropout_f32(int n, float p, unsigned long long seed, unsigned long long offset, dptr<const float> x,
                        dptr<float> y) {
  float scale = 1.0f / (1.0f - p);
  GRID_STRIDE(i, n) {
    bool keep = dropout_uniform(seed, offset + (unsigned long long)i) >= p;
    y[i] = keep ? x[i] * scale : 0.0f;
  }
}
