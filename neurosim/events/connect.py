"""Connectivity builders: each returns a :class:`~neurosim.events.csr.CSR`, reproducibly from
``seed``, built with vectorised numpy (no Python loop over neurons or synapses).

- ``fixed_probability(n_pre, n_post, p, seed)``: each ordered pair independently with
  probability p (exact Bernoulli sampling by geometric skips through the n_pre x n_post grid).
- ``fixed_indegree(n_pre, n_post, k, seed)``: every postsynaptic neuron gets exactly k distinct
  presynaptic partners.
- ``one_to_one(n)``, ``all_to_all(n_pre, n_post)``, and ``CSR.from_arrays(pre, post, ...)``
  for explicit lists.

``autapses=False`` removes i -> i connections (meaningful when a population projects onto
itself); the default keeps them, as Brian2 and NEST do.
"""
from __future__ import annotations

import numpy as np

from .. import _checks
from .csr import CSR


def _from_sorted(row, col, n_pre, n_post) -> CSR:
    """CSR from (row, col) pairs already sorted by row then column, without duplicates."""
    counts = np.bincount(row, minlength=n_pre) if row.size else np.zeros(n_pre, np.int64)
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    # rows are not passed: CSR makes them from indptr when they are first read
    return CSR(indptr, col.astype(np.int32, copy=False), n_pre, n_post, max_row=int(counts.max()) if n_pre else 0,
               check=False)


def _sizes(n_pre, n_post):
    return _checks.count("n_pre", n_pre, minimum=1), _checks.count("n_post", n_post, minimum=1)


def fixed_probability(n_pre: int, n_post: int, p: float, seed: int = 0, *, autapses: bool = True) -> CSR:
    """Connect each (pre, post) pair independently with probability ``p``."""
    n_pre, n_post = _sizes(n_pre, n_post)
    p = _checks.probability("p", p)
    total = n_pre * n_post
    # the synapses (a row and a column index, 4 B each, and an int64 cell number while sorting),
    # and for p >= 0.5 one float64 draw per pair
    _checks.fits_in_memory(f"fixed_probability(n_pre={n_pre}, n_post={n_post}, p={p:g}): ~{total * p:.3g} synapses",
                           total * p * 16 + (total * 8 if p >= 0.5 else 0),
                           "use a smaller network or p, or a JitConn (ns.events.JitConn), which stores no synapse")
    rng = np.random.default_rng(_checks.seed("seed", seed))
    if p == 0.0:
        flat = np.zeros(0, np.int64)
    elif p >= 0.5:
        flat = np.flatnonzero(rng.random(total) < p)
    else:
        # Gaps between successive connected cells of the flattened grid are geometric(p),
        # ceil(E / lambda) with E ~ Exp(1) and lambda = -log(1 - p); a cumulative sum of gaps
        # visits the connected cells in row-major order, so the result comes out sorted.
        lam = -np.log1p(-p)
        dtype = np.float32 if 40.0 / lam < 2.0**24 else np.float64  # gaps exact in float32
        expected = total * p
        pieces, pos = [], -1
        while pos < total - 1:
            block = int(max(expected - (pos + 1) * p, 0.0) + 6.0 * np.sqrt(expected) + 16)
            gaps = rng.standard_exponential(size=block, dtype=dtype)
            np.multiply(gaps, dtype(1.0 / lam), out=gaps)
            np.ceil(gaps, out=gaps)
            np.maximum(gaps, 1, out=gaps)
            flat = gaps.astype(np.int64)  # exact: gaps are whole numbers
            np.cumsum(flat, out=flat)     # (in place: 6x faster than a float32 -> int64 cumsum)
            flat += pos
            pieces.append(flat[: np.searchsorted(flat, total)])
            pos = int(flat[-1])
        flat = np.concatenate(pieces)
    # Rows from the sorted cell numbers by bisection, columns by one subtraction (cheaper than
    # an int64 divmod over every synapse).
    indptr = np.searchsorted(flat, np.arange(n_pre + 1, dtype=np.int64) * n_post)
    row = np.repeat(np.arange(n_pre, dtype=np.int32), np.diff(indptr))
    col = np.empty(flat.size, np.int32)
    np.subtract(flat, np.multiply(row, np.int64(n_post), dtype=np.int64), out=col, casting="unsafe")
    if not autapses:
        keep = row != col
        row, col = row[keep], col[keep]
    return _from_sorted(row, col, n_pre, n_post)


def fixed_indegree(n_pre: int, n_post: int, k: int, seed: int = 0, *, autapses: bool = True) -> CSR:
    """Every postsynaptic neuron receives exactly ``k`` distinct presynaptic partners."""
    n_pre, n_post = _sizes(n_pre, n_post)
    limit = n_pre - (0 if autapses else 1)
    k = _checks.count("k (in-degree)", k, minimum=0, maximum=limit)
    dense = 2 * k > limit             # then one float64 key per pair, else k int64 draws per neuron
    _checks.fits_in_memory(f"fixed_indegree(n_pre={n_pre}, n_post={n_post}, k={k}): {n_post * k:.3g} synapses",
                           n_post * k * 24 + (n_post * n_pre * 8 if dense else 0),
                           "use a smaller network or in-degree, or a JitConn (ns.events.JitConn), which stores no synapse")
    rng = np.random.default_rng(_checks.seed("seed", seed))
    post = np.arange(n_post)
    if k == 0:
        pre = np.zeros((n_post, 0), np.int64)
    elif dense:
        # Dense case: rank random keys per column and keep the k smallest.
        keys = rng.random((n_post, n_pre))
        if not autapses:
            diag = np.arange(min(n_pre, n_post))
            keys[diag, diag] = np.inf
        pre = np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1)
    else:
        pre = rng.integers(0, n_pre, size=(n_post, k))
        while True:
            pre.sort(axis=1)
            bad = np.zeros(pre.shape, bool)
            bad[:, 1:] = pre[:, 1:] == pre[:, :-1]
            if not autapses:
                bad |= pre == post[:, None]
            nbad = int(bad.sum())
            if nbad == 0:
                break
            pre[bad] = rng.integers(0, n_pre, size=nbad)
    pre = pre.ravel()
    col = np.repeat(post, k)
    order = np.argsort(pre, kind="stable")  # post stays ascending within each row
    return _from_sorted(pre[order], col[order], n_pre, n_post)


def one_to_one(n: int) -> CSR:
    """Neuron i of the source to neuron i of the target."""
    n = _checks.count("n", n, minimum=1)
    idx = np.arange(n)
    return _from_sorted(idx, idx, n, n)


def all_to_all(n_pre: int, n_post: int, *, autapses: bool = True) -> CSR:
    """Every source neuron to every target neuron."""
    n_pre, n_post = _sizes(n_pre, n_post)
    row = np.repeat(np.arange(n_pre), n_post)
    col = np.tile(np.arange(n_post), n_pre)
    if not autapses:
        keep = row != col
        row, col = row[keep], col[keep]
    return _from_sorted(row, col, n_pre, n_post)


def from_arrays(pre, post, n_pre: int, n_post: int, weights=None):
    """Explicit synapse list; see :meth:`CSR.from_arrays`."""
    n_pre, n_post = _sizes(n_pre, n_post)
    return CSR.from_arrays(pre, post, n_pre, n_post, weights)
