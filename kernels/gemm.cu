// gemm.cu: a tiled SGEMM for the smallest products of the models, where a
// cuBLAS call costs more than its arithmetic: the attention's per-head
// products over 10 rows (m = n = 10, k = 64, 128 problems: 3.7–4.0 µs of
// device time on the H200 with cuBLAS, 2.3–2.7 here) and the like; a
// cuBLAS call also takes the host 4–15 µs to issue (a strided-batched one
// the most), a launch 4–5. A block
// computes a 32 × 32 tile of the output, and the next 32 rows of k are
// loaded into registers while the current ones are multiplied; each step
// of 32 still costs about 1.3 µs (a load's latency, two barriers), so the
// host sends only short k here (host/gpu.go, gemmRoute).
#include "common.cuh"

#define GEMM_TILE 32  // output tile edge and k rows a step
#define GEMM_ROWS 8   // blockDim.y: a thread computes GEMM_TILE / GEMM_ROWS outputs of a column
#define GEMM_LOADS (GEMM_TILE * GEMM_TILE / (GEMM_TILE * GEMM_ROWS))  // elements of each operand a thread loads a step

// gemm_tile_load reads the step's elements of op(X) that this thread
// stages: op(X)(r, q) for tile rows r in [r0, r0 + 32) and k columns q in
// [k0, k0 + 32), where op(X)(r, q) = X[q·ld + r] when trans, else X[r·ld + q]
// (so that consecutive threads read consecutive addresses either way), 0
// outside rows × depth. Element e of the thread is tile position (row, col)
// = (lane-major index) as gemm_tile_store places it.
__device__ __forceinline__ void gemm_tile_load(dptr<const float> x, int ld, bool trans, int r0, int rows, int k0,
                                               int depth, float (&v)[GEMM_LOADS]) {
  int t = threadIdx.y * GEMM_TILE + threadIdx.x;
  UNROLL for (int e = 0; e < GEMM_LOADS; e++) {
    int l = t + e * GEMM_TILE * GEMM_ROWS;
    int fast = l % GEMM_TILE, slow = l / GEMM_TILE;  // fast runs along memory
    int r = trans ? fast : slow, q = trans ? slow : fast;
    bool in = r0 + r < rows && k0 + q < depth;
    long long at = trans ? (long long)(k0 + q) * ld + r0 + r : (long long)(r0 + r) * ld + k0 + q;
    v[e] = in ? x[at] : 0.0f;
  }
}

// gemm_tile_store puts the loaded elements in s[q][r] (k-major, padded
// rows so that neither the stores nor the reads conflict).
template <class Tile>
__device__ __forceinline__ void gemm_tile_store(Tile &s, bool trans, const float (&v)[GEMM_LOADS]) {
  int t = threadIdx.y * GEMM_TILE + threadIdx.x;
  UNROLL for (int e = 0; e < GEMM_LOADS; e++) {
    int l = t + e * GEMM_TILE * GEMM_ROWS;
    int fast = l % GEMM_TILE, slow = l / GEMM_TILE;
    int r = trans ? fast : slow, q = trans ? slow : fast;
    s[q][r] = v[e];
  }
}

// gemm_tiled_f32: for problem z of the batch, the row-major
//   C = alpha·op(A)·op(B) + beta·C   (C not read when beta is 0)
// with op(A) m×k (A[i·lda + q], or A[q·lda + i] when transA) and op(B) k×n
// (B[q·ldb + j], or B[j·ldb + q] when transB), each problem's operands
// strideA, strideB, strideC elements after the one before: the semantics
// of host.Backend's GemmStridedBatched. Each output is summed over q in
// increasing order (deterministic). Launch: block (32, 8), grid
// (ceil(n/32), ceil(m/32), batch); a thread computes 4 outputs of one
// column. Traffic: A and B read once per tile row and column of C
// (4·k·(m·ceil(n/32) + n·ceil(m/32)) B a problem, mostly from L2), C
// written once (4·m·n B, and read when beta ≠ 0).
KERNEL void gemm_tiled_f32(int transA, int transB, int m, int n, int k, float alpha, dptr<const float> a, int lda,
                           unsigned long long strideA, dptr<const float> b, int ldb, unsigned long long strideB,
                           float beta, dptr<float> c, int ldc, unsigned long long strideC) {
  GRID_DEPENDENCY_SYNC();
  SHARED_MATRIX(float, as, GEMM_TILE, GEMM_TILE + 1);  // as[q][i]: op(A)(i0 + i, k0 + q)
  SHARED_MATRIX(float, bs, GEMM_TILE, GEMM_TILE + 1);  // bs[q][j]: op(B)(k0 + q, j0 + j)
  int i0 = blockIdx.y * GEMM_TILE, j0 = blockIdx.x * GEMM_TILE, z = blockIdx.z;
  auto az = a + (long long)(z * strideA);
  auto bz = b + (long long)(z * strideB);
  float va[GEMM_LOADS], vb[GEMM_LOADS], acc[GEMM_LOADS] = {};
  // op(B)(q, j) is Bᵀ's (j, q): stage B as the tile of rows j, depth q.
  gemm_tile_load(az, lda, transA, i0, m, 0, k, va);
  gemm_tile_load(bz, ldb, !transB, j0, n, 0, k, vb);
  for (int k0 = 0; k0 < k; k0 += GEMM_TILE) {
    gemm_tile_store(as, transA, va);
    gemm_tile_store(bs, !transB, vb);
    __syncthreads();  // the step's tiles are in shared memory
    if (k0 + GEMM_TILE < k) {  // the next step's, in flight during this one
      gemm_tile_load(az, lda, transA, i0, m, k0 + GEMM_TILE, k, va);
      gemm_tile_load(bz, ldb, !transB, j0, n, k0 + GEMM_TILE, k, vb);
    }
    int steps = min(GEMM_TILE, k - k0);
    for (int q = 0; q < steps; q++) {
      float bv = bs[q][threadIdx.x];
      UNROLL for (int e = 0; e < GEMM_LOADS; e++) acc[e] += as[q][threadIdx.y + e * GEMM_ROWS] * bv;
    }
    __syncthreads();  // every thread is done with the tiles
  }
  int j = j0 + threadIdx.x;
  if (j >= n) return;
  auto cz = c + (long long)(z * strideC);
  UNROLL for (int e = 0; e < GEMM_LOADS; e++) {
    int i = i0 + threadIdx.y + e * GEMM_ROWS;
    if (i >= m) continue;
    long long at = (long long)i * ldc + j;
    float v = alpha * acc[e];
    cz[at] = beta != 0.0f ? v + beta * cz[at] : v;
  }
}
