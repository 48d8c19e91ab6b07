"""The NALSM astrocyte (Ivanov & Michmizos 2021): one global astrocyte that integrates the
spiking of a liquid and of its input and sets the depression rate of the liquid's STDP, holding
the liquid near the edge of chaos.

**The astrocyte** (:func:`nalsm_astrocyte`, a network :class:`~neurosim.plasticity.Modulator`),
in discrete time, one update per network step (the paper's dt = 1 ms)::

    A[t+1] = A[t] + (w_A (S_L[t] - S_I[t]) + b_A - A[t]) / tau_A

with ``S_L[t]`` the number of liquid spikes and ``S_I[t]`` the number of input spikes in step t
(``tau_A`` in steps: 100 ms at dt = 1 ms; ``w_A`` 0.015 for a 1000-neuron liquid, 0.0075 for
8000; ``b_A = A[0] = 0.15``). More liquid than input spikes raises A, i.e. depression. As in the
reference code, the plasticity of step t reads A[t], computed from the spikes up to step t-1:
the modulator's value after step t is A[t]. Under constant counts A relaxes exactly as
``A[t] = A* + (A[0] - A*) (1 - 1/tau_A)^t``, ``A* = b_A + w_A (S_L - S_I)``.

**Astrocyte-modulated STDP** (:func:`astrocyte_stdp`, a plasticity rule), with per-neuron traces
that jump by ``jump`` at a spike and are multiplied by ``m`` every step (m = 0.905, m^10 ~ 1/e:
a 10 ms time constant)::

    excitatory (or input) presynaptic neuron j -> i:  dW_ij = eta_+ x_j s_i - A x_i s_j
    inhibitory presynaptic neuron j -> i:             dW_ij = -A x_j s_i + eta_+ x_i s_j
    then x <- m (x + jump s)

(``x`` before this step's spikes: a pair 3 steps apart, pre first, changes an excitatory weight
by ``eta_+ jump m^3``). Chain a :func:`~neurosim.plasticity.clip_weights` for the bounds
(``[0, 3]`` excitatory, ``[-3, 0]`` inhibitory, ``[-3, 3]`` input in the paper).

Reference: V. Ivanov & K. Michmizos, "Increasing liquid state machine performance with
edge-of-chaos dynamics organized by astrocyte-modulated plasticity", NeurIPS 2021
(arXiv:2111.01760), their eq. 7 and the authors' code.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..plasticity import _checks
from ..plasticity.kernels import PairForm, PairOptions, stdp_pair_events
from ..plasticity.modulators import Modulator
from ..plasticity.rules import Rule
from ..plasticity.three_factor import at_synapses
from ..plasticity.traces import rounded

PRESYNAPTIC = ("excitatory", "inhibitory")


class CountForm(NamedTuple):
    """The drive of :func:`nalsm_astrocyte`, as data a compiled engine implements itself (the
    fused engine, :mod:`neurosim.network.fused`) and as the function the scan engine calls
    (:meth:`drive`)::

        d  = spikes of the populations ``plus`` - spikes of ``minus`` in the step
        a' = a + ((w d + b) - a) inv_tau

    the modulator's value moving by ``a - prev`` (the drive state is ``(a, prev)``). ``inv_tau``
    is float32(1 / tau_a): the division is a product with it, and every product is rounded
    (XLA would turn the division into that product and fuse it into a multiply-add; the
    compiled engines do neither). ``name``: the modulator's, for error messages."""

    plus: tuple
    minus: tuple
    w: float
    b: float
    inv_tau: float
    name: str = ""

    def drive(self, state, spikes, t_ms, key):
        """``state`` = (A[t], A[t-1]): the modulator's value moves from A[t-1] to A[t], and the
        state to (A[t+1], A[t])."""
        missing = [n for n in self.plus + self.minus if n not in spikes]
        if missing:
            raise ValueError(f"nalsm_astrocyte {self.name!r}: no population named {missing} in this network; it has "
                             f"{sorted(spikes)}")
        a, previous = state
        d = sum(jnp.sum(spikes[n]) for n in self.plus) - (sum(jnp.sum(spikes[n]) for n in self.minus)
                                                         if self.minus else 0.0)
        a_next = (a + rounded((rounded(self.w * d) + self.b - a) * self.inv_tau)).astype(a.dtype)
        return (a_next, a), a - previous


def _names(value, what: str) -> tuple:
    names = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (list, tuple)) else ()
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"nalsm_astrocyte: {what} must be a population name or a list of them, got {value!r}")
    return names


def nalsm_astrocyte(name: str = "astrocyte", *, liquid, inputs=(), w_a: float = 0.015, b_a: float = 0.15,
                    tau_a: float = 100.0) -> Modulator:
    """The NALSM astrocyte (module docstring) as a global network modulator named ``name``,
    driven by the spikes of the populations ``liquid`` and ``inputs`` (a name or a list);
    ``tau_a`` in steps (> 1), ``w_a`` >= 0, ``b_a`` >= 0 (its initial value too). Its drive is
    a :class:`CountForm`."""
    who = "nalsm_astrocyte"
    liquid = _names(liquid, "liquid")
    inputs = () if inputs in ((), None, []) else _names(inputs, "inputs")
    w_a = _checks.non_negative(who, "w_a", w_a)
    b_a = _checks.non_negative(who, "b_a", b_a)
    tau_a = _checks.positive(who, "tau_a", tau_a)
    if tau_a < 1.0:
        raise ValueError(f"{who}: tau_a must be >= 1 step (A moves by 1/tau_a of its distance each step), got {tau_a!r}")
    form = CountForm(liquid, inputs, w_a, b_a, float(np.float32(1.0 / tau_a)), name)
    start = jnp.asarray(np.float32(b_a))
    return Modulator(name, tau=None, initial=b_a, drive=form.drive, drive_init=(start, start), form=form)


class AstrocyteStdpParams(NamedTuple):
    """The parameters of AstrocyteStdp (a pytree: each field a scalar or one value per element):
    ``eta_plus`` (weight units, the potentiation rate (fixed in the paper: 0.15)); ``multiplier``
    (per step, the trace decay m (0.905)); ``jump`` (the trace increment at a spike (0.1))."""

    eta_plus: jax.typing.ArrayLike    # weight units, the potentiation rate (fixed in the paper: 0.15)
    multiplier: jax.typing.ArrayLike  # per step, the trace decay m (0.905)
    jump: jax.typing.ArrayLike        # the trace increment at a spike (0.1)

    NON_NEGATIVE = ("eta_plus",)
    POSITIVE = ("multiplier", "jump")
    UNIT_INTERVAL = ("multiplier",)


class AstrocyteStdpState(NamedTuple):
    """The state of AstrocyteStdp (a pytree): ``x_pre`` ((n_pre,)); ``x_post`` ((n_post,))."""

    x_pre: jax.Array    # (n_pre,)
    x_post: jax.Array   # (n_post,)


def astrocyte_stdp(modulator: str, *, eta_plus: float = 0.15, multiplier: float = 0.905, jump: float = 0.1,
                   presynaptic: str = "excitatory") -> Rule:
    """STDP whose depression rate is the modulator named ``modulator`` (module docstring);
    ``presynaptic``: "excitatory" (also for input projections) or "inhibitory" (the signs of
    the two terms swapped)."""
    who = "astrocyte_stdp"
    if not isinstance(modulator, str) or not modulator:
        raise ValueError(f"{who}: modulator must be the name of a network Modulator, got {modulator!r}")
    if presynaptic not in PRESYNAPTIC:
        raise ValueError(f"{who}: presynaptic must be one of {PRESYNAPTIC}, got {presynaptic!r}")
    m = _checks.positive(who, "multiplier", multiplier)
    if m >= 1.0:
        raise ValueError(f"{who}: multiplier must be in (0, 1) (the per-step decay of the traces), got {multiplier!r}")
    params = AstrocyteStdpParams(_checks.non_negative(who, "eta_plus", eta_plus), m,
                                 _checks.positive(who, "jump", jump))
    sign = 1.0 if presynaptic == "excitatory" else -1.0

    def init(p, shape):
        return AstrocyteStdpState(jnp.zeros((shape.n_pre,), shape.dtype), jnp.zeros((shape.n_post,), shape.dtype))

    def amplitudes(p, a):
        """(A+, A-) of the pair form dw = A+ x_pre q - A- x_post s."""
        return (p.eta_plus, a) if sign > 0 else (-a, -p.eta_plus)

    def after(p, state, ev):
        return AstrocyteStdpState(p.multiplier * (state.x_pre + p.jump * ev.pre),
                                  p.multiplier * (state.x_post + p.jump * ev.post))

    def update(p, dw, state, weights, ev):
        rows, cols = ev.conn.rows, ev.conn.indices
        a_plus, a_minus = amplitudes(p, at_synapses(ev.modulators[modulator], cols))
        # each product rounded before the difference, as the compiled kernels compute it
        change = rounded(a_plus * (state.x_pre[rows] * ev.post[cols])) - \
            rounded(a_minus * (state.x_post[cols] * ev.pre[rows]))
        return dw + change, after(p, state, ev)

    def kernel(p, state, weights, ev, clip=None):
        a = ev.modulators[modulator]
        lo, hi = clip if clip is not None else (-np.inf, np.inf)
        if jnp.ndim(a) != 0:   # one value per postsynaptic neuron: the formula at every synapse
            dw, new = update(p, jnp.zeros_like(weights), state, weights, ev)
            return new, weights + (jnp.clip(weights + dw, lo, hi) - weights)
        a_plus, a_minus = amplitudes(p, a)
        w = stdp_pair_events(weights, ev.conn, ev.pre, ev.post, state.x_pre, state.x_post, a_plus, a_minus,
                             PairOptions(0.0, 0.0, 0.0, 0.0, lo, hi),
                             backend="pallas" if ev.backend == "pallas" else None)
        return after(p, state, ev), w

    def coefficients(p, dt):
        return (p.eta_plus, 1.0, p.multiplier, p.multiplier, p.jump, p.jump) if sign > 0 else \
            (-1.0, -p.eta_plus, p.multiplier, p.multiplier, p.jump, p.jump)

    form = PairForm(PairOptions(0.0, 0.0, 0.0, 0.0), trace="jump_then_decay", coefficients=coefficients,
                    modulators=(None, modulator) if sign > 0 else (modulator, None), fields=("x_pre", "x_post"))
    return Rule(f"astrocyte_stdp({modulator!r}, {presynaptic})", params, init, update, modulators=(modulator,),
                event_driven=True, kernel=kernel, form=form)


def branching_factor(spikes, conn, *, window: int = 4, t_min: int | None = None, t_max: int | None = None) -> float:
    """The branching factor of Ivanov & Michmizos (2021): for each spike of neuron n at step t,
    ``post / max(pre, 1)`` with ``pre`` the spikes of n's presynaptic neurons in
    ``[t - window, t)`` and ``post`` those of its postsynaptic neurons in
    ``[t + 1, t + 1 + window)``; averaged over each neuron's spikes, then over the neurons that
    spiked. ``spikes``: (steps, n) of one liquid, ``conn``: its recurrent CSR (n x n); only
    spikes with ``t_min <= t < t_max`` count (default: those whose windows fit). BF ~ 1 is
    critical. numpy."""
    s = np.asarray(spikes) > 0
    if s.ndim != 2 or s.shape[1] != conn.n_pre or conn.n_pre != conn.n_post:
        raise ValueError(f"branching_factor: spikes must be (steps, n) for a square CSR of n = {conn.n_pre}, got "
                         f"{s.shape} and {conn.n_pre} x {conn.n_post}")
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"branching_factor: window must be a positive number of steps, got {window!r}")
    steps, n = s.shape
    t_min = window if t_min is None else t_min
    t_max = steps - 1 - window if t_max is None else t_max
    rows, cols = np.asarray(conn.rows), np.asarray(conn.indices)
    adj = np.zeros((n, n), bool)
    adj[rows, cols] = True                      # adj[i, j]: i -> j
    c = np.vstack([np.zeros((1, n), np.int64), np.cumsum(s, axis=0)])   # c[t] = spikes before step t
    per_neuron = []
    for j in range(n):
        ts = np.nonzero(s[:, j])[0]
        ts = ts[(ts >= t_min) & (ts < t_max)]
        if ts.size == 0:
            continue
        pre = (c[ts] - c[ts - window])[:, adj[:, j]].sum(1)
        post = (c[ts + 1 + window] - c[ts + 1])[:, adj[j, :]].sum(1)
        per_neuron.append(np.mean(post / np.maximum(pre, 1)))
    return float(np.mean(per_neuron)) if per_neuron else float("nan")
