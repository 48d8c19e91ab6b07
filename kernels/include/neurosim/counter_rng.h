// Counter-based uniform numbers of the inputs: the draw of neuron i in step t is a pure function
// of (seed, t, i), mirrored bit for bit by neurosim/inputs/draws.py (jax.numpy and numpy):
//     mix(x)  = lowbias32: x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16
//     s_t     = mix(mix(t ^ seed0) + seed1)
//     u_{t,i} = (mix(mix(s_t ^ i) + s_t) >> 8) * 2^-24          in [0, 1), 24 bits
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define NS_RNG_HD __host__ __device__ __forceinline__
#else
#define NS_RNG_HD inline
#endif

namespace neurosim {

NS_RNG_HD uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

NS_RNG_HD uint32_t counter_step_seed(uint32_t seed0, uint32_t seed1, uint32_t t) {
  return mix32(mix32(t ^ seed0) + seed1);
}

NS_RNG_HD float counter_uniform(uint32_t step_seed, uint32_t i) {
  const uint32_t h = mix32(mix32(step_seed ^ i) + step_seed);
  return static_cast<float>(h >> 8) * 0x1.0p-24f;
}

}  // namespace neurosim
