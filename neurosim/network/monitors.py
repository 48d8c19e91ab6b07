"""What a simulation records, as data. Monitors become outputs of the ``lax.scan`` and stay
on the device until a chunk ends.

- ``Spikes(pop)``: every spike, stored bit-packed on device (n/8 bytes per step) and returned
  as ``(times_ms, ids)``.
- ``Trace(pop, var, ids=None, every=1)``: a state variable (e.g. ``"v"``) of the chosen neurons
  (all when ids is None), sampled at the start of every ``every``-th step.
- ``Weights(proj, ids=None, every=1, bins=None)``: the weights of a plastic projection (the
  chosen synapses, in CSR order; all when ids is None), or their histogram over ``bins``
  (edges, or a count with ``range=(lo, hi)``), sampled at the start of every ``every``-th step
  like ``Trace``; results in ``SimResult.traces["<proj>.weights"]`` (``"<proj>.weights_hist"``
  for a histogram, whose third element is then the bin edges).
- ``Rate(pop)``: population rate in Hz, every step.
- ``Observe(name, fn)``: any pytree ``fn(state, spikes)`` computed on the device after every
  step (the hook of ``run(..., observe=fn)``), returned as ``(t_ms, values)``.
- ``LFP(pop)``: the LFP proxy of :func:`neurosim.analysis.lfp_proxy` (sum of the absolute
  synaptic currents into ``pop``, pA) after every step: an ``Observe`` whose function also
  reads the run's ``params``.

Observations (``Observe``, ``LFP``) are evaluated after step k on the state it produced and the
spikes it emitted; their time axis is the time of that state, ``t_start + (k + 1) dt``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from ..analysis.lfp import check_lfp_args, lfp_proxy
from ..neurons.base import state_fields


@dataclass(frozen=True, eq=False)
class Spikes:
    """Record every spike of population ``pop`` (bit-packed on the device); results in
    ``SimResult.spikes[pop] = (times_ms, ids)``."""

    pop: str


@dataclass(frozen=True, eq=False)
class Trace:
    """Record the state variable ``var`` (e.g. ``"v"``) of population ``pop`` for the neurons
    ``ids`` (all when None) at the start of every ``every``-th step; results in
    ``SimResult.traces["pop.var"] = (t_ms, values (T, k), ids)``."""

    pop: str
    var: str
    ids: object = None
    every: int = 1

    @property
    def key(self) -> str:
        return f"{self.pop}.{self.var}"

    def read(self, state):
        x = getattr(state.neurons[self.pop], self.var)
        return x if self.ids is None else x[jnp.asarray(self.ids)]

    def width(self, net) -> int:
        return net.population(self.pop).n if self.ids is None else len(self.ids)

    def labels(self, net) -> np.ndarray:
        """The neuron index of each recorded column."""
        return np.arange(net.population(self.pop).n) if self.ids is None else np.asarray(self.ids)


@dataclass(frozen=True, eq=False)
class Weights:
    """Record the weights of the plastic projection ``proj`` (the synapses ``ids``, all when None,
    or a histogram over ``bins`` edges / a count of bins over ``range``) every ``every``-th step;
    results in ``SimResult.traces["proj.weights"]`` (or ``"proj.weights_hist"``)."""

    proj: str
    ids: object = None
    every: int = 1
    bins: object = None
    range: tuple | None = None

    @property
    def key(self) -> str:
        return f"{self.proj}.weights" if self.bins is None else f"{self.proj}.weights_hist"

    def edges(self) -> np.ndarray | None:
        if self.bins is None:
            return None
        if np.ndim(self.bins) == 0:
            lo, hi = self.range
            return np.linspace(lo, hi, int(self.bins) + 1)
        return np.asarray(self.bins, float)

    def read(self, state):
        w = state.weights[self.proj]
        if self.bins is not None:   # as numpy.histogram: last bin closed, values outside not counted
            return jnp.histogram(w, bins=jnp.asarray(self.edges(), w.dtype))[0].astype(jnp.int32)
        return w if self.ids is None else w[jnp.asarray(self.ids)]

    def width(self, net) -> int:
        if self.bins is not None:
            return len(self.edges()) - 1
        return net_projection_nnz(net, self.proj) if self.ids is None else len(self.ids)

    def labels(self, net) -> np.ndarray:
        """The synapse index of each recorded column, or the bin edges of a histogram."""
        if self.bins is not None:
            return self.edges()
        return np.arange(net_projection_nnz(net, self.proj)) if self.ids is None else np.asarray(self.ids)


def net_projection_nnz(net, name) -> int:
    return {pr.name: pr.conn.nnz for pr in net.projections}[name]


@dataclass(frozen=True, eq=False)
class Rate:
    """Record the population rate of ``pop`` in Hz after every step; results in
    ``SimResult.rates[pop] = (t_ms, rate_hz)``."""

    pop: str


@dataclass(frozen=True, eq=False)
class Observe:
    """Record ``fn(state, spikes)`` (a pytree of arrays) after every step, under ``name``.
    ``fn`` is the same kind of function as ``run``'s ``observe``; it is traced once per
    compiled chunk, so it must be a pure JAX function. Values it needs from the parameters
    are better read through :class:`LFP` or ``run``: a closed-over ``params`` is compiled in
    as constants and ignores ``simulate(params=...)``."""

    name: str
    fn: object

    @property
    def key(self) -> str:
        return self.name

    def evaluate(self, net, params, state, spikes):
        return self.fn(state, spikes)


@dataclass(frozen=True, eq=False)
class LFP:
    """The LFP proxy of ``pop`` (a population name or ``(name, start, stop)``) after every
    step: ``lfp_proxy(net, params, state, pop, synapses, v_hold)`` with the run's own
    ``params`` (see :mod:`neurosim.analysis.lfp`). Recorded under ``key``: ``"<pop>.lfp"``
    (``"<pop>[start:stop].lfp"`` for a slice) unless ``name`` is given."""

    pop: object
    synapses: object = None
    v_hold: object = None
    name: str | None = None

    @property
    def key(self) -> str:
        if self.name is not None:
            return self.name
        if isinstance(self.pop, tuple) and len(self.pop) == 3:
            return f"{self.pop[0]}[{self.pop[1]}:{self.pop[2]}].lfp"
        return f"{self.pop}.lfp"

    def evaluate(self, net, params, state, spikes):
        return lfp_proxy(net, params, state, self.pop, synapses=self.synapses, v_hold=self.v_hold)


OBSERVERS = (Observe, LFP)
SAMPLED = (Trace, Weights)   # read from the state at the start of every `every`-th step
MONITORS = (Spikes, Trace, Weights, Rate) + OBSERVERS


def check_monitors(net, monitors, state) -> None:
    sampled = [m.key for m in monitors if isinstance(m, SAMPLED)]
    repeated = sorted({k for k in sampled if sampled.count(k) > 1})
    if repeated:
        raise ValueError(f"Trace/Weights monitors must record distinct things; repeated: {repeated}")
    keys = [m.key for m in monitors if isinstance(m, OBSERVERS)]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"Observe/LFP monitors must have distinct names; repeated: {repeated}")
    for m in monitors:
        if not isinstance(m, MONITORS):
            raise ValueError(f"monitors must be Spikes, Trace, Weights or Rate objects, or Observe or LFP observations; got {m!r}")
        if isinstance(m, Observe):
            if not isinstance(m.name, str) or not m.name:
                raise ValueError(f"Observe: name must be a non-empty string, got {m.name!r}")
            if not callable(m.fn):
                raise ValueError(f"Observe {m.name!r}: fn must be a function (state, spikes) -> pytree, got {m.fn!r}")
            continue
        if isinstance(m, LFP):
            check_lfp_args(net, m.pop, m.synapses, m.v_hold)
            continue
        if isinstance(m, Weights):
            _check_weights_monitor(net, m)
            continue
        pop = net.population(m.pop)  # raises with the list of names
        if isinstance(m, Trace):
            fields = state_fields(pop.model) or state.neurons[m.pop]._fields
            if m.var not in fields:
                raise ValueError(f"Trace: population {m.pop!r} has no state variable {m.var!r}; it has {list(fields)}")
            _check_sampling(m, pop.n, "neuron indices")


def _check_sampling(m, n: int, what: str) -> None:
    """``every`` and ``ids`` of a sampled monitor (Trace, Weights) recording ``n`` columns."""
    where = f"{type(m).__name__} {m.key!r}"
    if not isinstance(m.every, int) or isinstance(m.every, bool) or m.every < 1:
        raise ValueError(f"{where}: every must be a positive integer, got {m.every!r}")
    if m.ids is not None:
        ids = np.asarray(m.ids)
        if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{where}: ids must be a non-empty 1-D list of integers ({what}), got {m.ids!r}")
        if ids.min() < 0 or ids.max() >= n:
            raise ValueError(f"{where}: ids must lie in [0, {n}) ({what}), got {m.ids!r}")


def _check_weights_monitor(net, m) -> None:
    projs = {pr.name: pr for pr in net.projections}
    if m.proj not in projs:
        raise ValueError(f"Weights: no projection named {m.proj!r}; projections: {sorted(projs)}")
    if not projs[m.proj].plastic:
        raise ValueError(f"Weights: projection {m.proj!r} is not plastic, so its weights are params.projections"
                         f"[{m.proj!r}]['weights'] and do not change; give it plasticity=... to record them")
    _check_sampling(m, projs[m.proj].conn.nnz, "synapse indices, CSR order")
    if m.bins is not None:
        if m.ids is not None:
            raise ValueError(f"Weights {m.key!r}: give ids or bins, not both")
        if np.ndim(m.bins) == 0:
            if not isinstance(m.bins, (int, np.integer)) or m.bins < 1 or m.range is None or len(m.range) != 2 \
                    or not m.range[0] < m.range[1]:
                raise ValueError(f"Weights {m.key!r}: bins as a count needs an integer >= 1 and range=(lo, hi) with lo < hi, "
                                 f"got bins={m.bins!r}, range={m.range!r}")
        else:
            edges = np.asarray(m.bins, float)
            if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
                raise ValueError(f"Weights {m.key!r}: bins must be increasing bin edges (at least two), got {m.bins!r}")
