"""Gap junctions (electrical synapses, neurosim.network.gap): the coupled membranes against the
exact solution of the linear system, the summed current against a dense reference, current
conservation, gradients against finite differences, vmap against stacking, what each engine
does with them, and the errors of bad input.

Networks are tiny (2-50 neurons, at most 2000 steps), so the file stays fast on 2 cores.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim.astrocytes import Astrocyte
from neurosim.engines.native import compiler
from neurosim.inputs import ConstantCurrent, PoissonSource
from neurosim.network import GapJunction, gap_currents
from neurosim.neurons import LIF, Izhikevich

PASSIVE = LIF.Params(v_th=1e3, t_ref=0.0)     # threshold out of reach: a linear membrane
C_M, G_L, E_L = 200.0, 10.0, -60.0            # pF, nS, mV (LIF's defaults)


def _pairs(n, p, seed):
    """The pairs i < j of a random graph on n nodes, each with probability p."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(n, 1)
    keep = rng.random(i.size) < p
    return i[keep], j[keep]


def _state_with_v(net, params, v: dict, dt=0.1):
    state = ns.init_state(net, params, 0, dt)
    neurons = {name: state.neurons[name]._replace(v=jnp.asarray(x, state.neurons[name].v.dtype)) for name, x in v.items()}
    return state._replace(neurons={**state.neurons, **neurons})


# --------------------------------------------------------------------------- (1) two cells, exactly


def two_cells(g=5.0, amp=200.0):
    """Two passive LIF cells at rest, one junction of g nS conducting both ways, cell 0 driven
    by a constant amp pA."""
    pop = ns.Population("E", 2, LIF(), PASSIVE)
    gj = GapJunction("gj", "E", "E", ns.CSR.from_arrays([0], [1], 2, 2), g, symmetric=True)
    drive = ns.Input("drive", ("E", 0, 1), ConstantCurrent(), ConstantCurrent.Params(amp))
    return ns.Network([pop], [], [drive], gap_junctions=[gj])


def exact_two_cells(t, g, amp):
    """V(t) of the coupled pair, from the eigenmodes of the 2x2 system
    C u' = -g_L u + g [[-1, 1], [1, -1]] u + (amp, 0), u = V - E_L, u(0) = 0:
    the sum u0 + u1 relaxes with C / g_L, the difference u0 - u1 with C / (g_L + 2 g)."""
    s = amp / G_L * -np.expm1(-t * G_L / C_M)
    d = amp / (G_L + 2 * g) * -np.expm1(-t * (G_L + 2 * g) / C_M)
    return np.stack([E_L + (s + d) / 2, E_L + (s - d) / 2], axis=-1)


def simulated_two_cells(net, dt, t_stop):
    params = net.params()
    state = ns.init_state(net, params, 0, dt)
    _, v = jax.jit(lambda s: ns.run(net, params, s, int(round(t_stop / dt)), dt,
                                    observe=lambda st, _: st.neurons["E"].v))(state)
    return np.asarray(v, float)          # (steps, 2): the state after each step


def test_two_coupled_cells_follow_the_exact_solution_to_first_order_in_dt(x64):
    """The step integrates the leak exactly and holds the junction's current (read at the step's
    start) over the step: exponential Euler (ETD1) with the coupling explicit. With
    N(t) = g (V_other - V_self) / C the explicit part, its local error is at most
    dt^2 / 2 max |N'| over the step, and the one-step map of errors has a max-norm of
    exp(-dt g_L / C) <= 1 (its entries are >= 0 while dt g / C < 1), so the error at T is at most
    the sum of the local errors: (dt / 2) (g / C) (|d(T) - d(0)| + dt |d'(0)|), d = V0 - V1
    (monotone here). The measured error must stay under it and halve with dt."""
    g, amp, t_stop = 5.0, 200.0, 100.0
    errors = []
    for dt in (0.2, 0.1, 0.05):
        v = simulated_two_cells(two_cells(g, amp), dt, t_stop)
        t = dt * np.arange(1, v.shape[0] + 1)
        exact = exact_two_cells(t, g, amp)
        err = float(np.max(np.abs(v - exact)))
        d = exact_two_cells(np.array([t_stop]), g, amp)[0]
        d_t = d[0] - d[1]
        d0_rate = amp / C_M                       # d'(0) (mV/ms): all of the drive, before any coupling
        bound = dt / 2 * g / C_M * (abs(d_t) + dt * d0_rate)
        assert err <= bound, (dt, err, bound)
        assert err > 0.05 * bound, (dt, err, bound)      # the bound is not vacuous: the error is of its order
        errors.append(err)
    for coarse, fine in zip(errors, errors[1:]):
        assert 1.8 < coarse / fine < 2.2, errors       # first order
    # the steady state: the 2x2 linear system solved directly
    v = simulated_two_cells(two_cells(g, amp), 0.1, 1000.0)[-1]
    a = np.array([[G_L + g, -g], [-g, G_L + g]])
    np.testing.assert_allclose(v, E_L + np.linalg.solve(a, [amp, 0.0]), atol=1e-6)


def test_two_coupled_cells_are_the_discrete_recursion_to_rounding(x64):
    """The scheme itself, written out: V' = V_inf + (V - V_inf) e^{-dt g_L / C} with
    V_inf = E_L + (I_ext + g (V_other - V)) / g_L, both cells from the same V."""
    g, amp, dt, steps = 5.0, 200.0, 0.1, 500
    v = simulated_two_cells(two_cells(g, amp), dt, steps * dt)
    decay = np.exp(-dt * G_L / C_M)
    u = np.array([E_L, E_L])
    for k in range(steps):
        i = np.array([amp, 0.0]) + g * (u[::-1] - u)
        v_inf = E_L + i / G_L
        u = v_inf + (u - v_inf) * decay
        np.testing.assert_allclose(v[k], u, rtol=0, atol=1e-10)


# --------------------------------------------------------------------------- (2)-(3) the summed current


def random_coupling(n=50, p=0.1, seed=3, both_ways=False):
    """A population of n LIF cells and a random sparse symmetric coupling: each pair i < j
    once with symmetric=True, or both directions stored (symmetric=False, Brian2's way); the
    dense (n, n) conductance matrix G (G[i, j]: from j into i)."""
    i, j = _pairs(n, p, seed)
    g = np.random.default_rng(seed + 1).uniform(0.1, 2.0, i.size)
    dense = np.zeros((n, n))
    dense[i, j] = dense[j, i] = g
    if both_ways:
        conn, w = ns.CSR.from_arrays(np.r_[i, j], np.r_[j, i], n, n, np.r_[g, g])
        gj = GapJunction("gj", "E", "E", conn, w)
    else:
        conn, w = ns.CSR.from_arrays(i, j, n, n, g)
        gj = GapJunction("gj", "E", "E", conn, w, symmetric=True)
    net = ns.Network([ns.Population("E", n, LIF(), PASSIVE)], [], [], gap_junctions=[gj])
    return net, dense


@pytest.mark.parametrize("both_ways", [False, True], ids=["symmetric", "both-directions"])
def test_the_summed_current_is_the_dense_laplacian(both_ways):
    net, G = random_coupling(both_ways=both_ways)
    v = np.random.default_rng(7).uniform(-70.0, -45.0, 50)
    params = net.params()
    state = _state_with_v(net, params, {"E": v})
    got = np.asarray(gap_currents(net, params, state)["E"], float)
    want = G @ v - G.sum(axis=1) * v                  # G V - diag(G 1) V
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3 * np.abs(want).max())
    # ... and the step adds exactly that: one step equals one step with it as an input current
    fed = ns.Network([ns.Population("E", 50, LIF(), PASSIVE)], [],
                     [ns.Input("i", "E", ConstantCurrent(), ConstantCurrent.Params(jnp.asarray(got, jnp.float32)))])
    stepped, _ = ns.step(net, params, state, 0.1)
    fed_params = fed.params()
    reference, _ = ns.step(fed, fed_params, _state_with_v(fed, fed_params, {"E": v}), 0.1)
    np.testing.assert_allclose(stepped.neurons["E"].v, reference.neurons["E"].v, rtol=0, atol=1e-4)


@pytest.mark.parametrize("both_ways", [False, True], ids=["symmetric", "both-directions"])
def test_symmetric_coupling_conserves_current(both_ways):
    net, G = random_coupling(both_ways=both_ways, seed=11)
    v = np.random.default_rng(5).uniform(-70.0, -45.0, 50)
    params = net.params()
    i = np.asarray(gap_currents(net, params, _state_with_v(net, params, {"E": v}))["E"], float)
    assert np.abs(i).max() > 10.0                        # pA: there is current to conserve
    assert abs(i.sum()) < 1e-5 * np.abs(i).sum()         # float32 rounding of a sum that is 0
    # a directed coupling (one direction only) is not conserving: the test can tell
    pre, post = np.nonzero(np.triu(G))
    one_way = ns.Network(net.populations, [], [], gap_junctions=[GapJunction(
        "gj", "E", "E", ns.CSR.from_arrays(pre, post, 50, 50), 1.0)])
    j = np.asarray(gap_currents(one_way, one_way.params(), _state_with_v(one_way, one_way.params(), {"E": v}))["E"])
    assert abs(j.sum()) > 1.0


def test_slices_of_two_populations_and_the_reverse_direction():
    """A junction from a slice of A to a slice of B, symmetric: A's neurons receive the reverse
    current; the dense reference is over the concatenated neurons."""
    a_n, b_n = 10, 6
    pre, post = np.array([0, 1, 1, 4, 5]), np.array([0, 0, 3, 2, 3])     # within A[2:8] x B[0:4]
    g = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    conn, w = ns.CSR.from_arrays(pre, post, 6, 4, g)
    gj = GapJunction("ab", ("A", 2, 8), ("B", 0, 4), conn, w, symmetric=True)
    net = ns.Network([ns.Population("A", a_n, LIF(), PASSIVE), ns.Population("B", b_n, LIF(), PASSIVE)], [], [],
                     gap_junctions=[gj])
    rng = np.random.default_rng(2)
    va, vb = rng.uniform(-70, -50, a_n), rng.uniform(-70, -50, b_n)
    params = net.params()
    got = gap_currents(net, params, _state_with_v(net, params, {"A": va, "B": vb}))
    G = np.zeros((a_n + b_n, a_n + b_n))
    G[a_n + post, 2 + pre] = G[2 + pre, a_n + post] = g
    v = np.r_[va, vb]
    want = G @ v - G.sum(axis=1) * v
    np.testing.assert_allclose(np.r_[got["A"], got["B"]], want, rtol=1e-5, atol=1e-4)


# --------------------------------------------------------------------------- (4)-(5) grad and vmap


def driven_chain(n=4, seed=0):
    """n passive cells in a chain (each pair once, symmetric), cell 0 driven, random conductances."""
    conn = ns.CSR.from_arrays(np.arange(n - 1), np.arange(1, n), n, n)
    g = np.random.default_rng(seed).uniform(1.0, 4.0, n - 1)
    drive = ns.Input("drive", ("E", 0, 1), ConstantCurrent(), ConstantCurrent.Params(300.0))
    return ns.Network([ns.Population("E", n, LIF(), PASSIVE)], [], [drive],
                      gap_junctions=[GapJunction("gj", "E", "E", conn, g, symmetric=True)])


def readout(net, g, steps=500, dt=0.1):
    """The mean over the run of the membrane potentials, weighted by the distance from the
    driven cell (mV)."""
    params = net.params()._replace(gap_junctions={"gj": g})
    state = ns.init_state(net, params, 0, dt)
    n = net.populations[0].n
    _, v = ns.run(net, params, state, steps, dt, observe=lambda s, _: s.neurons["E"].v @ jnp.arange(n, dtype=float))
    return jnp.mean(v)


def test_gradient_wrt_conductances_matches_central_differences(x64):
    net = driven_chain()
    g = jnp.asarray(net.params().gap_junctions["gj"])
    grad = np.asarray(jax.jit(jax.grad(lambda x: readout(net, x)))(g))
    f = jax.jit(lambda x: readout(net, x))
    h = 1e-4
    fd = np.array([(float(f(g.at[k].add(h))) - float(f(g.at[k].add(-h)))) / (2 * h) for k in range(g.size)])
    assert np.all(np.abs(grad) > 1e-3)                # every conductance matters to the readout
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    # a scalar conductance (one for every junction) is differentiable too
    scalar = ns.Network(net.populations, [], net.inputs, gap_junctions=[
        dataclasses.replace(net.gap_junctions[0], weights=2.0)])
    d = float(jax.grad(lambda x: readout(scalar, x))(jnp.float64(2.0)))
    fd = (float(readout(scalar, 2.0 + h)) - float(readout(scalar, 2.0 - h))) / (2 * h)
    assert d == pytest.approx(fd, rel=1e-5)


def test_vmap_over_conductances_equals_stacked_runs():
    net = driven_chain()
    g0 = np.asarray(net.params().gap_junctions["gj"])
    batch = jnp.asarray(np.stack([g0, 0.5 * g0, np.zeros_like(g0), 2.0 * g0]), jnp.float32)
    f = jax.jit(lambda x: readout(net, x, steps=200))
    vmapped = np.asarray(jax.jit(jax.vmap(lambda x: readout(net, x, steps=200)))(batch))
    stacked = np.array([float(f(x)) for x in batch])
    np.testing.assert_allclose(vmapped, stacked, rtol=1e-6, atol=1e-5)
    assert vmapped[2] == pytest.approx(E_L * (0 + 1 + 2 + 3), abs=1e-3)   # no coupling: only cell 0 moves
    assert vmapped[3] > vmapped[0] > vmapped[1] > vmapped[2]   # stronger coupling carries more of the drive


# --------------------------------------------------------------------------- (6) the engines


def test_the_native_engine_runs_them_and_the_others_say_why():
    net = two_cells()
    d = ns.engines.describe(net)
    why = {v.engine: v.reason for v in d.verdicts}
    assert why["scan"] is None
    assert why["fused"].startswith("gap junction 'gj': the fused kernel has no electrical synapses")
    if compiler.compiler() is not None:
        assert d.chosen == "native" and why["native"] is None
    with pytest.raises(ValueError, match=r"engine='fused' cannot run this simulation: gap junction 'gj'"):
        ns.simulate(net, 1.0, 0.1, engine="fused")
    assert "gap junction 'gj'" in str(d)
    assert ns.network.parallel_reason(net, [], 1).startswith("gap junction 'gj' reads membrane potentials of neurons "
                                                             "on other devices")
    with pytest.raises(ValueError, match=r"engine='parallel' cannot run this simulation: gap junction 'gj'"):
        ns.simulate(net, 1.0, 0.1, engine="parallel", devices=1)
    res = ns.simulate(net, 5.0, 0.1, monitors=[ns.Trace("E", "v")], engine="scan")
    assert res.timings["engine"] == "scan"
    params = net.params()
    _, v = ns.run(net, params, ns.init_state(net, params, 0, 0.1), 50, 0.1, observe=lambda s, _: s.neurons["E"].v)
    np.testing.assert_allclose(res.traces["E.v"][1], v, rtol=0, atol=1e-5)


# the native engine against the scan: the parity contract of docs/engines.md (identical spike
# trains over 100 ms; membrane potentials within 0.01 mV in float32, 1e-8 mV in float64)
needs_cxx = pytest.mark.skipif(compiler.compiler() is None, reason="needs a C++ compiler")
HORIZON_MS = 100.0


def assert_native_is_the_scan(net, params=None, t_stop=HORIZON_MS, dt=0.1, min_spikes=0):
    """Run ``net`` on the scan and on the default engine, which must be the native one: the same
    spikes, the membrane potentials after every step within the contract's tolerance, the final
    state within ten times it."""
    mon = [ns.Spikes(p.name) for p in net.populations] + [ns.Trace(p.name, "v") for p in net.populations]
    scan = ns.simulate(net, t_stop, dt, params=params, engine="scan", monitors=mon, key=4, progress=False)
    native = ns.simulate(net, t_stop, dt, params=params, monitors=mon, key=4, progress=False)
    assert native.timings["engine"] == "native"
    tol = 1e-8 if jax.config.jax_enable_x64 else 1e-2            # mV
    fired = 0
    for p in net.populations:
        (ta, ia), (tb, ib) = scan.spikes[p.name], native.spikes[p.name]
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(ia, ib)
        fired += len(ta)
        np.testing.assert_allclose(native.traces[f"{p.name}.v"][1], scan.traces[f"{p.name}.v"][1], rtol=0, atol=tol)
    assert fired >= min_spikes, fired
    for a, b in zip(jax.tree.leaves(scan.state.neurons), jax.tree.leaves(native.state.neurons)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=10 * tol)
    return scan, native


@needs_cxx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_native_two_coupled_cells_are_the_scans(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    scan, native = assert_native_is_the_scan(two_cells())
    v = native.traces["E.v"][1]
    assert v[-1, 1] - E_L > 4.5          # mV: the undriven cell is carried by the junction (5 mV at rest)


def spiking_coupled(n=50, p=0.1, seed=3, both_ways=False):
    """n LIF cells driven above threshold, coupled at random (each pair once, symmetric, or
    stored both ways), with a sparse excitatory projection among them."""
    i, j = _pairs(n, p, seed)
    g = np.random.default_rng(seed + 1).uniform(0.5, 3.0, i.size)
    if both_ways:
        gj = GapJunction("gj", "E", "E", *ns.CSR.from_arrays(np.r_[i, j], np.r_[j, i], n, n, np.r_[g, g]))
    else:
        gj = GapJunction("gj", "E", "E", *ns.CSR.from_arrays(i, j, n, n, g), symmetric=True)
    proj = ns.Projection("EE", "E", "E", ns.events.fixed_probability(n, n, p=0.1, seed=seed + 2), weights=0.5)
    drive = ns.Input("bg", "E", ConstantCurrent(), ConstantCurrent.Params(jnp.linspace(150.0, 450.0, n)))
    return ns.Network([ns.Population("E", n, LIF(v_init=ns.Uniform(-60.0, -50.0)))], [proj], [drive],
                      gap_junctions=[gj])


@needs_cxx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("both_ways", [False, True], ids=["symmetric", "both-directions"])
def test_native_random_spiking_network_is_the_scans(both_ways, dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    net = spiking_coupled(both_ways=both_ways)
    assert_native_is_the_scan(net, min_spikes=200)
    # the conductances are parameters: the native engine reads those of the run
    params = net.params()
    params = params._replace(gap_junctions={"gj": 3 * params.gap_junctions["gj"]})
    assert_native_is_the_scan(net, params, min_spikes=200)


def sliced_pair():
    """Two populations with gap junctions between slices of them (symmetric), a directed one
    within A (scalar conductance), a symmetric one within a slice of B, and projections and
    inputs onto whole populations and slices: every kind of term before the junctions'."""
    pops = [ns.Population("A", 20, LIF(v_init=ns.Uniform(-60.0, -50.0))),
            ns.Population("B", 10, LIF(v_init=ns.Uniform(-60.0, -50.0)))]
    pre, post = np.array([0, 1, 1, 4, 5, 7, 9]), np.array([0, 0, 3, 2, 3, 5, 1])
    ab = GapJunction("ab", ("A", 2, 14), ("B", 1, 7), *ns.CSR.from_arrays(pre, post, 12, 6, np.linspace(1.0, 5.0, 7)),
                     symmetric=True)
    i, j = _pairs(20, 0.2, 1)
    aa = GapJunction("aa", "A", "A", ns.CSR.from_arrays(np.r_[i, j], np.r_[j, i], 20, 20), 2.0)
    i, j = _pairs(8, 0.3, 2)
    bb = GapJunction("bb", ("B", 2, 10), ("B", 2, 10), ns.CSR.from_arrays(i, j, 8, 8), 1.5, symmetric=True)
    projs = [ns.Projection("AB", "A", "B", ns.events.fixed_probability(20, 10, p=0.3, seed=1), weights=1.0),
             ns.Projection("BA", ("B", 0, 5), ("A", 3, 20), ns.events.fixed_probability(5, 17, p=0.3, seed=2),
                           weights=1.0, delay_ms=0.5)]
    inputs = [ns.Input("ia", "A", ConstantCurrent(), ConstantCurrent.Params(jnp.linspace(200.0, 450.0, 20))),
              ns.Input("ib", ("B", 2, 10), ConstantCurrent(), ConstantCurrent.Params(420.0))]
    return ns.Network(pops, projs, inputs, gap_junctions=[ab, aa, bb])


@needs_cxx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_native_slices_of_two_populations_with_projections_are_the_scans(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    net = sliced_pair()
    scan, _ = assert_native_is_the_scan(net, min_spikes=200)
    assert all(len(scan.spikes[name][0]) > 50 for name in ("A", "B"))
    # the coupling matters: without it, the spike trains are others
    alone = ns.simulate(ns.Network(net.populations, net.projections, net.inputs), HORIZON_MS, 0.1, engine="scan",
                        monitors=[ns.Spikes("B")], key=4, progress=False)
    assert not np.array_equal(alone.spikes["B"][0], scan.spikes["B"][0])


def test_a_network_without_them_is_unchanged():
    """No gap junction: the same engines, the params group empty, the fingerprint as before."""
    net = ns.Network([ns.Population("E", 4, LIF())], [], [ns.Input("d", "E", ConstantCurrent(),
                                                                  ConstantCurrent.Params(300.0))])
    assert net.params().gap_junctions == {} and "gap" not in repr(net)
    assert "gap_junctions" not in ns.network.checkpoint.describe(net)
    assert ns.engines.describe(net).chosen == "fused"


def test_repr_checkpoint_and_fingerprint(tmp_path):
    net = two_cells()
    assert "1 gap junction(s)" in repr(net)
    assert "gap junction 'gj': 'E' <-> 'E', 1 junctions (each both ways), conductances 5.0 nS" in repr(net)
    other = two_cells(g=6.0)
    assert ns.fingerprint(net) != ns.fingerprint(other)      # the conductances are part of the network
    res = ns.simulate(net, 2.0, 0.1)
    params = net.params()._replace(gap_junctions={"gj": jnp.float32(3.0)})
    path = ns.save_checkpoint(tmp_path / "gj", net, res, params)
    ck = ns.load_checkpoint(path, net)
    assert float(ck.params.gap_junctions["gj"]) == 3.0
    with pytest.raises(ValueError, match=r"another network; its gap_junctions"):
        ns.load_checkpoint(path, other)


def test_other_models_couple_through_their_voltage():
    """Any model with a membrane potential (here Izhikevich, whose currents are its own units)."""
    conn = ns.CSR.from_arrays([0], [1], 2, 2)
    net = ns.Network([ns.Population("I", 2, Izhikevich())], [], [],
                     gap_junctions=[GapJunction("gj", "I", "I", conn, 0.5, symmetric=True)])
    params = net.params()
    state = _state_with_v(net, params, {"I": np.array([-70.0, -60.0])})
    np.testing.assert_allclose(gap_currents(net, params, state)["I"], [5.0, -5.0], rtol=1e-6)


# --------------------------------------------------------------------------- (7) bad input


def _pop(n=4):
    return ns.Population("E", n, LIF())


CONN = ns.CSR.from_arrays([0, 1], [1, 2], 4, 4)


@pytest.mark.parametrize("make, message", [
    (lambda: GapJunction("gj", "E", "E", CONN, -1.0),
     r"GapJunction 'gj': weights are conductances \(nS\) and must be >= 0, got -1.0"),
    (lambda: GapJunction("gj", "E", "E", CONN, np.array([1.0, -0.5])),
     r"must be >= 0, got -0.5 at junction 1"),
    (lambda: GapJunction("gj", "E", "E", CONN, np.array([1.0, np.nan])), r"weights must be finite"),
    (lambda: GapJunction("gj", "E", "E", CONN, np.ones(3)),
     r"weights must be a scalar or have shape \(2,\) \(one conductance per junction, in CSR order\), got shape \(3,\)"),
    (lambda: GapJunction("gj", "E", "E", CONN, "big"), r"weights must be a number or an array of numbers"),
    (lambda: GapJunction("gj", "E", "E", ns.events.JitConn(4, 4, 0.5, seed=0), 1.0),
     r"conn is a JitConn \(procedural connectivity\).*pass conn.to_csr\(\)"),
    (lambda: GapJunction("gj", "E", "E", np.eye(4), 1.0), r"conn must be a CSR .*got ndarray"),
    (lambda: GapJunction("gj", "E", "E", CONN, 1.0, symmetric="yes"), r"symmetric must be True or False"),
    (lambda: ns.Network([ns.Population("P", 4, PoissonSource()), _pop()], [], [],
                        gap_junctions=[GapJunction("gj", "P", "E", CONN, 1.0)]),
     r"GapJunction 'gj': pre population 'P' is a spike source \(PoissonSource\), which has no membrane potential"),
    (lambda: ns.Network([ns.Population("A", 4, Astrocyte()), _pop()], [], [],
                        gap_junctions=[GapJunction("gj", "E", "A", CONN, 1.0)]),
     r"post population 'A' is a Astrocyte, which has no membrane potential \(its voltage\(state\) is None\)"),
    (lambda: ns.Network([_pop(5)], [], [], gap_junctions=[GapJunction("gj", "E", "E", CONN, 1.0)]),
     r"GapJunction 'gj': conn is 4 x 4 but pre 'E' has 5 neurons and post 'E' has 5"),
    (lambda: ns.Network([_pop()], [], [], gap_junctions=[GapJunction("gj", ("E", 0, 9), "E", CONN, 1.0)]),
     r"GapJunction 'gj': pre slice \[0, 9\) is not inside population 'E' of 4 neurons"),
    (lambda: ns.Network([_pop()], [], [], gap_junctions=[GapJunction("gj", "X", "E", CONN, 1.0)]),
     r"GapJunction 'gj': pre: no population named 'X'"),
    (lambda: ns.Network([_pop()], [ns.Projection("gj", "E", "E", CONN)], [],
                        gap_junctions=[GapJunction("gj", "E", "E", CONN, 1.0)]),
     r"names must be unique across .* gap junctions; repeated: \['gj'\]"),
    (lambda: ns.Network([_pop()], [], [], gap_junctions=GapJunction("gj", "E", "E", CONN, 1.0)),
     r"Network: gap_junctions must be a list of GapJunction objects"),
    (lambda: ns.Network([_pop()], [], [], gap_junctions=[ns.Projection("p", "E", "E", CONN)]),
     r"Network: every item of gap_junctions must be a GapJunction"),
    (lambda: ns.Network([_pop()], [], [], gap_junctions=[GapJunction(
        "gj", "E", "E", ns.CSR.from_arrays([0, 1, 2], [1, 2, 1], 4, 4), 1.0, symmetric=True)]),
     r"symmetric=True makes each junction conduct both ways, but conn holds the pair of neurons 1 and 2 in both "
     r"directions \(1 such pair\(s\)\)"),
])
def test_bad_input_is_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_both_directions_without_symmetric_and_self_pairs_are_accepted():
    both = ns.CSR.from_arrays([0, 1, 2, 2], [1, 0, 2, 3], 4, 4)      # (0,1) both ways, a self pair (2,2)
    ns.Network([_pop()], [], [], gap_junctions=[GapJunction("gj", "E", "E", both, 1.0)])
    ns.Network([_pop()], [], [], gap_junctions=[GapJunction(
        "gj", "E", "E", ns.CSR.from_arrays([2, 0], [2, 1], 4, 4), 1.0, symmetric=True)])


def test_bad_params_are_refused_before_the_run():
    net = two_cells()
    params = net.params()
    with pytest.raises(ValueError, match=r"params.gap_junctions\['gj'\] are conductances \(nS\) and must be >= 0, got -2.0"):
        ns.simulate(net, 1.0, 0.1, params=params._replace(gap_junctions={"gj": jnp.float32(-2.0)}))
    with pytest.raises(ValueError, match=r"params.gap_junctions\['gj'\] must be a scalar or have shape \(1,\)"):
        ns.run(net, params._replace(gap_junctions={"gj": jnp.ones(3)}), ns.init_state(net, params, 0, 0.1), 2, 0.1)
    with pytest.raises(ValueError, match=r"params.gap_junctions must name \['gj'\] \(as net.params\(\) does\), got \[\]"):
        ns.simulate(net, 1.0, 0.1, params=ns.NetParams(params.neurons, params.projections, params.inputs))
