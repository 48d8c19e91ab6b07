"""Trainable spiking layers as flax nnx modules, made of neurosim's own neuron and synapse models.

A layer holds its weights as ``nnx.Param`` and its neuron model's parameters as
:class:`NeuronParams` (an ``nnx.Variable`` that optimisers leave alone unless a filter selects
it, e.g. to learn membrane time constants). It steps in time with the ``(carry, x) -> (carry,
y)`` contract; a layer whose step splits into a feed-forward product and the rest (``feed_block`` and
``step_fed``) lets :class:`SpikingNetwork` compute that product for every step at once, outside
the time scan, where one large matrix product reads the weights once instead of T times.

:class:`SpikingLayer` (``x`` of shape (B, n_in) at each step, spikes ``z`` (B, n) out):

    I^t = x^t W + b  [+ z^{t-d} W_rec]                    (pA; d = ``delay`` steps >= 1)
    (h^t, z^t) = neuron.step(params, h^{t-1}, I^t, dt)    (any neurosim neuron model)

``recurrent`` is None (feed-forward), ``"dense"`` (an (n, n) matrix) or sparse connectivity: a
:class:`~neurosim.events.CSR` (one trainable weight per synapse, propagated by the event
operators) or a :class:`~neurosim.events.JitConn` (regenerated from its seed on every use:
there are no per-synapse weights to train, so the layer trains the two parameters of its
weight distribution, ``w_rec = [wa, wb]``: the weight for a homogeneous JitConn, mean and std
for a Normal one, low and width for a Uniform one).

:class:`LeakyReadout` is a non-spiking leaky integrator, neurosim's exponential current
synapse (:class:`~neurosim.synapses.Synapse`) used as a membrane:

    y^t = kappa y^{t-1} + x^t W + b,       kappa = exp(-dt / tau)

The default neuron, :func:`lif`, is neurosim's LIF in dimensionless units: rest and reset 0,
threshold 1, ``g_l = 1`` so ``c_m`` is the membrane time constant in ms, no refractoriness:
``V^t = kappa_m V^{t-1} + (1 - kappa_m) I^t`` until V reaches 1, then V <- 0. Reference for
the surrogate-gradient method: Neftci, Mostafa & Zenke (2019), IEEE Signal Process. Mag.
36(6):51.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .. import _checks, events
from ..neurons import LIF, LIFParams
from ..events.delays import fractional
from ..neurons.base import check_params
from ..synapses import Synapse, SynapseParams

__all__ = ["Connectivity", "LeakyReadout", "NeuronParams", "Outputs", "SpikingLayer", "SpikingNetwork", "lif"]


class NeuronParams(nnx.Variable):
    """A layer's neuron-model parameters (a NamedTuple such as ``LIFParams``). Not an
    ``nnx.Param``: ``fit`` trains them only when its ``trainable`` filter names this type."""


class Connectivity(nnx.Variable):
    """A sparse layer's CSR structure (integer arrays, never trained)."""


def lif(tau: float = 10.0, scale: float = 10.0, surrogate: str = "fast_sigmoid", detach_reset: bool = True,
        t_ref: float = 0.0):
    """``(model, params)`` of a dimensionless LIF: rest and reset 0, threshold 1, membrane time
    constant ``tau`` ms (``c_m = tau``, ``g_l = 1``), refractory period ``t_ref`` ms, surrogate
    ``surrogate`` with scale ``scale`` (per unit of V)."""
    model = LIF(surrogate=surrogate, detach_reset=detach_reset)
    params = LIFParams(v_rest=0.0, v_reset=0.0, v_th=1.0, c_m=float(tau), g_l=1.0, t_ref=float(t_ref),
                       slope=float(scale))
    check_params(params, 1, "lif")
    if not scale > 0:
        raise ValueError(f"lif: scale must be > 0 (the surrogate's height at threshold), got {scale!r}")
    return model, params


def _default_std(params, n_in):
    """An input-weight spread that brings a LIF-like unit (``v_th``, ``v_rest``, ``c_m``, ``g_l``)
    to threshold from a unit-variance input within about one membrane time at dt = 1 ms;
    ``1 / sqrt(n_in)`` for other models."""
    if all(hasattr(params, f) for f in ("v_th", "v_rest", "c_m", "g_l")):
        gain = (1.0 - np.exp(-np.mean(params.g_l) / np.mean(params.c_m))) / np.mean(params.g_l)
        return float(2.0 * np.mean(np.asarray(params.v_th) - np.asarray(params.v_rest)) / (gain * np.sqrt(n_in)))
    return 1.0 / float(np.sqrt(n_in))


class SpikingLayer(nnx.Module):
    """A layer of ``n`` spiking neurons fed by ``n_in`` inputs (module docstring).

    Args:
        n_in, n: input and layer sizes.
        neuron, params: a neurosim neuron model and its params (default :func:`lif`).
        recurrent: None, ``"dense"``, a CSR ``n x n`` or a JitConn ``n x n``.
        delay: recurrent delay in steps (>= 1).
        w_std, w_rec_std: spread of the normal initial weights (defaults: see ``_default_std``;
            recurrent: ``w_std * sqrt(n_in / n) / 2``). ``bias``: a trainable bias.
        product_dtype: None (the product ``x W`` in the weights' dtype) or ``"bfloat16"``: ``x``
            and ``W`` rounded to bfloat16 for the product, summed in float32 (about 1.8x faster
            on a CPU with AVX512-BF16 or AMX; refused on a CPU without them, where XLA emulates it).
        max_delay: None (no input delays) or D >= 1: every input synapse gets a learnable delay
            ``d_ij`` in [0, D] steps (an ``nnx.Param``, trained with the weights), fractional
            delays read between two steps by linear interpolation (module docstring).
        delay_init: the initial delays, (n_in, n) steps in [0, max_delay]; default uniform on
            [0, max_delay].
        rngs: ``nnx.Rngs`` for the initial weights (and delays).
    """

    def __init__(self, n_in: int, n: int, *, neuron=None, params=None, recurrent=None, delay: int = 1,
                 w_std: float | None = None, w_rec_std: float | None = None, bias: bool = True,
                 product_dtype: str | None = None, max_delay: int | None = None, delay_init=None, rngs: nnx.Rngs):
        self.n_in, self.n = _checks.integer_at_least("n_in", n_in), _checks.integer_at_least("n", n)
        self.product_dtype = _check_product_dtype(product_dtype)
        if neuron is None and params is None:
            neuron, params = lif()
        elif neuron is None or params is None:
            raise ValueError("SpikingLayer: give both neuron and params (a model and its Params), or neither")
        if not (hasattr(neuron, "init") and hasattr(neuron, "step")):
            raise ValueError(f"SpikingLayer: neuron must be a neurosim neuron model, got {neuron!r}")
        check_params(params, self.n, f"SpikingLayer({type(neuron).__name__}).params")
        self.neuron = neuron
        self.params = NeuronParams(params)
        self.delay = _checks.integer_at_least("delay", delay)
        w_std = _default_std(params, self.n_in) if w_std is None else _checks.positive_finite("w_std", w_std)
        self.w = nnx.Param(w_std * jax.random.normal(rngs.params(), (self.n_in, self.n)))
        self.b = nnx.Param(jnp.zeros((self.n,))) if bias else None
        recurrent = _check_recurrent(recurrent, self.n)
        if isinstance(recurrent, events.CSR):      # arrays: state of the module, not a static option
            self.conn = Connectivity(recurrent)
            self.recurrent = "csr"
        else:
            self.recurrent = recurrent             # None, "dense" or a JitConn (static, hashable)
        w_rec_std = w_std * math.sqrt(self.n_in / self.n) / 2 if w_rec_std is None else _checks.positive_finite("w_rec_std", w_rec_std)
        if self.recurrent == "dense":
            self.w_rec = nnx.Param(w_rec_std * jax.random.normal(rngs.params(), (self.n, self.n)))
        elif self.recurrent == "csr":
            self.w_rec = nnx.Param(w_rec_std * jax.random.normal(rngs.params(), (recurrent.nnz,)))
        elif isinstance(self.recurrent, events.JitConn):
            self.w_rec = nnx.Param(jnp.asarray(self.recurrent.weight_params()))
        self.max_delay = None if max_delay is None else _checks.integer_at_least("max_delay", max_delay)
        if self.max_delay is not None:
            self.d = nnx.Param(_initial_delays(delay_init, self.max_delay, (self.n_in, self.n), rngs))
        elif delay_init is not None:
            raise ValueError("delay_init is given but max_delay is None: give max_delay (the largest delay, in steps) "
                             "to learn input delays")

    # the (carry, x) -> (carry, y) contract -----------------------------------------------
    def init_carry(self, batch: int, key=None):
        """Neuron state broadcast to (batch, n) in the weights' dtype, and the last ``delay``
        steps of spikes."""
        key = jax.random.key(0) if key is None else key
        state = self.neuron.init(self.params.get_value(), self.n, key)
        dtype = self.w[...].dtype                    # the state follows the weights' dtype
        state = jax.tree.map(lambda a: jnp.broadcast_to(a, (batch, self.n)).astype(dtype), state)
        past = jnp.zeros((self.delay, batch, self.n), dtype)
        if self.max_delay is None:
            return state, past
        return state, past, jnp.zeros((self.max_delay, batch, self.n_in), dtype)   # the last max_delay inputs

    def feed_block(self, carry, xs):
        """The feed-forward currents of a block of steps ``xs`` (t, B, n_in): ``(carry, (t, B,
        n))``, one matrix product for all t steps. With input delays the block is read together
        with the carry's last ``max_delay`` inputs, and the carry keeps the block's last ones."""
        if self.max_delay is None:
            return carry, _over_rows(self.feed, xs)
        t, b = xs.shape[:2]
        top = self.max_delay
        _checks.fits_in_memory(f"SpikingLayer(max_delay={top}): the {t} x {b} x {self.n_in} x {top + 1} lagged inputs of a "
                               f"block of {t} steps", t * b * self.n_in * (top + 1) * jnp.dtype(carry[-1].dtype).itemsize,
                               "bound the block with SpikingNetwork(remat_chunk=...), or use a smaller max_delay or batch")
        full = jnp.concatenate([carry[-1], xs.astype(carry[-1].dtype)], axis=0)       # (D + t, B, n_in)
        shifted = jnp.stack([full[top - s: top - s + t] for s in range(top + 1)], axis=-1)   # x(t - s): (t, B, n_in, D + 1)
        i = _product(shifted.reshape(t * b, -1), self.delay_kernel().reshape(-1, self.n), self.product_dtype)
        if self.b is not None:
            i = i + self.b[...][None]
        return carry[:-1] + (full[t:],), i.reshape(t, b, self.n)

    def delay_kernel(self):
        """``K[i, s, j]`` (n_in, D + 1, n): the weight of input i's value s steps ago in neuron j's
        current, ``W_ij (1 - f_ij)`` at ``s = n_ij`` and ``W_ij f_ij`` at ``s = n_ij + 1`` with
        ``n_ij = min(floor(d_ij), D - 1)``, ``f_ij = d_ij - n_ij``, the delay first clipped to
        [0, D]. Its derivative in ``d`` is the slope towards the next whole step (at a whole
        step too: ``d = k`` moves towards reading ``s = k + 1``; at ``D`` towards ``D - 1``)."""
        lo, f = fractional(self.d[...], 0.0, float(self.max_delay))
        s = jnp.arange(self.max_delay + 1, dtype=f.dtype)[None, :, None]
        share = (1.0 - f)[:, None, :] * (s == lo[:, None, :]) + f[:, None, :] * (s == lo[:, None, :] + 1.0)
        return self.w[...][:, None, :] * share

    def feed(self, x):
        """The feed-forward current ``x W + b`` of inputs ``x`` (rows, n_in), without input delays
        (with them, :meth:`feed_block`): one product for any number of rows."""
        i = _product(x, self.w[...], self.product_dtype)
        return i + self.b[...][None] if self.b is not None else i

    def drive(self, x, past):
        """Input current ``I^t`` (B, n) from inputs ``x`` (B, n_in) and the spike history (a
        layer without input delays: with them the current depends on earlier inputs too)."""
        if self.max_delay is not None:
            raise ValueError("drive(x, past) cannot give the current of a layer with input delays (max_delay): it "
                             "needs the earlier inputs; step the layer with step(carry, x) or a SpikingNetwork")
        return self.recurrent_drive(self.feed(x), past)

    def recurrent_drive(self, i, past):
        """The feed-forward current ``i`` (B, n) plus the recurrent one from the spike history."""
        if self.recurrent is None:
            return i
        z = past[0]                          # the spikes of step t - delay
        if self.recurrent == "dense":
            return i + z @ self.w_rec[...]
        if self.recurrent == "csr":
            w_rec, conn = self.w_rec[...], self.conn.get_value()
            return i + jax.vmap(lambda zb: events.propagate(conn, w_rec, zb))(z)
        w_rec = self.w_rec[...]
        return i + jax.vmap(lambda zb: self.recurrent.propagate(w_rec, zb))(z)

    def neuron_step(self, state, i, dt):
        """The neuron model's step on a batch: the model is written for one population (n,), and
        ``vmap`` maps it over the batch rows of ``state`` and ``i`` (B, n)."""
        params = self.params.get_value()
        return jax.vmap(lambda s, ib: self.neuron.step(params, s, ib, dt))(state, i)

    def step(self, carry, x, dt):
        if self.max_delay is not None:
            carry, i = self.feed_block(carry, x[None])
            return self.step_fed(carry, i[0], dt)
        return self._advance(carry, self.drive(x, carry[1]), dt)

    def step_fed(self, carry, i, dt):
        """:meth:`step` from the feed-forward current ``i`` (B, n) of :meth:`feed_block`."""
        return self._advance(carry, self.recurrent_drive(i, carry[1]), dt)

    def _advance(self, carry, i, dt):
        state, past = carry[:2]
        state, z = self.neuron_step(state, i, dt)
        past = jnp.concatenate([past[1:], z[None].astype(past.dtype)], axis=0)
        return (state, past) + tuple(carry[2:]), z


PRODUCT_DTYPES = (None, "bfloat16")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")   # /proc/cpuinfo flags of CPUs that multiply bfloat16 natively


def _cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def _check_product_dtype(product_dtype):
    if product_dtype not in PRODUCT_DTYPES:
        raise ValueError(f"product_dtype must be None (the weights' dtype) or 'bfloat16', got {product_dtype!r}")
    if product_dtype == "bfloat16" and jax.default_backend() == "cpu" and not _cpu_flags() & set(BF16_CPU_FLAGS):
        raise ValueError("product_dtype='bfloat16' needs a CPU that multiplies bfloat16 natively (flags "
                         f"{' or '.join(BF16_CPU_FLAGS)} in /proc/cpuinfo); this one lists neither (or has no "
                         "/proc/cpuinfo), and XLA would emulate it, slower than float32: use product_dtype=None, or a GPU or TPU")
    return product_dtype


def _product(x, w, product_dtype):
    """``x @ w`` (x: rows x n_in); with ``product_dtype="bfloat16"``, :func:`_bf16_product`."""
    return x @ w if product_dtype is None else _bf16_product(x, w)


def _dot_bf16(a, b, contract, dtype):
    # lax, not jnp.dot: jnp.dot casts bfloat16 operands back up to preferred_element_type first
    return jax.lax.dot_general(a.astype(jnp.bfloat16), b.astype(jnp.bfloat16), (contract, ((), ())),
                               preferred_element_type=dtype)


@jax.custom_vjp
def _bf16_product(x, w):
    """``x @ w`` (x: rows x n_in) with both rounded to bfloat16 and the products summed in ``w``'s
    dtype (float32 for float32 weights); its backward products likewise, the cotangent rounded to
    bfloat16 (mixed-precision training's usual rule: without it the weight gradient, as large a
    product as the forward one, would run in float32)."""
    return _dot_bf16(x, w, ((1,), (0,)), w.dtype)


def _bf16_product_fwd(x, w):
    dtypes = (jnp.zeros((0,), x.dtype), jnp.zeros((0,), w.dtype))    # the primals' dtypes, as residuals must be arrays
    return _bf16_product(x, w), (x.astype(jnp.bfloat16), w.astype(jnp.bfloat16), dtypes)


def _bf16_product_bwd(res, g):
    xb, wb, (x_like, w_like) = res
    dx = _dot_bf16(g, wb, ((1,), (1,)), w_like.dtype).astype(x_like.dtype)     # g W^T
    dw = _dot_bf16(xb, g, ((0,), (0,)), w_like.dtype)                          # x^T g
    return dx, dw


_bf16_product.defvjp(_bf16_product_fwd, _bf16_product_bwd)


def _initial_delays(delay_init, max_delay, shape, rngs):
    if delay_init is None:
        return jax.random.uniform(rngs.params(), shape, maxval=float(max_delay))
    try:
        d = np.asarray(delay_init, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"delay_init must be numbers (delays in steps), got {delay_init!r}") from None
    if d.shape != shape:
        d = np.broadcast_to(d, shape) if d.ndim == 0 else d
    if d.shape != shape or not np.all(np.isfinite(d)) or np.any(d < 0) or np.any(d > max_delay):
        raise ValueError(f"delay_init must be one value or {shape} (n_in, n) delays in [0, max_delay = {max_delay}] "
                         f"steps, got shape {np.shape(delay_init)}, range "
                         f"[{np.nanmin(d) if d.size else 'empty'}, {np.nanmax(d) if d.size else 'empty'}]")
    return jnp.asarray(d, jnp.result_type(float))


def _check_recurrent(recurrent, n):
    if recurrent is None or recurrent == "dense":
        return recurrent
    if isinstance(recurrent, (events.CSR, events.JitConn)):
        if (recurrent.n_pre, recurrent.n_post) != (n, n):
            raise ValueError(f"recurrent connectivity must be {n} x {n} for this layer, got "
                             f"{recurrent.n_pre} x {recurrent.n_post}")
        return recurrent
    raise ValueError(f"recurrent must be None, 'dense', a CSR or a JitConn, got {recurrent!r}")


class LeakyReadout(nnx.Module):
    """``n_out`` non-spiking leaky integrators of ``n_in`` inputs, time constant ``tau`` ms
    (module docstring): neurosim's exponential current :class:`~neurosim.synapses.Synapse`."""

    def __init__(self, n_in: int, n_out: int, *, tau: float = 10.0, w_std: float | None = None, bias: bool = True,
                 product_dtype: str | None = None, rngs: nnx.Rngs):
        self.n_in, self.n = _checks.integer_at_least("n_in", n_in), _checks.integer_at_least("n_out", n_out)
        self.product_dtype = _check_product_dtype(product_dtype)
        self.synapse = Synapse(kinetics="exponential", output="current")
        self.params = NeuronParams(SynapseParams(tau=_checks.positive_finite("tau", tau)))
        w_std = 1.0 / math.sqrt(self.n_in) if w_std is None else _checks.positive_finite("w_std", w_std)
        self.w = nnx.Param(w_std * jax.random.normal(rngs.params(), (self.n_in, self.n)))
        self.b = nnx.Param(jnp.zeros((self.n,))) if bias else None

    def init_carry(self, batch: int, key=None):
        g = jnp.zeros((batch, self.n), self.w[...].dtype)
        return self.synapse.State(g=g, x=jnp.zeros_like(g))

    def feed(self, x):
        """``x W + b`` of inputs ``x`` (rows, n_in), as :meth:`SpikingLayer.feed`."""
        y = _product(x, self.w[...], self.product_dtype)
        return y + self.b[...][None] if self.b is not None else y

    def drive(self, x):
        """The input current at one step: :meth:`feed` (a subclass may override either)."""
        return self.feed(x)

    def feed_block(self, carry, xs):
        """``(carry, x W + b)`` for a block of steps ``xs`` (t, B, n_in), one product."""
        return carry, _over_rows(self.feed, xs)

    def step(self, carry, x, dt):
        return self.step_fed(carry, self.drive(x), dt)

    def step_fed(self, carry, i, dt):
        params = self.params.get_value()
        state = jax.vmap(lambda c, ib: self.synapse.step(params, c, ib, dt))(carry, i)
        return state, state.g


class Outputs(NamedTuple):
    """What :class:`SpikingNetwork` returns for an input sequence of T steps and batch B."""
    y: jax.Array         # (T, B, n_out): the last layer's output (readout membrane, or spikes)
    counts: tuple        # per layer, (B, n): spikes summed over time (zeros for a readout)
    spikes: tuple        # per layer, (T, B, n) when record_spikes, else ()


class SpikingNetwork(nnx.Module):
    """Layers in series, each layer's output the next one's input at the same step (run layer
    by layer over the sequence, each layer's feed-forward product for all steps at once:
    :meth:`__call__`).

    Args:
        layers: :class:`SpikingLayer` / :class:`LeakyReadout` instances, sizes chained.
        dt: the step in ms.
        remat_chunk: None (plain BPTT: memory grows with the number of steps) or a number of
            steps ``c``: the scan runs chunk by chunk, each chunk under ``jax.checkpoint``, so
            the backward pass keeps one carry per chunk and recomputes a chunk's steps when it
            needs them: memory ~ (T / c) carries + c steps instead of T steps; same gradient.
        record_spikes: return every layer's (T, B, n) spikes too (memory grows with T).
    """

    def __init__(self, *layers, dt: float = 1.0, remat_chunk: int | None = None, record_spikes: bool = False):
        if not layers:
            raise ValueError("SpikingNetwork needs at least one layer")
        for k, (a, b) in enumerate(zip(layers[:-1], layers[1:])):
            if a.n != b.n_in:
                raise ValueError(f"layer {k} has {a.n} outputs but layer {k + 1} expects {b.n_in} inputs")
        self.layers = nnx.List(layers)
        self.dt = _checks.positive_finite("dt", dt)
        self.remat_chunk = None if remat_chunk is None else _checks.integer_at_least("remat_chunk", remat_chunk)
        self.record_spikes = bool(record_spikes)

    @property
    def n_in(self):
        return self.layers[0].n_in

    def init_carry(self, batch, key=None):
        keys = jax.random.split(jax.random.key(0) if key is None else key, len(self.layers))
        return tuple(layer.init_carry(batch, k) for layer, k in zip(self.layers, keys))

    def step(self, carry, x):
        """One step of every layer: ``(carry, x (B, n_in)) -> (carry, (y, per-layer spikes))``."""
        new, outs = [], []
        for layer, c in zip(self.layers, carry):
            c, x = layer.step(c, x, self.dt)
            new.append(c)
            outs.append(x)
        return tuple(new), (x, tuple(outs))

    def __call__(self, x_seq, key=None) -> Outputs:
        """Run an input sequence ``x_seq`` of shape (T, B, n_in).

        The layers run one after another over the sequence (a layer's output at step t is the
        next one's input at step t, so nothing is lost): each layer's feed-forward product is
        one (T B) x n_in by n_in x n matrix product for all steps, and only its recurrence and
        neurons step in ``lax.scan``. The spikes are those of stepping every layer in one scan,
        bit for bit; a readout can differ in the last bit where XLA sums a small product of one
        step's rows in another order (tests/test_train.py). With ``remat_chunk`` this is done
        chunk by chunk."""
        x_seq = jnp.asarray(x_seq)
        if x_seq.ndim != 3 or x_seq.shape[2] != self.n_in:
            raise ValueError(f"x_seq must have shape (T, B, {self.n_in}) (time, batch, inputs), got {x_seq.shape}")
        batch = x_seq.shape[1]
        dtype = x_seq.dtype if jnp.issubdtype(x_seq.dtype, jnp.floating) else jnp.result_type(float)   # counts of bool or int input
        counts0 = tuple(jnp.zeros((batch, layer.n), dtype) for layer in self.layers)
        (_, counts), (y, spikes) = _chunks(self._block, (self.init_carry(batch, key), counts0), x_seq, self.remat_chunk)
        return Outputs(y=y, counts=counts, spikes=spikes)

    def _block(self, carry, xs):
        """Every layer over a block of steps ``xs`` (t, B, n_in), one layer after another:
        ``((carries, counts), xs) -> ((carries, counts), (y, kept spikes))``."""
        carries, counts = carry
        new, total, kept = [], [], []
        for layer, c, n in zip(self.layers, carries, counts):
            c, xs = _over_time(layer, c, xs, self.dt)
            new.append(c)
            total.append(n + jnp.sum(xs, axis=0).astype(n.dtype) if isinstance(layer, SpikingLayer) else n)
            kept.append(xs)
        return (tuple(new), tuple(total)), (xs, tuple(kept) if self.record_spikes else ())


def _over_rows(feed, xs):
    """``feed`` (rows, n_in) -> (rows, n) of a block ``xs`` (t, B, n_in), as one product: (t, B, n)."""
    t, b = xs.shape[:2]
    i = feed(xs.reshape((t * b,) + xs.shape[2:]))
    return i.reshape((t, b) + i.shape[1:])


def _over_time(layer, carry, xs, dt):
    """``layer`` over the steps ``xs`` (t, B, n_in): its feed-forward product for all t steps
    at once when it has one (:func:`_splits`), else its ``step`` in a scan."""
    if not _splits(layer):
        return jax.lax.scan(lambda c, x: layer.step(c, x, dt), carry, xs)
    carry, i = layer.feed_block(carry, xs)
    return jax.lax.scan(lambda c, it: layer.step_fed(c, it, dt), carry, i)


def _splits(layer) -> bool:
    """Whether ``layer``'s step is ``step_fed`` of ``feed_block``'s current: it defines both, and
    neither ``step`` nor ``drive`` is overridden in a subclass below the one that defines
    ``step_fed`` (a user's subclass that overrides ``step`` or ``drive`` alone is stepped by its
    own ``step``, never bypassed)."""
    mro = type(layer).__mro__

    def depth(name):     # how far up the class hierarchy ``name`` is defined (len(mro): nowhere)
        return next((k for k, c in enumerate(mro) if name in vars(c)), len(mro))

    fed = depth("step_fed")
    return fed < len(mro) and depth("feed_block") < len(mro) and fed <= depth("step") and fed <= depth("drive")


def _chunks(block, init, xs, chunk):
    """``block(init, xs)``, or chunk by chunk with each chunk rematerialised: the backward pass
    keeps one carry per chunk and recomputes a chunk's steps when it needs them."""
    n = xs.shape[0]
    if chunk is None or chunk >= n:
        return block(init, xs)
    q, r = divmod(n, chunk)
    head = xs[: q * chunk].reshape((q, chunk) + xs.shape[1:])
    carry, ys = jax.lax.scan(jax.checkpoint(block), init, head)
    ys = jax.tree.map(lambda a: a.reshape((q * chunk,) + a.shape[2:]), ys)
    if r:
        carry, tail = block(carry, xs[q * chunk:])
        ys = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, tail)
    return carry, ys
