"""Argument checks shared by every module: each raises a ValueError that names the
argument, the value it got and what was expected."""
from __future__ import annotations

import math
import os
import re

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


_TIME = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(ms|s)?\s*$")


def time_text(text: str) -> float:
    """A time written out, in ms: ``"1s"`` and ``"1 s"`` -> 1000.0, ``"500ms"`` -> 500.0,
    ``"250"`` -> 250.0 (a bare number is ms, as everywhere in the API). A ValueError saying
    what was expected for anything else, or for a time that is not positive. The one parser of
    the command line (``--duration``) and of ``simulate(duration=...)``."""
    m = _TIME.match(str(text))
    if not m:
        raise ValueError(f"expected a time such as 1s, 500ms or 250 (ms), got {text!r}")
    value = float(m.group(1)) * (1000.0 if m.group(2) == "s" else 1.0)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be a positive time, got {text!r} = {value:g} ms")
    return value


def duration_ms(name: str, value) -> float:
    """A positive finite time in ms: a number (ms) or a string with its unit (:func:`time_text`:
    ``"1s"``, ``"500 ms"``); the error names the argument and the value."""
    if isinstance(value, str):
        try:
            return time_text(value)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
    return positive_finite(name, value)


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
    if steps < minimum - 1e-6:
        raise ValueError(f"{name} = {value_ms!r} ms is {steps:.6g} steps of dt = {dt!r} ms; expected at least {minimum} "
                         f"step(s) ({minimum * dt:.6g} ms)")
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
    if field in getattr(params, "POSITIVE", ()) and not np.all(np.asarray(value) > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if field in getattr(params, "NON_NEGATIVE", ()) and not np.all(np.asarray(value) >= 0):
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def order_rules(name: str, params) -> None:
    """The orderings a params class asks of its fields (its ``BELOW`` pairs ``(low, high)``:
    ``low < high`` at every element, e.g. a reset below the threshold)."""
    for low, high in getattr(params, "BELOW", ()):
        a, b = np.asarray(getattr(params, low)), np.asarray(getattr(params, high))
        if not np.all(a < b):
            raise ValueError(f"{name}: {low} must be below {high}, got {low}={getattr(params, low)!r} and "
                             f"{high}={getattr(params, high)!r}")


def params_values(name: str, params) -> None:
    """Every number of ``params`` (a params NamedTuple, or tuples of them: a chain of rules)
    is finite and has the sign and range its class asks (``POSITIVE``, ``NON_NEGATIVE``,
    ``UNIT_INTERVAL``: in [0, 1], ``BELOW``). Traced leaves (under ``jit``/``vmap``/``grad``)
    have no values and are passed over; they are checked where they are concrete."""
    if traced(params):
        return
    if hasattr(params, "_fields"):
        for field, value in zip(params._fields, params):
            where = f"{name}.{field}"
            if isinstance(value, tuple):
                params_values(where, value)
                continue
            finite_numbers(where, value)
            sign_rules(where, params, field, value)
            if field in getattr(params, "UNIT_INTERVAL", ()) and not np.all((np.asarray(value) >= 0) & (np.asarray(value) <= 1)):
                raise ValueError(f"{where} must lie in [0, 1], got {value!r}")
        order_rules(name, params)
    elif isinstance(params, (tuple, list)):
        for i, item in enumerate(params):
            params_values(f"{name}[{i}]", item)
    else:
        finite_numbers(name, params)


def traced(tree) -> bool:
    """Whether some leaf of ``tree`` is traced (under ``jit``/``vmap``/``grad``): its values are
    then unknown here, and the checks of values pass it over."""
    import jax
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


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


def available_host_bytes() -> int | None:
    """The memory available to new allocations now (``MemAvailable`` of /proc/meminfo), or None
    where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def size(n_bytes: float) -> str:
    """A byte count in words (``1.5 GB``)."""
    for unit, k in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= k:
            return f"{n_bytes / k:.3g} {unit}"
    return f"{n_bytes:.0f} B"


def fits_in_memory(what: str, n_bytes: float, hint: str) -> None:
    """Refuse, with a MemoryError that says what and how much, an allocation of ``n_bytes``
    larger than the memory available now (``hint``: what to change)."""
    avail = available_host_bytes()
    if avail is not None and n_bytes > avail:
        raise MemoryError(f"{what} needs ~{size(n_bytes)}, more than the {size(avail)} of memory available; {hint}")


def seed(name: str, value):
    """A seed for numpy's generator: an integer >= 0, or a ``numpy.random.Generator`` /
    ``SeedSequence`` (used as given)."""
    if isinstance(value, (np.random.Generator, np.random.SeedSequence)):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (or a numpy Generator), got {value!r}")
    return int(value)
