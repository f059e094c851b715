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
  if (s >= len) {  // the sequence has ended: carry the state (its gates are not needed)
    c[cs] = cprev;
    h[cs] = s > 0 ? h[cp] : 0.0f;  // a running row does not read h_{s−1}: the caller's GEMM did
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

// lstm_zero_gates writes zero gate gradients for unit j of an ended row (g4
// = row·4·hidden + j): its state was carried, so its gates had no effect.
__device__ __forceinline__ void lstm_zero_gates(dptr<float> dpre, long long g4, int hidden) {
  dpre[g4] = 0.0f;
  dpre[g4 + hidden] = 0.0f;
  dpre[g4 + 2 * hidden] = 0.0f;
  dpre[g4 + 3 * hidden] = 0.0f;
}

// lstm_cell_gradients is the gate backward of unit j of a running row (s <
// its length) given the whole gradients dhs of h_s and dcs of c_s: it writes
// the four gate gradients and returns the gradient of c_{s−1}.
__device__ __forceinline__ float lstm_cell_gradients(int s, int batch, int hidden, long long row, int j, float dhs,
                                                     float dcs, dptr<const float> act, dptr<const float> c,
                                                     dptr<float> dpre) {
  long long g4 = row * 4 * hidden + j;
  long long cs = row * hidden + j, cp = (row - batch) * hidden + j;
  float gi = act[g4], gf = act[g4 + hidden], gg = act[g4 + 2 * hidden], go = act[g4 + 3 * hidden];
  float cprev = s > 0 ? c[cp] : 0.0f;
  float tc = tanhf(c[cs]);
  float dct = dcs + dhs * go * (1.0f - tc * tc);
  dpre[g4] = dct * gg * gi * (1.0f - gi);
  dpre[g4 + hidden] = dct * cprev * gf * (1.0f - gf);
  dpre[g4 + 2 * hidden] = dct * gi * (1.0f - gg * gg);
  dpre[g4 + 3 * hidden] = dhs * tc * go * (1.0f - go);
  return dct * gf;
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
  long long g4 = row * 4 * hidden + j;
  long long cs = row * hidden + j, cp = (row - batch) * hidden + j;
  float dhs = dh[cs], dcs = dc[cs];
  if (s >= len) {  // the state was carried: so is its gradient
    lstm_zero_gates(dpre, g4, hidden);
    if (s > 0) {
      dc[cp] = dcs;
      dh[cp] += dhs;
    }
    return;
  }
  float dcp = lstm_cell_gradients(s, batch, hidden, row, j, dhs, dcs, act, c, dpre);
  if (s > 0) dc[cp] = dcp;
}

// The whole-sequence kernels: every time step of an LSTM pass, the
// recurrent product and the gates, in one launch, instead of a cuBLAS GEMM
// and a gate kernel per step (on the H200 the GEMM alone took 10.7 µs at B =
// 32, H = 64 for 2 MFLOP, the gates 4–6 µs). The recurrence of a row needs
// only that row's own earlier state, so a block that owns every unit of its
// rows can run all the steps itself, with a barrier between steps: grid
// (ceil(batch/rows), dirs), block = hidden rounded up to 32 threads (thread
// j is unit j), up to LSTM_SEQ_ROWS rows per block (the host picks fewer
// when that leaves the GPU too few blocks). Each step stages the rows'
// recurrent input in shared memory; each thread walks its unit's weights
// once for all the block's rows, reading them coalesced (consecutive units
// are consecutive addresses), with LSTM_SEQ_ROWS·4 accumulators in
// registers. The weights (16·H² B per direction) come from L2 after the
// first step.
#define LSTM_SEQ_ROWS 8
#define LSTM_SEQ_FWD_SHARED 4096  // floats: rows·hidden of h_{s−1}
#define LSTM_SEQ_BWD_SHARED 8192  // floats: rows·4·hidden of dpre_{s+1}

// lstm_seq_fwd: for s = 0, 1, …, steps−1: z = pre_s + h_{s−1}·W_hhᵀ (every
// row; h_{−1} = 0), then the cell of lstm_fwd_step from z. whhT is W_hhᵀ
// [H, 4H] of direction d at d·ldDir. pre is read, not written. rows·hidden ≤
// LSTM_SEQ_FWD_SHARED. Per row, unit and step: reads 4 pre-activations, c and
// h of the step before (h through shared memory) and writes 4 activations,
// c and h (48 B), as lstm_fwd_step.
KERNEL void lstm_seq_fwd(int dirs, int steps, int batch, int hidden, int rows, dptr<const int> lengths,
                         dptr<const float> whhT, int ldDir, dptr<const float> pre, dptr<float> act, dptr<float> c,
                         dptr<float> h, dptr<int> status) {
  __shared__ float hs[LSTM_SEQ_FWD_SHARED];
  int j = threadIdx.x, b0 = blockIdx.x * rows, d = blockIdx.y;
  int nb = min(rows, batch - b0);
  auto w = whhT + (long long)d * ldDir + j;
  for (int s = 0; s < steps; s++) {
    if (s > 0) {
      auto hp = h + (((long long)d * steps + s - 1) * batch + b0) * hidden;  // nb consecutive rows
      for (int i = threadIdx.x; i < nb * hidden; i += blockDim.x) hs[i] = hp[i];
    }
    __syncthreads();  // h_{s−1}, written by this block, is staged
    if (j < hidden) {
      float acc[LSTM_SEQ_ROWS][4];
      for (int r = 0; r < LSTM_SEQ_ROWS; r++)
        for (int g = 0; g < 4; g++) acc[r][g] = 0.0f;
      if (s > 0) {
        for (int m = 0; m < hidden; m++) {
          auto wm = w + (long long)m * 4 * hidden;
          float w0 = wm[0], w1 = wm[hidden], w2 = wm[2 * hidden], w3 = wm[3 * hidden];
          for (int r = 0; r < LSTM_SEQ_ROWS; r++) {
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
      for (int r = 0; r < LSTM_SEQ_ROWS; r++) {
        if (r >= nb) break;
        int len = checked_length(lengths, b0 + r, steps, status);
        long long row = ((long long)d * steps + s) * batch + b0 + r;
        long long g4 = row * 4 * hidden + j;
        lstm_cell_forward(s, len, batch, hidden, row, j, pre[g4] + acc[r][0], pre[g4 + hidden] + acc[r][1],
                          pre[g4 + 2 * hidden] + acc[r][2], pre[g4 + 3 * hidden] + acc[r][3], act, c, h);
      }
    }
    __syncthreads();  // every h_s is written before the next step stages it
  }
}

// lstm_seq_bwd: for s = steps−1, …, 0: dh_s = dh_s (the output's gradient)
// + dpre_{s+1}·W_hh (every row; none at the last step) + what an ended row
// carries from s+1, then the gate backward of lstm_bwd_step. The gradient
// of c is carried in registers from dc at the last step (its initial
// value); dh and dc are not written. whh is W_hh [4H, H] of direction d at
// d·ldDir. rows·4·hidden ≤ LSTM_SEQ_BWD_SHARED. Per row, unit and step:
// reads 4 activations, c at s and s−1, dh_s and dpre_{s+1} (through shared
// memory) and writes 4 gate gradients (44 B).
KERNEL void lstm_seq_bwd(int dirs, int steps, int batch, int hidden, int rows, dptr<const int> lengths,
                         dptr<const float> whh, int ldDir, dptr<const float> act, dptr<const float> c,
                         dptr<const float> dh, dptr<const float> dc, dptr<float> dpre, dptr<int> status) {
  __shared__ float ds[LSTM_SEQ_BWD_SHARED];
  int j = threadIdx.x, b0 = blockIdx.x * rows, d = blockIdx.y;
  int nb = min(rows, batch - b0);
  int G = 4 * hidden;
  auto w = whh + (long long)d * ldDir + j;
  float dcr[LSTM_SEQ_ROWS], carry[LSTM_SEQ_ROWS];  // per row: gradient of c_s, and of h_s carried by an ended row
  for (int r = 0; r < LSTM_SEQ_ROWS; r++) {
    long long last = ((long long)d * steps + steps - 1) * batch + b0 + r;
    dcr[r] = dc && r < nb && j < hidden ? dc[last * hidden + j] : 0.0f;
    carry[r] = 0.0f;
  }
  for (int s = steps - 1; s >= 0; s--) {
    bool next = s + 1 < steps;
    if (next) {
      auto dp = dpre + (((long long)d * steps + s + 1) * batch + b0) * G;  // nb consecutive rows
      for (int i = threadIdx.x; i < nb * G; i += blockDim.x) ds[i] = dp[i];
    }
    __syncthreads();  // dpre_{s+1}, written by this block, is staged
    if (j < hidden) {
      float acc[LSTM_SEQ_ROWS];
      for (int r = 0; r < LSTM_SEQ_ROWS; r++) acc[r] = 0.0f;
      if (next) {
        for (int k = 0; k < G; k++) {
          float wk = w[(long long)k * hidden];
          for (int r = 0; r < LSTM_SEQ_ROWS; r++)
            if (r < nb) acc[r] += ds[r * G + k] * wk;
        }
      }
      for (int r = 0; r < LSTM_SEQ_ROWS; r++) {
        if (r >= nb) break;
        int len = checked_length(lengths, b0 + r, steps, status);
        long long row = ((long long)d * steps + s) * batch + b0 + r;
        long long g4 = row * 4 * hidden + j;
        float dhs = dh[row * hidden + j] + carry[r] + acc[r];
        if (s >= len) {  // the state was carried: so is its gradient
          lstm_zero_gates(dpre, g4, hidden);
          carry[r] = dhs;
          continue;
        }
        dcr[r] = lstm_cell_gradients(s, batch, hidden, row, j, dhs, dcr[r], act, c, dpre);
        carry[r] = 0.0f;
      }
    }
    __syncthreads();  // every dpre_s is written before the next step stages it
  }
}
