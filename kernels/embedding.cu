// embedding.cu: embedding gather (forward) and scatter-add (backward).
#include "common.cuh"

// embedding_fwd: out[i,:] = table[ids[i],:], zeros for ids[i] == pad; an id
// outside [0, vocab) is reported in status and gives zeros. One block per
// id (grid n, up to 2³¹−1), 128 threads striding over the dim features of
// its row. Reads and writes 4·dim B per id.
KERNEL void embedding_fwd(int n, int dim, int vocab, int pad, dptr<const int> ids, dptr<const float> table,
                          dptr<float> out, dptr<int> status) {
  GRID_DEPENDENCY_SYNC();
  int i = blockIdx.x;
  int id = ids[i];
  bool bad = id != pad && (id < 0 || id >= vocab);
  if (bad && threadIdx.x == 0) report_status(status, STATUS_TOKEN_RANGE, id, i);
  bool zero = bad || id == pad;
  auto row = out + (long long)i * dim;
  for (long long f = threadIdx.x; f < dim; f += blockDim.x) row[f] = zero ? 0.0f : table[(long long)id * dim + f];
}

// embedding_bwd: dtable[id,:] += dout[p,:] for every position p of every
// id, deterministically: the host sorts the positions by id (a plan of
// segments, GPU.EmbeddingBackward in host/gpu.go), and one block per
// segment adds its positions' rows in increasing order, the CPU backend's
// order, so the result is the CPU's bit for bit and the same from run to
// run. The first version did an atomicAdd per element, whose order, and so
// whose rounding, changed with the order the blocks ran in. plan is
// [offsets (segments+1) | ids (segments) | positions]: segment s is id
// ids[s] at positions[offsets[s] .. offsets[s+1]). Grid segments; the
// block's threads stride over the dim features (the host uses min(128, dim
// rounded up to 32)), each loading EMB_BWD_BATCH rows before it adds them.
// Reads 4·dim B of dout per position and 4·dim B of dtable per segment, and
// writes 4·dim B per segment.
#define EMB_BWD_BATCH 16

KERNEL void embedding_bwd(int segments, int dim, dptr<const int> plan, dptr<const float> dout, dptr<float> dtable) {
  GRID_DEPENDENCY_SYNC();
  int s = blockIdx.x;
  int lo = plan[s], hi = plan[s + 1], id = plan[segments + 1 + s];
  auto positions = plan + 2 * segments + 1;
  for (long long f = threadIdx.x; f < dim; f += blockDim.x) {
    float acc = dtable[(long long)id * dim + f];
    for (int k0 = lo; k0 < hi; k0 += EMB_BWD_BATCH) {
      float v[EMB_BWD_BATCH];
      for (int u = 0; u < EMB_BWD_BATCH; u++) v[u] = k0 + u < hi ? dout[(long long)positions[k0 + u] * dim + f] : 0.0f;
      for (int u = 0; u < EMB_BWD_BATCH; u++)
        if (k0 + u < hi) acc += v[u];
    }
    dtable[(long long)id * dim + f] = acc;
  }
}
