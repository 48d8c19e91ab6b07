"""Tests for neurosim.inputs: injected currents (values per step index) and spike sources
(exact steps for given times, rates and reproducibility for random ones), and their errors.

Statistical checks use fixed keys and bands of 5 standard deviations of the estimator, so
they are deterministic in CI and would fail for an estimator biased by more than that.
"""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from neurosim.init import Uniform
from neurosim.inputs import draws
from neurosim.inputs import ConstantCurrent, PoissonInput, PoissonInputParams, PoissonSource, SpikeTimes, StepCurrent
from neurosim.inputs.currents import ConstantParams, StepParams
from neurosim.inputs.sources import PoissonSourceParams, SpikeTimesParams, SpikeTimesState
from neurosim.network import Population
from neurosim.synapses import Synapse, SynapseParams


def currents_at_steps(source, params, n, steps, dt):
    """``source.current`` at each step index in ``steps``: (len(steps), n)."""
    state = source.init(params, n, None)
    v = jnp.zeros((n,))
    f = jax.jit(jax.vmap(lambda t: source.current(params, state, t, dt, None, v)[1]))
    return np.asarray(jnp.broadcast_to(f(jnp.asarray(steps, jnp.int32)).T, (n, len(steps))).T)


@partial(jax.jit, static_argnums=(0, 2, 3, 4))
def run_source(source, params, n, n_steps, dt, key):
    """Spikes (n_steps, n) of a spike source (PoissonSource, SpikeTimes)."""
    state = source.init(params, n, key)

    def body(s, _):
        return source.step(params, s, jnp.zeros((n,)), dt)

    return jax.lax.scan(body, state, None, length=n_steps)[1]


# =========================================================================== currents


def test_constant_current_is_its_amplitude_at_every_step():
    amp = jnp.array([0.0, 150.0, -20.0])
    out = currents_at_steps(ConstantCurrent(), ConstantParams(amplitude=amp), 3, np.arange(0, 1000, 97), 0.1)
    np.testing.assert_array_equal(out, np.broadcast_to(amp, out.shape))


@pytest.mark.parametrize("dt", [0.1, 0.25])
def test_step_current_switches_at_the_onset_steps(dt):
    times = (1.0, 2.5, 4.0)  # whole multiples of both dt values
    amps = jnp.array([10.0, -5.0, 7.0])
    steps = np.arange(round(6.0 / dt))
    out = currents_at_steps(StepCurrent(times), StepParams(amplitudes=amps), 1, steps, dt)[:, 0]
    onset = [round(t / dt) for t in times]
    expected = np.zeros(len(steps))
    expected[onset[0]:onset[1]] = 10.0
    expected[onset[1]:onset[2]] = -5.0
    expected[onset[2]:] = 7.0
    np.testing.assert_array_equal(out, expected)  # 0 before the first onset, exact switch steps


def test_step_current_per_neuron_amplitudes():
    amps = jnp.array([[1.0, 2.0], [3.0, 4.0]])  # (k, n)
    out = currents_at_steps(StepCurrent((0.5, 1.0)), StepParams(amplitudes=amps), 2, [0, 4, 5, 9, 10, 30], 0.1)
    np.testing.assert_array_equal(out, [[0, 0], [0, 0], [1, 2], [1, 2], [3, 4], [3, 4]])


@pytest.mark.parametrize("times", [(), (2.0, 1.0), (1.0, 1.0), (float("nan"),), ((1.0, 2.0),), (0.0, float("inf"))])
def test_step_current_bad_times_raise(times):
    with pytest.raises(ValueError, match="times_ms"):
        StepCurrent(times)


N_POISSON = 200_000  # one size for every PoissonInput test: jax.random.poisson compiles slowly


@partial(jax.jit, static_argnums=(1,))
def poisson_counts(params, n, key, t=0):
    """Counts delivered in step ``t`` by 50 sources to an input seeded from ``key``, read back
    through a delta synapse of weight 1: returns (current returned in that step, counts)."""
    inp = PoissonInput(n_sources=50, synapse=Synapse("delta"))
    state = inp.init(params, n, key)
    state, i = inp.current(params, state, jnp.int32(t), 0.1, None, jnp.zeros((n,)))
    return i, state.g


def test_poisson_input_mean_count_is_n_sources_rate_dt():
    n, params = N_POISSON, PoissonInputParams(rate_hz=20.0, weight=1.0, synapse=SynapseParams())
    i, counts = map(np.asarray, poisson_counts(params, n, jax.random.key(0)))
    lam = 50 * 20.0 * 0.1e-3  # n_sources * rate * dt = 0.1 spikes per step
    np.testing.assert_array_equal(i, 0.0)  # the current is the synapse's before this drive
    assert np.all(counts == np.round(counts)) and counts.min() >= 0
    # 5 standard errors of the mean (sqrt(lam / n) = 7e-4)
    assert abs(counts.mean() - lam) < 5 * np.sqrt(lam / n)
    # Poisson, not Bernoulli: variance = mean (a Bernoulli draw would give lam (1 - lam),
    # 10% less; the sample variance's standard error here is 0.8% of lam)
    assert abs(counts.var() / lam - 1.0) < 0.04


def test_poisson_input_same_seed_same_draw_and_steps_differ():
    params = PoissonInputParams(rate_hz=20.0)
    a = poisson_counts(params, N_POISSON, jax.random.key(3))[1]
    b = poisson_counts(params, N_POISSON, jax.random.key(3))[1]
    c = poisson_counts(params, N_POISSON, jax.random.key(4))[1]
    d = poisson_counts(params, N_POISSON, jax.random.key(3), 1)[1]
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c) and np.any(a != d)
    # independent draws: two seeds (or two steps) agree no more often than chance
    lam = 50 * 20.0 * 0.1e-3
    p_same = np.sum(stats.poisson.pmf(np.arange(20), lam) ** 2)
    for other in (c, d):
        same = np.mean(np.asarray(a) == np.asarray(other))
        assert abs(same - p_same) < 5 * np.sqrt(p_same * (1 - p_same) / N_POISSON)


def test_poisson_input_needs_a_key():
    with pytest.raises(ValueError, match="key must be a PRNG key"):
        PoissonInput().init(PoissonInputParams(), 10, None)


def test_counter_uniforms_match_their_numpy_mirror_and_are_uniform():
    seed = draws.new_seed(jax.random.key(11))
    fn = jax.jit(lambda t: draws.uniforms(seed, t, 50_000))
    for t in (0, 1, 12345, 2**31 - 1):
        u = np.asarray(fn(jnp.int32(t)), np.float64)
        np.testing.assert_array_equal(u, draws.uniforms_np(np.asarray(seed), t, 50_000))
        assert u.min() >= 0.0 and u.max() < 1.0
    # uniform on 64 bins, and no correlation between neighbouring neurons or steps
    u0, u1 = np.asarray(fn(jnp.int32(5))), np.asarray(fn(jnp.int32(6)))
    assert stats.chisquare(np.bincount((u0 * 64).astype(int), minlength=64)).pvalue > 1e-4
    for a, b in ((u0[:-1], u0[1:]), (u0, u1)):
        assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(a.size)


# =========================================================================== spike sources


def test_poisson_source_rate_over_a_long_run():
    rates = jnp.array([0.0] * 10 + [20.0] * 990)
    n_steps, dt = 10_000, 0.1  # 1 s
    spikes = np.asarray(run_source(PoissonSource(), PoissonSourceParams(rate_hz=rates), 1000, n_steps, dt, jax.random.key(0)))
    assert spikes[:, :10].sum() == 0
    rate_hz = spikes[:, 10:].sum() / (990 * n_steps * dt * 1e-3)
    expected = 990 * 20.0  # expected count; 5 standard deviations is 3.6% of it
    assert abs(rate_hz - 20.0) < 5 * np.sqrt(expected) / expected * 20.0


def test_poisson_source_same_key_same_spikes():
    params = PoissonSourceParams(rate_hz=50.0)
    a = run_source(PoissonSource(), params, 50, 200, 0.1, jax.random.key(7))
    b = run_source(PoissonSource(), params, 50, 200, 0.1, jax.random.key(7))
    c = run_source(PoissonSource(), params, 50, 200, 0.1, jax.random.key(8))
    np.testing.assert_array_equal(a, b)
    assert np.any(np.asarray(a) != np.asarray(c))


def spike_steps_of(spikes):
    """{step: sorted ids} of a (T, n) spike array."""
    t, i = np.nonzero(np.asarray(spikes))
    out = {}
    for tt, ii in zip(t, i):
        out.setdefault(int(tt), []).append(int(ii))
    return out


def test_spike_times_emit_exactly_at_the_given_steps():
    src = SpikeTimes(times_ms=[0.0, 0.3, 1.0, 1.0, 5.3, 5.35], ids=[0, 2, 1, 2, 0, 0])
    spikes = run_source(src, SpikeTimesParams(), 3, 80, 0.1, None)
    assert spike_steps_of(spikes) == {0: [0], 3: [2], 10: [1, 2], 53: [0]}
    # 5.3 and 5.35 ms both fall in step 53: one spike of 1, not a 2
    assert set(np.unique(np.asarray(spikes))) == {0.0, 1.0}


@pytest.mark.parametrize("dt, k", [(0.01, [53, 59, 105, 106, 117]), (0.3, [33, 38, 43])])
def test_spike_times_on_step_boundaries_land_in_their_own_step(dt, k):
    # Times k dt whose float32 quotient by dt rounds just below k (0.53 / 0.01 -> 52.99999).
    src = SpikeTimes(times_ms=np.asarray(k) * dt, ids=np.arange(len(k)))
    spikes = run_source(src, SpikeTimesParams(), len(k), max(k) + 5, dt, None)
    assert spike_steps_of(spikes) == {kk: [j] for j, kk in enumerate(k)}
    for j, kk in enumerate(k):  # and called eagerly, one step at a time
        _, s = src.step(SpikeTimesParams(), SpikeTimesState(t=jnp.int32(kk)), jnp.zeros(len(k)), dt)
        np.testing.assert_array_equal(s, np.arange(len(k)) == j)


def test_spike_times_id_out_of_range_raises_in_check_size():
    with pytest.raises(ValueError, match=r"spike id 5 is out of range \[0, 5\)"):
        SpikeTimes([1.0, 2.0], [0, 5]).check_size(5, "src")
    with pytest.raises(ValueError, match="spike id -1"):
        SpikeTimes([1.0], [-1]).check_size(5, "src")


def test_spike_times_id_out_of_range_raises_when_the_population_is_made():
    with pytest.raises(ValueError, match=r"Population 'S': spike id 3 is out of range \[0, 3\)"):
        Population("S", 3, SpikeTimes([1.0, 2.0], [0, 3]))


@pytest.mark.parametrize("times, ids", [([1.0, 2.0], [0]), ([-1.0], [0]), ([float("nan")], [0]), ([1.0], [0.5])])
def test_spike_times_bad_arguments_raise(times, ids):
    with pytest.raises(ValueError):
        SpikeTimes(times, ids)


def test_poisson_input_bad_n_sources_raises():
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="n_sources"):
            PoissonInput(n_sources=bad)


def test_uniform_init_of_poisson_input_synapse_is_keyed():
    # The synapse state of PoissonInput draws from the key it is given, like neuron v_init.
    inp = PoissonInput(synapse=Synapse(g_init=Uniform(0.0, 1.0)))
    a = inp.init(PoissonInputParams(), 100, jax.random.key(0)).g
    b = inp.init(PoissonInputParams(), 100, jax.random.key(0)).g
    c = inp.init(PoissonInputParams(), 100, jax.random.key(1)).g
    np.testing.assert_array_equal(a, b)
    assert np.all(np.asarray(a) != np.asarray(c))


def test_poisson_inversion_stops_where_the_cdf_reaches_one_and_counts_as_all_40_terms():
    """The inversion sums u > F(j) only up to the first of POISSON_HEADS whose last F is >= 1
    (u < 1 counts nothing beyond): the counts are those of all POISSON_TERMS terms, exactly."""
    from neurosim.inputs.currents import POISSON_INVERSION_MAX, POISSON_TERMS, poisson_cdf, poisson_from_uniform

    rng = np.random.default_rng(0)
    u = np.concatenate([rng.random(20000), 1.0 - 2.0 ** -24 * np.arange(1, 200)]).astype(np.float32)
    for lam in [0.0, 1e-3, 0.3, 2.0, 4.9, 7.5, POISSON_INVERSION_MAX - 0.01,
                rng.uniform(0.0, POISSON_INVERSION_MAX, u.size).astype(np.float32)]:
        lam = np.broadcast_to(np.float32(lam), u.shape)
        cdf = np.stack([np.asarray(f) for f in poisson_cdf(jnp.asarray(lam))])      # (POISSON_TERMS, n)
        assert cdf.shape[0] == POISSON_TERMS
        want = (u[None, :] > cdf).sum(axis=0).astype(np.float32)
        got = np.asarray(jax.jit(poisson_from_uniform)(jnp.asarray(u), jnp.asarray(lam)))
        np.testing.assert_array_equal(got, want)
        assert want.max() >= 1 or lam.max() < 1e-2
