"""JitConn's two products as Pallas kernels: the TPU path, and a portable one (Pallas'
interpreter runs them anywhere; the tests check them on a CPU that way). They draw the matrix
of :mod:`neurosim.events.jitconn`'s specification, row by row, inside the kernel:

- **64-bit hashing in 32-bit words.** ``jit_hash`` (splitmix64's finaliser, three times) runs
  on pairs of uint32 (high, low): additions with a carry, shifts across the words, and the
  low 64 bits of a 64 x 64-bit product from four 32 x 32 -> 64 products of 16-bit halves. A
  TPU has no 64-bit integers, and JAX without x64 has none either. The tests check the hash
  against numpy's uint64 arithmetic.
- **Gaps without a double-precision logarithm.** The specification's gap is
  ``min(floor(log(u) / log1p(-p)), n_post)`` with ``u = U 2^-53`` and U a 53-bit integer.
  It is at least g exactly when U <= B_g, for thresholds B_1 >= B_2 >= ... that
  :func:`gap_thresholds` finds once on the host. It evaluates the same double-precision
  expression as the numpy materialisation, by bisection over U. The kernel then counts the
  thresholds at or above U by a binary search: integer comparisons only, so the columns are
  those of the specification.
- **Weights** ``w = wa + wb r``: homogeneous (r = 0) and uniform (the hash's top 24 bits) are
  exact. Normal weights use float32 ``sqrt(-2 log u1) cos(2 pi u2)`` where the specification
  uses double: they agree to float32 rounding (about 1e-6 relative), not bit for bit.

The event product compacts the spiking rows first (``nonzero``). Each program of the grid
regenerates ``ROWS`` of them in chunks of ``DRAWS`` draws until every row has passed the
last column, and adds the synapses into the output, which stays resident across the grid.
The transposed product walks every row and gathers ``x`` at the row's columns. Autodiff is a
``custom_vjp`` by linearity (the same cotangents as the compiled kernels); ``vmap`` goes
through Pallas' batching rule. Forward mode is not defined (use reverse mode).

Status: tested in interpret mode on a CPU against the materialised matrix (values, ``vmap``,
``check_grads`` in reverse mode). Not compiled for or run on a TPU (none was available):
whether Mosaic lowers the in-kernel scatter-add of the event product and the gathers is
unverified.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

ROWS = 8        # rows per program
DRAWS = 128     # draws per row and chunk

U32 = jnp.uint32
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


class U64(NamedTuple):
    """A 64-bit unsigned integer array as its two 32-bit words."""

    hi: jax.Array
    lo: jax.Array


def const(v: int) -> U64:
    return U64(np.uint32(v >> 32), np.uint32(v & 0xFFFFFFFF))


def add(a: U64, b: U64) -> U64:
    lo = a.lo + b.lo
    return U64(a.hi + b.hi + (lo < a.lo).astype(U32), lo)


def xor(a: U64, b: U64) -> U64:
    return U64(a.hi ^ b.hi, a.lo ^ b.lo)


def shr(a: U64, s: int) -> U64:
    if s >= 32:
        return U64(jnp.zeros_like(a.hi), a.hi >> U32(s - 32))
    return U64(a.hi >> U32(s), (a.lo >> U32(s)) | (a.hi << U32(32 - s)))


def _mul_wide(x, y) -> U64:
    """The full 64-bit product of two uint32 arrays."""
    m16 = U32(0xFFFF)
    x0, x1, y0, y1 = x & m16, x >> U32(16), y & m16, y >> U32(16)
    p00, p01, p10, p11 = x0 * y0, x0 * y1, x1 * y0, x1 * y1
    mid = p01 + p10
    carry_mid = (mid < p01).astype(U32)
    lo = p00 + (mid << U32(16))
    carry_lo = (lo < p00).astype(U32)
    return U64(p11 + (mid >> U32(16)) + (carry_mid << U32(16)) + carry_lo, lo)


def mul(a: U64, b: U64) -> U64:
    """``a * b`` modulo 2^64."""
    p = _mul_wide(a.lo, b.lo)
    return U64(p.hi + a.lo * b.hi + a.hi * b.lo, p.lo)


def mix64(z: U64) -> U64:
    """splitmix64's finaliser (jitconn_rng.h's ``mix64``)."""
    z = xor(z, shr(z, 30))
    z = mul(z, const(_M1))
    z = xor(z, shr(z, 27))
    z = mul(z, const(_M2))
    return xor(z, shr(z, 31))


def _prefix(seed: int, stream: int) -> int:
    """``mix64(seed ^ (stream << 60))`` on the host (the hash's part shared by every row)."""
    from .jitconn import _mix64_int
    return _mix64_int(seed ^ (stream << 60))


def row_hash(seed: int, stream: int, rows) -> U64:
    """``mix64(mix64(seed ^ (stream << 60)) + row)`` for int32 ``rows``."""
    return mix64(add(const(_prefix(seed, stream)), U64(jnp.zeros_like(rows, U32), rows.astype(U32))))


def draw_hash(base: U64, ks) -> U64:
    """``jit_hash`` = ``mix64(row_hash + k)`` for uint32 draw indices ``ks``."""
    return mix64(add(base, U64(jnp.zeros_like(ks), ks)))


# --------------------------------------------------------------------------- gaps by thresholds
@functools.lru_cache(maxsize=16)
def gap_thresholds(n_post: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """``B_g`` for g = 1 .. n_post, as (high, low) uint32 words: the largest 53-bit U with
    ``log(U 2^-53) / log1p(-p) >= g`` in double precision (0 where none is). A draw's gap is
    the number of g with ``U <= B_g``."""
    log_q = math.log1p(-p) if p < 1.0 else -math.inf
    g = np.arange(1, n_post + 1, dtype=np.float64)
    lo = np.zeros(n_post, np.int64)               # U = 0 stands for "none" (no U >= 1 reaches g)
    hi = np.full(n_post, 2**53, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        while np.any(hi > lo):
            mid = (lo + hi + 1) // 2
            ok = np.log(mid.astype(np.float64) * 2.0**-53) / log_q >= g
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid - 1)
    return (lo >> 32).astype(np.uint32), (lo & 0xFFFFFFFF).astype(np.uint32)


def _at_least(b_hi, b_lo, u: U64):
    """``B >= U`` for 64-bit words."""
    return (b_hi > u.hi) | ((b_hi == u.hi) & (b_lo >= u.lo))


def gaps(u: U64, b_hi, b_lo, n_post: int):
    """The gap of each draw: #{g : B_g >= U}, by a binary search over the non-increasing B."""
    lo = jnp.zeros(u.hi.shape, jnp.int32)
    hi = jnp.full(u.hi.shape, n_post, jnp.int32)
    for _ in range(max(1, math.ceil(math.log2(n_post + 1)))):
        mid = (lo + hi + 1) // 2
        at = jnp.maximum(mid - 1, 0)
        ok = (mid > 0) & _at_least(b_hi[at], b_lo[at], u)
        lo, hi = jnp.where(ok, mid, lo), jnp.where(ok, hi, mid - 1)
    return lo


def _float(u: U64):
    """The integer as a float32 (rounded)."""
    return u.hi.astype(jnp.float32) * jnp.float32(2.0**32) + u.lo.astype(jnp.float32)


def _r(spec, rows, ks):
    """r of each (row, k) draw (jitconn_rng.h's ``jit_weight``)."""
    from .jitconn import HOMOGENEOUS, UNIFORM

    if spec.dist == HOMOGENEOUS:
        return jnp.zeros(ks.shape, jnp.float32)
    base1 = row_hash(spec.seed, 1, rows)
    h1 = draw_hash(U64(base1.hi[:, None], base1.lo[:, None]), ks)
    if spec.dist == UNIFORM:
        return (h1.hi >> U32(8)).astype(jnp.float32) * jnp.float32(2.0**-24)
    base2 = row_hash(spec.seed, 2, rows)
    h2 = draw_hash(U64(base2.hi[:, None], base2.lo[:, None]), ks)
    u1 = _float(add(shr(h1, 11), const(1))) * jnp.float32(2.0**-53)
    u2 = _float(shr(h2, 11)) * jnp.float32(2.0**-53)
    return jnp.sqrt(-2.0 * jnp.log(u1)) * jnp.cos(jnp.float32(6.283185307179586) * u2)


def _walk(spec, rows, b_hi, b_lo, visit, acc):
    """Regenerate ``rows`` (int32 (ROWS,), -1 for none) chunk by chunk, calling
    ``acc = visit(acc, cols, r, valid)`` on each chunk's (ROWS, DRAWS) draws."""
    n_post = spec.n_post
    base = row_hash(spec.seed, 0, jnp.maximum(rows, 0))
    base = U64(base.hi[:, None], base.lo[:, None])
    pos = jnp.where(rows >= 0, -1, n_post).astype(jnp.int32)      # a row ends when it passes the last column
    step = jnp.arange(DRAWS, dtype=U32)[None, :]

    def body(carry):
        pos, k0, acc = carry
        ks = k0 + step
        u = add(shr(draw_hash(base, ks), 11), const(1))
        gap = gaps(u, b_hi, b_lo, n_post)
        cols = pos[:, None] + jnp.cumsum(gap + 1, axis=1)
        valid = cols < n_post
        if not spec.allow_self:
            valid = valid & (cols != rows[:, None])
        acc = visit(acc, jnp.where(valid, cols, 0), _r(spec, jnp.maximum(rows, 0), ks), valid)
        return jnp.minimum(cols[:, -1], n_post), k0 + U32(DRAWS), acc

    _, _, acc = jax.lax.while_loop(lambda c: jnp.any(c[0] < n_post), body, (pos, U32(0), acc))
    return acc


def _chunk_limit(spec):
    if spec.n_post * (DRAWS + 1) >= 2**31:
        raise ValueError(f"the Pallas JitConn kernels take n_post < {2**31 // (DRAWS + 1)}, got {spec.n_post}")


def _interpret() -> bool:
    return jax.default_backend() != "tpu"


def _event(spec, spikes, wa, wb):
    """(n_post,) drive of (n_pre,) float32 spikes."""
    from jax.experimental import pallas as pl

    _chunk_limit(spec)
    b_hi, b_lo = (jnp.asarray(b) for b in gap_thresholds(spec.n_post, spec.p))
    n_pad = -(-spec.n_pre // ROWS) * ROWS
    (active,) = jnp.nonzero(spikes != 0, size=n_pad, fill_value=-1)
    values = jnp.where(active >= 0, spikes[jnp.maximum(active, 0)], 0.0)
    wab = jnp.stack([wa, wb]).astype(jnp.float32)

    def kernel(rows_ref, s_ref, bh_ref, bl_ref, w_ref, out_ref):
        @pl.when(pl.program_id(0) == 0)
        def _():
            out_ref[...] = jnp.zeros(out_ref.shape, out_ref.dtype)

        s, wab_v = s_ref[...], w_ref[...]

        def visit(acc, cols, r, valid):
            w = wab_v[0] + wab_v[1] * r
            contrib = jnp.where(valid, s[:, None] * w, 0.0)
            return acc.at[cols.ravel()].add(contrib.ravel())

        out_ref[...] = _walk(spec, rows_ref[...], bh_ref[...], bl_ref[...], visit, out_ref[...])

    whole = lambda a: pl.BlockSpec(a.shape, lambda b: (0,))
    block = pl.BlockSpec((ROWS,), lambda b: (b,))
    return pl.pallas_call(
        kernel, out_shape=jax.ShapeDtypeStruct((spec.n_post,), jnp.float32), grid=(n_pad // ROWS,),
        in_specs=[block, block, whole(b_hi), whole(b_lo), whole(wab)],
        out_specs=pl.BlockSpec((spec.n_post,), lambda b: (0,)), interpret=_interpret(),
    )(active.astype(jnp.int32), values.astype(jnp.float32), b_hi, b_lo, wab)


def _transposed(spec, x, wa, wb):
    """(n_pre,): out[i] = sum over the synapses (i -> j) of w_ij x[j]."""
    from jax.experimental import pallas as pl

    _chunk_limit(spec)
    b_hi, b_lo = (jnp.asarray(b) for b in gap_thresholds(spec.n_post, spec.p))
    n_pad = -(-spec.n_pre // ROWS) * ROWS
    rows = jnp.arange(n_pad, dtype=jnp.int32)
    rows = jnp.where(rows < spec.n_pre, rows, -1)
    wab = jnp.stack([wa, wb]).astype(jnp.float32)

    def kernel(rows_ref, x_ref, bh_ref, bl_ref, w_ref, out_ref):
        xv, wab_v = x_ref[...], w_ref[...]

        def visit(acc, cols, r, valid):
            w = wab_v[0] + wab_v[1] * r
            return acc + jnp.sum(jnp.where(valid, w * xv[cols], 0.0), axis=1)

        out_ref[...] = _walk(spec, rows_ref[...], bh_ref[...], bl_ref[...], visit, jnp.zeros((ROWS,), jnp.float32))

    whole = lambda a: pl.BlockSpec(a.shape, lambda b: (0,))
    block = pl.BlockSpec((ROWS,), lambda b: (b,))
    out = pl.pallas_call(
        kernel, out_shape=jax.ShapeDtypeStruct((n_pad,), jnp.float32), grid=(n_pad // ROWS,),
        in_specs=[block, whole(x), whole(b_hi), whole(b_lo), whole(wab)], out_specs=block, interpret=_interpret(),
    )(rows, x.astype(jnp.float32), b_hi, b_lo, wab)
    return out[:spec.n_pre]


# --------------------------------------------------------------------------- autodiff by linearity
def _linear(op, adjoint, doc):
    """``op(spec, v, wa, wb)`` with its ``custom_vjp``: the op is linear in ``v`` (the cotangent
    of ``v`` is ``adjoint`` of the cotangent) and in ``(wa, wb)`` (each cotangent is the
    cotangent's inner product with the op at (1, 0) or (0, 1))."""
    @functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
    def f(spec, v, wa, wb):
        return op(spec, v, wa, wb)

    def fwd(spec, v, wa, wb):
        return op(spec, v, wa, wb), (v, wa, wb)

    def bwd(spec, res, ct):
        v, wa, wb = res
        one, zero = jnp.ones((), jnp.float32), jnp.zeros((), jnp.float32)
        dwa, dwb = jnp.dot(ct, op(spec, v, one, zero)), jnp.dot(ct, op(spec, v, zero, one))
        return (adjoint(spec, ct, wa, wb).astype(v.dtype), dwa.astype(jnp.result_type(wa)),
                dwb.astype(jnp.result_type(wb)))

    f.defvjp(fwd, bwd)
    f.__doc__ = doc
    return f


event = _linear(_event, _transposed, "Pallas ``jit_event``: (n_pre,) float32 spikes -> (n_post,) drive; ``wa``, "
                                     "``wb`` scalars.")
transposed = _linear(_transposed, _event, "Pallas ``jit_transposed``: (n_post,) -> (n_pre,); ``wa``, ``wb`` scalars.")
