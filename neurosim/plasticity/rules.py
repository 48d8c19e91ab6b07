"""What every plasticity rule is: an optax-shaped ``(init, update)`` pair of pure functions.

    state       = rule.init(params, shape)
    dw, state   = rule.update(params, dw, state, weights, ev)

``params`` is the rule's pytree of differentiable parameters (amplitudes, time constants),
placed in ``net.params()`` and passed in, never closed over, so ``jax.grad`` reaches them;
``dw`` (nnz,) is the weight change proposed by the rules before this one in a chain (zeros for
the first); ``weights`` (nnz,) the stored weights at the start of the step; ``ev`` the step's
:class:`~neurosim.synapses.dynamics.SynapticEvents` (delivered presynaptic spikes, this step's
postsynaptic spikes, the CSR, the step index, dt, the network's modulators). A rule returns the
new proposal: STDP adds to it, a three-factor rule turns it into an eligibility trace and
releases it under a neuromodulator, a constraint (bounds, Dale's law) edits it. :func:`chain`
composes rules left to right. The network then stores ``weights + dw``.

Options that change a rule's form (trace kind, weight dependence, bounds) are arguments of
its factory and stay static; quantities one may want gradients for are ``params``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable



@dataclass(frozen=True, eq=False)
class Rule:
    """A plasticity rule: ``init(params, shape) -> state`` and ``update(params, dw, state,
    weights, ev) -> (dw, state)`` with its default ``params``. ``bounds``: the ``(w_min,
    w_max)`` the rule keeps weights in (None: none), checked against the initial weights (also
    those given later, through ``simulate(params=...)``);
    ``modulators``: the network modulators it reads; ``sign``: +1 or -1 where the rule keeps
    every weight of that sign (Dale's law), else None; ``event_driven``: the rule's ``update``
    changes neither the weight nor its per-synapse state at a synapse whose presynaptic neuron
    delivered no spike and whose postsynaptic neuron did not spike in the step (so it need only
    be evaluated at those synapses: :class:`~neurosim.plasticity.Plasticity`); per-synapse
    state is read and written through :func:`visited` and :func:`store_visited`, so that one
    update serves both the event-driven and the dense evaluation; ``tick``: a periodic part,
    ``tick(params, dw, state, weights, ev) -> (dw, state)`` of the same shape as ``update``,
    applied at every synapse after ``update`` once every ``period`` ms (on the steps ``t`` with
    ``(t + 1) % round(period / dt) == 0``): the release of an eligibility trace, a slow
    homeostatic pass; a constraint's ``tick`` is its ``update``, so that it also edits what a
    tick proposes; ``absorbs``: the update adds the proposal to the per-synapse field ``c`` of
    its state (an eligibility trace) and proposes no weight change; ``reads_weights``: False
    where the proposal does not depend on the weights (additive STDP), so that a kernel may
    apply it to an eligibility trace instead; ``kernel``: a
    compiled form ``(params, state, weights, ev, clip) -> (state, weights)`` of the whole update
    (the stored weights, ``clip=(lo, hi)`` applied), which :class:`~neurosim.plasticity.Plasticity`
    uses where it is available; ``clip``: the ``(lo, hi)`` of a clipping constraint; ``form``:
    what the rule is in terms a compiled engine implements itself (a
    :class:`~neurosim.plasticity.kernels.PairForm` for pair STDP, alone or clipped), or None;
    ``local``: the update at a synapse reads only that synapse and its two neurons (False for
    a rule that couples a neuron's synapses, as ``normalize_incoming`` sums its incoming
    weights: such a rule cannot be split into the delay groups of per-synapse delays)."""

    name: str
    params: object
    init: Callable
    update: Callable
    bounds: tuple | None = None
    modulators: tuple = ()
    sign: int | None = None
    event_driven: bool = False
    tick: Callable | None = None
    absorbs: bool = False
    reads_weights: bool = True
    period: float | None = None
    kernel: Callable | None = None
    clip: tuple | None = None
    form: object = None
    parts: tuple = field(default=())
    local: bool = True

    def __repr__(self):
        return f"Rule({self.name})"


def chain(*rules: Rule) -> Rule:
    """Apply ``rules`` in order, each on the proposal of the one before (as ``optax.chain``).
    Parameters and state are tuples with one entry per rule."""
    for i, r in enumerate(rules):
        if not isinstance(r, Rule):
            raise ValueError(f"chain: argument {i} must be a plasticity Rule (e.g. stdp_pair(...)), got {r!r}")
    if not rules:
        raise ValueError("chain needs at least one rule")

    def init(params, shape):
        return tuple(r.init(p, shape) for r, p in zip(rules, params))

    def update(params, dw, state, weights, ev):
        new = []
        for r, p, s in zip(rules, params, state):
            dw, s = r.update(p, dw, s, weights, ev)
            new.append(s)
        return dw, tuple(new)

    bounds = [r.bounds for r in rules if r.bounds is not None]
    lo = max((b[0] for b in bounds), default=None)
    hi = min((b[1] for b in bounds), default=None)
    signs = {r.sign for r in rules if r.sign is not None}
    periods = {r.period for r in rules if r.period is not None}
    if len(periods) > 1:
        raise ValueError(f"chain: its rules act on different periods {sorted(periods)} ms; one chain has one period")
    ticks = [r.tick is not None for r in rules]

    def tick(params, dw, state, weights, ev):
        new = []
        for r, p, s in zip(rules, params, state):
            if r.tick is not None:
                dw, s = r.tick(p, dw, s, weights, ev)
            new.append(s)
        return dw, tuple(new)

    return Rule(
        name="chain(" + ", ".join(r.name for r in rules) + ")",
        params=tuple(r.params for r in rules),
        init=init,
        update=update,
        bounds=None if not bounds else (lo, hi),
        modulators=tuple(dict.fromkeys(m for r in rules for m in r.modulators)),
        sign=signs.pop() if len(signs) == 1 else None,
        event_driven=all(r.event_driven for r in rules),
        # a periodic chain: the ticks of its parts (constraints edit what the ticks before them propose)
        tick=tick if periods and any(ticks) else None,
        period=periods.pop() if periods else None,
        kernel=_chain_kernel(rules),
        form=_chain_form(rules),
        parts=tuple(rules),
        local=all(r.local for r in rules),
    )


def visited(conn, per_synapse):
    """A per-synapse array (nnz,) at the synapses this update visits: all of them in the dense
    evaluation, those of spiking neurons in the event-driven one (``conn`` then lists them)."""
    ids = getattr(conn, "ids", None)
    return per_synapse if ids is None else per_synapse[ids]


def store_visited(conn, per_synapse, values):
    """``per_synapse`` (nnz,) with ``values`` (as returned by :func:`visited`) written back at the
    synapses this update visits."""
    ids = getattr(conn, "store", None)
    return values if ids is None else per_synapse.at[ids].set(values, mode="drop")


def due_steps(who: str, period, dt: float) -> int:
    """The number of steps in ``period`` ms at ``dt``: a whole number, else a clear error."""
    k = round(float(period) / dt)
    if k < 1 or abs(k * dt - float(period)) > 1e-6 * max(float(period), dt):
        raise ValueError(f"{who}: every = {float(period):g} ms is not a whole number of steps of dt = {dt:g} ms; "
                         "pass a multiple of dt")
    return k


def _clipped(rules):
    """``(first, clip)`` where the chain is one rule, alone (``clip`` None) or followed by one
    clipping constraint (its ``(lo, hi)``); else None."""
    first, rest = rules[0], rules[1:]
    if len(rest) > 1 or any(r.clip is None for r in rest):
        return None
    return first, (rest[0].clip if rest else None)


def _chain_form(rules):
    """The compiled engines' form of a chain: a rule with a form, alone or followed by one
    clipping constraint (whose bounds the form then applies)."""
    head = _clipped(rules)
    if head is None or head[0].form is None:
        return None
    first, clip = head
    opts = first.form.opts if clip is None else first.form.opts._replace(lo=float(clip[0]), hi=float(clip[1]))
    return first.form._replace(opts=opts, path=(0,) + tuple(first.form.path))


def _chain_kernel(rules):
    """The compiled form of a chain's ``update``, where there is one: a rule that has a kernel,
    alone or followed by a clipping constraint (applied inside the kernel); or a rule whose
    kernel does not read the weights followed by an eligibility trace that ``absorbs`` its
    proposal (the kernel then updates the trace in place; the weights do not change between the
    trace's releases, so constraints after it act only in its ``tick``)."""
    first, rest = rules[0], rules[1:]
    if first.kernel is None:
        return None
    head = _clipped(rules)
    if head is not None:
        clip = head[1]

        def kernel(p, s, w, ev, outer_clip=None):
            state, w = first.kernel(p[0], s[0], w, ev, clip if clip is not None else outer_clip)
            return (state,) + ((),) * len(rest), w

        return kernel
    if not first.reads_weights and rest[0].absorbs and all(r.tick is r.update for r in rest[1:]):
        def kernel(p, s, w, ev, outer_clip=None):
            state, c = first.kernel(p[0], s[0], s[1].c, ev, None)
            return (state, s[1]._replace(c=c)) + tuple(s[2:]), w

        return kernel
    return None
