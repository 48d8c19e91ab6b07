// Procedural ("just-in-time") fixed-probability connectivity: the counter-based random
// numbers every backend (C++, CUDA, the numpy materialisation in neurosim/events/jitconn.py)
// draws in exactly the same way, so one seed is one matrix everywhere.
//
// Row i of the matrix is regenerated on demand: draw k = 0, 1, 2, ... gives a geometric gap
//     u_k  = ((hash(seed, 0, i, k) >> 11) + 1) * 2^-53                  in (0, 1]
//     gap  = floor(log(u_k) / log1p(-p))       (clamped to n_post)
//     col_k = col_{k-1} + 1 + gap,  col_{-1} = -1;   stop when col_k >= n_post
// and synapse (i, col_k) gets the weight  w = wa + wb * r_k  (float32, no fused multiply-add):
//     homogeneous: r = 0;  uniform: r = (hash(seed, 1, i, k) >> 40) * 2^-24 in [0, 1);
//     normal: r = (float) sqrt(-2 log u1) cos(2 pi u2),  u1 = ((hash(seed,1,i,k) >> 11) + 1) 2^-53,
//             u2 = (hash(seed, 2, i, k) >> 11) 2^-53.
// Gaps and normals use double precision; log/cos of different libraries may differ in the last
// bit, which changes a floored gap only when a ratio lies within ~1e-16 of an integer.
// Without autapses (allow_self = 0) the draw with col_k == i is skipped (its k is consumed).
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define NS_HD __host__ __device__ __forceinline__
#else
#define NS_HD inline
#endif

namespace neurosim {

enum JitDist : int32_t { kHomogeneous = 0, kUniform = 1, kNormal = 2 };

NS_HD uint64_t mix64(uint64_t z) {  // splitmix64's finaliser: a bijection on 64 bits
  z ^= z >> 30;
  z *= 0xbf58476d1ce4e5b9ULL;
  z ^= z >> 27;
  z *= 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return z;
}

// stream 0: connectivity gaps; 1 and 2: weights
NS_HD uint64_t jit_hash(uint64_t seed, uint64_t stream, uint64_t row, uint64_t k) {
  return mix64(mix64(mix64(seed ^ (stream << 60)) + row) + k);
}

NS_HD double jit_unit_open0(uint64_t h) { return (double)((h >> 11) + 1) * 0x1.0p-53; }  // (0, 1]

// Gap before the k-th draw's column; log_q = log1p(-p) < 0, computed once by the caller.
NS_HD int64_t jit_gap(uint64_t seed, int64_t row, int64_t k, double log_q, int64_t n_post) {
  double s = log(jit_unit_open0(jit_hash(seed, 0, (uint64_t)row, (uint64_t)k))) / log_q;
  if (!(s < (double)n_post)) s = (double)n_post;  // also catches NaN
  return (int64_t)s;                                // s >= 0: truncation is floor
}

NS_HD float jit_weight(uint64_t seed, int64_t row, int64_t k, int32_t dist, float wa, float wb) {
  float r = 0.0f;
  if (dist == kUniform) {
    r = (float)(jit_hash(seed, 1, (uint64_t)row, (uint64_t)k) >> 40) * 0x1.0p-24f;
  } else if (dist == kNormal) {
    double u1 = jit_unit_open0(jit_hash(seed, 1, (uint64_t)row, (uint64_t)k));
    double u2 = (double)(jit_hash(seed, 2, (uint64_t)row, (uint64_t)k) >> 11) * 0x1.0p-53;
    r = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
  }
#if defined(__CUDA_ARCH__)
  return __fadd_rn(wa, __fmul_rn(wb, r));
#else
  return wa + wb * r;  // neurosim._build compiles with -ffp-contract=off: no FMA here
#endif
}

}  // namespace neurosim
