"""Stage 3 of a step: synaptic state driven by the delivered spikes, and the current it makes.

State is kept per *postsynaptic* neuron (the kinetics are linear, so all synapses of one
projection onto one neuron share one variable). ``kinetics`` and ``output`` are options:

kinetics = "exponential" (instant rise, decay tau):
    dg/dt = -g / tau ;          on delivery: g += w
kinetics = "alpha" (rise and decay tau, peak w at t = tau after a single event):
    dx/dt = -x / tau ;  dg/dt = (x - g) / tau ;   on delivery: x += e w
kinetics = "delta" (no memory): g = the drive delivered in the previous step, for one step only
    (Izhikevich's net.m: a spike adds its weight to the next step's current; tau is unused).
Exponential and alpha are integrated exactly between deliveries
(g(t) = (g0 + x0 t / tau) exp(-t / tau) for alpha).

output = "current" (CUBA):        I = g                 (g and w in pA)
output = "conductance" (COBA):    I = g (E_rev - V)     (g and w in nS, E_rev and V in mV)

Drive delivered during step k changes g from step k + 1 on, so a spike emitted in step k with
delay d first moves the membrane in step k + d. References: Dayan & Abbott (2001) ch. 5;
Brette et al. (2007) J. Comput. Neurosci. 23:349 (CUBA/COBA benchmarks).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..init import draw

KINETICS = ("exponential", "alpha", "delta")
OUTPUTS = ("current", "conductance")


class SynapseParams(NamedTuple):
    """The parameters of Synapse (a pytree: each field a scalar or one value per element): ``tau``
    (ms); ``e_rev`` (mV, used when output == "conductance")."""

    tau: jax.typing.ArrayLike = 5.0    # ms
    e_rev: jax.typing.ArrayLike = 0.0  # mV, used when output == "conductance"

    POSITIVE = ("tau",)


class SynapseState(NamedTuple):
    """The state of Synapse (a pytree): ``g`` ((n_post,) pA (current) or nS (conductance)); ``x``
    ((n_post,) auxiliary rise variable of the alpha kinetics (zeros otherwise))."""

    g: jax.Array  # (n_post,) pA (current) or nS (conductance)
    x: jax.Array  # (n_post,) auxiliary rise variable of the alpha kinetics (zeros otherwise)


@dataclass(frozen=True)
class Synapse:
    """Synaptic kinetics and output. ``g_init``: None (0), a number, or a rule from
    :mod:`neurosim.init` (e.g. ``Normal(40.0, 15.0)`` nS)."""

    kinetics: str = "exponential"
    output: str = "current"
    g_init: object = None

    Params = SynapseParams
    State = SynapseState

    def __post_init__(self):
        if self.kinetics not in KINETICS:
            raise ValueError(f"kinetics must be one of {KINETICS}, got {self.kinetics!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")

    def init(self, params: SynapseParams, n: int, key) -> SynapseState:
        g = draw(self.g_init, 0.0, n, key)
        return SynapseState(g=g, x=jnp.zeros_like(g))

    def current(self, params: SynapseParams, state: SynapseState, v):
        if self.output == "current":
            return state.g
        return state.g * (params.e_rev - v)

    def step(self, params: SynapseParams, state: SynapseState, drive, dt) -> SynapseState:
        if self.kinetics == "delta":
            return SynapseState(g=jnp.broadcast_to(drive, state.g.shape).astype(state.g.dtype), x=state.x)
        decay = jnp.exp(-dt / params.tau)
        if self.kinetics == "exponential":
            return SynapseState(g=state.g * decay + drive, x=state.x)
        g = (state.g + state.x * dt / params.tau) * decay
        x = state.x * decay + math.e * drive
        return SynapseState(g=g, x=x)


def is_synapse_model(obj) -> bool:
    """Whether ``obj`` follows the synapse contract a Projection runs: a ``Params`` class and pure
    ``init(params, n, key)``, ``step(params, state, drive, dt)`` and ``current(params, state, v)``,
    and an ``output`` ("current", or "conductance" when the current depends on the membrane
    potential: its weights must then be >= 0). :class:`Synapse` is one; a synapse written as
    equations (``ns.equations.Synapse``) is another."""
    return (isinstance(obj, Synapse) or (not isinstance(obj, type) and isinstance(getattr(obj, "Params", None), type)
            and all(callable(getattr(obj, m, None)) for m in ("init", "step", "current"))
            and getattr(obj, "output", None) in OUTPUTS))


def decay_time(params):
    """The synapse's decay time constant (ms) as per-synapse mechanisms read it
    (``SynapticEvents.tau_syn``: a Tsodyks-Markram release with recovery 'inactive'): ``tau`` of a
    :class:`Synapse`'s params; NaN for a synapse model without one (those mechanisms refuse it)."""
    return getattr(params, "tau", jnp.float32(jnp.nan))
