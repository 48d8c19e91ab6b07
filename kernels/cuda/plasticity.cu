// neurosim_stdp_pair (CUDA): one step of event-driven pair STDP on a CSR projection, in place.
// Operands, attributes and semantics: kernels/README.md ("neurosim_stdp_pair"); the CPU form is
// cpu/plasticity.cc, and both apply the per-synapse update of include/neurosim/stdp_pair.h.
//
// One launch, one warp per neuron: warps [0, n_pre) take the rows of the presynaptic neurons
// whose spikes were delivered (s_i != 0), warps [n_pre, n_pre + n_post) the columns of the
// postsynaptic neurons that fired (q_j != 0), skipping synapses whose presynaptic neuron
// delivered. The two sets of synapses are disjoint (a synapse lies in one row and one column,
// and the column pass leaves the delivering rows' synapses alone), so every visited weight is
// read and written by one lane, once, with no atomics: the result does not depend on the order
// the warps run in. The warp of a neuron that did not spike returns at once. Each visited
// synapse gets w <- Apply(w, s_i, q_j, x_i, y_j) from its weight at the start of the step,
// the float operations of the CPU kernel in its order (nvcc -fmad=false: no multiply-add), so
// the weights are the CPU kernel's bit for bit where the weight dependence is additive or linear
// (mu in {0, 1}); a fractional mu goes through CUDA's powf.
// A row or column whose pointers are malformed (outside [0, nnz]) is skipped here; the CPU
// kernel reports it as an error. Out-of-range indices are skipped on both.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "neurosim/stdp_pair.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using Rule = neurosim::StdpPairRule;

constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = 32 * kWarpsPerBlock;
constexpr int64_t kMaxBlocks = 1 << 16;   // a grid-stride loop covers the rest

__global__ void StdpPairKernel(float* __restrict__ w, const int32_t* __restrict__ ip, const int32_t* __restrict__ ix,
                               const int32_t* __restrict__ rw, const int32_t* __restrict__ cp,
                               const int32_t* __restrict__ cm, const float* __restrict__ s,
                               const float* __restrict__ q, const float* __restrict__ xs,
                               const float* __restrict__ ys, const float* __restrict__ amp, float w_min, float w_max,
                               float mu_plus, float mu_minus, float lo, float hi, int64_t nnz, int64_t n_pre,
                               int64_t n_post) {
  // the amplitudes are read on the device (they may be traced values computed by the step)
  const Rule rule{amp[0], amp[1], w_min, w_max, mu_plus, mu_minus, lo, hi};
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); u < n_pre + n_post;
       u += warps) {
    if (u < n_pre) {   // the row of presynaptic neuron i
      const int64_t i = u;
      const float si = s[i];
      if (si == 0.0f) continue;
      const int64_t a = ip[i], b = ip[i + 1];
      if (a < 0 || b < a || b > nnz) continue;
      const float xi = xs[i];
      for (int64_t k = a + lane; k < b; k += 32) {
        const int32_t j = ix[k];
        if (j < 0 || j >= n_post) continue;
        w[k] = rule.Apply(w[k], si, q[j], xi, ys[j]);
      }
    } else {           // the column of postsynaptic neuron j
      const int64_t j = u - n_pre;
      const float qj = q[j];
      if (qj == 0.0f) continue;
      const int64_t a = cp[j], b = cp[j + 1];
      if (a < 0 || b < a || b > nnz) continue;
      const float yj = ys[j];
      for (int64_t t = a + lane; t < b; t += 32) {
        const int32_t k = cm[t];
        if (k < 0 || k >= nnz) continue;
        const int32_t i = rw[k];
        if (i < 0 || i >= n_pre || s[i] != 0.0f) continue;
        w[k] = rule.Apply(w[k], 0.0f, qj, xs[i], yj);   // s_i == 0: no depression term
      }
    }
  }
}

ffi::Error StdpPairCuda(cudaStream_t stream, ffi::Buffer<ffi::F32> weights, ffi::Buffer<ffi::S32> indptr,
                        ffi::Buffer<ffi::S32> indices, ffi::Buffer<ffi::S32> rows, ffi::Buffer<ffi::S32> col_ptr,
                        ffi::Buffer<ffi::S32> col_perm, ffi::Buffer<ffi::F32> pre, ffi::Buffer<ffi::F32> post,
                        ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> y, ffi::Buffer<ffi::F32> amp, float w_min,
                        float w_max, float mu_plus, float mu_minus, float lo, float hi,
                        ffi::ResultBuffer<ffi::F32> out) {
  auto fail = [](const std::string& what) { return ffi::Error::InvalidArgument("neurosim_stdp_pair: " + what); };
  const int64_t nnz = weights.element_count();
  const int64_t n_pre = pre.element_count(), n_post = post.element_count();
  if (indptr.element_count() != n_pre + 1 || indices.element_count() != nnz || rows.element_count() != nnz ||
      col_ptr.element_count() != n_post + 1 || col_perm.element_count() != nnz || x.element_count() != n_pre ||
      y.element_count() != n_post || amp.element_count() != 2 || out->element_count() != nnz)
    return fail("operand sizes do not match (see kernels/README.md)");
  float* w = out->typed_data();
  if (w != weights.typed_data() && nnz > 0)
    cudaMemcpyAsync(w, weights.typed_data(), sizeof(float) * static_cast<size_t>(nnz), cudaMemcpyDeviceToDevice,
                    stream);
  const int64_t units = n_pre + n_post;
  if (units > 0 && nnz > 0) {
    const int64_t blocks = std::min<int64_t>((units + kWarpsPerBlock - 1) / kWarpsPerBlock, kMaxBlocks);
    StdpPairKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        w, indptr.typed_data(), indices.typed_data(), rows.typed_data(), col_ptr.typed_data(), col_perm.typed_data(),
        pre.typed_data(), post.typed_data(), x.typed_data(), y.typed_data(), amp.typed_data(), w_min, w_max, mu_plus,
        mu_minus, lo, hi, nnz, n_pre, n_post);
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return ffi::Error::Internal(std::string("neurosim_stdp_pair: ") + cudaGetErrorString(err));
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_stdp_pair_cuda, StdpPairCuda,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
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
