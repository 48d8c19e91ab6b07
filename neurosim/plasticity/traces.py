"""Spike traces: the per-neuron memory of recent spikes that STDP rules read.

A trace ``x`` of time constant ``tau`` (ms) decays between spikes and jumps at a spike::

    dx/dt = -x / tau
    all_to_all:  x <- x + 1   at a spike   (every earlier spike of the train counts)
    nearest:     x <- 1       at a spike   (only the most recent spike counts)

One step of ``dt`` is exact: ``x <- x exp(-dt / tau)``, then the jump for this step's spikes.
A trace per *neuron* (not per synapse) is all that pair and triplet STDP need, because every
synapse of a neuron sees the same spike train; so their state is O(neurons), and the weight
change at a spike reads one trace per synapse of the spiking neuron.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def decay(x, tau, dt):
    """``x exp(-dt / tau)``: one step of free decay."""
    return x * jnp.exp(-dt / tau)


def jump(x, spikes, kind: str):
    """The trace after this step's ``spikes`` (0/1, or surrogate floats): ``x + s`` for
    ``all_to_all``, ``x (1 - s) + s`` (1 at a spike) for ``nearest``."""
    if kind == "all_to_all":
        return x + spikes
    return x * (1.0 - spikes) + spikes


def step(x, spikes, tau, dt, kind: str):
    """Decay over one step, then the jump for this step's spikes."""
    return jump(decay(x, tau, dt), spikes, kind)


def rounded(x):
    """``x`` as computed: a value XLA may not fuse into the operation that reads it (no
    multiply-add), so that the compiled engines, which round every product, perform exactly
    these operations."""
    return jax.lax.optimization_barrier(x)
