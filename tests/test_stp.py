"""Tests for neurosim.synapses.short_term (Tsodyks-Markram STP) and its hook in the network.

- closed forms: the steady state of a regular train (depression, facilitation, both forms of
  recovery), written out here independently of the module, and the module's own
  ``tsodyks_markram_steady_state`` against long runs;
- an independent numpy implementation: event by event with ``scipy.linalg.expm`` for the
  linear recovery between spikes, and a fine-step ODE integration, on irregular trains;
- the network: a projection with ``stp`` delivers ``w u x`` to its synapse, with delays, per
  synapse parameters, vmap and grad; ``stp=None`` leaves params and state as they were;
- errors: negative or out-of-range parameters, wrong shapes, inconsistent options.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import neurosim as ns
from neurosim.inputs import SpikeTimes
from neurosim.neurons import LIF
from neurosim.synapses import Synapse, SynapseParams
from neurosim.synapses.dynamics import SynapseShape
from neurosim.synapses.short_term import (
    TsodyksMarkram,
    TsodyksMarkramParams,
    check_stp_params,
    tsodyks_markram_steady_state,
)

DT = 0.1  # ms


# --------------------------------------------------------------------------- helpers


def run_release(params, spike_steps, n_steps, recovery="instant", tau_in=None, n_syn=1, dt=DT):
    """Drive ``n_syn`` synapses of one presynaptic neuron with spikes in ``spike_steps``; return
    the release r (n_steps, n_syn) and the state after every step."""
    stp = TsodyksMarkram(recovery)
    rows = jnp.zeros((n_syn,), jnp.int32)
    spikes = np.zeros((n_steps, 1), np.float32)
    spikes[np.asarray(spike_steps), 0] = 1.0

    def body(carry, s):
        state, t = carry
        state, r = stp.release(params, state, rows, s, t, dt, tau_in=tau_in)
        return (state, t + 1), (r, state.u, state.x, state.y)

    init = stp.init(params, SynapseShape(n_pre=1, n_post=n_syn, nnz=n_syn, dtype=jnp.float32))
    _, (r, u, x, y) = jax.jit(lambda sp: jax.lax.scan(body, (init, jnp.int32(0)), sp))(jnp.asarray(spikes))
    return np.asarray(r), np.asarray(u), np.asarray(x), np.asarray(y)


def numpy_releases(params, times, tau_in=None):
    """Independent reference: event by event in float64. Between spikes u decays as e^{-t/F};
    the recovery is the linear system d/dt (w, y) = [[-1/D, 1/D], [0, -1/tau_in]] (w, y)
    (w = 1 - x), propagated with a matrix exponential; the 2-state form has y -> 0 at once."""
    U, D, F = (float(v) for v in params)
    u, x, y, last, out = 0.0, 1.0, 0.0, None, []
    for t in times:
        if last is not None:
            delta = t - last
            u *= np.exp(-delta / F) if F > 0 else 0.0
            if tau_in is None:
                x = 1.0 - (1.0 - x) * np.exp(-delta / D)
            else:
                a = np.array([[-1.0 / D, 1.0 / D], [0.0, -1.0 / tau_in]])
                w, y = scipy.linalg.expm(a * delta) @ np.array([1.0 - x, y])
                x = 1.0 - w
        u = u + U * (1.0 - u)
        r = u * x
        out.append(r)
        x, y, last = x - r, y + r, t
    return np.array(out)


def euler_releases(params, times, tau_in, h=1e-3):
    """Independent reference 2: the ODEs integrated with tiny forward-Euler steps (float64)."""
    U, D, F = (float(v) for v in params)
    u, x, y, out = 0.0, 1.0, 0.0, []
    t, k = 0.0, 0
    spikes = list(times)
    while k < len(spikes):
        if t + 0.5 * h >= spikes[k]:
            u = u + U * (1.0 - u)
            r = u * x
            out.append(r)
            x, y, k = x - r, y + r, k + 1
            continue
        u, x, y = u - h * u / F, x + h * (1.0 - x - y) / D, y - h * y / tau_in
        t += h
    return np.array(out)


def textbook_steady_state(U, D, F, T):
    """Steady state of a regular train, 2-state recovery (Tsodyks & Markram 1997; Markram et
    al. 1998): u at the spike, x before it, release r = u x."""
    u = U / (1.0 - (1.0 - U) * np.exp(-T / F)) if F > 0 else U
    x = (1.0 - np.exp(-T / D)) / (1.0 - (1.0 - u) * np.exp(-T / D))
    return u, x, u * x


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("U, D, F", [(0.5, 800.0, 0.0), (0.6, 200.0, 0.0), (0.05, 125.0, 1200.0), (0.2, 300.0, 100.0)])
def test_regular_train_reaches_the_textbook_steady_state(U, D, F):
    period = 20.0  # ms, 50 Hz
    k = int(round(period / DT))
    n_spikes = 200
    r, _, x, _ = run_release(TsodyksMarkramParams(U, D, F), np.arange(n_spikes) * k, n_spikes * k)
    steps = np.arange(n_spikes) * k
    u_ss, x_ss, r_ss = textbook_steady_state(U, D, F, period)
    assert r[steps[-1], 0] == pytest.approx(r_ss, rel=1e-4)
    assert r[steps[0], 0] == pytest.approx(U, rel=1e-6)            # first spike releases U x, x = 1
    assert x[steps[-1], 0] == pytest.approx(x_ss * (1 - u_ss), rel=1e-4)   # x just after the last spike
    # depression without facilitation: r decreases monotonically to r*; strong facilitation
    # (U small, F large) makes the second release larger than the first
    if F == 0:
        assert np.all(np.diff(r[steps, 0]) <= 1e-7)
    if U == 0.05:
        assert r[steps[1], 0] > r[steps[0], 0]


def test_depressing_synapse_steady_state_formula():
    # F = 0: r* = U (1 - e^{-T/D}) / (1 - (1 - U) e^{-T/D}) (Tsodyks & Markram 1997, eq. for the
    # stationary EPSC), at 10, 20 and 40 Hz
    U, D = 0.5, 800.0
    for hz in (10.0, 20.0, 40.0):
        T = 1000.0 / hz
        e = np.exp(-T / D)
        _, _, r = tsodyks_markram_steady_state(TsodyksMarkramParams(U, D, 0.0), T)
        assert r == pytest.approx(U * (1 - e) / (1 - (1 - U) * e), rel=1e-12)
    # at high rates (T << U D) the release per ms, r* / T, tends to 1 / D: rate-independent drive
    r_hi = tsodyks_markram_steady_state(TsodyksMarkramParams(U, D, 0.0), 1.0)[2]
    assert r_hi / 1.0 == pytest.approx(1.0 / D, rel=3e-3)


@pytest.mark.parametrize("recovery, tau_in", [("instant", None), ("inactive", 3.0), ("inactive", 30.0)])
def test_module_steady_state_matches_a_long_run(recovery, tau_in):
    params = TsodyksMarkramParams(U=0.3, tau_rec=400.0, tau_facil=80.0)
    period = 12.5  # ms, 80 Hz
    k = int(round(period / DT))
    steps = np.arange(300) * k
    r, u, x, _ = run_release(params, steps, steps[-1] + 1, recovery, tau_in)
    u_ss, x_ss, r_ss = tsodyks_markram_steady_state(params, period, tau_in)
    assert r[steps[-1], 0] == pytest.approx(r_ss, rel=2e-4)
    assert u[steps[-1], 0] == pytest.approx(u_ss, rel=1e-5)
    assert x[steps[-1], 0] == pytest.approx(x_ss * (1 - u_ss), rel=2e-4)


def test_three_state_recovers_slower_than_two_state_by_order_tau_in_over_d():
    params = TsodyksMarkramParams(U=0.5, tau_rec=1100.0, tau_facil=50.0)
    r2 = tsodyks_markram_steady_state(params, 50.0)[2]
    r3 = tsodyks_markram_steady_state(params, 50.0, tau_in=3.0)[2]
    assert r3 < r2
    assert (r2 - r3) / r2 < 3 * 3.0 / 1100.0


# --------------------------------------------------------------------------- independent numpy


@pytest.mark.parametrize("recovery, tau_in", [("instant", None), ("inactive", 3.0), ("inactive", 6.0)])
@pytest.mark.parametrize("params", [TsodyksMarkramParams(0.5, 1100.0, 50.0), TsodyksMarkramParams(0.05, 125.0, 1200.0),
                                    TsodyksMarkramParams(0.32, 144.0, 0.0), TsodyksMarkramParams(0.25, 5.0, 20.0)])
def test_irregular_train_matches_event_by_event_numpy(recovery, tau_in, params):
    rng = np.random.default_rng(3)
    steps = np.unique(rng.integers(0, 20000, 60))   # ~30 Hz over 2 s, intervals from 0.1 ms up
    r, *_ = run_release(params, steps, 20000, recovery, tau_in)
    expected = numpy_releases(params, steps * DT, tau_in)
    np.testing.assert_allclose(r[steps, 0], expected, rtol=2e-5, atol=1e-7)


def test_three_state_matches_a_fine_euler_integration_of_the_odes():
    params = TsodyksMarkramParams(0.4, 60.0, 30.0)
    steps = np.array([0, 37, 52, 400, 405, 900, 1600, 1612])   # intervals 0.5 .. 70 ms
    r, *_ = run_release(params, steps, 1700, "inactive", 5.0)
    ref = euler_releases(params, steps * DT, 5.0, h=2e-4)
    np.testing.assert_allclose(r[steps, 0], ref, rtol=2e-3)


def test_recovery_when_tau_rec_equals_tau_in_has_no_cancellation():
    # D = tau_in: the transfer (e^{-a t} - e^{-b t}) / (b - a) becomes t e^{-t/D}; the module
    # switches to its series form there and must stay continuous
    steps = np.array([0, 30, 60, 400])
    near = [run_release(TsodyksMarkramParams(0.5, d, 0.0), steps, 401, "inactive", 3.0)[0][steps, 0]
            for d in (3.0, 3.0 + 1e-4, 3.0 + 1e-2)]
    np.testing.assert_allclose(near[0], near[1], rtol=1e-4)
    np.testing.assert_allclose(near[0], near[2], rtol=1e-2)
    np.testing.assert_allclose(near[0], numpy_releases(TsodyksMarkramParams(0.5, 3.0 + 1e-6, 0.0), steps * DT, 3.0),
                               rtol=1e-4)


def test_state_changes_only_at_spikes_lazily():
    steps = np.array([10, 500])
    _, u, x, _ = run_release(TsodyksMarkramParams(0.5, 100.0, 50.0), steps, 800)
    assert np.all(u[:10] == 0) and np.all(x[:10] == 1)
    assert np.all(u[10:500] == u[10]) and np.all(x[10:500] == x[10])   # held between spikes
    assert u[500, 0] != u[10, 0]


# --------------------------------------------------------------------------- in a network


def stp_chain(times_ms, params, *, recovery="inactive", kinetics="exponential", weight=100.0, tau=3.0, delay_ms=None,
              n_post=1):
    pre = ns.Population("pre", 1, SpikeTimes(np.asarray(times_ms), np.zeros(len(times_ms), int)))
    post = ns.Population("post", n_post, LIF())
    conn = ns.CSR.from_arrays(np.zeros(n_post, int), np.arange(n_post), 1, n_post)
    proj = ns.Projection("syn", "pre", "post", conn, weight, Synapse(kinetics, "current"), SynapseParams(tau=tau),
                         delay_ms=delay_ms, stp=TsodyksMarkram(recovery), stp_params=params)
    return ns.Network([pre, post], [proj])


def record_current(net, n_steps, params=None):
    params = net.params() if params is None else params

    def body(s, _):
        s, _ = ns.step(net, params, s, DT)
        return s, s.synapses["syn"].g

    state = ns.init_state(net, params, 0, DT)
    return np.asarray(jax.jit(lambda s: jax.lax.scan(body, s, None, length=n_steps)[1])(state))


@pytest.mark.parametrize("delay_ms", [None, 1.5])
def test_projection_delivers_weight_times_release_into_its_synapse(delay_ms):
    times = np.array([2.05, 7.05, 9.05, 30.05, 31.05, 80.05])
    params = TsodyksMarkramParams(0.3, 200.0, 40.0)
    n_steps = 1000
    g = record_current(stp_chain(times, params, delay_ms=delay_ms), n_steps)[:, 0]
    d = 1 if delay_ms is None else int(round(delay_ms / DT))
    r = numpy_releases(params, np.floor(times / DT) * DT, tau_in=3.0)
    # the PSC of the exponential synapse: g after step m = sum_k 100 r_k e^{-(m - m_k) dt / tau},
    # m_k = spike step + d - 1 the delivery step
    m = np.arange(n_steps)
    deliver = np.floor(times / DT).astype(int) + d - 1
    expected = sum(100.0 * rk * np.exp(-(m - mk) * DT / 3.0) * (m >= mk) for rk, mk in zip(r, deliver))
    np.testing.assert_allclose(g, expected, rtol=2e-5, atol=1e-4)


def test_per_synapse_parameters_give_per_synapse_releases():
    U = np.array([0.1, 0.5, 0.9], np.float32)
    params = TsodyksMarkramParams(U=U, tau_rec=100.0, tau_facil=0.0)
    times = np.array([1.05, 3.05])
    g = record_current(stp_chain(times, params, recovery="instant", kinetics="delta", weight=10.0, n_post=3), 60)
    first, second = int(times[0] / DT), int(times[1] / DT)   # delta synapse: g after the delivery step = drive
    np.testing.assert_allclose(g[first], 10.0 * U, rtol=1e-6)
    x = 1.0 - (1.0 - (1.0 - U)) * np.exp(-2.0 / 100.0)               # recovered after 2 ms
    np.testing.assert_allclose(g[second], 10.0 * U * x, rtol=1e-5)


def _sum_current(net, p, n_steps=200):
    def body(s, _):
        s, _ = ns.step(net, p, s, DT)
        return s, s.synapses["syn"].g.sum()

    state = ns.init_state(net, p, 0, DT)
    return jax.lax.scan(body, state, None, length=n_steps)[1].sum()


def test_stp_params_are_differentiable_and_match_finite_differences():
    times = np.array([1.05, 6.05, 11.05, 16.05])
    net = stp_chain(times, TsodyksMarkramParams(0.3, 100.0, 50.0), recovery="instant", kinetics="delta")

    def total(U, F):
        p = net.params()
        p.projections["syn"].dynamics["stp"] = TsodyksMarkramParams(U, 100.0, F)
        return _sum_current(net, p)

    g_u, g_f = jax.jit(jax.grad(total, argnums=(0, 1)))(jnp.float32(0.3), jnp.float32(50.0))
    eps_u, eps_f = 1e-3, 1e-1
    fd_u = (total(0.3 + eps_u, 50.0) - total(0.3 - eps_u, 50.0)) / (2 * eps_u)
    fd_f = (total(0.3, 50.0 + eps_f) - total(0.3, 50.0 - eps_f)) / (2 * eps_f)
    assert float(g_u) == pytest.approx(float(fd_u), rel=1e-2)
    assert float(g_f) == pytest.approx(float(fd_f), rel=2e-2)
    assert float(g_f) > 0   # slower decay of facilitation -> more release


def test_vmap_over_stp_params_equals_a_loop():
    times = np.array([1.05, 4.05, 5.05, 12.05])
    net = stp_chain(times, TsodyksMarkramParams(0.3, 100.0, 50.0))
    Us = jnp.array([0.1, 0.4, 0.8])

    def one(U):
        p = net.params()
        p.projections["syn"].dynamics["stp"] = TsodyksMarkramParams(U, 100.0, 50.0)
        return _sum_current(net, p)

    batched = jax.jit(jax.vmap(one))(Us)
    looped = [one(U) for U in Us]
    np.testing.assert_allclose(batched, looped, rtol=1e-6)


def test_simulate_runs_a_network_with_stp_and_keeps_its_state():
    net = stp_chain(np.array([1.05, 2.05]), TsodyksMarkramParams(0.5, 100.0, 0.0), recovery="instant", kinetics="delta")
    res = ns.simulate(net, 10.0, DT, monitors=[ns.Spikes("pre")])
    np.testing.assert_allclose(res.spikes["pre"][0], [1.0, 2.0])
    state = res.state.dynamics["syn"]["stp"]
    assert state.last.tolist() == [20]                        # the second spike's delivery step
    x_before = 1.0 - 0.5 * np.exp(-1.0 / 100.0)               # after the first release of 0.5, 1 ms of recovery
    assert float(state.x[0]) == pytest.approx(x_before * (1 - 0.5), rel=1e-6)
    assert float(state.u[0]) == pytest.approx(0.5)


def test_without_stp_params_and_state_have_no_stp_entries():
    pre = ns.Population("pre", 2, SpikeTimes(np.array([1.0]), np.array([0])))
    post = ns.Population("post", 2, LIF())
    proj = ns.Projection("syn", "pre", "post", ns.events.one_to_one(2), 1.0)
    net = ns.Network([pre, post], [proj])
    assert net.params().projections["syn"].dynamics == {}
    state = ns.init_state(net, net.params(), 0, DT)
    assert state.dynamics == {} and state.weights == {}
    new, _ = ns.step(net, net.params(), state, DT)
    assert new.dynamics == {} and new.weights == {}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("params, message", [
    (TsodyksMarkramParams(U=-0.1), "U must be > 0"),
    (TsodyksMarkramParams(U=0.0), "U must be > 0"),
    (TsodyksMarkramParams(U=1.5), r"U must lie in \(0, 1\]"),
    (TsodyksMarkramParams(tau_rec=0.0), "tau_rec must be > 0"),
    (TsodyksMarkramParams(tau_rec=-5.0), "tau_rec must be > 0"),
    (TsodyksMarkramParams(tau_facil=-1.0), "tau_facil must be >= 0"),
    (TsodyksMarkramParams(tau_rec=np.nan), "tau_rec must be finite"),
    (TsodyksMarkramParams(U=np.array([0.5, 0.5])), r"shape \(3,\)"),
])
def test_bad_parameters_are_clear_value_errors(params, message):
    with pytest.raises(ValueError, match=message):
        check_stp_params(params, 3)
    conn = ns.CSR.from_arrays([0, 0, 0], [0, 1, 2], 1, 3)
    with pytest.raises(ValueError, match=f"Projection 'syn': stp_params.*{message}"):
        ns.Projection("syn", "a", "b", conn, 1.0, stp=TsodyksMarkram(), stp_params=params)


def test_inconsistent_options_are_clear_value_errors():
    conn = ns.CSR.from_arrays([0], [0], 1, 1)
    with pytest.raises(ValueError, match="recovery must be one of"):
        TsodyksMarkram("slow")
    with pytest.raises(ValueError, match="needs a neurosim.synapses.Synapse with exponential kinetics"):
        ns.Projection("syn", "a", "b", conn, 1.0, Synapse("delta"), stp=TsodyksMarkram("inactive"))
    with pytest.raises(ValueError, match="stp_params given without stp"):
        ns.Projection("syn", "a", "b", conn, 1.0, stp_params=TsodyksMarkramParams())
    with pytest.raises(ValueError, match="must be an instance"):
        ns.Projection("syn", "a", "b", conn, 1.0, stp=TsodyksMarkram)
    with pytest.raises(ValueError, match="must be None or a TsodyksMarkram"):
        ns.Projection("syn", "a", "b", conn, 1.0, stp="tm")
    with pytest.raises(ValueError, match="must be a TsodyksMarkramParams"):
        ns.Projection("syn", "a", "b", conn, 1.0, stp=TsodyksMarkram(), stp_params=(0.5, 100.0, 0.0))
    with pytest.raises(ValueError, match="needs tau_in"):
        TsodyksMarkram("inactive").release(TsodyksMarkramParams(), TsodyksMarkram().init(TsodyksMarkramParams(), SynapseShape(1, 1, 1, jnp.float32)),
                                          jnp.zeros(1, jnp.int32), jnp.ones(1), 0, DT)
