// The per-synapse update of pair STDP, shared by the one-step kernel (cpu/plasticity.cc) and the
// fused engine (cpu/fused.cc), so both perform the same float operations in the same order as
// the pure-JAX rule (neurosim/plasticity/kernels.py: stdp_pair_reference):
//     dw = A+ f+(w) q x - A- f-(w) s y,    f+(w) = (w_max - w)^mu+,  f-(w) = (w - w_min)^mu-
//     w <- w + (clip(w + dw, lo, hi) - w)
// Compiled with -ffp-contract=off (g++) and -fmad=false (nvcc; neurosim/_build.py): no fused
// multiply-add here. The same code runs on the GPU (cuda/plasticity.cu), where the weight
// dependence's power (0 < mu != 1) is CUDA's powf, which may differ from the CPU's in the last bit.
#pragma once
#include <cmath>

#if defined(__CUDACC__)
#define NEUROSIM_HOST_DEVICE __host__ __device__
#else
#define NEUROSIM_HOST_DEVICE
#endif

namespace neurosim {

NEUROSIM_HOST_DEVICE inline float StdpDependence(float base, float mu) {
  if (mu == 0.0f) return 1.0f;
  base = base > 0.0f ? base : 0.0f;
  if (mu == 1.0f) return base;
#if defined(__CUDA_ARCH__)
  return base > 0.0f ? powf(base, mu) : 0.0f;
#else
  return base > 0.0f ? std::pow(base, mu) : 0.0f;
#endif
}

struct StdpPairRule {
  float a_plus, a_minus, w_min, w_max, mu_plus, mu_minus, lo, hi;
  NEUROSIM_HOST_DEVICE bool additive() const { return mu_plus == 0.0f && mu_minus == 0.0f; }
  // the new weight of a synapse with presynaptic spike s (trace x) and postsynaptic spike q (trace
  // y); kAdditive (mu+ = mu- = 0): the dependence is the constant 1.0f, a multiplication that
  // changes no bit, so both forms give the same weights
  template <bool kAdditive = false>
  NEUROSIM_HOST_DEVICE float Apply(float w0, float s, float q, float x, float y) const {
    const float fp = kAdditive ? 1.0f : StdpDependence(w_max - w0, mu_plus);
    const float fm = kAdditive ? 1.0f : StdpDependence(w0 - w_min, mu_minus);
    const float pot = a_plus * fp * q * x;
    const float dep = a_minus * fm * s * y;
    float c = w0 + (pot - dep);
    c = c < lo ? lo : (c > hi ? hi : c);
    return w0 + (c - w0);
  }
};

}  // namespace neurosim
