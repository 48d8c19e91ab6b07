"""The WKV recurrence of RWKV-4: linear attention with a per-channel exponential decay.

For one channel (every channel runs independently), keys ``k_t`` and values ``v_t`` at tokens
``t = 0 .. T-1``, a decay parameter ``w`` and a bonus ``u`` for the current token:

    y_t = ( sum_{i<t} e^{-(t-1-i) e^w + k_i} v_i  +  e^{u + k_t} v_t )
          / ( sum_{i<t} e^{-(t-1-i) e^w + k_i}     +  e^{u + k_t}     )

so ``y_t`` is a weighted mean of the values seen so far, with weights ``e^{k_i}`` that shrink by
the factor ``exp(-exp(w))`` (in (0, 1) for any real ``w``) per token of age; the current token
gets ``e^{u}`` in place of a decay. This is RWKV-4's convention (Peng et al. 2023, "RWKV:
Reinventing RNNs for the Transformer Era", Findings of EMNLP; the ``time_decay`` parameter of
BlinkDL/RWKV-LM, which its kernel receives as ``-exp(time_decay)``), the one SpikeGPT uses
(Zhu, Zhao, Li & Eshraghian 2024, TMLR; ridgerchu/SpikeGPT).

Written directly, ``e^{k}`` overflows (float32 at k > 88). :func:`wkv` runs the recurrence as
a ``lax.scan`` over the tokens with the two running sums kept relative to the largest exponent
seen so far, ``m``: the carry ``(a, b, m)`` stands for ``(a e^m, b e^m)`` = (numerator,
denominator) of the tokens before ``t``. At each token

    n   = max(m, u + k_t);        y_t = (e^{m-n} a + e^{u+k_t-n} v_t) / (e^{m-n} b + e^{u+k_t-n})
    m'  = max(m - e^w, k_t);      a' = e^{m-e^w-m'} a + e^{k_t-m'} v_t;  b' = e^{m-e^w-m'} b + e^{k_t-m'}

Every exponent is <= 0, and the denominators are >= 1 from the first token on, so nothing
overflows whatever the keys. The result does not depend on which ``m`` is carried, so ``m`` is
held out of differentiation (``stop_gradient``): the gradient is the exact one of the formula
above, by autodiff through the scan (no hand-written backward pass).

:func:`wkv_reference` is the formula written out, O(T^2), for tests; :func:`wkv_step` is one
token of the recurrence, for running a model token by token (generation); :func:`wkv_segment`
runs a stretch of tokens from a given state and returns the state after it, so a long sequence
can be processed piece by piece (chunked BPTT) with the same result as in one piece.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["WKVState", "wkv", "wkv_init", "wkv_reference", "wkv_segment", "wkv_step"]


class WKVState(NamedTuple):
    """The recurrence's carry for C channels (each (..., C)): ``a`` and ``b``, the weighted sums
    of values and of weights over the tokens so far, both divided by ``e^m``; ``m``, the largest
    exponent seen (``-inf`` before the first token)."""

    a: jax.Array
    b: jax.Array
    m: jax.Array


def wkv_init(shape, dtype=jnp.float32) -> WKVState:
    """The state before the first token: empty sums, ``m = -inf``; ``shape`` is (..., C)."""
    zeros = jnp.zeros(shape, dtype)
    return WKVState(a=zeros, b=zeros, m=jnp.full(shape, -jnp.inf, dtype))


def wkv_step(state: WKVState, w, u, k_t, v_t):
    """One token: ``(state, y_t)`` from the state of the tokens before it and ``k_t``, ``v_t``
    (..., C); ``w``, ``u`` (C,) as in :func:`wkv`."""
    a, b, m = state
    w, u = jnp.broadcast_to(w, k_t.shape), jnp.broadcast_to(u, k_t.shape)
    n = jax.lax.stop_gradient(jnp.maximum(m, u + k_t))
    e_old, e_new = jnp.exp(m - n), jnp.exp(u + k_t - n)
    y = (e_old * a + e_new * v_t) / (e_old * b + e_new)
    decayed = m - jnp.exp(w)
    m_next = jax.lax.stop_gradient(jnp.maximum(decayed, k_t))
    e_old, e_new = jnp.exp(decayed - m_next), jnp.exp(k_t - m_next)
    return WKVState(a=e_old * a + e_new * v_t, b=e_old * b + e_new, m=m_next), y


def _check(w, u, k, v):
    w, u, k, v = (jnp.asarray(a) for a in (w, u, k, v))
    if k.ndim < 2 or k.shape != v.shape:
        raise ValueError(f"wkv: k and v must have the same shape (..., T, C), got k {k.shape} and v {v.shape}")
    c = k.shape[-1]
    if w.shape != (c,) or u.shape != (c,):
        raise ValueError(f"wkv: w and u must have shape (C,) = ({c},) (one per channel), got w {w.shape} and u {u.shape}")
    dtype = jnp.result_type(w, u, k, v)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    return tuple(a.astype(dtype) for a in (w, u, k, v))


def wkv(w, u, k, v):
    """RWKV-4's WKV (module docstring), stable for any keys: ``y`` with the shape of ``k``.

    Args:
        w: (C,) decay parameters; the weight of a token shrinks by ``exp(-exp(w))`` per token.
        u: (C,) the bonus of the current token (its weight is ``e^{u + k_t}``).
        k, v: (T, C) keys and values, or (B, T, C) (each sequence of the batch independently,
            by ``vmap``; any number of leading axes).
    """
    w, u, k, v = _check(w, u, k, v)
    return _scan(wkv_init(k.shape[:-2] + k.shape[-1:], k.dtype), w, u, k, v)[1]


def wkv_segment(state: WKVState, w, u, k, v):
    """``(state after, y)``: the tokens ``k``, ``v`` (..., T, C) run from ``state`` (each field
    (..., C), the state of the tokens before them, e.g. :func:`wkv_init` or the state a previous
    segment returned). Running a sequence in consecutive segments gives the numbers of one
    :func:`wkv` call over all of it; ``w``, ``u`` as in :func:`wkv`."""
    w, u, k, v = _check(w, u, k, v)
    state = WKVState(*(jnp.asarray(a, k.dtype) for a in state))
    if any(a.shape != k.shape[:-2] + k.shape[-1:] for a in state):
        raise ValueError(f"wkv_segment: the state's fields must have shape {k.shape[:-2] + k.shape[-1:]} (the keys' "
                         f"shape without the token axis), got {[a.shape for a in state]}")
    return _scan(state, w, u, k, v)


def _scan(state, w, u, k, v):
    """:func:`wkv_step` over the token axis of checked inputs (``vmap`` over leading axes)."""
    if k.ndim > 2:
        return jax.vmap(_scan, in_axes=(0, None, None, 0, 0))(state, w, u, k, v)
    return jax.lax.scan(lambda s, kv: wkv_step(s, w, u, *kv), state, (k, v))


def wkv_reference(w, u, k, v):
    """The WKV formula written out over all pairs of tokens, O(T^2) time and memory, with no
    guard against overflow (``e^{k}`` as it stands): the definition :func:`wkv` is tested
    against. Shapes as :func:`wkv`."""
    w, u, k, v = _check(w, u, k, v)
    lead, (t, c) = k.shape[:-2], k.shape[-2:]
    age = (jnp.arange(t)[:, None] - 1 - jnp.arange(t)[None, :])[:, :, None]    # (t, i, 1): t - 1 - i
    past = jnp.broadcast_to(age >= 0, (t, t, c))
    decay = jnp.where(past, -age * jnp.exp(w)[None, None, :], 0.0)             # (T, T, C)
    full = lead + (t, t, c)
    expo = jnp.broadcast_to(decay, full) + jnp.broadcast_to(k[..., None, :, :], full)
    weight = jnp.where(jnp.broadcast_to(past, full), jnp.exp(expo), 0.0)        # (..., T, T, C)
    now = jnp.exp(jnp.broadcast_to(u, k.shape) + k)                             # (..., T, C)
    num = jnp.sum(weight * jnp.broadcast_to(v[..., None, :, :], full), axis=-2) + now * v
    den = jnp.sum(weight, axis=-2) + now
    return num / den
