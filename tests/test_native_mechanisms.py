"""Per-synapse mechanisms on the native engine: short-term plasticity, plasticity rules and a
user's own mechanism, lowered from their own JAX code over the presynaptic, postsynaptic and
synapse spaces (neurosim.engines.native.spaces), checked against the scan.

Parity (docs/engines.md): pair STDP alone or clipped performs the scan's float operations in
the scan's order, so spikes, weights and traces are the scan's bits. Where XLA contracts a
product and a sum into one FMA (triplet STDP, inhibitory STDP, scaling) the last bit of a
weight may differ: identical spike trains over 50 ms of these plastic networks and weights
within 1e-5 of their range over the run; short-term plasticity keeps identical spikes over 200 ms.
"""
import ctypes
import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim import plasticity as pl
from neurosim.engines.native import compiler
from neurosim.engines.native.lower import PRELUDE, Unlowerable, ptype
from neurosim.engines.native.spaces import lower_spaces, space_code
from neurosim.synapses import TsodyksMarkram
from neurosim.synapses.dynamics import AbstractSynapseDynamics

from test_fused_learning import leaves, plastic_coba

pytestmark = pytest.mark.skipif(compiler.compiler() is None, reason="no C++ compiler")

DT = 0.1


def run(net, duration, key=5, engine="native"):
    return ns.simulate(net, duration, DT, key=key, monitors=[ns.Spikes("neurons")], engine=engine)


def same_spikes(a, b):
    (ta, ia), (tb, ib) = a.spikes["neurons"], b.spikes["neurons"]
    assert ta.size > 0
    np.testing.assert_array_equal(ta, tb)
    np.testing.assert_array_equal(ia, ib)


def rules(w):
    return {
        # with mu > 0 an amplitude is per unit of (w_max - w_min)^mu: 0.021 * w there would let one
        # depression overshoot below w_min (negative conductances, which simulate refuses)
        "pair, soft bounds": pl.stdp_pair(0.02, 0.021, w_max=w, mu_plus=1.0, mu_minus=1.0),
        "pair, nearest": pl.stdp_pair(0.02 * w, 0.021, w_max=w, mu_plus=0.0, mu_minus=1.0, traces="nearest"),
        "pair, clipped": pl.chain(pl.stdp_pair(0.05 * w, 0.06 * w, 10.0, 30.0, w_max=w, mu_plus=0.5, mu_minus=0.5),
                                  pl.clip_weights(0.0, 0.8 * w)),
        "pair, normalized": pl.chain(pl.stdp_pair(0.02 * w, 0.021 * w, w_max=w), pl.clip_weights(0, w),
                                     pl.normalize_incoming(20 * w)),
    }


@pytest.mark.parametrize("name", list(rules(1.0)))
def test_pair_stdp_is_the_scan_bitwise(name):
    _, w_max = plastic_coba(400, seed=3)
    delay = {"pair, nearest": 0.3, "pair, clipped": 1.0}.get(name)
    net, _ = plastic_coba(400, rule=rules(w_max)[name], seed=3, delay_ms=delay)
    scan, native = run(net, 150.0, engine="scan"), run(net, 150.0)
    assert native.timings["engine"] == "native"
    same_spikes(scan, native)
    for x, y in zip(leaves((scan.state.weights, scan.state.dynamics)), leaves((native.state.weights,
                                                                               native.state.dynamics))):
        np.testing.assert_array_equal(x, y)
    assert np.any(np.asarray(native.state.weights["ee"]) != np.asarray(net.params().projections["ee"].weights))


def contracted(w):
    return {
        "triplet": pl.chain(pl.stdp_triplet(a2_plus=0.01 * w, a3_plus=0.01 * w, a2_minus=0.01 * w, a3_minus=0.0),
                            pl.clip_weights(0.0, w)),
        "inhibitory": pl.chain(pl.inhibitory_stdp(eta=1e-2 * w), pl.clip_weights(0, w)),
        "scaling": pl.chain(pl.stdp_pair(0.02 * w, 0.021 * w, w_max=w), pl.synaptic_scaling(beta=1e-3),
                            pl.clip_weights(0, w)),
        "dense pair": pl.Plasticity(pl.chain(pl.stdp_pair(0.02 * w, 0.021 * w, w_max=w), pl.clip_weights(0, w)),
                                    event_driven=False),
    }


@pytest.mark.parametrize("name", list(contracted(1.0)))
def test_other_rules_keep_the_spikes_and_the_weights_within_tolerance(name):
    _, w_max = plastic_coba(400, seed=3)
    net, _ = plastic_coba(400, rule=contracted(w_max)[name], seed=3)
    scan, native = run(net, 50.0, engine="scan"), run(net, 50.0)
    assert native.timings["engine"] == "native"
    same_spikes(scan, native)
    wa, wb = np.asarray(scan.state.weights["ee"]), np.asarray(native.state.weights["ee"])
    np.testing.assert_allclose(wb, wa, rtol=0, atol=1e-5 * w_max)
    assert np.any(wb != np.asarray(net.params().projections["ee"].weights))


def test_float64_pair_stdp(x64):
    _, w_max = plastic_coba(400, seed=3)
    net, _ = plastic_coba(400, rule=rules(w_max)["pair, clipped"], seed=3)
    scan, native = run(net, 100.0, engine="scan"), run(net, 100.0)
    same_spikes(scan, native)
    assert np.asarray(native.state.weights["ee"]).dtype == np.float64
    np.testing.assert_allclose(native.state.weights["ee"], scan.state.weights["ee"], rtol=0, atol=1e-12 * w_max)


def stp_net(recovery):
    base = ns.builders.coba(400, seed=1)
    projs = [dataclasses.replace(pr, stp=TsodyksMarkram(recovery)) if pr.name == "exc" else pr
             for pr in base.projections]
    return ns.Network(list(base.populations), projs, list(base.inputs))


@pytest.mark.parametrize("recovery", ["instant", "inactive"])
def test_short_term_plasticity_keeps_the_spikes(recovery):
    net = stp_net(recovery)
    assert ns.engines.describe(net, DT).chosen == "native"
    scan, native = run(net, 200.0, engine="scan"), run(net, 200.0)
    same_spikes(scan, native)
    for x, y in zip(leaves(scan.state.dynamics), leaves(native.state.dynamics)):
        np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-6)


def test_the_event_driven_visit_is_the_dense_update_bitwise():
    """The program's visit of the synapses of spiking neurons (rows, then columns, each synapse
    once) gives what the same lowered rule gives at every synapse."""
    _, w = plastic_coba(400, seed=3)
    rule = pl.chain(pl.stdp_pair(0.02 * w, 0.021 * w, w_max=w), pl.clip_weights(0, w))
    ev, _ = plastic_coba(400, rule=rule, seed=3)
    dense, _ = plastic_coba(400, rule=pl.Plasticity(rule, event_driven=False), seed=3)
    a, b = run(ev, 100.0), run(dense, 100.0)
    same_spikes(a, b)
    np.testing.assert_array_equal(a.state.weights["ee"], b.state.weights["ee"])


# --------------------------------------------------------------------------- a user's mechanism


class FacState(NamedTuple):
    f: jax.Array      # (nnz,) facilitation of each synapse
    seen: jax.Array   # (n_pre,) spikes each presynaptic neuron delivered


@dataclasses.dataclass(frozen=True, eq=False)
class Facilitation(AbstractSynapseDynamics):
    """A user's per-synapse mechanism: each synapse's facilitation grows at its presynaptic
    spikes and relaxes to 1 (tau 50 ms); a spike delivers ``w f``."""

    key = "facilitation"
    kind = "facilitation"

    def initial_params(self):
        return (jnp.float32(0.2), jnp.float32(50.0))

    def init(self, params, shape):
        return FacState(jnp.ones((shape.nnz,), shape.dtype), jnp.zeros((shape.n_pre,), shape.dtype))

    def modulate(self, params, state, weights, ev):
        jump, tau = params
        s = ev.pre[ev.conn.rows]
        f = 1.0 + (state.f - 1.0) * jnp.exp(-ev.dt / tau) + jump * s
        return FacState(f, state.seen + ev.pre), weights * f


def test_a_users_mechanism_runs_from_its_own_code():
    base = ns.builders.coba(400, seed=1)
    projs = [dataclasses.replace(pr, dynamics=(Facilitation(),)) if pr.name == "exc" else pr
             for pr in base.projections]
    net = ns.Network(list(base.populations), projs, list(base.inputs))
    assert ns.engines.describe(net, DT).chosen == "native"
    scan, native = run(net, 100.0, engine="scan"), run(net, 100.0)
    same_spikes(scan, native)
    fs, fn = scan.state.dynamics["exc"]["facilitation"], native.state.dynamics["exc"]["facilitation"]
    np.testing.assert_array_equal(fn.seen, fs.seen)
    np.testing.assert_allclose(fn.f, fs.f, rtol=1e-5)
    assert float(np.max(fn.f)) > 1.0


# --------------------------------------------------------------------------- the space lowering itself


def run_spaces(fn, args, spaces, sizes):
    """``fn`` lowered over ``sizes``' spaces and run once (every argument dynamic)."""
    u = lower_spaces("test", fn, args, ["dynamic"] * len(args), spaces, sizes)
    flat = [np.ascontiguousarray(np.asarray(x).reshape(-1)) for x in args]
    ref = jax.tree.leaves(jax.eval_shape(lambda: fn(*args)))
    outs = [np.zeros(max(1, int(np.prod(r.shape))), r.dtype) for r in ref]
    bufs = flat + outs
    decl = [f"{ptype(b.dtype)}* p{k} = ({ptype(b.dtype)}*)a[{k}];" for k, b in enumerate(bufs)]
    lines, arrays = space_code(u, [("ptr", f"p{k}") for k in range(len(flat))],
                               [("ptr", f"p{len(flat) + k}") for k in range(len(outs))], [], "test")
    temps = [f"static {ptype(d)} {name}[{sizes[s]}];" for name, (d, s) in arrays.items()]
    src = PRELUDE + 'extern "C" int f(void** a) {\n' + "\n".join(decl + temps + lines) + "\nreturn 0; }\n"
    f, _ = compiler.load(src, "f")
    f.restype, f.argtypes = ctypes.c_int, [ctypes.POINTER(ctypes.c_void_p)]
    f((ctypes.c_void_p * len(bufs))(*[b.ctypes.data for b in bufs]))
    return [o.reshape(r.shape) for o, r in zip(outs, ref)], u


def test_gathers_sums_and_segment_sums_across_spaces_equal_jax():
    rng = np.random.default_rng(1)
    n_pre, n_post, nnz = 7, 7, 23      # pre and post of one size: told apart by the second trace
    rows = rng.integers(0, n_pre, nnz).astype(np.int32)
    cols = rng.integers(0, n_post, nnz).astype(np.int32)
    x, y, w = (rng.random(n).astype(np.float32) for n in (n_pre, n_post, nnz))

    def fn(x, y, w, rows, cols):
        xs = x * 2.0
        per_syn = w * xs[rows] + y[cols]                          # gathers of a computed and a given array
        into_post = jax.ops.segment_sum(per_syn, cols, num_segments=y.shape[0])
        total = jnp.sum(into_post)                                # a shared value from a space
        scaled = per_syn / total + into_post[cols]                # ... read back in another space
        return xs, into_post, total, scaled, jnp.max(x)

    got, u = run_spaces(fn, [x, y, w, rows, cols], ["pre", "post", "syn", "syn", "syn"],
                        {"pre": n_pre, "post": n_post, "syn": nnz})
    want = jax.jit(fn)(x, y, w, rows, cols)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(r), rtol=2e-6)
    assert [s.space for s in u.segments if s.space or s.body][:2] == ["pre", "syn"]


def test_what_does_not_lower_is_named():
    def branchy(x, rows, t):
        return jax.lax.cond(t > 0, lambda: x[rows] * 2.0, lambda: x[rows])

    with pytest.raises(Unlowerable, match="'cond'"):
        lower_spaces("branchy", branchy, [np.ones(4, np.float32), np.zeros(6, np.int32), np.int32(0)],
                     ["dynamic"] * 3, ["pre", "syn", None], {"pre": 4, "syn": 6})

    def outer(x, y):
        return x[:, None] * y[None, :]

    with pytest.raises(Unlowerable, match="neither shared nor one value per element"):
        lower_spaces("outer", outer, [np.ones(4, np.float32), np.ones(5, np.float32)], ["dynamic"] * 2,
                     ["pre", "post"], {"pre": 4, "post": 5})


@pytest.mark.parametrize("every", [None, 1.0])
def test_reward_modulated_rules_and_a_scheduled_modulator_run_native(every):
    """A three-factor rule reading a modulator with scheduled jumps: the modulator's step and the
    rule (its eligibility trace, released every step or by a tick every ms) lowered."""
    _, w = plastic_coba(400, seed=3)
    rule = pl.chain(pl.stdp_pair(0.02 * w, 0.021 * w, w_max=w), pl.reward_modulated("dopamine", tau_c=50.0, lr=0.5,
                                                                                    every=every),
                    pl.clip_weights(0.0, w))
    base, _ = plastic_coba(400, seed=3)
    projs = [dataclasses.replace(pr, plasticity=rule) if pr.name == "ee" else pr for pr in base.projections]
    dopamine = pl.Modulator("dopamine", tau=20.0, schedule=([10.0, 30.0], [1.0, 2.0]))
    net = ns.Network(list(base.populations), projs, list(base.inputs), modulators=[dopamine])
    assert ns.engines.describe(net, DT).chosen == "native"
    scan, native = run(net, 50.0, engine="scan"), run(net, 50.0)
    same_spikes(scan, native)
    np.testing.assert_allclose(native.state.modulators["dopamine"].value, scan.state.modulators["dopamine"].value,
                               rtol=1e-5)
    wa, wb = np.asarray(scan.state.weights["ee"]), np.asarray(native.state.weights["ee"])
    np.testing.assert_allclose(wb, wa, rtol=0, atol=1e-5 * w)
    assert np.any(wb != np.asarray(net.params().projections["ee"].weights))


def test_a_closed_loop_modulator_drawing_from_the_key_runs_native():
    """The distal-reward network of Izhikevich (2007): a dopamine modulator whose drive reads two
    neurons' spikes and draws the reward's delay from the PRNG key, a rule released every 10 ms
    (the tick after the event-driven update), Izhikevich neurons at dt = 1 ms."""
    net, _ = ns.builders.distal_reward(seed=0)
    assert ns.engines.describe(net, 1.0).chosen == "native"
    scan = ns.simulate(net, 1000.0, 1.0, key=3, monitors=[ns.Spikes("neurons")], engine="scan")
    native = ns.simulate(net, 1000.0, 1.0, key=3, monitors=[ns.Spikes("neurons")], engine="native")
    same_spikes(scan, native)
    for x, y in zip(leaves(scan.state.modulators), leaves(native.state.modulators)):
        np.testing.assert_allclose(y, x, rtol=1e-6)
    np.testing.assert_allclose(native.state.weights["exc"], scan.state.weights["exc"], rtol=0, atol=1e-5)


def test_per_neuron_modulators_are_refused_by_name():
    _, w = plastic_coba(400, seed=3)
    rule = pl.chain(pl.stdp_pair(0.02 * w, 0.021 * w, w_max=w), pl.reward_modulated("err"))
    base, _ = plastic_coba(400, seed=3)
    projs = [dataclasses.replace(pr, plasticity=rule) if pr.name == "ee" else pr for pr in base.projections]
    net = ns.Network(list(base.populations), projs, list(base.inputs), modulators=[pl.Modulator("err", size=320)])
    d = ns.engines.describe(net, DT)
    assert d.chosen == "scan"
    (native,) = [v for v in d.verdicts if v.engine == "native"]
    assert not native.ok and "modulator 'err'" in native.reason and "one value per neuron" in native.reason


@pytest.mark.skipif(__import__("neurosim.engines.native.cuda", fromlist=["nvcc"]).nvcc() is None, reason="needs nvcc")
def test_mechanisms_and_modulators_emit_cuda_that_nvcc_compiles():
    """The same lowering as CUDA kernels, one per segment (sums as atomic updates): compiled, not
    run here (no GPU on the test machines)."""
    from neurosim.engines.native import cuda, mechanisms
    from neurosim.network.step import init_state

    _, w = plastic_coba(400, seed=3)
    rule = pl.chain(pl.stdp_pair(0.02 * w, 0.021 * w, w_max=w), pl.synaptic_scaling(beta=1e-3),
                    pl.clip_weights(0, w), pl.normalize_incoming(20 * w))
    net, _ = plastic_coba(400, rule=rule, seed=3)
    stp = stp_net("inactive")
    for net_, dt in ((net, DT), (stp, DT)):
        state = init_state(net_, net_.params(), 0, dt)
        for pr in net_.projections:
            if not pr.chain:
                continue
            (_, a, b), (_, c, d) = net_._refs[pr.name]
            code = mechanisms.lower_chain(pr, net_.params().projections[pr.name], state, dt,
                                          {"pre": b - a, "post": d - c, "syn": pr.conn.nnz}, np.dtype(np.float32))
            for what in ("modulate", "update"):
                if getattr(code, what) is not None:
                    cuda.compile_check(cuda.space_kernels_source(getattr(code, what), what))
    net, _ = ns.builders.distal_reward(seed=0)
    state = init_state(net, net.params(), 0, 1.0)
    u = mechanisms.lower_modulator(net.modulators[0], 0, net, state, 1.0, np.dtype(np.float32))
    source = cuda.space_kernels_source(u, "dopamine")
    assert "ns_threefry2x32" in source
    cuda.compile_check(source)


def test_weights_monitors_are_read_between_calls_as_the_scan_records_them():
    _, w_max = plastic_coba(400, seed=3)
    net, _ = plastic_coba(400, rule=rules(w_max)["pair, clipped"], seed=3, delay_ms=1.0)
    mons = [ns.Spikes("neurons"), ns.Weights("ee", ids=np.arange(0, 500, 7), every=200),
            ns.Weights("ee", every=300, bins=8, range=(0.0, w_max))]
    scan = ns.simulate(net, 120.0, DT, key=5, monitors=mons, engine="scan")
    native = ns.simulate(net, 120.0, DT, key=5, monitors=mons, engine="native")
    assert native.timings["engine"] == "native"
    for key in ("ee.weights", "ee.weights_hist"):      # (times, values, labels)
        for a, b in zip(scan.traces[key], native.traces[key]):
            np.testing.assert_array_equal(b, a)
    assert len(native.traces["ee.weights"][0]) == 6
    d = ns.engines.describe(net, DT, monitors=[ns.Weights("ee", every=10)])
    (v,) = [v for v in d.verdicts if v.engine == "native"]
    assert not v.ok and "at least 100 steps apart" in v.reason


def test_gliotransmission_reads_the_astrocytes_state_through_its_domain_map():
    """The tripartite synapse (Stimberg et al. 2019): Tsodyks-Markram release modulated by the
    gliotransmitter of each synapse's astrocyte (a per-synapse map closed over by the mechanism),
    Li-Rinzel astrocytes integrated by RK4, one-to-one connectivity (so the presynaptic, the
    postsynaptic and the synapse spaces have one size)."""
    net = ns.builders.tripartite(40)
    p = net.params()
    p = p._replace(neurons={**p.neurons, "pre": p.neurons["pre"]._replace(rate_hz=11.0)})
    assert ns.engines.describe(net, 1.0, params=p).chosen == "native"
    scan = ns.simulate(net, 3000.0, 1.0, params=p, key=2, monitors=[ns.Spikes("pre")], engine="scan")
    native = ns.simulate(net, 3000.0, 1.0, params=p, key=2, monitors=[ns.Spikes("pre")], engine="native")
    (ta, ia), (tb, ib) = scan.spikes["pre"], native.spikes["pre"]
    np.testing.assert_array_equal(ta, tb)
    np.testing.assert_array_equal(ia, ib)
    for loop in ("closed", "open", "none"):
        np.testing.assert_allclose(native.state.synapses[loop].g, scan.state.synapses[loop].g, rtol=1e-4, atol=1e-3)
    for x, y in zip(leaves(scan.state.neurons["astro"]), leaves(native.state.neurons["astro"])):
        np.testing.assert_allclose(y, x, rtol=1e-4, atol=1e-5)
    gamma_s, gamma_ref = native.state.dynamics["closed"]["glio"].gamma_s, scan.state.dynamics["closed"]["glio"].gamma_s
    assert float(np.max(gamma_s)) > 0.0          # the astrocytes did release gliotransmitter
    np.testing.assert_allclose(gamma_s, gamma_ref, rtol=1e-4, atol=1e-6)


def test_observe_monitors_are_lowered_over_the_state_after_each_step():
    """Observe monitors read the neurons', the synapses' and the modulators' state, the step
    counter and the spikes, on the state after each step: shared values and per-neuron arrays."""
    import jax.numpy as jnp

    net = ns.builders.coba(400, seed=1)

    def summary(state, spikes):
        v = state.neurons["neurons"].v
        return {"v_mean": jnp.mean(v), "g_exc": jnp.sum(state.synapses["exc"].g), "n": spikes["neurons"].sum(),
                "t": state.t, "v": v}

    mons = [ns.Spikes("neurons"), ns.Observe("summary", summary)]
    scan = ns.simulate(net, 50.0, DT, key=5, monitors=mons, engine="scan")
    native = ns.simulate(net, 50.0, DT, key=5, monitors=mons, engine="native")
    same_spikes(scan, native)
    (ta, a), (tb, b) = scan.observed["summary"], native.observed["summary"]
    np.testing.assert_array_equal(tb, ta)
    np.testing.assert_array_equal(b["t"], a["t"])
    np.testing.assert_array_equal(b["n"], a["n"])
    assert b["v"].shape == (500, 400)
    np.testing.assert_allclose(b["v"], a["v"], rtol=0, atol=1e-2)
    np.testing.assert_allclose(b["v_mean"], a["v_mean"], rtol=1e-5)
    np.testing.assert_allclose(b["g_exc"], a["g_exc"], rtol=1e-5)

    def weights(state, spikes):
        return state.weights["ee"].mean()

    _, w_max = plastic_coba(400, seed=3)
    plastic, _ = plastic_coba(400, rule=rules(w_max)["pair, clipped"], seed=3)
    d = ns.engines.describe(plastic, DT, monitors=[ns.Observe("w", weights)])
    (v,) = [v for v in d.verdicts if v.engine == "native"]
    assert not v.ok and "Observe('w')" in v.reason and "state.weights" in v.reason


def test_float64_short_term_plasticity_and_a_reward_modulated_rule(x64):
    net = stp_net("inactive")
    scan, native = run(net, 100.0, engine="scan"), run(net, 100.0)
    same_spikes(scan, native)
    for x, y in zip(leaves(scan.state.dynamics), leaves(native.state.dynamics)):
        assert np.asarray(y).dtype == np.asarray(x).dtype
        np.testing.assert_allclose(y, x, rtol=1e-10, atol=1e-12)
    _, w = plastic_coba(400, seed=3)
    rule = pl.chain(pl.stdp_pair(0.02 * w, 0.021 * w, w_max=w), pl.reward_modulated("dopamine", tau_c=50.0, lr=0.5,
                                                                                    every=1.0),
                    pl.clip_weights(0.0, w))
    base, _ = plastic_coba(400, seed=3)
    projs = [dataclasses.replace(pr, plasticity=rule) if pr.name == "ee" else pr for pr in base.projections]
    net = ns.Network(list(base.populations), projs, list(base.inputs),
                     modulators=[pl.Modulator("dopamine", tau=20.0, schedule=([10.0, 30.0], [1.0, 2.0]))])
    scan, native = run(net, 50.0, engine="scan"), run(net, 50.0)
    same_spikes(scan, native)
    assert np.asarray(native.state.weights["ee"]).dtype == np.float64
    np.testing.assert_allclose(native.state.weights["ee"], scan.state.weights["ee"], rtol=0, atol=1e-10 * w)
