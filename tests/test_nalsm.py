"""The NALSM astrocyte and astrocyte-modulated STDP (neurosim.astrocytes.nalsm): the exact
discrete relaxation of A under constant spike counts (docs/papers.md section 7.4, check 1), the
pair-timing signs and sizes of the rule (check 2), a numpy replay of the rule in a network, the
trend that a stronger astrocyte depresses a liquid more, the branching factor against a direct
count, and bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim import plasticity as pl
from neurosim.astrocytes import astrocyte_stdp, branching_factor, nalsm_astrocyte
from neurosim.inputs import PoissonSource, SpikeTimes
from neurosim.neurons import LIF, LIFParams
from neurosim.synapses import Synapse, SynapseParams
from neurosim.synapses.dynamics import SynapseShape, SynapticEvents

M, JUMP, ETA = 0.905, 0.1, 0.15


def _every_step(n, steps):
    ids = np.tile(np.arange(n), steps)
    return SpikeTimes(np.repeat(np.arange(steps) + 0.5, n), ids)


def test_astrocyte_relaxes_exactly_under_constant_counts():
    # 5 liquid and 2 input spikes every step: A[t] = A* + (A0 - A*)(1 - 1/tau_A)^t, A* = b_A + 3 w_A
    steps, w_a, b_a, tau_a = 400, 0.04, 0.15, 100.0
    pops = [ns.Population("liquid", 5, _every_step(5, steps)), ns.Population("inputs", 2, _every_step(2, steps))]
    astro = nalsm_astrocyte("A", liquid="liquid", inputs="inputs", w_a=w_a, b_a=b_a, tau_a=tau_a)
    net = ns.Network(pops, modulators=[astro])
    res = ns.simulate(net, float(steps), 1.0, monitors=[ns.Observe("A", lambda s, spk: s.modulators["A"].value)])
    a = np.asarray(res.observed["A"][1], float)
    t = np.arange(steps)                 # the value after step t is A[t]
    a_star = b_a + 3 * w_a
    np.testing.assert_allclose(a, a_star + (b_a - a_star) * (1 - 1 / tau_a) ** t, rtol=1e-5)
    assert a[-1] == pytest.approx(a_star, rel=0.02)


def _events(pre, post, conn, a):
    return SynapticEvents(jnp.asarray(pre, jnp.float32), jnp.asarray(post, jnp.float32), conn,
                          jnp.zeros((), jnp.int32), 1.0, 5.0, {"A": jnp.float32(a)})


@pytest.mark.parametrize("presynaptic", ["excitatory", "inhibitory"])
def test_pair_timing(presynaptic):
    # a pair 3 steps apart: pre first changes an excitatory weight by +eta_+ jump m^3, post first by
    # -A jump m^3; an inhibitory presynaptic neuron swaps the signs (and the rates)
    conn = ns.events.from_arrays([0], [0], 1, 1)
    rule = astrocyte_stdp("A", presynaptic=presynaptic)
    a = 0.4

    def total(first, second):
        state = rule.init(rule.params, SynapseShape(1, 1, 1, jnp.float32))
        dw_sum = 0.0
        for k in range(5):
            pre = [1.0] if (first == "pre" and k == 0) or (second == "pre" and k == 3) else [0.0]
            post = [1.0] if (first == "post" and k == 0) or (second == "post" and k == 3) else [0.0]
            dw, state = rule.update(rule.params, jnp.zeros(1), state, jnp.ones(1), _events(pre, post, conn, a))
            dw_sum += float(dw[0])
        return dw_sum

    ltp, ltd = total("pre", "post"), total("post", "pre")
    if presynaptic == "excitatory":
        assert ltp == pytest.approx(ETA * JUMP * M ** 3, rel=1e-5)
        assert ltd == pytest.approx(-a * JUMP * M ** 3, rel=1e-5)
    else:
        assert ltp == pytest.approx(-a * JUMP * M ** 3, rel=1e-5)
        assert ltd == pytest.approx(ETA * JUMP * M ** 3, rel=1e-5)


def _liquid(w_a, seed=0, n=60, n_in=40, steps=3000):
    n_e = int(0.8 * n)
    rec = ns.events.fixed_probability(n, n, 0.15, seed=seed, autapses=False)
    rows, cols = np.asarray(rec.rows), np.asarray(rec.indices)
    ee = rows < n_e
    exc = ns.events.from_arrays(rows[ee], cols[ee], n_e, n)
    inh = ns.events.from_arrays(rows[~ee] - n_e, cols[~ee], n - n_e, n)
    inp = ns.events.fixed_probability(n_in, n, 0.3, seed=seed + 1)
    delta = dict(synapse=Synapse("delta", "current"), syn_params=SynapseParams(tau=1.0))
    lif = LIFParams(v_rest=0.0, v_reset=0.0, v_th=20.0, c_m=64.0, g_l=1.0, t_ref=2.0)
    pops = [ns.Population("inputs", n_in, PoissonSource(), PoissonSource.Params(40.0)),
            ns.Population("liquid", n, LIF(v_init=0.0), lif)]
    w0 = 3.0 * 64.0
    exc_rule = pl.chain(astrocyte_stdp("A", eta_plus=0.15 * 64.0), pl.clip_weights(0.0, w0))
    projs = [ns.Projection("exc", ("liquid", 0, n_e), "liquid", exc, w0, plasticity=exc_rule, **delta),
             ns.Projection("inh", ("liquid", n_e, n), "liquid", inh, -w0, **delta),
             ns.Projection("in", "inputs", "liquid", inp, w0, **delta)]
    astro = nalsm_astrocyte("A", liquid="liquid", inputs="inputs", w_a=w_a * 64.0, b_a=0.15 * 64.0)
    return ns.Network(pops, projs, modulators=[astro]), steps, rec


def test_a_stronger_astrocyte_depresses_the_liquid_more():
    # docs/papers.md 7.4 check 3 (the trends that show at small scale): a larger w_A gives more
    # depression of the excitatory weights and a lower liquid rate; w_A = 0 leaves A at b_A
    out = {}
    for w_a in (0.0, 0.015, 0.1):
        net, steps, _ = _liquid(w_a)
        res = ns.simulate(net, float(steps), 1.0, key=3, monitors=[ns.Spikes("liquid")])
        rate = res.spikes["liquid"][0].size / 60 / (steps * 1e-3)
        out[w_a] = (rate, float(np.mean(res.state.weights["exc"])), float(res.state.modulators["A"].value))
    assert out[0.0][2] == pytest.approx(0.15 * 64.0, rel=1e-6)
    rates, w_mean = [out[w][0] for w in (0.0, 0.015, 0.1)], [out[w][1] for w in (0.0, 0.015, 0.1)]
    assert rates[0] > rates[1] > rates[2]
    assert w_mean[0] > w_mean[1] > w_mean[2]
    assert w_mean[2] < 0.9 * 3.0 * 64.0          # the excitatory weights were depressed


def test_branching_factor_counts():
    # a chain 0 -> 1 -> 2: neuron 1 fires 1 step after 0, neuron 2 one after 1
    conn = ns.events.from_arrays([0, 1], [1, 2], 3, 3)
    s = np.zeros((40, 3))
    for t0 in (8, 20):
        s[t0, 0], s[t0 + 1, 1], s[t0 + 2, 2] = 1, 1, 1
    # neuron 0: post (1) in [t+1, t+5) = 1, pre 0 -> 1; neuron 1: post 1 / pre 1 = 1; neuron 2: 0 / 1
    assert branching_factor(s, conn, window=4) == pytest.approx((1 + 1 + 0) / 3)
    s[21, 1] = 0                                    # neuron 1 fails once: neuron 0 averages 0.5
    assert branching_factor(s, conn, window=4) == pytest.approx((0.5 + 1 + 0) / 3)


def test_bad_input():
    with pytest.raises(ValueError, match="w_a"):
        nalsm_astrocyte(liquid="l", w_a=-1.0)
    with pytest.raises(ValueError, match="tau_a must be >= 1 step"):
        nalsm_astrocyte(liquid="l", tau_a=0.5)
    with pytest.raises(ValueError, match="liquid must be a population name"):
        nalsm_astrocyte(liquid=3)
    with pytest.raises(ValueError, match="multiplier must be in"):
        astrocyte_stdp("A", multiplier=1.2)
    with pytest.raises(ValueError, match="presynaptic must be one of"):
        astrocyte_stdp("A", presynaptic="input")
    with pytest.raises(ValueError, match="modulator must be the name"):
        astrocyte_stdp("")
    pops = [ns.Population("liquid", 2, _every_step(2, 5))]
    net = ns.Network(pops, modulators=[nalsm_astrocyte("A", liquid="liquid", inputs="nope")])
    with pytest.raises(ValueError, match=r"no population named \['nope'\]"):
        ns.simulate(net, 5.0, 1.0)
    with pytest.raises(ValueError, match="window must be a positive"):
        branching_factor(np.zeros((10, 2)), ns.events.from_arrays([0], [1], 2, 2), window=0)


@pytest.mark.parametrize("presynaptic", ["excitatory", "inhibitory"])
def test_the_compiled_update_equals_the_rule_at_every_synapse_batches_and_differentiates(presynaptic):
    # the rule's kernel (the compiled pair-STDP update with A+ / A- taken from the modulator) against
    # its own update evaluated at every synapse, on random spikes, traces and weights: values (bitwise:
    # the same float operations), a vmap over a batch of networks, and check_grads of the kernel's
    # weights with respect to the rule parameters and the modulator
    from jax.test_util import check_grads

    rng = np.random.default_rng(3)
    n_pre, n_post = 30, 25
    keep = rng.random((n_pre, n_post)) < 0.3
    pre_i, post_i = np.nonzero(keep)
    conn = ns.events.from_arrays(pre_i, post_i, n_pre, n_post).with_columns()
    rule = pl.chain(astrocyte_stdp("A", presynaptic=presynaptic), pl.clip_weights(-3.0, 3.0))
    assert rule.kernel is not None

    def draw(k):
        r = np.random.default_rng(k)
        return (jnp.asarray(r.uniform(-2.5, 2.5, conn.nnz), jnp.float32),
                (jnp.asarray(r.random(n_pre), jnp.float32), jnp.asarray(r.random(n_post), jnp.float32)),
                jnp.asarray(r.random(n_pre) < 0.3, jnp.float32), jnp.asarray(r.random(n_post) < 0.3, jnp.float32))

    def by_kernel(params, w, traces, pre, post, a):
        state = (rule.parts[0].init(params[0], SynapseShape(n_pre, n_post, conn.nnz, jnp.float32))._replace(
            x_pre=traces[0], x_post=traces[1]), ())
        new, w_new = rule.kernel(params, state, w, _events(pre, post, conn, a))
        return w_new, new[0]

    def by_formula(params, w, traces, pre, post, a):
        state = (rule.parts[0].init(params[0], SynapseShape(n_pre, n_post, conn.nnz, jnp.float32))._replace(
            x_pre=traces[0], x_post=traces[1]), ())
        dw, new = rule.update(params, jnp.zeros_like(w), state, w, _events(pre, post, conn, a))
        return w + dw, new[0]

    for k in range(4):
        w, traces, pre, post = draw(k)
        got, st_k = by_kernel(rule.params, w, traces, pre, post, 0.37)
        want, st_f = by_formula(rule.params, w, traces, pre, post, 0.37)
        assert int(jnp.sum(got != w)) > 0           # something changed
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        np.testing.assert_array_equal(np.asarray(st_k.x_pre), np.asarray(st_f.x_pre))
    # vmap: a batch of three networks, each with its own weights and spikes, in one call
    batch = [draw(10 + k) for k in range(3)]
    stack = jax.tree.map(lambda *x: jnp.stack(x), *batch)
    got = jax.vmap(lambda w, tr, s, q: by_kernel(rule.params, w, tr, s, q, 0.37)[0])(*stack)
    for k, (w, traces, pre, post) in enumerate(batch):
        np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(by_formula(rule.params, w, traces, pre, post, 0.37)[0]))
    # gradients of a loss of the new weights with respect to eta_+, the trace jump and the modulator
    w, traces, pre, post = draw(20)
    w = jnp.clip(w, -2.0, 2.0)            # away from the clip bounds, where the update is smooth

    def loss(eta, jump, a, f):
        params = (rule.params[0]._replace(eta_plus=eta, jump=jump), ())
        w_new, st = f(params, w, traces, pre, post, a)
        return jnp.sum(w_new ** 2) + jnp.sum(st.x_pre)

    args = (jnp.float32(0.15), jnp.float32(0.1), jnp.float32(0.37))
    check_grads(lambda *a: loss(*a, by_kernel), args, order=1, modes=["rev"], atol=2e-2, rtol=2e-2)
    g_kernel = jax.grad(lambda *a: loss(*a, by_kernel), argnums=(0, 1, 2))(*args)
    g_formula = jax.grad(lambda *a: loss(*a, by_formula), argnums=(0, 1, 2))(*args)
    np.testing.assert_allclose(np.asarray(g_kernel), np.asarray(g_formula), rtol=1e-5)


def _small_nalsm(plasticity, steps=400, raster_steps=None, seed=0):
    from neurosim.builders import set_input_raster

    m = ns.builders.nalsm((6, 6, 6), 16, sample_steps=steps, plasticity=plasticity, w_a=0.03, seed=seed)
    rng = np.random.default_rng(seed)
    raster = (rng.random((raster_steps or steps, 16)) < rng.uniform(0.02, 0.4, 16)).astype(np.float32)
    return m, set_input_raster(ns.init_state(m.net, m.net.params(), seed, 1.0), raster)


def _leaves(tree):
    return [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
            for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("plasticity, raster_steps", [("astrocyte", None), ("stdp", None), ("astrocyte", 150)])
def test_the_fused_engine_runs_the_nalsm_liquid_as_the_scan_does_bitwise(plasticity, raster_steps):
    # RasterSource inputs (also past the raster's end: silent), the NALSM astrocyte and
    # astrocyte-modulated STDP on all three projections, in the fused CPU kernel: the same spikes,
    # weights, traces, modulator and every other leaf of the state as the scan engine
    from neurosim.network import fused

    m, state = _small_nalsm(plasticity, raster_steps=raster_steps)
    plan = fused.fused_plan(m.net, m.net.params(), 1.0, [ns.Spikes("liquid")], platform="cpu")
    if isinstance(plan, str) and "not available" in plan:
        pytest.skip(plan)
    assert not isinstance(plan, str), plan
    with jax.default_device(jax.devices("cpu")[0]):
        runs = {eng: ns.simulate(m.net, 400.0, 1.0, state=state, monitors=[ns.Spikes("liquid"), ns.Spikes("input")],
                                 engine=eng, chunk_steps=170) for eng in ("scan", "fused")}
        # and a state the fused engine left, continued by the scan (and the other way round)
        cont = {eng: ns.simulate(m.net, 100.0, 1.0, state=runs[other].state, monitors=[ns.Spikes("liquid")], engine=eng)
                for eng, other in (("scan", "fused"), ("fused", "scan"))}
    a, b = runs["scan"], runs["fused"]
    assert b.timings["engine"] == "fused"
    assert a.spikes["liquid"][0].size > 200
    for pop in ("liquid", "input"):
        for x, y in zip(a.spikes[pop], b.spikes[pop]):
            np.testing.assert_array_equal(x, y)
    if raster_steps:
        assert a.spikes["input"][0].max() < raster_steps
    w0 = m.net.params().projections["exc"].weights
    assert np.any(np.asarray(a.state.weights["exc"]) != np.asarray(w0))     # the weights learned
    for x, y in zip(_leaves(a.state._replace(key=None)), _leaves(b.state._replace(key=None))):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(_leaves(cont["scan"].state._replace(key=None)), _leaves(cont["fused"].state._replace(key=None))):
        np.testing.assert_array_equal(x, y)


def test_a_count_form_whose_drive_is_not_its_own_is_left_to_the_scan():
    # the fused kernel runs the form; a modulator that carries a CountForm with another drive would
    # run one thing in the scan and another in the kernel, so the fused engine refuses it by name
    import dataclasses

    from neurosim.network import fused

    m, _ = _small_nalsm("astrocyte")
    astro = m.net.modulators[0]
    assert astro.drive == astro.form.drive
    other = dataclasses.replace(astro, drive=lambda state, spikes, t_ms, key: (state, 0.0))
    net = ns.Network(list(m.net.populations), list(m.net.projections), modulators=[other])
    reason = fused.fused_plan(net, net.params(), 1.0, platform="cpu")
    assert isinstance(reason, str) and "modulator 'astrocyte' has a drive the fused kernel does not model" in reason
