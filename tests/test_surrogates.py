"""The surrogate shapes of the spike function: forward values unchanged, each derivative equal
to its formula and to a central difference of its antiderivative, and the options checked."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim.neurons.spike import SURROGATES, spike, surrogate_derivative

# Antiderivatives F with F' = the surrogate (numerical check of each formula).
ANTIDERIVATIVES = {
    "fast_sigmoid": lambda x, k: k * x / (1 + k * np.abs(x)),
    "arctan": lambda x, k: np.arctan(np.pi * k * x) / np.pi,
    "sigmoid": lambda x, k: 1 / (1 + np.exp(-4 * k * x)),
    "triangle": lambda x, k: np.sign(x) * np.where(np.abs(x) < 1 / k, k * np.abs(x) - 0.5 * (k * x) ** 2, 0.5),
    "straight_through": lambda x, k: k * x,
    "heaviside": lambda x, k: 0 * x,
}


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_every_surrogate_has_height_scale_at_threshold_and_leaves_forward_alone(name):
    k = 3.0
    x = jnp.array([-2.0, -0.01, 0.0, 0.01, 1.5])
    out, tangent = jax.jvp(lambda x: spike(x, k, name), (x,), (jnp.ones_like(x),))
    np.testing.assert_array_equal(out, [0, 0, 1, 1, 1])
    at0 = float(surrogate_derivative(name, 0.0, k))
    assert at0 == pytest.approx(0.0 if name == "heaviside" else k, rel=1e-6)
    np.testing.assert_allclose(tangent, surrogate_derivative(name, x, k), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(ANTIDERIVATIVES))
def test_surrogate_is_the_derivative_of_its_antiderivative(name, x64):
    k, h = 2.0, 1e-6
    x = np.array([-3.0, -0.7, -0.31, -0.05, 0.05, 0.2, 0.45, 4.0])   # away from kinks (|x| = 1/k)
    numerical = (ANTIDERIVATIVES[name](x + h, k) - ANTIDERIVATIVES[name](x - h, k)) / (2 * h)
    np.testing.assert_allclose(surrogate_derivative(name, jnp.asarray(x), k), numerical, rtol=1e-6, atol=1e-9)


def test_boxcar_is_k_inside_half_width_and_zero_outside():
    g = np.asarray(surrogate_derivative("boxcar", jnp.array([-0.3, -0.2, 0.0, 0.24, 0.26]), 2.0))
    np.testing.assert_array_equal(g, [0.0, 2.0, 2.0, 2.0, 0.0])


@pytest.mark.parametrize("model", [ns.neurons.LIF, ns.neurons.AdaptiveLIF, ns.neurons.Izhikevich, ns.neurons.AdEx])
def test_models_refuse_an_unknown_surrogate_and_a_non_bool_detach(model):
    with pytest.raises(ValueError, match="surrogate must be one of .*'fast_sigmoid'.*got 'sigmoidal'"):
        model(surrogate="sigmoidal")
    with pytest.raises(ValueError, match="detach_reset must be True or False, got 1"):
        model(detach_reset=1)


def _count_grad(model, params, i0=300.0, n_steps=300, dt=0.1):
    def count(i):
        state = model.init(params, 4, jax.random.key(0))

        def body(s, _):
            s, z = model.step(params, s, i * jnp.ones(4), dt)
            return s, z
        return jax.lax.scan(body, state, None, length=n_steps)[1].sum()
    return jax.value_and_grad(count)(jnp.asarray(i0))


def test_surrogate_changes_gradient_not_spikes_and_heaviside_blocks_it():
    p = ns.neurons.LIFParams()
    c_fast, g_fast = _count_grad(ns.neurons.LIF(), p)
    c_box, g_box = _count_grad(ns.neurons.LIF(surrogate="boxcar"), p)
    c_zero, g_zero = _count_grad(ns.neurons.LIF(surrogate="heaviside"), p)
    assert float(c_fast) == float(c_box) == float(c_zero) > 0
    assert float(g_fast) > 0 and float(g_box) != float(g_fast)
    assert float(g_zero) == 0.0


def test_attached_reset_differs_from_detached_only_in_gradient():
    p = ns.neurons.LIFParams()
    c1, g1 = _count_grad(ns.neurons.LIF(detach_reset=True), p)
    c2, g2 = _count_grad(ns.neurons.LIF(detach_reset=False), p)
    assert float(c1) == float(c2) > 0
    assert float(g1) != float(g2)
