// philox.cuh: the counter-based generator Philox4x32-10 (Salmon et al.,
// SC 2011), bit for bit the one of host.Philox4x32, and the dropout draw of
// host.DropoutKeep built on it.
#ifndef EMOTION_PHILOX_CUH
#define EMOTION_PHILOX_CUH

#include "common.cuh"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// philox4x32_10 returns word 0 of Philox4x32-10 of counter (c0, c1, c2, c3)
// under key (k0, k1) (dropout uses word 0 only).
__device__ __forceinline__ unsigned philox4x32_10_word0(unsigned c0, unsigned c1, unsigned c2, unsigned c3,
                                                        unsigned k0, unsigned k1) {
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    unsigned hi0 = __umulhi(PHILOX_M0, c0), lo0 = PHILOX_M0 * c0;
    unsigned hi1 = __umulhi(PHILOX_M1, c2), lo1 = PHILOX_M1 * c2;
    unsigned n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return c0;
}

// dropout_uniform is u of host.DropoutKeep for element e = offset + i: word 0
// of Philox4x32-10 at counter (e, 0) under key seed, as a float in [0, 1) on
// a 2⁻²⁴ grid.
__device__ __forceinline__ float dropout_uniform(unsigned long long seed, unsigned long long e) {
  unsigned r = philox4x32_10_word0((unsigned)e, (unsigned)(e >> 32), 0u, 0u, (unsigned)seed, (unsigned)(seed >> 32));
  return (float)(r >> 8) * (1.0f / 16777216.0f);
}

#endif  // EMOTION_PHILOX_CUH
