"""Linear readouts of reservoir states: closed-form ridge, online RLS/FORCE and LMS, classifiers.

Every readout maps a state matrix ``X`` of shape ``(T, n_features)`` (one row per time step) to
outputs ``Y_hat = X w + b``, with ``w`` of shape ``(n_features, n_outputs)`` and ``b`` of shape
``(n_outputs,)`` (a :class:`Readout`; for 1-D targets ``w`` is ``(n_features,)`` and ``b`` a
scalar). All functions are pure JAX: they ``jit`` and ``vmap`` (e.g. over 20 reservoirs' states).

Closed form (Tikhonov / ridge regression; Hoerl & Kennard 1970; for reservoirs Jaeger 2001 and
Lukosevicius 2012, "A practical guide to applying echo state networks", sec. 4):

    w = argmin ||Xc w - Yc||^2 + lambda ||w||^2 = (Xc^T Xc + lambda I)^-1 Xc^T Yc,
    b = mean(Y) - mean(X) w

where ``Xc``, ``Yc`` are the centred data: the intercept ``b`` is fitted but not penalised
(``intercept=False`` fits ``w`` on the raw data and sets ``b = 0``). The penalty is on the sum of
squares, not the mean: it scales with ``T``, as in the ESN literature. When there are more
features than samples the dual form ``w = Xc^T (Xc Xc^T + lambda I)^-1 Yc`` is used (same answer).

Online (one sample at a time, ``(init, update)`` pairs of pure functions with a ``NamedTuple``
state, and ``*_fit`` drivers that ``lax.scan`` them over a series):

* recursive least squares (Haykin, *Adaptive Filter Theory*, ch. 10), the rule of FORCE learning
  (Sussillo & Abbott 2009, Neuron 63:544): with ``P(0) = I / alpha`` and no forgetting, after
  ``t`` samples ``w(t)`` is exactly the ridge solution (penalty ``alpha``, no intercept) of those
  samples;
* least mean squares (Widrow & Hoff 1960): ``w <- w - eta e x`` with the a-priori error
  ``e = x.w - y`` (normalised LMS divides ``eta`` by ``|x|^2``).

Classifiers: one-vs-rest ridge (targets +1 for the class, -1 otherwise) and multinomial logistic
(softmax) regression trained full-batch with an optax optimiser; the label is the argmax.

Time-series splits never shuffle and never train on data after the part they test:
:func:`train_test_split` cuts (washout | train | test) in time order, :func:`time_series_folds`
gives forward-chaining folds (train on everything before a validation block, minus a ``gap``).

Input checks raise ``ValueError`` for: negative or non-finite penalties, states and targets of
different lengths, NaN or infinite values, empty data, labels out of range. Shape checks always
run; value checks (NaN, signs) run when the arrays are concrete, i.e. not under ``jit``/``vmap``
tracing (there a NaN propagates to the result instead).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks

if TYPE_CHECKING:     # optax is imported where it is used (softmax_classifier)
    import optax

__all__ = [
    "Readout", "predict", "ridge", "ridge_cv", "RidgeCV", "train_test_split", "time_series_folds",
    "RLSState", "rls_init", "rls_update", "rls_fit", "force_update",
    "LMSState", "lms_init", "lms_update", "lms_fit",
    "ridge_classifier", "softmax_classifier", "classify", "accuracy",
]


class Readout(NamedTuple):
    """A trained linear readout ``y = x w + b``."""

    w: jax.Array  # (n_features, n_outputs), or (n_features,) for 1-D targets
    b: jax.Array  # (n_outputs,), or () for 1-D targets


def predict(readout: Readout, states) -> jax.Array:
    """Outputs ``states @ w + b``: ``(T, n_outputs)`` (or ``(T,)``) for states ``(T, n_features)``;
    a single state ``(n_features,)`` gives one output row."""
    states = jnp.asarray(states)
    n = jnp.shape(readout.w)[0]
    if states.ndim == 0 or states.shape[-1] != n:
        raise ValueError(f"predict: states must have {n} features on their last axis ((T, {n}) or ({n},)) for this "
                         f"readout, got shape {states.shape}")
    y = states @ readout.w
    return y + jnp.broadcast_to(readout.b, y.shape)


# ----------------------------------------------------------------------------- argument checks


def _concrete(*xs) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def _check_finite(name, x):
    if not _concrete(x):
        return
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.inexact):
        return
    bad = ~np.isfinite(a)
    if bad.any():
        first = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(a).any() else "infinite"
        raise ValueError(
            f"{name} contain {int(bad.sum())} {kind} value(s) (the first at index {tuple(int(i) for i in first)}); "
            f"remove or impute them before training"
        )


def _check_xy(states, targets, what: str):
    """(T, n) states and (T,) or (T, k) targets -> 2-D float arrays and whether to squeeze."""
    x = jnp.asarray(states)
    y = jnp.asarray(targets)
    if x.ndim != 2:
        raise ValueError(f"{what}: states must have shape (T, n_features), got shape {x.shape}")
    if y.ndim not in (1, 2):
        raise ValueError(f"{what}: targets must have shape (T,) or (T, n_outputs), got shape {y.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0 or (y.ndim == 2 and y.shape[1] == 0):
        raise ValueError(f"{what}: empty data (states {x.shape}, targets {y.shape}); need at least one sample and one feature")
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{what}: states have {x.shape[0]} time steps but targets have {y.shape[0]}; "
            f"they must be aligned row by row (same length)"
        )
    _check_finite("states", x)
    _check_finite("targets", y)
    dtype = jnp.result_type(x.dtype, y.dtype, float)
    squeeze = y.ndim == 1
    return x.astype(dtype), (y[:, None] if squeeze else y).astype(dtype), squeeze


def _check_penalty(penalty, name="penalty"):
    p = jnp.asarray(penalty)
    if not jnp.issubdtype(p.dtype, jnp.number) or jnp.issubdtype(p.dtype, jnp.complexfloating):
        raise ValueError(f"{name} must be a real number, got {penalty!r}")
    if _concrete(p):
        a = np.asarray(p, float)
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"{name} must be >= 0 and finite (ridge penalty lambda), got {penalty!r}")
    return p


def _out(w, b, squeeze):
    return Readout(w[:, 0], b[0]) if squeeze else Readout(w, b)


# ----------------------------------------------------------------------------- ridge regression


def _center(x, y, intercept):
    if intercept:
        mx, my = x.mean(0, keepdims=True), y.mean(0, keepdims=True)
        return x - mx, y - my, mx, my
    return x, y, jnp.zeros((1, x.shape[1]), x.dtype), jnp.zeros((1, y.shape[1]), y.dtype)


def _ridge_solve(x, y, penalty, intercept):
    xc, yc, mx, my = _center(x, y, intercept)
    t, n = x.shape
    lam = jnp.asarray(penalty, x.dtype)
    if n <= t:   # primal: n x n system
        w = jnp.linalg.solve(xc.T @ xc + lam * jnp.eye(n, dtype=x.dtype), xc.T @ yc)
    else:        # dual: T x T system, same solution
        w = xc.T @ jnp.linalg.solve(xc @ xc.T + lam * jnp.eye(t, dtype=x.dtype), yc)
    return w, (my - mx @ w)[0]


_ridge_jit = jax.jit(_ridge_solve, static_argnums=(3,))


def ridge(states, targets, penalty=1e-8, *, intercept: bool = True) -> Readout:
    """Closed-form ridge regression of ``targets`` on ``states`` (equations in the module
    docstring). ``penalty`` (lambda >= 0) may be a traced value; 0 is ordinary least squares."""
    x, y, squeeze = _check_xy(states, targets, "ridge")
    penalty = _check_penalty(penalty)
    if penalty.ndim != 0:
        raise ValueError(f"ridge: penalty must be a scalar, got shape {penalty.shape}; use ridge_cv to choose among several")
    w, b = _ridge_jit(x, y, penalty, bool(intercept))
    return _out(w, b, squeeze)


def time_series_folds(n_samples: int, n_folds: int = 5, *, gap: int = 0) -> list[tuple[slice, slice]]:
    """Forward-chaining folds for time series: the samples are cut into ``n_folds + 1`` contiguous
    blocks and fold ``f`` trains on everything before block ``f + 1`` except the last ``gap``
    samples (which are autocorrelated with the validation block) and validates on block ``f + 1``.
    Training data never come from, or after, the validation block. Returns ``[(train, val)]``
    slices."""
    n_samples = _checks.integer_at_least("n_samples", n_samples)
    n_folds = _checks.integer_at_least("n_folds", n_folds)
    if isinstance(gap, bool) or not isinstance(gap, (int, np.integer)) or gap < 0:
        raise ValueError(f"gap must be an integer >= 0, got {gap!r}")
    edges = np.linspace(0, n_samples, n_folds + 2).astype(int)
    if edges[1] - gap < 2 or np.any(np.diff(edges) < 1):
        raise ValueError(
            f"too few samples ({n_samples}) for {n_folds} forward-chaining folds with gap {gap}: the first "
            f"training block would hold {edges[1] - gap} sample(s); use fewer folds, a smaller gap or more data"
        )
    return [(slice(0, int(edges[f + 1]) - gap), slice(int(edges[f + 1]), int(edges[f + 2]))) for f in range(n_folds)]


class RidgeCV(NamedTuple):
    """What :func:`ridge_cv` returns: ``readout`` (refitted on all the data with the chosen penalty);
    ``penalty`` (() the chosen lambda); ``scores`` ((n_penalties,) validation MSE per penalty,
    averaged over folds and outputs); ``penalties`` ((n_penalties,) the grid)."""

    readout: Readout       # refitted on all the data with the chosen penalty
    penalty: jax.Array     # () the chosen lambda
    scores: jax.Array      # (n_penalties,) validation MSE per penalty, averaged over folds and outputs
    penalties: jax.Array   # (n_penalties,) the grid


def _cv_scores(x, y, penalties, folds, intercept):
    total = jnp.zeros(penalties.shape, x.dtype)
    for t0, t1, v0, v1 in folds:
        tr, va = slice(t0, t1), slice(v0, v1)
        xc, yc, mx, my = _center(x[tr], y[tr], intercept)
        evals, evecs = jnp.linalg.eigh(xc.T @ xc)
        evals = jnp.clip(evals, 0.0)
        proj = evecs.T @ (xc.T @ yc)                                # (n, k)
        xv = (x[va] - mx) @ evecs                                   # (Tv, n)
        # w(lambda) = V diag(1 / (e + lambda)) V^T Xc^T Yc, for every lambda at once
        scale = 1.0 / (evals[None, :] + penalties[:, None])         # (L, n)
        pred = jnp.einsum("tn,ln,nk->ltk", xv, scale, proj) + my[None]    # (L, Tv, k)
        total = total + jnp.mean((pred - y[va][None]) ** 2, axis=(1, 2))
    return total / len(folds)


def _ridge_cv(x, y, penalties, folds, intercept):
    scores = _cv_scores(x, y, penalties, folds, intercept)
    best = penalties[jnp.argmin(scores)]
    w, b = _ridge_solve(x, y, best, intercept)
    return w, b, best, scores


_ridge_cv_jit = jax.jit(_ridge_cv, static_argnums=(3, 4))


def ridge_cv(states, targets, penalties=None, *, n_folds: int = 5, gap: int = 0, intercept: bool = True) -> RidgeCV:
    """Ridge regression with the penalty chosen by forward-chaining cross-validation
    (:func:`time_series_folds`): the penalty of the grid with the lowest mean validation squared
    error wins, and the readout is refitted on all the data with it. ``penalties`` defaults to
    ``10**-8 ... 10**3``. One eigendecomposition per fold serves every penalty of the grid."""
    x, y, squeeze = _check_xy(states, targets, "ridge_cv")
    if penalties is None:
        penalties = 10.0 ** np.arange(-8, 4)
    penalties = _check_penalty(penalties, "penalties")
    if penalties.ndim != 1 or penalties.shape[0] == 0:
        raise ValueError(f"ridge_cv: penalties must be a non-empty 1-D grid, got shape {penalties.shape}")
    # folds as hashable (train_start, train_stop, val_start, val_stop) tuples: a static jit argument
    folds = tuple((tr.start, tr.stop, va.start, va.stop) for tr, va in time_series_folds(x.shape[0], n_folds, gap=gap))
    w, b, best, scores = _ridge_cv_jit(x, y, penalties.astype(x.dtype), folds, bool(intercept))
    return RidgeCV(_out(w, b, squeeze), best, scores, penalties.astype(x.dtype))


def train_test_split(states, targets, *, n_train: int, n_test: int | None = None, washout: int = 0):
    """Cut aligned ``(states, targets)`` in time order into ``(washout | train | test)``:
    returns ``((x_train, y_train), (x_test, y_test))``. Nothing is shuffled; the test part comes
    strictly after the training part, so no test sample (nor anything after it) is trained on.
    ``n_test=None`` takes every sample after the training part."""
    x = jnp.asarray(states)
    y = jnp.asarray(targets)
    if x.shape[:1] != y.shape[:1]:
        raise ValueError(f"train_test_split: states have {x.shape[:1]} time steps but targets have {y.shape[:1]}; they must be aligned")
    t = x.shape[0]
    washout = _checks.integer_at_least("washout", washout, minimum=0)
    n_train = _checks.integer_at_least("n_train", n_train)
    rest = t - washout - n_train
    n_test = rest if n_test is None else _checks.integer_at_least("n_test", n_test)
    if n_test < 1 or washout + n_train + n_test > t:
        raise ValueError(
            f"train_test_split: washout {washout} + n_train {n_train} + n_test {n_test} = "
            f"{washout + n_train + n_test} exceeds the {t} time steps available"
        )
    tr = slice(washout, washout + n_train)
    te = slice(washout + n_train, washout + n_train + n_test)
    return (x[tr], y[tr]), (x[te], y[te])


# ----------------------------------------------------------------------------- RLS / FORCE


class RLSState(NamedTuple):
    """The state of RLS (a pytree): ``w`` ((n_features, n_outputs) readout weights); ``p``
    ((n_features, n_features) running inverse of (X^T X + alpha I))."""

    w: jax.Array  # (n_features, n_outputs) readout weights
    p: jax.Array  # (n_features, n_features) running inverse of (X^T X + alpha I)


def rls_init(n_features: int, n_outputs: int = 1, *, alpha: float = 1.0, dtype=None) -> RLSState:
    """``w = 0``, ``P = I / alpha``; ``alpha`` > 0 is the ridge penalty the rule converges to
    (Sussillo & Abbott's regulariser)."""
    n_features = _checks.integer_at_least("n_features", n_features)
    n_outputs = _checks.integer_at_least("n_outputs", n_outputs)
    if _concrete(alpha) and not (np.isfinite(float(alpha)) and float(alpha) > 0):
        raise ValueError(f"alpha must be > 0 and finite (P(0) = I / alpha), got {alpha!r}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    return RLSState(jnp.zeros((n_features, n_outputs), dtype), jnp.eye(n_features, dtype=dtype) / jnp.asarray(alpha, dtype))


def rls_update(state: RLSState, x, target, *, forgetting: float = 1.0):
    """One RLS step on the sample ``(x (n_features,), target (n_outputs,))``; returns
    ``(state, error)`` with the a-priori error ``e = x.w - target``:

        k = P x / (forgetting + x^T P x);   w <- w - k e^T;   P <- (P - k x^T P) / forgetting
    """
    _check_forgetting(forgetting)
    w, p = state
    x, target = _sample("rls_update", w, x, target)
    px = p @ x
    k = px / (forgetting + x @ px)
    e = x @ w - target
    w = w - jnp.outer(k, e)
    p = (p - jnp.outer(k, px)) / forgetting
    p = 0.5 * (p + p.T)   # keep P symmetric against rounding
    return RLSState(w, p), e


force_update = rls_update  # FORCE learning (Sussillo & Abbott 2009) is this rule applied online


def _sample(who, w, x, target):
    """One online sample as ``(x (n_features,), target (n_outputs,))`` for weights ``w``."""
    x, target = jnp.asarray(x, w.dtype), jnp.asarray(target, w.dtype)
    if x.shape != (w.shape[0],):
        raise ValueError(f"{who}: x must have shape ({w.shape[0]},) (the state's n_features), got shape {x.shape}")
    if target.size != w.shape[1]:
        raise ValueError(f"{who}: target must hold {w.shape[1]} value(s) (the state's n_outputs), got shape {target.shape}")
    return x, jnp.reshape(target, (w.shape[1],))


def _with_bias(x, intercept):
    return jnp.concatenate([x, jnp.ones((x.shape[0], 1), x.dtype)], axis=1) if intercept else x


def _split_bias(w, intercept, squeeze):
    if intercept:
        return _out(w[:-1], w[-1], squeeze)
    return _out(w, jnp.zeros(w.shape[1], w.dtype), squeeze)


def _check_forgetting(forgetting):
    if _concrete(forgetting) and not (np.isfinite(float(forgetting)) and 0.0 < float(forgetting) <= 1.0):
        raise ValueError(f"forgetting must be in (0, 1] (1: no forgetting; P is divided by it every step), got "
                         f"{forgetting!r}")


def rls_fit(states, targets, *, alpha: float = 1.0, forgetting: float = 1.0, intercept: bool = False):
    """Run :func:`rls_update` over the series; returns ``(readout, errors (T, n_outputs))``.
    With ``intercept`` a constant 1 is appended to the states, and its weight (the bias) is
    penalised like the others."""
    x, y, squeeze = _check_xy(states, targets, "rls_fit")
    _check_forgetting(forgetting)
    x = _with_bias(x, intercept)
    state = rls_init(x.shape[1], y.shape[1], alpha=alpha, dtype=x.dtype)

    def body(s, xy):
        return rls_update(s, xy[0], xy[1], forgetting=forgetting)

    final, errors = jax.lax.scan(body, state, (x, y))
    return _split_bias(final.w, intercept, squeeze), (errors[:, 0] if squeeze else errors)


# ----------------------------------------------------------------------------- LMS


class LMSState(NamedTuple):
    """The state of LMS (a pytree): ``w`` ((n_features, n_outputs))."""

    w: jax.Array  # (n_features, n_outputs)


def lms_init(n_features: int, n_outputs: int = 1, *, dtype=None) -> LMSState:
    """The zero state of an LMS readout of ``n_features`` features and ``n_outputs`` outputs
    (weights and bias zero), for :func:`lms_update`."""
    n_features = _checks.integer_at_least("n_features", n_features)
    n_outputs = _checks.integer_at_least("n_outputs", n_outputs)
    dtype = jnp.result_type(float) if dtype is None else dtype
    return LMSState(jnp.zeros((n_features, n_outputs), dtype))


def lms_update(state: LMSState, x, target, *, learning_rate: float, normalized: bool = False):
    """One LMS (Widrow-Hoff) step: ``e = x.w - target``, ``w <- w - eta x e^T`` with
    ``eta = learning_rate`` (``/ (1e-12 + |x|^2)`` when ``normalized``). Returns ``(state, e)``."""
    (w,) = state
    x, target = _sample("lms_update", w, x, target)
    e = x @ w - target
    eta = learning_rate / (1e-12 + x @ x) if normalized else learning_rate
    return LMSState(w - eta * jnp.outer(x, e)), e


def lms_fit(states, targets, *, learning_rate: float, normalized: bool = False, epochs: int = 1, intercept: bool = False):
    """Run :func:`lms_update` over the series ``epochs`` times (in time order); returns
    ``(readout, errors (epochs * T, n_outputs))``."""
    x, y, squeeze = _check_xy(states, targets, "lms_fit")
    epochs = _checks.integer_at_least("epochs", epochs)
    if _concrete(learning_rate) and not (np.isfinite(float(learning_rate)) and float(learning_rate) > 0):
        raise ValueError(f"learning_rate must be > 0 and finite, got {learning_rate!r}")
    x = _with_bias(x, intercept)
    xs = jnp.tile(x, (epochs, 1))
    ys = jnp.tile(y, (epochs, 1))

    def body(s, xy):
        return lms_update(s, xy[0], xy[1], learning_rate=learning_rate, normalized=normalized)

    final, errors = jax.lax.scan(body, lms_init(x.shape[1], y.shape[1], dtype=x.dtype), (xs, ys))
    if _concrete(final.w) and not bool(jnp.all(jnp.isfinite(final.w))):
        raise ValueError(f"lms_fit diverged (the weights are not finite): learning_rate = {learning_rate!r} is too large "
                         "for these states (plain LMS needs it below 2 / the largest eigenvalue of their second moment); "
                         "lower it or use normalized=True with learning_rate < 2")
    return _split_bias(final.w, intercept, squeeze), (errors[:, 0] if squeeze else errors)


# ----------------------------------------------------------------------------- classifiers


def _check_labels(states, labels, n_classes, what):
    n_classes = _checks.integer_at_least("n_classes", n_classes, minimum=2)
    labels = jnp.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{what}: labels must have shape (T,), got {labels.shape}")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"{what}: labels must be integers in [0, {n_classes}), got dtype {labels.dtype}")
    if _concrete(labels) and labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"{what}: labels must lie in [0, {n_classes}), got values from {lo} to {hi}")
    x, _, _ = _check_xy(states, labels.astype(jnp.result_type(float)), what)
    return x, labels, n_classes


def ridge_classifier(states, labels, n_classes: int, penalty=1e-6, *, intercept: bool = True) -> Readout:
    """One-vs-rest ridge classifier: ridge regression onto targets +1 (the sample's class) and
    -1 (every other class), one output per class; :func:`classify` takes the argmax."""
    x, labels, n_classes = _check_labels(states, labels, n_classes, "ridge_classifier")
    y = 2.0 * jax.nn.one_hot(labels, n_classes, dtype=x.dtype) - 1.0
    return ridge(x, y, penalty, intercept=intercept)


def softmax_classifier(states, labels, n_classes: int, *, steps: int = 500, learning_rate: float = 0.05,
                       weight_decay: float = 0.0, optimizer: optax.GradientTransformation | None = None) -> Readout:
    """Multinomial logistic regression ``p(c | x) = softmax(x w + b)_c`` trained full-batch by
    ``steps`` steps of ``optimizer`` (default ``optax.adam(learning_rate)``) on the mean
    cross-entropy plus ``weight_decay / 2 * |w|^2``, from ``w = b = 0``, in one ``lax.scan``."""
    x, labels, n_classes = _check_labels(states, labels, n_classes, "softmax_classifier")
    steps = _checks.integer_at_least("steps", steps)
    import optax   # here, not at the top: analysis.reservoir imports this module for its ridge solver

    opt = optax.adam(learning_rate) if optimizer is None else optimizer
    params = Readout(jnp.zeros((x.shape[1], n_classes), x.dtype), jnp.zeros((n_classes,), x.dtype))

    def loss(p):
        logits = x @ p.w + p.b[None]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return ce + 0.5 * weight_decay * jnp.sum(p.w**2)

    def body(carry, _):
        p, s = carry
        g = jax.grad(loss)(p)
        updates, s = opt.update(g, s, p)
        return (optax.apply_updates(p, updates), s), None

    (params, _), _ = jax.lax.scan(body, (params, opt.init(params)), None, length=steps)
    return params


def classify(readout: Readout, states) -> jax.Array:
    """Predicted labels: the argmax over outputs, shape ``(T,)``."""
    return jnp.argmax(predict(readout, states), axis=-1)


def accuracy(readout: Readout, states, labels) -> jax.Array:
    """Fraction of samples whose predicted label equals ``labels``."""
    return jnp.mean(classify(readout, states) == jnp.asarray(labels))
