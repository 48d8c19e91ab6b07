"""Compiled event-driven plasticity updates (``kernels/cpu/plasticity.cc``,
``kernels/cuda/plasticity.cu``), with their pure-JAX reference.

:func:`stdp_pair_events` is one step of pair STDP (optionally clipped) on a CSR projection:
``kernels/README.md`` ("neurosim_stdp_pair") states its contract. On a CPU or a CUDA GPU, in
float32, with the kernel built, it visits only the synapses of neurons that spiked and updates the
weights in place (the GPU kernel gives the CPU's bits, but for a fractional weight-dependence
exponent, whose power is CUDA's ``powf``); elsewhere (another platform, float64,
``NEUROSIM_KERNELS=off``, a missing library) it is the reference: the same formula evaluated at
every synapse. On a TPU (or when ``backend="pallas"``
is named, then in Pallas' interpreter) it is a Pallas kernel (:func:`stdp_pair_pallas`): the
reference's formula on blocks of synapses, each gathering its synapses' traces and spikes, a
dense pass as a TPU prefers. Autodiff: the JVP is the reference's (exact; the tangent is
evaluated at every synapse), so ``jax.grad`` works through either; ``vmap`` runs the CPU kernel
once per batch member and adds a grid axis to the Pallas one.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _kernels

(TARGET,) = _kernels.TARGETS["plasticity"]


class PairOptions(NamedTuple):
    """Static options of the update (hashable)."""

    w_min: float
    w_max: float
    mu_plus: float
    mu_minus: float
    lo: float = -np.inf      # clip bounds of the stored weight
    hi: float = np.inf


TRACES = ("all_to_all", "nearest", "jump_then_decay")   # PairForm.trace, in the fused kernel's numbering


class PairForm(NamedTuple):
    """A rule that is pair STDP (optionally followed by clipping) as a compiled engine runs it
    itself (the fused engine: :mod:`neurosim.network.fused`)::

        dw = A+ f+(w) q_j x_i - A- f-(w) s_i y_j,   then  w <- w + (clip(w + dw, lo, hi) - w)

    ``opts``: the static options; ``trace``: how the traces move and what the update reads
    (``"all_to_all"`` / ``"nearest"``: pair STDP's, :func:`neurosim.plasticity.stdp_pair`;
    ``"jump_then_decay"``: the update reads the stored traces, which then become
    ``(x + jump s) decay``, :func:`neurosim.astrocytes.astrocyte_stdp`); ``path``: where the
    rule's parameters and state sit in the parameter and state tuples of a chained rule;
    ``coefficients``: ``(params, dt) -> (A+, A-, decay+, decay-, jump+, jump-)`` of the rule's
    parameters; ``modulators``: the names of the network modulators whose value multiplies A+
    and A- (None: the coefficient is the amplitude); ``fields``: the names of the presynaptic and
    postsynaptic traces in the rule's state."""

    opts: PairOptions
    trace: str = "all_to_all"
    path: tuple = ()
    coefficients: object = None
    modulators: tuple = (None, None)
    fields: tuple = ("x", "y")

    def params(self, params):
        for i in self.path:
            params = params[i]
        return params

    def state(self, state):
        return self.params(state)

    def traces(self, state):
        """The presynaptic and postsynaptic traces in a (chained) rule's state."""
        own = self.state(state)
        return tuple(getattr(own, f) for f in self.fields)

    def with_traces(self, state, x, y):
        """``state`` with the rule's traces replaced by ``x`` and ``y``."""
        new = self.state(state)._replace(**dict(zip(self.fields, (x, y))))

        def put(s, path):
            if not path:
                return new
            return tuple(put(e, path[1:]) if i == path[0] else e for i, e in enumerate(s))
        return put(state, self.path)


def dependence(base, mu: float):
    """``max(base, 0)^mu``, the weight dependence of pair STDP, with mu = 0 and mu = 1 exact (and
    gradient-safe at base = 0)."""
    if mu == 0.0:
        return 1.0
    base = jnp.maximum(base, 0.0)
    if mu == 1.0:
        return base
    return jnp.where(base > 0, jnp.power(jnp.where(base > 0, base, 1.0), mu), 0.0)


def stdp_pair_reference(weights, rows, cols, pre, post, x, y, amp, opts: PairOptions):
    """``w + (clip(w + dw, lo, hi) - w)`` with ``dw = A+ f+(w) q_j x_i - A- f-(w) s_i y_j`` at every
    synapse (``amp = [A+, A-]``)."""
    pot = amp[0] * dependence(opts.w_max - weights, opts.mu_plus) * post[cols] * x[rows]
    dep = amp[1] * dependence(weights - opts.w_min, opts.mu_minus) * pre[rows] * y[cols]
    return weights + (jnp.clip(weights + (pot - dep), opts.lo, opts.hi) - weights)


def kernel_available(weights) -> bool:
    """Whether a compiled form of the update runs here: the CPU or CUDA kernel (float32, built),
    or the Pallas kernel on a TPU."""
    if jax.default_backend() == "tpu":
        return True
    return _compiled_kernel(weights)


def _compiled_kernel(weights) -> bool:
    platform = _kernels.device_platform()
    return (_kernels.ENABLED and jnp.result_type(weights) == jnp.float32 and platform in ("cpu", "cuda")
            and _kernels.ready("plasticity", platform))


SYNAPSE_BLOCK = 1024   # synapses per program of the Pallas kernel


@partial(jax.custom_jvp, nondiff_argnums=(8,))
def stdp_pair_pallas(weights, rows, cols, pre, post, x, y, amp, opts: PairOptions):
    """:func:`stdp_pair_reference` as a Pallas kernel over blocks of ``SYNAPSE_BLOCK`` synapses
    (interpreted off a TPU); the same formula, so the same numbers."""
    from jax.experimental import pallas as pl

    nnz = weights.shape[0]
    pad = -nnz % SYNAPSE_BLOCK
    w = jnp.pad(weights, (0, pad))
    r, c = jnp.pad(rows, (0, pad)), jnp.pad(cols, (0, pad))      # padding reads neuron 0; dropped below

    def kernel(w_ref, r_ref, c_ref, pre_ref, post_ref, x_ref, y_ref, amp_ref, out_ref):
        out_ref[...] = stdp_pair_reference(w_ref[...], r_ref[...], c_ref[...], pre_ref[...], post_ref[...],
                                           x_ref[...], y_ref[...], amp_ref[...], opts)

    block = pl.BlockSpec((SYNAPSE_BLOCK,), lambda b: (b,))
    whole = [pl.BlockSpec(v.shape, lambda b: (0,)) for v in (pre, post, x, y, amp)]
    out = pl.pallas_call(
        kernel, out_shape=jax.ShapeDtypeStruct(w.shape, weights.dtype), grid=(w.shape[0] // SYNAPSE_BLOCK,),
        in_specs=[block, block, block] + whole, out_specs=block, interpret=jax.default_backend() != "tpu",
    )(w, r, c, pre.astype(weights.dtype), post.astype(weights.dtype), x.astype(weights.dtype),
      y.astype(weights.dtype), amp.astype(weights.dtype))
    return out[:nnz]


def _reference_tangent(rows, cols, opts, values, tangents):
    """The tangent of the update, from the reference's formula at every synapse: ``values`` and
    ``tangents`` are ``(weights, pre, post, x, y, amp)``. Every compiled form uses it as its JVP."""
    def ref(w, s, q, xx, yy, a):
        return stdp_pair_reference(w, rows, cols, s, q, xx, yy, a, opts)

    return jax.jvp(ref, values, tangents)[1]


@stdp_pair_pallas.defjvp
def _pallas_jvp(opts, primals, tangents):
    weights, rows, cols, pre, post, x, y, amp = primals
    tw, _, _, tpre, tpost, tx, ty, tamp = tangents
    return (stdp_pair_pallas(*primals, opts),
            _reference_tangent(rows, cols, opts, (weights, pre, post, x, y, amp), (tw, tpre, tpost, tx, ty, tamp)))


@partial(jax.custom_jvp, nondiff_argnums=(11,))
def _op(weights, indptr, indices, rows, col_ptr, col_perm, pre, post, x, y, amp, opts):
    f32 = jnp.float32
    call = jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct(weights.shape, f32), input_output_aliases={0: 0},
                            vmap_method="sequential")
    return call(weights, indptr, indices, rows, col_ptr, col_perm, pre.astype(f32), post.astype(f32), x.astype(f32),
                y.astype(f32), jnp.asarray(amp, f32), w_min=np.float32(opts.w_min), w_max=np.float32(opts.w_max),
                mu_plus=np.float32(opts.mu_plus), mu_minus=np.float32(opts.mu_minus), lo=np.float32(opts.lo),
                hi=np.float32(opts.hi))


@_op.defjvp
def _op_jvp(opts, primals, tangents):
    weights, indptr, indices, rows, col_ptr, col_perm, pre, post, x, y, amp = primals
    tw, *_, tpre, tpost, tx, ty, tamp = tangents
    return (_op(*primals, opts),
            _reference_tangent(rows, indices, opts, (weights, pre, post, x, y, amp), (tw, tpre, tpost, tx, ty, tamp)))


def stdp_pair_events(weights, conn, pre, post, x, y, a_plus, a_minus, opts: PairOptions, *, backend=None):
    """New weights after one step of pair STDP (module docstring). ``conn``: a CSR with a
    column index (``CSR.with_columns()``); ``x``: presynaptic trace after this step's jump;
    ``y``: postsynaptic trace decayed, before this step's jump. ``backend``: None (the CPU or
    CUDA kernel where available, the Pallas kernel on a TPU, else the reference), ``"kernel"``,
    ``"pallas"`` or ``"reference"``."""
    if backend not in (None, "kernel", "pallas", "reference"):
        raise ValueError(f"backend must be None, 'kernel', 'pallas' or 'reference', got {backend!r}")
    amp = jnp.stack([jnp.asarray(a_plus, weights.dtype), jnp.asarray(a_minus, weights.dtype)])
    if backend == "pallas" or (backend is None and jax.default_backend() == "tpu"):
        return stdp_pair_pallas(weights, conn.rows, conn.indices, pre, post, x, y, amp, opts)
    use_kernel = backend != "reference" and _compiled_kernel(weights) and conn.has_columns
    if backend == "kernel" and not use_kernel:
        raise ValueError("backend='kernel': the compiled plasticity kernel is not available here (a CPU or CUDA "
                         "GPU, float32, a CSR with_columns() and neurosim/_lib/libplasticity_{cpu,cuda}.so are needed)")
    if not use_kernel:
        return stdp_pair_reference(weights, conn.rows, conn.indices, pre, post, x, y, amp, opts)
    return _op(weights, conn.indptr, conn.indices, conn.rows, conn.col_ptr, conn.col_perm, pre, post, x, y, amp, opts)
