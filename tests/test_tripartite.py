"""The tripartite synapse (neurosim.astrocytes.Gliotransmission) and astrocyte domains: the
exact targets of docs/papers.md section 11.2, a numpy replay of the whole chain in a network
(astrocyte -> G_A -> Gamma_S -> U_0 -> Tsodyks-Markram release), vmap, grads, and bad input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import neurosim as ns
from neurosim.astrocytes import (
    ASTROCYTE_PRESETS, Astrocyte, Gliotransmission, GliotransmissionParams, domains, receptor_step, resting_release,
)
from neurosim.events.jitconn import JitConn
from neurosim.inputs import SpikeTimes
from neurosim.neurons import LIF
from neurosim.synapses import Synapse, SynapseParams
from neurosim.synapses.dynamics import SynapseShape, SynapticEvents
from neurosim.synapses.short_term import TsodyksMarkramParams

DT = 1.0   # ms


def test_resting_release_targets():
    # (i) Gamma_S = 0.5, U_0* = 0.6: U_0 = 0.30 (alpha = 0), 0.80 (alpha = 1)
    assert float(resting_release(0.6, GliotransmissionParams(alpha=0.0), 0.5)) == pytest.approx(0.30)
    assert float(resting_release(0.6, GliotransmissionParams(alpha=1.0), 0.5)) == pytest.approx(0.80)


def test_receptor_steady_state_and_closed_form():
    # (iii) constant G_A = 1 uM: Gamma* = O_G G_A / (O_G G_A + Omega_G) = 0.9945
    p = GliotransmissionParams()
    g = jnp.float32(0.0)
    for _ in range(300):
        g = receptor_step(p, g, 1.0, 100.0)     # 30 s in steps of 100 ms
    assert float(g) == pytest.approx(1.5 / (1.5 + 0.5 / 60), abs=1e-5)
    assert 1.5 / (1.5 + 0.5 / 60) == pytest.approx(0.9945, abs=1e-4)
    # one long step equals many short ones (closed form, constant G_A)
    many = jnp.float32(0.2)
    for _ in range(50):
        many = receptor_step(p, many, 0.01, 2.0)
    np.testing.assert_allclose(float(many), float(receptor_step(p, 0.2, 0.01, 100.0)), rtol=1e-5)
    # no binding and no unbinding: Gamma_S stays (and no 0/0)
    assert float(receptor_step(GliotransmissionParams(o_g=0.0, omega_g=0.0), 0.5, 3.0, 10.0)) == 0.5


def _events(n_pre, conn, g_a, pre):
    return SynapticEvents(jnp.asarray(pre, jnp.float32), jnp.zeros(conn.n_post), conn, jnp.zeros((), jnp.int32), DT,
                          5.0, {}, {"astro": _AstroG(jnp.asarray(g_a, jnp.float32))})


class _AstroG:
    """The part of an astrocyte's state the mechanism reads."""

    def __init__(self, g_a):
        self.g_a = g_a


def test_first_release_is_u0_and_gliotransmission_halves_it():
    # (ii) a rested synapse (u = 0, x = 1) releases U_0 at its first spike; with Gamma_S = 0.5 and
    # alpha = 0 that is half of U_0* (receptors frozen: o_g = omega_g = 0)
    conn = ns.events.all_to_all(2, 1)
    mech = Gliotransmission("astro", np.zeros(conn.nnz, int))
    params = (TsodyksMarkramParams(U=0.6, tau_rec=500.0, tau_facil=300.0), GliotransmissionParams(0.0, 0.0, 0.0))
    state = mech.init(params, SynapseShape(2, 1, conn.nnz, jnp.float32))
    ev = _events(2, conn, [0.0], [1.0, 1.0])
    _, w0 = mech.modulate(params, state, jnp.ones(conn.nnz), ev)
    _, w_half = mech.modulate(params, state._replace(gamma_s=jnp.full(conn.nnz, 0.5)), jnp.ones(conn.nnz), ev)
    np.testing.assert_allclose(np.asarray(w0), 0.6, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(w_half), 0.3, rtol=1e-6)


def tripartite_net(alpha, n_pre=3, c_theta=0.3, spike_every_ms=250.0, duration_ms=30e3):
    times = np.arange(10.0, duration_ms, spike_every_ms) + 0.5
    ids = np.arange(times.size) % n_pre
    pre = ns.Population("pre", n_pre, SpikeTimes(times, ids))
    post = ns.Population("post", 2, LIF())
    astro = ns.Population("astro", 2, Astrocyte(ip3="clamped"),
                          ASTROCYTE_PRESETS["li_rinzel_1994"]._replace(ip3=np.array([0.5, 0.4], np.float32),
                                                                        c_theta=c_theta))
    conn = ns.events.all_to_all(n_pre, 2)
    domain = domains.by_postsynaptic(conn, np.array([0, 1]))
    glio = Gliotransmission("astro", domain, initial=(TsodyksMarkramParams(0.6, 500.0, 300.0),
                                                      GliotransmissionParams(1.5, 0.5 / 60, alpha)))
    proj = ns.Projection("syn", "pre", "post", conn, 100.0, Synapse("delta", "current"), SynapseParams(tau=1.0),
                         dynamics=[glio])
    return ns.Network([pre, astro, post], [proj]), times, ids, conn, domain


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_network_release_matches_a_numpy_replay(alpha):
    net, times, ids, conn, domain = tripartite_net(alpha)
    n_steps = 30000
    state = ns.init_state(net, net.params(), 0, DT)
    obs = lambda s, spk: (s.synapses["syn"].g, s.neurons["astro"].g_a, spk["astro"])
    final, (g, g_a, events) = jax.jit(lambda s: ns.run(net, net.params(), s, n_steps, DT, observe=obs))(state)
    g, g_a = np.asarray(g, float), np.asarray(g_a, float)
    assert np.asarray(events).sum(0).min() >= 1          # both astrocytes released gliotransmitter
    # numpy replay: per synapse, Gamma_S from its astrocyte's G_A; 2-state TM with U = U_0 at spikes
    rows, cols = np.asarray(conn.rows), np.asarray(conn.indices)
    gam = np.zeros(conn.nnz)
    u, x, last = np.zeros(conn.nnz), np.ones(conn.nnz), np.zeros(conn.nnz)
    spike_steps = {}
    for t_ms, i in zip(times, ids):
        spike_steps.setdefault(int(t_ms // DT), []).append(i)
    want = np.zeros((n_steps, 2))
    o_g, om_g = 1.5, 0.5 / 60
    for k in range(n_steps):
        ga = g_a[k][domain]
        kk = o_g * ga + om_g
        inf = o_g * ga / kk
        gam = inf + (gam - inf) * np.exp(-kk * DT * 1e-3)
        for i in spike_steps.get(k, []):
            sel = rows == i
            delta = (k - last[sel]) * DT
            uu = u[sel] * np.exp(-delta / 300.0)
            xx = 1 - (1 - x[sel]) * np.exp(-delta / 500.0)
            u0 = (1 - gam[sel]) * 0.6 + alpha * gam[sel]
            uu = uu + u0 * (1 - uu)
            r = uu * xx
            u[sel], x[sel], last[sel] = uu, xx - r, k
            np.add.at(want[k], cols[sel], 100.0 * r)
    np.testing.assert_allclose(g, want, rtol=2e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(final.dynamics["syn"]["glio"].gamma_s), gam, rtol=1e-3, atol=1e-6)
    # the two astrocytes differ (IP3 0.5 vs 0.4), so their synapses do
    assert abs(gam[cols == 0].mean() - gam[cols == 1].mean()) > 1e-3


def test_release_decreasing_and_increasing_gliotransmission_move_release_apart():
    # after the astrocytes have released, alpha = 0 lowers and alpha = 1 raises what a spike delivers
    totals = {}
    for alpha in (0.0, 1.0):
        net, *_ = tripartite_net(alpha)
        res = ns.simulate(net, 30e3, DT, key=0)
        totals[alpha] = float(np.asarray(res.state.dynamics["syn"]["glio"].gamma_s).mean())
    # same Gamma_S either way (the receptors do not depend on alpha) ...
    assert totals[0.0] == pytest.approx(totals[1.0], rel=1e-6) and totals[0.0] > 0.05
    # ... and the resting release is moved to opposite sides of U_0* = 0.6
    p0, p1 = GliotransmissionParams(alpha=0.0), GliotransmissionParams(alpha=1.0)
    assert float(resting_release(0.6, p0, totals[0.0])) < 0.6 < float(resting_release(0.6, p1, totals[1.0]))


def test_vmap_over_alpha_equals_a_loop():
    net, *_ = tripartite_net(0.0, duration_ms=8e3)
    base = net.params()

    def total_drive(alpha):
        tm, gp = base.projections["syn"].dynamics["glio"]
        params = base._replace(projections={"syn": base.projections["syn"]._replace(
            dynamics={"glio": (tm, gp._replace(alpha=alpha))})})
        _, g = ns.run(net, params, ns.init_state(net, params, 0, DT), 8000, DT,
                      observe=lambda s, spk: jnp.sum(s.synapses["syn"].g))
        return jnp.sum(g)

    alphas = jnp.array([0.0, 0.5, 1.0], jnp.float32)
    batched = jax.jit(jax.vmap(total_drive))(alphas)
    looped = [float(jax.jit(total_drive)(a)) for a in alphas]
    np.testing.assert_allclose(np.asarray(batched), looped, rtol=1e-6)


def test_grads_wrt_gliotransmission_params(x64):
    net, *_ = tripartite_net(0.5, duration_ms=6e3)
    base = net.params()
    state = ns.init_state(net, base, 0, DT)

    def total_drive(o_g, alpha, u0):
        tm, gp = base.projections["syn"].dynamics["glio"]
        params = base._replace(projections={"syn": base.projections["syn"]._replace(
            dynamics={"glio": (tm._replace(U=u0), gp._replace(o_g=o_g, alpha=alpha))})})
        _, g = ns.run(net, params, state, 6000, DT, observe=lambda s, spk: jnp.sum(s.synapses["syn"].g))
        return jnp.sum(g)

    check_grads(total_drive, (jnp.float64(1.5), jnp.float64(0.5), jnp.float64(0.6)), order=1, modes=["rev"],
                eps=1e-5, rtol=1e-4)


def test_domains():
    conn = ns.CSR.from_arrays(np.array([0, 0, 1, 2]), np.array([1, 2, 0, 2]), 3, 3)
    np.testing.assert_array_equal(domains.by_postsynaptic(conn, np.array([5, 6, 7])), [6, 7, 5, 7])
    np.testing.assert_array_equal(domains.by_presynaptic(conn, np.array([5, 6, 7])), [5, 5, 6, 7])
    np.testing.assert_array_equal(domains.tiles(6, 3), [0, 0, 1, 1, 2, 2])
    near = domains.nearest(np.array([[0.0, 0.0], [10.0, 0.0], [4.0, 0.0]]), np.array([[9.0, 0.0], [1.0, 0.0]]), k=2)
    np.testing.assert_array_equal(near, [[1, 0], [0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"by_postsynaptic: territory has 2 rows, but the connectivity has 3"):
        domains.by_postsynaptic(conn, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"nearest: k must be an integer in \[1, 2\]"):
        domains.nearest(np.zeros((3, 2)), np.zeros((2, 2)), k=3)
    with pytest.raises(ValueError, match=r"tiles: 4 astrocytes for 3 neurons"):
        domains.tiles(3, 4)


def test_k_astrocytes_per_synapse_see_their_mean():
    conn = ns.events.all_to_all(1, 2)
    mech = Gliotransmission("astro", np.array([[0, 1], [1, 1]]))
    params = (TsodyksMarkramParams(U=0.6), GliotransmissionParams(1.5, 0.0, 0.0))
    state = mech.init(params, SynapseShape(1, 2, conn.nnz, jnp.float32))
    new, _ = mech.modulate(params, state, jnp.ones(2), _events(1, conn, [0.0, 2.0], [0.0]))
    want = [float(receptor_step(params[1], 0.0, g, DT)) for g in (1.0, 2.0)]
    np.testing.assert_allclose(np.asarray(new.gamma_s), want, rtol=1e-6)


def _net_with(glio, astro_model=None, n_astro=2, conn=None):
    conn = ns.events.all_to_all(3, 2) if conn is None else conn
    pops = [ns.Population("pre", 3, SpikeTimes(np.array([1.0]), np.array([0]))), ns.Population("post", 2, LIF()),
            ns.Population("astro", n_astro, Astrocyte() if astro_model is None else astro_model)]
    return ns.Network(pops, [ns.Projection("syn", "pre", "post", conn, 1.0, Synapse("delta", "current"),
                                           dynamics=[glio])])


def test_bad_input():
    nnz = 6
    with pytest.raises(ValueError, match=r"domain names astrocytes 0\.\.2, but population 'astro' has 2"):
        _net_with(Gliotransmission("astro", np.array([0, 1, 2, 0, 1, 0])))
    with pytest.raises(ValueError, match=r"domain maps 4 synapses, but the projection has 6"):
        _net_with(Gliotransmission("astro", np.zeros(4, int)))
    with pytest.raises(ValueError, match=r"reads the population 'glia', which the network does not define"):
        _net_with(Gliotransmission("glia", np.zeros(nnz, int)))
    with pytest.raises(ValueError, match=r"model LIF has none; use an Astrocyte population"):
        _net_with(Gliotransmission("astro", np.zeros(nnz, int)), astro_model=LIF())
    with pytest.raises(ValueError, match=r"domain must be integer astrocyte indices"):
        Gliotransmission("astro", np.zeros(nnz))
    with pytest.raises(ValueError, match=r"alpha must be finite and in \[0, 1\], got 1.5"):
        _net_with(Gliotransmission("astro", np.zeros(nnz, int),
                                   initial=(TsodyksMarkramParams(), GliotransmissionParams(alpha=1.5))))
    with pytest.raises(ValueError, match=r"omega_g must be finite and >= 0"):
        _net_with(Gliotransmission("astro", np.zeros(nnz, int),
                                   initial=(TsodyksMarkramParams(), GliotransmissionParams(omega_g=-1.0))))
    with pytest.raises(ValueError, match=r"gliotransmission keeps state per synapse, which a JitConn"):
        _net_with(Gliotransmission("astro", np.zeros(nnz, int)), conn=JitConn(3, 2, 0.5, seed=0, weight=1.0))


def test_tripartite_builder_unmodulated_loop_matches_a_numpy_replay():
    # Stimberg et al.'s Fig. 4B network: its "none" synapses are plain Tsodyks-Markram release into
    # Y_S (tau 25 ms, 2500 uM per released fraction); replay them on the network's own spikes
    n, n_steps = 20, 2000
    net = ns.builders.tripartite(n, rate_hz=20.0)
    state = ns.init_state(net, net.params(), 3, DT)
    obs = lambda s, spk: (s.synapses["none"].g, s.synapses["closed"].g, spk["pre"], s.neurons["astro"].g_a[:n].max())
    _, (ys, ys_closed, pre, g_a) = jax.jit(lambda s: ns.run(net, net.params(), s, n_steps, DT, observe=obs))(state)
    ys, pre = np.asarray(ys, float), np.asarray(pre) > 0
    assert 600 < pre.sum() < 1000                     # 20 Hz x 20 sources x 2 s
    u, x, last, y = np.zeros(n), np.ones(n), np.zeros(n), np.zeros(n)
    want = np.zeros((n_steps, n))
    for k in range(n_steps):
        y = y * np.exp(-DT / 25.0)
        s = pre[k]
        delta = (k - last[s]) * DT
        uu = u[s] * np.exp(-delta / (1e3 / 3.33))
        xx = 1 - (1 - x[s]) * np.exp(-delta / 500.0)
        uu = uu + 0.6 * (1 - uu)
        r = uu * xx
        u[s], x[s], last[s] = uu, xx - r, k
        y[s] += 2500.0 * r
        want[k] = y
    np.testing.assert_allclose(ys, want, rtol=2e-4, atol=1e-3)
    # until the first closed-loop astrocyte releases gliotransmitter its synapses release as the
    # unmodulated ones; afterwards (alpha = 0) they release less
    first = int(np.argmax(np.asarray(g_a) > 0))
    assert 100 < first < n_steps - 500
    ys_closed = np.asarray(ys_closed, float)
    np.testing.assert_allclose(ys_closed[:first], ys[:first], rtol=1e-6)
    assert ys_closed[-500:].mean() < 0.9 * ys[-500:].mean()


def test_tripartite_builder_bad_input():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        ns.builders.tripartite(0)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        ns.builders.tripartite(5, alpha=1.5)
    net = ns.builders.tripartite(5)
    with pytest.raises(ValueError, match="rates_hz must be a non-empty list of rates >= 0 Hz"):
        ns.builders.run_tripartite(net, rates_hz=[1.0, -2.0])


def test_gliotransmission_with_per_synapse_delays_is_the_network_split_by_delay():
    """Each delay group reads the astrocytes of its own synapses (``for_synapses`` takes their
    rows of the domain map): the same release as one projection per delay value."""
    net, times, ids, conn, domain = tripartite_net(1.0)
    steps = np.random.default_rng(2).integers(1, 4, conn.nnz)
    (pre, astro, post), proj = net.populations, net.projections[0]
    glio = proj.chain[0]
    grouped = ns.Network([pre, astro, post], [ns.Projection("syn", "pre", "post", conn, 100.0, proj.synapse,
                                                            proj.syn_params, delay_ms=steps * DT, dynamics=[glio])])
    rows, cols = np.asarray(conn.rows), np.asarray(conn.indices)
    split = []
    for d in np.unique(steps):
        k = steps == d
        sub = ns.events.from_arrays(rows[k], cols[k], conn.n_pre, conn.n_post)
        split.append(ns.Projection(f"syn{d}", "pre", "post", sub, 100.0, proj.synapse, proj.syn_params,
                                   delay_ms=float(d) * DT, dynamics=[Gliotransmission("astro", domain[k],
                                                                                      initial=glio.initial)]))
    split = ns.Network([pre, astro, post], split)
    a = ns.simulate(grouped, 3000.0, DT, key=0, progress=False)
    b = ns.simulate(split, 3000.0, DT, key=0, progress=False)
    gamma = [np.asarray(s.gamma_s) for s in a.state.dynamics["syn"]["glio"]]
    for d, g in zip(np.unique(steps), gamma):
        np.testing.assert_allclose(g, np.asarray(b.state.dynamics[f"syn{d}"]["glio"].gamma_s), rtol=1e-6)
    assert np.ptp(np.concatenate(gamma)) > 1e-4       # the astrocytes' synapses differ
    np.testing.assert_allclose(np.asarray(a.state.synapses["syn"].g),
                               sum(np.asarray(b.state.synapses[f"syn{d}"].g) for d in np.unique(steps)), rtol=1e-5,
                               atol=1e-6)
