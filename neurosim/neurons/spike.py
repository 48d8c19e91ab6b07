"""The spike non-linearity: a Heaviside step whose derivative is a surrogate.

Forward, ``spike(x) = 1 if x >= 0 else 0``. Backward, the derivative is the fast sigmoid
(SuperSpike, Zenke & Ganguli 2018):

    d spike / dx  ~=  slope / (1 + slope |x|)^2

``x`` is the distance to threshold in mV, ``slope`` is in 1/mV. The surrogate is a property
of the function, not a training mode: simulation and training run the same code.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_jvp
def spike(x, slope):
    """Heaviside step of ``x`` (float, same dtype as x) with a fast-sigmoid surrogate derivative."""
    x = jnp.asarray(x)
    return (x >= 0).astype(jnp.result_type(x))


@spike.defjvp
def _spike_jvp(primals, tangents):
    x, slope = primals
    x_dot, _ = tangents
    out = spike(x, slope)
    surrogate = slope / (1.0 + slope * jnp.abs(x)) ** 2
    return out, surrogate * x_dot
