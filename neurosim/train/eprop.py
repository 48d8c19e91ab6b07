"""e-prop: online gradients with eligibility traces, O(1) memory in time (Bellec et al. 2020).

For a network ``SpikingLayer -> LeakyReadout`` and a loss that is a sum over steps,
``E = sum_t l^t(y^t)``, e-prop computes in one forward pass, without storing the past,

    dE/dW_ji  ~=  sum_t L_j^t  ebar_ji^t                  (Bellec et al. 2020, Nat. Commun. 11:3625)

* the *learning signal* ``L_j^t = sum_k B_jk dl^t/dy_k^t`` (``B = W_out^T``: symmetric e-prop,
  or a fixed random matrix: random e-prop);
* the *eligibility trace* ``e_ji^t = dz_j^t/dW_ji`` through neuron j's own state only: with the
  neuron step ``(h^t, z^t) = f(h^{t-1}, I^t)`` and ``I_j^t = sum_i W_ji x_i^t``,

      eps_ji^t = (d h^t / d h^{t-1}) eps_ji^{t-1} + (d h^t / d I^t) x_i^t      (eligibility vector)
      e_ji^t   = (d z^t / d h^{t-1}) eps_ji^{t-1} + (d z^t / d I^t) x_i^t

  where the derivatives are the per-neuron Jacobians of the neurosim model's own ``step`` (taken
  by forward-mode differentiation, so every neuron model works, and the spike's derivative is
  the model's surrogate);
* ``ebar`` is ``e`` low-pass filtered by the readout's own leak ``kappa``, which moves the
  readout's memory from the future (BPTT) to the past (online).

What e-prop drops is only the dependence of *other* neurons' inputs on z through the recurrent
weights. Without recurrent connections nothing is dropped and the result equals BPTT's gradient
(same surrogate, same detached reset) to rounding: the tests check that. The readout's weights
get their exact gradient ``sum_t zbar^t (dl^t/dy^t)`` (zbar: z filtered by kappa) in any case.

The losses e-prop accepts are sums over steps: :class:`~neurosim.train.losses.CrossEntropy`
with ``readout="steps"`` (optionally a ``window``) and :class:`~neurosim.train.losses.StepMSE`.
Memory: the carry holds ``eps`` (B, n_in + n, n, m) for m state variables per neuron, none of
it grows with the number of steps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from .layers import LeakyReadout, SpikingLayer, SpikingNetwork
from .losses import CrossEntropy, StepMSE, window_bounds

__all__ = ["eprop_gradients"]


def _step_losses(loss, n_steps):
    """``l(y_t, target, t) -> scalar`` whose sum over t is ``loss(outputs, target)``."""
    if isinstance(loss, CrossEntropy) and loss.readout == "steps":
        start, stop = window_bounds(loss.window, n_steps)

        def step_loss(y, labels, t):
            inside = ((t >= start) & (t < stop)).astype(y.dtype)
            ce = optax.softmax_cross_entropy_with_integer_labels(y, labels).mean()
            return inside * ce / (stop - start)

        return step_loss, False
    if isinstance(loss, StepMSE):
        def step_loss(y, targets, t):                       # targets: (B, T, C)
            return jnp.mean(jnp.sum((y - targets[:, t]) ** 2, axis=-1)) / (2 * n_steps)

        return step_loss, True
    raise ValueError(f"e-prop needs a loss that is a sum over steps: CrossEntropy(readout='steps') or StepMSE(), "
                     f"got {loss!r}")


def _check_network(net):
    if not isinstance(net, SpikingNetwork) or len(net.layers) != 2 or not isinstance(net.layers[0], SpikingLayer) \
            or not isinstance(net.layers[1], LeakyReadout):
        raise ValueError("eprop_gradients needs SpikingNetwork(SpikingLayer(...), LeakyReadout(...)); got "
                         f"{type(net).__name__} with layers {[type(x).__name__ for x in getattr(net, 'layers', [])]}")
    hidden = net.layers[0]
    if hidden.recurrent not in (None, "dense"):
        kind = "CSR" if hidden.recurrent == "csr" else type(hidden.recurrent).__name__
        raise ValueError(f"eprop_gradients supports recurrent=None or 'dense' layers, got a {kind} one "
                         "(train sparse recurrent layers by BPTT)")
    return hidden, net.layers[1]


def _online_inputs(net, x_seq, target, loss, feedback):
    """What an online rule (e-prop, the three-factor rule) checks and needs: ``(hidden, readout,
    x_seq, target, step_loss, feedback matrix)``."""
    hidden, readout = _check_network(net)
    if getattr(hidden, "max_delay", None) is not None:
        raise ValueError(f"the online rules do not learn input delays (the hidden layer has max_delay = {hidden.max_delay}): "
                         "train it by BPTT (fit(..., gradient='bptt'), the default)")
    loss = CrossEntropy(readout="steps") if loss is None else loss
    x_seq = jnp.asarray(x_seq)
    if x_seq.ndim != 3 or x_seq.shape[2] != hidden.n_in:
        raise ValueError(f"x_seq must have shape (T, B, {hidden.n_in}), got {x_seq.shape}")
    n_steps, batch = x_seq.shape[:2]
    step_loss, per_step_target = _step_losses(loss, n_steps)
    target = jnp.asarray(target)
    if per_step_target and target.shape != (batch, n_steps, readout.n):
        raise ValueError(f"StepMSE targets must have shape {(batch, n_steps, readout.n)}, got {target.shape}")
    if not per_step_target and target.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {target.shape}")
    w_out = readout.w[...]
    fb = w_out if feedback is None else jnp.asarray(feedback)
    if fb.shape != w_out.shape:
        raise ValueError(f"feedback must have the readout's weight shape {w_out.shape}, got {fb.shape}")
    return hidden, readout, x_seq, target, step_loss, fb


def _jacobians(f, h, i):
    """Per-neuron Jacobians of an elementwise step ``f(h, I) -> (h', z)`` (h: a NamedTuple of
    (B, n) arrays with m fields): ``(h', z, Jh (B,n,m,m), Jzh (B,n,m), JI (B,n,m), JzI (B,n))``."""
    (h2, z), tangent_of = jax.linearize(f, h, i)        # one forward pass, m + 1 tangents through it
    zeros_h = jax.tree.map(jnp.zeros_like, h)
    cols, zcols = [], []
    for a in range(len(h)):
        unit = type(h)(*[jnp.ones_like(v) if k == a else jnp.zeros_like(v) for k, v in enumerate(h)])
        dh, dz = tangent_of(unit, jnp.zeros_like(i))
        cols.append(jnp.stack(list(dh), axis=-1))
        zcols.append(dz)
    dhi, dzi = tangent_of(zeros_h, jnp.ones_like(i))
    return h2, z, jnp.stack(cols, axis=-1), jnp.stack(zcols, axis=-1), jnp.stack(list(dhi), axis=-1), dzi


def eprop_gradients(net, x_seq, target, *, loss=None, feedback=None, record_y: bool = False, wrt=nnx.Param):
    """``(loss value, grads[, y])`` of ``net`` on an input (T, B, n_in) by e-prop (module docstring).

    Args:
        net: ``SpikingNetwork(SpikingLayer(...), LeakyReadout(...))``.
        target: labels (B,) for ``CrossEntropy("steps")``, targets (B, T, C) for ``StepMSE``.
        loss: default ``CrossEntropy(readout="steps")``.
        feedback: None (symmetric, ``B = W_out^T``) or a fixed (n, C) array (random e-prop).
        record_y: also return the readout (T, B, C) (memory grows with T then).
        wrt: an nnx filter of the weights to return gradients for (default all ``nnx.Param``;
            e.g. ``nnx.All(nnx.Param, nnx.Not(nnx.PathContains("w_rec")))`` keeps the recurrent
            weights fixed).

    ``grads`` has the structure of ``nnx.state(net, wrt)``, ready for optax.
    """
    hidden, readout, x_seq, target, step_loss, fb = _online_inputs(net, x_seq, target, loss, feedback)
    n_steps, batch = x_seq.shape[:2]

    dt = net.dt
    kappa = jnp.exp(-dt / jnp.asarray(readout.params.get_value().tau))
    recurrent = hidden.recurrent == "dense"
    carry0 = net.init_carry(batch)
    (h0, past0), r0 = carry0
    m = len(h0)
    n, n_in = hidden.n, hidden.n_in
    dtype = x_seq.dtype
    pre_n = n_in + (n if recurrent else 0) + 1            # inputs, recurrent spikes, the bias's constant 1
    zeros = dict(
        eps=jnp.zeros((batch, pre_n, n, m), dtype), ebar=jnp.zeros((batch, pre_n, n), dtype),
        zbar=jnp.zeros((batch, n + 1), dtype), g_h=jnp.zeros((pre_n, n), dtype),
        g_out=jnp.zeros((n + 1, readout.n), dtype), value=jnp.zeros((), dtype))

    def f(h, i):
        return hidden.neuron_step(h, i, dt)

    def body(carry, item):
        (h, past), r, acc = carry
        x, t = item
        i = hidden.drive(x, past)
        h, z, jh, jzh, ji, jzi = _jacobians(f, h, i)
        pre = [x] + ([past[0]] if recurrent else []) + [jnp.ones((batch, 1), dtype)]
        pre = jnp.concatenate(pre, axis=-1)                                   # (B, pre_n)
        eps = acc["eps"]
        e = jnp.einsum("bjm,bijm->bij", jzh, eps) + jzi[:, None, :] * pre[:, :, None]
        eps = jnp.einsum("bjma,bija->bijm", jh, eps) + ji[:, None, :, :] * pre[:, :, None, None]
        ebar = kappa * acc["ebar"] + e
        past = jnp.concatenate([past[1:], z[None].astype(past.dtype)], axis=0)
        r, y = readout.step(r, z, dt)
        value, dy = jax.value_and_grad(step_loss)(y, target, t)                  # dy: (B, C)
        signal = dy @ fb.T                                                    # (B, n) learning signal
        zbar = kappa * acc["zbar"] + jnp.concatenate([z, jnp.ones((batch, 1), dtype)], axis=-1)
        acc = dict(eps=eps, ebar=ebar, zbar=zbar,
                   g_h=acc["g_h"] + jnp.einsum("bj,bij->ij", signal, ebar),
                   g_out=acc["g_out"] + zbar.T @ dy, value=acc["value"] + value)
        return ((h, past), r, acc), (y if record_y else ())

    (_, _, acc), ys = jax.lax.scan(body, ((h0, past0), r0, zeros), (x_seq, jnp.arange(n_steps)))
    g_h, g_out = acc["g_h"], acc["g_out"]
    by_name = {(0, "w"): g_h[:n_in], (0, "b"): g_h[-1], (1, "w"): g_out[:n], (1, "b"): g_out[n]}
    if recurrent:
        by_name[(0, "w_rec")] = g_h[n_in:n_in + n]
    grads = _like_params(net, by_name, wrt)
    return (acc["value"], grads, ys) if record_y else (acc["value"], grads)


def _like_params(net, by_name, wrt=nnx.Param):
    """The gradients ``by_name`` ((layer index, name) -> array) shaped like ``nnx.state(net, wrt)``."""
    state = nnx.state(net, wrt)

    def pick(path, leaf):
        keys = [getattr(p, "key", getattr(p, "idx", None)) for p in path]
        layer = next(k for k in keys if isinstance(k, (int, np.integer)))
        name = next(k for k in reversed(keys) if isinstance(k, str) and k != "value")
        if (int(layer), name) not in by_name:
            raise ValueError(f"e-prop and the three-factor rule have no gradient for {jax.tree_util.keystr(path)} "
                             "(they train the weights and biases, nnx.Param)")
        return by_name[(int(layer), name)].astype(leaf.dtype)

    return jax.tree_util.tree_map_with_path(pick, state)
