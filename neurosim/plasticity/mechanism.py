"""The bridge from a plasticity :class:`~neurosim.plasticity.Rule` to a projection's chain of
per-synapse mechanisms (:mod:`neurosim.synapses.dynamics`): ``Projection(...,
plasticity=rule)`` wraps the rule in :class:`Plasticity`, whose ``update`` stores
``weights + dw``. Its parameters are ``params.projections[name].dynamics["plasticity"]`` and its
state ``state.dynamics[name]["plasticity"]``; the weights themselves are
``state.weights[name]``.

**Event-driven updates.** A rule marked ``event_driven`` (pair and triplet STDP, inhibitory
STDP, clipping, Dale's law, and chains of them) changes only the synapses of neurons that spiked
in the step, so the mechanism evaluates it there alone: the rows of the presynaptic neurons
whose spikes were delivered (CSR order) and the columns of the postsynaptic neurons that fired
(through the CSR's column index, :meth:`~neurosim.events.CSR.with_columns`), gathered into
fixed-size blocks of ``K x max_row`` and ``K x max_col`` synapses. ``K`` is the smallest rung
of a capacity ladder (8, 64, n / 8 spiking neurons; a rung is kept only if its blocks visit at
most a quarter of the synapses) that holds this step's spikes; above the last rung the step
takes the dense form (every synapse), which gives the same weights. A rule's periodic
``tick`` (the release of an eligibility trace) follows on its due steps, at every synapse. So a
step costs O(spikes x fan-out), not O(synapses), while spikes are sparse. Under ``jax.vmap`` the
rungs become a select and every form is evaluated (correct, not faster). Gradients with
respect to the weights and the rule parameters are exact on either path; the surrogate
gradient with respect to the spikes reaches, on the event path, only synapses of neurons that
spiked (``event_driven=False`` evaluates every synapse every step).
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..synapses.dynamics import AbstractSynapseDynamics, SynapseShape, SynapticEvents
from .kernels import kernel_available
from .rules import Rule, due_steps


@dataclass(frozen=True, eq=False)
class Plasticity(AbstractSynapseDynamics):
    """Long-term plasticity of a projection by ``rule``. ``clip_initial``: clip initial weights
    outside the rule's bounds to them instead of refusing them. ``event_driven``: evaluate an
    event-driven rule only at the synapses of neurons that spiked (module docstring); False:
    every synapse, every step."""

    rule: Rule
    clip_initial: bool = False
    event_driven: bool = True

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
        if not self.rule.local and projection.delay_ms is not None and np.ndim(projection.delay_ms) > 0:
            raise ValueError(f"{where}: {self.rule.name} couples the synapses of a neuron, which per-synapse delays "
                             "split into one group per delay value (each group would be treated on its own); give "
                             "one delay for the projection, or leave this rule out")

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
        # ev is closed over, not an operand, so that its dt stays a Python float
        forms, which = self._forms(ev, weights)
        if self.rule.tick is not None and self.rule.period is not None:
            k, n = due_steps(self.rule.name, self.rule.period, ev.dt), len(forms)
            # every form again, followed by the tick: each branch writes the weights, so XLA updates
            # them in place (a branch that passed them through would cost a copy every step)
            forms = forms + [lambda op, f=f: self._apply(self.rule.tick, op[0], *f(op), ev) for f in forms]
            which = which + jnp.where((ev.t + 1) % k == 0, n, 0)
        if len(forms) == 1:
            return forms[0]((params, state, weights))
        return jax.lax.switch(which, forms, (params, state, weights))

    # The update in the terms a compiled engine lowers (the native engine): the rule at every
    # synapse, the period of its tick, and whether it changes only the synapses of spiking neurons.
    def dense_update(self, params, state, weights, ev: SynapticEvents, tick: bool = False):
        """The update at every synapse (followed by the rule's ``tick`` when ``tick``): the
        same values as :meth:`update`, without the event-driven shortcut."""
        state, weights = self._apply(self.rule.update, params, state, weights, ev)
        if tick and self.rule.tick is not None:
            state, weights = self._apply(self.rule.tick, params, state, weights, ev)
        return state, weights

    def tick_only(self, params, state, weights, ev: SynapticEvents):
        """The rule's ``tick`` alone at every synapse (what :meth:`update` applies after the
        update on a due step)."""
        return self._apply(self.rule.tick, params, state, weights, ev)

    def tick_steps(self, dt: float) -> int:
        """The steps between the rule's ticks (0: it has none); its ticks come on the steps t
        with ``(t + 1) % tick_steps == 0``."""
        if self.rule.tick is None or self.rule.period is None:
            return 0
        return due_steps(self.rule.name, self.rule.period, dt)

    def event_driven_update(self) -> bool:
        """Whether :meth:`dense_update` (without its tick) changes nothing at a synapse whose
        presynaptic neuron delivered no spike and whose postsynaptic neuron did not fire."""
        return bool(self.event_driven and self.rule.event_driven)

    def _forms(self, ev, weights):
        """The ways to evaluate this step's update, ``op = (params, state, weights) -> (state,
        weights)``, and the index of the one to take."""
        conn = ev.conn
        dense = [lambda op: self._apply(self.rule.update, *op, ev)]
        if not (self.event_driven and self.rule.event_driven and getattr(conn, "has_columns", False)):
            return dense, 0
        if self.rule.kernel is not None and (kernel_available(weights) or ev.backend == "pallas"):
            return [lambda op: self.rule.kernel(*op, ev)], 0
        rungs = _rungs(conn)
        if not rungs:   # even 8 spiking neurons reach a good part of the synapses (a huge fan-in): dense
            return dense, 0
        count = jnp.maximum(jnp.sum(ev.pre > 0), jnp.sum(ev.post > 0))
        which = jnp.searchsorted(jnp.asarray(rungs, jnp.int32), count.astype(jnp.int32), side="left")
        return [lambda op, k=k: self._sparse(*op, ev, k) for k in rungs] + dense, which

    @staticmethod
    def _apply(fn, params, state, weights, ev):
        """``fn`` (the rule's update or tick) at every synapse; the weights plus its proposal."""
        dw, state = fn(params, jnp.zeros_like(weights), state, weights, ev)
        return state, weights + dw

    def _sparse(self, params, state, weights, ev, k: int):
        """The rule at the synapses of at most ``k`` spiking presynaptic and ``k`` spiking
        postsynaptic neurons."""
        conn, nnz = ev.conn, weights.shape[0]
        by_row, ok_row = _block(ev.pre, conn.indptr, None, k, conn.max_row)
        by_col, ok_col = _block(ev.post, conn.col_ptr, conn.col_perm, k, conn.max_col)
        ids = jnp.concatenate([by_row, by_col])
        ok = jnp.concatenate([ok_row, ok_col])
        safe, store = jnp.where(ok, ids, 0), jnp.where(ok, ids, nnz)
        sub = SynapseSubset(conn.rows[safe], conn.indices[safe], conn.n_pre, conn.n_post, safe, store)
        w = weights[safe]
        dw, state = self.rule.update(params, jnp.zeros_like(w), state, w, ev._replace(conn=sub))
        # a synapse listed twice (both of its neurons spiked) gets the same value twice
        return state, weights.at[store].set(w + dw, mode="drop")


class SynapseSubset(NamedTuple):
    """The synapses an event-driven update visits, as rules read a CSR: ``rows`` and
    ``indices`` (pre- and postsynaptic neuron of each); ``ids`` their synapse indices (for
    reading per-synapse state, :func:`~neurosim.plasticity.rules.visited`) and ``store`` the
    same with ``nnz`` at unused slots (for writing it back)."""

    rows: jax.Array
    indices: jax.Array
    n_pre: int
    n_post: int
    ids: jax.Array
    store: jax.Array


def _rungs(conn) -> tuple:
    """Capacities (spiking neurons per side) whose gathered blocks visit at most a quarter of
    the synapses; above them the dense form is cheaper."""
    n = max(conn.n_pre, conn.n_post)
    width = max(conn.max_row, 1) + max(conn.max_col, 1)
    return tuple(sorted({k for k in (8, 64, n // 8) if 0 < k < n and k * width <= conn.nnz / 4}))


def _block(spikes, ptr, perm, k: int, width: int):
    """The synapse ids of the first ``k`` spiking neurons, ``ptr[i]:ptr[i + 1]`` each (through
    ``perm`` when given), as a flat (k * width,) block with its validity mask."""
    n_spiking = jnp.sum(spikes > 0)
    (who,) = jnp.nonzero(spikes > 0, size=k, fill_value=0)
    start, stop = ptr[who], ptr[who + 1]
    offs = jnp.arange(max(width, 1), dtype=jnp.int32)
    pos = start[:, None] + offs[None, :]
    ok = (jnp.arange(k) < n_spiking)[:, None] & (pos < stop[:, None])
    pos = jnp.where(ok, pos, 0)
    ids = pos if perm is None else perm[pos]
    return ids.reshape(-1), ok.reshape(-1)
