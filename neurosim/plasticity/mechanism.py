"""The bridge from a plasticity :class:`~neurosim.plasticity.Rule` to a projection's chain of
per-synapse mechanisms (:mod:`neurosim.synapses.dynamics`): ``Projection(...,
plasticity=rule)`` wraps the rule in :class:`Plasticity`, whose ``update`` stores
``weights + dw``. Its parameters are ``params["projections"][name]["plasticity"]`` and its
state ``state.dynamics[name]["plasticity"]``; the weights themselves are
``state.weights[name]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from ..synapses.dynamics import AbstractSynapseDynamics, SynapseShape, SynapticEvents
from .rules import Rule


@dataclass(frozen=True, eq=False)
class Plasticity(AbstractSynapseDynamics):
    """Long-term plasticity of a projection by ``rule``. ``clip_initial``: clip initial weights
    outside the rule's bounds to them instead of refusing them."""

    rule: Rule
    clip_initial: bool = False

    key = "plasticity"
    kind = "long-term plasticity"
    plastic = True

    def __post_init__(self):
        if not isinstance(self.rule, Rule):
            raise ValueError(f"plasticity must be a plasticity Rule (e.g. neurosim.plasticity.stdp_pair()), got {self.rule!r}")

    def initial_params(self):
        return self.rule.params

    def modulators(self) -> tuple:
        return self.rule.modulators

    def check(self, projection) -> None:
        where = f"Projection {projection.name!r}"
        if not hasattr(projection.conn, "rows"):
            raise ValueError(f"{where}: plasticity changes a weight per synapse, which a JitConn (procedural "
                             "connectivity) does not store; use conn.to_csr() for a stored CSR")

    def initial_weights(self, weights, where: str):
        """The initial weights, checked against (or, with ``clip_initial``, clipped to) the
        rule's bounds and sign."""
        w = np.asarray(weights, float)
        lo, hi = self.rule.bounds if self.rule.bounds is not None else (-np.inf, np.inf)
        if self.rule.sign == 1:
            lo = max(lo, 0.0)
        elif self.rule.sign == -1:
            hi = min(hi, 0.0)
        outside = (w < lo) | (w > hi)
        if np.any(outside):
            if self.clip_initial:
                return np.clip(w, lo, hi)
            raise ValueError(
                f"{where}: {int(np.sum(outside))} initial weight(s) lie outside the bounds [{lo:g}, {hi:g}] of "
                f"{self.rule.name} (range [{w.min():g}, {w.max():g}]); pass weights inside them, or "
                "Plasticity(rule, clip_initial=True) to clip them"
            )
        return weights

    def init(self, params, shape: SynapseShape):
        return self.rule.init(params, shape)

    def update(self, params, state, weights, ev: SynapticEvents):
        dw, state = self.rule.update(params, jnp.zeros_like(weights), state, weights, ev)
        return state, weights + dw
