"""Whole ns.Networks to and from NIR (ns.io.network_to_nir / network_from_nir, the real nir
package): RasterSource -> Input, LIF with exponential current synapses -> CubaLIF, with delta
synapses -> LIF, projections -> Linear, long delays -> Delay. Export, write, read and import back
is bitwise the same run; the exported graph, integrated by an independent numpy reading of
NIR's equations (the conventions of neurosim/io/nir_network.py), spikes as neurosim does; what
NIR cannot carry is refused by name."""
import numpy as np
import pytest

import neurosim as ns
from neurosim.builders import RasterSource, set_input_raster
from neurosim.neurons import LIF
from neurosim.synapses import Synapse, SynapseParams

nir = pytest.importorskip("nir")
DT, N_STEPS = 0.1, 1500


def _net(t_ref=0.0, **changes):
    lif = LIF.Params(t_ref=t_ref)
    pops = [ns.Population("in", 20, RasterSource(n_steps=N_STEPS)),
            ns.Population("E", 40, LIF(), lif), ns.Population("I", 10, LIF(), lif._replace(v_th=-52.0))]
    conn = ns.events.fixed_probability
    rng = np.random.default_rng(3)
    projs = dict(
        inE=ns.Projection("inE", "in", "E", conn(20, 40, 0.5, seed=1), rng.uniform(40, 120, conn(20, 40, 0.5, seed=1).nnz),
                          syn_params=SynapseParams(tau=5.0)),
        EE=ns.Projection("EE", "E", "E", conn(40, 40, 0.2, seed=2), 20.0, syn_params=SynapseParams(tau=5.0),
                         delay_ms=1.5),
        EI=ns.Projection("EI", "E", "I", conn(40, 10, 0.3, seed=3), 3000.0, synapse=Synapse("delta")),
        IE=ns.Projection("IE", "I", "E", conn(10, 40, 0.5, seed=4), -200.0, syn_params=SynapseParams(tau=5.0)))
    projs.update(changes)
    return ns.Network(pops, [p for p in projs.values() if p is not None])


def _raster():
    return (np.random.default_rng(7).random((N_STEPS, 20)) < 0.005).astype(np.float32)


def _spikes(net):
    state = set_input_raster(ns.init_state(net, net.params(), 0, DT), _raster(), "in")
    res = ns.simulate(net, N_STEPS * DT, DT, state=state, monitors=[ns.Spikes("E"), ns.Spikes("I")], progress=False)
    return res.spikes


def test_export_write_read_import_is_bitwise_the_same_run(tmp_path):
    net = _net()
    graph = ns.io.to_nir(net, dt=DT)                         # to_nir hands an ns.Network to network_to_nir
    kinds = {k: type(v).__name__ for k, v in graph.nodes.items()}
    assert kinds["in"] == "Input" and kinds["E"] == "CubaLIF" and kinds["I"] == "LIF"
    assert kinds["EE.delay"] == "Delay" and float(graph.nodes["EE.delay"].delay[0]) == pytest.approx(1.5)
    assert "inE.delay" not in kinds                          # one step is NIR's "no delay"
    np.testing.assert_allclose(graph.nodes["E"].tau_mem, 20.0)
    np.testing.assert_allclose(graph.nodes["E"].tau_syn, 5.0)
    w = np.asarray(net.projections[0].conn.to_dense(net.params().projections["inE"].weights)).T
    np.testing.assert_array_equal(graph.nodes["inE"].weight, w)
    nir.write(tmp_path / "net.nir", graph)
    back = ns.io.network_from_nir(nir.read(tmp_path / "net.nir"), dt=DT, n_steps=N_STEPS)
    a, b = _spikes(net), _spikes(back)
    assert len(a["E"][0]) > 100 and len(a["I"][0]) > 30
    for pop in ("E", "I"):
        for x, y in zip(a[pop], b[pop]):
            np.testing.assert_array_equal(x, y)


def _numpy_nir(graph, raster):
    """NIR's equations stepped in numpy (float64): a spike is a unit pulse over one step, the
    Linear's output a current held for that step; the membrane and the synaptic current are
    integrated exactly over the step; a Delay of d ms holds spikes d / dt - 1 steps more than
    the one step every edge takes."""
    into = {}
    for a, b in graph.edges:
        into.setdefault(b, []).append(a)
    cells = {k: v for k, v in graph.nodes.items() if isinstance(v, (nir.LIF, nir.CubaLIF))}
    links = []                  # (pre, linear weight, extra steps, post)
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Linear):
            (pre,) = into[name]
            post_edges = [b for a, b in graph.edges if a == name]
            extra, post = 0, post_edges[0]
            if isinstance(graph.nodes[post], nir.Delay):
                extra = int(round(graph.nodes[post].delay[0] / DT)) - 1
                post = [b for a, b in graph.edges if a == post][0]
            links.append((pre, np.asarray(node.weight), extra, post))
    v = {k: np.asarray(c.v_leak, float).copy() for k, c in cells.items()}
    cur = {k: np.zeros_like(v[k]) for k in cells}
    history = {"in": [np.zeros(raster.shape[1])] * 40} | {k: [np.zeros_like(v[k])] * 40 for k in cells}
    out = {k: [] for k in cells}
    for t in range(raster.shape[0]):
        z = {}
        for k, c in cells.items():
            tau_m = c.tau if isinstance(c, nir.LIF) else c.tau_mem
            v_inf = c.v_leak + c.r * cur[k]
            v[k] = v_inf + (v[k] - v_inf) * np.exp(-DT / tau_m)
            z[k] = (v[k] >= c.v_threshold).astype(float)
            v[k] = np.where(z[k] > 0, c.v_reset, v[k])
            out[k].append(z[k])
        z["in"] = raster[t].astype(float)
        for k in z:
            history[k] = history[k][1:] + [z[k]]
        drive = {k: np.zeros_like(v[k]) for k in cells}
        for pre, w, extra, post in links:
            drive[post] += w @ history[pre][-1 - extra]
        for k, c in cells.items():
            if isinstance(c, nir.CubaLIF):
                e = np.exp(-DT / c.tau_syn)
                cur[k] = cur[k] * e + c.w_in * (1 - e) * drive[k]
            else:
                cur[k] = drive[k]
    return {k: np.nonzero(np.array(o)) for k, o in out.items()}


def test_the_graph_integrated_by_numpy_spikes_as_neurosim_does(x64):
    net = _net()
    ours = _spikes(net)
    ref = _numpy_nir(ns.io.network_to_nir(net, dt=DT), _raster())
    for pop in ("E", "I"):
        steps, ids = ref[pop]
        np.testing.assert_allclose(ours[pop][0], steps * DT, atol=1e-9)
        np.testing.assert_array_equal(ours[pop][1], ids)


def test_what_nir_cannot_carry_is_refused_by_name():
    with pytest.raises(ValueError, match="population 'E' has t_ref = 5.0 ms; NIR's neurons have no refractory period"):
        ns.io.network_to_nir(_net(t_ref=5.0), dt=DT)
    cond = ns.Projection("IE", "I", "E", ns.events.fixed_probability(10, 40, 0.5, seed=4), 2.0,
                         synapse=Synapse("exponential", "conductance"), syn_params=SynapseParams(tau=5.0, e_rev=-80.0))
    with pytest.raises(ValueError, match="projection 'IE' has a exponential conductance synapse"):
        ns.io.network_to_nir(_net(IE=cond), dt=DT)
    slow = ns.Projection("IE", "I", "E", ns.events.fixed_probability(10, 40, 0.5, seed=4), -2.0,
                         syn_params=SynapseParams(tau=10.0))
    with pytest.raises(ValueError, match="the projections onto 'E' have different synapses"):
        ns.io.network_to_nir(_net(IE=slow), dt=DT)
    plastic = ns.Projection("EE", "E", "E", ns.events.fixed_probability(40, 40, 0.2, seed=2), 60.0,
                            syn_params=SynapseParams(tau=5.0), plasticity=ns.plasticity.stdp_pair(w_max=100.0))
    with pytest.raises(ValueError, match="projection 'EE' has per-synapse dynamics"):
        ns.io.network_to_nir(_net(EE=plastic), dt=DT)
    with pytest.raises(ValueError, match="inputs and modulators .* have no NIR node"):
        ns.io.network_to_nir(ns.builders.brunel2000("C", scale=0.05), dt=DT)
    with pytest.raises(ValueError, match="dt must be a positive number of ms"):
        ns.io.network_to_nir(_net(), dt=-1.0)
    graph = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([2])}),
                                "th": nir.Threshold(threshold=np.ones(2)),
                                "out": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("in", "th"), ("th", "out")])
    with pytest.raises(ValueError, match="network_from_nir does not map Threshold"):
        ns.io.network_from_nir(graph, dt=DT, n_steps=10)
