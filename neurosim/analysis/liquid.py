"""Liquid (reservoir) diagnostics: the separation property and the branching factor.

**Separation** (Maass, Natschlaeger & Markram 2002, Fig. 2). Two input spike trains u, v are
compared by the distance of their Gaussian-filtered versions, per unit time,

    d(u, v) = (1 / L) int_0^L ( sum_i g(t - u_i) - sum_j g(t - v_j) )^2 dt,   g(s) = exp(-(s/tau)^2)

(tau = 5 ms, L the trains' duration; :func:`input_distance`, in closed form through the error
function), and the liquid's responses by the distance of their states (each neuron's spike
train filtered with exp(-t/30 ms), :mod:`neurosim.analysis.taps`),

    D(t) = (1 / n) sum_i ( x_i^u(t) - x_i^v(t) )^2        (:func:`state_distance`)

the mean squared difference over the ``n`` neurons (no square root, as Brian2's port does "to
match the numbers in the paper"; ``root=True`` takes it). A liquid *separates* when D(t),
averaged over many pairs (:func:`separation`), grows with d(u, v) and stays apart over time,
while the d = 0 curve (same input, different initial state) decays: fading memory.

**Branching factor** (Ivanov & Michmizos 2021, NALSM, their ``compute_branching_factor.py``):
descendants per ancestor. For every spike of neuron ``a`` at step ``t`` (an *ancestor*)::

    pre(t)  = spikes of a's presynaptic neurons in the steps [t - W, t)
    post(t) = spikes of a's postsynaptic neurons in the steps [t + o, t + o + W)
    ratio   = post(t) / max(pre(t), 1)

with ``W`` = ``window_ms`` (4 ms in NALSM) and ``o`` = ``offset_ms`` (one step in NALSM, whose
dt is 1 ms); the ratios are averaged over each neuron's spikes, then over the neurons that
spiked (:func:`branching_factor`). BF ~ 1 is "critical"; for a sparse cascade in which each
spike causes on average m spikes among its targets one step later, BF ~ m.

References: W. Maass, T. Natschlaeger and H. Markram, Neural Computation 14:2531-2560 (2002);
V. Ivanov and K. Michmizos, "Increasing liquid state machine performance with edge-of-chaos
dynamics organized by astrocyte-modulated plasticity", NeurIPS 2021 (arXiv:2111.01760);
J. M. Beggs and D. Plenz, J. Neurosci. 23:11167-11177 (2003) (the branching parameter).
"""
from __future__ import annotations

import math

import numpy as np

from neurosim._checks import positive_finite
from neurosim.events import CSR

__all__ = ["input_distance", "state_distance", "separation", "branching_factor"]


# --------------------------------------------------------------------------- input distance


def _erf(x):
    """erf, vectorised in numpy: Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 (math.erf would
    loop in Python over the pairs of spikes)."""
    x = np.asarray(x, float)
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return s * (1.0 - poly * np.exp(-a * a))


def _as_padded(trains, what):
    """(P, K) NaN-padded times and whether a single train was given."""
    if isinstance(trains, np.ndarray) or (isinstance(trains, (list, tuple)) and all(np.isscalar(x) for x in trains)):
        arr = np.asarray(trains, dtype=float)
        if arr.ndim == 1:
            return arr[None, :], True
        if arr.ndim == 2:
            return arr, False
        raise ValueError(f"input_distance: {what} must be a 1-D train or a 2-D (pairs, spikes) array, got shape {arr.shape}")
    rows = [np.asarray(t, float).ravel() for t in trains]     # a list of trains, one per pair
    out = np.full((len(rows), max([r.size for r in rows] + [1])), np.nan)
    for i, r in enumerate(rows):
        out[i, :r.size] = r
    return out, False


def input_distance(u, v, duration_ms, tau=5.0):
    """Maass et al.'s distance d(u, v) of two spike trains over [0, ``duration_ms``) (module
    docstring), in closed form: each pair of spikes contributes a Gaussian integral over
    [0, L), through erf (to 1.5e-7; d to ~1e-5 relative or better). ``u``, ``v``: 1-D arrays of
    spike times (ms) for one pair (returns a float), or 2-D arrays padded with NaN / lists of
    arrays, one row per pair (returns an array). Spikes must lie in [0, duration_ms)."""
    duration = positive_finite("duration_ms", duration_ms)
    tau = positive_finite("tau", tau)
    uu, single = _as_padded(u, "u")
    vv, _ = _as_padded(v, "v")
    if uu.shape[0] != vv.shape[0]:
        raise ValueError(f"input_distance: u and v must hold the same number of trains, got {uu.shape[0]} and {vv.shape[0]}")
    for name, x in (("u", uu), ("v", vv)):
        fin = x[np.isfinite(x)]
        if fin.size and (fin.min() < 0 or fin.max() >= duration):
            raise ValueError(f"input_distance: {name} has spike times outside [0, {duration!r}) ms "
                             f"(min {fin.min()!r}, max {fin.max()!r})")
    times = np.concatenate([uu, vv], axis=1)                            # (P, K)
    sign = np.concatenate([np.ones(uu.shape[1]), -np.ones(vv.shape[1])])
    valid = np.isfinite(times)
    t = np.where(valid, times, 0.0)
    w = np.where(valid, sign[None, :], 0.0)
    # int_0^L g(t - a) g(t - b) dt = exp(-(a - b)^2 / (2 tau^2)) * tau sqrt(pi/8)
    #                                * [erf(sqrt2 (L - m) / tau) + erf(sqrt2 m / tau)],  m = (a + b)/2
    a, b = t[:, :, None], t[:, None, :]
    m = 0.5 * (a + b)
    r2 = math.sqrt(2.0)
    kern = np.exp(-((a - b) ** 2) / (2 * tau**2)) * tau * math.sqrt(math.pi / 8.0) * (
        _erf(r2 * (duration - m) / tau) + _erf(r2 * m / tau))
    d = np.einsum("pi,pij,pj->p", w, kern, w) / duration
    d = np.maximum(d, 0.0)
    return float(d[0]) if single else d


# --------------------------------------------------------------------------- state distance


def state_distance(states_u, states_v, *, root: bool = False):
    """Mean over neurons (the last axis) of the squared state difference,
    ``mean_i (x_u[..., i] - x_v[..., i])^2``; with ``root=True`` its square root (the RMS
    difference). Shapes must match, e.g. ``(T, n)`` -> ``(T,)``. Works on numpy and jax
    arrays."""
    if np.shape(states_u) != np.shape(states_v):
        raise ValueError(f"state_distance: the two states must have the same shape, got {np.shape(states_u)} and "
                         f"{np.shape(states_v)}")
    if len(np.shape(states_u)) == 0:
        raise ValueError("state_distance: states must have a neuron axis (the last one)")
    diff = states_u - states_v
    d = (diff * diff).mean(axis=-1)
    return d ** 0.5 if root else d


def separation(states_u, states_v, *, root: bool = False):
    """Separation curve over pairs: ``states_u``, ``states_v`` of shape ``(P, T, n)`` (pair,
    sample time, neuron). Returns ``(mean, sem)`` over the ``P`` pairs of
    :func:`state_distance`, each of shape ``(T,)`` (sem = 0 for one pair). numpy."""
    su, sv = np.asarray(states_u, float), np.asarray(states_v, float)
    if su.ndim != 3:
        raise ValueError(f"separation: states must have shape (pairs, T, n), got {su.shape}")
    d = state_distance(su, sv, root=root)
    p = d.shape[0]
    sem = d.std(axis=0, ddof=1) / math.sqrt(p) if p > 1 else np.zeros(d.shape[1])
    return d.mean(axis=0), sem


# --------------------------------------------------------------------------- branching factor


def _adjacency(adjacency, n):
    """(indptr, indices) of the out-neighbours and of the in-neighbours."""
    if isinstance(adjacency, CSR):
        if (adjacency.n_pre, adjacency.n_post) != (n, n):
            raise ValueError(f"branching_factor: adjacency is {adjacency.n_pre} x {adjacency.n_post}, "
                             f"but the raster has {n} neurons")
        pre, post = np.asarray(adjacency.rows), np.asarray(adjacency.indices)
    else:
        a = np.asarray(adjacency)
        if a.shape != (n, n):
            raise ValueError(f"branching_factor: adjacency must be a CSR or an (n, n) matrix with n = {n} "
                             f"(a[i, j] != 0 for a synapse i -> j), got shape {a.shape}")
        pre, post = np.nonzero(a)

    def csr(src, dst):
        order = np.lexsort((dst, src))
        ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=ptr[1:])
        return ptr, dst[order]

    return csr(pre, post), csr(post, pre)


def _neighbour_sums(cum, steps, cells, ptr, nbr, start, stop):
    """For each event e: the spikes of the neighbours j of cells[e] in the steps
    [steps[e] + start, steps[e] + stop), from the cumulative counts ``cum`` ((T + 1, n))."""
    deg = ptr[cells + 1] - ptr[cells]
    ev = np.repeat(np.arange(cells.size), deg)
    first = np.repeat(ptr[cells], deg)
    within = np.arange(deg.sum()) - np.repeat(np.cumsum(deg) - deg, deg)
    j = nbr[first + within]
    t = steps[ev]
    vals = cum[t + stop, j] - cum[t + start, j]
    return np.bincount(ev, weights=vals, minlength=cells.size)


def branching_factor(raster, adjacency, dt, *, window_ms=4.0, offset_ms=None, t_range=None,
                     per_neuron: bool = False):
    """NALSM's branching factor of a spike raster (module docstring).

    ``raster``: ``(T, n)`` spikes per step (bool or counts; e.g. ``ns.run``'s output);
    ``adjacency``: the network's ``n x n`` connectivity (a :class:`~neurosim.events.CSR`, or a
    matrix with ``a[i, j] != 0`` for a synapse i -> j); ``dt`` (ms): the raster's step.
    ``window_ms``: W; ``offset_ms``: o, the gap between an ancestor and its descendants'
    window (default one step). ``t_range`` = (start, stop) ms: only ancestors in this window
    count (default: every spike whose two windows fit inside the raster). Returns the mean
    ratio (NaN when no ancestor qualifies), or with ``per_neuron=True`` also the ``(n,)``
    per-neuron means (NaN for neurons without ancestors)."""
    dt = positive_finite("dt", dt)
    r = np.asarray(raster)
    if r.ndim != 2:
        raise ValueError(f"branching_factor: raster must have shape (T, n), got {r.shape}")
    if r.size and (not np.all(np.isfinite(r)) or r.min() < 0):
        raise ValueError("branching_factor: raster must hold non-negative spike counts")
    n_steps, n = r.shape
    w = int(round(positive_finite("window_ms", window_ms) / dt))
    o = 1 if offset_ms is None else int(round(float(offset_ms) / dt))
    if w < 1 or o < 0:
        raise ValueError(f"branching_factor: window_ms must be at least one step and offset_ms >= 0, got "
                         f"{window_ms!r} and {offset_ms!r} ms with dt = {dt!r} ms")
    (out_ptr, out_nbr), (in_ptr, in_nbr) = _adjacency(adjacency, n)
    lo, hi = w, n_steps - o - w            # ancestors at steps [lo, hi] have complete windows
    if t_range is not None:
        a, b = (float(x) for x in t_range)
        if not (0.0 <= a < b <= n_steps * dt):
            raise ValueError(f"branching_factor: t_range must satisfy 0 <= start < stop <= {n_steps * dt!r} ms, got {t_range!r}")
        lo, hi = max(lo, int(math.ceil(a / dt - 1e-9))), min(hi, int(math.ceil(b / dt - 1e-9)) - 1)
    counts = r.astype(float)
    cum = np.zeros((n_steps + 1, n))
    np.cumsum(counts, axis=0, out=cum[1:])
    steps, cells = np.nonzero(counts)
    mult = counts[steps, cells]
    keep = (steps >= lo) & (steps <= hi)
    steps, cells, mult = steps[keep], cells[keep], mult[keep]
    if steps.size == 0:
        return (math.nan, np.full(n, math.nan)) if per_neuron else math.nan
    pre = _neighbour_sums(cum, steps, cells, in_ptr, in_nbr, -w, 0)          # steps [t - W, t)
    post = _neighbour_sums(cum, steps, cells, out_ptr, out_nbr, o, o + w)     # steps [t + o, t + o + W)
    ratio = post / np.maximum(pre, 1.0)
    tot = np.bincount(cells, weights=ratio * mult, minlength=n)
    num = np.bincount(cells, weights=mult, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        each = np.where(num > 0, tot / np.where(num > 0, num, 1.0), np.nan)
    bf = float(np.nanmean(each))
    return (bf, each) if per_neuron else bf
