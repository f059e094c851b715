// elementwise.cu: fill, copies, axpy/scale, bias, activations and dropout.
//
// Unless said otherwise a kernel here is 1-D and grid-stride: any block size
// (the host uses 256) and any grid, each thread handling elements i, i +
// gridDim·blockDim, …; those built on map_strided take them four at a time
// (the host gives them ceil(n/1024) blocks, capped, so a thread's four
// elements are one round). They are memory bound: the traffic given is per
// element.
#include "common.cuh"
#include "philox.cuh"

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// fill_f32: x[i] = v. Writes 4 B.
KERNEL void fill_f32(int n, float v, dptr<float> x) {
  GRID_DEPENDENCY_SYNC();
  GRID_STRIDE(i, n) x[i] = v;
}

// copy2d_f32: dst[r·ldDst + c] (+)= src[r·ldSrc + c] for a rows×cols block.
// 2-D grid-stride: x over columns, y over rows, each thread map_strided
// over its rows (block 32×8, grid ceil(cols/32) × min(ceil(rows/32), 4096):
// four rows a thread, in rounds of four beyond 131,072 rows). Reads 4 B (8 B accumulating), writes 4 B.
KERNEL void copy2d_f32(int rows, int cols, dptr<const float> src, int ldSrc, dptr<float> dst, int ldDst,
                       int accumulate) {
  GRID_DEPENDENCY_SYNC();
  // c is 64-bit: its stride (up to 65,535 blocks of 32) would carry an int
  // column near 2^31 past the sign, still below cols.
  for (long long c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += (long long)gridDim.x * blockDim.x) {
    map_strided(
        blockIdx.y * blockDim.y + threadIdx.y, rows, gridDim.y * blockDim.y,
        [&](long long r) { return f32x2{src[r * ldSrc + c], accumulate ? dst[r * ldDst + c] : 0.0f}; },
        [&](long long r, f32x2 v) { dst[r * ldDst + c] = accumulate ? v.b + v.a : v.a; });
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
  GRID_DEPENDENCY_SYNC();
  SHARED_MATRIX(float, tile, 32, 33);
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
  GRID_DEPENDENCY_SYNC();
  map_grid_stride(
      n, [&](long long i) { return f32x2{x[i], y[i]}; }, [&](long long i, f32x2 v) { y[i] = v.b + alpha * v.a; });
}

// scale_f32: x[i] *= alpha. Reads 4 B, writes 4 B.
KERNEL void scale_f32(int n, float alpha, dptr<float> x) {
  GRID_DEPENDENCY_SYNC();
  map_grid_stride(n, [&](long long i) { return x[i]; }, [&](long long i, float v) { x[i] = v * alpha; });
}

// add_bias_f32: x[r·cols + c] += bias[c] over n = rows·cols elements. Reads
// 4 B (the bias stays in cache), writes 4 B. A thread divides once for the
// column of its first element and then steps it by s mod cols (s the
// grid's thread count), instead of a 64-bit division per element.
KERNEL void add_bias_f32(int rows, int cols, dptr<float> x, dptr<const float> bias) {
  GRID_DEPENDENCY_SYNC();
  long long n = (long long)rows * cols;
  long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  int c = (int)(first % cols), step = (int)(((long long)gridDim.x * blockDim.x) % cols);
  map_grid_stride(
      n,
      [&](long long i) {
        float v = x[i] + bias[c];
        c += step;
        if (c >= cols) c -= cols;
        return v;
      },
      [&](long long i, float v) { x[i] = v; });
}

// relu_fwd: y = max(x, 0), a NaN staying NaN as in torch.relu (fmaxf would
// make it 0). Reads 4 B, writes 4 B.
KERNEL void relu_fwd(int n, dptr<const float> x, dptr<float> y) {
  GRID_DEPENDENCY_SYNC();
  map_grid_stride(n, [&](long long i) { return x[i]; }, [&](long long i, float v) { y[i] = v <= 0.0f ? 0.0f : v; });
}

// relu_bwd: dx = y > 0 ? dy : 0. Reads 8 B, writes 4 B.
KERNEL void relu_bwd(int n, dptr<const float> y, dptr<const float> dy, dptr<float> dx) {
  GRID_DEPENDENCY_SYNC();
  map_grid_stride(
      n, [&](long long i) { return f32x2{y[i], dy[i]}; },
      [&](long long i, f32x2 v) { dx[i] = v.a > 0.0f ? v.b : 0.0f; });
}

// tanh_fwd: y = tanh(x). Reads 4 B, writes 4 B.
KERNEL void tanh_fwd(int n, dptr<const float> x, dptr<float> y) {
  GRID_DEPENDENCY_SYNC();
  map_grid_stride(n, [&](long long i) { return x[i]; }, [&](long long i, float v) { y[i] = tanhf(v); });
}

// tanh_bwd: dx = dy·(1 − y²). Reads 8 B, writes 4 B.
KERNEL void tanh_bwd(int n, dptr<const float> y, dptr<const float> dy, dptr<float> dx) {
  GRID_DEPENDENCY_SYNC();
  map_grid_stride(
      n, [&](long long i) { return f32x2{y[i], dy[i]}; },
      [&](long long i, f32x2 v) { dx[i] = v.b * (1.0f - v.a * v.a); });
}

// dropout_f32: y = keep ? x/(1−p) : 0, keep drawn as host.DropoutKeep at
// counter offset + i (forward and backward alike: backward passes dy, dx).
// Reads 4 B, writes 4 B; ten Philox rounds of integer work per element.
KERNEL void dropout_f32(int n, float p, unsigned long long seed, unsigned long long offset, dptr<const float> x,
                        dptr<float> y) {
  GRID_DEPENDENCY_SYNC();
  float scale = 1.0f / (1.0f - p);
  map_grid_stride(
      n, [&](long long i) { return x[i]; },
      [&](long long i, float v) {
        bool keep = dropout_uniform(seed, offset + (unsigned long long)i) >= p;
        y[i] = keep ? v * scale : 0.0f;
      });
}
