"""Monitors streamed to disk during a run (simulate(stream_to=...)): the file holds bitwise the
spikes, traces and rates of the same run kept in memory, on both engines; memory stays flat (a
streamed run's peak is a chunk's, not the run's); Ctrl-C leaves every finished chunk readable;
Observe and LFP pytrees stream too; a continued run's file has its own times; what cannot be
streamed is refused. Faults (a full disk, a file cut short or claiming data it lacks) are
tests/test_faults.py's."""
import tracemalloc
from typing import NamedTuple

import numpy as np
import pytest

import neurosim as ns

pytest.importorskip("h5py")


@pytest.fixture(scope="module")
def net():
    return ns.builders.brunel2000("C", scale=0.1, seed=2)


@pytest.mark.parametrize("monitors,engine", [
    (lambda: [ns.Spikes("neurons"), ns.Trace("neurons", "v", ids=[0, 3, 7], every=10), ns.Rate("neurons")], "native"),
    (lambda: [ns.Spikes("neurons"), ns.Rate("neurons")], "fused"),
])
def test_a_streamed_run_equals_the_run_in_memory(net, tmp_path, monitors, engine):
    kept = ns.simulate(net, 300.0, monitors=monitors(), chunk_steps=700, progress=False)
    streamed = ns.simulate(net, 300.0, monitors=monitors(), chunk_steps=700, progress=False,
                           stream_to=tmp_path / "run.h5")
    assert kept.timings["engine"] == engine == streamed.timings["engine"]
    assert streamed.spikes == {} and streamed.traces == {} and streamed.rates == {}
    back = ns.io.read_stream(streamed.stream)
    assert back["t_stop"] == pytest.approx(300.0) and back["dt"] == 0.1
    for what in ("spikes", "traces", "rates"):
        assert set(back[what]) == set(getattr(kept, what))
        for key, arrays in getattr(kept, what).items():
            for a, b in zip(arrays, back[what][key]):
                np.testing.assert_array_equal(a, b)
    assert len(kept.spikes["neurons"][0]) > 1000


def test_memory_stays_flat(net, tmp_path):
    mons = [ns.Trace("neurons", "v")]            # 1250 floats per step: 25 MB over 500 ms
    def peak(**kw):
        tracemalloc.start()
        ns.simulate(net, 500.0, monitors=mons, chunk_steps=250, progress=False, **kw)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top
    ns.simulate(net, 25.0, monitors=mons, chunk_steps=250, progress=False)     # compile outside the measure
    in_memory, streamed = peak(), peak(stream_to=tmp_path / "v.h5")
    assert in_memory > 20e6, in_memory
    assert streamed < in_memory / 4, (streamed, in_memory)


def test_ctrl_c_leaves_the_finished_chunks_readable(net, tmp_path, monkeypatch):
    import importlib

    sim = importlib.import_module("neurosim.network.simulate")
    calls = {"n": 0}
    real = sim.ScanRunner.run

    def interrupting(self, fn, params, state, done):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, fn, params, state, done)

    monkeypatch.setattr(sim.ScanRunner, "run", interrupting)
    path = tmp_path / "cut.h5"
    with pytest.raises(ns.SimulationInterrupted) as err:
        ns.simulate(net, 300.0, monitors=[ns.Trace("neurons", "v", ids=[1], every=1)], chunk_steps=1000,
                    engine="scan", progress=False, stream_to=path)
    back = ns.io.read_stream(path)
    assert back["t_stop"] == pytest.approx(200.0) and back["traces"]["neurons.v"][1].shape == (2000, 1)
    assert err.value.partial.stream == str(path) and int(err.value.partial.state.t) == 2000


class _Pair(NamedTuple):
    v0: object
    g: object


def test_observed_pytrees_and_the_lfp_stream_as_they_are_kept(net, tmp_path):
    def observe(state, spikes):
        v = state.neurons["neurons"].v
        return {"mean_v": v.mean(), "first": (v[:3], spikes["neurons"][:2]), "pair": _Pair(v[0], v[1:4])}

    mons = lambda: [ns.Observe("probe", observe), ns.LFP("neurons"), ns.Spikes("neurons")]   # noqa: E731
    kept = ns.simulate(net, 120.0, monitors=mons(), chunk_steps=300, progress=False)
    streamed = ns.simulate(net, 120.0, monitors=mons(), chunk_steps=300, progress=False, stream_to=tmp_path / "o.h5")
    assert streamed.observed == {}
    back = ns.io.read_stream(streamed.stream)["observed"]
    assert set(back) == {"probe", "neurons.lfp"}
    t, lfp = kept.observed["neurons.lfp"]
    np.testing.assert_array_equal(back["neurons.lfp"][0], t)
    np.testing.assert_array_equal(back["neurons.lfp"][1], lfp)
    t, probe = kept.observed["probe"]
    t2, got = back["probe"]
    np.testing.assert_array_equal(t2, t)
    assert t.shape == (1200,) and isinstance(got["first"], tuple)
    np.testing.assert_array_equal(got["mean_v"], probe["mean_v"])
    for a, b in zip(got["first"], probe["first"]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got["pair"]["v0"], probe["pair"].v0)    # a NamedTuple comes back as a dict
    np.testing.assert_array_equal(got["pair"]["g"], probe["pair"].g)
    assert np.ptp(got["mean_v"]) > 1.0                                       # the probe moved


def test_a_continued_run_streams_its_own_times(net, tmp_path):
    first = ns.simulate(net, 20.0, progress=False)
    ns.simulate(net, 30.0, state=first.state, monitors=[ns.Spikes("neurons")], chunk_steps=100, progress=False,
                stream_to=tmp_path / "more.h5")
    back = ns.io.read_stream(tmp_path / "more.h5")
    t = back["spikes"]["neurons"][0]
    assert (back["t_start"], back["t_stop"]) == (pytest.approx(20.0), pytest.approx(50.0))
    assert t.size and 20.0 - 1e-9 <= t.min() and t.max() < 50.0


def test_refusals(net, tmp_path):
    with pytest.raises(ValueError, match="pytree key 'a/b' that cannot name an HDF5 group"):
        ns.simulate(net, 10.0, monitors=[ns.Observe("o", lambda s, z: {"a/b": s.neurons["neurons"].v[0]})],
                    stream_to=tmp_path / "x.h5", progress=False)
    with pytest.raises(ValueError, match="stream_to: the directory .* does not exist"):
        ns.simulate(net, 10.0, monitors=[ns.Spikes("neurons")], stream_to=tmp_path / "no" / "x.h5", progress=False)
    import h5py
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="is not a neurosim stream"):
        ns.io.read_stream(tmp_path / "other.h5")
