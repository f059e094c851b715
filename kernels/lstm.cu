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
// Launch: block x over the hidden units (the host uses min(128, hidden
// rounded up to 32) threads), each thread taking units of them (up to
// LSTM_STEP_UNITS), grid (ceil(hidden/(block·units)), batch, dirs). The
// first version was 1-D over dirs·batch·hidden and split its 64-bit thread
// index with three divisions per thread; at B = 512, H = 512 it ran at 53%
// (forward) and 63% (backward) of the H200's copy bandwidth. Each thread
// issues all its loads before it looks at the row's length: the kernels
// before waited for the length, then for the gradients (backward), then
// for the gates, one memory latency each.
#include "common.cuh"

// LstmCell is one unit's activated gates and new state.
struct LstmCell {
  float i, f, g, o, c, h;
};

// lstm_cell computes a unit's gates and state from its four
// pre-activations z (the recurrent product included) and c_{s−1}.
__device__ __forceinline__ LstmCell lstm_cell(float zi, float zf, float zg, float zo, float cprev) {
  LstmCell u;
  u.i = sigmoidf(zi);
  u.f = sigmoidf(zf);
  u.g = tanhf(zg);
  u.o = sigmoidf(zo);
  u.c = u.f * cprev + u.i * u.g;
  u.h = u.o * tanhf(u.c);
  return u;
}

// lstm_store_gates writes four values at g4, g4 + hidden, … (gate i of a
// unit, then f, g, o).
__device__ __forceinline__ void lstm_store_gates(dptr<float> dst, long long g4, int hidden, float i, float f, float g,
                                                 float o) {
  dst[g4] = i;
  dst[g4 + hidden] = f;
  dst[g4 + 2 * hidden] = g;
  dst[g4 + 3 * hidden] = o;
}

// LstmGrad is one running unit's gate gradients and the gradient of c_{s−1}.
struct LstmGrad {
  float i, f, g, o, cprev;
};

// lstm_cell_backward is the gate backward of a running unit from its saved
// gates, c_s, c_{s−1} and the whole gradients dhs of h_s and dcs of c_s.
__device__ __forceinline__ LstmGrad lstm_cell_backward(float gi, float gf, float gg, float go, float cs, float cprev,
                                                       float dhs, float dcs) {
  float tc = tanhf(cs);
  float dct = dcs + dhs * go * (1.0f - tc * tc);
  LstmGrad d;
  d.i = dct * gg * gi * (1.0f - gi);
  d.f = dct * cprev * gf * (1.0f - gf);
  d.g = dct * gi * (1.0f - gg * gg);
  d.o = dhs * tc * go * (1.0f - go);
  d.cprev = dct * gf;
  return d;
}

// LSTM_STEP_UNITS is the most hidden units a thread of the step kernels
// takes: units j0, j0 + blockDim.x, … (each coalesced across the block),
// all their loads issued before any is used. At B = 512, H = 512 the host
// gives each thread 4 (grid (H/512, B, dirs) of 128 threads: 131,072
// threads, one wave on an H200, where a thread per unit made two), at H ≤
// 128 one.
#define LSTM_STEP_UNITS 4

// lstm_fwd_step: step s, units units per thread. Reads 4 pre-activations
// and c_{s−1} (and h_{s−1} for a row that has ended, to carry it: a running
// row's h_{s−1} went into the caller's GEMM); writes 4 activations, c_s and
// h_s. 44 B per running unit.
KERNEL void lstm_fwd_step(int dirs, int steps, int batch, int hidden, int s, int units, dptr<const int> lengths,
                          dptr<const float> pre, dptr<float> act, dptr<float> c, dptr<float> h, dptr<int> status) {
  int j0 = blockIdx.x * blockDim.x * units + threadIdx.x, b = blockIdx.y, d = blockIdx.z;
  long long row = ((long long)d * steps + s) * batch + b;
  float z[LSTM_STEP_UNITS][4], cprev[LSTM_STEP_UNITS];
  for (int u = 0; u < LSTM_STEP_UNITS; u++) {
    int j = j0 + u * blockDim.x;
    bool on = u < units && j < hidden;
    long long g4 = row * 4 * hidden + j;
    for (int g = 0; g < 4; g++) z[u][g] = on ? pre[g4 + g * hidden] : 0.0f;
    cprev[u] = on && s > 0 ? c[(row - batch) * hidden + j] : 0.0f;
  }
  int len = checked_length(lengths, b, steps, status);
  for (int u = 0; u < LSTM_STEP_UNITS; u++) {  // a constant bound: z, a… stay in registers
    int j = j0 + u * blockDim.x;
    if (u >= units || j >= hidden) break;
    long long cs = row * hidden + j, cp = (row - batch) * hidden + j;  // step s, step s−1
    if (s >= len) {  // the sequence has ended: carry the state (its gates are not needed)
      c[cs] = cprev[u];
      h[cs] = s > 0 ? h[cp] : 0.0f;
      continue;
    }
    LstmCell cell = lstm_cell(z[u][0], z[u][1], z[u][2], z[u][3], cprev[u]);
    lstm_store_gates(act, row * 4 * hidden + j, hidden, cell.i, cell.f, cell.g, cell.o);
    c[cs] = cell.c;
    h[cs] = cell.h;
  }
}

// lstm_bwd_step: step s of backpropagation through time, units units per
// thread. dh at s is the whole gradient of h_s, dc at s the gradient of c_s
// carried from s+1. Writes dpre at s, dc at s−1 and, for rows that had
// ended, adds dh_s into dh_{s−1} and zeroes dpre. Reads 4 activations,
// c_s, c_{s−1}, dh_s, dc_s (32 B, all of them for every row, so that a
// thread waits for memory once); writes 4 gate gradients and dc_{s−1} (20
// B).
KERNEL void lstm_bwd_step(int dirs, int steps, int batch, int hidden, int s, int units, dptr<const int> lengths,
                          dptr<const float> act, dptr<const float> c, dptr<float> dh, dptr<float> dc,
                          dptr<float> dpre, dptr<int> status) {
  int j0 = blockIdx.x * blockDim.x * units + threadIdx.x, b = blockIdx.y, d = blockIdx.z;
  long long row = ((long long)d * steps + s) * batch + b;
  float a[LSTM_STEP_UNITS][4], dhs[LSTM_STEP_UNITS], dcs[LSTM_STEP_UNITS], ct[LSTM_STEP_UNITS],
      cprev[LSTM_STEP_UNITS];
  for (int u = 0; u < LSTM_STEP_UNITS; u++) {
    int j = j0 + u * blockDim.x;
    bool on = u < units && j < hidden;
    long long g4 = row * 4 * hidden + j, cs = row * hidden + j;
    for (int g = 0; g < 4; g++) a[u][g] = on ? act[g4 + g * hidden] : 0.0f;
    dhs[u] = on ? dh[cs] : 0.0f;
    dcs[u] = on ? dc[cs] : 0.0f;
    ct[u] = on ? c[cs] : 0.0f;
    cprev[u] = on && s > 0 ? c[cs - (long long)batch * hidden] : 0.0f;
  }
  int len = checked_length(lengths, b, steps, status);
  for (int u = 0; u < LSTM_STEP_UNITS; u++) {  // a constant bound: z, a… stay in registers
    int j = j0 + u * blockDim.x;
    if (u >= units || j >= hidden) break;
    long long g4 = row * 4 * hidden + j;
    long long cp = (row - batch) * hidden + j;
    if (s >= len) {  // the state was carried: so is its gradient
      lstm_store_gates(dpre, g4, hidden, 0.0f, 0.0f, 0.0f, 0.0f);
      if (s > 0) {
        dc[cp] = dcs[u];
        dh[cp] += dhs[u];
      }
      continue;
    }
    LstmGrad g = lstm_cell_backward(a[u][0], a[u][1], a[u][2], a[u][3], ct[u], cprev[u], dhs[u], dcs[u]);
    lstm_store_gates(dpre, g4, hidden, g.i, g.f, g.g, g.o);
    if (s > 0) dc[cp] = g.cprev;
  }
}

// The whole-sequence kernels: every time step of an LSTM pass, the
// recurrent product and the gates, in one launch, instead of a cuBLAS GEMM
// and a gate kernel per step (on the H200 the GEMM alone took 10.7 µs at B =
// 32, H = 64 for 2 MFLOP, the gates 4–6 µs). The recurrence of a row needs
// only that row's own earlier state, so a block that owns every unit of its
// rows can run all the steps itself, with barriers between steps: grid
// (ceil(batch/rows), dirs), block = hidden rounded up to 32 threads (thread
// j is unit j), up to LSTM_SEQ_ROWS rows per block (the host picks fewer
// when that leaves the GPU too few blocks). Each thread walks its unit's
// weights once per step for all the block's rows, reading them coalesced
// (consecutive units are consecutive addresses), with LSTM_SEQ_ROWS·4
// accumulators in registers; the weights (16·H² B per direction) come from
// cache after the first step.
//
// What one step waits for is kept short. The recurrent input (h_{s−1}
// forward, dpre_{s+1} backward) goes from the thread that computes it to
// shared memory, where the next step reads it: no round trip through
// global memory. A unit's own state (c and h forward, the gradient of c
// backward) stays in its thread's registers, and the forward reads the
// rows' lengths once. Loads that do not depend on the recurrence (the
// pre-activations forward; the gates, c and dh backward) are issued
// before the recurrent product, so that they arrive during it. The first
// version staged the recurrent input from global memory and read every
// row's length, state and inputs after the product: three or four memory
// latencies a step. Results are the same, bit for bit. (The backward
// reads the lengths at each step from cache: its registers are full.)
#define LSTM_SEQ_ROWS 8
#define LSTM_SEQ_FWD_SHARED 4096  // floats: rows·hidden of h_{s−1}
#define LSTM_SEQ_BWD_SHARED 8192  // floats: rows·4·hidden of dpre_{s+1}
#define LSTM_SEQ_MAX_THREADS 512  // hidden ≤ 512: at most 128 registers a thread

// lstm_seq_fwd: for s = 0, 1, …, steps−1: z = pre_s + h_{s−1}·W_hhᵀ (every
// row; h_{−1} = 0), then the cell of lstm_fwd_step from z. whhT is W_hhᵀ
// [H, 4H] of direction d at d·ldDir. pre is read, not written. rows·hidden ≤
// LSTM_SEQ_FWD_SHARED. Per row, unit and step: reads 4 pre-activations and
// writes 4 activations, c and h (32 B; c and h of the step before are in
// registers, h also in shared memory).
KERNEL void __launch_bounds__(LSTM_SEQ_MAX_THREADS)
    lstm_seq_fwd(int dirs, int steps, int batch, int hidden, int rows, dptr<const int> lengths,
                 dptr<const float> whhT, int ldDir, dptr<const float> pre, dptr<float> act, dptr<float> c,
                 dptr<float> h, dptr<int> status) {
  SHARED_ARRAY(float, hs, LSTM_SEQ_FWD_SHARED);  // h_{s−1} of the block's rows
  int j = threadIdx.x, b0 = blockIdx.x * rows, d = blockIdx.y;
  int nb = min(rows, batch - b0);
  bool unit = j < hidden;
  auto w = whhT + (long long)d * ldDir + j;
  int len[LSTM_SEQ_ROWS];
  float cr[LSTM_SEQ_ROWS], hr[LSTM_SEQ_ROWS];  // per row: c_{s−1} and h_{s−1} of unit j
  for (int r = 0; r < LSTM_SEQ_ROWS; r++) {
    len[r] = r < nb ? checked_length(lengths, b0 + r, steps, status) : 0;
    cr[r] = hr[r] = 0.0f;
  }
  for (int s = 0; s < steps; s++) {
    float z[LSTM_SEQ_ROWS][4], acc[LSTM_SEQ_ROWS][4];
    for (int r = 0; r < LSTM_SEQ_ROWS; r++) {
      long long g4 = (((long long)d * steps + s) * batch + b0 + r) * 4 * hidden + j;
      for (int g = 0; g < 4; g++) {
        z[r][g] = unit && r < nb ? pre[g4 + g * hidden] : 0.0f;  // in flight during the product
        acc[r][g] = 0.0f;
      }
    }
    if (unit && s > 0) {
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
    __syncthreads();  // every thread has read h_{s−1} from hs
    if (unit) {
      for (int r = 0; r < LSTM_SEQ_ROWS; r++) {
        if (r >= nb) break;
        long long row = ((long long)d * steps + s) * batch + b0 + r;
        long long cs = row * hidden + j;
        if (s < len[r]) {
          LstmCell u = lstm_cell(z[r][0] + acc[r][0], z[r][1] + acc[r][1], z[r][2] + acc[r][2],
                                 z[r][3] + acc[r][3], cr[r]);
          lstm_store_gates(act, row * 4 * hidden + j, hidden, u.i, u.f, u.g, u.o);
          cr[r] = u.c;
          hr[r] = u.h;
        }  // else the sequence has ended: its state is carried
        c[cs] = cr[r];
        h[cs] = hr[r];
        hs[r * hidden + j] = hr[r];
      }
    }
    __syncthreads();  // h_s is in hs for the next step
  }
}

// lstm_seq_bwd: for s = steps−1, …, 0: dh_s = dh_s (the output's gradient)
// + dpre_{s+1}·W_hh (every row; none at the last step) + what an ended row
// carries from s+1, then the gate backward of lstm_bwd_step. The gradient
// of c is carried in registers from dc at the last step (its initial
// value; zero when dc is null); dh and dc are not written. whh is W_hh
// [4H, H] of direction d at d·ldDir. rows·4·hidden ≤ LSTM_SEQ_BWD_SHARED.
// Per row, unit and step: reads 4 activations, c_{s−1} (c_s is the step
// before's) and dh_s, and writes 4 gate gradients (40 B; dpre_{s+1} comes
// from shared memory).
KERNEL void __launch_bounds__(LSTM_SEQ_MAX_THREADS)
    lstm_seq_bwd(int dirs, int steps, int batch, int hidden, int rows, dptr<const int> lengths,
                 dptr<const float> whh, int ldDir, dptr<const float> act, dptr<const float> c,
                 dptr<const float> dh, dptr<const float> dc, dptr<float> dpre, dptr<int> status) {
  SHARED_ARRAY(float, ds, LSTM_SEQ_BWD_SHARED);  // dpre_{s+1} of the block's rows
  int j = threadIdx.x, b0 = blockIdx.x * rows, d = blockIdx.y;
  int nb = min(rows, batch - b0);
  int G = 4 * hidden;
  bool unit = j < hidden;
  auto w = whh + (long long)d * ldDir + j;
  float dcr[LSTM_SEQ_ROWS], carry[LSTM_SEQ_ROWS];  // per row: gradient of c_s, and of h_s carried by an ended row
  float cs[LSTM_SEQ_ROWS];                         // per row: c_s of unit j (c_{s−1} of the step before)
  for (int r = 0; r < LSTM_SEQ_ROWS; r++) {
    long long last = ((long long)d * steps + steps - 1) * batch + b0 + r;
    bool live = unit && r < nb;
    dcr[r] = dc && live ? dc[last * hidden + j] : 0.0f;
    cs[r] = live ? c[last * hidden + j] : 0.0f;
    carry[r] = 0.0f;
  }
  for (int s = steps - 1; s >= 0; s--) {
    bool next = s + 1 < steps;
    // In flight during the product: the saved gates, c_{s−1} and dh_s.
    float a[LSTM_SEQ_ROWS][4], cp[LSTM_SEQ_ROWS], dhs[LSTM_SEQ_ROWS], acc[LSTM_SEQ_ROWS];
    for (int r = 0; r < LSTM_SEQ_ROWS; r++) {
      long long row = ((long long)d * steps + s) * batch + b0 + r;
      bool live = unit && r < nb;
      for (int g = 0; g < 4; g++) a[r][g] = live ? act[row * G + g * hidden + j] : 0.0f;
      cp[r] = live && s > 0 ? c[(row - batch) * hidden + j] : 0.0f;
      dhs[r] = live ? dh[row * hidden + j] : 0.0f;
      acc[r] = 0.0f;
    }
    if (unit && next) {
      for (int k = 0; k < G; k++) {
        float wk = w[(long long)k * hidden];
        for (int r = 0; r < LSTM_SEQ_ROWS; r++)
          if (r < nb) acc[r] += ds[r * G + k] * wk;
      }
    }
    __syncthreads();  // every thread has read dpre_{s+1} from ds
    if (unit) {
      for (int r = 0; r < LSTM_SEQ_ROWS; r++) {
        if (r >= nb) break;
        long long g4 = (((long long)d * steps + s) * batch + b0 + r) * G + j;
        float dht = dhs[r] + carry[r] + acc[r];
        LstmGrad g = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        // The length is a cached read (registers are short here). An ended
        // row's state was carried: so is its gradient, and its gates get none.
        if (s >= checked_length(lengths, b0 + r, steps, status)) {
          carry[r] = dht;
        } else {
          g = lstm_cell_backward(a[r][0], a[r][1], a[r][2], a[r][3], cs[r], cp[r], dht, dcr[r]);
          dcr[r] = g.cprev;
          carry[r] = 0.0f;
        }
        cs[r] = cp[r];
        lstm_store_gates(dpre, g4, hidden, g.i, g.f, g.g, g.o);
        ds[r * G + j] = g.i;
        ds[r * G + hidden + j] = g.f;
        ds[r * G + 2 * hidden + j] = g.g;
        ds[r * G + 3 * hidden + j] = g.o;
      }
    }
    __syncthreads();  // dpre_s is in ds for the next step
  }
}
