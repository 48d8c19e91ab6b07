"""Compressed sparse row connectivity, presynaptic-major.

Row ``i`` lists the postsynaptic targets of presynaptic neuron ``i``:
``indices[indptr[i]:indptr[i+1]]``, sorted ascending and free of duplicates. Weights are not
part of the connectivity: they are a separate, differentiable (nnz,) array (or one scalar for a
homogeneous projection) passed next to it.

``CSR`` is a pytree: its index arrays are leaves (so it can be passed into jit), and the sizes
``n_pre``, ``n_post`` and the longest row ``max_row`` are static aux data. ``rows``, each
synapse's presynaptic index, is made from ``indptr`` when first read (the event operators and
plasticity read it; the native engine does not), so a network built and run there holds 8
bytes of index per synapse, not 12.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


@jax.tree_util.register_pytree_node_class
class CSR:
    """Connectivity of one projection. Build it with the functions of ``neurosim.events.connect``
    or with :meth:`CSR.from_arrays`; the constructor checks what it is given."""

    col_ptr = col_perm = max_col = None   # the optional column index (with_columns)
    _rows = None                          # made when first read (the rows property)

    def __init__(self, indptr, indices, n_pre: int, n_post: int, *, rows=None, max_row=None, check=True,
                 columns=None):
        if check:
            indptr, indices = validate_csr(indptr, indices, n_pre, n_post)
            counts = np.diff(indptr)
            max_row = int(counts.max()) if counts.size else 0
            rows = None                   # made from the checked indptr when first read
        elif max_row is None:
            raise ValueError("CSR(check=False) needs max_row")
        self.indptr = jnp.asarray(indptr, jnp.int32)
        self.indices = jnp.asarray(indices, jnp.int32)
        self.rows = None if rows is None else jnp.asarray(rows, jnp.int32)
        self.n_pre = int(n_pre)
        self.n_post = int(n_post)
        self.max_row = int(max_row)
        # the column index (see with_columns), or None
        if columns is None:
            self.col_ptr = self.col_perm = None
            self.max_col = None
        else:
            col_ptr, col_perm, max_col = columns
            self.col_ptr = jnp.asarray(col_ptr, jnp.int32)
            self.col_perm = jnp.asarray(col_perm, jnp.int32)
            self.max_col = int(max_col)

    @property
    def rows(self) -> jax.Array:
        """The presynaptic index of each synapse, (nnz,) int32: made from ``indptr`` when first
        read (and kept), so that a network run by code that reads only the rows' bounds (the
        native engine) does not hold these 4 bytes per synapse."""
        if self._rows is None:
            counts = np.diff(np.asarray(self.indptr))
            with jax.ensure_compile_time_eval():    # a concrete array, also when first read while tracing
                self._rows = jax.device_put(np.repeat(np.arange(self.n_pre, dtype=np.int32), counts))
        return self._rows

    @rows.setter
    def rows(self, value) -> None:
        self._rows = value

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    @property
    def has_columns(self) -> bool:
        return self.max_col is not None

    def with_columns(self) -> "CSR":
        """The same connectivity with a column (postsynaptic-major) index: ``col_perm`` lists
        the synapses sorted by postsynaptic neuron (stable, so by presynaptic neuron within a
        column) and ``col_ptr[j]:col_ptr[j + 1]`` are neuron j's; ``max_col`` its largest
        in-degree. Event-driven plasticity reads a postsynaptic neuron's synapses through it."""
        if self.has_columns:
            return self
        cols = np.asarray(self.indices)
        perm = np.argsort(cols, kind="stable").astype(np.int32)
        counts = np.bincount(cols, minlength=self.n_post)
        col_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        return CSR(self.indptr, self.indices, self.n_pre, self.n_post, rows=self._rows, max_row=self.max_row,
                   check=False, columns=(col_ptr, perm, int(counts.max()) if counts.size else 0))

    def tree_flatten(self):
        leaves = (self.indptr, self.indices, self.rows)
        if self.has_columns:
            leaves += (self.col_ptr, self.col_perm)
        return leaves, (self.n_pre, self.n_post, self.max_row, self.max_col)

    @classmethod
    def tree_unflatten(cls, aux, children):
        # Leaves may be tracers or other placeholders: set them as they are, converting nothing.
        obj = object.__new__(cls)
        obj.indptr, obj.indices, obj.rows = children[:3]
        obj.col_ptr, obj.col_perm = children[3:] if len(children) == 5 else (None, None)
        obj.n_pre, obj.n_post, obj.max_row, obj.max_col = aux
        return obj

    @classmethod
    def from_arrays(cls, pre, post, n_pre: int, n_post: int, weights=None):
        """Build from (pre, post[, weights]) triples in any order. Returns ``csr`` or, when
        ``weights`` is given, ``(csr, weights)`` with the weights reordered to match."""
        pre = np.asarray(pre)
        post = np.asarray(post)
        if pre.size == 0:             # an empty list is float64 to numpy: no synapse, as integers
            pre, post = pre.astype(np.int64), post.astype(np.int64)
        if pre.ndim != 1 or post.shape != pre.shape:
            raise ValueError(f"pre and post must be 1-D arrays of equal length, got shapes {pre.shape} and {post.shape}")
        _check_range("pre", pre, n_pre)
        _check_range("post", post, n_post)
        order = np.lexsort((post, pre))
        pre, post = pre[order], post[order]
        dup = (np.diff(pre) == 0) & (np.diff(post) == 0)
        if dup.any():
            k = int(np.argmax(dup))
            raise ValueError(f"duplicate synapse ({int(pre[k])} -> {int(post[k])}) in pre/post; each pair may appear once")
        indptr = np.zeros(n_pre + 1, np.int64)
        np.cumsum(np.bincount(pre, minlength=n_pre), out=indptr[1:])
        csr = cls(indptr, post, n_pre, n_post)
        if weights is None:
            return csr
        weights = np.asarray(weights)
        if weights.shape != (pre.size,):
            raise ValueError(f"weights must have shape ({pre.size},) to match pre/post, got {weights.shape}")
        return csr, weights[order]

    def to_dense(self, weights=1.0):
        """(n_pre, n_post) dense matrix, for tests and small reference computations."""
        w = jnp.broadcast_to(jnp.asarray(weights), (self.nnz,))
        return jnp.zeros((self.n_pre, self.n_post), w.dtype).at[self.rows, self.indices].add(w)

    def __repr__(self):
        return f"CSR(n_pre={self.n_pre}, n_post={self.n_post}, nnz={self.nnz}, max_row={self.max_row})"


def _check_range(name, idx, n):
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)][0]
        raise ValueError(f"{name} index {int(bad)} is out of range [0, {n})")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {idx.dtype}")


def validate_csr(indptr, indices, n_pre: int, n_post: int):
    """Check a CSR's arrays; return them as numpy int arrays or raise a ValueError that says
    what is wrong and where."""
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)
    if n_pre < 0 or n_post < 0:
        raise ValueError(f"n_pre and n_post must be >= 0, got {n_pre} and {n_post}")
    if indptr.shape != (n_pre + 1,):
        raise ValueError(f"indptr must have shape ({n_pre + 1},) for n_pre = {n_pre}, got {indptr.shape}")
    if indices.ndim != 1:
        raise ValueError(f"indices must be 1-D, got shape {indices.shape}")
    for name, arr in (("indptr", indptr), ("indices", indices)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    if indptr[0] != 0 or indptr[-1] != indices.size:
        raise ValueError(
            f"indptr must start at 0 and end at len(indices) = {indices.size}, got {int(indptr[0])} and {int(indptr[-1])}"
        )
    counts = np.diff(indptr)
    if (counts < 0).any():
        row = int(np.argmax(counts < 0))
        raise ValueError(f"indptr must be non-decreasing; it decreases at row {row}")
    _check_range("indices", indices, n_post)
    if indices.size > 1:
        step = np.diff(indices.astype(np.int64))
        row_of = np.repeat(np.arange(n_pre), counts)
        bad = (row_of[1:] == row_of[:-1]) & (step <= 0)
        if bad.any():
            k = int(np.argmax(bad))
            row = int(row_of[k])
            what = "duplicated" if step[k] == 0 else "unsorted"
            raise ValueError(f"indices of row {row} are {what}; each row must be sorted ascending without duplicates")
    if indices.size >= 2**31:
        raise ValueError(f"more than 2**31 - 1 synapses ({indices.size}) in one projection are not supported")
    return indptr, indices


def rows_are_unique(conn) -> bool:
    """Whether every row of ``conn`` lists its postsynaptic neurons in strictly increasing order
    (none twice): the additions of one row's delivery are then independent of each other, which
    the fused kernel exploits (vector gather/scatter)."""
    indptr, indices = np.asarray(conn.indptr), np.asarray(conn.indices)
    step = np.diff(indices.astype(np.int64))
    starts = indptr[1:-1]                      # a new row begins at these positions
    new_row = np.zeros(step.shape, bool)
    new_row[starts[(starts > 0) & (starts <= step.size)] - 1] = True
    return bool(np.all((step > 0) | new_row))
