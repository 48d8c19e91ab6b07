"""What a simulation records, as data. Monitors become outputs of the ``lax.scan`` and stay
on the device until a chunk ends.

- ``Spikes(pop)``: every spike, stored bit-packed on device (n/8 bytes per step) and returned
  as ``(times_ms, ids)``.
- ``Trace(pop, var, ids=None, every=1)``: a state variable (e.g. ``"v"``) of the chosen neurons
  (all when ids is None), sampled at the start of every ``every``-th step.
- ``Rate(pop)``: population rate in Hz, every step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def check_monitors(net, monitors, state) -> None:
    for m in monitors:
        if not isinstance(m, (Spikes, Trace, Rate)):
            raise ValueError(f"monitors must be Spikes, Trace or Rate objects, got {m!r}")
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
