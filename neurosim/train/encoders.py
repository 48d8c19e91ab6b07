"""Spike encoders: static values or signals -> (T, B, n) float 0/1 spike trains for a layer.

* :func:`bernoulli` (rate code): at each step input ``i`` spikes with probability
  ``p_i = max_prob * x_i``, ``x`` in [0, 1].
* :func:`latency` (time-to-first-spike code): one spike per input, earlier for larger values.
  ``kind="linear"``: step ``round((1 - x) (T - 1))``; ``kind="log"`` (an RC membrane charged
  by a constant current ``x``, Neftci et al. 2019): time ``tau log(x / (x - threshold))`` ms,
  converted to steps with ``dt``. Values at or below ``threshold`` never spike.
* :func:`delta` (change code, as event cameras do): an "on" spike when a signal rose by
  ``threshold`` since the input's last spike, an "off" spike when it fell by as much (off
  spikes in a second block of channels, so n inputs give 2n channels).
* :func:`current`: the values repeated over T steps, a direct current injection.

Values outside an encoder's range raise ``ValueError`` when concrete (not under ``jit``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks

__all__ = ["bernoulli", "current", "delta", "latency"]


def _values(x, low=None, high=None, what="x"):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    if x.ndim != 2:
        raise ValueError(f"{what} must have shape (batch, n_inputs), got {x.shape}")
    if not isinstance(x, jax.core.Tracer):
        a = np.asarray(x)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{what} must be finite; it holds {int(np.sum(~np.isfinite(a)))} NaN or infinite values")
        if low is not None and a.min() < low:
            raise ValueError(f"{what} must be >= {low} for this encoder, got a minimum of {a.min():.6g}")
        if high is not None and a.max() > high:
            raise ValueError(f"{what} must be <= {high} for this encoder, got a maximum of {a.max():.6g}")
    return x


def bernoulli(key, x, n_steps: int, max_prob: float = 1.0):
    """Rate code: ``(n_steps, B, n)`` spikes, Bernoulli with probability ``max_prob * x`` per
    step; ``x`` (B, n) in [0, 1], ``max_prob`` in (0, 1]."""
    n_steps = _checks.integer_at_least("n_steps", n_steps)
    if not 0 < max_prob <= 1:
        raise ValueError(f"max_prob must be in (0, 1], got {max_prob!r}")
    x = _values(x, 0.0, 1.0)
    u = jax.random.uniform(key, (n_steps,) + x.shape, x.dtype)
    return (u < max_prob * x[None]).astype(x.dtype)


def latency(x, n_steps: int, *, kind: str = "linear", tau: float = 20.0, threshold: float = 0.0, dt: float = 1.0):
    """Time-to-first-spike code (module docstring): ``(n_steps, B, n)``, one spike or none per
    input. ``x`` (B, n) in [0, 1]."""
    n_steps = _checks.integer_at_least("n_steps", n_steps)
    if kind not in ("linear", "log"):
        raise ValueError(f"kind must be 'linear' or 'log', got {kind!r}")
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
    if not (tau > 0 and dt > 0):
        raise ValueError(f"tau and dt must be > 0 ms, got tau={tau!r}, dt={dt!r}")
    x = _values(x, 0.0, 1.0)
    fires = x > threshold
    if kind == "linear":
        step = jnp.round((1.0 - x) * (n_steps - 1))
    else:
        safe = jnp.where(fires, x, 1.0)
        step = jnp.round(tau * jnp.log(safe / jnp.maximum(safe - threshold, 1e-12)) / dt)
    step = jnp.where(fires & (step < n_steps), step, n_steps).astype(jnp.int32)   # n_steps: no spike
    t = jnp.arange(n_steps)[:, None, None]
    return (t == step[None]).astype(x.dtype)


def delta(signal, threshold: float, *, off: bool = True):
    """Change code of ``signal`` (T, B, n): ``(T, B, 2n)`` on/off spikes (``(T, B, n)`` on
    spikes only with ``off=False``). The reference level starts at the first sample and moves
    by ``threshold`` with each spike (at most one spike per step and channel)."""
    signal = jnp.asarray(signal)
    if signal.ndim != 3:
        raise ValueError(f"signal must have shape (time, batch, n_inputs), got {signal.shape}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")

    def body(ref, s):
        up = (s - ref >= threshold).astype(s.dtype)
        down = (ref - s >= threshold).astype(s.dtype)
        return ref + threshold * (up - down), (up, down)

    _, (up, down) = jax.lax.scan(body, signal[0], signal)
    return jnp.concatenate([up, down], axis=-1) if off else up


def current(x, n_steps: int):
    """Direct injection: ``x`` (B, n) repeated as an (n_steps, B, n) input."""
    n_steps = _checks.integer_at_least("n_steps", n_steps)
    x = _values(x)
    return jnp.broadcast_to(x[None], (n_steps,) + x.shape)
