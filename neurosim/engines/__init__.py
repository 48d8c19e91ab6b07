"""The engines that advance a network, behind one driver (:func:`neurosim.network.simulate.drive`).

- ``"scan"``: the reference, ``lax.scan`` over the step (every model, every monitor, jit/vmap/grad).
- ``"fused"``: the hand-written C++/CUDA kernel of LIF networks with pair STDP and the NALSM
  astrocyte (:mod:`neurosim.network.fused`); the same bits as the scan.
- ``"native"``: each model's own JAX functions lowered to C++ and compiled into one program per
  network (:mod:`neurosim.engines.native`); any model whose step lowers.
- ``"parallel"``: neuron-parallel over devices (:mod:`neurosim.network.parallel`).

``engine="auto"`` takes the first of fused, native and scan that can run the simulation;
:func:`describe` says which one that is and why each other one cannot. Every engine keeps the
contract of :mod:`neurosim.engines.base` (``prepare`` a plan or a refusal, make a runner for the
one driver) and is found in :data:`REGISTRY`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import AUTO_ORDER, REGISTRY, Engine, Refusal, Runner

ENGINES = ("auto",) + tuple(REGISTRY)
_used: dict = {}    # engine name -> simulate() calls that ran on it, in this process


def record(name: str) -> None:
    """Count one ``simulate`` run on engine ``name`` (the driver calls this)."""
    _used[name] = _used.get(name, 0) + 1


def used() -> dict:
    """Engine name -> how many ``simulate`` runs of this process it ran (the paper examples'
    reports record it, so a figure says which engine made it)."""
    return dict(_used)


@dataclass(frozen=True)
class Verdict:
    """Whether ``engine`` can run a simulation, and if not, why (``reason``)."""

    engine: str
    ok: bool
    reason: str | None = None


@dataclass(frozen=True)
class Description:
    """What :func:`describe` finds: the engine ``engine="auto"`` picks, and every verdict."""

    chosen: str
    verdicts: tuple

    def __str__(self) -> str:
        lines = [f"engine='auto' runs this simulation on the {self.chosen} engine"]
        for v in self.verdicts:
            lines.append(f"  {v.engine:7s} {'can run it' if v.ok else 'cannot: ' + v.reason}")
        return "\n".join(lines)


def verdicts(net, params, dt, monitors, state) -> tuple:
    """The verdict of every engine of :data:`AUTO_ORDER`, from the plans ``simulate`` would
    make (the same ``prepare`` calls; plans are cached on the network)."""
    out = []
    for name in AUTO_ORDER:
        plan = REGISTRY[name].prepare(net, params, dt, monitors, state)
        out.append(Verdict(name, not isinstance(plan, Refusal), plan.reason if isinstance(plan, Refusal) else None))
    return tuple(out)


def describe(net, dt: float = 0.1, *, params=None, monitors=(), state=None, key=0) -> Description:
    """Which engine ``simulate(net, ..., dt=dt, engine="auto")`` uses for this network and these
    monitors, and why each engine before it in :data:`AUTO_ORDER` cannot: e.g.
    ``print(ns.engines.describe(net))``."""
    from ..network.monitors import MONITORS
    from ..network.step import init_state

    params = net.params() if params is None else params
    monitors = [monitors] if isinstance(monitors, MONITORS) else list(monitors)
    state = init_state(net, params, key, dt) if state is None else state
    vs = verdicts(net, params, dt, monitors, state)
    return Description(next(v.engine for v in vs if v.ok), vs)


__all__ = ["AUTO_ORDER", "ENGINES", "REGISTRY", "Description", "Engine", "Refusal", "Runner", "Verdict", "describe",
           "used"]
