// cross_entropy.cu: class-weighted softmax cross-entropy, loss and logit
// gradient in one kernel, with the weighted mean taken on the device.
#include "common.cuh"

// cross_entropy: PyTorch's CrossEntropyLoss(weight=w, reduction="mean") over
// n rows of `classes` logits:
//   loss[0]   = Σᵢ w[yᵢ]·(−log softmax(xᵢ)[yᵢ]) / Σᵢ w[yᵢ]
//   dlogits_i = w[yᵢ]·(softmax(xᵢ) − onehot(yᵢ)) / Σᵢ w[yᵢ]
// A label < 0 is ignored; a label ≥ classes is reported in status. weights,
// dlogits and probs may be null.
//
// Launch: one block of 256 threads (8 warps), grid 1, so that the weighted
// sum is reduced in the same kernel that then scales the gradient. Warp w
// takes rows w, w+8, …; its lanes split a row's classes. Reads the logits
// once, writes probs and dlogits once (each 4 B per logit), and reads dlogits
// back once to scale it.
KERNEL void cross_entropy(int n, int classes, dptr<const float> logits, dptr<const int> labels,
                          dptr<const float> weights, dptr<float> loss, dptr<float> dlogits, dptr<float> probs,
                          dptr<int> status) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  float lossSum = 0.0f, weightSum = 0.0f;  // lane 0's share of the warp's rows
  for (int r = warp; r < n; r += nwarps) {
    auto x = logits + (long long)r * classes;
    int y = labels[r];
    if (y >= classes) {
      if (lane == 0) report_status(status, STATUS_LABEL_RANGE, y, r);
      y = -1;
    }
    float m = -INFINITY;
    for (int c = lane; c < classes; c += 32) m = fmaxf(m, x[c]);
    m = warp_max(m);
    float s = 0.0f;
    for (int c = lane; c < classes; c += 32) s += expf(x[c] - m);
    s = warp_sum(s);
    float logZ = m + logf(s);
    float w = y < 0 ? 0.0f : (weights ? weights[y] : 1.0f);
    for (int c = lane; c < classes; c += 32) {
      float p = expf(x[c] - logZ);
      if (probs) probs[(long long)r * classes + c] = p;
      if (dlogits) dlogits[(long long)r * classes + c] = w * (p - (c == y ? 1.0f : 0.0f));
    }
    if (lane == 0 && y >= 0) {
      lossSum += w * (logZ - x[y]);
      weightSum += w;
    }
  }
  lossSum = block_sum(lossSum);
  weightSum = block_sum(weightSum);
  if (threadIdx.x == 0) loss[0] = lossSum / weightSum;
  // With no row counting (Σw = 0) the loss is NaN as in PyTorch and every
  // gradient row is already zero.
  if (dlogits && weightSum != 0.0f) {
    float inv = 1.0f / weightSum;
    long long total = (long long)n * classes;
    for (long long i = threadIdx.x; i < total; i += blockDim.x) dlogits[i] *= inv;
  }
}
