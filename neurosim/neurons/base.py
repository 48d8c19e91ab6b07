"""What every neuron model shares: the parameter-shape check and the reset helper.

A neuron model is a small frozen dataclass whose fields are *options* (static data such as
the integrator or the initial-voltage rule; for spiking models also ``surrogate``, the shape of
the spike's pseudo-derivative, and ``detach_reset``) and whose methods are pure functions:

    init(params, n, key)          -> state           (a NamedTuple of (n,) arrays)
    step(params, state, i, dt)    -> (state, spikes) (spikes: float 0/1, shape (n,))
    voltage(state)                -> membrane potential in mV (used by conductance synapses)

A model whose options depend on the population's size (e.g. the gap junctions of
astrocytes) may define ``check_size(n, where)``, called when a Population is made; one whose
valid parameters depend on dt (a spike source's rate) ``check_dt(params, dt, where)``, called
when a state is made.

``params`` is a NamedTuple whose leaves are scalars or (n,) arrays; they are the
differentiable quantities. Units: ms, mV, pF, nS, pA.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..init import draw
from .spike import check_surrogate


def check_params(params, n: int, where: str) -> None:
    """Every leaf of a params NamedTuple is a finite scalar or (n,) array, the fields the
    class lists in ``POSITIVE`` / ``NON_NEGATIVE`` have that sign, and its ``BELOW`` pairs
    ``(low, high)`` are ordered (a reset below the threshold)."""
    for field, value in zip(params._fields, params):
        _checks.per_neuron(f"{where}.{field}", value, n)
        arr = np.asarray(value)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{where}.{field} must be finite, got {value!r}")
        _checks.sign_rules(f"{where}.{field}", params, field, value)
    _checks.order_rules(where, params)


def state_fields(model) -> tuple:
    """The variables a reader of a population finds on its state (``Trace``, a mechanism
    reading ``g_a``): the model's ``state_fields`` where it wraps another model
    (:class:`~neurosim.neurons.MultiRate`), else the fields of its ``State``."""
    fields = getattr(model, "state_fields", None)
    return tuple(fields) if fields is not None else tuple(getattr(model.State, "_fields", ()))


def reset(value, target, spikes, detach: bool = True):
    """``target`` where a spike occurred, ``value`` elsewhere. With ``detach`` (the default, and
    the choice Zenke & Vogels 2021 recommend) the spike's surrogate gradient does not flow
    through the reset; without it, it does (d value'/d s = target - value)."""
    s = jax.lax.stop_gradient(spikes) if detach else spikes
    return value * (1.0 - s) + target * s


def check_gradient_options(model) -> None:
    """The options every spiking model shares: ``surrogate`` names a surrogate of
    :mod:`neurosim.neurons.spike`, ``detach_reset`` is a bool."""
    name = type(model).__name__
    check_surrogate(model.surrogate, f"{name}: surrogate")
    if not isinstance(model.detach_reset, bool):
        raise ValueError(f"{name}: detach_reset must be True or False, got {model.detach_reset!r}")


def initial_voltage(rule, default, n: int, key, dtype=jnp.float32):
    """Initial membrane potential: see :mod:`neurosim.init` for the rules."""
    return draw(rule, default, n, key, dtype)
