"""What a sweep measures, reduced on the device while the network runs: no spike leaves it.

Per population, the run accumulates (in the scan's carry, a few numbers per neuron, all
elementwise):

- spike counts, and the inter-spike intervals' count, sum and sum of squares;
- per-neuron counts in bins of ``bin_ms``: their sum and sum of squares (Fano factors,
  synchrony), and the population's count per bin of ``bin_ms`` and of ``psd_bin_ms`` (short
  series of whole numbers);

and brings those home (not the spikes), where :func:`finish` reduces them in float64: so a row
is bitwise the same whatever the batch size, the number of devices or of processes. Per
instance and population:

==========  ==========================================================================================
rate        mean firing rate, Hz: sum_i count_i / (n T)
cv          mean over neurons with >= 3 spikes of std(ISI_i) / mean(ISI_i) (ddof 0; NaN if none)
fano        mean over neurons that spiked of Var(N_i) / E[N_i] of the counts in bins of bin_ms (ddof 1)
synchrony   chi = sqrt(Var(mean_i N_i) / mean_i Var(N_i)) of the same binned counts (Golomb 2007)
psd_peak    frequency (Hz) of the largest peak in 4-100 Hz of the population count's Welch spectrum
==========  ==========================================================================================

These are the estimators of :mod:`neurosim.analysis` (``mean_rate``, ``mean_isi_cv``,
``fano_factor``, ``synchrony_chi``, ``population_psd`` + ``psd_peak``) computed from running
sums; the tests check them against those functions on the recorded spikes. Plastic projections
add ``weights_mean`` (their mean final weight), and ``reduce(final_state) -> {name: scalar}`` a
user's own measure, evaluated on the device.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

MEASURES = ("rate", "cv", "fano", "synchrony", "psd_peak")


class Acc(NamedTuple):
    """Running sums of one population, each (n,): elementwise, so they are the same whatever
    the batch size or the number of devices."""

    count: jax.Array
    last: jax.Array        # step of the last spike (-1: none yet)
    isi_n: jax.Array
    isi_sum: jax.Array
    isi_sq: jax.Array
    bin_now: jax.Array     # this bin's count so far
    bin_sum: jax.Array
    bin_sq: jax.Array


def init(n: int, dtype) -> Acc:
    z = jnp.zeros((n,), dtype)
    return Acc(z, jnp.full((n,), -1, jnp.int32), z, z, z, z, z, z)


def on_step(acc: Acc, s, t, dt: float) -> Acc:
    """After step ``t`` (int32) with spikes ``s`` (n,)."""
    spiked = s > 0
    has_last = spiked & (acc.last >= 0)
    isi = jnp.where(has_last, (t - acc.last).astype(s.dtype) * dt, 0.0)
    return acc._replace(count=acc.count + s, last=jnp.where(spiked, t, acc.last),
                        isi_n=acc.isi_n + has_last.astype(s.dtype), isi_sum=acc.isi_sum + isi,
                        isi_sq=acc.isi_sq + isi * isi, bin_now=acc.bin_now + s)


def on_bin(acc: Acc):
    """At the end of a bin of ``bin_ms``: the accumulator and the population's count in the bin
    (a sum of whole numbers, exact in any order)."""
    c = acc.bin_now
    return acc._replace(bin_now=jnp.zeros_like(c), bin_sum=acc.bin_sum + c, bin_sq=acc.bin_sq + c * c), jnp.sum(c)


SUMS = ("count", "isi_n", "isi_sum", "isi_sq", "bin_sum", "bin_sq")


def finish(sums: dict, coarse: np.ndarray, duration_ms: float) -> dict:
    """The scalar measures of one instance's population, on the host in float64, from its
    running sums ``sums[name]`` (n,) and its population count per bin ``coarse`` (n_bins,)."""
    s = {k: np.asarray(v, np.float64) for k, v in sums.items()}
    n, n_bins = s["count"].shape[0], coarse.shape[0]
    rate = float(np.sum(s["count"]) / (n * duration_ms / 1000.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = s["isi_n"] >= 2                                     # >= 3 spikes
        mean_isi = np.where(ok, s["isi_sum"] / np.maximum(s["isi_n"], 1), 0.0)
        var_isi = np.maximum(s["isi_sq"] / np.maximum(s["isi_n"], 1) - mean_isi ** 2, 0.0)
        ok &= mean_isi > 0
        cv = float(np.mean(np.sqrt(var_isi[ok]) / mean_isi[ok])) if np.any(ok) else float("nan")
        mean_c = s["bin_sum"] / n_bins
        var_c = np.maximum((s["bin_sq"] - n_bins * mean_c ** 2) / max(n_bins - 1, 1), 0.0)
        spiking = mean_c > 0
        fano = float(np.mean(var_c[spiking] / mean_c[spiking])) if np.any(spiking) else float("nan")
        # synchrony of the binned counts, variances over bins with ddof 0, as analysis.synchrony_chi
        mean_var = float(np.mean(np.maximum(s["bin_sq"] / n_bins - mean_c ** 2, 0.0)))
        var_pop = float(np.var(np.asarray(coarse, np.float64) / n))
        chi = float(np.sqrt(var_pop / mean_var)) if mean_var > 0 else float("nan")
    return {"rate": rate, "cv": cv, "fano": fano, "synchrony": chi}


def psd_peak_hz(series: np.ndarray, psd_bin_ms: float) -> float:
    """The peak frequency in 4-100 Hz of a population-count series' Welch spectrum (1-s segments,
    or the whole series), NaN if the series is too short or flat."""
    from ..analysis.spectra import psd_peak, welch

    fs = 1000.0 / psd_bin_ms
    nperseg = min(series.size, max(2, int(round(fs))))
    if series.size < 2 or fs / 2 < 4.0 or not np.any(series != series[0]):
        return float("nan")
    freqs, psd = welch(series, fs, nperseg)
    try:
        return psd_peak(freqs, psd, 4.0, min(100.0, fs / 2), (4.0, min(100.0, fs / 2)))[0]
    except ValueError:
        return float("nan")


def check_measures(measures) -> tuple:
    measures = tuple(measures)
    bad = [m for m in measures if m not in MEASURES]
    if bad or not measures:
        raise ValueError(f"measures must be a non-empty subset of {MEASURES}, got {measures!r}")
    return measures
