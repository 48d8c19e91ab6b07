"""Figures for simulation results, drawn on the Agg canvas (never shown): rasters, rates,
voltage traces, spectra. Each function returns ``(figure, axes)``; every axis is labelled with
its unit. ``neurosim.plot.labels`` turns parameter paths and sweep measures into such labels.

``import neurosim`` does not import this module (nor matplotlib): ``ns.plot`` imports it on
first use."""
from neurosim.plot import labels
from neurosim.plot.figures import psd_plot, raster, raster_with_rate, rate_plot, voltage_traces

__all__ = ["raster", "rate_plot", "voltage_traces", "psd_plot", "raster_with_rate", "labels"]
