// cross_entropy.cu: class-weighted softmax cross-entropy, loss and logit
// gradient in one kernel, with the weighted mean taken on the device.
#include "common.cuh"

// cross_entropy_weight is the weight of row r's label: w[y], 1 without
// weights, 0 for an ignored label (< 0) or one out of range (reported in
// status by the row's lane 0).
__device__ __forceinline__ float cross_entropy_weight(int r, int lane, int classes, dptr<const int> labels,
                                                      dptr<const float> weights, dptr<int> status) {
  int y = labels[r];
  if (y >= classes) {
    if (lane == 0) report_status(status, STATUS_LABEL_RANGE, y, r);
    return 0.0f;
  }
  return y < 0 ? 0.0f : (weights ? weights[y] : 1.0f);
}

// cross_entropy_row adds row r's weighted loss to lossSum (in the lane 0 of
// the row) and writes its probs and its dlogits, scaled by inv = 1/Σw, the
// row's classes split over `width` lanes: 1 (a thread takes the row) or 32
// (a warp does, and reduces with shuffles). With label smoothing eps > 0,
// sumWc is Σ_c w[c].
__device__ __forceinline__ void cross_entropy_row(int r, int lane, int width, int classes, float inv, float eps,
                                                  float sumWc, dptr<const float> logits, dptr<const int> labels,
                                                  dptr<const float> weights, dptr<float> dlogits, dptr<float> probs,
                                                  float& lossSum) {
  long long base = (long long)r * classes;
  auto x = logits + base;
  int y = labels[r];
  if (y >= classes) y = -1;  // reported by cross_entropy_weight
  float m = -INFINITY;
  for (int c = lane; c < classes; c += width) m = fmaxf(m, x[c]);
  if (width == 32) m = warp_max(m);
  float s = 0.0f;
  for (int c = lane; c < classes; c += width) s += expf(x[c] - m);
  if (width == 32) s = warp_sum(s);
  float logZ = m + logf(s);
  float w = y < 0 ? 0.0f : (weights ? weights[y] : 1.0f);
  if (eps == 0.0f) {
    for (int c = lane; c < classes; c += width) {
      float p = expf(x[c] - logZ);
      if (probs) probs[base + c] = p;
      if (dlogits) dlogits[base + c] = w * (p - (c == y ? 1.0f : 0.0f)) * inv;
    }
    if (lane == 0 && y >= 0) lossSum += w * (logZ - x[y]);
    return;
  }
  float a = (1.0f - eps) * w, b = eps / classes, smooth = 0.0f;  // smooth: Σ_c w[c]·(logZ − x[c])
  for (int c = lane; c < classes; c += width) {
    float p = expf(x[c] - logZ), wc = weights ? weights[c] : 1.0f;
    smooth += wc * (logZ - x[c]);
    if (probs) probs[base + c] = p;
    if (dlogits) dlogits[base + c] = y < 0 ? 0.0f : (a * p + b * (p * sumWc - wc) - (c == y ? a : 0.0f)) * inv;
  }
  if (width == 32) smooth = warp_sum(smooth);
  if (lane == 0 && y >= 0) lossSum += a * (logZ - x[y]) + b * smooth;
}

// CE_ROW_CLASSES is the most classes of cross_entropy_one_row_each.
#define CE_ROW_CLASSES 8

// cross_entropy_one_row_each is cross_entropy for n ≤ blockDim.x rows of
// at most CE_ROW_CLASSES classes (a batch of this project's 4 classes):
// thread r takes row r, and every load the kernel makes (the row's label
// and logits, and all the class weights, so that the label's weight needs
// no second, dependent load) is issued before the first barrier. The
// general path reads the labels, then their weights, then, after the
// weight sum's barriers, the logits: three memory latencies in a row where
// this pays one. With vec4 (4 classes, every buffer 16-byte aligned) a row's
// logits, probs and dlogits move in one 16-byte access each, where four
// 4-byte ones took 3.2 µs for 512 rows on the H200 and one took 2.3 (held
// timing). The probabilities and the loss terms need no sum, so they come
// before the one barrier the two sums share (block_sum2_once); the
// gradients, which need 1/Σw, after it. The arithmetic is the general
// path's, in the same order: the same bits. SMOOTH (eps > 0) adds label
// smoothing's term to the loss and the gradient, as the general path does;
// without it the code is what it was before smoothing.
template <bool VEC4, bool SMOOTH>
__device__ __forceinline__ void cross_entropy_one_row_each(int n, int classes, float eps, dptr<const float> logits,
                                                           dptr<const int> labels, dptr<const float> weights,
                                                           dptr<float> loss, dptr<float> dlogits,
                                                           dptr<float> probs, dptr<int> status) {
  // K bounds the loops at compile time: with VEC4 the row is 4 classes and
  // no work goes to the 4 that an 8-wide bound would predicate off (sm_90
  // SASS 560 → 480 instructions, 20 → 16 MUFU; 512 rows held on the H100
  // 2.12 → 1.98 µs, with smoothing 2.41 → 2.03).
  constexpr int K = VEC4 ? 4 : CE_ROW_CLASSES;
  if (VEC4) classes = 4;
  int r = threadIdx.x;
  bool row = r < n;
  long long base = (long long)r * classes;
  int y = row ? labels[r] : -1;
  float x[K], wc[K];
  UNROLL for (int c = 0; c < K; c++) x[c] = wc[c] = 0.0f;
  if (VEC4) {
    float x4[4] = {0.0f, 0.0f, 0.0f, 0.0f}, w4[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    if (row) load4(logits, base, x4);
    if (weights) load4(weights, 0, w4);
    UNROLL for (int c = 0; c < 4; c++) {
      x[c] = x4[c];
      wc[c] = w4[c];
    }
  } else {
    UNROLL for (int c = 0; c < K; c++) {
      x[c] = row && c < classes ? logits[base + c] : 0.0f;
      wc[c] = weights && c < classes ? weights[c] : 1.0f;
    }
  }
  if (y >= classes) {
    report_status(status, STATUS_LABEL_RANGE, y, r);
    y = -1;
  }
  float w = 0.0f, xy = 0.0f;  // the label's weight and logit (none for y < 0)
  UNROLL for (int c = 0; c < K; c++) {
    if (c == y) {
      w = wc[c];
      xy = x[c];
    }
  }
  // Everything but the gradient's 1/Σw is known before the sums: the row's
  // probabilities are stored and its loss term taken first, and both sums
  // then share one barrier.
  float p[K];
  float nll = 0.0f;  // w·(−log p_y) (smoothed), 0 for an ignored row or none
  float sumWc = 0.0f;  // Σ_c w[c], for smoothing
  if (SMOOTH) {
    UNROLL for (int c = 0; c < K; c++)
      if (c < classes) sumWc += wc[c];
  }
  if (row) {
    float m = -INFINITY;
    UNROLL for (int c = 0; c < K; c++)
      if (c < classes) m = fmaxf(m, x[c]);
    float s = 0.0f;
    UNROLL for (int c = 0; c < K; c++)
      if (c < classes) s += expf(x[c] - m);
    float logZ = m + logf(s);
    UNROLL for (int c = 0; c < K; c++) p[c] = expf(x[c] - logZ);
    if (probs) {
      if (VEC4) {
        store4(probs, base, p[0], p[1], p[2], p[3]);
      } else {
        UNROLL for (int c = 0; c < K; c++)
          if (c < classes) probs[base + c] = p[c];
      }
    }
    if (y >= 0 && !SMOOTH) nll = w * (logZ - xy);
    if (y >= 0 && SMOOTH) {
      float smooth = 0.0f;  // Σ_c w[c]·(logZ − x[c])
      UNROLL for (int c = 0; c < K; c++)
        if (c < classes) smooth += wc[c] * (logZ - x[c]);
      nll = (1.0f - eps) * w * (logZ - xy) + eps / classes * smooth;
    }
  }
  float weightSum = w, lossSum = nll;
  block_sum2_once<0>(weightSum, lossSum);
  float inv = weightSum != 0.0f ? 1.0f / weightSum : 0.0f;
  if (row && dlogits) {
    float d[K];
    if (!SMOOTH) {
      UNROLL for (int c = 0; c < K; c++) d[c] = w * (p[c] - (c == y ? 1.0f : 0.0f)) * inv;
    } else {
      float a = (1.0f - eps) * w, b = eps / classes;
      UNROLL for (int c = 0; c < K; c++)
        d[c] = y < 0 ? 0.0f : (a * p[c] + b * (p[c] * sumWc - wc[c]) - (c == y ? a : 0.0f)) * inv;
    }
    if (VEC4) {
      store4(dlogits, base, d[0], d[1], d[2], d[3]);
    } else {
      UNROLL for (int c = 0; c < K; c++)
        if (c < classes) dlogits[base + c] = d[c];
    }
  }
  if (threadIdx.x == 0) loss[0] = lossSum / weightSum;
}

// cross_entropy: PyTorch's CrossEntropyLoss(weight=w, reduction="mean",
// label_smoothing=eps) over n rows of `classes` logits; with eps = 0:
//   loss[0]   = Σᵢ w[yᵢ]·(−log softmax(xᵢ)[yᵢ]) / Σᵢ w[yᵢ]
//   dlogits_i = w[yᵢ]·(softmax(xᵢ) − onehot(yᵢ)) / Σᵢ w[yᵢ]
// (eps > 0 mixes in eps/C·Σ_c w[c]·(−log softmax(xᵢ)[c]); see host.Backend).
// A label < 0 is ignored; a label ≥ classes is reported in status. weights,
// dlogits and probs may be null.
//
// Launch: one block of up to 1024 threads (the host uses 512), grid 1, so
// that the weighted sums are reduced in the kernel that uses them. The
// weight sum Σ w[yᵢ] needs only the labels, so it comes first and the
// gradient is written once, already scaled (the version before wrote it,
// read it back and scaled it). With at most 32 classes (this project has
// 4) each thread takes whole rows, r = thread, thread + blockDim, …: the
// first version gave each row a warp whose lanes split its 4 classes, and 8
// warps took the rows in turn, which cost 60 µs for 512 rows on the H200,
// linear in the rows. With more classes warp w takes rows w, w + warps, …
// and its lanes split the classes. A batch of at most blockDim.x rows and
// CE_ROW_CLASSES classes takes cross_entropy_one_row_each, in 16-byte
// accesses where the host says vec4 (4 classes, aligned buffers). Reads the labels
// (twice on the general path) and the logits once, writes probs and
// dlogits once (each 4 B per logit). Opens with GRID_DEPENDENCY_WAIT(): the
// next kernel launches when this one exits (common.cuh).
KERNEL void cross_entropy(int n, int classes, int vec4, float eps, dptr<const float> logits, dptr<const int> labels,
                          dptr<const float> weights, dptr<float> loss, dptr<float> dlogits, dptr<float> probs,
                          dptr<int> status) {
  GRID_DEPENDENCY_WAIT();
  if (n <= (int)blockDim.x && classes <= CE_ROW_CLASSES) {  // the same for every thread
    if (vec4 && eps == 0.0f)
      cross_entropy_one_row_each<true, false>(n, classes, eps, logits, labels, weights, loss, dlogits, probs, status);
    else if (vec4)
      cross_entropy_one_row_each<true, true>(n, classes, eps, logits, labels, weights, loss, dlogits, probs, status);
    else if (eps == 0.0f)
      cross_entropy_one_row_each<false, false>(n, classes, eps, logits, labels, weights, loss, dlogits, probs, status);
    else
      cross_entropy_one_row_each<false, true>(n, classes, eps, logits, labels, weights, loss, dlogits, probs, status);
    return;
  }
  float weightSum = 0.0f;  // this thread's share
  for (int r = threadIdx.x; r < n; r += blockDim.x)
    weightSum += cross_entropy_weight(r, 0, classes, labels, weights, status);
  weightSum = block_sum(weightSum);
  // With no row counting (Σw = 0) the loss is NaN as in PyTorch and every
  // gradient row is zero (each has w = 0).
  float inv = weightSum != 0.0f ? 1.0f / weightSum : 0.0f;
  float sumWc = 0.0f;  // Σ_c w[c], for smoothing
  if (eps != 0.0f)
    for (int c = 0; c < classes; c++) sumWc += weights ? weights[c] : 1.0f;
  float lossSum = 0.0f;
  if (classes <= 32) {
    for (int r = threadIdx.x; r < n; r += blockDim.x)
      cross_entropy_row(r, 0, 1, classes, inv, eps, sumWc, logits, labels, weights, dlogits, probs, lossSum);
  } else {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    for (int r = warp; r < n; r += nwarps)
      cross_entropy_row(r, lane, 32, classes, inv, eps, sumWc, logits, labels, weights, dlogits, probs, lossSum);
  }
  lossSum = block_sum(lossSum);
  if (threadIdx.x == 0) loss[0] = lossSum / weightSum;
}
