"""How simulate holds monitor data on the host (issue 30): spikes at 8 bytes each with no second
copy, a memory guard that counts spike monitors at a stated rate bound and can stream instead of
refusing, sampled monitors that end on the final state on every engine, and durations with units."""
from __future__ import annotations

import math
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest

import neurosim as ns
from neurosim.engines.chunks import GrowingArray, SpikeBuffer
from neurosim.inputs import ConstantCurrent
from neurosim.network import SpikeEvents
from neurosim.neurons import LIF

DT = 0.1


def driven(n=50, amplitude=300.0):
    """n LIF neurons under constant currents spread around threshold: regular, varied spiking."""
    amps = np.linspace(0.5, 1.5, n, dtype=np.float32) * amplitude
    return ns.Network([ns.Population("E", n, LIF())],
                      inputs=[ns.Input("drive", "E", ConstantCurrent(), ConstantCurrent.Params(amps))])


# --------------------------------------------------------------------------- spikes held compactly


@pytest.mark.parametrize("engine", ["scan", "auto"])
def test_spike_events_hold_8_bytes_a_spike_and_unpack_as_the_raster_gives_them(engine):
    net = driven()
    res = ns.simulate(net, 200.0, DT, monitors=[ns.Spikes("E")], engine=engine, chunk_steps=300)
    ev = res.spikes["E"]
    assert isinstance(ev, SpikeEvents) and ev.n_spikes > 100
    assert ev.steps.dtype == np.int32 and ev.ids.dtype == np.int32
    assert ev.nbytes == 8 * ev.n_spikes
    # the same numbers as the dense raster of ns.run: step k -> time k dt (float64), sorted by step then id
    _, raster = ns.run(net, net.params(), ns.init_state(net, net.params(), 0, DT), 2000, DT)
    k, i = np.nonzero(np.asarray(raster["E"]))
    t, ids = ev
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t, k * DT)
    np.testing.assert_array_equal(ids, i)
    # a read-only pair, as the (times_ms, ids) tuple it replaces
    assert len(ev) == 2 and np.asarray(ev).shape == (2, ev.n_spikes)
    np.testing.assert_array_equal(ev[0], ev.times)
    np.testing.assert_array_equal(ev[-1], ev.ids)
    with pytest.raises(IndexError):
        ev[2]
    with pytest.raises(ValueError, match="read-only"):
        ev.ids[0] = 7
    back = pickle.loads(pickle.dumps(ev))
    np.testing.assert_array_equal(back.times, ev.times)
    assert "spikes" in repr(ev) and " ms" in repr(ev)


def test_a_continued_run_counts_steps_from_its_start():
    net = driven()
    whole = ns.simulate(net, 100.0, DT, monitors=[ns.Spikes("E")], engine="scan")
    first = ns.simulate(net, 40.0, DT, monitors=[ns.Spikes("E")], engine="scan")
    rest = ns.simulate(net, 60.0, DT, monitors=[ns.Spikes("E")], engine="scan", state=first.state)
    np.testing.assert_array_equal(np.concatenate([first.spikes["E"].steps, rest.spikes["E"].steps]),
                                  whole.spikes["E"].steps)
    assert rest.spikes["E"].times.min() >= 40.0


def test_growing_array_keeps_what_it_holds_through_growth_and_then_takes_no_more():
    g = GrowingArray(np.int32)
    pieces = [np.arange(k * 100_000, (k + 1) * 100_000) for k in range(30)]   # 12 MB: several growths
    for p in pieces:
        g.extend(p)
    a = g.array()
    np.testing.assert_array_equal(a, np.arange(3_000_000))
    small = GrowingArray(np.int64)
    small.extend([1, 2, 3])
    assert small.array().tolist() == [1, 2, 3]       # a small record: a plain array, its map closed
    buf = SpikeBuffer(last_step=10)
    buf.append(5, np.array([0, 2]), np.array([1, 0]))
    ev = buf.events(0.5)
    assert ev.steps.tolist() == [5, 7] and ev.times.tolist() == [2.5, 3.5]
    assert buf.events(0.5) is ev
    with pytest.raises(RuntimeError, match="takes no more spikes"):
        buf.append(10, np.array([0]), np.array([0]))
    assert SpikeBuffer(last_step=2**31).events(0.1).steps.dtype == np.int64   # past 2**31 steps


def test_the_host_never_holds_a_second_copy_of_the_spikes():
    """The numpy allocations of a run (tracemalloc sees them; the record's own memory is an
    anonymous map it does not) peak at one chunk's work whatever the run's length: no list of
    chunks, no concatenation at the end (the old assembly peaked at ~40 bytes a spike)."""
    net = ns.builders.coba(4000)
    mon = [ns.Spikes("neurons")]
    ns.simulate(net, 100.0, DT, monitors=mon, chunk_steps=2000)    # compiled

    def traced_peak(ms):
        tracemalloc.start()
        try:
            res = ns.simulate(net, ms, DT, monitors=mon, chunk_steps=2000)
            return res, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short, peak_short = traced_peak(1000.0)
    long, peak_long = traced_peak(6000.0)
    n = long.spikes["neurons"].n_spikes
    assert n > 5 * short.spikes["neurons"].n_spikes > 400_000
    assert long.spikes["neurons"].nbytes == 8 * n
    assert peak_long < 1.25 * peak_short + 2**18, (peak_short, peak_long)     # flat in the run's length
    assert peak_long < 4 * n, f"{peak_long / n:.1f} traced bytes a spike"


# --------------------------------------------------------------------------- the memory guard


def test_the_guard_counts_spike_monitors_at_the_rate_bound_and_names_the_options():
    net = ns.Network([ns.Population("E", 4000, LIF())])
    with pytest.raises(MemoryError) as err:
        ns.simulate(net, 1e6, DT, monitors=[ns.Spikes("E")], max_host_bytes=1e9)
    msg = str(err.value)
    assert "would hold 3.2 GB on the host for 1e+06 ms" in msg                    # 4000 x 100 Hz x 1000 s x 8 B
    assert "max_rate_hz = 100 Hz a neuron, 8 B a spike" in msg and "more than 1 GB (max_host_bytes)" in msg
    assert "Spikes('E'), grows 3.2 MB per simulated second" in msg
    for option in ("max_rate_hz=...", "stream_to=", "spill_to=", "max_host_bytes=..."):
        assert option in msg
    # a stated bound: 1 Hz a neuron is 32 MB, under the limit (checked before the run: refused at 0.1 Hz of 1 kB)
    with pytest.raises(MemoryError, match=r"max_rate_hz = 0.1 Hz"):
        ns.simulate(net, 1e6, DT, monitors=[ns.Spikes("E")], max_host_bytes=1e3, max_rate_hz=0.1)
    res = ns.simulate(net, 100.0, DT, monitors=[ns.Spikes("E")], max_host_bytes=1e6, max_rate_hz=20.0)
    assert res.stream is None and "E" in res.spikes
    with pytest.raises(MemoryError, match=r"320 kB"):
        ns.simulate(net, 100.0, DT, monitors=[ns.Spikes("E")], max_host_bytes=1e5)
    with pytest.raises(ValueError, match="max_rate_hz must be a positive finite number"):
        ns.simulate(net, 1.0, DT, max_rate_hz=0.0)


def test_spill_to_streams_only_what_would_not_fit(tmp_path):
    pytest.importorskip("h5py")
    net = driven()
    mon = [ns.Spikes("E"), ns.Trace("E", "v", ids=[0, 1], every=10)]
    kept = ns.simulate(net, 100.0, DT, monitors=mon, max_host_bytes=1e9)
    # it fits: in memory, no file, no warning
    fits = ns.simulate(net, 100.0, DT, monitors=mon, max_host_bytes=1e9, spill_to=tmp_path / "unused.h5")
    assert fits.stream is None and not (tmp_path / "unused.h5").exists()
    np.testing.assert_array_equal(fits.spikes["E"].steps, kept.spikes["E"].steps)
    # over the limit (50 neurons x 100 Hz x 0.1 s x 8 B = 4 kB > 1 kB): streamed to the path, with a warning
    path = tmp_path / "spill.h5"
    with pytest.warns(UserWarning, match=r"streamed to .*spill\.h5.*\(spill_to\)"):
        spilled = ns.simulate(net, 100.0, DT, monitors=mon, max_host_bytes=1e3, spill_to=path)
    assert spilled.stream == str(path) and spilled.spikes == {} and spilled.traces == {}
    back = ns.io.read_stream(path)
    np.testing.assert_array_equal(back["spikes"]["E"][0], kept.spikes["E"][0])
    np.testing.assert_array_equal(back["spikes"]["E"][1], kept.spikes["E"][1])
    np.testing.assert_array_equal(back["traces"]["E.v"][1], kept.traces["E.v"][1])
    # True: a new temporary file
    with pytest.warns(UserWarning, match="neurosim-spill-"):
        temp = ns.simulate(net, 100.0, DT, monitors=mon, max_host_bytes=1e3, spill_to=True)
    assert temp.stream.endswith(".h5")
    np.testing.assert_array_equal(ns.io.read_stream(temp.stream)["spikes"]["E"][1], kept.spikes["E"][1])


@pytest.mark.parametrize("kw, message", [
    (dict(spill_to=5), r"spill_to must be None, True \(a temporary file\) or the path of an HDF5 file, got 5"),
    (dict(spill_to="/nonexistent/dir/x.h5"), r"spill_to: the directory '/nonexistent/dir' does not exist"),
    (dict(spill_to=True, stream_to="x.h5"), r"spill_to=True streams the monitors only when .* give one of the two"),
    (dict(max_rate_hz=float("nan")), r"max_rate_hz must be a positive finite number, got nan"),
])
def test_bad_guard_options_are_refused_by_name(kw, message):
    with pytest.raises(ValueError, match=message):
        ns.simulate(driven(), 1.0, DT, monitors=[ns.Spikes("E")], **kw)


def test_spill_to_refuses_a_file_that_is_there(tmp_path):
    there = tmp_path / "there.h5"
    there.write_bytes(b"data")
    with pytest.raises(ValueError, match=r"spill_to: .*there\.h5' exists; give a new path, or True"):
        ns.simulate(driven(), 1.0, DT, monitors=[ns.Spikes("E")], spill_to=there)


# --------------------------------------------------------------------------- sampled monitors end on the final state


@pytest.fixture(scope="module")
def plastic():
    return ns.builders.brian_stdp()     # 1000 Poisson inputs -> 1 LIF neuron, pair STDP: every engine runs it


@pytest.mark.parametrize("engine", ["scan", "fused", "native"])
def test_weights_every_tenth_of_the_run_ends_on_the_final_weights(plastic, engine):
    ids = [0, 5, 9]
    res = ns.simulate(plastic, 200.0, DT, key=1, engine=engine,
                      monitors=[ns.Weights("stdp", ids=ids, every=200), ns.Weights("stdp", bins=4, range=(0.0, 0.2), every=200)])
    assert res.timings["engine"] == engine
    t, w, _ = res.traces["stdp.weights"]
    np.testing.assert_allclose(t, np.arange(1, 11) * 20.0, atol=1e-9)     # T/10, 2T/10, ..., T
    final = np.asarray(res.state.weights["stdp"])
    np.testing.assert_array_equal(w[-1], final[ids])
    t_h, counts, edges = res.traces["stdp.weights_hist"]
    assert t_h[-1] == pytest.approx(200.0)
    np.testing.assert_array_equal(counts[-1], np.histogram(final, edges)[0])


@pytest.mark.parametrize("engine, every", [("scan", 7), ("scan", 300), ("fused", 300), ("native", 70), ("native", 300)])
def test_a_shorter_last_window_ends_on_the_final_state_and_every_engine_agrees(plastic, engine, every):
    n = 1000                                 # not a multiple of every: the last window is shorter
    mon = [ns.Trace("neuron", "v", every=every), ns.Weights("stdp", ids=[1, 2], every=max(every, 100))]
    res = ns.simulate(plastic, n * DT, DT, key=2, engine=engine, monitors=mon)
    ref = ns.simulate(plastic, n * DT, DT, key=2, engine="scan", monitors=mon)
    for key, m in (("neuron.v", mon[0]), ("stdp.weights", mon[1])):
        t, x, _ = res.traces[key]
        after = np.minimum(np.arange(1, math.ceil(n / m.every) + 1) * m.every, n)
        np.testing.assert_allclose(t, after * DT, atol=1e-9)
        np.testing.assert_allclose(x, ref.traces[key][1], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(res.traces["neuron.v"][1][-1], np.asarray(res.state.neurons["neuron"].v))
    np.testing.assert_array_equal(res.traces["stdp.weights"][1][-1], np.asarray(res.state.weights["stdp"])[[1, 2]])


def test_continued_runs_sample_on_without_a_repeat(plastic):
    mon = [ns.Trace("neuron", "v", every=300)]
    first = ns.simulate(plastic, 100.0, DT, key=3, monitors=mon, engine="scan")
    second = ns.simulate(plastic, 100.0, DT, key=3, monitors=mon, engine="scan", state=first.state)
    t = np.concatenate([first.traces["neuron.v"][0], second.traces["neuron.v"][0]])
    np.testing.assert_allclose(t, [30.0, 60.0, 90.0, 100.0, 130.0, 160.0, 190.0, 200.0], atol=1e-9)


# --------------------------------------------------------------------------- durations with units, summaries with units


@pytest.mark.parametrize("text, ms", [("1s", 1000.0), ("2 s", 2000.0), ("500ms", 500.0), ("100 ms", 100.0),
                                      ("250", 250.0), (" 0.5s ", 500.0), ("2e1 ms", 20.0)])
def test_duration_strings_are_the_command_lines(text, ms):
    from neurosim._checks import time_text
    from neurosim.cli import duration_ms

    assert time_text(text) == duration_ms(text) == ms


def test_simulate_takes_a_duration_with_its_unit():
    net = driven()
    by_string = ns.simulate(net, "100 ms", DT, monitors=[ns.Spikes("E")])
    by_number = ns.simulate(net, 100.0, DT, monitors=[ns.Spikes("E")])
    assert by_string.duration == 100.0 and by_string.t_stop == 100.0
    np.testing.assert_array_equal(by_string.spikes["E"].steps, by_number.spikes["E"].steps)
    assert ns.simulate(net, "0.2s", DT).duration == 200.0


@pytest.mark.parametrize("duration, message", [
    ("1 h", r"duration: expected a time such as 1s, 500ms or 250 \(ms\), got '1 h'"),
    ("ms", r"duration: expected a time such as 1s, 500ms or 250 \(ms\), got 'ms'"),
    ("-5ms", r"duration: must be a positive time, got '-5ms' = -5 ms"),
    ("0 s", r"duration: must be a positive time, got '0 s' = 0 ms"),
    ("1e400 s", r"duration: must be a positive time, got '1e400 s' = inf ms"),
    ("0.05 ms", r"duration = 0.05 ms is 0.5 steps of dt = 0.1 ms; expected at least 1 step"),
    (b"1s", r"duration must be a positive finite number, got b'1s'"),
])
def test_a_bad_duration_is_refused_naming_the_argument_and_the_value(duration, message):
    with pytest.raises(ValueError, match=message):
        ns.simulate(driven(), duration, DT)


def test_the_summary_and_the_progress_line_give_their_units(capsys):
    net = driven()
    res = ns.simulate(net, "20 ms", DT, monitors=[ns.Spikes("E"), ns.Rate("E"), ns.Trace("E", "v", every=10)],
                      chunk_steps=100, progress=True)
    text = repr(res)
    assert text.startswith("SimResult: 20 ms (200 steps of dt = 0.1 ms) from t = 0 ms")
    assert "Hz a neuron" in text and " B held" in text and "t = 1-20 ms" in text and "compile" in text and " s" in text
    err = capsys.readouterr().err
    assert "0.020/0.020 s simulated" in err and "elapsed" in err
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert str(res) == text


def test_the_guard_offers_ids_and_every_only_to_monitors_that_take_them():
    net = ns.Network([ns.Population("E", 4000, LIF())])
    with pytest.raises(MemoryError) as err:
        ns.simulate(net, 1e7, monitors=[ns.Spikes("E")], max_host_bytes=1e6, progress=False)
    assert "ids=" not in str(err.value) and "max_rate_hz=" in str(err.value)


def test_spike_events_are_the_pair_for_jax():
    import jax
    net = ns.Network([ns.Population("E", 20, LIF())],
                     inputs=[ns.Input("d", "E", ConstantCurrent(), ConstantCurrent.Params(300.0))])
    res = ns.simulate(net, 50.0, monitors=[ns.Spikes("E")], progress=False)
    t, i = res.spikes["E"]
    on_device = jax.device_put(res.spikes)
    assert len(jax.tree.leaves(res.spikes)) == 2 and t.size > 0
    np.testing.assert_array_equal(np.asarray(on_device["E"][0]), np.asarray(jax.device_put(t)))
    np.testing.assert_array_equal(np.asarray(on_device["E"][1]), i)
