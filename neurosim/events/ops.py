"""The CSR event operators as JAX primitives, lowered to the compiled kernels of ``kernels/``.

    csr_event(indptr, indices, weights, spikes, n_post=n)  -> (B, n_post)
        out[b, j] = sum over synapses k = (i -> j) of  spikes[b, i] * w[b, k]
    csr_transposed(indptr, indices, weights, x)             -> (B, n_pre)
        out[b, i] = sum over synapses k of row i of     w[b, k] * x[b, indices[k]]

Operands are the batched form of the FFI contract (kernels/README.md): ``indptr`` int32
(n_pre + 1,), ``indices`` int32 (nnz,), ``weights`` float32 (Bw, W) with W = 1 (one homogeneous
weight) or W = nnz (one per synapse) and Bw in {1, B}, ``spikes`` bool or float32 (B, n_pre),
``x`` float32 (B, n_post). A zero spike is skipped (event-driven); a float spike multiplies its
weights (surrogate-gradient spikes).

The rules of both primitives, in one place:

- **lowering**: on "cpu" and "cuda" the XLA FFI target of ``neurosim/_lib/libevents_<platform>.so``
  (loaded and registered on first use); where that library is absent (neurosim warns once,
  :class:`neurosim._kernels.KernelWarning`) and on every other platform, the pure-JAX
  references :func:`~neurosim.events.reference.csr_event_reference` /
  :func:`~neurosim.events.reference.csr_transposed_reference`.
- **JVP**, by linearity in ``weights`` and in float ``spikes`` / ``x``: the same operator applied
  to each tangent (symbolic zero tangents are skipped).
- **transpose**: with respect to float spikes, the transposed operator of the cotangent (and
  with respect to ``x`` of the transposed operator, the event operator); with respect to the
  weights, the gathered product ``pre[b, rows[k]] * post[b, indices[k]]`` at the nonzeros,
  summed over b where the weights are shared by the batch (Bw = 1) and over the synapses for a
  homogeneous weight (W = 1, computed as ``<pre, csr_transposed(1, post)>``).
- **batching**: ``vmap`` over spikes / x and/or weights folds the mapped axis into B: one call of
  the mat-mat form, never a loop. A batch of connectivities (mapped ``indptr`` / ``indices``)
  takes the reference's gathers and scatters, still without a loop.

``indptr`` and ``indices`` are integers and have no derivative: JAX refuses to differentiate
with respect to them ("grad requires real- or complex-valued inputs").
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from .. import _kernels
from .reference import csr_event_reference, csr_transposed_reference, rows_of

EVENT_TARGET, TRANSPOSED_TARGET, RING_TARGET = _kernels.TARGETS["events"]

csr_event_p = Primitive(EVENT_TARGET)
csr_transposed_p = Primitive(TRANSPOSED_TARGET)


# --------------------------------------------------------------------------- public wrappers


def csr_event(indptr, indices, weights, spikes, *, n_post: int):
    """(B, n_post) float32 event product; operands as in the module docstring."""
    return csr_event_p.bind(indptr, indices, weights, spikes, n_post=int(n_post))


def csr_transposed(indptr, indices, weights, x):
    """(B, n_pre) float32 transposed product; operands as in the module docstring."""
    return csr_transposed_p.bind(indptr, indices, weights, x)


# --------------------------------------------------------------------------- kernels: load lazily

def kernel_ready(platform: str) -> bool:
    """Whether the compiled event kernels of ``platform`` ("cpu" or "cuda") are loaded and
    registered. The first call loads the library (warning once if it is absent)."""
    return _kernels.ready("events", platform)


def kernel_available() -> bool:
    """Whether the platform where calls run now has compiled event kernels (loads them on first call)."""
    return kernel_ready(_kernels.device_platform())


# --------------------------------------------------------------------------- abstract evaluation


def _check_operands(op, indptr, indices, weights, data, data_name, data_dtypes):
    def bad(name, value, expected):
        raise ValueError(f"{op}: {name} must be {expected}, got {value}")

    if indptr.ndim != 1 or indptr.shape[0] < 1 or indptr.dtype != jnp.int32:
        bad("indptr", f"{indptr.dtype}{list(indptr.shape)}", "int32[n_pre + 1]")
    if indices.ndim != 1 or indices.dtype != jnp.int32:
        bad("indices", f"{indices.dtype}{list(indices.shape)}", "int32[nnz]")
    nnz = indices.shape[0]
    if data.ndim != 2 or data.dtype not in data_dtypes:
        names = " or ".join(np.dtype(d).name for d in data_dtypes)
        bad(data_name, f"{data.dtype}{list(data.shape)}", f"{names} of shape (B, n)")
    batch = data.shape[0]
    if weights.ndim != 2 or weights.dtype != jnp.float32:
        bad("weights", f"{weights.dtype}{list(weights.shape)}", "float32 of shape (Bw, W)")
    if weights.shape[1] not in (1, nnz):
        bad("weights", f"shape {weights.shape}", f"W = 1 or W = nnz = {nnz} columns")
    if weights.shape[0] not in (1, batch):
        bad("weights", f"shape {weights.shape}", f"Bw = 1 or Bw = B = {batch} rows")


def _event_abstract_eval(indptr, indices, weights, spikes, *, n_post):
    _check_operands("csr_event", indptr, indices, weights, spikes, "spikes", (jnp.bool_, jnp.float32))
    if spikes.shape[1] != indptr.shape[0] - 1:
        raise ValueError(f"csr_event: spikes must have n_pre = len(indptr) - 1 = {indptr.shape[0] - 1} "
                         f"columns, got shape {spikes.shape}")
    return jax.core.ShapedArray((spikes.shape[0], n_post), jnp.float32)


def _transposed_abstract_eval(indptr, indices, weights, x):
    _check_operands("csr_transposed", indptr, indices, weights, x, "x", (jnp.float32,))
    return jax.core.ShapedArray((x.shape[0], indptr.shape[0] - 1), jnp.float32)


csr_event_p.def_abstract_eval(_event_abstract_eval)
csr_transposed_p.def_abstract_eval(_transposed_abstract_eval)


# Called outside jit, a primitive runs as its own small jitted program (cached per parameters).
@functools.lru_cache(maxsize=None)
def _jitted_bind(prim, params: tuple):
    return jax.jit(lambda *args: prim.bind(*args, **dict(params)))


def _eager_impl(prim):
    return lambda *args, **params: _jitted_bind(prim, tuple(sorted(params.items())))(*args)


csr_event_p.def_impl(_eager_impl(csr_event_p))
csr_transposed_p.def_impl(_eager_impl(csr_transposed_p))


# --------------------------------------------------------------------------- lowering


def _lowering(target, reference, platform):
    ffi_rule = jax.ffi.ffi_lowering(target)
    ref_rule = mlir.lower_fun(reference, multiple_results=False)

    def rule(ctx, *args, **params):
        if platform is not None and kernel_ready(platform):
            return ffi_rule(ctx, *args)  # the kernels read n_post from the result's shape
        return ref_rule(ctx, *args, **params)

    return rule


for _prim, _target, _ref in ((csr_event_p, EVENT_TARGET, csr_event_reference),
                             (csr_transposed_p, TRANSPOSED_TARGET, csr_transposed_reference)):
    mlir.register_lowering(_prim, _lowering(_target, _ref, None))          # any other platform
    for _platform in ("cpu", "cuda"):
        mlir.register_lowering(_prim, _lowering(_target, _ref, _platform), platform=_platform)


# --------------------------------------------------------------------------- JVP (linearity)


def _is_zero(t) -> bool:
    return type(t) is ad.Zero or t.dtype == jax.dtypes.float0


def _linear_jvp(prim):
    """JVP of a primitive bilinear in operands 2 (weights) and 3 (spikes / x)."""

    def jvp(primals, tangents, **params):
        indptr, indices, weights, data = primals
        _, _, w_dot, d_dot = tangents
        out = prim.bind(*primals, **params)
        terms = []
        if not _is_zero(w_dot):
            terms.append(prim.bind(indptr, indices, w_dot, data, **params))
        if jnp.issubdtype(data.dtype, jnp.floating) and not _is_zero(d_dot):
            terms.append(prim.bind(indptr, indices, weights, d_dot, **params))
        if not terms:
            return out, ad.Zero(jax.core.ShapedArray(out.shape, out.dtype))
        return out, functools.reduce(jnp.add, terms)

    return jvp


ad.primitive_jvps[csr_event_p] = _linear_jvp(csr_event_p)
ad.primitive_jvps[csr_transposed_p] = _linear_jvp(csr_transposed_p)


# --------------------------------------------------------------------------- transpose


def _weights_cotangent(indptr, indices, pre, post, w_shape):
    """d/dw of sum_b,j post[b, j] * (pre x CSR(w))[b, j] with w of shape (Bw, W): the gathered
    product pre[b, rows[k]] * post[b, indices[k]] at each synapse, reduced to the weights' shape."""
    n_batch_w, width = w_shape
    nnz = indices.shape[0]
    pre = pre.astype(jnp.float32)
    if width == nnz:  # one weight per synapse
        at_post = jnp.take(post, indices, axis=1, mode="fill", fill_value=0)
        g = pre[:, rows_of(indptr, nnz)] * at_post
    else:             # homogeneous: sum over synapses = <pre, row sums of post>
        row_sums = csr_transposed_p.bind(indptr, indices, jnp.ones((1, 1), jnp.float32), post)
        g = jnp.sum(pre * row_sums, axis=1, keepdims=True)
    if n_batch_w == 1 and g.shape[0] != 1:
        g = jnp.sum(g, axis=0, keepdims=True)
    return g


def _check_linear_operands(op, indptr, indices):
    if ad.is_undefined_primal(indptr) or ad.is_undefined_primal(indices):
        raise ValueError(f"{op}: indptr and indices (the connectivity) are integers and have no derivative; "
                         "differentiate with respect to weights or float spikes")


def _event_transpose(ct, indptr, indices, weights, spikes, *, n_post):
    _check_linear_operands("csr_event", indptr, indices)
    if type(ct) is ad.Zero:
        return [None, None, None, None]
    d_weights = d_spikes = None
    if ad.is_undefined_primal(spikes):
        d_spikes = csr_transposed_p.bind(indptr, indices, weights, ct)
    if ad.is_undefined_primal(weights):
        d_weights = _weights_cotangent(indptr, indices, spikes, ct, weights.aval.shape)
    return [None, None, d_weights, d_spikes]


def _transposed_transpose(ct, indptr, indices, weights, x):
    _check_linear_operands("csr_transposed", indptr, indices)
    if type(ct) is ad.Zero:
        return [None, None, None, None]
    d_weights = d_x = None
    if ad.is_undefined_primal(x):
        d_x = csr_event_p.bind(indptr, indices, weights, ct, n_post=x.aval.shape[1])
    if ad.is_undefined_primal(weights):
        d_weights = _weights_cotangent(indptr, indices, ct, x, weights.aval.shape)
    return [None, None, d_weights, d_x]


ad.primitive_transposes[csr_event_p] = _event_transpose
ad.primitive_transposes[csr_transposed_p] = _transposed_transpose


# --------------------------------------------------------------------------- batching


def _batching(prim, reference):
    def rule(args, dims, **params):
        indptr, indices, weights, data = args
        d_ip, d_ix, d_w, d_data = dims
        if d_ip is not None or d_ix is not None:
            # one connectivity per batch member: the reference's batched gathers and scatters
            out = jax.vmap(functools.partial(reference, **params), in_axes=tuple(dims))(*args)
            return out, 0
        size = data.shape[d_data] if d_data is not None else weights.shape[d_w]
        # data (V, B0, n) -> (V * B0, n): the mapped axis joins the operator's own batch
        data = jnp.moveaxis(data, d_data, 0) if d_data is not None else jnp.broadcast_to(data, (size, *data.shape))
        b0 = data.shape[1]
        data = data.reshape(size * b0, data.shape[2])
        if d_w is None and weights.shape[0] == 1:
            w = weights                                                        # shared by all
        else:
            w = jnp.moveaxis(weights, d_w, 0) if d_w is not None else weights[None]
            w = jnp.broadcast_to(w, (size, b0, w.shape[2])).reshape(size * b0, w.shape[2])
        out = prim.bind(indptr, indices, w, data, **params)
        return out.reshape(size, b0, out.shape[1]), 0

    return rule


batching.primitive_batchers[csr_event_p] = _batching(csr_event_p, csr_event_reference)
batching.primitive_batchers[csr_transposed_p] = _batching(csr_transposed_p, csr_transposed_reference)
