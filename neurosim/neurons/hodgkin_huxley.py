"""Hodgkin-Huxley neuron: the Traub & Miles cell of the COBAHH benchmark.

    C_m dV/dt = g_L (E_L - V) + g_Na m^3 h (E_Na - V) + g_K n^4 (E_K - V) + I
    dx/dt = alpha_x(V) (1 - x) - beta_x(V) x                    for each gate x in m, h, n
    V >= V_th  ->  spike, unless within t_ref ms of the last one (no reset: V runs through the
                   action potential, and t_ref keeps its peak from counting twice)

With u = V - V_T (mV) and exprel(z) = (e^z - 1) / z (= 1 at z = 0), the rates in 1/ms are

    alpha_m = 0.32 * 4 / exprel((13 - u) / 4)      beta_m = 0.28 * 5 / exprel((u - 40) / 5)
    alpha_h = 0.128 exp((17 - u) / 18)             beta_h = 4 / (1 + exp((40 - u) / 5))
    alpha_n = 0.032 * 5 / exprel((15 - u) / 5)     beta_n = 0.5 exp((10 - u) / 40)

(alpha_m = 0.32 (13 - u) / (exp((13 - u) / 4) - 1), and so on: written with exprel they have no
0/0 at u = 13, 40 or 15 mV). Units: V, E_*, V_T, V_th in mV; C_m in pF; g_* in nS; I in pA;
t_ref in ms; the gates are dimensionless.

Integration: exponential Euler (Brian2's ``exponential_euler``). Every equation is linear in its
own variable, dx/dt = A x + B; with A and B taken from the state at the start of the step (the
input I held constant over it), x <- x + dt f exprel(A dt), f = A x + B. For the membrane
A = -g_tot / C_m (g_tot = g_L + g_Na m^3 h + g_K n^4 > 0), so V <- V + (I_tot / g_tot)(1 - exp(-dt
g_tot / C_m)), I_tot the right-hand side above; for a gate A = -(alpha + beta) and x <- x +
(x_inf - x)(1 - exp(-dt / tau_x)), x_inf = alpha / (alpha + beta), tau_x = 1 / (alpha + beta).
Gates stay in [0, 1] and the scheme is stable at any dt, but first order: under a constant
current the firing period comes out 0.4-1.2 % long at dt = 0.01 ms and 3.5-11 % long at dt = 0.1 ms
(0 to 1000 pA; COBAHH's dt is 0.1 ms), against a tight-tolerance ODE solver.

The state starts at V = E_L (or the ``v_init`` rule) with every gate at its steady state
x_inf(V) for that V.

Reference: R. D. Traub and R. Miles (1991), "Neuronal networks of the hippocampus", Cambridge
University Press; as used in Brette et al. (2007), J. Comput. Neurosci. 23:349, benchmark 3
(COBAHH). Defaults: the cell of Brian2's COBAHH example, a 20000 um^2 membrane (1 uF/cm^2,
g_L 5e-5 S/cm^2, g_Na 100 mS/cm^2, g_K 30 mS/cm^2).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .base import check_gradient_options, initial_voltage
from .spike import spike


class HodgkinHuxleyParams(NamedTuple):
    """The parameters of HodgkinHuxley (a pytree: each field a scalar or one value per element):
    ``c_m`` (pF); ``g_l`` (nS, leak); ``e_l`` (mV, leak reversal); ``e_k`` (mV, potassium
    reversal); ``e_na`` (mV, sodium reversal); ``g_na`` (nS, maximal sodium conductance);
    ``g_k`` (nS, maximal delayed-rectifier potassium conductance); ``v_t`` (mV, shifts every
    rate function: Traub & Miles' V_T); ``v_th`` (mV, spike detection: an upward crossing);
    ``t_ref`` (ms, no new spike for this long after one; the membrane is not reset); ``slope``
    (1/mV, surrogate sharpness)."""

    c_m: jax.typing.ArrayLike = 200.0      # pF
    g_l: jax.typing.ArrayLike = 10.0       # nS, leak
    e_l: jax.typing.ArrayLike = -60.0      # mV, leak reversal
    e_k: jax.typing.ArrayLike = -90.0      # mV, potassium reversal
    e_na: jax.typing.ArrayLike = 50.0      # mV, sodium reversal
    g_na: jax.typing.ArrayLike = 20000.0   # nS, maximal sodium conductance
    g_k: jax.typing.ArrayLike = 6000.0     # nS, maximal potassium conductance
    v_t: jax.typing.ArrayLike = -63.0      # mV, shift of the rate functions
    v_th: jax.typing.ArrayLike = -20.0     # mV, spike detection threshold
    t_ref: jax.typing.ArrayLike = 3.0      # ms, spikes blocked (no reset)
    slope: jax.typing.ArrayLike = 1.0      # 1/mV, surrogate sharpness

    POSITIVE = ("c_m", "g_l")
    NON_NEGATIVE = ("g_na", "g_k", "t_ref", "slope")
    BELOW = (("e_k", "e_na"),)


class HodgkinHuxleyState(NamedTuple):
    """The state of HodgkinHuxley (a pytree): ``v`` ((n,) mV); ``m`` ((n,) sodium activation,
    in [0, 1]); ``h`` ((n,) sodium inactivation, in [0, 1]); ``n`` ((n,) potassium activation,
    in [0, 1]); ``t_left`` ((n,) ms during which no new spike is detected)."""

    v: jax.Array       # (n,) mV
    m: jax.Array       # (n,) sodium activation
    h: jax.Array       # (n,) sodium inactivation
    n: jax.Array       # (n,) potassium activation
    t_left: jax.Array  # (n,) ms of refractoriness left


def _inv_exprel(z):
    """z / (e^z - 1) = 1 / exprel(z), 1 - z/2 near 0: no 0/0, in the value nor in its gradient."""
    small = jnp.abs(z) < 1e-4
    safe = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 - 0.5 * z, safe / jnp.expm1(safe))


def rates(params: HodgkinHuxleyParams, v):
    """``(alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n)`` in 1/ms at membrane potential
    ``v`` (mV)."""
    u = v - params.v_t
    alpha_m = 1.28 * _inv_exprel((13.0 - u) * 0.25)
    beta_m = 1.4 * _inv_exprel((u - 40.0) * 0.2)
    alpha_h = 0.128 * jnp.exp((17.0 - u) * (1.0 / 18.0))
    beta_h = 4.0 / (1.0 + jnp.exp((40.0 - u) * 0.2))
    alpha_n = 0.16 * _inv_exprel((15.0 - u) * 0.2)
    beta_n = 0.5 * jnp.exp((10.0 - u) * 0.025)
    return alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n


def _gate(x, alpha, beta, dt):
    """One exponential-Euler step of dx/dt = alpha (1 - x) - beta x (exact for fixed rates)."""
    k = alpha + beta
    return x + (alpha / k - x) * -jnp.expm1(-dt * k)


@dataclass(frozen=True)
class HodgkinHuxley:
    """Hodgkin-Huxley neuron (Traub & Miles). ``v_init``: None (start at E_L), a value, or a
    rule from :mod:`neurosim.init`; the gates start at their steady state for that voltage.
    ``surrogate``: the spike's pseudo-derivative (scale: ``slope``), as for LIF. ``detach_reset``
    is accepted as for every spiking model, but the membrane has no reset, so it changes
    nothing."""

    v_init: object = None  # None, a value in mV, Uniform(low, high) or Normal(mean, std)
    surrogate: str = "fast_sigmoid"
    detach_reset: bool = True

    Params = HodgkinHuxleyParams
    State = HodgkinHuxleyState

    def __post_init__(self):
        check_gradient_options(self)

    def init(self, params: HodgkinHuxleyParams, n: int, key) -> HodgkinHuxleyState:
        v = initial_voltage(self.v_init, params.e_l, n, key)
        a_m, b_m, a_h, b_h, a_n, b_n = rates(params, v)
        gates = [jnp.broadcast_to(a / (a + b), (n,)).astype(v.dtype) for a, b in ((a_m, b_m), (a_h, b_h), (a_n, b_n))]
        return HodgkinHuxleyState(v=v, m=gates[0], h=gates[1], n=gates[2], t_left=jnp.zeros((n,), v.dtype))

    def step(self, params: HodgkinHuxleyParams, state: HodgkinHuxleyState, i, dt):
        v, m, h, n = state.v, state.m, state.h, state.n
        refractory = state.t_left > 0.5 * dt
        a_m, b_m, a_h, b_h, a_n, b_n = rates(params, v)
        g_na = params.g_na * (m * m * m * h)
        n2 = n * n
        g_k = params.g_k * (n2 * n2)
        g_tot = params.g_l + g_na + g_k
        i_tot = params.g_l * (params.e_l - v) + g_na * (params.e_na - v) + g_k * (params.e_k - v) + i
        # x + dt f exprel(A dt) with f = i_tot / c_m, A = -g_tot / c_m (g_tot > 0: g_l > 0)
        v_new = v - i_tot / g_tot * jnp.expm1(g_tot * (-dt / params.c_m))
        m_new, h_new, n_new = _gate(m, a_m, b_m, dt), _gate(h, a_h, b_h, dt), _gate(n, a_n, b_n, dt)
        s = spike(v_new - params.v_th, params.slope, self.surrogate) * (1.0 - refractory.astype(v.dtype))
        t_left = jnp.where(s > 0, params.t_ref, jnp.maximum(state.t_left - dt, 0.0))
        return HodgkinHuxleyState(v=v_new, m=m_new, h=h_new, n=n_new, t_left=t_left), s

    @staticmethod
    def voltage(state: HodgkinHuxleyState):
        return state.v
