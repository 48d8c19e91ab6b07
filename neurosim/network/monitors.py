"""What a simulation records, as data. Monitors become outputs of the ``lax.scan`` and stay
on the device until a chunk ends.

- ``Spikes(pop)``: every spike, stored bit-packed on device (n/8 bytes per step), held on the
  host as an int32 step index and an int32 neuron id (8 bytes a spike) and returned as a
  :class:`SpikeEvents`, which unpacks as ``(times_ms, ids)``.
- ``Trace(pop, var, ids=None, every=1)``: a state variable (e.g. ``"v"``) of the chosen neurons
  (all when ids is None), sampled at the end of every window of ``every`` steps (below).
- ``Weights(proj, ids=None, every=1, bins=None)``: the weights of a plastic projection (the
  chosen synapses, in CSR order; all when ids is None), or their histogram over ``bins``
  (edges, or a count with ``range=(lo, hi)``), sampled like ``Trace``; results in
  ``SimResult.traces["<proj>.weights"]`` (``"<proj>.weights_hist"`` for a histogram, whose
  third element is then the bin edges).
- ``Rate(pop)``: population rate in Hz, every step.
- ``Observe(name, fn)``: any pytree ``fn(state, spikes)`` computed on the device after every
  step (the hook of ``run(..., observe=fn)``), returned as ``(t_ms, values)``.
- ``LFP(pop)``: the LFP proxy of :func:`neurosim.analysis.lfp_proxy` (sum of the absolute
  synaptic currents into ``pop``, pA) after every step: an ``Observe`` whose function also
  reads the run's ``params``.

Observations (``Observe``, ``LFP``) are evaluated after step k on the state it produced and the
spikes it emitted; their time axis is the time of that state, ``t_start + (k + 1) dt``.

Sampled monitors (``Trace``, ``Weights``) read the state at the end of each window of ``every``
steps, counted from the start of the run: after ``every``, ``2 every``, ... steps, and after the
last step when a shorter window ends the run. A run of ``n`` steps gives ``ceil(n / every)``
samples, at ``t_start + every dt``, ``t_start + 2 every dt``, ..., and always ``t_stop``: the last
sample is the final state (``res.state``), and a run continued from it (``state=res.state``)
samples on without a repeat. The initial state is not a sample (it is the ``state`` you passed,
or ``ns.init_state(net, params, key, dt)``). With ``every=1`` a Trace and an ``Observe`` of the
same variable agree, sample for sample. Every engine samples at these times.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..analysis.lfp import check_lfp_args, lfp_proxy
from ..neurons.base import state_fields


@dataclass(frozen=True, eq=False)
class Spikes:
    """Record every spike of population ``pop`` (bit-packed on the device); results in
    ``SimResult.spikes[pop]``, a :class:`SpikeEvents` that unpacks as ``times_ms, ids``."""

    pop: str


class SpikeEvents:
    """The spikes of one population, as a ``Spikes`` monitor recorded them: a read-only pair that
    unpacks as before, ``times_ms, ids = res.spikes[pop]`` (also ``[0]``, ``[1]``, iteration and
    ``np.asarray``), held compactly on the host: per spike, the global index of its step
    (``steps``: the spike was emitted in the step from ``steps * dt`` to ``(steps + 1) * dt``)
    and the neuron's index in the population (``ids``), 4 bytes each (int32; ``steps`` int64 for
    a run past 2**31 steps). ``times`` (ms, float64, ``steps * dt``: the same numbers as ever) is
    computed on each access and not kept, so read it once (``t, i = res.spikes[pop]``) rather
    than in a loop; ``ids`` and ``steps`` are read-only views, never copies (``ids`` are int32, where
    the tuple held int64: cast before integer arithmetic that could pass 2**31). Spikes are
    sorted by step, then neuron. As a JAX pytree it is the pair's two leaves."""

    __slots__ = ("steps", "ids", "dt")

    def __init__(self, steps, ids, dt: float):
        steps, ids = np.asarray(steps), np.asarray(ids)
        if steps.shape != ids.shape or steps.ndim != 1:
            raise ValueError(f"SpikeEvents: steps and ids must be 1-D arrays of one length, got {steps.shape} and {ids.shape}")
        steps, ids = steps.view(), ids.view()          # views, read-only: the record is not to be edited
        steps.flags.writeable = ids.flags.writeable = False
        self.steps, self.ids, self.dt = steps, ids, float(dt)

    @property
    def times(self) -> np.ndarray:
        """The time of each spike in ms (float64, ``steps * dt``), computed now."""
        return self.steps * self.dt

    @property
    def n_spikes(self) -> int:
        return int(self.ids.size)

    @property
    def nbytes(self) -> int:
        """The bytes held (``steps`` and ``ids``), not counting a ``times`` array made on access."""
        return int(self.steps.nbytes + self.ids.nbytes)

    def __len__(self) -> int:         # a pair, as the (times_ms, ids) tuple it stands for
        return 2

    def __iter__(self):
        yield self.times
        yield self.ids

    def __getitem__(self, k):
        if k in (0, -2):
            return self.times
        if k in (1, -1):
            return self.ids
        return (self.times, self.ids)[k]     # a slice, or the IndexError of a pair

    def __add__(self, other):         # pair + tuple, as a tuple would
        return tuple(self) + tuple(other) if isinstance(other, (tuple, SpikeEvents)) else NotImplemented

    def __radd__(self, other):
        return tuple(other) + tuple(self) if isinstance(other, tuple) else NotImplemented

    def __reduce__(self):
        return SpikeEvents, (np.array(self.steps), np.array(self.ids), self.dt)

    def __repr__(self) -> str:
        if not self.n_spikes:
            return f"SpikeEvents(no spikes; dt {self.dt:g} ms)"
        return (f"SpikeEvents({self.n_spikes:,} spikes from t = {int(self.steps[0]) * self.dt:g} ms to "
                f"{int(self.steps[-1]) * self.dt:g} ms, dt {self.dt:g} ms; {self.nbytes / self.n_spikes:g} B a spike held)")


# A pytree of two leaves, (times, ids), as the tuple it stands for: jax.device_put, jax.tree.map
# and the like see the pair (and give back a plain tuple).
jax.tree_util.register_pytree_node(SpikeEvents, lambda ev: ((ev.times, ev.ids), None),
                                   lambda _, children: tuple(children))


@dataclass(frozen=True, eq=False)
class Trace:
    """Record the state variable ``var`` (e.g. ``"v"``) of population ``pop`` for the neurons
    ``ids`` (all when None) at the end of every window of ``every`` steps and at the end of the
    run (module docstring); results in ``SimResult.traces["pop.var"] = (t_ms, values (T, k),
    ids)``, ``T = ceil(steps / every)``. ``pop`` may also name a projection: its synapse's
    variables (``"g"``, pA or nS, one per postsynaptic neuron) are recorded the same way, ``ids``
    then counting the projection's postsynaptic neurons."""

    pop: str
    var: str
    ids: object = None
    every: int = 1

    @property
    def key(self) -> str:
        return f"{self.pop}.{self.var}"

    def read(self, state):
        group = state.neurons if self.pop in state.neurons else state.synapses
        x = getattr(group[self.pop], self.var)
        return x if self.ids is None else x[jnp.asarray(self.ids)]

    def size(self, net) -> int:
        """The neurons the recorded variable has: the population's, or a projection's postsynaptic ones."""
        projection = _projection(net, self.pop)
        return net.population(self.pop).n if projection is None else projection.conn.n_post

    def width(self, net) -> int:
        return self.size(net) if self.ids is None else len(self.ids)

    def labels(self, net) -> np.ndarray:
        """The neuron index of each recorded column."""
        return np.arange(self.size(net)) if self.ids is None else np.asarray(self.ids)


def _projection(net, name):
    """The projection named ``name`` where no population has that name, else None."""
    if isinstance(name, str) and name not in net._pops:
        return next((pr for pr in net.projections if pr.name == name), None)
    return None


@dataclass(frozen=True, eq=False)
class Weights:
    """Record the weights of the plastic projection ``proj`` (the synapses ``ids``, all when None,
    or a histogram over ``bins`` edges / a count of bins over ``range``) at the end of every
    window of ``every`` steps and at the end of the run, the final weights included (module
    docstring); results in ``SimResult.traces["proj.weights"]`` (or ``"proj.weights_hist"``)."""

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
SAMPLED = (Trace, Weights)   # read from the state at the end of every window of `every` steps, and of the run
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
        if isinstance(m, Trace) and _projection(net, m.pop) is not None:    # a synapse variable
            fields = state.synapses[m.pop]._fields
            if m.var not in fields:
                raise ValueError(f"Trace: projection {m.pop!r} has no synapse variable {m.var!r}; it has {list(fields)}")
            _check_sampling(m, m.size(net), "postsynaptic neuron indices")
            continue
        if isinstance(m, Trace) and (not isinstance(m.pop, str) or m.pop not in net._pops):
            raise ValueError(f"Trace: no population or projection named {m.pop!r}; populations: {sorted(net._pops)}, "
                             f"projections: {[pr.name for pr in net.projections]}")
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
