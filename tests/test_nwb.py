"""NWB export (neurosim.io, with the real pynwb and nwbinspector): spikes, traces, weight
snapshots and rates written and read back equal (a streamed result's from its file), the
network's description kept, the file free of nwbinspector's critical findings and errors, and a
result of another network refused."""
import json

import numpy as np
import pytest

import neurosim as ns

pynwb = pytest.importorskip("pynwb")


@pytest.fixture(scope="module")
def run():
    net = ns.builders.brunel2000("C", scale=0.1, seed=2)
    r = ns.simulate(net, 100.0, monitors=[ns.Spikes("neurons"), ns.Trace("neurons", "v", ids=[0, 5, 9], every=10),
                                          ns.Rate("neurons")], progress=False)
    return net, r


def test_a_run_written_to_nwb_reads_back_equal(run, tmp_path):
    net, r = run
    path = ns.io.to_nwb(r, net, tmp_path / "run.nwb", experimenter=["A. Tester"])
    back = ns.io.read_nwb(path)
    t, i = r.spikes["neurons"]
    order = np.lexsort((i, t))
    t2, i2 = back["spikes"]["neurons"]
    assert len(t) > 1000
    np.testing.assert_array_equal(i[order], i2)
    np.testing.assert_allclose(t2, t[order], rtol=0, atol=1e-9)               # ms -> s -> ms
    np.testing.assert_array_equal(np.round(t2 / r.dt), np.round(t[order] / r.dt))   # the same steps
    tt, v, ids = r.traces["neurons.v"]
    tt2, v2, ids2 = back["traces"]["neurons.v"]
    np.testing.assert_array_equal(v2, v)
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_allclose(tt2, tt, atol=1e-9)
    np.testing.assert_array_equal(back["rates"]["neurons"][1], r.rates["neurons"][1])
    assert back["dt"] == r.dt and back["duration"] == 100.0
    assert back["network"]["fingerprint"] == ns.fingerprint(net)
    assert back["network"]["neurosim_network"]["populations"]["neurons"]["n"] == 1250
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert len(nwb.units) == 1250 and nwb.units.resolution == pytest.approx(1e-4)
        assert nwb.processing["misc"]["neurons.v"].unit == "mV"
        assert tuple(nwb.experimenter) == ("A. Tester",)


def test_weight_snapshots_of_a_plastic_network(tmp_path):
    net = ns.builders.song2000(n_exc=50, n_inh=10, g_max=0.1, seed=1)
    r = ns.simulate(net, 50.0, monitors=[ns.Weights("stdp", ids=[0, 3, 7], every=100), ns.Spikes("neuron")],
                    progress=False)
    back = ns.io.read_nwb(ns.io.to_nwb(r, net, tmp_path / "song.nwb"))
    np.testing.assert_array_equal(back["traces"]["stdp.weights"][1], r.traces["stdp.weights"][1])
    np.testing.assert_array_equal(back["traces"]["stdp.weights"][2], [0, 3, 7])


def test_a_last_sample_inside_a_window_keeps_its_time(tmp_path):
    net = ns.builders.brunel2000("C", scale=0.05, seed=2)
    r = ns.simulate(net, 25.5, monitors=[ns.Trace("neurons", "v", ids=[0, 1], every=100)], progress=False)
    t = r.traces["neurons.v"][0]
    np.testing.assert_allclose(t, [10.0, 20.0, 25.5])                      # the end of each window, and of the run
    back = ns.io.read_nwb(ns.io.to_nwb(r, net, tmp_path / "short.nwb"))
    np.testing.assert_allclose(back["traces"]["neurons.v"][0], t, atol=1e-9)
    np.testing.assert_array_equal(back["traces"]["neurons.v"][1], r.traces["neurons.v"][1])


def test_the_file_passes_nwbinspector_without_critical_findings_or_errors(run, tmp_path):
    from nwbinspector import Importance, inspect_nwbfile

    net, r = run
    path = ns.io.to_nwb(r, net, tmp_path / "run.nwb")
    found = list(inspect_nwbfile(nwbfile_path=str(path)))
    bad = [m for m in found if m.importance in (Importance.CRITICAL, Importance.ERROR)]
    assert not bad, [(m.check_function_name, m.message) for m in bad]
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        assert json.loads(io.read().notes)["dt_ms"] == 0.1


def test_a_streamed_result_is_written_from_its_file(run, tmp_path):
    net, r = run
    streamed = ns.simulate(net, 100.0, monitors=[ns.Spikes("neurons"), ns.Trace("neurons", "v", ids=[0, 5, 9], every=10),
                                                 ns.Rate("neurons")], progress=False, stream_to=tmp_path / "run.h5")
    assert streamed.spikes == {}
    kept, written = (ns.io.read_nwb(ns.io.to_nwb(x, net, tmp_path / f"{k}.nwb")) for k, x in enumerate((r, streamed)))
    for what in ("spikes", "traces", "rates"):
        assert set(written[what]) == set(kept[what])
        for key, arrays in kept[what].items():
            for a, b in zip(arrays, written[what][key]):
                np.testing.assert_array_equal(a, b)
    ns.simulate(net, 50.0, monitors=[ns.Spikes("neurons")], progress=False, stream_to=tmp_path / "run.h5",
                stream_overwrite=True)
    with pytest.raises(ValueError, match=r"streamed to '.*run.h5', which now holds t = 0-50 ms, not the result's 0-100"):
        ns.io.to_nwb(streamed, net, tmp_path / "x.nwb")


def test_refusals(run, tmp_path):
    net, r = run
    with pytest.raises(ValueError, match="its population 'neurons' has 1250 neurons, net's has 625"):
        ns.io.to_nwb(r, ns.builders.brunel2000("C", scale=0.05, seed=2), tmp_path / "x.nwb")
    other = ns.Network([ns.Population("neurons", 100, ns.neurons.LIF())])
    with pytest.raises(ValueError, match=r"spikes of neuron \d+ of population 'neurons', which has 100 neurons"):
        ns.io.to_nwb(ns.SimResult(r.dt, r.t_start, r.duration, spikes=r.spikes), other, tmp_path / "x.nwb")
    with pytest.raises(ValueError, match="result must be the SimResult of ns.simulate"):
        ns.io.to_nwb({"spikes": {}}, net, tmp_path / "x.nwb")
    with pytest.raises(ValueError, match="the directory .* does not exist"):
        ns.io.to_nwb(r, net, tmp_path / "missing" / "x.nwb")
