"""The training loop: whole epochs compiled as one program, optax optimisers, exact resume.

    history = fit(model, x_train, y_train, loss=CrossEntropy("max"),
                  encode=lambda key, xb: bernoulli(key, xb, 25), epochs=30, batch_size=128,
                  optimizer=optax.adam(2e-3), validation=(x_test, y_test), key=0)

The dataset is staged on the device once; one epoch (shuffle, every batch's encoding,
forward pass, gradient and optimiser update) is a single ``jax.jit`` of a ``lax.scan`` over
batches, as Spyx does, so Python runs once per epoch. The last incomplete batch of an epoch is
dropped (a different one each epoch). Randomness comes only from ``key``: the shuffle and the
encoder's key of epoch ``e`` are ``fold_in(key, e)``, so a run resumed from a checkpoint after
epoch ``e`` continues bitwise as the uninterrupted run.

Checkpoints (``checkpoint=PATH``) are ``.npz`` files of arrays only (no pickle; they load
without running code): the trained variables, the optimiser state, the best variables so far,
the epoch and the history. ``resume=True`` continues from PATH when it exists, after checking
that it was written for a model with the same variables (names, shapes, dtypes).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from .. import _checks
from .._files import bad_file, read_npz, write_atomically
from .eprop import eprop_gradients
from .three_factor import three_factor_gradients
from .layers import Outputs
from .losses import CrossEntropy

__all__ = ["evaluate", "fit"]


def _key(key):
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key))
    try:
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            return key
    except AttributeError:
        pass
    raise ValueError(f"key must be an integer seed or a jax.random.key, got {key!r}")


def _check_data(x, labels, what):
    x = jnp.asarray(x)
    labels = jnp.asarray(labels)
    if x.ndim < 2:
        raise ValueError(f"{what}: x must have a leading sample axis, got shape {x.shape}")
    if labels.shape[:1] != x.shape[:1]:
        raise ValueError(f"{what}: x has {x.shape[0]} samples but the labels/targets have shape {labels.shape}")
    for name, a in (("x", x), ("labels", labels)):
        if jnp.issubdtype(a.dtype, jnp.inexact) and not bool(jnp.all(jnp.isfinite(a))):
            bad = int(jnp.sum(~jnp.isfinite(a)))
            raise ValueError(f"{what}: {name} holds {bad} NaN or infinite values (a NaN input current never reaches "
                             f"threshold, so it would pass silently as silence)")
    return x, labels


def _sequence(encode, key, xb):
    """The (T, B, n_in) input of a batch: ``encode(key, xb)``, or xb (B, T, n_in) itself; an
    integer or boolean raster (0/1 spikes) becomes floating point."""
    if encode is not None:
        seq = encode(key, xb)
    elif xb.ndim != 3:
        raise ValueError(f"without an encoder, x must be sequences of shape (N, T, n_in), got a batch of shape {xb.shape}")
    else:
        seq = jnp.swapaxes(xb, 0, 1)
    return seq if jnp.issubdtype(seq.dtype, jnp.inexact) else seq.astype(jnp.result_type(float))


def _check_labels(model, encode, x, labels, what) -> None:
    """Class labels (integers, one per sample) must name one of the model's outputs: -1 would
    train on the last class, a label past the end would give a NaN loss."""
    if labels.ndim != 1:
        return                                    # targets (RateMSE), not labels
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(f"{what}: labels must be integers (class indices), got dtype {labels.dtype}")
    graphdef, state = nnx.split(model)
    out = jax.eval_shape(lambda st, xb: nnx.merge(graphdef, st)(_sequence(encode, jax.random.key(0), xb)), state, x[:1])
    n_out = out.y.shape[-1]
    lo, hi = int(jnp.min(labels)), int(jnp.max(labels))
    if lo < 0 or hi >= n_out:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{what}: labels must lie in [0, {n_out}) (the model has {n_out} outputs), got {bad}")


def evaluate(model, x, labels, *, loss=None, encode=None, batch_size: int = 256, key=0):
    """``(mean loss, accuracy)`` of ``model`` on a dataset, in batches (the last one padded and
    masked). ``loss.predict`` gives the predicted labels."""
    loss = CrossEntropy() if loss is None else loss
    x, labels = _check_data(x, labels, "evaluate")
    _check_labels(model, encode, x, labels, "evaluate")
    graphdef, state = nnx.split(model)
    return _evaluator(graphdef, loss, encode, x.shape[0], batch_size)(state, x, labels, _key(key))


def _evaluator(graphdef, loss, encode, n: int, batch_size: int):
    """``(state, x, labels, key) -> (mean loss, accuracy)`` over ``n`` samples, compiled once."""
    batch_size = min(_checks.integer_at_least("batch_size", batch_size), n)
    nb = -(-n // batch_size)
    idx = jnp.concatenate([jnp.arange(n), jnp.zeros((nb * batch_size - n,), jnp.int32)]).reshape(nb, batch_size)
    mask = (jnp.arange(nb * batch_size) < n).reshape(nb, batch_size)

    @jax.jit
    def totals(state, x, labels, key):
        model = nnx.merge(graphdef, state)

        def body(acc, item):
            b, ib, mb = item
            out = model(_sequence(encode, jax.random.fold_in(key, b), x[ib]))
            lb = labels[ib]
            batch_loss = jnp.sum(jnp.where(mb, loss.per_sample(out, lb), 0.0))   # padding masked out
            hit = (loss.predict(out) == lb) if lb.ndim == 1 else jnp.zeros(mb.shape, bool)
            return (acc[0] + batch_loss, acc[1] + jnp.sum(hit & mb)), None

        items = (jnp.arange(nb), idx, mask)
        (total, correct), _ = jax.lax.scan(body, (jnp.zeros(()), jnp.zeros((), jnp.int32)), items)
        return total, correct

    def run(state, x, labels, key):
        total, correct = totals(state, x, labels, key)
        return float(total) / n, float(correct) / n

    return run


def fit(model, x, labels, *, loss=None, encode=None, optimizer=None, epochs: int = 10, batch_size: int = 128,
        key=0, validation=None, patience: int | None = None, checkpoint=None, resume: bool = False,
        trainable=nnx.Param, regulariser=None, gradient: str = "bptt", progress: bool = True) -> dict:
    """Train ``model`` (an nnx module mapping (T, B, n_in) to :class:`Outputs`) in place.

    Args:
        x, labels: the training set, (N, ...) and (N,) (or (N, C) targets for ``RateMSE``).
        loss: a loss of :mod:`neurosim.train.losses` (default ``CrossEntropy("max")``).
        encode: ``encode(key, xb) -> (T, B, n_in)``; None when x already holds (N, T, n_in).
        optimizer: an optax ``GradientTransformation`` (default ``optax.adam(2e-3)``).
        epochs, batch_size: as usual; ``key``: an integer seed or a ``jax.random.key``.
        validation: ``(x_val, labels_val)`` evaluated after each epoch.
        patience: stop after this many epochs without a better validation accuracy (needs
            ``validation``) and restore the best variables.
        checkpoint, resume: an .npz path written after every epoch; resume from it.
        trainable: the nnx filter of what the optimiser updates (default ``nnx.Param``; add
            :class:`~neurosim.train.layers.NeuronParams` to learn neuron parameters).
        regulariser: ``regulariser(outputs) -> scalar`` added to the loss.
        gradient: ``"bptt"`` (backpropagation through time: ``jax.grad`` of the whole run, with
            the network's ``remat_chunk`` bounding its memory) or ``"eprop"`` (online e-prop,
            :func:`~neurosim.train.eprop.eprop_gradients`: O(1) memory in time, a loss that is a
            sum over steps, weights and biases (``nnx.Param``) only, no regulariser) or ``"three_factor"``
            (the error-modulated local rule, :func:`~neurosim.train.three_factor.three_factor_gradients`,
            under the same conditions as e-prop).
        progress: print one line per epoch (loss, accuracies, seconds) on stderr.

    Returns the history: ``{"epoch", "loss", "train_acc", "val_loss", "val_acc", "time_s"}``
    lists (train_acc is measured on the training batches while they were trained on), plus
    ``"stopped_early"`` and ``"best_epoch"``.
    """
    loss = CrossEntropy() if loss is None else loss
    optimizer = optax.adam(2e-3) if optimizer is None else optimizer
    epochs, batch_size = _checks.integer_at_least("epochs", epochs), _checks.integer_at_least("batch_size", batch_size)
    x, labels = _check_data(x, labels, "fit")
    if batch_size > x.shape[0]:
        raise ValueError(f"batch_size = {batch_size} is larger than the {x.shape[0]} training samples")
    if patience is not None:
        patience = _checks.integer_at_least("patience", patience)
        if validation is None:
            raise ValueError("patience (early stopping) needs validation=(x_val, labels_val)")
    _check_labels(model, encode, x, labels, "fit")
    if validation is not None:
        validation = _check_data(*validation, "fit(validation=...)")
        _check_labels(model, encode, *validation, "fit(validation=...)")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=PATH")
    if checkpoint is not None and not Path(checkpoint).resolve().parent.is_dir():
        raise ValueError(f"checkpoint={str(checkpoint)!r}: the directory {str(Path(checkpoint).resolve().parent)!r} does "
                         f"not exist (found now, not after the first epoch); create it first")
    if gradient not in ("bptt", "eprop", "three_factor"):
        raise ValueError(f"gradient must be 'bptt', 'eprop' or 'three_factor', got {gradient!r}")
    if gradient != "bptt" and regulariser is not None:
        raise ValueError(f"gradient={gradient!r} takes no regulariser (its loss must be a sum over steps)")
    key = _key(key)

    graphdef, params, rest = nnx.split(model, trainable, ...)
    opt_state = optimizer.init(params)
    history = {"epoch": [], "loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "time_s": []}
    best = (-1.0, params, 0)
    start = 0
    if checkpoint is not None and resume and Path(checkpoint).exists():
        params, opt_state, best, history, start = _load(checkpoint, params, opt_state)
    epoch_fn = _epoch_fn(graphdef, loss, encode, optimizer, regulariser, batch_size, gradient, trainable)
    if validation is not None:
        validate = _evaluator(nnx.graphdef(model), loss, encode, validation[0].shape[0], max(batch_size, 256))
    n_batches = x.shape[0] // batch_size
    waited = 0 if not history["val_acc"] else len(history["val_acc"]) - 1 - int(np.argmax(history["val_acc"]))
    stopped = False
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        ek = jax.random.fold_in(key, epoch)
        new_params, new_opt_state, (lb, ab, ok) = epoch_fn(params, opt_state, rest, x, labels, ek)
        lb, ab, ok = np.asarray(lb), np.asarray(ab), np.asarray(ok)
        if not np.all(ok):
            bad = int(np.argmax(~ok))
            nnx.update(model, params)            # the variables before the failing epoch
            raise FloatingPointError(
                f"fit: a non-finite gradient or update (inf or NaN) in batch {bad} of epoch {epoch + 1}; the model holds "
                f"its variables from before that epoch. With recurrent layers this is usually BPTT exploding through "
                f"many steps: try smaller recurrent weights, a lower learning rate, a smaller surrogate scale, "
                f"optax.clip_by_global_norm or gradient='eprop'")
        if not np.all(np.isfinite(lb)):
            bad = int(np.argmax(~np.isfinite(lb)))
            nnx.update(model, params)
            raise FloatingPointError(f"fit: the loss became {lb[bad]} in batch {bad} of epoch {epoch + 1}; lower the "
                                     f"learning rate or check the inputs and initial weights")
        params, opt_state = new_params, new_opt_state
        history["epoch"].append(epoch + 1)
        history["loss"].append(float(lb.mean()))
        history["train_acc"].append(float(ab.mean()))
        nnx.update(model, params)
        if validation is not None:
            vl, va = validate(nnx.state(model), *validation, jax.random.fold_in(jax.random.fold_in(key, 2**31), epoch))
            history["val_loss"].append(vl)
            history["val_acc"].append(va)
            if va > best[0]:
                best, waited = (va, params, epoch + 1), 0
            else:
                waited += 1
        history["time_s"].append(time.perf_counter() - t0)
        if progress:
            val = f"  val loss {history['val_loss'][-1]:.4f}  val acc {100 * history['val_acc'][-1]:.1f} %" \
                if validation is not None else ""
            print(f"epoch {epoch + 1}/{epochs}  loss {history['loss'][-1]:.4f}  train acc "
                  f"{100 * history['train_acc'][-1]:.1f} %{val}  ({history['time_s'][-1]:.1f} s, {n_batches} batches)",
                  file=sys.stderr, flush=True)
        if checkpoint is not None:
            _save(checkpoint, params, opt_state, best, history, epoch + 1)
        if patience is not None and waited >= patience:
            stopped = True
            break
    if stopped:
        nnx.update(model, best[1])
    history["stopped_early"] = stopped
    history["best_epoch"] = best[2] if validation is not None else len(history["epoch"])
    return history


def _epoch_fn(graphdef, loss, encode, optimizer, regulariser, batch_size, gradient, trainable=nnx.Param):
    """One training epoch as one compiled program: ``(params, opt_state, rest, x, labels, key)
    -> (params, opt_state, (per-batch loss, accuracy, finite))``."""

    def objective(params, rest, xs, lb):
        out = nnx.merge(graphdef, params, rest)(xs)
        value = loss(out, lb)
        if regulariser is not None:
            value = value + regulariser(out)
        return value, out

    def value_and_grad(params, rest, xs, lb):
        if gradient == "bptt":
            return jax.value_and_grad(objective, has_aux=True)(params, rest, xs, lb)
        online = eprop_gradients if gradient == "eprop" else three_factor_gradients
        value, grads, y = online(nnx.merge(graphdef, params, rest), xs, lb, loss=loss, record_y=True, wrt=trainable)
        return (value, Outputs(y=y, counts=(), spikes=())), grads

    @jax.jit
    def epoch(params, opt_state, rest, x, labels, key):
        n_batches = x.shape[0] // batch_size
        k_perm, k_enc = jax.random.split(key)
        order = jax.random.permutation(k_perm, x.shape[0])[: n_batches * batch_size].reshape(n_batches, batch_size)

        def body(carry, item):
            params, opt_state = carry
            b, ib = item
            xs = _sequence(encode, jax.random.fold_in(k_enc, b), x[ib])
            (value, out), grads = value_and_grad(params, rest, xs, labels[ib])
            # A non-finite gradient (e.g. BPTT exploding through recurrent surrogate paths) would
            # make the weights NaN, and NaN membranes never spike: the loss could stay finite
            # while the network falls silent. Flag it, and skip the update, so fit can say so.
            updates, new_opt_state = optimizer.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves((grads, new_params))]))
            params, opt_state = jax.tree.map(lambda a, b: jnp.where(finite, a, b), (new_params, new_opt_state),
                                             (params, opt_state))
            acc = jnp.mean(loss.predict(out) == labels[ib]) if labels.ndim == 1 else jnp.zeros(())
            value = jnp.where(finite, value, jnp.nan)
            return (params, opt_state), (value, acc, finite)

        (params, opt_state), metrics = jax.lax.scan(body, (params, opt_state), (jnp.arange(n_batches), order))
        return params, opt_state, metrics

    return epoch


# checkpoints ---------------------------------------------------------------------------
def _leaves(tree):
    return jax.tree_util.tree_flatten_with_path(tree)


def _describe(tree):
    return [(jax.tree_util.keystr(p), tuple(np.shape(v)), str(np.asarray(v).dtype)) for p, v in _leaves(tree)[0]]


def _save(path, params, opt_state, best, history, epoch):
    arrays = {}
    for name, tree in (("params", params), ("opt", opt_state), ("best", best[1])):
        for k, leaf in enumerate(jax.tree.leaves(tree)):
            arrays[f"{name}/{k}"] = np.asarray(leaf)
    meta = {"epoch": epoch, "history": history, "best_acc": best[0], "best_epoch": best[2],
            "layout": {"params": _describe(params), "opt": _describe(opt_state)}}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    write_atomically(path, lambda f: np.savez(f, **arrays), "fit(checkpoint=...)")


_META = {"epoch": int, "history": dict, "best_acc": (int, float), "best_epoch": int, "layout": dict}
_HISTORY = ("epoch", "loss", "train_acc", "val_loss", "val_acc", "time_s")


def _load(path, params, opt_state):
    def bad(why):
        return bad_file("fit(resume=True)", path, "a neurosim.train checkpoint", why)

    arrays = read_npz(path, "fit(resume=True)", "a neurosim.train checkpoint")
    meta = arrays.pop("meta", None)
    if meta is None or meta.dtype != np.uint8:
        raise bad(f"no meta entry of JSON bytes; it holds {sorted(arrays)[:5]}")
    try:
        meta = json.loads(meta.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"its meta is not JSON: {e}") from None
    if not isinstance(meta, dict):
        raise bad(f"its meta is {type(meta).__name__}, where a JSON object is expected")
    for k, t in _META.items():
        if not isinstance(meta.get(k), t):
            found = f"{meta[k]!r}" if k in meta else "nothing"
            raise bad(f"its meta's {k!r} is {found}, where {' or '.join(x.__name__ for x in (t if isinstance(t, tuple) else (t,)))} "
                      "is expected")
    for k in _HISTORY:
        if not isinstance(meta["history"].get(k), list):
            raise bad(f"its history's {k!r} is {meta['history'].get(k, 'nothing')!r}, where a list is expected")
    layout = {"params": _describe(params), "opt": _describe(opt_state)}
    try:
        saved = {k: [tuple((a[0], tuple(a[1]), a[2])) for a in v] for k, v in meta["layout"].items()}
    except (TypeError, IndexError, KeyError) as e:
        raise bad(f"its layout is garbled: {e!r}") from None
    if saved != layout:
        raise ValueError(f"checkpoint {path} was written for another model or optimiser: its variables are "
                         f"{saved.get('params')}, this model's are {layout['params']}")

    def rebuild(name, tree):
        leaves, treedef = jax.tree.flatten(tree)
        for k, leaf in enumerate(leaves):
            a, want = arrays.get(f"{name}/{k}"), np.asarray(leaf)
            if a is None or a.shape != want.shape or a.dtype != want.dtype:
                raise bad(f"its {name}/{k} is {'missing' if a is None else f'{a.dtype}{list(a.shape)}'}; the layout "
                          f"needs {want.dtype}{list(want.shape)}")
        return jax.tree.unflatten(treedef, [jnp.asarray(arrays[f"{name}/{k}"]) for k in range(len(leaves))])

    best = (meta["best_acc"], rebuild("best", params), meta["best_epoch"])
    return rebuild("params", params), rebuild("opt", opt_state), best, meta["history"], meta["epoch"]
