"""Values that reach a simulation other than through a constructor (``simulate(params=...)``,
``ns.run``, a state edited by hand, a rule's own updates) meet the constructors' checks; and
the features those checks guard keep working (the bad inputs themselves are in
tests/bad_inputs.py)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim import train as T
from neurosim.astrocytes import Astrocyte, AstrocyteParams, derivatives
from neurosim.astrocytes.calcium import fastest_rate
from neurosim.inputs import ConstantCurrent, PoissonSource
from neurosim.neurons import LIF
from neurosim.synapses import Synapse


def _plastic(rule, output="conductance", weights=0.5, clip_initial=False):
    pops = [ns.Population("P", 20, PoissonSource(), PoissonSource.Params(50.0)), ns.Population("E", 10, LIF())]
    plasticity = ns.plasticity.Plasticity(rule, clip_initial=clip_initial)
    return ns.Network(pops, [ns.Projection("PE", "P", "E", ns.events.fixed_probability(20, 10, 0.5, seed=1), weights,
                                           synapse=Synapse("exponential", output), plasticity=plasticity)])


def test_a_sign_keeping_rule_on_conductances_runs_and_stays_non_negative():
    # normalize_incoming(+1) rescales positive weights by positive factors: nothing to refuse
    res = ns.simulate(_plastic(ns.plasticity.normalize_incoming(1.0)), 50.0, progress=False)
    w = np.asarray(res.state.weights["PE"])
    assert np.all(w >= 0)
    cols = np.asarray(_plastic(ns.plasticity.normalize_incoming(1.0)).projections[0].conn.indices)
    np.testing.assert_allclose(np.bincount(cols, weights=w)[np.bincount(cols) > 0], 1.0, rtol=1e-5)


def test_a_rule_driving_conductances_negative_stops_with_the_step_and_the_partial_result():
    with pytest.raises(ns.NonFiniteError, match=r"projection 'PE', variable weights fell below 0 in step 0 ") as err:
        ns.simulate(_plastic(ns.plasticity.normalize_incoming(-1.0)), 20.0, progress=False)
    assert err.value.partial is None         # the first chunk: nothing before it


def test_params_weights_are_clipped_when_the_rule_asks_for_it():
    additive = ns.plasticity.chain(ns.plasticity.stdp_pair(), ns.plasticity.clip_weights(0.0, 1.0))
    net = _plastic(additive, output="current", clip_initial=True)
    res = ns.simulate(net, 0.1, params=net.params().with_weights({"PE": 5.0}), progress=False)
    assert float(np.max(res.state.weights["PE"])) <= 1.0 + 1e-6      # clipped to w_max = 1, as at build time


def test_params_checks_pass_over_traced_values():
    net = _plastic(ns.plasticity.stdp_pair(), output="current")
    state = ns.init_state(net, net.params(), 0, 0.1)

    def final_weight(tau_plus):
        p = net.params()
        pp = p.projections["PE"]
        dyn = {"plasticity": pp.dynamics["plasticity"]._replace(tau_plus=tau_plus)}
        s, _ = ns.run(net, p._replace(projections={"PE": pp._replace(dynamics=dyn)}), state, 200, 0.1)
        return jnp.sum(s.weights["PE"])

    g = jax.grad(final_weight)(20.0)
    assert np.isfinite(float(g))


def test_run_jits_over_dt_and_gives_the_eager_result():
    net = ns.Network([ns.Population("E", 10, LIF())],
                     inputs=[ns.Input("d", "E", ConstantCurrent(), ConstantCurrent.Params(300.0))])
    p = net.params()
    s0 = ns.init_state(net, p, 0, 0.1)

    def v_end(dt):
        return ns.run(net, p, s0, 137, dt)[0].neurons["E"].v

    np.testing.assert_array_equal(np.asarray(jax.jit(v_end)(0.1)), np.asarray(v_end(0.1)))


def test_a_synapse_variable_is_traced_as_the_state_holds_it():
    net = ns.builders.coba(400)
    res = ns.simulate(net, 30.0, monitors=[ns.Trace("inh", "g", ids=[0, 5, 7], every=100)], engine="scan",
                      progress=False)
    t, g, ids = res.traces["inh.g"]
    np.testing.assert_array_equal(ids, [0, 5, 7])
    assert len(t) == 3 and np.all(np.diff(t) == 10.0)
    # the same samples from ns.run, which observes the state after each step: a sample at time
    # t is the state after step t / dt - 1 (the initial state at t = 0)
    params = net.params()
    state = ns.init_state(net, params, 0, 0.1)
    _, seen = jax.jit(lambda s: ns.run(net, params, s, 300, 0.1, observe=lambda st, _: st.synapses["inh"].g))(state)
    seen = np.concatenate([np.asarray(state.synapses["inh"].g)[None], np.asarray(seen)])
    expected = seen[np.round(t / 0.1).astype(int)][:, [0, 5, 7]]
    np.testing.assert_allclose(g, expected, rtol=1e-6)
    fused = ns.simulate(net, 30.0, monitors=[ns.Trace("inh", "g", ids=[0, 5, 7], every=100)], engine="fused",
                        progress=False)
    np.testing.assert_allclose(fused.traces["inh.g"][1], g, rtol=1e-5, atol=1e-6)


def test_a_binary_raster_trains_as_its_float_copy():
    rng = np.random.default_rng(0)
    raster = rng.integers(0, 2, (8, 6, 3))
    labels = rng.integers(0, 2, 8)

    def history(x):
        from flax import nnx
        net = T.SpikingNetwork(T.SpikingLayer(3, 4, rngs=nnx.Rngs(0)), T.LeakyReadout(4, 2, rngs=nnx.Rngs(1)), dt=1.0)
        return T.fit(net, x, labels, batch_size=4, epochs=2, progress=False)["loss"]

    expected = history(raster.astype(np.float32))
    assert history(raster) == expected
    assert history(raster.astype(bool)) == expected


def test_the_astrocyte_step_limit_comes_from_the_jacobian():
    p = AstrocyteParams()
    rate = fastest_rate(p)
    # an independent estimate: the Jacobian by central differences at the stiffest sampled state
    worst = 0.0
    for c in (0.05, 0.1, 0.3, 0.7, 1.0, 2.0):
        y = np.array([c, 0.9, float(p.ip3), 0.1])
        jac = np.zeros((4, 4))
        for k in range(4):
            h = np.zeros(4)
            h[k] = 1e-4 * max(1.0, abs(y[k]))
            f = [np.array([float(v) for v in derivatives(p, *map(jnp.float64 if jax.config.x64_enabled else jnp.float32,
                                                                   y + s * h), 1.0, 0.0, False)]) for s in (1, -1)]
            jac[:, k] = (f[0] - f[1]) / (2 * h[k])
        worst = max(worst, float(np.max(np.abs(np.linalg.eigvals(jac)))))
    assert rate == pytest.approx(worst, rel=0.05)
    assert 3.0 < rate < 6.0                                         # Li-Rinzel: a few per second
    net = ns.Network([ns.Population("A", 2, Astrocyte(integrator="rk4"))])
    ns.simulate(net, 2000.0, 500.0, progress=False)                 # RK4 at 500 ms: inside its limit
    with pytest.raises(ValueError, match=r"integrator='euler'"):
        ns.simulate(ns.Network([ns.Population("A", 2, Astrocyte())]), 2000.0, 500.0, progress=False)


def test_printing_a_network_shows_its_structure_not_its_arrays():
    net = ns.builders.brunel2000("A", scale=0.1)
    pr = net.projections[0]
    import dataclasses
    heavy = dataclasses.replace(pr, weights=np.full(pr.conn.nnz, 0.2))
    net = ns.Network(list(net.populations), [heavy, net.projections[1]], list(net.inputs), dt=net.dt)
    text = repr(net)
    assert len(text) < 1000
    assert "125,000 synapses" in text and "array(shape=(125000,), float64, 0.2..0.2)" in text
    assert len(repr(heavy)) < 600
