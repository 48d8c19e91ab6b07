"""Tests for neurosim.analysis.liquid: the input distance of Maass et al. (2002) in closed form
and against a Riemann sum, the state distance and separation on toy cases with known answers,
and the NALSM branching factor on branching processes whose answer is known (a deterministic
tree, Galton-Watson cascades with mean offspring m)."""
import math

import numpy as np
import pytest

from neurosim.analysis.liquid import branching_factor, input_distance, separation, state_distance
from neurosim.analysis.taps import exp_filtered_spikes
from neurosim.events import CSR


def riemann_distance(u, v, duration, tau=5.0, dt=0.01):
    t = np.arange(0.0, duration, dt)
    g = lambda tr: np.exp(-(((t[:, None] - np.asarray(tr)[None, :]) / tau) ** 2)).sum(1)   # noqa: E731
    return np.sum((g(u) - g(v)) ** 2) * dt / duration


# --------------------------------------------------------------------------- input distance


def test_two_single_spikes_have_the_closed_form_distance():
    # int (g(t - a) - g(t - b))^2 dt = 2 tau sqrt(pi / 2) (1 - exp(-(a - b)^2 / (2 tau^2)))
    tau, L = 5.0, 500.0
    for a, b in ((200.0, 203.0), (200.0, 215.0), (100.0, 400.0)):
        expected = 2 * tau * math.sqrt(math.pi / 2) * (1 - math.exp(-((a - b) ** 2) / (2 * tau**2))) / L
        assert input_distance([a], [b], L, tau) == pytest.approx(expected, rel=1e-6)


def test_input_distance_matches_a_riemann_sum_including_the_boundaries():
    rng = np.random.default_rng(1)
    for _ in range(3):
        u = np.sort(rng.uniform(0, 500, 10))
        v = np.sort(rng.uniform(0, 500, 12))
        u[0] = 1.0   # a spike near the start: its kernel is cut at t = 0
        assert input_distance(u, v, 500.0) == pytest.approx(riemann_distance(u, v, 500.0), rel=1e-4)


def test_input_distance_batch_equals_singles_and_is_symmetric():
    rng = np.random.default_rng(2)
    us = [np.sort(rng.uniform(0, 500, k)) for k in (3, 10, 0)]
    vs = [np.sort(rng.uniform(0, 500, k)) for k in (5, 10, 7)]
    batch = input_distance(us, vs, 500.0)
    assert batch.shape == (3,)
    for k in range(3):
        assert batch[k] == pytest.approx(input_distance(us[k], vs[k], 500.0), rel=1e-9)
        assert input_distance(vs[k], us[k], 500.0) == pytest.approx(batch[k], rel=1e-9)
    assert input_distance(us[1], us[1], 500.0) == 0.0


def test_input_distance_errors():
    with pytest.raises(ValueError, match=r"u has spike times outside \[0, 500.0\) ms"):
        input_distance([600.0], [1.0], 500.0)
    with pytest.raises(ValueError, match="same number of trains"):
        input_distance([[1.0], [2.0]], [[1.0]], 500.0)
    with pytest.raises(ValueError, match="duration_ms must be a positive"):
        input_distance([1.0], [2.0], 0.0)


# --------------------------------------------------------------------------- state distance


def test_state_distance_and_separation_of_a_toy_liquid_with_a_known_answer():
    # A "liquid" that copies its input: neuron 0 fires at a (train u) or b (train v), neuron 1
    # never fires. With tau = 30 ms, D(t) = (1/2) (x_u(t) - x_v(t))^2 with x = e^{-(t - s)/tau}
    # after the spike s.
    tau, a, b = 30.0, 10.0, 40.0
    at = np.arange(0.0, 100.0, 1.0)
    xu = exp_filtered_spikes([a], [0], 2, at, tau, t_start=0.0, t_stop=100.0)
    xv = exp_filtered_spikes([b], [0], 2, at, tau, t_start=0.0, t_stop=100.0)
    fu = np.where(at >= a, np.exp(-(at - a) / tau), 0.0)
    fv = np.where(at >= b, np.exp(-(at - b) / tau), 0.0)
    expected = 0.5 * (fu - fv) ** 2
    np.testing.assert_allclose(state_distance(xu, xv), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(state_distance(xu, xv, root=True), np.sqrt(expected), rtol=1e-12, atol=1e-15)
    # separation over pairs: the same pair three times -> the same curve, sem 0
    mean, sem = separation(np.stack([xu] * 3), np.stack([xv] * 3))
    np.testing.assert_allclose(mean, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sem, 0.0, atol=1e-15)
    # identical inputs: distance 0; after the later spike the distance decays as e^{-2 t / tau}
    assert np.all(state_distance(xu, xu) == 0)
    late = at >= b
    ratio = expected[late][1:] / expected[late][:-1]
    np.testing.assert_allclose(ratio, math.exp(-2.0 / tau), rtol=1e-9)


def test_state_distance_errors():
    with pytest.raises(ValueError, match="same shape"):
        state_distance(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"shape \(pairs, T, n\)"):
        separation(np.zeros((3, 2)), np.zeros((3, 2)))


# --------------------------------------------------------------------------- branching factor


def test_branching_factor_of_a_deterministic_binary_tree_is_two():
    # neuron k -> 2k+1, 2k+2; a cascade started at the root doubles every step: every spike
    # with complete windows has exactly 2 descendants and 1 ancestor (the root has 0 -> max(0, 1))
    depth = 7
    n = 2 ** (depth + 1) - 1
    pre = np.concatenate([np.arange(n // 2), np.arange(n // 2)])
    post = np.concatenate([2 * np.arange(n // 2) + 1, 2 * np.arange(n // 2) + 2])
    adj = CSR.from_arrays(pre, post, n, n)
    raster = np.zeros((depth + 3, n))
    for level in range(depth + 1):
        raster[level + 1, 2**level - 1: 2 ** (level + 1) - 1] = 1
    # ancestors: levels 0 .. depth - 1 (steps 1 .. depth); the leaves have no recorded offspring
    window = (0.0, depth + 1.0)
    bf, each = branching_factor(raster, adj, dt=1.0, window_ms=1.0, t_range=window, per_neuron=True)
    assert bf == pytest.approx(2.0)
    assert np.nanmin(each) == 2.0 and np.nanmax(each) == 2.0
    assert np.isnan(each[n // 2:]).all()                       # leaves: no ancestor spikes in range
    # the dense-matrix form of the same graph gives the same answer
    assert branching_factor(raster, adj.to_dense() != 0, dt=1.0, window_ms=1.0, t_range=window) == pytest.approx(2.0)
    # with the leaves included, half the spikes have no descendants
    assert branching_factor(raster, adj, dt=1.0, window_ms=1.0) < 1.5


def galton_watson(m, seed, n=1000, k_out=10, n_cascades=1500, gap=15):
    """Independent subcritical cascades on a random graph (out-degree k_out), one at a time:
    each spike at step t makes Poisson(m) distinct targets (capped at k_out) spike at t + 1.
    Returns the raster (T, n) and the adjacency."""
    rng = np.random.default_rng(seed)
    targets = np.argsort(rng.random((n, n)), axis=1)[:, :k_out]
    adj = CSR.from_arrays(np.repeat(np.arange(n), k_out), targets.ravel(), n, n)
    steps, cells, t = [], [], 5
    for _ in range(n_cascades):
        active, tt = np.array([rng.integers(n)]), t
        while active.size and tt < t + gap - 2:
            steps.append(np.full(active.size, tt))
            cells.append(active)
            k = np.minimum(rng.poisson(m, active.size), k_out)
            active = np.concatenate([targets[a][rng.permutation(k_out)[:j]] for a, j in zip(active, k)])
            tt += 1
        t += gap
    raster = np.zeros((t + gap, n), np.int8)
    np.add.at(raster, (np.concatenate(steps), np.concatenate(cells)), 1)
    return raster, adj


@pytest.mark.parametrize("m", [0.5, 0.9])
def test_branching_factor_of_a_galton_watson_cascade_is_its_mean_offspring(m):
    # sparse activity (one small cascade at a time on 1000 neurons): pre ~ 1 (the parent) and
    # post ~ the offspring count, so BF ~ m; the rare overlaps with other spikes of the cascade
    # bias it by about 2 %
    raster, adj = galton_watson(m, seed=int(10 * m))
    bf = branching_factor(raster, adj, dt=1.0, window_ms=1.0)
    assert bf == pytest.approx(m, abs=0.05)


def test_branching_factor_windows_and_t_range():
    raster, adj = galton_watson(0.7, seed=1, n_cascades=300)
    t = raster.shape[0]
    full = branching_factor(raster, adj, dt=1.0, window_ms=1.0)
    assert branching_factor(raster, adj, dt=1.0, window_ms=1.0, t_range=(0.0, float(t))) == pytest.approx(full)
    half = branching_factor(raster, adj, dt=1.0, window_ms=1.0, t_range=(0.0, t / 2))
    assert abs(half - full) < 0.15
    # a 0.5-ms grid with the same events spread over two steps per ms: same BF with W = o = 1 ms
    fine = np.zeros((2 * t, raster.shape[1]), np.int8)
    fine[::2] = raster
    assert branching_factor(fine, adj, dt=0.5, window_ms=1.0, offset_ms=1.0) == pytest.approx(full)
    empty = np.zeros((10, raster.shape[1]))
    assert math.isnan(branching_factor(empty, adj, dt=1.0))


@pytest.mark.parametrize("kwargs, message", [
    (dict(raster=np.zeros((10, 3)), adjacency=np.zeros((4, 4))), r"adjacency must be a CSR or an \(n, n\) matrix"),
    (dict(raster=np.zeros((10, 3)), adjacency=CSR.from_arrays([0], [1], 4, 4)), "adjacency is 4 x 4"),
    (dict(raster=-np.ones((10, 3)), adjacency=np.zeros((3, 3))), "non-negative"),
    (dict(raster=np.zeros(10), adjacency=np.zeros((3, 3))), r"shape \(T, n\)"),
    (dict(raster=np.zeros((10, 3)), adjacency=np.zeros((3, 3)), window_ms=0.01), "at least one step"),
    (dict(raster=np.zeros((10, 3)), adjacency=np.zeros((3, 3)), t_range=(5.0, 50.0)), "t_range must satisfy"),
])
def test_branching_factor_errors(kwargs, message):
    kwargs.setdefault("dt", 1.0)
    with pytest.raises(ValueError, match=message):
        branching_factor(**kwargs)
