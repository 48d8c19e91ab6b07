"""Adaptive exponential integrate-and-fire neuron (AdEx).

    C_m dV/dt = -g_L (V - E_L) + g_L Delta_T exp((V - V_T) / Delta_T) - w + I
    tau_w dw/dt = a (V - E_L) - w
    V >= V_peak  ->  spike, V <- V_reset, w <- w + b, V held at V_reset for t_ref ms

Units: V in mV, C_m in pF, g_L and a in nS, w, b and I in pA, tau_w and t_ref in ms.
Integrated by forward Euler; the exponent is capped (at (V - V_T)/Delta_T = 20) so a step that
overshoots V_peak cannot overflow. Defaults: Brette & Gerstner (2005), J. Neurophysiol.
94:3637, Table 1 (V_peak = V_T + 5 Delta_T, as in Brian2's example).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .base import check_gradient_options, initial_voltage, reset
from .spike import spike


class AdExParams(NamedTuple):
    """The parameters of AdEx (a pytree: each field a scalar or one value per element): ``c_m``
    (pF); ``g_l`` (nS); ``e_l`` (mV); ``v_t`` (mV, exponential threshold); ``delta_t`` (mV, slope
    factor); ``tau_w`` (ms); ``a`` (nS, subthreshold adaptation); ``b`` (pA, spike-triggered
    adaptation); ``v_reset`` (mV); ``v_peak`` (mV, spike cut-off); ``t_ref`` (ms); ``slope`` (1/mV,
    surrogate sharpness)."""

    c_m: jax.typing.ArrayLike = 281.0      # pF
    g_l: jax.typing.ArrayLike = 30.0       # nS
    e_l: jax.typing.ArrayLike = -70.6      # mV
    v_t: jax.typing.ArrayLike = -50.4      # mV, exponential threshold
    delta_t: jax.typing.ArrayLike = 2.0    # mV, slope factor
    tau_w: jax.typing.ArrayLike = 144.0    # ms
    a: jax.typing.ArrayLike = 4.0          # nS, subthreshold adaptation
    b: jax.typing.ArrayLike = 80.5         # pA, spike-triggered adaptation
    v_reset: jax.typing.ArrayLike = -70.6  # mV
    v_peak: jax.typing.ArrayLike = -40.4   # mV, spike cut-off
    t_ref: jax.typing.ArrayLike = 0.0      # ms
    slope: jax.typing.ArrayLike = 0.5      # 1/mV, surrogate sharpness

    POSITIVE = ("c_m", "g_l", "delta_t", "tau_w")
    NON_NEGATIVE = ("t_ref", "slope")
    BELOW = (("v_reset", "v_peak"),)


class AdExState(NamedTuple):
    """The state of AdEx (a pytree): ``v`` ((n,) mV); ``w`` ((n,) pA); ``t_left`` ((n,) ms of
    refractoriness left)."""

    v: jax.Array       # (n,) mV
    w: jax.Array       # (n,) pA
    t_left: jax.Array  # (n,) ms of refractoriness left


@dataclass(frozen=True)
class AdEx:
    """AdEx neuron. ``v_init``: None (start at E_L), a value, or a rule from
    :mod:`neurosim.init`."""

    v_init: object = None  # None, a value in mV, Uniform(low, high) or Normal(mean, std)
    surrogate: str = "fast_sigmoid"   # the spike's pseudo-derivative (scale: slope), as for LIF
    detach_reset: bool = True

    Params = AdExParams
    State = AdExState

    def __post_init__(self):
        check_gradient_options(self)

    def init(self, params: AdExParams, n: int, key) -> AdExState:
        v = initial_voltage(self.v_init, params.e_l, n, key)
        return AdExState(v=v, w=jnp.zeros((n,), v.dtype), t_left=jnp.zeros((n,), v.dtype))

    def step(self, params: AdExParams, state: AdExState, i, dt):
        v, w = state.v, state.w
        refractory = state.t_left > 0.5 * dt
        exponent = jnp.minimum((v - params.v_t) / params.delta_t, 20.0)
        dv = (-params.g_l * (v - params.e_l) + params.g_l * params.delta_t * jnp.exp(exponent) - w + i) / params.c_m
        v_new = jnp.where(refractory, params.v_reset, v + dt * dv)
        w_new = w + dt * (params.a * (v - params.e_l) - w) / params.tau_w
        s = spike(v_new - params.v_peak, params.slope, self.surrogate) * (1.0 - refractory.astype(v.dtype))
        v_new = reset(v_new, params.v_reset, s, self.detach_reset)
        w_new = w_new + jax.lax.stop_gradient(s) * params.b
        t_left = jnp.where(s > 0, params.t_ref, jnp.maximum(state.t_left - dt, 0.0))
        return AdExState(v=v_new, w=w_new, t_left=t_left), s

    @staticmethod
    def voltage(state: AdExState):
        return state.v
