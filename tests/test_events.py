"""Tests for the event operator ``neurosim.events.propagate``, following the kernel contract:
values against the dense reference ``spikes @ csr.to_dense(w)`` for every backend present,
``vmap`` against stacking single calls, ``check_grads`` with respect to weights and float
spikes, and clear errors.

``propagate_transposed`` is checked the same way against ``W @ x`` and as the adjoint of
``propagate``. The primitives' own batched forms and the library-absent fallback are tested in
test_kernels_cpu.py.

Tolerances: float32 sums of at most a few hundred terms of size <= 1, so rtol = atol = 1e-5
covers any summation order; vmap and jit are compared exactly where the computation is the same.
"""
import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from neurosim.events import (
    CSR,
    available_backends,
    default_capacity,
    event_matvec_reference,
    fixed_probability,
    matvec_dense_reference,
    propagate,
    propagate_transposed,
)

TOL = dict(rtol=1e-5, atol=1e-5)
BACKENDS = available_backends()


def dense_reference(conn, weights, spikes):
    """spikes @ W in float64 numpy, W the dense weight matrix."""
    w = np.broadcast_to(np.asarray(weights, np.float64), (conn.nnz,))
    rows = np.repeat(np.arange(conn.n_pre), np.diff(np.asarray(conn.indptr)))
    W = np.zeros((conn.n_pre, conn.n_post))
    W[rows, np.asarray(conn.indices)] = w
    return np.asarray(spikes, np.float64) @ W


@pytest.fixture(scope="module")
def conn():
    return fixed_probability(200, 150, 0.1, seed=0)


@pytest.fixture(scope="module")
def weights(conn):
    return jnp.asarray(np.random.default_rng(1).normal(size=conn.nnz), jnp.float32)


def random_spikes(n, n_active, seed=0):
    s = np.zeros(n, bool)
    s[np.random.default_rng(seed).choice(n, n_active, replace=False)] = True
    return jnp.asarray(s)


# --------------------------------------------------------------------------- values


def test_dense_reference_agrees_with_to_dense(conn, weights):
    # The test's numpy reference and the library's to_dense describe the same matrix.
    s = random_spikes(conn.n_pre, 30).astype(jnp.float32)
    np.testing.assert_allclose(dense_reference(conn, weights, s), np.asarray(s @ conn.to_dense(weights)), **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bool_spikes_per_synapse_weights(conn, weights, backend):
    s = random_spikes(conn.n_pre, 12)
    out = propagate(conn, weights, s, backend=backend)
    assert out.shape == (conn.n_post,) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, dense_reference(conn, weights, s), **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bool_spikes_scalar_weight(conn, backend):
    s = random_spikes(conn.n_pre, 12)
    out = propagate(conn, 0.7, s, backend=backend)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, dense_reference(conn, 0.7, s), **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_spikes_carry_their_value(conn, weights, backend):
    # Float spikes are multiplied in, not thresholded (surrogate spikes, graded events).
    rng = np.random.default_rng(2)
    s = np.where(rng.random(conn.n_pre) < 0.1, rng.uniform(0.1, 2.0, conn.n_pre), 0.0).astype(np.float32)
    out = propagate(conn, weights, jnp.asarray(s), backend=backend)
    np.testing.assert_allclose(out, dense_reference(conn, weights, s), **TOL)


def test_integer_weights_are_promoted_to_float32(conn):
    s = random_spikes(conn.n_pre, 10)
    out = propagate(conn, jnp.ones(conn.nnz, jnp.int32), s)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, dense_reference(conn, 1.0, s), **TOL)


def test_jit_with_csr_as_argument_equals_eager(conn, weights):
    s = random_spikes(conn.n_pre, 20)
    # equal up to summation order (a GPU's atomic adds may sum in any order)
    np.testing.assert_allclose(jax.jit(propagate)(conn, weights, s), propagate(conn, weights, s), rtol=1e-6, atol=1e-6)


def test_empty_connectivity_gives_zeros():
    empty = CSR(np.zeros(11, int), np.zeros(0, int), 10, 6)
    np.testing.assert_array_equal(propagate(empty, 1.0, jnp.ones(10, bool)), np.zeros(6))


# --------------------------------------------------------------------------- capacity ladder


# n_pre = 300 with capacity 40: tiers 16 and 40, then the full path above 40 spikes.
@pytest.mark.parametrize("n_active", [0, 1, 15, 16, 17, 39, 40, 41, 150, 300])
def test_activity_below_and_above_capacity_same_answer(n_active):
    conn = fixed_probability(300, 80, 0.15, seed=3)
    w = jnp.asarray(np.random.default_rng(4).uniform(0.5, 1.5, conn.nnz), jnp.float32)
    s = random_spikes(300, n_active, seed=n_active)
    expected = dense_reference(conn, w, s)
    events = propagate(conn, w, s, capacity=40)
    full = propagate(conn, w, s, capacity=0)  # capacity 0 always takes the full path
    np.testing.assert_allclose(events, expected, **TOL)
    np.testing.assert_allclose(full, expected, **TOL)


def test_default_capacity():
    assert default_capacity(10) == 10          # never more than n_pre
    assert default_capacity(100) == 32         # at least 32
    assert default_capacity(16_000) == 1000    # n_pre / 16


def test_event_path_and_full_path_of_the_reference_agree(conn, weights):
    # The two halves of the reference, called directly (the full path is the tangent rule).
    s = random_spikes(conn.n_pre, 25).astype(jnp.float32)
    args = (conn.indptr, conn.indices, conn.rows, weights, s, conn.n_post)
    np.testing.assert_allclose(event_matvec_reference(*args, 64, conn.max_row), matvec_dense_reference(*args), **TOL)


# --------------------------------------------------------------------------- property-based


@st.composite
def connectivity_and_spikes(draw):
    n_pre = draw(st.integers(1, 24))
    n_post = draw(st.integers(1, 24))
    mask = np.array(draw(st.lists(st.booleans(), min_size=n_pre * n_post, max_size=n_pre * n_post)), bool)
    mask = mask.reshape(n_pre, n_post)
    if draw(st.booleans()):  # often leave whole rows empty
        mask[draw(st.integers(0, n_pre - 1)):] = False
    pattern = draw(st.sampled_from(["none", "all", "random", "one"]))
    if pattern == "none":
        spikes = np.zeros(n_pre, bool)
    elif pattern == "all":
        spikes = np.ones(n_pre, bool)
    elif pattern == "one":
        spikes = np.zeros(n_pre, bool)
        spikes[draw(st.integers(0, n_pre - 1))] = True
    else:
        spikes = np.array(draw(st.lists(st.booleans(), min_size=n_pre, max_size=n_pre)), bool)
    capacity = draw(st.integers(0, n_pre + 2))
    scalar = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return mask, spikes, capacity, scalar, seed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(connectivity_and_spikes())
def test_propagate_matches_dense_reference_property(case):
    mask, spikes, capacity, scalar, seed = case
    pre, post = np.nonzero(mask)
    conn = CSR.from_arrays(pre, post, *mask.shape)
    rng = np.random.default_rng(seed)
    w = np.float32(rng.normal()) if scalar else rng.normal(size=conn.nnz).astype(np.float32)
    for backend in BACKENDS:
        out = propagate(conn, w, jnp.asarray(spikes), backend=backend, capacity=capacity)
        np.testing.assert_allclose(out, dense_reference(conn, w, spikes), **TOL)


# --------------------------------------------------------------------------- vmap


def test_vmap_over_spikes_equals_stacked_calls(conn, weights):
    batch = jnp.stack([random_spikes(conn.n_pre, k, seed=k) for k in (0, 3, 20, 100, 200)])
    f = functools.partial(propagate, conn, weights)
    stacked = jnp.stack([f(s) for s in batch])
    np.testing.assert_allclose(jax.vmap(f)(batch), stacked, **TOL)
    for s, row in zip(batch, jax.vmap(f)(batch)):
        np.testing.assert_allclose(row, dense_reference(conn, weights, s), **TOL)


def test_vmap_over_weights_equals_stacked_calls(conn):
    ws = jnp.asarray(np.random.default_rng(5).normal(size=(4, conn.nnz)), jnp.float32)
    s = random_spikes(conn.n_pre, 15)
    f = lambda w: propagate(conn, w, s)
    np.testing.assert_allclose(jax.vmap(f)(ws), jnp.stack([f(w) for w in ws]), **TOL)


def test_vmap_over_weights_and_spikes_together(conn):
    ws = jnp.asarray(np.random.default_rng(6).normal(size=(3, conn.nnz)), jnp.float32)
    ss = jnp.stack([random_spikes(conn.n_pre, k, seed=k) for k in (1, 10, 150)])
    out = jax.vmap(lambda w, s: propagate(conn, w, s))(ws, ss)
    for w, s, row in zip(ws, ss, out):
        np.testing.assert_allclose(row, dense_reference(conn, w, s), **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmapped_propagate_has_no_sequential_loop(conn, weights, backend):
    # The contract: a batch of spike vectors takes a batched (mat-mat) path, not a while loop.
    # (jax.lax.map over the batch, the sequential alternative, shows up as a scan here.)
    batch = jnp.stack([random_spikes(conn.n_pre, k, seed=k) for k in (2, 40, 7)])
    jaxpr = str(jax.make_jaxpr(jax.vmap(lambda s: propagate(conn, weights, s, backend=backend)))(batch))
    if backend == "reference":
        assert "scatter-add" in jaxpr  # the printout includes the op's inner jaxpr
    if backend == "kernel":  # one call of the primitive with the whole batch as (B, n_pre)
        (call,) = [line for line in jaxpr.splitlines() if "neurosim_csr_event[" in line]
        assert f"f32[3,{conn.n_post}] = neurosim_csr_event" in call
    assert "while[" not in jaxpr and "scan[" not in jaxpr


# --------------------------------------------------------------------------- gradients


@pytest.fixture(scope="module")
def small():
    conn = fixed_probability(40, 30, 0.2, seed=7)
    rng = np.random.default_rng(8)
    w = jnp.asarray(rng.normal(size=conn.nnz), jnp.float32)
    s = jnp.asarray(np.where(rng.random(40) < 0.3, rng.uniform(0.2, 1.0, 40), 0.0), jnp.float32)
    return conn, w, s


# The operator is bilinear, so finite differences are exact up to float32 rounding: eps = 0.1
# keeps the rounding error of (f(x + eps) - f(x - eps)) / 2 eps well under the 1e-2 tolerance.
# order=2 checks the first derivatives too (check_grads recurses through the orders).
GRAD_TOL = dict(atol=1e-2, rtol=1e-2, eps=0.1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_grads_wrt_weights(small, backend):
    conn, w, s = small
    check_grads(jax.jit(lambda w: propagate(conn, w, s, backend=backend)), (w,), order=2, modes=["fwd", "rev"], **GRAD_TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_grads_wrt_float_spikes(small, backend):
    conn, w, s = small
    check_grads(jax.jit(lambda s: propagate(conn, w, s, backend=backend)), (s,), order=2, modes=["fwd", "rev"], **GRAD_TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weight_gradient_values(small, backend):
    # d/dw_syn sum_j c_j drive_j = spikes[pre(syn)] * c[post(syn)], at every synapse.
    conn, w, s = small
    c = jnp.asarray(np.random.default_rng(9).normal(size=conn.n_post), jnp.float32)
    g = jax.grad(lambda w: jnp.dot(c, propagate(conn, w, s, backend=backend)))(w)
    expected = np.asarray(s)[np.asarray(conn.rows)] * np.asarray(c)[np.asarray(conn.indices)]
    np.testing.assert_allclose(g, expected, **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scalar_weight_gradient_with_bool_spikes(small, backend):
    # A homogeneous projection: d/dw sum_j c_j drive_j = sum over synapses of spiking rows of c[post].
    conn, _, s = small
    spikes = s > 0
    c = jnp.asarray(np.random.default_rng(11).normal(size=conn.n_post), jnp.float32)
    g = jax.grad(lambda w: jnp.dot(c, propagate(conn, w, spikes, backend=backend)))(jnp.float32(0.8))
    expected = np.sum(np.asarray(spikes)[np.asarray(conn.rows)] * np.asarray(c)[np.asarray(conn.indices)])
    np.testing.assert_allclose(g, expected, **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_spike_gradient_is_dense(small, backend):
    # d/ds_i sum_j c_j drive_j = (W c)_i, also for neurons that did not spike.
    conn, w, s = small
    c = jnp.asarray(np.random.default_rng(10).normal(size=conn.n_post), jnp.float32)
    g = jax.grad(lambda s: jnp.dot(c, propagate(conn, w, s, backend=backend)))(s)
    np.testing.assert_allclose(g, np.asarray(conn.to_dense(w)) @ np.asarray(c), **TOL)
    assert np.any(np.asarray(g)[np.asarray(s) == 0] != 0)


# --------------------------------------------------------------------------- errors


def test_unknown_backend_lists_available(conn):
    with pytest.raises(ValueError, match=r"backend must be one of \[.*'reference'.*\], got 'cuda_magic'"):
        propagate(conn, 1.0, jnp.zeros(conn.n_pre, bool), backend="cuda_magic")


@pytest.mark.parametrize("bad", [np.eye(3), "csr", None])
def test_non_csr_conn_raises_type_error(bad):
    with pytest.raises(TypeError, match="conn must be a neurosim CSR"):
        propagate(bad, 1.0, jnp.zeros(3, bool))


@pytest.mark.parametrize("n", [0, 5, 41])
def test_wrong_weights_length_raises(small, n):
    conn, _, s = small
    with pytest.raises(ValueError, match=rf"weights must be a scalar or have shape \({conn.nnz},\).*got \({n},\)"):
        propagate(conn, jnp.ones(n), s)


def test_wrong_spikes_shape_raises(small):
    conn, w, _ = small
    with pytest.raises(ValueError, match=r"spikes must have shape \(40,\).*got \(39,\)"):
        propagate(conn, w, jnp.zeros(39, bool))


def test_wrong_post_values_shape_raises(small):
    conn, w, _ = small
    with pytest.raises(ValueError, match=r"post_values must have shape \(30,\).*got \(40,\)"):
        propagate_transposed(conn, w, jnp.zeros(40))


# --------------------------------------------------------------------------- transposed


def dense_transposed(conn, weights, x):
    """W @ x in float64 numpy: out[i] = sum_j w_ij x_j."""
    w = np.broadcast_to(np.asarray(weights, np.float64), (conn.nnz,))
    rows = np.repeat(np.arange(conn.n_pre), np.diff(np.asarray(conn.indptr)))
    W = np.zeros((conn.n_pre, conn.n_post))
    W[rows, np.asarray(conn.indices)] = w
    return W @ np.asarray(x, np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scalar", [False, True])
def test_transposed_values(conn, weights, backend, scalar):
    x = jnp.asarray(np.random.default_rng(20).normal(size=conn.n_post), jnp.float32)
    w = jnp.float32(0.3) if scalar else weights
    out = propagate_transposed(conn, w, x, backend=backend)
    assert out.shape == (conn.n_pre,) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, dense_transposed(conn, w, x), **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_transposed_is_the_adjoint_of_propagate(conn, weights, backend):
    # <propagate(s), x> = <s, propagate_transposed(x)> for any s and x.
    rng = np.random.default_rng(21)
    s = jnp.asarray(rng.normal(size=conn.n_pre), jnp.float32)
    x = jnp.asarray(rng.normal(size=conn.n_post), jnp.float32)
    lhs = jnp.dot(propagate(conn, weights, s, backend=backend), x)
    rhs = jnp.dot(s, propagate_transposed(conn, weights, x, backend=backend))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_transposed_check_grads(small, backend):
    conn, w, _ = small
    x = jnp.asarray(np.random.default_rng(22).normal(size=conn.n_post), jnp.float32)
    f = jax.jit(lambda w, x: propagate_transposed(conn, w, x, backend=backend))
    check_grads(f, (w, x), order=1, modes=["fwd", "rev"], **GRAD_TOL)
    check_grads(lambda w: f(w, x), (w,), order=2, modes=["fwd", "rev"], **GRAD_TOL)
    check_grads(lambda w: f(w, x), (jnp.float32(0.4),), order=1, modes=["fwd", "rev"], **GRAD_TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_transposed_vmap_equals_stacked_calls(small, backend):
    conn, w, _ = small
    xs = jnp.asarray(np.random.default_rng(23).normal(size=(3, conn.n_post)), jnp.float32)
    f = lambda x: propagate_transposed(conn, w, x, backend=backend)
    np.testing.assert_allclose(jax.vmap(f)(xs), jnp.stack([f(x) for x in xs]), **TOL)


# --------------------------------------------------------------------------- dtypes and dispatch


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_spikes_count_as_their_value(conn, weights, backend):
    s = np.zeros(conn.n_pre, np.int32)
    s[[3, 50, 120]] = [1, 2, 1]
    out = propagate(conn, weights, jnp.asarray(s), backend=backend)
    np.testing.assert_allclose(out, dense_reference(conn, weights, s), **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_weights_keep_float64(x64, conn, backend):
    # The kernels are float32; other float dtypes go to the reference, which keeps them.
    w = jnp.asarray(np.random.default_rng(24).normal(size=conn.nnz), jnp.float64)
    s = random_spikes(conn.n_pre, 10)
    out = propagate(conn, w, s, backend=backend)
    assert out.dtype == jnp.float64
    np.testing.assert_allclose(out, dense_reference(conn, w, s), rtol=1e-12, atol=1e-12)


def test_procedural_connectivity_is_dispatched_to_its_own_methods(monkeypatch, small):
    # propagate / propagate_transposed hand a JitConn (H2's procedural connectivity) to its
    # own methods, with the backend named by the caller.
    calls = []

    class FakeJitConn:
        def propagate(self, weights, spikes, backend=None):
            calls.append(("propagate", backend))
            return "drive"

        def propagate_transposed(self, weights, x, backend=None):
            calls.append(("transposed", backend))
            return "back"

    module = importlib.import_module("neurosim.events.propagate")
    monkeypatch.setattr(module, "JitConn", FakeJitConn)
    assert propagate(FakeJitConn(), 1.0, jnp.zeros(3), backend="reference") == "drive"
    assert propagate_transposed(FakeJitConn(), 1.0, jnp.zeros(3)) == "back"
    assert calls == [("propagate", "reference"), ("transposed", None)]


def test_default_backend_is_the_fastest_present():
    assert BACKENDS[-1] == "reference"
    assert available_backends()[0] == ("kernel" if "kernel" in BACKENDS else "reference")


def test_procedural_connectivity_matches_its_materialised_csr():
    jitconn = pytest.importorskip("neurosim.events.jitconn")
    jc = jitconn.JitConn(50, 40, 0.2, seed=3)
    w = jc.weight_params()
    csr, w_csr = jc.to_csr(w)
    rng = np.random.default_rng(25)
    s = jnp.asarray(rng.random(50) < 0.3)
    x = jnp.asarray(rng.normal(size=40), jnp.float32)
    np.testing.assert_allclose(propagate(jc, w, s), propagate(csr, jnp.asarray(w_csr), s), **TOL)
    np.testing.assert_allclose(propagate_transposed(jc, w, x), propagate_transposed(csr, jnp.asarray(w_csr), x), **TOL)
