"""What every engine's runner brings back, and how its compiled chunks are keyed: shared by the
driver (:func:`neurosim.network.simulate.drive`) and every runner, so no engine imports another
or the driver to speak to it."""
from __future__ import annotations

import math
from functools import reduce
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..network.monitors import OBSERVERS, Observe, Weights


# Trace and Weights monitors a compiled engine reads from the state between its calls: every
# that many steps at least (a call per sample is the cost)
MIN_SAMPLE_STEPS = 100


def sampling_chunk(chunk: int, every: list) -> int:
    """The chunk length (at most ``chunk`` steps) that puts a chunk start on every sample of
    monitors sampling every ``every`` steps, read at chunk starts: ``g`` (the gcd of ``every``)
    or the largest divisor of ``g`` that fits."""
    g = reduce(math.gcd, every)
    k = -(-g // chunk)
    while g % k:
        k += 1
    return g // k


class Chunk(NamedTuple):
    """What an engine brings back to the host for one chunk of ``steps`` steps (step indices
    relative to the chunk's first step)."""

    steps: int
    spikes: dict     # population -> (step, neuron) int64 arrays
    rates: dict      # population -> (steps,) float32, Hz
    sampled: dict    # Trace/Weights key -> (step, values)
    observed: dict   # Observe/LFP key -> pytree, leading axis steps


def signature(params, state):
    """The structure, shapes and dtypes of ``(params, state)``: what a compiled chunk depends on."""
    leaves, tree = jax.tree.flatten((params, state))
    return tree, tuple((np.shape(x), str(jnp.result_type(x))) for x in leaves)


def describe_monitors(monitors):
    """The monitors as hashable data: what a compiled chunk records."""
    out = []
    for m in monitors:
        if isinstance(m, OBSERVERS):
            # Observe: the function itself (hashable; the cache keeps it alive, so its id is not
            # reused); LFP: its options
            if isinstance(m, Observe):
                out.append(("Observe", m.key, m.fn))
            else:
                synapses = m.synapses if m.synapses is None or isinstance(m.synapses, str) else tuple(m.synapses)
                out.append(("LFP", m.key, m.pop, synapses, m.v_hold))
            continue
        if isinstance(m, Weights):
            edges = m.edges()
            out.append(("Weights", m.proj, m.every, None if m.ids is None else tuple(np.asarray(m.ids).tolist()),
                        None if edges is None else tuple(edges.tolist())))
            continue
        out.append((type(m).__name__, m.pop, getattr(m, "var", None), getattr(m, "every", None),
                    None if getattr(m, "ids", None) is None else tuple(np.asarray(m.ids).tolist())))
    return tuple(out)


def spike_events(bits) -> tuple[np.ndarray, np.ndarray]:
    """``(step, neuron)`` of every set bit of ``bits`` (n_steps, words), sorted by step then
    neuron. The words are unsigned integers (uint8 or uint32) with bit ``b`` of word ``w``
    standing for neuron ``w * bits_per_word + b`` (little bit order). Only the nonzero words are
    expanded, so the host never holds a dense (n_steps, n) raster."""
    bits = np.asarray(bits)
    if bits.ndim != 2 or bits.dtype.kind != "u":
        raise ValueError(f"bits must be a 2-D array of unsigned words (n_steps, words), got {bits.dtype} {bits.shape}")
    bits = np.ascontiguousarray(bits, dtype=bits.dtype.newbyteorder("<"))
    width = 8 * bits.dtype.itemsize
    k, w = np.nonzero(bits)
    flags = np.unpackbits(bits[k, w].view(np.uint8), bitorder="little")
    (hit,) = np.nonzero(flags)
    word, bit = np.divmod(hit, width)
    return k[word].astype(np.int64), w[word].astype(np.int64) * width + bit


def spikes_and_rates(bits, steps: int, where: dict, spike_pops, rate_pops, dt: float):
    """The Spikes and Rate monitors' results of a chunk of ``steps`` steps from its spike bits
    (population ``p``'s neurons at bits ``where[p] = (offset, n)``): ``(spikes, rates)``, as the
    scan engine's chunks give them."""
    spikes, rates = {}, {}
    if bits is not None:
        step, neuron = spike_events(bits)
        for pop in set(spike_pops) | set(rate_pops):
            off, n = where[pop]
            keep = (neuron >= off) & (neuron < off + n)
            if pop in spike_pops:
                spikes[pop] = (step[keep], neuron[keep] - off)
            if pop in rate_pops:
                rates[pop] = np.bincount(step[keep], minlength=steps).astype(np.float32) / np.float32(n * dt * 1e-3)
    return spikes, rates
