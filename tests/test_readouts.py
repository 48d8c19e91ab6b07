"""neurosim.train.readouts: ridge against numpy lstsq, RLS converging to the ridge solution, LMS
converging on a linear target, classifiers on separable data, cross-validation choosing a
sensible penalty, leak-free splits, jit/vmap, and every input error."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurosim.train import (
    accuracy,
    classify,
    lms_fit,
    predict,
    ridge,
    ridge_classifier,
    ridge_cv,
    rls_fit,
    rls_init,
    rls_update,
    softmax_classifier,
    time_series_folds,
    train_test_split,
)


def lstsq_ridge(x, y, lam, intercept=True):
    """Ridge as an augmented least-squares problem: [X 1; sqrt(lam) I 0] [w; b] = [Y; 0]."""
    t, n = x.shape
    y2 = y.reshape(t, -1)
    a = np.hstack([x, np.ones((t, 1))]) if intercept else x
    reg = np.sqrt(lam) * np.eye(n, a.shape[1])
    sol = np.linalg.lstsq(np.vstack([a, reg]), np.vstack([y2, np.zeros((n, y2.shape[1]))]), rcond=None)[0]
    return sol[:n], (sol[n] if intercept else np.zeros(y2.shape[1]))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    w = rng.normal(size=(8, 3))
    y = x @ w + np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=(300, 3))
    return x, y, w


# ----------------------------------------------------------------------------- ridge


@pytest.mark.parametrize("lam", [0.0, 1e-3, 1.0, 100.0])
@pytest.mark.parametrize("intercept", [True, False])
def test_ridge_matches_lstsq(x64, data, lam, intercept):
    x, y, _ = data
    r = ridge(x, y, lam, intercept=intercept)
    w, b = lstsq_ridge(x, y, lam, intercept)
    np.testing.assert_allclose(r.w, w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r.b, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(predict(r, x), x @ w + b, rtol=1e-10, atol=1e-10)


def test_ridge_1d_targets_and_wide_data(x64):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 50))   # more features than samples: the dual form
    y = rng.normal(size=20)
    r = ridge(x, y, 0.3)
    w, b = lstsq_ridge(x, y, 0.3)
    assert r.w.shape == (50,) and r.b.shape == ()
    np.testing.assert_allclose(r.w, w[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r.b, b[0], rtol=1e-9, atol=1e-12)


def test_ridge_float32_close_to_float64(data):
    x, y, _ = data
    r = ridge(x.astype(np.float32), y.astype(np.float32), 1.0)
    assert r.w.dtype == jnp.float32
    w, b = lstsq_ridge(x, y, 1.0)
    np.testing.assert_allclose(r.w, w, rtol=1e-3, atol=1e-4)


def test_ridge_jit_and_vmap(x64, data):
    x, y, _ = data
    xs = np.stack([x, 2 * x, x[::-1]])
    ys = np.stack([y, y, y[::-1]])
    batched = jax.jit(jax.vmap(lambda a, b: ridge(a, b, 0.5)))(xs, ys)
    for i in range(3):
        one = ridge(xs[i], ys[i], 0.5)
        np.testing.assert_allclose(batched.w[i], one.w, rtol=1e-10)
    # the penalty may be traced (and differentiated)
    grad = jax.grad(lambda lam: jnp.sum(ridge(x, y, lam).w ** 2))(1.0)
    assert np.isfinite(grad) and grad < 0


@pytest.mark.parametrize(
    "args,match",
    [
        ((np.ones((10, 2)), np.ones(10), -1.0), "penalty must be >= 0"),
        ((np.ones((10, 2)), np.ones(10), float("nan")), "penalty must be >= 0"),
        ((np.ones((10, 2)), np.ones(9), 1.0), "10 time steps but targets have 9"),
        ((np.ones((10, 2)), np.r_[np.ones(9), np.nan], 1.0), r"targets contain 1 NaN value\(s\) \(the first at index \(9,\)\)"),
        ((np.r_[np.ones((9, 2)), [[np.inf, 0]]], np.ones(10), 1.0), "states contain 1 infinite"),
        ((np.ones((0, 2)), np.ones(0), 1.0), "empty data"),
        ((np.ones((5, 0)), np.ones(5), 1.0), "empty data"),
        ((np.ones(10), np.ones(10), 1.0), r"states must have shape \(T, n_features\)"),
    ],
)
def test_ridge_errors(args, match):
    with pytest.raises(ValueError, match=match):
        ridge(*args)


# ----------------------------------------------------------------------------- splits and CV


def test_time_series_folds_never_train_on_or_after_validation():
    folds = time_series_folds(100, 4, gap=3)
    assert len(folds) == 4
    for tr, va in folds:
        assert tr.start == 0 and tr.stop + 3 == va.start and va.stop > va.start
    assert folds[-1][1].stop == 100
    with pytest.raises(ValueError, match="too few samples"):
        time_series_folds(10, 5, gap=1)
    with pytest.raises(ValueError, match="gap must be an integer >= 0"):
        time_series_folds(100, 3, gap=-1)


def test_train_test_split_in_time_order():
    x = np.arange(20)[:, None] * np.ones((1, 2))
    y = np.arange(20)
    (xtr, ytr), (xte, yte) = train_test_split(x, y, washout=2, n_train=10, n_test=5)
    np.testing.assert_array_equal(ytr, np.arange(2, 12))
    np.testing.assert_array_equal(yte, np.arange(12, 17))
    (_, ytr), (_, yte) = train_test_split(x, y, n_train=15)
    assert ytr.max() < yte.min() and yte.size == 5
    with pytest.raises(ValueError, match="exceeds the 20 time steps"):
        train_test_split(x, y, washout=5, n_train=10, n_test=10)
    with pytest.raises(ValueError, match="aligned"):
        train_test_split(x, y[:-1], n_train=5)


def test_cv_picks_a_sensible_penalty(x64):
    """Few noisy samples and many features: tiny penalties overfit and huge ones underfit; CV
    must choose an interior penalty whose error on fresh data is close to the best of the grid."""
    rng = np.random.default_rng(0)
    n, t = 60, 100
    w_true = rng.normal(size=n) / np.sqrt(n)
    x = rng.normal(size=(t, n))
    y = x @ w_true + 1.0 * rng.normal(size=t)
    x_new = rng.normal(size=(5000, n))
    y_new = x_new @ w_true
    grid = 10.0 ** np.arange(-4, 6)
    cv = ridge_cv(x, y, grid, n_folds=4)
    test_err = np.array([np.mean((predict(ridge(x, y, lam), x_new) - y_new) ** 2) for lam in grid])
    chosen = float(cv.penalty)
    assert grid[0] < chosen < grid[-1]
    assert test_err[list(grid).index(chosen)] <= 1.5 * test_err.min()
    assert test_err[list(grid).index(chosen)] < 0.25 * test_err[0]   # far better than (almost) no penalty
    np.testing.assert_allclose(cv.readout.w, ridge(x, y, chosen).w, rtol=1e-10)
    assert cv.scores.shape == grid.shape
    with pytest.raises(ValueError, match="penalties must be >= 0"):
        ridge_cv(x, y, [1.0, -1.0])


# ----------------------------------------------------------------------------- online rules


def test_rls_equals_ridge_after_every_sample(x64, data):
    """With P(0) = I / alpha and no forgetting, RLS is the exact ridge solution (penalty alpha,
    no intercept) of the samples seen so far."""
    x, y, _ = data
    alpha = 0.7
    r, errors = rls_fit(x, y, alpha=alpha)
    ref = ridge(x, y, alpha, intercept=False)
    np.testing.assert_allclose(r.w, ref.w, rtol=1e-8, atol=1e-10)
    assert errors.shape == y.shape
    state = rls_init(8, 3, alpha=alpha)
    for t in range(40):
        state, _ = rls_update(state, x[t], y[t])
    np.testing.assert_allclose(state.w, ridge(x[:40], y[:40], alpha, intercept=False).w, rtol=1e-8, atol=1e-10)


def test_rls_with_intercept_converges(x64, data):
    x, y, _ = data
    r, errors = rls_fit(x, y, alpha=1e-6, intercept=True)
    ref = ridge(x, y, 0.0)
    np.testing.assert_allclose(r.w, ref.w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r.b, ref.b, rtol=1e-4, atol=1e-5)
    assert np.mean(np.abs(errors[-50:])) < 0.2 < np.mean(np.abs(errors[:5]))


def test_lms_converges_on_linear_target(x64):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2000, 5))
    w_true = rng.normal(size=5)
    r, errors = lms_fit(x, x @ w_true, learning_rate=0.02, epochs=2)
    np.testing.assert_allclose(r.w, w_true, atol=1e-4)
    assert abs(float(errors[-1])) < 1e-4 < abs(float(errors[0]))
    rn, _ = lms_fit(x, x @ w_true + 2.0, learning_rate=0.5, normalized=True, intercept=True, epochs=2)
    np.testing.assert_allclose(rn.w, w_true, atol=1e-3)
    assert float(rn.b) == pytest.approx(2.0, abs=1e-3)


def test_online_errors():
    with pytest.raises(ValueError, match="alpha must be > 0"):
        rls_init(3, 1, alpha=0.0)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        lms_fit(np.ones((5, 2)), np.ones(5), learning_rate=-0.1)
    with pytest.raises(ValueError, match="5 time steps but targets have 4"):
        rls_fit(np.ones((5, 2)), np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        lms_fit(np.ones((5, 2)), np.array([1, 2, np.nan, 4, 5.0]), learning_rate=0.1)


# ----------------------------------------------------------------------------- classifiers


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0], [-3.0, -3.0, 0.0]])
    labels = rng.integers(0, 4, 400)
    x = centres[labels] + 0.5 * rng.normal(size=(400, 3))
    return x, labels


def test_ridge_classifier_separable(blobs):
    x, labels = blobs
    r = ridge_classifier(x[:300], labels[:300], 4, 1e-3)
    assert r.w.shape == (3, 4)
    assert float(accuracy(r, x[300:], labels[300:])) == 1.0
    assert classify(r, x[300:]).shape == (100,)


def test_softmax_classifier_separable(blobs):
    x, labels = blobs
    r = jax.jit(lambda a, b: softmax_classifier(a, b, 4, steps=300, learning_rate=0.1))(x[:300], labels[:300])
    assert float(accuracy(r, x[300:], labels[300:])) == 1.0
    probs = jax.nn.softmax(predict(r, x[300:]))
    assert float(jnp.mean(jnp.max(probs, axis=1))) > 0.9


def test_classifier_errors(blobs):
    x, labels = blobs
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        ridge_classifier(x, labels, 3)
    with pytest.raises(ValueError, match="labels must be integers"):
        softmax_classifier(x, labels.astype(float), 4)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        ridge_classifier(x, labels * 0, 1)
