"""A trainable spiking layer whose neurons are modulated by astrocytes.

The idea is AstroSNN's (Shen, Zhao, Dong, Li, Li, Sun & Zeng 2023, "Astrocyte-Enabled
Advancements in Spiking Neural Networks for Large Language Modeling", arXiv:2312.07625): an
astrocyte integrates the activity of the neurons around it on a time scale far slower than a
membrane's and feeds a signal back into them, which gives a spiking network a memory longer
than its neurons'. The equations here are neurosim's own formulation of that idea, not the
paper's: its astrocyte is the leaky spike integrator of the NALSM astrocyte (Ivanov &
Michmizos 2021, :mod:`neurosim.astrocytes.nalsm`), one per group of neurons, with trainable
weights both ways. With ``x`` (B, n_in) at each step, spikes ``z`` (B, n), astrocyte states
``a`` (B, m):

    I^t = x^t W + b [+ z^{t-d} W_rec] + a^{t-1} W_an                     (pA, dimensionless units)
    (h^t, z^t) = neuron.step(params, h^{t-1}, I^t, dt)                   (any neurosim neuron)
    a^t = lambda a^{t-1} + (1 - lambda) z^t W_na,   lambda = exp(-dt / tau_a)

``a`` is a leaky average of the weighted spikes over the last ``tau_a`` or so (spikes per step,
weighted): it follows a steady input ``z W_na`` with gain 1, whatever ``tau_a``. (Without the
factor ``1 - lambda`` a steady input would be multiplied by ``tau_a / dt``, 500 at the defaults:
the loop neuron -> astrocyte -> neuron then starts with a gain far above 1, runs away to firing
at hundreds of Hz, and training diverges on some seeds -- measured on the cue-recall task, 5 seeds:
held-out accuracy 0.47-0.98 without the factor, 0.998-1.0 with it.)
``W_na`` (n, m): how much each neuron's spikes drive each astrocyte (the neuron-to-astrocyte
signal, glutamate spill-over in the biology); ``W_an`` (m, n): what each astrocyte's state adds
to each neuron's current (gliotransmission); ``tau_a`` (m,): the astrocytes' time constants
(default 500 ms, fifty times the membrane's 10 ms), held in :class:`AstrocyteParams` and trained
only when ``fit``'s ``trainable`` filter names that type. All of it is differentiable: ``jax.grad``
of a loss flows through the astrocyte states over time (BPTT), through the neurons' surrogate
spikes. The loop neuron -> astrocyte -> neuron lets a burst of activity leave a slowly decaying
trace that keeps the neurons that caused it excitable: the memory of the
``neurosim.train.datasets.cue_recall`` task (examples/frompapers/Shen_2023.py).

With ``W_an = 0`` the layer is exactly a :class:`~neurosim.train.layers.SpikingLayer` (tested).
Known differences from biology: the astrocyte is a linear leaky integrator, not the Li-Rinzel
calcium dynamics of :mod:`neurosim.astrocytes.calcium` (whose slow, all-or-none calcium events
are hard to train through), and its signal acts as a current rather than on synapses.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .. import _checks
from .layers import SpikingLayer

__all__ = ["AstrocyteLayer", "AstrocyteParams"]


class AstrocyteParams(nnx.Variable):
    """The astrocytes' time constants ``tau_a`` (m,) in ms. Not an ``nnx.Param``: ``fit`` trains
    them only when its ``trainable`` filter names this type."""


class AstrocyteLayer(SpikingLayer):
    """``n`` spiking neurons fed by ``n_in`` inputs and modulated by ``n_astrocytes`` astrocytes
    (module docstring). The arguments of :class:`~neurosim.train.layers.SpikingLayer`, and:

    Args:
        n_astrocytes: m, the number of astrocytes (default ``max(1, n // 4)``).
        tau_astrocyte: their time constant in ms (one value, or one per astrocyte).
        w_na_std, w_an_std: the spreads of the normal initial neuron -> astrocyte and astrocyte
            -> neuron weights (defaults ``1 / sqrt(n)`` and ``1 / sqrt(m)``).
    """

    def __init__(self, n_in: int, n: int, *, n_astrocytes: int | None = None, tau_astrocyte=500.0,
                 w_na_std: float | None = None, w_an_std: float | None = None, rngs: nnx.Rngs, **layer):
        if layer.get("max_delay") is not None:
            raise ValueError(f"AstrocyteLayer does not take max_delay (learnable input delays), got max_delay="
                             f"{layer['max_delay']!r}: use a SpikingLayer for them")
        super().__init__(n_in, n, rngs=rngs, **layer)
        m = max(1, self.n // 4) if n_astrocytes is None else _checks.integer_at_least("n_astrocytes", n_astrocytes)
        self.m = m
        tau = np.asarray(tau_astrocyte, np.float64)
        tau = np.broadcast_to(tau, (m,)) if tau.ndim == 0 else tau
        if tau.shape != (m,) or not bool(np.all(np.isfinite(tau) & (tau > 0))):
            raise ValueError(f"AstrocyteLayer: tau_astrocyte must be one positive finite time in ms or {m} of them "
                             f"(one per astrocyte), got {tau_astrocyte!r}")
        self.tau_a = AstrocyteParams(jnp.asarray(tau, jnp.float32))
        w_na_std = 1.0 / math.sqrt(self.n) if w_na_std is None else _checks.positive_finite("w_na_std", w_na_std)
        w_an_std = 1.0 / math.sqrt(m) if w_an_std is None else _checks.positive_finite("w_an_std", w_an_std)
        self.w_na = nnx.Param(w_na_std * jax.random.normal(rngs.params(), (self.n, m)))
        self.w_an = nnx.Param(w_an_std * jax.random.normal(rngs.params(), (m, self.n)))

    def init_carry(self, batch: int, key=None):
        """The layer's carry (neuron state, spike history) and the astrocytes' states (B, m) at 0."""
        state, past = super().init_carry(batch, key)
        return state, past, jnp.zeros((batch, self.m), self.w[...].dtype)

    def _advance(self, carry, i, dt):
        """The step after the input current ``i`` (SpikingLayer's ``step`` and ``step_fed`` end
        here): the astrocytes' feedback added to ``i``, then the neurons, then the astrocytes."""
        state, past, a = carry
        (state, past), z = super()._advance((state, past), i + a @ self.w_an[...], dt)
        keep = jnp.exp(-dt / self.tau_a.get_value()).astype(a.dtype)
        a = keep[None] * a + (1 - keep[None]) * (z.astype(a.dtype) @ self.w_na[...])
        return (state, past, a), z
