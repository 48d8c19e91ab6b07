"""Three-factor rules: a Hebbian proposal held in an eligibility trace and released by a
third factor, a network modulator (:class:`~neurosim.plasticity.Modulator`).

**Reward-modulated STDP** (:func:`reward_modulated`; Izhikevich 2007). The proposal ``dw`` of
the rules before it in a chain (an STDP rule) does not change the weight; it feeds a
per-synapse eligibility trace ``c`` that decays with ``tau_c``, and the weight follows the
product of ``c`` and the modulator ``d`` (dopamine)::

    dc/dt = -c / tau_c + STDP(...)            c <- c e^{-dt/tau_c} + dw
    dw/dt = lr (d + d_tonic) c                dw <- lr (d + d_tonic) c dt

``lr`` in 1/(ms x modulator unit); ``d_tonic`` the tonic level (Izhikevich's 0.002 uM).

With ``every=T`` (ms) the trace is released once every ``T`` as the reference code of the
paper does (every 10 ms): the proposal accumulates in ``c`` at the synapses of spiking neurons,
and every ``T``::

    w <- w + lr (d + d_tonic) c T             c <- c e^{-T/tau_c}

which has the same rates and costs O(spikes x fan-out) per step plus one pass over the
synapses every ``T`` (instead of one every step).

**Error-modulated plasticity** (:func:`error_modulated`): the third factor is an error signal
``e`` (a modulator, global or one value per postsynaptic neuron, e.g. a readout error), and
the Hebbian factor the presynaptic trace::

    x_i <- x_i e^{-dt/tau_pre} + s_i          dw_ij = lr e_j x_i dt

(a delta rule on filtered presynaptic activity; with ``e_j = target_j - output_j`` it is the
online least-mean-squares readout of a spiking reservoir).

References: E. M. Izhikevich, "Solving the distal reward problem through linkage of STDP and
dopamine signaling", Cereb. Cortex 17:2443 (2007); N. Fremaux and W. Gerstner, "Neuromodulated
spike-timing-dependent plasticity, and theory of three-factor learning rules", Front. Neural
Circuits 9:85 (2016).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _checks, traces
from .rules import Rule, store_visited, visited


class RewardModulatedParams(NamedTuple):
    tau_c: jax.typing.ArrayLike     # ms, eligibility trace
    lr: jax.typing.ArrayLike        # 1 / (ms x modulator unit)
    d_tonic: jax.typing.ArrayLike   # modulator units, tonic level

    POSITIVE = ("tau_c",)
    NON_NEGATIVE = ("lr",)


class EligibilityState(NamedTuple):
    c: jax.Array   # (nnz,) eligibility, weight units


class ErrorModulatedParams(NamedTuple):
    lr: jax.typing.ArrayLike        # 1 / (ms x error unit)
    tau_pre: jax.typing.ArrayLike   # ms

    POSITIVE = ("tau_pre",)


class PreTraceState(NamedTuple):
    x: jax.Array   # (n_pre,)


def at_synapses(value, cols):
    """A modulator value at every synapse: the value itself if global (a scalar), else its
    entry for each synapse's postsynaptic neuron."""
    return value if jnp.ndim(value) == 0 else value[cols]


def reward_modulated(modulator: str, tau_c=1000.0, lr=0.01, d_tonic=0.0, *, every=None) -> Rule:
    """Release the proposal of the rules before it through an eligibility trace gated by the
    modulator named ``modulator`` (see the module docstring). Chain it after an STDP rule:
    ``chain(stdp_pair(...), reward_modulated("dopamine", tau_c=1000.0), clip_weights(0, 4))``.
    ``every``: None (decay and release every step) or a period in ms (release once every
    ``every``, event-driven in between)."""
    who = "reward_modulated"
    if not isinstance(modulator, str) or not modulator:
        raise ValueError(f"{who}: modulator must be the name of a network Modulator, got {modulator!r}")
    params = RewardModulatedParams(_checks.positive(who, "tau_c", tau_c), _checks.non_negative(who, "lr", lr),
                                   _checks.finite(who, "d_tonic", d_tonic))

    def init(p, shape):
        return EligibilityState(jnp.zeros((shape.nnz,), shape.dtype))

    def update(p, dw, state, weights, ev):
        c = state.c * jnp.exp(-ev.dt / p.tau_c) + dw
        d = at_synapses(ev.modulators[modulator], ev.conn.indices)
        return p.lr * (d + p.d_tonic) * c * ev.dt, EligibilityState(c)

    def accumulate(p, dw, state, weights, ev):
        """Between releases: the proposal joins the trace at the synapses visited."""
        c = visited(ev.conn, state.c) + dw
        return jnp.zeros_like(dw), EligibilityState(store_visited(ev.conn, state.c, c))

    def release(p, dw, state, weights, ev):
        """Once every ``every`` ms (a whole number of steps: the mechanism checks it), at every synapse."""
        d = at_synapses(ev.modulators[modulator], ev.conn.indices)
        return dw + p.lr * (d + p.d_tonic) * state.c * every, EligibilityState(state.c * jnp.exp(-every / p.tau_c))

    if every is None:
        return Rule(f"reward_modulated({modulator!r})", params, init, update, modulators=(modulator,))
    every = _checks.positive(who, "every", every)
    return Rule(f"reward_modulated({modulator!r}, every={float(every):g} ms)", params, init, accumulate,
                modulators=(modulator,), event_driven=True, tick=release, absorbs=True, period=float(every))


def error_modulated(modulator: str, lr=0.001, tau_pre=20.0) -> Rule:
    """``dw_ij = lr e_j x_i dt`` with ``e`` the modulator named ``modulator`` (an error) and
    ``x`` the presynaptic trace of time constant ``tau_pre`` (module docstring)."""
    who = "error_modulated"
    if not isinstance(modulator, str) or not modulator:
        raise ValueError(f"{who}: modulator must be the name of a network Modulator, got {modulator!r}")
    params = ErrorModulatedParams(_checks.finite(who, "lr", lr), _checks.positive(who, "tau_pre", tau_pre))

    def init(p, shape):
        return PreTraceState(jnp.zeros((shape.n_pre,), shape.dtype))

    def update(p, dw, state, weights, ev):
        x = traces.step(state.x, ev.pre, p.tau_pre, ev.dt, "all_to_all")
        e = at_synapses(ev.modulators[modulator], ev.conn.indices)
        return dw + p.lr * e * x[ev.conn.rows] * ev.dt, PreTraceState(x)

    return Rule(f"error_modulated({modulator!r})", params, init, update, modulators=(modulator,))
