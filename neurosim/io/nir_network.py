"""Whole ``ns.Network``s to and from NIR (the ``nir`` extra), next to :mod:`neurosim.io.nir`,
which maps the training layers.

    graph = ns.io.network_to_nir(net, dt=0.1)                  # a simulated ns.Network
    net2 = ns.io.network_from_nir(graph, dt=0.1, n_steps=1000)   # and back

What maps to what (NIR's parameters are those of continuous-time ODEs, in ms here):

==========================================  ===========================================================
neurosim                                    NIR
==========================================  ===========================================================
``RasterSource`` population                 ``Input`` (named after the population)
LIF population, exponential current         ``CubaLIF(tau_syn = tau, tau_mem = c_m / g_l, r = 1 / g_l,
synapses (``Synapse()``) of one ``tau``     v_leak = v_rest, v_threshold = v_th, v_reset,
                                            w_in = 1 / (1 - e^{-dt / tau_syn}))``
LIF population, ``Synapse("delta")``        ``LIF(tau = c_m / g_l, r = 1 / g_l, v_leak, v_threshold,
inputs, or none                             v_reset)``
``Projection`` (CSR, weights)               ``Linear(weight = W)``, W the dense (post, pre) matrix
its ``delay_ms`` beyond one step            a ``Delay(delay = delay_ms)`` between the two
every LIF population                        also an ``Output`` node ``<name>.out``
==========================================  ===========================================================

**Conventions.** As in :mod:`neurosim.io.nir`, a spike is a unit pulse lasting one step, so a
``Linear`` turns spikes into a current held for that step. ``w_in`` is chosen so that one spike
of weight ``w`` raises the synaptic current by ``w``, as neurosim's exponential synapse does
(``I`` jumps by ``w_in w (1 - e^{-dt/tau_syn})`` over a step of the exact solution). The
shortest neurosim delay, one step, is the graph's "no delay"; a longer one becomes a ``Delay``
node of ``delay_ms``. :func:`network_from_nir` inverts all of it, so export then import is
bitwise the same network.

**Refused by name** (a clear error, not a silent approximation): a refractory period (NIR's
neurons have none: set ``t_ref=0``), conductance or alpha synapses, projections onto one
population with different synapse taus, short-term or long-term plasticity, JitConn or sliced
projections, inputs (``ConstantCurrent``, ``PoissonInput``...), other neuron models; on import,
IF, Threshold, convolutions and graphs whose Linear nodes do not join an Input or a neuron to a
neuron.
"""
from __future__ import annotations

import numpy as np

from .nir import _arr, _nir, read_graph
from ..synapses import Synapse


def _check_dt(where, dt) -> None:
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise ValueError(f"{where}: dt must be a positive number of ms, got {dt!r}")


def _synapse_tau(net, params, pop):
    """The one synapse of the projections onto ``pop``: ``("delta", None)``, ``("exponential",
    tau)`` or ``(None, None)`` when none arrives."""
    kinds = set()
    for pr in net.projections:
        if pr.post != pop.name:
            continue
        syn = pr.synapse
        if type(syn) is not Synapse:
            raise ValueError(f"network_to_nir: projection {pr.name!r} has the synapse model {syn!r}; NIR maps "
                             "neurosim.synapses.Synapse only (exponential current synapses: CubaLIF; delta: LIF)")
        if syn.output != "current" or syn.kinetics not in ("exponential", "delta"):
            raise ValueError(f"network_to_nir: projection {pr.name!r} has a {syn.kinetics} {syn.output} synapse; NIR "
                             "maps exponential current synapses (CubaLIF) and delta synapses (LIF)")
        tau = float(np.asarray(params.projections[pr.name].synapse.tau))
        kinds.add(("delta", None) if syn.kinetics == "delta" else ("exponential", tau))
    if len(kinds) > 1:
        raise ValueError(f"network_to_nir: the projections onto {pop.name!r} have different synapses {sorted(kinds, key=str)}; "
                         "a NIR CubaLIF has one synaptic time constant per neuron")
    return kinds.pop() if kinds else (None, None)


def network_to_nir(net, dt: float, params=None):
    """The NIR graph of ``net`` (an ``ns.Network``) with ``params`` (default ``net.params()``),
    for steps of ``dt`` ms (module docstring for the mapping and what is refused)."""
    nir = _nir()
    from ..inputs import RasterSource
    from ..events import CSR
    from ..neurons import LIF
    from ..network.model import Network

    if not isinstance(net, Network):
        raise ValueError(f"network_to_nir takes an ns.Network, got {type(net).__name__}")
    _check_dt("network_to_nir", dt)
    params = net.params() if params is None else params
    if net.gap_junctions:
        raise ValueError(f"network_to_nir: gap junctions {[gj.name for gj in net.gap_junctions]} have no NIR node "
                         "(NIR's edges carry spikes through weights, not currents between membrane potentials)")
    if net.inputs or net.modulators:
        raise ValueError(f"network_to_nir: inputs and modulators {[x.name for x in net.inputs + net.modulators]} have no "
                         "NIR node; drive the network from RasterSource populations instead")
    nodes, edges = {}, []
    for pop in net.populations:
        if isinstance(pop.model, RasterSource):
            nodes[pop.name] = nir.Input(input_type={"input": np.array([pop.n])})
            continue
        if type(pop.model) is not LIF:
            raise ValueError(f"network_to_nir maps LIF and RasterSource populations; {pop.name!r} is "
                             f"{type(pop.model).__name__}")
        p = params.neurons[pop.name]
        if np.any(np.asarray(p.t_ref) > 0):
            raise ValueError(f"network_to_nir: population {pop.name!r} has t_ref = {float(np.max(np.asarray(p.t_ref)))!r} ms; "
                             "NIR's neurons have no refractory period (use LIF params with t_ref=0.0)")
        n, g_l = pop.n, _arr(p.g_l, pop.n)
        common = dict(r=1.0 / g_l, v_leak=_arr(p.v_rest, n), v_threshold=_arr(p.v_th, n), v_reset=_arr(p.v_reset, n))
        kind, tau = _synapse_tau(net, params, pop)
        if kind == "exponential":
            nodes[pop.name] = nir.CubaLIF(tau_syn=_arr(tau, n), tau_mem=_arr(p.c_m, n) / g_l,
                                          w_in=_arr(1.0 / -np.expm1(-dt / tau), n), **common)
        else:
            nodes[pop.name] = nir.LIF(tau=_arr(p.c_m, n) / g_l, **common)
        nodes[f"{pop.name}.out"] = nir.Output(output_type={"output": np.array([n])})
        edges.append((pop.name, f"{pop.name}.out"))
    for pr in net.projections:
        if not isinstance(pr.conn, CSR):
            raise ValueError(f"network_to_nir: projection {pr.name!r} is procedural (JitConn); NIR needs its matrix")
        if not (isinstance(pr.pre, str) and isinstance(pr.post, str)):
            raise ValueError(f"network_to_nir: projection {pr.name!r} connects population slices; NIR connects whole nodes")
        if pr.chain:
            raise ValueError(f"network_to_nir: projection {pr.name!r} has per-synapse dynamics "
                             f"{[m.kind for m in pr.chain]}, which NIR does not express")
        if np.ndim(pr.delay_ms) > 0:
            raise ValueError(f"network_to_nir: projection {pr.name!r} has per-synapse delays; NIR's Delay node holds one "
                             "delay per neuron")
        w = np.asarray(pr.conn.to_dense(np.asarray(params.projections[pr.name].weights)), np.float64).T
        nodes[pr.name] = nir.Linear(weight=w)
        steps = 1 if pr.delay_ms is None else int(round(pr.delay_ms / dt))
        if steps > 1:
            nodes[f"{pr.name}.delay"] = nir.Delay(delay=np.full(w.shape[0], steps * dt))
            edges += [(pr.pre, pr.name), (pr.name, f"{pr.name}.delay"), (f"{pr.name}.delay", pr.post)]
        else:
            edges += [(pr.pre, pr.name), (pr.name, pr.post)]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"neurosim_dt": float(dt), "neurosim": "network"})


def network_from_nir(graph, dt: float, n_steps: int):
    """An ``ns.Network`` computing ``graph`` (a ``nir.NIRGraph`` or the path of its file) at
    steps of ``dt`` ms, its ``Input`` nodes ``RasterSource(n_steps)`` populations (fill them
    with ``ns.builders.set_input_raster``)."""
    nir = _nir()
    import neurosim as ns
    from ..inputs import RasterSource
    from ..neurons import LIF, LIFParams
    from ..synapses import Synapse, SynapseParams

    _check_dt("network_from_nir", dt)
    graph = read_graph(graph, "network_from_nir")
    into, out_of = {}, {}
    for a, b in graph.edges:
        out_of.setdefault(a, []).append(b)
        into.setdefault(b, []).append(a)
    pops, taus = [], {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Input):
            pops.append(ns.Population(name, int(np.prod(node.input_type["input"])), RasterSource(n_steps=n_steps)))
        elif isinstance(node, (nir.LIF, nir.CubaLIF)):
            tau_m = node.tau if isinstance(node, nir.LIF) else node.tau_mem
            g_l = 1.0 / np.asarray(node.r, np.float64)
            n = g_l.size
            params = LIFParams(v_rest=_arr(node.v_leak, n), v_reset=_arr(node.v_reset, n),
                               v_th=_arr(node.v_threshold, n), c_m=_arr(tau_m, n) * g_l, g_l=g_l, t_ref=0.0)
            pops.append(ns.Population(name, n, LIF(), params))
            if isinstance(node, nir.CubaLIF):
                tau = np.asarray(node.tau_syn, np.float64)
                if np.ptp(tau) > 1e-12 * np.max(tau):
                    raise ValueError(f"network_from_nir: CubaLIF {name!r} has several synaptic time constants; neurosim's "
                                     "synapse has one per projection (split the node)")
                taus[name] = (float(tau.flat[0]), np.asarray(node.w_in, np.float64) * -np.expm1(-dt / tau.flat[0]))
        elif not isinstance(node, (nir.Output, nir.Linear, nir.Delay)):
            raise ValueError(f"network_from_nir does not map {type(node).__name__} (node {name!r}); it maps Input, LIF, "
                             "CubaLIF, Linear, Delay and Output")
    names = {p.name for p in pops}
    projections = []
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.Linear):
            continue
        sources, targets = into.get(name, []), out_of.get(name, [])
        pre = sources[0] if len(sources) == 1 else None
        delay_ms = None
        if len(targets) == 1 and isinstance(graph.nodes[targets[0]], nir.Delay):
            d = np.asarray(graph.nodes[targets[0]].delay, np.float64)
            if np.ptp(d) > 0:
                raise ValueError(f"network_from_nir: Delay {targets[0]!r} has several delays; one projection has one")
            delay_ms, targets = float(d.flat[0]), out_of.get(targets[0], [])
        if pre not in names or len(targets) != 1 or targets[0] not in taus and not isinstance(
                graph.nodes.get(targets[0]), nir.LIF):
            raise ValueError(f"network_from_nir: Linear {name!r} must join one Input or neuron node to one LIF or CubaLIF "
                             f"node (through at most one Delay); it joins {into.get(name)} to {targets}")
        post = targets[0]
        w = np.asarray(node.weight, np.float64).T                           # (pre, post)
        if post in taus:
            tau, gain = taus[post]
            w = w * gain[None, :]
            synapse, syn_params = Synapse("exponential", "current"), SynapseParams(tau=tau)
        else:
            synapse, syn_params = Synapse("delta", "current"), SynapseParams()
        pre_i, post_i = np.nonzero(w)
        conn, weights = ns.events.CSR.from_arrays(pre_i, post_i, w.shape[0], w.shape[1], w[pre_i, post_i])
        projections.append(ns.Projection(name, pre, post, conn, weights.astype(np.float32), synapse=synapse,
                                         syn_params=syn_params, delay_ms=delay_ms))
    return ns.Network(pops, projections)
