"""Tests for neurosim.analysis: values against hand-made trains, known point processes and
scipy (a test-only dependency)."""
import math
import warnings

import numpy as np
import pytest
import scipy.signal
from hypothesis import example, given, settings
from hypothesis import strategies as st

from neurosim.analysis import (
    bin_spikes,
    fano_factor,
    fano_factors,
    firing_rates,
    isi_cv,
    mean_isi_cv,
    mean_rate,
    population_psd,
    population_rate,
    psd_peak,
    spikes_from_raster,
    synchrony_chi,
    synchrony_chi_spikes,
    welch,
)


# --------------------------------------------------------------------------- spike generators


def _merge(trains):
    """List of per-neuron time arrays -> (times, ids) sorted by time."""
    times = np.concatenate(trains)
    ids = np.concatenate([np.full(len(t), i) for i, t in enumerate(trains)])
    order = np.argsort(times, kind="stable")
    return times[order], ids[order]


def poisson(rate_hz, n, duration_ms, seed):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate_hz * duration_ms * 1e-3, size=n)
    return _merge([np.sort(rng.uniform(0.0, duration_ms, c)) for c in counts])


def gamma_renewal(rate_hz, shape, n, duration_ms, seed):
    """Renewal process with gamma ISIs: CV = 1/sqrt(shape)."""
    rng = np.random.default_rng(seed)
    mean_isi = 1e3 / rate_hz
    n_isi = int(2 * duration_ms / mean_isi) + 100
    trains = []
    for _ in range(n):
        t = np.cumsum(rng.gamma(shape, mean_isi / shape, n_isi))
        trains.append(t[t < duration_ms])
    return _merge(trains)


def modulated_poisson(r0_hz, depth, f_hz, n, duration_ms, seed):
    """Inhomogeneous Poisson, r(t) = r0 (1 + depth sin(2 pi f t)), by thinning."""
    rng = np.random.default_rng(seed)
    r_max = r0_hz * (1.0 + depth)
    times, ids = poisson(r_max, n, duration_ms, seed)
    accept = rng.uniform(size=times.size) < (1.0 + depth * np.sin(2 * np.pi * f_hz * times * 1e-3)) / (1.0 + depth)
    return times[accept], ids[accept]


def regular(period_ms, n, duration_ms, phase_ms=0.0):
    t = np.arange(phase_ms, duration_ms, period_ms)
    return _merge([t.copy() for _ in range(n)])


# --------------------------------------------------------------------------- binning


def test_bin_spikes_hand_made():
    times = np.array([0.0, 0.5, 1.0, 2.9, 3.0, 4.5, -1.0, 5.0])
    ids = np.array([0, 0, 1, 2, 1, 0, 0, 1])
    counts = bin_spikes(times, ids, 3, 0.0, 4.5, 1.0)  # 4 whole bins; 4.5, -1 and 5 are outside
    expected = np.zeros((4, 3))
    expected[0, 0] = 2
    expected[1, 1] = 1
    expected[2, 2] = 1
    expected[3, 1] = 1
    np.testing.assert_array_equal(counts, expected)


def test_raster_round_trip():
    rng = np.random.default_rng(0)
    raster = rng.poisson(0.3, size=(200, 7)).astype(float)
    times, ids = spikes_from_raster(raster, 0.1, t_start=5.0)
    assert np.all(np.diff(times) >= 0)
    np.testing.assert_array_equal(bin_spikes(times, ids, 7, 5.0, 5.0 + 200 * 0.1, 0.1), raster)
    as_bool = raster > 0
    times_b, ids_b = spikes_from_raster(as_bool, 0.1)
    np.testing.assert_array_equal(bin_spikes(times_b, ids_b, 7, 0.0, 20.0, 0.1), as_bool)


def test_raster_rejects_fractional_counts():
    with pytest.raises(ValueError, match="raster"):
        spikes_from_raster(np.full((3, 2), 0.5), 1.0)


@settings(max_examples=50, deadline=None)
@given(
    data=st.lists(st.tuples(st.floats(-20.0, 120.0), st.integers(0, 4)), max_size=60),
    bin_ms=st.sampled_from([0.1, 0.5, 1.0, 3.0, 10.0]),
)
# the case a fresh-clone run once drew: 99.99999999999999 / 0.1 rounds to 1000.0, one bin too far
@example(data=[(99.99999999999999, 0), (0.30000000000000004, 1), (-1e-300, 2)], bin_ms=0.1)
def test_bin_spikes_conserves_spikes_in_whole_bins(data, bin_ms):
    times = np.array([d[0] for d in data], dtype=float)
    ids = np.array([d[1] for d in data], dtype=int)
    counts = bin_spikes(times, ids, 5, 0.0, 100.0, bin_ms)
    t_end = counts.shape[0] * bin_ms
    inside = (times >= 0.0) & (times < t_end)
    assert counts.sum() == inside.sum()
    np.testing.assert_array_equal(counts.sum(axis=0), np.bincount(ids[inside], minlength=5))


# --------------------------------------------------------------------------- rates


def test_firing_rates_exact():
    times = np.array([10.0, 100.0, 200.0, 300.0, 400.0, 450.0, 499.9, 500.0, 600.0, -5.0])
    ids = np.array([0, 0, 0, 0, 0, 2, 2, 2, 0, 2])
    rates = firing_rates(times, ids, 4, 0.0, 500.0)  # 500 ms window; 500.0 and later excluded
    np.testing.assert_allclose(rates, [10.0, 0.0, 4.0, 0.0], rtol=1e-12)
    assert mean_rate(times, ids, 4, 0.0, 500.0) == pytest.approx(3.5, rel=1e-12)


def test_firing_rates_of_regular_population():
    times, ids = regular(25.0, 10, 2000.0)  # 40 Hz
    np.testing.assert_allclose(firing_rates(times, ids, 10, 0.0, 2000.0), 40.0, rtol=1e-12)


def test_population_rate_constant_for_regular_trains():
    times, ids = regular(10.0, 20, 1000.0, phase_ms=0.25)  # 100 Hz, one spike per 10-ms bin
    t, rate = population_rate(times, ids, 20, 0.0, 1000.0, 10.0)
    np.testing.assert_allclose(t, np.arange(5.0, 1000.0, 10.0))
    np.testing.assert_allclose(rate, 100.0, rtol=1e-12)
    _, smoothed = population_rate(times, ids, 20, 0.0, 1000.0, 10.0, smooth_ms=30.0)
    np.testing.assert_allclose(smoothed, 100.0, rtol=1e-12)


def test_population_rate_mean_matches_mean_rate_and_smoothing_keeps_mass():
    times, ids = poisson(15.0, 40, 3000.0, seed=3)
    t, rate = population_rate(times, ids, 40, 0.0, 3000.0, 1.0)
    assert rate.mean() == pytest.approx(mean_rate(times, ids, 40, 0.0, 3000.0), rel=1e-12)
    _, smoothed = population_rate(times, ids, 40, 0.0, 3000.0, 1.0, smooth_ms=5.0)
    assert smoothed.std() < 0.5 * rate.std()
    assert smoothed[100:-100].mean() == pytest.approx(rate[100:-100].mean(), rel=0.02)


# --------------------------------------------------------------------------- irregularity


def test_regular_train_has_zero_cv_and_fano():
    times, ids = regular(10.0, 5, 5000.0, phase_ms=0.3)
    np.testing.assert_allclose(isi_cv(times, ids, 5), 0.0, atol=1e-9)
    assert mean_isi_cv(times, ids, 5) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(fano_factors(times, ids, 5, 0.0, 5000.0, 50.0), 0.0, atol=1e-12)
    assert fano_factor(times, ids, 5, 0.0, 5000.0, 50.0) == pytest.approx(0.0, abs=1e-12)


def test_poisson_has_unit_cv_and_fano():
    times, ids = poisson(20.0, 50, 200_000.0, seed=1)  # ~4000 spikes per neuron
    cv = isi_cv(times, ids, 50)
    assert np.all(np.isfinite(cv))
    assert mean_isi_cv(times, ids, 50) == pytest.approx(1.0, abs=0.02)
    assert np.all(np.abs(cv - 1.0) < 0.1)
    assert fano_factor(times, ids, 50, 0.0, 200_000.0, 100.0) == pytest.approx(1.0, abs=0.03)


def test_gamma_renewal_cv_and_fano():
    # shape-4 gamma ISIs: CV = 1/2; for counting windows >> mean ISI, Fano -> CV^2 = 1/4
    times, ids = gamma_renewal(20.0, 4.0, 40, 200_000.0, seed=2)
    assert mean_isi_cv(times, ids, 40) == pytest.approx(0.5, abs=0.02)
    assert fano_factor(times, ids, 40, 0.0, 200_000.0, 1000.0) == pytest.approx(0.25, abs=0.04)


def test_isi_cv_ignores_input_order():
    times, ids = gamma_renewal(30.0, 2.0, 6, 5000.0, seed=4)
    perm = np.random.default_rng(5).permutation(times.size)
    np.testing.assert_allclose(isi_cv(times[perm], ids[perm], 6), isi_cv(times, ids, 6), rtol=1e-12)


def test_isi_cv_nan_below_min_spikes():
    times = np.array([1.0, 2.0, 3.0, 5.0, 10.0, 20.0])
    ids = np.array([0, 0, 0, 0, 1, 1])
    cv = isi_cv(times, ids, 3, min_spikes=3)
    isi = np.array([1.0, 1.0, 2.0])
    assert cv[0] == pytest.approx(isi.std() / isi.mean(), rel=1e-12)
    assert np.isnan(cv[1]) and np.isnan(cv[2])
    assert not np.isnan(isi_cv(times, ids, 3, min_spikes=2)[1])


def test_statistics_return_nan_without_warning_when_nothing_qualifies():
    empty = np.zeros(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(mean_isi_cv([1.0, 2.0], [0, 1], 2))
        assert math.isnan(fano_factor(empty, empty.astype(int), 3, 0.0, 100.0, 10.0))
        assert math.isnan(synchrony_chi_spikes(empty, empty.astype(int), 3, 0.0, 100.0, 1.0, 5.0))
        assert math.isnan(synchrony_chi(np.ones((10, 4))))


# --------------------------------------------------------------------------- synchrony


def test_chi_is_one_for_identical_traces():
    rng = np.random.default_rng(6)
    trace = rng.normal(size=(5000, 1))
    assert synchrony_chi(np.repeat(trace, 30, axis=1)) == pytest.approx(1.0, abs=1e-12)


def test_chi_of_independent_noise_is_one_over_sqrt_n():
    rng = np.random.default_rng(7)
    for n in (16, 100):
        chi = synchrony_chi(rng.normal(size=(20_000, n)) * rng.uniform(0.5, 2.0, size=n))
        assert chi == pytest.approx(1.0 / math.sqrt(n), rel=0.1)


def test_chi_of_partially_shared_noise():
    # V_i = c + x_i with unit-variance c and x_i: chi^2 = (1 + 1/n) / 2
    rng = np.random.default_rng(8)
    n = 50
    v = rng.normal(size=(40_000, 1)) + rng.normal(size=(40_000, n))
    assert synchrony_chi(v) == pytest.approx(math.sqrt((1 + 1 / n) / 2), rel=0.03)


def test_chi_spikes_identical_and_independent_trains():
    times, _ = poisson(20.0, 1, 20_000.0, seed=9)
    n = 25
    same_t = np.repeat(times, n)
    same_i = np.tile(np.arange(n), times.size)
    assert synchrony_chi_spikes(same_t, same_i, n, 0.0, 20_000.0, 1.0, 10.0) == pytest.approx(1.0, abs=1e-9)
    times, ids = poisson(20.0, 50, 20_000.0, seed=10)
    chi = synchrony_chi_spikes(times, ids, 50, 0.0, 20_000.0, 1.0, 10.0)
    assert chi == pytest.approx(1.0 / math.sqrt(50), rel=0.15)


# --------------------------------------------------------------------------- spectra


@pytest.mark.parametrize("size, nperseg, fs", [(1000, 256, 1000.0), (777, 100, 250.0), (513, 63, 10_000.0), (64, 64, 1.0)])
def test_welch_matches_scipy(size, nperseg, fs):
    x = np.random.default_rng(size).normal(size=size) + 3.0
    f, p = welch(x, fs, nperseg)
    f_ref, p_ref = scipy.signal.welch(x, fs=fs, nperseg=nperseg)
    np.testing.assert_allclose(f, f_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(p, p_ref, rtol=0, atol=1e-10 * max(1.0, p_ref.max()))


def test_population_psd_is_welch_of_binned_counts():
    times, ids = poisson(10.0, 30, 4000.0, seed=11)
    f, p = population_psd(times, ids, 30, 0.0, 4000.0, bin_ms=2.0, nperseg=200)
    counts = bin_spikes(times, ids, 30, 0.0, 4000.0, 2.0).sum(axis=1)
    f_ref, p_ref = scipy.signal.welch(counts, fs=500.0, nperseg=200)
    np.testing.assert_allclose(f, f_ref, atol=1e-10)
    np.testing.assert_allclose(p, p_ref, atol=1e-10)
    f_default, _ = population_psd(times, ids, 30, 0.0, 4000.0, bin_ms=2.0)
    assert f_default[1] == pytest.approx(1.0)  # default segments of 1 s


def test_psd_peak_at_modulation_frequency():
    n, duration = 200, 10_000.0
    times, ids = modulated_poisson(10.0, 0.5, 40.0, n, duration, seed=12)
    f, p = population_psd(times, ids, n, 0.0, duration, bin_ms=1.0)
    f_peak, ratio = psd_peak(f, p, 4.0, 100.0)
    assert abs(f_peak - 40.0) <= 1.0
    assert ratio > 20.0
    times, ids = poisson(10.0, n, duration, seed=13)  # flat control
    f, p = population_psd(times, ids, n, 0.0, duration, bin_ms=1.0)
    _, ratio_flat = psd_peak(f, p, 4.0, 100.0)
    assert ratio_flat < 3.0


def test_psd_peak_hand_made():
    f = np.arange(0.0, 201.0)
    p = np.ones_like(f)
    p[0] = 1000.0  # outside [fmin, fmax]
    p[60] = 8.0
    p[150] = 50.0  # outside the search range and the median band
    assert psd_peak(f, p, 4.0, 100.0) == (60.0, 8.0)
    assert psd_peak(f, p, 4.0, 200.0) == (150.0, 50.0)


# --------------------------------------------------------------------------- errors

T = np.array([1.0, 2.0, 3.0])
I = np.array([0, 1, 0])


def _windowed(fn, **over):
    args = dict(times=T, ids=I, n=2, t_start=0.0, t_stop=10.0)
    args.update(over)
    return lambda: fn(**args)


def _binned(fn, **over):
    args = dict(times=T, ids=I, n=2, t_start=0.0, t_stop=10.0, bin_ms=1.0)
    args.update(over)
    return lambda: fn(**args)


BAD_INPUTS = [
    ("t_stop", dict(t_start=5.0, t_stop=5.0)),
    ("t_stop", dict(t_start=5.0, t_stop=1.0)),
    ("t_start", dict(t_start=float("nan"))),
    ("n", dict(n=0)),
    ("n", dict(n=-3)),
    ("ids", dict(ids=np.array([0, 2, 0]))),
    ("ids", dict(ids=np.array([0, -1, 0]))),
    ("times and ids", dict(ids=np.array([0, 1]))),
    ("times", dict(times=np.array([1.0, np.inf, 3.0]))),
]
BAD_BINS = [("bin_ms", dict(bin_ms=-1.0)), ("bin_ms", dict(bin_ms=0.0)), ("bin_ms", dict(bin_ms=float("nan"))),
            ("bin_ms", dict(bin_ms=float("inf"))), ("bin_ms", dict(bin_ms=20.0))]
WINDOWED = [firing_rates, mean_rate]
BINNED = [bin_spikes, fano_factor, fano_factors, population_rate, population_psd,
          lambda **kw: synchrony_chi_spikes(tau_ms=5.0, **kw)]


@pytest.mark.parametrize("name, over", BAD_INPUTS)
@pytest.mark.parametrize("fn", WINDOWED + BINNED)
def test_bad_input_names_the_argument(fn, name, over):
    make = _windowed if fn in WINDOWED else _binned
    with pytest.raises(ValueError, match=name):
        make(fn, **over)()


@pytest.mark.parametrize("name, over", BAD_BINS)
@pytest.mark.parametrize("fn", BINNED)
def test_bad_bin_width_names_the_argument(fn, name, over):
    with pytest.raises(ValueError, match=name):
        _binned(fn, **over)()


@pytest.mark.parametrize("name, over", [b for b in BAD_INPUTS if "t_" not in b[0]])
def test_isi_cv_bad_input_names_the_argument(name, over):
    args = dict(times=T, ids=I, n=2)
    args.update({k: v for k, v in over.items() if k in args})
    with pytest.raises(ValueError, match=name):
        isi_cv(**args)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="min_spikes"):
        isi_cv(T, I, 2, min_spikes=1)
    with pytest.raises(ValueError, match="tau_ms"):
        synchrony_chi_spikes(T, I, 2, 0.0, 10.0, 1.0, tau_ms=-2.0)
    with pytest.raises(ValueError, match="smooth_ms"):
        population_rate(T, I, 2, 0.0, 10.0, 1.0, smooth_ms=0.0)
    with pytest.raises(ValueError, match="traces"):
        synchrony_chi(np.zeros(5))
    with pytest.raises(ValueError, match="nperseg"):
        welch(np.zeros(10), 1.0, 11)
    with pytest.raises(ValueError, match="nperseg"):
        welch(np.zeros(10), 1.0, 1)
    with pytest.raises(ValueError, match="fs_hz"):
        welch(np.zeros(10), -1.0, 4)
    with pytest.raises(ValueError, match="fmin"):
        psd_peak(np.arange(10.0), np.ones(10), 5.0, 2.0)
    with pytest.raises(ValueError, match="median_band"):
        psd_peak(np.arange(10.0), np.ones(10), 1.0, 5.0, median_band=(50.0, 60.0))
    with pytest.raises(ValueError, match="dt_ms"):
        spikes_from_raster(np.zeros((3, 2), bool), 0.0)
