"""Sweeps (neurosim.sweeps): the on-device measures against neurosim.analysis on the recorded
spikes of the same runs; rows bitwise the same whatever the batch size, on 4 host devices and
in two jax.distributed processes; a resumed sweep equals an uninterrupted one; designs, the
table, the heat map and every refusal the scale-out issue lists."""
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import neurosim as ns
from neurosim.analysis import spectra as SP
from neurosim.analysis import spikes as S

RATE = "inputs.background.rate_hz"
VTH = "neurons.neurons.v_th"


@pytest.fixture(scope="module")
def brunel():
    return ns.builders.brunel2000("C", scale=0.1, seed=2)


def _reference(net, rate_hz, seed, warm, duration):
    p = net.params()
    p = p._replace(inputs={"background": p.inputs["background"]._replace(rate_hz=rate_hz)})
    w = ns.simulate(net, warm, key=seed, params=p, progress=False)
    return ns.simulate(net, duration, state=w.state, params=p, monitors=[ns.Spikes("neurons")], progress=False)


@pytest.mark.parametrize("engine", ["vmap", "loop"])
def test_measures_equal_the_analysis_functions_on_the_same_runs(brunel, engine):
    net = brunel
    r = ns.sweep(net, {RATE: [18.0, 20.0]}, 500.0, seeds=[3], warmup_ms=100.0, bin_ms=10.0, engine=engine)
    assert r.info["engine"] == engine
    tab = r.table(pandas=False)
    n = net.population("neurons").n
    for row in range(2):
        res = _reference(net, float(tab[RATE][row]), 3, 100.0, 500.0)
        t, i = res.spikes["neurons"]
        assert len(t) > 1000
        assert tab["neurons.rate"][row] == pytest.approx(S.mean_rate(t, i, n, 100.0, 600.0), rel=1e-12)
        assert tab["neurons.cv"][row] == pytest.approx(S.mean_isi_cv(t, i, n), rel=1e-6)
        assert tab["neurons.fano"][row] == pytest.approx(S.fano_factor(t, i, n, 100.0, 600.0, 10.0), rel=1e-9)
        assert tab["neurons.synchrony"][row] == pytest.approx(
            S.synchrony_chi(S.bin_spikes(t, i, n, 100.0, 600.0, 10.0)), rel=1e-9)
        f, psd = SP.population_psd(t, i, n, 100.0, 600.0, 1.0)
        assert tab["neurons.psd_peak"][row] == SP.psd_peak(f, psd)[0]
        np.testing.assert_array_equal(r.series["neurons"][row],
                                      S.bin_spikes(t, i, n, 100.0, 600.0, 1.0).sum(1))
    assert tab["neurons.rate"][1] > tab["neurons.rate"][0]     # more drive, more spikes


def _table(r):
    t = r.table(pandas=False)
    return np.stack([np.asarray(t[c], float) for c in t.dtype.names], 1)


def test_rows_do_not_depend_on_the_batch_size_and_grid_and_zip_designs(brunel):
    axes = {RATE: [16.0, 20.0], VTH: [19.0, 20.0, 21.0]}
    whole = ns.sweep(brunel, axes, 100.0, seeds=2, bin_ms=10.0, measures=("rate", "fano"))
    assert whole.n == 12 and list(whole.design.seeds[:4]) == [0, 1, 0, 1]
    with pytest.warns(UserWarning, match="the last batch is padded with 3 copies"):
        small = ns.sweep(brunel, axes, 100.0, seeds=2, bin_ms=10.0, measures=("rate", "fano"), batch_size=5)
    np.testing.assert_array_equal(_table(whole), _table(small))
    zipped = ns.sweep(brunel, {RATE: [16.0, 20.0], VTH: [19.0, 21.0]}, 100.0, design="zip", bin_ms=10.0,
                      measures=("rate",))
    tw, tz = whole.table(pandas=False), zipped.table(pandas=False)
    for k in range(2):    # zip instance k = the grid instance with the same values and seed 0
        sel = (tw[RATE] == tz[RATE][k]) & (tw[VTH] == tz[VTH][k]) & (tw["seed"] == 0)
        assert tw["neurons.rate"][sel][0] == tz["neurons.rate"][k]
    # the heat map's grid is the mean over seeds
    xs, ys, grid = whole.grid("neurons.rate", RATE, VTH)
    sel = (tw[RATE] == 20.0) & (tw[VTH] == 19.0)
    assert grid[0, 1] == pytest.approx(tw["neurons.rate"][sel].mean())
    fig = whole.heatmap("neurons.rate", RATE, VTH)
    assert fig.axes[0].get_title() == "neurons.rate"
    assert grid[0, 1] > grid[2, 1]                    # a higher threshold, fewer spikes


SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "process":
        import jax
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(f"localhost:{sys.argv[4]}", num_processes=2, process_id=int(sys.argv[3]))
    import neurosim as ns
    net = ns.builders.brunel2000("C", scale=0.1, seed=2)
    r = ns.sweep(net, {"inputs.background.rate_hz": [16.0, 20.0], "neurons.neurons.v_th": [19.0, 20.0, 21.0]},
                 100.0, seeds=2, bin_ms=10.0, batch_size=4, devices=4 if mode == "devices" else None, engine="vmap")
    t = r.table(pandas=False)
    if mode != "process" or sys.argv[3] == "0":
        np.save(out, np.stack([np.asarray(t[c], float) for c in t.dtype.names], 1))
    print("devices", r.n_devices)
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_four_host_devices_and_two_processes_give_the_one_device_rows_bitwise(brunel, tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT)
    one = ns.sweep(brunel, {RATE: [16.0, 20.0], VTH: [19.0, 20.0, 21.0]}, 100.0, seeds=2, bin_ms=10.0, engine="vmap")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run([sys.executable, str(script), "devices", str(tmp_path / "dev.npy")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "devices 4" in proc.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "dev.npy"), _table(one))
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, str(script), "process", str(tmp_path / "mp.npy"), str(k), port],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "mp.npy"), _table(one))


def test_the_two_engines_agree_and_auto_loops_on_one_cpu(brunel):
    axes = {RATE: [16.0, 20.0], VTH: [19.0, 21.0]}
    a = ns.sweep(brunel, axes, 200.0, seeds=2, bin_ms=10.0, warmup_ms=20.0, engine="vmap")
    b = ns.sweep(brunel, axes, 200.0, seeds=2, bin_ms=10.0, warmup_ms=20.0)
    assert b.info["engine"] == "loop"
    for name in a.columns:
        if name.endswith(".cv"):                   # float32 sums of the intervals, added in another program
            np.testing.assert_allclose(a.columns[name], b.columns[name], rtol=1e-6)
        else:
            np.testing.assert_array_equal(a.columns[name], b.columns[name])
    np.testing.assert_array_equal(a.series["neurons"], b.series["neurons"])
    with pytest.raises(ValueError, match="engine must be 'auto', 'vmap' or 'loop'"):
        ns.sweep(brunel, axes, 200.0, bin_ms=10.0, engine="fused")


def test_a_resumed_sweep_equals_the_uninterrupted_one(brunel, tmp_path):
    path = tmp_path / "sweep.npz"
    axes = {RATE: [16.0, 18.0, 20.0]}
    with pytest.warns(UserWarning, match="padded"):
        whole = ns.sweep(brunel, axes, 100.0, seeds=2, bin_ms=10.0, batch_size=4, resume=path)
    # pretend the run stopped after its first batch: drop the second from the file
    with np.load(path) as z:
        kept = {k: z[k] for k in z.files if not k.startswith("b1:")}
    np.savez(path, **kept)
    with pytest.warns(UserWarning, match="padded"):
        again = ns.sweep(brunel, axes, 100.0, seeds=2, bin_ms=10.0, batch_size=4, resume=path, progress=True)
    np.testing.assert_array_equal(_table(whole), _table(again))
    with pytest.raises(ValueError, match="holds a sweep with a different design"):
        ns.sweep(brunel, {RATE: [16.0, 19.0, 20.0]}, 100.0, seeds=2, bin_ms=10.0, batch_size=4, resume=path)


def test_plastic_weights_and_a_reduction_of_ones_own():
    net = ns.builders.song2000(n_exc=200, n_inh=40, g_max=0.1, seed=1)
    r = ns.sweep(net, {"projections.stdp.weights": [0.05, 0.1]}, 200.0, seeds=[7], populations="neuron",
                 bin_ms=10.0, reduce=lambda state: {"w_max": state.weights["stdp"].max()})
    p = net.params()
    for k, w in enumerate((0.05, 0.1)):
        q = p._replace(projections={**p.projections, "stdp": p.projections["stdp"]._replace(weights=w)})
        res = ns.simulate(net, 200.0, key=7, params=q, progress=False)
        final = np.asarray(res.state.weights["stdp"])
        assert r.columns["stdp.weights_mean"][k] == pytest.approx(final.mean(), rel=1e-6)
        assert r.columns["w_max"][k] == final.max()
    assert r.columns["stdp.weights_mean"][0] != r.columns["stdp.weights_mean"][1]


def test_refusals(brunel, tmp_path):
    with pytest.raises(ValueError, match=r"sweep axis 'neurons.neurons.vth' names no params leaf; leaves here include "
                                         r"\['neurons.neurons.v_rest'"):
        ns.sweep(brunel, {"neurons.neurons.vth": [1.0]}, 10.0, bin_ms=10.0)
    with pytest.raises(ValueError, match="a zipped design needs axes of one length"):
        ns.sweep(brunel, {RATE: [1.0, 2.0], VTH: [20.0]}, 10.0, bin_ms=10.0, design="zip")
    with pytest.raises(ValueError, match=r"devices = 8 asks for more devices than the 1 present"):
        ns.sweep(brunel, {RATE: [1.0]}, 10.0, bin_ms=10.0, devices=8)
    with pytest.raises(ValueError, match=r"duration = 25.0 ms must be a whole number \(>= 1\) of bin_ms = 10.0 ms"):
        ns.sweep(brunel, {RATE: [1.0]}, 25.0, bin_ms=10.0)
    with pytest.raises(ValueError, match="measures must be a non-empty subset of"):
        ns.sweep(brunel, {RATE: [1.0]}, 10.0, bin_ms=10.0, measures=("rates",))
    with pytest.raises(ValueError, match="seeds must be a count >= 1 or a list of integer seeds"):
        ns.sweep(brunel, {RATE: [1.0]}, 10.0, bin_ms=10.0, seeds=0)
    with pytest.raises(ValueError, match=r"value 0 has shape \(3,\); the leaf has shape \(\)"):
        ns.sweep(brunel, {RATE: [np.ones(3)]}, 10.0, bin_ms=10.0)
    with pytest.raises(ValueError, match="value 1 is not finite"):
        ns.sweep(brunel, {RATE: [1.0, np.nan]}, 10.0, bin_ms=10.0)
    with pytest.raises(ValueError, match="no population named 'X'"):
        ns.sweep(brunel, {RATE: [1.0]}, 10.0, bin_ms=10.0, populations="X")
    with pytest.raises(ValueError, match="resume: the directory .* does not exist"):
        ns.sweep(brunel, {RATE: [1.0]}, 10.0, bin_ms=10.0, resume=tmp_path / "no" / "x.npz")
    with pytest.raises(ValueError, match=r"random_design: ranges\['a'\] must be finite with low <= high"):
        ns.sweeps.random_design(4, {"a": (2.0, 1.0)})
    d = ns.sweeps.random_design(5, {RATE: (10.0, 20.0), VTH: (19.0, 21.0)}, seed=1)
    assert d == ns.sweeps.random_design(5, {RATE: (10.0, 20.0), VTH: (19.0, 21.0)}, seed=1)
    assert all(10.0 <= v <= 20.0 for v in d[RATE]) and len(d[VTH]) == 5


def test_a_connectivity_draw_per_seed():
    def build(seed):
        return ns.builders.brunel2000("C", scale=0.1, seed=seed)        # fixed in-degree: same nnz per draw
    axes = {RATE: [18.0, 20.0]}
    a = ns.sweep(build, axes, 100.0, seeds=[1, 2], bin_ms=10.0, engine="vmap")
    b = ns.sweep(build, axes, 100.0, seeds=[1, 2], bin_ms=10.0, engine="loop")
    for name in a.columns:
        np.testing.assert_allclose(a.columns[name], b.columns[name], rtol=1e-6)
    tab = a.table(pandas=False)
    n = 1250
    for k in range(4):          # each instance is its own network, built with its seed, run with it
        net = build(int(tab["seed"][k]))
        p = net.params()
        p = p._replace(inputs={"background": p.inputs["background"]._replace(rate_hz=float(tab[RATE][k]))})
        res = ns.simulate(net, 100.0, key=int(tab["seed"][k]), params=p, monitors=[ns.Spikes("neurons")], progress=False)
        assert tab["neurons.rate"][k] == pytest.approx(S.mean_rate(*res.spikes["neurons"], n, 0.0, 100.0), rel=1e-12)
    shared = ns.sweep(build(1), axes, 100.0, seeds=[1, 2], bin_ms=10.0)
    assert not np.array_equal(shared.columns["neurons.rate"], a.columns["neurons.rate"])   # the seed-2 rows differ
    with pytest.raises(ValueError, match="the same number of synapses in every draw"):
        ns.sweep(lambda s: ns.builders.brunel2000("C", scale=0.1, seed=s, connectivity="probability"), axes, 20.0,
                 seeds=[1, 2], bin_ms=10.0, engine="vmap")
    with pytest.raises(ValueError, match="differently structured network for seed 2"):
        ns.sweep(lambda s: ns.builders.brunel2000("C", scale=0.1 * s, seed=s), axes, 20.0, seeds=[1, 2], bin_ms=10.0)
