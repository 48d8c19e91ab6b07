"""Learnable (fractional) per-synapse delays in ``ns.Network`` projections
(``Projection(max_delay_ms=...)``, ``neurosim.events.delays.deliver_fractional``): the
interpolating ring against a brute-force schedule of every spike's two shares, its gradients
(``check_grads``) and batching; a network at whole-step delays against the whole-step ring
network (an independent path: its slots are made on the host); the gradient of a run with
respect to the delays against finite differences (the drive is piecewise linear in each
delay); planted delays recovered by gradient descent; the other engines refusing by name."""
import numpy as np
import pytest
import jax
import jax.numpy as jnp
from jax.test_util import check_grads

import neurosim as ns
from neurosim.events.delays import deliver_fractional, fractional, learnable_ring
from neurosim.inputs import PoissonSource
from neurosim.neurons import LIF, LIFParams
from neurosim.sweeps.design import leaves
from neurosim.synapses import Synapse

DT = 0.1


def _scheduled(conn, steps, depth, w, spikes):
    """Every spike's two shares at the steps they arrive, by the formula in float64: the delay
    clipped to [1, D], n = min(floor(d), D - 1), f = d - n; (1 - f) w at t + n - 1, f w at t + n."""
    T = spikes.shape[0]
    out = np.zeros((T + depth + 1, conn.n_post))
    rows, cols = np.asarray(conn.rows), np.asarray(conn.indices)
    d = np.clip(np.asarray(steps, np.float64), 1.0, depth)
    n = np.minimum(np.floor(d), depth - 1).astype(int)
    f = d - n
    for t in range(T):
        for k in np.flatnonzero(spikes[t][rows]):
            out[t + n[k] - 1, cols[k]] += (1 - f[k]) * w[k] * spikes[t, rows[k]]
            out[t + n[k], cols[k]] += f[k] * w[k] * spikes[t, rows[k]]
    return out[:T]


def _setup(seed=0, n_pre=40, n_post=25, depth=6):
    rng = np.random.default_rng(seed)
    conn = ns.events.fixed_probability(n_pre, n_post, 0.25, seed=seed + 1)
    return conn, rng


@pytest.mark.parametrize("capacity", [0, 16, 1000])
def test_each_spike_is_shared_between_the_two_steps_around_its_delay(capacity):
    conn, rng = _setup()
    depth = 6
    steps = rng.uniform(0.5, depth + 0.5, conn.nnz)     # some below one step and above D: clipped
    steps[:5] = [1.0, 2.0, 3.0, 6.0, 5.5]                # whole steps, the top, the top's last interval
    w = rng.normal(size=conn.nnz).astype(np.float32)
    spikes = (rng.random((40, conn.n_pre)) < 0.2).astype(np.float32)
    state, got = learnable_ring(conn, depth, jnp.float32), []
    for t in range(40):
        drive, state = deliver_fractional(conn, w, jnp.asarray(steps, jnp.float32), spikes[t], state, jnp.int32(t),
                                          capacity)
        got.append(np.asarray(drive))
    np.testing.assert_allclose(np.array(got), _scheduled(conn, steps, depth, w, spikes), atol=2e-5)


def test_fractional_clips_with_slope_one_inside_and_none_outside():
    d = jnp.asarray([0.5, 1.0, 2.25, 4.0, 5.0, 7.0])
    n, f = fractional(d, 1.0, 5.0)
    np.testing.assert_array_equal(n, [1, 1, 2, 4, 4, 4])
    np.testing.assert_allclose(f, [0, 0, 0.25, 0, 1, 1])
    g = jax.grad(lambda x: jnp.sum(fractional(x, 1.0, 5.0)[1]))(d)
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 1, 0])


def test_the_interpolating_ring_has_exact_gradients_in_both_modes():
    conn, rng = _setup(1)
    depth = 6
    state = learnable_ring(conn, depth, jnp.float32)
    ring = jnp.asarray(rng.normal(size=state.ring.shape), jnp.float32)
    w = jnp.asarray(rng.normal(size=conn.nnz), jnp.float32)
    s = jnp.asarray((rng.random(conn.n_pre) < 0.3) * rng.random(conn.n_pre), jnp.float32)
    # away from whole steps, where the drive is linear in each delay
    d = jnp.asarray(rng.integers(1, depth, conn.nnz) + rng.uniform(0.2, 0.8, conn.nnz), jnp.float32)

    def f(w_, s_, d_, r_):
        drive, st = deliver_fractional(conn, w_, d_, s_, state._replace(ring=r_), jnp.int32(3), 16)
        return drive + 0.5 * jnp.sum(st.rows(conn.n_post) * jnp.arange(1.0, depth + 1)[:, None], axis=0)

    check_grads(f, (w, s, d, ring), order=1, modes=["fwd", "rev"], atol=2e-2, rtol=2e-2, eps=1e-2)


def test_the_interpolating_ring_batches_as_a_loop():
    conn, rng = _setup(2)
    state = learnable_ring(conn, 6, jnp.float32)
    w = jnp.asarray(rng.normal(size=conn.nnz), jnp.float32)
    s = jnp.asarray(rng.random(conn.n_pre) < 0.4, jnp.float32)
    ds = jnp.asarray(rng.uniform(1.0, 6.0, (5, conn.nnz)), jnp.float32)
    one = lambda d: deliver_fractional(conn, w, d, s, state, jnp.int32(2), 16)[1].ring      # noqa: E731
    np.testing.assert_allclose(jax.vmap(one)(ds), np.stack([one(d) for d in ds]), atol=1e-6)


def _pair(delay_ms, conn, max_delay_ms=None, w=40.0, rate=60.0, v_th=-50.0):
    pops = [ns.Population("P", conn.n_pre, PoissonSource(), PoissonSource.Params(rate)),
            ns.Population("E", conn.n_post, LIF(), LIFParams(v_th=v_th))]
    return ns.Network(pops, [ns.Projection("PE", "P", "E", conn, w, delay_ms=delay_ms, max_delay_ms=max_delay_ms,
                                           synapse=Synapse("exponential", "current"))])


def test_whole_step_learnable_delays_run_as_the_whole_step_ring():
    conn, rng = _setup(3, n_pre=150, n_post=40)
    delays = rng.integers(1, 25, conn.nnz) * DT          # ms; 0.3 / 0.1 is 2.9999998 in float32: the step is kept
    learn, fixed = _pair(delays, conn, max_delay_ms=3.0), _pair(delays, conn)
    mon = [ns.Spikes("E"), ns.Trace("E", "v", every=7)]
    a = ns.simulate(learn, 300.0, DT, key=5, monitors=mon, progress=False)
    b = ns.simulate(fixed, 300.0, DT, key=5, monitors=mon, engine="scan", progress=False)
    assert a.timings["engine"] == "scan" and len(b.spikes["E"][0]) > 50
    np.testing.assert_array_equal(a.spikes["E"][0], b.spikes["E"][0])
    np.testing.assert_array_equal(a.spikes["E"][1], b.spikes["E"][1])
    np.testing.assert_allclose(a.traces["E.v"][1], b.traces["E.v"][1], atol=1e-5)
    assert a.state.delays["PE"].ring.shape == (30 * conn.n_post,)     # max_delay_ms / dt rows


def _v(net, params, n_steps, key):
    """E's membrane potentials at every step of a run: (n_steps, n)."""
    return ns.run(net, params, ns.init_state(net, params, key, DT), n_steps, DT,
                  observe=lambda s, _: s.neurons["E"].v)[1]


def test_the_gradient_of_a_run_in_the_delays_is_the_finite_difference(x64):
    conn, rng = _setup(4, n_pre=60, n_post=10)
    d0 = (rng.integers(1, 20, conn.nnz) + rng.uniform(0.2, 0.8, conn.nnz)) * DT
    d0[:4] = np.array([3.0, 7.0, 12.0, 20.0]) * DT       # whole steps: the derivative is one-sided, upwards
    #                                                      (at the top, max_delay_ms, downwards)
    net = _pair(d0, conn, max_delay_ms=2.0, w=5.0, v_th=1e3)   # no spike: the loss is smooth between whole steps

    @jax.jit
    def loss(d):
        return jnp.sum(_v(net, net.params().with_delays({"PE": d}), 250, 3))

    d = jnp.asarray(d0)
    g = np.asarray(jax.grad(loss)(d))
    assert np.count_nonzero(g) > conn.nnz // 2
    h = 1e-3 * DT                                        # within each delay's interval
    picks = list(range(4)) + list(rng.choice(np.arange(4, conn.nnz), 8, replace=False))
    for k in picks:
        side = -h if k == 3 else h
        slope = (float(loss(d.at[k].add(side))) - float(loss(d))) / side
        assert slope == pytest.approx(g[k], rel=1e-5, abs=1e-9), k
    assert float(loss(d.at[3].add(h))) == float(loss(d))      # beyond the top: clipped, no change


def test_planted_delays_are_recovered_by_gradient_descent():
    """The drive of 6 neurons (below threshold) made by planted delays; the same network from
    delays off by up to +-2.5 steps learns them back from the membrane potentials alone (Adam,
    300 steps)."""
    import optax
    conn = ns.events.from_arrays(np.arange(12) % 6, np.arange(12) // 2, 6, 6)
    rng = np.random.default_rng(7)
    planted = rng.integers(4, 16, conn.nnz) * DT
    start = np.clip(planted + rng.uniform(-2.5, 2.5, conn.nnz) * DT, DT, 2.0)
    net = _pair(planted, conn, max_delay_ms=2.0, w=30.0, rate=80.0, v_th=1e3)
    target = _v(net, net.params(), 400, 1)

    def loss(d):
        return jnp.mean((_v(net, net.params().with_delays({"PE": d}), 400, 1) - target) ** 2)

    opt = optax.adam(0.02)
    d = jnp.asarray(start, jnp.float32)
    st = opt.init(d)
    step = jax.jit(lambda d, st: _adam(opt, loss, d, st))
    first = float(loss(d))
    for _ in range(300):
        d, st = step(d, st)
    assert float(loss(d)) < 1e-3 * first
    # a synapse whose presynaptic neuron sent no spike that arrives within the run has no say
    # in the drive, nor a gradient
    sent = np.asarray(ns.run(net, net.params(), ns.init_state(net, net.params(), 1, DT), 400, DT)[1]["P"])
    first = np.array([np.flatnonzero(sent[:, i]).min(initial=10**6) for i in range(6)])
    seen = first[np.asarray(conn.rows)] + 20 < 400                  # + the longest delay, 2 ms
    assert seen.sum() >= 10
    np.testing.assert_allclose(np.asarray(d)[seen], planted[seen], atol=0.2 * DT)
    assert np.abs(start - planted)[seen].max() > 2 * DT              # they had to cross whole steps


def _adam(opt, loss, d, st):
    g = jax.grad(loss)(d)
    upd, st = opt.update(g, st)
    return d + upd, st


def test_the_other_engines_refuse_and_auto_runs_the_scan():
    conn, rng = _setup(5)
    net = _pair(rng.uniform(0.1, 0.5, conn.nnz), conn, max_delay_ms=0.5)
    assert ns.simulate(net, 5.0, DT, progress=False).timings["engine"] == "scan"
    for engine in ("fused", "native", "parallel"):
        with pytest.raises(ValueError, match=r"projection 'PE' learns its delays \(max_delay_ms.*only the scan engine"):
            ns.simulate(net, 5.0, DT, engine=engine, progress=False, **({"devices": 1} if engine == "parallel" else {}))


def test_the_delays_are_params_and_the_fingerprint_knows_the_bound():
    conn, rng = _setup(6)
    d = rng.uniform(0.1, 0.5, conn.nnz)
    net = _pair(d, conn, max_delay_ms=0.5)
    p = net.params()
    np.testing.assert_allclose(p.projections["PE"].delays, d, rtol=1e-6)
    assert list(p.delays()) == ["PE"] and "projections.PE.delays" in {leaf.path for leaf in leaves(p)}
    assert all(not leaf.path.endswith(".delays") for leaf in leaves(_pair(0.5, conn).params()))
    assert ns.fingerprint(net) != ns.fingerprint(_pair(d, conn, max_delay_ms=1.0))
    assert ns.fingerprint(_pair(0.5, conn)) == ns.fingerprint(_pair(0.5, conn))
    assert "(learnable, up to 0.5 ms)" in repr(net)
    # a delay the optimiser takes outside [dt, max_delay_ms] runs clipped
    runs = [ns.simulate(net, 20.0, DT, key=1, params=p.with_delays({"PE": jnp.full(conn.nnz, d)}),
                        progress=False).state for d in (9.0, 0.5, 0.4)]
    far, top, below = (np.asarray(r.neurons["E"].v) for r in runs)
    np.testing.assert_array_equal(far, top)
    assert np.abs(top - below).max() > 1e-3          # the delays matter in this run
    np.testing.assert_array_equal(runs[0].delays["PE"].ring, runs[1].delays["PE"].ring)


def test_a_network_model_trains_the_delays_with_the_weights():
    from neurosim import train
    from neurosim.builders import RasterSource
    conn = ns.events.fixed_probability(8, 4, 0.5, seed=2)
    pops = [ns.Population("in", 8, RasterSource()), ns.Population("out", 4, LIF())]
    net = ns.Network(pops, [ns.Projection("io", "in", "out", conn, 30.0, delay_ms=np.full(conn.nnz, 0.35),
                                          max_delay_ms=1.0)])
    model = train.NetworkModel(net, input="in", output="out", dt=DT)
    assert set(model.delays.get_value()) == {"io"}
    x = jnp.asarray(np.random.default_rng(0).random((30, 2, 8)) < 0.3, jnp.float32)

    def loss(m):
        return jnp.sum(m(x).counts[0])

    from flax import nnx
    grads = nnx.grad(loss)(model)
    assert np.any(np.asarray(grads.delays.get_value()["io"]) != 0)
    moved = model.params().with_delays({"io": jnp.full(conn.nnz, 0.65)})
    model.delays.set_value({"io": jnp.full(conn.nnz, 0.65)})
    np.testing.assert_array_equal(model.params().projections["io"].delays, moved.projections["io"].delays)
