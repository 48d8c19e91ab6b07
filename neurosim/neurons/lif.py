"""Leaky integrate-and-fire neuron with an absolute refractory period.

    C_m dV/dt = g_L (E_L - V) + I                      (V in mV, C_m in pF, g_L in nS, I in pA)
    V >= V_th  ->  spike, V <- V_reset, V held at V_reset for t_ref ms

The subthreshold equation is linear, so it is integrated exactly over a step with I held
constant: V(t + dt) = V_inf + (V(t) - V_inf) exp(-dt g_L / C_m), V_inf = E_L + I / g_L.
tau_m = C_m / g_L (pF / nS = ms).

Reference: Lapicque (1907); the exact-integration scheme of Rotter & Diesmann (1999),
Biol. Cybern. 81:381. Default parameters: the Vogels & Abbott (2005) benchmark cell.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .base import check_gradient_options, initial_voltage, reset
from .spike import spike


class LIFParams(NamedTuple):
    """The parameters of LIF (a pytree: each field a scalar or one value per element): ``v_rest``
    (mV, leak reversal E_L); ``v_reset`` (mV); ``v_th`` (mV); ``c_m`` (pF); ``g_l`` (nS); ``t_ref``
    (ms); ``slope`` (1/mV, surrogate-gradient sharpness)."""

    v_rest: jax.typing.ArrayLike = -60.0   # mV, leak reversal E_L
    v_reset: jax.typing.ArrayLike = -60.0  # mV
    v_th: jax.typing.ArrayLike = -50.0     # mV
    c_m: jax.typing.ArrayLike = 200.0      # pF
    g_l: jax.typing.ArrayLike = 10.0       # nS
    t_ref: jax.typing.ArrayLike = 5.0      # ms
    slope: jax.typing.ArrayLike = 1.0      # 1/mV, surrogate-gradient sharpness

    POSITIVE = ("c_m", "g_l")
    NON_NEGATIVE = ("t_ref", "slope")
    BELOW = (("v_reset", "v_th"),)


class LIFState(NamedTuple):
    """The state of LIF (a pytree): ``v`` ((n,) mV); ``t_left`` ((n,) ms of refractoriness left)."""

    v: jax.Array       # (n,) mV
    t_left: jax.Array  # (n,) ms of refractoriness left


def integrate(params, v, t_left, i, dt):
    """The membrane over one step (exact, I held constant), held at ``v_reset`` while
    refractory: ``(v, refractory)``. ``params`` has LIF's fields (``v_rest``, ``v_reset``,
    ``c_m``, ``g_l``); shared by :class:`LIF` and :class:`~neurosim.neurons.AdaptiveLIF`."""
    refractory = t_left > 0.5 * dt
    # i * (1 / g_l), not i / g_l: XLA turns a division by a vmapped parameter into a
    # multiplication by its reciprocal, so this form rounds the same batched and unbatched.
    v_inf = params.v_rest + i * (1.0 / params.g_l)
    decay = jnp.exp(-dt * params.g_l / params.c_m)
    v = v_inf + (v - v_inf) * decay
    return jnp.where(refractory, params.v_reset, v), refractory


def fire(params, v, t_left, refractory, threshold, dt, surrogate="fast_sigmoid", detach_reset=True):
    """The spike at ``threshold`` (not while refractory), the reset and the refractory clock:
    ``(v, t_left, s)``."""
    s = spike(v - threshold, params.slope, surrogate) * (1.0 - refractory.astype(v.dtype))
    v = reset(v, params.v_reset, s, detach_reset)
    t_left = jnp.where(s > 0, params.t_ref, jnp.maximum(t_left - dt, 0.0))
    return v, t_left, s


@dataclass(frozen=True)
class LIF:
    """Leaky integrate-and-fire. ``v_init``: None (start at E_L), a value in mV, or a rule
    from :mod:`neurosim.init` such as ``Uniform(-60, -50)``. ``surrogate``: the spike's
    pseudo-derivative (:data:`~neurosim.neurons.spike.SURROGATES`; its scale is the ``slope``
    parameter); ``detach_reset``: no gradient through the reset. Neither changes a forward value."""

    v_init: object = None  # None, a value in mV, Uniform(low, high) or Normal(mean, std)
    surrogate: str = "fast_sigmoid"
    detach_reset: bool = True

    Params = LIFParams
    State = LIFState

    def __post_init__(self):
        check_gradient_options(self)

    def init(self, params: LIFParams, n: int, key) -> LIFState:
        v = initial_voltage(self.v_init, params.v_rest, n, key)
        return LIFState(v=v, t_left=jnp.zeros((n,), v.dtype))

    def step(self, params: LIFParams, state: LIFState, i, dt):
        v, refractory = integrate(params, state.v, state.t_left, i, dt)
        v, t_left, s = fire(params, v, state.t_left, refractory, params.v_th, dt, self.surrogate, self.detach_reset)
        return LIFState(v=v, t_left=t_left), s

    @staticmethod
    def voltage(state: LIFState):
        return state.v
