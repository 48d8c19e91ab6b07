"""Neuron-parallel runs (neurosim.network.parallel): on 4 (and 2) host devices the spike trains
and the final state are bitwise those of the one-device scan engine, for COBA (a window of one
step), Brunel's state C (a window of 15 steps, chunks that end inside a window) and a network
of every kind the engine takes (spike sources, LIF and Izhikevich, three delays, sliced
presynaptic populations, a run continued in three pieces); the split of the synapses by device
against the CSR it came from; every refusal by name."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jax.numpy as jnp
import neurosim as ns
from neurosim.events import fixed_probability
from neurosim.network import parallel
from neurosim.synapses import TsodyksMarkram

sys.path.insert(0, str(Path(__file__).parent))
import parallel_cases as cases  # noqa: E402


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory):
    """The parallel runs of every case, from a process with 4 host devices."""
    out = tmp_path_factory.mktemp("parallel") / "runs.npz"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "parallel_cases.py"), str(out)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.slow
@pytest.mark.parametrize("name, continued", [("coba", False), ("brunel", False), ("brunel_2", False),
                                             ("mixed", False), ("mixed", True), ("derived", False)])
def test_parallel_runs_are_the_one_device_run_bitwise(four_devices, name, continued):
    spikes, leaves = cases.run(name, "scan", continued=continued)
    tag = f"{name}{'_continued' if continued else ''}"
    for pop, (t, i) in spikes.items():
        np.testing.assert_array_equal(four_devices[f"{tag}/spikes/{pop}/t"], t, err_msg=f"{tag} {pop}")
        np.testing.assert_array_equal(four_devices[f"{tag}/spikes/{pop}/i"], i, err_msg=f"{tag} {pop}")
    assert sum(len(t) for p, (t, _) in spikes.items() if p != "rate") > 200     # the runs spike: equality is not of empty trains
    for k, x in enumerate(leaves):
        np.testing.assert_array_equal(four_devices[f"{tag}/state/{k}"], x, err_msg=f"{tag} state leaf {k}")


def test_every_population_of_the_mixed_case_spikes():
    spikes, _ = cases.run("mixed", "scan")
    spikes.pop("rate")
    assert all(len(t) > 10 for t, _ in spikes.values()), {p: len(t) for p, (t, _) in spikes.items()}


def test_the_split_synapses_are_the_csr_they_came_from():
    conn = fixed_probability(40, 24, 0.3, seed=7)
    w = np.random.default_rng(0).normal(size=conn.nnz)
    lc, max_row = parallel.split_csr(conn, 4)
    dense = np.zeros((40, 24))
    rows_seen = []
    for k in range(4):
        indptr, idx, rows, perm, valid = (np.asarray(a[k]) for a in lc)
        n = int(indptr[-1])
        assert valid.sum() == n and np.all(idx[~valid] == 6)          # padding points past the block of 6
        assert np.array_equal(rows[:n], np.repeat(np.arange(40), np.diff(indptr)))
        dense[rows[:n], k * 6 + idx[:n]] += w[perm[:n]]
        rows_seen.append(perm[:n])
        assert np.all(np.diff(perm[:n]) > 0)                           # the global order, kept
    np.testing.assert_allclose(dense, np.asarray(conn.to_dense(w), float), rtol=1e-6)
    assert np.array_equal(np.sort(np.concatenate(rows_seen)), np.arange(conn.nnz))
    assert max_row == max(int(np.diff(np.asarray(lc.indptr[k])).max()) for k in range(4))


def _stp_net():
    c = fixed_probability(20, 20, 0.2, seed=1)
    return ns.Network([ns.Population("A", 20, ns.neurons.LIF())],
                      [ns.Projection("AA", "A", "A", c, 1.0, stp=TsodyksMarkram())])


@pytest.mark.parametrize("make, match", [
    (lambda: ns.Network([ns.Population("A", 18, ns.neurons.LIF())]), "population 'A' has 18 neurons, which 4 devices do not divide"),
    (_stp_net, "projection 'AA' has per-synapse dynamics \\(stp\\)"),
    (lambda: ns.Network([ns.Population("A", 20, ns.neurons.LIF())],
                        [ns.Projection("AA", "A", ("A", 0, 8), fixed_probability(20, 8, 0.2, seed=1))]),
     "projection 'AA' targets a slice of population 'A'"),
    (lambda: ns.Network([ns.Population("A", 20, ns.neurons.LIF())],
                        [ns.Projection("AA", "A", "A", ns.events.JitConn(20, 20, 0.1, seed=1))]),
     "projection 'AA' has procedural connectivity"),
    (lambda: ns.Network([ns.Population("A", 20, ns.neurons.LIF())],
                        inputs=[ns.Input("g", "A", ns.inputs.StepCurrent(times_ms=(0.0,)),
                                         ns.inputs.StepCurrent.Params(amplitudes=np.ones(1)))]),
     "input 'g': its source StepCurrent does not say how a block of neurons draws it"),
])
def test_what_cannot_run_neuron_parallel_is_named(make, match):
    reason = parallel.parallel_reason(make(), [], 4)
    assert reason is not None and re.search(match, reason), reason


def test_simulate_refuses_by_name():
    net = _stp_net()
    with pytest.raises(ValueError, match="engine='parallel' cannot run this simulation: projection 'AA'"):
        ns.simulate(net, 1.0, engine="parallel")
    ok = ns.Network([ns.Population("A", 20, ns.neurons.LIF())])
    with pytest.raises(ValueError, match="devices=64 asked, but only 1 cpu device"):
        ns.simulate(ok, 1.0, engine="parallel", devices=64)
    with pytest.raises(ValueError, match="devices=2 is for engine='parallel'"):
        ns.simulate(ok, 1.0, devices=2)
    with pytest.raises(ValueError, match="monitor Trace is not recorded by the parallel engine"):
        ns.simulate(ok, 1.0, engine="parallel", monitors=[ns.Trace("A", "v")])


def test_one_device_is_the_scan_engine_too():
    """On this process's single device the parallel engine (no exchange partner) still gives
    the scan engine's spikes: the layout of a block of one is the whole network."""
    net = ns.builders.brunel2000("C", scale=0.1, seed=3)
    mons = [ns.Spikes("neurons")]
    a = ns.simulate(net, 50.0, monitors=mons, engine="scan", key=2)
    b = ns.simulate(net, 50.0, monitors=mons, engine="parallel", key=2)
    assert b.timings["engine"] == "parallel"
    assert len(a.spikes["neurons"][0]) > 100
    np.testing.assert_array_equal(a.spikes["neurons"][0], b.spikes["neurons"][0])
    np.testing.assert_array_equal(a.spikes["neurons"][1], b.spikes["neurons"][1])


def test_how_a_block_steps_is_read_from_the_models_own_code():
    """No model declares it: elementwise where the step lowers element by element, indexed where
    it takes first=, refused where it is neither, a user's subclass judged by its own step."""
    from neurosim.inputs import ConstantCurrent, GaussianCurrent, StepCurrent
    from neurosim.neurons import LIF, Izhikevich

    class Global(LIF):      # a sum over the population: not elementwise
        def step(self, params, state, i, dt):
            return super().step(params, state, i - jnp.mean(state.v), dt)

    p = LIF.Params()
    assert parallel.partition(LIF(), p, 8)[0] == "elementwise"
    assert parallel.partition(Izhikevich(), Izhikevich.Params(), 8)[0] == "elementwise"
    assert parallel.partition(ConstantCurrent(), ConstantCurrent.Params(), 8)[0] == "elementwise"
    kind, per_element = parallel.partition(GaussianCurrent(), GaussianCurrent.Params(), 8)
    assert kind == "indexed" and per_element.seed is False          # every block shares the seed
    assert "reduce_sum" in parallel.partition(Global(), p, 8)
    assert "not elementwise" in parallel.partition(StepCurrent(times_ms=(0.0,)),
                                                   StepCurrent.Params(amplitudes=np.ones(1)), 8)
