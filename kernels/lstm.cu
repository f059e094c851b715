// lstm.cu: one fused LSTM time step, forward and backward, for all the
// directions of a (Bi)LSTM in one launch.
//
// Buffers are time-major and direction-major: pre, act, dpre are [dirs,
// steps, batch, 4·hidden] (gates in PyTorch's order i, f, g, o), and c, h,
// dh, dc are [dirs, steps, batch, hidden]. The input projection x·W_ihᵀ and
// the recurrent h·W_hhᵀ are GEMMs done by the caller; these kernels do
// everything elementwise around them: gates, cell and hidden update, length
// mask and the activations saved for backward. act may be pre and dpre may
// be act (the model keeps one buffer for the three): a unit's thread reads
// its four values of a step before it writes them, and no other thread
// reads them.
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
  GRID_DEPENDENCY_SYNC();
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
  GRID_DEPENDENCY_SYNC();
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

// lstm_fwd_step4 and lstm_bwd_step4 are lstm_fwd_step and lstm_bwd_step
// with four adjacent units a thread, every buffer read and written 16 bytes
// at a time (hidden % 4 == 0 and 16-byte aligned buffers; the host checks
// both): grid (ceil(hidden/(4·block)), batch, dirs). A quarter of the
// loads and stores of the scalar kernels for the same bytes: forward 44 B
// per running unit. Both open with GRID_DEPENDENCY_WAIT(): the next
// kernel launches when their blocks exit (common.cuh).
KERNEL void lstm_fwd_step4(int dirs, int steps, int batch, int hidden, int s, dptr<const int> lengths,
                           dptr<const float> pre, dptr<float> act, dptr<float> c, dptr<float> h,
                           dptr<int> status) {
  GRID_DEPENDENCY_WAIT();
  int j = (blockIdx.x * blockDim.x + threadIdx.x) * 4, b = blockIdx.y, d = blockIdx.z;
  if (j >= hidden) return;
  long long row = ((long long)d * steps + s) * batch + b;
  long long g4 = row * 4 * hidden + j, cs = row * hidden + j, cp = cs - (long long)batch * hidden;
  float z[4][4], cprev[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int g = 0; g < 4; g++) load4(pre, g4 + g * hidden, z[g]);
  if (s > 0) load4(c, cp, cprev);
  int len = checked_length(lengths, b, steps, status);
  if (s >= len) {  // the sequence has ended: carry the state
    float hp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (s > 0) load4(h, cp, hp);
    store4(c, cs, cprev[0], cprev[1], cprev[2], cprev[3]);
    store4(h, cs, hp[0], hp[1], hp[2], hp[3]);
    return;
  }
  LstmCell u[4];
  for (int k = 0; k < 4; k++) u[k] = lstm_cell(z[0][k], z[1][k], z[2][k], z[3][k], cprev[k]);
  store4(act, g4, u[0].i, u[1].i, u[2].i, u[3].i);
  store4(act, g4 + hidden, u[0].f, u[1].f, u[2].f, u[3].f);
  store4(act, g4 + 2 * hidden, u[0].g, u[1].g, u[2].g, u[3].g);
  store4(act, g4 + 3 * hidden, u[0].o, u[1].o, u[2].o, u[3].o);
  store4(c, cs, u[0].c, u[1].c, u[2].c, u[3].c);
  store4(h, cs, u[0].h, u[1].h, u[2].h, u[3].h);
}

// lstm_bwd_step4: lstm_bwd_step four units a thread (above); the same 52 B
// per unit.
KERNEL void lstm_bwd_step4(int dirs, int steps, int batch, int hidden, int s, dptr<const int> lengths,
                           dptr<const float> act, dptr<const float> c, dptr<float> dh, dptr<float> dc,
                           dptr<float> dpre, dptr<int> status) {
  GRID_DEPENDENCY_WAIT();
  int j = (blockIdx.x * blockDim.x + threadIdx.x) * 4, b = blockIdx.y, d = blockIdx.z;
  if (j >= hidden) return;
  long long row = ((long long)d * steps + s) * batch + b;
  long long g4 = row * 4 * hidden + j, cs = row * hidden + j, cp = cs - (long long)batch * hidden;
  float a[4][4], dhs[4], dcs[4], ct[4], cprev[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int g = 0; g < 4; g++) load4(act, g4 + g * hidden, a[g]);
  load4(dh, cs, dhs);
  load4(dc, cs, dcs);
  load4(c, cs, ct);
  if (s > 0) load4(c, cp, cprev);
  int len = checked_length(lengths, b, steps, status);
  if (s >= len) {  // the state was carried: so is its gradient
    store4(dpre, g4, 0.0f, 0.0f, 0.0f, 0.0f);
    store4(dpre, g4 + hidden, 0.0f, 0.0f, 0.0f, 0.0f);
    store4(dpre, g4 + 2 * hidden, 0.0f, 0.0f, 0.0f, 0.0f);
    store4(dpre, g4 + 3 * hidden, 0.0f, 0.0f, 0.0f, 0.0f);
    if (s > 0) {
      float dhp[4];
      load4(dh, cp, dhp);
      store4(dc, cp, dcs[0], dcs[1], dcs[2], dcs[3]);
      store4(dh, cp, dhp[0] + dhs[0], dhp[1] + dhs[1], dhp[2] + dhs[2], dhp[3] + dhs[3]);
    }
    return;
  }
  LstmGrad g[4];
  for (int k = 0; k < 4; k++)
    g[k] = lstm_cell_backward(a[0][k], a[1][k], a[2][k], a[3][k], ct[k], cprev[k], dhs[k], dcs[k]);
  store4(dpre, g4, g[0].i, g[1].i, g[2].i, g[3].i);
  store4(dpre, g4 + hidden, g[0].f, g[1].f, g[2].f, g[3].f);
  store4(dpre, g4 + 2 * hidden, g[0].g, g[1].g, g[2].g, g[3].g);
  store4(dpre, g4 + 3 * hidden, g[0].o, g[1].o, g[2].o, g[3].o);
  if (s > 0) store4(dc, cp, g[0].cprev, g[1].cprev, g[2].cprev, g[3].cprev);
}

// The whole-sequence kernels: every time step of an LSTM pass, the
// recurrent product and the gates, in one launch, instead of a cuBLAS GEMM
// and a gate kernel per step (on the H200 the GEMM alone took 7.6 µs at B =
// 32, H = 64 for 2 MFLOP, the gates 3.6 µs). The recurrence of a row needs
// only that row's own earlier state, so a block that owns every unit of its
// rows can run all the steps itself, with barriers between steps: grid
// (ceil(batch/rows), dirs), up to LSTM_SEQ_ROWS rows per block (the host
// picks fewer when that leaves the GPU too few blocks).
//
// A step is a chain of dependent work, so what sets its time is the length
// of the chain, not bytes. The product is split over the 4·hidden columns
// of the weights (thread t takes columns t, t + blockDim.x, …, at most
// LSTM_SEQ_SLICES; blockDim.x = min(4·hidden, LSTM_SEQ_MAX_THREADS) rounded
// up to 32), so a thread's chain is hidden multiply-adds, and each thread
// loads LSTM_SEQ_DEPTH rows of its columns before it uses any, so that the
// weights' latency is paid once per LSTM_SEQ_DEPTH of them. The products go
// through shared memory to the unit threads (thread j < hidden is unit j),
// which do the cell. The weights (16·H² B per direction) are read
// coalesced and come from cache after the first step.
//
// The first version gave a thread a unit and walked all its weights one at
// a time: at B = 32, H = 64 on the H200 it took 11 µs a step forward and 64
// µs backward (4·hidden dependent loads of a weight each), slower than the
// GEMM and gate kernel it replaced. Split over the columns: 5.9 and 6.4 µs
// a step (the sentence step 1.50 → 0.47 ms), still a cache latency for
// every LSTM_SEQ_DEPTH weights; hence the _regs kernels below, which keep
// the weights in registers where they fit, and the _deep ones, which load
// more of them ahead where a thread has one column. The host also sizes the rows
// per block so that every block runs in the first wave: a block runs all
// the steps of its rows, so a second wave doubles the kernel's time.
//
// The recurrent input (h_{s−1} forward, dpre_{s+1} backward) goes from the
// thread that computes it to shared memory, where the next step reads it.
// A unit's own state (c and h forward, the gradient of c backward) stays in
// its thread's registers. Loads that do not depend on the recurrence (the
// pre-activations forward; the gates, c and dh backward) are issued before
// the product, so that they arrive during it.
#define LSTM_SEQ_ROWS 4
#define LSTM_SEQ_SHARED 4096      // floats in a shared array of rows·4·hidden
#define LSTM_SEQ_MAX_THREADS 512  // a block: hidden ≤ 512, so 4·hidden ≤ 4 slices of it
#define LSTM_SEQ_SLICES 4
#define LSTM_SEQ_DEPTH 8

// lstm_seq_product adds, for the block's rows r < nb and the thread's
// columns col[q] (the first slices of them), DEPTH terms
// in[at + r·inLd + k]·w[k·wLd + col[q]] for k = 0, 1, …, DEPTH−1 (in
// order) to acc[q][r]; in is a shared array. Every weight is loaded before
// the first is used.
template <int DEPTH, int ROWS, int SLICES, class Shared>
__device__ __forceinline__ void lstm_seq_product(float (&acc)[SLICES][ROWS], Shared &in, int at,
                                                 int inLd, dptr<const float> w, long long wLd,
                                                 const long long (&col)[SLICES], int slices, int nb) {
  float wv[DEPTH][SLICES];
  UNROLL for (int k = 0; k < DEPTH; k++) UNROLL for (int q = 0; q < SLICES; q++) {
      wv[k][q] = q < slices ? w[k * wLd + col[q]] : 0.0f;
    }
  UNROLL for (int k = 0; k < DEPTH; k++) UNROLL for (int r = 0; r < ROWS; r++) {
      if (r < nb) {
        float x = in[at + r * inLd + k];
        UNROLL for (int q = 0; q < SLICES; q++) {
          if (q < slices) acc[q][r] += x * wv[k][q];
        }
      }
    }
}

// lstm_seq_fwd: for s = 0, 1, …, steps−1: z = pre_s + h_{s−1}·W_hhᵀ (every
// row; h_{−1} = 0), then the cell of lstm_fwd_step from z. whhT is W_hhᵀ
// [H, 4H] of direction d at d·ldDir: column t of it is gate t/H of unit
// t%H, and a thread sums its columns over the H rows in order. It writes
// act, c and h, never through pre (act may be pre). rows·4·hidden ≤
// LSTM_SEQ_SHARED. Per row, unit and step: reads 4 pre-activations and
// writes c and h, and a running row also its 4 activations (40 B, an ended
// row 24 B; c and h of the step before are in registers, h also in shared
// memory).
template <int WREGS, int ROWS, int SLICES, int DEPTH>
__device__ __forceinline__ void lstm_seq_fwd_body(int dirs, int steps, int batch, int hidden, int rows,
                                                  dptr<const int> lengths, dptr<const float> whhT, int ldDir,
                                                  dptr<const float> pre, dptr<float> act, dptr<float> c,
                                                  dptr<float> h, dptr<int> status) {
  SHARED_ARRAY(float, hs, LSTM_SEQ_SHARED / 4);  // h_{s−1} of the block's rows: rows·hidden
  SHARED_ARRAY(float, zs, LSTM_SEQ_SHARED);      // h_{s−1}·W_hhᵀ of the block's rows: rows·4·hidden
  int j = threadIdx.x, b0 = blockIdx.x * rows, d = blockIdx.y, G = 4 * hidden;
  int nb = min(rows, batch - b0);
  int slices = j < G ? (G - j + blockDim.x - 1) / blockDim.x : 0;
  bool unit = j < hidden;
  auto w = whhT + (long long)d * ldDir;
  long long col[SLICES];
  for (int q = 0; q < SLICES; q++) col[q] = j + (long long)q * blockDim.x;
  float wr[WREGS > 0 ? WREGS : 1];  // with WREGS: the thread's column, rows 0 … hidden−1
  if (WREGS > 0) {
    UNROLL for (int m = 0; m < (WREGS > 0 ? WREGS : 1); m++) {
      wr[m] = m < hidden && slices > 0 ? w[(long long)m * G + col[0]] : 0.0f;
    }
  }
  int len[ROWS];
  float cr[ROWS], hr[ROWS];  // per row: c_{s−1} and h_{s−1} of unit j
  for (int r = 0; r < ROWS; r++) {
    len[r] = unit && r < nb ? checked_length(lengths, b0 + r, steps, status) : 0;
    cr[r] = hr[r] = 0.0f;
  }
  for (int s = 0; s < steps; s++) {
    float z[ROWS][4];
    for (int r = 0; r < ROWS; r++) {
      long long g4 = (((long long)d * steps + s) * batch + b0 + r) * G + j;
      for (int g = 0; g < 4; g++)  // in flight during the product
        z[r][g] = unit && r < nb ? pre[g4 + g * hidden] : 0.0f;
    }
    if (WREGS > 0 && s > 0 && slices > 0) {
      float acc[ROWS] = {};
      UNROLL for (int m = 0; m < (WREGS > 0 ? WREGS : 1); m++) {
        if (m >= hidden) break;
        UNROLL for (int r = 0; r < ROWS; r++) {
          if (r < nb) acc[r] += hs[r * hidden + m] * wr[m];
        }
      }
      for (int r = 0; r < ROWS; r++)
        if (r < nb) zs[r * G + col[0]] = acc[r];
    } else if (WREGS == 0 && s > 0 && slices > 0) {
      float acc[SLICES][ROWS] = {};
      int m = 0;
      for (; m + DEPTH <= hidden; m += DEPTH)
        lstm_seq_product<DEPTH, ROWS, SLICES>(acc, hs, m, hidden, w + (long long)m * G, G, col, slices, nb);
      for (; m < hidden; m++)
        lstm_seq_product<1, ROWS, SLICES>(acc, hs, m, hidden, w + (long long)m * G, G, col, slices, nb);
      for (int q = 0; q < SLICES; q++)
        for (int r = 0; r < ROWS; r++)
          if (q < slices && r < nb) zs[r * G + col[q]] = acc[q][r];
    }
    __syncthreads();  // every thread has read h_{s−1} from hs; the products are in zs
    if (unit) {
      for (int r = 0; r < ROWS; r++) {
        if (r >= nb) break;
        long long row = ((long long)d * steps + s) * batch + b0 + r;
        long long cs = row * hidden + j;
        if (s < len[r]) {
          float a[4];
          for (int g = 0; g < 4; g++) a[g] = s > 0 ? zs[r * G + g * hidden + j] : 0.0f;
          LstmCell u = lstm_cell(z[r][0] + a[0], z[r][1] + a[1], z[r][2] + a[2], z[r][3] + a[3], cr[r]);
          lstm_store_gates(act, row * G + j, hidden, u.i, u.f, u.g, u.o);
          cr[r] = u.c;
          hr[r] = u.h;
        }  // else the sequence has ended: its state is carried
        c[cs] = cr[r];
        h[cs] = hr[r];
        hs[r * hidden + j] = hr[r];
      }
    }
    __syncthreads();  // h_s is in hs for the next step; zs has been read
  }
}

// lstm_seq_bwd: for s = steps−1, …, 0: dh_s = dh_s (the output's gradient)
// + dpre_{s+1}·W_hh (every row; none at the last step) + what an ended row
// carries from s+1, then the gate backward of lstm_bwd_step. The gradient
// of c is carried in registers from dc at the last step (its initial
// value; zero when dc is null); dh and dc are not written. whh is W_hh
// [4H, H] of direction d at d·ldDir. The product of unit u is split in
// four: quarter Q sums k = Q·H … Q·H + H − 1 in order, and unit u adds the
// four quarters in order. rows·4·hidden ≤
// LSTM_SEQ_SHARED. Per row, unit and step: reads 4 activations, c_{s−1}
// (c_s is the step before's) and dh_s, and writes 4 gate gradients (40 B;
// dpre_{s+1} comes from shared memory).
template <int WREGS, int ROWS, int SLICES, int DEPTH>
__device__ __forceinline__ void lstm_seq_bwd_body(int dirs, int steps, int batch, int hidden, int rows,
                                                  dptr<const int> lengths, dptr<const float> whh, int ldDir,
                                                  dptr<const float> act, dptr<const float> c, dptr<const float> dh,
                                                  dptr<const float> dc, dptr<float> dpre, dptr<int> status) {
  SHARED_ARRAY(float, ds, LSTM_SEQ_SHARED);  // dpre_{s+1} of the block's rows: rows·4·hidden
  SHARED_ARRAY(float, ps, LSTM_SEQ_SHARED);  // the quarters of dpre_{s+1}·W_hh: rows·4·hidden
  int j = threadIdx.x, b0 = blockIdx.x * rows, d = blockIdx.y, G = 4 * hidden;
  int nb = min(rows, batch - b0);
  bool unit = j < hidden;
  auto w = whh + (long long)d * ldDir;
  // The threads are four groups of blockDim.x/4, one per quarter of W_hh's
  // rows: thread i of group Q sums rows Q·H … Q·H + H − 1 at the columns
  // (units) i, i + blockDim.x/4, … below H, so that a thread's columns share
  // their inputs ds[r·G + Q·H + k] (blockDim.x/4 · SLICES ≥ H).
  int per = blockDim.x / 4, Q = j / per;
  long long col[SLICES];
  int slices = 0;
  for (int q = 0; q < SLICES; q++) {
    int u = j % per + q * per;
    col[q] = (long long)Q * hidden * hidden + u;
    if (u < hidden) slices = q + 1;
  }
  float wr[WREGS > 0 ? WREGS : 1];  // with WREGS: the thread's column, rows Q·H … Q·H + H − 1
  if (WREGS > 0) {
    UNROLL for (int k = 0; k < (WREGS > 0 ? WREGS : 1); k++) {
      wr[k] = k < hidden && slices > 0 ? w[(long long)k * hidden + col[0]] : 0.0f;
    }
  }
  int len[ROWS];
  float dcr[ROWS], carry[ROWS];  // per row: gradient of c_s, and of h_s carried by an ended row
  float cs[ROWS];                // per row: c_s of unit j (c_{s−1} of the step before)
  for (int r = 0; r < ROWS; r++) {
    long long last = ((long long)d * steps + steps - 1) * batch + b0 + r;
    bool live = unit && r < nb;
    len[r] = live ? checked_length(lengths, b0 + r, steps, status) : 0;
    dcr[r] = dc && live ? dc[last * hidden + j] : 0.0f;
    cs[r] = live ? c[last * hidden + j] : 0.0f;
    carry[r] = 0.0f;
  }
  for (int s = steps - 1; s >= 0; s--) {
    bool next = s + 1 < steps;
    // In flight during the product: the saved gates, c_{s−1} and dh_s.
    float a[ROWS][4], cp[ROWS], dhs[ROWS];
    for (int r = 0; r < ROWS; r++) {
      long long row = ((long long)d * steps + s) * batch + b0 + r;
      bool live = unit && r < nb;
      for (int g = 0; g < 4; g++) a[r][g] = live ? act[row * G + g * hidden + j] : 0.0f;
      cp[r] = live && s > 0 ? c[(row - batch) * hidden + j] : 0.0f;
      dhs[r] = live ? dh[row * hidden + j] : 0.0f;
    }
    if (WREGS > 0 && next && slices > 0) {
      float acc[ROWS] = {};
      UNROLL for (int k = 0; k < (WREGS > 0 ? WREGS : 1); k++) {
        if (k >= hidden) break;
        UNROLL for (int r = 0; r < ROWS; r++) {
          if (r < nb) acc[r] += ds[Q * hidden + k + r * G] * wr[k];
        }
      }
      for (int r = 0; r < ROWS; r++)
        if (r < nb) ps[r * G + Q * hidden + j % per] = acc[r];
    } else if (WREGS == 0 && next && slices > 0) {
      float acc[SLICES][ROWS] = {};
      int k = 0;
      for (; k + DEPTH <= hidden; k += DEPTH)
        lstm_seq_product<DEPTH, ROWS, SLICES>(acc, ds, Q * hidden + k, G, w + (long long)k * hidden, hidden, col,
                                               slices, nb);
      for (; k < hidden; k++)
        lstm_seq_product<1, ROWS, SLICES>(acc, ds, Q * hidden + k, G, w + (long long)k * hidden, hidden, col, slices,
                                          nb);
      for (int q = 0; q < SLICES; q++)
        for (int r = 0; r < ROWS; r++)
          if (q < slices && r < nb) ps[r * G + Q * hidden + j % per + q * per] = acc[q][r];
    }
    __syncthreads();  // every thread has read dpre_{s+1} from ds; the quarters are in ps
    if (unit) {
      for (int r = 0; r < ROWS; r++) {
        if (r >= nb) break;
        long long g4 = (((long long)d * steps + s) * batch + b0 + r) * G + j;
        float acc = next ? ((ps[r * G + j] + ps[r * G + hidden + j]) + ps[r * G + 2 * hidden + j]) +
                               ps[r * G + 3 * hidden + j]
                         : 0.0f;
        float dht = dhs[r] + carry[r] + acc;
        LstmGrad g = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        // An ended row's state was carried: so is its gradient, and its
        // gates get none.
        if (s >= len[r]) {
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
    __syncthreads();  // dpre_s is in ds for the next step; ps has been read
  }
}

// The entry points. lstm_seq_fwd and lstm_seq_bwd read each step's weights
// from memory (L1 or L2 after the first step), LSTM_SEQ_DEPTH ahead;
// lstm_seq_fwd_deep and lstm_seq_bwd_deep, for hidden ≤ LSTM_SEQ_DEEP_HIDDEN
// (every thread then has one column), LSTM_SEQ_DEEP ahead, a quarter of
// the latencies a step; lstm_seq_fwd_regs and lstm_seq_bwd_regs, for
// hidden ≤ LSTM_SEQ_REG_HIDDEN, hold a thread's column in registers for
// the whole pass, so that a step's product reads only shared memory. Same
// launch, same sums in the same order, the same bits.
#define LSTM_SEQ_DEEP_HIDDEN 128
#define LSTM_SEQ_DEEP 32
#define LSTM_SEQ_REG_HIDDEN 64
#define LSTM_SEQ_REG_ROWS 3  // rows a block at most: the registers hold 64 weights

KERNEL void __launch_bounds__(LSTM_SEQ_MAX_THREADS)
    lstm_seq_fwd(int dirs, int steps, int batch, int hidden, int rows, dptr<const int> lengths,
                 dptr<const float> whhT, int ldDir, dptr<const float> pre, dptr<float> act, dptr<float> c,
                 dptr<float> h, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  lstm_seq_fwd_body<0, LSTM_SEQ_ROWS, LSTM_SEQ_SLICES, LSTM_SEQ_DEPTH>(dirs, steps, batch, hidden, rows, lengths,
                                                                      whhT, ldDir, pre, act, c, h, status);
}

// The explicit one block a multiprocessor: without it ptxas chose 64
// registers (two blocks of 512) and, short of them, issued each of the 32
// weights' loads just before its use, one latency after the other (252 µs
// for 10 steps at B = 32, H = 128 on the H200, against 140 for
// lstm_seq_fwd); with it, 126 registers and the 32 loads back to back. The
// host places one block of 512 threads a multiprocessor anyway
// (lstmSeqRegisters). Launch and memory traffic: lstm_seq_fwd's.
KERNEL void __launch_bounds__(LSTM_SEQ_MAX_THREADS, 1)
    lstm_seq_fwd_deep(int dirs, int steps, int batch, int hidden, int rows, dptr<const int> lengths,
                      dptr<const float> whhT, int ldDir, dptr<const float> pre, dptr<float> act, dptr<float> c,
                      dptr<float> h, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  lstm_seq_fwd_body<0, LSTM_SEQ_ROWS, 1, LSTM_SEQ_DEEP>(dirs, steps, batch, hidden, rows, lengths, whhT, ldDir, pre,
                                                         act, c, h, status);
}

KERNEL void __launch_bounds__(LSTM_SEQ_MAX_THREADS)
    lstm_seq_fwd_regs(int dirs, int steps, int batch, int hidden, int rows, dptr<const int> lengths,
                      dptr<const float> whhT, int ldDir, dptr<const float> pre, dptr<float> act, dptr<float> c,
                      dptr<float> h, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  lstm_seq_fwd_body<LSTM_SEQ_REG_HIDDEN, LSTM_SEQ_REG_ROWS, 1, 1>(dirs, steps, batch, hidden, rows, lengths, whhT,
                                                                  ldDir, pre, act, c, h, status);
}

KERNEL void __launch_bounds__(LSTM_SEQ_MAX_THREADS)
    lstm_seq_bwd(int dirs, int steps, int batch, int hidden, int rows, dptr<const int> lengths,
                 dptr<const float> whh, int ldDir, dptr<const float> act, dptr<const float> c,
                 dptr<const float> dh, dptr<const float> dc, dptr<float> dpre, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  lstm_seq_bwd_body<0, LSTM_SEQ_ROWS, LSTM_SEQ_SLICES, LSTM_SEQ_DEPTH>(dirs, steps, batch, hidden, rows, lengths,
                                                                      whh, ldDir, act, c, dh, dc, dpre, status);
}

KERNEL void __launch_bounds__(LSTM_SEQ_MAX_THREADS)
    lstm_seq_bwd_deep(int dirs, int steps, int batch, int hidden, int rows, dptr<const int> lengths,
                      dptr<const float> whh, int ldDir, dptr<const float> act, dptr<const float> c,
                      dptr<const float> dh, dptr<const float> dc, dptr<float> dpre, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  lstm_seq_bwd_body<0, LSTM_SEQ_ROWS, 1, LSTM_SEQ_DEEP>(dirs, steps, batch, hidden, rows, lengths, whh, ldDir, act, c,
                                                         dh, dc, dpre, status);
}

KERNEL void __launch_bounds__(LSTM_SEQ_MAX_THREADS)
    lstm_seq_bwd_regs(int dirs, int steps, int batch, int hidden, int rows, dptr<const int> lengths,
                      dptr<const float> whh, int ldDir, dptr<const float> act, dptr<const float> c,
                      dptr<const float> dh, dptr<const float> dc, dptr<float> dpre, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  lstm_seq_bwd_body<LSTM_SEQ_REG_HIDDEN, LSTM_SEQ_REG_ROWS, 1, 1>(dirs, steps, batch, hidden, rows, lengths, whh,
                                                                  ldDir, act, c, dh, dc, dpre, status);
}
