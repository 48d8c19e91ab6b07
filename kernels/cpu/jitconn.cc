// Procedural ("just-in-time") connectivity on the CPU: the event mat-vec and its transposed
// form on the fixed-probability matrix that include/neurosim/jitconn_rng.h regenerates from
// (seed, row, draw). No synapse is stored: row i's targets and weights are drawn again each call.
//
//   neurosim_jit_event_cpu:      spikes pred/f32[B, n_pre], wa f32[Bw], wb f32[Bw] -> f32[B, n_post]
//       out[b, j] = sum over synapses (i -> j): spikes[b, i] * (wa[b'] + wb[b'] * r(i, k))
//   neurosim_jit_transposed_cpu: x f32[B, n_post], wa, wb -> f32[B, n_pre]
//       out[b, i] = sum over synapses (i -> j): (wa[b'] + wb[b'] * r(i, k)) * x[b, j]
// b' = b when Bw = B, else 0. Attributes: seed (u64), p (f64), dist (i32: 0 homogeneous,
// 1 uniform, 2 normal), allow_self (i32: 0 drops the i -> i draw, its k still consumed).
//
// The event form walks only the chains of rows that spike in at least one batch member, once
// for all of them; the transposed form walks every row once for the whole batch. Each output
// element receives its terms in ascending row (event) or ascending column (transposed) order,
// so a batch member's result does not depend on the rest of the batch.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "neurosim/jitconn_rng.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using neurosim::jit_gap;
using neurosim::jit_weight;

struct Checked {
  int64_t batch, n_in, n_out, bw;
};

// Shapes and attributes shared by both ops: in [B, n_in], wa/wb [Bw], out [B, n_out].
ffi::Error Check(const ffi::AnyBuffer& in, const ffi::Buffer<ffi::F32>& wa, const ffi::Buffer<ffi::F32>& wb,
                 const ffi::Result<ffi::Buffer<ffi::F32>>& out, double p, int32_t dist, int32_t allow_self,
                 Checked* c) {
  auto d_in = in.dimensions();
  auto d_out = out->dimensions();
  if (d_in.size() != 2 || d_out.size() != 2) return ffi::Error::InvalidArgument("jitconn: operand and result must be rank 2");
  if (wa.dimensions().size() != 1 || wb.dimensions().size() != 1 || wa.dimensions()[0] != wb.dimensions()[0])
    return ffi::Error::InvalidArgument("jitconn: wa and wb must be rank 1 with the same length");
  c->batch = d_in[0];
  c->n_in = d_in[1];
  c->n_out = d_out[1];
  c->bw = wa.dimensions()[0];
  if (d_out[0] != c->batch) return ffi::Error::InvalidArgument("jitconn: result batch differs from operand batch");
  if (c->bw != 1 && c->bw != c->batch) return ffi::Error::InvalidArgument("jitconn: wa/wb length must be 1 or the batch size");
  if (!(p >= 0.0 && p <= 1.0)) return ffi::Error::InvalidArgument("jitconn: p must lie in [0, 1]");
  if (dist < 0 || dist > 2) return ffi::Error::InvalidArgument("jitconn: dist must be 0, 1 or 2");
  if (allow_self != 0 && allow_self != 1) return ffi::Error::InvalidArgument("jitconn: allow_self must be 0 or 1");
  return ffi::Error::Success();
}

// Calls visit(col, k) for each synapse of row `row`, in ascending column order.
template <typename Visit>
inline void WalkRow(uint64_t seed, int64_t row, double log_q, int64_t n_post, bool allow_self, Visit&& visit) {
  int64_t col = -1;
  for (int64_t k = 0;; ++k) {
    col += 1 + jit_gap(seed, row, k, log_q, n_post);
    if (col >= n_post) return;
    if (!allow_self && col == row) continue;
    visit(col, k);
  }
}

// Which rows spike in at least one batch member: contiguous, vectorisable passes over the
// spikes, then whole 8-byte words of the mask skipped at a time (most rows are silent).
template <typename S>
void ActiveRows(const S* spikes, int64_t batch, int64_t n_pre, std::vector<uint8_t>* any,
                std::vector<int64_t>* rows) {
  any->assign(n_pre + 8, 0);
  uint8_t* __restrict a = any->data();
  for (int64_t b = 0; b < batch; ++b) {
    const S* __restrict s = spikes + b * n_pre;
    for (int64_t i = 0; i < n_pre; ++i) a[i] |= static_cast<uint8_t>(s[i] != S(0));
  }
  rows->clear();
  for (int64_t i = 0; i < n_pre; i += 8) {
    uint64_t word;
    std::memcpy(&word, a + i, 8);
    if (word == 0) continue;
    for (int64_t j = i; j < i + 8 && j < n_pre; ++j)
      if (a[j]) rows->push_back(j);
  }
}

template <typename S>
void EventRows(const S* spikes, const float* wa, const float* wb, float* out, const Checked& c, uint64_t seed,
               double p, int32_t dist, bool allow_self) {
  const int64_t n_pre = c.n_in, n_post = c.n_out, batch = c.batch;
  const double log_q = std::log1p(-p);
  std::vector<uint8_t> any;
  std::vector<int64_t> rows;
  ActiveRows(spikes, batch, n_pre, &any, &rows);
  std::vector<int64_t> active(batch);
  std::vector<float> value(batch);
  for (const int64_t i : rows) {
    int64_t n_active = 0;
    for (int64_t b = 0; b < batch; ++b) {
      const S s = spikes[b * n_pre + i];
      if (s != S(0)) {
        active[n_active] = b;
        value[n_active++] = static_cast<float>(s);
      }
    }
    if (dist == neurosim::kHomogeneous && c.bw == 1 && n_active == 1) {  // the common mat-vec case
      float* o = out + active[0] * n_post;
      const float w = value[0] * wa[0];
      WalkRow(seed, i, log_q, n_post, allow_self, [&](int64_t col, int64_t) { o[col] += w; });
      continue;
    }
    WalkRow(seed, i, log_q, n_post, allow_self, [&](int64_t col, int64_t k) {
      const float r = dist == neurosim::kHomogeneous ? 0.0f : jit_weight(seed, i, k, dist, 0.0f, 1.0f);
      for (int64_t a = 0; a < n_active; ++a) {
        const int64_t b = active[a];
        const int64_t bw = c.bw == 1 ? 0 : b;
        const float w = wa[bw] + wb[bw] * r;
        out[b * n_post + col] += value[a] * w;
      }
    });
  }
}

ffi::Error JitEvent(ffi::AnyBuffer spikes, ffi::Buffer<ffi::F32> wa, ffi::Buffer<ffi::F32> wb,
                    ffi::Result<ffi::Buffer<ffi::F32>> out, uint64_t seed, double p, int32_t dist, int32_t allow_self) {
  Checked c;
  ffi::Error err = Check(spikes, wa, wb, out, p, dist, allow_self, &c);
  if (err.failure()) return err;
  float* o = out->typed_data();
  std::memset(o, 0, sizeof(float) * c.batch * c.n_out);
  if (p == 0.0 || c.n_out == 0) return ffi::Error::Success();
  switch (spikes.element_type()) {
    case ffi::DataType::PRED:
      EventRows(static_cast<const bool*>(spikes.untyped_data()), wa.typed_data(), wb.typed_data(), o, c, seed, p,
                dist, allow_self != 0);
      break;
    case ffi::DataType::F32:
      EventRows(static_cast<const float*>(spikes.untyped_data()), wa.typed_data(), wb.typed_data(), o, c, seed, p,
                dist, allow_self != 0);
      break;
    default:
      return ffi::Error::InvalidArgument("neurosim_jit_event: spikes must be pred or f32");
  }
  return ffi::Error::Success();
}

ffi::Error JitTransposed(ffi::AnyBuffer x, ffi::Buffer<ffi::F32> wa, ffi::Buffer<ffi::F32> wb,
                         ffi::Result<ffi::Buffer<ffi::F32>> out, uint64_t seed, double p, int32_t dist,
                         int32_t allow_self) {
  Checked c;
  ffi::Error err = Check(x, wa, wb, out, p, dist, allow_self, &c);
  if (err.failure()) return err;
  if (x.element_type() != ffi::DataType::F32) return ffi::Error::InvalidArgument("neurosim_jit_transposed: x must be f32");
  const int64_t n_post = c.n_in, n_pre = c.n_out, batch = c.batch;
  const float* xs = static_cast<const float*>(x.untyped_data());
  const float* a = wa.typed_data();
  const float* bb = wb.typed_data();
  float* o = out->typed_data();
  std::memset(o, 0, sizeof(float) * batch * n_pre);
  if (p == 0.0 || n_post == 0) return ffi::Error::Success();
  const double log_q = std::log1p(-p);
  const bool allow = allow_self != 0;
  std::vector<float> acc(batch);
  for (int64_t i = 0; i < n_pre; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    WalkRow(seed, i, log_q, n_post, allow, [&](int64_t col, int64_t k) {
      const float r = dist == neurosim::kHomogeneous ? 0.0f : jit_weight(seed, i, k, dist, 0.0f, 1.0f);
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t bw = c.bw == 1 ? 0 : b;
        const float w = a[bw] + bb[bw] * r;
        acc[b] += w * xs[b * n_post + col];
      }
    });
    for (int64_t b = 0; b < batch; ++b) o[b * n_pre + i] = acc[b];
  }
  return ffi::Error::Success();
}

}  // namespace

// Export the two handlers by name: neurosim._kernels looks them up with ctypes.
#pragma GCC visibility push(default)

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_jit_event_cpu, JitEvent,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<uint64_t>("seed")
                                  .Attr<double>("p")
                                  .Attr<int32_t>("dist")
                                  .Attr<int32_t>("allow_self"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_jit_transposed_cpu, JitTransposed,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<uint64_t>("seed")
                                  .Attr<double>("p")
                                  .Attr<int32_t>("dist")
                                  .Attr<int32_t>("allow_self"));

#pragma GCC visibility pop
