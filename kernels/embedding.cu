// embedding.cu: embedding gather (forward) and scatter-add (backward).
//
// Launch: one block per id (grid n, up to 2³¹−1), 128 threads striding over
// the dim features of its row.
#include "common.cuh"

// embedding_fwd: out[i,:] = table[ids[i],:], zeros for ids[i] == pad; an id
// outside [0, vocab) is reported in status and gives zeros. Reads and writes
// 4·dim B per id.
KERNEL void embedding_fwd(int n, int dim, int vocab, int pad, dptr<const int> ids, dptr<const float> table,
                          dptr<float> out, dptr<int> status) {
  int i = blockIdx.x;
  int id = ids[i];
  bool bad = id != pad && (id < 0 || id >= vocab);
  if (bad && threadIdx.x == 0) report_status(status, STATUS_TOKEN_RANGE, id, i);
  bool zero = bad || id == pad;
  auto row = out + (long long)i * dim;
  for (int f = threadIdx.x; f < dim; f += blockDim.x) row[f] = zero ? 0.0f : table[(long long)id * dim + f];
}

// embedding_bwd: dtable[ids[i],:] += dout[i,:] with atomicAdd (ids repeat),
// skipping pad and ids outside [0, vocab) (reported). Reads 4·dim B of dout
// per id and does dim atomic adds.
KERNEL void embedding_bwd(int n, int dim, int vocab, int pad, dptr<const int> ids, dptr<const float> dout,
                          dptr<float> dtable, dptr<int> status) {
  int i = blockIdx.x;
  int id = ids[i];
  if (id == pad) return;
  if (id < 0 || id >= vocab) {
    if (threadIdx.x == 0) report_status(status, STATUS_TOKEN_RANGE, id, i);
    return;
  }
  for (int f = threadIdx.x; f < dim; f += blockDim.x) atomicAdd(&dtable[(long long)id * dim + f], dout[(long long)i * dim + f]);
}
