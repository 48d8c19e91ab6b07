"""Readout taps: what a linear readout sees of a network at chosen times.

A *tap* turns a run into a feature matrix ``(len(at), n)``, one row per sample time ``at``
(ms) and one column per neuron:

- :func:`exp_filtered_spikes`: each neuron's spike train filtered with a causal exponential
  kernel, the liquid state of Maass et al. (2002) (tau = 30 ms there)::

      x_i(t) = sum over spikes t_s <= t of neuron i of  exp(-(t - t_s) / tau)

  (a spike at exactly ``t`` counts with weight 1; the value jumps by 1 at each spike);
- :func:`windowed_rates`: each neuron's rate in Hz over the window ``(t - window, t]``;
- :func:`trace_at`: a recorded state variable (membrane potential, from a ``Trace`` monitor)
  at ``t``, the last sample at or before ``t`` (zero-order hold);
- :func:`exp_filter_raster`: the exponential filter on a ``(T, n)`` spike raster in JAX (jit,
  vmap and grad compose with it), exactly ``y[k] = e^{-dt/tau} y[k-1] + s[k]``, for batches of
  trials simulated with ``jax.vmap(ns.run)``.

The numpy taps read the ``(times, ids)`` spikes of :func:`neurosim.simulate` recorded over
``[t_start, t_stop)``; a sample time outside that window (or a rate window reaching before
``t_start``) is a ValueError that names the time and the window, because the filter would need
spikes that were not recorded. Time in ms, rates in Hz.

Reference: W. Maass, T. Natschlaeger and H. Markram, Neural Computation 14:2531-2560 (2002).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from neurosim._checks import positive_finite
from neurosim.analysis.spikes import _check_spikes, _check_window

__all__ = ["exp_filtered_spikes", "windowed_rates", "trace_at", "exp_filter_raster"]

_EPS = 1e-6  # ms: spike times are multiples of dt in float; this absorbs their rounding


def _sample_times(at, what: str) -> np.ndarray:
    at = np.atleast_1d(np.asarray(at, dtype=float))
    if at.ndim != 1 or at.size == 0:
        raise ValueError(f"{what}: at must be a non-empty 1-D list of sample times in ms, got shape {at.shape}")
    if not np.all(np.isfinite(at)):
        raise ValueError(f"{what}: sample times must be finite, got {at[~np.isfinite(at)][0]!r}")
    return at


def _inside(at, t_start, t_stop, what):
    bad = (at < t_start - _EPS) | (at >= t_stop - _EPS)
    if np.any(bad):
        b = float(at[bad][0])
        raise ValueError(f"{what}: sample time {b!r} ms lies outside the run [{t_start!r}, {t_stop!r}) ms; "
                         "sample times must be inside the recorded window")


def exp_filtered_spikes(times, ids, n, at, tau, *, t_start, t_stop) -> np.ndarray:
    """``(len(at), n)`` float64: every neuron's spike train filtered with ``exp(-t/tau)``
    (causal, spikes at or before the sample time), sampled at the times ``at`` (ms), which must
    lie in the recorded window ``[t_start, t_stop)``. Spikes before ``t_start`` are not part of
    the record and are ignored (start the window where the run starts)."""
    times, ids, n = _check_spikes(times, ids, n)
    t_start, t_stop = _check_window(t_start, t_stop)
    tau = positive_finite("tau", tau)
    at = _sample_times(at, "exp_filtered_spikes")
    _inside(at, t_start, t_stop, "exp_filtered_spikes")
    keep = (times >= t_start - _EPS) & (times < t_stop)
    times, ids = times[keep], ids[keep]
    out = np.zeros((at.size, n))
    chunk = max(1, 4_000_000 // max(times.size, 1))
    for lo in range(0, at.size, chunk):
        a = at[lo:lo + chunk, None]
        lag = a - times[None, :]
        w = np.where(lag >= -_EPS, np.exp(-np.maximum(lag, 0.0) / tau), 0.0)   # (m, S)
        np.add.at(out[lo:lo + chunk].T, ids, w.T)   # out[:, ids[s]] += w[:, s]
    return out


def windowed_rates(times, ids, n, at, window, *, t_start, t_stop) -> np.ndarray:
    """``(len(at), n)`` rates in Hz: spikes of each neuron in ``(t - window, t]`` divided by
    ``window``, for each sample time ``t`` in ``at``. Every window must lie in the recorded
    ``[t_start, t_stop)`` (``t - window >= t_start`` and ``t < t_stop``)."""
    times, ids, n = _check_spikes(times, ids, n)
    t_start, t_stop = _check_window(t_start, t_stop)
    window = positive_finite("window", window)
    at = _sample_times(at, "windowed_rates")
    _inside(at, t_start, t_stop, "windowed_rates")
    early = at - window < t_start - _EPS
    if np.any(early):
        b = float(at[early][0])
        raise ValueError(f"windowed_rates: the window ({b - window!r}, {b!r}] ms of sample time {b!r} ms starts before "
                         f"the run's t_start = {t_start!r} ms; use a later time or a shorter window")
    order = np.argsort(times, kind="stable")
    times, ids = times[order], ids[order]
    out = np.zeros((at.size, n))
    for k, a in enumerate(at):
        lo = np.searchsorted(times, a - window + _EPS, side="left")
        hi = np.searchsorted(times, a + _EPS, side="right")
        out[k] = np.bincount(ids[lo:hi], minlength=n)
    return out * (1000.0 / window)


def trace_at(t, values, at) -> np.ndarray:
    """``(len(at), k)``: a recorded trace (``t`` (T,) ms and ``values`` (T, k), e.g.
    ``res.traces["liquid.v"][:2]``) at the sample times ``at``, each the last sample at or
    before it. Times before the first sample or after the last are refused."""
    t = np.asarray(t, dtype=float)
    values = np.asarray(values)
    if t.ndim != 1 or t.size == 0 or values.shape[:1] != t.shape:
        raise ValueError(f"trace_at: t must be 1-D and values must have len(t) rows, got shapes {t.shape} and {values.shape}")
    at = _sample_times(at, "trace_at")
    bad = (at < t[0] - _EPS) | (at > t[-1] + _EPS)
    if np.any(bad):
        b = float(at[bad][0])
        raise ValueError(f"trace_at: sample time {b!r} ms lies outside the recorded samples [{float(t[0])!r}, {float(t[-1])!r}] ms")
    idx = np.searchsorted(t, at + _EPS, side="right") - 1
    return values[idx]


def exp_filter_raster(spikes, dt, tau, *, at=None):
    """The exponential filter on a spike raster in JAX: ``spikes`` ``(..., T, n)`` (time on the
    second-to-last axis, row ``k`` = step ``k``, time ``k dt`` from the raster's start) gives
    ``y[k] = e^{-dt/tau} y[k-1] + spikes[k]``, i.e. :func:`exp_filtered_spikes` at the step
    times. ``at``: sample times in ms (whole steps in ``[0, T dt)``, static), returns
    ``(..., len(at), n)``; None returns every step."""
    dt = positive_finite("dt", dt)
    spikes = jnp.asarray(spikes)
    if spikes.ndim < 2:
        raise ValueError(f"exp_filter_raster: spikes must have shape (..., T, n), got {spikes.shape}")
    n_steps = spikes.shape[-2]
    idx = None
    if at is not None:
        at = _sample_times(at, "exp_filter_raster")
        _inside(at, 0.0, n_steps * dt, "exp_filter_raster")
        k = at / dt
        idx = np.round(k).astype(np.int64)
        off = np.abs(k - idx) > 1e-6 * np.maximum(1.0, k)
        if np.any(off):
            raise ValueError(f"exp_filter_raster: sample time {float(at[off][0])!r} ms is not a whole number of steps "
                             f"of dt = {dt!r} ms")
    decay = jnp.exp(-dt / jnp.asarray(tau, jnp.result_type(spikes.dtype, jnp.float32)))
    x = jnp.moveaxis(spikes, -2, 0).astype(decay.dtype)

    def body(y, s):
        y = decay * y + s
        return y, y

    _, ys = jax.lax.scan(body, jnp.zeros(x.shape[1:], decay.dtype), x)
    if idx is not None:
        ys = ys[jnp.asarray(idx)]
    return jnp.moveaxis(ys, 0, -2)
