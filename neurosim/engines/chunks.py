"""What every engine's runner brings back, and how its compiled chunks are keyed: shared by the
driver (:func:`neurosim.network.simulate.drive`) and every runner, so no engine imports another
or the driver to speak to it."""
from __future__ import annotations

import math
import mmap
from functools import reduce
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..network.monitors import OBSERVERS, Observe, SpikeEvents, Weights


# Trace and Weights monitors a compiled engine reads from the state between its calls: every
# that many steps at least (a call per sample is the cost)
MIN_SAMPLE_STEPS = 100


def sample_due(end, every: int, n_steps: int):
    """Whether a sampled monitor (Trace, Weights) of period ``every`` records the state after
    ``end`` steps of a run of ``n_steps``: at the end of each window of ``every`` steps and at
    the end of the run. ``end`` may be an array of step counts."""
    return (end % every == 0) | (end == n_steps)


def sampling_chunk(chunk: int, every: list) -> int:
    """The chunk length (at most ``chunk`` steps) that puts a chunk end on every sample of
    monitors sampling every ``every`` steps, read at chunk ends: ``g`` (the gcd of ``every``)
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
    spikes: dict     # population -> (step, neuron) int32 arrays
    rates: dict      # population -> (steps,) float32, Hz
    sampled: dict    # Trace/Weights key -> (steps into the chunk after which the state was read, values)
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
    expanded, so the host never holds a dense (n_steps, n) raster. Both int32 (a chunk's steps
    and a population's neurons are far below 2**31)."""
    bits = np.asarray(bits)
    if bits.ndim != 2 or bits.dtype.kind != "u":
        raise ValueError(f"bits must be a 2-D array of unsigned words (n_steps, words), got {bits.dtype} {bits.shape}")
    bits = np.ascontiguousarray(bits, dtype=bits.dtype.newbyteorder("<"))
    width = 8 * bits.dtype.itemsize
    k, w = np.nonzero(bits)
    flags = np.unpackbits(bits[k, w].view(np.uint8), bitorder="little")
    (hit,) = np.nonzero(flags)
    word, bit = np.divmod(hit, width)
    return k[word].astype(np.int32), (w[word] * width + bit).astype(np.int32)


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


class GrowingArray:
    """A 1-D array appended to at its end without ever copying what it holds: an anonymous memory
    map resized in place (``mremap`` on Linux: the pages are remapped, not copied, and the spare
    capacity is address space, not memory, until written; capacity doubles), or, where a map
    cannot be resized, a bigger map and one copy. :meth:`array` hands out the contents, after
    which it takes no more; a small record (under ``SMALL`` bytes) is copied into an ordinary
    array and its map closed, as maps are a finite resource."""

    SMALL = 1 << 20

    def __init__(self, dtype):
        self.dtype, self.n = np.dtype(dtype), 0
        self._map, self._out = _anonymous_map(self.SMALL), None

    def extend(self, values) -> None:
        if self._out is not None:
            raise RuntimeError("GrowingArray: its contents were handed out (array) and it takes no more")
        values = np.ascontiguousarray(values, self.dtype)
        k = self.dtype.itemsize
        need = (self.n + values.size) * k
        if need > len(self._map):
            self._grow(max(need, 2 * len(self._map)))
        np.frombuffer(self._map, self.dtype, values.size, self.n * k)[:] = values   # a view, freed at once
        self.n += values.size

    def _grow(self, size: int) -> None:
        try:
            self._map.resize(size)
        except (OSError, ValueError, TypeError, SystemError):   # no in-place resize here: copy once
            bigger = _anonymous_map(size)
            bigger[:self.n * self.dtype.itemsize] = self._map[:self.n * self.dtype.itemsize]
            self._map.close()
            self._map = bigger

    def array(self) -> np.ndarray:
        """What it holds: a view of the map (a copy when small); it then takes no more."""
        if self._out is None:
            nbytes = self.n * self.dtype.itemsize
            if nbytes < self.SMALL:
                self._out = np.frombuffer(self._map, self.dtype, self.n).copy()
                self._map.close()
            else:
                try:             # give back the spare capacity (only what was written is memory anyway)
                    self._map.resize(nbytes)
                except (OSError, ValueError, TypeError, SystemError):
                    pass
                self._out = np.frombuffer(self._map, self.dtype, self.n)   # the array keeps the map alive
            self._map = None
        return self._out


def _anonymous_map(size: int) -> mmap.mmap:
    if hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS"):
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return mmap.mmap(-1, size)


class SpikeBuffer:
    """The spikes of one population as a run goes, for :class:`SpikeEvents`: per spike its global
    step index (int32; int64 past 2**31 steps) and its neuron id (int32), appended chunk by chunk
    to two :class:`GrowingArray` s, so a long run holds 8 bytes a spike, keeps no chunk's arrays,
    and never holds a second copy (no concatenation at the end, no copy when the record grows).
    ``last_step``: the largest step index the run can reach."""

    def __init__(self, last_step: int):
        self._steps = GrowingArray(np.int32 if last_step < 2**31 else np.int64)
        self._ids = GrowingArray(np.int32)
        self._events = None

    def append(self, first_step: int, steps, ids) -> None:
        """A chunk's spikes: ``steps`` relative to its first step, the global step ``first_step``."""
        if self._events is not None:
            raise RuntimeError("SpikeBuffer: the record was handed out (events) and takes no more spikes")
        self._steps.extend(np.asarray(steps, np.int64) + first_step)
        self._ids.extend(ids)

    def __len__(self) -> int:
        return self._ids.n

    def events(self, dt: float) -> SpikeEvents:
        """The spikes recorded, as read-only arrays (the buffer then takes no more)."""
        if self._events is None:
            n = min(self._steps.n, self._ids.n)    # equal, unless Ctrl-C fell between the two appends
            self._events = SpikeEvents(self._steps.array()[:n], self._ids.array()[:n], dt)
        return self._events
