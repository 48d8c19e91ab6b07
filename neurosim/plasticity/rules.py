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
    w_max)`` the rule keeps weights in (None: none), checked against the initial weights;
    ``modulators``: the network modulators it reads; ``sign``: +1 or -1 where the rule keeps
    every weight of that sign (Dale's law), else None; ``event_driven``: the rule keeps no
    per-synapse state and proposes no change at a synapse whose presynaptic neuron delivered
    no spike and whose postsynaptic neuron did not spike in the step (so it need only be
    evaluated at those synapses: :class:`~neurosim.plasticity.Plasticity`); ``kernel``: a
    compiled form ``(params, state, weights, ev, clip) -> (state, weights)`` of the whole update
    (the stored weights, ``clip=(lo, hi)`` applied), which :class:`~neurosim.plasticity.Plasticity`
    uses where it is available; ``clip``: the ``(lo, hi)`` of a clipping constraint."""

    name: str
    params: object
    init: Callable
    update: Callable
    bounds: tuple | None = None
    modulators: tuple = ()
    sign: int | None = None
    event_driven: bool = False
    kernel: Callable | None = None
    clip: tuple | None = None
    parts: tuple = field(default=())

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
    return Rule(
        name="chain(" + ", ".join(r.name for r in rules) + ")",
        params=tuple(r.params for r in rules),
        init=init,
        update=update,
        bounds=None if not bounds else (lo, hi),
        modulators=tuple(dict.fromkeys(m for r in rules for m in r.modulators)),
        sign=signs.pop() if len(signs) == 1 else None,
        event_driven=all(r.event_driven for r in rules),
        kernel=_chain_kernel(rules),
        parts=tuple(rules),
    )


def _chain_kernel(rules):
    """The compiled form of a chain, where there is one: a rule that has a kernel, alone or
    followed by a clipping constraint (applied inside the kernel)."""
    first = rules[0]
    if first.kernel is None or not (len(rules) == 1 or (len(rules) == 2 and rules[1].clip is not None)):
        return None
    clip = rules[1].clip if len(rules) == 2 else None

    def kernel(p, s, w, ev, outer_clip=None):
        state, w = first.kernel(p[0], s[0], w, ev, clip if clip is not None else outer_clip)
        return (state,) + ((),) * (len(rules) - 1), w

    return kernel
