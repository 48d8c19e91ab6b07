"""Losses on a :class:`~neurosim.train.layers.Outputs` and integer labels (or targets).

A loss is a small frozen dataclass: ``loss.per_sample(outputs, labels) -> (B,)``, ``loss(outputs,
labels) -> scalar`` (their mean over the batch) and ``loss.predict(outputs) -> (B,) labels``;
its fields are options.

:class:`CrossEntropy` — softmax cross-entropy of logits made from the last layer's output
``y`` (T, B, C):

    readout="max":   logits_c = max_t y_c^t     (Neftci et al. 2019; Zenke & Vogels 2021)
    readout="mean":  logits_c = mean_t y_c^t
    readout="last":  logits_c = y_c^T
    readout="count": logits_c = sum_t y_c^t     (a spiking output layer: spike counts)
    readout="steps": the mean over steps of the cross-entropy of every step's y^t (a loss that
                     is a sum over time, the form e-prop's online learning signal needs)

``window`` (start, stop) restricts all of them to those steps.

:class:`FirstSpike` — a spiking output layer is trained so that the right unit fires first:
logits ``-t_c / tau`` with the soft first-spike time ``t_c = sum_t t z_c^t prod_{t'<t} (1 -
z_c^{t'})`` (+ ``T`` if it never fires), differentiable through the surrogate (Mostafa 2018
and Comsa et al. 2020 train time-to-first-spike codes; this is a surrogate-gradient form).

:class:`RateMSE` — mean squared error between each output unit's rate (spikes per step) and a
target rate array (B, C).

:class:`StepMSE` — regression of the readout trace on a target trace (B, T, C), summed over
time: ``mean_b sum_t sum_c (y_c^t - target_c^t)^2 / (2 T)`` (a sum over steps, as e-prop needs).

:func:`rate_regulariser` — Zenke & Vogels 2021's activity penalty on hidden counts:
``strength_low * mean(relu(lower - r)^2) + strength_high * mean(relu(r - upper)^2)`` with ``r``
the per-neuron rate in spikes per step.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["CrossEntropy", "FirstSpike", "RateMSE", "StepMSE", "first_spike_times", "rate_regulariser"]

READOUTS = ("max", "mean", "last", "count", "steps")


def window_bounds(window, n_steps: int) -> tuple:
    """``(start, stop)`` of a loss's ``window`` over ``n_steps`` steps (all of them for None)."""
    if window is None:
        return 0, n_steps
    start, stop = window
    if not 0 <= start < stop <= n_steps:
        raise ValueError(f"window must be (start, stop) with 0 <= start < stop <= {n_steps} steps, got {window!r}")
    return start, stop


def _window(y, window):
    start, stop = window_bounds(window, y.shape[0])
    return y[start:stop]


def _check_labels(labels, y):
    labels = jnp.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != y.shape[1]:
        raise ValueError(f"labels must have shape ({y.shape[1]},) (one per batch element of the output "
                         f"(T, B, C) = {y.shape}), got {labels.shape}")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"labels must be integers (class indices), got dtype {labels.dtype}")
    if not isinstance(labels, jax.core.Tracer):
        a = np.asarray(labels)
        if a.size and (a.min() < 0 or a.max() >= y.shape[2]):
            raise ValueError(f"labels must be in [0, {y.shape[2]}) for {y.shape[2]} output units, got the range "
                             f"[{a.min()}, {a.max()}]")
    return labels


def _check_y(y):
    if y.ndim != 3:
        raise ValueError(f"outputs.y must have shape (T, B, C), got {y.shape}")
    return y


@dataclass(frozen=True)
class CrossEntropy:
    """Softmax cross-entropy on a readout of the output (module docstring)."""

    readout: str = "max"
    window: tuple | None = None

    def __post_init__(self):
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")

    def logits(self, outputs):
        y = _window(_check_y(outputs.y), self.window)
        if self.readout == "max":
            return y.max(axis=0)
        if self.readout in ("mean", "steps"):
            return y.mean(axis=0)
        if self.readout == "last":
            return y[-1]
        return y.sum(axis=0)

    def per_sample(self, outputs, labels):
        y = _window(_check_y(outputs.y), self.window)
        labels = _check_labels(labels, y)
        if self.readout == "steps":
            return optax.softmax_cross_entropy_with_integer_labels(y, labels[None]).mean(axis=0)
        return optax.softmax_cross_entropy_with_integer_labels(self.logits(outputs), labels)

    def __call__(self, outputs, labels):
        return self.per_sample(outputs, labels).mean()

    def predict(self, outputs):
        return jnp.argmax(self.logits(outputs), axis=-1)


def first_spike_times(z):
    """Soft first-spike step of spikes ``z`` (T, B, C): ``sum_t t z^t prod_{t'<t}(1 - z^{t'})
    + T prod_t (1 - z^t)`` (exact for 0/1 spikes; the surrogate reaches it through z)."""
    t = jnp.arange(z.shape[0], dtype=z.dtype)[:, None, None]
    silent_before = jnp.cumprod(jnp.concatenate([jnp.ones_like(z[:1]), 1.0 - z[:-1]]), axis=0)
    first = (t * z * silent_before).sum(axis=0)
    return first + z.shape[0] * jnp.prod(1.0 - z, axis=0)


@dataclass(frozen=True)
class FirstSpike:
    """Cross-entropy on ``-first_spike_time / tau`` of a spiking output layer (steps)."""

    tau: float = 5.0

    def __post_init__(self):
        if not self.tau > 0:
            raise ValueError(f"tau must be > 0 steps, got {self.tau!r}")

    def logits(self, outputs):
        return -first_spike_times(_check_y(outputs.y)) / self.tau

    def per_sample(self, outputs, labels):
        labels = _check_labels(labels, _check_y(outputs.y))
        return optax.softmax_cross_entropy_with_integer_labels(self.logits(outputs), labels)

    def __call__(self, outputs, labels):
        return self.per_sample(outputs, labels).mean()

    def predict(self, outputs):
        return jnp.argmax(self.logits(outputs), axis=-1)


@dataclass(frozen=True)
class RateMSE:
    """Mean squared error of output rates (spikes per step) against ``targets`` (B, C)."""

    def per_sample(self, outputs, targets):
        y = _check_y(outputs.y)
        targets = jnp.asarray(targets)
        if targets.shape != y.shape[1:]:
            raise ValueError(f"targets must have shape {y.shape[1:]} (batch, output units), got {targets.shape}")
        return jnp.mean((y.mean(axis=0) - targets) ** 2, axis=-1)

    def __call__(self, outputs, targets):
        return self.per_sample(outputs, targets).mean()

    def predict(self, outputs):
        return jnp.argmax(_check_y(outputs.y).mean(axis=0), axis=-1)


@dataclass(frozen=True)
class StepMSE:
    """Squared error of the readout trace against target traces (B, T, C) (module docstring)."""

    def per_sample(self, outputs, targets):
        y = _check_y(outputs.y)
        targets = jnp.asarray(targets)
        want = (y.shape[1], y.shape[0], y.shape[2])
        if targets.shape != want:
            raise ValueError(f"targets must have shape {want} (batch, steps, output units), got {targets.shape}")
        return jnp.sum((jnp.swapaxes(y, 0, 1) - targets) ** 2, axis=(1, 2)) / (2 * y.shape[0])

    def __call__(self, outputs, targets):
        return self.per_sample(outputs, targets).mean()

    def predict(self, outputs):
        return jnp.argmax(_check_y(outputs.y).mean(axis=0), axis=-1)


def rate_regulariser(counts, n_steps: int, *, lower: float = 0.0, upper: float = 1.0, strength_low: float = 1.0,
                     strength_high: float = 1.0):
    """Activity penalty on one layer's spike ``counts`` (B, n) over ``n_steps`` steps (module
    docstring): rates below ``lower`` or above ``upper`` spikes per step cost quadratically."""
    if not 0 <= lower <= upper:
        raise ValueError(f"need 0 <= lower <= upper (spikes per step), got lower={lower!r}, upper={upper!r}")
    r = jnp.asarray(counts) / n_steps
    return (strength_low * jnp.mean(jax.nn.relu(lower - r) ** 2)
            + strength_high * jnp.mean(jax.nn.relu(r - upper) ** 2))
