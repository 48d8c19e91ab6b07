"""Initial-value rules for state variables: data, not code paths.

A rule is a number (every neuron starts there), ``Uniform(low, high)`` or ``Normal(mean, std)``.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Uniform(NamedTuple):
    low: float
    high: float


class Normal(NamedTuple):
    mean: float
    std: float


def check_rule(rule) -> None:
    """A ``Uniform`` needs finite ``low <= high``, a ``Normal`` a finite mean and ``std >= 0``
    (a reversed Uniform would otherwise draw every value at one end). Scalars or arrays;
    traced values are not checked."""
    if any(isinstance(v, jax.core.Tracer) for v in rule):
        return
    a, b = (np.asarray(v, float) for v in rule)
    if isinstance(rule, Uniform) and not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and np.all(a <= b)):
        raise ValueError(f"{rule!r}: low and high must be finite with low <= high")
    if isinstance(rule, Normal) and not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and np.all(b >= 0)):
        raise ValueError(f"{rule!r}: mean must be finite, std finite and >= 0")


def draw(rule, default, n: int, key, dtype=jnp.float32):
    """Values for ``n`` neurons: ``default`` when ``rule`` is None."""
    if rule is None:
        return jnp.broadcast_to(jnp.asarray(default, dtype), (n,))
    if isinstance(rule, Uniform):
        check_rule(rule)
        return jax.random.uniform(key, (n,), dtype, rule.low, rule.high)
    if isinstance(rule, Normal):
        check_rule(rule)
        return rule.mean + rule.std * jax.random.normal(key, (n,), dtype)
    if isinstance(rule, numbers.Real):  # numpy scalars too
        return jnp.full((n,), rule, dtype)
    raise ValueError(f"an initial-value rule must be None, a number, Uniform(low, high) or Normal(mean, std), got {rule!r}")
