"""The CSR event primitives of ``neurosim.events.ops`` on the CPU, at the level of the FFI
contract (kernels/README.md): batched operands ``weights (Bw, W)``, ``spikes (B, n_pre)``.

Every value is compared with an independent float64 numpy computation on the dense matrix,
through both lowerings: the compiled C++ kernel (``libevents_cpu.so``; those tests skip when it
is absent) and the pure-JAX reference lowering (always). Then the rules: ``vmap`` in every
combination equals stacked calls and lowers to ONE custom call of the mat-mat form;
``check_grads`` (orders 1 and 2, forward and reverse) for both operators with respect to
weights and float spikes / x, in the batched forms whose cotangents are reductions (Bw = 1 with
B > 1, W = 1); the kernel's own errors; and the fallback when the library is missing (one
KernelWarning, reference answers).

Tolerances: float32 sums of at most a few hundred terms of size <= 2, in any order: rtol = atol
= 1e-5. Finite differences of a bilinear map are exact up to rounding: eps = 0.1, tol 1e-2.
"""
import importlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

import neurosim._kernels as kernels
from neurosim.events import CSR, available_backends, fixed_probability, ops, propagate, propagate_transposed
from neurosim.events.reference import csr_event_reference, csr_transposed_reference

TOL = dict(rtol=1e-5, atol=1e-5)
GRAD_TOL = dict(atol=1e-2, rtol=1e-2, eps=0.1)

needs_kernel = pytest.mark.skipif(not ops.kernel_ready("cpu"), reason="libevents_cpu.so is not built")


def dense(indptr, indices, n_post, weights_row):
    """(n_pre, n_post) float64 matrix for one row of a (Bw, W) weight array."""
    indptr = np.asarray(indptr)
    nnz = len(indices)
    w = np.broadcast_to(np.asarray(weights_row, np.float64), (nnz,))
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    m = np.zeros((len(indptr) - 1, n_post))
    m[rows, np.asarray(indices)] = w
    return m


def expected_event(indptr, indices, weights, spikes, n_post):
    weights = np.asarray(weights)
    spikes = np.asarray(spikes, np.float64)
    return np.stack([spikes[b] @ dense(indptr, indices, n_post, weights[b if len(weights) > 1 else 0])
                     for b in range(spikes.shape[0])])


def expected_transposed(indptr, indices, weights, x):
    weights = np.asarray(weights)
    x = np.asarray(x, np.float64)
    return np.stack([dense(indptr, indices, x.shape[1], weights[b if len(weights) > 1 else 0]) @ x[b]
                     for b in range(x.shape[0])])


def lowered_with_kernel(fn, *args) -> bool:
    return "custom_call @neurosim_csr" in jax.jit(fn).lower(*args).as_text()


# --------------------------------------------------------------------------- generated cases


@st.composite
def batched_case(draw):
    """Random duplicate-free connectivity (often with empty rows), a batch of spike patterns
    (none, all, one, random), bool or float spikes, and weights (Bw, W) in every form."""
    n_pre = draw(st.integers(1, 20))
    n_post = draw(st.integers(1, 20))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random((n_pre, n_post)) < draw(st.sampled_from([0.0, 0.1, 0.4, 1.0]))
    if draw(st.booleans()):
        mask[rng.random(n_pre) < 0.5] = False  # empty rows
    batch = draw(st.integers(1, 3))
    pattern = draw(st.sampled_from(["none", "all", "one", "random"]))
    spikes = np.zeros((batch, n_pre), bool)
    if pattern == "all":
        spikes[:] = True
    elif pattern == "one":
        spikes[:, rng.integers(n_pre)] = True
    elif pattern == "random":
        spikes = rng.random((batch, n_pre)) < 0.3
    if draw(st.booleans()):  # float (graded / surrogate) spikes
        spikes = np.where(spikes, rng.uniform(0.1, 2.0, spikes.shape), 0.0).astype(np.float32)
    pre, post = np.nonzero(mask)
    conn = CSR.from_arrays(pre, post, n_pre, n_post)
    width = 1 if draw(st.booleans()) else conn.nnz
    n_batch_w = batch if draw(st.booleans()) else 1
    weights = rng.normal(size=(n_batch_w, width)).astype(np.float32)
    x = rng.normal(size=(batch, n_post)).astype(np.float32)
    return conn, weights, spikes, x


def _event(conn, weights, spikes):
    return ops.csr_event(conn.indptr, conn.indices, jnp.asarray(weights), jnp.asarray(spikes), n_post=conn.n_post)


def _transposed(conn, weights, x):
    return ops.csr_transposed(conn.indptr, conn.indices, jnp.asarray(weights), jnp.asarray(x))


@needs_kernel
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batched_case())
def test_kernels_match_dense_numpy(case):
    conn, weights, spikes, x = case
    out = _event(conn, weights, spikes)
    assert out.shape == (spikes.shape[0], conn.n_post) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, expected_event(conn.indptr, conn.indices, weights, spikes, conn.n_post), **TOL)
    tr = _transposed(conn, weights, x)
    assert tr.shape == (x.shape[0], conn.n_pre) and tr.dtype == jnp.float32
    np.testing.assert_allclose(tr, expected_transposed(conn.indptr, conn.indices, weights, x), **TOL)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batched_case())
def test_reference_lowering_matches_dense_numpy(case):
    # The pure-JAX operators the primitives lower to where there is no compiled kernel.
    conn, weights, spikes, x = case
    out = csr_event_reference(conn.indptr, conn.indices, jnp.asarray(weights), jnp.asarray(spikes), conn.n_post)
    np.testing.assert_allclose(out, expected_event(conn.indptr, conn.indices, weights, spikes, conn.n_post), **TOL)
    tr = csr_transposed_reference(conn.indptr, conn.indices, jnp.asarray(weights), jnp.asarray(x))
    np.testing.assert_allclose(tr, expected_transposed(conn.indptr, conn.indices, weights, x), **TOL)


@needs_kernel
def test_kernel_is_what_runs_on_cpu():
    conn = fixed_probability(30, 20, 0.2, seed=0)
    w = jnp.ones((1, 1), jnp.float32)
    s = jnp.ones((1, 30), bool)
    assert lowered_with_kernel(lambda w, s: _event(conn, w, s), w, s)
    assert lowered_with_kernel(lambda w, x: _transposed(conn, w, x), w, jnp.ones((1, 20), jnp.float32))


@needs_kernel
def test_empty_connectivity_and_empty_batch_rows():
    empty = CSR(np.zeros(6, int), np.zeros(0, int), 5, 4)
    for w in (jnp.ones((1, 1), jnp.float32), jnp.ones((1, 0), jnp.float32)):
        np.testing.assert_array_equal(_event(empty, w, jnp.ones((2, 5), bool)), np.zeros((2, 4)))
        np.testing.assert_array_equal(_transposed(empty, w, jnp.ones((2, 4), jnp.float32)), np.zeros((2, 5)))


@needs_kernel
def test_negative_zero_spikes_are_no_events():
    # -0.0 is a zero spike: skipped, never multiplied in (a NaN weight would show it).
    conn = fixed_probability(12, 9, 0.5, seed=1)
    w = jnp.full((1, conn.nnz), jnp.nan, jnp.float32)
    s = jnp.full((1, 12), -0.0, jnp.float32)
    np.testing.assert_array_equal(_event(conn, w, s), np.zeros((1, 9)))


@needs_kernel
def test_kernel_rejects_a_corrupt_indptr():
    # Bad connectivity never reads out of bounds: the CPU kernel returns an error naming the row.
    # (The CUDA kernels trust indptr, which CSR() validates; this raw-op check is the CPU's.)
    cpu = jax.devices("cpu")[0]
    with jax.default_device(cpu):
        conn = fixed_probability(10, 10, 0.3, seed=2)
        bad_indptr = jax.device_put(conn.indptr.at[4].set(10_000), cpu)
        s = jnp.ones((1, 10), bool)
        with pytest.raises(Exception, match="indptr of row 3"):
            ops.csr_event(bad_indptr, jax.device_put(conn.indices, cpu), jnp.ones((1, 1), jnp.float32), s,
                          n_post=10).block_until_ready()


def test_primitive_checks_operands():
    conn = fixed_probability(10, 8, 0.3, seed=3)
    w1 = jnp.ones((1, 1), jnp.float32)
    with pytest.raises(ValueError, match=r"spikes must be bool or float32 of shape \(B, n\), got int32\[1, 10\]"):
        ops.csr_event(conn.indptr, conn.indices, w1, jnp.ones((1, 10), jnp.int32), n_post=8)
    with pytest.raises(ValueError, match=r"weights must be W = 1 or W = nnz"):
        ops.csr_event(conn.indptr, conn.indices, jnp.ones((1, 2), jnp.float32), jnp.ones((1, 10), bool), n_post=8)
    with pytest.raises(ValueError, match=r"weights must be Bw = 1 or Bw = B = 2 rows"):
        ops.csr_event(conn.indptr, conn.indices, jnp.ones((3, 1), jnp.float32), jnp.ones((2, 10), bool), n_post=8)
    with pytest.raises(ValueError, match=r"spikes must have n_pre = len\(indptr\) - 1 = 10 columns"):
        ops.csr_event(conn.indptr, conn.indices, w1, jnp.ones((1, 9), bool), n_post=8)
    with pytest.raises(ValueError, match=r"x must be float32"):
        ops.csr_transposed(conn.indptr, conn.indices, w1, jnp.ones((1, 8), bool))


# --------------------------------------------------------------------------- vmap


@pytest.fixture(scope="module")
def medium():
    conn = fixed_probability(60, 45, 0.15, seed=4)
    rng = np.random.default_rng(5)
    ws = jnp.asarray(rng.normal(size=(4, conn.nnz)), jnp.float32)
    ss = jnp.asarray(rng.random((4, 60)) < 0.2)
    xs = jnp.asarray(rng.normal(size=(4, 45)), jnp.float32)
    return conn, ws, ss, xs


@needs_kernel  # the reference's vmap is tested in test_events.py
@pytest.mark.parametrize("axes", [(None, 0), (0, None), (0, 0)], ids=["spikes", "weights", "both"])
@pytest.mark.parametrize("scalar", [False, True], ids=["per-synapse", "homogeneous"])
def test_vmap_equals_stacked_calls(medium, axes, scalar):
    conn, ws, ss, _ = medium
    if scalar:
        ws = ws[:, 0]
    f = lambda w, s: propagate(conn, w, s, backend="kernel")
    w_in = ws if axes[0] == 0 else ws[0]
    s_in = ss if axes[1] == 0 else ss[0]
    out = jax.vmap(f, in_axes=axes)(w_in, s_in)
    stacked = jnp.stack([f(w_in[i] if axes[0] == 0 else w_in, s_in[i] if axes[1] == 0 else s_in) for i in range(4)])
    np.testing.assert_allclose(out, stacked, **TOL)


@needs_kernel
@pytest.mark.parametrize("axes", [(None, 0), (0, None), (0, 0)])
def test_vmap_lowers_to_one_mat_mat_call(medium, axes):
    conn, ws, ss, _ = medium
    w_in = ws if axes[0] == 0 else ws[0]
    s_in = ss if axes[1] == 0 else ss[0]
    hlo = jax.jit(jax.vmap(lambda w, s: propagate(conn, w, s, backend="kernel"), in_axes=axes)).lower(w_in, s_in).as_text()
    assert hlo.count("custom_call @neurosim_csr_event") == 1
    assert "tensor<4x60xi1>" in hlo  # the custom call gets the whole batch as (B, n_pre)
    assert "stablehlo.while" not in hlo


@needs_kernel
def test_nested_vmap_of_batched_primitive(medium):
    # vmap over an operator call that is itself batched (B0 = 2, Bw = 2) folds into B = 8.
    conn, ws, ss, _ = medium
    w = ws.reshape(2, 2, conn.nnz)
    s = jnp.stack([ss[:2], ss[2:]], 0).astype(jnp.float32)
    f = lambda w, s: _event(conn, w, s)
    out = jax.vmap(f)(w, s)
    for i in range(2):
        np.testing.assert_allclose(out[i], f(w[i], s[i]), **TOL)
    shared = jax.vmap(f, in_axes=(None, 0))(w[0], s)   # weights (Bw = 2) shared across the map
    for i in range(2):
        np.testing.assert_allclose(shared[i], f(w[0], s[i]), **TOL)


@needs_kernel
def test_vmap_transposed(medium):
    conn, ws, _, xs = medium
    f = lambda w, x: propagate_transposed(conn, w, x, backend="kernel")
    out = jax.vmap(f)(ws, xs)
    np.testing.assert_allclose(out, jnp.stack([f(w, x) for w, x in zip(ws, xs)]), **TOL)
    hlo = jax.jit(jax.vmap(f)).lower(ws, xs).as_text()
    assert hlo.count("custom_call @neurosim_csr_transposed") == 1 and "stablehlo.while" not in hlo


def test_vmap_over_connectivity_uses_batched_reference():
    # A batch of connectivities of the same shape: no loop, right answers.
    a = fixed_probability(15, 12, 0.3, seed=6)
    b = fixed_probability(15, 12, 0.3, seed=7)
    nnz = min(a.nnz, b.nnz)
    conns = [CSR.from_arrays(np.asarray(c.rows)[:nnz], np.asarray(c.indices)[:nnz], 15, 12) for c in (a, b)]
    ip = jnp.stack([c.indptr for c in conns])
    ix = jnp.stack([c.indices for c in conns])
    w = jnp.ones((1, 1), jnp.float32)
    s = jnp.asarray(np.random.default_rng(8).random((1, 15)) < 0.5)
    out = jax.vmap(lambda ip, ix: ops.csr_event(ip, ix, w, s, n_post=12))(ip, ix)
    for c, row in zip(conns, out):
        np.testing.assert_allclose(row, expected_event(c.indptr, c.indices, w, s, 12), **TOL)


# --------------------------------------------------------------------------- gradients


@pytest.fixture(scope="module")
def grad_case():
    conn = fixed_probability(25, 20, 0.25, seed=9)
    rng = np.random.default_rng(10)
    spikes = jnp.asarray(np.where(rng.random((3, 25)) < 0.4, rng.uniform(0.2, 1.0, (3, 25)), 0.0), jnp.float32)
    x = jnp.asarray(rng.normal(size=(3, 20)), jnp.float32)
    return conn, spikes, x, rng


@pytest.mark.parametrize("w_shape", ["shared per-synapse", "batched per-synapse", "shared scalar", "batched scalar"])
def test_check_grads_batched_forms(grad_case, w_shape):
    # The weight cotangent is a reduction over the batch (Bw = 1) and/or over synapses (W = 1).
    conn, spikes, x, rng = grad_case
    n_batch_w = 3 if w_shape.startswith("batched") else 1
    width = 1 if w_shape.endswith("scalar") else conn.nnz
    w = jnp.asarray(rng.normal(size=(n_batch_w, width)), jnp.float32)
    ev = jax.jit(lambda w, s: _event(conn, w, s))
    tr = jax.jit(lambda w, x: _transposed(conn, w, x))
    # Jointly (order 1) and in each argument, where the map is linear (order 2). Jointly at
    # order 2 the reverse check differentiates a cubic map, which central differences with
    # eps = 0.1 do not give exactly.
    for op, data in ((ev, spikes), (tr, x)):
        check_grads(op, (w, data), order=1, modes=["fwd", "rev"], **GRAD_TOL)
        if w_shape == "batched scalar":  # second order (per-synapse B = 1: test_events.py)
            check_grads(lambda w, op=op, d=data: op(w, d), (w,), order=2, modes=["fwd", "rev"], **GRAD_TOL)
            check_grads(lambda d, op=op: op(w, d), (data,), order=2, modes=["fwd", "rev"], **GRAD_TOL)


def test_weight_cotangent_values(grad_case):
    # d/dw_k sum_b,j c[b, j] out[b, j] = sum_b spikes[b, pre_k] c[b, post_k] for shared weights.
    conn, spikes, _, rng = grad_case
    c = jnp.asarray(rng.normal(size=(3, conn.n_post)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(1, conn.nnz)), jnp.float32)
    g = jax.grad(lambda w: jnp.sum(c * _event(conn, w, spikes)))(w)
    rows, cols = np.asarray(conn.rows), np.asarray(conn.indices)
    expected = np.sum(np.asarray(spikes)[:, rows] * np.asarray(c)[:, cols], axis=0, keepdims=True)
    np.testing.assert_allclose(g, expected, **TOL)


def test_bool_spikes_have_no_tangent(grad_case):
    conn, spikes, _, rng = grad_case
    w = jnp.asarray(rng.normal(size=(1, conn.nnz)), jnp.float32)
    s = spikes > 0
    _, t = jax.jvp(lambda w: _event(conn, w, s), (w,), (jnp.ones_like(w),))
    np.testing.assert_allclose(t, expected_event(conn.indptr, conn.indices, np.ones((1, conn.nnz)), s, conn.n_post),
                               **TOL)


@pytest.mark.parametrize("which", ["indices", "indptr"])
def test_indices_are_not_differentiable(grad_case, which):
    conn, spikes, _, _ = grad_case
    w = jnp.ones((1, 1), jnp.float32)

    def f(arr):
        ip, ix = (conn.indptr, arr) if which == "indices" else (arr, conn.indices)
        return jnp.sum(ops.csr_event(ip, ix, w, spikes, n_post=conn.n_post))

    with pytest.raises(TypeError, match="grad requires real- or complex-valued inputs.*int32"):
        jax.grad(f)(conn.indices if which == "indices" else conn.indptr)


# --------------------------------------------------------------------------- library absent


@pytest.fixture
def no_library(monkeypatch, tmp_path):
    """neurosim as it is when the CPU library was not built: an empty library folder."""
    monkeypatch.setattr(kernels, "LIB", tmp_path)
    monkeypatch.setattr(kernels, "ENABLED", True)  # also under NEUROSIM_KERNELS=off
    monkeypatch.setattr(kernels, "_loaded", {})
    monkeypatch.setattr(kernels, "_warned", set())
    monkeypatch.setattr(kernels, "_ready", {})


def test_missing_library_warns_once_and_falls_back(no_library):
    if any(d.platform == "gpu" for d in jax.devices()):
        # the empty library folder also hides the CUDA library there: two warnings, not one
        pytest.skip("checks the CPU-only machine's fallback")
    with jax.default_device(jax.devices("cpu")[0]):  # the CPU library is the one made absent
        _missing_library_warns_once_and_falls_back()


def _missing_library_warns_once_and_falls_back():
    conn = fixed_probability(40, 30, 0.2, seed=11)
    rng = np.random.default_rng(12)
    w = jnp.asarray(rng.normal(size=conn.nnz), jnp.float32)
    s = jnp.asarray(rng.random(40) < 0.3)
    with pytest.warns(kernels.KernelWarning, match="libevents_cpu.so is not available") as record:
        out = propagate(conn, w, s)
        again = propagate(conn, w, s)
        assert available_backends() == ["reference"]
    assert sum(issubclass(r.category, kernels.KernelWarning) for r in record) == 1
    expected = expected_event(conn.indptr, conn.indices, w[None], s[None], 30)[0]
    np.testing.assert_allclose(out, expected, **TOL)
    np.testing.assert_array_equal(out, again)
    with pytest.raises(ValueError, match=r"backend must be one of \['reference'\], got 'kernel'"):
        propagate(conn, w, s, backend="kernel")


def test_missing_library_primitives_lower_to_reference(no_library):
    conn = fixed_probability(40, 30, 0.2, seed=13)
    rng = np.random.default_rng(14)
    w = jnp.asarray(rng.normal(size=(2, conn.nnz)), jnp.float32)
    s = jnp.asarray(rng.random((2, 40)) < 0.3)
    x = jnp.asarray(rng.normal(size=(2, 30)), jnp.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kernels.KernelWarning)
        assert not lowered_with_kernel(lambda w, s: _event(conn, w, s), w, s)
        out = jax.jit(lambda w, s: _event(conn, w, s))(w, s)
        tr = jax.jit(lambda w, x: _transposed(conn, w, x))(w, x)
        check_grads(jax.jit(lambda w, x: _transposed(conn, w, x)), (w, x), order=1, modes=["fwd", "rev"], **GRAD_TOL)
    np.testing.assert_allclose(out, expected_event(conn.indptr, conn.indices, w, s, 30), **TOL)
    np.testing.assert_allclose(tr, expected_transposed(conn.indptr, conn.indices, w, x), **TOL)


def test_kernels_switched_off_means_reference_without_warning(monkeypatch, no_library):
    monkeypatch.setattr(kernels, "ENABLED", False)
    conn = fixed_probability(20, 20, 0.2, seed=15)
    with warnings.catch_warnings():
        warnings.simplefilter("error", kernels.KernelWarning)
        assert available_backends() == ["reference"]
        propagate(conn, 1.0, jnp.ones(20, bool))


def test_kernel_name_is_reserved():
    with pytest.raises(ValueError, match="'kernel' is reserved"):
        importlib.import_module("neurosim.events.propagate").register_backend("kernel", lambda *a: None)
