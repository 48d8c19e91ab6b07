"""A rate reservoir with separate excitatory and inhibitory units whose E/I balance adapts
locally (the adaptive reservoir of Srinivasan, Plenz & Girvan 2025, as reconstructed here).

Units are sigmoidal rates in (0, 1); 80 % are excitatory, 20 % inhibitory (Dale's law: a unit's
outgoing weights share its sign)::

    x(t+1) = sigmoid( W_E x(t) - g ⊙ (W_I x(t)) + w_in u(t+1) + theta )

``W_E`` (n, n) holds the weights from excitatory units (columns of E units), ``W_I`` those from
inhibitory units, both >= 0; ``g`` (n,) is each unit's inhibitory gain, its **E/I balance**
(``g = 1`` gives a mean inhibitory input equal to the mean excitatory one: ``W_I`` is scaled by
N_E / N_I); ``theta`` = -1 a bias; ``w_in`` (n,) ~ U[-1, 1] x ``input_scaling``. Connections:
each ordered pair (no self-connections) with probability ``p``, magnitudes
``|N(0, 1)| x 2 / sqrt(p n)``.

**Global balance**: every ``g_i`` = g. Excitation-dominated reservoirs (g < 1) saturate and
remember little; balanced or slightly over-inhibited ones (g = 1-2) remember most.

**Local adaptation** (:func:`adapt_balance`): each unit moves its own gain towards a target
rate ``rho_i`` while the reservoir is driven::

    g_i <- max(0, g_i + eta (x_i(t) - rho_i))

(a unit that fires above its target strengthens its inhibition). After ``n`` steps the gains are
frozen. Reaching the targets does not depend on the starting gains, and the adapted reservoir
remembers at least as much as the best globally tuned one.

Reference: S. Srinivasan, D. Plenz & M. Girvan, "Boosting reservoir computing with
brain-inspired adaptive dynamics", arXiv:2504.12480 (2025). Their methods were not available
to us; the equations above are our reconstruction of what the paper describes (docs/papers.md
section 8).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks


class EIReservoirParams(NamedTuple):
    """The parameters of EIReservoir (a pytree: each field a scalar or one value per element):
    ``w_e`` ((n, n) >= 0, W_E[i, j]: from excitatory unit j to unit i (0 in the I columns)); ``w_i``
    ((n, n) >= 0, from inhibitory units (0 in the E columns)); ``w_in`` ((n,) input weights);
    ``theta`` (() or (n,) bias); ``g`` ((n,) inhibitory gain of every unit (its E/I balance))."""

    w_e: jax.Array     # (n, n) >= 0, W_E[i, j]: from excitatory unit j to unit i (0 in the I columns)
    w_i: jax.Array     # (n, n) >= 0, from inhibitory units (0 in the E columns)
    w_in: jax.Array    # (n,) input weights
    theta: jax.Array   # () or (n,) bias
    g: jax.Array       # (n,) inhibitory gain of every unit (its E/I balance)

    @property
    def n(self) -> int:
        return int(self.w_in.shape[-1])


def ei_reservoir(n: int = 200, *, frac_exc: float = 0.8, p: float = 0.1, input_scaling: float = 1.0,
                 g: float = 1.0, theta: float = -1.0, seed: int = 0) -> EIReservoirParams:
    """Draw an E/I reservoir (module docstring) with every gain ``g``."""
    n = _checks.count("ei_reservoir: n", n, minimum=2)
    if not (0.0 < frac_exc < 1.0) or int(round(frac_exc * n)) in (0, n):
        raise ValueError(f"ei_reservoir: frac_exc must leave both E and I units among {n}, got {frac_exc!r}")
    if not (0.0 < p <= 1.0):
        raise ValueError(f"ei_reservoir: p must be in (0, 1], got {p!r}")
    for name, v in (("input_scaling", input_scaling), ("g", g)):
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"ei_reservoir: {name} must be finite and >= 0, got {v!r}")
    if not np.isfinite(theta):
        raise ValueError(f"ei_reservoir: theta must be finite, got {theta!r}")
    rng = np.random.default_rng(_checks.seed("seed", seed))
    n_e = int(round(frac_exc * n))
    mask = rng.random((n, n)) < p
    np.fill_diagonal(mask, False)
    mag = np.abs(rng.normal(size=(n, n))) * 2.0 / np.sqrt(p * n) * mask
    w_e, w_i = mag.copy(), mag * (n_e / (n - n_e))
    w_e[:, n_e:] = 0.0
    w_i[:, :n_e] = 0.0
    w_in = rng.uniform(-1.0, 1.0, n) * input_scaling
    f = jnp.result_type(float)
    return EIReservoirParams(jnp.asarray(w_e, f), jnp.asarray(w_i, f), jnp.asarray(w_in, f), jnp.asarray(theta, f),
                             jnp.full((n,), g, f))


def ei_reservoir_step(params: EIReservoirParams, x, u):
    """One step: ``sigmoid(W_E x - g (W_I x) + w_in u + theta)``."""
    return jax.nn.sigmoid(params.w_e @ x - params.g * (params.w_i @ x) + params.w_in * u + params.theta)


def _series(name, inputs):
    u = jnp.asarray(inputs)
    if u.ndim != 1 or u.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (T,) series, got shape {u.shape}")
    if not isinstance(u, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(u))):
        raise ValueError(f"{name} must be finite, got NaN or infinite at step {int(jnp.argmax(~jnp.isfinite(u)))}")
    return u


def run_ei_reservoir(params: EIReservoirParams, inputs, x0=None) -> jax.Array:
    """The states ``(T, n)`` after each input of ``inputs`` ``(T,)``, from ``x0`` (default 0)."""
    u = _series("inputs", inputs)
    x0 = jnp.zeros((params.n,), params.w_in.dtype) if x0 is None else jnp.asarray(x0, params.w_in.dtype)

    def body(x, ut):
        x = ei_reservoir_step(params, x, ut)
        return x, x

    return jax.lax.scan(body, x0, u)[1]


def adapt_balance(params: EIReservoirParams, inputs, rho, *, eta: float = 0.02, x0=None):
    """Drive the reservoir with ``inputs`` ``(T,)`` while every unit's gain follows
    ``g_i <- max(0, g_i + eta (x_i - rho_i))`` (module docstring). ``rho``: the target rate, a
    number or one per unit, in (0, 1). Returns ``(params with the adapted g, the mean rate
    after each step (T,))``."""
    u = _series("inputs", inputs)
    rho = jnp.broadcast_to(jnp.asarray(rho, params.w_in.dtype), (params.n,))
    r = np.asarray(rho)
    if not isinstance(rho, jax.core.Tracer) and not (np.all(np.isfinite(r)) and np.all((r > 0) & (r < 1))):
        raise ValueError(f"adapt_balance: rho (target rates) must be in (0, 1), got min {r.min()!r}, max {r.max()!r}")
    if not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"adapt_balance: eta must be > 0, got {eta!r}")
    x0 = jnp.zeros((params.n,), params.w_in.dtype) if x0 is None else jnp.asarray(x0, params.w_in.dtype)

    def body(carry, ut):
        x, g = carry
        x = ei_reservoir_step(params._replace(g=g), x, ut)
        g = jnp.maximum(0.0, g + eta * (x - rho))
        return (x, g), x.mean()

    (_, g), rates = jax.lax.scan(body, (x0, params.g), u)
    return params._replace(g=g), rates
