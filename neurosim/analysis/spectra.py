"""Population rate and its power spectrum (Welch's method), in numpy on host data.

Units: time in ms, frequency and rates in Hz. Spike data follow the convention of
:mod:`neurosim.analysis.spikes`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

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


def _spectrum(freqs, psd):
    """``freqs`` and ``psd`` as float arrays, checked to be 1-D and of the same length."""
    freqs = np.asarray(freqs, dtype=float)
    psd = np.asarray(psd, dtype=float)
    if freqs.ndim != 1 or freqs.shape != psd.shape:
        raise ValueError(f"freqs and psd must be 1-D of the same length, got shapes {freqs.shape} and {psd.shape}")
    return freqs, psd


def psd_peak(freqs, psd, fmin=4.0, fmax=100.0, median_band=(4.0, 100.0)):
    """Largest peak of ``psd`` in ``[fmin, fmax]`` Hz: ``(f_peak_hz, power_ratio_to_median)``.

    The ratio is ``psd(f_peak) / median(psd over median_band)``, a scale-free prominence: about
    1 to a few for a flat (Poisson) spectrum, large for an oscillation. It is ``inf`` if the
    median is 0 but the peak is not, and NaN if both are 0.
    """
    freqs, psd = _spectrum(freqs, psd)
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


class AperiodicFit(NamedTuple):
    """The power law fitted by :func:`aperiodic_exponent`: ``log10 P = offset - chi log10 f``."""

    chi: float              # aperiodic exponent (P ~ 1 / f^chi; positive for a falling spectrum)
    offset: float           # log10 of the fitted power at 1 Hz, in log10([psd])
    freqs: np.ndarray       # (m,) the frequencies in [fmin, fmax] (Hz)
    kept: np.ndarray        # (m,) bool: the points of the final fit (False: dropped as a peak)
    residual_sd: float      # standard deviation of the kept points' log10 residuals
    n_iter: int             # fits done (1 when no point was dropped)

    def power(self, f):
        """The fitted power law at frequencies ``f`` (Hz), in the units of ``psd``."""
        return 10.0 ** (self.offset - self.chi * np.log10(np.asarray(f, dtype=float)))


def _line_fit(x, y):
    """Least-squares ``y = a + s x``: ``(a, s)``."""
    xm, ym = x.mean(), y.mean()
    s = np.sum((x - xm) * (y - ym)) / np.sum((x - xm) ** 2)
    return ym - s * xm, s


def aperiodic_exponent(freqs, psd, fmin, fmax, *, peak_threshold=2.0, max_iter=10):
    """Aperiodic ("1/f") exponent of a power spectrum on ``[fmin, fmax]`` Hz: ``(chi, fit)``.

    Fits the power law ``P(f) = 10^b / f^chi``, i.e. the line
    ``log10 P = b - chi log10 f``, by least squares over the points of ``psd`` with
    ``fmin <= f <= fmax``, so ``chi > 0`` for a spectrum that falls with frequency
    (``chi = 2`` for a Lorentzian far above its corner, the 30-50 Hz exponent of Gao,
    Peterson & Voytek 2017). Robust to narrow peaks (oscillations): after each fit the
    residuals ``r = log10 P - fit`` are scaled by their robust standard deviation
    ``sigma = 1.4826 median(|r - median(r)|)`` (of the points in the current fit) and the
    points with ``r > peak_threshold * sigma`` (far *above* the line: a peak; points below it
    are never dropped) are left out of the next fit; this repeats until the set of points no
    longer changes (at most ``max_iter`` fits) or fewer than half of them (or 3) would be left.
    A peak as wide as a large part of the band cannot be told from the aperiodic part and
    still biases ``chi``; choose a band that avoids strong oscillations, as Gao et al. did.

    ``freqs`` (Hz) and ``psd`` (any units) are 1-D arrays of equal length, e.g. from
    :func:`welch`; the power in the band must be positive and finite, and the band must hold
    at least 3 frequencies. Returns ``chi`` (float) and an :class:`AperiodicFit`.

    References: Gao, Peterson & Voytek, NeuroImage 158:70 (2017); the peak-rejecting
    aperiodic fit of Donoghue et al., Nat. Neurosci. 23:1655 (2020) (FOOOF), simplified.
    """
    freqs, psd = _spectrum(freqs, psd)
    fmin, fmax = float(fmin), float(fmax)
    if not (math.isfinite(fmin) and math.isfinite(fmax) and 0.0 < fmin < fmax):
        raise ValueError(f"need 0 < fmin < fmax (Hz), got fmin={fmin!r} and fmax={fmax!r}")
    peak_threshold = positive_finite("peak_threshold", peak_threshold)
    max_iter = count("max_iter", max_iter, minimum=1)
    band = (freqs >= fmin) & (freqs <= fmax)
    m = int(band.sum())
    if m < 3:
        raise ValueError(f"[fmin, fmax] = [{fmin!r}, {fmax!r}] Hz holds {m} frequencies of freqs; need at least 3")
    f, p = freqs[band], psd[band]
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError(f"psd must be positive and finite in [{fmin!r}, {fmax!r}] Hz to be fitted in log-log axes")
    x, y = np.log10(f), np.log10(p)
    kept = np.ones(m, dtype=bool)
    min_kept = max(3, (m + 1) // 2)
    n_iter = 0
    while True:
        b, s = _line_fit(x[kept], y[kept])
        n_iter += 1
        r = y - (b + s * x)
        rk = r[kept]
        sigma = 1.4826 * np.median(np.abs(rk - np.median(rk)))
        # a floor at float64 rounding, so an exact power law keeps all of its points
        sigma = max(sigma, 1e-9 * max(1.0, float(np.max(np.abs(y)))))
        new = r <= peak_threshold * sigma
        if n_iter >= max_iter or np.array_equal(new, kept) or new.sum() < min_kept:
            break
        kept = new
    resid = r[kept]
    return float(-s), AperiodicFit(chi=float(-s), offset=float(b), freqs=f, kept=kept,
                                   residual_sd=float(np.std(resid)), n_iter=n_iter)


__all__ += ["AperiodicFit", "aperiodic_exponent"]
