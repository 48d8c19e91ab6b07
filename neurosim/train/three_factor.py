"""A three-factor local rule as a weight-update direction: the plasticity library's
:func:`~neurosim.plasticity.error_modulated` rule, run online on the synapses of the training
layers.

For a network ``SpikingLayer -> LeakyReadout`` and a loss that is a sum over steps, every
synapse ``i -> j`` (input, recurrent and bias synapses of the hidden layer, and those of the
readout) follows the error-modulated rule of :mod:`neurosim.plasticity.three_factor`::

    x_i <- x_i e^{-dt/tau_pre} + s_i                   presynaptic trace (factor 1)
    dw_ji = lr e_j x_i dt                              e_j: the third factor, an error

with the error of each readout unit ``e_k = -dl^t/dy_k`` (``target - y`` for a squared error)
and, for a hidden neuron, the same error sent back through feedback weights,
``e_j = sum_k B_jk e_k`` (``B = W_out^T`` by default, or a fixed random matrix). ``tau_pre``
defaults to the readout's time constant, so that the readout's own synapses get their exact
gradient (as in e-prop).

Compared with e-prop (:mod:`~neurosim.train.eprop`) the rule drops the postsynaptic factor:
the neuron's pseudo-derivative and the membrane's memory of its input. What reaches a synapse
is its presynaptic activity and one broadcast signal; nothing about the neuron it ends on. The
rule never sees the neuron model, so it costs a trace per presynaptic neuron instead of
e-prop's eligibility per synapse and state variable.

:func:`three_factor_gradients` returns the rule's summed weight change over a sequence with
its sign flipped, ``-sum_t dw / (lr dt)``, shaped like the network's params. An optax
optimiser applies it as it applies a gradient, so ``fit(gradient="three_factor")`` compares the
direction a local rule proposes with BPTT's and e-prop's under the same optimiser. Memory does
not grow with the number of steps.
"""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from ..plasticity import error_modulated
from ..synapses.dynamics import SynapseShape, SynapticEvents
from .eprop import _like_params, _online_inputs

__all__ = ["three_factor_gradients"]


class _AllToAll(NamedTuple):
    """Every synapse of a dense ``n_pre x n_post`` weight matrix, row-major, as a rule reads a CSR."""

    rows: jax.Array
    indices: jax.Array
    n_pre: int
    n_post: int

    @classmethod
    def of(cls, n_pre: int, n_post: int):
        return cls(jnp.repeat(jnp.arange(n_pre), n_post), jnp.tile(jnp.arange(n_post), n_pre), n_pre, n_post)


class _Synapses:
    """One dense weight matrix under the rule: its connectivity, the rule's state for a batch."""

    def __init__(self, rule, n_pre, n_post, batch, dtype, dt):
        self.rule, self.dt = rule, dt
        self.conn = _AllToAll.of(n_pre, n_post)
        shape = SynapseShape(n_pre, n_post, n_pre * n_post, dtype)
        self.state0 = jax.vmap(lambda _: rule.init(rule.params, shape))(jnp.arange(batch))
        self.zeros = jnp.zeros((n_pre * n_post,), dtype)

    def update(self, state, pre, error, t):
        """The batch's summed weight change (n_pre, n_post) at this step and the new traces."""
        def one(s, p, e):
            ev = SynapticEvents(pre=p, post=jnp.zeros_like(e), conn=self.conn, t=t, dt=self.dt,
                                tau_syn=jnp.zeros((), p.dtype), modulators={"error": e})
            return self.rule.update(self.rule.params, self.zeros, s, self.zeros, ev)

        dw, state = jax.vmap(one)(state, pre, error)
        return dw.sum(0).reshape(self.conn.n_pre, self.conn.n_post), state


def three_factor_gradients(net, x_seq, target, *, loss=None, feedback=None, tau_pre=None, record_y: bool = False,
                           wrt=nnx.Param):
    """``(loss value, pseudo-gradients[, y])`` of ``net`` on an input (T, B, n_in) under the
    error-modulated three-factor rule (module docstring).

    Args:
        net: ``SpikingNetwork(SpikingLayer(...), LeakyReadout(...))``, feed-forward or dense
            recurrent.
        target: labels (B,) for ``CrossEntropy("steps")``, targets (B, T, C) for ``StepMSE``.
        loss: default ``CrossEntropy(readout="steps")``.
        feedback: None (``B = W_out^T``) or a fixed (n, C) array.
        tau_pre: the presynaptic trace's time constant in ms (default: the readout's tau).
        record_y: also return the readout (T, B, C).
        wrt: an nnx filter of the weights to return updates for (as in e-prop).
    """
    hidden, readout, x_seq, target, step_loss, fb = _online_inputs(net, x_seq, target, loss, feedback)
    n_steps, batch = x_seq.shape[:2]
    if tau_pre is not None and not (isinstance(tau_pre, (int, float)) and tau_pre > 0):
        raise ValueError(f"tau_pre must be a positive number of ms, got {tau_pre!r}")

    dt, dtype = net.dt, x_seq.dtype
    recurrent = hidden.recurrent == "dense"
    n, n_in = hidden.n, hidden.n_in
    pre_n = n_in + (n if recurrent else 0) + 1           # inputs, recurrent spikes, the bias's constant 1
    rule = error_modulated("error", lr=1.0, tau_pre=1.0 if tau_pre is None else tau_pre)
    if tau_pre is None:     # the rule's params are data: the readout's (possibly traced) tau
        rule = replace(rule, params=rule.params._replace(tau_pre=jnp.mean(readout.params.get_value().tau)))
    to_hidden = _Synapses(rule, pre_n, n, batch, dtype, dt)
    to_out = _Synapses(rule, n + 1, readout.n, batch, dtype, dt)
    ones = jnp.ones((batch, 1), dtype)

    def body(carry, x):
        (h, past), r, s_h, s_out, g_h, g_out, total, t = carry
        pre = jnp.concatenate([x] + ([past[0]] if recurrent else []) + [ones], axis=-1)
        h, z = hidden.neuron_step(h, hidden.drive(x, past), dt)
        past = jnp.concatenate([past[1:], z[None].astype(past.dtype)], axis=0)
        r, y = readout.step(r, z, dt)
        value, dy = jax.value_and_grad(step_loss)(y, target, t)                 # dy: (B, C)
        error = -dy
        dw_h, s_h = to_hidden.update(s_h, pre, error @ fb.T, t)
        dw_out, s_out = to_out.update(s_out, jnp.concatenate([z, ones], axis=-1), error, t)
        carry = ((h, past), r, s_h, s_out, g_h - dw_h / dt, g_out - dw_out / dt, total + value, t + 1)
        return carry, (y if record_y else ())

    (h0, past0), r0 = net.init_carry(batch)
    carry0 = ((h0, past0), r0, to_hidden.state0, to_out.state0, jnp.zeros((pre_n, n), dtype),
              jnp.zeros((n + 1, readout.n), dtype), jnp.zeros((), dtype), jnp.zeros((), jnp.int32))
    carry, ys = jax.lax.scan(body, carry0, x_seq)
    g_h, g_out, value = carry[4], carry[5], carry[6]
    by_name = {(0, "w"): g_h[:n_in], (0, "b"): g_h[-1], (1, "w"): g_out[:n], (1, "b"): g_out[n]}
    if recurrent:
        by_name[(0, "w_rec")] = g_h[n_in:n_in + n]
    grads = _like_params(net, by_name, wrt)
    return (value, grads, ys) if record_y else (value, grads)
