"""Spike-timing-dependent plasticity: pair and triplet rules on per-neuron traces.

Units: weights in the projection's units (nS for conductance synapses, pA for current ones);
amplitudes in the same units; time constants in ms.

**Pair STDP** (:func:`stdp_pair`). A presynaptic trace ``x_i`` (tau_plus) and a postsynaptic
trace ``y_j`` (tau_minus) (:mod:`neurosim.plasticity.traces`). In a step, with delivered
presynaptic spikes ``s_i`` and postsynaptic spikes ``q_j``::

    x <- x e^{-dt/tau_plus} (+ s)           the presynaptic trace takes this step's spikes first
    dw_ij -= A_minus f_-(w_ij) s_i y_j      depression at a presynaptic spike (y before q)
    y <- y e^{-dt/tau_minus} (+ q)
    dw_ij += A_plus  f_+(w_ij) q_j x_i      potentiation at a postsynaptic spike

so the window is ``A_plus exp(-Delta/tau_plus)`` for ``Delta = t_post - t_pre >= 0`` and
``-A_minus exp(Delta/tau_minus)`` for ``Delta < 0`` (a pair in the same step counts as
pre-before-post). Weight dependence (Guetig et al. 2003)::

    f_+(w) = (w_max - w)^mu_plus ,   f_-(w) = (w - w_min)^mu_minus

``mu = 0``: additive (Song, Miller & Abbott 2000; chain :func:`~neurosim.plasticity.clip_weights`
to keep ``[w_min, w_max]``); ``mu = 1``: multiplicative, soft-bounded (Kistler & van Hemmen
2000); ``mu_plus = 0, mu_minus = 1``: van Rossum, Bi & Turrigiano (2000); ``0 < mu < 1``:
Guetig's interpolation. With ``mu > 0`` the amplitudes are per unit of
``(w_max - w_min)^mu``.

**Triplet STDP** (:func:`stdp_triplet`, Pfister & Gerstner 2006). Presynaptic traces ``r1``
(tau_plus), ``r2`` (tau_x); postsynaptic ``o1`` (tau_minus), ``o2`` (tau_y)::

    at a presynaptic spike:   dw -= o1 (A2_minus + A3_minus r2)     (r2 just before the spike)
    at a postsynaptic spike:  dw += r1 (A2_plus + A3_plus o2)        (o2 just before the spike)

``traces="all_to_all"`` is the all-to-all model, ``"nearest"`` the minimal nearest-spike model
of the paper (every trace is reset to 1 at a spike). Same-step ordering as the pair rule.

Cost: the state is four traces per neuron; the weight change is evaluated at every synapse
each step (O(nnz) elementwise work, gathers of per-neuron values) in this pure-JAX form.

References: S. Song, K. D. Miller and L. F. Abbott, Nat. Neurosci. 3:919 (2000);
M. C. W. van Rossum, G. Q. Bi and G. G. Turrigiano, J. Neurosci. 20:8812 (2000);
R. Guetig, R. Aharonov, S. Rotter and H. Sompolinsky, J. Neurosci. 23:3697 (2003);
J.-P. Pfister and W. Gerstner, J. Neurosci. 26:9673 (2006).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import numpy as np

from . import _checks
from . import traces as _traces
from .kernels import PairForm, PairOptions, dependence as _dependence, stdp_pair_events
from .rules import Rule


class StdpPairParams(NamedTuple):
    """The parameters of StdpPair (a pytree: each field a scalar or one value per element):
    ``a_plus`` (weight units, potentiation amplitude (>= 0)); ``a_minus`` (weight units, depression
    amplitude (>= 0)); ``tau_plus`` (ms, presynaptic trace); ``tau_minus`` (ms, postsynaptic trace)."""

    a_plus: jax.typing.ArrayLike      # weight units, potentiation amplitude (>= 0)
    a_minus: jax.typing.ArrayLike     # weight units, depression amplitude (>= 0)
    tau_plus: jax.typing.ArrayLike    # ms, presynaptic trace
    tau_minus: jax.typing.ArrayLike   # ms, postsynaptic trace

    NON_NEGATIVE = ("a_plus", "a_minus")
    POSITIVE = ("tau_plus", "tau_minus")


class StdpPairState(NamedTuple):
    """The state of StdpPair (a pytree): ``x`` ((n_pre,) presynaptic trace); ``y`` ((n_post,)
    postsynaptic trace)."""

    x: jax.Array   # (n_pre,) presynaptic trace
    y: jax.Array   # (n_post,) postsynaptic trace


class StdpTripletParams(NamedTuple):
    """The parameters of StdpTriplet (a pytree: each field a scalar or one value per element):
    ``a2_plus``; ``a3_plus``; ``a2_minus``; ``a3_minus``; ``tau_plus`` (ms, r1); ``tau_x`` (ms, r2);
    ``tau_minus`` (ms, o1); ``tau_y`` (ms, o2)."""

    a2_plus: jax.typing.ArrayLike
    a3_plus: jax.typing.ArrayLike
    a2_minus: jax.typing.ArrayLike
    a3_minus: jax.typing.ArrayLike
    tau_plus: jax.typing.ArrayLike    # ms, r1
    tau_x: jax.typing.ArrayLike       # ms, r2
    tau_minus: jax.typing.ArrayLike   # ms, o1
    tau_y: jax.typing.ArrayLike       # ms, o2

    NON_NEGATIVE = ("a2_plus", "a3_plus", "a2_minus", "a3_minus")
    POSITIVE = ("tau_plus", "tau_x", "tau_minus", "tau_y")


class StdpTripletState(NamedTuple):
    """The state of StdpTriplet (a pytree): ``r1`` ((n_pre,)); ``r2`` ((n_pre,)); ``o1``
    ((n_post,)); ``o2`` ((n_post,))."""

    r1: jax.Array   # (n_pre,)
    r2: jax.Array   # (n_pre,)
    o1: jax.Array   # (n_post,)
    o2: jax.Array   # (n_post,)


def _rounded_jump(x, spikes, kind: str):
    """:func:`traces.jump` with its product rounded before the sum (see ``stdp_pair``'s traces)."""
    if kind == "all_to_all":
        return x + spikes
    return _traces.rounded(x * (1.0 - spikes)) + spikes


def stdp_pair(a_plus=0.01, a_minus=0.0105, tau_plus=20.0, tau_minus=20.0, *, w_min=0.0, w_max=1.0,
              mu_plus=0.0, mu_minus=0.0, traces="all_to_all") -> Rule:
    """Pair STDP (see the module docstring for the equations). ``a_plus``, ``a_minus``
    (weight units), ``tau_plus``, ``tau_minus`` (ms) are the differentiable parameters;
    ``w_min``, ``w_max`` (weight units) and ``mu_plus``, ``mu_minus`` set the weight
    dependence; ``traces``: ``"all_to_all"`` or ``"nearest"``.

    >>> rule = chain(stdp_pair(0.001, 0.00105, w_max=0.1), clip_weights(0.0, 0.1))
    """
    who = "stdp_pair"
    params = StdpPairParams(_checks.non_negative(who, "a_plus", a_plus), _checks.non_negative(who, "a_minus", a_minus),
                            _checks.positive(who, "tau_plus", tau_plus), _checks.positive(who, "tau_minus", tau_minus))
    lo, hi = _checks.bounds(who, w_min, w_max)
    mu_p, mu_m = _checks.non_negative(who, "mu_plus", mu_plus), _checks.non_negative(who, "mu_minus", mu_minus)
    kind = _checks.trace_kind(who, traces)

    def init(p, shape):
        return StdpPairState(jnp.zeros((shape.n_pre,), shape.dtype), jnp.zeros((shape.n_post,), shape.dtype))

    def traces(p, state, ev):
        """The presynaptic trace after this step's jump, the postsynaptic one decayed (before its
        jump), and the postsynaptic one after it. Every product is rounded before it is added
        (optimisation barriers keep XLA from fusing one into a multiply-add where it chooses to),
        so the compiled engines perform exactly these operations."""
        x = _rounded_jump(_traces.rounded(_traces.decay(state.x, p.tau_plus, ev.dt)), ev.pre, kind)
        y_decayed = _traces.rounded(_traces.decay(state.y, p.tau_minus, ev.dt))
        return x, y_decayed, _rounded_jump(y_decayed, ev.post, kind)

    def update(p, dw, state, weights, ev):
        rows, cols = ev.conn.rows, ev.conn.indices
        x, y_decayed, y = traces(p, state, ev)
        depress = p.a_minus * _dependence(weights - lo, mu_m) * ev.pre[rows] * y_decayed[cols]
        potentiate = p.a_plus * _dependence(hi - weights, mu_p) * ev.post[cols] * x[rows]
        # both rounded before they are summed, as the compiled kernel sums them (no multiply-add)
        return dw + _traces.rounded(potentiate) - _traces.rounded(depress), StdpPairState(x, y)

    def kernel(p, state, weights, ev, clip=None):
        x, y_decayed, y = traces(p, state, ev)
        opts = PairOptions(lo, hi, mu_p, mu_m, *(clip if clip is not None else (-np.inf, np.inf)))
        return StdpPairState(x, y), stdp_pair_events(weights, ev.conn, ev.pre, ev.post, x, y_decayed, p.a_plus,
                                                      p.a_minus, opts,
                                                      backend="pallas" if ev.backend == "pallas" else None)

    form = "additive" if mu_p == mu_m == 0 else f"mu+={mu_p:g}, mu-={mu_m:g}"

    def coefficients(p, dt):
        # the decays as the pure-JAX traces compute them (x exp(-dt / tau))
        return (p.a_plus, p.a_minus, jnp.exp(-dt / jnp.asarray(p.tau_plus, jnp.float32)),
                jnp.exp(-dt / jnp.asarray(p.tau_minus, jnp.float32)), 1.0, 1.0)

    compiled = PairForm(PairOptions(lo, hi, mu_p, mu_m), trace=kind, coefficients=coefficients)
    bounds = (lo, hi) if (mu_p > 0 and mu_m > 0) else None   # soft bounds keep [w_min, w_max]
    return Rule(f"stdp_pair({form}, {kind})", params, init, update, bounds=bounds, event_driven=True, kernel=kernel,
                reads_weights=not (mu_p == mu_m == 0), form=compiled)


def stdp_triplet(a2_plus=5e-10, a3_plus=6.2e-3, a2_minus=7e-3, a3_minus=2.3e-4, tau_plus=16.8, tau_x=101.0,
                 tau_minus=33.7, tau_y=125.0, *, traces="all_to_all") -> Rule:
    """Triplet STDP of Pfister & Gerstner (2006) (equations in the module docstring). The
    defaults are the paper's all-to-all fit to the visual-cortex data (Sjoestroem et al.
    2001); for the minimal nearest-spike fit use ``traces="nearest"`` with
    ``a2_plus=4.6e-3, a3_plus=9.1e-3, a2_minus=3e-3, a3_minus=0.0, tau_x=714, tau_y=40``."""
    who = "stdp_triplet"
    names = ("a2_plus", "a3_plus", "a2_minus", "a3_minus")
    amps = [_checks.non_negative(who, n, v) for n, v in zip(names, (a2_plus, a3_plus, a2_minus, a3_minus))]
    taus = [_checks.positive(who, n, v) for n, v in
            zip(("tau_plus", "tau_x", "tau_minus", "tau_y"), (tau_plus, tau_x, tau_minus, tau_y))]
    params = StdpTripletParams(*amps, *taus)
    kind = _checks.trace_kind(who, traces)

    def init(p, shape):
        z_pre, z_post = jnp.zeros((shape.n_pre,), shape.dtype), jnp.zeros((shape.n_post,), shape.dtype)
        return StdpTripletState(z_pre, z_pre, z_post, z_post)

    def update(p, dw, state, weights, ev):
        rows, cols = ev.conn.rows, ev.conn.indices
        r2_before = _traces.decay(state.r2, p.tau_x, ev.dt)
        o1_before = _traces.decay(state.o1, p.tau_minus, ev.dt)
        o2_before = _traces.decay(state.o2, p.tau_y, ev.dt)
        r1 = _traces.step(state.r1, ev.pre, p.tau_plus, ev.dt, kind)
        depress = ev.pre[rows] * o1_before[cols] * (p.a2_minus + p.a3_minus * r2_before[rows])
        potentiate = ev.post[cols] * r1[rows] * (p.a2_plus + p.a3_plus * o2_before[cols])
        new = StdpTripletState(
            r1=r1,
            r2=_traces.jump(r2_before, ev.pre, kind),
            o1=_traces.jump(o1_before, ev.post, kind),
            o2=_traces.jump(o2_before, ev.post, kind),
        )
        return dw + potentiate - depress, new

    return Rule(f"stdp_triplet({kind})", params, init, update, event_driven=True)
