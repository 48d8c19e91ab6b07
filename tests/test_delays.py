"""Per-synapse delays (neurosim.events.delays): the ring operation against a brute-force
schedule of every spike, its gradients and batching, and a network whose synapses have their
own delays against the same network split into one projection per delay value (an independent
construction that uses only the one-delay machinery)."""
import numpy as np
import pytest
from dataclasses import replace as dataclasses_replace
import jax
import jax.numpy as jnp
from jax.test_util import check_grads

import neurosim as ns
from neurosim.events.delays import DelayRing, deliver, normal_delays, ring_state, to_steps
from neurosim.inputs import PoissonSource
from neurosim.neurons import LIF
from neurosim.synapses import Synapse

DT = 0.1


def _conn_and_steps(seed=0, n_pre=50, n_post=30, max_steps=6):
    rng = np.random.default_rng(seed)
    conn = ns.events.fixed_probability(n_pre, n_post, 0.2, seed=seed + 1)
    return conn, rng.integers(1, max_steps + 1, conn.nnz), rng


def _scheduled(conn, steps, w, spikes):
    """Every spike's every synapse added at the step it arrives (t + d - 1): (T, n_post)."""
    T = spikes.shape[0]
    out = np.zeros((T + int(steps.max()), conn.n_post))
    rows, cols = np.asarray(conn.rows), np.asarray(conn.indices)
    for t in range(T):
        for k in np.flatnonzero(spikes[t][rows]):
            out[t + steps[k] - 1, cols[k]] += w[k] * spikes[t, rows[k]]
    return out[:T]


@pytest.mark.parametrize("capacity", [0, 16, 64, 1000])
def test_the_ring_delivers_every_spike_at_its_synapse_s_delay(capacity):
    conn, steps, rng = _conn_and_steps()
    w = rng.normal(size=conn.nnz).astype(np.float32)
    spikes = (rng.random((40, 50)) < 0.15).astype(np.float32)
    state, got = ring_state(conn, steps, jnp.float32), []
    for t in range(40):
        drive, state = deliver(conn, w, spikes[t], state, jnp.int32(t), capacity)
        got.append(np.asarray(drive))
    np.testing.assert_allclose(np.array(got), _scheduled(conn, steps, w, spikes), atol=1e-5)
    assert state.ring.shape == (int(steps.max()) * conn.n_post,)          # D x n_post, not synapses x D


def test_the_ring_has_exact_gradients_in_both_modes():
    conn, steps, rng = _conn_and_steps(1)
    state = ring_state(conn, steps, jnp.float32)
    ring = jnp.asarray(rng.normal(size=state.ring.shape), jnp.float32)
    w = jnp.asarray(rng.normal(size=conn.nnz), jnp.float32)
    s = jnp.asarray((rng.random(50) < 0.2) * rng.random(50), jnp.float32)     # float (surrogate) spikes

    def f(w_, s_, r_):
        drive, st = deliver(conn, w_, s_, DelayRing(r_, state.slot), jnp.int32(4), 16)
        return drive + 0.5 * jnp.sum(st.rows(conn.n_post), axis=0)

    check_grads(f, (w, s, ring), order=1, modes=["fwd", "rev"], atol=2e-2, rtol=2e-2)
    # d drive / d s_i reaches silent neurons too (the surrogate gradient is not sparse)
    g = jax.grad(lambda s_: jnp.sum(f(w, s_, ring)))(s)
    silent = np.asarray(s) == 0
    assert np.any(np.asarray(g)[silent] != 0)


def test_the_ring_batches_as_a_loop():
    conn, steps, rng = _conn_and_steps(2)
    w = jnp.asarray(rng.normal(size=conn.nnz), jnp.float32)
    spikes = jnp.asarray(rng.random((6, 50)) < 0.2, jnp.float32)
    state = ring_state(conn, steps, jnp.float32)
    one = lambda s: deliver(conn, w, s, state, jnp.int32(2), 16)[1].ring
    np.testing.assert_allclose(jax.vmap(one)(spikes), np.stack([one(s) for s in spikes]), atol=1e-6)


def _pair(delay_ms, conn, w=40.0, rate=60.0, output="current"):
    pops = [ns.Population("P", conn.n_pre, PoissonSource(), PoissonSource.Params(rate)),
            ns.Population("E", conn.n_post, LIF())]
    return pops, ns.Projection("PE", "P", "E", conn, w, delay_ms=delay_ms, synapse=Synapse("exponential", output))


def _split(conn, steps, w, **kw):
    """The same network with one projection per delay value."""
    rows, cols = np.asarray(conn.rows), np.asarray(conn.indices)
    projs = []
    for d in np.unique(steps):
        k = steps == d
        sub = ns.events.from_arrays(rows[k], cols[k], conn.n_pre, conn.n_post)
        pops, pr = _pair(float(d) * DT, sub, np.asarray(w)[k] if np.ndim(w) else w, **kw)
        projs.append(ns.Projection(f"PE{d}", "P", "E", sub, pr.weights, delay_ms=pr.delay_ms, synapse=pr.synapse))
    return ns.Network(pops, projs)


@pytest.mark.parametrize("output", ["current", "conductance"])
def test_a_network_with_per_synapse_delays_is_the_network_split_by_delay(output):
    conn, steps, rng = _conn_and_steps(3, n_pre=200, n_post=60, max_steps=30)
    w = rng.uniform(20.0, 60.0, conn.nnz) if output == "current" else rng.uniform(1.0, 4.0, conn.nnz)
    pops, pr = _pair(steps * DT, conn, w, output=output)
    net = ns.Network(pops, [pr])
    mon = [ns.Spikes("E"), ns.Trace("E", "v", every=50)]
    a = ns.simulate(net, 300.0, DT, key=4, monitors=mon, engine="scan", progress=False)
    b = ns.simulate(_split(conn, steps, w, output=output), 300.0, DT, key=4, monitors=mon, engine="scan",
                    progress=False)
    assert a.timings["engine"] == "scan" and len(a.spikes["E"][0]) > 50
    np.testing.assert_array_equal(a.spikes["E"][0], b.spikes["E"][0])
    np.testing.assert_array_equal(a.spikes["E"][1], b.spikes["E"][1])
    np.testing.assert_allclose(a.traces["E.v"][1], b.traces["E.v"][1], atol=1e-4)


def test_one_delay_for_every_synapse_is_the_projection_s_delay():
    conn, _, _ = _conn_and_steps(4, n_pre=200, n_post=60)
    pops, same = _pair(np.full(conn.nnz, 1.5), conn)
    _, one = _pair(1.5, conn)
    a = ns.simulate(ns.Network(pops, [same]), 200.0, DT, key=1, monitors=[ns.Spikes("E")], progress=False)
    b = ns.simulate(ns.Network(pops, [one]), 200.0, DT, key=1, monitors=[ns.Spikes("E")], engine="scan",
                    progress=False)
    assert len(a.spikes["E"][0]) > 20
    np.testing.assert_array_equal(a.spikes["E"][0], b.spikes["E"][0])


def test_gradients_through_a_run_equal_the_split_network_s():
    conn, steps, rng = _conn_and_steps(5, n_pre=100, n_post=20, max_steps=12)
    w = rng.uniform(20.0, 60.0, conn.nnz)
    pops, pr = _pair(steps * DT, conn, w)
    net, split = ns.Network(pops, [pr]), _split(conn, steps, w)

    def loss(net, weights):
        p = net.params().with_weights(weights)
        s, _ = ns.run(net, p, ns.init_state(net, p, 2, DT), 300, DT)
        return jnp.sum(s.neurons["E"].v)

    g = jax.grad(lambda w_: loss(net, {"PE": w_}))(jnp.asarray(w, jnp.float32))
    gs = jax.grad(lambda ws: loss(split, ws))({p.name: jnp.asarray(split.params().projections[p.name].weights)
                                               for p in split.projections})
    expected = np.zeros(conn.nnz)
    rows, cols = np.asarray(conn.rows), np.asarray(conn.indices)
    for d in np.unique(steps):
        expected[steps == d] = np.asarray(gs[f"PE{d}"])
    assert np.any(expected != 0)
    np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("output", ["current", "conductance"])
def test_the_native_engine_runs_them_as_the_scan_does(output):
    from neurosim.engines.native import compiler
    if compiler.compiler() is None:
        pytest.skip("no C++ compiler")
    conn, steps, rng = _conn_and_steps(6, n_pre=200, n_post=60, max_steps=30)
    w = rng.uniform(20.0, 60.0, conn.nnz) if output == "current" else rng.uniform(1.0, 4.0, conn.nnz)
    pops, pr = _pair(steps * DT, conn, w, output=output)
    net = ns.Network(pops, [pr])
    runs = {e: ns.simulate(net, 300.0, DT, key=4, engine=e, monitors=[ns.Spikes("E")], chunk_steps=700,
                           progress=False) for e in ("scan", "native")}
    assert runs["native"].timings["engine"] == "native" and len(runs["scan"].spikes["E"][0]) > 50
    np.testing.assert_array_equal(runs["native"].spikes["E"][0], runs["scan"].spikes["E"][0])
    np.testing.assert_array_equal(runs["native"].spikes["E"][1], runs["scan"].spikes["E"][1])
    np.testing.assert_allclose(np.asarray(runs["native"].state.delays["PE"].ring),
                               np.asarray(runs["scan"].state.delays["PE"].ring), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("observe", [False, True])
def test_projections_leaving_the_same_neurons_share_one_pass_and_keep_the_scan_s_results(observe):
    """The native program delivers the projections whose spikes arrive unringed from the same
    neurons in one pass over them (per-synapse delays, and one delay of one step); one with a
    delay ring of its own or a mechanism keeps its own pass. Every projection still adds into
    its own drive or ring in row order: the scan's spikes and states. With an Observe monitor of
    the synapses the synapse steps run within each step (not deferred to the next), after the
    shared pass."""
    import jax.numpy as jnp
    from neurosim.engines.native import compiler
    from neurosim.engines.native.engine import native_plan
    from neurosim.synapses import TsodyksMarkram
    if compiler.compiler() is None:
        pytest.skip("no C++ compiler")
    conn, steps, rng = _conn_and_steps(8, n_pre=200, n_post=60, max_steps=30)
    pops, ring = _pair(steps * DT, conn, rng.uniform(20.0, 60.0, conn.nnz))
    pops = pops + [ns.Population("F", 35, LIF())]
    to_f = ns.events.fixed_probability(200, 35, 0.2, seed=11)
    f_steps = np.random.default_rng(12).integers(1, 13, to_f.nnz)     # another ring: other depth, other size
    other = ns.events.fixed_probability(200, 60, 0.05, seed=9)
    current = Synapse("exponential", "current")
    projs = [ring,
             ns.Projection("PB", "P", "E", other, 15.0, delay_ms=DT, synapse=current),
             ns.Projection("PF", "P", "F", to_f, 45.0, delay_ms=f_steps * DT, synapse=current),
             ns.Projection("PC", "P", "E", other, 10.0, delay_ms=1.0, synapse=current),
             ns.Projection("PD", "P", "E", other, 10.0, delay_ms=DT, stp=TsodyksMarkram(), synapse=current),
             ns.Projection("PS", ("P", 0, 100), "E", ns.events.fixed_probability(100, 60, 0.1, seed=10), 20.0,
                           delay_ms=DT, synapse=current)]
    net = ns.Network(pops, projs)
    source = native_plan(net, net.params(), DT).source
    assert "delivery of PE, PB, PF: one pass over the spikes" in source
    assert "delivery of PS: one pass" in source and "projection PC: delay ring (9 deep)" in source
    assert "projection PD: delay ring (0 deep)" in source

    def synapses(state, spikes):
        return {name: state.synapses[name].g for name in ("PE", "PB", "PF", "PS")}

    mon = [ns.Spikes("E"), ns.Spikes("F"), ns.Trace("E", "v", every=100)]
    mon += [ns.Observe("g", synapses)] if observe else []
    runs = {e: ns.simulate(net, 300.0, DT, key=4, engine=e, monitors=mon, chunk_steps=700, progress=False)
            for e in ("scan", "native")}
    assert runs["native"].timings["engine"] == "native"
    assert len(runs["scan"].spikes["E"][0]) > 50 and len(runs["scan"].spikes["F"][0]) > 20
    for pop in ("E", "F"):
        for k in (0, 1):
            np.testing.assert_array_equal(runs["native"].spikes[pop][k], runs["scan"].spikes[pop][k])
    np.testing.assert_allclose(runs["native"].traces["E.v"][1], runs["scan"].traces["E.v"][1], rtol=1e-5, atol=1e-4)
    for name in ("PE", "PF"):
        np.testing.assert_allclose(np.asarray(runs["native"].state.delays[name].ring),
                                   np.asarray(runs["scan"].state.delays[name].ring), rtol=1e-6, atol=1e-6)
    if observe:
        (_, a), (_, b) = runs["scan"].observed["g"], runs["native"].observed["g"]
        for name in a:
            assert jnp.max(a[name]) > 0
            np.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-5)


def test_the_other_engines_refuse_by_name():
    conn, steps, _ = _conn_and_steps(6)
    pops, pr = _pair(steps * DT, conn)
    net = ns.Network(pops, [pr])
    with pytest.raises(ValueError, match=r"engine='fused' cannot run this simulation: projection 'PE' has "
                                         r"per-synapse delays"):
        ns.simulate(net, 10.0, DT, engine="fused", progress=False)
    with pytest.raises(ValueError, match=r"engine='parallel' cannot run this simulation: projection 'PE' has "
                                         r"per-synapse delays"):
        ns.simulate(net, 10.0, DT, engine="parallel", progress=False)


def test_a_checkpoint_keeps_the_spikes_in_flight(tmp_path):
    conn, steps, _ = _conn_and_steps(7, n_pre=200, n_post=60, max_steps=40)
    pops, pr = _pair(steps * DT, conn)
    net = ns.Network(pops, [pr])
    whole = ns.simulate(net, 100.0, DT, key=3, monitors=[ns.Spikes("E")], progress=False)
    first = ns.simulate(net, 50.0, DT, key=3, progress=False)
    ns.save_checkpoint(tmp_path / "c.npz", net, first)
    state = ns.load_checkpoint(tmp_path / "c.npz", net).state
    assert float(jnp.sum(state.delays["PE"].ring)) > 0                    # inputs still to arrive
    rest = ns.simulate(net, 50.0, DT, state=state, monitors=[ns.Spikes("E")], progress=False)
    t = whole.spikes["E"][0]
    np.testing.assert_array_equal(rest.spikes["E"][0], t[t >= 50.0 - 1e-9])


def test_normal_delays_are_whole_steps_clipped_at_one():
    d = normal_delays(20000, 1.5, 0.75, DT, seed=1)
    steps = d / DT
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
    assert d.min() == pytest.approx(DT) and abs(d.mean() - 1.5) < 0.02
    np.testing.assert_array_equal(normal_delays(10, 1.5, 0.75, DT, seed=1), normal_delays(10, 1.5, 0.75, DT, seed=1))
    np.testing.assert_array_equal(to_steps([0.04, 0.16, 0.25], DT), [1, 2, 2])


def test_the_compiled_kernel_is_the_pure_jax_form():
    from neurosim.events import delays as D
    if not D._kernel_ready(jnp.zeros(1, jnp.float32), jnp.float32(1)):
        pytest.skip("no compiled CPU kernel")
    conn, steps, rng = _conn_and_steps(8, n_pre=300, n_post=40, max_steps=9)
    state = ring_state(conn, steps, jnp.float32)
    ring = jnp.asarray(rng.normal(size=state.ring.shape), jnp.float32)
    for w in (jnp.asarray(rng.normal(size=conn.nnz), jnp.float32), jnp.float32(0.7)):
        for spikes in (rng.random(300) < 0.1, ((rng.random(300) < 0.1) * rng.random(300)).astype(np.float32)):
            s = jnp.asarray(spikes)
            shift = jnp.int32(5 * conn.n_post)
            got = D._kernel_add(conn.max_row)(ring, state.slot, conn.indptr, w, s, shift)
            want = D._add_events(ring, state.slot, conn.indptr, w, s, shift, conn.max_row)
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)


def test_a_state_of_another_network_is_refused():
    conn, steps, _ = _conn_and_steps(9)
    pops, short = _pair(np.full(conn.nnz, 0.1), conn)
    _, long = _pair(np.full(conn.nnz, 5.0), conn)
    _, one = _pair(5.0, conn)
    nets = {k: ns.Network(pops, [pr]) for k, pr in (("short", short), ("long", long), ("one", one))}
    states = {k: ns.init_state(n, n.params(), 0, DT) for k, n in nets.items()}
    for engine in ("scan", "native"):
        with pytest.raises(ValueError, match=r"projection 'PE''s per-synapse delays or connectivity differ"):
            ns.simulate(nets["long"], 5.0, DT, state=states["short"], engine=engine, progress=False)
        with pytest.raises(ValueError, match=r"projection 'PE' has one delay, but its delay state is a DelayRing"):
            ns.simulate(nets["one"], 5.0, DT, state=states["long"], engine=engine, progress=False)
        with pytest.raises(ValueError, match=r"projection 'PE' has per-synapse delays, but its delay state is a"):
            ns.simulate(nets["long"], 5.0, DT, state=states["one"], engine=engine, progress=False)
    # a one-delay state of another delay (same shapes but its depth) is refused too
    _, other = _pair(1.0, conn)
    net_other = ns.Network(pops, [other])
    with pytest.raises(ValueError, match=r"the delay buffer of projection 'PE' has shape \(49, 50\), this network's"):
        ns.simulate(net_other, 5.0, DT, state=states["one"], progress=False)


def test_a_projection_with_no_synapses_runs_on_every_engine():
    conn = ns.events.from_arrays([], [], 5, 4)
    pops, pr = _pair(np.zeros(0), conn)
    net = ns.Network(pops, [pr])
    for engine in ("scan", "native"):
        res = ns.simulate(net, 5.0, DT, engine=engine, progress=False)
        assert float(np.sum(np.asarray(res.state.synapses["PE"].g))) == 0.0


def test_a_sweep_over_per_seed_draws_refuses_vmap():
    conn, steps, _ = _conn_and_steps(10)

    def build(seed):
        c = ns.events.fixed_indegree(50, 30, 8, seed=seed)
        pops, pr = _pair(ns.events.normal_delays(c.nnz, 1.0, 0.5, DT, seed=seed), c)
        return ns.Network(pops, [pr])

    with pytest.raises(ValueError, match=r"engine='vmap' with a network drawn per seed cannot batch projection 'PE'"):
        ns.sweep(build, {"neurons.E.v_th": [-50.0]}, 100.0, seeds=2, engine="vmap", progress=False)


@pytest.mark.gpu
def test_the_ring_on_a_gpu_is_the_cpu_s():
    """On a GPU the ring is the pure-JAX form (the compiled kernel is CPU-only): the same drive as
    the CPU's kernel, step by step, for a random spike train."""
    conn, steps, rng = _conn_and_steps(11, n_pre=400, n_post=100, max_steps=40)
    w = rng.normal(size=conn.nnz).astype(np.float32)
    spikes = (rng.random((60, 400)) < 0.05).astype(np.float32)

    def run(device):
        with jax.default_device(device):
            state, out = ring_state(conn, steps, jnp.float32), []
            for t in range(60):
                drive, state = deliver(conn, jnp.asarray(w), jnp.asarray(spikes[t]), state, jnp.int32(t), 64)
                out.append(np.asarray(drive))
        return np.array(out)

    np.testing.assert_allclose(run(jax.devices("gpu")[0]), run(jax.devices("cpu")[0]), rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------- per-synapse delays with dynamics


def _dynamics_pair(conn, steps, w, chain, split_by=None):
    """A Poisson population onto LIF cells through ``conn`` with per-synapse delays and the
    mechanisms ``chain`` (kwargs of Projection); ``split_by``: the same synapses as one
    projection per delay value instead, each mechanism parameter of one value per synapse
    taken at its synapses."""
    pops = [ns.Population("P", conn.n_pre, PoissonSource(), PoissonSource.Params(50.0)),
            ns.Population("E", conn.n_post, LIF())]
    drive = ns.Input("I", "E", ns.inputs.ConstantCurrent(), ns.inputs.ConstantCurrent.Params(300.0))
    if split_by is None:
        return ns.Network(pops, [ns.Projection("PE", "P", "E", conn, w, delay_ms=steps * DT, **chain)], [drive])
    rows, cols = np.asarray(conn.rows), np.asarray(conn.indices)
    projs = []
    for d in np.unique(steps):
        k = steps == d
        sub = ns.events.from_arrays(rows[k], cols[k], conn.n_pre, conn.n_post)
        kw = {key: (jax.tree.map(lambda x: np.asarray(x)[k] if np.shape(x) == (conn.nnz,) else x, v)
                    if key == "stp_params" else v) for key, v in chain.items()}
        projs.append(ns.Projection(f"PE{d}", "P", "E", sub, np.asarray(w)[k], delay_ms=float(d) * DT, **kw))
    return ns.Network(pops, projs, [drive])


def _chains(nnz, rng):
    stdp = ns.plasticity.stdp_pair(2.0, 2.2, w_max=80.0)
    stp_params = ns.synapses.TsodyksMarkramParams(U=rng.uniform(0.1, 0.6, nnz))
    return {
        "pair STDP (event-driven)": dict(plasticity=stdp),
        "pair STDP (every synapse)": dict(plasticity=ns.plasticity.Plasticity(stdp, event_driven=False)),
        "triplet STDP": dict(plasticity=ns.plasticity.stdp_triplet(a2_plus=1.0, a3_plus=1.0, a2_minus=1.0,
                                                                   a3_minus=0.1)),
        "STP per synapse": dict(stp=ns.synapses.TsodyksMarkram(), stp_params=stp_params),
        "STP and STDP": dict(stp=ns.synapses.TsodyksMarkram(), stp_params=stp_params, plasticity=stdp),
    }


@pytest.mark.parametrize("which", ["pair STDP (event-driven)", "pair STDP (every synapse)", "triplet STDP",
                                   "STP per synapse", "STP and STDP"])
def test_dynamics_with_per_synapse_delays_are_the_network_split_by_delay(which, x64):
    """Each spike meets the mechanisms when it arrives: the same spikes and final weights as one
    one-delay projection per delay value (float64: the two sum the drive in another order)."""
    conn, steps, rng = _conn_and_steps(12, n_pre=120, n_post=40, max_steps=10)
    w = rng.uniform(10.0, 40.0, conn.nnz)
    chain = _chains(conn.nnz, rng)[which]
    net, split = _dynamics_pair(conn, steps, w, chain), _dynamics_pair(conn, steps, w, chain, split_by=True)
    mon = [ns.Spikes("E")]
    a = ns.simulate(net, 100.0, DT, key=3, monitors=mon, engine="scan", progress=False)
    b = ns.simulate(split, 100.0, DT, key=3, monitors=mon, progress=False)
    assert a.timings["engine"] == "scan" and len(a.spikes["E"][0]) > 50
    np.testing.assert_array_equal(a.spikes["E"][0], b.spikes["E"][0])
    np.testing.assert_array_equal(a.spikes["E"][1], b.spikes["E"][1])
    if "STDP" in which:
        got = np.asarray(a.state.weights["PE"])
        want = np.empty(conn.nnz)
        for d in np.unique(steps):
            k = np.flatnonzero(steps == d)    # from_arrays keeps CSR order within a group
            want[k] = np.asarray(b.state.weights[f"PE{d}"])
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
        assert np.abs(got - w).max() > 1.0     # the weights did move
    st = a.state.dynamics["PE"]["stp" if "STP" in which else "plasticity"]
    assert isinstance(st, tuple) and len(st) == len(np.unique(steps))     # one state per delay group


def test_a_plastic_projection_with_per_synapse_delays_checkpoints_and_refuses_the_fused_engines(tmp_path):
    conn, steps, rng = _conn_and_steps(13, n_pre=120, n_post=40, max_steps=10)
    net = _dynamics_pair(conn, steps, rng.uniform(10.0, 40.0, conn.nnz), _chains(conn.nnz, rng)["STP and STDP"])
    whole = ns.simulate(net, 60.0, DT, key=3, monitors=[ns.Spikes("E")], progress=False)
    first = ns.simulate(net, 30.0, DT, key=3, progress=False)
    ns.save_checkpoint(tmp_path / "c.npz", net, first)
    state = ns.load_checkpoint(tmp_path / "c.npz", net).state
    rest = ns.simulate(net, 30.0, DT, state=state, monitors=[ns.Spikes("E")], progress=False)
    t = whole.spikes["E"][0]
    np.testing.assert_array_equal(rest.spikes["E"][0], t[t >= 30.0 - 1e-9])
    np.testing.assert_array_equal(np.asarray(rest.state.weights["PE"]), np.asarray(whole.state.weights["PE"]))
    for engine, what in (("fused", "per-synapse delays"), ("parallel", "per-synapse delays")):
        with pytest.raises(ValueError, match=rf"engine='{engine}' cannot run this simulation: projection 'PE' has "
                                             rf"{what}"):
            ns.simulate(net, 5.0, DT, engine=engine, progress=False)
    # a state whose mechanisms hold another grouping (same buffer depth) is refused by name
    longest = ns.Network(net.populations, [dataclasses_replace(net.projections[0], delay_ms=float(steps.max()) * DT)],
                         net.inputs)
    with pytest.raises(ValueError, match=r"projection 'PE' has per-synapse delays and dynamics, so each mechanism's "
                                         r"state holds one entry per delay group \(10 groups"):
        ns.simulate(net, 5.0, DT, state=ns.init_state(longest, longest.params(), 0, DT), progress=False)
    # the step traced over dt (the groups' lags come from the state's dt)
    st = ns.init_state(net, net.params(), 0, DT)
    t = jax.jit(lambda s, dt: ns.step(net, net.params(), s, dt)[0].t)(st, DT)
    assert int(t) == 1
    # dataclasses.replace regroups for other delays, and ungroups without the dynamics
    import dataclasses
    from neurosim.events.delays import GroupedCSR
    pr = net.projections[0]
    assert type(dataclasses.replace(pr, stp=None, stp_params=None, plasticity=None).conn) is ns.events.CSR
    assert len(dataclasses.replace(pr, delay_ms=np.full(conn.nnz, 0.2)).conn.groups) == 1
    assert isinstance(pr.conn, GroupedCSR) and len(pr.conn.groups) == len(np.unique(steps))
    # a state made for the same network without the dynamics (a ring) is refused by name
    ring = ring_state(conn, steps, jnp.float32)
    with pytest.raises(ValueError, match=r"projection 'PE' has per-synapse delays and dynamics, so its delay state is "
                                         r"a \(9, 120\) buffer of past spikes, got a DelayRing"):
        ns.simulate(net, 5.0, DT, state=first.state._replace(delays={"PE": ring}), progress=False)


@pytest.mark.parametrize("which", ["pair STDP (event-driven)", "triplet STDP", "STP and STDP"])
def test_the_native_engine_runs_them_split_by_delay_as_the_scan_does(which):
    """The native engine runs a projection with per-synapse delays and dynamics as one one-delay
    projection per delay value, converting the state at every call (several calls here): the
    same spikes, weights, mechanism states and spike buffer as the scan."""
    from neurosim.engines.native import compiler
    if compiler.compiler() is None:
        pytest.skip("no C++ compiler")
    conn, steps, rng = _conn_and_steps(14, n_pre=120, n_post=40, max_steps=10)
    chain = dict(_chains(conn.nnz, rng)[which])
    if "stp_params" in chain:                # (per-synapse STP parameters are not lowered yet)
        chain["stp_params"] = ns.synapses.TsodyksMarkramParams(U=0.3)
    net = _dynamics_pair(conn, steps, rng.uniform(10.0, 40.0, conn.nnz), chain)
    runs = {e: ns.simulate(net, 100.0, DT, key=3, engine=e, monitors=[ns.Spikes("E")], chunk_steps=300,
                           progress=False) for e in ("scan", "native")}
    a, b = runs["scan"], runs["native"]
    assert b.timings["engine"] == "native" and len(a.spikes["E"][0]) > 50
    assert ns.simulate(net, 1.0, DT, progress=False).timings["engine"] == "native"        # auto
    np.testing.assert_array_equal(a.spikes["E"][0], b.spikes["E"][0])
    np.testing.assert_array_equal(a.spikes["E"][1], b.spikes["E"][1])
    if "STDP" in which:
        np.testing.assert_allclose(np.asarray(b.state.weights["PE"]), np.asarray(a.state.weights["PE"]), rtol=1e-6,
                                   atol=1e-6)
    np.testing.assert_array_equal(np.asarray(b.state.delays["PE"]), np.asarray(a.state.delays["PE"]))
    np.testing.assert_allclose(np.asarray(b.state.synapses["PE"].g), np.asarray(a.state.synapses["PE"].g), rtol=1e-5,
                               atol=1e-4)
    for x, y in zip(jax.tree.leaves(a.state.dynamics), jax.tree.leaves(b.state.dynamics)):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-6, atol=1e-6)
    # a Weights or Observe monitor is refused by the native engine, taken by the scan
    with pytest.raises(ValueError, match=r"engine='native' cannot run this simulation: Weights monitor .* of "
                                         r"projection 'PE', which has per-synapse delays and dynamics"):
        ns.simulate(net, 5.0, DT, engine="native", monitors=[ns.Weights("PE", every=100)], progress=False)
    observe = ns.Observe("g", lambda s, spk: {k: v.g for k, v in s.synapses.items()})
    with pytest.raises(ValueError, match=r"Observe monitor 'g': the native engine runs the projections with "
                                         r"per-synapse delays and dynamics split by delay"):
        ns.simulate(net, 5.0, DT, engine="native", monitors=[observe], progress=False)
    assert ns.simulate(net, 5.0, DT, monitors=[observe], progress=False).timings["engine"] == "scan"
    # a run with other monitors after one whose compiled chunk it finds (the same program)
    again = ns.simulate(net, 30.0, DT, key=3, engine="native", chunk_steps=300, progress=False)
    scan = ns.simulate(net, 30.0, DT, key=3, engine="scan", progress=False)
    np.testing.assert_array_equal(np.asarray(again.state.delays["PE"]), np.asarray(scan.state.delays["PE"]))


def test_per_synapse_mechanism_parameters_are_refused_by_the_native_engine_by_the_projection_s_name():
    """One STP parameter per synapse is not lowered: the refusal names the projection and the
    parameter (not a delay group's part), and auto takes the scan."""
    from neurosim.engines.native import compiler
    if compiler.compiler() is None:
        pytest.skip("no C++ compiler")
    conn, steps, rng = _conn_and_steps(15, n_pre=120, n_post=40, max_steps=10)
    net = _dynamics_pair(conn, steps, rng.uniform(10.0, 40.0, conn.nnz), _chains(conn.nnz, rng)["STP per synapse"])
    with pytest.raises(ValueError, match=r"engine='native' cannot run this simulation: projection 'PE' has per-synapse "
                                         r"delays and dynamics, and its stp parameter stp\.U has one value per synapse"):
        ns.simulate(net, 5.0, DT, engine="native", progress=False)
    assert ns.simulate(net, 5.0, DT, progress=False).timings["engine"] == "scan"


def test_a_plastic_projection_with_no_synapses_runs_on_the_scan():
    conn = ns.events.from_arrays([], [], 20, 10)
    net = _dynamics_pair(conn, np.zeros(0, int), np.zeros(0), dict(plasticity=ns.plasticity.stdp_pair()))
    res = ns.simulate(net, 5.0, DT, progress=False)
    assert res.timings["engine"] == "scan"
    with pytest.raises(ValueError, match=r"projection 'PE' has per-synapse delays and dynamics but no synapse"):
        ns.simulate(net, 5.0, DT, engine="native", progress=False)


def test_delays_are_checked_in_blocks_and_the_message_counts_them_all(monkeypatch):
    from neurosim.events import delays as D
    monkeypatch.setattr(D, "CHUNK", 8)
    d = np.full(40, 0.3)
    d[[21, 35]] = 0.25                         # not whole steps, in two different blocks
    with pytest.raises(ValueError, match=r"delay_ms\[21\] = 0.25 ms is not a whole number of steps of dt = 0.1 ms "
                                         r"\(2 synapse\(s\) like it\)"):
        D.synapse_steps("delay_ms", d, DT)
    with pytest.raises(ValueError, match=r"delay_ms\[21\]"):
        D.synapse_depth("delay_ms", d, DT)
    d[35] = np.nan                             # (Projection refuses NaN first; the helper names it too)
    with pytest.raises(ValueError, match=r"delay_ms\[35\] = nan ms is not a number"):
        D.synapse_steps("delay_ms", np.where(np.arange(40) == 21, 0.3, d), DT)
    d[[21, 35]] = [0.3, 0.7]
    steps = D.synapse_steps("delay_ms", d, DT)
    assert steps.dtype == np.int32 and steps[35] == 7 and steps.sum() == 39 * 3 + 7
    assert D.synapse_depth("delay_ms", d, DT) == 7


def test_float32_delays_stay_float32_and_give_the_float64_delays_ring():
    conn = ns.events.fixed_probability(50, 40, 0.2, seed=3)
    d64 = normal_delays(conn.nnz, 1.5, 0.75, DT, seed=4)
    nets = {}
    for dtype in (np.float32, np.float64):
        pops, pr = _pair(d64.astype(dtype), conn)
        assert pr.delay_ms.dtype == dtype and not pr.delay_ms.flags.writeable
        nets[dtype] = ns.Network(pops, [pr])
    rings = [ns.init_state(net, net.params(), 0, DT).delays["PE"] for net in nets.values()]
    np.testing.assert_array_equal(rings[0].slot, rings[1].slot)
    assert rings[0].ring.shape == rings[1].ring.shape
    assert ns.fingerprint(nets[np.float32]) == ns.fingerprint(nets[np.float64])   # the same network
    pops, pr = _pair(d64 + DT, conn)
    assert ns.fingerprint(ns.Network(pops, [pr])) != ns.fingerprint(nets[np.float64])


def test_a_csr_makes_its_rows_when_first_read_also_under_jit():
    conn = ns.events.fixed_probability(30, 20, 0.3, seed=5)
    assert conn._rows is None                   # 4 bytes per synapse not held until read
    total = jax.jit(lambda: conn.rows.sum())()      # first read while tracing: a concrete array is kept
    assert not isinstance(conn._rows, jax.core.Tracer)
    expect = np.repeat(np.arange(30), np.diff(np.asarray(conn.indptr)))
    np.testing.assert_array_equal(conn.rows, expect)
    assert int(total) == int(expect.sum())


def test_the_native_engine_runs_per_synapse_delays_without_the_rows():
    from neurosim.engines.native import compiler
    if compiler.compiler() is None:
        pytest.skip("no C++ compiler")
    conn = ns.events.fixed_probability(60, 40, 0.2, seed=6)
    pops, pr = _pair(normal_delays(conn.nnz, 1.0, 0.5, DT, seed=7).astype(np.float32), conn)
    net = ns.Network(pops, [pr])
    res = ns.simulate(net, 50.0, DT, key=1, engine="native", monitors=[ns.Spikes("E")], progress=False)
    assert res.timings["engine"] == "native" and conn._rows is None
