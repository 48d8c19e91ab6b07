"""Tests for neurosim.synapses: each kinetics against its closed form, the CUBA/COBA outputs,
and the errors for unknown options.

Convention: drive delivered in step k is in the state after step k (so it reaches the
membrane in step k + 1); "m steps after delivery" counts from that state.
"""
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurosim.synapses import Synapse, SynapseParams, SynapseState


@partial(jax.jit, static_argnums=(0, 3))
def run_synapse(syn, params, drives, dt):
    """Scan ``syn.step`` over ``drives`` (T, n) from g = x = 0: returns stacked states."""
    state = syn.init(params, drives.shape[1], None)

    def body(s, drive):
        s = syn.step(params, s, drive, dt)
        return s, s

    return jax.lax.scan(body, state, drives)[1]


def single_delivery(w, n_steps):
    """Drive ``w`` (n,) in step 0, nothing afterwards."""
    drives = np.zeros((n_steps, len(w)), np.float32)
    drives[0] = w
    return jnp.asarray(drives)


def test_exponential_decay_is_exact():
    tau = np.array([2.0, 5.0, 20.0])
    w = np.array([1.0, -3.0, 0.5])
    dt, n_steps = 0.1, 1001  # 5 tau of the slowest
    g = np.asarray(run_synapse(Synapse("exponential"), SynapseParams(tau=jnp.asarray(tau)), single_delivery(w, n_steps), dt).g)
    m = np.arange(n_steps)[:, None]
    # Exact integration: g_m = w exp(-m dt / tau). float32 rounding of decay^m drifts by up
    # to ~m ulps (measured 3e-5 relative at m = 1000); forward Euler, (1 - dt/tau)^m, would
    # be off by ~m (dt/tau)^2 / 2 (> 10% by m = 100 for tau = 2 ms), so the two are told apart.
    np.testing.assert_allclose(g, w * np.exp(-m * dt / tau), rtol=1e-4, atol=0)
    np.testing.assert_array_equal(g[0], w.astype(np.float32))  # the full weight at once


def alpha_closed_form(w, tau, t):
    return w * math.e * (t / tau) * np.exp(-t / tau)


def test_alpha_peak_is_w_at_t_equal_tau():
    tau = np.array([1.0, 3.0, 10.0])
    w = np.array([2.0, 1.0, -0.5])
    dt, n_steps = 0.1, 600
    g = np.asarray(run_synapse(Synapse("alpha"), SynapseParams(tau=jnp.asarray(tau)), single_delivery(w, n_steps), dt).g)
    peak_step = np.argmax(np.abs(g), axis=0)
    np.testing.assert_array_equal(peak_step, np.round(tau / dt))  # tau is a whole number of steps
    # float32: a few ulps of the e w (t/tau) exp(-t/tau) product
    np.testing.assert_allclose(g[peak_step, np.arange(3)], w, rtol=1e-5)


def test_alpha_matches_closed_form_every_step():
    tau, w, dt, n_steps = 4.0, np.array([1.5]), 0.1, 800
    g = np.asarray(run_synapse(Synapse("alpha"), SynapseParams(tau=tau), single_delivery(w, n_steps), dt).g)[:, 0]
    t = dt * np.arange(n_steps)
    assert g[0] == 0.0  # the rise starts from zero in the delivery step
    # float32 rounding: measured 3.5e-6 relative over 200 ms (50 tau)
    np.testing.assert_allclose(g, alpha_closed_form(1.5, tau, t), rtol=2e-5, atol=0)


def test_alpha_is_linear_in_deliveries():
    # Two deliveries (w1 at step 0, w2 at step 37) give the sum of two shifted alpha functions.
    tau, dt, n_steps, k2 = 2.5, 0.1, 400, 37
    drives = np.zeros((n_steps, 1), np.float32)
    drives[0], drives[k2] = 1.0, -0.7
    g = np.asarray(run_synapse(Synapse("alpha"), SynapseParams(tau=tau), jnp.asarray(drives), dt).g)[:, 0]
    t = dt * np.arange(n_steps)
    expected = alpha_closed_form(1.0, tau, t) + np.where(t >= k2 * dt, alpha_closed_form(-0.7, tau, t - k2 * dt), 0.0)
    # float32 rounding as above; atol covers the cancellation where the two terms cross zero
    np.testing.assert_allclose(g, expected, rtol=2e-5, atol=1e-6)


def test_delta_current_equals_drive_for_exactly_one_step():
    drives = np.array([0.0, 3.0, 0.0, 0.0, 5.0, 2.0, 0.0, 0.0], np.float32)[:, None] * np.array([1.0, -2.0], np.float32)
    syn = Synapse("delta")
    states = run_synapse(syn, SynapseParams(), jnp.asarray(drives), 0.1)
    current = np.asarray(jax.vmap(lambda s: syn.current(SynapseParams(), s, None))(states))
    # state after step k holds exactly the drive of step k: no memory, no decay
    np.testing.assert_array_equal(current, drives)


def test_conductance_output_is_g_times_driving_force():
    syn = Synapse("exponential", "conductance")
    g = jnp.array([0.0, 1.5, 4.0, 10.0])
    v = jnp.array([-60.0, -80.0, 0.0, -55.0])
    params = SynapseParams(tau=5.0, e_rev=-80.0)
    i = syn.current(params, SynapseState(g=g, x=jnp.zeros(4)), v)
    np.testing.assert_allclose(i, np.asarray(g) * (-80.0 - np.asarray(v)), rtol=1e-7)
    assert float(i[1]) == 0.0  # no current at the reversal potential


def test_current_output_ignores_voltage():
    syn = Synapse("exponential", "current")
    state = SynapseState(g=jnp.array([1.0, -2.0]), x=jnp.zeros(2))
    np.testing.assert_array_equal(syn.current(SynapseParams(e_rev=-80.0), state, jnp.array([-60.0, 20.0])), [1.0, -2.0])


@pytest.mark.parametrize("kwargs, bad", [({"kinetics": "expo"}, "'expo'"), ({"output": "cuba"}, "'cuba'"),
                                         ({"kinetics": "Alpha"}, "'Alpha'")])
def test_unknown_kinetics_or_output_raises_naming_the_value(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        Synapse(**kwargs)
