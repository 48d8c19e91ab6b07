"""Argument checks shared by every module: each raises a ValueError that names the
argument, the value it got and what was expected."""
from __future__ import annotations

import math

import numpy as np


def positive_finite(name: str, value) -> float:
    """A positive, finite scalar (dt, duration, time constants); a string or a bool is refused."""
    if isinstance(value, (str, bytes, bool)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def finite(name: str, value) -> float:
    """A finite scalar (weights, means, bounds)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def whole_steps(name: str, value_ms: float, dt: float, minimum: int = 0) -> int:
    """Convert a time in ms to a whole number of steps of dt, refusing anything else."""
    v = float(value_ms)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value_ms!r}")
    steps = v / dt
    n = int(round(steps))
    if abs(steps - n) > 1e-6 * max(1.0, abs(steps)):
        raise ValueError(
            f"{name} = {value_ms!r} ms is not a whole number of steps of dt = {dt!r} ms "
            f"({steps:.6g} steps); use a multiple of dt, e.g. {n * dt:.6g} ms"
        )
    if n < minimum:
        raise ValueError(
            f"{name} = {value_ms!r} ms is {n} steps of dt = {dt!r} ms; expected at least {minimum} step(s)"
        )
    return n


def probability(name: str, value) -> float:
    v = float(value)
    if not (0.0 <= v <= 1.0) or not math.isfinite(v):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return v


def count(name: str, value, *, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def finite_numbers(name: str, value):
    """A number or an array of numbers, all finite (a string, None or NaN is refused by name)."""
    try:
        arr = np.asarray(value)
    except Exception:       # noqa: BLE001 - ragged or odd objects: say what was expected
        arr = np.asarray(None, object)
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def sign_rules(name: str, params, field: str, value) -> None:
    """The sign a params class asks of ``field`` (its ``POSITIVE`` / ``NON_NEGATIVE`` lists)."""
    arr = np.asarray(value)
    if field in getattr(params, "POSITIVE", ()) and not np.all(arr > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if field in getattr(params, "NON_NEGATIVE", ()) and not np.all(arr >= 0):
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def integer_at_least(name: str, value, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (sizes, step counts, epochs), one message for both failures."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def per_neuron(name: str, value, n: int):
    """A scalar or an array of shape (n,): the two shapes a per-neuron quantity may take."""
    shape = np.shape(value)
    if shape not in ((), (n,), (1,)):
        raise ValueError(f"{name} must be a scalar or have shape ({n},) for a population of {n}, got shape {shape}")
    return value
