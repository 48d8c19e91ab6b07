// neurosim_fused_lif (CPU): K simulation steps of a LIF network with exponential synapses in
// one call. Operands, results and step semantics: kernels/README.md ("neurosim_fused_lif").
//
// One thread, one pass per step over the neurons and one over the synaptic state:
//   1. currents: for every projection (network order), finish the previous step's synapse
//      update  g = g * syn_decay + drive  (drive then reset to 0) and add its output to I;
//   2. LIF update of every neuron (vectorisable: no branches), spike flags as floats;
//   3. the flags packed into this step's spike bits, and the sorted list of spiking neurons;
//   4. delivery: for every projection, the (delayed) spiking presynaptic rows scattered into
//      `drive` through the CSR (row order, synapse order: the summation order of the
//      reference, so results are identical to the per-step scan where its arithmetic is).
// The drive is kept apart from g and added in one operation, as the reference does
// (g * decay + (w1 + w2 + ...)), not accumulated into g.
//
// Rounding: XLA's CPU compiler fuses a multiply feeding an add into one FMA when the CPU has
// FMA instructions. The kernel does the same, explicitly, at the same places (Mad below), and
// nowhere else (-ffp-contract=off). The step loops are therefore compiled twice, for AVX2 +
// FMA and for baseline x86-64 without FMA, and picked at run time from the CPU's features:
// this file includes itself twice (NEUROSIM_FUSED_STEP_LOOPS), each time inside a namespace
// whose functions all carry that target, so that every loop is vectorised for it (GCC does
// not vectorise loops inlined from a function of another target).

#ifndef NEUROSIM_FUSED_STEP_LOOPS

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// proj_i columns
enum : int {
  kPreOff = 0, kNPre, kPostOff, kNPost, kGOff, kDepth, kDbufOff, kIndptrOff, kIndicesOff, kWOff,
  kWPerSyn, kCond, kNColI
};
// proj_f columns
enum : int { kSynDecay = 0, kERev, kW, kNColF = 4 };
// nparam rows
enum : int { kVRest = 0, kVReset, kVTh, kInvGl, kDecayM, kTRef, kIExt, kNParam };

struct Proj {
  int64_t pre_off, n_pre, post_off, n_post, g_off, depth, dbuf_off;
  const int32_t* indptr;   // n_pre + 1 entries, local (starting at 0)
  const int32_t* indices;  // local postsynaptic indices
  const float* weights;    // per-synapse weights, or nullptr for the homogeneous weight w
  int64_t nnz;             // entries of indices this projection may read
  bool cond;
  float decay, e_rev, w;
};

// A run of neurons [lo, hi) onto which the same projections (in network order) project.
struct Segment {
  int64_t lo, hi;
  std::vector<int32_t> proj;
};

struct Net {
  int64_t n, g_size, d_size;
  bool uniform;  // one value per nparam row (f32[7, 1]) instead of one per neuron
  std::vector<Segment> segments;
  const Segment* two_cond = nullptr;  // a segment receiving exactly two conductance projections
  const float* par[kNParam];  // nparam rows: (n,) each, or one value each when uniform
  std::vector<Proj> proj;
};

std::string Where(int64_t p, const char* what) {
  return "neurosim_fused_lif: projection " + std::to_string(p) + ": " + what;
}

// Checks every offset and size of the flattened description against the buffers, so a bad
// description is an error, never an out-of-bounds access. Indices are checked where they are
// used (an out-of-range one is skipped), which costs nothing compared to a pass over nnz.
ffi::Error Describe(Net& net, int64_t n, int64_t g_size, int64_t d_size, ffi::Buffer<ffi::F32>& nparam,
                    ffi::Buffer<ffi::S32>& proj_i, ffi::Buffer<ffi::F32>& proj_f, ffi::Buffer<ffi::S32>& indptr,
                    ffi::Buffer<ffi::S32>& indices, ffi::Buffer<ffi::F32>& weights) {
  net.n = n;
  net.g_size = g_size;
  net.d_size = d_size;
  auto pd = nparam.dimensions();
  if (pd.size() != 2 || pd[0] != kNParam || (pd[1] != n && pd[1] != 1))
    return ffi::Error::InvalidArgument("neurosim_fused_lif: nparam must be f32[7, N] or f32[7, 1]");
  const float* np = nparam.typed_data();
  net.uniform = pd[1] == 1;
  for (int r = 0; r < kNParam; ++r) net.par[r] = np + (net.uniform ? r : r * n);
  auto di = proj_i.dimensions();
  auto df = proj_f.dimensions();
  if (di.size() != 2 || di[1] != kNColI || df.size() != 2 || df[1] != kNColF || df[0] != di[0])
    return ffi::Error::InvalidArgument("neurosim_fused_lif: proj_i must be i32[P, 12] and proj_f f32[P, 4], got ranks " +
                                       std::to_string(di.size()) + " and " + std::to_string(df.size()) + " (" +
                                       std::to_string(di.size() == 2 ? di[1] : -1) + ", " +
                                       std::to_string(df.size() == 2 ? df[1] : -1) + " columns)");
  const int64_t n_proj = di[0];
  const int64_t n_indptr = static_cast<int64_t>(indptr.element_count());
  const int64_t n_indices = static_cast<int64_t>(indices.element_count());
  const int64_t n_weights = static_cast<int64_t>(weights.element_count());
  net.proj.clear();
  for (int64_t p = 0; p < n_proj; ++p) {
    const int32_t* c = proj_i.typed_data() + p * kNColI;
    const float* f = proj_f.typed_data() + p * kNColF;
    Proj pr;
    pr.pre_off = c[kPreOff];
    pr.n_pre = c[kNPre];
    pr.post_off = c[kPostOff];
    pr.n_post = c[kNPost];
    pr.g_off = c[kGOff];
    pr.depth = c[kDepth];
    pr.dbuf_off = c[kDbufOff];
    pr.cond = c[kCond] != 0;
    pr.decay = f[kSynDecay];
    pr.e_rev = f[kERev];
    pr.w = f[kW];
    if (pr.n_pre < 0 || pr.pre_off < 0 || pr.pre_off + pr.n_pre > n)
      return ffi::Error::InvalidArgument(Where(p, "pre range outside [0, N)"));
    if (pr.n_post < 0 || pr.post_off < 0 || pr.post_off + pr.n_post > n)
      return ffi::Error::InvalidArgument(Where(p, "post range outside [0, N)"));
    if (pr.g_off < 0 || pr.g_off + pr.n_post > g_size)
      return ffi::Error::InvalidArgument(Where(p, "g range outside the g operand"));
    if (pr.depth < 0 || pr.dbuf_off < 0 || pr.dbuf_off + pr.depth * pr.n_pre > d_size)
      return ffi::Error::InvalidArgument(Where(p, "delay buffer outside the dbuf operand"));
    const int64_t ip_off = c[kIndptrOff], ix_off = c[kIndicesOff], w_off = c[kWOff];
    if (ip_off < 0 || ip_off + pr.n_pre + 1 > n_indptr)
      return ffi::Error::InvalidArgument(Where(p, "indptr range outside the indptr operand"));
    if (ix_off < 0 || ix_off > n_indices)
      return ffi::Error::InvalidArgument(Where(p, "indices offset outside the indices operand"));
    pr.indptr = indptr.typed_data() + ip_off;
    pr.indices = indices.typed_data() + ix_off;
    pr.nnz = n_indices - ix_off;
    if (c[kWPerSyn]) {
      if (w_off < 0 || w_off > n_weights)
        return ffi::Error::InvalidArgument(Where(p, "weights offset outside the weights operand"));
      pr.weights = weights.typed_data() + w_off;
      pr.nnz = std::min(pr.nnz, n_weights - w_off);
    } else {
      pr.weights = nullptr;
    }
    net.proj.push_back(pr);
  }
  std::vector<int64_t> cuts = {0, n};
  for (const Proj& pr : net.proj) {
    cuts.push_back(pr.post_off);
    cuts.push_back(pr.post_off + pr.n_post);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  net.segments.clear();
  for (size_t c = 0; c + 1 < cuts.size(); ++c) {
    Segment seg{cuts[c], cuts[c + 1], {}};
    for (size_t q = 0; q < net.proj.size(); ++q)
      if (net.proj[q].post_off <= seg.lo && seg.hi <= net.proj[q].post_off + net.proj[q].n_post)
        seg.proj.push_back(static_cast<int32_t>(q));
    net.segments.push_back(std::move(seg));
  }
  net.two_cond = nullptr;
  for (const Segment& seg : net.segments)
    if (seg.proj.size() == 2 && net.proj[seg.proj[0]].cond && net.proj[seg.proj[1]].cond &&
        (net.two_cond == nullptr || seg.hi - seg.lo > net.two_cond->hi - net.two_cond->lo))
      net.two_cond = &seg;
  return ffi::Error::Success();
}

#define NEUROSIM_FUSED_STEP_LOOPS 1

// The step loops for CPUs with AVX2 and FMA ...
namespace fma_avx2 {
constexpr bool kFma = true;
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#include "fused.cc"  // this file, second part (below)
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
}  // namespace fma_avx2

// ... and for every x86-64 CPU.
namespace plain {
constexpr bool kFma = false;
#include "fused.cc"  // this file, second part (below)
}  // namespace plain

template <typename T>
void CopyIfDistinct(T* dst, const T* src, size_t count) {
  if (dst != src && count) std::memcpy(dst, src, sizeof(T) * count);
}

ffi::Error FusedLifCpu(ffi::Buffer<ffi::F32> v, ffi::Buffer<ffi::F32> t_left, ffi::Buffer<ffi::F32> g,
                       ffi::Buffer<ffi::F32> dbuf, ffi::Buffer<ffi::S32> t0, ffi::Buffer<ffi::F32> nparam,
                       ffi::Buffer<ffi::S32> proj_i, ffi::Buffer<ffi::F32> proj_f, ffi::Buffer<ffi::S32> indptr,
                       ffi::Buffer<ffi::S32> indices, ffi::Buffer<ffi::F32> weights,
                       ffi::ResultBuffer<ffi::F32> v_out, ffi::ResultBuffer<ffi::F32> t_left_out,
                       ffi::ResultBuffer<ffi::F32> g_out, ffi::ResultBuffer<ffi::F32> dbuf_out,
                       ffi::ResultBuffer<ffi::U32> spikes, int64_t n_steps, float half_dt, float dt) {
  const int64_t n = static_cast<int64_t>(v.element_count());
  const int64_t g_size = static_cast<int64_t>(g.element_count());
  const int64_t d_size = static_cast<int64_t>(dbuf.element_count());
  if (static_cast<int64_t>(t_left.element_count()) != n)
    return ffi::Error::InvalidArgument("neurosim_fused_lif: v and t_left must have the same size N");
  if (t0.element_count() != 1) return ffi::Error::InvalidArgument("neurosim_fused_lif: t0 must be a scalar");
  if (n_steps < 0) return ffi::Error::InvalidArgument("neurosim_fused_lif: n_steps must be >= 0");
  const int64_t words = (n + 31) / 32;
  if (static_cast<int64_t>(spikes->element_count()) != n_steps * words)
    return ffi::Error::InvalidArgument("neurosim_fused_lif: spikes must be u32[n_steps, ceil(N / 32)]");
  if (static_cast<int64_t>(v_out->element_count()) != n || static_cast<int64_t>(t_left_out->element_count()) != n ||
      static_cast<int64_t>(g_out->element_count()) != g_size ||
      static_cast<int64_t>(dbuf_out->element_count()) != d_size)
    return ffi::Error::InvalidArgument("neurosim_fused_lif: results 0-3 must have the shapes of operands 0-3");

  static thread_local std::vector<float> cur, drive;
  static thread_local std::vector<uint32_t> spk;
  static thread_local std::vector<int32_t> spk_list;
  Net net;
  ffi::Error err = Describe(net, n, g_size, d_size, nparam, proj_i, proj_f, indptr, indices, weights);
  if (err.failure()) return err;

  CopyIfDistinct(v_out->typed_data(), v.typed_data(), static_cast<size_t>(n));
  CopyIfDistinct(t_left_out->typed_data(), t_left.typed_data(), static_cast<size_t>(n));
  CopyIfDistinct(g_out->typed_data(), g.typed_data(), static_cast<size_t>(g_size));
  CopyIfDistinct(dbuf_out->typed_data(), dbuf.typed_data(), static_cast<size_t>(d_size));
  cur.resize(static_cast<size_t>(n));
  spk.resize(static_cast<size_t>(n));
  drive.resize(static_cast<size_t>(std::max<int64_t>(g_size, 1)));
  spk_list.resize(static_cast<size_t>(std::max<int64_t>(n, 1)));
  // FMA where the CPU has it, as XLA compiles the scan engine for the host CPU
  static const bool fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  (fma ? fma_avx2::RunSteps : plain::RunSteps)(net, n_steps, half_dt, dt, static_cast<int64_t>(t0.typed_data()[0]), v_out->typed_data(),
           t_left_out->typed_data(), g_out->typed_data(), dbuf_out->typed_data(), spikes->typed_data(), cur.data(),
           spk.data(), drive.data(), spk_list.data());
  return ffi::Error::Success();
}

}  // namespace

// Exported by name: neurosim._kernels looks the handler up with ctypes.
extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* neurosim_fused_lif_cpu(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_fused_lif_cpu, FusedLifCpu,
                              ffi::Ffi::Bind()
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

#else  // NEUROSIM_FUSED_STEP_LOOPS: the step loops, compiled once per target (see the top)

// drive[indices[k]] += val * w[k] over the synapses of row r (skipping malformed entries).
inline void ScatterRow(const Proj& p, float* drive, int64_t r, float val) {
  int64_t a = p.indptr[r], b = p.indptr[r + 1];
  a = std::max<int64_t>(a, 0);
  b = std::min<int64_t>(b, p.nnz);
  const uint32_t n_post = static_cast<uint32_t>(p.n_post);
  if (p.weights == nullptr) {
    const float c = val * p.w;
    for (int64_t k = a; k < b; ++k) {
      const uint32_t j = static_cast<uint32_t>(p.indices[k]);
      if (j < n_post) drive[j] += c;
    }
  } else {
    for (int64_t k = a; k < b; ++k) {
      const uint32_t j = static_cast<uint32_t>(p.indices[k]);
      if (j < n_post) drive[j] += val * p.weights[k];
    }
  }
}

// c ? a : b as bit operations: no branch for GCC to if-convert, so the neuron loop vectorises
// (GCC leaves a loop of float selects scalar unless -fno-trapping-math).
inline float Select(bool c, float a, float b) {
  uint32_t ua, ub;
  std::memcpy(&ua, &a, sizeof ua);
  std::memcpy(&ub, &b, sizeof ub);
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  const uint32_t r = (ua & m) | (ub & ~m);
  float out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

// a * b + c, rounded once (kFma) or twice: the contraction XLA's CPU compiler makes on a CPU
// with FMA instructions, and does not make without them.
inline float Mad(float a, float b, float c) {
  if constexpr (kFma) {
    return __builtin_fmaf(a, b, c);
  } else {
    return a * b + c;
  }
}

// g of this step = g of the last step * decay + what the last step delivered (kFold; not in
// the first step of a call, whose g is complete), the drive then reset for the next delivery.
// Done where the current reads g, so that g and the drive are read once per step.
template <bool kFold>
inline float TakeG(float* __restrict g, float* __restrict d, float dec, int64_t j) {
  if constexpr (kFold) {
    const float x = Mad(g[j], dec, d[j]);
    g[j] = x;
    d[j] = 0.0f;
    return x;
  } else {
    return g[j];
  }
}

// cur = fma(g1, e1 - v, g2 (e2 - v)) (kCond2) or fma(g1, e1 - v, g2): the first two terms of a
// neuron's current when the first is a conductance.
template <bool kFold, bool kCond2>
void FirstTwo(int64_t lo, int64_t hi, float* __restrict g1, float* __restrict d1, float dec1, float e1,
              float* __restrict g2, float* __restrict d2, float dec2, float e2, const float* __restrict v,
              float* __restrict cur) {
  if constexpr (kFold) {
    for (int64_t i = lo; i < hi; ++i) {
      const float x1 = g1[i], y1 = d1[i], x2 = g2[i], y2 = d2[i], vi = v[i];
      const float a = Mad(x1, dec1, y1), b = Mad(x2, dec2, y2);
      g1[i] = a;
      g2[i] = b;
      d1[i] = 0.0f;
      d2[i] = 0.0f;
      cur[i] = Mad(a, e1 - vi, kCond2 ? b * (e2 - vi) : b);
    }
  } else {
    for (int64_t i = lo; i < hi; ++i) cur[i] = Mad(g1[i], e1 - v[i], kCond2 ? g2[i] * (e2 - v[i]) : g2[i]);
  }
}

template <bool kFold>
void AddTerm(int64_t lo, int64_t hi, float* __restrict gp, float* __restrict dp, float dec, float e, bool cond,
             const float* __restrict v, float* __restrict cur) {
  if (cond) {
    for (int64_t i = lo; i < hi; ++i) cur[i] = Mad(TakeG<kFold>(gp, dp, dec, i), e - v[i], cur[i]);
  } else {
    for (int64_t i = lo; i < hi; ++i) cur[i] = cur[i] + TakeG<kFold>(gp, dp, dec, i);
  }
}

template <bool kFold>
void FirstTerm(int64_t lo, int64_t hi, float* __restrict gp, float* __restrict dp, float dec,
               float* __restrict cur) {
  for (int64_t i = lo; i < hi; ++i) cur[i] = TakeG<kFold>(gp, dp, dec, i);
}

template <bool kFold, bool kUni>
void LastProduct(int64_t lo, int64_t hi, float* __restrict g1, float* __restrict d1, float dec1, float e1,
                 const float* __restrict i_ext, const float* __restrict v, float* __restrict cur) {
  for (int64_t i = lo; i < hi; ++i) cur[i] = Mad(TakeG<kFold>(g1, d1, dec1, i), e1 - v[i], i_ext[kUni ? 0 : i]);
}

// The synaptic current plus the constant input into cur[i] for every neuron, summed as the
// scan engine's compiled step sums it: over the projections onto a neuron in network order,
// where a conductance term g (E - V) is a product that the compiler fuses into the next sum
// (the first two products as fma(g1, x1, g2 x2), each later one as fma(gk, xk, sum)). Runs of
// neurons covered by the same projections (segments) share one sequence of vector loops.
// kUni: one parameter value for all neurons.
template <bool kFold, bool kUni>
void Currents(const Net& net, int64_t b0, int64_t b1, const float* __restrict v, float* g, float* drive,
              float* __restrict cur) {
  const float* __restrict i_ext = net.par[kIExt];
  for (const Segment& seg : net.segments) {
    const int64_t lo = std::max(seg.lo, b0), hi = std::min(seg.hi, b1);
    if (lo >= hi) continue;
    int state = 0;  // 0: nothing yet, 1: one product pending (projection `pend`), 2: a value in cur
    const Proj* pend = nullptr;
    for (int32_t q : seg.proj) {
      const Proj& p = net.proj[q];
      float* gp = g + p.g_off - p.post_off;  // indexed by neuron
      float* dp = drive + p.g_off - p.post_off;
      if (state == 0) {
        if (p.cond) {
          pend = &p;
          state = 1;
          continue;
        }
        FirstTerm<kFold>(lo, hi, gp, dp, p.decay, cur);
      } else if (state == 1) {
        float* g1 = g + pend->g_off - pend->post_off;
        float* d1 = drive + pend->g_off - pend->post_off;
        if (p.cond) {
          FirstTwo<kFold, true>(lo, hi, g1, d1, pend->decay, pend->e_rev, gp, dp, p.decay, p.e_rev, v, cur);
        } else {
          FirstTwo<kFold, false>(lo, hi, g1, d1, pend->decay, pend->e_rev, gp, dp, p.decay, p.e_rev, v, cur);
        }
      } else {
        AddTerm<kFold>(lo, hi, gp, dp, p.decay, p.e_rev, p.cond, v, cur);
      }
      state = 2;
    }
    if (state == 0) {
      for (int64_t i = lo; i < hi; ++i) cur[i] = i_ext[kUni ? 0 : i];
    } else if (state == 1) {
      LastProduct<kFold, kUni>(lo, hi, g + pend->g_off - pend->post_off, drive + pend->g_off - pend->post_off,
                               pend->decay, pend->e_rev, i_ext, v, cur);
    } else {
      for (int64_t i = lo; i < hi; ++i) cur[i] = cur[i] + i_ext[kUni ? 0 : i];
    }
  }
}

constexpr uint32_t kOneBits = 0x3f800000u;  // 1.0f

// One neuron's LIF step (the scan's float32 operations in its order) given its input current
// and parameters; updates v and t_left and returns the spike as kOneBits or 0. Values, not
// pointers, so the callers' loops stay vectorised.
inline __attribute__((always_inline)) uint32_t LifUpdate(float current, float v_rest, float v_reset, float v_th,
                                                         float inv_gl, float decay_m, float t_ref, float half_dt,
                                                         float dt, float& v, float& t_left) {
  const float tl0 = t_left;
  const bool refr = tl0 > half_dt;
  const float v_inf = Mad(current, inv_gl, v_rest);
  float vi = Mad(v - v_inf, decay_m, v_inf);
  vi = Select(refr, v_reset, vi);
  const bool s = (vi - v_th >= 0.0f) & !refr;
  v = Select(s, v_reset, vi);
  const float tl = tl0 - dt;
  t_left = Select(s, t_ref, Select(tl > 0.0f, tl, 0.0f));
  return (0u - static_cast<uint32_t>(s)) & kOneBits;
}

// The parameter rows of the LIF update, as restrict pointers for the vectorised loops.
#define NEUROSIM_LIF_PARAMS(net)                            \
  const float* __restrict v_rest = (net).par[kVRest];       \
  const float* __restrict v_reset = (net).par[kVReset];     \
  const float* __restrict v_th = (net).par[kVTh];           \
  const float* __restrict inv_gl = (net).par[kInvGl];       \
  const float* __restrict decay_m = (net).par[kDecayM];     \
  const float* __restrict t_ref = (net).par[kTRef]
#define NEUROSIM_LIF_ARGS(c) v_rest[c], v_reset[c], v_th[c], inv_gl[c], decay_m[c], t_ref[c]

// The LIF update of every neuron (vectorised: selects are bit operations). spk[i]: the bits of
// 1.0f where neuron i spikes, of 0.0f elsewhere (as floats, the delay buffers' values).
template <bool kUni>
void NeuronStep(const Net& net, int64_t b0, int64_t b1, float half_dt, float dt, float* __restrict v,
                float* __restrict t_left,
                const float* __restrict cur, uint32_t* __restrict spk) {
  NEUROSIM_LIF_PARAMS(net);
  for (int64_t i = b0; i < b1; ++i) {
    const int64_t c = kUni ? 0 : i;
    spk[i] = LifUpdate(cur[i], NEUROSIM_LIF_ARGS(c), half_dt, dt, v[i], t_left[i]);
  }
}

// The common case in one pass (COBA's E/I pair): every neuron of [b0, b1) receives exactly two
// conductance projections, p1 and p2 in network order. The current (fma(g1, e1 - v, g2 (e2 -
// v)) + i_ext, as Currents computes it) stays in a register for the LIF update, as the
// separate loops of Currents and NeuronStep compute it.
template <bool kFold, bool kUni>
void TwoConductancesAndNeurons(const Net& net, int64_t b0, int64_t b1, const Proj& p1, const Proj& p2, float half_dt,
                               float dt, float* __restrict v, float* __restrict t_left, float* __restrict g1,
                               float* __restrict d1, float* __restrict g2, float* __restrict d2,
                               uint32_t* __restrict spk) {
  NEUROSIM_LIF_PARAMS(net);
  const float* __restrict i_ext = net.par[kIExt];
  const float e1 = p1.e_rev, e2 = p2.e_rev, dec1 = p1.decay, dec2 = p2.decay;
  for (int64_t i = b0; i < b1; ++i) {
    const int64_t c = kUni ? 0 : i;
    float a = g1[i], b = g2[i];
    if constexpr (kFold) {
      a = Mad(a, dec1, d1[i]);
      b = Mad(b, dec2, d2[i]);
      g1[i] = a;
      g2[i] = b;
      d1[i] = 0.0f;
      d2[i] = 0.0f;
    }
    const float vv = v[i];
    const float current = Mad(a, e1 - vv, b * (e2 - vv)) + i_ext[c];
    spk[i] = LifUpdate(current, NEUROSIM_LIF_ARGS(c), half_dt, dt, v[i], t_left[i]);
  }
}

// The spike bits of neurons [b0, b1) (b0 a multiple of 32) into out, and their ascending list
// appended to list[n_spk...]; returns the new length.
inline int64_t PackSpikes(int64_t b0, int64_t b1, const uint32_t* __restrict spk, uint32_t* __restrict out,
                          int32_t* __restrict list, int64_t n_spk) {
  for (int64_t base = b0; base < b1; base += 32) {
    const int64_t lim = std::min<int64_t>(32, b1 - base);
    uint32_t any = 0;
    for (int64_t b = 0; b < lim; ++b) any |= spk[base + b];
    uint32_t bits = 0;
    if (any) {  // rare: most words of a step hold no spike
      for (int64_t b = 0; b < lim; ++b) bits |= (spk[base + b] >> 29 & 1u) << b;
    }
    out[base >> 5] = bits;
    while (bits) {
      list[n_spk++] = static_cast<int32_t>(base + __builtin_ctz(bits));
      bits &= bits - 1;
    }
  }
  return n_spk;
}

// Neurons are updated in blocks small enough that a block's current, voltage and spike flags
// stay in the L1 cache between the three passes over it.
constexpr int64_t kBlock = 512;

template <bool kUni>
void RunStepsImpl(const Net& net, int64_t n_steps, float half_dt, float dt, int64_t t0, float* __restrict v,
                  float* __restrict t_left, float* __restrict g, float* __restrict dbuf, uint32_t* __restrict spikes,
                  float* __restrict cur, uint32_t* __restrict spk, float* __restrict drive,
                  int32_t* __restrict spk_list) {
  const int64_t words = (net.n + 31) / 32;
  std::memset(drive, 0, sizeof(float) * static_cast<size_t>(net.g_size));
  for (int64_t k = 0; k < n_steps; ++k) {
    const int64_t t = t0 + k;
    int64_t n_spk = 0;
    for (int64_t b0 = 0; b0 < net.n; b0 += kBlock) {
      const int64_t b1 = std::min(b0 + kBlock, net.n);
      const Segment* seg = net.two_cond;
      if (seg != nullptr && seg->lo <= b0 && b1 <= seg->hi) {  // 1 + 2 in one pass
        const Proj& p1 = net.proj[seg->proj[0]];
        const Proj& p2 = net.proj[seg->proj[1]];
        float* g1 = g + p1.g_off - p1.post_off;
        float* d1 = drive + p1.g_off - p1.post_off;
        float* g2 = g + p2.g_off - p2.post_off;
        float* d2 = drive + p2.g_off - p2.post_off;
        if (k > 0) {
          TwoConductancesAndNeurons<true, kUni>(net, b0, b1, p1, p2, half_dt, dt, v, t_left, g1, d1, g2, d2, spk);
        } else {
          TwoConductancesAndNeurons<false, kUni>(net, b0, b1, p1, p2, half_dt, dt, v, t_left, g1, d1, g2, d2, spk);
        }
      } else {
        // 1. complete the last step's synapse update; currents at the step's starting V
        if (k > 0) {
          Currents<true, kUni>(net, b0, b1, v, g, drive, cur);
        } else {
          Currents<false, kUni>(net, b0, b1, v, g, drive, cur);
        }
        // 2. neurons
        NeuronStep<kUni>(net, b0, b1, half_dt, dt, v, t_left, cur, spk);
      }
      // 3. spike bits and the list of spiking neurons
      n_spk = PackSpikes(b0, b1, spk, spikes + k * words, spk_list, n_spk);
    }
    // 4. delivery: (delayed) presynaptic spikes x CSR -> drive
    for (const Proj& p : net.proj) {
      float* dp = drive + p.g_off;
      if (p.depth > 0) {
        float* row = dbuf + p.dbuf_off + (t % p.depth) * p.n_pre;
        for (int64_t r = 0; r < p.n_pre; ++r)
          if (row[r] != 0.0f) ScatterRow(p, dp, r, row[r]);
        std::memcpy(row, spk + p.pre_off, sizeof(float) * static_cast<size_t>(p.n_pre));
      } else {
        const int32_t* end = spk_list + n_spk;
        const int32_t* lo = std::lower_bound(static_cast<const int32_t*>(spk_list), end, static_cast<int32_t>(p.pre_off));
        const int32_t* hi = std::lower_bound(lo, end, static_cast<int32_t>(p.pre_off + p.n_pre));
        for (const int32_t* s = lo; s < hi; ++s) ScatterRow(p, dp, *s - p.pre_off, 1.0f);
      }
    }
  }
  if (n_steps > 0) {  // complete the last step's synapse update
    for (const Proj& p : net.proj) FirstTerm<true>(0, p.n_post, g + p.g_off, drive + p.g_off, p.decay, cur);
  }
}

void RunSteps(const Net& net, int64_t n_steps, float half_dt, float dt, int64_t t0, float* v, float* t_left, float* g,
              float* dbuf, uint32_t* spikes, float* cur, uint32_t* spk, float* drive, int32_t* spk_list) {
  if (net.uniform) {
    RunStepsImpl<true>(net, n_steps, half_dt, dt, t0, v, t_left, g, dbuf, spikes, cur, spk, drive, spk_list);
  } else {
    RunStepsImpl<false>(net, n_steps, half_dt, dt, t0, v, t_left, g, dbuf, spikes, cur, spk, drive, spk_list);
  }
}

#endif  // NEUROSIM_FUSED_STEP_LOOPS
