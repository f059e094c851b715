// adam.cu: the fused Adam / AdamW update of one parameter tensor.
#include "common.cuh"

// adam_step: with bc1 = 1−β1ᵗ and bc2 = 1−β2ᵗ computed on the host in
// float64, stepSize = lr/bc1 and root = √bc2 (as torch.optim.Adam does):
//   g = grad + wd·p (Adam: wd is 0 for AdamW);  p *= decay (AdamW: 1 − lr·wd)
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   p -= stepSize·m / (√v/root + eps)
// With zeroGrad it then writes g = 0 (the optimiser's zero_grad, which
// was a Fill launch of its own). 1-D grid-stride (block 256). Reads 16 B
// (p, g, m, v), writes 12 B per element (16 B with zeroGrad).
KERNEL void adam_step(int n, float beta1, float beta2, float eps, float wd, float decay, float stepSize, float root,
                      int zeroGrad, dptr<float> param, dptr<float> grad, dptr<float> m, dptr<float> v) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float p = param[i], g = grad[i];
    if (zeroGrad) grad[i] = 0.0f;
    if (wd != 0.0f) g += wd * p;
    if (decay != 1.0f) p *= decay;
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - stepSize * mi / (sqrtf(vi) / root + eps);
  }
}
