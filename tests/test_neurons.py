"""Tests for neurosim.neurons: every model against analytic answers or an independent
integrator (closed forms, scipy's solve_ivp, plain numpy loops written here), the surrogate
spike, vmap, and the errors bad input must raise.

Conventions used throughout: ``run_cell`` scans ``model.step`` over a (T, n) current array;
output row j is the state after step j, i.e. at time (j + 1) dt.
"""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neurosim import _checks
from neurosim.init import Uniform, draw
from neurosim.network import Population
from neurosim.neurons import (
    IZHIKEVICH_TYPES,
    LIF,
    AdEx,
    AdExParams,
    AdExState,
    Izhikevich,
    IzhikevichParams,
    IzhikevichState,
    LIFParams,
    LIFState,
    spike,
)


@partial(jax.jit, static_argnums=(0, 4))
def run_cell(model, params, state, currents, dt):
    """Scan ``model.step`` over ``currents`` (T, n): returns (stacked states, spikes (T, n))."""
    def body(s, i):
        s, spk = model.step(params, s, i, dt)
        return s, (s, spk)

    _, (states, spikes) = jax.lax.scan(body, state, currents)
    return states, spikes


def constant(value, n_steps, n=1, dtype=jnp.float32):
    return jnp.broadcast_to(jnp.asarray(value, dtype), (n_steps, n))


def spike_steps(spikes, col=0):
    return np.flatnonzero(np.asarray(spikes)[:, col] > 0)


# =========================================================================== LIF


def lif_first_passage(v_inf, v_start, v_th, tau):
    """Time for V to go from v_start to v_th under V_inf: tau ln((V_inf - V_start)/(V_inf - V_th))."""
    return tau * np.log((v_inf - v_start) / (v_inf - v_th))


def test_lif_subthreshold_matches_closed_form_every_step():
    # Four neurons with their own tau (per-neuron c_m, g_l), start and current; all stay
    # below threshold (V_inf <= -50.1 mV).
    c_m = np.array([200.0, 100.0, 250.0, 300.0])
    g_l = np.array([10.0, 20.0, 5.0, 15.0])
    v0 = np.array([-70.0, -50.5, -60.0, -65.0])
    i = np.array([50.0, -100.0, 0.0, 99.0 * 15.0 / 10.0])  # pA
    params = LIFParams(c_m=c_m, g_l=g_l)
    dt, n_steps = 0.1, 1000
    state = LIFState(v=jnp.asarray(v0, jnp.float32), t_left=jnp.zeros(4))
    states, spikes = run_cell(LIF(), params, state, jnp.broadcast_to(jnp.asarray(i, jnp.float32), (n_steps, 4)), dt)

    t = dt * np.arange(1, n_steps + 1)[:, None]
    v_inf = -60.0 + i / g_l
    expected = v_inf + (v0 - v_inf) * np.exp(-t / (c_m / g_l))
    assert np.asarray(spikes).sum() == 0
    # float32 state: each step rounds V (|V| ~ 60 mV, ulp ~4e-6 mV) and decay^k drifts from
    # exp(-k dt/tau) by ~k ulps of a <= 20 mV term (measured <= 3e-6 relative over 1000 steps).
    np.testing.assert_allclose(np.asarray(states.v), expected, rtol=1e-5, atol=0)


def test_lif_first_spike_time_within_one_step_of_closed_form():
    i = np.array([150.0, 200.0, 400.0, 1000.0])  # pA; V_inf = -45, -40, -20, +40 mV
    params = LIFParams()  # v_rest = v_reset = -60, v_th = -50, tau = 20 ms
    dt, n_steps = 0.1, 400
    state = LIF().init(params, 4, None)
    _, spikes = run_cell(LIF(), params, state, jnp.broadcast_to(jnp.asarray(i, jnp.float32), (n_steps, 4)), dt)

    t_star = lif_first_passage(-60.0 + i / 10.0, -60.0, -50.0, 20.0)
    for k in range(4):
        t_first = (spike_steps(spikes, k)[0] + 1) * dt  # end of the step that crossed
        # Exact integration: the spike is reported in the first step ending at or after t*.
        # 1e-4 ms of slack for float32 rounding when t* falls on a step boundary.
        assert t_star[k] - 1e-4 <= t_first < t_star[k] + dt + 1e-4, (i[k], t_first, t_star[k])


@pytest.mark.parametrize("t_ref, dt", [(5.0, 0.1), (2.0, 0.025), (1.5, 0.5)])
def test_lif_refractory_holds_v_reset_for_t_ref_over_dt_steps(t_ref, dt):
    params = LIFParams(v_reset=-65.0, t_ref=t_ref)  # reset below rest, so any leak would show
    n_ref = round(t_ref / dt)
    n_steps = 4 * n_ref + 200
    states, spikes = run_cell(LIF(), params, LIF().init(params, 1, None), constant(1000.0, n_steps), dt)
    v = np.asarray(states.v)[:, 0]
    j = spike_steps(spikes)[0]
    assert v[j] == -65.0  # reset in the spike step
    np.testing.assert_array_equal(v[j + 1: j + 1 + n_ref], -65.0)  # held for exactly n_ref steps
    assert v[j + 1 + n_ref] > -65.0  # and integrating again right after
    assert np.asarray(spikes)[j + 1: j + 1 + n_ref].sum() == 0


def test_lif_f_i_curve_matches_closed_form_within_a_step():
    # Rate = 1 / (t_ref + tau ln((V_inf - V_reset)/(V_inf - V_th))); 99 pA sits just below
    # rheobase (V_inf = -50.1 mV) and must not fire at all.
    i = np.array([99.0, 110.0, 150.0, 250.0, 500.0, 2000.0])
    dt, t_ref, n_steps = 0.1, 5.0, 5000
    params = LIFParams(t_ref=t_ref)
    _, spikes = run_cell(LIF(), params, LIF().init(params, len(i), None),
                         jnp.broadcast_to(jnp.asarray(i, jnp.float32), (n_steps, len(i))), dt)
    assert spike_steps(spikes, 0).size == 0
    for k in range(1, len(i)):
        v_inf = -60.0 + i[k] / 10.0
        period = t_ref + lif_first_passage(v_inf, -60.0, -50.0, 20.0)
        isi = np.diff(spike_steps(spikes, k)) * dt
        assert isi.size >= 2
        # Each ISI is t_ref plus the first passage rounded up to a whole step.
        assert np.all(isi >= period - 1e-4) and np.all(isi < period + dt + 1e-4), (i[k], isi, period)
        rate_hz = 1e3 / isi.mean()
        assert 1e3 / (period + dt) - 1e-3 <= rate_hz <= 1e3 / period + 1e-3


def test_lif_uniform_v_init_is_reproducible_per_key():
    model, params = LIF(v_init=Uniform(-60.0, -50.0)), LIFParams()
    a = model.init(params, 200, jax.random.key(1)).v
    b = model.init(params, 200, jax.random.key(1)).v
    c = model.init(params, 200, jax.random.key(2)).v
    np.testing.assert_array_equal(a, b)
    assert np.all(np.asarray(a) != np.asarray(c))
    assert np.all((np.asarray(a) >= -60.0) & (np.asarray(a) < -50.0))


def test_lif_step_vmaps_over_parameter_sets_like_a_loop():
    batch = LIFParams(
        v_rest=jnp.array([-60.0, -65.0, -70.0]),
        v_reset=jnp.array([-60.0, -70.0, -75.0]),
        v_th=jnp.array([-50.0, -52.0, -55.0]),
        c_m=jnp.array([200.0, 150.0, 250.0]),
        g_l=jnp.array([10.0, 12.0, 8.0]),
        t_ref=jnp.array([5.0, 2.0, 0.0]),
        slope=jnp.array([1.0, 2.0, 0.5]),
    )
    state = LIFState(v=jnp.array([-60.0, -51.0, -49.0, -70.0]), t_left=jnp.array([0.0, 0.0, 0.0, 1.0]))
    i = jnp.array([0.0, 50.0, 300.0, 100.0])
    step = lambda p: LIF().step(p, state, i, 0.1)  # noqa: E731

    v_states, v_spikes = jax.vmap(step)(batch)
    for b in range(3):
        s, spk = step(jax.tree.map(lambda x: x[b], batch))
        np.testing.assert_array_equal(v_states.v[b], s.v)
        np.testing.assert_array_equal(v_states.t_left[b], s.t_left)
        np.testing.assert_array_equal(v_spikes[b], spk)
    assert v_spikes.sum() > 0  # the batch exercises the spike/reset branch too


# =========================================================================== surrogate spike


def test_spike_forward_is_heaviside():
    x = jnp.array([-3.0, -1e-6, 0.0, 1e-6, 2.0])
    out = spike(x, 1.0)
    np.testing.assert_array_equal(out, [0.0, 0.0, 1.0, 1.0, 1.0])
    assert out.dtype == x.dtype


@pytest.mark.parametrize("slope", [0.1, 1.0, 25.0])
def test_spike_grad_is_fast_sigmoid_derivative(slope):
    x = jnp.linspace(-5.0, 5.0, 41)
    g = jax.vmap(jax.grad(spike), in_axes=(0, None))(x, slope)
    np.testing.assert_allclose(g, slope / (1.0 + slope * np.abs(np.asarray(x))) ** 2, rtol=1e-6)


def test_spike_jvp_equals_numerical_derivative_of_fast_sigmoid(x64):
    # The surrogate is the derivative of f(x) = slope x / (1 + slope |x|): compare the JVP
    # with a central difference of f (float64; h = 1e-6, error O(h^2) away from x = 0).
    slope = 2.0
    x = jnp.array([-3.0, -0.7, -0.05, 0.05, 0.4, 4.0])
    x_dot = jnp.array([1.0, -2.0, 0.5, 3.0, 1.0, -1.0])
    out, tangent = jax.jvp(lambda x: spike(x, slope), (x,), (x_dot,))
    f = lambda x: slope * x / (1.0 + slope * np.abs(x))  # noqa: E731
    h = 1e-6
    xn = np.asarray(x)
    numerical = (f(xn + h) - f(xn - h)) / (2 * h) * np.asarray(x_dot)
    np.testing.assert_array_equal(out, (xn >= 0).astype(float))
    np.testing.assert_allclose(tangent, numerical, rtol=1e-7)
    np.testing.assert_allclose(tangent, slope / (1 + slope * np.abs(xn)) ** 2 * np.asarray(x_dot), rtol=1e-14)


def test_spike_count_grad_through_lif_run_is_finite_and_positive():
    params, dt, n_steps = LIFParams(), 0.1, 500  # 50 ms

    def count(i):
        states, spikes = run_cell(LIF(), params, LIF().init(params, 1, None),
                                  jnp.full((n_steps, 1), i, jnp.float32), dt)
        return spikes.sum()

    assert count(300.0) >= 2  # a few spikes, so the gradient crosses resets
    g = jax.grad(count)(300.0)
    assert np.isfinite(g) and g > 0


# =========================================================================== Izhikevich


def izh_rest(b):
    """Stable fixed point with I = 0, u = b v: the lower root of 0.04 v^2 + (5 - b) v + 140."""
    return min(np.roots([0.04, 5.0 - b, 140.0]).real)


@pytest.mark.parametrize("kind, rest_mv", [("RS", -70.0), ("LTS", -64.41), ("RZ", -62.5)])
def test_izhikevich_rest_matches_papers_fixed_point(kind, rest_mv):
    p = IZHIKEVICH_TYPES[kind]
    assert izh_rest(p.b) == pytest.approx(rest_mv, abs=5e-3)  # papers.md 1.1 (rounded to 0.01)
    dt, n_steps = 0.1, 10000
    zero = constant(0.0, n_steps, 2)
    # neuron 0 starts exactly at rest, neuron 1 1 mV below it (u = b v for both; from the
    # default -65 mV the resonator rebounds into a spike, so start on the safe side)
    v0 = jnp.array([izh_rest(p.b), izh_rest(p.b) - 1.0], jnp.float32)
    states, spikes = run_cell(Izhikevich(), p, IzhikevichState(v=v0, u=p.b * v0), zero, dt)
    v = np.asarray(states.v)
    assert np.asarray(spikes).sum() == 0
    # float32: the residual of the right-hand side at rest is ~1e-5 mV/ms and the point is
    # stable, so the trace stays within 1e-3 mV of it.
    assert np.abs(v[:, 0] - izh_rest(p.b)).max() < 1e-3
    # the slowest decay among these types is 0.027/ms (RS); 1 s leaves < 1e-9 mV of the
    # initial 1 mV, so what is left is the 0.005 mV rounding of the papers' value
    assert abs(v[-1, 1] - rest_mv) < 1e-2


def test_izhikevich_resonator_damped_oscillation_period_41ms():
    # papers.md 1.1: RZ at rest has eigenvalues -0.05 +/- 0.1533i per ms -> period 41.0 ms.
    p, dt = IZHIKEVICH_TYPES["RZ"], 0.1
    rest = izh_rest(p.b)
    i = np.zeros((3000, 1), np.float32)
    i[:10] = 1.0  # 1 ms pulse: a ~1 mV kick, well below the saddle at -56 mV
    v0 = jnp.full((1,), rest, jnp.float32)
    states, spikes = run_cell(Izhikevich(), p, IzhikevichState(v=v0, u=p.b * v0), jnp.asarray(i), dt)
    x = np.asarray(states.v, float)[:, 0] - rest
    assert np.asarray(spikes).sum() == 0 and x.max() < 3.0
    up = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    t_up = (up + -x[up] / (x[up + 1] - x[up])) * dt  # linear interpolation of the crossing
    assert t_up.size >= 3
    periods = np.diff(t_up)[:3]
    assert np.all(np.abs(periods - 41.0) < 2.0), periods
    # and it is damped: each successive peak is smaller (decay time 20 ms -> x0.13 per period)
    peaks = [x[a:b].max() for a, b in zip(up[:-1], up[1:])]
    assert all(p1 < 0.3 * p0 for p0, p1 in zip(peaks, peaks[1:]))


def izh_numpy_euler(a, b, c, d, i, dt, n_steps, v_peak=30.0):
    """Independent forward-Euler loop (float64), spike-and-reset after the update.
    Returns (spikes (T, n) bool, u (T, n))."""
    v = np.full(np.shape(a), -65.0)
    u = b * v
    spikes, us = [], []
    for _ in range(n_steps):
        v, u = v + dt * (0.04 * v * v + 5.0 * v + 140.0 - u + i), u + dt * a * (b * v - u)
        fired = v >= v_peak
        v = np.where(fired, c, v)
        u = np.where(fired, u + d, u)
        spikes.append(fired)
        us.append(u)
    return np.array(spikes), np.array(us)


def izh_type_params(kinds):
    return IzhikevichParams(*[jnp.asarray([IZHIKEVICH_TYPES[k][f] for k in kinds]) for f in range(4)])


def test_izhikevich_firing_types_at_i10_match_papers_counts():
    # papers.md 1.2: v0 = -65, u0 = b v0, I = 10 for 1000 ms, forward Euler dt = 0.1 ms.
    kinds = ["RS", "IB", "CH", "FS", "LTS"]
    p, dt, n_steps = izh_type_params(kinds), 0.1, 10000
    _, spikes = run_cell(Izhikevich(), p, Izhikevich().init(p, len(kinds), None), constant(10.0, n_steps, 5), dt)
    t = {k: spike_steps(spikes, j) * dt for j, k in enumerate(kinds)}
    isi = {k: np.diff(v) for k, v in t.items()}

    assert 20 <= len(t["RS"]) <= 26
    assert 1.5 <= isi["RS"][-1] / isi["RS"][0] <= 2.2 and isi["RS"].min() >= 10
    assert 30 <= len(t["IB"]) <= 38
    short = np.flatnonzero(isi["IB"] < 10)
    assert 1 <= short.size <= 3 and np.array_equal(short, np.arange(short.size))  # all at the start
    assert (isi["CH"] < 10).mean() > 0.7 and isi["CH"].max() > 30
    assert len(t["FS"]) > 100 and np.all(isi["FS"] < 10) and isi["FS"][-1] / isi["FS"][0] < 2
    assert 65 <= len(t["LTS"]) <= 85 and isi["LTS"][-1] / isi["LTS"][0] > 3


def test_izhikevich_euler_matches_independent_numpy_loop(x64):
    # float64 on both sides. XLA contracts a * b + c into FMAs and numpy does not, so the two
    # differ in the last bit after a few steps; under Euler at dt = 0.1 ms the FS (and, more
    # slowly, LTS) cells are chaotic and grow that gap ~2.4x per 10 ms (measured: FS spike
    # trains part after ~350 ms). Over 200 ms the measured gap in u stays below 1e-6, so
    # identical spike steps are a fair demand there; the regular types are checked for 1 s.
    kinds = ["RS", "IB", "CH", "FS", "LTS", "TC", "RZ"]
    p, dt, n_steps = izh_type_params(kinds), 0.1, 10000
    state = IzhikevichState(v=jnp.full((len(kinds),), -65.0), u=p.b * -65.0)
    states, spikes = run_cell(Izhikevich(), p, state, constant(10.0, n_steps, len(kinds), jnp.float64), dt)
    expected, u = izh_numpy_euler(*[np.asarray(x) for x in p[:4]], 10.0, dt, n_steps)
    spikes = np.asarray(spikes) > 0
    short = 2000
    assert expected[:short].sum() > 100
    np.testing.assert_array_equal(spikes[:short], expected[:short])
    np.testing.assert_allclose(np.asarray(states.u)[:short], u[:short], rtol=0, atol=1e-6)
    regular = [kinds.index(k) for k in ("RS", "IB", "CH", "TC", "RZ")]
    np.testing.assert_array_equal(spikes[:, regular], expected[:, regular])


def izh_net_m_numpy(a, b, c, d, currents, dt):
    """Izhikevich's net.m loop, literally: detect v >= 30 and reset at the START of each step,
    then two dt/2 Euler steps of v and one dt step of u using the new v (float64)."""
    v = -65.0 * np.ones_like(a)
    u = b * v
    fired_at = []
    for i in currents:
        fired = v >= 30.0
        fired_at.append(fired)
        v = np.where(fired, c, v)
        u = np.where(fired, u + d, u)
        v = v + 0.5 * dt * (0.04 * v**2 + 5 * v + 140 - u + i)
        v = v + 0.5 * dt * (0.04 * v**2 + 5 * v + 140 - u + i)
        u = u + dt * a * (b * v - u)
    fired_at.append(v >= 30.0)
    return np.array(fired_at)


def test_izhikevich_net_m_matches_handwritten_net_m(x64):
    # Heterogeneous cells and noisy thalamic input as in net.m (5 N(0,1) for E, 2 N(0,1) for I).
    # float64; as in the Euler test, XLA's FMAs leave last-bit differences that this coarse
    # scheme amplifies (measured: 1e-10 in u after 500 steps, 1e-4 after 1000), so spike
    # identity is demanded over 500 ms.
    rng = np.random.default_rng(0)
    ne, ni, n_steps, dt = 16, 4, 500, 1.0
    re, ri = rng.uniform(size=ne), rng.uniform(size=ni)
    a = np.r_[0.02 * np.ones(ne), 0.02 + 0.08 * ri]
    b = np.r_[0.2 * np.ones(ne), 0.25 - 0.05 * ri]
    c = np.r_[-65 + 15 * re**2, -65 * np.ones(ni)]
    d = np.r_[8 - 6 * re**2, 2 * np.ones(ni)]
    currents = np.c_[5 * rng.standard_normal((n_steps, ne)), 2 * rng.standard_normal((n_steps, ni))]
    currents[:, :4] += 6.0  # a few strongly driven cells so every type of cell fires
    p = IzhikevichParams(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), jnp.asarray(d))
    model = Izhikevich(integrator="net_m")
    _, spikes = run_cell(model, p, IzhikevichState(v=jnp.full((ne + ni,), -65.0), u=p.b * -65.0),
                         jnp.asarray(currents), dt)
    fired = izh_net_m_numpy(a, b, c, d, currents, dt)
    # net.m sees in step k+1 the crossing that neurosim reports at the end of step k.
    assert fired.sum() > 40
    np.testing.assert_array_equal(np.asarray(spikes) > 0, fired[1:])


# =========================================================================== AdEx


def adex_reference(p, v0, w0, i, t):
    def rhs(_, y):
        v, w = y
        dv = (-p.g_l * (v - p.e_l) + p.g_l * p.delta_t * np.exp((v - p.v_t) / p.delta_t) - w + i) / p.c_m
        return [dv, (p.a * (v - p.e_l) - w) / p.tau_w]

    sol = solve_ivp(rhs, (0.0, t[-1]), [v0, w0], method="Radau", rtol=1e-11, atol=1e-11, dense_output=True)
    return sol.sol(t)


def adex_euler(p, v0, w0, i, dt, n_steps):
    state = AdExState(v=jnp.full((1,), v0), w=jnp.full((1,), w0), t_left=jnp.zeros((1,)))
    states, spikes = run_cell(AdEx(), p, state, jnp.full((n_steps, 1), i), dt)
    return np.asarray(states.v)[:, 0], np.asarray(states.w)[:, 0], np.asarray(spikes)


# (v0 mV, w0 pA, I pA): relaxation from above rest through the exponential region, and
# charging by a subthreshold step (rheobase here is ~600 pA).
ADEX_SUBTHRESHOLD = [(-56.0, 60.0, 0.0), (-70.6, 0.0, 400.0)]


@pytest.mark.parametrize("v0, w0, i", ADEX_SUBTHRESHOLD)
def test_adex_subthreshold_matches_solve_ivp(x64, v0, w0, i):
    p, dt, n_steps = AdExParams(), 0.01, 30000  # 300 ms, two tau_w
    v, w, spikes = adex_euler(p, v0, w0, i, dt, n_steps)
    ref_v, ref_w = adex_reference(p, v0, w0, i, dt * np.arange(1, n_steps + 1))
    assert spikes.sum() == 0
    # Forward Euler's global error is O(dt): ~2.6e-3 mV and ~8e-4 pA measured at dt = 0.01 ms;
    # the bounds leave 2x of margin (the reference is accurate to ~1e-9).
    np.testing.assert_allclose(v, ref_v, atol=5e-3, rtol=0)
    np.testing.assert_allclose(w, ref_w, atol=2e-3, rtol=0)


def test_adex_euler_converges_at_first_order(x64):
    p, (v0, w0, i), t_end = AdExParams(), ADEX_SUBTHRESHOLD[1], 100.0
    errors = []
    for dt in (0.04, 0.02, 0.01):
        n_steps = round(t_end / dt)
        v, _, _ = adex_euler(p, v0, w0, i, dt, n_steps)
        ref_v, _ = adex_reference(p, v0, w0, i, dt * np.arange(1, n_steps + 1))
        errors.append(np.abs(v - ref_v).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 1.8) & (ratios < 2.2)), ratios  # halving dt halves the error


def test_adex_adaptation_isi_grows_and_w_jumps_by_b():
    p, dt, n_steps = AdExParams(), 0.1, 5000
    state = AdEx().init(p, 1, None)
    states, spikes = run_cell(AdEx(), p, state, constant(1000.0, n_steps), dt)
    v, w = np.asarray(states.v, float)[:, 0], np.asarray(states.w, float)[:, 0]
    s = np.asarray(spikes)[:, 0] > 0
    isi = np.diff(np.flatnonzero(s)) * dt
    assert isi.size >= 4
    assert np.all(np.diff(isi) >= -dt) and isi[-1] > 1.5 * isi[0]  # ISIs lengthen
    # w jump = w' - (Euler update of w from the previous state): b at spikes, 0 elsewhere.
    v_prev, w_prev = np.r_[p.e_l, v[:-1]], np.r_[0.0, w[:-1]]
    jump = w - (w_prev + dt * (p.a * (v_prev - p.e_l) - w_prev) / p.tau_w)
    # float32: w reaches ~1e3 pA, ulp ~6e-5 pA; 1e-3 pA covers the rounding of one update.
    np.testing.assert_allclose(jump[s], p.b, atol=1e-3)
    np.testing.assert_allclose(jump[~s], 0.0, atol=1e-3)


def test_adex_huge_current_overshoot_stays_finite():
    p, dt = AdExParams(t_ref=0.0), 0.1
    state = AdExState(v=jnp.array([-70.6, 500.0]), w=jnp.zeros(2), t_left=jnp.zeros(2))  # one starts far above V_peak
    states, spikes = run_cell(AdEx(), p, state, constant(1e9, 50, 2), dt)
    assert np.all(np.isfinite(np.asarray(states.v))) and np.all(np.isfinite(np.asarray(states.w)))
    assert np.asarray(spikes).all()  # overshoots every step, resets every step
    np.testing.assert_array_equal(np.asarray(states.v), np.float32(p.v_reset))

    g = jax.grad(lambda i: run_cell(AdEx(), p, state, jnp.full((50, 2), i), dt)[0].v.sum())(1e9)
    assert np.isfinite(g)


# =========================================================================== bad input


@pytest.mark.parametrize("dt", [float("nan"), float("inf"), -0.1, 0.0, "0.1ms"])
def test_bad_dt_is_refused_with_its_name(dt):
    with pytest.raises(ValueError, match="dt must be a positive finite number"):
        _checks.positive_finite("dt", dt)


def test_izhikevich_unknown_integrator_raises():
    with pytest.raises(ValueError, match="'rk4'"):
        Izhikevich(integrator="rk4")


def test_params_of_wrong_shape_for_population_raise():
    with pytest.raises(ValueError, match=r"v_th.*\(10,\).*\(7,\)"):
        Population("X", 10, LIF(), LIFParams(v_th=np.zeros(7)))


@pytest.mark.parametrize("field, value", [("c_m", float("nan")), ("g_l", np.array([10.0, np.inf, 10.0]))])
def test_non_finite_params_raise(field, value):
    with pytest.raises(ValueError, match=f"{field} must be finite"):
        Population("X", 3, LIF(), LIFParams()._replace(**{field: value}))


@pytest.mark.parametrize("rule", ["uniform", (0.0, 1.0), [-60.0]])
def test_unknown_init_rule_raises(rule):
    with pytest.raises(ValueError, match="initial-value rule"):
        LIF(v_init=rule).init(LIFParams(), 5, jax.random.key(0))


def test_numpy_scalar_is_a_valid_init_rule():
    np.testing.assert_array_equal(draw(np.float32(-55.0), 0.0, 3, None), -55.0)
    np.testing.assert_array_equal(draw(np.int64(-55), 0.0, 3, None), -55.0)
