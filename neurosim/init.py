"""Initial-value rules for state variables: data, not code paths.

A rule is a number (every neuron starts there), ``Uniform(low, high)`` or ``Normal(mean, std)``.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Uniform(NamedTuple):
    low: float
    high: float


class Normal(NamedTuple):
    mean: float
    std: float


def draw(rule, default, n: int, key, dtype=jnp.float32):
    """Values for ``n`` neurons: ``default`` when ``rule`` is None."""
    if rule is None:
        return jnp.broadcast_to(jnp.asarray(default, dtype), (n,))
    if isinstance(rule, Uniform):
        return jax.random.uniform(key, (n,), dtype, rule.low, rule.high)
    if isinstance(rule, Normal):
        return rule.mean + rule.std * jax.random.normal(key, (n,), dtype)
    if isinstance(rule, numbers.Real):  # numpy scalars too
        return jnp.full((n,), rule, dtype)
    raise ValueError(f"an initial-value rule must be None, a number, Uniform(low, high) or Normal(mean, std), got {rule!r}")
