"""neurosim.train.wkv: the stable WKV scan against its O(T^2) definition, large keys, gradients
(check_grads), vmap over a batch, the token-by-token step, bad shapes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from neurosim.train.wkv import wkv, wkv_init, wkv_reference, wkv_segment, wkv_step


def _inputs(key, t=9, c=5, batch=(), scale=1.0, dtype=jnp.float64):
    kw, ku, kk, kv = jax.random.split(jax.random.key(key), 4)
    w = jax.random.normal(kw, (c,), dtype)
    u = jax.random.normal(ku, (c,), dtype)
    k = scale * jax.random.normal(kk, batch + (t, c), dtype)
    v = jax.random.normal(kv, batch + (t, c), dtype)
    return w, u, k, v


def _softmax_definition(w, u, k, v):
    """The definition again, as softmax weights over the past and present tokens (stable for any
    keys), in numpy float64: y_t = sum_i p_ti v_i, p_t = softmax over i <= t of the exponents."""
    w, u, k, v = (np.asarray(a, np.float64) for a in (w, u, k, v))
    t_len = k.shape[0]
    y = np.empty_like(v)
    for t in range(t_len):
        expo = np.concatenate([-(t - 1 - np.arange(t))[:, None] * np.exp(w) + k[:t], (u + k[t])[None]])
        p = np.exp(expo - expo.max(0))
        y[t] = (p * v[: t + 1]).sum(0) / p.sum(0)
    return y


def test_equals_the_quadratic_definition_float64():
    with jax.enable_x64(True):
        for seed, t in ((0, 1), (1, 2), (2, 17), (3, 64)):
            w, u, k, v = _inputs(seed, t=t, c=6)
            np.testing.assert_allclose(wkv(w, u, k, v), wkv_reference(w, u, k, v), rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(wkv(w, u, k, v), _softmax_definition(w, u, k, v), rtol=1e-12, atol=1e-13)


def test_float32_close_to_float64():
    with jax.enable_x64(True):
        w, u, k, v = _inputs(4, t=128, c=8, scale=3.0)
        y64 = wkv(w, u, k, v)
    y32 = wkv(*(jnp.asarray(np.asarray(a), jnp.float32) for a in (w, u, k, v)))
    assert y32.dtype == jnp.float32
    np.testing.assert_allclose(y32, np.asarray(y64), rtol=2e-5, atol=2e-5)


def test_first_token_is_its_own_value_and_decay_convention():
    # one token: y_0 = v_0; two tokens: weights e^{k_0} (decayed 0 steps) and e^{u + k_1}
    with jax.enable_x64(True):
        w, u, k, v = _inputs(5, t=2, c=3)
        y = np.asarray(wkv(w, u, k, v))
        np.testing.assert_allclose(y[0], v[0], rtol=1e-14)
        a, b = np.exp(k[0]), np.exp(u + k[1])
        np.testing.assert_allclose(y[1], (a * v[0] + b * v[1]) / (a + b), rtol=1e-13)
        # three tokens: the oldest is decayed once, by exp(-exp(w))
        w, u, k, v = _inputs(6, t=3, c=3)
        y = np.asarray(wkv(w, u, k, v))
        p = np.stack([np.exp(k[0]) * np.exp(-np.exp(w)), np.exp(k[1]), np.exp(u + k[2])])
        np.testing.assert_allclose(y[2], (p * v).sum(0) / p.sum(0), rtol=1e-13)


@pytest.mark.parametrize("dtype,big", [(jnp.float32, 100.0), (jnp.float32, 1e4), (jnp.float64, 800.0)])
def test_stable_where_the_direct_form_overflows(dtype, big):
    with jax.enable_x64(dtype == jnp.float64):
        w, u, k, v = _inputs(7, t=33, c=4, dtype=dtype)
        k = k.at[::3].add(big)                          # some keys far past exp's range
        naive = np.asarray(wkv_reference(w, u, k, v))
        assert not np.all(np.isfinite(naive)), "the direct form was expected to overflow here"
        y = np.asarray(wkv(w, u, k, v))
        assert np.all(np.isfinite(y))
        # float32 keys near `big` are spaced eps * big apart, and so are the exponents the scan forms
        tol = 1e-12 if dtype == jnp.float64 else max(2e-5, 4 * float(jnp.finfo(dtype).eps) * big)
        np.testing.assert_allclose(y, _softmax_definition(w, u, k, v), rtol=tol, atol=tol * 10)
        # adding a constant to every key changes nothing (it scales numerator and denominator)
        np.testing.assert_allclose(np.asarray(wkv(w, u, k - big, v)), y, rtol=tol * 10, atol=tol * 10)


def test_gradient_is_finite_for_large_keys():
    w, u, k, v = _inputs(8, t=20, c=4, dtype=jnp.float32)
    k = k + 200.0
    g = jax.grad(lambda *a: jnp.sum(wkv(*a) ** 2), argnums=(0, 1, 2, 3))(w, u, k, v)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in g)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_check_grads_float64(mode):
    with jax.enable_x64(True):
        w, u, k, v = _inputs(9, t=6, c=3)
        check_grads(wkv, (w, u, k, v), order=1, modes=(mode,), eps=1e-6, atol=1e-6, rtol=1e-6)
        # the gradient equals the one of the quadratic definition, by autodiff of each
        f = lambda *a: jnp.sum(jnp.sin(wkv(*a)))            # noqa: E731
        g = lambda *a: jnp.sum(jnp.sin(wkv_reference(*a)))  # noqa: E731
        for a, b in zip(jax.grad(f, argnums=(0, 1, 2, 3))(w, u, k, v), jax.grad(g, argnums=(0, 1, 2, 3))(w, u, k, v)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_vmap_over_a_batch_equals_a_loop():
    w, u, k, v = _inputs(10, t=12, c=5, batch=(4,), dtype=jnp.float32)
    loop = np.stack([np.asarray(wkv(w, u, k[b], v[b])) for b in range(4)])
    np.testing.assert_allclose(np.asarray(jax.vmap(wkv, in_axes=(None, None, 0, 0))(w, u, k, v)), loop, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(wkv(w, u, k, v)), loop, rtol=1e-6, atol=1e-6)     # (B, T, C) directly
    np.testing.assert_allclose(np.asarray(wkv_reference(w, u, k, v)), loop, rtol=2e-5, atol=2e-5)


def test_step_by_step_equals_the_scan():
    w, u, k, v = _inputs(11, t=10, c=3, batch=(2,), dtype=jnp.float32)
    state, ys = wkv_init((2, 3)), []
    for t in range(10):
        state, y = wkv_step(state, w, u, k[:, t], v[:, t])
        ys.append(y)
    np.testing.assert_allclose(np.stack(ys, 1), np.asarray(wkv(w, u, k, v)), rtol=1e-6, atol=1e-6)


def test_bad_shapes():
    w, u, k, v = _inputs(12, t=4, c=3, dtype=jnp.float32)
    with pytest.raises(ValueError, match="same shape"):
        wkv(w, u, k, v[:3])
    with pytest.raises(ValueError, match=r"\(C,\) = \(3,\)"):
        wkv(w[:2], u, k, v)
    with pytest.raises(ValueError, match="same shape"):
        wkv(w, u, k[0], v[0])


def test_consecutive_segments_equal_the_whole_scan(x64):
    w, u, k, v = _inputs(13, t=11, c=4, batch=(2,))
    state, ys = wkv_init((2, 4), jnp.float64), []
    for a, b in ((0, 4), (4, 5), (5, 11)):
        state, y = wkv_segment(state, w, u, k[:, a:b], v[:, a:b])
        ys.append(np.asarray(y))
    np.testing.assert_allclose(np.concatenate(ys, 1), np.asarray(wkv(w, u, k, v)), rtol=1e-12, atol=1e-12)
    # the state after the segments is the state after the token-by-token steps
    s2 = wkv_init((2, 4), jnp.float64)
    for t in range(11):
        s2, _ = wkv_step(s2, w, u, k[:, t], v[:, t])
    for a, b in zip(state, s2):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="wkv_segment: the state's fields must have shape"):
        wkv_segment(wkv_init((3, 4), jnp.float64), w, u, k, v)
