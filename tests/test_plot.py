"""Tests for neurosim.plot: figures build on small data, save as PNG, and draw every point."""
import struct

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from neurosim.analysis import population_psd
from neurosim.plot import psd_plot, raster, raster_with_rate, rate_plot, voltage_traces

BACKEND_BEFORE = matplotlib.get_backend()


def _spikes(n, n_spikes, duration_ms, seed):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.0, duration_ms, n_spikes))
    return times, rng.integers(0, n, n_spikes)


def _png_size(path):
    """(width, height) in pixels from a PNG header."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _points(ax):
    return sum(len(c.get_offsets()) for c in ax.collections)


def test_raster_draws_every_spike_and_saves(tmp_path):
    times, ids = _spikes(20, 300, 500.0, seed=0)
    fig, ax = raster(times, ids)
    assert isinstance(fig, Figure)
    assert _points(ax) == 300
    np.testing.assert_allclose(np.asarray(ax.collections[0].get_offsets()), np.column_stack([times, ids]))
    path = tmp_path / "raster.png"
    fig.savefig(path)
    assert path.stat().st_size > 0
    _png_size(path)


def test_raster_window_and_subsampling():
    times, ids = _spikes(20, 1000, 1000.0, seed=1)
    _, ax = raster(times, ids, t_start=200.0, t_stop=400.0)
    assert _points(ax) == np.count_nonzero((times >= 200.0) & (times < 400.0))
    assert ax.get_xlim() == (200.0, 400.0)
    _, ax = raster(times, ids, max_points=250)
    offsets = np.asarray(ax.collections[0].get_offsets())
    assert len(offsets) == 250
    # a subset of the original spikes, no duplicates
    original = set(zip(times.tolist(), ids.tolist()))
    assert set(map(tuple, offsets.tolist())) <= original
    assert len(set(map(tuple, offsets.tolist()))) == 250


def test_raster_into_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    times, ids = _spikes(5, 40, 100.0, seed=2)
    fig2, ax2 = raster(times, ids, ax, color="tab:red", id_offset=10)
    assert fig2 is fig and ax2 is ax
    assert np.asarray(ax.collections[0].get_offsets())[:, 1].min() >= 10


def test_rate_voltage_and_psd_plots(tmp_path):
    t = np.arange(0.0, 100.0, 0.5)
    fig, ax = rate_plot(t, 10 + np.sin(t))
    assert isinstance(fig, Figure) and len(ax.lines) == 1
    v = -65.0 + np.random.default_rng(3).normal(size=(t.size, 3))
    fig, ax = voltage_traces(t, v, ids=[4, 7, 9])
    assert len(ax.lines) == 3
    assert [line.get_label() for line in ax.lines] == ["neuron 4", "neuron 7", "neuron 9"]
    times, ids = _spikes(10, 2000, 2000.0, seed=4)
    freqs, psd = population_psd(times, ids, 10, 0.0, 2000.0)
    fig, ax = psd_plot(freqs, psd, fmax=200.0)
    assert ax.get_yscale() == "log" and ax.get_xlim() == (0.0, 200.0)
    path = tmp_path / "psd.png"
    fig.savefig(path)
    assert path.stat().st_size > 0


def test_raster_with_rate_stacks_populations(tmp_path):
    e_times, e_ids = _spikes(40, 400, 300.0, seed=5)
    i_times, i_ids = _spikes(10, 150, 300.0, seed=6)
    path = tmp_path / "net.png"
    fig, (ax_raster, ax_rate) = raster_with_rate(
        {"E": (e_times, e_ids, 40), "I": (i_times, i_ids, 10)}, 0.0, 300.0, 5.0, path=path, smooth_ms=5.0
    )
    assert isinstance(fig, Figure)
    e_dots, i_dots = ax_raster.collections
    assert len(e_dots.get_offsets()) == 400 and len(i_dots.get_offsets()) == 150
    # E below I, in distinct colours
    assert np.asarray(e_dots.get_offsets())[:, 1].max() < 40
    assert np.asarray(i_dots.get_offsets())[:, 1].min() >= 40
    assert not np.allclose(e_dots.get_facecolor(), i_dots.get_facecolor())
    assert len(ax_rate.lines) == 2
    assert [tick.get_text() for tick in ax_raster.get_yticklabels()] == ["E", "I"]
    # PNG at 120 dpi
    width, height = _png_size(path)
    assert (width, height) == (round(8.0 * 120), round(6.0 * 120))


def test_raster_with_rate_without_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    times, ids = _spikes(5, 20, 100.0, seed=7)
    raster_with_rate({"E": (times, ids, 5)}, 0.0, 100.0, 10.0)
    assert list(tmp_path.iterdir()) == []


def test_bad_plot_inputs():
    with pytest.raises(ValueError, match="times and ids"):
        raster(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="max_points"):
        raster(np.zeros(3), np.zeros(3), max_points=0)
    with pytest.raises(ValueError, match="ids"):
        voltage_traces(np.arange(4.0), np.zeros((4, 2)), ids=[1])
    with pytest.raises(ValueError, match="times_by_pop"):
        raster_with_rate({}, 0.0, 1.0, 0.1)
    with pytest.raises(ValueError, match="t_stop"):
        raster_with_rate({"E": (np.zeros(1), np.zeros(1, int), 1)}, 1.0, 0.0, 0.1)


def test_backend_left_alone():
    assert matplotlib.get_backend() == BACKEND_BEFORE
