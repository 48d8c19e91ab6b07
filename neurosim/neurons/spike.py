"""The spike non-linearity: a Heaviside step whose derivative is a surrogate.

Forward, ``spike(x) = 1 if x >= 0 else 0`` whatever the surrogate. Backward, the derivative
``d spike / dx`` is replaced by a smooth or box-shaped pseudo-derivative ``sigma(x)``. ``x`` is
the distance to threshold in mV and ``k`` (the neuron's ``slope`` parameter, 1/mV) the
surrogate's *scale*: every shape below has height ``k`` at threshold, so changing the shape at
a fixed ``k`` changes only how fast it falls off.

==================  ==========================================  =====================================
name                sigma(x)                                    source
==================  ==========================================  =====================================
fast_sigmoid        k / (1 + k |x|)^2                           SuperSpike, Zenke & Ganguli 2018
arctan              k / (1 + (pi k x)^2)                        Fang et al. 2021
sigmoid             4 k s(4 k x) (1 - s(4 k x)), s logistic     Zenke & Vogels 2021
triangle            k max(0, 1 - k |x|)                         Bellec et al. 2018 (e-prop's psi)
boxcar              k  if |x| <= 1 / (2 k), else 0              Wu et al. 2018 (rectangular)
straight_through    k  everywhere                               Bengio et al. 2013
heaviside           0  (the true derivative almost everywhere)  a control: no gradient passes a spike
==================  ==========================================  =====================================

Zenke & Vogels (2021, Neural Comput. 33:899) found learning robust to the shape and sensitive
to the scale. The surrogate is a property of the function, not a training mode: simulation and
training run the same code, and the forward values never depend on the surrogate.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp


def _fast_sigmoid(x, k):
    return k / (1.0 + k * jnp.abs(x)) ** 2


def _arctan(x, k):
    return k / (1.0 + (jnp.pi * k * x) ** 2)


def _sigmoid(x, k):
    s = jax.nn.sigmoid(4.0 * k * x)
    return 4.0 * k * s * (1.0 - s)


def _triangle(x, k):
    return k * jnp.maximum(0.0, 1.0 - k * jnp.abs(x))


def _boxcar(x, k):
    return jnp.where(jnp.abs(x) * k <= 0.5, k, 0.0).astype(jnp.result_type(x))


def _straight_through(x, k):
    return jnp.broadcast_to(k, jnp.shape(x)).astype(jnp.result_type(x))


def _heaviside(x, k):
    return jnp.zeros_like(x)


SURROGATES = {
    "fast_sigmoid": _fast_sigmoid, "arctan": _arctan, "sigmoid": _sigmoid, "triangle": _triangle,
    "boxcar": _boxcar, "straight_through": _straight_through, "heaviside": _heaviside,
}


def check_surrogate(name, where: str = "surrogate") -> str:
    """``name`` if it names a surrogate, else a ``ValueError`` listing them."""
    if not isinstance(name, str) or name not in SURROGATES:
        raise ValueError(f"{where} must be one of {tuple(SURROGATES)}, got {name!r}")
    return name


def surrogate_derivative(name: str, x, scale):
    """``sigma(x)`` of the surrogate ``name`` at distance ``x`` (mV) with scale ``scale`` (1/mV)."""
    x = jnp.asarray(x)
    return SURROGATES[check_surrogate(name)](x, jnp.asarray(scale, x.dtype))


@partial(jax.custom_jvp, nondiff_argnums=(2,))
def spike(x, slope, surrogate: str = "fast_sigmoid"):
    """Heaviside step of ``x`` (float, same dtype as x); its derivative is the surrogate
    ``surrogate`` (a name of :data:`SURROGATES`) with scale ``slope``."""
    x = jnp.asarray(x)
    return (x >= 0).astype(jnp.result_type(x))


@spike.defjvp
def _spike_jvp(surrogate, primals, tangents):
    x, slope = primals
    x_dot, _ = tangents
    out = spike(x, slope, surrogate)
    return out, surrogate_derivative(surrogate, x, slope) * x_dot
