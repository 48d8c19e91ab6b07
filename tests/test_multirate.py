"""Multi-rate populations (neurosim.neurons.MultiRate): k = 1 is the model itself; k > 1 steps
the model once per k network steps with the mean input and k dt (equal to the model at k dt);
slow astrocytes keep their calcium periods; monitors and gliotransmission read the wrapped
state; grads; bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import neurosim as ns
from neurosim.astrocytes import ASTROCYTE_PRESETS, Astrocyte, AstrocyteParams
from neurosim.inputs import ConstantCurrent
from neurosim.neurons import LIF, LIFParams, MultiRate

FM_IP3 = np.array([0.55, 0.7, 0.9, 1.1], np.float32)


def _astro_net(k, ip3=FM_IP3):
    model = Astrocyte(ip3="clamped", integrator="rk4")
    model = model if k is None else MultiRate(model, k)
    return ns.Network([ns.Population("a", len(ip3), model, ASTROCYTE_PRESETS["fm"]._replace(ip3=ip3))])


def test_every_one_is_the_model_itself():
    # the same operations on the scan (the reference engine), so the same bits
    bare = ns.simulate(_astro_net(None), 20e3, 1.0, monitors=[ns.Trace("a", "c")], engine="scan")
    once = ns.simulate(_astro_net(1), 20e3, 1.0, monitors=[ns.Trace("a", "c")], engine="scan")
    np.testing.assert_array_equal(once.traces["a.c"][1], bare.traces["a.c"][1])
    # the native engine lowers the wrapper (a lax.cond) and the model alike: the same to the contract
    native = ns.simulate(_astro_net(1), 20e3, 1.0, monitors=[ns.Trace("a", "c")], engine="native")
    np.testing.assert_allclose(native.traces["a.c"][1], bare.traces["a.c"][1], rtol=1e-4, atol=1e-6)


def test_every_k_equals_the_model_at_k_dt():
    # constant drive: k network steps of dt = one model step of k dt, step for step
    def lif(model, dt, steps):
        net = ns.Network([ns.Population("n", 3, model, LIFParams(t_ref=2.0))],
                         inputs=[ns.Input("drive", "n", ConstantCurrent(), ConstantCurrent.Params(np.array([250.0, 300.0, 400.0], np.float32)))])
        return ns.simulate(net, steps * dt, dt, monitors=[ns.Trace("n", "v"), ns.Spikes("n")])

    slow = lif(MultiRate(LIF(v_init=-60.0), 5), 0.1, 20000)
    coarse = lif(LIF(v_init=-60.0), 0.5, 4000)
    # samples after each step: after 5k fine steps (index 5k - 1) is after k coarse ones (index k - 1)
    np.testing.assert_allclose(slow.traces["n.v"][1][4::5], coarse.traces["n.v"][1], rtol=1e-6, atol=1e-5)
    t_slow, id_slow = slow.spikes["n"]
    t_coarse, id_coarse = coarse.spikes["n"]
    assert id_slow.size > 30
    np.testing.assert_array_equal(id_slow, id_coarse)
    # a spike of the coarse step k (emitted at its end) is emitted by the slow model at its step 5k + 4
    np.testing.assert_allclose(t_slow, t_coarse + 0.4, atol=1e-6)


def test_the_wrapped_model_sees_the_mean_input():
    model, k = Astrocyte(input="ip3"), 4
    mr = MultiRate(model, k)
    p = ASTROCYTE_PRESETS["chi"]
    state = mr.init(p, 2, jax.random.key(0))
    inputs = [jnp.array([0.5, 2.0]), jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), jnp.array([2.5, 1.0])]
    for i in inputs[:-1]:
        state, ev = mr.step(p, state, i, 1.0)
        assert float(ev.sum()) == 0.0 and int(state.count) > 0
    held = state.state
    state, _ = mr.step(p, state, inputs[-1], 1.0)
    want, _ = model.step(p, held, sum(inputs) / k, 4.0)
    for a, b in zip(state.state, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert int(state.count) == 0 and float(jnp.abs(state.drive).max()) == 0.0
    assert state.c is state.state.c           # variables of the wrapped state read through


def test_slow_astrocytes_keep_their_periods():
    # FM periods (docs/papers.md 11.1: 38.3 / 23.2 / 18.7 / 17.3 s) with the astrocytes advanced
    # every 10 and 50 steps of 1 ms, against every step
    def periods(k):
        res = ns.simulate(_astro_net(k), 200e3, 1.0, monitors=[ns.Trace("a", "c", every=10)])
        t, c, _ = res.traces["a.c"]
        half = len(t) // 2
        out = []
        for x in np.asarray(c)[half:].T:
            up = np.nonzero((x[:-1] < 0.5) & (x[1:] >= 0.5))[0]
            out.append(np.diff(np.asarray(t)[half:][up]).mean() * 1e-3)
        return np.array(out)

    ref = periods(1)
    np.testing.assert_allclose(ref, [38.3, 23.2, 18.7, 17.3], rtol=0.03)
    for k in (10, 50):
        np.testing.assert_allclose(periods(k), ref, rtol=5e-3)


def test_gliotransmission_reads_a_slow_astrocyte_and_k_small_stays_close():
    # the tripartite network with its astrocytes every 2 steps: mean glutamate within 4 % of k = 1
    def means(k):
        net = ns.builders.tripartite(100)
        pops = list(net.populations)
        pops[1] = ns.Population("astro", pops[1].n, MultiRate(pops[1].model, k), pops[1].params)
        net = ns.Network(pops, list(net.projections))
        out = ns.builders.run_tripartite(net, rates_hz=(11.0,), epoch_ms=6000.0, key=2, progress=False)
        return out["ys"][1000:].mean(0)

    ref, two = means(1), means(2)
    assert ref[0] < 0.8 * ref[2]               # gliotransmission acted in both
    np.testing.assert_allclose(two, ref, rtol=0.04)


def test_grads_through_a_period(x64):
    mr = MultiRate(Astrocyte(input="ip3", integrator="rk4"), 3)

    def final_c(o_beta, o_3k):
        p = ASTROCYTE_PRESETS["chi"]._replace(o_beta=o_beta, o_3k=o_3k)
        s = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x,
                         mr.init(p, 1, jax.random.key(0)))   # float64 throughout, as init_state makes it
        s = s._replace(state=s.state._replace(gamma_a=jnp.full(1, 0.3), c=jnp.full(1, 0.2)))
        for _ in range(6):
            s, _ = mr.step(p, s, jnp.full(1, 0.4), 20.0)
        return s.state.c.sum() + s.state.ip3.sum()

    check_grads(jax.jit(final_c), (jnp.float64(5.0), jnp.float64(4.5)), order=1, modes=["rev", "fwd"], eps=1e-5, rtol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="every must be a positive integer"):
        MultiRate(Astrocyte(), 0)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        MultiRate(Astrocyte(), 2.5)
    with pytest.raises(ValueError, match="already a MultiRate"):
        MultiRate(MultiRate(Astrocyte(), 2), 3)
    with pytest.raises(ValueError, match="must be a model instance"):
        MultiRate(AstrocyteParams(), 2)
    net = _astro_net(10)
    with pytest.raises(ValueError, match=r"advances every 10 steps \(MultiRate\), which does not divide the run's 25 steps"):
        ns.simulate(net, 25.0, 1.0)
    state = ns.init_state(net, net.params(), 0, 1.0)
    with pytest.raises(ValueError, match="does not divide the run's 7 steps"):
        ns.run(net, net.params(), state, 7, 1.0)
    mid = state._replace(neurons={"a": state.neurons["a"]._replace(count=jnp.int32(3))})
    with pytest.raises(ValueError, match="is 3 steps into a period of 10"):
        ns.simulate(net, 20.0, 1.0, state=mid)
