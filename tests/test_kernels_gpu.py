"""CUDA event kernels (kernels/cuda/events.cu, kernels/cuda/jitconn.cu) on the GPU.

The FFI targets are registered here under test-only names and called with ``jax.ffi.ffi_call``
on GPU arrays, then compared with references computed independently on the host:

- stored CSR: the dense matrix (numpy, float64) times the spikes / x;
- procedural connectivity: a dense matrix built by walking the definition in
  ``kernels/include/neurosim/jitconn_rng.h`` in plain Python (small sizes), and, where present,
  ``neurosim.events.jitconn.JitConn(...).to_dense()``.

Identity spikes (batch b spikes only row b) make the kernels write the matrix itself, one
addition per entry, so those comparisons are exact. Sums of several terms are compared with
rtol = atol / scale = 2e-5 (float32 atomics add in any order).

The last tests run the public paths (``neurosim.events.propagate`` and ``JitConn.propagate``)
where those primitives exist: they must lower to these kernels on the GPU, vmap to one
mat-mat call, and pass ``check_grads``. Everything is skipped without a GPU or without the
CUDA libraries.
"""
import functools
import math

import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest

from neurosim import _kernels

pytestmark = pytest.mark.gpu


def _gpu_device():
    try:
        return next((d for d in jax.devices() if d.platform == "gpu"), None)
    except RuntimeError:
        return None


if _gpu_device() is None:
    pytest.skip("needs a GPU; jax.devices() has none", allow_module_level=True)

GPU = _gpu_device()
TOL = 2e-5

# test-only target names -> the handler symbols of the CUDA libraries
_SYMBOLS = {
    "events": {"neurosim_gputest_csr_event": "neurosim_csr_event_cuda",
               "neurosim_gputest_csr_transposed": "neurosim_csr_transposed_cuda"},
    "jitconn": {"neurosim_gputest_jit_event": "neurosim_jit_event_cuda",
                "neurosim_gputest_jit_transposed": "neurosim_jit_transposed_cuda"},
}


@functools.cache
def _registered(lib_name: str) -> bool:
    lib = _kernels.load(lib_name, "cuda")
    return lib is not None and _kernels.register(lib, _SYMBOLS[lib_name], "CUDA")


@pytest.fixture
def events_lib():
    if not _registered("events"):
        pytest.skip("neurosim/_lib/libevents_cuda.so is not built")


@pytest.fixture
def jitconn_lib():
    if not _registered("jitconn"):
        pytest.skip("neurosim/_lib/libjitconn_cuda.so is not built")


def _put(x):
    return jax.device_put(np.asarray(x), GPU)


def csr_event(indptr, indices, weights, spikes, n_post):
    call = jax.ffi.ffi_call("neurosim_gputest_csr_event",
                            jax.ShapeDtypeStruct((spikes.shape[0], n_post), jnp.float32))
    return np.asarray(call(_put(indptr), _put(indices), _put(weights), _put(spikes)))


def csr_transposed(indptr, indices, weights, x):
    call = jax.ffi.ffi_call("neurosim_gputest_csr_transposed",
                            jax.ShapeDtypeStruct((x.shape[0], len(indptr) - 1), jnp.float32))
    return np.asarray(call(_put(indptr), _put(indices), _put(weights), _put(x)))


def _jit_attrs(seed, p, dist, allow_self):
    return dict(seed=np.uint64(seed), p=np.float64(p), dist=np.int32(dist), allow_self=np.int32(allow_self))


def jit_event(spikes, wa, wb, n_post, **spec):
    call = jax.ffi.ffi_call("neurosim_gputest_jit_event",
                            jax.ShapeDtypeStruct((spikes.shape[0], n_post), jnp.float32))
    return np.asarray(call(_put(spikes), _put(wa), _put(wb), **_jit_attrs(**spec)))


def jit_transposed(x, wa, wb, n_pre, **spec):
    call = jax.ffi.ffi_call("neurosim_gputest_jit_transposed",
                            jax.ShapeDtypeStruct((x.shape[0], n_pre), jnp.float32))
    return np.asarray(call(_put(x), _put(wa), _put(wb), **_jit_attrs(**spec)))


# --------------------------------------------------------------------------- host references


def random_csr(rng, n_pre, n_post, lengths):
    """indptr, indices (sorted, duplicate-free rows) with the given row lengths."""
    indptr = np.zeros(n_pre + 1, np.int32)
    np.cumsum(lengths, out=indptr[1:])
    cols = [np.sort(rng.choice(n_post, size=int(m), replace=False)) for m in lengths]
    indices = np.concatenate(cols).astype(np.int32) if indptr[-1] else np.zeros(0, np.int32)
    return indptr, indices


def dense_of(indptr, indices, w, n_post):
    """(n_pre, n_post) float64 matrix of a CSR with per-synapse weights w (nnz,) or one w."""
    n_pre = len(indptr) - 1
    rows = np.repeat(np.arange(n_pre), np.diff(indptr))
    out = np.zeros((n_pre, n_post))
    out[rows, indices] = np.broadcast_to(np.asarray(w, np.float64), indices.shape)
    return out


def mixed_lengths(rng, n_pre, n_post):
    """Empty rows, short rows and rows longer than one warp pass (some > 128 synapses)."""
    kind = rng.integers(0, 4, n_pre)
    lengths = np.where(kind == 0, 0, np.where(kind == 1, rng.integers(1, 33, n_pre),
                       np.where(kind == 2, rng.integers(33, 129, n_pre), rng.integers(129, n_post // 2, n_pre))))
    return lengths


def spike_patterns(rng, batch, n_pre, dtype):
    s = rng.random((batch, n_pre)) < 0.3
    pats = {"random": s, "none": np.zeros_like(s), "all": np.ones_like(s)}
    if dtype == np.float32:
        vals = rng.uniform(0.25, 2.0, (batch, n_pre)).astype(np.float32)
        pats = {k: np.where(v, vals, 0).astype(np.float32) for k, v in pats.items()}
    return pats


_M64 = (1 << 64) - 1


def _mix64(z):
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & _M64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _jit_hash(seed, stream, row, k):
    return _mix64((_mix64((_mix64(seed ^ (stream << 60)) + row) & _M64) + k) & _M64)


def _r(seed, dist, row, k):
    if dist == 0:
        return np.float32(0)
    h1 = _jit_hash(seed, 1, row, k)
    if dist == 1:
        return np.float32(h1 >> 40) * np.float32(2.0**-24)
    u1 = ((h1 >> 11) + 1) * 2.0**-53
    u2 = (_jit_hash(seed, 2, row, k) >> 11) * 2.0**-53
    return np.float32(math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2))


@functools.cache
def jit_matrix(n_pre, n_post, p, seed, dist, allow_self):
    """(mask, r): the procedural matrix walked draw by draw as jitconn_rng.h defines it."""
    mask = np.zeros((n_pre, n_post), bool)
    r = np.zeros((n_pre, n_post), np.float32)
    log_q = math.log1p(-p) if 0 < p < 1 else None
    for i in range(n_pre):
        col, k = -1, 0
        while True:
            u = ((_jit_hash(seed, 0, i, k) >> 11) + 1) * 2.0**-53
            s = math.inf if p == 0 else 0.0 if p == 1 else math.log(u) / log_q
            if not s < n_post:
                s = float(n_post)
            col += 1 + int(s)
            if col >= n_post:
                break
            if allow_self or col != i:
                mask[i, col] = True
                r[i, col] = _r(seed, dist, i, k)
            k += 1
    return mask, r


def jit_dense(mask, r, wa, wb):
    """float32 weights wa + wb r (a product then a sum, each rounded to float32) at the mask."""
    return np.where(mask, np.float32(wa) + np.float32(wb) * r, np.float32(0))


# --------------------------------------------------------------------------- stored CSR


@pytest.fixture(scope="module")
def csr_case():
    rng = np.random.default_rng(7)
    n_pre, n_post = 301, 517    # not multiples of 32
    indptr, indices = random_csr(rng, n_pre, n_post, mixed_lengths(rng, n_pre, n_post))
    return n_pre, n_post, indptr, indices


def _weights(rng, kind, bw, nnz):
    width = nnz if kind == "per_synapse" else 1
    return rng.normal(0.5, 1.0, (bw, width)).astype(np.float32)


@pytest.mark.parametrize("spike_dtype", [np.bool_, np.float32])
@pytest.mark.parametrize("wkind", ["homogeneous", "per_synapse"])
@pytest.mark.parametrize("batch,bw", [(1, 1), (3, 1), (3, 3)])
def test_csr_event_matches_dense(events_lib, csr_case, spike_dtype, wkind, batch, bw):
    n_pre, n_post, indptr, indices = csr_case
    rng = np.random.default_rng(batch * 10 + bw)
    w = _weights(rng, wkind, bw, len(indices))
    for name, spikes in spike_patterns(rng, batch, n_pre, spike_dtype).items():
        out = csr_event(indptr, indices, w, spikes, n_post)
        ref = np.stack([spikes[b].astype(np.float64) @ dense_of(indptr, indices, w[b % bw], n_post)
                        for b in range(batch)])
        scale = np.stack([np.abs(spikes[b].astype(np.float64)) @ np.abs(dense_of(indptr, indices, w[b % bw], n_post))
                          for b in range(batch)]).max(initial=1.0)
        np.testing.assert_allclose(out, ref, rtol=TOL, atol=TOL * scale, err_msg=f"spikes {name}")
        if name == "none":
            assert not out.any()


@pytest.mark.parametrize("batch", [1, 2])
def test_csr_event_long_rows_split_between_warps(events_lib, batch):
    """Rows of ~1000-4000 synapses: several warps share each row (the `parts` grid axis)."""
    rng = np.random.default_rng(3)
    n_pre, n_post = 40, 5003
    indptr, indices = random_csr(rng, n_pre, n_post, rng.integers(800, 4000, n_pre))
    w = _weights(rng, "per_synapse", 1, len(indices))
    spikes = rng.random((batch, n_pre)) < 0.5
    out = csr_event(indptr, indices, w, spikes, n_post)
    dense = dense_of(indptr, indices, w[0], n_post)
    np.testing.assert_allclose(out, spikes @ dense, rtol=TOL, atol=TOL * np.abs(dense).sum(0).max())


def test_csr_event_identity_spikes_write_the_matrix_exactly(events_lib, csr_case):
    """B = n_pre one-hot spike vectors (more than 32: several batch passes): out = the matrix."""
    n_pre, n_post, indptr, indices = csr_case
    rng = np.random.default_rng(11)
    eye = np.eye(n_pre, dtype=bool)
    w = _weights(rng, "per_synapse", 1, len(indices))
    np.testing.assert_array_equal(csr_event(indptr, indices, w, eye, n_post),
                                  dense_of(indptr, indices, w[0], n_post).astype(np.float32))
    wb = _weights(rng, "per_synapse", n_pre, len(indices))   # one weight set per batch element
    out = csr_event(indptr, indices, wb, eye.astype(np.float32), n_post)
    expect = np.stack([dense_of(indptr, indices, wb[b], n_post)[b] for b in range(n_pre)]).astype(np.float32)
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("wkind", ["homogeneous", "per_synapse"])
@pytest.mark.parametrize("batch,bw", [(1, 1), (3, 1), (11, 11)])
def test_csr_transposed_matches_dense(events_lib, csr_case, wkind, batch, bw):
    _, n_post, indptr, indices = csr_case
    rng = np.random.default_rng(5 + batch)
    w = _weights(rng, wkind, bw, len(indices))
    x = rng.normal(size=(batch, n_post)).astype(np.float32)
    out = csr_transposed(indptr, indices, w, x)
    dense = [dense_of(indptr, indices, w[b % bw], n_post) for b in range(batch)]
    ref = np.stack([dense[b] @ x[b] for b in range(batch)])
    scale = max((np.abs(dense[b]) @ np.abs(x[b])).max() for b in range(batch))
    np.testing.assert_allclose(out, ref, rtol=TOL, atol=TOL * scale)
    assert not out[:, np.diff(indptr) == 0].any()   # empty rows give exact zeros


def test_csr_transposed_identity_gives_the_matrix_exactly(events_lib, csr_case):
    _, n_post, indptr, indices = csr_case
    w = _weights(np.random.default_rng(2), "per_synapse", 1, len(indices))
    out = csr_transposed(indptr, indices, w, np.eye(n_post, dtype=np.float32))
    np.testing.assert_array_equal(out, dense_of(indptr, indices, w[0], n_post).T.astype(np.float32))


def test_csr_ops_without_synapses(events_lib):
    n_pre, n_post = 45, 33
    indptr, indices = np.zeros(n_pre + 1, np.int32), np.zeros(0, np.int32)
    w = np.ones((1, 1), np.float32)
    assert not csr_event(indptr, indices, w, np.ones((2, n_pre), bool), n_post).any()
    assert not csr_transposed(indptr, indices, w, np.ones((2, n_post), np.float32)).any()


def test_csr_event_rejects_bad_weight_shape(events_lib, csr_case):
    n_pre, n_post, indptr, indices = csr_case
    bad = np.ones((2, len(indices)), np.float32)   # Bw = 2 for a batch of 3
    with pytest.raises(Exception, match="weights"):
        csr_event(indptr, indices, bad, np.ones((3, n_pre), bool), n_post)


# --------------------------------------------------------------------------- procedural (jit) connectivity

# Bit 62 set: the u64 attribute must arrive whole. (A seed >= 2**63 cannot be passed at all:
# jax's attribute conversion raises std::bad_cast for such a numpy uint64.)
SEED = 2**62 + 12345


@pytest.mark.parametrize("dist", [0, 1, 2])
@pytest.mark.parametrize("allow_self", [1, 0])
def test_jit_event_identity_spikes_write_the_matrix(jitconn_lib, dist, allow_self):
    n_pre, n_post, p = 69, 150, 0.1
    mask, r = jit_matrix(n_pre, n_post, p, SEED, dist, allow_self)
    assert 0.05 < mask.mean() < 0.15
    eye = np.eye(n_pre, dtype=bool)
    spec = dict(seed=SEED, p=p, dist=dist, allow_self=allow_self)
    wa, wb = np.float32(0.3), np.float32(-1.7)
    out = jit_event(eye, np.array([wa]), np.array([wb]), n_post, **spec)
    np.testing.assert_array_equal(out != 0, mask)
    # the header allows a last-bit difference of log / cos between libraries (normal weights)
    np.testing.assert_array_max_ulp(out, jit_dense(mask, r, wa, wb), maxulp=0 if dist < 2 else 1)
    # one (wa, wb) per batch element
    was = np.linspace(-1, 1, n_pre).astype(np.float32)
    wbs = np.linspace(2, 0.5, n_pre).astype(np.float32)
    out = jit_event(eye.astype(np.float32), was, wbs, n_post, **spec)
    expect = np.stack([jit_dense(mask[b], r[b], was[b], wbs[b]) for b in range(n_pre)])
    np.testing.assert_array_max_ulp(out, expect, maxulp=0 if dist < 2 else 1)


@pytest.mark.parametrize("dist", [0, 2])
def test_jit_transposed_identity_gives_the_matrix(jitconn_lib, dist):
    n_pre, n_post, p = 37, 90, 0.15
    mask, r = jit_matrix(n_pre, n_post, p, SEED, dist, 0)
    wa, wb = np.float32(1.25), np.float32(0.5)
    out = jit_transposed(np.eye(n_post, dtype=np.float32), np.array([wa]), np.array([wb]), n_pre,
                         seed=SEED, p=p, dist=dist, allow_self=0)
    np.testing.assert_array_max_ulp(out, jit_dense(mask, r, wa, wb).T, maxulp=0 if dist < 2 else 1)


@pytest.mark.parametrize("spike_dtype", [np.bool_, np.float32])
@pytest.mark.parametrize("batch,bw", [(1, 1), (4, 1), (4, 4)])
def test_jit_ops_match_dense(jitconn_lib, spike_dtype, batch, bw):
    n_pre, n_post, p, seed = 300, 1100, 0.05, 99      # ~55 synapses a row: two warp passes
    mask, r = jit_matrix(n_pre, n_post, p, seed, 1, 1)
    rng = np.random.default_rng(batch + bw)
    wa = rng.uniform(0.5, 1.0, bw).astype(np.float32)
    wb = rng.uniform(-1.0, 1.0, bw).astype(np.float32)
    dense = [jit_dense(mask, r, wa[b % bw], wb[b % bw]).astype(np.float64) for b in range(batch)]
    spec = dict(seed=seed, p=p, dist=1, allow_self=1)
    for name, spikes in spike_patterns(rng, batch, n_pre, spike_dtype).items():
        out = jit_event(spikes, wa, wb, n_post, **spec)
        s = spikes.astype(np.float64)
        scale = max((np.abs(s[b]) @ np.abs(dense[b])).max() for b in range(batch)) + 1.0
        np.testing.assert_allclose(out, np.stack([s[b] @ dense[b] for b in range(batch)]),
                                   rtol=TOL, atol=TOL * scale, err_msg=f"spikes {name}")
    x = rng.normal(size=(batch, n_post)).astype(np.float32)
    out = jit_transposed(x, wa, wb, n_pre, **spec)
    scale = max((np.abs(dense[b]) @ np.abs(x[b])).max() for b in range(batch))
    np.testing.assert_allclose(out, np.stack([dense[b] @ x[b] for b in range(batch)]), rtol=TOL, atol=TOL * scale)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_jit_ops_at_p_zero_and_one(jitconn_lib, p):
    n_pre, n_post = 40, 70
    spikes = np.ones((1, n_pre), bool)
    out = jit_event(spikes, np.array([1.0], np.float32), np.array([0.0], np.float32), n_post,
                    seed=5, p=p, dist=0, allow_self=0)
    expect = np.zeros(n_post) if p == 0 else n_pre - (np.arange(n_post) < n_pre)   # no diagonal
    np.testing.assert_array_equal(out[0], expect)
    x = np.ones((1, n_post), np.float32)
    out = jit_transposed(x, np.array([1.0], np.float32), np.array([0.0], np.float32), n_pre,
                         seed=5, p=p, dist=0, allow_self=1)
    np.testing.assert_array_equal(out[0], np.full(n_pre, 0.0 if p == 0 else n_post))


def test_jit_event_rejects_bad_probability(jitconn_lib):
    with pytest.raises(Exception, match="p must lie in"):
        jit_event(np.ones((1, 8), bool), np.ones(1, np.float32), np.zeros(1, np.float32), 8,
                  seed=1, p=1.5, dist=0, allow_self=1)


def test_jit_matrix_equals_jitconn_materialisation(jitconn_lib):
    """The GPU kernel, the header walked in Python and JitConn.to_dense() are one matrix."""
    jitconn = pytest.importorskip("neurosim.events.jitconn")
    n_pre, n_post, p = 50, 120, 0.2
    conn = jitconn.JitConn(n_pre, n_post, p, SEED, weight=jitconn.Normal(0.5, 0.25), autapses=False)
    mask, r = jit_matrix(n_pre, n_post, p, SEED, 2, 0)
    ours = jit_dense(mask, r, np.float32(0.5), np.float32(0.25))
    np.testing.assert_array_max_ulp(conn.to_dense(), ours, maxulp=1)
    out = jit_event(np.eye(n_pre, dtype=bool), np.array([0.5], np.float32), np.array([0.25], np.float32), n_post,
                    seed=SEED, p=p, dist=2, allow_self=0)
    np.testing.assert_array_max_ulp(out, conn.to_dense(), maxulp=1)


# --------------------------------------------------------------------------- the public paths on the GPU


def test_propagate_uses_the_cuda_kernel_and_its_rules(csr_case):
    events = pytest.importorskip("neurosim.events")
    ops = getattr(events, "ops", None)
    if ops is None or not ops.kernel_ready("cuda"):
        pytest.skip("neurosim.events.ops with the CUDA kernel is not available")
    n_pre, n_post, indptr, indices = csr_case
    csr = events.CSR(indptr, indices, n_pre, n_post)
    rng = np.random.default_rng(1)
    w = _put(rng.normal(size=len(indices)).astype(np.float32))
    s = _put((rng.random(n_pre) < 0.2).astype(np.float32))
    dense = dense_of(indptr, indices, np.asarray(w), n_post)

    f = jax.jit(lambda w, s: events.propagate(csr, w, s))
    assert "neurosim_csr_event" in f.lower(w, s).as_text()
    np.testing.assert_allclose(f(w, s), np.asarray(s) @ dense, rtol=TOL, atol=TOL * np.abs(dense).sum(0).max())

    v = 5   # vmap over spikes: one mat-mat call with B = 5
    sv = _put(rng.random((v, n_pre)) < 0.2)
    g = jax.jit(jax.vmap(lambda s: events.propagate(csr, w, s)))
    text = g.lower(sv).as_text()
    assert text.count("@neurosim_csr_event") == 1 and f"tensor<{v}x{n_post}xf32>" in text
    np.testing.assert_allclose(g(sv), np.asarray(sv) @ dense, rtol=TOL, atol=TOL * np.abs(dense).sum(0).max())

    # gradients: with respect to weights (gathered outer product) and float spikes (the transposed kernel)
    jax.test_util.check_grads(lambda w, s: events.propagate(csr, w, s), (w, s), order=1, modes=("fwd", "rev"),
                              eps=1e-2, atol=1e-2, rtol=1e-2)


def test_jitconn_propagate_uses_the_cuda_kernel_and_its_rules():
    jitconn = pytest.importorskip("neurosim.events.jitconn")
    conn = jitconn.JitConn(200, 300, 0.1, 17, weight=jitconn.Uniform(0.2, 1.0))
    dense = conn.to_dense().astype(np.float64)
    wts = _put(conn.weight_params())
    rng = np.random.default_rng(4)
    s = _put((rng.random(200) < 0.3).astype(np.float32))
    f = jax.jit(conn.propagate)
    text = f.lower(wts, s).as_text()
    if "neurosim_jit_event" not in text:
        pytest.skip("JitConn does not lower to the CUDA kernel here")
    np.testing.assert_allclose(f(wts, s), np.asarray(s) @ dense, rtol=TOL, atol=TOL * np.abs(dense).sum(0).max())
    sv = _put(rng.random((3, 200)) < 0.3)
    out = jax.jit(jax.vmap(lambda s: conn.propagate(wts, s)))(sv)
    np.testing.assert_allclose(out, np.asarray(sv) @ dense, rtol=TOL, atol=TOL * np.abs(dense).sum(0).max())
    jax.test_util.check_grads(conn.propagate, (wts, s), order=1, modes=("fwd", "rev"), eps=1e-2, atol=1e-2, rtol=1e-2)
