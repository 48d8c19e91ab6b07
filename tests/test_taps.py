"""Tests for neurosim.analysis.taps: readout features at chosen times, against values computed
by hand, the numpy and JAX filters against each other and against a simulation, and the errors
for sample times outside the run."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim.analysis.taps import exp_filter_raster, exp_filtered_spikes, trace_at, windowed_rates
from neurosim.inputs import ConstantCurrent
from neurosim.neurons import LIF

TIMES = np.array([1.0, 2.0, 5.0, 5.0])
IDS = np.array([0, 1, 0, 2])


def test_exp_filtered_spikes_by_hand():
    x = exp_filtered_spikes(TIMES, IDS, 3, [0.5, 1.0, 3.0, 5.0, 9.0], tau=2.0, t_start=0.0, t_stop=10.0)
    e = math.exp
    expected = np.array([
        [0.0, 0.0, 0.0],                                   # before any spike
        [1.0, 0.0, 0.0],                                   # a spike at the sample time counts fully
        [e(-2.0 / 2), e(-1.0 / 2), 0.0],
        [e(-4.0 / 2) + 1.0, e(-3.0 / 2), 1.0],
        [e(-8.0 / 2) + e(-4.0 / 2), e(-7.0 / 2), e(-4.0 / 2)],
    ])
    np.testing.assert_allclose(x, expected, rtol=1e-12)


def test_exp_filtered_spikes_ignores_spikes_outside_the_window():
    x = exp_filtered_spikes(np.array([1.0, 5.0, 12.0]), np.array([0, 0, 0]), 1, [6.0], tau=1.0, t_start=2.0, t_stop=10.0)
    assert x[0, 0] == pytest.approx(math.exp(-1.0))       # the spike at 1 ms precedes the record


def test_windowed_rates_by_hand():
    r = windowed_rates(TIMES, IDS, 3, [4.0, 5.0, 6.0], window=4.0, t_start=0.0, t_stop=10.0)
    # (0, 4]: spikes at 1 (n0), 2 (n1); (1, 5]: 2 (n1), 5 (n0), 5 (n2); (2, 6]: 5 (n0), 5 (n2)
    np.testing.assert_allclose(r, np.array([[1, 1, 0], [1, 1, 1], [1, 0, 1]]) * 1000.0 / 4.0)


def test_trace_at_takes_the_last_sample_at_or_before():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    v = np.array([[10.0, 0.0], [11.0, 1.0], [12.0, 2.0], [13.0, 3.0]])
    np.testing.assert_array_equal(trace_at(t, v, [0.0, 1.5, 2.0, 3.0]), v[[0, 1, 2, 3]])


def test_jax_filter_equals_numpy_filter_and_vmaps():
    rng = np.random.default_rng(0)
    dt, n_steps, n = 0.1, 400, 5
    raster = (rng.random((n_steps, n)) < 0.02).astype(np.float32)
    k, i = np.nonzero(raster)
    at = [0.0, 3.3, 10.0, 25.0, 39.9]
    y = exp_filter_raster(raster, dt, 3.0, at=at)
    ref = exp_filtered_spikes(k * dt, i, n, at, 3.0, t_start=0.0, t_stop=n_steps * dt)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    full = exp_filter_raster(raster, dt, 3.0)
    assert full.shape == (n_steps, n)
    np.testing.assert_allclose(full[np.round(np.array(at) / dt).astype(int)], y, rtol=1e-6)
    batch = np.stack([raster, raster[::-1]])
    np.testing.assert_allclose(jax.vmap(lambda r: exp_filter_raster(r, dt, 3.0, at=at))(batch)[0], y, rtol=1e-6)
    np.testing.assert_allclose(exp_filter_raster(batch, dt, 3.0, at=at)[1],
                               exp_filter_raster(batch[1], dt, 3.0, at=at), rtol=1e-6)


def test_jax_filter_is_differentiable_in_tau():
    raster = jnp.zeros((50, 1)).at[10, 0].set(1.0)
    f = lambda tau: exp_filter_raster(raster, 0.1, tau, at=[4.0])[0, 0]   # noqa: E731
    # y = exp(-3 / tau): dy/dtau = 3 / tau^2 exp(-3 / tau)
    assert float(jax.grad(f)(2.0)) == pytest.approx(3 / 4 * math.exp(-1.5), rel=1e-4)


def test_taps_on_a_simulation_agree_with_the_raster_filter():
    pop = ns.Population("E", 3, LIF())
    net = ns.Network([pop], [], [ns.Input("drive", "E", ConstantCurrent(), ConstantCurrent.Params(np.array([250.0, 300.0, 0.0])))])
    dt = 0.1
    res = ns.simulate(net, 100.0, dt, monitors=[ns.Spikes("E"), ns.Trace("E", "v", every=10)])
    t, ids = res.spikes["E"]
    assert t.size > 5
    at = [20.0, 55.5, 99.9]
    x = exp_filtered_spikes(t, ids, 3, at, 30.0, t_start=res.t_start, t_stop=res.t_stop)
    _, spikes = ns.run(net, net.params(), ns.init_state(net, net.params(), 0, dt), 1000, dt)
    np.testing.assert_allclose(x, exp_filter_raster(spikes["E"], dt, 30.0, at=at), rtol=1e-5, atol=1e-6)
    tv, v, _ = res.traces["E.v"]
    np.testing.assert_array_equal(trace_at(tv, v, [20.0, 55.5]), v[[19, 54]])   # samples at 1, 2, ..., 100 ms


@pytest.mark.parametrize("call, message", [
    (lambda: exp_filtered_spikes(TIMES, IDS, 3, [10.0], 2.0, t_start=0.0, t_stop=10.0),
     r"sample time 10.0 ms lies outside the run \[0.0, 10.0\) ms"),
    (lambda: exp_filtered_spikes(TIMES, IDS, 3, [-1.0], 2.0, t_start=0.0, t_stop=10.0), "outside the run"),
    (lambda: exp_filtered_spikes(TIMES, IDS, 3, [], 2.0, t_start=0.0, t_stop=10.0), "non-empty"),
    (lambda: exp_filtered_spikes(TIMES, IDS, 3, [1.0], 0.0, t_start=0.0, t_stop=10.0), "tau must be a positive"),
    (lambda: exp_filtered_spikes(TIMES, IDS, 2, [1.0], 1.0, t_start=0.0, t_stop=10.0), r"ids must lie in \[0, n\)"),
    (lambda: windowed_rates(TIMES, IDS, 3, [3.0], 4.0, t_start=0.0, t_stop=10.0), "starts before the run's t_start"),
    (lambda: windowed_rates(TIMES, IDS, 3, [12.0], 4.0, t_start=0.0, t_stop=10.0), "outside the run"),
    (lambda: trace_at([0.0, 1.0], [[1.0], [2.0]], [1.5]), r"outside the recorded samples \[0.0, 1.0\]"),
    (lambda: trace_at([0.0, 1.0], [[1.0]], [0.5]), "values must have len"),
    (lambda: exp_filter_raster(np.zeros((10, 2)), 0.1, 1.0, at=[1.0]), r"outside the run \[0.0, 1.0\)"),
    (lambda: exp_filter_raster(np.zeros((10, 2)), 0.1, 1.0, at=[0.25]), "not a whole number of steps"),
    (lambda: exp_filter_raster(np.zeros(10), 0.1, 1.0), r"shape \(..., T, n\)"),
])
def test_bad_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
