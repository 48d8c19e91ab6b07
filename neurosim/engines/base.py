"""The contract every engine keeps, and the registry ``simulate`` and ``describe`` read.

An :class:`Engine` answers one question and makes one object:

- ``prepare(net, params, dt, monitors, state, **options)``: a *plan* for this simulation (what
  the engine computed once: lowered models, kernel operands, a device mesh), or a
  :class:`Refusal` saying why it cannot run it. Nothing is compiled or run yet.
- ``runner(plan, net, dt, monitors, n_steps, chunk_steps, max_chunk_bytes, **options)``: the
  :class:`Runner` that :func:`neurosim.network.simulate.drive` advances chunk by chunk.

The driver (chunks, the compiled-chunk cache, progress, non-finite checks, results) is written
once, for every runner. ``engine="auto"`` asks the engines of :data:`AUTO_ORDER` in turn and
takes the first plan; a named engine that refuses is an error with its reason.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

AUTO_ORDER = ("fused", "native", "scan")


@dataclass(frozen=True)
class Refusal:
    """Why an engine cannot run a simulation (the model, the primitive, the option)."""

    reason: str


class Runner(abc.ABC):
    """What the driver advances: ``chunks`` (one item per call), and for each item its
    ``steps``, a ``cache_key`` for its compiled form, ``compile``, ``run`` (advance the state,
    return the raw monitor data) and ``to_host`` (that data as a ``Chunk``)."""

    name: ClassVar[str]
    plan: list      # the chunks, in order (the driver's name for them)

    @abc.abstractmethod
    def steps(self, item) -> int: ...

    @abc.abstractmethod
    def cache_key(self, item, params, state): ...

    @abc.abstractmethod
    def compile(self, item, params, state): ...

    @abc.abstractmethod
    def run(self, fn, params, state, done): ...

    @abc.abstractmethod
    def to_host(self, raw, item, done): ...


class Engine(abc.ABC):
    """One way to advance a network (module docstring)."""

    name: ClassVar[str]

    @abc.abstractmethod
    def prepare(self, net, params, dt: float, monitors, state, **options):
        """A plan, or a :class:`Refusal`."""

    @abc.abstractmethod
    def runner(self, plan, net, dt: float, monitors, n_steps: int, chunk_steps, max_chunk_bytes: float,
               **options) -> Runner:
        """The driver's runner for ``plan``."""


class ScanEngine(Engine):
    """``lax.scan`` over the step: every model and monitor (the reference)."""

    name = "scan"

    def prepare(self, net, params, dt, monitors, state, **options):
        return "scan"

    def runner(self, plan, net, dt, monitors, n_steps, chunk_steps, max_chunk_bytes, *, observed_bytes=0, **options):
        from ..network.simulate import ScanRunner

        return ScanRunner(net, monitors, dt, n_steps, chunk_steps, max_chunk_bytes, observed_bytes)


class FusedEngine(Engine):
    """The hand-written C++/CUDA kernel of LIF networks (neurosim.network.fused)."""

    name = "fused"

    def prepare(self, net, params, dt, monitors, state, **options):
        from ..network import fused

        plan = fused.fused_plan(net, params, dt, monitors)
        reason = plan if isinstance(plan, str) else fused.state_reason(plan, state)
        return plan if reason is None else Refusal(reason)

    def runner(self, plan, net, dt, monitors, n_steps, chunk_steps, max_chunk_bytes, **options):
        from ..network import fused

        return fused.FusedEngine(plan, monitors, n_steps, chunk_steps, max_chunk_bytes)


class NativeEngine(Engine):
    """Every model's own JAX functions lowered to C++ (neurosim.engines.native)."""

    name = "native"

    def prepare(self, net, params, dt, monitors, state, **options):
        from .native import engine as native, split

        if split.grouped(net):   # per-synapse delays and dynamics: the network split into one-delay parts
            reason = split.refusal(net, monitors, params)
            if reason is not None:
                return Refusal(reason)
            parts = net._cache.get(("native split", dt))
            if parts is None:
                parts = net._cache[("native split", dt)] = split.Split(net, dt)
            plan = native.cached_plan(parts.parts, parts.params(params), dt, monitors,
                                      None if state is None else parts.state(state))
            return Refusal(plan) if isinstance(plan, str) else (plan, parts)
        plan = native.cached_plan(net, params, dt, monitors, state)
        return Refusal(plan) if isinstance(plan, str) else plan

    def runner(self, plan, net, dt, monitors, n_steps, chunk_steps, max_chunk_bytes, **options):
        from .native import engine as native, split

        if isinstance(plan, tuple):
            plan, parts = plan
            return split.SplitRunner(native.NativeEngine(plan, monitors, n_steps, chunk_steps, max_chunk_bytes), parts)
        return native.NativeEngine(plan, monitors, n_steps, chunk_steps, max_chunk_bytes)


class ParallelEngine(Engine):
    """Neuron-parallel over devices (neurosim.network.parallel); only when asked for by name."""

    name = "parallel"

    def prepare(self, net, params, dt, monitors, state, *, devices=None, **options):
        from ..network import parallel

        devs = parallel.local_devices(devices)
        reason = parallel.parallel_reason(net, monitors, len(devs))
        return Refusal(reason) if reason is not None else parallel.parallel_plan(net, dt, monitors, devices)

    def runner(self, plan, net, dt, monitors, n_steps, chunk_steps, max_chunk_bytes, **options):
        from ..network import parallel

        return parallel.ParallelEngine(plan, monitors, n_steps, chunk_steps, max_chunk_bytes)


REGISTRY = {e.name: e for e in (ScanEngine(), FusedEngine(), NativeEngine(), ParallelEngine())}
