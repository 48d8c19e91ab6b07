"""Analysis of simulation results: spike statistics, spectra, LFP proxy, reservoir and liquid
diagnostics, readout taps.

Spikes are ``(times, ids)`` arrays for a population of ``n`` neurons recorded over
``[t_start, t_stop)``; time in ms, rates and frequencies in Hz.
"""
from . import liquid, taps
from .lfp import lfp_proxy, synaptic_currents
from .reservoir import (
    effective_spectral_radius, generalization_rank, kernel_quality, lyapunov_exponent, memory_capacity, narma10,
    nrmse, spectral_radius, state_rank,
)
from .spectra import AperiodicFit, aperiodic_exponent, population_psd, population_rate, psd_peak, welch
from .spikes import (
    bin_spikes, fano_factor, fano_factors, firing_rates, isi_cv, mean_isi_cv, mean_rate, spikes_from_raster,
    synchrony_chi, synchrony_chi_spikes,
)

__all__ = [
    "AperiodicFit", "aperiodic_exponent", "bin_spikes", "effective_spectral_radius", "fano_factor", "fano_factors",
    "firing_rates", "generalization_rank", "isi_cv", "kernel_quality", "lfp_proxy", "liquid", "lyapunov_exponent",
    "mean_isi_cv", "mean_rate", "memory_capacity", "narma10", "nrmse", "population_psd", "population_rate",
    "psd_peak", "spectral_radius", "spikes_from_raster", "state_rank", "synaptic_currents", "synchrony_chi",
    "synchrony_chi_spikes", "taps", "welch",
]
