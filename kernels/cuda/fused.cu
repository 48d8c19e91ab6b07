// neurosim_fused_lif (CUDA): K simulation steps of a LIF network with exponential synapses in
// one kernel launch. Operands, results and step semantics: kernels/README.md.
//
// Two kernels, chosen by size:
//   * one block (small networks, N <= 2048 and the synaptic state fits in shared memory):
//     1024 threads, each keeps its neurons' v and t_left in registers for all K steps; g, the
//     drive, the step's spike bits and (when they fit) the CSR row pointers live in shared
//     memory; a step is  neuron phase | __syncthreads | delivery | __syncthreads. The drive is
//     summed apart from g and added as g * decay + drive, as the scan engine and the CPU
//     kernel do, so results match them where the arithmetic matches (the order of the atomic
//     additions is not fixed, so per-synapse weights may round differently; equal weights
//     always sum to the same value).
//   * a cooperative grid (large networks): as many blocks as fit on the GPU at once
//     (cudaLaunchCooperativeKernel), neurons grid-strided, state in global memory, and a grid
//     barrier (cooperative_groups::this_grid().sync()) between the phases. Delivered weights
//     are added into g directly (g * decay first, then each weight), which saves a drive array
//     and its traffic per step and differs from the scan engine by rounding.
// Spikes are recorded as one bit per neuron and step: a warp's ballot is one word. In the
// delivery phase every warp delivers the spikes of the words it wrote itself (no spike list,
// no counter, no atomics to find the spikes; the neurons of a warp are spread over the whole
// network, so the spikes spread evenly over the warps), its lanes striding over each spike's
// CSR row with atomic additions. Delayed projections read their ring-buffer slot row instead,
// and write this step's spikes into it.

// Rounding: where XLA's compiler fuses a multiply feeding an add into an FMA, the kernel uses
// __fmaf_rn at the same place (Mad; nvcc -fmad=false makes no other contraction). `fma_mode`
// (environment NEUROSIM_FUSED_GPU_FMA: 0 default, 1 the first two synaptic terms paired the
// other way, 2 no FMA) exists to check that choice against XLA on a given GPU.
//
// Environment knobs (read at each call; for measurements and tests): NEUROSIM_FUSED_SMALL_MAX
// (largest N for the one-block kernel, default 2048; 0 forces the grid kernel),
// NEUROSIM_FUSED_BLOCK (threads per block of the grid kernel, default 256),
// NEUROSIM_FUSED_BLOCKS_PER_SM (a cap on its blocks per multiprocessor).
//
// Measured on an H100 (COBA, 80 synapses per neuron past N = 4000; us per 0.1 ms step): one
// block 2.5 (N = 1000), 7.3 (4000); grid 4.5 (1000), 5.3 (4000), 6.7 (40,000), 12.7 (400,000),
// 94 (4,000,000). Hence the one-block kernel up to N = 2048 and the grid beyond. (A version
// spreading the one-block kernel over a thread-block cluster with distributed shared memory
// measured 3.8 / 6.3 / 9.5 / 14.3 us at N = 1000 / 4000 / 16,000 / 32,000: no better.)

#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
namespace cg = cooperative_groups;

namespace {

constexpr int kMaxProj = 64;
constexpr int kNColI = 12, kNColF = 4, kNParam = 7;
enum : int { kVRest = 0, kVReset, kVTh, kInvGl, kDecayM, kTRef, kIExt };

struct ProjDesc {
  int pre_off, n_pre, post_off, n_post, g_off, depth, dbuf_off, indptr_off, indices_off, w_off, wps, cond;
  long long nnz;  // entries of indices (and weights) this projection may read
  float decay, e_rev, w, pad;
};

__constant__ ProjDesc c_proj[kMaxProj];

struct Args {
  float* v;
  float* t_left;
  float* g;
  float* dbuf;
  uint32_t* spikes;
  const int* t0;
  const float* nparam;
  const int* indptr;
  const int* indices;
  const float* weights;
  int n, words, n_proj, fma_mode, indptr_in_smem;
  long long g_size, n_steps, n_indptr;
  float half_dt, dt;
};

__device__ __forceinline__ float Mad(float a, float b, float c, bool fma) {
  return fma ? __fmaf_rn(a, b, c) : __fadd_rn(__fmul_rn(a, b), c);
}

// nparam row `row` of neuron n; with one value per row (kUni) from `uni`, loaded once.
template <bool kUni>
__device__ __forceinline__ float Par(const Args& a, const float* uni, int row, int n) {
  return kUni ? uni[row] : __ldg(a.nparam + static_cast<long long>(row) * a.n + n);
}

struct Uniform {
  float p[kNParam];
  __device__ explicit Uniform(const Args& a, bool load) {
#pragma unroll
    for (int r = 0; r < kNParam; ++r) p[r] = load ? __ldg(a.nparam + r) : 0.0f;
  }
};

// The synaptic current plus the constant input of neuron n (membrane potential v), summed as
// the scan engine sums it (see kernels/cpu/fused.cc, Currents). take(q, j) returns the g of
// projection q at entry j, brought up to date.
template <bool kUni, typename Take>
__device__ __forceinline__ float Current(const Args& a, const float* uni, int n, float v, Take take) {
  const bool fma = a.fma_mode != 2;
  int state = 0;  // 0: nothing yet, 1: a product pending, 2: a value
  float acc = 0.0f, pg = 0.0f, px = 0.0f;
  for (int q = 0; q < a.n_proj; ++q) {
    const ProjDesc& p = c_proj[q];
    const int j = n - p.post_off;
    if (j < 0 || j >= p.n_post) continue;
    const float gv = take(q, p.g_off + j);
    if (p.cond) {
      const float x = __fsub_rn(p.e_rev, v);
      if (state == 0) {
        pg = gv;
        px = x;
        state = 1;
        continue;
      }
      if (state == 1) {
        acc = a.fma_mode == 1 ? Mad(gv, x, __fmul_rn(pg, px), fma) : Mad(pg, px, __fmul_rn(gv, x), fma);
      } else {
        acc = Mad(gv, x, acc, fma);
      }
    } else {
      if (state == 0) {
        acc = gv;
      } else if (state == 1) {
        acc = Mad(pg, px, gv, fma);
      } else {
        acc = __fadd_rn(acc, gv);
      }
    }
    state = 2;
  }
  const float i_ext = Par<kUni>(a, uni, kIExt, n);
  if (state == 0) return i_ext;
  if (state == 1) return Mad(pg, px, i_ext, fma);
  return __fadd_rn(acc, i_ext);
}

// The LIF update of one neuron; returns whether it spikes.
template <bool kUni>
__device__ __forceinline__ bool Lif(const Args& a, const float* uni, int n, float current, float& v, float& tl) {
  const bool fma = a.fma_mode != 2;
  const bool refr = tl > a.half_dt;
  const float v_reset = Par<kUni>(a, uni, kVReset, n);
  const float v_inf = Mad(current, Par<kUni>(a, uni, kInvGl, n), Par<kUni>(a, uni, kVRest, n), fma);
  float vi = Mad(__fsub_rn(v, v_inf), Par<kUni>(a, uni, kDecayM, n), v_inf, fma);
  vi = refr ? v_reset : vi;
  const bool s = (__fsub_rn(vi, Par<kUni>(a, uni, kVTh, n)) >= 0.0f) && !refr;
  v = s ? v_reset : vi;
  const float t = __fsub_rn(tl, a.dt);
  tl = s ? Par<kUni>(a, uni, kTRef, n) : (t > 0.0f ? t : 0.0f);
  return s;
}

// The synapses of row r of projection p, lanes of one warp striding over them: target[j] += val w.
__device__ __forceinline__ void DeliverRow(const Args& a, const int* indptr, const ProjDesc& p, float* target, int r,
                                           float val, int lane) {
  long long lo = indptr[p.indptr_off + r], hi = indptr[p.indptr_off + r + 1];
  lo = lo < 0 ? 0 : lo;
  hi = hi > p.nnz ? p.nnz : hi;
  const int* idx = a.indices + p.indices_off;
  for (long long k = lo + lane; k < hi; k += 32) {
    const unsigned j = static_cast<unsigned>(__ldg(idx + k));
    if (j < static_cast<unsigned>(p.n_post)) {
      const float w = p.wps ? __ldg(a.weights + p.w_off + k) : p.w;
      atomicAdd(target + p.g_off + j, __fmul_rn(val, w));
    }
  }
}

// Delivery of one step into target. Without delay: the spikes in this warp's own words of
// bits (word first + i stride, i < iters: the words its ballots made in the neuron phase), each
// spiking row delivered by the whole warp. Delayed: each projection's ring-buffer slot row
// (which then takes this step's spikes from bits), its rows shared out over the n_warps warps.
__device__ __forceinline__ void Deliver(const Args& a, const int* indptr, const uint32_t* bits, long long first,
                                        long long stride, long long iters, float* target, long long t, int warp,
                                        int n_warps, int lane) {
  bool any_direct = false;
  for (int q = 0; q < a.n_proj; ++q) any_direct |= c_proj[q].depth == 0;
  if (any_direct) {
    for (long long i0 = 0; i0 < iters; i0 += 32) {
      const long long wi = first + (i0 + lane) * stride;
      const uint32_t word = i0 + lane < iters && wi < a.words ? bits[wi] : 0u;
      uint32_t nz = __ballot_sync(0xffffffffu, word != 0);
      while (nz) {
        const int src = __ffs(nz) - 1;
        nz &= nz - 1;
        uint32_t wb = __shfl_sync(0xffffffffu, word, src);
        const long long n0 = (first + (i0 + src) * stride) * 32;
        while (wb) {
          const int n = static_cast<int>(n0) + __ffs(wb) - 1;
          wb &= wb - 1;
          for (int q = 0; q < a.n_proj; ++q) {
            const ProjDesc& p = c_proj[q];
            const int r = n - p.pre_off;
            if (p.depth == 0 && r >= 0 && r < p.n_pre) DeliverRow(a, indptr, p, target, r, 1.0f, lane);
          }
        }
      }
    }
  }
  for (int q = 0; q < a.n_proj; ++q) {
    const ProjDesc& p = c_proj[q];
    if (p.depth == 0 || p.n_pre == 0) continue;
    float* row = a.dbuf + p.dbuf_off + (t % p.depth) * static_cast<long long>(p.n_pre);
    for (int base = warp * 32; base < p.n_pre; base += n_warps * 32) {
      const int r = base + lane;
      float old = 0.0f;
      if (r < p.n_pre) {
        old = row[r];
        const int n = p.pre_off + r;
        row[r] = (bits[n >> 5] >> (n & 31)) & 1u ? 1.0f : 0.0f;
      }
      uint32_t nz = __ballot_sync(0xffffffffu, old != 0.0f);
      while (nz) {
        const int src = __ffs(nz) - 1;
        nz &= nz - 1;
        DeliverRow(a, indptr, p, target, base + src, __shfl_sync(0xffffffffu, old, src), lane);
      }
    }
  }
}

// ---------------------------------------------------------------- one block

constexpr int kSmallThreads = 1024;

template <int kNpt, bool kUni>
__global__ void __launch_bounds__(kSmallThreads, 1) FusedSmall(Args a) {
  extern __shared__ float smem[];
  float* sg = smem;                                                  // g_size
  float* sd = sg + a.g_size;                                         // g_size: the drive
  uint32_t* sbits = reinterpret_cast<uint32_t*>(sd + a.g_size);     // words
  int* sip = reinterpret_cast<int*>(sbits + a.words);               // n_indptr when a.indptr_in_smem
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const bool fma = a.fma_mode != 2;
  const int t0 = *a.t0;
  const Uniform uni(a, kUni);
  for (long long j = tid; j < a.g_size; j += kSmallThreads) {
    sg[j] = a.g[j];
    sd[j] = 0.0f;
  }
  if (a.indptr_in_smem)
    for (long long j = tid; j < a.n_indptr; j += kSmallThreads) sip[j] = a.indptr[j];
  const int* indptr = a.indptr_in_smem ? sip : a.indptr;
  float v[kNpt], tl[kNpt];
#pragma unroll
  for (int i = 0; i < kNpt; ++i) {
    const int n = tid + i * kSmallThreads;
    v[i] = n < a.n ? a.v[n] : 0.0f;
    tl[i] = n < a.n ? a.t_left[n] : 0.0f;
  }
  __syncthreads();
  for (long long k = 0; k < a.n_steps; ++k) {
    const bool fold = k > 0;
    // neuron phase
#pragma unroll
    for (int i = 0; i < kNpt; ++i) {
      const int n = tid + i * kSmallThreads;
      bool s = false;
      if (n < a.n) {
        const float cur = Current<kUni>(a, uni.p, n, v[i], [&](int q, long long j) {
          float x = sg[j];
          if (fold) {
            x = Mad(x, c_proj[q].decay, sd[j], fma);
            sg[j] = x;
            sd[j] = 0.0f;
          }
          return x;
        });
        s = Lif<kUni>(a, uni.p, n, cur, v[i], tl[i]);
      }
      const uint32_t word = __ballot_sync(0xffffffffu, s);
      if (lane == 0 && n - lane < a.n) {
        sbits[n >> 5] = word;
        a.spikes[k * a.words + (n >> 5)] = word;
      }
    }
    __syncthreads();
    // this warp's words: warp + 32 i (neurons tid + 1024 i)
    Deliver(a, indptr, sbits, warp, kSmallThreads / 32, kNpt, sd, t0 + k, warp, kSmallThreads / 32, lane);
    __syncthreads();
  }
  if (a.n_steps > 0) {  // complete the last step's synapse update
    for (int q = 0; q < a.n_proj; ++q) {
      const ProjDesc& p = c_proj[q];
      for (int j = tid; j < p.n_post; j += kSmallThreads)
        sg[p.g_off + j] = Mad(sg[p.g_off + j], p.decay, sd[p.g_off + j], fma);
    }
  }
  __syncthreads();
  for (long long j = tid; j < a.g_size; j += kSmallThreads) a.g[j] = sg[j];
#pragma unroll
  for (int i = 0; i < kNpt; ++i) {
    const int n = tid + i * kSmallThreads;
    if (n < a.n) {
      a.v[n] = v[i];
      a.t_left[n] = tl[i];
    }
  }
}

// ---------------------------------------------------------------- the grid

template <bool kUni>
__global__ void FusedGrid(Args a) {
  cg::grid_group grid = cg::this_grid();
  const long long n_threads = static_cast<long long>(gridDim.x) * blockDim.x;
  const long long gtid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int lane = threadIdx.x & 31;
  const int warp = static_cast<int>(gtid >> 5), n_warps = static_cast<int>(n_threads >> 5);
  const int t0 = *a.t0;
  const Uniform uni(a, kUni);
  const long long own_words = gtid - lane < a.n ? (a.n - (gtid - lane) + n_threads - 1) / n_threads : 0;
  for (long long k = 0; k < a.n_steps; ++k) {
    uint32_t* bits = a.spikes + k * a.words;
    // neuron phase: currents from the complete g, which then decays (this step's deliveries
    // are added to it in the delivery phase)
    for (long long base = gtid - lane; base < a.n; base += n_threads) {
      const int n = static_cast<int>(base) + lane;
      bool s = false;
      if (n < a.n) {
        float v = a.v[n], tl = a.t_left[n];
        const float tl_in = tl;
        const float cur = Current<kUni>(a, uni.p, n, v, [&](int q, long long j) {
          const float x = a.g[j];
          a.g[j] = __fmul_rn(x, c_proj[q].decay);
          return x;
        });
        s = Lif<kUni>(a, uni.p, n, cur, v, tl);
        a.v[n] = v;
        if (tl != tl_in) a.t_left[n] = tl;
      }
      const uint32_t word = __ballot_sync(0xffffffffu, s);
      if (lane == 0) bits[base >> 5] = word;
    }
    grid.sync();
    // this warp's words: (gtid - lane) / 32 + i n_threads / 32, as many as its neuron-phase loop ran
    Deliver(a, a.indptr, bits, warp, n_warps, own_words, a.g, t0 + k, warp, n_warps, lane);
    grid.sync();
  }
}

// ---------------------------------------------------------------- host side

int EnvInt(const char* name, int fallback) {
  const char* s = std::getenv(name);
  return s && *s ? std::atoi(s) : fallback;
}

std::string Where(int p, const char* what) {
  return "neurosim_fused_lif: projection " + std::to_string(p) + ": " + what;
}

ffi::Error CudaError(cudaError_t err, const char* what) {
  return ffi::Error::Internal(std::string("neurosim_fused_lif: ") + what + ": " + cudaGetErrorString(err));
}

template <typename Kernel>
cudaError_t LaunchSmall(Kernel kernel, const Args& args, size_t smem, cudaStream_t stream) {
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  kernel<<<1, kSmallThreads, smem, stream>>>(args);
  return cudaGetLastError();
}

template <typename Kernel>
cudaError_t LaunchGrid(Kernel kernel, Args args, long long n, cudaStream_t stream) {
  int dev = 0, n_sm = 0, coop = 0, per_sm = 0;
  cudaError_t err = cudaGetDevice(&dev);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, dev);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev);
  if (err != cudaSuccess) return err;
  if (!coop) return cudaErrorNotSupported;
  int threads = EnvInt("NEUROSIM_FUSED_BLOCK", 256);
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads / 32 * 32);
  err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, 0);
  if (err != cudaSuccess) return err;
  const int cap = EnvInt("NEUROSIM_FUSED_BLOCKS_PER_SM", 0);
  if (cap > 0 && cap < per_sm) per_sm = cap;
  long long blocks = static_cast<long long>(per_sm) * n_sm;
  const long long needed = (n + threads - 1) / threads;
  if (needed < blocks) blocks = needed;
  if (blocks < 1) blocks = 1;
  void* params[] = {&args};
  return cudaLaunchCooperativeKernel(reinterpret_cast<void*>(kernel), dim3(static_cast<unsigned>(blocks)),
                                     dim3(threads), params, 0, stream);
}

ffi::Error FusedLifCuda(cudaStream_t stream, ffi::Buffer<ffi::F32> v, ffi::Buffer<ffi::F32> t_left,
                        ffi::Buffer<ffi::F32> g, ffi::Buffer<ffi::F32> dbuf, ffi::Buffer<ffi::S32> t0,
                        ffi::Buffer<ffi::F32> nparam, ffi::Buffer<ffi::S32> proj_i, ffi::Buffer<ffi::F32> proj_f,
                        ffi::Buffer<ffi::S32> indptr, ffi::Buffer<ffi::S32> indices, ffi::Buffer<ffi::F32> weights,
                        ffi::ResultBuffer<ffi::F32> v_out, ffi::ResultBuffer<ffi::F32> t_left_out,
                        ffi::ResultBuffer<ffi::F32> g_out, ffi::ResultBuffer<ffi::F32> dbuf_out,
                        ffi::ResultBuffer<ffi::U32> spikes, int64_t n_steps, float half_dt, float dt) {
  const long long n = static_cast<long long>(v.element_count());
  const long long g_size = static_cast<long long>(g.element_count());
  const long long d_size = static_cast<long long>(dbuf.element_count());
  if (static_cast<long long>(t_left.element_count()) != n)
    return ffi::Error::InvalidArgument("neurosim_fused_lif: v and t_left must have the same size N");
  if (n >= (1ll << 31)) return ffi::Error::InvalidArgument("neurosim_fused_lif: N must be < 2**31");
  if (t0.element_count() != 1) return ffi::Error::InvalidArgument("neurosim_fused_lif: t0 must be a scalar");
  if (n_steps < 0) return ffi::Error::InvalidArgument("neurosim_fused_lif: n_steps must be >= 0");
  const long long words = (n + 31) / 32;
  if (static_cast<long long>(spikes->element_count()) != n_steps * words)
    return ffi::Error::InvalidArgument("neurosim_fused_lif: spikes must be u32[n_steps, ceil(N / 32)]");
  if (static_cast<long long>(v_out->element_count()) != n ||
      static_cast<long long>(t_left_out->element_count()) != n ||
      static_cast<long long>(g_out->element_count()) != g_size ||
      static_cast<long long>(dbuf_out->element_count()) != d_size)
    return ffi::Error::InvalidArgument("neurosim_fused_lif: results 0-3 must have the shapes of operands 0-3");
  auto pd = nparam.dimensions();
  if (pd.size() != 2 || pd[0] != kNParam || (pd[1] != n && pd[1] != 1))
    return ffi::Error::InvalidArgument("neurosim_fused_lif: nparam must be f32[7, N] or f32[7, 1]");
  const bool uni = pd[1] == 1;
  auto di = proj_i.dimensions();
  auto df = proj_f.dimensions();
  if (di.size() != 2 || di[1] != kNColI || df.size() != 2 || df[1] != kNColF || df[0] != di[0])
    return ffi::Error::InvalidArgument("neurosim_fused_lif: proj_i must be i32[P, 12] and proj_f f32[P, 4]");
  const int n_proj = static_cast<int>(di[0]);
  if (n_proj > kMaxProj)
    return ffi::Error::InvalidArgument("neurosim_fused_lif: at most " + std::to_string(kMaxProj) + " projections");

  // the projection table: to the host (to check it), then to constant memory
  std::vector<int32_t> pi(static_cast<size_t>(n_proj) * kNColI);
  std::vector<float> pf(static_cast<size_t>(n_proj) * kNColF);
  cudaError_t err = cudaSuccess;
  if (n_proj > 0) {
    err = cudaMemcpyAsync(pi.data(), proj_i.typed_data(), pi.size() * sizeof(int32_t), cudaMemcpyDeviceToHost, stream);
    if (err == cudaSuccess)
      err = cudaMemcpyAsync(pf.data(), proj_f.typed_data(), pf.size() * sizeof(float), cudaMemcpyDeviceToHost, stream);
    if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
    if (err != cudaSuccess) return CudaError(err, "reading the projection table");
  }
  const long long n_indptr = static_cast<long long>(indptr.element_count());
  const long long n_indices = static_cast<long long>(indices.element_count());
  const long long n_weights = static_cast<long long>(weights.element_count());
  ProjDesc desc[kMaxProj];
  for (int p = 0; p < n_proj; ++p) {
    const int32_t* c = pi.data() + p * kNColI;
    const float* f = pf.data() + p * kNColF;
    ProjDesc& d = desc[p];
    d.pre_off = c[0];
    d.n_pre = c[1];
    d.post_off = c[2];
    d.n_post = c[3];
    d.g_off = c[4];
    d.depth = c[5];
    d.dbuf_off = c[6];
    d.indptr_off = c[7];
    d.indices_off = c[8];
    d.w_off = c[9];
    d.wps = c[10] != 0;
    d.cond = c[11] != 0;
    d.decay = f[0];
    d.e_rev = f[1];
    d.w = f[2];
    d.pad = 0.0f;
    if (d.n_pre < 0 || d.pre_off < 0 || static_cast<long long>(d.pre_off) + d.n_pre > n)
      return ffi::Error::InvalidArgument(Where(p, "pre range outside [0, N)"));
    if (d.n_post < 0 || d.post_off < 0 || static_cast<long long>(d.post_off) + d.n_post > n)
      return ffi::Error::InvalidArgument(Where(p, "post range outside [0, N)"));
    if (d.g_off < 0 || static_cast<long long>(d.g_off) + d.n_post > g_size)
      return ffi::Error::InvalidArgument(Where(p, "g range outside the g operand"));
    if (d.depth < 0 || d.dbuf_off < 0 || d.dbuf_off + static_cast<long long>(d.depth) * d.n_pre > d_size)
      return ffi::Error::InvalidArgument(Where(p, "delay buffer outside the dbuf operand"));
    if (d.indptr_off < 0 || static_cast<long long>(d.indptr_off) + d.n_pre + 1 > n_indptr)
      return ffi::Error::InvalidArgument(Where(p, "indptr range outside the indptr operand"));
    if (d.indices_off < 0 || d.indices_off > n_indices)
      return ffi::Error::InvalidArgument(Where(p, "indices offset outside the indices operand"));
    d.nnz = n_indices - d.indices_off;
    if (d.wps) {
      if (d.w_off < 0 || d.w_off > n_weights)
        return ffi::Error::InvalidArgument(Where(p, "weights offset outside the weights operand"));
      if (n_weights - d.w_off < d.nnz) d.nnz = n_weights - d.w_off;
    }
  }
  if (n_proj > 0) {
    err = cudaMemcpyToSymbolAsync(c_proj, desc, sizeof(ProjDesc) * n_proj, 0, cudaMemcpyHostToDevice, stream);
    if (err != cudaSuccess) return CudaError(err, "copying the projection table");
  }
  // results alias operands 0-3; copy where XLA gave distinct buffers
  struct Pair { void* dst; const void* src; size_t bytes; };
  const Pair pairs[] = {{v_out->untyped_data(), v.untyped_data(), sizeof(float) * n},
                        {t_left_out->untyped_data(), t_left.untyped_data(), sizeof(float) * n},
                        {g_out->untyped_data(), g.untyped_data(), sizeof(float) * g_size},
                        {dbuf_out->untyped_data(), dbuf.untyped_data(), sizeof(float) * d_size}};
  for (const Pair& pr : pairs) {
    if (pr.dst != pr.src && pr.bytes) {
      err = cudaMemcpyAsync(pr.dst, pr.src, pr.bytes, cudaMemcpyDeviceToDevice, stream);
      if (err != cudaSuccess) return CudaError(err, "copying the state");
    }
  }
  if (n_steps == 0 || n == 0) return ffi::Error::Success();

  Args args;
  args.v = v_out->typed_data();
  args.t_left = t_left_out->typed_data();
  args.g = g_out->typed_data();
  args.dbuf = dbuf_out->typed_data();
  args.spikes = spikes->typed_data();
  args.t0 = t0.typed_data();
  args.nparam = nparam.typed_data();
  args.indptr = indptr.typed_data();
  args.indices = indices.typed_data();
  args.weights = weights.typed_data();
  args.n = static_cast<int>(n);
  args.words = static_cast<int>(words);
  args.n_proj = n_proj;
  args.fma_mode = EnvInt("NEUROSIM_FUSED_GPU_FMA", 0);
  args.g_size = g_size;
  args.n_steps = n_steps;
  args.n_indptr = n_indptr;
  args.half_dt = half_dt;
  args.dt = dt;
  args.indptr_in_smem = 0;

  constexpr size_t kSmemMax = 200 * 1024;
  size_t smem = sizeof(float) * 2 * static_cast<size_t>(g_size) + sizeof(uint32_t) * words;
  const long long small_max = EnvInt("NEUROSIM_FUSED_SMALL_MAX", 2048);
  if (n <= small_max && n <= 8 * kSmallThreads && smem <= kSmemMax) {
    if (smem + sizeof(int) * n_indptr <= kSmemMax) {  // the row pointers too, when they fit
      args.indptr_in_smem = 1;
      smem += sizeof(int) * n_indptr;
    }
    const int npt = static_cast<int>((n + kSmallThreads - 1) / kSmallThreads);
    if (npt <= 1) {
      err = uni ? LaunchSmall(FusedSmall<1, true>, args, smem, stream) : LaunchSmall(FusedSmall<1, false>, args, smem, stream);
    } else if (npt <= 2) {
      err = uni ? LaunchSmall(FusedSmall<2, true>, args, smem, stream) : LaunchSmall(FusedSmall<2, false>, args, smem, stream);
    } else if (npt <= 4) {
      err = uni ? LaunchSmall(FusedSmall<4, true>, args, smem, stream) : LaunchSmall(FusedSmall<4, false>, args, smem, stream);
    } else {
      err = uni ? LaunchSmall(FusedSmall<8, true>, args, smem, stream) : LaunchSmall(FusedSmall<8, false>, args, smem, stream);
    }
    if (err != cudaSuccess) return CudaError(err, "launching the one-block kernel");
  } else {
    err = uni ? LaunchGrid(FusedGrid<true>, args, n, stream) : LaunchGrid(FusedGrid<false>, args, n, stream);
    if (err != cudaSuccess) return CudaError(err, "launching the cooperative grid kernel");
  }
  return ffi::Error::Success();
}

}  // namespace

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* neurosim_fused_lif_cuda(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_fused_lif_cuda, FusedLifCuda,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()   // v
                                  .Arg<ffi::Buffer<ffi::F32>>()   // t_left
                                  .Arg<ffi::Buffer<ffi::F32>>()   // g
                                  .Arg<ffi::Buffer<ffi::F32>>()   // dbuf
                                  .Arg<ffi::Buffer<ffi::S32>>()   // t0
                                  .Arg<ffi::Buffer<ffi::F32>>()   // nparam
                                  .Arg<ffi::Buffer<ffi::S32>>()   // proj_i
                                  .Arg<ffi::Buffer<ffi::F32>>()   // proj_f
                                  .Arg<ffi::Buffer<ffi::S32>>()   // indptr
                                  .Arg<ffi::Buffer<ffi::S32>>()   // indices
                                  .Arg<ffi::Buffer<ffi::F32>>()   // weights
                                  .Ret<ffi::Buffer<ffi::F32>>()   // v
                                  .Ret<ffi::Buffer<ffi::F32>>()   // t_left
                                  .Ret<ffi::Buffer<ffi::F32>>()   // g
                                  .Ret<ffi::Buffer<ffi::F32>>()   // dbuf
                                  .Ret<ffi::Buffer<ffi::U32>>()   // spikes
                                  .Attr<int64_t>("n_steps")
                                  .Attr<float>("half_dt")
                                  .Attr<float>("dt"));
