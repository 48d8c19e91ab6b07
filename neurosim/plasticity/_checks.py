"""Argument checks of the rule factories; each error names the rule, the argument and the value."""
from __future__ import annotations

from .. import _checks as base

TRACES = ("all_to_all", "nearest")


def positive(rule: str, name: str, value) -> float:
    v = _number(rule, name, value)
    if not v > 0:
        raise ValueError(f"{rule}: {name} must be > 0, got {value!r}")
    return v


def non_negative(rule: str, name: str, value) -> float:
    v = _number(rule, name, value)
    if not v >= 0:
        raise ValueError(f"{rule}: {name} must be >= 0, got {value!r}")
    return v


def finite(rule: str, name: str, value) -> float:
    return _number(rule, name, value)


def bounds(rule: str, w_min, w_max) -> tuple[float, float]:
    lo, hi = finite(rule, "w_min", w_min), finite(rule, "w_max", w_max)
    if lo > hi:
        raise ValueError(f"{rule}: w_min must be <= w_max, got w_min={w_min!r} > w_max={w_max!r}")
    return lo, hi


def trace_kind(rule: str, traces) -> str:
    if traces not in TRACES:
        raise ValueError(f"{rule}: traces must be one of {TRACES}, got {traces!r}")
    return traces


def _number(rule, name, value) -> float:
    return base.finite(f"{rule}: {name}", value)
