// lstm.cu: one fused LSTM time step, forward and backward, for all the
// directions of a (Bi)LSTM in one launch.
//
// Buffers are time-major and direction-major: pre, act, dpre are [dirs,
// steps, batch, 4·hidden] (gates in PyTorch's order i, f, g, o), and c, h,
// dh, dc are [dirs, steps, batch, hidden]. The input projection x·W_ihᵀ and
// the recurrent h·W_hhᵀ are GEMMs done by the caller; these kernels do
// everything elementwise around them: gates, cell and hidden update, length
// mask and the activations saved for backward.
//
// Launch: one thread per (d, b, j): block x over j (the host uses
// min(128, hidden rounded up to 32) threads), grid (ceil(hidden/block),
// batch, dirs). The first version was 1-D over dirs·batch·hidden and split
// its 64-bit thread index with three divisions per thread; at B = 512, H =
// 512 it ran at 53% (forward) and 63% (backward) of the H200's copy
// bandwidth.
#include "common.cuh"

// lstm_cell_forward is the gates and state update of unit j of one row
// (row = (d·steps + s)·batch + b of the [dirs, steps, batch, ·] buffers),
// from its four pre-activations z (the recurrent product included): it
// writes the activated gates and c_s, h_s, or, for a row that has ended (s ≥
// len), carries c and h from s−1.
__device__ __forceinline__ void lstm_cell_forward(int s, int len, int batch, int hidden, long long row, int j, float zi,
                                                  float zf, float zg, float zo, dptr<float> act, dptr<float> c,
                                                  dptr<float> h) {
  long long g4 = row * 4 * hidden + j;                                  // gate i of (row, j)
  long long cs = row * hidden + j, cp = (row - batch) * hidden + j;   // step s, step s−1
  float cprev = s > 0 ? c[cp] : 0.0f;
  float hprev = s > 0 ? h[cp] : 0.0f;
  if (s >= len) {  // the sequence has ended: carry the state (its gates are not needed)
    c[cs] = cprev;
    h[cs] = hprev;
    return;
  }
  float gi = sigmoidf(zi), gf = sigmoidf(zf), gg = tanhf(zg), go = sigmoidf(zo);
  float cn = gf * cprev + gi * gg;
  act[g4] = gi;
  act[g4 + hidden] = gf;
  act[g4 + 2 * hidden] = gg;
  act[g4 + 3 * hidden] = go;
  c[cs] = cn;
  h[cs] = go * tanhf(cn);
}

// lstm_cell_backward is the gate backward of unit j of one row given dh_s
// (whole): it writes the four gate gradients and dc_{s−1}; for a row that had
// ended it writes zero gate gradients and carries dc and dh to s−1.
__device__ __forceinline__ void lstm_cell_backward(int s, int len, int batch, int hidden, long long row, int j, float dhs,
                                                   dptr<const float> act, dptr<const float> c, dptr<float> dh,
                                                   dptr<float> dc, dptr<float> dpre) {
  long long g4 = row * 4 * hidden + j;
  long long cs = row * hidden + j, cp = (row - batch) * hidden + j;
  float dcs = dc[cs];
  if (s >= len) {  // the state was carried: so is its gradient
    dpre[g4] = 0.0f;
    dpre[g4 + hidden] = 0.0f;
    dpre[g4 + 2 * hidden] = 0.0f;
    dpre[g4 + 3 * hidden] = 0.0f;
    if (s > 0) {
      dc[cp] = dcs;
      dh[cp] += dhs;
    }
    return;
  }
  float gi = act[g4], gf = act[g4 + hidden], gg = act[g4 + 2 * hidden], go = act[g4 + 3 * hidden];
  float cprev = s > 0 ? c[cp] : 0.0f;
  float tc = tanhf(c[cs]);
  float dct = dcs + dhs * go * (1.0f - tc * tc);
  dpre[g4] = dct * gg * gi * (1.0f - gi);
  dpre[g4 + hidden] = dct * cprev * gf * (1.0f - gf);
  dpre[g4 + 2 * hidden] = dct * gi * (1.0f - gg * gg);
  dpre[g4 + 3 * hidden] = dhs * tc * go * (1.0f - go);
  if (s > 0) dc[cp] = dct * gf;
}

// lstm_fwd_step: step s. Reads 4 pre-activations, c_{s−1} and h_{s−1} (24 B
// per thread); writes 4 activations, c_s and h_s (24 B).
KERNEL void lstm_fwd_step(int dirs, int steps, int batch, int hidden, int s, dptr<const int> lengths,
                          dptr<const float> pre, dptr<float> act, dptr<float> c, dptr<float> h, dptr<int> status) {
  int j = blockIdx.x * blockDim.x + threadIdx.x, b = blockIdx.y, d = blockIdx.z;
  if (j >= hidden) return;
  int len = checked_length(lengths, b, steps, status);
  long long row = ((long long)d * steps + s) * batch + b;
  long long g4 = row * 4 * hidden + j;
  lstm_cell_forward(s, len, batch, hidden, row, j, pre[g4], pre[g4 + hidden], pre[g4 + 2 * hidden], pre[g4 + 3 * hidden],
                    act, c, h);
}

// lstm_bwd_step: step s of backpropagation through time. dh at s is the
// whole gradient of h_s, dc at s the gradient of c_s carried from s+1. Writes
// dpre at s, dc at s−1 and, for rows that had ended, adds dh_s into dh_{s−1}.
// Reads 4 activations, c_s, c_{s−1}, dh_s, dc_s (32 B); writes 4 gate
// gradients and dc_{s−1} (20 B).
KERNEL void lstm_bwd_step(int dirs, int steps, int batch, int hidden, int s, dptr<const int> lengths,
                          dptr<const float> act, dptr<const float> c, dptr<float> dh, dptr<float> dc,
                          dptr<float> dpre, dptr<int> status) {
  int j = blockIdx.x * blockDim.x + threadIdx.x, b = blockIdx.y, d = blockIdx.z;
  if (j >= hidden) return;
  int len = checked_length(lengths, b, steps, status);
  long long row = ((long long)d * steps + s) * batch + b;
  lstm_cell_backward(s, len, batch, hidden, row, j, dh[row * hidden + j], act, c, dh, dc, dpre);
}

// The whole-step kernels: the recurrent product and the gates of a time step
// in one launch, instead of a cuBLAS GEMM and a gate kernel (on the H200 the
// GEMM alone took 10.7 µs at B = 32, H = 64 for 2 MFLOP). A block takes up
// to LSTM_STEP_ROWS rows b of one direction d and blockDim.x units j (the
// host uses min(128, hidden rounded up to 32)): grid (ceil(hidden/block),
// ceil(batch/rows), dirs). The block stages the rows' recurrent input in
// shared memory; each thread walks the weights of its unit once for all the
// block's rows, reading them coalesced (consecutive j are consecutive
// addresses), and keeps LSTM_STEP_ROWS·4 accumulators in registers.
#define LSTM_STEP_ROWS 8
#define LSTM_STEP_FWD_SHARED 4096  // floats: rows·hidden of h_{s−1}
#define LSTM_STEP_BWD_SHARED 8192  // floats: rows·4·hidden of dpre_{s+1}

// lstm_step_fwd: for s > 0, pre_s[b, g·H+j] += Σ_m h_{s−1}[b, m]·whhT[m,
// g·H+j] for every row (whhT = W_hhᵀ [H, 4H], direction d at d·ldDir), then
// the gates of lstm_fwd_step. rows·hidden ≤ LSTM_STEP_FWD_SHARED. Reads h_{s−1}
// once per block and W_hhᵀ once per block (16·H² B, from L2 after the
// first), and per row and unit what lstm_fwd_step reads and writes plus the
// 4 updated pre-activations (16 B).
KERNEL void lstm_step_fwd(int dirs, int steps, int batch, int hidden, int s, int rows, dptr<const int> lengths,
                          dptr<const float> whhT, int ldDir, dptr<float> pre, dptr<float> act, dptr<float> c,
                          dptr<float> h, dptr<int> status) {
  __shared__ float hs[LSTM_STEP_FWD_SHARED];
  int j = blockIdx.x * blockDim.x + threadIdx.x, b0 = blockIdx.y * rows, d = blockIdx.z;
  int nb = min(rows, batch - b0);
  if (s > 0) {
    auto hp = h + (((long long)d * steps + s - 1) * batch + b0) * hidden;  // nb consecutive rows
    for (int i = threadIdx.x; i < nb * hidden; i += blockDim.x) hs[i] = hp[i];
  }
  __syncthreads();
  if (j >= hidden) return;
  float acc[LSTM_STEP_ROWS][4];
  for (int r = 0; r < LSTM_STEP_ROWS; r++)
    for (int g = 0; g < 4; g++) acc[r][g] = 0.0f;
  if (s > 0) {
    auto w = whhT + (long long)d * ldDir + j;
    for (int m = 0; m < hidden; m++) {
      auto wm = w + (long long)m * 4 * hidden;
      float w0 = wm[0], w1 = wm[hidden], w2 = wm[2 * hidden], w3 = wm[3 * hidden];
      for (int r = 0; r < LSTM_STEP_ROWS; r++) {
        if (r < nb) {
          float x = hs[r * hidden + m];
          acc[r][0] += x * w0;
          acc[r][1] += x * w1;
          acc[r][2] += x * w2;
          acc[r][3] += x * w3;
        }
      }
    }
  }
  for (int r = 0; r < LSTM_STEP_ROWS; r++) {
    if (r >= nb) break;
    int b = b0 + r;
    int len = checked_length(lengths, b, steps, status);
    long long row = ((long long)d * steps + s) * batch + b;
    long long g4 = row * 4 * hidden + j;
    float zi = pre[g4] + acc[r][0], zf = pre[g4 + hidden] + acc[r][1];
    float zg = pre[g4 + 2 * hidden] + acc[r][2], zo = pre[g4 + 3 * hidden] + acc[r][3];
    if (s > 0) {
      pre[g4] = zi;
      pre[g4 + hidden] = zf;
      pre[g4 + 2 * hidden] = zg;
      pre[g4 + 3 * hidden] = zo;
    }
    lstm_cell_forward(s, len, batch, hidden, row, j, zi, zf, zg, zo, act, c, h);
  }
}

// lstm_step_bwd: for s+1 < steps, dh_s[b, j] += Σ_k dpre_{s+1}[b, k]·whh[k,
// j] for every row (whh = W_hh [4H, H], direction d at d·ldDir), then the
// gate backward of lstm_bwd_step. rows·4·hidden ≤ LSTM_STEP_BWD_SHARED.
// Reads dpre_{s+1} once per block and W_hh once per block (16·H² B, from L2
// after the first), and per row and unit what lstm_bwd_step reads and writes
// plus the updated dh_s (4 B).
KERNEL void lstm_step_bwd(int dirs, int steps, int batch, int hidden, int s, int rows, dptr<const int> lengths,
                          dptr<const float> whh, int ldDir, dptr<const float> act, dptr<const float> c,
                          dptr<float> dh, dptr<float> dc, dptr<float> dpre, dptr<int> status) {
  __shared__ float ds[LSTM_STEP_BWD_SHARED];
  int j = blockIdx.x * blockDim.x + threadIdx.x, b0 = blockIdx.y * rows, d = blockIdx.z;
  int nb = min(rows, batch - b0);
  int G = 4 * hidden;
  bool next = s + 1 < steps;
  if (next) {
    auto dp = dpre + (((long long)d * steps + s + 1) * batch + b0) * G;  // nb consecutive rows
    for (int i = threadIdx.x; i < nb * G; i += blockDim.x) ds[i] = dp[i];
  }
  __syncthreads();
  if (j >= hidden) return;
  float acc[LSTM_STEP_ROWS];
  for (int r = 0; r < LSTM_STEP_ROWS; r++) acc[r] = 0.0f;
  if (next) {
    auto w = whh + (long long)d * ldDir + j;
    for (int k = 0; k < G; k++) {
      float wk = w[(long long)k * hidden];
      for (int r = 0; r < LSTM_STEP_ROWS; r++)
        if (r < nb) acc[r] += ds[r * G + k] * wk;
    }
  }
  for (int r = 0; r < LSTM_STEP_ROWS; r++) {
    if (r >= nb) break;
    int b = b0 + r;
    int len = checked_length(lengths, b, steps, status);
    long long row = ((long long)d * steps + s) * batch + b;
    long long cs = row * hidden + j;
    float dhs = dh[cs] + acc[r];
    if (next) dh[cs] = dhs;
    lstm_cell_backward(s, len, batch, hidden, row, j, dhs, act, c, dh, dc, dpre);
  }
}
