"""What a simulation records, as data. Monitors become outputs of the ``lax.scan`` and stay
on the device until a chunk ends.

- ``Spikes(pop)``: every spike, stored bit-packed on device (n/8 bytes per step) and returned
  as ``(times_ms, ids)``.
- ``Trace(pop, var, ids=None, every=1)``: a state variable (e.g. ``"v"``) of the chosen neurons
  (all when ids is None), sampled at the start of every ``every``-th step.
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

import numpy as np

from ..analysis.lfp import check_lfp_args, lfp_proxy


@dataclass(frozen=True, eq=False)
class Spikes:
    pop: str


@dataclass(frozen=True, eq=False)
class Trace:
    pop: str
    var: str
    ids: object = None
    every: int = 1

    @property
    def key(self) -> str:
        return f"{self.pop}.{self.var}"


@dataclass(frozen=True, eq=False)
class Rate:
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
MONITORS = (Spikes, Trace, Rate) + OBSERVERS


def check_monitors(net, monitors, state) -> None:
    keys = [m.key for m in monitors if isinstance(m, OBSERVERS)]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"Observe/LFP monitors must have distinct names; repeated: {repeated}")
    for m in monitors:
        if not isinstance(m, MONITORS):
            raise ValueError(f"monitors must be Spikes, Trace or Rate objects, or Observe or LFP observations; got {m!r}")
        if isinstance(m, Observe):
            if not isinstance(m.name, str) or not m.name:
                raise ValueError(f"Observe: name must be a non-empty string, got {m.name!r}")
            if not callable(m.fn):
                raise ValueError(f"Observe {m.name!r}: fn must be a function (state, spikes) -> pytree, got {m.fn!r}")
            continue
        if isinstance(m, LFP):
            check_lfp_args(net, m.pop, m.synapses, m.v_hold)
            continue
        pop = net.population(m.pop)  # raises with the list of names
        if isinstance(m, Trace):
            fields = state.neurons[m.pop]._fields
            if m.var not in fields:
                raise ValueError(f"Trace: population {m.pop!r} has no state variable {m.var!r}; it has {list(fields)}")
            if not isinstance(m.every, int) or m.every < 1:
                raise ValueError(f"Trace {m.key!r}: every must be a positive integer, got {m.every!r}")
            if m.ids is not None:
                ids = np.asarray(m.ids)
                if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
                    raise ValueError(f"Trace {m.key!r}: ids must be a non-empty 1-D list of integers, got {m.ids!r}")
                if ids.min() < 0 or ids.max() >= pop.n:
                    raise ValueError(f"Trace {m.key!r}: ids must lie in [0, {pop.n}), got {m.ids!r}")
