"""Multi-rate populations: a model advanced once every ``k`` network steps.

Slow dynamics (astrocyte calcium changes over seconds, a network steps every 0.1-1 ms) need not
be integrated at the network's step. ``MultiRate(model, every=k)`` is a model like any other
(``init``/``step``/``voltage``) that wraps ``model``::

    steps 1 .. k-1 of a period:  drive += I(t);  the wrapped state does not move; no spikes
    step k:                      state, spikes = model.step(params, state, (drive + I) / k, k dt)
                                 drive = 0

so the wrapped model sees the mean of its input over the last ``k`` steps and a step of
``k dt``; its spikes (events) are emitted at the step that completes a period. ``k = 1`` is the
wrapped model itself, step for step; it is the reference a ``k > 1`` run is compared with. The
state is ``MultiRateState(state, drive, count)``, and reading a variable of the wrapped model
(``state.c``, a ``Trace(pop, "c")``) reads it from ``state.state``, so monitors and mechanisms
that read the population (gliotransmission reads ``g_a``) work unchanged. ``simulate`` and
``run`` refuse a run whose number of steps ``k`` does not divide (the last period would be cut).

Between updates the wrapped state is held, so what other parts of the network read from it is up
to ``k dt`` old: choose ``k dt`` well below the wrapped dynamics' fastest time scale (for the ChI
astrocyte with rk4, ``k dt`` <= 10-20 ms keeps periods and event times within ~1 %).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .base import state_fields


class MultiRateState(NamedTuple):
    """The state of MultiRate (a pytree): ``state`` (the wrapped model's state, as of the last
    completed period); ``drive`` ((n,) the input summed over the period's steps so far); ``count``
    (() int32, steps of the period so far)."""

    state: object      # the wrapped model's state, as of the last completed period
    drive: jax.Array   # (n,) the input summed over the period's steps so far
    count: jax.Array   # () int32, steps of the period so far

    def __getattr__(self, name):   # only for names that are not fields: the wrapped state's variables
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.state, name)


@dataclass(frozen=True, eq=False)
class MultiRate:
    """``model`` advanced once every ``every`` network steps (module docstring)."""

    model: object
    every: int = 1

    State = MultiRateState

    def __post_init__(self):
        if not (hasattr(self.model, "step") and hasattr(self.model, "init")):
            raise ValueError(f"MultiRate: model must be a model instance (init/step/voltage), got {self.model!r}")
        if isinstance(self.model, MultiRate):
            raise ValueError("MultiRate: model is already a MultiRate; give one factor, the product of both")
        if isinstance(self.every, bool) or not isinstance(self.every, (int, np.integer)) or self.every < 1:
            raise ValueError(f"MultiRate: every must be a positive integer (network steps per update), got {self.every!r}")

    @property
    def Params(self):
        return self.model.Params

    @property
    def state_fields(self) -> tuple:
        """The variables a reader of the population finds on its state (the wrapped model's)."""
        return state_fields(self.model)

    @property
    def is_source(self) -> bool:
        return getattr(self.model, "is_source", False)

    def check_size(self, n: int, where: str) -> None:
        if hasattr(self.model, "check_size"):
            self.model.check_size(n, where)

    def check_dt(self, params, dt: float, where: str) -> None:
        """The wrapped model steps by ``every * dt``."""
        if hasattr(self.model, "check_dt"):
            self.model.check_dt(params, dt * self.every, where)

    def init(self, params, n: int, key) -> MultiRateState:
        inner = self.model.init(params, n, key)
        return MultiRateState(inner, jnp.zeros((n,), jnp.result_type(float)), jnp.zeros((), jnp.int32))

    def step(self, params, state: MultiRateState, i, dt):
        drive = state.drive + i
        count = state.count + 1

        def advance(_):
            new, spikes = self.model.step(params, state.state, drive / self.every, dt * self.every)
            new = jax.tree.map(lambda a, b: jnp.asarray(a, jnp.result_type(b)), new, state.state)
            return MultiRateState(new, jnp.zeros_like(drive), jnp.zeros_like(count)), spikes.astype(drive.dtype)

        def hold(_):
            return MultiRateState(state.state, drive, count), jnp.zeros_like(drive)

        if self.every == 1:
            return advance(None)
        return jax.lax.cond(count >= self.every, advance, hold, None)

    def voltage(self, state: MultiRateState):
        return self.model.voltage(state.state)


def check_periods(net, n_steps: int, state=None) -> None:
    """Every ``MultiRate`` population of ``net`` completes its periods within ``n_steps`` (and,
    given a ``state``, starts at a period's beginning)."""
    for p in net.populations:
        if not isinstance(p.model, MultiRate) or p.model.every == 1:
            continue
        k = p.model.every
        if n_steps % k:
            raise ValueError(f"population {p.name!r} advances every {k} steps (MultiRate), which does not divide the "
                             f"run's {n_steps} steps; make the run a multiple of {k} steps")
        if state is not None and not isinstance(state.neurons[p.name].count, jax.core.Tracer):
            count = int(state.neurons[p.name].count)
            if count:
                raise ValueError(f"population {p.name!r} is {count} steps into a period of {k} (MultiRate): the state "
                                 "comes from a run that did not end at a period's end")
