"""The Pallas event kernels (neurosim.events.pallas), in Pallas' interpreter on the CPU: values
against a dense reference operator (shapes that do not fill a block, empty rows and columns,
homogeneous weights, bool spikes), vmap, gradients (check_grads in reverse mode, and equal to
the reference backend's), and a network whose projection runs on them spiking as the reference
does."""
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
