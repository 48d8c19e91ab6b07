"""The fused engine on learning and noise-driven networks (``neurosim_fused_lif_plastic``, CPU):
plastic projections (pair STDP, alone or clipped), Poisson inputs and delta synapses.

The kernel performs the scan's float32 operations in the scan's order (the pair-STDP update is
the very code of the one-step STDP kernel the scan calls; the Poisson counts compare the same
counter-based uniforms against the same CDF table), so every comparison here is bitwise: spike
trains, final weights, traces and the whole state. The Poisson counts are also checked against
their numpy mirror and against the Poisson law.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import neurosim as ns
from neurosim import plasticity as pl
from neurosim.inputs import (ConstantCurrent, GaussianCurrent, PoissonInput, PoissonInputParams, StepCurrent,
                             UniformCurrent, draws)
from neurosim.inputs.currents import poisson_cdf
from neurosim.network import fused
from neurosim.neurons import LIF, LIFParams
from neurosim.synapses import Synapse, SynapseParams

DT = 0.1

pytestmark = pytest.mark.skipif(
    isinstance(fused.fused_plan(ns.builders.brunel2000("C", scale=0.02), platform="cpu"), str),
    reason="the compiled fused CPU kernel is not available on this machine")


@pytest.fixture(autouse=True)
def on_cpu():
    with jax.default_device(jax.devices("cpu")[0]):
        yield


def leaves(tree):
    return [np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
            for x in jax.tree.leaves(tree)]


def assert_same_run(a, b, pops):
    for pop in pops:
        (ta, ia), (tb, ib) = a.spikes[pop], b.spikes[pop]
        assert ta.size > 0
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ia, ib)
    # the whole state but the key (which the fused engine returns unchanged: it draws from the
    # counter-based generator, not from the key)
    assert a.state.dt == b.state.dt
    for x, y in zip(leaves(a.state._replace(key=None)), leaves(b.state._replace(key=None))):
        np.testing.assert_array_equal(x, y)


def both(net, duration, monitors, key=0):
    scan = ns.simulate(net, duration, DT, key=key, monitors=monitors, engine="scan")
    fast = ns.simulate(net, duration, DT, key=key, monitors=monitors, engine="fused")
    assert scan.timings["engine"] == "scan" and fast.timings["engine"] == "fused"
    return scan, fast


# --------------------------------------------------------------------------- plastic projections


def plastic_coba(n=800, rule=None, seed=0, delay_ms=None):
    """COBA with its excitatory projection split into E -> E (plastic) and E -> I."""
    base = ns.builders.coba(n, seed=seed)
    exc = next(pr for pr in base.projections if pr.name == "exc")
    n_e = exc.conn.n_pre
    rows, cols = np.asarray(exc.conn.rows), np.asarray(exc.conn.indices)
    to_e = cols < n_e
    ee = ns.events.from_arrays(rows[to_e], cols[to_e], n_e, n_e)
    ei = ns.events.from_arrays(rows[~to_e], cols[~to_e] - n_e, n_e, n - n_e)
    w, w_max = float(exc.weights), 10.0 * float(exc.weights)
    if rule is None:
        rule = pl.chain(pl.stdp_pair(0.05 * w_max, 0.0525 * w_max, w_max=w_max), pl.clip_weights(0.0, w_max))
    kw = dict(synapse=exc.synapse, syn_params=exc.syn_params)
    projs = [ns.Projection("ee", ("neurons", 0, n_e), ("neurons", 0, n_e), ee, w, plasticity=rule,
                           delay_ms=delay_ms, **kw),
             ns.Projection("ei", ("neurons", 0, n_e), ("neurons", n_e, n), ei, w, delay_ms=exc.delay_ms, **kw)]
    projs += [pr for pr in base.projections if pr.name != "exc"]
    return ns.Network(list(base.populations), projs, list(base.inputs)), w_max


def test_plastic_coba_fused_equals_scan_bitwise():
    net, w_max = plastic_coba()
    scan, fast = both(net, 300.0, [ns.Spikes("neurons")])
    assert_same_run(scan, fast, ["neurons"])
    w0 = np.asarray(net.params().projections["ee"].weights)
    w = np.asarray(fast.state.weights["ee"])
    assert np.sum(w != w0) > 1000   # the weights did learn
    assert w.min() >= 0.0 and w.max() <= w_max


@pytest.mark.parametrize("rule, delay_ms", [
    # with mu > 0 an amplitude is per unit of (w_max - w_min)^mu (0.021 * w would let a depression
    # overshoot below w_min: negative conductances, which simulate refuses)
    (lambda w: pl.stdp_pair(0.02, 0.021, w_max=w, mu_plus=1.0, mu_minus=1.0), None),       # soft bounds
    (lambda w: pl.stdp_pair(0.02 * w, 0.021, w_max=w, mu_plus=0.0, mu_minus=1.0, traces="nearest"), 0.3),
    (lambda w: pl.chain(pl.stdp_pair(0.05 * w, 0.06 * w, 10.0, 30.0, w_max=w, mu_plus=0.5, mu_minus=0.5),
                        pl.clip_weights(0.0, 0.8 * w)), 1.0),
])
def test_weight_dependent_nearest_and_delayed_stdp_fused_equals_scan(rule, delay_ms):
    base, w_max = plastic_coba(400, seed=3)
    net, _ = plastic_coba(400, rule=rule(w_max), seed=3, delay_ms=delay_ms)
    scan, fast = both(net, 150.0, [ns.Spikes("neurons")], key=5)
    assert_same_run(scan, fast, ["neurons"])
    assert np.any(np.asarray(fast.state.weights["ee"]) != np.asarray(net.params().projections["ee"].weights))


def test_a_plastic_state_continues_in_the_other_engine():
    net, _ = plastic_coba(400, seed=1)
    mon = [ns.Spikes("neurons")]
    whole = ns.simulate(net, 100.0, DT, key=2, monitors=mon, engine="scan")
    first = ns.simulate(net, 50.0, DT, key=2, monitors=mon, engine="fused")
    second = ns.simulate(net, 50.0, DT, state=first.state, monitors=mon, engine="scan")
    for x, y in zip(leaves(whole.state.weights) + leaves(whole.state.dynamics),
                    leaves(second.state.weights) + leaves(second.state.dynamics)):
        np.testing.assert_array_equal(x, y)
    t = np.concatenate([first.spikes["neurons"][0], second.spikes["neurons"][0]])
    i = np.concatenate([first.spikes["neurons"][1], second.spikes["neurons"][1]])
    np.testing.assert_array_equal(np.round(t / DT), np.round(whole.spikes["neurons"][0] / DT))
    np.testing.assert_array_equal(i, whole.spikes["neurons"][1])


def test_vmapped_or_traced_use_is_left_to_the_scan_and_rules_it_does_not_model_fall_back():
    net, w_max = plastic_coba(200)
    ee = next(pr for pr in net.projections if pr.name == "ee")

    def with_rule(plasticity):
        projs = [dataclasses.replace(pr, plasticity=plasticity) if pr.name == "ee" else pr for pr in net.projections]
        return ns.Network(list(net.populations), projs, list(net.inputs))

    for plasticity, words in [
        (pl.stdp_triplet(), "stdp_triplet"),
        (pl.chain(pl.stdp_pair(w_max=w_max), pl.clip_weights(0.0, w_max), pl.clip_weights(0.0, w_max)), "chain("),
        (pl.Plasticity(pl.stdp_pair(w_max=w_max), event_driven=False), "event_driven=False"),
    ]:
        other = with_rule(plasticity)
        reason = fused.fused_plan(other, other.params(), DT)
        assert isinstance(reason, str) and words in reason, reason
    reason = fused.fused_plan(net, net.params(), DT, platform="cuda")
    assert isinstance(reason, str) and "CPUs only" in reason
    reason = fused.fused_plan(net, net.params(), DT, [ns.Weights("ee", every=10)])
    assert isinstance(reason, str) and "Weights monitors" in reason
    assert ee.plastic


# --------------------------------------------------------------------------- Poisson inputs and delta synapses


def test_brunel_network_fused_equals_scan_bitwise():
    net = ns.builders.brunel2000("C", scale=0.1, connectivity="probability", seed=0)
    scan, fast = both(net, 150.0, [ns.Spikes("neurons")], key=4)
    assert_same_run(scan, fast, ["neurons"])


def poisson_net(kinetics="exponential", output="conductance", rate=8.0, weight=2.0, n=300, extra_input=True):
    pop = ns.Population("p", n, LIF(v_init=ns.Uniform(-65.0, -55.0)))
    params = PoissonInputParams(rate_hz=rate, weight=weight, synapse=SynapseParams(tau=4.0, e_rev=0.0))
    inputs = [ns.Input("noise", "p", PoissonInput(n_sources=100, synapse=Synapse(kinetics, output)), params)]
    if extra_input:
        inputs.append(ns.Input("bias", ("p", 0, n // 2), ConstantCurrent(), ConstantCurrent.Params(100.0)))
    conn = ns.events.fixed_probability(n, n, 0.05, seed=1)
    proj = ns.Projection("rec", "p", "p", conn, 1.0, Synapse("delta", "current"), delay_ms=0.5)
    return ns.Network([pop], [proj], inputs)


@pytest.mark.parametrize("kinetics, output, weight", [("exponential", "conductance", 2.0), ("delta", "current", 60.0),
                                                      ("exponential", "current", 40.0)])
def test_poisson_inputs_fused_equal_scan_bitwise(kinetics, output, weight):
    net = poisson_net(kinetics, output, weight=weight)
    scan, fast = both(net, 100.0, [ns.Spikes("p")], key=7)
    assert_same_run(scan, fast, ["p"])


def test_kernel_poisson_counts_are_the_counter_draws_and_poisson():
    # neurons that never fire: the input's delta synapse holds the last step's count x weight
    n, rate, n_src = 20_000, 15.0, 100   # lam = 0.15 per step
    pop = ns.Population("p", n, LIF(), LIFParams(v_th=1e9))
    net = ns.Network([pop], [], [ns.Input("noise", "p", PoissonInput(n_sources=n_src, synapse=Synapse("delta")),
                                          PoissonInputParams(rate_hz=rate, weight=1.0))])
    params = net.params()
    state = ns.init_state(net, params, 3, DT)
    plan = fused.fused_plan(net, params, DT)
    lam = n_src * rate * DT * 1e-3
    cdf = np.asarray(jnp.stack(poisson_cdf(jnp.float32(lam))), np.float64)
    seed = np.asarray(state.inputs["noise"].seed)
    counts = []
    for t in range(5):
        state, _ = fused.run_fused(plan, params, state, 1)
        k = np.asarray(state.inputs["noise"].g)
        u = draws.uniforms_np(seed, t, n)
        np.testing.assert_array_equal(k, np.sum(u[:, None] > cdf[None, :], axis=1))
        counts.append(k)
    k = np.concatenate(counts).astype(int)
    kmax = 3
    obs = np.bincount(np.minimum(k, kmax + 1), minlength=kmax + 2)
    exp = k.size * np.append(stats.poisson.pmf(np.arange(kmax + 1), lam), stats.poisson.sf(kmax, lam))
    assert stats.chisquare(obs, exp).pvalue > 1e-4


@pytest.mark.parametrize("change, words", [
    (lambda p: p._replace(rate_hz=np.full(300, 8.0, np.float32)), "rate_hz has one value per neuron"),
    (lambda p: p._replace(rate_hz=2000.0), "below 12 per step"),
])
def test_poisson_inputs_the_kernel_does_not_draw_fall_back(change, words):
    net = poisson_net()
    params = net.params()
    params.inputs["noise"] = change(params.inputs["noise"])
    reason = fused.fused_plan(net, params, DT)
    assert isinstance(reason, str) and words in reason, reason
    res = ns.simulate(net, 1.0, DT, params=params, monitors=[ns.Spikes("p")])
    assert res.timings["engine"] == ns.engines.describe(net, DT, params=params).chosen != "fused"


# --------------------------------------------------------------------------- sampled monitors


def test_weights_and_trace_monitors_sampled_between_kernel_calls_equal_the_scan():
    net, w_max = plastic_coba(400, seed=2)
    mon = [ns.Spikes("neurons"), ns.Weights("ee", ids=[0, 5, 77], every=200),
           ns.Weights("ee", every=300, bins=8, range=(0.0, w_max)), ns.Trace("neurons", "v", ids=[1, 2], every=600)]
    scan, fast = both(net, 130.0, mon, key=3)   # 1300 steps: chunks of gcd(200, 300, 600) = 100
    assert_same_run(scan, fast, ["neurons"])
    for key in ("ee.weights", "ee.weights_hist", "neurons.v"):
        (ta, xa, la), (tb, xb, lb) = scan.traces[key], fast.traces[key]
        np.testing.assert_allclose(ta, tb, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(la, lb)
    assert scan.traces["ee.weights"][1].shape == (7, 3)        # after 200, 400, ..., 1200 steps, and the end (1300)
    assert np.any(np.diff(fast.traces["ee.weights"][1], axis=0) != 0)
    reason = fused.fused_plan(net, net.params(), DT, [ns.Weights("ee", every=50)])
    assert isinstance(reason, str) and "at least 100 steps apart" in reason


# --------------------------------------------------------------------------- spike sources


def test_song_network_of_poisson_sources_fused_equals_scan_bitwise():
    # Brian2's STDP example: Poisson sources -> one conductance LIF neuron, clipped additive STDP
    net = ns.builders.brian_stdp(n_in=300, rate_hz=15.0, g_max=0.03, seed=2)
    pops = [p.name for p in net.populations]
    scan, fast = both(net, 2000.0, [ns.Spikes(p) for p in pops], key=1)
    assert_same_run(scan, fast, pops)
    src = next(p for p in net.populations if isinstance(p.model, ns.inputs.PoissonSource))
    (t, _), n = fast.spikes[src.name], src.n
    rate = t.size / n / 2.0
    assert abs(rate - 15.0) < 5 * np.sqrt(15.0 / (n * 2.0))     # 5 standard errors of the rate


def test_spike_counts_of_the_kernel_bits_inside_jit_equal_the_decoded_spikes():
    # fused.spike_counts counts one population's spikes per step from the kernel's bits (with jax,
    # so a jitted loop of kernel calls can use it): the same counts as decoding every spike
    net = ns.builders.brian_stdp(n_in=70, rate_hz=40.0, g_max=0.03, seed=2)     # populations of 70 and 1
    params = net.params()
    plan = fused.fused_plan(net, params, DT)
    state = ns.init_state(net, params, 0, DT)
    _, bits = fused.run_fused(plan, params, state, 300)
    step, neuron = fused.spike_events(bits)
    assert step.size > 40                   # the 70 sources at 40 Hz spike ~84 times in 30 ms
    for name, off, n in plan.pops:
        inside = (neuron >= off) & (neuron < off + n)
        want = np.bincount(step[inside], minlength=300)
        got = jax.jit(lambda b, name=name: fused.spike_counts(plan, b, name))(bits)
        np.testing.assert_array_equal(np.asarray(got), want)
    with pytest.raises(ValueError, match="spike_counts: the plan has no population 'X'"):
        fused.spike_counts(plan, bits, "X")


# --------------------------------------------------------------------------- tabulated currents


def noisy_coba(plastic=True):
    """COBA (400 neurons) with a Gaussian current (one std per neuron), a Poisson input, a uniform
    and a step current onto slices, and its constant background last (the kernel sums constant
    inputs as one term after the other whole-population terms: module docstring of fused.py)."""
    base = plastic_coba(400, seed=3)[0] if plastic else ns.builders.coba(400, seed=3)
    std = np.linspace(10.0, 60.0, 400).astype(np.float32)
    extra = [
        ns.Input("noise", "neurons", GaussianCurrent(), GaussianCurrent.Params(5.0, jnp.asarray(std))),
        ns.Input("poisson", ("neurons", 0, 320), PoissonInput(n_sources=50, synapse=Synapse("delta")),
                 PoissonInputParams(rate_hz=10.0, weight=20.0)),
        ns.Input("uniform", ("neurons", 0, 320), UniformCurrent(), UniformCurrent.Params(-20.0, 30.0)),
        ns.Input("step", ("neurons", 100, 200), StepCurrent((20.0, 60.0)), StepCurrent.Params(jnp.array([40.0, -10.0]))),
    ]
    return ns.Network(list(base.populations), list(base.projections), extra + list(base.inputs))


@pytest.mark.parametrize("plastic", [True, False])
def test_noise_and_step_currents_fused_equal_scan_bitwise(plastic):
    # the kernel reads each step's Gaussian, uniform and step currents from a table that the
    # inputs' own code fills with the scan's keys: the same bits, the key advanced as the scan's
    net = noisy_coba(plastic)
    plan = fused.fused_plan(net, platform="cpu")
    assert not isinstance(plan, str), plan
    assert [t[0] for t in plan.tables] == ["noise", "uniform", "step"]
    mon = [ns.Spikes("neurons")]
    scan = ns.simulate(net, 100.0, DT, key=4, monitors=mon, engine="scan")
    fast = ns.simulate(net, 100.0, DT, key=4, monitors=mon, engine="fused", chunk_steps=300)   # 4 kernel calls
    assert fast.timings["engine"] == "fused"
    assert_same_run(scan, fast, ["neurons"])
    np.testing.assert_array_equal(jax.random.key_data(scan.state.key), jax.random.key_data(fast.state.key))
    # the noise drives the network: another key, other spikes
    other = ns.simulate(net, 100.0, DT, key=5, monitors=mon, engine="fused")
    assert not np.array_equal(other.spikes["neurons"][1][:200], fast.spikes["neurons"][1][:200])


def test_a_noisy_state_continues_in_the_other_engine_and_chunks_are_capped(monkeypatch):
    net = noisy_coba(plastic=False)
    mon = [ns.Spikes("neurons")]
    whole = ns.simulate(net, 60.0, DT, key=2, monitors=mon, engine="scan")
    monkeypatch.setattr(fused, "TABLE_BYTES", 4 * 820 * 7)   # 7 steps of the 820 tabulated values per call
    first = ns.simulate(net, 30.0, DT, key=2, monitors=mon, engine="fused")
    assert fused.FusedEngine(fused.fused_plan(net), mon, 300, None, 256e6).plan[:2] == [7, 7]
    second = ns.simulate(net, 30.0, DT, state=first.state, monitors=mon, engine="scan")
    for x, y in zip(leaves(whole.state), leaves(second.state)):
        np.testing.assert_array_equal(x, y)
    t = np.concatenate([first.spikes["neurons"][0], second.spikes["neurons"][0]])
    np.testing.assert_array_equal(np.round(t / DT), np.round(whole.spikes["neurons"][0] / DT))


def test_tabulated_currents_are_cpu_only():
    net = ns.Network([ns.Population("p", 10, LIF())], [],
                     [ns.Input("noise", "p", GaussianCurrent(), GaussianCurrent.Params(0.0, 5.0))])
    assert not isinstance(fused.fused_plan(net, platform="cpu"), str)
    reason = fused.fused_plan(net, platform="cuda")
    assert isinstance(reason, str) and ("noise or step currents" in reason or "not available" in reason), reason
