"""Constraints are rules too: they edit the proposal ``dw`` so that ``w + dw`` obeys them.
Chain them last.

- :func:`clip_weights`: ``w + dw`` clipped to ``[w_min, w_max]``.
- :func:`dale`: every weight keeps the sign of its presynaptic neuron (Dale's law), i.e.
  ``w + dw`` clipped to ``[0, inf)`` or ``(-inf, 0]``.
- :func:`normalize_incoming`: each postsynaptic neuron's incoming weights are rescaled so they
  sum to ``total`` (the hard normalisation of von der Malsburg 1973 / Miller & MacKay 1994).

They carry no parameters and no state. ``clip_weights`` and ``dale`` are event-driven (they
change nothing where nothing was proposed, given weights that already obey them);
``normalize_incoming`` is not (it rescales every synapse of a neuron).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


from . import _checks
from .rules import Rule


def _stateless(name, edit, **kw) -> Rule:
    def update(p, dw, state, w, ev):
        return edit(w, dw, ev), ()

    # the tick is the update: in a periodic chain the constraint also edits what a tick proposes
    return Rule(name, (), lambda p, shape: (), update, tick=update, **kw)


def clip_weights(w_min=0.0, w_max=1.0) -> Rule:
    """Keep every weight in ``[w_min, w_max]``."""
    lo, hi = _checks.bounds("clip_weights", w_min, w_max)
    return _stateless(f"clip_weights({lo:g}, {hi:g})", lambda w, dw, ev: jnp.clip(w + dw, lo, hi) - w, bounds=(lo, hi),
                      event_driven=True, clip=(lo, hi))


def dale(sign) -> Rule:
    """Keep every weight's sign: ``sign=+1`` (excitatory: ``w >= 0``) or ``-1`` (inhibitory:
    ``w <= 0``), the same for every synapse of the projection."""
    if sign not in (1, -1):
        raise ValueError(f"dale: sign must be +1 (excitatory) or -1 (inhibitory), got {sign!r}")
    if sign > 0:
        return _stateless("dale(+1)", lambda w, dw, ev: jnp.maximum(w + dw, 0.0) - w, sign=1, event_driven=True)
    return _stateless("dale(-1)", lambda w, dw, ev: jnp.minimum(w + dw, 0.0) - w, sign=-1, event_driven=True)


def normalize_incoming(total) -> Rule:
    """Rescale each postsynaptic neuron's incoming weights (``w + dw``) to sum to ``total``
    (a neuron with no incoming weight, or a zero sum, is left as it is)."""
    total = _checks.finite("normalize_incoming", "total", total)

    def edit(w, dw, ev):
        new = w + dw
        cols, n_post = ev.conn.indices, ev.conn.n_post
        sums = jax.ops.segment_sum(new, cols, num_segments=n_post)
        scale = jnp.where(sums != 0, total / jnp.where(sums != 0, sums, 1.0), 1.0)
        return new * scale[cols] - w

    return _stateless(f"normalize_incoming({total:g})", edit, local=False)


