"""Reservoir diagnostics: spectral radius, memory capacity, NARMA-10, kernel quality and
generalisation rank, largest Lyapunov exponent.

Time is in steps of the map (a rate reservoir has no physical time unit); every rate (Lyapunov
exponent) is per step. Functions on states take a state matrix ``(T, n)`` (one row per step, as
``run_reservoir`` returns) and are pure JAX (``jit``/``vmap`` over reservoirs), except the
spectral radii (numpy eigen-solvers on host) and the NARMA-10 generator (numpy).

* Spectral radius ``rho(W) = max |eig(W)|``: dense ``numpy.linalg.eigvals`` up to n = 200, above
  that a restarted Arnoldi iteration on the sparse product (64 Krylov vectors, doubled after
  every 8 restarts, restarted from the leading Ritz vectors until the residual of the largest
  Ritz pair is below ``1e-8 rho``).
* Effective spectral radius of a leaky reservoir ``rho((1 - a) I + a W)`` (Jaeger, Lukosevicius,
  Popovici & Siewert 2007, Neural Networks 20:335): the radius of the linearised leaky map at
  the origin; above 1 the tanh reservoir without bias has no echo-state property.
* Memory capacity (Jaeger 2001, GMD Report 152): for i.i.d. input ``u``, a linear readout
  ``y_k(t)`` of ``[x(t); 1]`` is trained (ridge) to reproduce ``u(t - k)``;
  ``MC_k = corr(y_k, u(t - k))^2`` on test data and ``MC = sum_{k=k_min}^{k_max} MC_k``. The state
  ``x(t)`` has already seen ``u(t)``, so with Jaeger's ``k_min = 1`` an N-unit shift register
  scores ``N - 1`` and ``k_min = 0`` adds the ``MC_0 = 1`` of the current input (total N).
  Jaeger's theorem: ``sum_{k >= 0} MC_k <= N`` for i.i.d. input (finite test sets add a positive
  bias of about ``k_max / T_test``).
* NARMA-10 (Atiya & Parlos 2000): ``y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0}^{9} y(t-i)
  + 1.5 u(t-9) u(t) + 0.1`` with ``u ~ U[0, 0.5]``; scored by
  ``NRMSE = sqrt(mean((y_hat - y)^2) / var(y))``.
* Kernel quality and generalisation rank (Legenstein & Maass 2007, Neural Networks 20:323;
  Buesing, Schrauwen & Legenstein 2010): the numerical rank of the ``(m, n)`` matrix of final
  states for ``m`` different input streams (high = the reservoir separates inputs) and for
  ``m`` noisy variants of one stream (low = it generalises).
* Largest Lyapunov exponent by perturbation growth (Benettin et al. 1980; for reservoirs
  Legenstein & Maass 2007): a copy of the trajectory displaced by ``eps`` is advanced with the
  same inputs; the log growth ``ln(d_t / eps)`` of their distance is averaged over steps and the
  copy is pulled back to distance ``eps`` along the new direction after every step.
"""
from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from neurosim.train.readouts import _check_finite, _concrete, _ridge_solve

__all__ = [
    "spectral_radius", "effective_spectral_radius", "memory_capacity", "narma10", "nrmse",
    "state_rank", "kernel_quality", "generalization_rank", "lyapunov_exponent",
]

_DENSE_EIG_MAX_N = 200
_KRYLOV = 64


# ----------------------------------------------------------------------------- spectral radius


def _matvec_of(w, conn):
    """Host (numpy float64) product x -> W x for a dense (n, n) W or CSR weights; and n."""
    if conn is None:
        w = np.asarray(w, np.float64)
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise ValueError(f"a dense recurrent matrix must be square (n, n), got shape {w.shape}")
        return (lambda x: w @ x), w.shape[0], w
    pre = np.asarray(conn.rows)
    post = np.asarray(conn.indices)
    n = conn.n_post
    if conn.n_pre != n:
        raise ValueError(f"a recurrent connectivity must be square, got n_pre = {conn.n_pre}, n_post = {n}")
    w = np.broadcast_to(np.asarray(w, np.float64), post.shape)
    keep = post < n  # padding of stacked reservoirs points past the last neuron
    pre, post, w = pre[keep], post[keep], w[keep]

    from scipy import sparse      # a dependency of jax; here, not at the top: import neurosim does not pay for it

    product = sparse.csr_matrix((w, (post, pre)), shape=(n, n))   # rows = post: a row-major mat-vec, ~4x np.bincount's speed

    def matvec(x):
        return product @ x

    def dense():
        m = np.zeros((n, n))
        np.add.at(m, (post, pre), w)
        return m

    return matvec, n, dense


def _arnoldi_radius(matvec, n, *, m=_KRYLOV, tol=1e-8, max_restarts=100, seed=0):
    """Largest |eigenvalue| by Arnoldi with explicit restarts from the leading Ritz vectors; the
    Krylov dimension doubles (up to n) after every 8 restarts without convergence, for spectra
    whose outermost eigenvalues lie close together."""
    v = np.random.default_rng(seed).normal(size=n)
    rho = 0.0
    for restart in range(max_restarts):
        m_now = min(n, m * 2 ** (restart // 8))
        basis = np.zeros((m_now + 1, n))
        h = np.zeros((m_now + 1, m_now))
        basis[0] = v / np.linalg.norm(v)
        size = m_now
        for j in range(m_now):
            w = matvec(basis[j])
            for _ in range(2):  # classical Gram-Schmidt, twice (Kahan-Parlett "twice is enough")
                c = basis[: j + 1] @ w
                w = w - c @ basis[: j + 1]
                h[: j + 1, j] += c
            beta = np.linalg.norm(w)
            h[j + 1, j] = beta
            if beta <= 1e-12 * max(1.0, np.abs(h[: j + 1, j]).max()):
                size = j + 1  # invariant subspace: its Ritz values are exact eigenvalues
                break
            basis[j + 1] = w / beta
        evals, evecs = np.linalg.eig(h[:size, :size])
        order = np.argsort(-np.abs(evals))
        rho = float(np.abs(evals[order[0]]))
        residual = 0.0 if size < m_now else abs(h[m_now, m_now - 1]) * abs(evecs[-1, order[0]])
        if residual <= tol * max(rho, 1e-300):
            return rho
        ritz = basis[:size].T @ evecs[:, order[:4]]
        v = (ritz.real + ritz.imag).sum(axis=1)
    return rho


def _radius(matvec, n, dense):
    if n <= _DENSE_EIG_MAX_N:
        return float(np.abs(np.linalg.eigvals(dense() if callable(dense) else dense)).max())
    return _arnoldi_radius(matvec, n)


def spectral_radius(w, conn=None) -> float:
    """``max |eig(W)|`` of a recurrent matrix: ``w`` dense ``(n, n)`` (``conn=None``), or the
    ``(nnz,)`` weights (or one scalar) of the square CSR ``conn``. Computed on the host in
    float64 (module docstring: dense eigenvalues up to n = 200, Arnoldi above)."""
    matvec, n, dense = _matvec_of(w, conn)
    return _radius(matvec, n, dense)


def effective_spectral_radius(params) -> float:
    """``rho((1 - a) I + a W)`` for reservoir parameters with fields ``w``, ``conn`` and ``leak``
    (``a``, a scalar or one per unit): the spectral radius of the leaky map's Jacobian at the
    origin (Jaeger et al. 2007)."""
    matvec_w, n, dense_w = _matvec_of(params.w, params.conn)
    a = np.broadcast_to(np.asarray(params.leak, np.float64), (n,))

    def matvec(x):
        return (1.0 - a) * x + a * matvec_w(x)

    def dense():
        m = dense_w() if callable(dense_w) else dense_w
        return np.diag(1.0 - a) + a[:, None] * m

    return _radius(matvec, n, dense)


# ----------------------------------------------------------------------------- memory capacity


def _as_series(name, u, t):
    u = jnp.asarray(u)
    if u.ndim == 2 and u.shape[1] == 1:
        u = u[:, 0]
    if u.ndim != 1 or u.shape[0] != t:
        raise ValueError(f"{name} must have shape ({t},) or ({t}, 1) to match the states' {t} time steps, got {u.shape}")
    return u


@partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _memory_capacity(states, u, k_min, k_max, washout, n_train, penalty):
    t = states.shape[0]
    dtype = jnp.result_type(states.dtype, float)
    lags = jnp.arange(k_min, k_max + 1)
    steps = jnp.arange(washout, t)
    targets = u[steps[:, None] - lags[None, :]].astype(dtype)      # (T - washout, K): u(t - k)
    x = states[washout:].astype(dtype)
    w, b = _ridge_solve(x[:n_train], targets[:n_train], penalty, True)
    y_hat = x[n_train:] @ w + b[None]
    y = targets[n_train:]
    yc, hc = y - y.mean(0, keepdims=True), y_hat - y_hat.mean(0, keepdims=True)
    cov = jnp.sum(yc * hc, axis=0)
    var = jnp.sum(yc**2, axis=0) * jnp.sum(hc**2, axis=0)
    mc_k = jnp.where(var > 0, cov**2 / jnp.where(var > 0, var, 1.0), 0.0)
    return jnp.sum(mc_k), mc_k


def memory_capacity(states, inputs, k_max: int, *, washout: int | None = None, n_train: int | None = None,
                    penalty=1e-10, k_min: int = 1):
    """Jaeger's short-term memory capacity from a run of a reservoir on i.i.d. input.

    ``states`` ``(T, n)``: the states ``x(t)`` after input ``inputs[t]`` (``(T,)`` or ``(T, 1)``).
    Rows ``[washout, washout + n_train)`` train one ridge readout (``penalty``, unpenalised bias)
    for every delay ``k = k_min .. k_max``, the remaining rows test it. ``washout`` defaults to
    ``k_max`` and must be at least ``k_max`` (every target ``u(t - k)`` must exist); ``n_train``
    defaults to two thirds of the rows after the washout. Returns ``(MC, MC_k)``, with
    ``MC_k[i]`` the squared test correlation for delay ``k_min + i``.

    Use float64 (``jax.config.update("jax_enable_x64", True)``) with penalties as small as
    Jaeger's (1e-10): in float32 the normal equations lose the small directions of the states.
    """
    states = jnp.asarray(states)
    if states.ndim != 2 or states.shape[0] == 0 or states.shape[1] == 0:
        raise ValueError(f"states must have shape (T, n) with T, n >= 1, got {states.shape}")
    t = states.shape[0]
    u = _as_series("inputs", inputs, t)
    for name, v in (("k_max", k_max), ("k_min", k_min)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
    if k_max < k_min:
        raise ValueError(f"k_max ({k_max}) must be >= k_min ({k_min})")
    washout = int(k_max) if washout is None else washout
    if isinstance(washout, bool) or not isinstance(washout, (int, np.integer)) or washout < k_max:
        raise ValueError(f"washout must be an integer >= k_max = {k_max} (the first targets are u(t - k_max)), got {washout!r}")
    rows = t - washout
    n_train = (2 * rows) // 3 if n_train is None else n_train
    if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) or n_train < 2 or rows - n_train < 2:
        raise ValueError(
            f"n_train must leave at least 2 training and 2 test rows: {t} steps - washout {washout} = {rows} rows, "
            f"got n_train = {n_train!r}"
        )
    _check_finite("states", states)
    _check_finite("inputs", u)
    if _concrete(penalty) and not (math.isfinite(float(penalty)) and float(penalty) >= 0):
        raise ValueError(f"penalty must be >= 0 and finite, got {penalty!r}")
    return _memory_capacity(states, u, int(k_min), int(k_max), int(washout), int(n_train), penalty)


# ----------------------------------------------------------------------------- NARMA-10


def narma10(n_steps: int, seed=0, *, max_value: float = 1.5):
    """A NARMA-10 series ``(u, y)``, both ``(n_steps,)`` numpy float64, ``u ~ U[0, 0.5]`` i.i.d.
    from ``numpy.random.default_rng(seed)`` and ``y(0..9) = 0``, then the recurrence of the module
    docstring (``y[t]`` depends on inputs up to ``u[t - 1]``). The recurrence occasionally
    diverges; a series whose maximum exceeds ``max_value`` (or is not finite) raises a
    ``ValueError`` naming the seed (papers.md 6.3: stationary series stay below ~1)."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 11:
        raise ValueError(f"n_steps must be an integer >= 11 (NARMA-10 needs 10 steps of history), got {n_steps!r}")
    u = np.random.default_rng(seed).uniform(0.0, 0.5, n_steps)
    y = np.zeros(n_steps)
    for t in range(9, n_steps - 1):
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * y[t - 9 : t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1
    peak = float(np.max(y)) if np.all(np.isfinite(y)) else math.inf
    if not peak <= max_value:
        raise ValueError(
            f"the NARMA-10 series diverged (max y = {peak:.3g} > {max_value}) for seed {seed!r} and {n_steps} steps; "
            f"use another seed or a shorter series"
        )
    return u, y


def nrmse(prediction, target) -> jax.Array:
    """``sqrt(mean((prediction - target)^2) / var(target))`` over time (axis 0): 0 is perfect,
    1 is no better than predicting the mean. One value per output for 2-D arrays."""
    p = jnp.asarray(prediction)
    y = jnp.asarray(target)
    if p.shape != y.shape or y.shape[0] < 2:
        raise ValueError(f"prediction and target must have the same shape with >= 2 time steps, got {p.shape} and {y.shape}")
    return jnp.sqrt(jnp.mean((p - y) ** 2, axis=0) / jnp.var(y, axis=0))


# ----------------------------------------------------------------------------- kernel quality


def state_rank(states, *, rtol: float = 1e-3) -> int:
    """Numerical rank of an ``(m, n)`` state matrix: the number of singular values above
    ``rtol`` times the largest (numpy, float64). ``rtol`` sets what counts as a distinct
    direction; Legenstein & Maass count singular values above a noise floor."""
    s = np.linalg.svd(np.asarray(states, np.float64), compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0
    return int(np.sum(s > rtol * s[0]))


def _final_states(run, inputs):
    inputs = jnp.asarray(inputs)
    if inputs.ndim not in (2, 3) or inputs.shape[0] < 1:
        raise ValueError(f"inputs must have shape (m, T) or (m, T, n_in): m input streams, got {inputs.shape}")
    states = jax.vmap(run)(inputs)
    if states.ndim != 3:
        raise ValueError(f"run must map one input stream to states of shape (T, n), got {states.shape[1:]}")
    return states[:, -1, :]


def kernel_quality(run, inputs, *, rtol: float = 1e-3) -> int:
    """Rank of the final states of ``m`` different input streams ``inputs`` ``(m, T[, n_in])``;
    ``run(one_stream) -> states (T, n)`` must be vmappable (e.g.
    ``lambda u: run_reservoir(params, u)``). At most ``min(m, n)``."""
    return state_rank(_final_states(run, inputs), rtol=rtol)


def generalization_rank(run, base_input, n_variants: int, *, noise_std: float, seed: int = 0,
                        rtol: float = 1e-3) -> int:
    """Rank of the final states of ``n_variants`` copies of ``base_input`` ``(T[, n_in])`` each
    with independent Gaussian noise of standard deviation ``noise_std`` added: low values mean
    that the reservoir maps small input differences onto few directions (it generalises)."""
    base = jnp.asarray(base_input)
    base = base.astype(jnp.result_type(base.dtype, float))
    if isinstance(n_variants, bool) or not isinstance(n_variants, (int, np.integer)) or n_variants < 1:
        raise ValueError(f"n_variants must be an integer >= 1, got {n_variants!r}")
    noise = jax.random.normal(jax.random.key(seed), (int(n_variants),) + base.shape, base.dtype)
    return state_rank(_final_states(run, base[None] + noise_std * noise), rtol=rtol)


# ----------------------------------------------------------------------------- Lyapunov exponent


def lyapunov_exponent(step, x0, inputs=None, *, n_steps: int | None = None, eps: float | None = None,
                      washout: int = 0, seed: int = 0) -> jax.Array:
    """Largest Lyapunov exponent (per step, natural log) of the map ``step`` from state ``x0``.

    ``step(x, u) -> x'`` driven by ``inputs`` (leading axis = time), or ``step(x) -> x'`` with
    ``inputs=None`` and ``n_steps`` given. ``x0`` may be any pytree of float arrays (it is
    flattened for the distance). The perturbed copy starts ``eps`` away (default
    ``sqrt(machine epsilon)``: 3e-4 in float32, 1.5e-8 in float64) in a random direction drawn
    from ``seed``; the first ``washout`` steps align it with the most expanding direction and
    are not averaged. ``x' = a x`` gives ``ln|a|``; chaotic maps give a positive exponent.
    """
    flat0, unravel = ravel_pytree(x0)
    if not jnp.issubdtype(flat0.dtype, jnp.floating) or flat0.size == 0:
        raise ValueError(f"x0 must hold floating-point values, got dtype {flat0.dtype} and {flat0.size} values")
    if inputs is None:
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
            raise ValueError(f"without inputs, n_steps must be an integer >= 1, got {n_steps!r}")
        xs, total = None, int(n_steps)
        advance = lambda x, _u: step(x)  # noqa: E731
    else:
        leaves = jax.tree.leaves(inputs)
        if not leaves or jnp.ndim(leaves[0]) == 0:
            raise ValueError("inputs must have a leading time axis")
        xs, total = inputs, int(jnp.shape(leaves[0])[0])
        advance = step
    if isinstance(washout, bool) or not isinstance(washout, (int, np.integer)) or not 0 <= washout < total:
        raise ValueError(f"washout must be an integer in [0, {total}) (the number of steps), got {washout!r}")
    dtype = flat0.dtype
    eps = float(np.sqrt(np.finfo(dtype).eps)) if eps is None else float(eps)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be > 0, got {eps!r}")
    direction = jax.random.normal(jax.random.key(seed), flat0.shape, dtype)
    direction = direction / jnp.linalg.norm(direction)
    counted = (jnp.arange(total) >= washout).astype(dtype)

    def body(carry, item):
        x, xp = carry
        u, weight = item
        x1 = ravel_pytree(advance(unravel(x), u))[0]
        xp1 = ravel_pytree(advance(unravel(xp), u))[0]
        delta = xp1 - x1
        d = jnp.linalg.norm(delta)
        safe = jnp.where(d > 0, d, 1.0)
        xp_next = x1 + delta * (eps / safe)
        return (x1, xp_next), jnp.where(weight > 0, jnp.log(d / eps), 0.0)

    (_, _), logs = jax.lax.scan(body, (flat0, flat0 + eps * direction), (xs, counted), length=total)
    return jnp.sum(logs) / (total - washout)
