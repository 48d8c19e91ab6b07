"""Tests for the fused engine (neurosim.network.fused, kernels/*/fused.*): many steps per kernel
call must give what the per-step scan gives.

Every comparison runs the same network, parameters and initial state through
``simulate(engine="scan")`` and ``simulate(engine="fused")``: the spike trains must be
identical for at least the first 20 ms (the kernel does the scan's float32 operations, with
FMA where XLA contracts, so they stay identical much longer where the summation order is the
same) and the spike counts within 1 %. Then: a state continued by the other engine, the
reasons the fused engine gives for what it does not cover, the errors, the spike-bit decoding,
and (``gpu``) the CUDA kernel against the CPU one.
"""
import dataclasses

import hypothesis.strategies as st
import jax
import numpy as np
import pytest
from hypothesis import given, settings

import neurosim as ns
from neurosim import _kernels
from neurosim.inputs import ConstantCurrent, GaussianCurrent, PoissonInput, PoissonInputParams
from neurosim.network import fused
from neurosim.neurons import LIF, Izhikevich, LIFParams
from neurosim.synapses import Synapse, SynapseParams
from neurosim.synapses.short_term import TsodyksMarkram

DT = 0.1  # ms

pytestmark = pytest.mark.skipif(isinstance(fused.fused_plan(ns.builders.coba(n=20), platform="cpu"), str),
                                reason="the compiled fused CPU kernel is not available on this machine")


@pytest.fixture(autouse=True)
def on_cpu(request):
    """Every test runs on the CPU (also where a GPU is the default), except the gpu ones."""
    if request.node.get_closest_marker("gpu"):
        yield
        return
    with jax.default_device(jax.devices("cpu")[0]):
        yield


# --------------------------------------------------------------------------- helpers


def mixed_net(seed=0):
    """Two LIF populations (one with per-neuron parameters), four projections in every form the
    kernel covers: conductance and current outputs, per-synapse and homogeneous weights,
    delays of 1, 3 and 7 steps, sliced pre and post ranges; constant inputs, one per neuron
    and one onto a slice."""
    rng = np.random.default_rng(seed)
    a = ns.Population("A", 300, LIF(v_init=ns.Uniform(-60.0, -50.0)))
    b = ns.Population("B", 200, LIF(v_init=ns.Uniform(-65.0, -50.0)),
                      LIFParams(v_rest=rng.uniform(-62.0, -58.0, 200).astype(np.float32), t_ref=2.0,
                                c_m=rng.uniform(150.0, 250.0, 200).astype(np.float32)))
    ab = ns.events.fixed_probability(300, 200, 0.05, seed=seed + 1)
    ba = ns.events.fixed_probability(100, 300, 0.1, seed=seed + 2)
    ab2 = ns.events.fixed_probability(300, 150, 0.05, seed=seed + 3)
    aa = ns.events.fixed_probability(300, 300, 0.02, seed=seed + 4)
    projections = [
        ns.Projection("AB", "A", "B", ab, rng.uniform(1.0, 4.0, ab.nnz).astype(np.float32),
                      Synapse("exponential", "conductance"), SynapseParams(tau=5.0, e_rev=0.0), delay_ms=0.3),
        ns.Projection("BA", ("B", 50, 150), "A", ba, -30.0, Synapse("exponential", "current"), SynapseParams(tau=8.0),
                      delay_ms=0.7),
        ns.Projection("AB_inh", "A", ("B", 50, 200), ab2, 5.0, Synapse("exponential", "conductance"),
                      SynapseParams(tau=10.0, e_rev=-80.0)),
        ns.Projection("AA", "A", "A", aa, rng.uniform(5.0, 15.0, aa.nnz).astype(np.float32),
                      Synapse("exponential", "current"), SynapseParams(tau=3.0)),
    ]
    inputs = [
        ns.Input("drive_A", "A", ConstantCurrent(), ConstantCurrent.Params(rng.uniform(180.0, 260.0, 300).astype(np.float32))),
        ns.Input("drive_B", ("B", 0, 100), ConstantCurrent(), ConstantCurrent.Params(250.0)),
    ]
    return ns.Network([a, b], projections, inputs)


def both(net, duration, monitors, **kw):
    scan = ns.simulate(net, duration, DT, key=0, monitors=monitors, engine="scan", **kw)
    fast = ns.simulate(net, duration, DT, key=0, monitors=monitors, engine="fused", **kw)
    assert scan.timings["engine"] == "scan" and fast.timings["engine"] == "fused"
    return scan, fast


def assert_same_start_and_counts(a, b, t_identical=20.0, count_rtol=0.01):
    """Spike trains (times, ids) identical up to t_identical ms; total counts within count_rtol."""
    (ta, ia), (tb, ib) = a, b
    assert ta.size > 0
    ka, kb = ta < t_identical, tb < t_identical
    assert ka.sum() > 0, "no spike in the window that must be identical"
    np.testing.assert_allclose(ta[ka], tb[kb], rtol=0, atol=1e-9)  # t_start + k dt, rounded either way
    np.testing.assert_array_equal(ia[ka], ib[kb])
    assert abs(ta.size - tb.size) <= count_rtol * ta.size, (ta.size, tb.size)


def first_difference(a, b):
    """Time (ms) of the first spike where two runs differ, or inf."""
    (ta, ia), (tb, ib) = a, b
    m = min(ta.size, tb.size)
    diff = np.nonzero((np.abs(ta[:m] - tb[:m]) > 1e-9) | (ia[:m] != ib[:m]))[0]
    if diff.size:
        return float(ta[diff[0]])
    return float("inf") if ta.size == tb.size else float(ta[m] if ta.size > m else tb[m])


# --------------------------------------------------------------------------- fused = scan


@pytest.fixture(scope="module")
def coba_pair():
    with jax.default_device(jax.devices("cpu")[0]):  # module fixtures run outside on_cpu
        net = ns.builders.coba(n=1000, seed=0)
        return net, both(net, 300.0, [ns.Spikes("neurons"), ns.Rate("neurons")])


def test_coba_fused_equals_scan(coba_pair):
    _, (scan, fast) = coba_pair
    assert_same_start_and_counts(scan.spikes["neurons"], fast.spikes["neurons"])
    # same operations in the same order: identical far beyond the first 20 ms
    assert first_difference(scan.spikes["neurons"], fast.spikes["neurons"]) > 100.0
    rate_s, rate_f = scan.rates["neurons"][1], fast.rates["neurons"][1]
    np.testing.assert_allclose(scan.rates["neurons"][0], fast.rates["neurons"][0])
    assert abs(rate_s.sum() - rate_f.sum()) <= 0.01 * rate_s.sum()
    assert fast.sizes == scan.sizes == {"neurons": 1000}


def test_coba_rates_are_the_spike_counts(coba_pair):
    _, (_, fast) = coba_pair
    t, ids = fast.spikes["neurons"]
    counts = np.bincount(np.round(t / DT).astype(int), minlength=3000)
    np.testing.assert_allclose(fast.rates["neurons"][1], counts / (1000 * DT * 1e-3), rtol=1e-6)


def test_coba_final_state_matches_scan(coba_pair):
    net, (scan, fast) = coba_pair
    assert int(fast.state.t) == int(scan.state.t) == 3000
    if first_difference(scan.spikes["neurons"], fast.spikes["neurons"]) == float("inf"):
        for x, y in zip(jax.tree.leaves(scan.state.neurons), jax.tree.leaves(fast.state.neurons)):
            np.testing.assert_array_equal(x, y)
        for name in ("exc", "inh"):
            np.testing.assert_array_equal(scan.state.synapses[name].g, fast.state.synapses[name].g)
    # the key is not advanced by the fused engine (its inputs draw no random numbers)
    np.testing.assert_array_equal(jax.random.key_data(fast.state.key),
                                  jax.random.key_data(ns.init_state(net, net.params(), 0, DT).key))


def test_cuba_current_synapses():
    net = ns.builders.cuba(n=800, seed=1)
    scan, fast = both(net, 200.0, [ns.Spikes("neurons")])
    assert_same_start_and_counts(scan.spikes["neurons"], fast.spikes["neurons"])


def test_delays_slices_per_synapse_weights_and_inputs():
    net = mixed_net()
    plan = fused.fused_plan(net, net.params(), DT)
    assert not isinstance(plan, str), plan
    assert [p[5] for p in plan.projs] == [2, 6, 0, 0]          # delay buffers of d - 1 rows
    assert [p[6] for p in plan.projs] == [True, False, False, True]  # per-synapse weights
    assert not plan.uniform
    scan, fast = both(net, 150.0, [ns.Spikes("A"), ns.Spikes("B"), ns.Rate("B")])
    for pop in ("A", "B"):
        assert_same_start_and_counts(scan.spikes[pop], fast.spikes[pop])
    for name in ("AB", "BA"):  # the delay buffers come back in the scan's layout
        assert fast.state.delays[name].shape == scan.state.delays[name].shape


def test_continuing_a_run_with_the_other_engine():
    net = ns.builders.coba(n=600, seed=2)
    mon = [ns.Spikes("neurons")]
    whole = ns.simulate(net, 60.0, DT, key=3, monitors=mon, engine="scan")
    for first_engine, second_engine in (("fused", "scan"), ("scan", "fused")):
        a = ns.simulate(net, 30.0, DT, key=3, monitors=mon, engine=first_engine)
        b = ns.simulate(net, 30.0, DT, state=a.state, monitors=mon, engine=second_engine)
        assert b.t_start == pytest.approx(30.0)
        t = np.concatenate([a.spikes["neurons"][0], b.spikes["neurons"][0]])
        ids = np.concatenate([a.spikes["neurons"][1], b.spikes["neurons"][1]])
        assert_same_start_and_counts(whole.spikes["neurons"], (t, ids), t_identical=60.0)
        assert int(b.state.t) == 600


def test_chunks_do_not_change_the_fused_result():
    net = ns.builders.coba(n=500, seed=4)
    mon = [ns.Spikes("neurons"), ns.Rate("neurons")]
    one = ns.simulate(net, 40.0, DT, key=0, monitors=mon, engine="fused")
    many = ns.simulate(net, 40.0, DT, key=0, monitors=mon, engine="fused", chunk_steps=96)  # 4 x 96 + 16
    for x, y in zip(one.spikes["neurons"] + one.rates["neurons"], many.spikes["neurons"] + many.rates["neurons"]):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(jax.tree.leaves(one.state), jax.tree.leaves(many.state)):
        np.testing.assert_array_equal(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                                      else x, jax.random.key_data(y) if jax.dtypes.issubdtype(y.dtype, jax.dtypes.prng_key)
                                      else y)


def test_network_without_projections_and_run_fused():
    pop = ns.Population("P", 40, LIF(v_init=ns.Uniform(-60.0, -50.0)))
    drive = ns.Input("i", "P", ConstantCurrent(), ConstantCurrent.Params(np.linspace(50.0, 400.0, 40).astype(np.float32)))
    net = ns.Network([pop], [], [drive])
    params = net.params()
    state = ns.init_state(net, params, 0, DT)
    plan = fused.fused_plan(net, params, DT)
    final, bits = fused.run_fused(plan, params, state, 500)
    ref, spikes = jax.jit(lambda p, s: ns.run(net, p, s, 500, DT))(params, state)
    assert bits.shape == (500, 2) and bits.dtype == np.uint32
    step, neuron = fused.spike_events(bits)
    k, i = np.nonzero(np.asarray(spikes["P"]))
    assert k.size > 0
    np.testing.assert_array_equal(step, k)
    np.testing.assert_array_equal(neuron, i)
    np.testing.assert_array_equal(final.neurons["P"].v, ref.neurons["P"].v)
    np.testing.assert_array_equal(final.neurons["P"].t_left, ref.neurons["P"].t_left)


# --------------------------------------------------------------------------- what the engine does not cover


class ColouredNoise(GaussianCurrent):
    """A user's own input (here a GaussianCurrent under another name): the fused kernel knows only
    the inputs of its allow-list, so a network with this one takes the scan."""


def _lif_pair(**proj_kw):
    pre = ns.Population("pre", 20, LIF())
    post = ns.Population("post", 20, LIF())
    conn = ns.events.fixed_probability(20, 20, 0.3, seed=0)
    kw = dict(synapse=Synapse("exponential", "current"))
    kw.update(proj_kw)
    proj = ns.Projection("syn", "pre", "post", conn, 5.0, **kw)
    drive = ns.Input("drive", "pre", ConstantCurrent(), ConstantCurrent.Params(300.0))
    return ns.Network([pre, post], [proj], [drive])


@pytest.mark.parametrize("make, monitors, words", [
    (lambda: ns.Network([ns.Population("izh", 10, Izhikevich())]), [], "Izhikevich"),
    (lambda: _lif_pair(synapse=Synapse("alpha", "current")), [], "'alpha' synapse kinetics"),
    (lambda: _lif_pair(stp=TsodyksMarkram()), [], "short-term plasticity"),
    (lambda: ns.Network([ns.Population("p", 10, LIF())], [], [ns.Input(
        "noise", "p", ColouredNoise(), GaussianCurrent.Params())]), [], "ColouredNoise"),
    (lambda: ns.Network([ns.Population("p", 10, LIF())], [], [ns.Input(
        "noise", "p", PoissonInput(n_sources=5, synapse=Synapse("alpha")), PoissonInputParams())]), [], "'alpha' kinetics"),
    (lambda: _lif_pair(), [ns.Trace("post", "v")], "Trace monitors"),
    (lambda: _lif_pair(), [ns.LFP("post")], "LFP monitors"),
    (lambda: _lif_pair(), [ns.Observe("n", lambda s, spk: spk["post"].sum())], "Observe monitors"),
])
def test_unsupported_networks_fall_back_with_a_reason(make, monitors, words):
    net = make()
    reason = fused.fused_plan(net, net.params(), DT, monitors)
    assert isinstance(reason, str) and words in reason, reason
    res = ns.simulate(net, 2.0, DT, monitors=monitors)  # auto: the next engine that can (describe says which)
    assert res.timings["engine"] == ns.engines.describe(net, DT, monitors=monitors).chosen != "fused"
    with pytest.raises(ValueError, match="engine='fused' cannot run this simulation: .*" + words.split("'")[0]):
        ns.simulate(net, 2.0, DT, monitors=monitors, engine="fused")


def test_procedural_connectivity_is_not_fused():
    jitconn = pytest.importorskip("neurosim.events.jitconn")
    conn = jitconn.JitConn(50, 50, 0.1, seed=1)
    pop = ns.Population("p", 50, LIF())
    net = ns.Network([pop], [ns.Projection("pp", "p", "p", conn, 1.0)],
                     [ns.Input("i", "p", ConstantCurrent(), ConstantCurrent.Params(300.0))])
    reason = fused.fused_plan(net, net.params(), DT)
    assert isinstance(reason, str) and "JitConn" in reason


def test_float64_mode_is_not_fused(x64):
    net = ns.builders.coba(n=50)
    reason = fused.fused_plan(net, net.params(), DT)
    assert isinstance(reason, str) and "jax_enable_x64" in reason
    assert ns.simulate(net, 1.0, DT, monitors=[ns.Spikes("neurons")]).timings["engine"] == "native"


def test_missing_library_is_a_reason(monkeypatch):
    monkeypatch.setitem(_kernels._ready, ("fused", "cpu"), False)
    net = ns.builders.coba(n=50)
    reason = fused.fused_plan(net, net.params(), DT, platform="cpu")
    assert isinstance(reason, str) and "libfused_cpu.so" in reason and "not available" in reason


def test_argument_errors():
    net = ns.builders.coba(n=50)
    with pytest.raises(ValueError, match=r"engine must be one of \['auto', 'scan', 'fused', 'native', 'parallel'\], got 'fast'"):
        ns.simulate(net, 1.0, DT, engine="fast")
    with pytest.raises(ValueError, match="platform must be 'cpu', 'cuda' or None, got 'tpu'"):
        fused.fused_plan(net, net.params(), DT, platform="tpu")
    params = net.params()
    plan = fused.fused_plan(net, params, DT)
    state = ns.init_state(net, params, 0, DT)
    with pytest.raises(ValueError, match="n_steps must be a positive integer, got 0"):
        fused.run_fused(plan, params, state, 0)
    with pytest.raises(ValueError, match="plan must be a FusedPlan"):
        fused.run_fused("not fusable", params, state, 5)
    bad = state._replace(neurons={"neurons": state.neurons["neurons"]._replace(v=state.neurons["neurons"].v[:10])})
    with pytest.raises(ValueError, match=r"population 'neurons': v must be a float32 array of shape \(50,\)"):
        fused.run_fused(plan, params, bad, 5)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 70), st.integers(0, 2**31 - 1))
def test_spike_events_decode_the_bits(n_steps, n, seed):
    rng = np.random.default_rng(seed)
    flags = rng.random((n_steps, n)) < rng.choice([0.0, 0.05, 0.5, 1.0])
    words = (n + 31) // 32
    padded = np.zeros((n_steps, words * 32), bool)
    padded[:, :n] = flags
    bits = (padded.reshape(n_steps, words, 32) * (1 << np.arange(32, dtype=np.uint64))).sum(-1).astype(np.uint32)
    step, neuron = fused.spike_events(bits)
    k, i = np.nonzero(flags)
    np.testing.assert_array_equal(step, k)
    np.testing.assert_array_equal(neuron, i)
    # the scan engine's bytes (numpy's little-endian packbits) decode the same way
    step, neuron = fused.spike_events(np.packbits(flags, axis=1, bitorder="little"))
    np.testing.assert_array_equal(step, k)
    np.testing.assert_array_equal(neuron, i)


def test_spike_events_refuses_what_is_not_unsigned_words():
    with pytest.raises(ValueError, match="bits must be a 2-D array of unsigned words"):
        fused.spike_events(np.zeros((3, 2), np.int32))


# --------------------------------------------------------------------------- the CUDA kernel


def _gpu_and_cpu(net, duration, monitors, monkeypatch=None):
    gpu = ns.simulate(net, duration, DT, key=0, monitors=monitors, engine="fused")
    with jax.default_device(jax.devices("cpu")[0]):
        cpu = ns.simulate(net, duration, DT, key=0, monitors=monitors, engine="fused")
    return gpu, cpu


@pytest.mark.gpu
def test_cuda_one_block_kernel_equals_cpu_kernel():
    if isinstance(fused.fused_plan(ns.builders.coba(n=20), platform="cuda"), str):
        pytest.skip("the CUDA fused kernel is not built")
    net = ns.builders.coba(n=1000, seed=0)
    gpu, cpu = _gpu_and_cpu(net, 200.0, [ns.Spikes("neurons")])
    # decay factors come from each device's own exp, so only the start is bitwise the same
    assert_same_start_and_counts(cpu.spikes["neurons"], gpu.spikes["neurons"], t_identical=5.0, count_rtol=0.03)


@pytest.mark.gpu
def test_cuda_kernel_against_the_scan_on_the_gpu():
    if isinstance(fused.fused_plan(ns.builders.coba(n=20), platform="cuda"), str):
        pytest.skip("the CUDA fused kernel is not built")
    net = ns.builders.coba(n=1000, seed=0)
    scan, fast = both(net, 200.0, [ns.Spikes("neurons")])
    print(f"first difference CUDA fused vs GPU scan: {first_difference(scan.spikes['neurons'], fast.spikes['neurons'])} ms")
    assert_same_start_and_counts(scan.spikes["neurons"], fast.spikes["neurons"], t_identical=5.0, count_rtol=0.03)


@pytest.mark.gpu
def test_cuda_grid_kernel_delays_and_slices(monkeypatch):
    if isinstance(fused.fused_plan(ns.builders.coba(n=20), platform="cuda"), str):
        pytest.skip("the CUDA fused kernel is not built")
    monkeypatch.setenv("NEUROSIM_FUSED_SMALL_MAX", "0")  # force the cooperative grid kernel
    net = mixed_net()
    gpu, cpu = _gpu_and_cpu(net, 150.0, [ns.Spikes("A"), ns.Spikes("B")])
    for pop in ("A", "B"):  # weights added into g one by one: equal up to rounding
        assert_same_start_and_counts(cpu.spikes[pop], gpu.spikes[pop], t_identical=3.0, count_rtol=0.05)


def test_the_allow_list_names_every_field_of_the_models_the_kernel_runs():
    # A new field or option on one of these models is a quantity the fused kernel does not
    # implement: the network then falls back to the scan (the fused tests above fail), and this
    # test names the field to implement in kernels/cpu/fused.cc and .cu (or to allow, if it
    # does not change the values).
    assert fused.ALLOWED["LIFParams"] == LIFParams._fields
    assert fused.ALLOWED["LIF.options"] == tuple(f.name for f in dataclasses.fields(LIF))
    assert fused.ALLOWED["SynapseParams"] == SynapseParams._fields
    assert fused.ALLOWED["Synapse.options"] == tuple(f.name for f in dataclasses.fields(Synapse))
    assert fused.ALLOWED["ConstantCurrent.Params"] == ConstantCurrent.Params._fields
    assert fused.ALLOWED["PoissonInput.Params"] == PoissonInput.Params._fields
    assert fused.ALLOWED["PoissonInput.options"] == tuple(f.name for f in dataclasses.fields(PoissonInput))
    from neurosim.inputs import StepCurrent, UniformCurrent

    for model in (GaussianCurrent, UniformCurrent, StepCurrent):   # the tabulated currents
        assert model in fused.TABULATED
        assert fused.ALLOWED[f"{model.__name__}.Params"] == model.Params._fields
        assert fused.ALLOWED[f"{model.__name__}.options"] == (
            tuple(f.name for f in dataclasses.fields(model)) if dataclasses.is_dataclass(model) else ())
    from neurosim.plasticity import Plasticity

    assert fused.ALLOWED["Plasticity.options"] == tuple(f.name for f in dataclasses.fields(Plasticity))
    from neurosim.builders import RasterSource

    assert fused.ALLOWED["RasterSource.options"] == tuple(f.name for f in dataclasses.fields(RasterSource))
    from neurosim.plasticity import Modulator

    assert fused.ALLOWED["Modulator.options"] == tuple(f.name for f in dataclasses.fields(Modulator))


def test_plastic_projections_and_modulators_fall_back_with_a_reason():
    from neurosim import plasticity as pl

    net = _lif_pair()
    pr = net.projections[0]
    plastic = ns.Network(list(net.populations), [dataclasses.replace(pr, plasticity=pl.stdp_triplet())],
                         list(net.inputs))
    reason = fused.fused_plan(plastic, plastic.params(), DT)
    assert isinstance(reason, str) and "long-term plasticity" in reason
    with pytest.raises(ValueError, match="engine='fused' cannot run this simulation: .*long-term plasticity"):
        ns.simulate(plastic, 1.0, DT, engine="fused")
    modulated = ns.Network(list(net.populations), list(net.projections), list(net.inputs),
                           modulators=[pl.Modulator("da")])
    assert "modulator 'da' has a drive the fused kernel does not model" in fused.fused_plan(
        modulated, modulated.params(), DT)
