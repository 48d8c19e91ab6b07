"""neurosim.builders.reservoir: the echo state network builder, step and run.

Values against a numpy transcription of the update, the spectral radius after rescaling against
numpy's eigenvalues, vmap over stacked reservoirs against a Python loop, gradients through the
sparse product against finite differences, and every argument error."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from neurosim.analysis import spectral_radius
from neurosim.builders import ReservoirParams, esn, from_matrix, reservoir_step, run_reservoir, stack_reservoirs


def numpy_run(params, inputs, activation=np.tanh):
    """The ESN update written out in numpy (dense W), float64."""
    w = np.asarray(params.conn.to_dense(params.w)).T if params.conn is not None else np.asarray(params.w)
    w_in, b, a = (np.asarray(v, np.float64) for v in (params.w_in, params.bias, params.leak))
    x = np.zeros(w.shape[0])
    out = []
    for u in np.asarray(inputs, np.float64).reshape(len(inputs), -1):
        x = (1 - a) * x + a * activation(w @ x + w_in @ u + b)
        out.append(x)
    return np.array(out)


# ----------------------------------------------------------------------------- builder


@pytest.mark.parametrize("n,density,rho", [(50, 0.2, 0.9), (300, 0.05, 1.3), (40, 1.0, 0.5)])
def test_spectral_radius_after_rescaling_equals_target(x64, n, density, rho):
    params = esn(n, density=density, spectral_radius=rho, seed=3)
    dense = np.asarray(params.conn.to_dense(params.w)).T if params.conn is not None else np.asarray(params.w)
    assert abs(np.abs(np.linalg.eigvals(dense)).max() - rho) < 1e-6 * rho
    assert (params.conn is None) == (density == 1.0)


def test_spectral_radius_arnoldi_matches_eigvals(x64):
    """Above n = 200 the radius comes from the restarted Arnoldi iteration."""
    params = esn(400, density=0.02, spectral_radius=1.0, seed=1)
    scaled = np.asarray(params.w) * 2.5
    dense = np.asarray(params.conn.to_dense(scaled)).T
    assert spectral_radius(scaled, params.conn) == pytest.approx(np.abs(np.linalg.eigvals(dense)).max(), rel=1e-7)


def test_builder_draws_and_sizes():
    params = esn(200, n_inputs=3, density=0.1, spectral_radius=0.9, input_scaling=0.5, bias_scaling=0.2, leak=0.3, seed=0)
    assert params.w_in.shape == (200, 3) and params.bias.shape == (200,) and params.leak.shape == ()
    assert params.w.shape == (params.conn.nnz,)
    assert 0.08 < params.conn.nnz / 200**2 < 0.12
    assert np.abs(np.asarray(params.w_in)).max() <= 0.5 and np.abs(np.asarray(params.bias)).max() <= 0.2
    assert float(params.leak) == pytest.approx(0.3)
    again = esn(200, n_inputs=3, density=0.1, spectral_radius=0.9, input_scaling=0.5, bias_scaling=0.2, leak=0.3, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again)))
    other = esn(200, n_inputs=3, density=0.1, seed=1)
    assert other.conn.nnz != params.conn.nnz or not np.array_equal(other.conn.indices, params.conn.indices)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(spectral_radius=0.0), "spectral_radius must be > 0"),
        (dict(spectral_radius=-1.0), "spectral_radius must be > 0"),
        (dict(spectral_radius=float("nan")), "spectral_radius must be > 0"),
        (dict(density=0.0), r"density must lie in \(0, 1\]"),
        (dict(density=1.5), r"density must lie in \(0, 1\]"),
        (dict(density=0.005), "expected synapses per unit"),   # 0.5 synapses per unit for n = 100
        (dict(leak=0.0), r"leak must lie in \(0, 1\]"),
        (dict(leak=1.2), r"leak must lie in \(0, 1\]"),
        (dict(input_scaling=-0.1), "input_scaling must be >= 0"),
        (dict(bias_scaling=-1.0), "bias_scaling must be >= 0"),
        (dict(n_inputs=0), "n_inputs must be >= 1"),
    ],
)
def test_builder_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        esn(100, **kwargs)


def test_builder_too_small_for_density():
    with pytest.raises(ValueError, match=r"density >= 1/n = 0\.1"):
        esn(10, density=0.05)
    with pytest.raises(ValueError, match="n must be >= 1"):
        esn(0)


def test_from_matrix_sparse_and_dense_agree(x64):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(30, 30)) * (rng.random((30, 30)) < 0.2)
    w_in = rng.uniform(-1, 1, (30, 2))
    sparse = from_matrix(w, w_in, bias=0.1, leak=0.5)
    dense = from_matrix(w, w_in, bias=0.1, leak=0.5, sparse=False)
    assert sparse.conn is not None and dense.conn is None
    u = rng.uniform(-1, 1, (50, 2))
    np.testing.assert_allclose(run_reservoir(sparse, u), run_reservoir(dense, u), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="square"):
        from_matrix(np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError, match="w_in must have shape"):
        from_matrix(np.eye(3), np.ones(4))


# ----------------------------------------------------------------------------- step and run


@pytest.mark.parametrize("density,leak", [(0.1, 1.0), (0.1, 0.3), (1.0, 0.7)])
def test_run_matches_numpy(x64, density, leak):
    params = esn(60, n_inputs=2, density=density, spectral_radius=0.9, input_scaling=0.8, bias_scaling=0.3, leak=leak, seed=2)
    u = np.random.default_rng(1).uniform(-1, 1, (80, 2))
    np.testing.assert_allclose(run_reservoir(params, u), numpy_run(params, u), rtol=1e-12, atol=1e-12)


def test_run_float32_and_linear_activation():
    params = esn(40, density=0.2, spectral_radius=0.8, seed=0)
    u = np.random.default_rng(0).uniform(-0.5, 0.5, 100)
    states = run_reservoir(params, u)
    assert states.dtype == jnp.float32 and states.shape == (100, 40)
    np.testing.assert_allclose(states, numpy_run(params, u), rtol=1e-4, atol=1e-5)
    lin = run_reservoir(params, u, activation="linear")
    np.testing.assert_allclose(lin, numpy_run(params, u, activation=lambda z: z), rtol=1e-4, atol=1e-5)
    x1 = reservoir_step(params, jnp.zeros(40), u[0])
    np.testing.assert_allclose(x1, states[0], rtol=1e-6)


def test_run_errors():
    params = esn(20, n_inputs=2, density=0.2, seed=0)
    with pytest.raises(ValueError, match=r"inputs must have shape \(T, 2\)"):
        run_reservoir(params, np.zeros(10))
    with pytest.raises(ValueError, match=r"x0 must have shape \(20,\)"):
        run_reservoir(params, np.zeros((10, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="activation must be one of"):
        run_reservoir(params, np.zeros((10, 2)), activation="relu6")


def test_vmap_over_reservoirs_equals_loop(x64):
    """20 reservoirs with different connectivities (different nnz), stacked and vmapped."""
    reservoirs = [esn(50, density=0.1, spectral_radius=0.9, input_scaling=0.5, seed=s) for s in range(20)]
    assert len({r.conn.nnz for r in reservoirs}) > 1
    u = np.random.default_rng(0).uniform(-0.5, 0.5, 60)
    stacked = stack_reservoirs(reservoirs)
    batched = jax.vmap(run_reservoir, in_axes=(0, None))(stacked, u)
    assert batched.shape == (20, 60, 50)
    for i in range(20):   # the loop over the same (padded) parameters: one compilation
        one = jax.tree.map(lambda leaf: leaf[i], stacked)
        np.testing.assert_allclose(batched[i], run_reservoir(one, u), rtol=1e-12, atol=1e-13)
    for i in (0, 7):      # and the padding changes nothing
        np.testing.assert_allclose(batched[i], run_reservoir(reservoirs[i], u), rtol=1e-12, atol=1e-13)


def test_vmap_dense_reservoirs_and_inputs(x64):
    reservoirs = [esn(30, density=1.0, seed=s) for s in range(3)]
    u = np.random.default_rng(0).uniform(-0.5, 0.5, (3, 40))
    batched = jax.jit(jax.vmap(run_reservoir))(stack_reservoirs(reservoirs), u)
    for b, r, ui in zip(batched, reservoirs, u):
        np.testing.assert_allclose(b, run_reservoir(r, ui), rtol=1e-12)


def test_stack_errors():
    with pytest.raises(ValueError, match="at least one"):
        stack_reservoirs([])
    with pytest.raises(ValueError, match="stack reservoirs of one kind"):
        stack_reservoirs([esn(30, density=0.2), esn(30, density=1.0)])


def test_gradients_through_sparse_product(x64):
    params = esn(25, density=0.2, spectral_radius=0.9, input_scaling=0.5, bias_scaling=0.1, leak=0.8, seed=0)
    u = np.random.default_rng(0).uniform(-0.5, 0.5, 15)

    def loss(w, w_in, bias, leak):
        p = params._replace(w=w, w_in=w_in, bias=bias, leak=leak)
        return jnp.sum(run_reservoir(p, u)[-5:] ** 2)

    check_grads(loss, (params.w, params.w_in, params.bias, params.leak), order=1, modes=["rev", "fwd"])
    grads = jax.grad(lambda p: jnp.sum(run_reservoir(p, u) ** 2), allow_int=True)(params)
    assert isinstance(grads, ReservoirParams) and grads.w.shape == params.w.shape


def test_padded_synapses_are_inert(x64):
    """Stacking pads shorter connectivities; the padding adds nothing and gets zero gradient."""
    a = esn(30, density=0.1, seed=0)
    b = next(r for r in (esn(30, density=0.1, seed=s) for s in range(1, 20)) if r.conn.nnz != a.conn.nnz)
    stacked = stack_reservoirs([a, b])
    short = int(np.argmin([a.conn.nnz, b.conn.nnz]))
    nnz = min(a.conn.nnz, b.conn.nnz)
    assert stacked.w.shape[1] == max(a.conn.nnz, b.conn.nnz) > nnz
    u = np.random.default_rng(0).uniform(-0.5, 0.5, 20)
    grads = jax.grad(lambda p: jnp.sum(jax.vmap(run_reservoir, in_axes=(0, None))(p, u) ** 2), allow_int=True)(stacked)
    assert np.all(np.asarray(grads.w[short, nnz:]) == 0.0)
    assert np.any(np.asarray(grads.w[short, :nnz]) != 0.0)
