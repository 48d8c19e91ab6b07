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
// nowhere else (-ffp-contract=off). The step loops are therefore compiled three times, for
// AVX-512 (16 lanes; FMA), for AVX2 + FMA and for baseline x86-64 without FMA, and picked at
// run time from the CPU's features (NEUROSIM_FUSED_NO_AVX512=1 skips the first): this file
// includes itself three times (NEUROSIM_FUSED_STEP_LOOPS), each time inside a namespace whose
// functions all carry that target, so that every loop is vectorised for it (GCC does not
// vectorise loops inlined from a function of another target). Every path performs the same
// IEEE operations, so all give the same bits.

#ifndef NEUROSIM_FUSED_STEP_LOOPS

#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <immintrin.h>

#include "neurosim/counter_rng.h"
#include "neurosim/stdp_pair.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// Neurons are updated in blocks small enough that a block's current, voltage and spike flags
// stay in the L1 cache between the three passes over it.
constexpr int64_t kBlock = 512;

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
  int32_t plastic = -1;    // index into Net::plastic, or -1
  int32_t poisson = -1;    // >= 0: not a CSR projection but Poisson input Net::poisson[poisson]
  int32_t table = -1;      // >= 0: not a CSR projection but tabulated current Net::tables[table]
  const int32_t* indptr;   // n_pre + 1 entries, local (starting at 0)
  const int32_t* indices;  // local postsynaptic indices
  const float* weights;    // per-synapse weights, or nullptr for the homogeneous weight w
  int64_t nnz;             // entries of indices this projection may read
  bool cond;
  bool sliced;             // onto a slice of its population: summed after the terms onto all of it
  bool unique;             // every row's indices strictly increase (no postsynaptic neuron twice in a row)
  float decay, e_rev, w;
};

// Pair STDP on projection `proj` (neurosim_fused_lif_plastic): traces x (n_pre) and y (n_post),
// the column index of its CSR, and its stored weights (the mutable result buffer).
struct Plastic {
  neurosim::StdpPairRule rule;
  int64_t proj;
  float* x;
  float* y;
  float* w;
  const int32_t* rows;      // nnz, in column order: the presynaptic neuron of synapse col_perm[t]
  const int32_t* col_ptr;   // n_post + 1
  const int32_t* col_perm;  // nnz
  float dec_plus, dec_minus;
  float jump_plus, jump_minus;  // the traces' jumps (kTraceJumpThenDecay)
  int trace;                    // kTraceAllToAll, kTraceNearest or kTraceJumpThenDecay
  int32_t mod_plus, mod_minus;  // >= 0: A+ (A-) is its coefficient times modulator Net::mods[mod_*]'s value
};

// How a plastic projection's traces move and which values its update reads (plas_i column kPlTrace):
//   all-to-all / nearest (pair STDP): x = x * decay+ + s (nearest: (x * decay+) (1 - s) + s) before
//     the update, which reads x and y * decay-; then y = y * decay- + q (nearest alike);
//   jump-then-decay (astrocyte-modulated STDP): the update reads the stored x and y; then
//     x = (x + jump+ s) * decay+ and y = (y + jump- q) * decay-.
enum : int { kTraceAllToAll = 0, kTraceNearest = 1, kTraceJumpThenDecay = 2 };

// A modulator driven by spike counts (neurosim.astrocytes.nalsm_astrocyte's form): after the
// neurons of a step, d = (spikes of its + ranges) - (spikes of its - ranges), then
//   a' = a + ((w d + b) - a) inv_tau,  value = value + (a - prev),  prev = a,  a = a'
// (state = [value, a, prev]; inv_tau = float32(1 / tau)); plasticity in the same step reads the new value.
struct CountModulator {
  float w, b, inv_tau;
  float* state;
  std::vector<int64_t> off, n;
  std::vector<int32_t> sign;
};

// A RasterSource population [off, off + n): neuron i spikes in its step t when t < rows and
// raster[t * n + i] > 0; t = t0 in the first step of the call.
struct Raster {
  int64_t off, n, rows, t0;
  const float* raster;
};

// A Poisson input onto neurons [post_off, post_off + n): its synapse state is g[g_off ...], its
// count of neuron j in step t is #{k < 40 : u_{t,j} > cdf[k]} (counter_rng.h), its drive count * w.
struct PoissonIn {
  int64_t post_off, n, g_off;
  uint32_t seed0, seed1;
  const float* cdf;
  float w;
  int head;  // the smallest h (>= 1) with cdf[h - 1] >= 1 - 2^-10, or all 40 terms
};

// A tabulated current onto neurons [post_off, post_off + n): an input whose current the caller
// computes for every step of the call, as the scan computes it (GaussianCurrent, UniformCurrent,
// StepCurrent: neurosim/network/fused.py); its value in step t0 + k is table[k * cols + col + j].
// The kernel runs it as a current-based term with decay 0 whose g is this step's value: g of the
// first step is set from row 0 before the loop, and each step's delivery writes the next row into
// the drive (g = g * 0 + drive is the drive, exactly).
struct TableIn {
  int64_t post_off, n, g_off, col;
};

// A PoissonSource population [off, off + n): neuron i spikes in its step t when
// u(seed, t, i) < p[i] (counter_rng.h); t = t0 in the first step of the call.
struct Source {
  int64_t off, n, t0;
  uint32_t seed0, seed1;
  const float* p;
};

// A run of neurons [lo, hi) onto which the same projections project: `proj` lists the terms of
// their current in the order they are summed (projection indices, kIExtTerm for the constant inputs).
constexpr int32_t kIExtTerm = -1;
struct Segment {
  int64_t lo, hi;
  std::vector<int32_t> proj;
  int fast = -1;  // two conductance terms and the inputs, summed in one pass: 0 = [c1, c2, i], 1 = [c1, i, c2]
};

struct Net {
  int64_t n, g_size, d_size;
  bool uniform;  // one value per nparam row (f32[7, 1]) instead of one per neuron
  std::vector<Segment> segments;
  std::vector<const Segment*> fast_of_block;  // per block of kBlock neurons: the segment covering it, if fast
  const float* par[kNParam];  // nparam rows: (n,) each, or one value each when uniform
  std::vector<Proj> proj;      // CSR projections in network order, then the Poisson inputs
  std::vector<Plastic> plastic;
  std::vector<PoissonIn> poisson;
  std::vector<TableIn> tables;
  const float* table = nullptr;  // f32[n_steps, table_cols]: the tabulated currents of every step
  int64_t table_cols = 0;
  std::vector<Source> sources;
  std::vector<Raster> rasters;
  std::vector<CountModulator> mods;
};

std::string Where(int64_t p, const char* what) {
  return "neurosim_fused_lif: projection " + std::to_string(p) + ": " + what;
}

// Checks every offset and size of the flattened description against the buffers, so a bad
// description is an error, never an out-of-bounds access. Indices are checked where they are
// used (an out-of-range one is skipped), which costs nothing compared to a pass over nnz.
ffi::Error Describe(Net& net, int64_t n, int64_t g_size, int64_t d_size, ffi::Buffer<ffi::F32>& nparam,
                    ffi::Buffer<ffi::S32>& proj_i, ffi::Buffer<ffi::F32>& proj_f, ffi::Buffer<ffi::S32>& indptr,
                    ffi::Buffer<ffi::S32>& indices, const float* weight_data, int64_t n_weights) {
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
    pr.cond = (c[kCond] & 1) != 0;
    pr.sliced = (c[kCond] & 2) != 0;
    pr.unique = (c[kCond] & 4) != 0;
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
      pr.weights = weight_data + w_off;
      pr.nnz = std::min(pr.nnz, n_weights - w_off);
    } else {
      pr.weights = nullptr;
    }
    net.proj.push_back(pr);
  }
  return ffi::Error::Success();
}

// Runs of neurons covered by the same projections (and Poisson inputs), in the order of net.proj.
void BuildSegments(Net& net) {
  const int64_t n = net.n;
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
    // the scan's order: terms onto the whole population, the constant inputs (kIExtTerm), then
    // terms onto a slice of it (neurosim/network/step.py)
    for (int pass = 0; pass < 2; ++pass) {
      if (pass == 1) seg.proj.push_back(kIExtTerm);
      for (size_t q = 0; q < net.proj.size(); ++q)
        if (net.proj[q].sliced == (pass == 1) && net.proj[q].post_off <= seg.lo &&
            seg.hi <= net.proj[q].post_off + net.proj[q].n_post)
          seg.proj.push_back(static_cast<int32_t>(q));
    }
    net.segments.push_back(std::move(seg));
  }
  for (Segment& seg : net.segments) {
    const auto& t = seg.proj;
    if (t.size() != 3) continue;
    if (t[2] == kIExtTerm && net.proj[t[0]].cond && net.proj[t[1]].cond) seg.fast = 0;
    if (t[1] == kIExtTerm && net.proj[t[0]].cond && net.proj[t[2]].cond) seg.fast = 1;
  }
  net.fast_of_block.assign(static_cast<size_t>((n + kBlock - 1) / kBlock), nullptr);
  for (const Segment& seg : net.segments)
    if (seg.fast >= 0)
      for (int64_t b0 = (seg.lo + kBlock - 1) / kBlock * kBlock; b0 < seg.hi; b0 += kBlock)
        if (std::min(b0 + kBlock, n) <= seg.hi) net.fast_of_block[static_cast<size_t>(b0 / kBlock)] = &seg;
}

// plas_i columns, plas_f columns, pin_i columns, pin_f columns (neurosim_fused_lif_plastic)
enum : int { kPlProj = 0, kPlXOff, kPlYOff, kPlRowsOff, kPlColPtrOff, kPlColPermOff, kPlTrace, kPlWOff, kPlModPlus,
             kPlModMinus, kNPlI };
enum : int { kPlAPlus = 0, kPlAMinus, kPlDecPlus, kPlDecMinus, kPlWMin, kPlWMax, kPlMuPlus, kPlMuMinus, kPlLo, kPlHi,
             kPlJumpPlus, kPlJumpMinus, kNPlF };
enum : int { kModIndex = 0, kModOff, kModN, kModSign, kNModI };
enum : int { kModW = 0, kModB, kModInvTau, kNModF };
enum : int { kModValue = 0, kModA, kModPrev, kNModState };
enum : int { kRasOff = 0, kRasN, kRasRows, kNRasI };
enum : int { kPinPostOff = 0, kPinN, kPinGOff, kPinCond, kNPinI };
enum : int { kPinDecay = 0, kPinERev, kPinW, kNPinF = 4 };
constexpr int64_t kPoissonTerms = 40;
constexpr int64_t kPoissonBlock = 512;

// The current term of an input row of pin_i (c: its columns): a projection without synapses onto
// [post_off, post_off + n) whose synapse state is g[g_off ...]; Poisson inputs and tabulated
// currents set what draws its drive.
Proj InputTerm(const int32_t* c, float decay, float e_rev, float w) {
  Proj pr{};
  pr.pre_off = pr.n_pre = pr.depth = pr.dbuf_off = pr.nnz = 0;
  pr.post_off = c[kPinPostOff];
  pr.n_post = c[kPinN];
  pr.g_off = c[kPinGOff];
  pr.indptr = nullptr;
  pr.indices = nullptr;
  pr.weights = nullptr;
  pr.cond = (c[kPinCond] & 1) != 0;
  pr.sliced = (c[kPinCond] & 2) != 0;
  pr.decay = decay;
  pr.e_rev = e_rev;
  pr.w = w;
  return pr;
}

// The plastic projections and the Poisson inputs of neurosim_fused_lif_plastic, checked against
// their buffers as Describe checks the projections. `w` is the weights result (updated in place).
ffi::Error DescribeExtras(Net& net, float* w, int64_t n_weights, float* traces, int64_t n_traces,
                          ffi::Buffer<ffi::S32>& plas_i, ffi::Buffer<ffi::F32>& plas_f, ffi::Buffer<ffi::S32>& rows,
                          ffi::Buffer<ffi::S32>& col_ptr, ffi::Buffer<ffi::S32>& col_perm,
                          ffi::Buffer<ffi::S32>& pin_i, ffi::Buffer<ffi::F32>& pin_f, ffi::Buffer<ffi::U32>& pin_seed,
                          ffi::Buffer<ffi::F32>& pin_cdf, ffi::Buffer<ffi::S32>& src_i, ffi::Buffer<ffi::S32>& src_t,
                          ffi::Buffer<ffi::U32>& src_seed, ffi::Buffer<ffi::F32>& src_p,
                          ffi::Buffer<ffi::S32>& mod_i, ffi::Buffer<ffi::F32>& mod_f, float* mod_state,
                          int64_t n_mod_state, ffi::Buffer<ffi::S32>& ras_i, ffi::Buffer<ffi::S32>& ras_t,
                          ffi::Buffer<ffi::F32>& raster, ffi::Buffer<ffi::F32>& table, int64_t n_steps) {
  auto fail = [](const std::string& what) {
    return ffi::Error::InvalidArgument("neurosim_fused_lif_plastic: " + what);
  };
  auto di = plas_i.dimensions(), df = plas_f.dimensions();
  if (di.size() != 2 || di[1] != kNPlI || df.size() != 2 || df[1] != kNPlF || df[0] != di[0])
    return fail("plas_i must be i32[Q, 10] and plas_f f32[Q, 12]");
  const int64_t n_rows = rows.element_count(), n_cp = col_ptr.element_count(), n_perm = col_perm.element_count();
  net.plastic.clear();
  for (int64_t q = 0; q < di[0]; ++q) {
    const int32_t* c = plas_i.typed_data() + q * kNPlI;
    const float* f = plas_f.typed_data() + q * kNPlF;
    const int64_t p = c[kPlProj];
    if (p < 0 || p >= static_cast<int64_t>(net.proj.size())) return fail("plastic projection index out of range");
    Proj& pr = net.proj[p];
    if (pr.plastic >= 0) return fail("a projection is listed twice as plastic");
    const int64_t nnz = pr.indptr[pr.n_pre];
    const int64_t x_off = c[kPlXOff], y_off = c[kPlYOff], r_off = c[kPlRowsOff], cp_off = c[kPlColPtrOff],
                  pm_off = c[kPlColPermOff], w_off = c[kPlWOff];
    if (nnz < 0 || nnz > pr.nnz || pr.weights == nullptr) return fail("a plastic projection needs per-synapse weights");
    if (x_off < 0 || x_off + pr.n_pre > n_traces || y_off < 0 || y_off + pr.n_post > n_traces)
      return fail("trace range outside the traces operand");
    if (r_off < 0 || r_off + nnz > n_rows || pm_off < 0 || pm_off + nnz > n_perm || cp_off < 0 ||
        cp_off + pr.n_post + 1 > n_cp || w_off < 0 || w_off + nnz > n_weights)
      return fail("column index or weights outside their operands");
    Plastic pl;
    pl.rule = neurosim::StdpPairRule{f[kPlAPlus], f[kPlAMinus], f[kPlWMin], f[kPlWMax],
                                     f[kPlMuPlus], f[kPlMuMinus], f[kPlLo], f[kPlHi]};
    pl.proj = p;
    pl.x = traces + x_off;
    pl.y = traces + y_off;
    pl.w = w + w_off;
    pl.rows = rows.typed_data() + r_off;
    pl.col_ptr = col_ptr.typed_data() + cp_off;
    pl.col_perm = col_perm.typed_data() + pm_off;
    pl.dec_plus = f[kPlDecPlus];
    pl.dec_minus = f[kPlDecMinus];
    pl.jump_plus = f[kPlJumpPlus];
    pl.jump_minus = f[kPlJumpMinus];
    pl.trace = c[kPlTrace];
    pl.mod_plus = c[kPlModPlus];
    pl.mod_minus = c[kPlModMinus];
    if (pl.trace < kTraceAllToAll || pl.trace > kTraceJumpThenDecay) return fail("unknown trace kind");
    for (int64_t j = 0; j <= pr.n_post; ++j)
      if (pl.col_ptr[j] < 0 || pl.col_ptr[j] > nnz || (j > 0 && pl.col_ptr[j] < pl.col_ptr[j - 1]))
        return fail("col_ptr is not a non-decreasing index into [0, nnz]");
    pr.plastic = static_cast<int32_t>(net.plastic.size());
    pr.weights = pl.w;
    pr.nnz = nnz;
    net.plastic.push_back(pl);
  }
  auto ri = pin_i.dimensions(), rf = pin_f.dimensions(), rs = pin_seed.dimensions(), rc = pin_cdf.dimensions();
  if (ri.size() != 2 || ri[1] != kNPinI || rf.size() != 2 || rf[1] != kNPinF || rs.size() != 2 || rs[1] != 2 ||
      rc.size() != 2 || rc[1] != kPoissonTerms || rf[0] != ri[0] || rs[0] != ri[0] || rc[0] != ri[0])
    return fail("pin_i must be i32[R, 4], pin_f f32[R, 4], pin_seed u32[R, 2] and pin_cdf f32[R, 40]");
  net.poisson.clear();
  net.tables.clear();
  int64_t table_cols = 0;
  for (int64_t r = 0; r < ri[0]; ++r) {
    const int32_t* c = pin_i.typed_data() + r * kNPinI;
    const float* f = pin_f.typed_data() + r * kNPinF;
    if (c[kPinCond] & 4) {  // a tabulated current (its pin_f, pin_seed and pin_cdf rows are unused)
      TableIn in{c[kPinPostOff], c[kPinN], c[kPinGOff], table_cols};
      if (in.n < 0 || in.post_off < 0 || in.post_off + in.n > net.n) return fail("tabulated input range outside [0, N)");
      if (in.g_off < 0 || in.g_off + in.n > net.g_size) return fail("tabulated input g range outside the g operand");
      table_cols += in.n;
      Proj pr = InputTerm(c, 0.0f, 0.0f, 0.0f);   // current-based, decay 0
      pr.cond = false;
      pr.table = static_cast<int32_t>(net.tables.size());
      net.proj.push_back(pr);
      net.tables.push_back(in);
      continue;
    }
    PoissonIn in{c[kPinPostOff], c[kPinN], c[kPinGOff], pin_seed.typed_data()[2 * r], pin_seed.typed_data()[2 * r + 1],
                 pin_cdf.typed_data() + r * kPoissonTerms, f[kPinW], static_cast<int>(kPoissonTerms)};
    for (int h = 1; h <= kPoissonTerms; ++h)
      if (in.cdf[h - 1] >= 1.0f - 0x1.0p-10f) {
        in.head = h;
        break;
      }
    if (in.n < 0 || in.post_off < 0 || in.post_off + in.n > net.n) return fail("Poisson input range outside [0, N)");
    if (in.g_off < 0 || in.g_off + in.n > net.g_size) return fail("Poisson input g range outside the g operand");
    Proj pr = InputTerm(c, f[kPinDecay], f[kPinERev], in.w);
    pr.poisson = static_cast<int32_t>(net.poisson.size());
    net.proj.push_back(pr);
    net.poisson.push_back(in);
  }
  auto si = src_i.dimensions(), ss = src_seed.dimensions();
  if (si.size() != 2 || si[1] != 2 || ss.size() != 2 || ss[1] != 2 || ss[0] != si[0] ||
      static_cast<int64_t>(src_t.element_count()) != si[0])
    return fail("src_i must be i32[S, 2], src_t i32[S] and src_seed u32[S, 2]");
  net.sources.clear();
  int64_t p_off = 0;
  const int64_t n_p = static_cast<int64_t>(src_p.element_count());
  for (int64_t q = 0; q < si[0]; ++q) {
    Source src{src_i.typed_data()[2 * q], src_i.typed_data()[2 * q + 1], src_t.typed_data()[q],
               src_seed.typed_data()[2 * q], src_seed.typed_data()[2 * q + 1], src_p.typed_data() + p_off};
    if (src.n < 0 || src.off < 0 || src.off + src.n > net.n) return fail("source range outside [0, N)");
    if (p_off + src.n > n_p) return fail("src_p holds fewer probabilities than the sources have neurons");
    p_off += src.n;
    net.sources.push_back(src);
  }
  auto mi = mod_i.dimensions(), mf = mod_f.dimensions();
  if (mi.size() != 2 || mi[1] != kNModI || mf.size() != 2 || mf[1] != kNModF || n_mod_state != mf[0] * kNModState)
    return fail("mod_i must be i32[R, 4], mod_f f32[M, 3] and mod_state f32[M, 3]");
  net.mods.clear();
  for (int64_t m = 0; m < mf[0]; ++m) {
    const float* f = mod_f.typed_data() + m * kNModF;
    net.mods.push_back(CountModulator{f[kModW], f[kModB], f[kModInvTau], mod_state + m * kNModState, {}, {}, {}});
  }
  for (int64_t r = 0; r < mi[0]; ++r) {
    const int32_t* c = mod_i.typed_data() + r * kNModI;
    if (c[kModIndex] < 0 || c[kModIndex] >= mf[0]) return fail("mod_i: modulator index out of range");
    if (c[kModN] < 0 || c[kModOff] < 0 || c[kModOff] + c[kModN] > net.n) return fail("mod_i: range outside [0, N)");
    if (c[kModSign] != 1 && c[kModSign] != -1) return fail("mod_i: sign must be +1 or -1");
    CountModulator& cm = net.mods[static_cast<size_t>(c[kModIndex])];
    cm.off.push_back(c[kModOff]);
    cm.n.push_back(c[kModN]);
    cm.sign.push_back(c[kModSign]);
  }
  for (const Plastic& pl : net.plastic)
    if (pl.mod_plus >= static_cast<int64_t>(net.mods.size()) || pl.mod_minus >= static_cast<int64_t>(net.mods.size()))
      return fail("a plastic projection reads a modulator that is not listed");
  auto ri2 = ras_i.dimensions();
  if (ri2.size() != 2 || ri2[1] != kNRasI || static_cast<int64_t>(ras_t.element_count()) != ri2[0])
    return fail("ras_i must be i32[S, 3] and ras_t i32[S]");
  net.rasters.clear();
  int64_t r_off = 0;
  const int64_t n_raster = static_cast<int64_t>(raster.element_count());
  for (int64_t q = 0; q < ri2[0]; ++q) {
    const int32_t* c = ras_i.typed_data() + q * kNRasI;
    Raster ras{c[kRasOff], c[kRasN], c[kRasRows], ras_t.typed_data()[q], raster.typed_data() + r_off};
    if (ras.n < 0 || ras.off < 0 || ras.off + ras.n > net.n) return fail("raster range outside [0, N)");
    if (ras.rows < 1 || r_off + ras.rows * ras.n > n_raster) return fail("raster outside the raster operand");
    r_off += ras.rows * ras.n;
    net.rasters.push_back(ras);
  }
  auto nd = table.dimensions();
  if (!net.tables.empty() && (nd.size() != 2 || nd[0] != n_steps || nd[1] != table_cols))
    return fail("table must be f32[n_steps, C], C the neurons of all tabulated inputs");
  net.table = net.tables.empty() ? nullptr : table.typed_data();
  net.table_cols = table_cols;
  return ffi::Error::Success();
}

#define NEUROSIM_FUSED_STEP_LOOPS 1

// The step loops for CPUs with AVX-512 (16 lanes per vector) ...
namespace fma_avx512 {
constexpr bool kFma = true;
constexpr bool kAvx512 = true;
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512")
#endif
#include "fused.cc"  // this file, second part (below)
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
}  // namespace fma_avx512

// ... for CPUs with AVX2 and FMA ...
namespace fma_avx2 {
constexpr bool kFma = true;
constexpr bool kAvx512 = false;
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
constexpr bool kAvx512 = false;
#include "fused.cc"  // this file, second part (below)
}  // namespace plain

template <typename T>
void CopyIfDistinct(T* dst, const T* src, size_t count) {
  if (dst != src && count) std::memcpy(dst, src, sizeof(T) * count);
}

// What both handlers share: checks the state operands, copies them into the results where
// they are not aliased, and runs the steps of `net` (whose weights point at the right buffer).
struct StateBuffers {
  float *v, *t_left, *g, *dbuf;
  uint32_t* spikes;
  int64_t n, g_size, d_size;
};

ffi::Error Run(Net& net, const StateBuffers& st, int64_t t0, int64_t n_steps, float half_dt, float dt) {
  static thread_local std::vector<float> cur, drive;
  static thread_local std::vector<uint32_t> spk;
  static thread_local std::vector<int32_t> spk_list, pre_list, post_list;
  BuildSegments(net);
  const size_t n = static_cast<size_t>(std::max<int64_t>(st.n, 1));
  cur.resize(n);
  spk.resize(n);
  drive.resize(static_cast<size_t>(std::max<int64_t>(st.g_size, 1)));
  spk_list.resize(n);
  pre_list.resize(n);
  post_list.resize(n);
  // FMA where the CPU has it, as XLA compiles the scan engine for the host CPU
  static const bool fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  static const bool avx512 = fma && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                             std::getenv("NEUROSIM_FUSED_NO_AVX512") == nullptr;
  (avx512 ? fma_avx512::RunSteps : fma ? fma_avx2::RunSteps : plain::RunSteps)(net, n_steps, half_dt, dt, t0, st.v, st.t_left, st.g, st.dbuf,
                                               st.spikes, cur.data(), spk.data(), drive.data(), spk_list.data(),
                                               pre_list.data(), post_list.data());
  return ffi::Error::Success();
}

ffi::Error CheckState(const char* who, ffi::Buffer<ffi::F32>& v, ffi::Buffer<ffi::F32>& t_left, ffi::Buffer<ffi::F32>& g,
                      ffi::Buffer<ffi::F32>& dbuf, ffi::Buffer<ffi::S32>& t0, ffi::ResultBuffer<ffi::F32>& v_out,
                      ffi::ResultBuffer<ffi::F32>& t_left_out, ffi::ResultBuffer<ffi::F32>& g_out,
                      ffi::ResultBuffer<ffi::F32>& dbuf_out, ffi::ResultBuffer<ffi::U32>& spikes, int64_t n_steps,
                      StateBuffers& st) {
  const std::string w(who);
  st.n = static_cast<int64_t>(v.element_count());
  st.g_size = static_cast<int64_t>(g.element_count());
  st.d_size = static_cast<int64_t>(dbuf.element_count());
  if (static_cast<int64_t>(t_left.element_count()) != st.n)
    return ffi::Error::InvalidArgument(w + ": v and t_left must have the same size N");
  if (t0.element_count() != 1) return ffi::Error::InvalidArgument(w + ": t0 must be a scalar");
  if (n_steps < 0) return ffi::Error::InvalidArgument(w + ": n_steps must be >= 0");
  const int64_t words = (st.n + 31) / 32;
  if (static_cast<int64_t>(spikes->element_count()) != n_steps * words)
    return ffi::Error::InvalidArgument(w + ": spikes must be u32[n_steps, ceil(N / 32)]");
  if (static_cast<int64_t>(v_out->element_count()) != st.n ||
      static_cast<int64_t>(t_left_out->element_count()) != st.n ||
      static_cast<int64_t>(g_out->element_count()) != st.g_size ||
      static_cast<int64_t>(dbuf_out->element_count()) != st.d_size)
    return ffi::Error::InvalidArgument(w + ": results 0-3 must have the shapes of operands 0-3");
  CopyIfDistinct(v_out->typed_data(), v.typed_data(), static_cast<size_t>(st.n));
  CopyIfDistinct(t_left_out->typed_data(), t_left.typed_data(), static_cast<size_t>(st.n));
  CopyIfDistinct(g_out->typed_data(), g.typed_data(), static_cast<size_t>(st.g_size));
  CopyIfDistinct(dbuf_out->typed_data(), dbuf.typed_data(), static_cast<size_t>(st.d_size));
  st.v = v_out->typed_data();
  st.t_left = t_left_out->typed_data();
  st.g = g_out->typed_data();
  st.dbuf = dbuf_out->typed_data();
  st.spikes = spikes->typed_data();
  return ffi::Error::Success();
}

ffi::Error FusedLifCpu(ffi::Buffer<ffi::F32> v, ffi::Buffer<ffi::F32> t_left, ffi::Buffer<ffi::F32> g,
                       ffi::Buffer<ffi::F32> dbuf, ffi::Buffer<ffi::S32> t0, ffi::Buffer<ffi::F32> nparam,
                       ffi::Buffer<ffi::S32> proj_i, ffi::Buffer<ffi::F32> proj_f, ffi::Buffer<ffi::S32> indptr,
                       ffi::Buffer<ffi::S32> indices, ffi::Buffer<ffi::F32> weights,
                       ffi::ResultBuffer<ffi::F32> v_out, ffi::ResultBuffer<ffi::F32> t_left_out,
                       ffi::ResultBuffer<ffi::F32> g_out, ffi::ResultBuffer<ffi::F32> dbuf_out,
                       ffi::ResultBuffer<ffi::U32> spikes, int64_t n_steps, float half_dt, float dt) {
  StateBuffers st;
  ffi::Error err = CheckState("neurosim_fused_lif", v, t_left, g, dbuf, t0, v_out, t_left_out, g_out, dbuf_out, spikes,
                              n_steps, st);
  if (err.failure()) return err;
  Net net;
  err = Describe(net, st.n, st.g_size, st.d_size, nparam, proj_i, proj_f, indptr, indices, weights.typed_data(),
                 static_cast<int64_t>(weights.element_count()));
  if (err.failure()) return err;
  return Run(net, st, static_cast<int64_t>(t0.typed_data()[0]), n_steps, half_dt, dt);
}

// neurosim_fused_lif's operands and results, plus plastic projections (pair STDP) and Poisson
// inputs: kernels/README.md ("neurosim_fused_lif_plastic").
ffi::Error FusedLifPlasticCpu(ffi::Buffer<ffi::F32> v, ffi::Buffer<ffi::F32> t_left, ffi::Buffer<ffi::F32> g,
                              ffi::Buffer<ffi::F32> dbuf, ffi::Buffer<ffi::S32> t0, ffi::Buffer<ffi::F32> nparam,
                              ffi::Buffer<ffi::S32> proj_i, ffi::Buffer<ffi::F32> proj_f, ffi::Buffer<ffi::S32> indptr,
                              ffi::Buffer<ffi::S32> indices, ffi::Buffer<ffi::F32> weights, ffi::Buffer<ffi::F32> traces,
                              ffi::Buffer<ffi::S32> plas_i, ffi::Buffer<ffi::F32> plas_f, ffi::Buffer<ffi::S32> rows,
                              ffi::Buffer<ffi::S32> col_ptr, ffi::Buffer<ffi::S32> col_perm,
                              ffi::Buffer<ffi::S32> pin_i, ffi::Buffer<ffi::F32> pin_f,
                              ffi::Buffer<ffi::U32> pin_seed, ffi::Buffer<ffi::F32> pin_cdf,
                              ffi::Buffer<ffi::S32> src_i, ffi::Buffer<ffi::S32> src_t, ffi::Buffer<ffi::U32> src_seed,
                              ffi::Buffer<ffi::F32> src_p, ffi::Buffer<ffi::S32> mod_i, ffi::Buffer<ffi::F32> mod_f,
                              ffi::Buffer<ffi::F32> mod_state, ffi::Buffer<ffi::S32> ras_i, ffi::Buffer<ffi::S32> ras_t,
                              ffi::Buffer<ffi::F32> raster, ffi::Buffer<ffi::F32> table,
                              ffi::ResultBuffer<ffi::F32> v_out,
                              ffi::ResultBuffer<ffi::F32> t_left_out, ffi::ResultBuffer<ffi::F32> g_out,
                              ffi::ResultBuffer<ffi::F32> dbuf_out, ffi::ResultBuffer<ffi::F32> weights_out,
                              ffi::ResultBuffer<ffi::F32> traces_out, ffi::ResultBuffer<ffi::F32> mod_state_out,
                              ffi::ResultBuffer<ffi::U32> spikes, int64_t n_steps, float half_dt, float dt) {
  StateBuffers st;
  ffi::Error err = CheckState("neurosim_fused_lif_plastic", v, t_left, g, dbuf, t0, v_out, t_left_out, g_out, dbuf_out,
                              spikes, n_steps, st);
  if (err.failure()) return err;
  const int64_t n_w = static_cast<int64_t>(weights.element_count());
  const int64_t n_tr = static_cast<int64_t>(traces.element_count());
  if (static_cast<int64_t>(weights_out->element_count()) != n_w ||
      static_cast<int64_t>(traces_out->element_count()) != n_tr)
    return ffi::Error::InvalidArgument("neurosim_fused_lif_plastic: results 4-5 must have the shapes of weights and traces");
  CopyIfDistinct(weights_out->typed_data(), weights.typed_data(), static_cast<size_t>(n_w));
  CopyIfDistinct(traces_out->typed_data(), traces.typed_data(), static_cast<size_t>(n_tr));
  const int64_t n_ms = static_cast<int64_t>(mod_state.element_count());
  if (static_cast<int64_t>(mod_state_out->element_count()) != n_ms)
    return ffi::Error::InvalidArgument("neurosim_fused_lif_plastic: result 6 must have the shape of mod_state");
  CopyIfDistinct(mod_state_out->typed_data(), mod_state.typed_data(), static_cast<size_t>(n_ms));
  Net net;
  err = Describe(net, st.n, st.g_size, st.d_size, nparam, proj_i, proj_f, indptr, indices, weights_out->typed_data(),
                 n_w);
  if (err.failure()) return err;
  err = DescribeExtras(net, weights_out->typed_data(), n_w, traces_out->typed_data(), n_tr, plas_i, plas_f, rows,
                       col_ptr, col_perm, pin_i, pin_f, pin_seed, pin_cdf, src_i, src_t, src_seed, src_p, mod_i, mod_f,
                       mod_state_out->typed_data(), n_ms, ras_i, ras_t, raster, table, n_steps);
  if (err.failure()) return err;
  return Run(net, st, static_cast<int64_t>(t0.typed_data()[0]), n_steps, half_dt, dt);
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

extern "C" __attribute__((visibility("default"))) XLA_FFI_Error* neurosim_fused_lif_plastic_cpu(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_fused_lif_plastic_cpu, FusedLifPlasticCpu,
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
                                  .Arg<ffi::Buffer<ffi::F32>>()   // traces
                                  .Arg<ffi::Buffer<ffi::S32>>()   // plas_i
                                  .Arg<ffi::Buffer<ffi::F32>>()   // plas_f
                                  .Arg<ffi::Buffer<ffi::S32>>()   // rows
                                  .Arg<ffi::Buffer<ffi::S32>>()   // col_ptr
                                  .Arg<ffi::Buffer<ffi::S32>>()   // col_perm
                                  .Arg<ffi::Buffer<ffi::S32>>()   // pin_i
                                  .Arg<ffi::Buffer<ffi::F32>>()   // pin_f
                                  .Arg<ffi::Buffer<ffi::U32>>()   // pin_seed
                                  .Arg<ffi::Buffer<ffi::F32>>()   // pin_cdf
                                  .Arg<ffi::Buffer<ffi::S32>>()   // src_i
                                  .Arg<ffi::Buffer<ffi::S32>>()   // src_t
                                  .Arg<ffi::Buffer<ffi::U32>>()   // src_seed
                                  .Arg<ffi::Buffer<ffi::F32>>()   // src_p
                                  .Arg<ffi::Buffer<ffi::S32>>()   // mod_i
                                  .Arg<ffi::Buffer<ffi::F32>>()   // mod_f
                                  .Arg<ffi::Buffer<ffi::F32>>()   // mod_state
                                  .Arg<ffi::Buffer<ffi::S32>>()   // ras_i
                                  .Arg<ffi::Buffer<ffi::S32>>()   // ras_t
                                  .Arg<ffi::Buffer<ffi::F32>>()   // raster
                                  .Arg<ffi::Buffer<ffi::F32>>()   // table (tabulated currents, per step)
                                  .Ret<ffi::Buffer<ffi::F32>>()   // v
                                  .Ret<ffi::Buffer<ffi::F32>>()   // t_left
                                  .Ret<ffi::Buffer<ffi::F32>>()   // g
                                  .Ret<ffi::Buffer<ffi::F32>>()   // dbuf
                                  .Ret<ffi::Buffer<ffi::F32>>()   // weights
                                  .Ret<ffi::Buffer<ffi::F32>>()   // traces
                                  .Ret<ffi::Buffer<ffi::F32>>()   // mod_state
                                  .Ret<ffi::Buffer<ffi::U32>>()   // spikes
                                  .Attr<int64_t>("n_steps")
                                  .Attr<float>("half_dt")
                                  .Attr<float>("dt"));

#else  // NEUROSIM_FUSED_STEP_LOOPS: the step loops, compiled once per target (see the top)

// The lanes of a 16-wide step at position k of [.., end): all 16, or the remaining ones.
template <int kDummy = 0>
inline uint32_t Lanes(int64_t k, int64_t end) {
  return end - k >= 16 ? 0xFFFFu : (1u << (end - k)) - 1u;
}

// drive[indices[k]] += val * w[k] over the synapses of row r (skipping malformed entries). With
// AVX-512 and a row without repeated indices (Proj::unique), 16 synapses at a time: a gather, the
// same additions, a scatter (each neuron once per 16, so every drive receives its terms in the
// scalar loop's order).
template <int kDummy = 0>
inline void ScatterRow(const Proj& p, float* drive, int64_t r, float val) {
  int64_t a = p.indptr[r], b = p.indptr[r + 1];
  a = std::max<int64_t>(a, 0);
  b = std::min<int64_t>(b, p.nnz);
  const uint32_t n_post = static_cast<uint32_t>(p.n_post);
  int64_t k = a;
  if constexpr (kAvx512 && kDummy == 0) {
    if (p.unique) {
      const __m512i vn = _mm512_set1_epi32(static_cast<int32_t>(n_post));
      const __m512 zero = _mm512_setzero_ps();
      if (p.weights == nullptr) {
        const __m512 c = _mm512_set1_ps(val * p.w);
        for (; k < b; k += 16) {
          const __mmask16 m = static_cast<__mmask16>(Lanes(k, b));
          const __m512i j = _mm512_maskz_loadu_epi32(m, p.indices + k);
          const __mmask16 ok = _mm512_mask_cmplt_epu32_mask(m, j, vn);
          const __m512 d = _mm512_mask_i32gather_ps(zero, ok, j, drive, 4);
          _mm512_mask_i32scatter_ps(drive, ok, j, _mm512_add_ps(d, c), 4);
        }
      } else {
        const __m512 vv = _mm512_set1_ps(val);
        for (; k < b; k += 16) {
          const __mmask16 m = static_cast<__mmask16>(Lanes(k, b));
          const __m512i j = _mm512_maskz_loadu_epi32(m, p.indices + k);
          const __mmask16 ok = _mm512_mask_cmplt_epu32_mask(m, j, vn);
          const __m512 d = _mm512_mask_i32gather_ps(zero, ok, j, drive, 4);
          const __m512 wk = _mm512_maskz_loadu_ps(m, p.weights + k);
          _mm512_mask_i32scatter_ps(drive, ok, j, _mm512_add_ps(d, _mm512_mul_ps(vv, wk)), 4);
        }
      }
    }
  }
  if (p.weights == nullptr) {
    const float c = val * p.w;
    for (; k < b; ++k) {
      const uint32_t j = static_cast<uint32_t>(p.indices[k]);
      if (j < n_post) drive[j] += c;
    }
  } else {
    for (; k < b; ++k) {
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
      if (q == kIExtTerm) {  // the constant inputs
        if (state == 0) {
          for (int64_t i = lo; i < hi; ++i) cur[i] = i_ext[kUni ? 0 : i];
        } else if (state == 1) {
          LastProduct<kFold, kUni>(lo, hi, g + pend->g_off - pend->post_off, drive + pend->g_off - pend->post_off,
                                   pend->decay, pend->e_rev, i_ext, v, cur);
        } else {
          for (int64_t i = lo; i < hi; ++i) cur[i] = cur[i] + i_ext[kUni ? 0 : i];
        }
        state = 2;
        continue;
      }
      const Proj& p = net.proj[q];
      float* gp = g + p.g_off - p.post_off;  // indexed by neuron
      float* dp = drive + p.g_off - p.post_off;
      if (state == 0) {
        if (p.cond) {
          pend = &p;
          state = 1;
          continue;
        } else {
          FirstTerm<kFold>(lo, hi, gp, dp, p.decay, cur);
        }
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
// conductance terms, p1 and p2 in summation order, with the constant inputs after both (kOrder 0:
// fma(g1, e1 - v, g2 (e2 - v)) + i_ext) or between them (kOrder 1, p2 onto a slice of the
// population: fma(g2, e2 - v, fma(g1, e1 - v, i_ext))), as Currents computes them. The current
// stays in a register for the LIF update, as the separate loops of Currents and NeuronStep compute it.
template <bool kFold, bool kUni, int kOrder>
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
    const float current = kOrder == 0 ? Mad(a, e1 - vv, b * (e2 - vv)) + i_ext[c]
                                      : Mad(b, e2 - vv, Mad(a, e1 - vv, i_ext[c]));
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

inline float AsFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Rule::Apply's last lines (stdp_pair.h) on 16 lanes: w0 + (clip(w0 + (pot - dep), lo, hi) - w0).
template <int kDummy = 0>
inline __m512 AddClipped16(__m512 w0, __m512 pot, __m512 dep, __m512 lo, __m512 hi) {
  const __m512 c = _mm512_add_ps(w0, _mm512_sub_ps(pot, dep));
  const __mmask16 below = _mm512_cmp_ps_mask(c, lo, _CMP_LT_OQ), above = _mm512_cmp_ps_mask(c, hi, _CMP_GT_OQ);
  const __m512 clipped = _mm512_mask_blend_ps(below, _mm512_mask_blend_ps(above, c, hi), lo);
  return _mm512_add_ps(w0, _mm512_sub_ps(clipped, w0));
}

// Rule::Apply<true> (additive pair STDP) at the synapses [lo, hi) of one delivering row (spike
// si, trace xi), 16 at a time with AVX-512, the postsynaptic spikes and traces gathered (GCC's
// generic tuning does not vectorise gathers itself): the same float operations in the same
// order; an index outside the projection leaves its weight as it is. Returns where the scalar
// loop takes over (hi with AVX-512, lo without).
template <int kDummy = 0>
inline int64_t AdditiveRow(const neurosim::StdpPairRule& rule, float* __restrict w, const int32_t* __restrict indices,
                           int64_t lo, int64_t hi, uint32_t n_post, const uint32_t* __restrict q_bits,
                           const float* __restrict y, float y_scale, float si, float xi) {
  int64_t k = lo;
  if constexpr (kAvx512 && kDummy == 0) {
    // Apply<true>: pot = ((A+ * 1) * q) * x, dep = ((A- * 1) * s) * y
    const __m512 vap = _mm512_set1_ps(rule.a_plus * 1.0f), vxi = _mm512_set1_ps(xi),
                 vdep = _mm512_set1_ps(rule.a_minus * 1.0f * si), vys = _mm512_set1_ps(y_scale),
                 vlo = _mm512_set1_ps(rule.lo), vhi = _mm512_set1_ps(rule.hi), zero = _mm512_setzero_ps();
    const __m512i vn = _mm512_set1_epi32(static_cast<int32_t>(n_post));
    for (; k < hi; k += 16) {
      const __mmask16 m = static_cast<__mmask16>(Lanes(k, hi));
      const __m512i j = _mm512_maskz_loadu_epi32(m, indices + k);
      const __mmask16 ok = _mm512_mask_cmplt_epu32_mask(m, j, vn);
      const __m512 q = _mm512_mask_i32gather_ps(zero, ok, j, reinterpret_cast<const float*>(q_bits), 4);
      const __m512 yj = _mm512_mask_i32gather_ps(zero, ok, j, y, 4);
      const __m512 w0 = _mm512_maskz_loadu_ps(m, w + k);
      const __m512 pot = _mm512_mul_ps(_mm512_mul_ps(vap, q), vxi);
      const __m512 dep = _mm512_mul_ps(vdep, _mm512_mul_ps(yj, vys));
      _mm512_mask_storeu_ps(w + k, ok, AddClipped16(w0, pot, dep, vlo, vhi));
    }
  }
  return k;
}

// Rule::Apply<true>(w, 0, qj, x_i, yj) at the synapses col_perm[t], t in [t0, t_end), of one
// spiking postsynaptic neuron's column whose row did not deliver (s_i == 0: the rows' pass
// updated those), 16 at a time with AVX-512 (a column lists each synapse once, so the scatter
// of the new weights never collides); returns where the scalar loop takes over.
template <int kDummy = 0>
inline int32_t AdditiveColumn(const neurosim::StdpPairRule& rule, const Plastic& pl, float* __restrict w, int64_t nnz,
                              uint32_t n_pre, const void* s_raw, const float* __restrict x, int32_t t0, int32_t t_end,
                              float qj, float yj) {
  int32_t t = t0;
  if constexpr (kAvx512 && kDummy == 0) {
    const __m512 zero = _mm512_setzero_ps(), vlo = _mm512_set1_ps(rule.lo), vhi = _mm512_set1_ps(rule.hi);
    const __m512 vpot = _mm512_set1_ps(rule.a_plus * 1.0f * qj);          // (A+ * 1) * q, then * x
    const __m512 vdep = _mm512_set1_ps(rule.a_minus * 1.0f * 0.0f * yj);  // ((A- * 1) * 0) * y
    const __m512i vnnz = _mm512_set1_epi32(static_cast<int32_t>(nnz)), vnpre = _mm512_set1_epi32(static_cast<int32_t>(n_pre));
    for (; t < t_end; t += 16) {
      const __mmask16 m = static_cast<__mmask16>(Lanes(t, t_end));
      const __m512i kk = _mm512_maskz_loadu_epi32(m, pl.col_perm + t);
      const __m512i ii = _mm512_maskz_loadu_epi32(m, pl.rows + t);
      __mmask16 ok = _mm512_mask_cmplt_epu32_mask(m, kk, vnnz) & _mm512_mask_cmplt_epu32_mask(m, ii, vnpre);
      const __m512 si = _mm512_mask_i32gather_ps(zero, ok, ii, s_raw, 4);
      ok &= _mm512_cmp_ps_mask(si, zero, _CMP_EQ_OQ);
      const __m512 xi = _mm512_mask_i32gather_ps(zero, ok, ii, x, 4);
      const __m512 w0 = _mm512_mask_i32gather_ps(zero, ok, kk, w, 4);
      _mm512_mask_i32scatter_ps(w, ok, kk, AddClipped16(w0, _mm512_mul_ps(vpot, xi), vdep, vlo, vhi), 4);
    }
  }
  return t;
}

// One step of pair STDP on a plastic projection, in the order of the scan's step (mechanism
// "plasticity" after the projection's delivery; neurosim/plasticity/stdp.py): the presynaptic
// trace takes this step's delivered spikes s, the postsynaptic one decays; the synapses of the
// delivering rows (pre_list, ascending), then the columns of the postsynaptic neurons that fired
// (post_list, ascending; a synapse whose row delivered is skipped) get Rule::Apply; then the
// postsynaptic trace jumps. s: the delivered spike values (n_pre), q: the postsynaptic spike bits.
// The decayed postsynaptic trace y dm is what the update reads; every product is rounded before
// it is added (no multiply-add), as the scan's traces state it (neurosim/plasticity/stdp.py).
// kTraceJumpThenDecay (astrocyte-modulated STDP, neurosim/astrocytes/nalsm.py): the update reads
// the stored traces, which then jump and decay. `rule`: the amplitudes of this step.
template <bool kAdditive, typename S>
void StdpStep(const Plastic& pl, const neurosim::StdpPairRule& rule, const Proj& p, S s_of, const void* s_raw,
              const int32_t* pre_list, int64_t n_pre_spk, const uint32_t* __restrict q_bits, const int32_t* post_list,
              int64_t n_post_spk) {
  float* __restrict x = pl.x;
  float* __restrict y = pl.y;
  const float dp = pl.dec_plus, dm = pl.dec_minus;
  const bool stored = pl.trace == kTraceJumpThenDecay;
  const float y_scale = stored ? 1.0f : dm;   // y * 1.0f changes no bit
  // every product rounded before the sum, as the scan's traces (stdp.py) compute them
  if (pl.trace == kTraceNearest) {
    for (int64_t i = 0; i < p.n_pre; ++i) {
      const float si = s_of(i);
      x[i] = (x[i] * dp) * (1.0f - si) + si;
    }
  } else if (pl.trace == kTraceAllToAll) {
    for (int64_t i = 0; i < p.n_pre; ++i) x[i] = x[i] * dp + s_of(i);
  }
  float* w = pl.w;
  const int64_t nnz = p.nnz;
  const uint32_t n_post = static_cast<uint32_t>(p.n_post), n_pre = static_cast<uint32_t>(p.n_pre);
  for (int64_t a = 0; a < n_pre_spk; ++a) {
    const int64_t i = pre_list[a];
    const float si = s_of(i), xi = x[i];
    const int64_t lo = std::max<int64_t>(p.indptr[i], 0), hi = std::min<int64_t>(p.indptr[i + 1], nnz);
    int64_t k0 = lo;
    if constexpr (kAdditive) k0 = AdditiveRow(rule, w, p.indices, lo, hi, n_post, q_bits, y, y_scale, si, xi);
    for (int64_t k = k0; k < hi; ++k) {
      const uint32_t j = static_cast<uint32_t>(p.indices[k]);
      if (j >= n_post) continue;
      w[k] = rule.template Apply<kAdditive>(w[k], si, AsFloat(q_bits[j]), xi, y[j] * y_scale);
    }
  }
  for (int64_t b = 0; b < n_post_spk; ++b) {
    const int64_t j = post_list[b];
    const float qj = AsFloat(q_bits[j]), yj = y[j] * y_scale;
    const int32_t t_end = pl.col_ptr[j + 1];
    int32_t t0 = pl.col_ptr[j];
    if constexpr (kAdditive) t0 = AdditiveColumn(rule, pl, w, nnz, n_pre, s_raw, x, t0, t_end, qj, yj);
    for (int32_t t = t0; t < t_end; ++t) {
      // the weights of a column are scattered over the CSR: ask for them a few synapses ahead
      if (t + 8 < t_end) __builtin_prefetch(w + pl.col_perm[t + 8], 1);
      const int32_t k = pl.col_perm[t];
      const uint32_t i = static_cast<uint32_t>(pl.rows[t]);
      if (k < 0 || k >= nnz) continue;
      if (i >= n_pre || s_of(i) != 0.0f) continue;
      w[k] = rule.template Apply<kAdditive>(w[k], 0.0f, qj, x[i], yj);
    }
  }
  if (stored) {
    const float jp = pl.jump_plus, jm = pl.jump_minus;
    for (int64_t i = 0; i < p.n_pre; ++i) x[i] = (x[i] + jp * s_of(i)) * dp;
    for (int64_t j = 0; j < p.n_post; ++j) y[j] = (y[j] + jm * AsFloat(q_bits[j])) * dm;
  } else if (pl.trace == kTraceNearest) {
    for (int64_t j = 0; j < p.n_post; ++j) {
      const float qj = AsFloat(q_bits[j]);
      y[j] = (y[j] * dm) * (1.0f - qj) + qj;
    }
  } else {
    for (int64_t j = 0; j < p.n_post; ++j) y[j] = y[j] * dm + AsFloat(q_bits[j]);
  }
}

// The STDP step of plastic projection p after its delivery: the spiking postsynaptic neurons of
// this step (local indices, from the sorted list of all spiking neurons) into post_list, the
// amplitudes of this step (a coefficient, times a modulator's value where one scales it), then
// StdpStep in its additive or weight-dependent form.
template <typename S>
void Stdp(const Net& net, const Proj& p, S s_of, const void* s_raw, const int32_t* pre_list, int64_t n_pre_spk,
          const uint32_t* spk,
          const int32_t* spk_list, int64_t n_spk, int32_t* post_list) {
  const int32_t* end = spk_list + n_spk;
  const int32_t* lo = std::lower_bound(spk_list, end, static_cast<int32_t>(p.post_off));
  const int32_t* hi = std::lower_bound(lo, end, static_cast<int32_t>(p.post_off + p.n_post));
  int64_t n_post_spk = 0;
  for (const int32_t* s = lo; s < hi; ++s) post_list[n_post_spk++] = *s - static_cast<int32_t>(p.post_off);
  const Plastic& pl = net.plastic[p.plastic];
  neurosim::StdpPairRule rule = pl.rule;
  if (pl.mod_plus >= 0) rule.a_plus = rule.a_plus * net.mods[pl.mod_plus].state[kModValue];
  if (pl.mod_minus >= 0) rule.a_minus = rule.a_minus * net.mods[pl.mod_minus].state[kModValue];
  if (rule.additive()) {
    StdpStep<true>(pl, rule, p, s_of, s_raw, pre_list, n_pre_spk, spk + p.post_off, post_list, n_post_spk);
  } else {
    StdpStep<false>(pl, rule, p, s_of, s_raw, pre_list, n_pre_spk, spk + p.post_off, post_list, n_post_spk);
  }
}

// A count-driven modulator's update after the neurons of a step (CountModulator), from the sorted
// list of this step's spiking neurons. The counts are whole numbers, exact in float32.
inline void ModulatorStep(const CountModulator& m, const int32_t* spk_list, int64_t n_spk) {
  const int32_t* end = spk_list + n_spk;
  int64_t plus = 0, minus = 0;
  for (size_t r = 0; r < m.off.size(); ++r) {
    const int32_t* lo = std::lower_bound(spk_list, end, static_cast<int32_t>(m.off[r]));
    const int32_t* hi = std::lower_bound(lo, end, static_cast<int32_t>(m.off[r] + m.n[r]));
    (m.sign[r] > 0 ? plus : minus) += hi - lo;
  }
  const float d = static_cast<float>(plus) - static_cast<float>(minus);
  float* st = m.state;
  const float a = st[kModA];
  const float a_next = a + ((m.w * d + m.b) - a) * m.inv_tau;
  st[kModValue] = st[kModValue] + (a - st[kModPrev]);
  st[kModPrev] = a;
  st[kModA] = a_next;
}

// The drive of a Poisson input in step t: d[j] = count_j * w, count_j = #{k < 40 : u_{t,j} > cdf[k]}.
// Per block of neurons: the uniforms (a vectorised loop of integer operations), then the first
// in.head terms of the count as vectorised compare-adds, then, for the rare neuron whose u
// exceeds all of them, the rest one by one (the cdf is non-decreasing, so the count ends at
// the first entry >= u). in.head: the terms that hold all but ~1e-3 of the counts.
inline void PoissonDrive(const PoissonIn& in, int64_t t, float* __restrict d) {
  alignas(32) float u[kPoissonBlock];
  alignas(32) int32_t cnt[kPoissonBlock];
  const uint32_t st = neurosim::counter_step_seed(in.seed0, in.seed1, static_cast<uint32_t>(t));
  const float* __restrict cdf = in.cdf;
  const int head = in.head;
  const float w = in.w;
  for (int64_t b0 = 0; b0 < in.n; b0 += kPoissonBlock) {
    const int64_t m = std::min<int64_t>(kPoissonBlock, in.n - b0);
    for (int64_t j = 0; j < m; ++j) u[j] = neurosim::counter_uniform(st, static_cast<uint32_t>(b0 + j));
    for (int64_t j = 0; j < m; ++j) cnt[j] = 0;
    for (int h = 0; h < head; ++h) {
      const float c = cdf[h];
      for (int64_t j = 0; j < m; ++j) cnt[j] += u[j] > c ? 1 : 0;
    }
    for (int64_t j = 0; j < m; ++j) {
      if (cnt[j] == head) {  // rare: u above the head of the cdf
        int k = head;
        while (k < kPoissonTerms && u[j] > cdf[k]) ++k;
        cnt[j] = k;
      }
    }
    for (int64_t j = 0; j < m; ++j) d[b0 + j] = static_cast<float>(cnt[j]) * w;
  }
}


template <bool kUni>
void RunStepsImpl(const Net& net, int64_t n_steps, float half_dt, float dt, int64_t t0, float* __restrict v,
                  float* __restrict t_left, float* __restrict g, float* __restrict dbuf, uint32_t* __restrict spikes,
                  float* __restrict cur, uint32_t* __restrict spk, float* __restrict drive,
                  int32_t* __restrict spk_list, int32_t* __restrict pre_list, int32_t* __restrict post_list) {
  const int64_t words = (net.n + 31) / 32;
  std::memset(drive, 0, sizeof(float) * static_cast<size_t>(net.g_size));
  if (n_steps > 0)  // the tabulated currents of the first step (see TableIn)
    for (const TableIn& gi : net.tables) std::memcpy(g + gi.g_off, net.table + gi.col, sizeof(float) * static_cast<size_t>(gi.n));
  for (int64_t k = 0; k < n_steps; ++k) {
    const int64_t t = t0 + k;
    int64_t n_spk = 0;
    for (int64_t b0 = 0; b0 < net.n; b0 += kBlock) {
      const int64_t b1 = std::min(b0 + kBlock, net.n);
      const Segment* seg = net.fast_of_block[static_cast<size_t>(b0 / kBlock)];
      if (seg != nullptr) {  // 1 + 2 in one pass
        const Proj& p1 = net.proj[seg->proj[0]];
        const Proj& p2 = net.proj[seg->proj[seg->fast == 0 ? 1 : 2]];
        float* g1 = g + p1.g_off - p1.post_off;
        float* d1 = drive + p1.g_off - p1.post_off;
        float* g2 = g + p2.g_off - p2.post_off;
        float* d2 = drive + p2.g_off - p2.post_off;
        if (seg->fast == 0) {
          if (k > 0) {
            TwoConductancesAndNeurons<true, kUni, 0>(net, b0, b1, p1, p2, half_dt, dt, v, t_left, g1, d1, g2, d2, spk);
          } else {
            TwoConductancesAndNeurons<false, kUni, 0>(net, b0, b1, p1, p2, half_dt, dt, v, t_left, g1, d1, g2, d2, spk);
          }
        } else if (k > 0) {
          TwoConductancesAndNeurons<true, kUni, 1>(net, b0, b1, p1, p2, half_dt, dt, v, t_left, g1, d1, g2, d2, spk);
        } else {
          TwoConductancesAndNeurons<false, kUni, 1>(net, b0, b1, p1, p2, half_dt, dt, v, t_left, g1, d1, g2, d2, spk);
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
      // the PoissonSource neurons of the block: their draws replace the (never spiking) LIF update
      for (const Source& src : net.sources) {
        const int64_t lo = std::max(b0, src.off), hi = std::min(b1, src.off + src.n);
        if (lo >= hi) continue;
        const uint32_t st = neurosim::counter_step_seed(src.seed0, src.seed1, static_cast<uint32_t>(src.t0 + k));
        for (int64_t i = lo; i < hi; ++i) {
          const float u = neurosim::counter_uniform(st, static_cast<uint32_t>(i - src.off));
          spk[i] = (0u - static_cast<uint32_t>(u < src.p[i - src.off])) & kOneBits;
        }
      }
      // the RasterSource neurons of the block: their raster row (silent past its end)
      for (const Raster& ras : net.rasters) {
        const int64_t lo = std::max(b0, ras.off), hi = std::min(b1, ras.off + ras.n);
        if (lo >= hi) continue;
        const int64_t row = ras.t0 + k;
        if (row < 0 || row >= ras.rows) {
          for (int64_t i = lo; i < hi; ++i) spk[i] = 0u;
        } else {
          const float* r = ras.raster + row * ras.n - ras.off;
          for (int64_t i = lo; i < hi; ++i) spk[i] = (0u - static_cast<uint32_t>(r[i] > 0.0f)) & kOneBits;
        }
      }
      // 3. spike bits and the list of spiking neurons
      n_spk = PackSpikes(b0, b1, spk, spikes + k * words, spk_list, n_spk);
    }
    // modulators, from this step's spikes (before any plasticity reads them)
    for (const CountModulator& m : net.mods) ModulatorStep(m, spk_list, n_spk);
    // 4. delivery: (delayed) presynaptic spikes x CSR -> drive; then a plastic projection's STDP
    for (const Proj& p : net.proj) {
      float* dp = drive + p.g_off;
      if (p.poisson >= 0) {
        PoissonDrive(net.poisson[p.poisson], t, dp);
        continue;
      }
      if (p.table >= 0) {  // the next step's tabulated current (none after the last step)
        const TableIn& gi = net.tables[p.table];
        if (k + 1 < n_steps) {
          std::memcpy(dp, net.table + (k + 1) * net.table_cols + gi.col, sizeof(float) * static_cast<size_t>(gi.n));
        } else {
          std::memset(dp, 0, sizeof(float) * static_cast<size_t>(gi.n));
        }
        continue;
      }
      if (p.depth > 0) {
        float* row = dbuf + p.dbuf_off + (t % p.depth) * p.n_pre;
        int64_t n_pre_spk = 0;
        for (int64_t r = 0; r < p.n_pre; ++r)
          if (row[r] != 0.0f) {
            ScatterRow(p, dp, r, row[r]);
            pre_list[n_pre_spk++] = static_cast<int32_t>(r);
          }
        if (p.plastic >= 0)
          Stdp(net, p, [row](int64_t i) { return row[i]; }, row, pre_list, n_pre_spk, spk, spk_list, n_spk, post_list);
        std::memcpy(row, spk + p.pre_off, sizeof(float) * static_cast<size_t>(p.n_pre));
      } else {
        const int32_t* end = spk_list + n_spk;
        const int32_t* lo = std::lower_bound(static_cast<const int32_t*>(spk_list), end, static_cast<int32_t>(p.pre_off));
        const int32_t* hi = std::lower_bound(lo, end, static_cast<int32_t>(p.pre_off + p.n_pre));
        for (const int32_t* s = lo; s < hi; ++s) ScatterRow(p, dp, *s - p.pre_off, 1.0f);
        if (p.plastic >= 0) {
          int64_t n_pre_spk = 0;
          for (const int32_t* s = lo; s < hi; ++s) pre_list[n_pre_spk++] = *s - static_cast<int32_t>(p.pre_off);
          const uint32_t* pre_bits = spk + p.pre_off;
          Stdp(net, p, [pre_bits](int64_t i) { return AsFloat(pre_bits[i]); }, pre_bits, pre_list, n_pre_spk, spk,
               spk_list, n_spk, post_list);
        }
      }
    }
  }
  if (n_steps > 0) {  // complete the last step's synapse update
    for (const Proj& p : net.proj) FirstTerm<true>(0, p.n_post, g + p.g_off, drive + p.g_off, p.decay, cur);
  }
}

void RunSteps(const Net& net, int64_t n_steps, float half_dt, float dt, int64_t t0, float* v, float* t_left, float* g,
              float* dbuf, uint32_t* spikes, float* cur, uint32_t* spk, float* drive, int32_t* spk_list,
              int32_t* pre_list, int32_t* post_list) {
  if (net.uniform) {
    RunStepsImpl<true>(net, n_steps, half_dt, dt, t0, v, t_left, g, dbuf, spikes, cur, spk, drive, spk_list, pre_list,
                       post_list);
  } else {
    RunStepsImpl<false>(net, n_steps, half_dt, dt, t0, v, t_left, g, dbuf, spikes, cur, spk, drive, spk_list, pre_list,
                        post_list);
  }
}

#endif  // NEUROSIM_FUSED_STEP_LOOPS
