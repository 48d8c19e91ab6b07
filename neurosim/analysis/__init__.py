"""Spike-train analysis on host (numpy) data: rates, irregularity, synchrony, spectra.

Spikes are ``(times, ids)`` arrays for a population of ``n`` neurons recorded over
``[t_start, t_stop)``; time in ms, rates and frequencies in Hz.
"""
from neurosim.analysis.spectra import population_psd, population_rate, psd_peak, welch
from neurosim.analysis.spikes import (
    bin_spikes,
    fano_factor,
    fano_factors,
    firing_rates,
    isi_cv,
    mean_isi_cv,
    mean_rate,
    spikes_from_raster,
    synchrony_chi,
    synchrony_chi_spikes,
)

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
    "population_rate",
    "welch",
    "population_psd",
    "psd_peak",
]
