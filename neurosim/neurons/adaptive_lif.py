"""LIF neuron with an adaptive threshold: spike-triggered adaptation and, with a target rate,
intrinsic plasticity of the threshold (homeostasis of the firing rate).

    C_m dV/dt = g_L (E_L - V) + I                 (as :mod:`neurosim.neurons.lif`)
    V >= V_th + theta  ->  spike, V <- V_reset, V held at V_reset for t_ref ms
    theta <- theta exp(-dt / tau_theta) + theta_plus (s - r_target dt)      every step

(theta in mV, tau_theta in ms, r_target in Hz, dt in ms, so r_target dt is taken x 1e-3; s is
this step's spike, 0 or 1). ``r_target = 0``: the adaptive threshold of Diehl & Cook (2015)
(theta jumps by theta_plus at each spike and relaxes with tau_theta; they use tau_theta =
1e7 ms, no relaxation within a run). ``r_target > 0`` with a long tau_theta: intrinsic plasticity
in the sense of homeostatic threshold regulation (Turrigiano 2011; the threshold rule of
Triesch 2005 and of Zenke et al. 2013): theta drifts up while the neuron fires above r_target
and down below it, so its mean change vanishes at rate r_target, and a neuron's rate is driven
to r_target for any drive that can reach it (theta may become negative).

The membrane is integrated exactly as in :class:`~neurosim.neurons.LIF` (same operations), so
with ``theta_plus = 0`` the model gives LIF's voltages and spikes. Units: ms, mV, pF, nS, pA, Hz.

References: P. U. Diehl and M. Cook, Front. Comput. Neurosci. 9:99 (2015); J. Triesch,
ICANN 2005, LNCS 3696:65; G. G. Turrigiano, Annu. Rev. Neurosci. 34:89 (2011); F. Zenke,
G. Hennequin and W. Gerstner, PLoS Comput. Biol. 9:e1003330 (2013).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .base import check_gradient_options, initial_voltage
from .lif import fire, integrate


class AdaptiveLIFParams(NamedTuple):
    """The parameters of AdaptiveLIF (a pytree: each field a scalar or one value per element):
    ``v_rest`` (mV, leak reversal E_L); ``v_reset`` (mV); ``v_th`` (mV, threshold at theta = 0);
    ``c_m`` (pF); ``g_l`` (nS); ``t_ref`` (ms); ``theta_plus`` (mV, threshold change per spike);
    ``tau_theta`` (ms, relaxation of theta (1e7: none within a run)); ``r_target`` (Hz, target rate
    of the homeostatic drift (0: none)); ``slope`` (1/mV, surrogate-gradient sharpness)."""

    v_rest: jax.typing.ArrayLike = -60.0    # mV, leak reversal E_L
    v_reset: jax.typing.ArrayLike = -60.0   # mV
    v_th: jax.typing.ArrayLike = -50.0      # mV, threshold at theta = 0
    c_m: jax.typing.ArrayLike = 200.0       # pF
    g_l: jax.typing.ArrayLike = 10.0        # nS
    t_ref: jax.typing.ArrayLike = 5.0       # ms
    theta_plus: jax.typing.ArrayLike = 0.05  # mV, threshold change per spike
    tau_theta: jax.typing.ArrayLike = 1e7   # ms, relaxation of theta (1e7: none within a run)
    r_target: jax.typing.ArrayLike = 0.0    # Hz, target rate of the homeostatic drift (0: none)
    slope: jax.typing.ArrayLike = 1.0       # 1/mV, surrogate-gradient sharpness

    POSITIVE = ("c_m", "g_l", "tau_theta")
    NON_NEGATIVE = ("t_ref", "theta_plus", "r_target", "slope")
    BELOW = (("v_reset", "v_th"),)


class AdaptiveLIFState(NamedTuple):
    """The state of AdaptiveLIF (a pytree): ``v`` ((n,) mV); ``t_left`` ((n,) ms of refractoriness
    left); ``theta`` ((n,) mV, threshold adaptation)."""

    v: jax.Array       # (n,) mV
    t_left: jax.Array  # (n,) ms of refractoriness left
    theta: jax.Array   # (n,) mV, threshold adaptation


@dataclass(frozen=True)
class AdaptiveLIF:
    """LIF with an adaptive threshold (module docstring). ``v_init``: as for
    :class:`~neurosim.neurons.LIF`; ``theta_init``: initial theta in mV (a value)."""

    v_init: object = None
    theta_init: float = 0.0
    surrogate: str = "fast_sigmoid"   # as for LIF
    detach_reset: bool = True

    Params = AdaptiveLIFParams
    State = AdaptiveLIFState

    def __post_init__(self):
        check_gradient_options(self)
        try:
            ok = bool(jnp.isfinite(float(self.theta_init)))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"AdaptiveLIF: theta_init must be a finite number of mV, got {self.theta_init!r}")

    def init(self, params: AdaptiveLIFParams, n: int, key) -> AdaptiveLIFState:
        v = initial_voltage(self.v_init, params.v_rest, n, key)
        return AdaptiveLIFState(v=v, t_left=jnp.zeros((n,), v.dtype), theta=jnp.full((n,), self.theta_init, v.dtype))

    def step(self, params: AdaptiveLIFParams, state: AdaptiveLIFState, i, dt):
        v, refractory = integrate(params, state.v, state.t_left, i, dt)
        v, t_left, s = fire(params, v, state.t_left, refractory, params.v_th + state.theta, dt,
                               self.surrogate, self.detach_reset)
        theta = state.theta * jnp.exp(-dt / params.tau_theta) + params.theta_plus * (s - params.r_target * dt * 1e-3)
        return AdaptiveLIFState(v=v, t_left=t_left, theta=theta), s

    @staticmethod
    def voltage(state: AdaptiveLIFState):
        return state.v
