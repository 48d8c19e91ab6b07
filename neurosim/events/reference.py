"""Pure-JAX event propagation: the reference every backend is checked against.

    drive[j] = sum over synapses (i -> j) of  spikes[i] * w[i -> j]

``event_matvec_reference`` is event-driven: it compacts the indices of the presynaptic neurons
that spiked (at most ``capacity`` of them) and touches only their rows, so a step costs
O(n_pre + k * max_row) instead of O(nnz), k the smallest capacity tier holding the spikes. When more than ``capacity`` neurons spike in
one step it takes the full path over every synapse instead, so the answer is always exact.

``matvec_dense_reference`` is the full path (a segment sum over all synapses); it is also the
rule for tangents, since the derivative with respect to float (surrogate) spikes is not sparse.

``matvec_transposed_reference`` is the postsynaptic-major product

    out[i] = sum over synapses (i -> j) of  w[i -> j] * x[j]

(backward passes, plasticity). ``csr_event_reference`` and ``csr_transposed_reference`` are
both operators in the batched form of the compiled kernels' contract (kernels/README.md:
weights (Bw, W), spikes / x (B, n)); the primitives of :mod:`neurosim.events.ops` lower to them
on a platform without a compiled kernel.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def matvec_dense_reference(indptr, indices, rows, weights, spikes, n_post: int):
    """Sum over every synapse: O(nnz) work whatever the activity."""
    w = jnp.broadcast_to(weights, indices.shape)
    contrib = spikes.astype(w.dtype)[rows] * w
    return jax.ops.segment_sum(contrib, indices, num_segments=n_post)


def matvec_transposed_reference(indptr, indices, rows, weights, x, n_pre: int):
    """out[i] = sum over the synapses k of row i of w[k] * x[indices[k]]: O(nnz) work."""
    w = jnp.broadcast_to(weights, indices.shape)
    contrib = w * x.astype(w.dtype)[indices]
    return jax.ops.segment_sum(contrib, rows, num_segments=n_pre, indices_are_sorted=True)


def rows_of(indptr, nnz: int):
    """The presynaptic (row) index of every synapse, from ``indptr`` alone: (nnz,) int32."""
    n_pre = indptr.shape[0] - 1
    return jnp.repeat(jnp.arange(n_pre, dtype=jnp.int32), jnp.diff(indptr), total_repeat_length=nnz)


def _synapse_weights(weights, nnz: int):
    """(Bw, W) weights with W in {1, nnz} -> (Bw, nnz)."""
    return jnp.broadcast_to(weights, (weights.shape[0], nnz))


def csr_event_reference(indptr, indices, weights, spikes, n_post: int):
    """Batched event product of the kernel contract: weights (Bw, W), spikes (B, n_pre) bool or
    float -> (B, n_post) float32, out[b, j] = sum over k = (i -> j) of spikes[b, i] w[b, k].
    Indices outside [0, n_post) are dropped."""
    nnz = indices.shape[0]
    w = _synapse_weights(weights.astype(jnp.float32), nnz)
    contrib = spikes.astype(jnp.float32)[:, rows_of(indptr, nnz)] * w
    out = jnp.zeros((spikes.shape[0], n_post), jnp.float32)
    return out.at[:, indices].add(contrib, mode="drop")


def csr_transposed_reference(indptr, indices, weights, x):
    """Batched transposed product of the kernel contract: weights (Bw, W), x (B, n_post) ->
    (B, n_pre) float32, out[b, i] = sum over k in row i of w[b, k] x[b, indices[k]]."""
    nnz = indices.shape[0]
    n_pre = indptr.shape[0] - 1
    w = _synapse_weights(weights.astype(jnp.float32), nnz)
    gathered = jnp.take(x.astype(jnp.float32), indices, axis=1, mode="fill", fill_value=0)
    out = jnp.zeros((x.shape[0], n_pre), jnp.float32)
    return out.at[:, rows_of(indptr, nnz)].add(w * gathered)


def _matvec_events(indptr, indices, weights, spikes, n_post: int, capacity: int, max_row: int):
    n_pre = spikes.shape[0]
    (active,) = jnp.nonzero(spikes != 0, size=capacity, fill_value=n_pre)
    padded_ptr = jnp.concatenate([indptr, indptr[-1:]])
    start = padded_ptr[active]
    length = padded_ptr[active + 1] - start
    offset = jnp.arange(max_row, dtype=start.dtype)
    valid = offset[None, :] < length[:, None]
    pos = jnp.where(valid, start[:, None] + offset[None, :], 0)
    post = jnp.where(valid, indices[pos], n_post)  # out-of-range targets are dropped
    w = jnp.broadcast_to(weights, indices.shape)[pos] if jnp.ndim(weights) else jnp.broadcast_to(weights, pos.shape)
    s = jnp.concatenate([spikes, jnp.zeros((1,), spikes.dtype)])[active].astype(w.dtype)
    contrib = jnp.where(valid, s[:, None] * w, 0)
    return jnp.zeros((n_post,), w.dtype).at[post.ravel()].add(contrib.ravel(), mode="drop")


def _tiers(capacity: int) -> list[int]:
    """Capacities tried from small to large: 16, 64, 256, ... up to ``capacity``."""
    tiers, c = [], 16
    while c < capacity:
        tiers.append(c)
        c *= 4
    return tiers + [capacity]


def event_matvec_reference(indptr, indices, rows, weights, spikes, n_post: int, capacity: int, max_row: int):
    """Event-driven spikes x CSR. The step gathers the rows of the spiking neurons through the
    smallest of a ladder of fixed capacities (16, 64, 256, ... ``capacity``) that holds them,
    and takes the full path when more than ``capacity`` neurons spike.

    Under ``jax.vmap`` the rung is chosen once for the whole batch (from its busiest member)
    and every member runs that rung, instead of every rung running for every member."""
    if capacity <= 0 or max_row == 0 or indices.shape[0] == 0:
        return matvec_dense_reference(indptr, indices, rows, weights, spikes, n_post)
    return _tiered(n_post, capacity, max_row)(indptr, indices, rows, weights, spikes)


@functools.lru_cache(maxsize=None)
def _tiered(n_post: int, capacity: int, max_row: int):
    tiers = _tiers(capacity)

    def branch(k):
        if k < len(tiers):
            return lambda ip, ix, r, w, s: _matvec_events(ip, ix, w, s, n_post, tiers[k], max_row)
        return lambda ip, ix, r, w, s: matvec_dense_reference(ip, ix, r, w, s, n_post)

    branches = [branch(k) for k in range(len(tiers) + 1)]

    def rung(n_active):
        return jnp.searchsorted(jnp.asarray(tiers), n_active, side="left", method="compare_all")  # no loop

    @jax.custom_batching.custom_vmap
    def op(indptr, indices, rows, weights, spikes):
        return jax.lax.switch(rung(jnp.sum(spikes != 0)), branches, indptr, indices, rows, weights, spikes)

    @op.def_vmap
    def op_vmap(axis_size, in_batched, indptr, indices, rows, weights, spikes):
        args = (indptr, indices, rows, weights, spikes)
        axes = [0 if b else None for b in in_batched]
        busiest = jnp.max(jnp.sum(spikes != 0, axis=-1)) if in_batched[4] else jnp.sum(spikes != 0)
        batched = [jax.vmap(f, in_axes=axes, axis_size=axis_size) for f in branches]
        return jax.lax.switch(rung(busiest), batched, *args), True

    return op
