"""Izhikevich (2003) simple spiking neuron.

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I         (v in mV, t in ms, I in mV/ms)
    du/dt = a (b v - u)
    v >= v_peak (30 mV)  ->  spike, v <- c, u <- u + d

``integrator`` is an option (data, not a subclass):
  - ``"euler"``: forward Euler on both variables with the step dt (the reference for the
    single-cell firing patterns; use dt = 0.1 ms or smaller);
  - ``"net_m"``: the scheme of Izhikevich's ``net.m``: v advanced by two half steps of dt/2,
    then u by one step of dt with the new v (used with dt = 1 ms in the 1000-neuron network).

Reference: E. M. Izhikevich, "Simple model of spiking neurons", IEEE Trans. Neural Netw.
14(6):1569-1572 (2003). Presets for the cell types of its Fig. 2 are in ``IZHIKEVICH_TYPES``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax

from .base import check_gradient_options, initial_voltage, reset
from .spike import spike


class IzhikevichParams(NamedTuple):
    """The parameters of Izhikevich (a pytree: each field a scalar or one value per element): ``a``
    (1/ms, recovery rate); ``b`` (sensitivity of u to v); ``c`` (mV, reset); ``d`` (mV/ms, recovery
    jump); ``v_peak`` (mV, spike cut-off); ``slope`` (1/mV, surrogate sharpness)."""

    a: jax.typing.ArrayLike = 0.02       # 1/ms, recovery rate
    b: jax.typing.ArrayLike = 0.2        # sensitivity of u to v
    c: jax.typing.ArrayLike = -65.0      # mV, reset
    d: jax.typing.ArrayLike = 8.0        # mV/ms, recovery jump
    v_peak: jax.typing.ArrayLike = 30.0  # mV, spike cut-off
    slope: jax.typing.ArrayLike = 0.1    # 1/mV, surrogate sharpness

    NON_NEGATIVE = ("slope",)
    BELOW = (("c", "v_peak"),)


class IzhikevichState(NamedTuple):
    """The state of Izhikevich (a pytree): ``v`` ((n,) mV); ``u`` ((n,) mV/ms)."""

    v: jax.Array  # (n,) mV
    u: jax.Array  # (n,) mV/ms


# (a, b, c, d) of Fig. 2 of the paper.
IZHIKEVICH_TYPES = {
    "RS": IzhikevichParams(0.02, 0.2, -65.0, 8.0),
    "IB": IzhikevichParams(0.02, 0.2, -55.0, 4.0),
    "CH": IzhikevichParams(0.02, 0.2, -50.0, 2.0),
    "FS": IzhikevichParams(0.1, 0.2, -65.0, 2.0),
    "LTS": IzhikevichParams(0.02, 0.25, -65.0, 2.0),
    "TC": IzhikevichParams(0.02, 0.25, -65.0, 0.05),
    "RZ": IzhikevichParams(0.1, 0.26, -65.0, 2.0),
}

INTEGRATORS = ("euler", "net_m")


def _dv(v, u, i):
    return 0.04 * v * v + 5.0 * v + 140.0 - u + i


@dataclass(frozen=True)
class Izhikevich:
    """Izhikevich neuron. ``v_init``: None (-65 mV), a value, or a rule from
    :mod:`neurosim.init`;
    u starts at b v."""

    integrator: str = "euler"
    v_init: object = None  # None, a value in mV, Uniform(low, high) or Normal(mean, std)
    surrogate: str = "fast_sigmoid"   # the spike's pseudo-derivative (scale: slope), as for LIF
    detach_reset: bool = True

    Params = IzhikevichParams
    State = IzhikevichState

    def __post_init__(self):
        check_gradient_options(self)
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {INTEGRATORS}, got {self.integrator!r}")

    def init(self, params: IzhikevichParams, n: int, key) -> IzhikevichState:
        v = initial_voltage(self.v_init, -65.0, n, key)
        return IzhikevichState(v=v, u=params.b * v)

    def step(self, params: IzhikevichParams, state: IzhikevichState, i, dt):
        v, u = state.v, state.u
        if self.integrator == "euler":
            v_new = v + dt * _dv(v, u, i)
            u_new = u + dt * params.a * (params.b * v - u)
        else:
            v_new = v + 0.5 * dt * _dv(v, u, i)
            v_new = v_new + 0.5 * dt * _dv(v_new, u, i)
            u_new = u + dt * params.a * (params.b * v_new - u)
        s = spike(v_new - params.v_peak, params.slope, self.surrogate)
        v_new = reset(v_new, params.c, s, self.detach_reset)
        u_new = u_new + jax.lax.stop_gradient(s) * params.d
        return IzhikevichState(v=v_new, u=u_new), s

    @staticmethod
    def voltage(state: IzhikevichState):
        return state.v
