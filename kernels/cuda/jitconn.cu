// CUDA event operators on procedural ("just-in-time") fixed-probability connectivity,
// registered as XLA FFI targets. Contracts: kernels/README.md (`neurosim_jit_event`,
// `neurosim_jit_transposed`); the matrix is the one defined in neurosim/jitconn_rng.h.
//
// A row's columns form a chain, col_k = col_{k-1} + 1 + gap_k, but each gap depends only on
// (seed, row, k). So a warp walks a row 32 draws at a time: lane l draws the gap of
// k = k0 + l, an inclusive warp prefix sum of (1 + gap) added to the previous chunk's last
// column gives the 32 columns at once, and the walk stops once a column reaches n_post.
//
// jit_event: one warp per group of 32 presynaptic rows; a ballot picks the rows that spike (in
// any batch element) and the warp regenerates each of them and scatters with RED adds.
// jit_transposed: one warp per presynaptic row (every row), gathers x at the columns, a warp
// reduction; the batch goes kBatchTile elements per walk of the row.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "neurosim/jitconn_rng.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = 32 * kWarpsPerBlock;
constexpr int kBatchTile = 8;

struct JitParams {
  uint64_t seed;
  double log_q;  // log1p(-p), computed once on the host
  int32_t dist;
  int32_t allow_self;
  int64_t n_pre, n_post;
};

__device__ __forceinline__ void red_add(float* p, float v) {
  asm volatile("red.global.add.f32 [%0], %1;" ::"l"(p), "f"(v) : "memory");
}

__device__ __forceinline__ float spike_value(const uint8_t* s, int64_t i) { return s[i] ? 1.0f : 0.0f; }
__device__ __forceinline__ float spike_value(const float* s, int64_t i) { return s[i]; }

// The columns of draws k0 + lane of row i, given the previous chunk's last column `col`.
// Returns this lane's column; `valid` says whether it is a synapse (inside the row, and not
// the diagonal when autapses are excluded).
__device__ __forceinline__ int64_t chunk_column(const JitParams& P, int64_t i, int64_t k, int64_t col, int lane,
                                                bool* valid) {
  long long step = 1 + neurosim::jit_gap(P.seed, i, k, P.log_q, P.n_post);  // <= n_post + 1
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const long long v = __shfl_up_sync(kFull, step, o);
    if (lane >= o) step += v;
  }
  const int64_t c = col + step;
  *valid = c < P.n_post && (P.allow_self || c != i);
  return c;
}

// The weight of draw k for batch element b: wa[b] + wb[b] r_k exactly as jit_weight computes it
// (r = jit_weight(..., 0, 1) is r_k itself, and the product and sum are rounded the same way).
__device__ __forceinline__ float batch_weight(float r, const float* wa, const float* wb, int64_t b) {
  return __fadd_rn(wa[b], __fmul_rn(wb[b], r));
}

// w_bstride: 1 when each batch element has its own (wa, wb) (Bw == B > 1), else 0.
template <typename S, bool kSingle>
__global__ void __launch_bounds__(kThreads)
jit_event_kernel(const S* __restrict__ spikes, const float* __restrict__ wa, const float* __restrict__ wb,
                 int64_t w_bstride, int64_t batch, JitParams P, float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t group = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  const int64_t row0 = group * 32;
  if (row0 >= P.n_pre) return;  // whole warp
  const int64_t row = row0 + lane;
  bool any = false;
  float s_own = 0.0f;
  if (row < P.n_pre) {
    if (kSingle) {
      s_own = spike_value(spikes, row);
      any = s_own != 0.0f;
    } else {
      for (int64_t b = 0; b < batch && !any; ++b) any = spike_value(spikes, b * P.n_pre + row) != 0.0f;
    }
  }
  unsigned active = __ballot_sync(kFull, any);
  const float wa0 = wa[0], wb0 = wb[0];
  while (active) {
    const int r = __ffs(active) - 1;
    active &= active - 1;
    const int64_t i = row0 + r;
    const float s = __shfl_sync(kFull, s_own, r);
    // kSingle: nothing else. Batch: lane b holds batch element b's spike (first 32 elements).
    const float sb0 = (!kSingle && lane < batch) ? spike_value(spikes, int64_t(lane) * P.n_pre + i) : 0.0f;
    const unsigned bmask0 = kSingle ? 0u : __ballot_sync(kFull, sb0 != 0.0f);
    int64_t col = -1;
    for (int64_t k0 = 0; col < P.n_post; k0 += 32) {
      const int64_t k = k0 + lane;
      bool valid;
      const int64_t c = chunk_column(P, i, k, col, lane, &valid);
      if (kSingle) {
        if (valid) red_add(out + c, s * neurosim::jit_weight(P.seed, i, k, P.dist, wa0, wb0));
      } else {
        float wk = 0.0f;  // batch-shared weight, or r_k when each batch element has its own
        if (valid)
          wk = w_bstride ? neurosim::jit_weight(P.seed, i, k, P.dist, 0.0f, 1.0f)
                         : neurosim::jit_weight(P.seed, i, k, P.dist, wa0, wb0);
        for (int64_t b0 = 0; b0 < batch; b0 += 32) {
          const float sb = b0 == 0 ? sb0 : (b0 + lane < batch ? spike_value(spikes, (b0 + lane) * P.n_pre + i) : 0.0f);
          unsigned m = b0 == 0 ? bmask0 : __ballot_sync(kFull, sb != 0.0f);
          while (m) {  // warp-uniform
            const int bb = __ffs(m) - 1;
            m &= m - 1;
            const float sv = __shfl_sync(kFull, sb, bb);
            const int64_t b = b0 + bb;
            if (valid) red_add(out + b * P.n_post + c, sv * (w_bstride ? batch_weight(wk, wa, wb, b) : wk));
          }
        }
      }
      col = __shfl_sync(kFull, c, 31);
    }
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

template <int kTile>
__global__ void __launch_bounds__(kThreads)
jit_transposed_kernel(const float* __restrict__ x, const float* __restrict__ wa, const float* __restrict__ wb,
                      int64_t w_bstride, int64_t batch, JitParams P, float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * kWarpsPerBlock;
  const float wa0 = wa[0], wb0 = wb[0];
  for (int64_t i = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); i < P.n_pre; i += warps) {
    for (int64_t b0 = 0; b0 < batch; b0 += kTile) {
      float acc[kTile];
#pragma unroll
      for (int t = 0; t < kTile; ++t) acc[t] = 0.0f;
      int64_t col = -1;
      for (int64_t k0 = 0; col < P.n_post; k0 += 32) {
        const int64_t k = k0 + lane;
        bool valid;
        const int64_t c = chunk_column(P, i, k, col, lane, &valid);
        if (valid) {
          const float wk = w_bstride ? neurosim::jit_weight(P.seed, i, k, P.dist, 0.0f, 1.0f)
                                     : neurosim::jit_weight(P.seed, i, k, P.dist, wa0, wb0);
#pragma unroll
          for (int t = 0; t < kTile; ++t) {
            const int64_t b = b0 + t;
            if (b < batch) acc[t] += (w_bstride ? batch_weight(wk, wa, wb, b) : wk) * __ldg(x + b * P.n_post + c);
          }
        }
        col = __shfl_sync(kFull, c, 31);
      }
#pragma unroll
      for (int t = 0; t < kTile; ++t) {
        const int64_t b = b0 + t;
        const float total = warp_sum(acc[t]);
        if (lane == 0 && b < batch) out[b * P.n_pre + i] = total;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Host side.
ffi::Error check_params(const char* op, ffi::Buffer<ffi::F32>& wa, ffi::Buffer<ffi::F32>& wb, int64_t batch,
                        double p, int32_t dist, int32_t allow_self, int64_t* w_bstride) {
  auto ad = wa.dimensions();
  auto bd = wb.dimensions();
  if (ad.size() != 1 || bd.size() != 1 || ad[0] != bd[0] || (ad[0] != 1 && ad[0] != batch))
    return ffi::Error::InvalidArgument(std::string(op) + ": wa and wb must both have shape (1,) or (B,) = (" +
                                       std::to_string(batch) + ",)");
  if (!(p >= 0.0 && p <= 1.0))
    return ffi::Error::InvalidArgument(std::string(op) + ": p must lie in [0, 1], got " + std::to_string(p));
  if (dist < neurosim::kHomogeneous || dist > neurosim::kNormal)
    return ffi::Error::InvalidArgument(std::string(op) + ": dist must be 0 (homogeneous), 1 (uniform) or 2 "
                                       "(normal), got " + std::to_string(dist));
  if (allow_self != 0 && allow_self != 1)
    return ffi::Error::InvalidArgument(std::string(op) + ": allow_self must be 0 or 1, got " +
                                       std::to_string(allow_self));
  *w_bstride = (ad[0] == 1 || batch == 1) ? 0 : 1;
  return ffi::Error::Success();
}

ffi::Error launch_status(const char* op) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return ffi::Error::Internal(std::string(op) + ": CUDA error: " + cudaGetErrorString(err));
  return ffi::Error::Success();
}

ffi::Error JitEventImpl(cudaStream_t stream, ffi::AnyBuffer spikes, ffi::Buffer<ffi::F32> wa,
                        ffi::Buffer<ffi::F32> wb, ffi::ResultBuffer<ffi::F32> out, uint64_t seed, double p,
                        int32_t dist, int32_t allow_self) {
  const char* op = "neurosim_jit_event";
  auto sd = spikes.dimensions();
  auto od = out->dimensions();
  if (sd.size() != 2) return ffi::Error::InvalidArgument("neurosim_jit_event: spikes must be 2-D (B, n_pre)");
  if (od.size() != 2 || od[0] != sd[0])
    return ffi::Error::InvalidArgument("neurosim_jit_event: the result must be 2-D (B, n_post)");
  const auto dtype = spikes.element_type();
  if (dtype != ffi::DataType::PRED && dtype != ffi::DataType::F32)
    return ffi::Error::InvalidArgument("neurosim_jit_event: spikes must be bool (pred) or float32");
  const int64_t batch = sd[0];
  int64_t w_bstride = 0;
  if (auto e = check_params(op, wa, wb, batch, p, dist, allow_self, &w_bstride); !e.success()) return e;
  const JitParams P{seed, std::log1p(-p), dist, allow_self, sd[1], od[1]};
  float* o = out->typed_data();
  const size_t out_bytes = size_t(batch) * size_t(P.n_post) * sizeof(float);
  if (out_bytes) {
    if (cudaError_t err = cudaMemsetAsync(o, 0, out_bytes, stream); err != cudaSuccess)
      return ffi::Error::Internal(std::string(op) + ": CUDA error: " + cudaGetErrorString(err));
  }
  if (batch == 0 || P.n_pre == 0 || P.n_post == 0) return launch_status(op);
  const int64_t groups = (P.n_pre + 31) / 32;
  const dim3 grid{unsigned((groups + kWarpsPerBlock - 1) / kWarpsPerBlock)};
  const float* a = wa.typed_data();
  const float* b = wb.typed_data();
  if (dtype == ffi::DataType::PRED) {
    const uint8_t* s = static_cast<const uint8_t*>(spikes.untyped_data());
    if (batch == 1) jit_event_kernel<uint8_t, true><<<grid, kThreads, 0, stream>>>(s, a, b, w_bstride, batch, P, o);
    else jit_event_kernel<uint8_t, false><<<grid, kThreads, 0, stream>>>(s, a, b, w_bstride, batch, P, o);
  } else {
    const float* s = static_cast<const float*>(spikes.untyped_data());
    if (batch == 1) jit_event_kernel<float, true><<<grid, kThreads, 0, stream>>>(s, a, b, w_bstride, batch, P, o);
    else jit_event_kernel<float, false><<<grid, kThreads, 0, stream>>>(s, a, b, w_bstride, batch, P, o);
  }
  return launch_status(op);
}

ffi::Error JitTransposedImpl(cudaStream_t stream, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> wa,
                             ffi::Buffer<ffi::F32> wb, ffi::ResultBuffer<ffi::F32> out, uint64_t seed, double p,
                             int32_t dist, int32_t allow_self) {
  const char* op = "neurosim_jit_transposed";
  auto xd = x.dimensions();
  auto od = out->dimensions();
  if (xd.size() != 2) return ffi::Error::InvalidArgument("neurosim_jit_transposed: x must be 2-D (B, n_post)");
  if (od.size() != 2 || od[0] != xd[0])
    return ffi::Error::InvalidArgument("neurosim_jit_transposed: the result must be 2-D (B, n_pre)");
  const int64_t batch = xd[0];
  int64_t w_bstride = 0;
  if (auto e = check_params(op, wa, wb, batch, p, dist, allow_self, &w_bstride); !e.success()) return e;
  const JitParams P{seed, std::log1p(-p), dist, allow_self, od[1], xd[1]};
  float* o = out->typed_data();
  if (batch == 0 || P.n_pre == 0) return ffi::Error::Success();
  const int64_t blocks = std::min<int64_t>((P.n_pre + kWarpsPerBlock - 1) / kWarpsPerBlock, int64_t(1) << 20);
  const dim3 grid{unsigned(blocks)};
  if (batch == 1)
    jit_transposed_kernel<1><<<grid, kThreads, 0, stream>>>(x.typed_data(), wa.typed_data(), wb.typed_data(),
                                                            w_bstride, batch, P, o);
  else
    jit_transposed_kernel<kBatchTile><<<grid, kThreads, 0, stream>>>(x.typed_data(), wa.typed_data(),
                                                                     wb.typed_data(), w_bstride, batch, P, o);
  return launch_status(op);
}

}  // namespace

// The handlers are exported by name: neurosim._kernels looks them up with ctypes.
extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* neurosim_jit_event_cuda(XLA_FFI_CallFrame*);
extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* neurosim_jit_transposed_cuda(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_jit_event_cuda, JitEventImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Arg<ffi::AnyBuffer>()          // spikes (B, n_pre) pred/f32
                                  .Arg<ffi::Buffer<ffi::F32>>()   // wa (Bw,)
                                  .Arg<ffi::Buffer<ffi::F32>>()   // wb (Bw,)
                                  .Ret<ffi::Buffer<ffi::F32>>()   // out (B, n_post)
                                  .Attr<uint64_t>("seed")
                                  .Attr<double>("p")
                                  .Attr<int32_t>("dist")
                                  .Attr<int32_t>("allow_self"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_jit_transposed_cuda, JitTransposedImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()   // x (B, n_post)
                                  .Arg<ffi::Buffer<ffi::F32>>()   // wa (Bw,)
                                  .Arg<ffi::Buffer<ffi::F32>>()   // wb (Bw,)
                                  .Ret<ffi::Buffer<ffi::F32>>()   // out (B, n_pre)
                                  .Attr<uint64_t>("seed")
                                  .Attr<double>("p")
                                  .Attr<int32_t>("dist")
                                  .Attr<int32_t>("allow_self"));
