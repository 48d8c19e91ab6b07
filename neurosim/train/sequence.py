"""A spiking RWKV language model (SpikeGPT, Zhu, Zhao, Li & Eshraghian 2024), as flax nnx modules.

The model reads a sequence of tokens (characters) and gives, at each position, the logits of
the next one. The token axis is the time axis of the spiking neurons: one token per step.

    x^0   = spike(E[token], 1)                          binary embedding (SpikeGPT's code; real
                                                          valued when ``spiking=False``)
    x     = LN_0(x^0)                                    (first block only)
    per block l = 1..L:
        x = x + LIF( TimeMix(LN_1(x)) )                  the LIF runs over the token axis
        x = x + LIF( ChannelMix(LN_2(x)) )
    logits = LN_out(x) W_head

**Time mix** (RWKV-4): token shift mixes each position with the one before it (zeros before
the first), per channel, ``x_k = mu_k x_t + (1 - mu_k) x_{t-1}`` (likewise ``x_v``, ``x_r``);
``k = x_k W_k``, ``v = x_v W_v``, ``r = x_r W_r``; the output is
``(sigmoid(r) * wkv(w, u, k, v)) W_o`` with :func:`~neurosim.train.wkv.wkv` (per-channel decay
``exp(-exp(w))`` per token, bonus ``u``). **Channel mix**: the same token shift, then
``sigmoid(x_r W_r) * (relu(x_k W_k)^2 W_v)`` with a hidden width of 4 C.

**The LIF** is neurosim's :class:`~neurosim.neurons.LIF`, stepped once per token (dt = 1) on
each of the C channels of a sublayer's output, its input the sublayer's output itself:

    V^t = kappa V^{t-1} + (1 - kappa) I^t ,   s^t = spike(V^t - 1) ,   V^t <- 0 where s^t = 1

(rest and reset 0, threshold 1, no refractory period, the reset not detached from the
gradient, arctan surrogate ``1 / (1 + (pi x)^2)``, i.e. neurosim's ``"arctan"`` at scale 1).
SpikeGPT's code uses spikingjelly's multi-step LIF with tau = 2 (``V <- V + (I - V) / tau``:
forward Euler, decaying the input, hard reset to 0, threshold 1, ``detach_reset=False``) and
its ATan surrogate with alpha = 2, whose derivative ``(alpha / 2) / (1 + (pi alpha x / 2)^2)``
is the same function. Forward Euler with tau = 2 is neurosim's exact integration with
``kappa = exp(-dt / tau_m) = 1 - 1 / tau``: ``tau_m = 1 / ln(tau / (tau - 1))`` = 1.4427 ms at
tau = 2 and dt = 1 ms, which :func:`lif_over_tokens` sets; the two give the same numbers.

``spiking=False`` removes the LIFs (each sublayer's output is added to the residual stream as
it is) and the binary embedding: the plain RWKV of the same size, the non-spiking model the
paper compares with.

Left out of SpikeGPT's code: dropout (0.03), the ``L2Wrap`` logit penalty, RWKV's orthogonal
initialisation (normal here, with RWKV's zeros for the key, receptance and output matrices
and its per-channel decay and token-shift profiles).

Run token by token (:meth:`SpikingRWKV.step`), the same model is a recurrent network whose
state is, per block, the last input of each token shift, the WKV sums and the membranes:
:func:`generate` samples text that way. The parallel form (:meth:`SpikingRWKV.__call__`)
refuses sequences longer than the model's ``context``.

Costs (:func:`operation_counts`): a spike of a LIF layer reaches the weights that the next
sublayer reads from the residual stream (time mix: W_k, W_v, W_r, 3 C; channel mix: W_k, W_r,
5 C; after the last block the head, V). A synaptic operation (SOP) is one such spike times one
weight, against the C x fan-out multiply-accumulates (MACs) of the dense input. This count is
an idealisation, as the paper's energy estimate is: the next sublayer reads a LayerNorm of the
residual stream, which is not binary.
"""
from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .. import _checks
from ..neurons import LIF, LIFParams
from ..neurons.spike import spike
from .wkv import wkv_init, wkv_segment

__all__ = [
    "ChannelMix", "LMOutputs", "SpikingRWKV", "TimeMix", "bits_per_character", "evaluate_language_model", "generate", "lif_over_tokens",
    "fit_language_model", "lm_gradient", "lm_loss", "operation_counts", "perplexity", "sequence_loss", "token_lif",
]


def token_lif(tau: float = 2.0, threshold: float = 1.0, scale: float = 1.0, surrogate: str = "arctan"):
    """``(model, params)``: neurosim's :class:`~neurosim.neurons.LIF` as spikingjelly's multi-step
    LIF of time constant ``tau`` (in steps, > 1) at one step per token: ``tau_m = 1 / ln(tau /
    (tau - 1))`` ms at dt = 1 ms (so ``kappa = 1 - 1 / tau``), rest and reset 0, threshold
    ``threshold``, no refractory period, the reset in the gradient, surrogate ``surrogate`` of
    scale ``scale`` (SpikeGPT: tau 2, threshold 1, arctan at scale 1 = ATan(alpha=2))."""
    tau = _checks.positive_finite("tau", tau)
    if not tau > 1:
        raise ValueError(f"token_lif: tau must be > 1 token (the membrane keeps 1 - 1/tau of itself per token), got {tau}")
    model = LIF(surrogate=surrogate, detach_reset=False)
    params = LIFParams(v_rest=0.0, v_reset=0.0, v_th=_checks.positive_finite("threshold", threshold),
                       c_m=1.0 / math.log(tau / (tau - 1.0)), g_l=1.0, t_ref=0.0,
                       slope=_checks.positive_finite("scale", scale))
    return model, params


def _lif_state(shape, dtype):
    z = jnp.zeros(shape, dtype)
    return LIF.State(v=z, t_left=z)


def lif_over_tokens(model, params, x, state=None):
    """Spikes (B, T, C) of LIF neurons driven by ``x`` (B, T, C), one step (dt = 1 ms) per token,
    from rest (or from ``state``, and then ``(state after, spikes)`` is returned): ``(model,
    params)`` as :func:`token_lif` makes them."""
    def body(st, i_t):
        return model.step(params, st, i_t, 1.0)

    start = _lif_state(x.shape[:1] + x.shape[2:], x.dtype) if state is None else state
    end, s = jax.lax.scan(body, start, jnp.swapaxes(x, 0, 1))
    s = jnp.swapaxes(s, 0, 1)
    return s if state is None else (end, s)


def _shift(x, prev=None):
    """Each position's previous one, x (B, T, C): ``prev`` (B, C) before the first (zeros if None)."""
    first = jnp.zeros_like(x[:, :1]) if prev is None else prev[:, None].astype(x.dtype)
    return jnp.concatenate([first, x[:, :-1]], axis=1)


def _mix(x, prev, mu):
    mu = jnp.broadcast_to(mu, x.shape)
    return x * mu + prev * (1.0 - mu)


def _dense(key, n_in, n_out, std, dtype):
    if std == 0:
        return nnx.Param(jnp.zeros((n_in, n_out), dtype))
    return nnx.Param(std * jax.random.normal(key, (n_in, n_out), dtype))


def _profile(c, power, dtype):
    """RWKV's token-shift profile: channel i of C mixes in (i / C)^power of the current token."""
    return jnp.asarray((np.arange(c) / c) ** power, dtype)


class TimeMix(nnx.Module):
    """RWKV-4's time mix (module docstring) on (B, T, C): token shift, R/K/V, WKV, receptance
    gate, output. Initialised as RWKV: decays ``w_c = -5 + 8 (c / (C-1))^(0.7 + 1.3 l/(L-1))``,
    bonus ``ln 0.3`` plus a zigzag, token-shift profiles by depth, W_k, W_r and W_o zero."""

    def __init__(self, c: int, layer: int, n_layer: int, *, rngs: nnx.Rngs, dtype=jnp.float32):
        deep = layer / max(n_layer - 1, 1)                  # 0 .. 1
        shallow = 1.0 - layer / n_layer                     # 1 .. ~0
        ch = np.arange(c)
        self.w = nnx.Param(jnp.asarray(-5.0 + 8.0 * (ch / max(c - 1, 1)) ** (0.7 + 1.3 * deep), dtype))
        self.u = nnx.Param(jnp.asarray(math.log(0.3) + 0.5 * ((ch + 1) % 3 - 1), dtype))
        self.mu_k = nnx.Param(_profile(c, shallow, dtype))
        self.mu_v = nnx.Param(_profile(c, shallow, dtype) + 0.3 * deep)
        self.mu_r = nnx.Param(_profile(c, 0.5 * shallow, dtype))
        std = 1.0 / math.sqrt(c)
        self.wk = _dense(rngs.params(), c, c, 0.0, dtype)
        self.wv = _dense(rngs.params(), c, c, std, dtype)
        self.wr = _dense(rngs.params(), c, c, 0.0, dtype)
        self.wo = _dense(rngs.params(), c, c, 0.0, dtype)

    def _rkv(self, x, prev):
        k = _mix(x, prev, self.mu_k[...]) @ self.wk[...]
        v = _mix(x, prev, self.mu_v[...]) @ self.wv[...]
        r = _mix(x, prev, self.mu_r[...]) @ self.wr[...]
        return jax.nn.sigmoid(r), k, v

    def __call__(self, x):
        return self.segment(self.init_state(x.shape[0], x.dtype), x)[1]

    def segment(self, state, x):
        """``(state after, output (B, T, C))`` for the tokens ``x`` (B, T, C) that follow ``state``."""
        prev, s = state
        sr, k, v = self._rkv(x, _shift(x, prev))
        s, y = wkv_segment(s, self.w[...], self.u[...], k, v)
        return (x[:, -1], s), (sr * y) @ self.wo[...]

    def init_state(self, batch, dtype):
        """``(previous input (B, C), WKV state)`` before the first token."""
        c = self.w.shape[0]
        return jnp.zeros((batch, c), dtype), wkv_init((batch, c), dtype)

    def step(self, state, x_t):
        """One token: ``(state, output (B, C))`` from ``x_t`` (B, C): a segment of one token."""
        state, y = self.segment(state, x_t[:, None])
        return state, y[:, 0]


class ChannelMix(nnx.Module):
    """RWKV-4's channel mix (module docstring): token shift, ``sigmoid(x_r W_r) * (relu(x_k
    W_k)^2 W_v)``, hidden width ``4 C``; W_r and W_v start at zero, as RWKV's."""

    def __init__(self, c: int, layer: int, n_layer: int, *, rngs: nnx.Rngs, dtype=jnp.float32):
        shallow = 1.0 - layer / n_layer
        self.mu_k = nnx.Param(_profile(c, shallow, dtype))
        self.mu_r = nnx.Param(_profile(c, shallow, dtype))
        self.wk = _dense(rngs.params(), c, 4 * c, 1.0 / math.sqrt(c), dtype)
        self.wr = _dense(rngs.params(), c, c, 0.0, dtype)
        self.wv = _dense(rngs.params(), 4 * c, c, 0.0, dtype)

    def _out(self, x, prev):
        k = jnp.square(jax.nn.relu(_mix(x, prev, self.mu_k[...]) @ self.wk[...]))
        return jax.nn.sigmoid(_mix(x, prev, self.mu_r[...]) @ self.wr[...]) * (k @ self.wv[...])

    def __call__(self, x):
        return self._out(x, _shift(x))

    def segment(self, prev, x):
        """``(last input (B, C), output (B, T, C))`` for ``x`` (B, T, C) after the input ``prev`` (B, C)."""
        return x[:, -1], self._out(x, _shift(x, prev))

    def step(self, prev, x_t):
        """One token: ``(x_t, output (B, C))``; the state is the previous input (B, C)."""
        return x_t, self._out(x_t, prev)


class _Block(nnx.Module):
    def __init__(self, c, layer, n_layer, *, rngs, dtype):
        ln = dict(epsilon=1e-5, param_dtype=dtype, rngs=rngs)
        self.ln0 = nnx.LayerNorm(c, **ln) if layer == 0 else None
        self.ln1, self.ln2 = nnx.LayerNorm(c, **ln), nnx.LayerNorm(c, **ln)
        self.att = TimeMix(c, layer, n_layer, rngs=rngs, dtype=dtype)
        self.ffn = ChannelMix(c, layer, n_layer, rngs=rngs, dtype=dtype)


class LMOutputs(NamedTuple):
    """What :meth:`SpikingRWKV.__call__` returns for tokens (B, T)."""

    logits: jax.Array   # (B, T, V): the next token's logits at each position
    rates: jax.Array    # (2 L,): spikes per neuron per token of each LIF layer (time mix, channel mix
    #                     of block 1, then block 2, ...); zeros when spiking=False
    embedding_rate: jax.Array  # (): the fraction of ones in the binary embedding (0 when spiking=False)


class SpikingRWKV(nnx.Module):
    """SpikeGPT: RWKV-4 blocks whose sublayer outputs pass through LIF neurons (module docstring).

    Args:
        vocab_size: the number of distinct tokens (characters).
        n_embd, n_layer: the width C and the number of blocks L.
        context: the longest sequence the parallel form accepts (the training context).
        spiking: False removes the LIFs and the binary embedding (plain RWKV).
        tau, threshold, scale, surrogate: the LIF (:func:`token_lif`; SpikeGPT's 2, 1, 1, arctan).
        rngs: ``nnx.Rngs`` for the initial weights; ``dtype``: the parameters' dtype.
    """

    def __init__(self, vocab_size: int, *, n_embd: int = 128, n_layer: int = 4, context: int = 128,
                 spiking: bool = True, tau: float = 2.0, threshold: float = 1.0, scale: float = 1.0,
                 surrogate: str = "arctan", rngs: nnx.Rngs, dtype=jnp.float32):
        self.vocab_size = _checks.integer_at_least("vocab_size", vocab_size, 2)
        self.n_embd = _checks.integer_at_least("n_embd", n_embd)
        self.n_layer = _checks.integer_at_least("n_layer", n_layer)
        self.context = _checks.integer_at_least("context", context)
        self.spiking = bool(spiking)
        self.lif, self.lif_params = token_lif(tau, threshold, scale, surrogate)
        c, dtype = self.n_embd, jnp.dtype(dtype)
        self.embed = nnx.Param(1e-2 * jax.random.normal(rngs.params(), (self.vocab_size, c), dtype))
        self.blocks = nnx.List([_Block(c, i, self.n_layer, rngs=rngs, dtype=dtype) for i in range(self.n_layer)])
        self.ln_out = nnx.LayerNorm(c, epsilon=1e-5, param_dtype=dtype, rngs=rngs)
        self.head = _dense(rngs.params(), c, self.vocab_size, 0.5 / math.sqrt(c), dtype)

    # the parallel form: a whole sequence ---------------------------------------------------
    def _embed(self, tokens):
        e = self.embed[...][tokens]
        return spike(e, jnp.asarray(1.0, e.dtype), "arctan") if self.spiking else e

    def check_tokens(self, tokens):
        """``tokens`` as an integer array (B, T), or a ValueError saying what is wrong."""
        tokens = jnp.asarray(tokens)
        if tokens.ndim == 1:
            tokens = tokens[None]
        if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
            raise ValueError(f"tokens must be integers of shape (B, T), got {tokens.dtype} {tokens.shape}")
        if tokens.shape[1] > self.context:
            raise ValueError(f"a sequence of {tokens.shape[1]} tokens is longer than the model's context of "
                             f"{self.context}; cut it into pieces of at most {self.context} (or use generate, which "
                             f"runs the model token by token)")
        if not isinstance(tokens, jax.core.Tracer) and tokens.size:
            lo, hi = int(tokens.min()), int(tokens.max())
            if lo < 0 or hi >= self.vocab_size:
                raise ValueError(f"tokens must lie in [0, {self.vocab_size}) (the vocabulary's size), got "
                                 f"{lo if lo < 0 else hi}")
        return tokens

    def __call__(self, tokens) -> LMOutputs:
        """Logits and firing rates for integer tokens (B, T) with T <= ``context``."""
        tokens = self.check_tokens(tokens)
        return self.segment(self.init_state(tokens.shape[0]), tokens)[1]

    def segment(self, state, tokens):
        """``(state after, LMOutputs)`` for tokens (B, T), T <= ``context``, that follow ``state``
        (:meth:`init_state`, or the state a previous segment returned): a sequence run in
        consecutive segments gives the logits of one call over all of it (chunked BPTT,
        :func:`lm_gradient`); the rates are those of this segment."""
        tokens = self.check_tokens(tokens)
        x = self._embed(tokens)
        emb_rate = jnp.mean(x) if self.spiking else jnp.zeros((), x.dtype)
        rates, new = [], []
        for blk, (att_s, lif1, ffn_prev, lif2) in zip(self.blocks, state):
            if blk.ln0 is not None:
                x = blk.ln0(x)
            att_s, y = blk.att.segment(att_s, blk.ln1(x))
            lif1, y, r1 = self._fire(lif1, y)
            x = x + y
            ffn_prev, y = blk.ffn.segment(ffn_prev, blk.ln2(x))
            lif2, y, r2 = self._fire(lif2, y)
            x = x + y
            rates += [r1, r2]
            new.append((att_s, lif1, ffn_prev, lif2))
        out = LMOutputs(logits=self.ln_out(x) @ self.head[...], rates=jnp.stack(rates), embedding_rate=emb_rate)
        return tuple(new), out

    def _fire(self, lif_state, y):
        """A sublayer's output ``y`` (B, T, C) through the LIFs from ``lif_state``: ``(LIF state
        after, spikes, their mean rate)``; without spiking, ``y`` itself and a rate of 0."""
        if not self.spiking:
            return lif_state, y, jnp.zeros((), y.dtype)
        lif_state, s = lif_over_tokens(self.lif, self.lif_params, y, lif_state)
        return lif_state, s, jnp.mean(s)

    # the recurrent form: one token at a time ------------------------------------------------
    def init_state(self, batch: int = 1):
        """The state before the first token, for a batch of ``batch`` sequences."""
        dtype = self.embed[...].dtype
        c = self.n_embd
        return tuple((blk.att.init_state(batch, dtype), _lif_state((batch, c), dtype), jnp.zeros((batch, c), dtype),
                      _lif_state((batch, c), dtype)) for blk in self.blocks)

    def step(self, state, token):
        """One token per sequence: ``(state, logits (B, V))`` from integer ``token`` (B,), a
        :meth:`segment` of one token. The same numbers as the parallel form, position by position."""
        state, out = self.segment(state, jnp.asarray(token)[:, None])
        return state, out.logits[:, 0]


# losses and metrics --------------------------------------------------------------------------
def lm_loss(logits, targets):
    """Mean cross-entropy (nats per token) of ``logits`` (..., V) against integer ``targets`` (...)."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], axis=-1))


def _rate_penalty(rate_penalty: float, rate_target: float) -> tuple:
    """``(coefficient, target)``, checked (hashable: a static argument of the compiled step)."""
    rate_penalty = float(rate_penalty)
    if not (math.isfinite(rate_penalty) and rate_penalty >= 0):
        raise ValueError(f"rate_penalty must be >= 0, got {rate_penalty}")
    rate_target = float(rate_target)
    if not math.isfinite(rate_target):
        raise ValueError(f"rate_target must be finite, got {rate_target}")
    return rate_penalty, rate_target


def _segments(x, chunk: int):
    """(B, T) -> (T / chunk, B, chunk)."""
    b, t = x.shape
    return jnp.swapaxes(x.reshape(b, t // chunk, chunk), 0, 1)


def _check_chunk(bptt_chunk, length: int, truncate: bool = False):
    """The segment length (None: the whole sequence at once), checked against ``length``."""
    if bptt_chunk is None:
        if truncate:
            raise ValueError("truncate=True needs bptt_chunk, the length of the segments the gradient is truncated to")
        return None
    chunk = _checks.integer_at_least("bptt_chunk", bptt_chunk)
    if length % chunk:
        raise ValueError(f"bptt_chunk={chunk} must divide the sequence length {length} (the segments are equal)")
    return None if chunk >= length else chunk


def sequence_loss(model, x, y, *, bptt_chunk: int | None = None):
    """``(loss, rates)``: the mean next-token cross-entropy (nats) of ``model`` on tokens ``x``
    (B, T) against ``y`` (B, T) and the LIF layers' mean rates. With ``bptt_chunk`` (a divisor of
    T) the sequence runs in segments of that many tokens, each from the state the previous one
    left (:meth:`SpikingRWKV.segment`) and each under ``jax.checkpoint``: the same value and the
    same gradient, but the backward pass keeps one state per segment and recomputes a segment's
    activations when it needs them, instead of keeping the whole sequence's."""
    x, y = model.check_tokens(x), jnp.asarray(y)
    if y.shape != x.shape:
        raise ValueError(f"targets y must have the tokens' shape {x.shape}, got {y.shape}")
    chunk = _check_chunk(bptt_chunk, x.shape[1])
    if chunk is None:
        out = model(x)
        return lm_loss(out.logits, y), out.rates

    @jax.checkpoint
    def run(state, xc, yc):
        state, out = model.segment(state, xc)
        return state, (lm_loss(out.logits, yc), out.rates)

    _, (losses, rates) = jax.lax.scan(lambda s, xy: run(s, *xy), model.init_state(x.shape[0]),
                                      (_segments(x, chunk), _segments(y, chunk)))
    return jnp.mean(losses), jnp.mean(rates, axis=0)


def _loss_and_grad(graphdef, params, rest, x, y, chunk, truncate, rate_penalty):
    """``(loss, rates, grads)``: the mean next-token loss (nats) of tokens ``x`` (B, T) against
    ``y`` and its gradient with respect to ``params``, whole or segment by segment (:func:`lm_gradient`)."""
    batch = x.shape[0]

    def penalty(rates):
        return coefficient * jnp.sum(jnp.square(jax.nn.relu(rates - target)))

    coefficient, target = rate_penalty
    if chunk is None or not truncate:
        def objective(p):
            loss, rates = sequence_loss(nnx.merge(graphdef, p, rest), x, y, bptt_chunk=chunk)
            return loss + penalty(rates), (loss, rates)

        (_, (loss, rates)), grads = jax.value_and_grad(objective, has_aux=True)(params)
        return loss, rates, grads
    xs, ys = _segments(x, chunk), _segments(y, chunk)
    state0 = nnx.merge(graphdef, params, rest).init_state(batch)

    def run(p, state, xc, yc):
        state, out = nnx.merge(graphdef, p, rest).segment(state, xc)
        return state, lm_loss(out.logits, yc), out.rates

    def body(carry, xy):
        state, total = carry

        def objective(p):
            after, loss, rates = run(p, state, *xy)
            return loss + penalty(rates), (after, loss, rates)

        (_, (state, loss, rates)), g = jax.value_and_grad(objective, has_aux=True)(params)
        return (state, jax.tree.map(jnp.add, total, g)), (loss, rates)

    zeros = jax.tree.map(jnp.zeros_like, params)
    (_, total), (losses, rates) = jax.lax.scan(body, (state0, zeros), (xs, ys))
    n = xs.shape[0]
    return jnp.mean(losses), jnp.mean(rates, axis=0), jax.tree.map(lambda g: g / n, total)


_loss_and_grad_jit = jax.jit(_loss_and_grad, static_argnums=(0, 5, 6, 7))


def lm_gradient(model, x, y, *, bptt_chunk: int | None = None, truncate: bool = False, rate_penalty: float = 0.0,
                rate_target: float = 0.0):
    """``(loss, rates, grads)``: the mean next-token cross-entropy (nats) of ``model`` on tokens
    ``x`` (B, T) against ``y`` (B, T), the LIF layers' mean rates, and the gradient of the loss
    (plus the rate penalty of :func:`fit_language_model`) with respect to the ``nnx.Param`` of
    ``model`` (an ``nnx.State``).

    ``bptt_chunk`` (a divisor of T): the sequence runs in segments of that many tokens, each from
    the state the previous one left (:meth:`SpikingRWKV.segment`), so the memory of the backward
    pass is that of one segment plus one state per segment instead of the whole sequence's
    activations:

    - ``truncate=False``: each segment under ``jax.checkpoint`` (recomputed in the backward pass);
      the gradient is that of the whole sequence (the same numbers as ``bptt_chunk=None`` to
      rounding).
    - ``truncate=True`` (with ``bptt_chunk``): truncated BPTT; the gradient of each segment's loss is taken at once and
      does not flow into earlier segments (the state is passed on as a constant). Memory no
      longer grows with T at all; the gradient is an approximation that ignores dependencies
      longer than a segment (the forward pass, and so the loss, are exact). The rate penalty is
      then the mean of the segments' penalties.
    """
    x, y = model.check_tokens(x), jnp.asarray(y)
    if y.shape != x.shape:
        raise ValueError(f"lm_gradient: targets y must have the tokens' shape {x.shape}, got {y.shape}")
    chunk = _check_chunk(bptt_chunk, x.shape[1], bool(truncate))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    return _loss_and_grad_jit(graphdef, params, rest, x, y, chunk, bool(truncate), _rate_penalty(rate_penalty, rate_target))


def evaluate_language_model(model, x, y, batch_size: int = 64) -> dict:
    """``model`` on contexts ``x`` and their next tokens ``y`` (both (N, T) integers), every
    position scored, in batches: ``{"bits_per_character", "perplexity", "rates" (2 L,),
    "embedding_rate"}`` (mean cross-entropy in bits per token, ``2^bits``, and the LIF layers'
    spikes per neuron per token, and the binary embedding's fraction of ones)."""
    y = jnp.asarray(y)
    if y.ndim == 1 and jnp.ndim(x) == 1:      # one sequence: a batch of one, for both
        y = y[None]
    x = model.check_tokens(x)
    if y.shape != x.shape:
        raise ValueError(f"evaluate_language_model: x and y must have the same shape, got {x.shape} and {y.shape}")
    batch_size = _checks.integer_at_least("batch_size", batch_size)
    graphdef, state = nnx.split(model)
    nats, rates, emb = 0.0, 0.0, 0.0
    for i in range(0, x.shape[0], batch_size):
        n, r, e = _evaluate_batch(graphdef, state, x[i:i + batch_size], y[i:i + batch_size])
        nats, rates, emb = nats + float(n), rates + np.asarray(r, np.float64), emb + float(e)
    bits = nats / (x.size * math.log(2.0))
    return {"bits_per_character": bits, "perplexity": perplexity(bits), "rates": rates / x.size,
            "embedding_rate": emb / x.size}


@partial(jax.jit, static_argnums=0)
def _evaluate_batch(graphdef, state, xb, yb):
    """Summed cross-entropy (nats), per-layer spike rates times tokens, embedding rate times tokens."""
    out = nnx.merge(graphdef, state)(xb)
    logp = jax.nn.log_softmax(out.logits, axis=-1)
    return -jnp.sum(jnp.take_along_axis(logp, yb[..., None], axis=-1)), out.rates * yb.size, out.embedding_rate * yb.size


def bits_per_character(model, x, y, batch_size: int = 64) -> float:
    """Mean cross-entropy in bits per token of ``model`` on contexts ``x`` and their next
    tokens ``y`` (both (N, T) integers), over every position, in batches."""
    return evaluate_language_model(model, x, y, batch_size)["bits_per_character"]


def perplexity(bits: float) -> float:
    """Per-token perplexity ``2^bits`` from bits per token (``exp`` of the cross-entropy in nats)."""
    return float(2.0 ** bits)


def operation_counts(model, rates, embedding_rate=None) -> dict:
    """Synaptic operations per token against dense MACs (module docstring), from the firing
    ``rates`` (2 L,) of :class:`LMOutputs` (and the embedding's rate of ones).

    Returns ``{"sops", "macs_same_inputs", "sop_per_mac", "dense_macs", "per_layer"}``: SOPs per
    token of the spikes of every LIF layer (and the binary embedding) into the weights they
    reach; the MACs of those same weights fed dense inputs; their ratio; all the model's
    multiply-accumulates per token (every matrix, dense); and per layer ``(name, rate, fan-out,
    sops)``."""
    c, v, n = model.n_embd, model.vocab_size, model.n_layer
    rates = np.asarray(rates, np.float64).reshape(-1)
    if rates.shape != (2 * n,):
        raise ValueError(f"operation_counts: rates must hold 2 x {n} layer rates, got shape {rates.shape}")
    per_layer = []
    if embedding_rate is not None:
        per_layer.append(("embedding", float(embedding_rate), 3 * c, float(embedding_rate) * c * 3 * c))
    for i in range(n):
        for j, name in enumerate(("time mix", "channel mix")):
            fan = 5 * c if j == 0 else (3 * c if i < n - 1 else v)      # into the next sublayer
            rate = float(rates[2 * i + j])
            per_layer.append((f"block {i + 1} {name}", rate, fan, rate * c * fan))
    sops = sum(p[3] for p in per_layer)
    same = sum(c * p[2] for p in per_layer)
    dense = n * (4 * c * c + 9 * c * c) + c * v
    return {"sops": sops, "macs_same_inputs": float(same), "sop_per_mac": sops / same, "dense_macs": float(dense),
            "per_layer": per_layer}


def generate(model, vocab, prompt: str, n_new: int, *, temperature: float = 1.0, seed: int = 0) -> str:
    """``prompt`` followed by ``n_new`` characters sampled from ``model`` token by token (the
    recurrent form: the state carries over, so the text may run past the context).

    Args:
        vocab: the corpus's :class:`~neurosim.train.corpus.Vocabulary` (``encode``/``decode``).
        prompt: at least one character, all in the vocabulary, at most ``model.context`` long.
        temperature: > 0 divides the logits before sampling; 0 takes the most likely token.
        seed: the sampling's seed (the same seed, the same text).
    """
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"generate: the prompt must be a non-empty string, got {prompt!r}")
    if len(prompt) > model.context:
        raise ValueError(f"generate: the prompt has {len(prompt)} characters, more than the model's context of "
                         f"{model.context}")
    n_new = _checks.integer_at_least("n_new", n_new, 0)
    temperature = float(temperature)
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"generate: temperature must be >= 0 (0: the most likely token), got {temperature}")
    tokens = jnp.asarray(vocab.encode(prompt), jnp.int32)
    if n_new == 0:
        return prompt
    graphdef, state = nnx.split(model)
    key = jax.random.key(_checks.integer_at_least("seed", seed, 0))
    out = _sample(graphdef, n_new, temperature == 0, state, tokens, key, jnp.asarray(max(temperature, 1e-30)))
    return prompt + vocab.decode(np.asarray(out))


@partial(jax.jit, static_argnums=(0, 1, 2))
def _sample(graphdef, n_new, greedy, state, tokens, key, temperature):
    """The prompt through the recurrent form, then ``n_new`` tokens drawn one by one."""
    m = nnx.merge(graphdef, state)
    s, logits = jax.lax.scan(lambda s, t: m.step(s, t[None]), m.init_state(1), tokens)

    def draw(carry, k):
        s, last = carry
        t = jnp.argmax(last) if greedy else jax.random.categorical(k, last / temperature)
        s, logits = m.step(s, t[None].astype(jnp.int32))
        return (s, logits[0]), t

    _, out = jax.lax.scan(draw, (s, logits[-1, 0]), jax.random.split(key, n_new))
    return out


def fit_language_model(model, corpus, *, steps: int, batch_size: int = 32, optimizer=None, key=0,
                       eval_every: int = 100, eval_contexts: int = 64, rate_penalty: float = 0.0,
                       rate_target: float = 0.0, bptt_chunk: int | None = None, truncate: bool = False,
                       progress: bool = True) -> dict:
    """Train ``model`` in place on next-character prediction over a
    :class:`~neurosim.train.corpus.CharCorpus`: ``steps`` updates on batches of ``batch_size``
    random contexts of ``model.context`` characters from the training part (on the device,
    ``eval_every`` steps per compiled call), the loss :func:`lm_loss` at every position.

    Every ``eval_every`` steps the history records the mean training loss (bits per character)
    of those steps, the held-out bits per character on the first ``eval_contexts`` held-out
    contexts, the LIF layers' mean firing rates and the seconds taken. ``optimizer``: an optax
    transformation (default Adam, 1e-3). ``key``: an integer seed. ``rate_penalty`` > 0 adds
    ``rate_penalty * sum_l max(0, r_l - rate_target)^2`` over the LIF layers' mean rates ``r_l``
    to the loss (the rates are differentiable through the surrogate), to keep the layers sparse.
    ``bptt_chunk``, ``truncate``: the backward pass segment by segment, to bound its memory
    (:func:`lm_gradient`). Returns the history
    ``{"step", "train_bpc", "held_out_bpc", "rates", "time_s", "tokens_per_s"}``.
    """
    import optax
    import sys
    import time

    steps = _checks.integer_at_least("steps", steps)
    batch_size = _checks.integer_at_least("batch_size", batch_size)
    eval_every = min(_checks.integer_at_least("eval_every", eval_every), steps)
    if corpus.vocab.size != model.vocab_size:
        raise ValueError(f"fit_language_model: the corpus has {corpus.vocab.size} characters but the model's vocabulary "
                         f"has {model.vocab_size}")
    from .corpus import sample_contexts

    optimizer = optax.adam(1e-3) if optimizer is None else optimizer
    penalty = _rate_penalty(rate_penalty, rate_target)
    ctx = model.context
    segment, truncate = _check_chunk(bptt_chunk, ctx, bool(truncate)), bool(truncate)
    train_tokens = jnp.asarray(corpus.train)
    if train_tokens.shape[0] < ctx + 1:
        raise ValueError(f"fit_language_model: the training part has {train_tokens.shape[0]} characters, fewer than "
                         f"one context of {ctx} and its next character")
    xe, ye = corpus.contexts(ctx, "held_out", limit=eval_contexts)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    opt_state = optimizer.init(params)
    if isinstance(key, (int, np.integer)):
        key = jax.random.key(_checks.integer_at_least("key", key, 0))
    elif not (hasattr(key, "dtype") and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise ValueError(f"fit_language_model: key must be an integer seed or a jax.random.key, got {key!r}")

    @partial(jax.jit, static_argnums=3)
    def chunk(params, opt_state, first, length):
        def body(carry, i):
            params, opt_state = carry
            x, y = sample_contexts(train_tokens, jax.random.fold_in(key, i), batch_size, ctx)
            value, rates, grads = _loss_and_grad(graphdef, params, rest, x, y, segment, truncate, penalty)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (value, rates)

        (params, opt_state), (values, rates) = jax.lax.scan(body, (params, opt_state), first + jnp.arange(length))
        return params, opt_state, jnp.mean(values), jnp.mean(rates, axis=0)

    history = {"step": [], "train_bpc": [], "held_out_bpc": [], "rates": [], "time_s": [], "tokens_per_s": []}
    done = 0
    while done < steps:
        t0 = time.perf_counter()
        length = min(eval_every, steps - done)          # the last chunk stops at ``steps`` exactly
        params, opt_state, value, rates = chunk(params, opt_state, done, length)
        value = float(value)
        if not math.isfinite(value):
            raise FloatingPointError(f"fit_language_model: the loss became {value} before step {done + length}; "
                                     f"lower the learning rate")
        seconds = time.perf_counter() - t0
        done += length
        nnx.update(model, params)
        held = bits_per_character(model, xe, ye)
        history["step"].append(done)
        history["train_bpc"].append(value / math.log(2.0))
        history["held_out_bpc"].append(held)
        history["rates"].append(np.asarray(rates).tolist())
        history["time_s"].append(seconds)
        history["tokens_per_s"].append(length * batch_size * ctx / seconds)
        if progress:
            print(f"step {done}/{steps}  train {history['train_bpc'][-1]:.3f}  held-out {held:.3f} bits/char  "
                  f"rates {np.round(np.asarray(rates), 3).tolist()}  ({seconds:.1f} s)", file=sys.stderr, flush=True)
    return history
