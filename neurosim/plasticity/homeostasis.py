"""Homeostatic rules: plasticity that holds activity near a set point.

**Inhibitory STDP** (:func:`inhibitory_stdp`; Vogels, Sprekeler, Zenke, Clopath & Gerstner
2011). On an inhibitory projection, with presynaptic and postsynaptic traces ``x_i``, ``y_j``
(time constant ``tau``, +1 per spike)::

    at a presynaptic spike:   w_ij += eta (y_j - alpha)        alpha = 2 rho_0 tau
    at a postsynaptic spike:  w_ij += eta x_i

which drives each postsynaptic neuron's rate to ``rho_0`` (Hz; ``tau`` in ms, so
``alpha = 2 rho_0 tau / 1000``). Chain :func:`~neurosim.plasticity.clip_weights` to keep the
weights non-negative.

**Synaptic scaling** (:func:`synaptic_scaling`; Turrigiano et al. 1998; van Rossum, Bi &
Turrigiano 2000). Every incoming weight of a neuron is scaled by how far its rate estimate
``r_j`` (a trace of its spikes, ``tau_rate``, in Hz) is from the target::

    r_j <- r_j e^{-dt/tau_rate} + 1000 q_j / tau_rate       (Hz)
    dw_ij = beta (r_target - r_j) w_ij dt                    (beta in 1/(ms Hz))

References: T. P. Vogels et al., Science 334:1569 (2011); G. G. Turrigiano et al., Nature
391:892 (1998); M. C. W. van Rossum, G. Q. Bi and G. G. Turrigiano, J. Neurosci. 20:8812 (2000).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _checks, traces
from .rules import Rule
from .stdp import StdpPairState


class InhibitoryStdpParams(NamedTuple):
    eta: jax.typing.ArrayLike      # weight units, learning rate
    rho_0: jax.typing.ArrayLike    # Hz, target rate
    tau: jax.typing.ArrayLike      # ms, both traces

    NON_NEGATIVE = ("eta", "rho_0")
    POSITIVE = ("tau",)


class ScalingParams(NamedTuple):
    beta: jax.typing.ArrayLike       # 1 / (ms Hz)
    r_target: jax.typing.ArrayLike   # Hz
    tau_rate: jax.typing.ArrayLike   # ms

    NON_NEGATIVE = ("beta", "r_target")
    POSITIVE = ("tau_rate",)


class RateState(NamedTuple):
    r: jax.Array   # (n_post,) Hz, rate estimate


def inhibitory_stdp(eta=1e-3, rho_0=5.0, tau=20.0) -> Rule:
    """Vogels et al. (2011) inhibitory plasticity (module docstring)."""
    who = "inhibitory_stdp"
    params = InhibitoryStdpParams(_checks.non_negative(who, "eta", eta), _checks.non_negative(who, "rho_0", rho_0),
                                  _checks.positive(who, "tau", tau))

    def init(p, shape):
        return StdpPairState(jnp.zeros((shape.n_pre,), shape.dtype), jnp.zeros((shape.n_post,), shape.dtype))

    def update(p, dw, state, weights, ev):
        rows, cols = ev.conn.rows, ev.conn.indices
        alpha = 2.0 * p.rho_0 * p.tau * 1e-3
        x = traces.step(state.x, ev.pre, p.tau, ev.dt, "all_to_all")
        y = traces.decay(state.y, p.tau, ev.dt)
        at_pre = ev.pre[rows] * (y[cols] - alpha)
        y = traces.jump(y, ev.post, "all_to_all")
        at_post = ev.post[cols] * x[rows]
        return dw + p.eta * (at_pre + at_post), StdpPairState(x, y)

    return Rule("inhibitory_stdp", params, init, update, event_driven=True)


def synaptic_scaling(r_target=5.0, beta=1e-7, tau_rate=1000.0) -> Rule:
    """Multiplicative scaling of every neuron's incoming weights towards ``r_target`` Hz
    (module docstring)."""
    who = "synaptic_scaling"
    params = ScalingParams(_checks.non_negative(who, "beta", beta), _checks.non_negative(who, "r_target", r_target),
                           _checks.positive(who, "tau_rate", tau_rate))

    def init(p, shape):
        return RateState(jnp.zeros((shape.n_post,), shape.dtype))

    def update(p, dw, state, weights, ev):
        r = traces.decay(state.r, p.tau_rate, ev.dt) + ev.post * (1e3 / p.tau_rate)
        return dw + p.beta * (p.r_target - r[ev.conn.indices]) * weights * ev.dt, RateState(r)

    return Rule("synaptic_scaling", params, init, update)
