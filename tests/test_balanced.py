"""E/I builders (neurosim.builders.balanced): wiring (exact in-degrees, delays, weights,
presets), COBA/CUBA as presets of the general builder, the exact voltage jump J of the Brunel
network, clear errors; and the PoissonInput sampler that drives it (distribution against the
exact Poisson law, small and large means)."""
import hashlib
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import neurosim as ns
from neurosim.builders import coba, cuba
from neurosim.builders.balanced import (
    BRUNEL_REGIMES,
    ConstantDrive,
    FixedIndegree,
    FixedProbability,
    PoissonDrive,
    brunel2000,
    brunel2000_params,
    brunel2000_regime_params,
    ei_network,
    in_degrees,
    jump_current,
)
from neurosim.inputs import ConstantCurrent, PoissonInput, PoissonInputParams, SpikeTimes
from neurosim.inputs.currents import POISSON_INVERSION_MAX, poisson_counts
from neurosim.neurons import LIF, LIFParams
from neurosim.synapses import Synapse, SynapseParams

DT = 0.1


def projection(net, name):
    return next(p for p in net.projections if p.name == name)


# =========================================================================== general builder


def test_ei_network_fixed_indegree_is_exact_and_slices_are_e_then_i():
    net = ei_network(80, 20, connectivity=FixedIndegree(8, 2), j_e=1.5, g=4.0, delay_ms=0.5, seed=3)
    (pop,) = net.populations
    assert pop.name == "neurons" and pop.n == 100
    exc, inh = net.projections
    assert (exc.name, exc.pre, exc.post) == ("exc", ("neurons", 0, 80), "neurons")
    assert (inh.name, inh.pre, inh.post) == ("inh", ("neurons", 80, 100), "neurons")
    np.testing.assert_array_equal(in_degrees(net, "exc"), np.full(100, 8))
    np.testing.assert_array_equal(in_degrees(net, "inh"), np.full(100, 2))
    # distinct partners: no (pre, post) pair twice
    for pr in (exc, inh):
        pairs = np.asarray(pr.conn.rows, np.int64) * 100 + np.asarray(pr.conn.indices)
        assert np.unique(pairs).size == pr.conn.nnz
    assert exc.delay_ms == inh.delay_ms == 0.5
    # current output: inhibition is -g j_e
    assert float(exc.weights) == 1.5 and float(inh.weights) == -6.0
    assert exc.synapse == Synapse("delta", "current") and inh.synapse == exc.synapse
    assert net.inputs == ()


def test_ei_network_seeds_reproduce_and_differ():
    a = ei_network(40, 10, connectivity=FixedIndegree(5, 2), j_e=1.0, g=5.0, seed=1)
    b = ei_network(40, 10, connectivity=FixedIndegree(5, 2), j_e=1.0, g=5.0, seed=1)
    c = ei_network(40, 10, connectivity=FixedIndegree(5, 2), j_e=1.0, g=5.0, seed=2)
    for name in ("exc", "inh"):
        np.testing.assert_array_equal(projection(a, name).conn.indices, projection(b, name).conn.indices)
    assert not np.array_equal(np.asarray(projection(a, "exc").conn.indices), np.asarray(projection(c, "exc").conn.indices))


def test_ei_network_fixed_probability_synapse_count():
    n_e, n_i, p = 400, 100, 0.1
    net = ei_network(n_e, n_i, connectivity=FixedProbability(p), j_e=1.0, g=5.0, seed=0)
    for name, n_pre in (("exc", n_e), ("inh", n_i)):
        nnz = projection(net, name).conn.nnz
        mean, sd = p * n_pre * (n_e + n_i), math.sqrt(p * (1 - p) * n_pre * (n_e + n_i))
        assert abs(nnz - mean) < 5 * sd, (name, nnz, mean)
    # Bernoulli in-degrees vary from neuron to neuron
    assert in_degrees(net, "exc").std() > 1.0


def test_ei_network_conductance_inhibition_is_positive_g_times_j_e():
    cond = Synapse("exponential", "conductance")
    net = ei_network(8, 2, connectivity=FixedProbability(0.5), j_e=2.0, g=4.0, exc_synapse=cond,
                     exc_params=SynapseParams(tau=5.0, e_rev=0.0), inh_params=SynapseParams(tau=10.0, e_rev=-80.0))
    exc, inh = net.projections
    assert float(exc.weights) == 2.0 and float(inh.weights) == 8.0 and inh.synapse == cond
    assert inh.syn_params == SynapseParams(tau=10.0, e_rev=-80.0)
    # an explicit j_i instead of g
    net = ei_network(8, 2, connectivity=FixedProbability(0.5), j_e=2.0, j_i=-3.5)
    assert float(projection(net, "inh").weights) == -3.5


def test_ei_network_drives():
    net = ei_network(8, 2, connectivity=FixedIndegree(2, 1), j_e=1.0, g=1.0, drive=ConstantDrive(150.0))
    (inp,) = net.inputs
    assert inp.name == "background" and inp.target == "neurons"
    assert isinstance(inp.source, ConstantCurrent) and inp.params.amplitude == 150.0
    syn = Synapse("exponential", "current")
    net = ei_network(8, 2, connectivity=FixedIndegree(2, 1), j_e=1.0, g=1.0,
                     drive=PoissonDrive(n_sources=100, rate_hz=5.0, weight=2.5, synapse=syn,
                                        syn_params=SynapseParams(tau=3.0)))
    (inp,) = net.inputs
    assert inp.source == PoissonInput(n_sources=100, synapse=syn)
    assert inp.params == PoissonInputParams(rate_hz=5.0, weight=2.5, synapse=SynapseParams(tau=3.0))


def test_ei_network_runs():
    net = ei_network(80, 20, connectivity=FixedIndegree(10, 3), j_e=50.0, g=3.0, delay_ms=1.0,
                     neuron=LIF(v_init=ns.Uniform(-60.0, -50.0)), drive=ConstantDrive(250.0), dt=DT)
    res = ns.simulate(net, 200.0, DT, monitors=[ns.Spikes("neurons")], progress=False)
    t, ids = res.spikes["neurons"]
    # the drive alone takes every neuron above threshold: the isolated LIF's rate is analytic,
    # 1 / (t_ref + tau ln((V_inf - V_reset) / (V_inf - V_th))), V_inf = V_rest + I / g_L
    p = net.populations[0].params
    v_inf = p.v_rest + 250.0 / p.g_l
    isolated = 1000.0 / (p.t_ref + p.c_m / p.g_l * math.log((v_inf - p.v_reset) / (v_inf - p.v_th)))
    rates = np.bincount(ids[t >= 50.0], minlength=100) / 0.15
    assert np.all(rates > 0)                                   # every neuron fires
    assert 0.3 * isolated < rates.mean() < 3.0 * isolated, (rates.mean(), isolated)


# =========================================================================== COBA / CUBA presets


def _digest(net):
    h = hashlib.sha256()
    for pr in net.projections:
        h.update(pr.name.encode())
        h.update(np.asarray(pr.conn.indptr, np.int64).tobytes())
        h.update(np.asarray(pr.conn.indices, np.int32).tobytes())
        h.update(np.float64(pr.weights).tobytes())
    return h.hexdigest()[:16]


def test_coba_cuba_are_presets_of_ei_network_with_unchanged_wiring():
    # Digests of the networks made by the builder before it became a preset of ei_network
    # (same seed -> same network: the demo, benchmark and examples rely on it).
    assert _digest(coba(400, seed=0)) == _digest(coba(400, seed=0, kick="conductance"))
    assert _digest(coba(400, seed=0)) == "e902824530e30adf"
    assert _digest(cuba(400, seed=1)) == "701df55a8664e097"
    net = coba(400, seed=0)
    same = ei_network(320, 80, connectivity=FixedProbability(0.02), j_e=6.0, j_i=67.0,
                      neuron=LIF(v_init=ns.Uniform(-60.0, -50.0)),
                      neuron_params=LIFParams(v_rest=-60.0, v_reset=-60.0, v_th=-50.0, c_m=200.0, g_l=10.0, t_ref=5.0),
                      exc_synapse=Synapse("exponential", "conductance"), exc_params=SynapseParams(tau=5.0, e_rev=0.0),
                      inh_params=SynapseParams(tau=10.0, e_rev=-80.0), drive=ConstantDrive(200.0), seed=0)
    assert _digest(same) == _digest(net)
    assert jax.tree.structure(same.params()) == jax.tree.structure(net.params())
    for a, b in zip(jax.tree.leaves(same.params()), jax.tree.leaves(net.params())):
        np.testing.assert_array_equal(a, b)


# =========================================================================== Brunel (2000)


@pytest.mark.parametrize("regime", sorted(BRUNEL_REGIMES))
def test_brunel_presets_full_scale_numbers(regime):
    g, ratio, _ = BRUNEL_REGIMES[regime]
    bp = brunel2000_params(regime)
    assert (bp.n_e, bp.n_i, bp.c_e, bp.c_i, bp.c_ext) == (10_000, 2500, 1000, 250, 1000)
    assert bp.j == pytest.approx(0.1) and bp.g == g and bp.nu_ext_over_thr == ratio
    assert bp.nu_thr == pytest.approx(10.0) and bp.nu_ext == pytest.approx(10.0 * ratio)
    assert (bp.tau, bp.theta, bp.v_r, bp.tau_rp, bp.delay) == (20.0, 20.0, 10.0, 2.0, 1.5)


def test_brunel_regime_table():
    assert {r: BRUNEL_REGIMES[r][:2] for r in "ABCD"} == {"A": (3.0, 2.0), "B": (6.0, 4.0), "C": (5.0, 2.0), "D": (4.5, 0.9)}


def test_brunel_scaled_keeps_j_c_e_and_nu_thr():
    bp = brunel2000_params("B", scale=0.2)
    assert (bp.n_e, bp.n_i, bp.c_e, bp.c_i, bp.c_ext) == (2000, 500, 200, 50, 200)
    assert bp.j == pytest.approx(0.5) and bp.j * bp.c_e == pytest.approx(100.0)
    assert bp.nu_thr == pytest.approx(10.0) and bp.nu_ext == pytest.approx(40.0)
    assert brunel2000_params(None, g=7.0, nu_ext_over_thr=1.5) == brunel2000_params("C", g=7.0, nu_ext_over_thr=1.5)


@pytest.fixture(scope="module")
def brunel_small():
    return brunel2000("B", scale=0.2, seed=4)


def test_brunel_wiring_scaled(brunel_small):
    net = brunel_small
    (pop,) = net.populations
    assert pop.n == 2500
    p = pop.params
    assert (p.v_rest, p.v_reset, p.v_th, p.t_ref) == (0.0, 10.0, 20.0, 2.0)
    assert p.c_m / p.g_l == pytest.approx(20.0)  # tau = 20 ms
    np.testing.assert_array_equal(in_degrees(net, "exc"), np.full(2500, 200))
    np.testing.assert_array_equal(in_degrees(net, "inh"), np.full(2500, 50))
    w = jump_current(0.5, p, DT)
    exc, inh = net.projections
    assert exc.delay_ms == inh.delay_ms == 1.5
    assert float(exc.weights) == pytest.approx(w) and float(inh.weights) == pytest.approx(-6.0 * w)
    assert exc.synapse == inh.synapse == Synapse("delta", "current")
    (ext,) = net.inputs
    assert ext.source == PoissonInput(n_sources=200, synapse=Synapse("delta", "current"))
    assert ext.params.rate_hz == pytest.approx(40.0) and ext.params.weight == pytest.approx(w)


def test_brunel_delay_option():
    net = brunel2000("A", scale=0.05, delay_ms=1.6)
    assert [p.delay_ms for p in net.projections] == [1.6, 1.6]
    assert brunel2000("A", scale=0.05).projections[0].delay_ms == 1.5


def test_brunel_probability_connectivity():
    net = brunel2000("C", scale=0.1, connectivity="probability", seed=0)
    k = in_degrees(net, "exc")
    assert abs(k.mean() - 100.0) < 1.0 and k.std() > 5.0  # Bernoulli(1000, 0.1): sd 9.5


def test_brunel_regime_params_equal_the_preset(brunel_small):
    for r in "ACD":
        got = brunel2000_regime_params(brunel_small, r)
        want = brunel2000(r, scale=0.2, seed=4).params()
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def jump_net(weight_mv, *, delay_ms=1.5, spike_ms=0.55, g=None):
    """One source neuron spiking once (step 5) -> one Brunel LIF (at rest, no drive)."""
    lif = LIFParams(v_rest=0.0, v_reset=10.0, v_th=20.0, c_m=20.0, g_l=1.0, t_ref=2.0)
    src = ns.Population("src", 1, SpikeTimes([spike_ms], [0]))
    post = ns.Population("post", 1, LIF(), lif)
    w = jump_current(weight_mv, lif, DT)
    proj = ns.Projection("syn", "src", "post", ns.CSR.from_arrays([0], [0], 1, 1), w,
                         Synapse("delta", "current"), SynapseParams(), delay_ms=delay_ms)
    return ns.Network([src, post], [proj])


@pytest.mark.parametrize("j_mv", [0.1, 0.5, -0.6])
def test_a_spike_moves_v_by_exactly_j_after_the_delay(j_mv):
    net = jump_net(j_mv)
    res = ns.simulate(net, 5.0, DT, monitors=[ns.Trace("post", "v")], progress=False)
    t, v, _ = res.traces["post.v"]
    v = v[:, 0]
    k_spike = 5                     # the source spikes in step 5 (t = 0.5 ms)
    k_jump = k_spike + 15           # delay 15 steps; the jump is in V at the end of step k + 15
    np.testing.assert_array_equal(v[:k_jump], 0.0)      # (sample k: the state at the end of step k)
    # exact up to float32 rounding: V(t+dt) = V_inf + (V - V_inf) e^{-dt/tau} with V_inf = w / g_L
    # (~100 mV for J = 0.5) rounds at a few ulp of V_inf, ~1e-5 mV
    v_inf = jump_current(j_mv, net.population("post").params, DT) / 1.0
    assert abs(v[k_jump] - j_mv) <= 2 * np.finfo(np.float32).eps * abs(v_inf)
    assert t[k_jump] - t[k_spike] == pytest.approx(1.5)  # D after the end of the spike's step
    # then the leak alone: V = J exp(-(t - t_jump) / 20 ms)
    np.testing.assert_allclose(v[k_jump:], v[k_jump] * np.exp(-(t[k_jump:] - t[k_jump]) / 20.0), rtol=1e-5)


def test_jump_current_formula():
    p = LIFParams(c_m=20.0, g_l=1.0)
    assert jump_current(0.1, p, 0.1) == pytest.approx(0.1 / (1.0 - math.exp(-0.005)))
    # independent of how tau is split into C_m and g_L, in mV per pA of g_L
    assert jump_current(0.1, LIFParams(c_m=200.0, g_l=10.0), 0.1) == pytest.approx(10 * jump_current(0.1, p, 0.1))


def test_brunel_network_state_c_runs_asynchronous_at_small_scale():
    net = brunel2000("C", scale=0.1, seed=0)
    res = ns.simulate(net, 300.0, DT, key=0, monitors=[ns.Spikes("neurons")], progress=False)
    t, i = res.spikes["neurons"]
    rate = ns.analysis.mean_rate(t, i, 1250, 100.0, 300.0)
    assert 15.0 < rate < 80.0, rate


# =========================================================================== errors


@pytest.mark.parametrize("kwargs, match", [
    ({"connectivity": FixedIndegree(81, 2)}, "c_e = 81 is larger than the excitatory population"),
    ({"connectivity": FixedIndegree(8, 21)}, "c_i = 21 is larger than the inhibitory population"),
    ({"connectivity": FixedProbability(1.5)}, "probability"),
    ({"connectivity": 0.1}, "connectivity must be FixedIndegree"),
    ({"g": -1.0}, "g must be >= 0"),
    ({"g": float("nan")}, "g must be a finite number"),
    ({"g": 4.0, "j_i": -1.0}, "exactly one of g"),
    ({"g": None}, "exactly one of g"),
    ({"delay_ms": 0.25, "dt": 0.1}, "not a whole number of steps"),
    ({"delay_ms": -1.0}, "delay_ms must be a positive"),
    ({"drive": 200.0}, "drive must be None, ConstantDrive"),
    ({"drive": PoissonDrive(10, -5.0, 1.0)}, "rate_hz must be >= 0"),
    ({"drive": PoissonDrive(0, 5.0, 1.0)}, "n_sources must be >= 1"),
    ({"exc_synapse": Synapse("exponential", "conductance"), "inh_synapse": Synapse("exponential", "conductance"),
      "j_e": -1.0}, "j_e = -1.0 nS is a conductance weight"),
    ({"neuron": LIF}, "neuron must be an instance"),
    ({"exc_synapse": "delta"}, "exc_synapse must be a Synapse"),
])
def test_ei_network_bad_input(kwargs, match):
    base = dict(connectivity=FixedIndegree(8, 2), j_e=1.0, g=4.0)
    with pytest.raises(ValueError, match=match):
        ei_network(80, 20, **{**base, **kwargs})


@pytest.mark.parametrize("call, match", [
    (lambda: brunel2000("E"), "unknown Brunel \\(2000\\) regime 'E'; the presets are \\['A', 'B', 'C', 'D'\\]"),
    (lambda: brunel2000("C", g=-5.0), "g must be >= 0"),
    (lambda: brunel2000("C", dt=0.2), "delay_ms = 1.5 ms is not a whole number of steps of dt = 0.2 ms"),
    (lambda: brunel2000("C", connectivity="random"), "connectivity must be 'indegree' or 'probability'"),
    (lambda: brunel2000("C", scale=0.05, delay_ms=1.55), "delay_ms = 1.55 ms is not a whole number of steps"),
    (lambda: brunel2000("C", scale=0.0), "scale must be a positive"),
    (lambda: brunel2000("C", scale=0.002), "scale = 0.002 is too small"),
    (lambda: brunel2000(None, g=5.0), "regime=None needs both"),
    (lambda: brunel2000("A", nu_ext_over_thr=-1.0), "nu_ext_over_thr must be >= 0"),
    (lambda: brunel2000_regime_params(coba(100), "A"), "needs a network made by brunel2000"),
    (lambda: in_degrees(coba(100), "EE"), "no projection named 'EE'"),
    (lambda: jump_current(0.1, LIFParams(), 0.0), "dt must be a positive"),
])
def test_brunel_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# =========================================================================== the Poisson sampler

N_SAMPLES = 200_000


@partial(jax.jit, static_argnums=(2,))
def draw(key, lam, n):
    return poisson_counts(key, lam, (n,))


def _moments_ok(k, lam):
    """Sample mean and variance within 5 standard errors of Poisson(lam)'s."""
    n = k.size
    mean, var = k.mean(), k.var()
    se_mean = math.sqrt(lam / n)
    se_var = math.sqrt((lam + 2 * lam**2) / n)  # Var of the sample variance: (mu4 - sigma^4) / n
    assert abs(mean - lam) < 5 * se_mean, (lam, mean)
    assert abs(var - lam) < 5 * se_var, (lam, var)


@pytest.mark.parametrize("lam", [0.05, 0.4, 0.9, 2.0, 4.0, 8.0, 11.5])
def test_poisson_counts_inversion_is_poisson(lam):
    k = np.asarray(draw(jax.random.key(int(lam * 100)), jnp.float32(lam), N_SAMPLES))
    assert k.dtype == np.float32 and np.all(k == np.round(k)) and k.min() >= 0
    _moments_ok(k, lam)
    # chi-square goodness of fit on the bins with >= 20 expected counts (+ the tail bin)
    kmax = int(stats.poisson.ppf(1 - 20 / N_SAMPLES, lam))
    obs = np.bincount(np.minimum(k.astype(int), kmax + 1), minlength=kmax + 2)
    exp = N_SAMPLES * np.append(stats.poisson.pmf(np.arange(kmax + 1), lam), stats.poisson.sf(kmax, lam))
    assert stats.chisquare(obs, exp).pvalue > 1e-4


@pytest.mark.parametrize("lam", [12.0, 40.0, 300.0, 5000.0])
def test_poisson_counts_large_means_match_mean_variance_and_skewness(lam):
    assert lam >= POISSON_INVERSION_MAX  # the normal-approximation branch
    k = np.asarray(draw(jax.random.key(7), jnp.float32(lam), N_SAMPLES)).astype(np.float64)
    assert np.all(k == np.round(k)) and k.min() >= 0
    _moments_ok(k, lam)
    # skewness 1/sqrt(lam) (sampling sd ~ sqrt(6 / n) = 0.0055)
    assert abs(stats.skew(k) - 1 / math.sqrt(lam)) < 0.03
    # the distribution, not only its moments: the CDF within 0.01 of Poisson's everywhere
    grid = np.arange(int(lam - 4 * math.sqrt(lam)), int(lam + 4 * math.sqrt(lam)))
    emp = np.searchsorted(np.sort(k), grid, side="right") / k.size
    assert np.max(np.abs(emp - stats.poisson.cdf(grid, lam))) < 0.01


def test_poisson_counts_per_element_means_and_edge_cases():
    lam = jnp.array([0.0, 1.0, 30.0, 0.0] * 25_000)
    k = np.asarray(jax.jit(lambda key: poisson_counts(key, lam, lam.shape))(jax.random.key(1)))
    np.testing.assert_array_equal(k[0::4], 0.0)
    for j, m in ((1, 1.0), (2, 30.0)):
        assert abs(k[j::4].mean() - m) < 5 * math.sqrt(m / 25_000)
    # same key, same counts; another key, other counts
    a, b = draw(jax.random.key(3), jnp.float32(2.0), 1000), draw(jax.random.key(3), jnp.float32(2.0), 1000)
    np.testing.assert_array_equal(a, b)
    assert np.any(np.asarray(a) != np.asarray(draw(jax.random.key(4), jnp.float32(2.0), 1000)))


def test_poisson_input_in_a_network_has_no_gradient_through_the_rate_but_through_the_weight():
    pop = ns.Population("n", 50, LIF(), LIFParams(v_rest=0.0, v_reset=10.0, v_th=20.0, c_m=20.0, g_l=1.0, t_ref=2.0))
    inp = ns.Input("ext", "n", PoissonInput(n_sources=100, synapse=Synapse("delta", "current")),
                   PoissonInputParams(rate_hz=20.0, weight=20.0))
    net = ns.Network([pop], [], [inp])
    params = net.params()
    state = ns.init_state(net, params, jax.random.key(0), DT)

    def loss(params):
        final, _ = ns.run(net, params, state, 50, DT)
        return final.neurons["n"].v.sum()

    grads = jax.grad(loss)(params)
    assert float(grads.inputs["ext"].rate_hz) == 0.0
    assert float(grads.inputs["ext"].weight) > 0.0


# =========================================================================== the documentation


@pytest.mark.slow
def test_docs_page_runs(tmp_path, monkeypatch):
    """Every ```python block of docs/builders_balanced.md runs, in order, in one namespace."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "builders_balanced.md"
    text = page.read_text()
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_builders_balanced"}
    blocks = list(re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S))
    assert len(blocks) >= 5
    for m in blocks:
        first_line = text.count("\n", 0, m.start(1))
        exec(compile("\n" * first_line + m.group(1), str(page), "exec"), namespace)
