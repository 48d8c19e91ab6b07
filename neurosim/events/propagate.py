"""The public event operator and its backend seam.

    propagate(conn, weights, spikes) -> drive     (n_post,)

``weights`` is an (nnz,) array in CSR order or one scalar (homogeneous projection); ``spikes``
is an (n_pre,) bool or float array (float 0/1 spikes carry surrogate gradients).

Autodiff is by linearity: the op is linear in ``weights`` and in ``spikes``, so its JVP is the
same product applied to the tangents. Tangents are computed over every synapse (the derivative
with respect to float spikes is dense); JAX transposes that linear map for reverse mode, which
gives d/dweights = spikes[pre] * cotangent[post] at the nonzeros and d/dspikes = the transposed
product. Integer (index) arguments have no derivative.

Backends: ``"reference"`` (pure JAX, event-driven, always present) is the default. The compiled
kernels register themselves with :func:`register_backend`; ``backend=None`` picks the preferred
one present, and a name picks that one or fails with the list of those available.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp

from .csr import CSR
from .reference import event_matvec_reference, matvec_dense_reference

# name -> (priority, implementation); a higher priority wins when no backend is named.
_BACKENDS: dict[str, tuple[int, Callable]] = {}


def register_backend(name: str, impl: Callable, priority: int = 0) -> None:
    """``impl(indptr, indices, rows, weights, spikes, n_post, capacity, max_row) -> drive``."""
    _BACKENDS[name] = (priority, impl)


def available_backends() -> list[str]:
    return sorted(_BACKENDS, key=lambda k: -_BACKENDS[k][0])


def default_capacity(n_pre: int) -> int:
    """How many spiking rows the event path gathers per step before it takes the full path."""
    return int(min(n_pre, max(32, n_pre // 16)))


def _resolve(backend):
    if backend is None:
        return available_backends()[0]
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {available_backends()}, got {backend!r}")
    return backend


def propagate(conn: CSR, weights, spikes, *, backend: str | None = None, capacity: int | None = None):
    """Postsynaptic drive from presynaptic spikes through ``conn`` with ``weights``."""
    if not isinstance(conn, CSR):
        raise TypeError(f"conn must be a neurosim CSR, got {type(conn).__name__}")
    if spikes.shape != (conn.n_pre,):
        raise ValueError(f"spikes must have shape ({conn.n_pre},) for this projection, got {spikes.shape}")
    weights = jnp.asarray(weights)
    if weights.shape not in ((), (conn.nnz,)):
        raise ValueError(f"weights must be a scalar or have shape ({conn.nnz},) (one per synapse), got {weights.shape}")
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        weights = weights.astype(jnp.float32)
    capacity = default_capacity(conn.n_pre) if capacity is None else int(capacity)
    name = _resolve(backend)
    return _event_op_jit(name, conn.n_post, capacity, conn.max_row, conn.indptr, conn.indices, conn.rows, weights, spikes)


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

register_backend("reference", event_matvec_reference, priority=0)
