// Event-driven CSR operators for the CPU, registered with XLA through jax.ffi.
//
//   neurosim_csr_event_cpu:      out[b, j] = sum over synapses k = (i -> j): spikes[b, i] w[b, k]
//   neurosim_csr_transposed_cpu: out[b, i] = sum over k in row i:            w[b, k] x[b, indices[k]]
//   neurosim_ring_add_cpu:       ring[(slot[k] + shift) mod size] += spikes[i] w[k]  (per-synapse delays)
//
// Operands and results follow kernels/README.md: indptr i32[n_pre + 1], indices i32[nnz],
// weights f32[Bw, W] (W = 1: one homogeneous weight, W = nnz: one per synapse; Bw in {1, B}),
// spikes pred or f32 [B, n_pre] (event form) or x f32[B, n_post] (transposed form).
//
// The event form is built for the regime of a spiking network step: a few rows of a large matrix
// are active, so the cost that matters is fixed per call (zero the output, find the spiking rows)
// plus the rows actually touched. Spiking rows are found 64 (bool) or 16 (f32) presynaptic neurons
// per test; only their synapses are read. Single-threaded: one call of a few microseconds
// is far below what a thread hand-off would cost.
//
// Indices outside [0, n_post) are dropped, as the pure-JAX reference's scatter drops them; a row
// whose indptr range is not inside [0, nnz] is an error (it would read out of bounds).
#include <cstdint>
#include <cstring>
#include <string>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

struct Shapes {
  int64_t batch, n_pre, n_post, nnz, wbatch, wlen;
};

// Checks the operand shapes shared by both operators; `n_in` is the width of the batched input
// (n_pre for spikes, n_post for x) and `n_out` the width of the result.
ffi::Error check_shapes(const char* op, ffi::Buffer<ffi::S32>& indptr, ffi::Buffer<ffi::S32>& indices,
                        ffi::Buffer<ffi::F32>& weights, ffi::AnyBuffer::Dimensions in_dims,
                        ffi::Span<const int64_t> out_dims, bool event, Shapes* s) {
  auto fail = [op](const std::string& what) {
    return ffi::Error::InvalidArgument(std::string(op) + ": " + what);
  };
  if (indptr.dimensions().size() != 1 || indptr.dimensions()[0] < 1)
    return fail("indptr must be i32[n_pre + 1] with n_pre >= 0");
  if (indices.dimensions().size() != 1) return fail("indices must be i32[nnz]");
  if (weights.dimensions().size() != 2) return fail("weights must be f32[Bw, W]");
  if (in_dims.size() != 2) return fail(event ? "spikes must be [B, n_pre]" : "x must be f32[B, n_post]");
  if (out_dims.size() != 2) return fail("the result must be f32[B, n]");
  s->n_pre = indptr.dimensions()[0] - 1;
  s->nnz = indices.dimensions()[0];
  s->batch = in_dims[0];
  s->wbatch = weights.dimensions()[0];
  s->wlen = weights.dimensions()[1];
  if (event) {
    if (in_dims[1] != s->n_pre) return fail("spikes must have n_pre = len(indptr) - 1 columns");
    s->n_post = out_dims[1];
    if (out_dims[0] != s->batch) return fail("the result must have as many rows as spikes");
  } else {
    s->n_post = in_dims[1];
    if (out_dims[0] != s->batch || out_dims[1] != s->n_pre)
      return fail("the result must be f32[B, n_pre]");
  }
  if (s->wlen != 1 && s->wlen != s->nnz) return fail("weights must have W = 1 or W = nnz columns");
  if (s->wbatch != 1 && s->wbatch != s->batch) return fail("weights must have Bw = 1 or Bw = B rows");
  if (s->nnz >= (int64_t{1} << 31)) return fail("more than 2**31 - 1 synapses are not supported");
  return ffi::Error::Success();
}

// One active row: out[indices[k]] += s * w[k] (per synapse) or += s * w0 (homogeneous).
template <bool kPerSynapse>
inline void scatter_row(float* __restrict out, const int32_t* __restrict idx, const float* __restrict w,
                        int64_t start, int64_t end, float s, uint32_t n_post) {
  if (kPerSynapse) {
    for (int64_t k = start; k < end; ++k) {
      const uint32_t j = static_cast<uint32_t>(idx[k]);
      if (j < n_post) out[j] += s * w[k];
    }
  } else {
    const float v = s * w[0];
    for (int64_t k = start; k < end; ++k) {
      const uint32_t j = static_cast<uint32_t>(idx[k]);
      if (j < n_post) out[j] += v;
    }
  }
}

// Calls visit(i, value) for every presynaptic neuron i whose spike is nonzero.
// The spike vector is tested 64 bytes at a time (one OR of eight 64-bit words), so a silent
// stretch of 64 (bool) or 16 (f32) neurons costs one branch: at COBA activity nearly every
// block is silent, and wider or narrower blocks measured slower here.
constexpr int kBlock = 64;

inline uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);  // one unaligned 8-byte load
  return v;
}

// Word-by-word loads: copying the block to a local array first measured ~3x slower (the
// 16-byte stores and 8-byte reloads defeat store forwarding).
inline uint64_t or_block(const void* p) {
  const char* c = static_cast<const char*>(p);
  uint64_t acc = 0;
  for (int q = 0; q < kBlock; q += 8) acc |= load64(c + q);
  return acc;
}

template <typename Visit>
inline bool for_each_bool_spike(const uint8_t* spikes, int64_t n, Visit&& visit) {
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    if (or_block(spikes + i) == 0) continue;
    for (int q = 0; q < kBlock; q += 8) {
      uint64_t word = load64(reinterpret_cast<const char*>(spikes + i + q));
      while (word) {
        const int byte = __builtin_ctzll(word) >> 3;
        if (!visit(i + q + byte, 1.0f)) return false;
        word &= ~(uint64_t{0xff} << (byte * 8));
      }
    }
  }
  for (; i < n; ++i)
    if (spikes[i] && !visit(i, 1.0f)) return false;
  return true;
}

template <typename Visit>
inline bool for_each_f32_spike(const float* spikes, int64_t n, Visit&& visit) {
  constexpr uint64_t kMag = 0x7fffffff7fffffffULL;  // +0 and -0 are both "no spike"
  constexpr int kFloats = kBlock / 4;
  int64_t i = 0;
  for (; i + kFloats <= n; i += kFloats) {
    if ((or_block(spikes + i) & kMag) == 0) continue;
    for (int q = 0; q < kFloats; ++q)
      if (spikes[i + q] != 0.0f && !visit(i + q, spikes[i + q])) return false;
  }
  for (; i < n; ++i)
    if (spikes[i] != 0.0f && !visit(i, spikes[i])) return false;
  return true;
}

template <bool kPerSynapse, bool kBool>
bool event_batch(const int32_t* indptr, const int32_t* indices, const float* w, const void* spikes,
                 float* out, const Shapes& s, int64_t* bad_row) {
  const uint32_t n_post = static_cast<uint32_t>(s.n_post);
  auto visit = [&](int64_t i, float value) {
    const int64_t start = indptr[i], end = indptr[i + 1];
    if (start < 0 || end < start || end > s.nnz) {
      *bad_row = i;
      return false;
    }
    scatter_row<kPerSynapse>(out, indices, w, start, end, value, n_post);
    return true;
  };
  if (kBool) return for_each_bool_spike(static_cast<const uint8_t*>(spikes), s.n_pre, visit);
  return for_each_f32_spike(static_cast<const float*>(spikes), s.n_pre, visit);
}

ffi::Error CsrEvent(ffi::Buffer<ffi::S32> indptr, ffi::Buffer<ffi::S32> indices, ffi::Buffer<ffi::F32> weights,
                    ffi::AnyBuffer spikes, ffi::ResultBuffer<ffi::F32> out) {
  Shapes s;
  ffi::Error err = check_shapes("neurosim_csr_event", indptr, indices, weights, spikes.dimensions(),
                                out->dimensions(), /*event=*/true, &s);
  if (!err.success()) return err;
  const ffi::DataType dtype = spikes.element_type();
  if (dtype != ffi::DataType::PRED && dtype != ffi::DataType::F32)
    return ffi::Error::InvalidArgument("neurosim_csr_event: spikes must be pred (bool) or f32");
  const bool is_bool = dtype == ffi::DataType::PRED;
  const bool per_synapse = s.wlen != 1;
  float* o = out->typed_data();
  std::memset(o, 0, sizeof(float) * static_cast<size_t>(s.batch * s.n_post));
  const int32_t* ip = indptr.typed_data();
  const int32_t* ix = indices.typed_data();
  const char* sp = static_cast<const char*>(spikes.untyped_data());
  const size_t spike_bytes = is_bool ? 1 : 4;
  int64_t bad_row = -1;
  for (int64_t b = 0; b < s.batch; ++b) {
    const float* w = weights.typed_data() + (s.wbatch == 1 ? 0 : b * s.wlen);
    const void* spk = sp + static_cast<size_t>(b * s.n_pre) * spike_bytes;
    float* ob = o + b * s.n_post;
    bool ok;
    if (per_synapse)
      ok = is_bool ? event_batch<true, true>(ip, ix, w, spk, ob, s, &bad_row)
                   : event_batch<true, false>(ip, ix, w, spk, ob, s, &bad_row);
    else
      ok = is_bool ? event_batch<false, true>(ip, ix, w, spk, ob, s, &bad_row)
                   : event_batch<false, false>(ip, ix, w, spk, ob, s, &bad_row);
    if (!ok)
      return ffi::Error::InvalidArgument("neurosim_csr_event: indptr of row " + std::to_string(bad_row) +
                                         " is outside [0, nnz] or decreasing");
  }
  return ffi::Error::Success();
}

ffi::Error CsrTransposed(ffi::Buffer<ffi::S32> indptr, ffi::Buffer<ffi::S32> indices, ffi::Buffer<ffi::F32> weights,
                         ffi::Buffer<ffi::F32> x, ffi::ResultBuffer<ffi::F32> out) {
  Shapes s;
  ffi::Error err = check_shapes("neurosim_csr_transposed", indptr, indices, weights, x.dimensions(),
                                out->dimensions(), /*event=*/false, &s);
  if (!err.success()) return err;
  const bool per_synapse = s.wlen != 1;
  const int32_t* ip = indptr.typed_data();
  const int32_t* ix = indices.typed_data();
  const uint32_t n_post = static_cast<uint32_t>(s.n_post);
  for (int64_t b = 0; b < s.batch; ++b) {
    const float* w = weights.typed_data() + (s.wbatch == 1 ? 0 : b * s.wlen);
    const float* xb = x.typed_data() + b * s.n_post;
    float* ob = out->typed_data() + b * s.n_pre;
    for (int64_t i = 0; i < s.n_pre; ++i) {
      const int64_t start = ip[i], end = ip[i + 1];
      if (start < 0 || end < start || end > s.nnz)
        return ffi::Error::InvalidArgument("neurosim_csr_transposed: indptr of row " + std::to_string(i) +
                                           " is outside [0, nnz] or decreasing");
      float acc = 0.0f;
      if (per_synapse) {
        for (int64_t k = start; k < end; ++k) {
          const uint32_t j = static_cast<uint32_t>(ix[k]);
          if (j < n_post) acc += w[k] * xb[j];
        }
      } else {
        for (int64_t k = start; k < end; ++k) {
          const uint32_t j = static_cast<uint32_t>(ix[k]);
          if (j < n_post) acc += xb[j];
        }
        acc *= w[0];
      }
      ob[i] = acc;
    }
  }
  return ffi::Error::Success();
}

// The ring of per-synapse delays (neurosim/events/delays.py): every synapse k of a spiking row
// adds its weight into the ring at (slot[k] + shift) mod size, in place (the result is the ring
// operand, aliased by the caller; copied first where XLA gave it another buffer).
ffi::Error RingAdd(ffi::Buffer<ffi::S32> indptr, ffi::Buffer<ffi::S32> slot, ffi::Buffer<ffi::F32> weights,
                   ffi::AnyBuffer spikes, ffi::Buffer<ffi::S32> shift, ffi::Buffer<ffi::F32> ring,
                   ffi::ResultBuffer<ffi::F32> out) {
  auto fail = [](const std::string& what) { return ffi::Error::InvalidArgument("neurosim_ring_add: " + what); };
  if (indptr.dimensions().size() != 1 || indptr.dimensions()[0] < 1) return fail("indptr must be i32[n_pre + 1]");
  const int64_t n_pre = indptr.dimensions()[0] - 1;
  const int64_t nnz = slot.element_count();
  const int64_t size = ring.element_count();
  const int64_t wlen = weights.element_count();
  if (wlen != 1 && wlen != nnz) return fail("weights must hold 1 or nnz values");
  if (static_cast<int64_t>(spikes.element_count()) != n_pre) return fail("spikes must have n_pre entries");
  if (out->element_count() != static_cast<size_t>(size)) return fail("the result must be the ring's size");
  if (shift.element_count() != 1) return fail("shift must be a scalar");
  const ffi::DataType dtype = spikes.element_type();
  if (dtype != ffi::DataType::PRED && dtype != ffi::DataType::F32) return fail("spikes must be pred (bool) or f32");
  float* o = out->typed_data();
  if (o != ring.typed_data()) std::memcpy(o, ring.typed_data(), sizeof(float) * static_cast<size_t>(size));
  const int64_t sh = shift.typed_data()[0];
  if (sh < 0 || sh >= size) return fail("shift must lie in [0, size)");
  const int32_t* ip = indptr.typed_data();
  const int32_t* sl = slot.typed_data();
  const float* w = weights.typed_data();
  int64_t bad_row = -1;
  auto visit = [&](int64_t i, float value) {
    const int64_t start = ip[i], end = ip[i + 1];
    if (start < 0 || end < start || end > nnz) {
      bad_row = i;
      return false;
    }
    for (int64_t k = start; k < end; ++k) {
      int64_t t = static_cast<int64_t>(sl[k]) + sh;
      if (t >= size) t -= size;
      if (static_cast<uint64_t>(t) < static_cast<uint64_t>(size)) o[t] += value * w[wlen == 1 ? 0 : k];
    }
    return true;
  };
  const bool ok = dtype == ffi::DataType::PRED
                      ? for_each_bool_spike(static_cast<const uint8_t*>(spikes.untyped_data()), n_pre, visit)
                      : for_each_f32_spike(static_cast<const float*>(spikes.untyped_data()), n_pre, visit);
  if (!ok) return fail("indptr of row " + std::to_string(bad_row) + " is outside [0, nnz] or decreasing");
  return ffi::Error::Success();
}

}  // namespace

// The handlers are exported by name: neurosim._kernels looks them up with ctypes.
#pragma GCC visibility push(default)

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_csr_event_cpu, CsrEvent,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()  // indptr
                                  .Arg<ffi::Buffer<ffi::S32>>()  // indices
                                  .Arg<ffi::Buffer<ffi::F32>>()  // weights [Bw, W]
                                  .Arg<ffi::AnyBuffer>()         // spikes [B, n_pre], pred or f32
                                  .Ret<ffi::Buffer<ffi::F32>>()  // [B, n_post]
);

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_csr_transposed_cpu, CsrTransposed,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()  // indptr
                                  .Arg<ffi::Buffer<ffi::S32>>()  // indices
                                  .Arg<ffi::Buffer<ffi::F32>>()  // weights [Bw, W]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // x [B, n_post]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // [B, n_pre]
);

XLA_FFI_DEFINE_HANDLER_SYMBOL(neurosim_ring_add_cpu, RingAdd,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()  // indptr
                                  .Arg<ffi::Buffer<ffi::S32>>()  // slot [nnz]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // weights [1] or [nnz]
                                  .Arg<ffi::AnyBuffer>()         // spikes [n_pre], pred or f32
                                  .Arg<ffi::Buffer<ffi::S32>>()  // shift []
                                  .Arg<ffi::Buffer<ffi::F32>>()  // ring [size]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // the ring, updated (aliased to the operand)
);

#pragma GCC visibility pop
