"""neurosim.train.astro (AstrocyteLayer) and neurosim.train.datasets.cue_recall: the layer
against its equations written out in numpy, without astrocyte feedback equal to a SpikingLayer,
its gradient against a hand-written JAX loop of the same equations, gradients reaching the
astrocyte parameters through time; the task's structure, seeding and bad input."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from neurosim.neurons.spike import spike
from neurosim.train import AstrocyteLayer, AstrocyteParams, LeakyReadout, SpikingLayer, SpikingNetwork, cue_recall

N_IN, N, M, T, B = 6, 8, 3, 40, 2


def _layer(dtype=jnp.float64, **kw):
    layer = AstrocyteLayer(N_IN, N, n_astrocytes=M, tau_astrocyte=30.0, recurrent="dense", w_std=2.0,
                           w_an_std=1.5, rngs=nnx.Rngs(0), **kw)
    for _, p in nnx.iter_graph(layer):
        if isinstance(p, (nnx.Param, AstrocyteParams)):
            p.set_value(p.get_value().astype(dtype))
    return layer


def _inputs(dtype=jnp.float64, seed=1):
    return (jax.random.uniform(jax.random.key(seed), (T, B, N_IN)) < 0.3).astype(dtype)


def _run(layer, x, dt=1.0):
    carry = layer.init_carry(B)
    zs = []
    for t in range(x.shape[0]):
        carry, z = layer.step(carry, x[t], dt)
        zs.append(z)
    return jnp.stack(zs), carry


def test_equals_its_equations_in_numpy(x64):
    layer, x = _layer(), _inputs()
    z, (_, _, a_end) = _run(layer, x)
    w, b, w_rec = (np.asarray(layer.w[...]), np.asarray(layer.b[...]), np.asarray(layer.w_rec[...]))
    w_na, w_an = np.asarray(layer.w_na[...]), np.asarray(layer.w_an[...])
    kappa, lam = math.exp(-1.0 / 10.0), math.exp(-1.0 / 30.0)     # membrane tau 10 ms (lif()), astrocyte 30 ms
    v, z_prev, a, out = np.zeros((B, N)), np.zeros((B, N)), np.zeros((B, M)), []
    for t in range(T):
        i = np.asarray(x[t]) @ w + b + z_prev @ w_rec + a @ w_an
        v = kappa * v + (1 - kappa) * i
        s = (v >= 1.0).astype(float)
        v = v * (1 - s)
        a = lam * a + (1 - lam) * (s @ w_na)
        z_prev = s
        out.append(s)
    out = np.stack(out)
    assert out.sum() > 10 and (out.sum(axis=(0, 1)) > 0).sum() >= N // 2        # the layer fires
    np.testing.assert_array_equal(np.asarray(z), out)
    np.testing.assert_allclose(np.asarray(a_end), a, rtol=1e-12, atol=1e-12)


def test_without_astrocyte_feedback_it_is_a_spiking_layer(x64):
    astro, x = _layer(), _inputs()
    astro.w_an[...] = jnp.zeros_like(astro.w_an[...])
    plain = SpikingLayer(N_IN, N, recurrent="dense", w_std=2.0, rngs=nnx.Rngs(0))
    for name in ("w", "b", "w_rec"):
        getattr(plain, name).set_value(getattr(astro, name).get_value())
    z_astro, _ = _run(astro, x)
    z_plain, _ = _run(plain, x)
    assert float(jnp.sum(z_plain)) > 10
    np.testing.assert_array_equal(np.asarray(z_astro), np.asarray(z_plain))


def test_gradient_equals_a_hand_written_loop(x64):
    # jax.grad through the layer in a SpikingNetwork equals jax.grad of the equations written as
    # a plain Python loop with the same surrogate spike: the layer's wiring (which matrix, which
    # side, which time constant) is what is tested
    layer, x = _layer(), _inputs()
    readout = LeakyReadout(N, 2, tau=5.0, rngs=nnx.Rngs(1))
    for _, p in nnx.iter_graph(readout):
        if isinstance(p, nnx.Param):
            p.set_value(p.get_value().astype(jnp.float64))
    net = SpikingNetwork(layer, readout)
    graphdef, params, rest = nnx.split(net, (nnx.Param, AstrocyteParams), ...)

    def via_network(p):
        return jnp.sum(jnp.square(nnx.merge(graphdef, p, rest)(x).y))

    def by_hand(p):
        lp, rp = p["layers"][0], p["layers"][1]
        slope = float(layer.params.get_value().slope)
        kappa = math.exp(-1.0 / 10.0)
        v, z, a, y, total = (jnp.zeros((B, N)), jnp.zeros((B, N)), jnp.zeros((B, M)), jnp.zeros((B, 2)), 0.0)
        lam = jnp.exp(-1.0 / lp["tau_a"][...])[None]
        for t in range(T):
            i = x[t] @ lp["w"][...] + lp["b"][...][None] + z @ lp["w_rec"][...] + a @ lp["w_an"][...]
            v = kappa * v + (1 - kappa) * i
            z = spike(v - 1.0, slope, "fast_sigmoid")
            v = v * (1 - jax.lax.stop_gradient(z))                   # detach_reset
            a = lam * a + (1 - lam) * (z @ lp["w_na"][...])
            y = math.exp(-1.0 / 5.0) * y + z @ rp["w"][...] + rp["b"][...][None]
            total = total + jnp.sum(jnp.square(y))
        return total

    np.testing.assert_allclose(float(via_network(params)), float(by_hand(params)), rtol=1e-12)
    g_net, g_hand = jax.grad(via_network)(params), jax.grad(by_hand)(params)
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(g_net)[0], jax.tree.leaves(g_hand)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12,
                                   err_msg=jax.tree_util.keystr(path))
    lp = g_net["layers"][0]
    for name in ("w_na", "w_an", "tau_a"):          # the gradient reaches the astrocytes through time
        leaf = np.asarray(lp[name][...])
        assert np.all(np.isfinite(leaf)) and np.any(leaf != 0), name


def test_defaults_and_bad_arguments():
    layer = AstrocyteLayer(4, 10, rngs=nnx.Rngs(0))
    assert layer.m == 2 and layer.w_na[...].shape == (10, 2) and layer.w_an[...].shape == (2, 10)
    np.testing.assert_allclose(np.asarray(layer.tau_a.get_value()), 500.0)
    carry = layer.init_carry(3)
    assert carry[2].shape == (3, 2)
    with pytest.raises(ValueError, match="tau_astrocyte must be one positive finite time in ms or 2 of them"):
        AstrocyteLayer(4, 10, tau_astrocyte=-1.0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="tau_astrocyte"):
        AstrocyteLayer(4, 10, tau_astrocyte=[10.0, 20.0, 30.0], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="n_astrocytes"):
        AstrocyteLayer(4, 10, n_astrocytes=0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="w_an_std"):
        AstrocyteLayer(4, 10, w_an_std=0.0, rngs=nnx.Rngs(0))


# the cue-recall task ------------------------------------------------------------------------------

def test_cue_recall_structure_and_seed():
    n, g = 400, 10
    x, labels = cue_recall(n, delay=50, group=g, cue_steps=20, recall_steps=10, cue_hz=200.0, noise_hz=10.0, seed=3)
    assert x.shape == (n, 80, 3 * g) and x.dtype == np.float32 and labels.dtype == np.int32
    assert np.bincount(labels).tolist() == [200, 200]
    assert set(np.unique(x)) <= {0.0, 1.0}
    for c in (0, 1):
        cue = x[labels == c, :20]
        np.testing.assert_allclose(cue[..., c * g:(c + 1) * g].mean(), 0.2, atol=0.01)       # 200 Hz at 1 ms
        np.testing.assert_allclose(cue[..., (1 - c) * g:(2 - c) * g].mean(), 0.01, atol=0.004)  # noise only
    np.testing.assert_allclose(x[:, 20:70].mean(), 0.01, atol=0.002)                        # the delay: noise
    np.testing.assert_allclose(x[:, 70:, 2 * g:].mean(), 0.2, atol=0.01)                    # the recall signal
    np.testing.assert_allclose(x[:, 70:, :2 * g].mean(), 0.01, atol=0.003)
    # nothing after the cue tells the classes apart
    late = x[:, 20:].mean(axis=(1, 2))
    assert abs(late[labels == 0].mean() - late[labels == 1].mean()) < 0.002
    again = cue_recall(n, delay=50, group=g, cue_steps=20, recall_steps=10, cue_hz=200.0, noise_hz=10.0, seed=3)
    np.testing.assert_array_equal(again[0], x)
    np.testing.assert_array_equal(again[1], labels)
    assert not np.array_equal(cue_recall(n, delay=50, group=g, seed=4)[1], cue_recall(n, delay=50, group=g, seed=3)[1])


def test_cue_recall_is_chance_without_memory():
    # the recall window alone holds nothing about the class (comparing the cue groups' counts
    # there is at chance); the cue window holds it all
    x, labels = cue_recall(600, delay=30, seed=0)
    window = x[:, -20:]
    guess = (window[..., 10:20].sum((1, 2)) > window[..., :10].sum((1, 2))).astype(int)
    assert abs(np.mean(guess == labels) - 0.5) < 0.08
    cue = x[:, :20]
    assert np.mean((cue[..., 10:20].sum((1, 2)) > cue[..., :10].sum((1, 2))) == labels) > 0.95


def test_cue_recall_bad_input():
    with pytest.raises(ValueError, match="n_samples"):
        cue_recall(0)
    with pytest.raises(ValueError, match="n_classes"):
        cue_recall(10, n_classes=1)
    with pytest.raises(ValueError, match="delay"):
        cue_recall(10, delay=-1)
    with pytest.raises(ValueError, match="noise_hz must be >= 0"):
        cue_recall(10, noise_hz=-5.0)
    with pytest.raises(ValueError, match="must stay below one spike per step"):
        cue_recall(10, cue_hz=2000.0)
