"""Tests for neurosim.plot: figures build on small data, save as PNG, and draw every point; every
axis the package draws is labelled with its unit (neurosim.plot, the sweep heat map; the demo's
figure in test_demo.py); parameter and measure labels; ``ns.plot`` is imported lazily."""
import re
import struct
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from neurosim.analysis import population_psd
from neurosim.plot import psd_plot, raster, raster_with_rate, rate_plot, voltage_traces
from neurosim.plot.labels import measure_label, param_label
from neurosim.sweeps import SweepResult
from neurosim.sweeps.design import Design

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
    # the y axis is the neuron index; each band is named at the right edge, at its centre
    assert ax_raster.get_ylabel() == "neuron index"
    bands = {t.get_text(): t.get_position()[1] for t in ax_raster.texts}
    assert bands == {"E": pytest.approx(19.5), "I": pytest.approx(44.5)}
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


# --------------------------------------------------------------------------- units on every axis

_UNIT = re.compile(r"\([^()]+\)$")    # "time (ms)", "E: threshold v_th (mV)", "ISI CV (dimensionless)"


def has_unit(label: str) -> bool:
    """A label names its unit in parentheses at its end; a neuron axis is an index."""
    return bool(_UNIT.search(label.strip())) or label.strip().endswith("neuron index")


def unlabelled_axes(fig) -> list[str]:
    """Every axis of ``fig`` whose label has no unit. An x axis shared with a labelled one (the
    raster above the rate panel) may go without; a colour bar is read on its long axis."""
    bad = []
    for k, ax in enumerate(fig.axes):
        bar = getattr(ax, "_colorbar", None)
        if bar is not None:
            label = ax.get_ylabel() if bar.orientation == "vertical" else ax.get_xlabel()
            if not has_unit(label):
                bad.append(f"colour bar {k}: {label!r}")
            continue
        xlabel = ax.get_xlabel()
        if not xlabel and any(o.get_xlabel() for o in ax.get_shared_x_axes().get_siblings(ax) if o is not ax):
            xlabel = "shared (ms)"
        for axis, label in (("x", xlabel), ("y", ax.get_ylabel())):
            if not has_unit(label):
                bad.append(f"axes {k} {axis}: {label!r}")
    return bad


def _sweep_result(seeds=(0, 1)):
    """A SweepResult of a 3 x 2 grid over a threshold and an input rate, without running one."""
    x, y = np.meshgrid([-52.0, -50.0, -48.0], [10.0, 20.0], indexing="ij")
    x, y = np.repeat(x.ravel(), len(seeds)), np.repeat(y.ravel(), len(seeds))
    paths = ("neurons.E.v_th", "inputs.drive.rate_hz")
    design = Design(paths, dict(zip(paths, (x, y))), dict(zip(paths, (x, y))), np.tile(seeds, 6))
    return SweepResult(design, {"E.rate": x + y + 60.0, "E.cv": np.full(x.size, 0.9), "E.mine": x * 0},
                       {}, ("E",), 0.1, 100.0, 1.0, x.size, 1)


def _figures():
    t = np.arange(0.0, 100.0, 0.5)
    times, ids = _spikes(10, 2000, 2000.0, seed=4)
    freqs, psd = population_psd(times, ids, 10, 0.0, 2000.0)
    e_times, e_ids = _spikes(40, 400, 300.0, seed=5)
    return {
        "raster": lambda: raster(times, ids)[0],
        "rate_plot": lambda: rate_plot(t, 10 + np.sin(t))[0],
        "voltage_traces": lambda: voltage_traces(t, -65.0 + np.zeros((t.size, 2)))[0],
        "psd_plot": lambda: psd_plot(freqs, psd, fmax=200.0)[0],
        "raster_with_rate": lambda: raster_with_rate({"E": (e_times, e_ids, 40)}, 0.0, 300.0, 5.0)[0],
        "SweepResult.heatmap rate": lambda: _sweep_result().heatmap("E.rate", "neurons.E.v_th", "inputs.drive.rate_hz"),
        "SweepResult.heatmap cv": lambda: _sweep_result().heatmap("E.cv", "inputs.drive.rate_hz", "neurons.E.v_th"),
    }


@pytest.mark.parametrize("name", list(_figures()))
def test_every_axis_is_labelled_with_its_unit(name):
    fig = _figures()[name]()
    assert not unlabelled_axes(fig), f"{name}: {unlabelled_axes(fig)}"


def test_the_unit_check_catches_a_bare_label():
    fig, ax = rate_plot(np.arange(3.0), np.ones(3))
    ax.set_ylabel("rate")
    assert unlabelled_axes(fig) == ["axes 0 y: 'rate'"]


def test_heatmap_labels_name_the_parameter_the_measure_and_their_units():
    fig = _sweep_result().heatmap("E.rate", "neurons.E.v_th", "inputs.drive.rate_hz")
    ax, bar = fig.axes
    assert ax.get_xlabel() == "E: threshold v_th (mV)"
    assert ax.get_ylabel() == "drive: input rate (Hz)"
    assert bar.get_ylabel() == "E: firing rate (Hz)"
    assert ax.get_title() == "E.rate"          # the column of .table() it shows
    # a measure of the user's own: its name, or the caller's label
    fig = _sweep_result().heatmap("E.mine", "neurons.E.v_th", "inputs.drive.rate_hz",
                                  labels={"E.mine": "my measure (spikes)", "neurons.E.v_th": "theta (mV)"})
    assert fig.axes[1].get_ylabel() == "my measure (spikes)" and fig.axes[0].get_xlabel() == "theta (mV)"
    assert _sweep_result().heatmap("E.mine", "neurons.E.v_th", "inputs.drive.rate_hz").axes[1].get_ylabel() == "E.mine"


def test_heatmap_refuses_labels_it_would_not_use():
    with pytest.raises(ValueError, match=r"labels names \['neurons\.E\.v_thr'\]"):
        _sweep_result().heatmap("E.rate", "neurons.E.v_th", "inputs.drive.rate_hz", labels={"neurons.E.v_thr": "x (mV)"})
    with pytest.raises(TypeError, match="labels must be a dict"):
        _sweep_result().heatmap("E.rate", "neurons.E.v_th", "inputs.drive.rate_hz", labels=["x"])


@pytest.mark.parametrize("path, label", [
    ("neurons.E.v_th", "E: threshold v_th (mV)"),
    ("neurons.I.t_ref", "I: refractory period t_ref (ms)"),
    ("projections.EE.synapse.tau", "EE: time constant tau (ms)"),
    ("projections.EE.synapse.e_rev", "EE: reversal potential e_rev (mV)"),
    ("projections.inh.weights", "inh: weight (pA, nS or mV by synapse)"),
    ("projections.EE.dynamics.plasticity.tau_plus", "EE plasticity: potentiation time constant tau_plus (ms)"),
    ("inputs.background.rate_hz", "background: input rate (Hz)"),
    ("inputs.drive.amplitude", "drive: amplitude (pA)"),
    ("neurons.E.a", "neurons.E.a"),          # Izhikevich's a and AdEx's a differ: the path, no unit claimed
    ("something.else", "something.else"),
])
def test_param_labels(path, label):
    assert param_label(path) == label


@pytest.mark.parametrize("name, label", [
    ("E.rate", "E: firing rate (Hz)"), ("neurons.cv", "neurons: ISI CV (dimensionless)"),
    ("E.fano", "E: Fano factor (dimensionless)"), ("E.synchrony", "E: synchrony chi (dimensionless)"),
    ("E.psd_peak", "E: spectral peak (Hz)"), ("EE.weights_mean", "EE: mean weight (pA, nS or mV by synapse)"),
    ("my_reduction", "my_reduction"),
])
def test_measure_labels(name, label):
    assert measure_label(name) == label


# --------------------------------------------------------------------------- the rate panel's range

def _transient_run(seed=8):
    """E spikes at ~20 Hz, with every neuron firing in the first 2 ms (a start from rest)."""
    rng = np.random.default_rng(seed)
    n, t_stop = 200, 500.0
    times = np.concatenate([rng.uniform(0.0, 2.0, n), rng.uniform(0.0, t_stop, int(20 * n * t_stop / 1000))])
    ids = np.concatenate([np.arange(n), rng.integers(0, n, times.size - n)])
    return {"E": (times, ids, n)}, t_stop


def test_rate_range_is_set_by_the_steady_part_and_says_so():
    by_pop, t_stop = _transient_run()
    _, (_, ax_rate) = raster_with_rate(by_pop, 0.0, t_stop, 1.0, smooth_ms=2.0)
    t, rate = ax_rate.lines[0].get_data()
    steady_max = rate[t >= 50.0].max()
    assert rate.max() > 5 * steady_max                     # the transient is there...
    assert ax_rate.get_ylim() == pytest.approx((0.0, 1.1 * steady_max))   # ...but does not set the range
    assert ax_rate.get_ylabel() == "population rate (Hz)"
    (note,) = ax_rate.texts
    assert note.get_text() == f"first 50 ms clipped: peak {rate.max():.0f} Hz"
    # transient_ms=0: the range from every bin, nothing clipped, no note
    _, (_, ax_rate) = raster_with_rate(by_pop, 0.0, t_stop, 1.0, smooth_ms=2.0, transient_ms=0.0)
    assert ax_rate.get_ylim() == pytest.approx((0.0, 1.1 * rate.max())) and not ax_rate.texts


def test_rate_range_without_a_transient_has_no_note():
    e_times, e_ids = _spikes(40, 4000, 300.0, seed=9)
    _, (_, ax_rate) = raster_with_rate({"E": (e_times, e_ids, 40)}, 0.0, 300.0, 5.0)
    assert not ax_rate.texts and ax_rate.get_ylim()[0] == 0.0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "50 ms"])
def test_bad_transient(bad):
    times, ids = _spikes(5, 20, 100.0, seed=7)
    with pytest.raises(ValueError, match="transient_ms"):
        raster_with_rate({"E": (times, ids, 5)}, 0.0, 100.0, 10.0, transient_ms=bad)


# --------------------------------------------------------------------------- ns.plot, lazily

def test_plot_is_reachable_from_the_top_level_without_importing_matplotlib_first():
    code = ("import sys, neurosim as ns\n"
            "assert 'matplotlib' not in sys.modules, 'import neurosim imported matplotlib'\n"
            "assert 'plot' in dir(ns) and 'plot' in ns.__all__\n"
            "assert ns.plot.raster is not None and 'matplotlib' in sys.modules\n"
            "from neurosim import plot\n"
            "assert plot is ns.plot\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_unknown_top_level_names_are_attribute_errors():
    import neurosim as ns

    with pytest.raises(AttributeError, match="has no attribute 'plots'"):
        getattr(ns, "plots")


def test_backend_left_alone():
    assert matplotlib.get_backend() == BACKEND_BEFORE
