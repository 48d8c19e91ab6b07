// neurosim_stdp_pair (CPU): one step of event-driven pair STDP on a CSR projection, in place.
// Operands, attributes and semantics: kernels/README.md ("neurosim_stdp_pair").
//
// Only the synapses of neurons that spiked are visited: the rows of the presynaptic neurons
// whose spikes were delivered (CSR order), then, through the column index (col_ptr, col_perm),
// the columns of the postsynaptic neurons that fired, skipping synapses whose presynaptic neuron
// spiked (their row already applied both terms). Each visited synapse gets, from its weight w at
// the start of the step,
//     dw  = A+ f+(w) q_j x_i - A- f-(w) s_i y_j          f+(w) = (w_max - w)^mu+, f-(w) = (w - w_min)^mu-
//     w  <- w + (clip(w + dw, lo, hi) - w)
// with the traces x (after this step's presynaptic jump) and y (decayed, before this step's
// postsynaptic jump) computed by the caller: the arithmetic of the pure-JAX rule, in its order.
// Single-threaded; cost O(spiking neurons x fan-out), independent of nnz.
#include <cstdint>
#include <string>

#include "neurosim/stdp_pair.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using Rule = neurosim::StdpPairRule;

ffi::Error StdpPairCpu(ffi::Buffer<ffi::F32> weights, ffi::Buffer<ffi::S32> indptr, ffi::Buffer<ffi::S32> indices,
                       ffi::Buffer<ffi::S32> rows, ffi::Buffer<ffi::S32> col_ptr, ffi::Buffer<ffi::S32> col_perm,
                       ffi::Buffer<ffi::F32> pre, ffi::Buffer<ffi::F32> post, ffi::Buffer<ffi::F32> x,
                       ffi::Buffer<ffi::F32> y, ffi::Buffer<ffi::F32> amp, float w_min, float w_max, float mu_plus,
                       float mu_minus, float lo, float hi, ffi::ResultBuffer<ffi::F32> out) {
  auto fail = [](const std::string& what) { return ffi::Error::InvalidArgument("neurosim_stdp_pair: " + what); };
  const int64_t nnz = weights.element_count();
  const int64_t n_pre = pre.element_count(), n_post = post.element_count();
  if (indptr.element_count() != n_pre + 1 || indices.element_count() != nnz || rows.element_count() != nnz ||
      col_ptr.element_count() != n_post + 1 || col_perm.element_count() != nnz || x.element_count() != n_pre ||
      y.element_count() != n_post || amp.element_count() != 2 || out->element_count() != nnz)
    return fail("operand sizes do not match (see kernels/README.md)");
  const float* w_in = weights.typed_data();
  float* w = out->typed_data();
  if (w != w_in)
    for (int64_t k = 0; k < nnz; ++k) w[k] = w_in[k];
  const int32_t* ip = indptr.typed_data();
  const int32_t* ix = indices.typed_data();
  const int32_t* rw = rows.typed_data();
  const int32_t* cp = col_ptr.typed_data();
  const int32_t* cm = col_perm.typed_data();
  const float* s = pre.typed_data();
  const float* q = post.typed_data();
  const float* xs = x.typed_data();
  const float* ys = y.typed_data();
  const Rule rule{amp.typed_data()[0], amp.typed_data()[1], w_min, w_max, mu_plus, mu_minus, lo, hi};
  for (int64_t i = 0; i < n_pre; ++i) {
    if (s[i] == 0.0f) continue;
    const int64_t a = ip[i], b = ip[i + 1];
    if (a < 0 || b < a || b > nnz) return fail("indptr of row " + std::to_string(i) + " is outside [0, nnz]");
    for (int64_t k = a; k < b; ++k) {
      const int32_t j = ix[k];
      if (j < 0 || j >= n_post) continue;
      w[k] = rule.Apply(w[k], s[i], q[j], xs[i], ys[j]);
    }
  }
  for (int64_t j = 0; j < n_post; ++j) {
    if (q[j] == 0.0f) continue;
    const int64_t a = cp[j], b = cp[j + 1];
    if (a < 0 || b < a || b > nnz) return fail("col_ptr of column " + std::to_string(j) + " is outside [0, nnz]");
    for (int64_t t = a; t < b; ++t) {
      const int32_t k = cm[t];
      if (k < 0 || k >= nnz) continue;
      const int32_t i = rw[k];
      if (i < 0 || i >= n_pre || s[i] != 0.0f) continue;
      w[k] = rule.Apply(w[k], 0.0f, q[j], xs[i], ys[j]);   // s[i] == 0: no depression term
    }
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_stdp_pair_cpu, StdpPairCpu,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()   // weights (aliased to the result)
                                  .Arg<ffi::Buffer<ffi::S32>>()   // indptr
                                  .Arg<ffi::Buffer<ffi::S32>>()   // indices
                                  .Arg<ffi::Buffer<ffi::S32>>()   // rows
                                  .Arg<ffi::Buffer<ffi::S32>>()   // col_ptr
                                  .Arg<ffi::Buffer<ffi::S32>>()   // col_perm
                                  .Arg<ffi::Buffer<ffi::F32>>()   // pre (delivered spikes)
                                  .Arg<ffi::Buffer<ffi::F32>>()   // post
                                  .Arg<ffi::Buffer<ffi::F32>>()   // x (pre trace, after the jump)
                                  .Arg<ffi::Buffer<ffi::F32>>()   // y (post trace, decayed, before the jump)
                                  .Arg<ffi::Buffer<ffi::F32>>()   // amp = [a_plus, a_minus]
                                  .Attr<float>("w_min")
                                  .Attr<float>("w_max")
                                  .Attr<float>("mu_plus")
                                  .Attr<float>("mu_minus")
                                  .Attr<float>("lo")
                                  .Attr<float>("hi")
                                  .Ret<ffi::Buffer<ffi::F32>>());
