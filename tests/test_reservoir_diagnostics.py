"""neurosim.analysis.reservoir: diagnostics with known answers.

Memory capacity of a shift register (exactly N over k >= 0) and of a linear orthogonal
reservoir (close to N); Lyapunov exponents of x' = a x (ln|a|), of linear maps (ln of the
spectral radius) and of the logistic map at r = 4 (ln 2); the NARMA-10 recurrence and its
statistics; NRMSE of trivial predictors; ranks of hand-made state matrices; effective spectral
radius against numpy eigenvalues; and the argument errors."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurosim.analysis import (
    effective_spectral_radius,
    generalization_rank,
    kernel_quality,
    lyapunov_exponent,
    memory_capacity,
    narma10,
    nrmse,
    spectral_radius,
    state_rank,
)
from neurosim.builders import esn, from_matrix, run_reservoir, stack_reservoirs


def iid(t, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, t)


# ----------------------------------------------------------------------------- memory capacity


def test_shift_register_memory_capacity_is_n(x64):
    """A delay line of N units holds u(t), ..., u(t-N+1) exactly: MC_k = 1 for k < N and 0
    after, so MC over k >= 0 is N and Jaeger's sum over k >= 1 is N - 1 (up to the finite-sample
    bias of about k_max / T_test)."""
    n = 12
    params = from_matrix(np.eye(n, k=-1), np.eye(n)[0])
    assert params.conn is not None and spectral_radius(params.w, params.conn) == 0.0
    u = iid(3000)
    states = run_reservoir(params, u, activation="linear")
    mc0, curve0 = memory_capacity(states, u, 2 * n, n_train=1800, k_min=0)
    assert float(mc0) == pytest.approx(n, abs=0.05)
    np.testing.assert_allclose(curve0[:n], 1.0, atol=1e-9)
    assert np.all(np.asarray(curve0[n:]) < 0.01)
    mc1, curve1 = memory_capacity(states, u, 2 * n, n_train=1800)
    assert float(mc1) == pytest.approx(n - 1, abs=0.05)
    assert curve1.shape == (2 * n,)


def test_linear_orthogonal_reservoir_memory_capacity_close_to_n(x64):
    n = 20
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    params = from_matrix(0.95 * q, rng.uniform(-1, 1, n), sparse=False)
    u = iid(6500)
    mc, _ = memory_capacity(run_reservoir(params, u, activation="linear"), u, 3 * n, washout=500, n_train=4000)
    assert 0.85 * n <= float(mc) <= n + 3 * n / 2000


def test_memory_capacity_vmap_equals_loop(x64):
    reservoirs = [esn(30, density=0.2, spectral_radius=0.9, input_scaling=0.1, seed=s) for s in range(3)]
    u = np.stack([iid(1500, s) for s in range(3)])

    def one(p, ui):
        return memory_capacity(run_reservoir(p, ui), ui, 40, washout=100, n_train=900)

    mcs, curves = jax.jit(jax.vmap(one))(stack_reservoirs(reservoirs), u)
    for i, r in enumerate(reservoirs):
        mc, curve = one(r, u[i])
        assert float(mcs[i]) == pytest.approx(float(mc), rel=1e-8)
        np.testing.assert_allclose(curves[i], curve, rtol=1e-6, atol=1e-10)
        assert 0 < float(mc) <= 30 + 40 / 500


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(k_max=20, washout=10), "washout must be an integer >= k_max = 20"),
        (dict(k_max=20, n_train=190), "n_train must leave at least 2"),
        (dict(k_max=5, k_min=6), r"k_max \(5\) must be >= k_min \(6\)"),
        (dict(k_max=-1), "k_max must be an integer >= 0"),
        (dict(k_max=5, penalty=-1.0), "penalty must be >= 0"),
    ],
)
def test_memory_capacity_errors(kwargs, match):
    states = np.random.default_rng(0).normal(size=(200, 5))
    with pytest.raises(ValueError, match=match):
        memory_capacity(states, iid(200), **kwargs)


def test_memory_capacity_input_errors():
    states = np.random.default_rng(0).normal(size=(200, 5))
    with pytest.raises(ValueError, match="to match the states' 200 time steps"):
        memory_capacity(states, iid(199), 5)
    bad = iid(200)
    bad[50] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        memory_capacity(states, bad, 5)


# ----------------------------------------------------------------------------- Lyapunov


@pytest.mark.parametrize("a,x0", [(0.5, 1.0), (-0.8, 2.0), (0.3, -1.0), (1.5, 0.0)])
def test_lyapunov_of_scalar_linear_map_is_log_abs_a(x64, a, x0):
    lam = lyapunov_exponent(lambda x: a * x, jnp.array([x0]), n_steps=40)
    assert float(lam) == pytest.approx(math.log(abs(a)), abs=1e-9)


def test_lyapunov_of_scalar_map_float32():
    lam = lyapunov_exponent(lambda x: 0.5 * x, jnp.ones(1, jnp.float32), n_steps=50)
    assert float(lam) == pytest.approx(math.log(0.5), abs=1e-3)


def test_lyapunov_of_linear_map_is_log_spectral_radius(x64):
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 6))
    m *= 0.9 / np.abs(np.linalg.eigvals(m)).max()
    lam = lyapunov_exponent(lambda x: jnp.asarray(m) @ x, jnp.ones(6), n_steps=600, washout=200)
    assert float(lam) == pytest.approx(math.log(0.9), abs=0.01)


def test_lyapunov_of_driven_map_and_pytree_state(x64):
    """x' = a x + u (inputs do not change the growth of a perturbation), with a two-part state."""
    u = jnp.asarray(iid(100))
    lam = lyapunov_exponent(lambda x, ut: 0.7 * x + ut, jnp.zeros(3), u)
    assert float(lam) == pytest.approx(math.log(0.7), abs=1e-9)
    step = lambda s, ut: {"a": 0.5 * s["a"] + ut, "b": 0.25 * s["b"]}  # noqa: E731
    lam = lyapunov_exponent(step, {"a": jnp.zeros(2), "b": jnp.ones(2)}, u, washout=50)
    assert float(lam) == pytest.approx(math.log(0.5), abs=1e-6)


def test_lyapunov_of_logistic_map_is_log_2(x64):
    lam = lyapunov_exponent(lambda x: 4.0 * x * (1.0 - x), jnp.array([0.3]), n_steps=20000, washout=100)
    assert float(lam) == pytest.approx(math.log(2.0), abs=0.02)


def test_lyapunov_of_echo_state_reservoir_is_negative():
    from neurosim.builders import reservoir_step

    params = esn(50, density=0.2, spectral_radius=0.8, input_scaling=0.5, seed=0)
    u = jnp.asarray(iid(400), jnp.float32)
    lam = lyapunov_exponent(lambda x, ut: reservoir_step(params, x, ut), jnp.zeros(50), u, washout=100)
    assert -1.0 < float(lam) < 0.0


def test_lyapunov_errors():
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1"):
        lyapunov_exponent(lambda x: x, jnp.ones(2))
    with pytest.raises(ValueError, match=r"washout must be an integer in \[0, 10\)"):
        lyapunov_exponent(lambda x: x, jnp.ones(2), n_steps=10, washout=10)
    with pytest.raises(ValueError, match="floating-point"):
        lyapunov_exponent(lambda x: x, jnp.ones(2, jnp.int32), n_steps=10)
    with pytest.raises(ValueError, match="eps must be > 0"):
        lyapunov_exponent(lambda x: x, jnp.ones(2), n_steps=10, eps=0.0)


# ----------------------------------------------------------------------------- NARMA-10 and NRMSE


def test_narma10_recurrence_and_statistics():
    u, y = narma10(20000, seed=0)
    assert u.shape == y.shape == (20000,) and u.min() >= 0 and u.max() < 0.5
    assert np.all(y[:10] == 0)
    t = 5000
    expected = 0.3 * y[t] + 0.05 * y[t] * y[t - 9 : t + 1].sum() + 1.5 * u[t - 9] * u[t] + 0.1
    assert y[t + 1] == pytest.approx(expected, rel=1e-14)
    assert abs(y[100:].mean() - 0.383) < 0.02 and abs(y[100:].std() - 0.110) < 0.015   # papers.md 6.3
    u2, y2 = narma10(20000, seed=0)
    np.testing.assert_array_equal(y, y2)


def test_narma10_divergence_check():
    with pytest.raises(ValueError, match="diverged .* for seed 3"):
        narma10(2000, seed=3, max_value=0.5)
    with pytest.raises(ValueError, match="n_steps must be an integer >= 11"):
        narma10(5)


def test_nrmse_of_trivial_predictors():
    y = np.sin(np.linspace(0, 20, 500))
    assert float(nrmse(y, y)) == 0.0
    assert float(nrmse(np.full_like(y, y.mean()), y)) == pytest.approx(1.0)
    two = nrmse(np.stack([y, np.full_like(y, y.mean())], 1), np.stack([y, y], 1))
    np.testing.assert_allclose(two, [0.0, 1.0], atol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        nrmse(y[:-1], y)


# ----------------------------------------------------------------------------- ranks


def test_state_rank_of_known_matrices():
    rng = np.random.default_rng(0)
    low = rng.normal(size=(30, 3)) @ rng.normal(size=(3, 50))
    assert state_rank(low) == 3
    assert state_rank(rng.normal(size=(10, 50))) == 10
    assert state_rank(np.zeros((4, 4))) == 0


def test_kernel_quality_and_generalization_rank(x64):
    n = 20
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    params = from_matrix(0.9 * q, rng.uniform(-1, 1, n), sparse=False)
    run = lambda u: run_reservoir(params, u, activation="linear")  # noqa: E731
    distinct = rng.uniform(-0.5, 0.5, (10, 100))
    assert kernel_quality(run, distinct) == 10
    assert kernel_quality(run, rng.uniform(-0.5, 0.5, (35, 100))) == n
    base = rng.uniform(-0.5, 0.5, 100)
    assert generalization_rank(run, base, 10, noise_std=1e-7) == 1
    assert generalization_rank(run, base, 10, noise_std=0.5) == 10
    with pytest.raises(ValueError, match="m input streams"):
        kernel_quality(run, base)


# ----------------------------------------------------------------------------- spectral radii


def test_effective_spectral_radius(x64):
    params = esn(60, density=0.2, spectral_radius=0.9, leak=0.3, seed=0)
    w = np.asarray(params.conn.to_dense(params.w)).T
    expected = np.abs(np.linalg.eigvals(0.7 * np.eye(60) + 0.3 * w)).max()
    assert effective_spectral_radius(params) == pytest.approx(expected, rel=1e-10)
    big = esn(300, density=0.05, spectral_radius=1.1, leak=0.5, seed=0)   # the Arnoldi path
    w = np.asarray(big.conn.to_dense(big.w)).T
    expected = np.abs(np.linalg.eigvals(0.5 * np.eye(300) + 0.5 * w)).max()
    assert effective_spectral_radius(big) == pytest.approx(expected, rel=1e-7)
    dense = esn(40, density=1.0, spectral_radius=0.8, leak=1.0, seed=0)
    assert effective_spectral_radius(dense) == pytest.approx(0.8, rel=1e-10)


def test_spectral_radius_errors():
    with pytest.raises(ValueError, match="square"):
        spectral_radius(np.ones((3, 4)))
