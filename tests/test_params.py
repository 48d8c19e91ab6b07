"""NetParams / ProjectionParams: the typed params pytree and its weights collection."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import neurosim as ns
from neurosim.inputs import ConstantCurrent
from neurosim.neurons import LIF
from neurosim.plasticity import stdp_pair
from neurosim.synapses.short_term import TsodyksMarkram

DT = 0.1


def three_projection_net():
    pop = ns.Population("E", 6, LIF())
    conn = ns.events.fixed_probability(6, 6, 0.5, seed=1)
    return ns.Network(
        [pop],
        [ns.Projection("static", "E", "E", conn, 0.5),
         ns.Projection("stp", "E", "E", conn, 0.5, stp=TsodyksMarkram()),
         ns.Projection("plastic", "E", "E", conn, np.full(conn.nnz, 0.5, np.float32), plasticity=stdp_pair(w_max=1.0))],
        [ns.Input("bg", "E", ConstantCurrent(), ConstantCurrent.Params(300.0))],
    )


def test_params_are_typed_groups_of_named_entries():
    net = three_projection_net()
    p = net.params()
    assert isinstance(p, ns.NetParams)
    assert sorted(p.projections) == ["plastic", "static", "stp"]
    assert isinstance(p.projections["stp"], ns.network.ProjectionParams)
    assert sorted(p.projections["stp"].dynamics) == ["stp"]
    assert sorted(p.projections["plastic"].dynamics) == ["plasticity"]
    assert p.projections["static"].dynamics == {}
    np.testing.assert_array_equal(p.weights()["plastic"], np.full(net.projections[2].conn.nnz, 0.5))
    assert float(p.weights()["static"]) == 0.5


def test_weights_mask_is_true_exactly_at_the_weights():
    p = three_projection_net().params()
    mask = ns.weights_mask(p)
    flat, _ = jax.tree_util.tree_flatten_with_path(mask)
    selected = sorted(jax.tree_util.keystr(path) for path, m in flat if m)
    assert selected == [".projections['plastic'].weights", ".projections['static'].weights",
                        ".projections['stp'].weights"]
    only = ns.weights_mask(p, projections="stp")
    assert [jax.tree_util.keystr(path) for path, m in jax.tree_util.tree_flatten_with_path(only)[0] if m] == [
        ".projections['stp'].weights"]
    with pytest.raises(ValueError, match=r"weights_mask: no projection named \['nope'\]"):
        ns.weights_mask(p, projections=["nope"])


def test_multi_transform_from_the_mask_moves_only_the_weights():
    net = three_projection_net()
    p = net.params()
    labels = jax.tree.map(lambda m: "w" if m else "fixed", ns.weights_mask(p))
    opt = optax.multi_transform({"w": optax.sgd(0.1), "fixed": optax.set_to_zero()}, labels)
    grads = jax.tree.map(jnp.ones_like, p)            # a gradient of one at every leaf
    updates, _ = opt.update(grads, opt.init(p), p)
    new = optax.apply_updates(p, updates)
    for name in p.projections:
        np.testing.assert_allclose(new.projections[name].weights, p.projections[name].weights - 0.1)
    for a, b in zip(jax.tree.leaves(new._replace(projections={})), jax.tree.leaves(p._replace(projections={}))):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(new.projections["stp"].dynamics["stp"], p.projections["stp"].dynamics["stp"])


def test_with_weights_changes_the_run_as_a_rebuilt_network_does():
    net = three_projection_net()
    heavier = net.params().with_weights({"static": jnp.float32(2.0)})
    assert float(heavier.projections["static"].weights) == 2.0
    pops = net.populations
    rebuilt = ns.Network(pops, [ns.Projection("static", "E", "E", net.projections[0].conn, 2.0)] + list(net.projections[1:]),
                         net.inputs)
    a = ns.simulate(net, 50.0, DT, key=3, params=heavier, monitors=[ns.Spikes("E")])
    b = ns.simulate(rebuilt, 50.0, DT, key=3, monitors=[ns.Spikes("E")])
    assert a.spikes["E"][0].size > 0
    np.testing.assert_array_equal(a.spikes["E"][0], b.spikes["E"][0])
    np.testing.assert_array_equal(a.spikes["E"][1], b.spikes["E"][1])
    with pytest.raises(ValueError, match=r"with_weights: no projection named \['EE'\]"):
        net.params().with_weights({"EE": 1.0})


def test_grad_has_the_params_type():
    net = three_projection_net()
    p = net.params()
    state = ns.init_state(net, p, 0, DT)

    def loss(p):
        final, spikes = ns.run(net, p, state, 100, DT)
        return jnp.mean(final.neurons["E"].v)

    g = jax.grad(loss)(p)
    assert isinstance(g, ns.NetParams) and isinstance(g.projections["stp"], ns.network.ProjectionParams)
    assert jax.tree.structure(g) == jax.tree.structure(p)


def test_dict_style_access_names_the_attribute():
    p = three_projection_net().params()
    with pytest.raises(TypeError, match=r"write \.projections instead of \['projections'\]"):
        p["projections"]
    with pytest.raises(TypeError, match=r"a mechanism's params are \.dynamics\['stp'\]"):
        p.projections["stp"]["stp"]
    assert p[0] is p.neurons                              # still a tuple by position


def test_simulate_refuses_a_plain_dict_of_params():
    net = three_projection_net()
    old_style = {"neurons": net.params().neurons, "projections": {}, "inputs": {}}
    with pytest.raises(TypeError, match=r"params must be a NetParams .*got dict"):
        ns.simulate(net, 1.0, DT, params=old_style)
