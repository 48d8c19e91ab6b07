"""AdaptiveLIF (neurosim.neurons.adaptive_lif): the adaptive threshold against a float64 numpy
loop of its equations, the exact relaxation of theta, LIF recovered at theta_plus = 0, the
homeostatic drift driving the rate to r_target, and the errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim.neurons import LIF, AdaptiveLIF, AdaptiveLIFParams, LIFParams

DT = 0.1


def run(model, params, n_steps, current, n=1, key=0):
    state = model.init(params, n, jax.random.key(key))
    # float64 under the x64 fixture, as init_state makes it
    state = jax.tree.map(lambda x: jnp.asarray(x, jnp.result_type(float)), state)

    def body(s, _):
        s, spk = model.step(params, s, jnp.broadcast_to(jnp.asarray(current, s.v.dtype), (n,)), DT)
        return s, (s, spk)

    _, (states, spikes) = jax.lax.scan(body, state, None, length=n_steps)
    return states, np.asarray(spikes)


def numpy_reference(p, current, n_steps, dt=DT):
    """The module docstring's equations, one neuron, float64."""
    v, t_left, theta = p.v_rest, 0.0, 0.0
    decay_m = np.exp(-dt * p.g_l / p.c_m)
    vs, thetas, spikes = [], [], []
    for _ in range(n_steps):
        refr = t_left > 0.5 * dt
        v_inf = p.v_rest + current / p.g_l
        v = v_inf + (v - v_inf) * decay_m
        if refr:
            v = p.v_reset
        s = float(v >= p.v_th + theta and not refr)
        if s:
            v = p.v_reset
        t_left = p.t_ref if s else max(t_left - dt, 0.0)
        theta = theta * np.exp(-dt / p.tau_theta) + p.theta_plus * (s - p.r_target * dt * 1e-3)
        vs.append(v)
        thetas.append(theta)
        spikes.append(s)
    return np.array(vs), np.array(thetas), np.array(spikes)


def test_adaptive_threshold_matches_a_numpy_loop_spike_for_spike(x64):
    p = AdaptiveLIFParams(theta_plus=0.8, tau_theta=50.0, t_ref=2.0)
    states, spikes = run(AdaptiveLIF(), p, 5000, 300.0)
    v, theta, s = numpy_reference(p, 300.0, 5000)
    np.testing.assert_array_equal(spikes[:, 0], s)
    np.testing.assert_allclose(np.asarray(states.theta[:, 0]), theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(states.v[:, 0]), v, rtol=1e-9, atol=1e-9)
    # adaptation: the interspike intervals lengthen towards their steady value
    isi = np.diff(np.flatnonzero(s))
    assert s.sum() > 10 and isi[-1] > isi[0]


def test_theta_relaxes_exactly_between_spikes():
    # a silent neuron (no input): theta_init relaxes as exp(-t / tau_theta)
    p = AdaptiveLIFParams(tau_theta=20.0)
    states, spikes = run(AdaptiveLIF(theta_init=3.0), p, 400, 0.0)
    assert spikes.sum() == 0
    t = DT * np.arange(1, 401)
    np.testing.assert_allclose(np.asarray(states.theta[:, 0]), 3.0 * np.exp(-t / 20.0), rtol=2e-5)


def test_without_adaptation_it_is_lif():
    lif_p = LIFParams(t_ref=2.0)
    p = AdaptiveLIFParams(*lif_p[:6], theta_plus=0.0, slope=lif_p.slope)
    a_states, a_spikes = run(AdaptiveLIF(v_init=ns.Uniform(-60.0, -50.0)), p, 3000, 250.0, n=20)
    b_states, b_spikes = run(LIF(v_init=ns.Uniform(-60.0, -50.0)), lif_p, 3000, 250.0, n=20)
    assert a_spikes.sum() > 0
    np.testing.assert_array_equal(a_spikes, b_spikes)
    np.testing.assert_array_equal(a_states.v, b_states.v)


@pytest.mark.parametrize("current", [140.0, 600.0])
def test_homeostatic_drift_drives_the_rate_to_the_target(current):
    # without it the rates are 36.8 Hz and 175.4 Hz; with it both settle at r_target
    r_target, n_steps = 20.0, 400_000   # 40 s
    p = AdaptiveLIFParams(theta_plus=0.2, tau_theta=1e7, r_target=r_target, t_ref=2.0)
    _, spikes = run(AdaptiveLIF(), p, n_steps, current)
    free = run(LIF(), LIFParams(t_ref=2.0), 50_000, current)[1].sum() / 5.0
    late = spikes[n_steps // 2:, 0].sum() / (n_steps // 2 * DT * 1e-3)
    assert abs(free - r_target) > 15.0
    assert abs(late - r_target) < 0.05 * r_target, (free, late)


def test_in_a_network_and_bad_input():
    pop = ns.Population("p", 5, AdaptiveLIF(), AdaptiveLIFParams(theta_plus=0.5))
    net = ns.Network([pop], [], [ns.Input("i", "p", ns.inputs.ConstantCurrent(), ns.inputs.ConstantCurrent.Params(300.0))])
    res = ns.simulate(net, 100.0, DT, monitors=[ns.Spikes("p"), ns.Trace("p", "theta")])
    assert res.timings["engine"] == "native"   # the fused kernel steps plain LIF only; the native engine lowers it
    _, theta, _ = res.traces["p.theta"] if "p.theta" in res.traces else next(iter(res.traces.values()))
    n_spikes = np.bincount(res.spikes["p"][1], minlength=5)
    # no relaxation to speak of in 100 ms (tau 1e7 ms): theta = theta_plus x spikes so far
    np.testing.assert_allclose(np.asarray(theta)[-1], 0.5 * n_spikes, rtol=1e-4)
    with pytest.raises(ValueError, match="tau_theta must be > 0"):
        ns.Population("q", 3, AdaptiveLIF(), AdaptiveLIFParams(tau_theta=-1.0))
    with pytest.raises(ValueError, match="theta_plus must be >= 0"):
        ns.Population("q", 3, AdaptiveLIF(), AdaptiveLIFParams(theta_plus=-0.1))
    with pytest.raises(ValueError, match="theta_init must be a finite number"):
        AdaptiveLIF(theta_init=float("nan"))
