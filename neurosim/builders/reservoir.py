"""Rate reservoir (echo state network) as pure functions.

    x(t) = (1 - a) x(t-1) + a f(W x(t-1) + W_in u(t) + b)            f = tanh (or identity)

``x`` (n,) unit activations (dimensionless), ``u`` (n_in,) the input at step t, ``W`` (n, n)
the recurrent weights (``W[i, j]``: from unit j to unit i), ``W_in`` (n, n_in), ``b`` (n,) bias,
``a`` in (0, 1] the leak rate (scalar or one per unit; a = 1 is Jaeger's original ESN). Time is
counted in steps: ``x(t)`` has seen the input of its own step, as in Jaeger (2001), "The 'echo
state' approach to analysing and training recurrent neural networks", GMD Report 148, eq. (1),
and in the leaky-integrator form of Jaeger, Lukosevicius, Popovici & Siewert (2007) and
Lukosevicius (2012), "A practical guide to applying echo state networks", eqs. (2)-(3).

Parameters are a :class:`ReservoirParams` pytree whose float leaves (``w``, ``w_in``, ``bias``,
``leak``) are all differentiable. A sparse ``W`` is the connectivity ``conn`` (a neurosim
``CSR``: row = presynaptic unit j, column = postsynaptic unit i) with its ``(nnz,)`` weights
``w`` in CSR order, and the product ``W x`` is neurosim's O(nnz) segment sum over synapses
(``events.matvec_dense_reference``), never a dense matrix; with ``density=1`` (or
:func:`from_matrix` with ``sparse=False``) ``conn`` is ``None`` and ``w`` is the dense (n, n)
matrix. The CSR's integer leaves have no derivative: differentiate with respect to the float
fields (``jax.grad(f, allow_int=True)``, or close over ``conn``).

:func:`esn` draws the weights as the reference ESN of docs/papers.md 6.2
(and ReservoirPy's defaults): nonzero ``W`` entries ~ N(0, 1) on a random graph where each
ordered pair (autapses included) is connected with probability ``density``, then rescaled so
that ``max |eig(W)| = spectral_radius``; ``W_in ~ U[-1, 1] * input_scaling`` (dense);
``b ~ U[-1, 1] * bias_scaling``. :func:`run_reservoir` is one ``lax.scan`` and vmaps over
parameters: :func:`stack_reservoirs` stacks several reservoirs (padding their connectivities
to one length with inert synapses) so that ``jax.vmap(run_reservoir)`` runs them side by side.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..analysis.reservoir import spectral_radius as _spectral_radius
from ..events import CSR, fixed_probability, matvec_dense_reference

__all__ = ["ReservoirParams", "esn", "from_matrix", "reservoir_step", "run_reservoir", "stack_reservoirs"]


class ReservoirParams(NamedTuple):
    """The parameters of Reservoir (a pytree: each field a scalar or one value per element): ``w``
    ((nnz,) recurrent weights in the CSR order of conn, or (n, n) dense W[post, pre]); ``w_in`` ((n,
    n_in) input weights); ``bias`` ((n,) bias); ``leak`` (() or (n,) leak rate a in (0, 1]);
    ``conn`` (recurrent connectivity (pre -> post), or None for a dense w)."""

    w: jax.Array       # (nnz,) recurrent weights in the CSR order of conn, or (n, n) dense W[post, pre]
    w_in: jax.Array    # (n, n_in) input weights
    bias: jax.Array    # (n,) bias
    leak: jax.Array    # () or (n,) leak rate a in (0, 1]
    conn: CSR | None   # recurrent connectivity (pre -> post), or None for a dense w

    @property
    def n(self) -> int:
        return int(self.bias.shape[-1])

    @property
    def n_inputs(self) -> int:
        return int(self.w_in.shape[-1])


def _fraction(name, value, *, low_open=True):
    v = float(value)
    ok = (0.0 < v <= 1.0) if low_open else (0.0 <= v <= 1.0)
    if not ok or not np.isfinite(v):
        raise ValueError(f"{name} must lie in {'(0, 1]' if low_open else '[0, 1]'}, got {value!r}")
    return v


def _non_negative(name, value):
    v = float(value)
    if not (np.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be >= 0 and finite, got {value!r}")
    return v


def esn(n: int, *, n_inputs: int = 1, density: float = 0.1, spectral_radius: float = 0.95,
              input_scaling: float = 1.0, bias_scaling: float = 0.0, leak: float = 1.0,
              seed: int = 0) -> ReservoirParams:
    """A random echo state network of ``n`` units (weights as in the module docstring).

    ``density``: probability that a given ordered pair of units is connected (1 = dense W);
    the expected in-degree ``density * n`` must be at least 1. ``spectral_radius`` (> 0): the
    largest |eigenvalue| W is rescaled to. ``input_scaling``, ``bias_scaling`` (>= 0): the
    half-widths of the uniform input-weight and bias draws. ``leak`` in (0, 1]. ``seed``: the
    connectivity and every weight, reproducibly.
    """
    n = _checks.count("n", n, minimum=1)
    n_inputs = _checks.count("n_inputs", n_inputs, minimum=1)
    density = _fraction("density", density)
    rho = float(spectral_radius)
    if not (np.isfinite(rho) and rho > 0):
        raise ValueError(f"spectral_radius must be > 0 and finite, got {spectral_radius!r}")
    input_scaling = _non_negative("input_scaling", input_scaling)
    bias_scaling = _non_negative("bias_scaling", bias_scaling)
    leak = _fraction("leak", leak)
    if density * n < 1.0:
        raise ValueError(
            f"density = {density!r} gives {density * n:.3g} expected synapses per unit for n = {n}: most units would "
            f"receive no recurrent input; use density >= 1/n = {1.0 / n:.3g} or a larger reservoir"
        )
    rng_w, rng_in, rng_b = np.random.default_rng([_checks.seed("seed", seed), 0x5EED]).spawn(3)
    if density == 1.0:
        conn = None
        w = rng_w.standard_normal((n, n))
    else:
        conn = fixed_probability(n, n, density, seed=seed)
        if conn.nnz == 0:
            raise ValueError(f"the reservoir drew no synapse (n = {n}, density = {density}); use a larger density or n")
        w = rng_w.standard_normal(conn.nnz)
    current = _spectral_radius(w, conn)
    if not current > 1e-12:
        raise ValueError(
            f"the drawn recurrent matrix has spectral radius {current:.3g} (nilpotent or empty: n = {n}, density = {density}); "
            f"it cannot be rescaled to {rho}; use another seed or a larger density"
        )
    w = w * (rho / current)
    w_in = rng_in.uniform(-1.0, 1.0, (n, n_inputs)) * input_scaling
    bias = rng_b.uniform(-1.0, 1.0, n) * bias_scaling
    return _params(w, w_in, bias, leak, conn)


def _params(w, w_in, bias, leak, conn):
    dtype = jnp.result_type(float)
    return ReservoirParams(jnp.asarray(w, dtype), jnp.asarray(w_in, dtype), jnp.asarray(bias, dtype),
                           jnp.asarray(leak, dtype), conn)


def from_matrix(w, w_in, *, bias=0.0, leak=1.0, sparse: bool | None = None) -> ReservoirParams:
    """Reservoir parameters from a given dense ``w`` (n, n) (``W[i, j]``: from j to i) and
    ``w_in`` (n,) or (n, n_in). ``sparse`` (default: when at most half of ``w`` is nonzero)
    stores ``w``'s nonzeros as a CSR and uses the O(nnz) product. No rescaling is done."""
    w = np.asarray(w, np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] == 0:
        raise ValueError(f"w must be a square (n, n) matrix with n >= 1, got shape {w.shape}")
    n = w.shape[0]
    w_in = np.asarray(w_in, np.float64)
    if w_in.ndim == 1:
        w_in = w_in[:, None]
    if w_in.ndim != 2 or w_in.shape[0] != n or w_in.shape[1] == 0:
        raise ValueError(f"w_in must have shape ({n},) or ({n}, n_in) for n = {n} units, got {w_in.shape}")
    bias = np.broadcast_to(np.asarray(_checks.per_neuron("bias", bias, n), np.float64), (n,))
    leak_arr = np.asarray(leak, np.float64)
    _checks.per_neuron("leak", leak_arr, n)
    if np.any(~(leak_arr > 0)) or np.any(leak_arr > 1):
        raise ValueError(f"leak must lie in (0, 1], got {leak!r}")
    for name, arr in (("w", w), ("w_in", w_in), ("bias", bias)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite")
    nonzero = w != 0
    if sparse is None:
        sparse = nonzero.sum() <= 0.5 * n * n
    if not sparse:
        return _params(w, w_in, bias, leak_arr, None)
    post, pre = np.nonzero(nonzero)
    conn, weights = CSR.from_arrays(pre, post, n, n, w[post, pre])
    return _params(weights, w_in, bias, leak_arr, conn)


_ACTIVATIONS: dict[str, Callable] = {"tanh": jnp.tanh, "linear": lambda z: z}


def _activation(activation):
    if callable(activation):
        return activation
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)} or a callable, got {activation!r}")
    return _ACTIVATIONS[activation]


def _recurrent(params: ReservoirParams, x):
    if params.conn is None:
        return params.w @ x
    c = params.conn
    return matvec_dense_reference(c.indptr, c.indices, c.rows, params.w, x, c.n_post)


def reservoir_step(params: ReservoirParams, x, u, *, activation="tanh"):
    """One step ``x' = (1 - a) x + a f(W x + W_in u + b)`` (module docstring); ``u`` is a scalar
    or an (n_in,) vector; ``activation`` is ``"tanh"``, ``"linear"`` or a callable."""
    f = _activation(activation)
    u = jnp.reshape(jnp.asarray(u, x.dtype), (params.w_in.shape[-1],))
    pre = _recurrent(params, x) + params.w_in @ u + params.bias
    return (1.0 - params.leak) * x + params.leak * f(pre)


def _run(params, inputs, x0, activation):
    def body(x, u):
        x = reservoir_step(params, x, u, activation=activation)
        return x, x

    _, states = jax.lax.scan(body, x0, inputs)
    return states


_run_jit = jax.jit(_run, static_argnums=(3,))


def run_reservoir(params: ReservoirParams, inputs, x0=None, *, activation="tanh") -> jax.Array:
    """States ``(T, n)`` of the reservoir driven by ``inputs`` ``(T,)`` or ``(T, n_in)``, starting
    from ``x0`` (default zeros): row t is ``x(t)``, the state after input ``inputs[t]``. One
    ``lax.scan``; jit-compiled, differentiable, and vmappable over ``params`` (see
    :func:`stack_reservoirs`), ``inputs`` and ``x0``."""
    f = _activation(activation)
    n = params.bias.shape[-1]
    n_in = params.w_in.shape[-1]
    dtype = params.w_in.dtype
    inputs = jnp.asarray(inputs)
    if inputs.ndim == 1 and n_in == 1:
        inputs = inputs[:, None]
    if inputs.ndim != 2 or inputs.shape[1] != n_in:
        raise ValueError(f"inputs must have shape (T, {n_in}) (or (T,) for one input) for this reservoir, got {inputs.shape}")
    if not isinstance(inputs, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(inputs))):
        raise ValueError(f"inputs must be finite, got {int(jnp.sum(~jnp.isfinite(inputs)))} NaN or infinite value(s) "
                         f"(first at row {int(jnp.argmax(~jnp.all(jnp.isfinite(inputs), axis=1)))})")
    if params.w_in.shape[-2] != n:
        raise ValueError(f"w_in must have shape ({n}, n_in) to match bias ({n},), got {params.w_in.shape}")
    if params.conn is None and params.w.shape[-2:] != (n, n):
        raise ValueError(f"a dense w must have shape ({n}, {n}), got {params.w.shape}")
    if params.conn is not None and params.w.shape[-1:] not in ((), (params.conn.indices.shape[-1],)):
        raise ValueError(f"w must hold one weight per synapse ({params.conn.indices.shape[-1]},), got {params.w.shape}")
    x0 = jnp.zeros((n,), dtype) if x0 is None else jnp.asarray(x0, dtype)
    if x0.shape != (n,):
        raise ValueError(f"x0 must have shape ({n},), got {x0.shape}")
    return _run_jit(params, inputs.astype(dtype), x0, f)


def stack_reservoirs(reservoirs) -> ReservoirParams:
    """Stack reservoirs of one size (n, n_in, all sparse or all dense) along a new leading axis,
    for ``jax.vmap``. Sparse connectivities are padded to the largest nnz with inert synapses
    (weight 0, target index n, which the segment sum drops: they add nothing and get no
    gradient); the stacked CSR is for the reservoir step, not for ``events.propagate``."""
    reservoirs = list(reservoirs)
    if not reservoirs:
        raise ValueError("stack_reservoirs needs at least one reservoir")
    first = reservoirs[0]
    for k, r in enumerate(reservoirs):
        if not isinstance(r, ReservoirParams):
            raise ValueError(f"reservoir {k} is a {type(r).__name__}, not ReservoirParams")
        if r.w_in.shape != first.w_in.shape or (r.conn is None) != (first.conn is None) or jnp.shape(r.leak) != jnp.shape(first.leak):
            raise ValueError(
                f"reservoir {k} does not match reservoir 0 (w_in {r.w_in.shape} vs {first.w_in.shape}, "
                f"{'dense' if r.conn is None else 'sparse'} vs {'dense' if first.conn is None else 'sparse'}, "
                f"leak shape {jnp.shape(r.leak)} vs {jnp.shape(first.leak)}): stack reservoirs of one kind"
            )
    stack = lambda *xs: jnp.stack(xs)  # noqa: E731
    if first.conn is None:
        return ReservoirParams(*(stack(*[getattr(r, f) for r in reservoirs]) for f in ("w", "w_in", "bias", "leak")), None)
    n = first.conn.n_post
    nnz = max(r.conn.nnz for r in reservoirs)
    max_row = max(r.conn.max_row for r in reservoirs)

    def pad(a, value):
        return jnp.pad(a, (0, nnz - a.shape[0]), constant_values=value)

    conn = CSR.__new__(CSR)
    conn.indptr = stack(*[r.conn.indptr for r in reservoirs])
    conn.indices = stack(*[pad(r.conn.indices, n) for r in reservoirs])
    conn.rows = stack(*[pad(r.conn.rows, 0) for r in reservoirs])
    conn.n_pre, conn.n_post, conn.max_row = first.conn.n_pre, n, max_row
    w = stack(*[pad(jnp.broadcast_to(r.w, (r.conn.nnz,)), 0.0) for r in reservoirs])
    return ReservoirParams(w, stack(*[r.w_in for r in reservoirs]), stack(*[r.bias for r in reservoirs]),
                           stack(*[r.leak for r in reservoirs]), conn)
