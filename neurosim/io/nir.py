"""Spiking networks to and from NIR, the neuromorphic intermediate representation (the ``nir``
package, an optional extra: ``pip install 'neurosim[nir]'``).

    graph = ns.io.to_nir(net, dt=1.0)                     # a neurosim.train.SpikingNetwork
    net2 = ns.io.from_nir(graph, dt=1.0)                  # and back
    net3 = ns.io.from_nir("snntorch.nir", dt=1e-4, discretization="euler")   # a graph or its file

What maps to what (NIR's parameters are those of continuous-time ODEs; ``dt`` is in the
graph's time unit):

=================================  =====================================================================
neurosim                           NIR
=================================  =====================================================================
``SpikingLayer`` input weights, b  ``Affine(weight = w.T, bias = b)`` (``Linear`` without a bias)
LIF (``c_m``, ``g_l``, ...)        ``LIF(tau = c_m / g_l, r = 1 / g_l, v_leak = v_rest, v_threshold = v_th,
                                   v_reset)``: ``tau dv/dt = (v_leak - v) + r I``
dense recurrent weights            ``Linear(weight = w_rec.T)`` from the LIF back to its own input
``LeakyReadout`` (tau)             ``LI(tau, r = 1 / (1 - e^{-dt/tau}), v_leak = 0)``
=================================  =====================================================================

**Discretization.** neurosim integrates the LIF exactly over a step (the input held constant);
a peer may use forward Euler (snnTorch's ``v <- beta v + I`` is Euler of its exported
``tau = dt / (1 - beta)``, ``r = tau / dt``). ``from_nir(..., discretization="euler")`` chooses
neurosim's parameters so that its exact step *is* the Euler step of the NIR equations
(``g_l = 1 / r``, ``e^{-dt g_l / c_m} = 1 - dt / tau``), so the imported network computes what the
peer computes; ``"exact"`` (the default, and what :func:`to_nir` means) takes the equations as
they are. The same holds for ``LI`` (a readout gain ``dt r / tau`` folds into its weights).
The tests import a graph written by snnTorch and get its spikes.

Not mapped here: CubaLIF, IF, Delay, convolutions, sparse (CSR/JitConn) recurrence; they are
refused by name. Whole ``ns.Network`` s, with CubaLIF, LIF and Delay nodes, are
:mod:`neurosim.io.nir_network`'s.
"""
from __future__ import annotations

import os

import numpy as np

from .._files import bad_file, open_hdf5
from ._optional import require


def _nir():
    return require("nir", "NIR", "nir")


def read_graph(graph, who: str):
    """``graph`` itself (a ``nir.NIRGraph``), or the graph in the file it names (a str or
    PathLike, read with ``nir.read``); a file that is not one is a ValueError naming it."""
    nir = _nir()
    if isinstance(graph, (str, os.PathLike)):
        kind = "a NIR graph (nir.write)"
        open_hdf5(graph, who, kind, "NIR", "nir").close()          # there, whole, and HDF5
        try:
            graph = nir.read(graph)
        except Exception as e:       # noqa: BLE001 - nir.read refuses a file that is not a graph in many ways
            raise bad_file(who, graph, kind, f"nir.read cannot read it: {type(e).__name__}: {e}") from None
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"{who} takes a nir.NIRGraph or the path of a .nir file, got {type(graph).__name__}")
    return graph


def _arr(x, n=None):
    a = np.asarray(x, np.float64)
    return a if n is None else np.broadcast_to(a, (n,)).copy()


def to_nir(net, dt: float):
    """The NIR graph of ``net``: a ``neurosim.train.SpikingNetwork`` of LIF ``SpikingLayer`` s,
    feed-forward or dense recurrent, optionally ending in a ``LeakyReadout``; or an
    ``ns.Network`` (then :func:`neurosim.io.nir_network.network_to_nir`)."""
    nir = _nir()
    from ..network.model import Network
    from ..neurons import LIF
    from ..train.layers import LeakyReadout, SpikingLayer, SpikingNetwork

    if isinstance(net, Network):          # a whole simulated network: one graph node per population
        from .nir_network import network_to_nir
        return network_to_nir(net, dt)
    if not isinstance(net, SpikingNetwork):
        raise ValueError(f"to_nir takes a neurosim.train.SpikingNetwork or an ns.Network, got {type(net).__name__}")
    nodes, edges = {"input": nir.Input(input_type={"input": np.array([net.layers[0].n_in])})}, []
    prev = "input"
    for k, layer in enumerate(net.layers):
        if getattr(layer, "max_delay", None) is not None:
            raise ValueError(f"to_nir: layer {k} has learnable input delays (max_delay = {layer.max_delay}), which this "
                             "export does not write; export a network without them")
        w = np.asarray(layer.w[...], np.float64)
        b = None if layer.b is None else np.asarray(layer.b[...], np.float64)
        fc = f"fc{k}"
        nodes[fc] = nir.Linear(weight=w.T) if b is None else nir.Affine(weight=w.T, bias=b)
        edges.append((prev, fc))
        if isinstance(layer, SpikingLayer):
            if not isinstance(layer.neuron, LIF):
                raise ValueError(f"to_nir maps LIF layers; layer {k} is {type(layer.neuron).__name__}")
            if layer.recurrent not in (None, "dense"):
                raise ValueError(f"to_nir maps feed-forward and dense recurrent layers; layer {k} is {layer.recurrent!r}")
            p = layer.params.get_value()
            n = layer.n
            g_l = _arr(p.g_l, n)
            nodes[f"lif{k}"] = nir.LIF(tau=_arr(p.c_m, n) / g_l, r=1.0 / g_l, v_leak=_arr(p.v_rest, n),
                                       v_threshold=_arr(p.v_th, n), v_reset=_arr(p.v_reset, n))
            edges.append((fc, f"lif{k}"))
            if layer.recurrent == "dense":
                nodes[f"rec{k}"] = nir.Linear(weight=np.asarray(layer.w_rec[...], np.float64).T)
                edges += [(f"lif{k}", f"rec{k}"), (f"rec{k}", f"lif{k}")]
            prev = f"lif{k}"
        elif isinstance(layer, LeakyReadout):
            tau = float(np.mean(np.asarray(layer.params.get_value().tau)))
            e = np.exp(-dt / tau)
            nodes[f"li{k}"] = nir.LI(tau=_arr(tau, layer.n), r=_arr(1.0 / (1.0 - e), layer.n), v_leak=np.zeros(layer.n))
            edges.append((fc, f"li{k}"))
            prev = f"li{k}"
    nodes["output"] = nir.Output(output_type={"output": np.array([net.layers[-1].n])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"neurosim_dt": float(dt)})


def _chain(graph):
    """The nodes from Input to Output in order, and each LIF's recurrent Linear (or None)."""
    nir = _nir()
    succ = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    start = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(start) != 1:
        raise ValueError(f"from_nir needs one Input node, found {len(start)}")
    order, rec, node, seen = [], {}, start[0], set()
    while True:
        seen.add(node)
        nxt = [s for s in succ.get(node, []) if s not in seen]
        obj = graph.nodes[node]
        if isinstance(obj, nir.LIF):
            loops = [s for s in succ.get(node, []) if isinstance(graph.nodes[s], (nir.Linear, nir.Affine))
                     and node in succ.get(s, [])]
            if loops:
                rec[node] = loops[0]
                seen.add(loops[0])
                nxt = [s for s in nxt if s != loops[0]]
        order.append(node)
        if isinstance(obj, nir.Output) or not nxt:
            break
        if len(nxt) > 1:
            raise ValueError(f"from_nir maps chains of layers; node {node!r} feeds {nxt}")
        node = nxt[0]
    return order, rec


def from_nir(graph, dt: float, *, discretization: str = "exact", rngs=None):
    """A ``neurosim.train.SpikingNetwork`` computing ``graph`` (a ``nir.NIRGraph``, or the path
    of a file ``nir.write`` wrote: a chain Input -> (Affine|Linear -> LIF [with a Linear
    self-loop] | Affine|Linear -> LI)* -> Output) at step ``dt`` (module docstring for
    ``discretization``)."""
    nir = _nir()
    from flax import nnx
    import jax.numpy as jnp

    from ..neurons import LIF, LIFParams
    from ..train.layers import LeakyReadout, SpikingLayer, SpikingNetwork

    if discretization not in ("exact", "euler"):
        raise ValueError(f"discretization must be 'exact' or 'euler', got {discretization!r}")
    if not (isinstance(dt, (int, float)) and dt > 0):
        raise ValueError(f"dt must be a positive number (in the graph's time unit), got {dt!r}")
    rngs = nnx.Rngs(0) if rngs is None else rngs
    graph = read_graph(graph, "from_nir")
    order, rec = _chain(graph)
    layers, pending = [], None
    for name in order:
        obj = graph.nodes[name]
        if isinstance(obj, (nir.Input, nir.Output)):
            continue
        if isinstance(obj, (nir.Affine, nir.Linear)):
            pending = (np.asarray(obj.weight, np.float64).T,
                       np.asarray(obj.bias, np.float64) if isinstance(obj, nir.Affine) else None)
            continue
        if pending is None:
            raise ValueError(f"from_nir: node {name!r} ({type(obj).__name__}) has no Affine/Linear before it")
        w, b = pending
        n_in, n = w.shape
        if isinstance(obj, nir.LIF):
            tau, r = _arr(obj.tau, n), _arr(obj.r, n)
            if discretization == "euler":
                if np.any(dt >= tau):
                    raise ValueError(f"from_nir: dt = {dt} is not below every tau of {name!r} (min {tau.min()}): "
                                     "forward Euler is unstable there")
                g_l = 1.0 / r
                c_m = g_l * dt / -np.log1p(-dt / tau)
            else:
                g_l, c_m = 1.0 / r, tau / r
            v_reset = _arr(obj.v_reset if obj.v_reset is not None else obj.v_leak, n)
            params = LIFParams(v_rest=_arr(obj.v_leak, n), v_reset=v_reset, v_th=_arr(obj.v_threshold, n),
                               c_m=c_m, g_l=g_l, t_ref=0.0, slope=1.0)
            params = LIFParams(*[jnp.asarray(x, jnp.float32) for x in params])
            layer = SpikingLayer(n_in, n, neuron=LIF(), params=params, bias=b is not None,
                                 recurrent="dense" if name in rec else None, rngs=rngs)
            if name in rec:
                layer.w_rec[...] = jnp.asarray(np.asarray(graph.nodes[rec[name]].weight, np.float64).T, jnp.float32)
        elif isinstance(obj, nir.LI):
            tau, r = _arr(obj.tau, n), _arr(obj.r, n)
            if np.any(np.asarray(obj.v_leak) != 0):
                raise ValueError(f"from_nir: LI node {name!r} has v_leak != 0, which a LeakyReadout does not model")
            if discretization == "euler":      # v <- (1 - dt/tau) v + (dt r / tau) I
                taus, gain = -dt / np.log1p(-dt / tau), dt * r / tau
            else:                              # exact: v <- e v + (1 - e) r I
                taus = tau
                gain = (1.0 - np.exp(-dt / tau)) * r
            if np.ptp(taus) > 1e-9 * np.max(taus):
                raise ValueError(f"from_nir: LI node {name!r} has several time constants; a LeakyReadout has one")
            layer = LeakyReadout(n_in, n, tau=float(taus[0]), bias=b is not None, rngs=rngs)
            w, b = w * gain[None, :], None if b is None else b * gain
        else:
            raise ValueError(f"from_nir does not map {type(obj).__name__} (node {name!r}) into layers; it maps Affine, "
                             "Linear, LIF (with a dense recurrent Linear) and LI (ns.io.network_from_nir maps CubaLIF, "
                             "LIF and Delay graphs into an ns.Network)")
        layer.w[...] = jnp.asarray(w, jnp.float32)
        if b is not None:
            layer.b[...] = jnp.asarray(b, jnp.float32)
        layers.append(layer)
        pending = None
    if not layers:
        raise ValueError("from_nir: the graph has no layer")
    return SpikingNetwork(*layers, dt=float(dt), record_spikes=True)
