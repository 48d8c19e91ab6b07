"""Spike-train statistics: binning, firing rates, ISI CV, Fano factor, synchrony chi.

Everything here is plain numpy and runs on results already pulled to the host (not jit).

Spike data convention (shared across neurosim)
----------------------------------------------
A population of ``n`` neurons recorded over the window ``[t_start, t_stop)`` (ms) is two 1-D
arrays of equal length: ``times`` (float, ms) and ``ids`` (int, ``0 <= id < n``). Spikes outside
the window are ignored by every windowed statistic. A binned raster of shape ``(T, n)`` with bin
width ``dt_ms`` (bool or counts, e.g. the spike monitor of a simulation) converts to this form
with :func:`spikes_from_raster`; :func:`bin_spikes` goes the other way.

Units: time in ms, rates in Hz.
"""
from __future__ import annotations

import math

import numpy as np

from neurosim._checks import count, positive_finite

__all__ = [
    "bin_spikes",
    "spikes_from_raster",
    "firing_rates",
    "mean_rate",
    "isi_cv",
    "mean_isi_cv",
    "fano_factors",
    "fano_factor",
    "synchrony_chi",
    "synchrony_chi_spikes",
]


# --------------------------------------------------------------------------- argument checks


def _check_window(t_start, t_stop) -> tuple[float, float]:
    for name, value in (("t_start", t_start), ("t_stop", t_stop)):
        try:
            ok = math.isfinite(float(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{name} must be a finite time in ms, got {name}={value!r}")
    t_start, t_stop = float(t_start), float(t_stop)
    if t_stop <= t_start:
        raise ValueError(
            f"t_stop must be greater than t_start, got t_start={t_start!r} ms and t_stop={t_stop!r} ms"
        )
    return t_start, t_stop


def _check_spikes(times, ids, n) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate the (times, ids, n) triple; return float64 times, int64 ids and int n."""
    n = count("n", n, minimum=1)
    times = np.asarray(times, dtype=float)
    ids = np.asarray(ids)
    if times.ndim != 1:
        raise ValueError(f"times must be a 1-D array of spike times in ms, got shape {times.shape}")
    if ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D array of neuron indices, got shape {ids.shape}")
    if times.size != ids.size:
        raise ValueError(
            f"times and ids must have the same length, got len(times)={times.size} and len(ids)={ids.size}"
        )
    if not np.all(np.isfinite(times)):
        i = int(np.flatnonzero(~np.isfinite(times))[0])
        raise ValueError(f"times must be finite, got times[{i}]={times[i]!r}")
    if ids.size == 0:
        return times, np.zeros(0, dtype=np.int64), n
    if ids.dtype.kind == "f" and np.all(np.isfinite(ids)) and np.all(ids == np.round(ids)):
        ids = ids.astype(np.int64)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"ids must be integer neuron indices, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    bad = (ids < 0) | (ids >= n)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"ids must lie in [0, n) = [0, {n}), got ids[{i}]={int(ids[i])}")
    return times, ids, n


def _n_bins(t_start: float, t_stop: float, bin_ms: float) -> int:
    """Whole bins of width bin_ms in the window; a partial last bin is dropped."""
    n_bins = int(math.floor((t_stop - t_start) / bin_ms + 1e-9))
    if n_bins < 1:
        raise ValueError(
            f"bin_ms={bin_ms!r} ms is longer than the recording window t_stop - t_start = "
            f"{t_stop - t_start!r} ms"
        )
    return n_bins


def _bin_index(times: np.ndarray, t_start: float, bin_ms: float, n_bins: int):
    """Bin index of each spike (bins are half-open) and the mask of spikes inside the bins."""
    k = np.floor((times - t_start) / bin_ms).astype(np.int64)
    # The quotient can round across an edge (t = 99.99999999999999 with bin_ms = 0.1 gives
    # 1000.0); the edges are t_start + k*bin_ms, so move k by one where it disagrees with them.
    k -= times < t_start + k * bin_ms
    k += times >= t_start + (k + 1) * bin_ms
    return k, (k >= 0) & (k < n_bins)


def _in_window(times: np.ndarray, t_start: float, t_stop: float) -> np.ndarray:
    return (times >= t_start) & (times < t_stop)


# --------------------------------------------------------------------------- binning


def bin_spikes(times, ids, n, t_start, t_stop, bin_ms) -> np.ndarray:
    """Spike counts per bin and neuron, shape ``(T, n)``, float64.

    Bin ``k`` covers ``[t_start + k*bin_ms, t_start + (k+1)*bin_ms)``;
    ``T = floor((t_stop - t_start) / bin_ms)``, so a partial last bin is dropped, as are spikes
    outside the bins.
    """
    times, ids, n = _check_spikes(times, ids, n)
    t_start, t_stop = _check_window(t_start, t_stop)
    bin_ms = positive_finite("bin_ms", bin_ms)
    n_bins = _n_bins(t_start, t_stop, bin_ms)
    k, keep = _bin_index(times, t_start, bin_ms, n_bins)
    flat = np.bincount(k[keep] * n + ids[keep], minlength=n_bins * n)
    return flat.reshape(n_bins, n).astype(float)


def spikes_from_raster(raster, dt_ms, t_start=0.0) -> tuple[np.ndarray, np.ndarray]:
    """Convert a binned raster of shape ``(T, n)`` (bool, or non-negative integer counts) to
    ``(times, ids)``.

    A spike in step ``k`` is placed at the centre of its bin, ``t_start + (k + 1/2) dt_ms``, so
    ``bin_spikes(*spikes_from_raster(r, dt), n, t_start, t_start + T*dt, dt)`` gives ``r`` back.
    The recording window of the result is ``[t_start, t_start + T*dt_ms)`` and ``n = r.shape[1]``.
    Times come out sorted ascending.
    """
    raster = np.asarray(raster)
    if raster.ndim != 2:
        raise ValueError(f"raster must have shape (T, n), got shape {raster.shape}")
    dt_ms = positive_finite("dt_ms", dt_ms)
    t_start = float(t_start)
    if not math.isfinite(t_start):
        raise ValueError(f"t_start must be a finite time in ms, got t_start={t_start!r}")
    if raster.dtype == bool:
        counts = raster.astype(np.int64)
    else:
        values = raster.astype(float)
        if not np.all(np.isfinite(values) & (values >= 0) & (values == np.round(values))):
            raise ValueError("raster must hold booleans or non-negative whole spike counts")
        counts = values.astype(np.int64)
    steps, neurons = np.nonzero(counts)
    repeats = counts[steps, neurons]
    steps, neurons = np.repeat(steps, repeats), np.repeat(neurons, repeats)
    return t_start + (steps + 0.5) * dt_ms, neurons.astype(np.int64)


# --------------------------------------------------------------------------- rates


def firing_rates(times, ids, n, t_start, t_stop) -> np.ndarray:
    """Firing rate of each neuron in Hz, shape ``(n,)``.

    ``r_i = N_i / (t_stop - t_start)`` with ``N_i`` the spikes of neuron ``i`` in
    ``[t_start, t_stop)`` and the duration converted to seconds (Dayan & Abbott, *Theoretical
    Neuroscience*, 2001, sec. 1.2).
    """
    times, ids, n = _check_spikes(times, ids, n)
    t_start, t_stop = _check_window(t_start, t_stop)
    counts = np.bincount(ids[_in_window(times, t_start, t_stop)], minlength=n)
    return counts / ((t_stop - t_start) * 1e-3)


def mean_rate(times, ids, n, t_start, t_stop) -> float:
    """Population-averaged firing rate in Hz: the mean of :func:`firing_rates` over all ``n``
    neurons, silent ones included."""
    return float(np.mean(firing_rates(times, ids, n, t_start, t_stop)))


# --------------------------------------------------------------------------- irregularity


def isi_cv(times, ids, n, min_spikes=3) -> np.ndarray:
    """Coefficient of variation of the inter-spike intervals of each neuron, shape ``(n,)``.

    ``CV_i = std(ISI_i) / mean(ISI_i)`` (population standard deviation, ``ddof=0``), over all
    spikes given. 0 for a perfectly regular train, 1 for a Poisson process (Softky & Koch,
    J. Neurosci. 13:334, 1993). NaN for neurons with fewer than ``min_spikes`` spikes (at least 2).
    """
    times, ids, n = _check_spikes(times, ids, n)
    min_spikes = count("min_spikes", min_spikes, minimum=2)
    order = np.lexsort((times, ids))
    t, i = times[order], ids[order]
    same = i[1:] == i[:-1]
    isi, owner = np.diff(t)[same], i[1:][same]
    n_isi = np.bincount(owner, minlength=n)
    ok = n_isi >= min_spikes - 1
    mean = np.zeros(n)
    mean[ok] = np.bincount(owner, weights=isi, minlength=n)[ok] / n_isi[ok]
    sq_dev = np.bincount(owner, weights=(isi - mean[owner]) ** 2, minlength=n)
    ok &= mean > 0
    cv = np.full(n, np.nan)
    cv[ok] = np.sqrt(sq_dev[ok] / n_isi[ok]) / mean[ok]
    return cv


def mean_isi_cv(times, ids, n, min_spikes=3) -> float:
    """Mean of :func:`isi_cv` over the neurons with at least ``min_spikes`` spikes.

    Returns NaN (without a warning) when no neuron qualifies.
    """
    cv = isi_cv(times, ids, n, min_spikes)
    ok = np.isfinite(cv)
    return float(np.mean(cv[ok])) if np.any(ok) else math.nan


def fano_factors(times, ids, n, t_start, t_stop, bin_ms) -> np.ndarray:
    """Fano factor of each neuron's spike count in bins of ``bin_ms``, shape ``(n,)``.

    ``F_i = Var[N_i] / E[N_i]`` over the ``T`` bins of :func:`bin_spikes` (unbiased variance,
    ``ddof=1``; needs ``T >= 2``). 0 for a regular train whose period divides ``bin_ms``, 1 for a
    Poisson process, ``CV^2`` for a renewal process with bins much longer than the mean ISI
    (Dayan & Abbott 2001, sec. 1.4). NaN for neurons with no spikes in the window.
    """
    counts = bin_spikes(times, ids, n, t_start, t_stop, bin_ms)
    if counts.shape[0] < 2:
        raise ValueError(
            f"bin_ms={bin_ms!r} ms leaves {counts.shape[0]} bin in the window; the Fano factor "
            "needs at least 2 bins"
        )
    mean = counts.mean(axis=0)
    var = counts.var(axis=0, ddof=1)
    ok = mean > 0
    ff = np.full(counts.shape[1], np.nan)
    ff[ok] = var[ok] / mean[ok]
    return ff


def fano_factor(times, ids, n, t_start, t_stop, bin_ms) -> float:
    """Mean of :func:`fano_factors` over the neurons that spiked; NaN (no warning) if none did."""
    ff = fano_factors(times, ids, n, t_start, t_stop, bin_ms)
    ok = np.isfinite(ff)
    return float(np.mean(ff[ok])) if np.any(ok) else math.nan


# --------------------------------------------------------------------------- synchrony


def synchrony_chi(traces) -> float:
    """Golomb's synchrony measure chi of ``traces`` with shape ``(T, n)``.

    With ``V(t) = (1/n) sum_i V_i(t)`` the population mean trace and variances taken over time,
    ``chi = sqrt( Var[V] / ((1/n) sum_i Var[V_i]) )``.
    1 for identical traces, about ``1/sqrt(n)`` for independent ones (Golomb & Rinzel, Physica D
    72:259, 1994; Golomb, Scholarpedia 2:1347, 2007). NaN (no warning) if every trace is constant.
    """
    x = np.asarray(traces, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"traces must have shape (T, n) with T >= 2 and n >= 1, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("traces must be finite")
    individual = float(np.mean(np.var(x, axis=0)))
    if individual == 0.0:
        return math.nan
    return math.sqrt(float(np.var(np.mean(x, axis=1))) / individual)


def _exp_filter(counts: np.ndarray, decay: float) -> np.ndarray:
    """y[k] = decay * y[k-1] + counts[k], y[-1] = 0, along axis 0."""
    out = np.empty_like(counts)
    acc = np.zeros(counts.shape[1:])
    for k in range(counts.shape[0]):
        acc = decay * acc + counts[k]
        out[k] = acc
    return out


def synchrony_chi_spikes(times, ids, n, t_start, t_stop, bin_ms, tau_ms) -> float:
    """:func:`synchrony_chi` of the spike trains filtered by an exponential kernel.

    Spikes are binned with :func:`bin_spikes`, then each train is filtered as
    ``x_i[k] = exp(-bin_ms/tau_ms) x_i[k-1] + N_i[k]`` (a trace with time constant ``tau_ms``),
    and chi is computed on ``x``. Memory is ``T * n`` floats; pass a subset of neurons for very
    large populations. NaN if no neuron spiked.
    """
    counts = bin_spikes(times, ids, n, t_start, t_stop, bin_ms)
    tau_ms = positive_finite("tau_ms", tau_ms)
    if counts.shape[0] < 2:
        raise ValueError(f"bin_ms={bin_ms!r} ms leaves fewer than 2 bins in the window")
    return synchrony_chi(_exp_filter(counts, math.exp(-float(bin_ms) / tau_ms)))
