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

// lstm_fwd_step: step s. Reads 4 pre-activations, c_{s−1} and h_{s−1} (24 B
// per thread); writes 4 activations, c_s and h_s (24 B).
KERNEL void lstm_fwd_step(int dirs, int steps, int batch, int hidden, int s, dptr<const int> lengths,
                          dptr<const float> pre, dptr<float> act, dptr<float> c, dptr<float> h, dptr<int> status) {
  int j = blockIdx.x * blockDim.x + threadIdx.x, b = blockIdx.y, d = blockIdx.z;
  if (j >= hidden) return;
  int len = checked_length(lengths, b, steps, status);
  long long row = ((long long)d * steps + s) * batch + b;     // this step's row
  long long prev = row - batch;                                // step s−1, same direction
  long long g4 = row * 4 * hidden + j;                         // gate i of (row, j)
  long long cs = row * hidden + j, cp = prev * hidden + j;
  float cprev = s > 0 ? c[cp] : 0.0f;
  float hprev = s > 0 ? h[cp] : 0.0f;
  if (s >= len) {  // the sequence has ended: carry the state (its gates are not needed)
    c[cs] = cprev;
    h[cs] = hprev;
    return;
  }
  float gi = sigmoidf(pre[g4]);
  float gf = sigmoidf(pre[g4 + hidden]);
  float gg = tanhf(pre[g4 + 2 * hidden]);
  float go = sigmoidf(pre[g4 + 3 * hidden]);
  float cn = gf * cprev + gi * gg;
  act[g4] = gi;
  act[g4 + hidden] = gf;
  act[g4 + 2 * hidden] = gg;
  act[g4 + 3 * hidden] = go;
  c[cs] = cn;
  h[cs] = go * tanhf(cn);
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
  long long prev = row - batch;
  long long g4 = row * 4 * hidden + j;
  long long cs = row * hidden + j, cp = prev * hidden + j;
  float dhs = dh[cs], dcs = dc[cs];
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
