"""Spike sources: populations whose 'neurons' emit given or random spikes. They follow the
neuron-model contract (``init``, ``step``, ``voltage``), so projections leave them like any
other population.

- ``PoissonSource``: each neuron spikes in a step with probability rate dt (Bernoulli
  approximation of a Poisson process of ``rate_hz``; keep rate dt << 1; rate dt > 1, more than
  a spike per step, is refused when a state is made or a run starts), drawn from
  counter-based uniforms (:mod:`neurosim.inputs.draws`).
- ``SpikeTimes``: neuron ``ids[k]`` spikes in the step that contains ``times_ms[k]``.
- ``RasterSource``: neuron ``i`` spikes in step ``k`` when ``raster[k, i] > 0``, the raster kept
  in the state (``neurosim.builders.set_input_raster`` puts a trial's trains in).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from . import draws


class PoissonSourceParams(NamedTuple):
    rate_hz: jax.typing.ArrayLike = 10.0  # Hz

    NON_NEGATIVE = ("rate_hz",)


class PoissonSourceState(NamedTuple):
    seed: jax.Array   # uint32[2], the seed of the counter-based draws (drawn from the init key)
    t: jax.Array      # () int32, the source's step counter


@dataclass(frozen=True)
class PoissonSource:
    """Each neuron spikes in a step with probability ``p = rate_hz dt 1e-3`` (Bernoulli
    approximation of a Poisson process; keep ``p << 1``): neuron ``i`` spikes in the source's
    step ``t`` when the counter-based uniform ``u(seed, t, i)`` of :mod:`neurosim.inputs.draws` is
    below ``p``, so the trains are a pure function of (seed, step, neuron), the same in the scan
    and the fused engine."""

    is_source = True
    Params = PoissonSourceParams
    State = PoissonSourceState

    def check_dt(self, params, dt: float, where: str) -> None:
        """The Bernoulli approximation needs ``rate_hz dt`` <= 1 spike per step (above it the
        source would silently deliver 1 / dt instead of the rate)."""
        rate = params.rate_hz
        if isinstance(rate, jax.core.Tracer):
            return
        top = float(np.max(np.asarray(rate)))
        if top * dt * 1e-3 > 1.0:
            raise ValueError(f"{where}: rate_hz = {top:g} Hz at dt = {dt:g} ms asks for {top * dt * 1e-3:g} spikes per "
                             f"step, but a source emits at most 1; keep rate_hz <= {1e3 / dt:g} Hz or use a smaller dt")

    def init(self, params, n, key):
        if key is None:
            raise ValueError("PoissonSource.init: key must be a PRNG key (it seeds the source's draws), got None")
        return PoissonSourceState(seed=draws.new_seed(key), t=jnp.zeros((), jnp.int32))

    def step(self, params, state, i, dt, first=0):
        """``first``: the index of ``i``'s first neuron in the population (a block of it)."""
        p = params.rate_hz * dt * 1e-3
        u = draws.uniforms(state.seed, state.t, jnp.shape(i)[0], jnp.result_type(float), first)  # i: the (n,) input
        return PoissonSourceState(state.seed, state.t + 1), (u < p).astype(jnp.result_type(float))

    @staticmethod
    def voltage(state):
        return None


class SpikeTimesState(NamedTuple):
    t: jax.Array  # step index


class SpikeTimesParams(NamedTuple):
    pass


@dataclass(frozen=True, eq=False)
class SpikeTimes:
    """Spikes given by the user: ``times_ms`` (k,) and ``ids`` (k,) of the source neurons."""

    times_ms: np.ndarray
    ids: np.ndarray

    is_source = True

    Params = SpikeTimesParams
    State = SpikeTimesState

    def __post_init__(self):
        times = np.asarray(self.times_ms, float)
        ids = np.asarray(self.ids)
        if times.ndim != 1 or ids.shape != times.shape:
            raise ValueError(f"times_ms and ids must be 1-D and of equal length, got shapes {times.shape} and {ids.shape}")
        if times.size and (not np.all(np.isfinite(times)) or times.min() < 0):
            raise ValueError("times_ms must be finite and >= 0")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
        object.__setattr__(self, "times_ms", times)
        object.__setattr__(self, "ids", ids.astype(np.int32))

    def check_size(self, n: int, where: str) -> None:
        if self.ids.size and (self.ids.min() < 0 or self.ids.max() >= n):
            bad = self.ids[(self.ids < 0) | (self.ids >= n)][0]
            raise ValueError(f"{where}: spike id {int(bad)} is out of range [0, {n})")

    def init(self, params, n, key):
        self.check_size(n, "SpikeTimes")
        return SpikeTimesState(t=jnp.zeros((), jnp.int32))

    def step(self, params, state, i, dt, first=0):
        """``first``: the index of ``i``'s first neuron in the population (a block of it)."""
        if isinstance(dt, (int, float)):  # in float64: float32 puts 0.53 ms / 0.01 ms in step 52
            steps = jnp.asarray(np.floor(self.times_ms / dt + 1e-6).astype(np.int32))
        else:
            steps = jnp.floor(jnp.asarray(self.times_ms) / dt + 1e-6).astype(jnp.int32)
        hit = (steps == state.t).astype(jnp.float32)
        ids = jnp.asarray(self.ids) - first
        n = jnp.shape(i)[0]
        ids = jnp.where((ids >= 0) & (ids < n), ids, n)   # other blocks' neurons: dropped
        s = jnp.zeros(jnp.shape(i), jnp.float32).at[ids].max(hit, mode="drop")
        return SpikeTimesState(t=state.t + 1), s

    @staticmethod
    def voltage(state):
        return None


class RasterSourceParams(NamedTuple):
    pass


class RasterSourceState(NamedTuple):
    t: jax.Array       # () int32, step index
    raster: jax.Array  # (n_steps, n) float32: the spikes (0/1) of each step; silent past its end


@dataclass(frozen=True)
class RasterSource:
    """A spike source that replays a raster kept in its *state*: neuron ``i`` spikes in step
    ``k`` when ``raster[k, i] > 0`` (and is silent from step ``n_steps`` on). Keeping the
    trains in the state, not in the model, makes them data: one compiled network runs any
    trial, and a batch of trials is a ``jax.vmap`` over states. ``init`` gives a silent raster
    of ``n_steps`` steps; put a trial's trains in with :func:`neurosim.builders.set_input_raster`."""

    n_steps: int = 1

    is_source = True
    Params = RasterSourceParams
    State = RasterSourceState

    def __post_init__(self):
        _checks.count("RasterSource: n_steps", self.n_steps, minimum=1)

    def init(self, params, n, key):
        return RasterSourceState(t=jnp.zeros((), jnp.int32), raster=jnp.zeros((self.n_steps, n), jnp.float32))

    def step(self, params, state, i, dt):
        n_steps = state.raster.shape[0]
        row = state.raster[jnp.minimum(state.t, n_steps - 1)]
        s = jnp.where(state.t < n_steps, row, jnp.zeros_like(row))
        return RasterSourceState(t=state.t + 1, raster=state.raster), (s > 0).astype(jnp.float32)

    @staticmethod
    def voltage(state):
        return None
