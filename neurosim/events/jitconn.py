"""Procedural ("just-in-time") fixed-probability connectivity: a matrix regenerated from a seed
inside the kernel on every call, so memory does not grow with the number of synapses.

    conn = JitConn(n_pre, n_post, p, seed, weight=neurosim.Normal(0.5, 0.1), autapses=True)
    drive = conn.propagate(conn.weight_params(), spikes)      # (n_post,), like events.propagate

Each ordered pair (i, j) is connected independently with probability ``p``. Row i is drawn by
the counter-based RNG of ``kernels/include/neurosim/jitconn_rng.h`` (the specification: every
backend draws the same numbers from (seed, row, draw index k)): geometric gaps between
successive targets, ``gap_k = floor(log(u_k) / log1p(-p))``, and per synapse

    w = wa + wb * r_k        (float32, no fused multiply-add)

with ``r = 0`` (``weight=w``, a number: wa = w, wb = 0), ``r ~ U[0, 1)``
(``weight=Uniform(low, high)``: wa = low, wb = high - low) or ``r ~ N(0, 1)``
(``weight=Normal(mean, std)``: wa = mean, wb = std); ``Uniform`` and ``Normal`` are the
initial-value rules of :mod:`neurosim.init`.
Without autapses the draw that lands on column i of row i is dropped (its k is still used).

Differentiable parameters: ``wa`` and ``wb``, the projection's ``weights`` parameter in a
network, always a float32 array ``[wa, wb]`` of shape (2,) (:meth:`JitConn.weight_params`);
for a homogeneous JitConn a scalar ``w`` is accepted too and means ``[w, 0]``. Everything else (sizes,
``p``, ``seed``, the distribution, ``autapses``) is static: ``JitConn`` is a pytree with no array
leaves, so it passes through ``jit`` like a ``CSR``.

The ops are two primitives with their rules in one block below:

- ``jit_event``: spikes (bool or float32, [B, n_pre]) x matrix -> [B, n_post], event-driven
  (only spiking rows regenerate their targets);
- ``jit_transposed``: x [B, n_post] -> [B, n_pre] (walks every row), the transpose w.r.t. spikes.

Autodiff by linearity: the JVP is the same op on the tangents (float spikes, then (wa, wb));
the transpose w.r.t. spikes is the transposed op, and w.r.t. wa / wb the cotangent's inner
product with the op at (wa, wb) = (1, 0) / (0, 1), both from one batched call. ``vmap`` folds
the mapped axis into the batch B of one call. Lowering: the compiled kernels
(``kernels/cpu/jitconn.cc`` on CPU, ``kernels/cuda/jitconn.cu`` on CUDA) where they load, else
the pure-JAX reference: the materialised matrix (:meth:`JitConn.to_csr`, cached) through the
reference event op, which is also what ``backend="reference"`` runs.
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from .. import _checks, _kernels
from ..init import Normal, Uniform
from .csr import CSR

__all__ = ["JitConn", "jit_event_p", "jit_transposed_p"]


# --------------------------------------------------------------------------- weight distributions (data)

HOMOGENEOUS, UNIFORM, NORMAL = 0, 1, 2          # the kernels' ``dist`` attribute
_MAX_SIZE = 2**31 - 1


def _weight_spec(weight):
    """The weight option, checked: a float (homogeneous), ``Uniform`` or ``Normal`` of floats."""
    if isinstance(weight, (Uniform, Normal)):
        spec = type(weight)(*[_checks.finite(f"weight {weight!r}: {f}", v) for f, v in zip(weight._fields, weight)])
        if isinstance(spec, Uniform) and spec.high < spec.low:
            raise ValueError(f"weight Uniform(low, high) needs low <= high, got {weight!r}")
        if isinstance(spec, Normal) and spec.std < 0:
            raise ValueError(f"weight Normal(mean, std) needs std >= 0, got {weight!r}")
        return spec
    if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, numbers.Real):
        raise ValueError(f"weight must be a number (homogeneous), Uniform(low, high) or Normal(mean, std), got {weight!r}")
    return _checks.finite("weight", weight)


class _Spec(NamedTuple):
    """The static description the primitives carry (hashable)."""

    n_pre: int
    n_post: int
    p: float
    seed: int
    dist: int
    allow_self: bool


# --------------------------------------------------------------------------- the connectivity object


@jax.tree_util.register_pytree_node_class
class JitConn:
    """``n_pre x n_post`` fixed-probability connectivity with probability ``p``, regenerated from
    ``seed`` (an integer in [0, 2**64)) on every use. ``weight``: a number (homogeneous) or
    ``neurosim.Uniform(low, high)`` or ``neurosim.Normal(mean, std)``. ``autapses=False`` removes
    i -> i synapses (meaningful when a population projects onto itself)."""

    def __init__(self, n_pre: int, n_post: int, p: float, seed: int = 0, *, weight=1.0, autapses: bool = True):
        n_pre = _checks.count("n_pre", n_pre, minimum=1, maximum=_MAX_SIZE)
        n_post = _checks.count("n_post", n_post, minimum=1, maximum=_MAX_SIZE)
        try:
            p = _checks.probability("p", p)
        except (TypeError, ValueError):
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}") from None
        seed = _checks.count("seed", seed, minimum=0, maximum=2**64 - 1)
        if not isinstance(autapses, (bool, np.bool_)):
            raise ValueError(f"autapses must be True or False, got {autapses!r}")
        self._init(n_pre, n_post, p, seed, _weight_spec(weight), bool(autapses))

    def _init(self, n_pre, n_post, p, seed, weight, autapses):
        self.n_pre, self.n_post, self.p, self.seed = n_pre, n_post, p, seed
        self.weight, self.autapses = weight, autapses

    # static pytree: no leaves, everything is aux data
    def tree_flatten(self):
        return (), (self.n_pre, self.n_post, self.p, self.seed, self.weight, self.autapses)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj._init(*aux)
        return obj

    def __eq__(self, other):
        return type(other) is JitConn and self.tree_flatten()[1] == other.tree_flatten()[1]

    def __hash__(self):
        return hash(self.tree_flatten()[1])

    def __repr__(self):
        return (f"JitConn(n_pre={self.n_pre}, n_post={self.n_post}, p={self.p!r}, seed={self.seed}, "
                f"weight={self.weight!r}, autapses={self.autapses})")

    # ------------------------------------------------------------------ description
    @property
    def dist(self) -> int:
        """The kernels' distribution code: 0 homogeneous, 1 uniform, 2 normal."""
        return UNIFORM if isinstance(self.weight, Uniform) else NORMAL if isinstance(self.weight, Normal) else HOMOGENEOUS

    @property
    def _spec(self) -> _Spec:
        return _Spec(self.n_pre, self.n_post, self.p, self.seed, self.dist, self.autapses)

    def weight_params(self) -> np.ndarray:
        """``[wa, wb]`` (float32, shape (2,)) of the weight option: the differentiable parameters."""
        w = self.weight
        if isinstance(w, Uniform):
            wa, wb = w.low, w.high - w.low
        elif isinstance(w, Normal):
            wa, wb = w.mean, w.std
        else:
            wa, wb = w, 0.0
        return np.array([wa, wb], np.float32)

    @property
    def expected_nnz(self) -> float:
        """The mean number of synapses, ``p`` times the number of allowed pairs."""
        pairs = self.n_pre * self.n_post - (0 if self.autapses else min(self.n_pre, self.n_post))
        return pairs * self.p

    def max_row_bound(self, sigmas: float = 6.0) -> int:
        """The mean row length plus ``sigmas`` binomial standard deviations (plus one), at most
        ``n_post``: a capacity that a row exceeds only with a vanishing probability."""
        m = self.n_post * self.p
        return int(min(self.n_post, math.ceil(m + sigmas * math.sqrt(m * (1 - self.p)) + 1)))

    def check_weight_shape(self, shape, what):
        if shape == (2,) or (shape == () and self.dist == HOMOGENEOUS):
            return
        if self.dist == HOMOGENEOUS:
            raise ValueError(f"{what} of a homogeneous JitConn must be a scalar w or [wa, wb] of shape (2,), got shape {shape}")
        raise ValueError(f"{what} of a JitConn with {type(self.weight).__name__} weights must be [wa, wb] of shape (2,), "
                         f"got shape {shape}")

    def weight_array(self, weights, what: str = "weights") -> np.ndarray:
        """``weights`` (a scalar w, homogeneous only, or ``[wa, wb]``) as a float32 numpy
        ``[wa, wb]``, or a ValueError naming ``what``."""
        try:
            w = np.asarray(weights, np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be numbers [wa, wb], got {weights!r}") from None
        self.check_weight_shape(w.shape, what)
        return np.array([w, 0.0], np.float32) if w.shape == () else w

    def check_weights(self, weights, what: str = "weights"):
        """``weights`` (traceable) as a float32 ``(wa (1,), wb (1,))`` pair, or a ValueError
        naming ``what``."""
        w = jnp.asarray(weights)
        self.check_weight_shape(w.shape, what)
        if w.dtype != jnp.float32:
            w = w.astype(jnp.float32)
        if w.shape == ():
            return w[None], jnp.zeros((1,), jnp.float32)
        return w[0:1], w[1:2]

    # ------------------------------------------------------------------ materialisation
    def to_csr(self, weights=None):
        """``(CSR, weights)``: the same matrix stored, with weights (float32 numpy, (nnz,))
        from ``weights`` = ``[wa, wb]`` (default :meth:`weight_params`). Exactly the kernels'
        draws; memory grows with the synapse count, so this is for checks and small networks."""
        wa, wb = self.weight_params() if weights is None else self.weight_array(jax.device_get(weights))
        indptr, indices, rows, r = _materialise(self._spec)
        csr = CSR(indptr, indices, self.n_pre, self.n_post, rows=rows,
                  max_row=int(np.diff(indptr).max()), check=False)
        w = np.float32(wa) + np.float32(wb) * r   # float32, a multiply then an add: no FMA
        return csr, w

    def row(self, i: int, weights=None):
        """``(cols, weights)`` of presynaptic neuron ``i``'s synapses (int64 and float32 numpy),
        regenerated alone: O(row length) memory whatever the matrix's size."""
        i = _checks.count("i (row)", i, minimum=0, maximum=self.n_pre - 1)
        wa, wb = self.weight_params() if weights is None else self.weight_array(jax.device_get(weights))
        _, col, ks = _draw_rows(self._spec, np.array([i], np.int64))
        r = _draw_r(self.seed, self.dist, np.full(col.shape, i, np.int64), ks)
        return col, np.float32(wa) + np.float32(wb) * r

    def to_dense(self, weights=None) -> np.ndarray:
        """The (n_pre, n_post) float32 weight matrix (small sizes only)."""
        csr, w = self.to_csr(weights)
        out = np.zeros((self.n_pre, self.n_post), np.float32)
        out[np.asarray(csr.rows), np.asarray(csr.indices)] = w
        return out

    # ------------------------------------------------------------------ the ops
    def propagate(self, weights, spikes, backend: str | None = None):
        """Postsynaptic drive (n_post,) from presynaptic ``spikes`` (n_pre,), bool or float
        (float spikes carry surrogate gradients). ``backend="reference"`` forces the pure-JAX
        reference, ``"pallas"`` the Pallas kernel (the default on a TPU); None (or any other
        backend name) takes the compiled kernel where it loads."""
        spikes = jnp.asarray(spikes)
        if spikes.shape != (self.n_pre,):
            raise ValueError(f"spikes must have shape ({self.n_pre},) for this JitConn, got {spikes.shape}")
        if spikes.dtype != jnp.bool_ and spikes.dtype != jnp.float32:
            spikes = spikes.astype(jnp.float32)
        wa, wb = self.check_weights(weights)
        if _use_pallas(backend):
            from . import pallas_jitconn
            return pallas_jitconn.event(self._spec, spikes.astype(jnp.float32), wa[0], wb[0])
        if _use_reference(backend):
            return _event_reference(spikes[None], wa, wb, spec=self._spec)[0]
        return jit_event_p.bind(spikes[None], wa, wb, spec=self._spec)[0]

    def propagate_transposed(self, weights, x, backend: str | None = None):
        """``out[i] = sum over synapses (i -> j) of w_ij x[j]``: (n_post,) -> (n_pre,)."""
        x = jnp.asarray(x)
        if x.shape != (self.n_post,):
            raise ValueError(f"x must have shape ({self.n_post},) for this JitConn, got {x.shape}")
        x = x.astype(jnp.float32)
        wa, wb = self.check_weights(weights)
        if _use_pallas(backend):
            from . import pallas_jitconn
            return pallas_jitconn.transposed(self._spec, x, wa[0], wb[0])
        if _use_reference(backend):
            return _transposed_reference(x[None], wa, wb, spec=self._spec)[0]
        return jit_transposed_p.bind(x[None], wa, wb, spec=self._spec)[0]


def _use_pallas(backend) -> bool:
    """``backend="pallas"`` (anywhere; interpreted off a TPU), or no backend named on a TPU,
    which has no compiled kernel (:mod:`neurosim.events.pallas_jitconn`)."""
    return backend == "pallas" or (backend is None and jax.default_backend() == "tpu")


def _use_reference(backend) -> bool:
    if backend is None:
        return False
    if backend == "reference":
        return True
    from .propagate import available_backends
    names = available_backends()
    if not isinstance(backend, str) or backend not in names:
        raise ValueError(f"backend must be None, 'reference' or one of {names}, got {backend!r}")
    return False


# --------------------------------------------------------------------------- the RNG in numpy

_MASK = (1 << 64) - 1
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix64_int(z: int) -> int:
    z ^= z >> 30
    z = (z * _M1) & _MASK
    z ^= z >> 27
    z = (z * _M2) & _MASK
    return z ^ (z >> 31)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z *= np.uint64(_M1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_M2)
    z ^= z >> np.uint64(31)
    return z


def _row_hash(seed: int, stream: int, rows: np.ndarray) -> np.ndarray:
    """mix64(mix64(seed ^ (stream << 60)) + row): the per-row prefix of jit_hash."""
    prefix = np.uint64(_mix64_int(seed ^ (stream << 60)))
    return _mix64(rows.astype(np.uint64) + prefix)


def _hash(seed: int, stream: int, rows: np.ndarray, ks: np.ndarray) -> np.ndarray:
    return _mix64(_row_hash(seed, stream, rows) + ks.astype(np.uint64))


def _unit_open0(h: np.ndarray) -> np.ndarray:
    return ((h >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * 2.0**-53


def _draw_r(seed: int, dist: int, rows: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """r of each (row, k) synapse as float32, as ``jit_weight`` computes it."""
    if dist == HOMOGENEOUS:
        return np.zeros(rows.shape, np.float32)
    h1 = _hash(seed, 1, rows, ks)
    if dist == UNIFORM:
        return (h1 >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
    u1 = _unit_open0(h1)
    u2 = (_hash(seed, 2, rows, ks) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)).astype(np.float32)


_BLOCK_ELEMENTS = 1 << 22  # draws evaluated at once while materialising


def _draw_rows(spec: _Spec, rows: np.ndarray):
    """The synapses of ``rows`` (distinct row indices, int64): ``(at, col, k)`` int64 arrays,
    ``at`` the position in ``rows``, sorted by position then column. Vectorised over rows and
    blocks of draws; each row's draws continue from where its last block stopped."""
    n_post, p, seed, allow_self = spec.n_post, spec.p, spec.seed, spec.allow_self
    at_out, cols_out, ks_out = [], [], []
    if p > 0.0 and rows.size:
        log_q = math.log1p(-p) if p < 1.0 else -math.inf   # the C library's log1p, as the kernels use
        remaining = n_post * p
        k_block = int(min(n_post + 1, remaining + 6.0 * math.sqrt(remaining) + 16))
        r_block = max(1, _BLOCK_ELEMENTS // k_block)
        for r0 in range(0, rows.size, r_block):
            at = np.arange(r0, min(rows.size, r0 + r_block), dtype=np.int64)
            base = _row_hash(seed, 0, rows[at])
            pos = np.full(at.shape, -1, np.int64)
            k0 = 0
            while at.size:
                rem = float(n_post - 1 - pos.min()) * p
                kb = int(min(n_post + 1, rem + 6.0 * math.sqrt(rem) + 16))
                ks = np.arange(k0, k0 + kb, dtype=np.uint64)
                u = _unit_open0(_mix64(base[:, None] + ks[None, :]))
                with np.errstate(divide="ignore", invalid="ignore"):
                    gap = np.log(u) / log_q
                gap = np.where(gap < n_post, gap, float(n_post))   # NaN -> n_post too
                col = pos[:, None] + np.cumsum(gap.astype(np.int64) + 1, axis=1)
                valid = col < n_post
                i, j = np.nonzero(valid)
                at_out.append(at[i])
                cols_out.append(col[i, j])
                ks_out.append(j.astype(np.int64) + k0)
                going = valid[:, -1]
                at, base, pos = at[going], base[going], col[going, -1]
                k0 += kb
    if not at_out:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    at, col, ks = np.concatenate(at_out), np.concatenate(cols_out), np.concatenate(ks_out)
    order = np.argsort(at, kind="stable")  # blocks come in draw order within a row
    at, col, ks = at[order], col[order], ks[order]
    if not allow_self:
        keep = rows[at] != col
        at, col, ks = at[keep], col[keep], ks[keep]
    return at, col, ks


@functools.lru_cache(maxsize=8)
def _materialise(spec: _Spec):
    """(indptr int64, indices int32, rows int32, r float32) of the whole matrix."""
    row, col, ks = _draw_rows(spec, np.arange(spec.n_pre, dtype=np.int64))
    if row.size >= 2**31:
        raise ValueError(f"this JitConn has {row.size} synapses; more than 2**31 - 1 cannot be materialised as a CSR")
    indptr = np.zeros(spec.n_pre + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=spec.n_pre), out=indptr[1:])
    return indptr, col.astype(np.int32), row.astype(np.int32), _draw_r(spec.seed, spec.dist, row, ks)


# --------------------------------------------------------------------------- pure-JAX reference


def _reference_csr(spec: _Spec):
    indptr, indices, rows, r = _materialise(spec)
    csr = CSR(indptr, indices, spec.n_pre, spec.n_post, rows=rows,
              max_row=int(np.diff(indptr).max()), check=False)
    return csr, jnp.asarray(r)


def _batch_weights(wa, wb, batch):
    return jnp.broadcast_to(wa, (batch,)), jnp.broadcast_to(wb, (batch,))


def _event_reference(spikes, wa, wb, *, spec: _Spec):
    """spikes [B, n_pre] x the materialised matrix -> [B, n_post], through the reference event op."""
    from .propagate import propagate

    csr, r = _reference_csr(spec)
    wa, wb = _batch_weights(wa, wb, spikes.shape[0])
    if spec.dist == HOMOGENEOUS:
        def one(s, a, b):
            return propagate(csr, a, s, backend="reference")
    else:
        def one(s, a, b):
            return propagate(csr, a + b * r, s, backend="reference")
    return jax.vmap(one)(spikes, wa, wb).astype(jnp.float32)


def _transposed_reference(x, wa, wb, *, spec: _Spec):
    """x [B, n_post] -> [B, n_pre]: out[b, i] = sum over k in row i of w[b, k] x[b, indices[k]]."""
    csr, r = _reference_csr(spec)
    wa, wb = _batch_weights(wa, wb, x.shape[0])

    def one(xb, a, b):
        w = a if spec.dist == HOMOGENEOUS else a + b * r
        return jax.ops.segment_sum(w * xb[csr.indices], csr.rows, num_segments=spec.n_pre)

    return jax.vmap(one)(x, wa, wb).astype(jnp.float32)


# --------------------------------------------------------------------------- the primitives and their rules

jit_event_p, jit_transposed_p = (Primitive(name) for name in _kernels.TARGETS["jitconn"])
_OTHER = {jit_event_p: jit_transposed_p, jit_transposed_p: jit_event_p}
_REFERENCE = {jit_event_p: _event_reference, jit_transposed_p: _transposed_reference}


@functools.partial(jax.jit, static_argnums=(0, 1))
def _apply(prim, spec, *args):
    return prim.bind(*args, spec=spec)


def _impl(prim):
    return lambda *args, spec: _apply(prim, spec, *args)


def _abstract(prim):
    def rule(x, wa, wb, *, spec):
        n_in, n_out = (spec.n_pre, spec.n_post) if prim is jit_event_p else (spec.n_post, spec.n_pre)
        if x.ndim != 2 or x.shape[1] != n_in:
            raise ValueError(f"{prim.name}: operand must have shape (B, {n_in}), got {x.shape}")
        if prim is jit_event_p and x.dtype not in (jnp.bool_, jnp.float32):
            raise ValueError(f"{prim.name}: spikes must be bool or float32, got {x.dtype}")
        if prim is jit_transposed_p and x.dtype != jnp.float32:
            raise ValueError(f"{prim.name}: x must be float32, got {x.dtype}")
        if wa.shape != wb.shape or wa.ndim != 1 or wa.shape[0] not in (1, x.shape[0]):
            raise ValueError(f"{prim.name}: wa and wb must both have shape (1,) or ({x.shape[0]},), got {wa.shape} and {wb.shape}")
        if wa.dtype != jnp.float32 or wb.dtype != jnp.float32:
            raise ValueError(f"{prim.name}: wa and wb must be float32, got {wa.dtype} and {wb.dtype}")
        return jax.core.ShapedArray((x.shape[0], n_out), jnp.float32)
    return rule


def _jvp(prim):
    def rule(primals, tangents, *, spec):
        x, wa, wb = primals
        dx, dwa, dwb = tangents
        out = prim.bind(x, wa, wb, spec=spec)
        parts = []
        if type(dx) is not ad.Zero and x.dtype == jnp.float32:
            parts.append(prim.bind(dx, wa, wb, spec=spec))
        if type(dwa) is not ad.Zero or type(dwb) is not ad.Zero:
            parts.append(prim.bind(x, ad.instantiate_zeros(dwa), ad.instantiate_zeros(dwb), spec=spec))
        tangent = functools.reduce(jnp.add, parts) if parts else jnp.zeros_like(out)
        return out, tangent
    return rule


def _transpose(prim):
    """The op is linear in x for fixed (wa, wb) and linear in (wa, wb) for fixed x."""
    def rule(ct, x, wa, wb, *, spec):
        lin_x = ad.is_undefined_primal(x)
        lin_a, lin_b = ad.is_undefined_primal(wa), ad.is_undefined_primal(wb)
        if lin_x and (lin_a or lin_b):
            raise NotImplementedError(f"{prim.name} is bilinear, not linear, in (x, weights) together")
        if type(ct) is ad.Zero:
            return [None, None, None]
        if lin_x:
            # ct [B, n_out] through the other op; it is float32 and has the batch of x
            return [_OTHER[prim].bind(ct, wa, wb, spec=spec), None, None]
        batch = x.shape[0]
        bw = (wa.aval if lin_a else wa).shape[0]
        ones, zeros = jnp.ones((batch,), jnp.float32), jnp.zeros((batch,), jnp.float32)
        need_b = lin_b and spec.dist != HOMOGENEOUS   # homogeneous: wb multiplies r = 0
        if need_b:
            m = prim.bind(jnp.concatenate([x, x]), jnp.concatenate([ones, zeros]), jnp.concatenate([zeros, ones]), spec=spec)
            m_a, m_b = m[:batch], m[batch:]
        else:
            m_a, m_b = prim.bind(x, ones, zeros, spec=spec), None

        def reduce(m):
            g = jnp.sum(ct * m, axis=1)
            return jnp.sum(g, keepdims=True) if bw == 1 else g

        g_a = reduce(m_a) if lin_a else None
        g_b = (reduce(m_b) if need_b else jnp.zeros((bw,), jnp.float32)) if lin_b else None
        return [None, g_a, g_b]
    return rule


def _batch(prim):
    """vmap folds the mapped axis into the kernels' batch: one call with B = V x B."""
    def rule(args, dims, *, spec):
        x, wa, wb = args
        dx, da, db = dims
        size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
        x = jnp.moveaxis(x, dx, 0) if dx is not None else jnp.broadcast_to(x, (size,) + x.shape)
        batch = x.shape[1]
        x = x.reshape((size * batch, x.shape[2]))

        def weights(w, d):
            if da is None and db is None:
                return w if w.shape[0] == 1 else jnp.tile(w, size)
            w = jnp.moveaxis(w, d, 0) if d is not None else jnp.broadcast_to(w, (size,) + w.shape)
            return jnp.broadcast_to(w, (size, batch)).reshape(size * batch)

        out = prim.bind(x, weights(wa, da), weights(wb, db), spec=spec)
        return out.reshape((size, batch, out.shape[1])), 0
    return rule


# Lowering: the compiled kernel when its library loads and registers, else the reference.


def _u64_attribute(value: int):
    """A ui64 attribute for any value in [0, 2**64) (jax's own conversion goes through int64)."""
    return mlir.ir.IntegerAttr.get(mlir.ir.IntegerType.get_unsigned(64), value - 2**64 if value >= 2**63 else value)


def _lowering(prim, platform):
    reference = mlir.lower_fun(_REFERENCE[prim], multiple_results=False)
    ffi = jax.ffi.ffi_lowering(prim.name)

    def rule(ctx, x, wa, wb, *, spec):
        if platform is not None and _kernels.ready("jitconn", platform):
            return ffi(ctx, x, wa, wb, seed=_u64_attribute(spec.seed), p=np.float64(spec.p), dist=np.int32(spec.dist),
                       allow_self=np.int32(spec.allow_self))
        return reference(ctx, x, wa, wb, spec=spec)
    return rule


for _p in (jit_event_p, jit_transposed_p):
    _p.def_impl(_impl(_p))
    _p.def_abstract_eval(_abstract(_p))
    ad.primitive_jvps[_p] = _jvp(_p)
    ad.primitive_transposes[_p] = _transpose(_p)
    batching.primitive_batchers[_p] = _batch(_p)
    mlir.register_lowering(_p, _lowering(_p, None))
    mlir.register_lowering(_p, _lowering(_p, "cpu"), platform="cpu")
    mlir.register_lowering(_p, _lowering(_p, "cuda"), platform="cuda")
del _p
