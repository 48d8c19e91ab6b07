"""The E/I rate reservoir with local balance adaptation (neurosim.builders.ei_reservoir): the
step against its formula, the adaptation against a numpy loop, Dale's law and the balance of
the drawn weights, vmap over gains, gradients against finite differences, bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import neurosim as ns
from neurosim.builders import adapt_balance, ei_reservoir, ei_reservoir_step, run_ei_reservoir


def test_drawn_weights_follow_dale_and_balance():
    p = ei_reservoir(200, seed=3)
    w_e, w_i = np.asarray(p.w_e), np.asarray(p.w_i)
    assert np.all(w_e >= 0) and np.all(w_i >= 0)
    assert not w_e[:, 160:].any() and not w_i[:, :160].any()            # E columns, I columns
    assert not np.diag(w_e + w_i).any()
    assert np.mean((w_e + w_i) > 0) == pytest.approx(0.1 * 199 / 200, abs=0.01)
    # g = 1 balances the mean input: total inhibitory weight ~ total excitatory weight
    assert w_i.sum() / w_e.sum() == pytest.approx(1.0, rel=0.1)


def test_step_and_run_match_numpy(x64):
    p = ei_reservoir(50, seed=1, g=0.7)
    x = np.random.default_rng(0).random(50)
    want = 1 / (1 + np.exp(-(np.asarray(p.w_e) @ x - 0.7 * (np.asarray(p.w_i) @ x) + np.asarray(p.w_in) * 0.3 - 1.0)))
    np.testing.assert_allclose(ei_reservoir_step(p, jnp.asarray(x), 0.3), want, rtol=1e-12)
    u = np.random.default_rng(1).uniform(-1, 1, 30)
    states = np.asarray(run_ei_reservoir(p, u))
    x = np.zeros(50)
    for t in range(30):
        x = np.asarray(ei_reservoir_step(p, jnp.asarray(x), u[t]))
        np.testing.assert_allclose(states[t], x, rtol=1e-12)


def test_adaptation_matches_a_numpy_loop_and_reaches_the_targets(x64):
    p = ei_reservoir(200, seed=2, g=2.5)
    u = np.random.default_rng(4).uniform(-1, 1, 10000)
    rho = np.random.default_rng(5).uniform(0.1, 0.3, 200)
    adapted, _ = adapt_balance(p, u, rho, eta=0.02)
    short, _ = adapt_balance(p, u[:1500], rho, eta=0.02)
    we, wi, win = (np.asarray(a) for a in (p.w_e, p.w_i, p.w_in))
    x, g = np.zeros(200), np.full(200, 2.5)
    for t in range(1500):
        x = 1 / (1 + np.exp(-(we @ x - g * (wi @ x) + win * u[t] - 1.0)))
        g = np.maximum(0.0, g + 0.02 * (x - rho))
    np.testing.assert_allclose(np.asarray(short.g), g, rtol=1e-9, atol=1e-12)
    frozen = np.asarray(run_ei_reservoir(adapted, np.random.default_rng(6).uniform(-1, 1, 3000)))[200:].mean(0)
    assert np.mean(np.abs(frozen - rho) <= 0.03) >= 0.9


def test_vmap_over_gains_equals_a_loop():
    p = ei_reservoir(40, seed=0)
    u = np.random.default_rng(0).uniform(-1, 1, 50)
    gains = jnp.asarray([0.25, 1.0, 3.0])
    batched = jax.vmap(lambda g: run_ei_reservoir(p._replace(g=jnp.full(40, g)), u))(gains)
    for k, g in enumerate(gains):
        np.testing.assert_allclose(batched[k], run_ei_reservoir(p._replace(g=jnp.full(40, g)), u), rtol=1e-5,
                                   atol=1e-7)


def test_grads_against_finite_differences(x64):
    p = ei_reservoir(30, seed=0)
    u = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, 20))

    def loss(g, w_in):
        return jnp.sum(run_ei_reservoir(p._replace(g=g, w_in=w_in), u)[-5:] ** 2)

    check_grads(loss, (p.g * 1.3, p.w_in), order=1, modes=["rev"], eps=1e-6, rtol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="frac_exc must leave both E and I"):
        ei_reservoir(10, frac_exc=1.0)
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]"):
        ei_reservoir(10, p=0.0)
    with pytest.raises(ValueError, match="g must be finite and >= 0"):
        ei_reservoir(10, g=-1.0)
    p = ei_reservoir(10)
    with pytest.raises(ValueError, match=r"rho \(target rates\) must be in \(0, 1\)"):
        adapt_balance(p, np.zeros(5), 1.5)
    with pytest.raises(ValueError, match="eta must be > 0"):
        adapt_balance(p, np.zeros(5), 0.2, eta=0.0)
    with pytest.raises(ValueError, match=r"inputs must be a non-empty \(T,\) series"):
        run_ei_reservoir(p, np.zeros((5, 2)))
