"""NIR (neurosim.io.to_nir / from_nir, with the real nir package): a network exported and
imported back (also through a file, given as a path) computes bitwise what it did; a graph written by snnTorch's
own exporter (tests/data, made by benchmarks/peers/snntorch_nir.py) imported with Euler
discretization gives snnTorch's spikes exactly; what NIR cannot carry is refused by name."""
import os
import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import neurosim as ns
from neurosim import train as T

nir = pytest.importorskip("nir")
DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]


def _net(recurrent):
    r = nnx.Rngs(0)
    neuron, params = T.lif(tau=10.0)
    return T.SpikingNetwork(T.SpikingLayer(8, 16, neuron=neuron, params=params, recurrent=recurrent, rngs=r),
                            T.SpikingLayer(16, 12, neuron=neuron, params=params, rngs=r),
                            T.LeakyReadout(12, 3, tau=20.0, rngs=r), dt=1.0, record_spikes=True)


@pytest.mark.parametrize("recurrent", [None, "dense"])
def test_export_and_import_back_computes_bitwise_the_same(recurrent, tmp_path):
    net = _net(recurrent)
    graph = ns.io.to_nir(net, dt=1.0)
    kinds = [type(v).__name__ for v in graph.nodes.values()]
    assert kinds.count("LIF") == 2 and kinds.count("LI") == 1 and ("Linear" in kinds) == (recurrent == "dense")
    nir.write(tmp_path / "g.nir", graph)
    back = ns.io.from_nir(tmp_path / "g.nir", dt=1.0)            # the file's path, or nir.read of it
    x = (jax.random.uniform(jax.random.key(1), (60, 4, 8)) < 0.3).astype(jnp.float32)
    a, b = net(x), back(x)
    assert 0.02 < float(np.asarray(a.spikes[0]).mean()) < 0.6
    for s, t in zip(a.spikes, b.spikes):
        np.testing.assert_array_equal(np.asarray(s), np.asarray(t))
    np.testing.assert_array_equal(np.asarray(a.y), np.asarray(b.y))


def _check_snntorch(graph_path, io_path):
    graph, data = nir.read(graph_path), np.load(io_path)
    x, want = jnp.asarray(data["x"]), data["spikes"]
    got = np.asarray(ns.io.from_nir(graph, dt=1e-4, discretization="euler")(x).spikes[0])
    np.testing.assert_array_equal(got, want)            # snnTorch's v <- beta v + I, reset to 0
    assert 0.02 < want.mean() < 0.5
    exact = np.asarray(ns.io.from_nir(graph, dt=1e-4)(x).spikes[0])
    assert 0 < np.mean(exact != want) < 0.05            # the ODE integrated exactly: close, not equal


def test_a_graph_written_by_snntorch_gives_snntorchs_spikes():
    _check_snntorch(DATA / "snntorch_lif.nir", DATA / "snntorch_lif_io.npz")


@pytest.mark.skipif(not (ROOT / ".peers" / "snntorch" / "bin" / "python").exists(),
                    reason="snnTorch peer not installed (bash benchmarks/peers/install.sh snntorch)")
def test_a_graph_snntorch_writes_now_gives_its_spikes(tmp_path):
    py = ROOT / ".peers" / "snntorch" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(py), str(ROOT / "benchmarks" / "peers" / "snntorch_nir.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode != 0 and "No module named" in proc.stderr:
        pytest.skip(f"the snnTorch peer lacks nir/nirtorch: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    _check_snntorch(tmp_path / "snntorch_lif.nir", tmp_path / "snntorch_lif_io.npz")


def test_refusals():
    r = nnx.Rngs(0)
    izh = T.SpikingNetwork(T.SpikingLayer(4, 4, neuron=ns.neurons.Izhikevich(), params=ns.neurons.Izhikevich.Params(),
                                          rngs=r))
    with pytest.raises(ValueError, match="to_nir maps LIF layers; layer 0 is Izhikevich"):
        ns.io.to_nir(izh, dt=1.0)
    csr = T.SpikingNetwork(T.SpikingLayer(4, 6, recurrent=ns.events.fixed_probability(6, 6, 0.5, seed=1), rngs=r))
    with pytest.raises(ValueError, match="feed-forward and dense recurrent layers"):
        ns.io.to_nir(csr, dt=1.0)
    with pytest.raises(ValueError, match="to_nir takes a neurosim.train.SpikingNetwork or an ns.Network"):
        ns.io.to_nir("net", dt=0.1)
    cuba = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                               "fc": nir.Affine(weight=np.ones((3, 2)), bias=np.zeros(3)),
                               "cuba": nir.CubaLIF(tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3),
                                                   v_leak=np.zeros(3), v_threshold=np.ones(3)),
                               "output": nir.Output(output_type={"output": np.array([3])})},
                        edges=[("input", "fc"), ("fc", "cuba"), ("cuba", "output")])
    with pytest.raises(ValueError, match="from_nir does not map CubaLIF"):
        ns.io.from_nir(cuba, dt=0.1)
    graph = nir.read(DATA / "snntorch_lif.nir")
    with pytest.raises(ValueError, match="discretization must be 'exact' or 'euler'"):
        ns.io.from_nir(graph, dt=1e-4, discretization="rk4")
    with pytest.raises(ValueError, match="forward Euler is unstable there"):
        ns.io.from_nir(graph, dt=1e-2, discretization="euler")
