"""docs/migration_snntorch.md, checked. snnTorch's surrogate derivatives and its Leaky neuron are
written out here by hand, as snnTorch 1.0.0's source writes them (``snntorch/surrogate.py``,
``snntorch/_neurons/leaky.py``; snnTorch itself is not imported), and compared with neurosim:

- each scale relation of the page's table (``surrogate_derivative`` against snnTorch's formula),
  also for a membrane in mV; the shapes the page says have no equivalent;
- snnTorch's Leaky (every reset, both ``reset_delay``) against the page's claims about it;
- the page's blocks run (the tests of docs/test_docs.py do not list this page), then its ``leaky``
  helper, its ``from_snntorch`` converter and its ``SnnTorchLeaky`` model against the hand-written
  Leaky, and the gradient of a whole network against snnTorch's written out in JAX.
"""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from neurosim import train
from neurosim.neurons.spike import SURROGATES, surrogate_derivative
from test_docs import python_blocks

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "migration_snntorch.md"


# --------------------------------------------------------------------------- snnTorch, by hand
# d spike / d u with u = U - threshold (snnTorch's ``mem_shift``); ``xp`` is numpy or jax.numpy.

def snn_fast_sigmoid(u, slope=25.0, xp=np):
    return 1.0 / (slope * xp.abs(u) + 1.0) ** 2


def snn_atan(u, alpha=2.0, xp=np):            # also a Leaky's default spike_grad
    return alpha / 2 / (1 + (xp.pi / 2 * alpha * u) ** 2)


def snn_sigmoid(u, slope=25.0, xp=np):
    e = xp.exp(-slope * u)
    return slope * e / (e + 1) ** 2


def snn_straight_through(u, xp=np):
    return xp.ones_like(u)


def snn_triangular(u, threshold=1.0, xp=np):
    return xp.where(u >= 0, -threshold, threshold) * xp.ones_like(u)


def snn_spike_rate_escape(u, beta=1.0, slope=25.0, xp=np):
    return slope * xp.exp(-beta * xp.abs(u - 1))


def snn_heaviside(u, xp=np):                  # surrogate.heaviside(): grad_output * out
    return (u > 0).astype(u.dtype)


def snn_leaky(inputs, beta, threshold=1.0, reset="subtract", reset_delay=True):
    """snnTorch's ``Leaky.forward`` over the first axis of ``inputs`` (the input current of each
    step): ``(spikes, membranes)`` as it returns them."""
    mem = np.zeros(inputs.shape[1:], np.float64)
    spikes, mems = [], []
    for cur in np.asarray(inputs, np.float64):
        r = (mem - threshold > 0).astype(np.float64)          # mem_reset: from the last step's mem, detached
        if reset == "subtract":
            mem = beta * mem + cur - r * threshold
        elif reset == "zero":
            mem = beta * (1 - r) * mem + cur
        else:
            mem = beta * mem + cur
        spk = (mem - threshold > 0).astype(np.float64)
        if not reset_delay:
            do_reset = spk - r
            if reset == "subtract":
                mem = mem - do_reset * threshold
            elif reset == "zero":
                mem = mem - do_reset * mem
        spikes.append(spk)
        mems.append(mem)
    return np.stack(spikes), np.stack(mems)


# (neurosim surrogate, snnTorch formula, its parameters, neurosim's k, neurosim / snnTorch)
RELATIONS = (
    [("fast_sigmoid", snn_fast_sigmoid, {"slope": s}, s, s) for s in (25.0, 3.0, 0.5)]
    + [("arctan", snn_atan, {"alpha": a}, a / 2, 1.0) for a in (2.0, 5.0, 0.3)]
    + [("sigmoid", snn_sigmoid, {"slope": s}, s / 4, 1.0) for s in (25.0, 4.0, 1.0)]
    + [("straight_through", snn_straight_through, {}, 1.0, 1.0)]
)
U = np.concatenate([np.linspace(-2.0, 2.0, 801), [0.0, 1e-6, -1e-6]])


@pytest.mark.parametrize("name, snn, kw, k, ratio", RELATIONS,
                         ids=[f"{r[0]}-{r[1].__name__}{tuple(r[2].values())}" for r in RELATIONS])
def test_surrogate_scale_relation(name, snn, kw, k, ratio, x64):
    """The page's table: neurosim's shape at k equals ``ratio`` times snnTorch's, everywhere."""
    got, want = np.asarray(surrogate_derivative(name, U, k)), ratio * snn(U, **kw)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13 * want.max())   # (atol: the sigmoid's far tail)


@pytest.mark.parametrize("a", [10.0, 0.1, 3.7])
@pytest.mark.parametrize("name, snn, kw, k, ratio", RELATIONS[::3] + RELATIONS[-1:])
def test_surrogate_relation_with_a_membrane_in_mv(name, snn, kw, k, ratio, a, x64):
    """``V = v_rest + a U``: neurosim's scale per mV is ``k / a``, and its derivative per unit of U
    (``a`` times the one per mV) is the same as with a dimensionless membrane."""
    per_mv, want = np.asarray(surrogate_derivative(name, a * U, k / a)), ratio * snn(U, **kw)
    np.testing.assert_allclose(per_mv * a, want, rtol=1e-12, atol=1e-13 * want.max())


def test_heights_at_threshold(x64):
    """neurosim: every shape has height k at threshold. snnTorch: fast_sigmoid 1, atan alpha/2,
    sigmoid slope/4, straight-through 1."""
    for name in SURROGATES:
        if name != "heaviside":
            assert float(surrogate_derivative(name, 0.0, 7.0)) == pytest.approx(7.0, rel=1e-12)
    zero = np.zeros(1)
    assert snn_fast_sigmoid(zero, 9.0)[0] == 1.0
    assert snn_atan(zero, 5.0)[0] == 2.5
    assert snn_sigmoid(zero, 9.0)[0] == pytest.approx(9.0 / 4)
    assert snn_straight_through(zero)[0] == 1.0


def test_shapes_without_an_equivalent(x64):
    """snnTorch's triangular is a sign (negative above threshold, never zero); its spike-rate escape
    peaks one unit above threshold; its heaviside passes 1 where the neuron spiked. No neurosim
    shape, at any scale, is negative, peaks off threshold, or (``heaviside``) passes anything."""
    tri = snn_triangular(U, 2.0)
    assert np.all(tri[U >= 0] == -2.0) and np.all(tri[U < 0] == 2.0)
    esc = snn_spike_rate_escape(U, 1.0, 25.0)
    assert U[np.argmax(esc)] == pytest.approx(1.0) and esc[U == 0.0][0] == pytest.approx(25.0 * np.exp(-1.0))
    assert np.all(snn_heaviside(U)[U > 0] == 1.0)
    for name in SURROGATES:
        for k in (0.1, 1.0, 10.0):
            sig = np.asarray(surrogate_derivative(name, U, k))
            assert np.all(sig >= 0)
            if name == "heaviside":
                assert not np.any(sig)
            elif name != "straight_through":
                assert sig[U == 0.0][0] == sig.max()          # the peak is at threshold


# --------------------------------------------------------------------------- snnTorch's resets

def _currents(t=80, n=30, seed=0, mean=0.35, std=0.6):
    return np.random.default_rng(seed).normal(mean, std, (t, n))


def test_zero_reset_delayed_or_not_gives_the_same_spikes():
    cur = _currents()
    s1, m1 = snn_leaky(cur, 0.8, reset="zero", reset_delay=True)
    s2, m2 = snn_leaky(cur, 0.8, reset="zero", reset_delay=False)
    assert s1.sum() > 100 and np.array_equal(s1, s2)
    np.testing.assert_allclose(m2, m1 * (1 - s1))               # the reset recorded at once, or a step later


def test_the_two_subtractions():
    """The page: snnTorch's default subtracts the threshold after the next leak, and an immediate
    ``v -= v_th / beta`` reproduces it; ``reset_delay=False`` is an immediate ``v -= v_th`` (the
    subtraction decays) while the membrane after a reset stays below threshold, and a mixture of
    the two when it does not."""
    beta, th = 0.8, 1.0
    rng = np.random.default_rng(0)

    def immediate(cur, sub):
        v, out = np.zeros(cur.shape[1]), []
        for c in cur:
            v = beta * v + c
            s = (v - th > 0).astype(float)
            v = v - s * sub
            out.append(s)
        return np.stack(out)

    cur = rng.uniform(0.0, 0.45, (200, 30))      # below (2 - beta) threshold: a reset ends below threshold
    s_delay, _ = snn_leaky(cur, beta, th, "subtract", True)
    s_now, _ = snn_leaky(cur, beta, th, "subtract", False)
    assert s_delay.sum() > 200 and not np.array_equal(s_delay, s_now)
    assert np.array_equal(immediate(cur, th), s_now)
    assert np.array_equal(immediate(cur, th / beta), s_delay)
    # stronger inputs: the default is still v -= v_th / beta; reset_delay=False is neither form
    cur = _currents(mean=0.8)
    s_delay, _ = snn_leaky(cur, beta, th, "subtract", True)
    s_now, _ = snn_leaky(cur, beta, th, "subtract", False)
    assert np.array_equal(immediate(cur, th / beta), s_delay)
    assert not np.array_equal(immediate(cur, th), s_now) and not np.array_equal(s_delay, s_now)
    # without leak the two coincide (while a reset ends below threshold)
    cur = rng.uniform(0.0, 0.9, (200, 30))
    s_delay, _ = snn_leaky(cur, 1.0, th, "subtract", True)
    assert s_delay.sum() > 1000 and np.array_equal(s_delay, snn_leaky(cur, 1.0, th, "subtract", False)[0])


# --------------------------------------------------------------------------- the page's code

@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The page's python blocks, run in order in one namespace (as tests/test_docs.py runs a page)."""
    import os
    namespace = {"__name__": "docs_migration_snntorch"}
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("page"))
    try:
        for first_line, source in python_blocks(PAGE.read_text()):
            # dont_inherit: not this file's `from __future__ import annotations` (the page's dataclass
            # would get string annotations, which dataclasses resolve through sys.modules[__name__])
            exec(compile("\n" * (first_line - 1) + source, str(PAGE), "exec", dont_inherit=True), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def test_page_resets_by_subtraction_with_the_equations_front_end(page):
    text = PAGE.read_text()
    assert "## Reset by subtraction and integrate-and-fire without leak" in text and 'reset="v -= v_th"' in text
    assert page["if_neuron"].integration_method == "exact"


def test_page_trains(page):
    history = page["history"]
    assert len(history["val_acc"]) == 10 and history["val_acc"][-1] > 0.8


def _layer_trace(layer, x):
    """Run one layer step by step: (spikes, membrane) (T, B, n)."""
    carry = layer.init_carry(x.shape[1])
    zs, vs = [], []
    for t in range(x.shape[0]):
        carry, z = layer.step(carry, jnp.asarray(x[t]), 1.0)
        zs.append(np.asarray(z))
        vs.append(np.asarray(layer.neuron.voltage(carry[0])))
    return np.stack(zs), np.stack(vs)


def _weights(n_in, n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return (scale * rng.normal(0, 1 / np.sqrt(n_in), (n, n_in))).astype(np.float32), \
        (0.1 * rng.normal(size=n)).astype(np.float32)


@pytest.mark.parametrize("beta", [0.9, 0.5])
def test_page_leaky_is_snntorchs_zero_reset(page, beta):
    """The ``leaky`` helper: snnTorch's weights, snnTorch's spikes, and snnTorch's membrane with
    ``reset_delay=False`` (the delayed one wherever no spike was recorded)."""
    w, b = _weights(12, 20, 1, scale=3.0)
    x = (np.random.default_rng(2).random((60, 3, 12)) < 0.3).astype(np.float32)
    neuron, params = page["leaky"](beta, threshold=1.0)
    layer = train.SpikingLayer(12, 20, neuron=neuron, params=params, rngs=nnx.Rngs(0))
    layer.w[...], layer.b[...] = jnp.asarray(w.T), jnp.asarray(b)
    z, v = _layer_trace(layer, x)
    cur = x @ w.T + b
    s_delay, m_delay = snn_leaky(cur, beta, 1.0, "zero", True)
    s_now, m_now = snn_leaky(cur, beta, 1.0, "zero", False)
    assert 0.05 < z.mean() < 0.6 and np.array_equal(z, s_delay) and np.array_equal(z, s_now)
    np.testing.assert_allclose(v, m_now, atol=2e-5)
    np.testing.assert_allclose(v[z == 0], m_delay[z == 0], atol=2e-5)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("beta", [0.8, 1.0])
def test_page_model_is_snntorchs_leaky(page, reset, beta):
    """``SnnTorchLeaky`` in a SpikingLayer: snnTorch's Leaky (reset_delay=True), spikes and membrane,
    every reset, with and without leak."""
    w, b = _weights(10, 16, 3, scale=2.0)
    x = (np.random.default_rng(4).random((70, 2, 10)) < 0.25).astype(np.float32)
    params = page["SnnTorchLeakyParams"](beta=beta, threshold=1.0)
    layer = train.SpikingLayer(10, 16, neuron=page["SnnTorchLeaky"](reset), params=params, rngs=nnx.Rngs(0))
    layer.w[...], layer.b[...] = jnp.asarray(w.T), jnp.asarray(b)
    z, v = _layer_trace(layer, x)
    s, m = snn_leaky(x @ w.T + b, beta, 1.0, reset, True)
    assert 0.05 < z.mean() < 0.9 and np.array_equal(z, s)
    np.testing.assert_allclose(v, m, rtol=1e-5, atol=1e-4)


def test_page_integrate_and_fire_counts(page):
    """The page's printed counts: subtract 12, zero 10 (0.43 per step, 30 steps, no leak)."""
    cur = np.full((30, 1), 0.43)
    assert snn_leaky(cur, 1.0, 1.0, "subtract")[0].sum() == 12
    assert snn_leaky(cur, 1.0, 1.0, "zero")[0].sum() == 10
    for reset, count in (("subtract", 12), ("zero", 10)):
        layer = train.SpikingLayer(1, 1, neuron=page["SnnTorchLeaky"](reset), params=page["SnnTorchLeakyParams"](beta=1.0),
                                   bias=False, rngs=nnx.Rngs(0))
        layer.w[...] = jnp.full((1, 1), 0.43)
        assert int(train.SpikingNetwork(layer)(jnp.ones((30, 1, 1))).counts[0].sum()) == count


# --------------------------------------------------------------------------- a whole network's gradient

def _snn_spike(derivative):
    """snnTorch's spike: forward ``u > 0``, backward ``derivative(u)`` (its surrogate)."""
    @jax.custom_jvp
    def f(u):
        return (u > 0).astype(u.dtype)

    @f.defjvp
    def _(primals, tangents):
        (u,), (du,) = primals, tangents
        return f(u), derivative(u) * du
    return f


def snn_network_loss(weights, x, labels, beta, derivative, threshold=1.0):
    """snnTorch's Linear -> Leaky(beta, "zero", spike_grad) -> Linear -> Leaky(beta, "none") with
    ``ce_max_membrane_loss``, written out in JAX as snnTorch computes it (reset from the last
    step's membrane, detached)."""
    w1, b1, w2, b2 = weights
    spike = _snn_spike(derivative)
    mem1 = jnp.zeros((x.shape[1], w1.shape[0]))
    mem2 = jnp.zeros((x.shape[1], w2.shape[0]))
    ys, zs = [], []
    for t in range(x.shape[0]):
        r = jax.lax.stop_gradient((mem1 - threshold > 0).astype(mem1.dtype))
        mem1 = beta * (1 - r) * mem1 + x[t] @ w1.T + b1[None]
        z = spike(mem1 - threshold)
        mem2 = beta * mem2 + z @ w2.T + b2[None]
        ys.append(mem2)
        zs.append(z)
    y = jnp.stack(ys)
    return optax.softmax_cross_entropy_with_integer_labels(y.max(axis=0), labels).mean(), (y, jnp.stack(zs))


CASES = [("fast_sigmoid", lambda u: snn_fast_sigmoid(u, 10.0, jnp), 10.0, 10.0),     # k = s: s times
         ("arctan", lambda u: snn_atan(u, 2.0, jnp), 1.0, 1.0),                     # k = alpha / 2: equal
         ("sigmoid", lambda u: snn_sigmoid(u, 8.0, jnp), 2.0, 1.0)]                 # k = s / 4: equal


@pytest.mark.parametrize("surrogate, derivative, k, ratio", CASES, ids=[c[0] for c in CASES])
def test_page_converted_network_gradient(page, surrogate, derivative, k, ratio):
    """``from_snntorch``: the same readout trace and spikes as snnTorch's network, and the gradient
    of the hidden weights ``ratio`` (k for fast_sigmoid, 1 otherwise) times snnTorch's, the
    readout's equal (no spike between it and the loss)."""
    beta = 0.9
    w1, b1 = _weights(16, 32, 5, scale=3.0)
    w2, b2 = _weights(32, 4, 6)
    x = jnp.asarray((np.random.default_rng(7).random((30, 8, 16)) < 0.3).astype(np.float32))
    labels = jnp.asarray(np.random.default_rng(8).integers(0, 4, 8))
    weights = tuple(jnp.asarray(a) for a in (w1, b1, w2, b2))
    (loss_s, (y_s, z_s)), g_s = jax.value_and_grad(snn_network_loss, has_aux=True)(weights, x, labels, beta, derivative)

    state = {"fc1.weight": w1, "fc1.bias": b1, "fc2.weight": w2, "fc2.bias": b2}
    net = page["from_snntorch"](state, beta, surrogate=surrogate, slope=k)
    net.record_spikes = True
    ce = train.CrossEntropy("max")
    out = net(x)
    assert 0.05 < float(z_s.mean()) < 0.5 and np.array_equal(np.asarray(out.spikes[0]), np.asarray(z_s))
    np.testing.assert_allclose(np.asarray(out.y), np.asarray(y_s), rtol=1e-5, atol=1e-5)

    graphdef, params, rest = nnx.split(net, nnx.Param, ...)
    loss_n, g = jax.value_and_grad(lambda p: ce(nnx.merge(graphdef, p, rest)(x), labels))(params)
    assert float(loss_n) == pytest.approx(float(loss_s), rel=1e-5)
    hidden, readout = g["layers"][0], g["layers"][1]
    gw, gb = np.asarray(g_s[0]).T, np.asarray(g_s[1])
    assert np.all(np.isfinite(hidden["w"][...])) and np.all(np.isfinite(hidden["b"][...]))
    if surrogate == "sigmoid":        # snnTorch's e^{-s u} overflows in float32 for u < -88 / s: NaN gradients there
        assert np.isnan(gb).any()
    ok = np.isfinite(gw)
    assert ok.mean() > 0.5 and np.array_equal(np.isfinite(gb), ok.all(axis=0))
    np.testing.assert_allclose(np.asarray(hidden["w"][...])[ok], ratio * gw[ok], rtol=1e-3, atol=1e-6 * ratio)
    np.testing.assert_allclose(np.asarray(hidden["b"][...])[ok.all(axis=0)], ratio * gb[ok.all(axis=0)], rtol=1e-3,
                               atol=1e-6 * ratio)
    np.testing.assert_allclose(np.asarray(readout["w"][...]), np.asarray(g_s[2]).T, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.asarray(readout["b"][...]), np.asarray(g_s[3]), rtol=1e-4, atol=1e-7)
    assert np.abs(gw[ok]).max() > 1e-4                                        # the gradient reaches the hidden layer
