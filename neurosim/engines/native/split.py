"""Projections with per-synapse delays and per-synapse dynamics on the native engine: the
network with each of them split into its one-delay parts.

The scan runs such a projection as one group of synapses per delay value
(:mod:`neurosim.events.delays`, ``GroupedCSR``). The native engine runs the equivalent network
in which each group is a projection of its own, with one delay (:func:`split_network`):

- its synapses, weights and per-synapse parameters are the group's;
- its mechanisms are ``m.for_synapses(ids)``, with the group's entry of the mechanism state;
- its synapse state starts as the whole projection's for the first group and at zero for the
  others. A neurosim synapse's state is linear in what it is driven with, so the sum of the
  parts' states is the projection's. They are summed back after every call;
- its buffer of past spikes holds the last ``d - 1`` of the projection's ``D - 1`` steps.

:class:`SplitRunner` converts the parameters and the state on the way in and out of each call
(O(synapses) on the host per call, not per step). Values agree with the scan's within float
rounding: the parts' currents are summed where the scan sums their drives.
"""
from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ...events.delays import GroupedCSR
from ...network.params import NetParams, ProjectionParams
from ...network.step import group_lags, in_group
from ...synapses import Synapse
from ..chunks import signature


def grouped(net) -> list:
    """The projections of ``net`` that run as one group of synapses per delay."""
    return [pr for pr in net.projections if isinstance(pr.conn, GroupedCSR)]


def refusal(net, monitors, params) -> str | None:
    """Why the split cannot stand in for ``net`` run with ``params`` (None: it can)."""
    from ...network.monitors import Observe, Weights
    names = {pr.name for pr in net.projections}
    for m in monitors:
        if isinstance(m, Observe):
            return (f"Observe monitor {m.key!r}: the native engine runs the projections with per-synapse delays and "
                    "dynamics split by delay, so an observer would see their parts' states")
    for pr in grouped(net):
        if not pr.conn.groups:
            return f"projection {pr.name!r} has per-synapse delays and dynamics but no synapse"
        taken = [part_name(pr.name, g) for g in range(len(pr.conn.groups)) if part_name(pr.name, g) in names]
        if taken:
            return (f"projection {pr.name!r} has per-synapse delays and dynamics, and the network already has a "
                    f"projection named {taken[0]!r}, the name its delay group would take on the native engine")
        if type(pr.synapse) is not Synapse:
            return (f"projection {pr.name!r} has per-synapse delays and dynamics, and its synapse "
                    f"{type(pr.synapse).__name__} is not neurosim's Synapse (the native engine runs such a "
                    "projection as one projection per delay, which needs a synapse linear in its drive)")
        for key, value in params.projections[pr.name].dynamics.items():
            for path, leaf in jax.tree_util.tree_flatten_with_path(value)[0]:
                if np.ndim(leaf):
                    return (f"projection {pr.name!r} has per-synapse delays and dynamics, and its {key} parameter "
                            f"{key}{jax.tree_util.keystr(path)} has one value per synapse: the native engine lowers "
                            "mechanism parameters that are one value for the projection")
        for m in monitors:
            if isinstance(m, Weights) and m.proj == pr.name:
                return (f"Weights monitor {m.key!r} of projection {pr.name!r}, which has per-synapse delays and "
                        "dynamics: the native engine keeps its weights by delay group")
    return None


def part_name(name: str, g: int) -> str:
    return f"{name} [delay group {g}]"


def split_network(net):
    """``net`` with each grouped projection replaced by its one-delay parts (module docstring)."""
    from ...network.model import Network
    projections = []
    for pr in net.projections:
        if not isinstance(pr.conn, GroupedCSR):
            projections.append(pr)
            continue
        conn, where = pr.conn, f"Projection {pr.name!r}"
        extra = pr.dynamics if isinstance(pr.dynamics, (list, tuple)) else (pr.dynamics,)
        for g, (sub, ids, d) in enumerate(zip(conn.groups, conn.ids, conn.delays_ms)):
            ids = np.asarray(ids)
            projections.append(dataclasses.replace(
                pr, name=part_name(pr.name, g), conn=sub, delay_ms=d,
                weights=in_group(pr.weights, ids, conn.nnz, f"{where}: weights"),
                stp_params=None if pr.stp is None else in_group(pr.stp_params, ids, conn.nnz, f"{where}: stp_params"),
                dynamics=tuple(m.for_synapses(ids) for m in extra)))
    return Network(net.populations, tuple(projections), net.inputs, net.modulators, net.dt, net.gap_junctions)


class Split:
    """The split network of ``net`` and the conversions of its parameters and states."""

    def __init__(self, net, dt: float):
        self.net, self.dt = net, dt
        self.parts = split_network(net)
        self.groups = {pr.name: (pr, [int(x) for x in group_lags(pr, dt)]) for pr in grouped(net)}
        self.ids = {name: [np.asarray(ids) for ids in pr.conn.ids] for name, (pr, _) in self.groups.items()}
        self.parts_of = {name: [part_name(name, g) for g in range(len(lags))]
                         for name, (_, lags) in self.groups.items()}
        self._params = None

    def params(self, params: NetParams) -> NetParams:
        if self._params is not None and self._params[0] is params:    # the same params, chunk after chunk
            return self._params[1]
        projections = {}
        for name, pp in params.projections.items():
            if name not in self.groups:
                projections[name] = pp
                continue
            pr, _ = self.groups[name]
            where = f"Projection {name!r}"
            for part, ids in zip(self.parts_of[name], self.ids[name]):
                projections[part] = ProjectionParams(
                    in_group(pp.weights, ids, pr.conn.nnz, f"{where}: weights"), pp.synapse,
                    {key: in_group(value, ids, pr.conn.nnz, f"{where}: dynamics[{key!r}]")
                     for key, value in pp.dynamics.items()})
        self._params = (params, params._replace(projections=projections))
        return self._params[1]

    @staticmethod
    def _others(state, skip) -> tuple:
        """``state``'s synapses, delays, dynamics and weights of every projection not in ``skip``."""
        return tuple({n: v for n, v in getattr(state, f).items() if n not in skip}
                     for f in ("synapses", "delays", "dynamics", "weights"))

    def state(self, state):
        """The projection's state as its parts' (module docstring)."""
        t = int(state.t)
        synapses, delays, dynamics, weights = self._others(state, self.groups)
        for name, (pr, lags) in self.groups.items():
            buf = np.asarray(state.delays[name])
            depth = buf.shape[0]
            syn = state.synapses[name]
            w = np.asarray(state.weights[name]) if pr.plastic else None
            for g, (part, ids, lag) in enumerate(zip(self.parts_of[name], self.ids[name], lags)):
                synapses[part] = syn if g == 0 else jax.tree.map(lambda x: np.zeros_like(np.asarray(x)), syn)
                back = np.arange(1, lag + 1)            # the steps t - 1 ... t - lag, where a lag-deep buffer keeps them
                mine = np.zeros((lag,) + buf.shape[1:], buf.dtype)
                if lag:
                    mine[(t - back) % lag] = buf[(t - back) % depth]
                delays[part] = jax.device_put(mine)
                dynamics[part] = {key: value[g] for key, value in state.dynamics[name].items()}
                if pr.plastic:
                    weights[part] = w[ids]
        return state._replace(synapses=synapses, delays=delays, dynamics=dynamics, weights=weights)

    def unsplit(self, parts_state, like):
        """The parts' state as the projections' (``like``: a state of ``net``, for its structure)."""
        t = int(parts_state.t)
        parts = {n for names in self.parts_of.values() for n in names}
        synapses, delays, dynamics, weights = self._others(parts_state, parts)
        for name, (pr, lags) in self.groups.items():
            names = self.parts_of[name]
            synapses[name] = jax.tree.map(lambda *xs: sum(np.asarray(x) for x in xs),
                                          *[parts_state.synapses[n] for n in names])
            buf = np.zeros(np.shape(like.delays[name]), np.asarray(like.delays[name]).dtype)
            depth = buf.shape[0]
            if depth:
                longest = int(np.argmax(lags))              # it holds every one of the last D - 1 steps
                back = np.arange(1, depth + 1)
                buf[(t - back) % depth] = np.asarray(parts_state.delays[names[longest]])[(t - back) % lags[longest]]
            delays[name] = jax.device_put(buf)
            dynamics[name] = {key: tuple(parts_state.dynamics[n][key] for n in names) for key in like.dynamics[name]}
            if pr.plastic:
                w = np.empty(np.shape(like.weights[name]), np.asarray(like.weights[name]).dtype)
                for n, ids in zip(names, self.ids[name]):
                    w[ids] = np.asarray(parts_state.weights[n])      # the groups cover every synapse once
                weights[name] = jax.device_put(w)
        synapses = jax.tree.map(lambda x: jax.device_put(x), synapses)
        return parts_state._replace(synapses=synapses, delays=delays, dynamics=dynamics, weights=weights)


class SplitRunner:
    """The native engine's runner for the split network, taking and giving ``net``'s params and
    state (module docstring)."""

    def __init__(self, inner, split: Split):
        self.inner, self.split = inner, split
        self.name = inner.name
        self.plan = inner.plan

    def steps(self, item):
        return self.inner.steps(item)

    def cache_key(self, item, params, state):
        # the parts' shapes follow from the network's: its own signature keys the compiled chunk
        nplan = self.inner.nplan
        return ("native split", nplan.source, signature(params, state), nplan.dt, item)

    def compile(self, item, params, state):
        # the program's compilation reads the inputs, the key and the step of the state, which the
        # split leaves as they are: no conversion of the rest
        return self.inner.compile(item, self.split.params(params), state)

    def run(self, fn, params, state, done):
        parts, raw = self.inner.run(fn, self.split.params(params), self.split.state(state), done)
        return self.split.unsplit(parts, state), raw

    def to_host(self, raw, item, done):
        return self.inner.to_host(raw, item, done)
