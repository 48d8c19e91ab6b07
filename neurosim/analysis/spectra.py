"""Population rate and its power spectrum (Welch's method), in numpy on host data.

Units: time in ms, frequency and rates in Hz. Spike data follow the convention of
:mod:`neurosim.analysis.spikes`.
"""
from __future__ import annotations

import math

import numpy as np

from neurosim._checks import count, positive_finite
from neurosim.analysis.spikes import _bin_index, _check_spikes, _check_window, _n_bins

__all__ = ["population_rate", "welch", "population_psd", "psd_peak"]


def _population_counts(times, ids, n, t_start, t_stop, bin_ms):
    """Spikes of the whole population per bin, shape (T,), and the validated n, bin_ms."""
    times, ids, n = _check_spikes(times, ids, n)
    t_start, t_stop = _check_window(t_start, t_stop)
    bin_ms = positive_finite("bin_ms", bin_ms)
    n_bins = _n_bins(t_start, t_stop, bin_ms)
    k, keep = _bin_index(times, t_start, bin_ms, n_bins)
    return np.bincount(k[keep], minlength=n_bins).astype(float), n, t_start, bin_ms


def _gaussian_smooth(x: np.ndarray, sigma_bins: float) -> np.ndarray:
    """Convolve with a unit-area Gaussian (truncated at 4 sigma), renormalised at the edges so a
    constant signal stays constant."""
    half = min(int(math.ceil(4.0 * sigma_bins)), x.size - 1)
    j = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (j / sigma_bins) ** 2)
    centre = slice(half, half + x.size)
    num = np.convolve(x, kernel, mode="full")[centre]
    den = np.convolve(np.ones_like(x), kernel, mode="full")[centre]
    return num / den


def population_rate(times, ids, n, t_start, t_stop, bin_ms, smooth_ms=None):
    """Population-averaged instantaneous rate, ``(t_centers_ms, rate_hz)``, each of shape ``(T,)``.

    ``r(t_k) = N_k / (n * bin_ms)`` with ``N_k`` the spikes of all ``n`` neurons in bin ``k``
    (bins as in :func:`~neurosim.analysis.spikes.bin_spikes`) and ``bin_ms`` in seconds. With
    ``smooth_ms`` the rate is convolved with a Gaussian of standard deviation ``smooth_ms``
    (truncated at 4 sd, renormalised near the edges of the window) (Dayan & Abbott,
    *Theoretical Neuroscience*, 2001, sec. 1.2).
    """
    counts, n, t_start, bin_ms = _population_counts(times, ids, n, t_start, t_stop, bin_ms)
    rate = counts / (n * bin_ms * 1e-3)
    if smooth_ms is not None:
        rate = _gaussian_smooth(rate, positive_finite("smooth_ms", smooth_ms) / bin_ms)
    t_centers = t_start + (np.arange(counts.size) + 0.5) * bin_ms
    return t_centers, rate


def welch(x, fs_hz, nperseg):
    """One-sided power spectral density of ``x`` by Welch's method, ``(freqs_hz, psd)``.

    ``x`` is cut into segments of ``nperseg`` samples overlapping by ``nperseg // 2``; each
    segment has its mean removed and is multiplied by the periodic Hann window
    ``w[m] = 1/2 - 1/2 cos(2 pi m / nperseg)``. With ``X_s`` the DFT of segment ``s``,
    ``P(f) = c_f / (S fs sum_m w[m]^2) sum_s |X_s(f)|^2`` where ``c_f = 2`` except at 0 Hz and
    (for even ``nperseg``) the Nyquist frequency, where it is 1. Units: ``[x]^2 / Hz``.
    Same conventions as ``scipy.signal.welch`` with its defaults (Welch, IEEE Trans. Audio
    Electroacoust. 15:70, 1967).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x must be finite")
    fs_hz = positive_finite("fs_hz", fs_hz)
    nperseg = count("nperseg", nperseg, minimum=2)
    if nperseg > x.size:
        raise ValueError(f"nperseg must be <= len(x) = {x.size}, got {nperseg}")
    step = nperseg - nperseg // 2
    n_seg = (x.size - nperseg) // step + 1
    segments = x[np.arange(n_seg)[:, None] * step + np.arange(nperseg)]
    segments = segments - segments.mean(axis=1, keepdims=True)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nperseg) / nperseg)
    power = np.abs(np.fft.rfft(segments * window, axis=1)) ** 2 / (fs_hz * np.sum(window**2))
    if nperseg % 2 == 0:
        power[:, 1:-1] *= 2.0
    else:
        power[:, 1:] *= 2.0
    return np.fft.rfftfreq(nperseg, d=1.0 / fs_hz), power.mean(axis=0)


def population_psd(times, ids, n, t_start, t_stop, bin_ms=1.0, nperseg=None):
    """Power spectrum of the population spike count, ``(freqs_hz, psd)``.

    :func:`welch` applied to ``N_k``, the spikes of all ``n`` neurons per bin of ``bin_ms``
    (sampling frequency ``1000 / bin_ms`` Hz); units ``spikes^2 / Hz`` per bin. ``nperseg``
    defaults to 1 s of bins (1 Hz resolution), or the whole window if shorter.
    """
    counts, n, t_start, bin_ms = _population_counts(times, ids, n, t_start, t_stop, bin_ms)
    if counts.size < 2:
        raise ValueError(f"bin_ms={bin_ms!r} ms leaves fewer than 2 bins in the window")
    if nperseg is None:
        nperseg = min(counts.size, max(2, int(round(1000.0 / bin_ms))))
    return welch(counts, 1000.0 / bin_ms, nperseg)


def psd_peak(freqs, psd, fmin=4.0, fmax=100.0, median_band=(4.0, 100.0)):
    """Largest peak of ``psd`` in ``[fmin, fmax]`` Hz: ``(f_peak_hz, power_ratio_to_median)``.

    The ratio is ``psd(f_peak) / median(psd over median_band)``, a scale-free prominence: about
    1 to a few for a flat (Poisson) spectrum, large for an oscillation. It is ``inf`` if the
    median is 0 but the peak is not, and NaN if both are 0.
    """
    freqs = np.asarray(freqs, dtype=float)
    psd = np.asarray(psd, dtype=float)
    if freqs.ndim != 1 or freqs.shape != psd.shape:
        raise ValueError(
            f"freqs and psd must be 1-D of the same length, got shapes {freqs.shape} and {psd.shape}"
        )
    fmin, fmax = float(fmin), float(fmax)
    if not fmin < fmax:
        raise ValueError(f"fmin must be less than fmax, got fmin={fmin!r} Hz and fmax={fmax!r} Hz")
    in_range = (freqs >= fmin) & (freqs <= fmax)
    if not np.any(in_range):
        raise ValueError(f"no frequency in [fmin, fmax] = [{fmin!r}, {fmax!r}] Hz")
    lo, hi = (float(f) for f in median_band)
    in_band = (freqs >= lo) & (freqs <= hi)
    if not np.any(in_band):
        raise ValueError(f"no frequency in median_band = ({lo!r}, {hi!r}) Hz")
    i = int(np.flatnonzero(in_range)[np.argmax(psd[in_range])])
    peak, median = float(psd[i]), float(np.median(psd[in_band]))
    if median > 0:
        ratio = peak / median
    else:
        ratio = math.inf if peak > 0 else math.nan
    return float(freqs[i]), ratio
