"""Neuromodulators: network-level signals that three-factor rules read.

A :class:`Modulator` is one value (global) or one value per neuron of a population, with its
own dynamics::

    m <- m e^{-dt/tau}  +  (scheduled jumps at this step)  +  drive(...)

updated once per step, after the neurons have spiked and before any plasticity rule runs, so
a reward delivered in step k already gates the weight change of step k. The drive is data:

- ``schedule=(times_ms, amounts)``: jumps of ``amounts`` at those times (a reward protocol).
- ``drive=fn`` with ``drive_init``: closed loop, a pure function
  ``fn(drive_state, spikes, t_ms, key) -> (drive_state, increment)`` of the network's spikes
  (population name -> (n,) array) at this step, the time of the step's end in ms and a PRNG key;
  ``drive_state`` is any pytree (a pending reward time, say) and starts as ``drive_init``.
  E.g. Izhikevich (2007): "reward 1-3 s after neuron n2 fires within 20 ms of neuron n1".

Units: whatever the rule reading it expects (uM of dopamine, an error in Hz ...); ``tau`` in ms
(``tau=None``: no decay, the value is the sum of its drive, e.g. an error recomputed each step
by a drive that returns ``target - value``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks


class ModulatorState(NamedTuple):
    """The state of Modulator (a pytree): ``value`` (() or (n,), the modulator); ``drive`` (the
    closed-loop drive's state (a pytree; () without a drive))."""

    value: jax.Array   # () or (n,), the modulator
    drive: object      # the closed-loop drive's state (a pytree; () without a drive)


@dataclass(frozen=True, eq=False)
class Modulator:
    """A network-level neuromodulatory signal (module docstring). ``size``: None for one
    global value, or the number of neurons of the population whose synapses read it (each
    synapse then reads its postsynaptic neuron's value). ``form``: what the modulator's drive is
    in terms a compiled engine implements itself (e.g. the count-driven form of
    :func:`neurosim.astrocytes.nalsm_astrocyte`), or None."""

    name: str
    tau: float | None = 200.0
    size: int | None = None
    initial: float = 0.0
    schedule: tuple | None = None
    drive: Callable | None = None
    drive_init: object = ()
    form: object = None

    def __post_init__(self):
        where = f"Modulator {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Modulator: name must be a non-empty string, got {self.name!r}")
        if self.tau is not None:
            _checks.positive_finite(f"{where}: tau", self.tau)
        if self.size is not None:
            _checks.count(f"{where}: size", self.size, minimum=1)
        _checks.finite(f"{where}: initial", self.initial)
        if self.schedule is not None:
            if not (isinstance(self.schedule, (tuple, list)) and len(self.schedule) == 2):
                raise ValueError(f"{where}: schedule must be (times_ms, amounts), got {self.schedule!r}")
            times, amounts = (np.atleast_1d(np.asarray(x, float)) for x in self.schedule)
            if times.ndim != 1 or amounts.shape[0] != times.shape[0] or not np.all(np.isfinite(times)):
                raise ValueError(f"{where}: schedule times_ms must be finite, one per amount; got shapes "
                                 f"{times.shape} and {amounts.shape}")
            if np.any(times < 0):
                raise ValueError(f"{where}: schedule times_ms must be >= 0, got min {times.min()!r}")
            object.__setattr__(self, "schedule", (times, amounts))
        if self.drive is not None and not callable(self.drive):
            raise ValueError(f"{where}: drive must be a function (drive_state, spikes, t_ms, key) -> "
                             f"(drive_state, increment), got {self.drive!r}")

    def init(self, dtype) -> ModulatorState:
        shape = () if self.size is None else (self.size,)
        return ModulatorState(jnp.full(shape, self.initial, dtype), self.drive_init)

    def step(self, state: ModulatorState, spikes: dict, t, dt: float, key) -> ModulatorState:
        """The value after step ``t`` (an int32 step index; the step ends at ``(t + 1) dt``)."""
        value = state.value if self.tau is None else state.value * jnp.exp(-dt / self.tau)
        if self.schedule is not None:
            times, amounts = self.schedule
            steps = jnp.asarray(np.round(times / dt).astype(np.int64), jnp.int32)
            hit = (steps == t).astype(value.dtype)
            value = value + jnp.tensordot(hit, jnp.asarray(amounts, value.dtype), axes=1)
        drive = state.drive
        if self.drive is not None:
            t_ms = (t + 1).astype(value.dtype) * dt
            drive, inc = self.drive(state.drive, spikes, t_ms, key)
            value = value + jnp.asarray(inc, value.dtype)
        return ModulatorState(value, drive)
