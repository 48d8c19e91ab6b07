"""The event operators as Pallas kernels: the TPU path, and a portable one (Pallas' interpreter
runs them anywhere, which is how the tests check them on a CPU).

Both products are one kernel, a gather-multiply-sum over a padded (ELL) layout of the CSR::

    out[r] = sum_k  w_ell[r, k] * vec[idx_ell[r, k]]

- the event product ``drive[j] = sum_{i -> j} spikes[i] w_ij`` takes the **column** layout: row
  ``j`` lists neuron j's incoming synapses (``idx`` = their presynaptic neurons), ``K`` = the
  largest in-degree (``CSR.with_columns()`` builds the column index; it is static data);
- the transposed product ``out[i] = sum_{i -> j} w_ij x[j]`` takes the **row** layout
  (``idx`` = postsynaptic neurons, ``K`` = the largest out-degree).

The layouts are built with XLA gathers from the CSR's arrays (traced, so the connectivity can be
a jit argument); the kernel reduces blocks of ``BLOCK`` rows with the vector resident. Every
synapse is visited every call (a TPU prefers a dense pass to a data-dependent one): this is not
event-driven like the CPU and CUDA kernels. Padding entries carry weight 0.

Autodiff: a ``custom_vjp`` (the op is linear): the cotangent of the weights is
``spikes[pre] * ct[post]`` at the synapses, that of float spikes the transposed product of the
cotangent, itself this kernel. ``vmap`` adds a grid axis (Pallas' batching rule). Forward-mode
differentiation is not defined for it (use reverse mode, as training does).

Status: tested in interpret mode on CPU (values against the dense reference, ``vmap``,
``check_grads`` in reverse mode). Not yet compiled for or run on a TPU: none was available, and
whether Mosaic lowers the in-kernel gather for a given size is unverified.

The procedural connectivity's products are Pallas kernels of their own
(:mod:`neurosim.events.pallas_jitconn`), and so is pair STDP
(:func:`neurosim.plasticity.kernels.stdp_pair_pallas`).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

BLOCK = 128


def _interpret() -> bool:
    return jax.default_backend() != "tpu"


def _gather_sum(idx, w, vec):
    """``out[r] = sum_k w[r, k] vec[idx[r, k]]`` for (R, K) ``idx``/``w`` (R a multiple of
    BLOCK) and a (n,) ``vec``, as one Pallas kernel over blocks of rows."""
    from jax.experimental import pallas as pl

    rows, k = idx.shape

    def kernel(idx_ref, w_ref, vec_ref, out_ref):
        gathered = jnp.take(vec_ref[...], idx_ref[...], axis=0)
        out_ref[...] = jnp.sum(w_ref[...] * gathered, axis=1)

    return pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((rows,), w.dtype),
        grid=(rows // BLOCK,),
        in_specs=[pl.BlockSpec((BLOCK, k), lambda b: (b, 0)), pl.BlockSpec((BLOCK, k), lambda b: (b, 0)),
                  pl.BlockSpec(vec.shape, lambda b: (0,))],
        out_specs=pl.BlockSpec((BLOCK,), lambda b: (b,)),
        interpret=_interpret(),
    )(idx, w, vec)


def _ell(ptr, perm, n: int, k: int):
    """Row r's entries ``ptr[r]:ptr[r + 1]`` (through ``perm`` when given) as an (R, K) block of
    synapse ids and a validity mask, R = n rounded up to BLOCK."""
    k = max(k, 1)
    r_pad = -(-max(n, 1) // BLOCK) * BLOCK
    r = jnp.arange(r_pad)
    start = ptr[jnp.minimum(r, n)]
    stop = jnp.where(r < n, ptr[jnp.minimum(r + 1, n)], start)
    pos = start[:, None] + jnp.arange(k)[None, :]
    valid = pos < stop[:, None]
    pos = jnp.where(valid, pos, 0)
    syn = pos if perm is None else perm[pos]
    return syn, valid


def _weights_at(weights, syn, valid, dtype):
    w = jnp.broadcast_to(weights, ()) if jnp.ndim(weights) == 0 else weights[syn]
    return jnp.where(valid, w, 0).astype(dtype)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def _event(n_pre, n_post, max_col, max_row, indptr, indices, rows, col_ptr, col_perm, weights, spikes):
    syn, valid = _ell(col_ptr, col_perm, n_post, max_col)
    pre = jnp.where(valid, rows[syn], 0)
    dtype = jnp.result_type(weights, jnp.float32)
    return _gather_sum(pre, _weights_at(weights, syn, valid, dtype), spikes.astype(dtype))[:n_post]


def _transposed(n_pre, n_post, max_row, indptr, indices, weights, x):
    syn, valid = _ell(indptr, None, n_pre, max_row)
    post = jnp.where(valid, indices[syn], 0)
    dtype = jnp.result_type(weights, x)
    return _gather_sum(post, _weights_at(weights, syn, valid, dtype), x.astype(dtype))[:n_pre]


def _event_fwd(n_pre, n_post, max_col, max_row, indptr, indices, rows, col_ptr, col_perm, weights, spikes):
    out = _event(n_pre, n_post, max_col, max_row, indptr, indices, rows, col_ptr, col_perm, weights, spikes)
    return out, (indptr, indices, rows, col_ptr, col_perm, weights, spikes)


def _event_bwd(n_pre, n_post, max_col, max_row, res, ct):
    indptr, indices, rows, col_ptr, col_perm, weights, spikes = res
    s = spikes.astype(ct.dtype)
    dw = s[rows] * ct[indices]
    dw = jnp.sum(dw) if jnp.ndim(weights) == 0 else dw
    ds = _transposed(n_pre, n_post, max_row, indptr, indices, weights, ct)
    ds = ds.astype(spikes.dtype) if jnp.issubdtype(spikes.dtype, jnp.floating) else None
    zero = None
    return zero, zero, zero, zero, zero, dw.astype(weights.dtype), ds


_event.defvjp(_event_fwd, _event_bwd)


def event_matvec_pallas(conn, weights, spikes):
    """``drive (n_post,)`` of ``spikes (n_pre,)`` through ``conn`` (a CSR with its column index)."""
    if not conn.has_columns:
        raise ValueError("backend='pallas' needs the CSR's column index (postsynaptic-major): pass conn.with_columns()")
    weights = jnp.asarray(weights)
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        weights = weights.astype(jnp.float32)
    spikes = jnp.asarray(spikes)
    if not jnp.issubdtype(spikes.dtype, jnp.floating):
        spikes = spikes.astype(weights.dtype)
    return _event(conn.n_pre, conn.n_post, conn.max_col, conn.max_row, conn.indptr, conn.indices, conn.rows,
                  conn.col_ptr, conn.col_perm, weights, spikes)


def transposed_matvec_pallas(conn, weights, post_values):
    """``out (n_pre,)``: ``out[i] = sum_{i -> j} w_ij post_values[j]`` (forward values; its
    gradients come from differentiating the gathers of the row layout, which JAX does)."""
    weights = jnp.asarray(weights)
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        weights = weights.astype(jnp.float32)
    return _transposed_vjp(conn.n_pre, conn.n_post, conn.max_row, conn.indptr, conn.indices, conn.rows, weights,
                           jnp.asarray(post_values))


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _transposed_vjp(n_pre, n_post, max_row, indptr, indices, rows, weights, x):
    return _transposed(n_pre, n_post, max_row, indptr, indices, weights, x)


def _transposed_fwd(n_pre, n_post, max_row, indptr, indices, rows, weights, x):
    return _transposed(n_pre, n_post, max_row, indptr, indices, weights, x), (indptr, indices, rows, weights, x)


def _transposed_bwd(n_pre, n_post, max_row, res, ct):
    indptr, indices, rows, weights, x = res
    dw = ct[rows] * x[indices]
    dw = jnp.sum(dw) if jnp.ndim(weights) == 0 else dw
    # d/dx: the event product of the cotangent, by a segment sum (a CSR without its column index)
    w = jnp.broadcast_to(weights, rows.shape) if jnp.ndim(weights) == 0 else weights
    dx = jax.ops.segment_sum(w * ct[rows], indices, num_segments=n_post)
    return None, None, None, dw.astype(weights.dtype), dx.astype(x.dtype)


_transposed_vjp.defvjp(_transposed_fwd, _transposed_bwd)
