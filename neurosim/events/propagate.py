"""The public event operators and their backend seam.

    propagate(conn, weights, spikes)                 -> drive   (n_post,)
        drive[j] = sum over synapses (i -> j) of spikes[i] * w[i -> j]
    propagate_transposed(conn, weights, post_values) -> out     (n_pre,)
        out[i]   = sum over synapses (i -> j) of w[i -> j] * post_values[j]

``weights`` is an (nnz,) array in CSR order or one scalar (homogeneous projection); ``spikes``
is an (n_pre,) bool or float array (float 0/1 spikes carry surrogate gradients). The transposed
(postsynaptic-major) form is what backward passes and plasticity rules need. ``conn`` is a
:class:`~neurosim.events.csr.CSR` or a procedural :class:`~neurosim.events.jitconn.JitConn`
(which computes both forms itself, see its ``propagate`` / ``propagate_transposed``).

Backends:

- ``"kernel"``: the compiled operators of ``kernels/`` (C++ on the CPU, CUDA on NVIDIA GPUs) as
  the JAX primitives of :mod:`neurosim.events.ops`, with their own JVP, transpose and batching
  rules (``vmap`` becomes one mat-mat call). Listed when the default platform's library loads.
  Weights must be float32 and spikes bool, integer or float32 for it; other float dtypes
  (float64 under ``jax_enable_x64``, float16, bfloat16) take the reference.
- ``"pallas"``: Pallas kernels (:mod:`neurosim.events.pallas`), listed and the default on a TPU;
  elsewhere not listed, but accepted when named (they then run in Pallas' interpreter). They read the CSR's column index
  (``conn.with_columns()``); by default a CSR without one takes the next backend.
- ``"reference"``: pure JAX, event-driven through a ladder of capacities
  (:func:`~neurosim.events.reference.event_matvec_reference`); always present, and the reference
  every other backend is tested against. ``capacity`` applies to it only.

``backend=None`` picks the highest-priority backend present (the kernel where it exists), a
name picks that one or fails with the list of those available. :func:`register_backend` adds
an event-product implementation (used by ``propagate``; ``propagate_transposed`` then takes
the reference).

Autodiff is by linearity: the op is linear in ``weights`` and in ``spikes``, so its JVP is the
same product applied to the tangents; reverse mode gives d/dweights = spikes[pre] *
cotangent[post] at the nonzeros and d/dspikes = the transposed product. The reference computes
tangents over every synapse (the derivative with respect to float spikes is dense). Integer
(index) arguments have no derivative.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp

from . import ops, pallas
from .csr import CSR
from .jitconn import JitConn
from .reference import event_matvec_reference, matvec_dense_reference, matvec_transposed_reference

KERNEL = "kernel"
REFERENCE = "reference"
PALLAS = "pallas"
_KERNEL_PRIORITY = 10
# Pallas: listed (and the default) on a TPU, which has no compiled kernel; elsewhere accepted
# when named, in Pallas' interpreter (slower than the kernels and the reference: for tests).
_PALLAS_PRIORITY = {"tpu": 20}

# name -> (priority, implementation); a higher priority wins when no backend is named.
_BACKENDS: dict[str, tuple[int, Callable]] = {}


def register_backend(name: str, impl: Callable, priority: int = 0) -> None:
    """``impl(indptr, indices, rows, weights, spikes, n_post, capacity, max_row) -> drive``."""
    if name in (KERNEL, PALLAS):
        raise ValueError(f"name {name!r} is reserved for neurosim's own kernels; choose another name")
    _BACKENDS[name] = (priority, impl)


def available_backends() -> list[str]:
    """The usable backends, preferred first. The first call loads the compiled kernels of the
    default platform (warning once if they are absent)."""
    priority = {name: p for name, (p, _) in _BACKENDS.items()}
    if ops.kernel_available():
        priority[KERNEL] = _KERNEL_PRIORITY
    if jax.default_backend() in _PALLAS_PRIORITY:
        priority[PALLAS] = _PALLAS_PRIORITY[jax.default_backend()]
    return sorted(priority, key=lambda k: -priority[k])


def default_capacity(n_pre: int) -> int:
    """How many spiking rows the event path gathers per step before it takes the full path."""
    return int(min(n_pre, max(32, n_pre // 16)))


def _resolve(backend, conn=None):
    names = available_backends()
    if backend is None:
        # the Pallas kernels read the column index; a CSR without one takes the next backend
        names = [n for n in names if n != PALLAS or (conn is not None and conn.has_columns)]
        return names[0]
    if backend == PALLAS:
        return PALLAS
    if backend not in names:
        raise ValueError(f"backend must be one of {names}, got {backend!r}")
    return backend


def _check_conn(conn):
    if not isinstance(conn, CSR):
        raise TypeError(f"conn must be a neurosim CSR or JitConn, got {type(conn).__name__}")


def _check_weights(conn, weights):
    weights = jnp.asarray(weights)
    if weights.shape not in ((), (conn.nnz,)):
        raise ValueError(f"weights must be a scalar or have shape ({conn.nnz},) (one per synapse), got {weights.shape}")
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        weights = weights.astype(jnp.float32)
    return weights


def _kernel_operand(x):
    """``x`` as the kernels take it (bool or float32), or None where only the reference can
    honour its dtype."""
    if x.dtype == jnp.bool_ or x.dtype == jnp.float32:
        return x
    if jnp.issubdtype(x.dtype, jnp.integer):
        return x.astype(jnp.float32)
    return None


# --------------------------------------------------------------------------- propagate


def propagate(conn: CSR | JitConn, weights, spikes, *, backend: str | None = None, capacity: int | None = None):
    """Postsynaptic drive from presynaptic spikes through ``conn`` with ``weights``."""
    if isinstance(conn, JitConn):
        return conn.propagate(weights, spikes, backend=backend)
    _check_conn(conn)
    spikes = jnp.asarray(spikes)
    if spikes.shape != (conn.n_pre,):
        raise ValueError(f"spikes must have shape ({conn.n_pre},) for this projection, got {spikes.shape}")
    weights = _check_weights(conn, weights)
    name = _resolve(backend, conn)
    if name == PALLAS:
        return pallas.event_matvec_pallas(conn, weights, spikes)
    if name == KERNEL and weights.dtype == jnp.float32 and _kernel_operand(spikes) is not None:
        return _kernel_event_jit(conn.n_post, conn.indptr, conn.indices, weights, _kernel_operand(spikes))
    if name == KERNEL:
        name = REFERENCE
    capacity = default_capacity(conn.n_pre) if capacity is None else int(capacity)
    return _event_op_jit(name, conn.n_post, capacity, conn.max_row, conn.indptr, conn.indices, conn.rows, weights, spikes)


def _kernel_event(n_post, indptr, indices, weights, spikes):
    out = ops.csr_event(indptr, indices, weights.reshape(1, -1), spikes.reshape(1, -1), n_post=n_post)
    return out.reshape(n_post)


_kernel_event_jit = jax.jit(_kernel_event, static_argnums=0)


@partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3))
def _event_op(name, n_post, capacity, max_row, indptr, indices, rows, weights, spikes):
    impl = _BACKENDS[name][1]
    return impl(indptr, indices, rows, weights, spikes, n_post, capacity, max_row)


@_event_op.defjvp
def _event_op_jvp(name, n_post, capacity, max_row, primals, tangents):
    indptr, indices, rows, weights, spikes = primals
    _, _, _, w_dot, s_dot = tangents
    out = _event_op(name, n_post, capacity, max_row, indptr, indices, rows, weights, spikes)
    dtype = out.dtype
    t = jnp.zeros((n_post,), dtype)
    if jnp.issubdtype(w_dot.dtype, jnp.floating):
        t = t + matvec_dense_reference(indptr, indices, rows, w_dot, spikes.astype(dtype), n_post)
    if jnp.issubdtype(s_dot.dtype, jnp.floating):
        t = t + matvec_dense_reference(indptr, indices, rows, weights, s_dot.astype(dtype), n_post)
    return out, t


# Called eagerly, the op would retrace and recompile its lax.switch on every call (~1 s on CPU);
# under an outer jit this inner jit is simply inlined.
_event_op_jit = jax.jit(_event_op, static_argnums=(0, 1, 2, 3))

register_backend(REFERENCE, event_matvec_reference, priority=0)


# --------------------------------------------------------------------------- transposed


def propagate_transposed(conn: CSR | JitConn, weights, post_values, *, backend: str | None = None):
    """``out[i] = sum_j w_ij post_values[j]`` over the synapses (i -> j) of ``conn``: (n_pre,)."""
    if isinstance(conn, JitConn):
        return conn.propagate_transposed(weights, post_values, backend=backend)
    _check_conn(conn)
    post_values = jnp.asarray(post_values)
    if post_values.shape != (conn.n_post,):
        raise ValueError(f"post_values must have shape ({conn.n_post},) for this projection, got {post_values.shape}")
    if post_values.dtype == jnp.bool_:
        post_values = post_values.astype(jnp.float32)
    weights = _check_weights(conn, weights)
    name = _resolve(backend, conn)
    if name == PALLAS:
        return pallas.transposed_matvec_pallas(conn, weights, post_values)
    x = _kernel_operand(post_values)
    if name == KERNEL and weights.dtype == jnp.float32 and x is not None:
        return _kernel_transposed_jit(conn.indptr, conn.indices, weights, x)
    return _transposed_reference_jit(conn.n_pre, conn.indptr, conn.indices, conn.rows, weights, post_values)


def _kernel_transposed(indptr, indices, weights, x):
    out = ops.csr_transposed(indptr, indices, weights.reshape(1, -1), x.reshape(1, -1))
    return out.reshape(out.shape[1])


_kernel_transposed_jit = jax.jit(_kernel_transposed)


def _transposed_reference(n_pre, indptr, indices, rows, weights, x):
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(weights.dtype)
    return matvec_transposed_reference(indptr, indices, rows, weights, x, n_pre)


_transposed_reference_jit = jax.jit(_transposed_reference, static_argnums=0)
