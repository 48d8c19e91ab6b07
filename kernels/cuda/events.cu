// CUDA event operators on a stored CSR (presynaptic-major), registered as XLA FFI targets.
// Contracts: kernels/README.md (`neurosim_csr_event`, `neurosim_csr_transposed`).
//
// csr_event: out[b, j] = sum over synapses k = (i -> j): spikes[b, i] w[b, k]
//   The output is zeroed on the stream, then one warp takes a group of 32 consecutive
//   presynaptic rows: each lane reads one row's spike(s), a ballot gives the active rows, and
//   the warp walks them one after the other, its lanes striding over the row's synapses and
//   scattering with fire-and-forget RED adds, kUnroll synapses in flight per lane (all loads
//   first, then the adds). Long rows are split between `parts` warps (chosen from the mean row
//   length), which take interleaved chunks of the row. With a batch (B > 1) a row is active
//   when any batch element spikes; its indices (and batch-shared weights) are read once and
//   every spiking batch element is scattered.
//   On an H100 the B = 1 scatter runs at the rate of RED adds to random addresses (~7e10/s,
//   benchmarks/gpu_ops_probe.py): the same reads with the adds sent to consecutive addresses
//   take a third of the time, plain stores are slower, and other ways to walk the rows
//   (EventVariant: deeper unrolling, a flat walk over the concatenated active rows, streaming
//   loads) time the same. The probe target neurosim_csr_event_probe_cuda times each variant.
// csr_transposed: out[b, i] = sum over k in row i: w[b, k] x[b, indices[k]]
//   One warp per row (grid-stride), lanes stride the row, a warp-shuffle reduction; the batch
//   is done kBatchTile elements at a time so the row is read once per tile. (A batch-
//   interleaved copy of x, one 32-byte sector per synapse and tile, was measured no faster.)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = 32 * kWarpsPerBlock;
constexpr int kUnroll = 4;      // synapses in flight per lane
constexpr int kBatchTile = 8;   // batch elements per pass of csr_transposed

// atomicAdd whose result is unused, written as the fire-and-forget reduction it should compile to.
__device__ __forceinline__ void red_add(float* p, float v) {
  asm volatile("red.global.add.f32 [%0], %1;" ::"l"(p), "f"(v) : "memory");
}

__device__ __forceinline__ float spike_value(const uint8_t* s, int64_t i) { return s[i] ? 1.0f : 0.0f; }
__device__ __forceinline__ float spike_value(const float* s, int64_t i) { return s[i]; }

// ---------------------------------------------------------------------------------------------
// csr_event
// w: weights f32[Bw, W]; w_bstride = W when Bw == B > 1 (one weight set per batch element), else 0.

template <bool kStream, typename T>
__device__ __forceinline__ T load_stream(const T* p) {
  return kStream ? __ldcs(p) : __ldg(p);  // .cs: read once, do not keep (spares L2 for the output)
}

// B = 1. Two ways to walk a group's active rows:
//   kFlat = false: row after row, the warp's lanes striding over each row;
//   kFlat = true:  the active rows' synapses are concatenated (a warp prefix sum of the row
//                  lengths) and the lanes stride over that list, finding each synapse's row by
//                  a 5-step binary search over the lanes (shuffles): no idle lanes on short rows
//                  and kU * 32 synapses of several rows in flight at once.
// kMode != kScatter gives wrong results, for timing the parts of the traffic (probe only):
// kStore stores instead of adding; kReadOnly reads the rows and adds one value per lane at the
// end; kCoalesced adds to out[k & cmask] (consecutive addresses across the warp; cmask + 1 is
// the largest power of 2 <= n_post) instead of out[indices[k]].
enum ScatterMode : int { kScatter = 0, kStore = 1, kReadOnly = 2, kCoalesced = 3 };

template <int kMode>
__device__ __forceinline__ void deliver(float* out, int32_t j, int64_t k, int64_t cmask, float v, float& sink) {
  if constexpr (kMode == kScatter) red_add(out + j, v);
  else if constexpr (kMode == kStore) out[j] = v;
  else if constexpr (kMode == kReadOnly) sink += v + float(j);
  else red_add(out + (k & cmask), v);
}

template <typename S, bool kPerSyn, int kU, bool kFlat, bool kStream, int kMode>
__global__ void __launch_bounds__(kThreads)
csr_event_single(const int32_t* __restrict__ indptr, const int32_t* __restrict__ indices,
                 const float* __restrict__ w, const S* __restrict__ spikes, int64_t n_pre,
                 int64_t n_post, float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t group = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  const int64_t row0 = group * 32;
  if (row0 >= n_pre) return;  // whole warp
  const int part = blockIdx.y, parts = gridDim.y;
  const int64_t row = row0 + lane;
  const float s_own = row < n_pre ? spike_value(spikes, row) : 0.0f;
  const bool any = s_own != 0.0f;
  unsigned active = __ballot_sync(kFull, any);
  if (!active) return;
  int32_t my_start = 0, my_end = 0;
  if (any) {
    my_start = indptr[row];
    my_end = indptr[row + 1];
  }
  const float w0 = kPerSyn ? 0.0f : w[0];
  const int64_t chunk = 32 * kU;
  float sink = 0.0f;                                                          // kReadOnly
  const int64_t cmask = (int64_t(1) << (63 - __clzll((unsigned long long)n_post))) - 1;  // kCoalesced
  if constexpr (kFlat) {
    int32_t incl = my_end - my_start;  // inclusive prefix sum of the row lengths
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int32_t v = __shfl_up_sync(kFull, incl, o);
      if (lane >= o) incl += v;
    }
    const int32_t excl = incl - (my_end - my_start);
    const int32_t total = __shfl_sync(kFull, incl, 31);
    for (int32_t f0 = part * chunk; f0 < total; f0 += parts * chunk) {
      int32_t j[kU];
      float v[kU];
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int32_t f = f0 + u * 32 + lane;
        int r = 0;  // the last lane whose excl <= f: its row holds f (its length is > 0)
#pragma unroll
        for (int step = 16; step > 0; step >>= 1) {
          const int32_t e = __shfl_sync(kFull, excl, r + step);
          if (e <= f) r += step;
        }
        const int32_t st = __shfl_sync(kFull, my_start, r);
        const int32_t ex = __shfl_sync(kFull, excl, r);
        const float s = __shfl_sync(kFull, s_own, r);
        if (f < total) {
          const int64_t k = int64_t(st) + (f - ex);
          j[u] = load_stream<kStream>(indices + k);
          v[u] = s * (kPerSyn ? load_stream<kStream>(w + k) : w0);
        }
      }
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int32_t f = f0 + u * 32 + lane;
        if (f < total) deliver<kMode>(out, j[u], f, cmask, v[u], sink);
      }
    }
  } else {
    while (active) {
      const int r = __ffs(active) - 1;
      active &= active - 1;
      const int64_t start = __shfl_sync(kFull, my_start, r);
      const int64_t end = __shfl_sync(kFull, my_end, r);
      const float s = __shfl_sync(kFull, s_own, r);
      for (int64_t base = start + part * chunk; base < end; base += parts * chunk) {
        int32_t j[kU];
        float v[kU];
#pragma unroll
        for (int u = 0; u < kU; ++u) {
          const int64_t k = base + u * 32 + lane;
          if (k < end) {
            j[u] = load_stream<kStream>(indices + k);
            v[u] = s * (kPerSyn ? load_stream<kStream>(w + k) : w0);
          }
        }
#pragma unroll
        for (int u = 0; u < kU; ++u) {
          const int64_t k = base + u * 32 + lane;
          if (k < end) deliver<kMode>(out, j[u], k, cmask, v[u], sink);
        }
      }
    }
  }
  if constexpr (kMode == kReadOnly) {
    // one add per thread, to addresses spread like the threads (no contention)
    if (sink != 0.0f) red_add(out + ((int64_t(blockIdx.x) * kThreads + threadIdx.x) & cmask), sink);
  }
}

// B > 1: a row is active when any batch element spikes; its indices (and batch-shared weights)
// are read once per chunk and scattered for each spiking batch element.
template <typename S, bool kPerSyn>
__global__ void __launch_bounds__(kThreads)
csr_event_batch(const int32_t* __restrict__ indptr, const int32_t* __restrict__ indices,
                const float* __restrict__ w, int64_t w_bstride, const S* __restrict__ spikes,
                int64_t batch, int64_t n_pre, int64_t n_post, float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t group = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  const int64_t row0 = group * 32;
  if (row0 >= n_pre) return;  // whole warp
  const int part = blockIdx.y, parts = gridDim.y;
  const int64_t row = row0 + lane;
  bool any = false;
  if (row < n_pre)
    for (int64_t b = 0; b < batch && !any; ++b) any = spike_value(spikes, b * n_pre + row) != 0.0f;
  unsigned active = __ballot_sync(kFull, any);
  int32_t my_start = 0, my_end = 0;
  if (any) {
    my_start = indptr[row];
    my_end = indptr[row + 1];
  }
  const int64_t chunk = 32 * kUnroll;
  while (active) {
    const int r = __ffs(active) - 1;
    active &= active - 1;
    const int64_t i = row0 + r;
    const int64_t start = __shfl_sync(kFull, my_start, r);
    const int64_t end = __shfl_sync(kFull, my_end, r);
    for (int64_t b0 = 0; b0 < batch; b0 += 32) {  // 32 batch elements at a time, one per lane
      const int64_t my_b = b0 + lane;
      const float sb = my_b < batch ? spike_value(spikes, my_b * n_pre + i) : 0.0f;
      const unsigned bmask = __ballot_sync(kFull, sb != 0.0f);
      if (!bmask) continue;
      for (int64_t base = start + part * chunk; base < end; base += parts * chunk) {
        int32_t j[kUnroll];
        float wv[kUnroll];  // batch-shared weights (w_bstride == 0)
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int64_t k = base + u * 32 + lane;
          if (k < end) {
            j[u] = __ldg(indices + k);
            if (w_bstride == 0) wv[u] = kPerSyn ? __ldg(w + k) : w[0];
          }
        }
        unsigned m = bmask;
        while (m) {  // warp-uniform loop over the spiking batch elements
          const int bb = __ffs(m) - 1;
          m &= m - 1;
          const float s = __shfl_sync(kFull, sb, bb);
          const int64_t b = b0 + bb;
          float* ob = out + b * n_post;
#pragma unroll
          for (int u = 0; u < kUnroll; ++u) {
            const int64_t k = base + u * 32 + lane;
            if (k < end) {
              const float wk =
                  w_bstride == 0 ? wv[u] : (kPerSyn ? __ldg(w + b * w_bstride + k) : w[b * w_bstride]);
              red_add(ob + j[u], s * wk);
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// csr_transposed
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

template <bool kPerSyn, int kTile>
__global__ void __launch_bounds__(kThreads)
csr_transposed_kernel(const int32_t* __restrict__ indptr, const int32_t* __restrict__ indices,
                      const float* __restrict__ w, int64_t w_bstride, const float* __restrict__ x,
                      int64_t batch, int64_t n_pre, int64_t n_post, float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * kWarpsPerBlock;
  for (int64_t i = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); i < n_pre; i += warps) {
    const int64_t start = indptr[i], end = indptr[i + 1];
    for (int64_t b0 = 0; b0 < batch; b0 += kTile) {
      float acc[kTile];
#pragma unroll
      for (int t = 0; t < kTile; ++t) acc[t] = 0.0f;
      for (int64_t base = start; base < end; base += 32 * kUnroll) {
        int32_t j[kUnroll];
        float ws[kUnroll];  // batch-shared per-synapse weights
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int64_t k = base + u * 32 + lane;
          j[u] = k < end ? __ldg(indices + k) : -1;
          ws[u] = (kPerSyn && w_bstride == 0 && k < end) ? __ldg(w + k) : 1.0f;
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          if (j[u] < 0) continue;
          const int64_t k = base + u * 32 + lane;
#pragma unroll
          for (int t = 0; t < kTile; ++t) {
            const int64_t b = b0 + t;
            if (b < batch) {
              const float xv = __ldg(x + b * n_post + j[u]);
              // Homogeneous weights multiply the row sum once, after the reduction.
              const float wk = !kPerSyn ? 1.0f : (w_bstride == 0 ? ws[u] : __ldg(w + b * w_bstride + k));
              acc[t] += wk * xv;
            }
          }
        }
      }
#pragma unroll
      for (int t = 0; t < kTile; ++t) {
        const int64_t b = b0 + t;
        const float total = warp_sum(acc[t]);
        if (lane == 0 && b < batch) out[b * n_pre + i] = kPerSyn ? total : total * w[b * w_bstride];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Host side: shape checks shared by both operators.
struct CsrShapes {
  int64_t n_pre, nnz, bw, w, batch;
};

ffi::Error check_csr(const char* op, ffi::Buffer<ffi::S32>& indptr, ffi::Buffer<ffi::S32>& indices,
                     ffi::Buffer<ffi::F32>& weights, int64_t n_pre, int64_t batch, CsrShapes* sh) {
  auto pd = indptr.dimensions();
  auto id = indices.dimensions();
  auto wd = weights.dimensions();
  if (pd.size() != 1 || pd[0] != n_pre + 1)
    return ffi::Error::InvalidArgument(std::string(op) + ": indptr must have shape (n_pre + 1,) = (" +
                                       std::to_string(n_pre + 1) + ",)");
  if (id.size() != 1) return ffi::Error::InvalidArgument(std::string(op) + ": indices must be 1-D");
  if (wd.size() != 2) return ffi::Error::InvalidArgument(std::string(op) + ": weights must be 2-D (Bw, W)");
  sh->n_pre = n_pre;
  sh->nnz = id[0];
  sh->bw = wd[0];
  sh->w = wd[1];
  sh->batch = batch;
  if (sh->bw != 1 && sh->bw != batch)
    return ffi::Error::InvalidArgument(std::string(op) + ": weights' first dimension must be 1 or the batch " +
                                       std::to_string(batch) + ", got " + std::to_string(sh->bw));
  if (sh->w != 1 && sh->w != sh->nnz)
    return ffi::Error::InvalidArgument(std::string(op) + ": weights' second dimension must be 1 or nnz = " +
                                       std::to_string(sh->nnz) + ", got " + std::to_string(sh->w));
  return ffi::Error::Success();
}

ffi::Error launch_status(const char* op) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return ffi::Error::Internal(std::string(op) + ": CUDA error: " + cudaGetErrorString(err));
  return ffi::Error::Success();
}

// Ways to run the B = 1 scatter (csr_event_single's template arguments); the benchmark probe
// (neurosim_csr_event_probe_cuda) times each, the operator uses kDefaultVariant.
enum EventVariant : int32_t {
  kRowsU4 = 1, kRowsU8 = 2, kFlatU4 = 3, kFlatU8 = 4, kFlatU4Stream = 5, kRowsU4Stream = 6,
  // wrong results, timings of parts of the traffic (see ScatterMode):
  kRowsU4Store = 7, kFlatU4Store = 8, kRowsU4ReadOnly = 9, kRowsU4Coalesced = 10,
};
constexpr int32_t kDefaultVariant = kRowsU4;

template <typename S, bool kPerSyn>
bool launch_single(int32_t variant, cudaStream_t stream, dim3 grid, const int32_t* ip, const int32_t* ix,
                   const float* w, const S* s, int64_t n_pre, int64_t n_post, float* o) {
#define NS_LAUNCH(U, FLAT, STREAM, MODE) \
  csr_event_single<S, kPerSyn, U, FLAT, STREAM, MODE><<<grid, kThreads, 0, stream>>>(ip, ix, w, s, n_pre, n_post, o)
  switch (variant) {
    case kRowsU4: NS_LAUNCH(4, false, false, kScatter); break;
    case kRowsU8: NS_LAUNCH(8, false, false, kScatter); break;
    case kFlatU4: NS_LAUNCH(4, true, false, kScatter); break;
    case kFlatU8: NS_LAUNCH(8, true, false, kScatter); break;
    case kFlatU4Stream: NS_LAUNCH(4, true, true, kScatter); break;
    case kRowsU4Stream: NS_LAUNCH(4, false, true, kScatter); break;
    case kRowsU4Store: NS_LAUNCH(4, false, false, kStore); break;
    case kFlatU4Store: NS_LAUNCH(4, true, false, kStore); break;
    case kRowsU4ReadOnly: NS_LAUNCH(4, false, false, kReadOnly); break;
    case kRowsU4Coalesced: NS_LAUNCH(4, false, false, kCoalesced); break;
    default: return false;
  }
#undef NS_LAUNCH
  return true;
}

ffi::Error csr_event(cudaStream_t stream, ffi::Buffer<ffi::S32>& indptr, ffi::Buffer<ffi::S32>& indices,
                     ffi::Buffer<ffi::F32>& weights, ffi::AnyBuffer& spikes, ffi::Result<ffi::Buffer<ffi::F32>>& out,
                     int32_t variant) {
  const char* op = "neurosim_csr_event";
  auto sd = spikes.dimensions();
  auto od = out->dimensions();
  if (sd.size() != 2) return ffi::Error::InvalidArgument("neurosim_csr_event: spikes must be 2-D (B, n_pre)");
  if (od.size() != 2 || od[0] != sd[0])
    return ffi::Error::InvalidArgument("neurosim_csr_event: the result must be 2-D (B, n_post)");
  const auto dtype = spikes.element_type();
  if (dtype != ffi::DataType::PRED && dtype != ffi::DataType::F32)
    return ffi::Error::InvalidArgument("neurosim_csr_event: spikes must be bool (pred) or float32");
  CsrShapes sh;
  if (auto e = check_csr(op, indptr, indices, weights, sd[1], sd[0], &sh); !e.success()) return e;
  const int64_t n_post = od[1];
  float* o = out->typed_data();
  const size_t out_bytes = size_t(sh.batch) * size_t(n_post) * sizeof(float);
  if (out_bytes) {
    if (cudaError_t err = cudaMemsetAsync(o, 0, out_bytes, stream); err != cudaSuccess)
      return ffi::Error::Internal(std::string(op) + ": CUDA error: " + cudaGetErrorString(err));
  }
  if (sh.batch == 0 || sh.n_pre == 0 || n_post == 0 || sh.nnz == 0) return launch_status(op);

  const bool per_syn = sh.w == sh.nnz && sh.nnz > 1;
  const int64_t w_bstride = (sh.bw == 1 || sh.batch == 1) ? 0 : sh.w;
  // Split long rows between several warps: about two chunks of 32 * kUnroll synapses each.
  const int64_t mean_row = sh.nnz / sh.n_pre;
  const int parts = int(std::min<int64_t>(32, std::max<int64_t>(1, mean_row / (2 * 32 * kUnroll))));
  const int64_t groups = (sh.n_pre + 31) / 32;
  dim3 grid(unsigned((groups + kWarpsPerBlock - 1) / kWarpsPerBlock), unsigned(parts));
  const int32_t* ip = indptr.typed_data();
  const int32_t* ix = indices.typed_data();
  const float* w = weights.typed_data();
  const bool pred = dtype == ffi::DataType::PRED;
  const uint8_t* sp = static_cast<const uint8_t*>(spikes.untyped_data());
  const float* sf = static_cast<const float*>(spikes.untyped_data());
  bool ok = true;
  if (sh.batch == 1) {
    if (pred)
      ok = per_syn ? launch_single<uint8_t, true>(variant, stream, grid, ip, ix, w, sp, sh.n_pre, n_post, o)
                   : launch_single<uint8_t, false>(variant, stream, grid, ip, ix, w, sp, sh.n_pre, n_post, o);
    else
      ok = per_syn ? launch_single<float, true>(variant, stream, grid, ip, ix, w, sf, sh.n_pre, n_post, o)
                   : launch_single<float, false>(variant, stream, grid, ip, ix, w, sf, sh.n_pre, n_post, o);
  } else {
#define NS_LAUNCH(S, PER_SYN, SP)                                                                        \
  csr_event_batch<S, PER_SYN><<<grid, kThreads, 0, stream>>>(ip, ix, w, w_bstride, SP, sh.batch, sh.n_pre, \
                                                              n_post, o)
    if (pred) {
      if (per_syn) NS_LAUNCH(uint8_t, true, sp); else NS_LAUNCH(uint8_t, false, sp);
    } else {
      if (per_syn) NS_LAUNCH(float, true, sf); else NS_LAUNCH(float, false, sf);
    }
#undef NS_LAUNCH
  }
  if (!ok) return ffi::Error::InvalidArgument(std::string(op) + ": unknown variant " + std::to_string(variant));
  return launch_status(op);
}

ffi::Error CsrEventImpl(cudaStream_t stream, ffi::Buffer<ffi::S32> indptr, ffi::Buffer<ffi::S32> indices,
                        ffi::Buffer<ffi::F32> weights, ffi::AnyBuffer spikes, ffi::ResultBuffer<ffi::F32> out) {
  return csr_event(stream, indptr, indices, weights, spikes, out, kDefaultVariant);
}

ffi::Error CsrEventProbeImpl(cudaStream_t stream, ffi::Buffer<ffi::S32> indptr, ffi::Buffer<ffi::S32> indices,
                             ffi::Buffer<ffi::F32> weights, ffi::AnyBuffer spikes, ffi::ResultBuffer<ffi::F32> out,
                             int32_t variant) {
  return csr_event(stream, indptr, indices, weights, spikes, out, variant == 0 ? kDefaultVariant : variant);
}

ffi::Error CsrTransposedImpl(cudaStream_t stream, ffi::Buffer<ffi::S32> indptr, ffi::Buffer<ffi::S32> indices,
                             ffi::Buffer<ffi::F32> weights, ffi::Buffer<ffi::F32> x,
                             ffi::ResultBuffer<ffi::F32> out) {
  const char* op = "neurosim_csr_transposed";
  auto xd = x.dimensions();
  auto od = out->dimensions();
  if (xd.size() != 2) return ffi::Error::InvalidArgument("neurosim_csr_transposed: x must be 2-D (B, n_post)");
  if (od.size() != 2 || od[0] != xd[0])
    return ffi::Error::InvalidArgument("neurosim_csr_transposed: the result must be 2-D (B, n_pre)");
  CsrShapes sh;
  if (auto e = check_csr(op, indptr, indices, weights, od[1], xd[0], &sh); !e.success()) return e;
  const int64_t n_post = xd[1];
  float* o = out->typed_data();
  if (sh.batch == 0 || sh.n_pre == 0) return ffi::Error::Success();
  if (sh.nnz == 0) {
    cudaMemsetAsync(o, 0, size_t(sh.batch) * size_t(sh.n_pre) * sizeof(float), stream);
    return launch_status(op);
  }
  const bool per_syn = sh.w == sh.nnz && sh.nnz > 1;
  const int64_t w_bstride = (sh.bw == 1 || sh.batch == 1) ? 0 : sh.w;
  const int64_t blocks = std::min<int64_t>((sh.n_pre + kWarpsPerBlock - 1) / kWarpsPerBlock, int64_t(1) << 20);
  const dim3 grid{unsigned(blocks)};
  const int32_t* ip = indptr.typed_data();
  const int32_t* ix = indices.typed_data();
  const float* w = weights.typed_data();
  const float* xv = x.typed_data();
  if (sh.batch == 1) {
    if (per_syn)
      csr_transposed_kernel<true, 1><<<grid, kThreads, 0, stream>>>(ip, ix, w, w_bstride, xv, 1, sh.n_pre, n_post, o);
    else
      csr_transposed_kernel<false, 1><<<grid, kThreads, 0, stream>>>(ip, ix, w, w_bstride, xv, 1, sh.n_pre, n_post, o);
  } else {
    if (per_syn)
      csr_transposed_kernel<true, kBatchTile><<<grid, kThreads, 0, stream>>>(ip, ix, w, w_bstride, xv, sh.batch,
                                                                            sh.n_pre, n_post, o);
    else
      csr_transposed_kernel<false, kBatchTile><<<grid, kThreads, 0, stream>>>(ip, ix, w, w_bstride, xv, sh.batch,
                                                                             sh.n_pre, n_post, o);
  }
  return launch_status(op);
}

}  // namespace

// The handlers are exported by name: neurosim._kernels looks them up with ctypes.
extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* neurosim_csr_event_cuda(XLA_FFI_CallFrame*);
extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* neurosim_csr_transposed_cuda(XLA_FFI_CallFrame*);
extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* neurosim_csr_event_probe_cuda(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_csr_event_cuda, CsrEventImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()   // indptr
                                  .Arg<ffi::Buffer<ffi::S32>>()   // indices
                                  .Arg<ffi::Buffer<ffi::F32>>()   // weights (Bw, W)
                                  .Arg<ffi::AnyBuffer>()          // spikes (B, n_pre) pred/f32
                                  .Ret<ffi::Buffer<ffi::F32>>()); // out (B, n_post)

// Not part of the contracts: neurosim_csr_event with an attribute `variant` (i32, an
// EventVariant; 0 = the default) choosing the B = 1 kernel, for benchmarks/gpu_ops_probe.py.
XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_csr_event_probe_cuda, CsrEventProbeImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int32_t>("variant"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_csr_transposed_cuda, CsrTransposedImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()   // indptr
                                  .Arg<ffi::Buffer<ffi::S32>>()   // indices
                                  .Arg<ffi::Buffer<ffi::F32>>()   // weights (Bw, W)
                                  .Arg<ffi::Buffer<ffi::F32>>()   // x (B, n_post)
                                  .Ret<ffi::Buffer<ffi::F32>>()); // out (B, n_pre)
