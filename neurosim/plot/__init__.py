"""Figures for simulation results, drawn on the Agg canvas (never shown): rasters, rates,
voltage traces, spectra. Each function returns ``(figure, axes)``."""
from neurosim.plot.figures import psd_plot, raster, raster_with_rate, rate_plot, voltage_traces

__all__ = ["raster", "rate_plot", "voltage_traces", "psd_plot", "raster_with_rate"]
