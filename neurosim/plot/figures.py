"""Figures for simulation results: spike rasters, rates, voltage traces, spectra.

Figures are built on the Agg canvas directly (``matplotlib.figure.Figure``), never through
``pyplot``: nothing is shown, no global figure registry fills up, and the caller's backend is
left alone. Each function draws into ``ax`` when given, otherwise into a new figure, and returns
``(figure, axes)``. Units: time in ms, rates and frequencies in Hz, voltages in mV.
"""
from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neurosim._checks import count, positive_finite
from neurosim.analysis.spectra import population_rate

__all__ = ["raster", "rate_plot", "voltage_traces", "psd_plot", "raster_with_rate"]


def _new_figure(figsize=(6.4, 4.0)) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _figure_and_axes(ax, figsize=(6.4, 4.0)):
    if ax is not None:
        return ax.figure, ax
    fig = _new_figure(figsize)
    return fig, fig.add_subplot()


def raster(
    times,
    ids,
    ax=None,
    *,
    t_start=None,
    t_stop=None,
    color="k",
    marker_size=2.0,
    max_points=200_000,
    id_offset=0,
    label=None,
    seed=0,
):
    """Spike raster: one dot per spike at ``(time_ms, id + id_offset)``.

    Only spikes in ``[t_start, t_stop)`` are drawn (either bound may be None). If more than
    ``max_points`` remain, a uniform random subset of ``max_points`` (fixed ``seed``) is drawn so
    very large rasters stay fast to render. Returns ``(figure, axes)``; the dots are the
    ``PathCollection`` added to ``ax.collections``.
    """
    times = np.asarray(times, dtype=float)
    ids = np.asarray(ids)
    if times.ndim != 1 or times.shape != ids.shape:
        raise ValueError(
            f"times and ids must be 1-D of the same length, got shapes {times.shape} and {ids.shape}"
        )
    max_points = count("max_points", max_points, minimum=1)
    keep = np.ones(times.shape, dtype=bool)
    if t_start is not None:
        keep &= times >= t_start
    if t_stop is not None:
        keep &= times < t_stop
    times, ids = times[keep], ids[keep]
    if times.size > max_points:
        pick = np.sort(np.random.default_rng(seed).choice(times.size, max_points, replace=False))
        times, ids = times[pick], ids[pick]
    fig, ax = _figure_and_axes(ax)
    ax.scatter(
        times, ids + id_offset, s=marker_size, color=color, marker=".", linewidths=0,
        label=label, rasterized=True,
    )
    if t_start is not None or t_stop is not None:
        ax.set_xlim(t_start, t_stop)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    return fig, ax


def rate_plot(t, rate, ax=None, *, color=None, label=None):
    """Line plot of a rate (Hz) against time (ms). Returns ``(figure, axes)``."""
    fig, ax = _figure_and_axes(ax)
    ax.plot(np.asarray(t), np.asarray(rate), color=color, label=label, linewidth=1.0)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (Hz)")
    return fig, ax


def voltage_traces(t, v, ids=None, ax=None):
    """Membrane potential traces: ``v`` of shape ``(T, k)`` (mV) against ``t`` of shape ``(T,)``
    (ms), one line per column, labelled ``neuron <id>`` (``ids`` default ``0..k-1``); a legend is
    drawn for up to 10 traces. Returns ``(figure, axes)``."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or t.shape != (v.shape[0],):
        raise ValueError(f"v must have shape (T, k) with T = len(t) = {t.size}, got shape {v.shape}")
    ids = np.arange(v.shape[1]) if ids is None else np.asarray(ids)
    if ids.shape != (v.shape[1],):
        raise ValueError(f"ids must have one entry per column of v ({v.shape[1]}), got shape {ids.shape}")
    fig, ax = _figure_and_axes(ax)
    for column, neuron in zip(v.T, ids):
        ax.plot(t, column, linewidth=1.0, label=f"neuron {neuron}")
    if v.shape[1] <= 10:
        ax.legend(loc="upper right", fontsize="small")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("V (mV)")
    return fig, ax


def psd_plot(freqs, psd, ax=None, *, fmax=None, log=True, color=None, label=None):
    """Power spectral density against frequency (Hz), log power axis by default, up to ``fmax``
    Hz when given. Returns ``(figure, axes)``."""
    freqs = np.asarray(freqs, dtype=float)
    psd = np.asarray(psd, dtype=float)
    if freqs.shape != psd.shape:
        raise ValueError(f"freqs and psd must have the same shape, got {freqs.shape} and {psd.shape}")
    fig, ax = _figure_and_axes(ax)
    ax.plot(freqs, psd, color=color, label=label, linewidth=1.0)
    if log:
        ax.set_yscale("log")
    if fmax is not None:
        ax.set_xlim(0.0, positive_finite("fmax", fmax))
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("PSD")
    return fig, ax


def raster_with_rate(
    times_by_pop,
    t_start,
    t_stop,
    bin_ms,
    path=None,
    *,
    smooth_ms=None,
    colors=None,
    marker_size=2.0,
    max_points=200_000,
    figsize=(8.0, 6.0),
):
    """Raster of several populations stacked above a panel of their population rates.

    ``times_by_pop`` maps a name to ``(times, ids, n)``. Populations are stacked in the order
    given, the first at the bottom (pass ``{"E": ..., "I": ...}`` for E below I), each in its own
    colour (``colors[name]`` or the default colour cycle) with ``max_points`` dots at most. The
    lower panel shows each population's rate (:func:`~neurosim.analysis.population_rate` with
    ``bin_ms`` and ``smooth_ms``). Saved as PNG at 120 dpi to ``path`` when given.
    Returns ``(figure, (raster_axes, rate_axes))``.
    """
    if not times_by_pop:
        raise ValueError("times_by_pop must name at least one population")
    fig = _new_figure(figsize)
    ax_raster, ax_rate = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    offset, centres = 0, []
    for i, (name, (times, ids, n)) in enumerate(times_by_pop.items()):
        color = colors[name] if colors is not None else f"C{i}"
        t, rate = population_rate(times, ids, n, t_start, t_stop, bin_ms, smooth_ms)
        raster(
            times, ids, ax_raster, t_start=t_start, t_stop=t_stop, color=color,
            marker_size=marker_size, max_points=max_points, id_offset=offset, label=name,
        )
        rate_plot(t, rate, ax_rate, color=color, label=name)
        centres.append(offset + (n - 1) / 2)
        offset += int(n)
        if i < len(times_by_pop) - 1:
            ax_raster.axhline(offset - 0.5, color="0.7", linewidth=0.5)
    ax_raster.set_yticks(centres, labels=list(times_by_pop))
    ax_raster.set_ylim(-0.5, offset - 0.5)
    ax_raster.set_xlabel("")
    ax_rate.set_xlim(t_start, t_stop)
    ax_rate.legend(loc="upper right", fontsize="small")
    if path is not None:
        fig.savefig(path, dpi=120, format="png")
    return fig, (ax_raster, ax_rate)
