"""The observation hook: ``run(..., observe=fn)`` and the ``Observe``/``LFP`` monitors of
``simulate``. What run's hook returns equals what simulate's monitors record (across chunk
boundaries too), and what the other monitors (Rate, Trace) record of the same quantities;
``jax.vmap`` of run with observe equals a Python loop; grad goes through it; errors name the
problem. Small networks and a few hundred steps keep it fast on a 2-core machine."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim.analysis import lfp_proxy
from neurosim.inputs import PoissonInput, PoissonInputParams
from neurosim.neurons import LIF
from neurosim.synapses import Synapse, SynapseParams

DT = 0.1
N = 100
N_STEPS = 300


@pytest.fixture(scope="module")
def net():
    # module-scoped: simulate caches its compiled chunks on the network
    return ns.builders.coba(N, p=0.2, seed=3, background_pa=200.0)


@pytest.fixture(scope="module")
def observed(net):
    """run with an observe hook (jitted, params as arguments, as simulate does)."""
    params = net.params()
    state = ns.init_state(net, params, 0, DT)

    def go(p, s):
        def observe(s2, spk):
            return {
                "lfp": lfp_proxy(net, p, s2, "neurons"),
                "lfp_e_hold": lfp_proxy(net, p, s2, ("neurons", 0, 80), v_hold=-65.0),
                "count": jnp.sum(spk["neurons"]),
                "v": s2.neurons["neurons"].v[:4],
            }
        return ns.run(net, p, s, N_STEPS, DT, observe=observe)

    return jax.jit(go)(params, state)


def count_fn(state, spikes):
    return jnp.sum(spikes["neurons"])


def test_default_return_is_unchanged(net):
    params = net.params()
    state = ns.init_state(net, params, 0, DT)
    final, spikes = jax.jit(lambda p, s: ns.run(net, p, s, 50, DT))(params, state)
    assert set(spikes) == {"neurons"} and spikes["neurons"].shape == (50, N)
    final2, same = jax.jit(lambda p, s: ns.run(net, p, s, 50, DT, observe=lambda s2, spk: spk))(params, state)
    np.testing.assert_array_equal(np.asarray(same["neurons"]), np.asarray(spikes["neurons"]))
    np.testing.assert_array_equal(np.asarray(final2.neurons["neurons"].v), np.asarray(final.neurons["neurons"].v))


def test_observe_stacks_the_pytree_along_time(observed):
    final, obs = observed
    assert obs["lfp"].shape == (N_STEPS,) and obs["count"].shape == (N_STEPS,) and obs["v"].shape == (N_STEPS, 4)
    np.testing.assert_array_equal(np.asarray(obs["v"][-1]), np.asarray(final.neurons["neurons"].v[:4]))
    assert float(obs["count"].sum()) > 0 and float(obs["lfp"][-1]) > 0


@pytest.mark.parametrize("chunk_steps", [None, 128])
def test_simulate_observers_equal_run_observe(net, observed, chunk_steps):
    """LFP and Observe monitors record what run's hook returns; 128-step chunks (2 full and a
    44-step tail) give the same values and times as one chunk."""
    _, obs = observed
    res = ns.simulate(net, N_STEPS * DT, DT, key=0, chunk_steps=chunk_steps, monitors=[
        ns.LFP("neurons"), ns.LFP(("neurons", 0, 80), v_hold=-65.0), ns.Observe("count", count_fn), ns.Rate("neurons"),
    ])
    assert set(res.observed) == {"neurons.lfp", "neurons[0:80].lfp", "count"}
    t, lfp = res.observed["neurons.lfp"]
    np.testing.assert_allclose(t, (np.arange(N_STEPS) + 1) * DT, atol=1e-9)  # the time of the state after each step
    np.testing.assert_allclose(lfp, np.asarray(obs["lfp"]), rtol=1e-6)
    np.testing.assert_allclose(res.observed["neurons[0:80].lfp"][1], np.asarray(obs["lfp_e_hold"]), rtol=1e-6)
    np.testing.assert_array_equal(res.observed["count"][1], np.asarray(obs["count"]))
    # the same spike counts as the Rate monitor records (Hz = count / (n dt))
    np.testing.assert_allclose(res.rates["neurons"][1], res.observed["count"][1] / (N * DT * 1e-3), rtol=1e-6)


def test_observed_state_is_the_trace_sample(net):
    """Observe sees the state after step k, as a Trace with every=1 samples it: the same values at
    the same times, the last the final state."""
    v_after = ns.Observe("v_after", lambda s, spk: s.neurons["neurons"].v[jnp.array([0, 7, 42])])
    res = ns.simulate(net, 20.0, DT, key=1, monitors=[v_after, ns.Trace("neurons", "v", ids=[0, 7, 42])])
    t_obs, v_obs = res.observed["v_after"]
    t_tr, v_tr, _ = res.traces["neurons.v"]
    np.testing.assert_array_equal(v_obs, v_tr)
    np.testing.assert_array_equal(t_obs, t_tr)
    np.testing.assert_array_equal(v_obs[-1], np.asarray(res.state.neurons["neurons"].v)[[0, 7, 42]])


def test_observe_monitor_pytree_and_compile_cache(net):
    def both(s, spk):
        return {"count": jnp.sum(spk["neurons"]), "g": (s.synapses["exc"].g[:2], s.synapses["inh"].g[:2])}

    first = ns.simulate(net, 10.0, DT, key=0, monitors=[ns.Observe("both", both), ns.LFP("neurons")])
    again = ns.simulate(net, 10.0, DT, key=0, monitors=[ns.Observe("both", both), ns.LFP("neurons")])
    assert again.timings["compile_s"] == 0.0  # the same function and options: the compiled chunk is reused
    t, values = first.observed["both"]
    assert t.shape == (100,) and values["count"].shape == (100,)
    assert values["g"][0].shape == (100, 2) and values["g"][1].shape == (100, 2)
    np.testing.assert_array_equal(values["g"][1], again.observed["both"][1]["g"][1])


def test_continuing_a_run_continues_the_observed_time_axis(net):
    # chunks of 100 steps everywhere: one compiled chunk serves the three runs
    one = ns.simulate(net, 20.0, DT, key=0, monitors=[ns.LFP("neurons")], chunk_steps=100)
    first = ns.simulate(net, 10.0, DT, key=0, monitors=[ns.LFP("neurons")], chunk_steps=100)
    second = ns.simulate(net, 10.0, DT, state=first.state, monitors=[ns.LFP("neurons")], chunk_steps=100)
    assert second.timings["compile_s"] == 0.0
    t = np.concatenate([first.observed["neurons.lfp"][0], second.observed["neurons.lfp"][0]])
    v = np.concatenate([first.observed["neurons.lfp"][1], second.observed["neurons.lfp"][1]])
    np.testing.assert_allclose(t, one.observed["neurons.lfp"][0], atol=1e-9)
    np.testing.assert_allclose(v, one.observed["neurons.lfp"][1], rtol=1e-6)


def test_lfp_monitor_uses_the_params_of_the_run(net):
    """The LFP monitor reads E_rev and the weights from simulate(params=...), not from the
    description."""
    params = net.params()
    params = params.with_weights({"inh": jnp.float32(2 * 67.0)})
    res = ns.simulate(net, 10.0, DT, key=0, params=params, monitors=[ns.LFP("neurons")], chunk_steps=100)
    state = ns.init_state(net, params, 0, DT)
    _, lfp = jax.jit(lambda p, s: ns.run(net, p, s, 100, DT, observe=lambda s2, spk: lfp_proxy(net, p, s2, "neurons")))(
        params, state)
    np.testing.assert_allclose(res.observed["neurons.lfp"][1], np.asarray(lfp), rtol=1e-6)


def test_vmap_of_run_with_observe_equals_a_loop(net):
    """A sweep over the inhibitory weight, one key per set, keeps only the LFP and the spike count."""
    base = net.params()
    scales = [0.5, 1.0, 2.0]
    keys = jax.random.split(jax.random.key(4), len(scales))

    def with_scale(s):
        return base.with_weights({"inh": base.projections["inh"].weights * s})

    def one(p, key):
        state = ns.init_state(net, p, key, DT)
        return ns.run(net, p, state, 200, DT,
                      observe=lambda s, spk: (lfp_proxy(net, p, s, "neurons"), jnp.sum(spk["neurons"])))[1]

    batched = jax.tree.map(lambda *xs: jnp.stack(xs), *[with_scale(s) for s in scales])
    lfp_b, count_b = jax.jit(jax.vmap(one))(batched, keys)
    assert lfp_b.shape == (3, 200) and count_b.shape == (3, 200)
    single = jax.jit(one)
    for i, s in enumerate(scales):
        lfp, count = single(with_scale(s), keys[i])
        assert float(count.sum()) > 0
        np.testing.assert_array_equal(np.asarray(count_b[i]), np.asarray(count), err_msg=f"set {i}")
        np.testing.assert_allclose(np.asarray(lfp_b[i]), np.asarray(lfp), rtol=1e-5, err_msg=f"set {i}")


def test_grad_through_run_with_observe():
    """The observed LFP of a subthreshold cell is differentiable in the weights of its input."""
    src = ns.Population("src", 10, ns.inputs.SpikeTimes(np.arange(10) * 1.0 + 0.05, np.arange(10)))
    cell = ns.Population("cell", 1, LIF())
    conn = ns.events.all_to_all(10, 1)
    proj = ns.Projection("in", "src", "cell", conn, 1.0, Synapse("exponential", "conductance"),
                         SynapseParams(tau=5.0, e_rev=0.0))
    net = ns.Network([src, cell], [proj])
    params = net.params()
    state = ns.init_state(net, params, 0, DT)

    def mean_lfp(w):
        p = params.with_weights({"in": w})
        _, lfp = ns.run(net, p, state, 150, DT, observe=lambda s, spk: lfp_proxy(net, p, s, "cell"))
        return jnp.mean(lfp)

    f = jax.jit(mean_lfp)
    g = float(jax.grad(f)(jnp.float32(1.0)))
    h = 0.01
    fd = (float(f(jnp.float32(1.0 + h))) - float(f(jnp.float32(1.0 - h)))) / (2 * h)
    assert math.isfinite(g) and g > 0
    assert g == pytest.approx(fd, rel=0.02)


def test_observe_errors(net):
    params = net.params()
    state = ns.init_state(net, params, 0, DT)
    with pytest.raises(ValueError, match="observe must be None or a function"):
        ns.run(net, params, state, 10, DT, observe="lfp")
    with pytest.raises(ValueError, match="fn must be a function"):
        ns.simulate(net, 1.0, DT, monitors=[ns.Observe("x", 3)])
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        ns.simulate(net, 1.0, DT, monitors=[ns.Observe("", count_fn)])
    with pytest.raises(ValueError, match="distinct names; repeated: \\['neurons.lfp'\\]"):
        ns.simulate(net, 1.0, DT, monitors=[ns.LFP("neurons"), ns.LFP("neurons", v_hold=-65.0)])
    with pytest.raises(ValueError, match="no population named 'E'"):
        ns.simulate(net, 1.0, DT, monitors=[ns.LFP("E")])
    with pytest.raises(ValueError, match="'background' is not a projection or synaptic input"):
        ns.simulate(net, 1.0, DT, monitors=[ns.LFP("neurons", synapses=["background"])])
    with pytest.raises(ValueError, match="monitors must be Spikes, Trace, Weights or Rate objects, or Observe or LFP observations"):
        ns.simulate(net, 1.0, DT, monitors=[count_fn])


def test_lfp_monitor_includes_synaptic_inputs():
    """A PoissonInput is a synapse too: the LFP of a cell driven only by it is its current."""
    cell = ns.Population("cell", 3, LIF())
    drive = ns.Input("drive", "cell", PoissonInput(n_sources=20, synapse=Synapse("exponential", "conductance")),
                     PoissonInputParams(rate_hz=100.0, weight=1.0, synapse=SynapseParams(tau=5.0, e_rev=0.0)))
    net = ns.Network([cell], [], [drive])
    g_v = ns.Observe("gv", lambda s, spk: (s.inputs["drive"].g, s.neurons["cell"].v))
    res = ns.simulate(net, 20.0, DT, key=2, monitors=[ns.LFP("cell"), g_v])
    g, v = res.observed["gv"][1]
    lfp = res.observed["cell.lfp"][1]
    np.testing.assert_allclose(lfp, np.abs(g * (0.0 - v)).sum(axis=1), rtol=1e-5)
    assert lfp.max() > 0
