"""Tests for procedural connectivity, ``neurosim.events.JitConn``, following the kernel contract.

The matrix a kernel uses is read back through one-hot spike batches (row i of the result is
row i of the matrix, one term per element, so no rounding enters) and compared with the numpy
materialisation ``to_dense()`` / ``to_csr()``, which draws the same counter-based random numbers
independently of the kernels. Connection pattern: exact. Weights: rtol 1e-6 (float64 log/cos of
numpy and of the C library may differ in the last bit, which can move a normal weight by one
float32 ulp). Sums over many synapses: rtol = atol = 1e-5 (float32, summation order).

Statistics use wide bounds (5 standard deviations), so a correct generator fails them with
probability < 1e-6 per check; the seeds are fixed anyway.
"""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

import neurosim as ns
from neurosim import _kernels
from neurosim.builders.balanced import (
    ConstantDrive,
    FixedProbability,
    brunel2000,
    brunel2000_regime_params,
    ei_network,
    in_degrees,
)
from neurosim.events import JitConn, propagate
from neurosim.events import jitconn as jc
from neurosim.neurons import LIF, LIFParams
from neurosim.synapses import Synapse, SynapseParams
from neurosim.synapses.short_term import TsodyksMarkram

TOL = dict(rtol=1e-5, atol=1e-5)
WEIGHTS = {"homogeneous": 0.75, "uniform": ns.Uniform(-0.5, 1.5), "normal": ns.Normal(0.5, 0.25)}
COMPILED = _kernels.ready("jitconn", "cpu")
BACKENDS = [None, "reference"]
# the reference path on a subset (it is the same materialisation; this checks its wiring)
MATRIX_CASES = [(d, a, p, None) for d in sorted(WEIGHTS) for a in (True, False) for p in (0.0, 0.04, 0.5, 1.0)]
MATRIX_CASES += [(d, False, 0.5, "reference") for d in sorted(WEIGHTS)] + [("normal", True, 1.0, "reference")]


def matrix_through(conn, weights=None, backend=None):
    """The (n_pre, n_post) matrix the op uses: one vmapped call on the one-hot spike batch."""
    w = conn.weight_params() if weights is None else weights
    eye = jnp.eye(conn.n_pre, dtype=bool)
    return np.asarray(jax.vmap(lambda s: conn.propagate(w, s, backend=backend))(eye))


def assert_same_matrix(got, dense):
    np.testing.assert_array_equal(got != 0, dense != 0)
    np.testing.assert_allclose(got, dense, rtol=1e-6, atol=0)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("dist, autapses, p, backend", MATRIX_CASES)
def test_kernel_matrix_equals_materialised_matrix(dist, autapses, p, backend):
    conn = JitConn(37, 29, p, seed=11, weight=WEIGHTS[dist], autapses=autapses)
    dense = conn.to_dense()
    assert_same_matrix(matrix_through(conn, backend=backend), dense)
    if p == 1.0:
        expected = np.ones((37, 29), bool)
        if not autapses:
            expected[np.arange(29), np.arange(29)] = False
        np.testing.assert_array_equal(np.asarray(conn.to_csr()[0].to_dense()) != 0, expected)
    if p == 0.0:
        assert conn.to_csr()[0].nnz == 0


def test_to_csr_is_a_valid_csr_with_matching_weights():
    conn = JitConn(50, 70, 0.2, seed=3, weight=ns.Normal(1.0, 0.5))
    csr, w = conn.to_csr()
    ns.events.validate_csr(csr.indptr, csr.indices, 50, 70)   # sorted, duplicate-free rows
    assert w.dtype == np.float32 and w.shape == (csr.nnz,)
    np.testing.assert_array_equal(np.asarray(csr.to_dense(w)), conn.to_dense())
    for i in (0, 23, 49):   # a row regenerated alone is the same row
        cols, wr = conn.row(i)
        a, b = int(csr.indptr[i]), int(csr.indptr[i + 1])
        np.testing.assert_array_equal(cols, np.asarray(csr.indices[a:b]))
        np.testing.assert_array_equal(wr, w[a:b])


def test_to_csr_with_other_weights_is_wa_plus_wb_r():
    conn = JitConn(30, 30, 0.3, seed=5, weight=ns.Uniform(0.0, 1.0))
    _, r = conn.to_csr()                                  # wa = 0, wb = 1: r itself
    _, w = conn.to_csr(jnp.asarray([2.0, -3.0]))
    np.testing.assert_array_equal(w, np.float32(2.0) + np.float32(-3.0) * r)


def test_same_seed_same_matrix_other_seed_other_matrix():
    a = JitConn(40, 40, 0.1, seed=1).to_dense()
    b = JitConn(40, 40, 0.1, seed=1).to_dense()
    c = JitConn(40, 40, 0.1, seed=2).to_dense()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_spikes_multiply_their_weights(backend):
    conn = JitConn(60, 45, 0.15, seed=4, weight=ns.Normal(0.3, 0.2))
    rng = np.random.default_rng(0)
    s = np.where(rng.random(60) < 0.3, rng.uniform(0.1, 2.0, 60), 0.0).astype(np.float32)
    out = conn.propagate(conn.weight_params(), jnp.asarray(s), backend=backend)
    assert out.shape == (45,) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, s @ conn.to_dense(), **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dist", sorted(WEIGHTS))
def test_transposed_op_is_the_transposed_matrix(dist, backend):
    conn = JitConn(33, 41, 0.2, seed=8, weight=WEIGHTS[dist], autapses=False)
    x = np.random.default_rng(1).normal(size=41).astype(np.float32)
    out = conn.propagate_transposed(conn.weight_params(), jnp.asarray(x), backend=backend)
    assert out.shape == (33,) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, conn.to_dense() @ x, **TOL)
    # its matrix through one-hot x, exactly
    eye = jnp.eye(41, dtype=jnp.float32)
    cols = jax.vmap(lambda v: conn.propagate_transposed(conn.weight_params(), v, backend=backend))(eye)
    assert_same_matrix(np.asarray(cols).T, conn.to_dense())


def test_scalar_weight_of_a_homogeneous_conn_means_w_and_zero():
    conn = JitConn(20, 20, 0.3, seed=2)
    s = jnp.asarray(np.random.default_rng(3).random(20) < 0.5)
    np.testing.assert_array_equal(conn.propagate(2.5, s), conn.propagate(jnp.asarray([2.5, 0.0]), s))
    np.testing.assert_allclose(conn.propagate(2.5, s), np.asarray(s, np.float32) @ conn.to_dense(2.5), **TOL)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_pre=st.integers(1, 24), n_post=st.integers(1, 24), p=st.sampled_from([0.0, 0.05, 0.3, 0.9, 1.0]),
       seed=st.integers(0, 2**64 - 1), dist=st.sampled_from(sorted(WEIGHTS)), autapses=st.booleans(),
       pattern=st.sampled_from(["none", "all", "random"]), data=st.data())
def test_random_shapes_and_spike_patterns(n_pre, n_post, p, seed, dist, autapses, pattern, data):
    conn = JitConn(n_pre, n_post, p, seed=seed, weight=WEIGHTS[dist], autapses=autapses)
    if pattern == "random":
        s = np.array(data.draw(st.lists(st.booleans(), min_size=n_pre, max_size=n_pre)))
    else:
        s = np.full(n_pre, pattern == "all")
    out = conn.propagate(conn.weight_params(), jnp.asarray(s))
    np.testing.assert_allclose(out, s.astype(np.float32) @ conn.to_dense(), **TOL)


@pytest.mark.skipif(not COMPILED, reason="the compiled CPU kernel is not built: the reference would store 1e8 synapses")
def test_huge_matrix_is_never_stored():
    # 1e6 x 1e6 at p = 1e-4: 1e8 synapses; only the spiking rows are regenerated.
    conn = JitConn(10**6, 10**6, 1e-4, seed=21, weight=ns.Normal(1.0, 0.1))
    rows = [0, 123_456, 999_999]
    s = jnp.zeros(10**6, bool).at[jnp.asarray(rows)].set(True)
    out = np.asarray(conn.propagate(conn.weight_params(), s))
    expected = np.zeros(10**6, np.float32)
    for i in rows:
        cols, w = conn.row(i)
        assert 40 < cols.size < 160   # ~ Binomial(1e6, 1e-4): 100 +- 10
        np.add.at(expected, cols, w)
    np.testing.assert_allclose(out, expected, **TOL)


# --------------------------------------------------------------------------- statistics


def test_connection_count_and_row_lengths_are_binomial():
    n_pre, n_post, p = 1000, 800, 0.02
    conn = JitConn(n_pre, n_post, p, seed=6)
    csr, _ = conn.to_csr()
    mean, sd = conn.expected_nnz, math.sqrt(n_pre * n_post * p * (1 - p))
    assert abs(csr.nnz - mean) < 5 * sd, (csr.nnz, mean)
    rows = np.diff(np.asarray(csr.indptr))
    row_var = n_post * p * (1 - p)
    assert abs(rows.mean() - n_post * p) < 5 * math.sqrt(row_var / n_pre)
    assert abs(rows.var() / row_var - 1) < 5 * math.sqrt(2 / n_pre)   # var of a variance estimate ~ 2 s^4 / n
    assert rows.max() <= conn.max_row_bound()
    # columns are hit uniformly: in-degrees ~ Binomial(n_pre, p)
    cols = np.bincount(np.asarray(csr.indices), minlength=n_post)
    assert abs(cols.mean() - n_pre * p) < 5 * math.sqrt(n_pre * p * (1 - p) / n_post)
    # draws of one row are independent of the next row's: the joint hit rate is p^2
    dense = csr.to_dense() != 0
    both = np.mean(dense[:-1] & dense[1:])
    assert abs(both - p * p) < 5 * math.sqrt(p * p / dense[:-1].size)


def test_without_autapses_the_diagonal_is_empty_and_the_rest_unchanged():
    with_self = JitConn(300, 300, 0.5, seed=9).to_dense()
    without = JitConn(300, 300, 0.5, seed=9, autapses=False).to_dense()
    assert np.all(np.diag(without) == 0) and np.any(np.diag(with_self) != 0)
    off = ~np.eye(300, dtype=bool)
    np.testing.assert_array_equal(with_self[off], without[off])   # the skipped draws keep their k


def test_uniform_weight_moments():
    low, high = -1.0, 3.0
    _, w = JitConn(400, 400, 0.2, seed=12, weight=ns.Uniform(low, high)).to_csr()
    n = w.size
    assert w.min() >= low and w.max() < high
    mean, var = (low + high) / 2, (high - low) ** 2 / 12
    assert abs(w.mean() - mean) < 5 * math.sqrt(var / n)
    assert abs(w.var() / var - 1) < 5 * math.sqrt(0.8 / n)        # var of s^2 / sigma^2 for U: 4/5 / n
    hist = np.histogram(w, bins=8, range=(low, high))[0]           # flat
    assert np.all(np.abs(hist - n / 8) < 5 * math.sqrt(n / 8))


def test_normal_weight_moments():
    mean, std = 0.5, 2.0
    _, w = JitConn(400, 400, 0.2, seed=13, weight=ns.Normal(mean, std)).to_csr()
    z = (w.astype(np.float64) - mean) / std
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs(np.mean(z**3)) < 5 * math.sqrt(15 / n)               # skewness 0
    assert abs(np.mean(z**4) - 3) < 5 * math.sqrt(96 / n)           # kurtosis 3
    assert abs(np.mean(np.abs(z) < 1) - 0.6826894921) < 5 * math.sqrt(0.22 / n)


# --------------------------------------------------------------------------- vmap


@pytest.mark.parametrize("dist", sorted(WEIGHTS))
def test_vmap_over_spikes_equals_single_calls_and_is_one_call(dist):
    conn = JitConn(50, 40, 0.1, seed=14, weight=WEIGHTS[dist])
    w = conn.weight_params()
    spikes = jnp.asarray(np.random.default_rng(2).random((6, 50)) < 0.2)
    batched = jax.vmap(lambda s: conn.propagate(w, s))(spikes)
    stacked = jnp.stack([conn.propagate(w, s) for s in spikes])
    np.testing.assert_allclose(batched, stacked, **TOL)   # equal on CPU; GPU atomics may reorder sums
    jaxpr = jax.make_jaxpr(jax.vmap(lambda s: conn.propagate(w, s)))(spikes)
    calls = [e for e in jaxpr.eqns if e.primitive is jc.jit_event_p]
    assert len(calls) == 1 and calls[0].invars[0].aval.shape == (6, 50)
    assert not any(e.primitive.name in ("while", "scan") for e in jaxpr.eqns)


def test_vmap_over_weights_and_spikes_and_nested_vmap():
    conn = JitConn(30, 25, 0.2, seed=15, weight=ns.Normal(0.0, 1.0))
    ws = jnp.asarray([[0.0, 1.0], [1.0, 0.5], [-2.0, 0.1]], jnp.float32)
    s = jnp.asarray(np.random.default_rng(4).random(30) < 0.4)
    over_w = jax.vmap(lambda w: conn.propagate(w, s))(ws)
    np.testing.assert_array_equal(over_w, jnp.stack([conn.propagate(w, s) for w in ws]))
    spikes = jnp.asarray(np.random.default_rng(5).random((2, 3, 30)) < 0.3)
    nested = jax.jit(jax.vmap(jax.vmap(lambda w, x: conn.propagate(w, x)), in_axes=(None, 0)))(ws, spikes)
    for a in range(2):
        for b in range(3):
            np.testing.assert_allclose(nested[a, b], np.asarray(spikes[a, b], np.float32) @ conn.to_dense(ws[b]), **TOL)
    xs = jnp.asarray(np.random.default_rng(6).normal(size=(3, 25)), jnp.float32)
    t = jax.vmap(conn.propagate_transposed)(ws, xs)
    for b in range(3):
        np.testing.assert_allclose(t[b], conn.to_dense(ws[b]) @ np.asarray(xs[b]), **TOL)


# --------------------------------------------------------------------------- autodiff


@pytest.mark.parametrize("dist", sorted(WEIGHTS))
def test_check_grads_weights_and_float_spikes(dist):
    conn = JitConn(14, 11, 0.35, seed=16, weight=WEIGHTS[dist], autapses=False)
    w = jnp.asarray(conn.weight_params())
    s = jnp.asarray(np.random.default_rng(7).uniform(0.2, 1.0, 14) * (np.arange(14) % 3 != 0), jnp.float32)
    x = jnp.asarray(np.random.default_rng(8).normal(size=11), jnp.float32)
    check_grads(lambda w, s: conn.propagate(w, s), (w, s), order=2, modes=["fwd", "rev"], atol=1e-2, rtol=1e-2)
    check_grads(lambda w, x: conn.propagate_transposed(w, x), (w, x), order=2, modes=["fwd", "rev"],
                atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("dist", ["homogeneous", "normal"])
def test_gradients_equal_the_materialised_chain_rule(dist):
    conn = JitConn(25, 20, 0.3, seed=17, weight=WEIGHTS[dist])
    csr, r = conn.to_csr(jnp.asarray([0.0, 1.0]))
    w = jnp.asarray([0.7, 0.4], jnp.float32)
    s = jnp.asarray(np.random.default_rng(9).uniform(0.0, 1.0, 25) * (np.arange(25) % 2 == 0), jnp.float32)
    probe = jnp.asarray(np.random.default_rng(10).normal(size=20), jnp.float32)

    def loss(backend):
        return lambda w, s: jnp.sum(probe * jnp.tanh(conn.propagate(w, s, backend=backend)))

    def loss_csr(w, s):   # the stored matrix with per-synapse weights wa + wb r
        weights = w[0] + (w[1] * r if conn.dist != jc.HOMOGENEOUS else 0.0)
        return jnp.sum(probe * jnp.tanh(propagate(csr, weights, s, backend="reference")))

    grads = [jax.grad(f, argnums=(0, 1))(w, s) for f in (loss(None), loss_csr)]
    for g in grads[1:]:
        np.testing.assert_allclose(grads[0][0], g[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(grads[0][1], g[1], rtol=1e-4, atol=1e-5)
    if conn.dist == jc.HOMOGENEOUS:
        assert float(grads[0][0][1]) == 0.0


def test_grad_with_bool_spikes_and_under_vmap():
    conn = JitConn(20, 15, 0.3, seed=18, weight=ns.Uniform(0.0, 1.0))
    spikes = jnp.asarray(np.random.default_rng(11).random((4, 20)) < 0.3)
    w = jnp.asarray(conn.weight_params())
    g = jax.vmap(jax.grad(lambda w, s: jnp.sum(conn.propagate(w, s) ** 2)), in_axes=(None, 0))(w, spikes)
    for b in range(4):
        d = conn.to_dense(np.array([1.0, 0.0], np.float32)), conn.to_dense(np.array([0.0, 1.0], np.float32))
        sb = np.asarray(spikes[b], np.float32)
        out = sb @ conn.to_dense()
        np.testing.assert_allclose(g[b], [2 * out @ (sb @ d[0]), 2 * out @ (sb @ d[1])], rtol=1e-4)


# --------------------------------------------------------------------------- backends and pytree


def test_reference_lowering_when_the_kernel_is_absent(monkeypatch):
    conn = JitConn(30, 30, 0.2, seed=19, weight=ns.Normal(1.0, 0.3))
    s = jnp.asarray(np.random.default_rng(12).random(30) < 0.5)
    monkeypatch.setitem(_kernels._ready, ("jitconn", "cpu"), False)
    monkeypatch.setitem(_kernels._ready, ("jitconn", "cuda"), False)
    f = jax.jit(lambda w, s: conn.propagate(w, s))
    assert "custom_call" not in f.lower(conn.weight_params(), s).as_text()
    np.testing.assert_allclose(f(conn.weight_params(), s), np.asarray(s, np.float32) @ conn.to_dense(), **TOL)


@pytest.mark.skipif(not COMPILED, reason="the compiled CPU kernel is not built")
def test_compiled_kernel_is_one_custom_call():
    conn = JitConn(30, 30, 0.2, seed=19)
    text = jax.jit(lambda s: conn.propagate(1.0, s)).lower(jnp.zeros(30, bool)).as_text()
    assert text.count("neurosim_jit_event") == 1


def test_jitconn_is_a_pytree_without_leaves_and_passes_through_jit():
    conn = JitConn(20, 10, 0.3, seed=2**64 - 1, weight=ns.Uniform(0.0, 2.0), autapses=False)
    assert jax.tree.leaves(conn) == []
    again = jax.tree.unflatten(jax.tree.structure(conn), [])
    assert again == conn and hash(again) == hash(conn)
    s = jnp.ones(20, bool)
    out = jax.jit(lambda c, w, s: c.propagate(w, s))(conn, conn.weight_params(), s)
    np.testing.assert_allclose(out, np.ones(20, np.float32) @ conn.to_dense(), **TOL)


def test_events_propagate_dispatches_to_the_jitconn():
    conn = JitConn(20, 12, 0.3, seed=3)
    s = jnp.asarray(np.random.default_rng(13).random(20) < 0.5)
    np.testing.assert_array_equal(propagate(conn, 0.5, s), conn.propagate(0.5, s))


# --------------------------------------------------------------------------- networks


def coba_like(procedural, n_e=320, n_i=80, seed=0):
    return ei_network(n_e, n_i, connectivity=FixedProbability(0.02, procedural=procedural), j_e=6.0, j_i=67.0,
                      neuron=LIF(v_init=ns.Uniform(-60.0, -50.0)),
                      neuron_params=LIFParams(v_rest=-60.0, v_reset=-60.0, v_th=-50.0, c_m=200.0, g_l=10.0, t_ref=5.0),
                      exc_synapse=Synapse("exponential", "conductance"), exc_params=SynapseParams(tau=5.0, e_rev=0.0),
                      inh_params=SynapseParams(tau=10.0, e_rev=-80.0), drive=ConstantDrive(200.0), seed=seed)


def materialised(net):
    """The same network with every JitConn replaced by its stored CSR and per-synapse weights."""
    prs = [dataclasses.replace(pr, conn=pr.conn.to_csr()[0], weights=pr.conn.to_csr(pr.weights)[1])
           if isinstance(pr.conn, JitConn) else pr for pr in net.projections]
    return ns.Network(net.populations, prs, net.inputs)


def test_network_with_procedural_projections_spikes_like_the_stored_network():
    net = coba_like(True)
    assert all(isinstance(pr.conn, JitConn) for pr in net.projections)
    np.testing.assert_array_equal(net.params().projections["exc"].weights, [6.0, 0.0])
    ref = materialised(net)
    a = ns.simulate(net, 200.0, 0.1, monitors=[ns.Spikes("neurons")], key=0).spikes["neurons"]
    b = ns.simulate(ref, 200.0, 0.1, monitors=[ns.Spikes("neurons")], key=0).spikes["neurons"]
    assert len(b[0]) > 1000   # the network is active
    assert abs(len(a[0]) - len(b[0])) <= 0.01 * len(b[0])
    if len(a[0]) == len(b[0]):   # identical arithmetic: identical spikes (the usual case)
        np.testing.assert_array_equal(a[1], b[1])


def test_network_gradient_through_run_equals_the_stored_network():
    # A JitConn projection with Normal weights: d/d[wa, wb] of a smooth loss through run equals
    # the chain rule through the stored network's per-synapse weights wa + wb r.
    pop = ns.Population("E", 60, LIF(v_init=ns.Uniform(-60.0, -55.0)))
    conn = JitConn(60, 60, 0.1, seed=20, weight=ns.Normal(1.0, 0.5), autapses=False)
    proj = ns.Projection("EE", "E", "E", conn, None, Synapse("exponential", "conductance"),
                         SynapseParams(tau=5.0, e_rev=0.0))
    drive = ns.Input("I", "E", ns.inputs.ConstantCurrent(), ns.inputs.ConstantCurrent.Params(260.0))
    net = ns.Network([pop], [proj], [drive])
    csr, r = conn.to_csr(jnp.asarray([0.0, 1.0]))
    # (the stored weights are placeholders, replaced in the loss; a conductance weight must be >= 0)
    ref = ns.Network([pop], [dataclasses.replace(proj, conn=csr, weights=jnp.abs(r))], [drive])

    def loss(network, weights_of):
        base = network.params()

        def f(w):
            params = base.with_weights({"EE": weights_of(w)})
            state = ns.init_state(network, params, 0, 0.1)
            final, spikes = ns.run(network, params, state, 100, 0.1)
            return jnp.mean(final.neurons["E"].v) + 0.1 * jnp.sum(spikes["E"])
        return jax.jit(jax.value_and_grad(f))

    w = jnp.asarray([1.0, 0.5], jnp.float32)
    v1, g1 = loss(net, lambda w: w)(w)
    v2, g2 = loss(ref, lambda w: w[0] + w[1] * jnp.asarray(r))(w)
    np.testing.assert_allclose(v1, v2, rtol=1e-5)
    np.testing.assert_allclose(g1, g2, rtol=1e-3, atol=1e-4)
    assert np.all(np.isfinite(g1)) and float(g1[0]) != 0.0


def test_brunel_procedural_builds_and_counts_in_degrees():
    net = brunel2000("C", scale=0.05, connectivity="procedural", seed=1)
    exc = net.projections[0]
    assert isinstance(exc.conn, JitConn) and exc.conn.p == 0.1
    deg = in_degrees(net, "exc")
    assert abs(deg.mean() - 0.1 * exc.conn.n_pre) < 5 * math.sqrt(0.1 * 0.9 * exc.conn.n_pre / deg.size)
    params = brunel2000_regime_params(net, "A")   # scales [wa, wb] of the I projection
    np.testing.assert_allclose(params.projections["inh"].weights, -3.0 * params.projections["exc"].weights)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_pre=0), r"n_pre must be >= 1, got 0"),
    (dict(n_post=2.5), r"n_post must be an integer, got 2.5"),
    (dict(n_pre=2**31), r"n_pre must be <= 2147483647"),
    (dict(p=1.5), r"p must be a probability in \[0, 1\], got 1.5"),
    (dict(p=float("nan")), r"p must be a probability in \[0, 1\], got nan"),
    (dict(p="half"), r"p must be a probability in \[0, 1\], got 'half'"),
    (dict(seed=-1), r"seed must be >= 0, got -1"),
    (dict(seed=2**64), r"seed must be <= 18446744073709551615"),
    (dict(weight="heavy"), r"weight must be a number \(homogeneous\), Uniform\(low, high\) or Normal\(mean, std\), got 'heavy'"),
    (dict(weight=float("inf")), r"weight must be a finite number, got inf"),
    (dict(weight=ns.Uniform(2.0, 1.0)), r"Uniform\(low, high\) needs low <= high"),
    (dict(weight=ns.Normal(0.0, -1.0)), r"Normal\(mean, std\) needs std >= 0"),
    (dict(autapses=1), r"autapses must be True or False, got 1"),
])
def test_bad_constructor_arguments(kwargs, match):
    args = dict(n_pre=10, n_post=10, p=0.1, seed=0) | kwargs
    n_pre, n_post, p, seed = (args.pop(k) for k in ("n_pre", "n_post", "p", "seed"))
    with pytest.raises(ValueError, match=match):
        JitConn(n_pre, n_post, p, seed, **args)


def test_bad_op_arguments():
    conn = JitConn(10, 8, 0.3, seed=1, weight=ns.Normal(0.0, 1.0))
    w = conn.weight_params()
    with pytest.raises(ValueError, match=r"spikes must have shape \(10,\) for this JitConn, got \(8,\)"):
        conn.propagate(w, jnp.ones(8, bool))
    with pytest.raises(ValueError, match=r"x must have shape \(8,\) for this JitConn, got \(10,\)"):
        conn.propagate_transposed(w, jnp.ones(10))
    with pytest.raises(ValueError, match=r"weights of a JitConn with Normal weights must be \[wa, wb\] of shape \(2,\), got shape \(\)"):
        conn.propagate(1.0, jnp.ones(10, bool))
    with pytest.raises(ValueError, match=r"homogeneous JitConn must be a scalar w or \[wa, wb\] of shape \(2,\), got shape \(3,\)"):
        JitConn(10, 8, 0.3).propagate(jnp.ones(3), jnp.ones(10, bool))
    with pytest.raises(ValueError, match=r"backend must be None, 'reference' or one of .*, got 'gpu-magic'"):
        conn.propagate(w, jnp.ones(10, bool), backend="gpu-magic")
    with pytest.raises(ValueError, match=r"i \(row\) must be <= 9, got 10"):
        conn.row(10)


def test_bad_network_arguments():
    pop = ns.Population("E", 10, LIF())
    conn = JitConn(10, 10, 0.3, seed=1, weight=ns.Uniform(0.0, 1.0))
    with pytest.raises(ValueError, match=r"Projection 'EE': short-term plasticity keeps state per synapse"):
        ns.Projection("EE", "E", "E", conn, stp=TsodyksMarkram())
    with pytest.raises(ValueError, match=r"Projection 'EE': weights of a JitConn with Uniform weights must be \[wa, wb\]"):
        ns.Projection("EE", "E", "E", conn, 0.5)
    with pytest.raises(ValueError, match=r"Projection 'EE': conn is 10 x 10 but pre 'E' has 10 neurons and post"):
        ns.Network([pop, ns.Population("F", 4, LIF())], [ns.Projection("EE", "E", "F", conn)])
    net = ns.Network([pop], [ns.Projection("EE", "E", "E", conn)])
    np.testing.assert_array_equal(net.params().projections["EE"].weights, [0.0, 1.0])
    params = net.params()
    params = params.with_weights({"EE": jnp.ones(5)})
    with pytest.raises(ValueError, match=r"params.projections\['EE'\].weights of a JitConn with Uniform "
                                         r"weights must be \[wa, wb\] of shape \(2,\), got shape \(5,\)"):
        ns.simulate(net, 1.0, 0.1, params=params)
    with pytest.raises(ValueError, match=r"FixedProbability.procedural must be True or False"):
        coba_like("yes")


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.parametrize("dist", sorted(WEIGHTS))
def test_gpu_kernel_matrix_equals_materialised_matrix(dist):
    # On the GPU machine: the CUDA kernel (kernels/cuda/jitconn.cu) draws the same matrix.
    gpu = jax.devices("gpu")[0]
    assert _kernels.ready("jitconn", "cuda"), "libjitconn_cuda.so did not load or register"
    eye = jax.device_put(jnp.eye(300, dtype=bool), gpu)
    x = jax.device_put(jnp.asarray(np.random.default_rng(0).normal(size=257), jnp.float32), gpu)
    for autapses in (True, False):
        conn = JitConn(300, 257, 0.05, seed=22, weight=WEIGHTS[dist], autapses=autapses)
        w = jax.device_put(jnp.asarray(conn.weight_params()), gpu)
        got = jax.jit(jax.vmap(conn.propagate, in_axes=(None, 0)))(w, eye)
        assert got.devices() == {gpu}
        assert_same_matrix(np.asarray(got), conn.to_dense())
        np.testing.assert_allclose(jax.jit(conn.propagate_transposed)(w, x), conn.to_dense() @ np.asarray(x), **TOL)
