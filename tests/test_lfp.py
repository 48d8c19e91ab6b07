"""neurosim.analysis.lfp (the LFP proxy: sum of absolute synaptic currents) against a hand
computation on a tiny network, and neurosim.analysis.aperiodic_exponent on synthetic spectra
(exact power laws, power laws with a narrow peak, and time series of known spectrum through
welch)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim.analysis import aperiodic_exponent, lfp_proxy, synaptic_currents, welch
from neurosim.inputs import ConstantCurrent, PoissonInput, PoissonInputParams, SpikeTimes
from neurosim.neurons import LIF, LIFParams
from neurosim.synapses import Synapse, SynapseParams

DT = 0.1


# --------------------------------------------------------------------------- LFP proxy


def tiny_net():
    """2 spike sources -> 3 LIF cells through: a conductance synapse onto all of them
    ("ampa"), a conductance synapse onto cells 1-2 only ("gaba"), a current synapse ("cur");
    plus a synaptic Poisson input onto cells 0-1 ("drive") and a constant current ("bias")."""
    pre = ns.Population("pre", 2, SpikeTimes(np.array([0.05, 0.25]), np.array([0, 1])))
    post = ns.Population("post", 3, LIF(), LIFParams())
    cond = Synapse("exponential", "conductance")
    conn = ns.events.fixed_probability(2, 3, 1.0, seed=0)
    conn_12 = ns.events.fixed_probability(2, 2, 1.0, seed=0)
    projections = [
        ns.Projection("ampa", "pre", "post", conn, 2.0, cond, SynapseParams(tau=5.0, e_rev=0.0)),
        ns.Projection("gaba", "pre", ("post", 1, 3), conn_12, 3.0, cond, SynapseParams(tau=10.0, e_rev=-80.0)),
        ns.Projection("cur", "pre", "post", conn, -20.0, Synapse("exponential", "current"), SynapseParams(tau=5.0)),
    ]
    inputs = [
        ns.Input("drive", ("post", 0, 2), PoissonInput(n_sources=5, synapse=cond),
                 PoissonInputParams(rate_hz=50.0, weight=1.0, synapse=SynapseParams(tau=5.0, e_rev=10.0))),
        ns.Input("bias", "post", ConstantCurrent(), ConstantCurrent.Params(100.0)),
    ]
    return ns.Network([pre, post], projections, inputs)


G = {"ampa": [1.0, 2.0, 3.0], "gaba": [4.0, 5.0], "cur": [-7.0, 8.0, -9.0], "drive": [0.5, 1.5]}
V = np.array([-70.0, -60.0, -50.0])


def hand_state(net):
    s = ns.init_state(net, net.params(), 0, DT)
    syn = {k: s.synapses[k]._replace(g=jnp.asarray(G[k], jnp.float32)) for k in ("ampa", "gaba", "cur")}
    inputs = dict(s.inputs, drive=s.inputs["drive"]._replace(g=jnp.asarray(G["drive"], jnp.float32)))
    neurons = dict(s.neurons, post=s.neurons["post"]._replace(v=jnp.asarray(V, jnp.float32)))
    return s._replace(synapses=syn, inputs=inputs, neurons=neurons)


def hand_currents(v=V):
    """The currents of every synapse on the 3 cells, by hand (pA)."""
    return {
        "ampa": np.array(G["ampa"]) * (0.0 - v),
        "gaba": np.array([0.0, G["gaba"][0] * (-80.0 - v[1]), G["gaba"][1] * (-80.0 - v[2])]),
        "cur": np.array(G["cur"]),
        "drive": np.array([G["drive"][0] * (10.0 - v[0]), G["drive"][1] * (10.0 - v[1]), 0.0]),
    }


def test_synaptic_currents_and_lfp_match_a_hand_computation():
    net = tiny_net()
    params, state = net.params(), hand_state(net)
    got = synaptic_currents(net, params, state, "post")
    want = hand_currents()
    assert set(got) == {"ampa", "gaba", "cur", "drive"}  # the constant current is not synaptic
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-6, err_msg=k)
    total = sum(np.abs(x).sum() for x in want.values())
    # ampa 70+120+150, gaba 80+150, cur 7+8+9, drive 40+105: 739 pA
    assert total == pytest.approx(739.0)
    assert float(lfp_proxy(net, params, state, "post")) == pytest.approx(total, rel=1e-6)


def test_lfp_of_a_slice_and_of_chosen_synapses():
    net = tiny_net()
    params, state = net.params(), hand_state(net)
    want = hand_currents()
    got = synaptic_currents(net, params, state, ("post", 1, 3))
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k][1:3], rtol=1e-6, err_msg=k)
    only = float(lfp_proxy(net, params, state, "post", synapses=["ampa", "gaba"]))
    assert only == pytest.approx(np.abs(want["ampa"]).sum() + np.abs(want["gaba"]).sum(), rel=1e-6)
    assert float(lfp_proxy(net, params, state, "post", synapses="cur")) == pytest.approx(24.0)


def test_v_hold_uses_a_fixed_potential_for_conductances_only():
    net = tiny_net()
    params, state = net.params(), hand_state(net)
    got = synaptic_currents(net, params, state, "post", v_hold=-65.0)
    want = hand_currents(np.full(3, -65.0))
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-6, err_msg=k)
    np.testing.assert_allclose(np.asarray(got["cur"]), G["cur"])  # current synapses do not depend on V


def test_lfp_reads_the_synapse_parameters_from_params():
    net = tiny_net()
    params, state = net.params(), hand_state(net)
    params.projections["ampa"] = params.projections["ampa"]._replace(synapse=SynapseParams(tau=5.0, e_rev=20.0))
    got = synaptic_currents(net, params, state, "post", synapses=["ampa"])["ampa"]
    np.testing.assert_allclose(np.asarray(got), np.array(G["ampa"]) * (20.0 - V), rtol=1e-6)


def test_lfp_equals_the_current_the_next_step_uses():
    """After real steps, the conductance part of the proxy equals sum |g (E - V)| of the
    network's own state, and it jits, vmaps over states and has a gradient."""
    net = tiny_net()
    params = net.params()
    final, obs = jax.jit(lambda p, s: ns.run(net, p, s, 5, DT, observe=lambda s2, spk: (s2, lfp_proxy(net, p, s2, "post"))))(
        params, ns.init_state(net, params, 0, DT))
    states, lfp = obs
    assert float(lfp[-1]) > 0  # the sources spiked at 0.05 and 0.25 ms
    for k in range(5):
        s = jax.tree.map(lambda x: x[k], states)
        v = np.asarray(s.neurons["post"].v, float)
        g = {name: np.asarray(s.synapses[name].g, float) for name in ("ampa", "gaba", "cur")}
        want = (np.abs(g["ampa"] * (0.0 - v)).sum() + np.abs(g["gaba"] * (-80.0 - v[1:])).sum()
                + np.abs(g["cur"]).sum() + np.abs(np.asarray(s.inputs["drive"].g) * (10.0 - v[:2])).sum())
        assert float(lfp[k]) == pytest.approx(want, rel=1e-5)
    batched = jax.vmap(lambda s: lfp_proxy(net, params, s, "post"))(states)
    np.testing.assert_allclose(np.asarray(batched), np.asarray(lfp), rtol=1e-6)
    state = hand_state(net)
    grad = jax.grad(lambda w: lfp_proxy(net, params._replace(projections=dict(
        params.projections, ampa=params.projections["ampa"]._replace(synapse=SynapseParams(5.0, w)))), state, "post"))
    # d/dE sum_j |g_j (E - V_j)| = sum_j g_j sign(E - V_j) = 1 + 2 + 3 at E = 0 mV
    assert float(grad(jnp.float32(0.0))) == pytest.approx(6.0)


def test_lfp_errors_name_the_problem():
    net = tiny_net()
    params, state = net.params(), hand_state(net)
    with pytest.raises(ValueError, match="no population named 'nope'"):
        lfp_proxy(net, params, state, "nope")
    with pytest.raises(ValueError, match="spike source"):
        lfp_proxy(net, params, state, "pre")
    with pytest.raises(ValueError, match=r"'bias' is not a projection or synaptic input ending on population 'post'"):
        lfp_proxy(net, params, state, "post", synapses=["bias"])
    with pytest.raises(ValueError, match=r"slice \[2, 5\) is not inside population 'post'"):
        lfp_proxy(net, params, state, ("post", 2, 5))
    with pytest.raises(ValueError, match="v_hold must be None or a finite potential"):
        lfp_proxy(net, params, state, "post", v_hold=float("nan"))
    with pytest.raises(ValueError, match="at least one"):
        lfp_proxy(net, params, state, "post", synapses=[])
    lonely = ns.Network([ns.Population("a", 2, LIF())])
    with pytest.raises(ValueError, match="receives no projection and no synaptic input"):
        lfp_proxy(lonely, lonely.params(), ns.init_state(lonely, lonely.params(), 0, DT), "a")


# --------------------------------------------------------------------------- aperiodic exponent


FREQS = np.arange(0.0, 200.0, 0.5)


def power_law(chi, offset=3.0):
    psd = np.zeros_like(FREQS)
    psd[1:] = 10.0**offset * FREQS[1:] ** -chi
    return psd


@pytest.mark.parametrize("chi", [0.5, 1.0, 2.0, 3.5])
def test_exact_power_law_is_recovered(chi):
    got, fit = aperiodic_exponent(FREQS, power_law(chi), 20.0, 80.0)
    assert got == pytest.approx(chi, abs=1e-9)
    assert fit.chi == got and fit.offset == pytest.approx(3.0, abs=1e-9)
    assert fit.kept.all() and fit.n_iter == 1 and fit.freqs[0] == 20.0 and fit.freqs[-1] == 80.0
    np.testing.assert_allclose(fit.power(fit.freqs), power_law(chi)[(FREQS >= 20) & (FREQS <= 80)], rtol=1e-9)


@pytest.mark.parametrize("chi", [1.0, 2.0])
@pytest.mark.parametrize("f_peak, height", [(40.0, 10.0), (65.0, 3.0), (25.0, 30.0)])
def test_a_narrow_peak_is_left_out(chi, f_peak, height):
    """A Gaussian bump (sd 1.5 Hz) on top of the power law biases a plain least-squares fit by
    0.1-0.4; the robust fit drops it and recovers chi."""
    psd = power_law(chi) * (1.0 + height * np.exp(-0.5 * ((FREQS - f_peak) / 1.5) ** 2))
    plain, _ = aperiodic_exponent(FREQS, psd, 20.0, 80.0, max_iter=1)
    robust, fit = aperiodic_exponent(FREQS, psd, 20.0, 80.0)
    assert abs(plain - chi) > 0.05
    assert robust == pytest.approx(chi, abs=0.01)
    dropped = fit.freqs[~fit.kept]
    assert f_peak in dropped and fit.kept.sum() >= fit.kept.size / 2
    # without noise even the far tails of the bump lie above the line, so they go too; the
    # fitted line goes through the rest exactly
    assert fit.residual_sd < 1e-6


def colored_noise(chi, n, fs, rng):
    """Gaussian noise whose spectrum is exactly proportional to f^-chi (f > 0), by shaping the
    Fourier transform of white noise."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    gain = np.zeros_like(f)
    gain[1:] = f[1:] ** (-chi / 2.0)
    return np.fft.irfft(spec * gain, n)


@pytest.mark.parametrize("chi", [1.0, 2.0])
def test_time_series_of_known_power_law_through_welch(chi):
    rng = np.random.default_rng(7)
    x = colored_noise(chi, 2**17, 1000.0, rng)            # 131 s at 1 kHz
    f, psd = welch(x, 1000.0, 1000)                       # 1 Hz resolution, ~260 segments
    got, fit = aperiodic_exponent(f, psd, 20.0, 80.0)
    assert got == pytest.approx(chi, abs=0.05)
    assert fit.residual_sd < 0.1


def test_time_series_with_an_oscillation_through_welch():
    """1/f^2 noise plus a 40 Hz sine: the peak is dropped and the exponent survives."""
    rng = np.random.default_rng(3)
    n, fs = 2**17, 1000.0
    x = colored_noise(2.0, n, fs, rng)
    t = np.arange(n) / fs
    f0, psd0 = welch(x, fs, 1000)
    k40 = np.argmin(np.abs(f0 - 40.0))
    amp = math.sqrt(2 * 50.0 * psd0[k40])   # the sine's line is ~50x the background at 40 Hz
    f, psd = welch(x + amp * np.sin(2 * np.pi * 40.0 * t), fs, 1000)
    assert psd[k40] > 20 * psd0[k40]
    plain, _ = aperiodic_exponent(f, psd, 20.0, 80.0, max_iter=1)
    robust, fit = aperiodic_exponent(f, psd, 20.0, 80.0)
    assert robust == pytest.approx(2.0, abs=0.05)
    assert abs(plain - 2.0) > abs(robust - 2.0)
    assert not fit.kept[np.argmin(np.abs(fit.freqs - 40.0))]


def test_exponentially_filtered_noise_has_the_lorentzian_slope():
    """White noise through g <- a g + xi (the synapse's discrete filter, tau = 5 ms, dt = 1 ms):
    the fitted exponent equals that of the exact AR(1) spectrum, as in the E/I example."""
    rng = np.random.default_rng(11)
    a = math.exp(-1.0 / 5.0)
    xi = rng.standard_normal(2**17)
    g = np.empty_like(xi)
    acc = 0.0
    for i, v in enumerate(xi):  # a plain recursion (scipy.signal.lfilter would do the same)
        acc = a * acc + v
        g[i] = acc
    f, psd = welch(g, 1000.0, 500)
    exact = 1.0 / (1.0 - 2.0 * a * np.cos(2 * np.pi * f / 1000.0) + a * a)
    want, _ = aperiodic_exponent(f, exact, 20.0, 80.0, max_iter=1)
    got, _ = aperiodic_exponent(f, psd, 20.0, 80.0)
    assert 1.0 < want < 1.6
    assert got == pytest.approx(want, abs=0.05)


def test_aperiodic_exponent_errors():
    psd = power_law(1.0)
    with pytest.raises(ValueError, match="same length"):
        aperiodic_exponent(FREQS, psd[:-1], 20.0, 80.0)
    with pytest.raises(ValueError, match="0 < fmin < fmax"):
        aperiodic_exponent(FREQS, psd, 80.0, 20.0)
    with pytest.raises(ValueError, match="0 < fmin < fmax"):
        aperiodic_exponent(FREQS, psd, 0.0, 20.0)
    with pytest.raises(ValueError, match="holds 2 frequencies"):
        aperiodic_exponent(FREQS, psd, 20.0, 20.5)
    bad = psd.copy()
    bad[100] = 0.0   # 50 Hz
    with pytest.raises(ValueError, match="positive and finite"):
        aperiodic_exponent(FREQS, bad, 20.0, 80.0)
    with pytest.raises(ValueError, match="peak_threshold"):
        aperiodic_exponent(FREQS, psd, 20.0, 80.0, peak_threshold=-1.0)
