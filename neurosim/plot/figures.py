"""Figures for simulation results: spike rasters, rates, voltage traces, spectra.

Figures are built on the Agg canvas directly (``matplotlib.figure.Figure``), never through
``pyplot``: nothing is shown, no global figure registry fills up, and the caller's backend is
left alone. Each function draws into ``ax`` when given, otherwise into a new figure, and returns
``(figure, axes)``. Units: time in ms, rates and frequencies in Hz, voltages in mV; every axis
is labelled with its unit (a neuron axis with ``neuron index``).
"""
from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from neurosim._checks import count, finite, positive_finite
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
    ax.set_ylabel("neuron index")
    return fig, ax


def rate_plot(t, rate, ax=None, *, color=None, label=None):
    """Line plot of a rate (Hz) against time (ms), the rate axis from 0. Returns
    ``(figure, axes)``."""
    fig, ax = _figure_and_axes(ax)
    ax.plot(np.asarray(t), np.asarray(rate), color=color, label=label, linewidth=1.0)
    ax.set_ylim(bottom=0.0)
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
    ax.set_ylabel("membrane potential V (mV)")
    return fig, ax


def psd_plot(freqs, psd, ax=None, *, fmax=None, log=True, color=None, label=None, unit="spikes²/Hz"):
    """Power spectral density against frequency (Hz), log power axis by default, up to ``fmax``
    Hz when given. ``unit`` names the power's unit on the axis: the default is that of
    ``neurosim.analysis.population_psd`` (a spike count per bin); an LFP's is ``"mV²/Hz"``.
    Returns ``(figure, axes)``."""
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
    ax.set_ylabel(f"PSD ({unit})")
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
    transient_ms=50.0,
):
    """Raster of several populations stacked above a panel of their population rates.

    ``times_by_pop`` maps a name to ``(times, ids, n)``. Populations are stacked in the order
    given, the first at the bottom (pass ``{"E": ..., "I": ...}`` for E below I), each in its own
    colour (``colors[name]`` or the default colour cycle) with ``max_points`` dots at most. The
    raster's y axis is the neuron index (the populations one after the other); each
    population's band is named at the right edge. The lower panel shows each population's rate
    (``neurosim.analysis.population_rate`` with ``bin_ms`` and ``smooth_ms``).

    The rate axis runs from 0 to 1.1 times the highest rate *after* the first ``transient_ms``
    of the window: a network started from rest fires its first spikes together, and that
    transient (~110 Hz in the first milliseconds of the COBA demo, against a steady ~22 Hz)
    would otherwise set the range and flatten the rest. When the transient is cut off, the
    panel says so (``first 50 ms clipped: peak 110 Hz``). ``transient_ms=0`` sets the range
    from every bin. Saved as PNG at 120 dpi to ``path`` when given.
    Returns ``(figure, (raster_axes, rate_axes))``.
    """
    if not times_by_pop:
        raise ValueError("times_by_pop must name at least one population")
    transient_ms = finite("transient_ms", transient_ms)
    if transient_ms < 0:
        raise ValueError(f"transient_ms must be >= 0 (ms at the start the rate range ignores), got {transient_ms!r}")
    fig = _new_figure(figsize)
    ax_raster, ax_rate = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    offset, rates = 0, []
    band_label = blended_transform_factory(ax_raster.transAxes, ax_raster.transData)
    for i, (name, (times, ids, n)) in enumerate(times_by_pop.items()):
        color = colors[name] if colors is not None else f"C{i}"
        t, rate = population_rate(times, ids, n, t_start, t_stop, bin_ms, smooth_ms)
        raster(
            times, ids, ax_raster, t_start=t_start, t_stop=t_stop, color=color,
            marker_size=marker_size, max_points=max_points, id_offset=offset, label=name,
        )
        rate_plot(t, rate, ax_rate, color=color, label=name)
        rates.append((t, rate))
        ax_raster.text(1.01, offset + (n - 1) / 2, name, transform=band_label, color=color,
                       ha="left", va="center", fontweight="bold")
        offset += int(n)
        if i < len(times_by_pop) - 1:
            ax_raster.axhline(offset - 0.5, color="0.7", linewidth=0.5)
    ax_raster.set_ylim(-0.5, offset - 0.5)
    ax_raster.set_xlabel("")
    ax_raster.set_ylabel("neuron index")
    ax_rate.set_xlim(t_start, t_stop)
    ax_rate.set_ylabel("population rate (Hz)")
    _rate_range(ax_rate, rates, t_start, transient_ms)
    ax_rate.legend(loc="lower right", fontsize="small", ncols=len(times_by_pop))
    if path is not None:
        fig.savefig(path, dpi=120, format="png")
    return fig, (ax_raster, ax_rate)


def _rate_range(ax, rates, t_start, transient_ms):
    """The rate axis from 0 to 1.1 x the highest rate after the first ``transient_ms`` (every
    bin when none is that late); a note on the panel when an earlier peak is cut off."""
    peak = max((float(np.max(r)) for _, r in rates if r.size), default=0.0)
    steady = [r[t >= t_start + transient_ms] for t, r in rates]
    top = max((float(np.max(r)) for r in steady if r.size), default=peak)
    top = 1.1 * top if top > 0 else 1.0
    ax.set_ylim(0.0, top)
    if peak > top:
        ax.text(0.01, 0.95, f"first {transient_ms:g} ms clipped: peak {peak:.0f} Hz",
                transform=ax.transAxes, ha="left", va="top", fontsize="small", color="0.3")
