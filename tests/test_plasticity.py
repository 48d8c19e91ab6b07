"""Plasticity: every rule against an independent reference, in a running network.

- Pair STDP, additive, all-to-all: the final weights equal the closed-form sum over every
  (pre, post) spike pair of the STDP window (recorded spike trains, numpy, float64).
- Pair STDP, nearest-neighbour: the same with only the nearest earlier spike of the other side.
- Soft-bounded (Guetig mu = 1) and triplet STDP (all-to-all and nearest), reward-modulated STDP
  with a scheduled and a closed-loop modulator and with the periodic release of its trace,
  inhibitory STDP, synaptic scaling: a plain numpy loop of the documented equations over the
  recorded spikes.
- Constraints (clip, Dale, normalisation) on hand-made proposals.
- ``jax.grad`` with respect to the rule parameters equals central finite differences; ``vmap``
  over a batch of networks (each with its own initial weights) equals a Python loop.
- The Weights monitor (snapshots and histograms) and every bad input of the issue.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim import plasticity as pl
from neurosim.events import JitConn
from neurosim.network.step import delay_steps
from neurosim.inputs import ConstantCurrent, SpikeTimes
from neurosim.neurons import LIF, LIFParams, Izhikevich
from neurosim.synapses import Synapse, SynapseParams
from neurosim.synapses.dynamics import SynapticEvents

DT = 0.1
N_PRE, N_POST = 12, 4


def make_net(rule, *, delay_ms=None, w0=0.5, n_steps=3000, seed=0, modulators=(), p=0.6, output="current"):
    """SpikeTimes presynaptic neurons (random times) onto regularly firing LIF cells (constant
    drive 150-400 pA; the plastic synapses are too weak to move their spikes much)."""
    rng = np.random.default_rng(seed)
    k = int(N_PRE * n_steps * DT * 1e-3 * 40)    # ~40 Hz per presynaptic neuron
    times = np.round(rng.uniform(0.0, n_steps * DT, k) / DT) * DT + DT / 2
    pre = ns.Population("pre", N_PRE, SpikeTimes(times, rng.integers(0, N_PRE, k)))
    post = ns.Population("post", N_POST, LIF(), LIFParams(t_ref=2.0))
    drive = ns.Input("drive", "post", ConstantCurrent(), ConstantCurrent.Params(np.linspace(150.0, 400.0, N_POST)))
    conn = ns.events.fixed_probability(N_PRE, N_POST, p, seed=seed)
    syn = Synapse("exponential", output)
    proj = ns.Projection("syn", "pre", "post", conn, w0, syn, SynapseParams(5.0, 0.0), delay_ms=delay_ms,
                         plasticity=rule)
    return ns.Network([pre, post], [proj], [drive], modulators=list(modulators))


def run_net(net, n_steps=3000, params=None):
    params = net.params() if params is None else params
    state = ns.init_state(net, params, 0, DT)
    final, spikes = jax.jit(lambda p, s: ns.run(net, p, s, n_steps, DT))(params, state)
    return final, {k: np.asarray(v, float) for k, v in spikes.items()}


def delivered(pre_spikes, net):
    """The presynaptic spikes as the synapses see them: delayed by delay - 1 steps."""
    d = delay_steps(net, DT)["syn"] - 1
    out = np.zeros_like(pre_spikes)
    out[d:] = pre_spikes[:pre_spikes.shape[0] - d]
    return out


def conn_of(net):
    c = net.projections[0].conn
    return np.asarray(c.rows), np.asarray(c.indices)


# --------------------------------------------------------------------------- pair STDP


def pair_sum(pre, post, rows, cols, a_plus, a_minus, tau_plus, tau_minus, nearest=False):
    """Delta w of every synapse: the STDP window summed over spike pairs (steps; a pair in the
    same step is pre-before-post)."""
    dw = np.zeros(rows.size)
    for s, (i, j) in enumerate(zip(rows, cols)):
        P, Q = np.nonzero(pre[:, i])[0], np.nonzero(post[:, j])[0]
        for q in Q:  # potentiation at each post spike
            before = P[P <= q]
            lags = (q - before[-1:]) if nearest else (q - before)
            dw[s] += a_plus * np.sum(np.exp(-lags * DT / tau_plus))
        for p in P:  # depression at each pre spike
            before = Q[Q < p]
            lags = (p - before[-1:]) if nearest else (p - before)
            dw[s] -= a_minus * np.sum(np.exp(-lags * DT / tau_minus))
    return dw


@pytest.mark.parametrize("traces", ["all_to_all", "nearest"])
@pytest.mark.parametrize("delay_ms", [None, 1.0])
def test_pair_stdp_equals_the_sum_over_spike_pairs(traces, delay_ms):
    rule = pl.stdp_pair(0.01, 0.012, 16.8, 33.7, w_min=-10.0, w_max=10.0, traces=traces)
    net = make_net(rule, delay_ms=delay_ms)
    final, spikes = run_net(net)
    pre, post = delivered(spikes["pre"], net), spikes["post"]
    assert pre.sum() > 100 and post.sum() > 100
    rows, cols = conn_of(net)
    expected = 0.5 + pair_sum(pre, post, rows, cols, 0.01, 0.012, 16.8, 33.7, nearest=traces == "nearest")
    np.testing.assert_allclose(np.asarray(final.weights["syn"]), expected, rtol=2e-5, atol=2e-6)
    assert np.ptp(expected) > 0.05   # the weights did move, differently per synapse


@pytest.mark.parametrize("traces", ["all_to_all", "nearest"])
def test_pair_stdp_with_per_synapse_delays_pairs_each_spike_at_its_arrival(traces):
    """Every synapse has its own delay (up to 6 ms): its presynaptic spikes meet the
    postsynaptic trace when they arrive, ``d_k - 1`` steps after they were sent (the whole
    delay is axonal, as for one delay per projection)."""
    nnz = ns.events.fixed_probability(N_PRE, N_POST, 0.6, seed=0).nnz
    steps = np.random.default_rng(5).integers(1, 61, nnz)
    rule = pl.stdp_pair(0.01, 0.012, 16.8, 33.7, w_min=-10.0, w_max=10.0, traces=traces)
    net = make_net(rule, delay_ms=steps * DT)
    final, spikes = run_net(net)
    rows, cols = conn_of(net)
    expected = np.empty(nnz)
    for k in range(nnz):
        pre = np.zeros_like(spikes["pre"])
        pre[steps[k] - 1:] = spikes["pre"][:pre.shape[0] - steps[k] + 1]
        expected[k] = 0.5 + pair_sum(pre, spikes["post"], rows[k:k + 1], cols[k:k + 1], 0.01, 0.012, 16.8, 33.7,
                                     nearest=traces == "nearest")[0]
    np.testing.assert_allclose(np.asarray(final.weights["syn"]), expected, rtol=2e-5, atol=2e-6)
    # against the pairing at the time the spike was sent, the delays change the weights
    assert np.abs(expected - 0.5 - pair_sum(spikes["pre"], spikes["post"], rows, cols, 0.01, 0.012, 16.8, 33.7,
                                            nearest=traces == "nearest")).max() > 0.02


def numpy_rule_loop(pre, post, rows, cols, w0, update):
    """Run ``update(k, pre_k, post_k, w) -> dw`` over the steps (numpy, float64)."""
    w = np.full(rows.size, w0, float)
    for k in range(pre.shape[0]):
        w = w + update(k, pre[k], post[k], w)
    return w


def test_soft_bounded_stdp_equals_numpy_loop_and_stays_in_bounds():
    a_p, a_m, tp, tm = 0.05, 0.04, 20.0, 20.0
    rule = pl.stdp_pair(a_p, a_m, tp, tm, w_min=0.0, w_max=1.0, mu_plus=1.0, mu_minus=1.0)
    assert rule.bounds == (0.0, 1.0)
    net = make_net(rule)
    final, spikes = run_net(net)
    pre, post = delivered(spikes["pre"], net), spikes["post"]
    rows, cols = conn_of(net)
    x, y = np.zeros(N_PRE), np.zeros(N_POST)

    def update(k, s, q, w):
        nonlocal x, y
        x = x * np.exp(-DT / tp) + s
        y = y * np.exp(-DT / tm)
        dep = a_m * w * s[rows] * y[cols]
        y = y + q
        pot = a_p * (1.0 - w) * q[cols] * x[rows]
        return pot - dep

    expected = numpy_rule_loop(pre, post, rows, cols, 0.5, update)
    w = np.asarray(final.weights["syn"])
    np.testing.assert_allclose(w, expected, rtol=1e-5, atol=1e-6)
    assert np.all((w > 0) & (w < 1)) and np.ptp(w) > 0.1


@pytest.mark.parametrize("traces", ["all_to_all", "nearest"])
def test_triplet_stdp_equals_numpy_loop(traces):
    prm = dict(a2_plus=5e-3, a3_plus=6e-3, a2_minus=7e-3, a3_minus=2e-3, tau_plus=16.8, tau_x=101.0,
               tau_minus=33.7, tau_y=125.0)
    net = make_net(pl.stdp_triplet(**prm, traces=traces))
    final, spikes = run_net(net)
    pre, post = delivered(spikes["pre"], net), spikes["post"]
    rows, cols = conn_of(net)
    r1, r2, o1, o2 = np.zeros(N_PRE), np.zeros(N_PRE), np.zeros(N_POST), np.zeros(N_POST)
    jump = (lambda x, s: x + s) if traces == "all_to_all" else (lambda x, s: np.where(s > 0, 1.0, x))

    def update(k, s, q, w):
        nonlocal r1, r2, o1, o2
        r1 = r1 * np.exp(-DT / prm["tau_plus"])
        r2 = r2 * np.exp(-DT / prm["tau_x"])
        o1 = o1 * np.exp(-DT / prm["tau_minus"])
        o2 = o2 * np.exp(-DT / prm["tau_y"])
        dep = s[rows] * o1[cols] * (prm["a2_minus"] + prm["a3_minus"] * r2[rows])   # r2, o1 before this step's spikes
        r1 = jump(r1, s)
        pot = q[cols] * r1[rows] * (prm["a2_plus"] + prm["a3_plus"] * o2[cols])      # o2 before, r1 after
        r2, o1, o2 = jump(r2, s), jump(o1, q), jump(o2, q)
        return pot - dep

    expected = numpy_rule_loop(pre, post, rows, cols, 0.5, update)
    np.testing.assert_allclose(np.asarray(final.weights["syn"]), expected, rtol=5e-5, atol=1e-6)  # float32 sums
    assert np.ptp(expected) > 0.02


# --------------------------------------------------------------------------- three-factor rules


def test_reward_modulated_stdp_with_scheduled_dopamine_equals_numpy_loop():
    a_p, a_m, tau, tau_c, lr, d_tonic, tau_d = 0.1, 0.12, 20.0, 100.0, 0.02, 0.01, 50.0
    times, amounts = np.array([50.0, 120.0, 200.0]), np.array([0.5, 1.0, 0.5])
    dopamine = pl.Modulator("dopamine", tau=tau_d, schedule=(times, amounts))
    rule = pl.chain(pl.stdp_pair(a_p, a_m, tau, tau, w_min=-10.0, w_max=10.0),
                    pl.reward_modulated("dopamine", tau_c=tau_c, lr=lr, d_tonic=d_tonic))
    net = make_net(rule, modulators=[dopamine])
    final, spikes = run_net(net)
    pre, post = delivered(spikes["pre"], net), spikes["post"]
    rows, cols = conn_of(net)
    x, y, c, d = np.zeros(N_PRE), np.zeros(N_POST), np.zeros(rows.size), 0.0
    jumps = {int(round(t / DT)): a for t, a in zip(times, amounts)}

    def update(k, s, q, w):
        nonlocal x, y, c, d
        d = d * np.exp(-DT / tau_d) + jumps.get(k, 0.0)     # the modulator first (this step's value)
        x = x * np.exp(-DT / tau) + s
        y = y * np.exp(-DT / tau)
        stdp = -a_m * s[rows] * y[cols]
        y = y + q
        stdp = stdp + a_p * q[cols] * x[rows]
        c = c * np.exp(-DT / tau_c) + stdp
        return lr * (d + d_tonic) * c * DT

    expected = numpy_rule_loop(pre, post, rows, cols, 0.5, update)
    np.testing.assert_allclose(np.asarray(final.weights["syn"]), expected, rtol=1e-4, atol=1e-6)
    assert float(final.modulators["dopamine"].value) == pytest.approx(d, rel=1e-5)
    assert np.ptp(expected) > 1e-3


@pytest.mark.parametrize("form", ["event", "dense"])
def test_periodic_release_of_the_eligibility_equals_numpy_loop(form):
    # every = 1 ms (10 steps): STDP accumulates in c at the events; every 10th step the trace is
    # released into the (clipped) weights and decays, as the reference code of Izhikevich (2007)
    a_p, a_m, tau, tau_c, lr, d_tonic, tau_d, every = 0.1, 0.12, 20.0, 100.0, 0.02, 0.01, 50.0, 1.0
    times, amounts = np.array([50.0, 120.0, 200.0]), np.array([0.5, 1.0, 0.5])
    dopamine = pl.Modulator("dopamine", tau=tau_d, schedule=(times, amounts))
    rule = pl.chain(pl.stdp_pair(a_p, a_m, tau, tau, w_min=-10.0, w_max=10.0),
                    pl.reward_modulated("dopamine", tau_c=tau_c, lr=lr, d_tonic=d_tonic, every=every),
                    pl.clip_weights(0.2, 0.54))
    assert rule.event_driven and rule.period == every and rule.kernel is not None
    net = make_net(rule if form == "event" else pl.Plasticity(rule, event_driven=False), modulators=[dopamine])
    final, spikes = run_net(net)
    pre, post = delivered(spikes["pre"], net), spikes["post"]
    rows, cols = conn_of(net)
    x, y, c, d = np.zeros(N_PRE), np.zeros(N_POST), np.zeros(rows.size), 0.0
    jumps = {int(round(t / DT)): a for t, a in zip(times, amounts)}
    k_every = int(round(every / DT))

    def update(k, s, q, w):
        nonlocal x, y, c, d
        d = d * np.exp(-DT / tau_d) + jumps.get(k, 0.0)
        x = x * np.exp(-DT / tau) + s
        y = y * np.exp(-DT / tau)
        c = c - a_m * s[rows] * y[cols]
        y = y + q
        c = c + a_p * q[cols] * x[rows]
        if (k + 1) % k_every:
            return 0.0
        dw = np.clip(w + lr * (d + d_tonic) * c * every, 0.2, 0.54) - w
        c = c * np.exp(-every / tau_c)
        return dw

    expected = numpy_rule_loop(pre, post, rows, cols, 0.5, update)
    got = np.asarray(final.weights["syn"])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(final.dynamics["syn"]["plasticity"][1].c), c, rtol=1e-4, atol=1e-6)
    assert np.isclose(expected, 0.2).any() and expected.max() <= 0.54   # moved, some to the lower bound


def test_periodic_rules_check_their_period():
    with pytest.raises(ValueError, match="every must be > 0"):
        pl.reward_modulated("dopamine", every=0.0)
    with pytest.raises(ValueError, match="different periods"):
        pl.chain(pl.stdp_pair(), pl.reward_modulated("a", every=1.0), pl.reward_modulated("b", every=2.0))
    dopamine = pl.Modulator("dopamine", tau=50.0)
    net = make_net(pl.chain(pl.stdp_pair(), pl.reward_modulated("dopamine", every=0.25)), modulators=[dopamine])
    with pytest.raises(ValueError, match=r"every = 0.25 ms is not a whole number of steps of dt = 0.1 ms"):
        run_net(net, 10)


def test_closed_loop_modulator_follows_the_spikes():
    # +1 at every spike of post neuron 3, decaying with 10 ms: a trace of its train
    def drive(dstate, spikes, t_ms, key):
        return dstate + spikes["post"][3], spikes["post"][3]

    mod = pl.Modulator("reward", tau=10.0, drive=drive, drive_init=jnp.zeros(()))
    net = make_net(pl.error_modulated("reward", lr=0.01, tau_pre=20.0), modulators=[mod])
    obs = lambda s, spk: s.modulators["reward"].value
    params = net.params()
    final, values = ns.run(net, params, ns.init_state(net, params, 0, DT), 3000, DT, observe=obs)
    _, spikes = run_net(net)
    q = spikes["post"][:, 3]
    expected = np.zeros(3000)
    m = 0.0
    for k in range(3000):
        m = m * np.exp(-DT / 10.0) + q[k]
        expected[k] = m
    np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-5, atol=1e-6)
    assert float(final.modulators["reward"].drive) == q.sum() > 10
    # error_modulated with a global error: dw = lr e x_pre dt
    pre, rows, cols = delivered(spikes["pre"], net), *conn_of(net)
    x = np.zeros(N_PRE)

    def update(k, s, qq, w):
        nonlocal x
        x = x * np.exp(-DT / 20.0) + s
        return 0.01 * expected[k] * x[rows] * DT

    np.testing.assert_allclose(np.asarray(final.weights["syn"]), numpy_rule_loop(pre, spikes["post"], rows, cols, 0.5, update),
                               rtol=1e-4, atol=1e-6)


def test_per_neuron_modulator_gates_each_postsynaptic_neuron():
    # an error of +1 on post neuron 0 only: only its synapses change
    mod = pl.Modulator("err", tau=None, size=N_POST, initial=0.0,
                       drive=lambda ds, spk, t, key: (ds, jnp.where(t < DT * 1.5, jnp.eye(N_POST)[0], 0.0)))
    net = make_net(pl.error_modulated("err", lr=0.1), modulators=[mod])
    final, spikes = run_net(net, 500)
    _, cols = conn_of(net)
    dw = np.asarray(final.weights["syn"]) - 0.5
    assert np.all(dw[cols == 0] > 0) and np.all(dw[cols != 0] == 0)


# --------------------------------------------------------------------------- homeostasis


def test_inhibitory_stdp_equals_numpy_loop():
    eta, rho0, tau = 0.01, 80.0, 20.0
    net = make_net(pl.chain(pl.inhibitory_stdp(eta, rho0, tau), pl.clip_weights(0.0, 100.0)), output="conductance")
    final, spikes = run_net(net)
    pre, post = delivered(spikes["pre"], net), spikes["post"]
    rows, cols = conn_of(net)
    x, y = np.zeros(N_PRE), np.zeros(N_POST)
    alpha = 2 * rho0 * tau * 1e-3

    def update(k, s, q, w):
        nonlocal x, y
        x = x * np.exp(-DT / tau) + s
        y = y * np.exp(-DT / tau)
        at_pre = s[rows] * (y[cols] - alpha)
        y = y + q
        return np.clip(w + eta * (at_pre + q[cols] * x[rows]), 0.0, 100.0) - w

    expected = numpy_rule_loop(pre, post, rows, cols, 0.5, update)
    np.testing.assert_allclose(np.asarray(final.weights["syn"]), expected, rtol=1e-5, atol=1e-6)
    # the fastest cell (400 pA, ~130 Hz > rho_0) gains inhibition, the slowest (~40 Hz) loses it
    w = np.asarray(final.weights["syn"])
    assert w[cols == N_POST - 1].mean() > 0.5 > w[cols == 0].mean()


def test_synaptic_scaling_moves_weights_towards_the_target_rate():
    beta, r_t, tau_r = 1e-4, 80.0, 50.0
    net = make_net(pl.synaptic_scaling(r_t, beta, tau_r))
    final, spikes = run_net(net)
    post = spikes["post"]
    rows, cols = conn_of(net)
    r = np.zeros(N_POST)

    def update(k, s, q, w):
        nonlocal r
        r = r * np.exp(-DT / tau_r) + q * 1e3 / tau_r
        return beta * (r_t - r[cols]) * w * DT

    expected = numpy_rule_loop(spikes["pre"], post, rows, cols, 0.5, update)
    np.testing.assert_allclose(np.asarray(final.weights["syn"]), expected, rtol=1e-4)
    rates = post.sum(0) / 0.3
    w = np.asarray(final.weights["syn"])
    assert rates[0] < r_t < rates[-1]
    assert w[cols == 0].mean() > 0.5 > w[cols == N_POST - 1].mean()


# --------------------------------------------------------------------------- constraints


def _ev(n_pre=3, n_post=2):
    conn = ns.events.all_to_all(n_pre, n_post)
    return SynapticEvents(jnp.zeros(n_pre), jnp.zeros(n_post), conn, jnp.zeros((), jnp.int32), DT, 5.0, {}), conn


def test_constraints_edit_the_proposal():
    ev, conn = _ev()
    w = jnp.asarray([0.2, 0.8, -0.1, 0.5, 0.9, 0.0])
    dw = jnp.asarray([0.5, 0.5, -0.5, -0.1, 0.05, 0.3])
    clip = pl.clip_weights(0.0, 1.0)
    out, _ = clip.update((), dw, (), w, ev)
    np.testing.assert_allclose(w + out, [0.7, 1.0, 0.0, 0.4, 0.95, 0.3], rtol=1e-6)
    out, _ = pl.dale(-1).update((), dw, (), w, ev)
    np.testing.assert_allclose(w + out, [0.0, 0.0, -0.6, 0.0, 0.0, 0.0], rtol=1e-6)
    out, _ = pl.normalize_incoming(2.0).update((), dw, (), w, ev)
    new = np.asarray(w + out)
    np.testing.assert_allclose(np.bincount(np.asarray(conn.indices), new), [2.0, 2.0], rtol=1e-6)
    raw = np.asarray(w + dw)
    np.testing.assert_allclose(new[np.asarray(conn.indices) == 0] / raw[np.asarray(conn.indices) == 0],
                               2.0 / raw[np.asarray(conn.indices) == 0].sum(), rtol=1e-6)   # one factor per neuron


def test_chain_combines_bounds_and_checks_its_arguments():
    rule = pl.chain(pl.stdp_pair(), pl.clip_weights(0.0, 2.0), pl.clip_weights(-1.0, 1.0))
    assert rule.bounds == (0.0, 1.0) and len(rule.params) == 3
    with pytest.raises(ValueError, match="chain: argument 1 must be a plasticity Rule"):
        pl.chain(pl.stdp_pair(), "clip")


# --------------------------------------------------------------------------- differentiable plasticity


def assert_grad_of_final_weights_equals_fd(rule, rule_params, theta, steps, target, modulators=()):
    """``jax.grad`` of ``sum((w_final - target)^2)`` with respect to ``theta`` (the rule's
    parameters are ``rule_params(theta, defaults)``) equals central finite differences of step
    ``steps[k]``, and no component is zero. The post cells fire at fixed steps (a drive far
    above threshold, so spikes do not move under the perturbations): the loss is smooth."""
    net = make_net(rule, n_steps=1500, modulators=modulators)
    pp = net.params()
    pp.inputs["drive"] = ConstantCurrent.Params(jnp.full(N_POST, 5e4))
    defaults = pp.projections["syn"].dynamics["plasticity"]
    target = jnp.linspace(*target, net.projections[0].conn.nnz)

    def loss(theta):
        plast = rule_params(theta, defaults)
        params = pp._replace(projections={"syn": pp.projections["syn"]._replace(dynamics={"plasticity": plast})})
        final, _ = ns.run(net, params, ns.init_state(net, params, 0, DT), 1500, DT)
        return jnp.sum((final.weights["syn"] - target) ** 2)

    theta = jnp.asarray(theta)
    g = jax.jit(jax.grad(loss))(theta)
    f = jax.jit(loss)
    for k, h in enumerate(steps):
        e = jnp.zeros(theta.size).at[k].set(h)
        fd = (f(theta + e) - f(theta - e)) / (2 * h)
        assert float(g[k]) == pytest.approx(float(fd), rel=1e-5), k
    assert np.all(np.abs(np.asarray(g)) > 0)


def test_grad_of_final_weights_wrt_rule_parameters_equals_finite_differences(x64):
    # d loss / d (A+, A-, tau+, tau-) of pair STDP
    assert_grad_of_final_weights_equals_fd(pl.stdp_pair(0.01, 0.012, 20.0, 25.0, w_min=-10.0, w_max=10.0),
                                           lambda theta, _: pl.StdpPairParams(*theta), [0.01, 0.012, 20.0, 25.0],
                                           [1e-6, 1e-6, 1e-4, 1e-4], target=(0.3, 0.7))


def test_grad_through_the_periodic_release_equals_finite_differences(x64):
    # d loss / d (A+, tau_c, lr, d_tonic) through STDP -> reward_modulated(every=1 ms), dopamine
    # on a schedule
    dopamine = pl.Modulator("dopamine", tau=50.0, schedule=(np.array([30.0, 90.0]), np.array([1.0, 0.5])))
    rule = pl.chain(pl.stdp_pair(0.01, 0.012, 20.0, 25.0, w_min=-10.0, w_max=10.0),
                    pl.reward_modulated("dopamine", tau_c=80.0, lr=0.05, d_tonic=0.01, every=1.0))

    def rule_params(theta, defaults):
        return (defaults[0]._replace(a_plus=theta[0]), pl.three_factor.RewardModulatedParams(*theta[1:]))

    assert_grad_of_final_weights_equals_fd(rule, rule_params, [0.01, 80.0, 0.05, 0.01], [1e-6, 1e-3, 1e-6, 1e-6],
                                           target=(0.45, 0.55), modulators=[dopamine])


def test_vmap_over_networks_with_their_own_weights_equals_a_loop():
    net = make_net(pl.chain(pl.stdp_pair(0.02, 0.02), pl.clip_weights(0.0, 1.0)), n_steps=800)
    nnz = net.projections[0].conn.nnz
    w0 = jnp.asarray(np.random.default_rng(3).uniform(0.1, 0.9, (3, nnz)), jnp.float32)

    def final_weights(w):
        params = net.params().with_weights({"syn": w})
        final, _ = ns.run(net, params, ns.init_state(net, params, 0, DT), 800, DT)
        return final.weights["syn"]

    batched = jax.jit(jax.vmap(final_weights))(w0)
    looped = [jax.jit(final_weights)(w) for w in w0]
    np.testing.assert_allclose(np.asarray(batched), np.asarray(looped), rtol=1e-6, atol=1e-7)
    assert not np.allclose(np.asarray(batched[0]), np.asarray(w0[0]))


# --------------------------------------------------------------------------- monitors and state


def test_weights_monitor_records_snapshots_and_histograms():
    net = make_net(pl.chain(pl.stdp_pair(0.05, 0.05), pl.clip_weights(0.0, 1.0)))
    ids = [0, 3, 5]
    res = ns.simulate(net, 300.0, DT, monitors=[ns.Weights("syn", ids=ids, every=500),
                                                ns.Weights("syn", bins=5, range=(0.0, 1.0), every=1000)])
    t, w, got_ids = res.traces["syn.weights"]
    np.testing.assert_allclose(t, np.arange(500, 3001, 500) * DT)    # the end of each window of 500 steps
    assert got_ids.tolist() == ids
    for k, step in enumerate(range(500, 3001, 500)):   # the weights after that many steps
        part = ns.simulate(net, step * DT, DT)
        np.testing.assert_allclose(w[k], np.asarray(part.state.weights["syn"])[ids], rtol=1e-6)
    np.testing.assert_array_equal(w[-1], np.asarray(res.state.weights["syn"])[ids])   # the final weights
    t, counts, edges = res.traces["syn.weights_hist"]
    np.testing.assert_allclose(edges, np.linspace(0, 1, 6))
    np.testing.assert_allclose(t, [100.0, 200.0, 300.0])
    part = ns.simulate(net, 200.0, DT)
    np.testing.assert_array_equal(counts[1], np.histogram(np.asarray(part.state.weights["syn"]), edges)[0])
    assert counts.sum(axis=1).tolist() == [net.projections[0].conn.nnz] * 3
    with pytest.raises(ValueError, match="projection 'syn' is not plastic"):
        ns.simulate(make_net(None), 1.0, DT, monitors=[ns.Weights("syn")])
    with pytest.raises(ValueError, match="repeated"):
        ns.simulate(net, 1.0, DT, monitors=[ns.Weights("syn"), ns.Weights("syn", ids=[1])])


def test_static_network_state_and_params_are_unchanged_by_the_redesign():
    net = make_net(None)
    assert net.params().projections["syn"].dynamics == {}
    state = ns.init_state(net, net.params(), 0, DT)
    assert state.weights == {} and state.dynamics == {} and state.modulators == {} and state.dt == DT


def test_float64_network_follows_the_params_dtype_and_matches_numpy_izhikevich(x64):
    from test_neurons import izh_numpy_euler, izh_type_params

    kinds = ["RS", "IB", "CH", "TC", "RZ"]
    p = izh_type_params(kinds)
    pop = ns.Population("izh", len(kinds), Izhikevich(v_init=-65.0), p)
    net = ns.Network([pop], [], [ns.Input("i", "izh", ConstantCurrent(), ConstantCurrent.Params(10.0))])
    res = ns.simulate(net, 1000.0, DT, monitors=[ns.Spikes("izh")])
    assert res.state.neurons["izh"].v.dtype == jnp.float64
    expected, _ = izh_numpy_euler(*[np.asarray(x) for x in p[:4]], 10.0, DT, 10000)
    steps, ids = np.nonzero(expected)
    order = np.lexsort((ids, steps))
    times, got = res.spikes["izh"]
    np.testing.assert_array_equal(np.round(times / DT).astype(int), steps[order])
    np.testing.assert_array_equal(got, ids[order])
    assert times.size > 100


# --------------------------------------------------------------------------- errors


def test_bad_plasticity_input_gets_clear_errors():
    with pytest.raises(ValueError, match=r"stdp_pair: w_min must be <= w_max, got w_min=1.0 > w_max=0.5"):
        pl.stdp_pair(w_min=1.0, w_max=0.5)
    with pytest.raises(ValueError, match="clip_weights: w_min must be <= w_max"):
        pl.clip_weights(2.0, 1.0)
    with pytest.raises(ValueError, match=r"stdp_pair: tau_plus must be > 0, got -20.0"):
        pl.stdp_pair(tau_plus=-20.0)
    with pytest.raises(ValueError, match=r"stdp_pair: a_minus must be >= 0, got -0.1"):
        pl.stdp_pair(a_minus=-0.1)
    with pytest.raises(ValueError, match=r"reward_modulated: lr must be >= 0"):
        pl.reward_modulated("da", lr=-1.0)
    with pytest.raises(ValueError, match="reward_modulated: tau_c must be > 0"):
        pl.reward_modulated("da", tau_c=0.0)
    with pytest.raises(ValueError, match="traces must be one of"):
        pl.stdp_pair(traces="nearest-ish")
    with pytest.raises(ValueError, match="dale: sign must be"):
        pl.dale(0)
    with pytest.raises(ValueError, match="Modulator 'da': tau must be a positive"):
        pl.Modulator("da", tau=-1.0)


def test_bad_plastic_network_gets_clear_errors():
    rule = pl.chain(pl.stdp_pair(), pl.clip_weights(0.0, 1.0))
    # a modulator no one defines
    with pytest.raises(ValueError, match="reads the modulator 'dopamine', which the network does not define"):
        make_net(pl.chain(pl.stdp_pair(), pl.reward_modulated("dopamine")))
    # weights outside the bounds at the start: refused, or clipped on request
    with pytest.raises(ValueError, match=r"initial weight\(s\) lie outside the bounds \[0, 1\]"):
        make_net(rule, w0=1.5)
    net = make_net(pl.Plasticity(rule, clip_initial=True), w0=1.5)
    assert float(net.projections[0].weights) == 1.0
    with pytest.raises(ValueError, match="outside the bounds"):
        make_net(pl.chain(pl.stdp_pair(), pl.dale(1)), w0=-0.5)
    # a rule on procedural connectivity
    pop = ns.Population("E", 20, LIF())
    with pytest.raises(ValueError, match="a JitConn \\(procedural connectivity\\) does not store"):
        ns.Projection("EE", "E", "E", JitConn(20, 20, 0.1, seed=1), plasticity=rule)
    # a negative conductance
    conn = ns.events.all_to_all(20, 20)
    with pytest.raises(ValueError, match="weights of a conductance synapse must be >= 0"):
        ns.Projection("EE", "E", "E", conn, -1.0, Synapse("exponential", "conductance"))
    ok = ns.Network([pop], [ns.Projection("EE", "E", "E", conn, 1.0, Synapse("exponential", "conductance"))])
    bad = ok.params()
    bad = bad.with_weights({"EE": jnp.full(400, -1.0)})
    with pytest.raises(ValueError, match=r"params.projections\['EE'\].weights of a conductance synapse"):
        ns.simulate(ok, 1.0, DT, params=bad)
    # a modulator whose size does not match the postsynaptic population
    with pytest.raises(ValueError, match="modulator 'e' has size 3"):
        make_net(pl.error_modulated("e"), modulators=[pl.Modulator("e", size=3)])
    # two plastic mechanisms, something that is not a rule
    with pytest.raises(ValueError, match="plasticity must be None, a plasticity rule"):
        make_net("stdp")


def test_a_state_for_another_dt_or_network_is_refused():
    net = make_net(pl.stdp_pair(w_min=-1.0))
    params = net.params()
    state = ns.init_state(net, params, 0, 0.1)
    with pytest.raises(ValueError, match=r"state was made for dt = 0.1 ms, but this run uses dt = 0.05 ms"):
        ns.run(net, params, state, 10, 0.05)
    with pytest.raises(ValueError, match="state was made for dt = 0.1 ms"):
        ns.simulate(net, 1.0, 0.05, state=state)
    with pytest.raises(ValueError, match="state was made for dt = 0.1 ms"):
        jax.jit(lambda s: ns.step(net, params, s, 0.05))(state)
    other = make_net(None)
    with pytest.raises(ValueError, match="state was made for another network: its weights are"):
        ns.run(other, other.params(), state, 10, 0.1)


def test_state_dt_is_static_under_jit_and_vmap():
    net = make_net(pl.stdp_pair(w_min=-1.0))
    state = ns.init_state(net, net.params(), 0, DT)
    leaves = jax.tree.leaves(state)
    assert all(not isinstance(x, float) for x in leaves)
    out = jax.jit(lambda s: s)(state)
    assert out.dt == DT
    assert dataclasses.replace(state, dt=0.2).dt == 0.2


# --------------------------------------------------------------------------- event-driven = dense


REWARD_CHAIN = pl.chain(pl.stdp_pair(0.02, 0.021, w_max=1.0),
                        pl.reward_modulated("dopamine", tau_c=50.0, lr=0.05, d_tonic=0.01, every=1.0),
                        pl.clip_weights(0.0, 1.0))


EVENT_RULES = {
    "additive+clip": pl.chain(pl.stdp_pair(0.02, 0.021, w_max=1.0), pl.clip_weights(0.0, 1.0)),
    "soft-bounded nearest": pl.stdp_pair(0.02, 0.02, w_max=1.0, mu_plus=1.0, mu_minus=1.0, traces="nearest"),
    "triplet": pl.stdp_triplet(5e-3, 6e-3, 7e-3, 2e-3),
    "istdp+dale": pl.chain(pl.inhibitory_stdp(0.01, 10.0), pl.dale(1)),
    "reward-every-1ms+clip": REWARD_CHAIN,
}
# every rule on its event path (the compiled kernel where it has one), and the rules with a
# kernel once more on the pure-JAX event path
EVENT_CASES = [pytest.param(r, True, id=k) for k, r in EVENT_RULES.items()] + [
    pytest.param(r, False, id=k + "-jax") for k, r in EVENT_RULES.items() if r.kernel is not None]


@pytest.mark.parametrize("rule, kernel", EVENT_CASES)
def test_event_driven_update_equals_the_dense_form(rule, kernel, monkeypatch):
    # 400 Poisson inputs onto 300 LIF cells, p = 0.05: quiet steps take the event path (8
    # spiking neurons per side), bursts of the 100 Hz inputs (4 per step on average, more than 8
    # in ~2 % of the steps) overflow it and take the dense path
    import neurosim.plasticity.mechanism as mechanism
    if not kernel:
        monkeypatch.setattr(mechanism, "kernel_available", lambda w: False)
    n_pre, n_post = 400, 300
    src = ns.Population("in", n_pre, ns.inputs.PoissonSource(), ns.inputs.PoissonSource.Params(100.0))
    cells = ns.Population("out", n_post, LIF(v_init=ns.Uniform(-60.0, -50.0)), LIFParams(t_ref=2.0))
    drive = ns.Input("drive", "out", ConstantCurrent(), ConstantCurrent.Params(95.0))
    conn = ns.events.fixed_probability(n_pre, n_post, 0.05, seed=4)
    dopamine = [pl.Modulator("dopamine", tau=30.0, schedule=(np.array([40.0, 120.0]), np.array([1.0, 0.5])))]
    nets = [ns.Network([src, cells], [ns.Projection("syn", "in", "out", conn, 0.5, Synapse("exponential", "current"),
                                                    SynapseParams(5.0), plasticity=pl.Plasticity(rule, event_driven=ev))],
                       [drive], modulators=dopamine if rule is REWARD_CHAIN else ()) for ev in (True, False)]
    assert mechanism._rungs(nets[0].projections[0].conn) == (8,)
    finals = [run_net(net, 2000)[0] for net in nets]
    event, dense = (np.asarray(f.weights["syn"]) for f in finals)
    np.testing.assert_allclose(event, dense, rtol=1e-6, atol=1e-7)
    assert np.ptp(event) > 1e-3
    # the spikes were the same too, and both paths were taken
    _, spikes = run_net(nets[0], 2000)
    per_step = np.maximum(spikes["in"].sum(1), spikes["out"].sum(1))
    assert (per_step <= 8).any() and (per_step > 8).any()


# --------------------------------------------------------------------------- the compiled STDP kernel

from neurosim.plasticity.kernels import PairOptions, kernel_available, stdp_pair_events, stdp_pair_reference  # noqa: E402


def _kernel_case(seed=0, n_pre=60, n_post=40):
    rng = np.random.default_rng(seed)
    conn = ns.events.fixed_probability(n_pre, n_post, 0.2, seed=seed).with_columns()
    w = jnp.asarray(rng.uniform(0.2, 0.8, conn.nnz), jnp.float32)
    pre = jnp.asarray(rng.random(n_pre) < 0.2, jnp.float32)
    post = jnp.asarray(rng.random(n_post) < 0.2, jnp.float32)
    x = jnp.asarray(rng.uniform(0, 2, n_pre), jnp.float32)
    y = jnp.asarray(rng.uniform(0, 2, n_post), jnp.float32)
    return conn, w, pre, post, x, y


needs_kernel = pytest.mark.skipif(not kernel_available(jnp.zeros(1, jnp.float32)),
                                  reason="the compiled plasticity kernel is not built")


@needs_kernel
@pytest.mark.parametrize("opts", [PairOptions(0.0, 1.0, 0.0, 0.0, 0.0, 1.0), PairOptions(0.0, 1.0, 1.0, 1.0),
                                  PairOptions(0.0, 1.0, 0.5, 0.3, 0.1, 0.9)], ids=["additive+clip", "soft", "guetig+clip"])
def test_stdp_kernel_values_equal_the_dense_reference(opts):
    conn, w, pre, post, x, y = _kernel_case()
    got = stdp_pair_events(w, conn, pre, post, x, y, 0.3, 0.2, opts, backend="kernel")
    ref = stdp_pair_reference(w, conn.rows, conn.indices, pre, post, x, y, jnp.asarray([0.3, 0.2]), opts)
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-6, atol=1e-7)
    touched = (np.asarray(pre)[np.asarray(conn.rows)] > 0) | (np.asarray(post)[np.asarray(conn.indices)] > 0)
    assert touched.any() and (~touched).any()
    np.testing.assert_array_equal(np.asarray(got)[~touched], np.asarray(w)[~touched])   # the rest untouched


@needs_kernel
def test_stdp_kernel_vmap_equals_a_loop():
    conn, w, pre, post, x, y = _kernel_case(1)
    ws = jnp.stack([w, w * 0.5, 1.0 - w])
    pres = jnp.stack([pre, pre[::-1], jnp.zeros_like(pre)])
    opts = PairOptions(0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    f = lambda w, s: stdp_pair_events(w, conn, s, post, x, y, 0.3, 0.2, opts)
    batched = jax.vmap(f)(ws, pres)
    np.testing.assert_allclose(np.asarray(batched), np.stack([np.asarray(f(a, b)) for a, b in zip(ws, pres)]),
                               rtol=1e-6)


@needs_kernel
def test_stdp_kernel_gradients_equal_the_reference():
    from jax.test_util import check_grads

    conn, w, pre, post, x, y = _kernel_case(2)
    opts = PairOptions(0.0, 1.0, 1.0, 1.0)    # smooth (no clip, soft bounds)
    f = lambda w, x, y, amp, s: stdp_pair_events(w, conn, s, post, x, y, amp[0], amp[1], opts)
    amp = jnp.asarray([0.3, 0.2])
    check_grads(f, (w, x, y, amp, pre), order=1, modes=("fwd", "rev"), atol=2e-2, rtol=2e-2, eps=1e-2)
    g = jax.grad(lambda *a: jnp.sum(f(*a) ** 2), argnums=(0, 1, 2, 3))(w, x, y, amp, pre)
    ref = lambda w, x, y, amp, s: stdp_pair_reference(w, conn.rows, conn.indices, s, post, x, y, amp, opts)
    g_ref = jax.grad(lambda *a: jnp.sum(ref(*a) ** 2), argnums=(0, 1, 2, 3))(w, x, y, amp, pre)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.parametrize("opts, exact", [(PairOptions(0.0, 1.0, 0.0, 0.0, 0.0, 1.0), True),
                                         (PairOptions(0.0, 1.0, 1.0, 1.0), True),
                                         (PairOptions(0.0, 1.0, 0.5, 0.3, 0.1, 0.9), False)],
                         ids=["additive+clip", "soft", "guetig+clip"])
def test_cuda_stdp_kernel_equals_the_cpu_kernel(opts, exact):
    # the same update on both (stdp_pair.h, no multiply-add): the same bits, but for CUDA's powf
    gpu, cpu = jax.devices("gpu")[0], jax.devices("cpu")[0]
    with jax.default_device(gpu):
        if not kernel_available(jnp.zeros(1, jnp.float32)):
            pytest.skip("the CUDA plasticity kernel is not built")
    conn, w, pre, post, x, y = _kernel_case(4, n_pre=3000, n_post=2000)

    def run(device):
        with jax.default_device(device):
            c, ww, s, q, xx, yy = jax.device_put((conn, w, pre, post, x, y), device)
            return np.asarray(stdp_pair_events(ww, c, s, q, xx, yy, 0.3, 0.2, opts, backend="kernel"))

    on_gpu, on_cpu = run(gpu), run(cpu)
    assert np.sum(on_cpu != np.asarray(w)) > 1000
    if exact:
        np.testing.assert_array_equal(on_gpu, on_cpu)
    else:
        np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-6, atol=1e-7)


def test_stdp_kernel_backend_errors_and_reference_fallback():
    conn, w, pre, post, x, y = _kernel_case(3)
    opts = PairOptions(0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    plain = ns.events.fixed_probability(60, 40, 0.2, seed=3)     # no column index
    with pytest.raises(ValueError, match="backend='kernel'"):
        stdp_pair_events(w, plain, pre, post, x, y, 0.3, 0.2, opts, backend="kernel")
    a = stdp_pair_events(w, plain, pre, post, x, y, 0.3, 0.2, opts)             # falls back to the reference
    b = stdp_pair_events(w, conn, pre, post, x, y, 0.3, 0.2, opts, backend="reference")
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


# --------------------------------------------------------------------------- the distal-reward network


def test_uniform_current_draws_uniformly_in_its_bounds():
    from neurosim.inputs import UniformCurrent

    src, p = UniformCurrent(), UniformCurrent.Params(-6.5, 6.5)
    _, i = src.current(p, src.init(p, 200_000, jax.random.key(0)), 0, 1.0, None, jnp.zeros(200_000))
    i = np.asarray(i)
    assert i.min() >= -6.5 and i.max() < 6.5
    assert abs(i.mean()) < 0.05 and i.var() == pytest.approx(13.0**2 / 12, rel=0.02)   # U[-6.5, 6.5): var 14.08


def test_reward_drive_schedules_a_reward_1_to_3_s_after_a_coincidence():
    from neurosim.builders.distal_reward import reward_drive

    drive = reward_drive(n1=0, n2=1, amount=0.5)
    state = (jnp.asarray(-1e9, jnp.float32), jnp.asarray(-1.0, jnp.float32))
    fire = lambda *ids: {"neurons": jnp.zeros(3).at[jnp.asarray(ids, jnp.int32)].set(1.0) if ids else jnp.zeros(3)}
    key = jax.random.key(0)
    state, inc = drive(state, fire(0), jnp.float32(100.0), key)          # n1 fires
    assert float(inc) == 0 and float(state[0]) == 100.0
    state, inc = drive(state, fire(1), jnp.float32(125.0), key)          # n2, 25 ms later: too late
    assert float(state[1]) == -1.0
    state, _ = drive(state, fire(0), jnp.float32(200.0), key)
    state, inc = drive(state, fire(1), jnp.float32(215.0), key)          # 15 ms: a reward is scheduled
    due = float(state[1])
    assert 215.0 + 1001.0 <= due <= 215.0 + 3000.0 and float(inc) == 0
    state, inc = drive(state, fire(0, 1), jnp.float32(216.0), key)       # pending: nothing new
    assert float(state[1]) == due
    state, inc = drive(state, fire(), jnp.float32(due - 1.0), key)
    assert float(inc) == 0
    state, inc = drive(state, fire(), jnp.float32(due), key)             # delivered once
    assert float(inc) == 0.5 and float(state[1]) == -1.0
    off = reward_drive(0, 1, enabled=False)
    s2, _ = off((jnp.float32(200.0), jnp.float32(-1.0)), fire(1), jnp.float32(210.0), key)
    assert float(s2[1]) == -1.0


def test_distal_reward_network_fires_at_the_papers_rate():
    net, k = ns.builders.distal_reward(seed=0)
    assert float(net.projections[0].weights[k]) == 0.0 and net.projections[0].conn.nnz == 80_000
    res = ns.simulate(net, 5000.0, 1.0, key=0, monitors=[ns.Spikes("neurons")])
    t, _ = res.spikes["neurons"]
    rate = np.sum(t >= 1000.0) / 1000 / 4.0
    assert 0.8 <= rate <= 1.8, rate        # papers: 1.2-1.3 Hz (numpy port of daspnet.m)
    w = np.asarray(res.state.weights["exc"])
    assert np.all((w >= 0) & (w <= 4)) and np.ptp(w) > 0


def test_replacing_a_projection_field_rebuilds_its_chain():
    # the chain is derived from stp, dynamics and plasticity, so dataclasses.replace works
    from neurosim.synapses.short_term import TsodyksMarkram

    net = make_net(pl.stdp_pair(w_min=-1.0))
    pr = dataclasses.replace(net.projections[0], stp=TsodyksMarkram())
    assert [m.key for m in pr.chain] == ["stp", "plasticity"]
    again = dataclasses.replace(pr, weights=0.25)
    assert [m.key for m in again.chain] == ["stp", "plasticity"] and float(again.weights) == 0.25
    static = dataclasses.replace(again, plasticity=None, stp=None, stp_params=None)
    assert static.chain == () and not static.plastic
