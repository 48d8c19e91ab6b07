"""The Potjans & Diesmann (2014) microcircuit builder: its sizes, in-degrees, weights, delays and
background against the paper's numbers (recomputed here from the tables, independently of the
builder's arithmetic), van Albada's compensation of downscaled in-degrees, its refusals, and a
short run at a small scale whose populations fire at cortical rates."""
import importlib
import math

import numpy as np
import pytest

import neurosim as ns

M = importlib.import_module("neurosim.builders.microcircuit")


def test_a_0_15_mv_psp_takes_87_8_pa():
    # the PSP of an exponential current in a LIF neuron, integrated numerically
    w, dt = M.psc_per_psp(), 1e-3
    t = np.arange(0, 50, dt)
    i_syn = w * np.exp(-t / M.TAU_SYN)
    v = np.zeros_like(t)
    for k in range(1, t.size):
        v[k] = v[k - 1] + dt * (-v[k - 1] / M.TAU_M + i_syn[k - 1] / M.C_M)
    assert v.max() == pytest.approx(1.0, rel=2e-3)
    assert 0.15 * w == pytest.approx(87.8, abs=0.05)


def test_the_builder_s_weight_gives_a_0_15_mv_psp_in_neurosim_s_step():
    """One spike through the builder's weight moves a LIF neuron (threshold out of reach) by a
    peak of 0.15 mV in a neurosim run; the exact-integration current (87.8 pA) gives 10 % more."""
    from neurosim.inputs import SpikeTimes
    from neurosim.neurons import LIF, LIFParams

    def peak(w):
        pops = [ns.Population("S", 1, SpikeTimes(np.array([1.05]), np.array([0]))),
                ns.Population("N", 1, LIF(), LIFParams(v_rest=-65.0, v_reset=-65.0, v_th=100.0, c_m=M.C_M,
                                                       g_l=M.C_M / M.TAU_M, t_ref=M.T_REF))]
        net = ns.Network(pops, [ns.Projection("SN", "S", "N", ns.events.all_to_all(1, 1), w,
                                              synapse=ns.synapses.Synapse("exponential", "current"),
                                              syn_params=ns.synapses.SynapseParams(tau=M.TAU_SYN))])
        res = ns.simulate(net, 30.0, 0.1, monitors=[ns.Trace("N", "v")], progress=False, engine="scan")
        return float(np.max(res.traces["N.v"][1])) + 65.0

    assert peak(0.15 * M.psc_per_psp(dt=0.1)) == pytest.approx(0.15, rel=1e-4)
    assert peak(0.15 * M.psc_per_psp()) == pytest.approx(0.15 * 1.1035, rel=1e-3)


def test_the_full_model_has_the_paper_s_numbers():
    assert sum(M.FULL_SIZES) == 77169
    k = M.indegrees()
    synapses = (k * np.asarray(M.FULL_SIZES)[:, None]).sum()
    assert synapses == pytest.approx(0.2985e9, rel=0.01)           # ~0.3e9 synapses
    # with multapses counted, an in-degree is -log(1 - P) N_pre (a little more than P N_pre)
    np.testing.assert_allclose(k, -np.log1p(-M.CONNECTION_PROBABILITIES) * np.asarray(M.FULL_SIZES)[None, :], rtol=1e-6)
    assert np.all(k >= M.CONNECTION_PROBABILITIES * np.asarray(M.FULL_SIZES)[None, :])


@pytest.fixture(scope="module")
def small():
    return M.microcircuit(0.02, seed=3)


def test_a_downscaled_network_keeps_the_connection_probabilities_and_compensates(small):
    net, scale = small, 0.02
    sizes = {p.name: p.n for p in net.populations}
    assert [sizes[p] for p in M.POPULATIONS] == [round(n * scale) for n in M.FULL_SIZES]
    k_full = M.indegrees()
    w_exc, w_model = 0.15 * M.psc_per_psp(dt=0.1), 0.15 * M.psc_per_psp()
    delays = ([], [])                     # from excitatory and from inhibitory sources
    for pr in net.projections:
        i, j = M.POPULATIONS.index(pr.post), M.POPULATIONS.index(pr.pre)
        indegree = pr.conn.nnz / sizes[pr.post]
        expected = k_full[i, j] * scale
        assert indegree == pytest.approx(expected, rel=5 * (1 / math.sqrt(max(pr.conn.nnz, 1))) + 0.02)
        w = np.asarray(pr.weights)
        mean = (2.0 if (pr.pre, pr.post) == ("L4E", "L23E") else 1.0) * w_exc * (1 if j % 2 == 0 else -4) / math.sqrt(scale)
        assert np.mean(w) == pytest.approx(mean, rel=0.01 + 0.4 / math.sqrt(w.size))     # 10 % spread: 4 s.e.
        assert np.all(np.sign(w[w != 0]) == np.sign(mean))
        d = np.asarray(pr.delay_ms)
        assert d.min() >= 0.1 - 1e-9 and np.allclose(d / 0.1, np.round(d / 0.1))
        delays[j % 2].append(d)
    for kind, (mean, std) in enumerate([(1.5, 0.75), (0.75, 0.375)]):
        d = np.concatenate(delays[kind])
        assert d.mean() == pytest.approx(mean, abs=0.03) and d.std() == pytest.approx(std, rel=0.08)
    # the DC that restores the mean input, computed from the paper's numbers
    tau = M.TAU_SYN * 1e-3
    for inp in net.inputs:
        if inp.name.startswith("dc "):
            i = M.POPULATIONS.index(inp.name[3:])
            # the mean charge per spike: the exact-integration current's
            w_row = np.array([w_model * (2 if (i, j) == (0, 2) else 1) * (1 if j % 2 == 0 else -4) for j in range(8)])
            full = tau * (np.sum(k_full[i] * w_row * np.asarray(M.FULL_SCALE_RATES_HZ)) + M.K_EXT[i] * w_model * 8.0)
            assert float(inp.params.amplitude) == pytest.approx((1 - math.sqrt(scale)) * full, rel=1e-6)


def test_a_dc_background_carries_the_whole_external_mean():
    net = M.microcircuit(0.02, background="dc", seed=3)
    assert not any(isinstance(i.source, ns.inputs.PoissonInput) for i in net.inputs)
    poisson = M.microcircuit(0.02, background="poisson", seed=3)
    w_exc = 0.15 * M.psc_per_psp()
    for a, b in zip([i for i in net.inputs], [i for i in poisson.inputs if i.name.startswith("dc ")]):
        k = M.POPULATIONS.index(a.name[3:])
        extra = M.TAU_SYN * 1e-3 * M.K_EXT[k] * w_exc * 8.0 * math.sqrt(0.02)
        assert float(a.params.amplitude) == pytest.approx(float(b.params.amplitude) + extra, rel=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scale=0.0), r"scale must be a positive finite number"),
    (dict(scale=2.0), r"scale must be in \(0, 1\]"),
    (dict(scale=0.02, k_scale=1.0), r"L23E -> L23E needs an in-degree of 2200 from 414 neurons at scale=0.02"),
    (dict(background="noise"), r"background must be 'poisson' or 'dc'"),
    (dict(seed="a"), r"seed must be an integer"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.microcircuit(**kwargs)


@pytest.mark.slow
def test_a_small_microcircuit_fires_at_cortical_rates(small):
    res = ns.simulate(small, 400.0, 0.1, key=2, monitors=[ns.Spikes(p) for p in M.POPULATIONS], progress=False)
    rates = {p.name: float((res.spikes[p.name][0] > 100.0).sum()) / p.n / 0.3 for p in small.populations}
    # at scale 0.02 L2/3E, L2/3I and L6E are nearly silent (NEST's run of such a network: 0.005,
    # 0.09 and 0.08 Hz); the other five fire at cortical rates
    assert all(0.2 < rates[p] < 30.0 for p in ("L4E", "L4I", "L5E", "L5I", "L6I")), rates
    assert max(rates.values()) < 30.0, rates
    # the layer ordering of the full model survives the downscaling: L5 and the interneurons
    # fire faster than L2/3 and L6 excitatory cells
    assert rates["L5E"] > rates["L23E"] and rates["L5E"] > rates["L6E"]
    assert rates["L5I"] > rates["L5E"] and rates["L6I"] > rates["L6E"]


def test_the_network_written_for_nest_is_the_network_built(small, tmp_path):
    """benchmarks/microcircuit.py writes the network for NEST: every synapse, weight and delay,
    the DC and Poisson inputs, and the factor that gives the model's PSP under NEST's exact
    integration."""
    import importlib.util
    import sys
    from pathlib import Path
    path, saved = Path(__file__).resolve().parents[1] / "benchmarks" / "microcircuit.py", list(sys.path)
    spec = importlib.util.spec_from_file_location("benchmark_microcircuit", path)
    B = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(B)
    finally:
        sys.path[:] = saved          # the script puts benchmarks/ and benchmarks/peers/ on the path
    B.export(small, str(tmp_path / "net.npz"), 0.02, 0.1)
    f = np.load(tmp_path / "net.npz")
    assert [int(n) for n in f["sizes"]] == [p.n for p in small.populations]
    assert float(f["weight_factor"]) * 0.15 * M.psc_per_psp(dt=0.1) == pytest.approx(87.808, abs=1e-3)
    names = list(M.POPULATIONS)
    for k, pr in enumerate(small.projections):
        src, tgt = (int(x) for x in f[f"projection {k}"])
        assert (names[src], names[tgt]) == (pr.pre, pr.post)
        np.testing.assert_array_equal(f[f"pre {k}"], np.asarray(pr.conn.rows))
        np.testing.assert_array_equal(f[f"post {k}"], np.asarray(pr.conn.indices))
        np.testing.assert_array_equal(f[f"weight {k}"], np.asarray(pr.weights, np.float32))
        np.testing.assert_allclose(f[f"delay {k}"], np.asarray(pr.delay_ms), rtol=1e-6)
    inputs = {i.name: i for i in small.inputs}
    for k, name in enumerate(names):
        assert f[f"neuron {k}"][7] == pytest.approx(float(inputs[f"dc {name}"].params.amplitude), rel=1e-6)
        n_src, rate, w = f[f"background {k}"]
        assert (n_src, rate) == (inputs[f"bg {name}"].source.n_sources, 8.0)
        assert w == pytest.approx(float(inputs[f"bg {name}"].params.weight), rel=1e-6)
