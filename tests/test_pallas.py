"""The Pallas kernels, in Pallas' interpreter on the CPU: the CSR event products
(neurosim.events.pallas), pair STDP (neurosim.plasticity.kernels) and JitConn's products
(neurosim.events.pallas_jitconn). Each: values against a dense reference operator or an
independent evaluation (shapes that do not fill a block, homogeneous weights, bool spikes),
vmap, gradients (check_grads, and equal to the reference backend's), and a network on them
that spikes (and learns) as on the reference. JitConn's 64-bit hash in 32-bit words against
numpy's uint64, and its gaps by thresholds against the specification's logarithm."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import neurosim as ns
from neurosim.events import fixed_probability, propagate, propagate_transposed


def _dense(conn, w):
    d = np.zeros((conn.n_pre, conn.n_post))
    np.add.at(d, (np.asarray(conn.rows), np.asarray(conn.indices)), np.broadcast_to(np.asarray(w), (conn.nnz,)))
    return d


@pytest.mark.parametrize("n_pre,n_post,p", [(300, 200, 0.05), (7, 129, 0.3), (130, 5, 0.02), (1, 1, 1.0)])
def test_values_equal_the_dense_operator(n_pre, n_post, p):
    conn = fixed_probability(n_pre, n_post, p, seed=3).with_columns()
    rng = np.random.default_rng(4)
    w = jnp.asarray(rng.normal(size=conn.nnz), jnp.float32)
    s = jnp.asarray(rng.random(n_pre) < 0.3)
    x = jnp.asarray(rng.normal(size=n_post), jnp.float32)
    d = _dense(conn, w)
    np.testing.assert_allclose(propagate(conn, w, s, backend="pallas"), np.asarray(s, float) @ d, atol=1e-5)
    np.testing.assert_allclose(propagate(conn, w, s.astype(jnp.float32) * 0.5, backend="pallas"),
                               0.5 * np.asarray(s, float) @ d, atol=1e-5)
    np.testing.assert_allclose(propagate_transposed(conn, w, x, backend="pallas"), d @ np.asarray(x), atol=1e-5)
    np.testing.assert_allclose(propagate(conn, 0.25, s, backend="pallas"),
                               np.asarray(s, float) @ _dense(conn, 0.25), atol=1e-6)


def test_vmap_over_spikes_and_over_weights():
    conn = fixed_probability(150, 140, 0.1, seed=5).with_columns()
    rng = np.random.default_rng(6)
    w = jnp.asarray(rng.normal(size=(3, conn.nnz)), jnp.float32)
    s = jnp.asarray(rng.random((4, 150)) < 0.2, jnp.float32)
    out = jax.vmap(lambda sp: propagate(conn, w[0], sp, backend="pallas"))(s)
    np.testing.assert_allclose(out, np.asarray(s) @ _dense(conn, w[0]), atol=1e-5)
    out = jax.vmap(lambda ww: propagate(conn, ww, s[0], backend="pallas"))(w)
    np.testing.assert_allclose(out, np.stack([np.asarray(s[0]) @ _dense(conn, ww) for ww in w]), atol=1e-5)


def test_gradients_check_and_equal_the_reference_backend():
    conn = fixed_probability(60, 50, 0.2, seed=7).with_columns()
    rng = np.random.default_rng(8)
    w = jnp.asarray(rng.normal(size=conn.nnz), jnp.float32)
    s = jnp.asarray(rng.random(60) < 0.4, jnp.float32)
    x = jnp.asarray(rng.normal(size=50), jnp.float32)
    tol = dict(atol=2e-2, rtol=2e-2)
    check_grads(lambda w, s: propagate(conn, w, s, backend="pallas"), (w, s), order=1, modes=["rev"], **tol)
    check_grads(lambda w, x: propagate_transposed(conn, w, x, backend="pallas"), (w, x), order=1, modes=["rev"], **tol)
    c = jnp.asarray(rng.normal(size=50), jnp.float32)
    for backend_args in ((w, s),):
        gp = jax.grad(lambda w, s: propagate(conn, w, s, backend="pallas") @ c, argnums=(0, 1))(*backend_args)
        gr = jax.grad(lambda w, s: propagate(conn, w, s, backend="reference") @ c, argnums=(0, 1))(*backend_args)
        for a, b in zip(gp, gr):
            np.testing.assert_allclose(a, b, atol=1e-5)
    gp = jax.grad(lambda w, x: jnp.sum(propagate_transposed(conn, w, x, backend="pallas") ** 2), argnums=(0, 1))(w, x)
    gr = jax.grad(lambda w, x: jnp.sum(propagate_transposed(conn, w, x, backend="reference") ** 2), argnums=(0, 1))(w, x)
    for a, b in zip(gp, gr):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)


def test_a_network_on_the_pallas_kernels_spikes_as_on_the_reference():
    def net(backend):
        E = ns.Population("E", 80, ns.neurons.LIF(v_init=ns.Uniform(-60.0, -50.0)))
        P = ns.Population("P", 40, ns.inputs.PoissonSource(), ns.inputs.PoissonSource.Params(40.0))
        conn = fixed_probability(40, 80, 0.2, seed=9)
        return ns.Network([E, P], [ns.Projection("PE", "P", "E", conn, 60.0, backend=backend)])
    a = ns.simulate(net("pallas"), 50.0, key=1, monitors=[ns.Spikes("E")], engine="scan", progress=False)
    b = ns.simulate(net("reference"), 50.0, key=1, monitors=[ns.Spikes("E")], engine="scan", progress=False)
    assert len(b.spikes["E"][0]) > 20
    np.testing.assert_array_equal(a.spikes["E"][1], b.spikes["E"][1])
    np.testing.assert_allclose(a.spikes["E"][0], b.spikes["E"][0])


def test_refusals():
    conn = fixed_probability(20, 20, 0.2, seed=1)
    with pytest.raises(ValueError, match="needs the CSR's column index"):
        propagate(conn, 1.0, jnp.ones(20), backend="pallas")
    with pytest.raises(ValueError, match="'pallas' is reserved"):
        ns.events.register_backend("pallas", lambda *a: None)


# --------------------------------------------------------------------------- pair STDP as a Pallas kernel

from neurosim.plasticity.kernels import PairOptions, stdp_pair_events, stdp_pair_reference  # noqa: E402

OPTS = [PairOptions(0.0, 1.0, 0.0, 0.0, 0.0, 1.0), PairOptions(0.0, 1.0, 1.0, 1.0), PairOptions(0.0, 1.0, 0.5, 0.3, 0.1, 0.9)]


def _stdp_case(seed=0, n_pre=70, n_post=45):
    rng = np.random.default_rng(seed)
    conn = fixed_probability(n_pre, n_post, 0.2, seed=seed).with_columns()   # nnz not a multiple of the block
    f32 = jnp.float32
    return (conn, jnp.asarray(rng.uniform(0.2, 0.8, conn.nnz), f32), jnp.asarray(rng.random(n_pre) < 0.2, f32),
            jnp.asarray(rng.random(n_post) < 0.2, f32), jnp.asarray(rng.uniform(0, 2, n_pre), f32),
            jnp.asarray(rng.uniform(0, 2, n_post), f32))


@pytest.mark.parametrize("opts", OPTS, ids=["additive+clip", "soft", "guetig+clip"])
def test_pallas_stdp_values_equal_the_reference(opts):
    conn, w, pre, post, x, y = _stdp_case()
    assert conn.nnz % 1024 != 0
    got = stdp_pair_events(w, conn, pre, post, x, y, 0.3, 0.2, opts, backend="pallas")
    ref = stdp_pair_reference(w, conn.rows, conn.indices, pre, post, x, y, jnp.asarray([0.3, 0.2]), opts)
    # the same formula; the interpreter's program may round one operation differently: one ulp
    # of the weights' scale (1)
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=0, atol=1.2e-7)
    # an independent numpy evaluation of the rule (additive and soft-bounded forms)
    r, c = np.asarray(conn.rows), np.asarray(conn.indices)
    wn = np.asarray(w, float)
    f_plus = (opts.w_max - wn) ** opts.mu_plus
    f_minus = (wn - opts.w_min) ** opts.mu_minus
    dw = 0.3 * f_plus * np.asarray(post)[c] * np.asarray(x)[r] - 0.2 * f_minus * np.asarray(pre)[r] * np.asarray(y)[c]
    np.testing.assert_allclose(np.asarray(got), np.clip(wn + dw, opts.lo, opts.hi), rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(got), wn)


def test_pallas_stdp_vmap_equals_a_loop():
    conn, w, pre, post, x, y = _stdp_case(1)
    ws, pres = jnp.stack([w, w * 0.5, 1.0 - w]), jnp.stack([pre, pre[::-1], jnp.zeros_like(pre)])
    f = lambda w, s: stdp_pair_events(w, conn, s, post, x, y, 0.3, 0.2, OPTS[0], backend="pallas")
    np.testing.assert_allclose(np.asarray(jax.vmap(f)(ws, pres)), np.stack([np.asarray(f(a, b)) for a, b in zip(ws, pres)]),
                               rtol=0, atol=1.2e-7)          # one ulp of the weights' scale


def test_pallas_stdp_gradients_check_and_equal_the_reference():
    conn, w, pre, post, x, y = _stdp_case(2)
    opts = PairOptions(0.0, 1.0, 1.0, 1.0)     # smooth: soft bounds, no clip
    f = lambda w, x, y, amp, s: stdp_pair_events(w, conn, s, post, x, y, amp[0], amp[1], opts, backend="pallas")
    amp = jnp.asarray([0.3, 0.2])
    check_grads(f, (w, x, y, amp, pre), order=1, modes=("fwd", "rev"), atol=2e-2, rtol=2e-2, eps=1e-2)
    ref = lambda w, x, y, amp, s: stdp_pair_reference(w, conn.rows, conn.indices, s, post, x, y, amp, opts)
    g = jax.grad(lambda *a: jnp.sum(f(*a) ** 2), argnums=(0, 1, 2, 3))(w, x, y, amp, pre)
    g_ref = jax.grad(lambda *a: jnp.sum(ref(*a) ** 2), argnums=(0, 1, 2, 3))(w, x, y, amp, pre)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_a_plastic_network_on_pallas_learns_as_on_the_reference():
    """backend='pallas' on a projection routes its event product and its STDP update to the
    Pallas kernels; the weights after 100 ms equal the reference backend's."""
    def net(backend):
        P = ns.Population("P", 40, ns.inputs.PoissonSource(), ns.inputs.PoissonSource.Params(50.0))
        E = ns.Population("E", 30, ns.neurons.LIF(v_init=ns.Uniform(-60.0, -50.0)))
        conn = fixed_probability(40, 30, 0.3, seed=11)
        rule = ns.plasticity.chain(ns.plasticity.stdp_pair(0.01, 0.012, w_max=200.0), ns.plasticity.clip_weights(0.0, 200.0))
        return ns.Network([P, E], [ns.Projection("PE", "P", "E", conn, 120.0, backend=backend, plasticity=rule)])
    runs = [ns.simulate(net(b), 100.0, key=2, monitors=[ns.Spikes("E")], engine="scan", progress=False)
            for b in ("pallas", "reference")]
    assert len(runs[1].spikes["E"][0]) > 20
    wa, wb = (np.asarray(r.state.weights["PE"]) for r in runs)
    assert not np.allclose(wb, 120.0)                      # it learned
    np.testing.assert_allclose(wa, wb, rtol=1e-6)
    np.testing.assert_array_equal(runs[0].spikes["E"][1], runs[1].spikes["E"][1])


def test_pallas_stdp_backend_is_checked():
    conn, w, pre, post, x, y = _stdp_case(3)
    with pytest.raises(ValueError, match="backend must be None, 'kernel', 'pallas' or 'reference', got 'tpu'"):
        stdp_pair_events(w, conn, pre, post, x, y, 0.3, 0.2, OPTS[0], backend="tpu")


# --------------------------------------------------------------------------- JitConn as Pallas kernels

from neurosim.events import JitConn, pallas_jitconn as PJ  # noqa: E402
from neurosim.events.jitconn import _hash, _mix64  # noqa: E402


def _words(z):
    z = np.asarray(z, np.uint64)
    return PJ.U64(jnp.asarray((z >> np.uint64(32)).astype(np.uint32)), jnp.asarray((z & np.uint64(2**32 - 1)).astype(np.uint32)))


def _u64(u):
    return (np.asarray(u.hi).astype(np.uint64) << np.uint64(32)) | np.asarray(u.lo).astype(np.uint64)


def test_the_64_bit_hash_in_32_bit_words_equals_numpy_uint64():
    rng = np.random.default_rng(1)
    z = rng.integers(0, 2**64 - 1, 4000, dtype=np.uint64, endpoint=True)
    np.testing.assert_array_equal(_u64(PJ.mix64(_words(z))), _mix64(z.copy()))
    w = rng.integers(0, 2**64 - 1, 4000, dtype=np.uint64, endpoint=True)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(_u64(PJ.mul(_words(z), _words(w))), z * w)
        np.testing.assert_array_equal(_u64(PJ.add(_words(z), _words(w))), z + w)
    seed, rows, ks = 2**63 + 12345, rng.integers(0, 2**31 - 1, 500), rng.integers(0, 5000, 500)
    for stream in (0, 1, 2):
        base = PJ.row_hash(seed, stream, jnp.asarray(rows, jnp.int32))
        got = PJ.draw_hash(base, jnp.asarray(ks, jnp.uint32))
        np.testing.assert_array_equal(_u64(got), _hash(seed, stream, rows.astype(np.int64), ks.astype(np.uint64)))


@pytest.mark.parametrize("n_post,p", [(200, 0.05), (1000, 0.003), (50, 1.0), (300, 0.9)])
def test_gaps_by_thresholds_equal_the_specifications_logarithm(n_post, p):
    rng = np.random.default_rng(2)
    big = rng.integers(1, 2**53, 20000, endpoint=True)
    small = np.concatenate([np.arange(1, 200), 2**53 - np.arange(200), rng.integers(1, 2**20, 2000)])
    U = np.concatenate([big, small]).astype(np.uint64)
    with np.errstate(divide="ignore"):
        s = np.log(U.astype(np.float64) * 2.0**-53) / (np.log1p(-p) if p < 1 else -np.inf)
    want = np.where(s < n_post, s, n_post).astype(np.int64)
    b_hi, b_lo = PJ.gap_thresholds(n_post, p)
    got = PJ.gaps(_words(U), jnp.asarray(b_hi), jnp.asarray(b_lo), n_post)
    np.testing.assert_array_equal(np.asarray(got), want)
    assert want.max() > 0 or p == 1.0


JITCONNS = {
    "homogeneous": JitConn(60, 80, 0.1, seed=7, weight=0.5),
    "uniform, no autapses": JitConn(60, 60, 0.2, seed=8, weight=ns.Uniform(0.1, 0.6), autapses=False),
    "normal": JitConn(40, 90, 0.15, seed=2**62 + 9, weight=ns.Normal(0.3, 0.1)),
    "long rows (several chunks)": JitConn(9, 1500, 0.3, seed=10, weight=ns.Uniform(-1.0, 1.0)),
    "dense": JitConn(12, 20, 1.0, seed=11),
}


@pytest.mark.parametrize("name", list(JITCONNS))
def test_pallas_jitconn_values_equal_the_materialised_matrix(name):
    c = JITCONNS[name]
    d = c.to_dense().astype(np.float64)
    rng = np.random.default_rng(3)
    s = rng.random(c.n_pre) < 0.4
    x = rng.normal(size=c.n_post).astype(np.float32)
    w = c.weight_params()
    tol = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c.propagate(w, jnp.asarray(s), backend="pallas"), s @ d, **tol)
    np.testing.assert_allclose(c.propagate(w, jnp.asarray(s, jnp.float32) * 0.5, backend="pallas"), 0.5 * (s @ d), **tol)
    np.testing.assert_allclose(c.propagate_transposed(w, jnp.asarray(x), backend="pallas"), d @ x, **tol)
    # one spiking row lands on exactly that row's columns
    i = int(np.argmax(np.count_nonzero(d, axis=1)))
    one = np.zeros(c.n_pre, bool)
    one[i] = True
    out = np.asarray(c.propagate(w, jnp.asarray(one), backend="pallas"))
    cols, vals = c.row(i)
    assert cols.size > 0
    np.testing.assert_array_equal(np.flatnonzero(out), np.sort(cols[vals != 0]))
    np.testing.assert_allclose(out[cols], vals, rtol=2e-6 if c.dist == 2 else 0, atol=0)


def test_pallas_jitconn_vmap_over_spikes_and_weights():
    c = JITCONNS["uniform, no autapses"]
    d = c.to_dense().astype(np.float64)
    rng = np.random.default_rng(4)
    s = jnp.asarray(rng.random((3, c.n_pre)) < 0.3, jnp.float32)
    out = jax.vmap(lambda sp: c.propagate(c.weight_params(), sp, backend="pallas"))(s)
    np.testing.assert_allclose(out, np.asarray(s) @ d, rtol=1e-5, atol=1e-5)
    ws = jnp.asarray([[0.1, 0.5], [0.0, 1.0], [1.0, 0.0]], jnp.float32)
    out = jax.vmap(lambda w: c.propagate(w, s[0], backend="pallas"))(ws)
    np.testing.assert_allclose(out, np.stack([np.asarray(s[0]) @ c.to_dense(w) for w in ws]), rtol=1e-5, atol=1e-5)


def test_pallas_jitconn_gradients_check_and_equal_the_reference():
    c = JitConn(30, 40, 0.2, seed=12, weight=ns.Uniform(0.2, 0.8))
    rng = np.random.default_rng(5)
    s = jnp.asarray(rng.random(30) < 0.5, jnp.float32)
    x = jnp.asarray(rng.normal(size=40), jnp.float32)
    w = jnp.asarray(c.weight_params())
    tol = dict(atol=2e-2, rtol=2e-2)
    check_grads(lambda w, s: c.propagate(w, s, backend="pallas"), (w, s), order=1, modes=["rev"], **tol)
    check_grads(lambda w, x: c.propagate_transposed(w, x, backend="pallas"), (w, x), order=1, modes=["rev"], **tol)
    q = jnp.asarray(rng.normal(size=40), jnp.float32)
    event = lambda backend: jax.grad(lambda w, s: c.propagate(w, s, backend=backend) @ q, argnums=(0, 1))(w, s)
    back = lambda backend: jax.grad(lambda w, x: jnp.sum(c.propagate_transposed(w, x, backend=backend) ** 2),
                                    argnums=(0, 1))(w, x)
    for grads in (event, back):
        for a, b in zip(grads("pallas"), grads("reference")):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_a_jitconn_network_on_pallas_spikes_as_on_the_reference():
    def net(backend):
        P = ns.Population("P", 40, ns.inputs.PoissonSource(), ns.inputs.PoissonSource.Params(40.0))
        E = ns.Population("E", 64, ns.neurons.LIF(v_init=ns.Uniform(-60.0, -50.0)))
        return ns.Network([P, E], [ns.Projection("PE", "P", "E", JitConn(40, 64, 0.2, seed=13, weight=60.0),
                                                 backend=backend)])
    a, b = (ns.simulate(net(k), 50.0, key=1, monitors=[ns.Spikes("E")], engine="scan", progress=False)
            for k in ("pallas", "reference"))
    assert len(b.spikes["E"][0]) > 20
    np.testing.assert_array_equal(a.spikes["E"][1], b.spikes["E"][1])
    np.testing.assert_allclose(a.spikes["E"][0], b.spikes["E"][0])
