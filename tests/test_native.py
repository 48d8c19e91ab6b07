"""The native engine: each model's own JAX functions lowered to C++ (neurosim.engines.native).

- the lowering, primitive by primitive, against JAX itself (exact where the operation is exact,
  within a few ulp for transcendentals) and the engine's exp against the exact value;
- the parity contract (docs/engines.md) for every model: the same spike trains as the scan over
  the stated horizon and the state within the stated tolerance, in float32 and float64;
- a user's subclass is lowered from its own code (the override the fused kernel once ignored);
- what cannot be lowered is refused by name, and auto takes the scan; the compile cache.
"""
from __future__ import annotations

import ctypes
import os
import re
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim.engines.native import compiler
from neurosim.engines.native.engine import native_plan
from neurosim.engines.native.lower import PRELUDE, Unlowerable, lower
from neurosim.engines.native.program import Slots, program, unit_block
from neurosim.inputs import ConstantCurrent, GaussianCurrent, PoissonInput, PoissonSource, StepCurrent, UniformCurrent
from neurosim.inputs.currents import PoissonInputParams
from neurosim.neurons import AdaptiveLIF, AdEx, Izhikevich, LIF
from neurosim.neurons.spike import spike
from neurosim.synapses import Synapse, SynapseParams

pytestmark = pytest.mark.skipif(compiler.compiler() is None, reason="needs a C++ compiler")
DT = 0.1


# --------------------------------------------------------------------------- the lowering, op by op
def run_lowered(fn, args, n):
    """``fn(*args)`` (every argument per element, shape (n,)) lowered, compiled and run."""
    args = [np.ascontiguousarray(a) for a in args]
    u = lower("test", fn, args, ["dynamic"] * len(args), [True] * len(args), n)
    slots = Slots()
    ins = [("ptr", slots.add(f"in {k}", a.dtype)) for k, a in enumerate(args)]
    outs = [np.zeros((n,), o.dtype) for o in u.outputs]
    out_b = [("ptr", slots.add(f"out {k}", o.dtype), True) for k, o in enumerate(outs)]
    hz = [slots.add(f"hz {h}", node.dtype) for h, node in enumerate(u.hoisted)]
    source = program(slots, ["for (int64_t k = 0; k < n_steps; ++k) {"]
                     + unit_block(u, n, ins, out_b, hz, "test") + ["}"])
    f, _ = compiler.load(source, "ns_run")
    hoisted = [np.ascontiguousarray(np.asarray(x)) for x in u.hoist([])]
    arrays = args + outs + hoisted
    ptrs = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    f.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]
    assert f(ptrs, 1, 0, 0) == 0
    return outs


def _values(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, n).astype(dtype)
    x[:4] = [0.0, -0.0, 1.5, -2.5]
    return x


def test_exact_primitives_equal_jax():
    n = 257
    x, y = _values(n, np.float32, 1), _values(n, np.float32, 2) + np.float32(3.5)
    u = np.random.default_rng(3).integers(0, 2**32, n, dtype=np.uint32)
    k = np.random.default_rng(4).integers(-2**31, 2**31, n).astype(np.int32)

    def fn(x, y, u, k):
        return (x + y, x - y, x * y, x / y, -x, jnp.maximum(x, y), jnp.minimum(x, 0.5), jnp.abs(x), jnp.sign(x),
                jnp.floor(x), jnp.ceil(x), jnp.round(x), jnp.where(x > y, x, y), jnp.clip(x, -1.0, 1.0),
                x ** 2, x ** 3, x ** 5, y ** -2, jnp.fmod(x, 0.7), jnp.square(x),
                (x * 100.0).astype(jnp.int32), (x > 0) & (y > 3.0), ~(x > 0), (x > 0) ^ (y > 4.0),
                u ^ (u >> 7), u * jnp.uint32(2654435761), u << 3, (u >> 31).astype(jnp.float32),
                k >> 5, k // 7, k % 7, (k + 5).astype(jnp.float32), jnp.arange(x.shape[0], dtype=jnp.float32) * x,
                jax.lax.shift_right_logical(k, 3), (jnp.float32(1e30) * x).astype(jnp.int32))

    got = run_lowered(fn, [x, y, u, k], n)
    want = jax.jit(fn)(x, y, u, k)
    for j, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, np.asarray(w), err_msg=f"output {j}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transcendentals_within_a_few_ulp_of_jax(dtype, request):
    if dtype == np.float64:
        request.getfixturevalue("x64")
    n = 301
    x = _values(n, dtype)
    pos = np.abs(x) + dtype(0.25)

    def fn(x, pos):
        out = (jnp.exp(x), jnp.log(pos), jnp.tanh(x), jax.nn.sigmoid(x), jnp.sqrt(pos), jax.lax.rsqrt(pos),
               jnp.expm1(x), jnp.log1p(pos), jnp.sin(x), jnp.cos(x), jnp.power(pos, x), jax.scipy.special.erf(x))
        if x.dtype == jnp.float32:      # the inverse error function (normal draws) lowers in float32
            out += (jax.scipy.special.erfinv(x / 3.1),)
        return out

    got = run_lowered(fn, [x, pos], n)
    want = jax.jit(fn)(x, pos)
    for j, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, np.asarray(w), rtol=8 * np.finfo(dtype).eps, atol=8 * np.finfo(dtype).eps,
                                   err_msg=f"output {j}")


def prelude_function(name, xf, xd):
    """The prelude's ``name`` (float and double overloads) on ``xf`` (float32) and ``xd`` (float64)."""
    src = PRELUDE + f"""
extern "C" int ns_run(void** a, int64_t n, int64_t, int64_t) {{
  const float* xf = (const float*)a[0]; float* yf = (float*)a[1];
  const double* xd = (const double*)a[2]; double* yd = (double*)a[3];
  for (int64_t i = 0; i < n; ++i) {{ yf[i] = {name}(xf[i]); yd[i] = {name}(xd[i]); }}
  return 0; }}"""
    f, _ = compiler.load(src, "ns_run")
    f.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]
    xf, xd = np.ascontiguousarray(xf, np.float32), np.ascontiguousarray(xd, np.float64)
    yf, yd = np.zeros_like(xf), np.zeros_like(xd)
    f((ctypes.c_void_p * 4)(*[a.ctypes.data for a in (xf, yf, xd, yd)]), len(xf), 0, 0)
    return yf, yd


def max_ulp(x, y, exact_fn) -> float:
    exact = exact_fn(x.astype(np.longdouble))
    return float(np.max(np.abs(y.astype(np.longdouble) - exact)
                        / np.spacing(np.abs(exact).astype(x.dtype)).astype(np.longdouble)))


def test_the_engines_exp_is_within_one_ulp_float_and_two_double():
    rng = np.random.default_rng(0)
    xd = np.concatenate([rng.uniform(-700, 700, 200_000), rng.uniform(-5, 5, 200_000)])
    xf = np.concatenate([rng.uniform(-87, 88, 200_000), rng.uniform(-5, 5, 200_000)]).astype(np.float32)
    yf, yd = prelude_function("ns_exp", xf, xd)
    assert max_ulp(xf, yf, np.exp) <= 1.0 and max_ulp(xd, yd, np.exp) <= 2.0
    special = np.array([np.nan, np.inf, -np.inf, 0.0, 1000.0, -1000.0])
    for y in prelude_function("ns_exp", special, special):
        np.testing.assert_array_equal(y, [np.nan, np.inf, 0.0, 1.0, np.inf, 0.0])


def test_the_engines_log_is_within_one_ulp_on_the_whole_range():
    rng = np.random.default_rng(1)        # subnormals included (below e^-87, e^-708)
    xf = np.concatenate([np.exp(rng.uniform(-103, 88, 200_000)), rng.uniform(0.5, 2.0, 200_000)]).astype(np.float32)
    xd = np.concatenate([np.exp(rng.uniform(-744, 709, 200_000)), rng.uniform(0.5, 2.0, 200_000)])
    yf, yd = prelude_function("ns_log", xf, xd)
    assert max_ulp(xf, yf, np.log) <= 1.0 and max_ulp(xd, yd, np.log) <= 1.0
    special = np.array([0.0, -1.0, np.inf, np.nan, 1.0])
    for y in prelude_function("ns_log", special, special):
        np.testing.assert_array_equal(y, [-np.inf, np.nan, np.inf, np.nan, 0.0])


def test_the_engines_expm1_is_within_two_ulp_float_and_three_double():
    # float: a polynomial below |x| = 0.5, exp(x) - 1 above (vectorisable: the double-precision
    # log it once used made Hodgkin-Huxley steps 4x slower); double: Kahan's form
    rng = np.random.default_rng(2)
    xf = np.concatenate([rng.uniform(-0.6, 0.6, 200_000), np.exp(rng.uniform(-80, -1, 100_000)) *
                         rng.choice([-1, 1], 100_000), rng.uniform(-30, 80, 200_000)]).astype(np.float32)
    xd = xf.astype(np.float64)
    yf, yd = prelude_function("ns_expm1", xf, xd)
    assert max_ulp(xf, yf, np.expm1) <= 2.0 and max_ulp(xd, yd, np.expm1) <= 3.0
    special = np.array([np.nan, 0.0, -100.0, 1000.0])
    yf, _ = prelude_function("ns_expm1", special, special)
    assert np.isnan(yf[0]) and yf[1] == 0.0 and yf[2] == -1.0 and yf[3] == np.inf


# --------------------------------------------------------------------------- parity, per model
class QIFParams(NamedTuple):      # the guide's own model (docs/extending.md)
    v_rest: float = -65.0
    v_crit: float = -50.0
    v_peak: float = 0.0
    v_reset: float = -70.0
    tau: float = 10.0
    r: float = 0.05
    k: float = 0.04
    slope: float = 1.0


class QIFState(NamedTuple):
    v: jax.Array


@dataclass(frozen=True)
class QIF:
    Params = QIFParams
    State = QIFState

    def init(self, params, n, key):
        return QIFState(v=jnp.full((n,), params.v_rest, jnp.result_type(float)))

    def step(self, params, state, i, dt):
        v = state.v + dt / params.tau * (params.k * (state.v - params.v_rest) * (state.v - params.v_crit)
                                         + params.r * i)
        s = spike(v - params.v_peak, params.slope)
        return QIFState(v=jnp.where(s > 0, params.v_reset, v)), s

    @staticmethod
    def voltage(state):
        return state.v


def _net(model, params=None, *, synapse=Synapse("exponential", "conductance"), weight=0.5, drive=None, n=60,
         extra_inputs=(), e_rev=0.0, source=False):
    pops = [ns.Population("E", n, model, params)]
    pre = "E"
    if source:
        pops.append(ns.Population("src", 40, PoissonSource(), PoissonSource.Params(rate_hz=40.0)))
        pre = "src"
    conn = ns.events.fixed_probability(40 if source else n, n, p=0.1, seed=3)
    proj = ns.Projection("EE", pre, "E", conn, weights=weight, synapse=synapse,
                         syn_params=SynapseParams(tau=3.0, e_rev=e_rev), delay_ms=0.5)
    amp = jnp.linspace(150.0, 400.0, n) if drive is None else drive
    inputs = [ns.Input("bg", "E", ConstantCurrent(), ConstantCurrent.Params(amp)), *extra_inputs]
    return ns.Network(pops, [proj], inputs)


MODELS = {
    "LIF": lambda: _net(LIF(v_init=ns.Uniform(-60.0, -50.0))),
    "LIF-alpha-current": lambda: _net(LIF(), synapse=Synapse("alpha", "current"), weight=20.0),
    "LIF-delta": lambda: _net(LIF(), synapse=Synapse("delta", "current"), weight=2.0),
    "AdaptiveLIF": lambda: _net(AdaptiveLIF()),
    "Izhikevich-euler": lambda: _net(Izhikevich(v_init=ns.Uniform(-70.0, -60.0)), synapse=Synapse("delta", "current"),
                                     weight=0.5, drive=jnp.linspace(3.0, 12.0, 60)),
    "Izhikevich-net_m": lambda: _net(Izhikevich("net_m"), synapse=Synapse("delta", "current"), weight=0.5,
                                     drive=jnp.linspace(3.0, 12.0, 60)),
    "AdEx": lambda: _net(AdEx(), drive=jnp.linspace(300.0, 900.0, 60)),
    "QIF (user model)": lambda: _net(QIF(), synapse=Synapse("exponential", "current"), weight=40.0,
                                     drive=jnp.linspace(0.0, 400.0, 60)),
    "PoissonSource + PoissonInput": lambda: _net(LIF(), source=True, weight=2.0, extra_inputs=[ns.Input(
        "poisson", "E", PoissonInput(n_sources=20, synapse=Synapse("exponential", "current")),
        PoissonInputParams(rate_hz=10.0, weight=30.0))]),
    "Gaussian, uniform, step, key noise (tabulated)": lambda: _net(LIF(), extra_inputs=[
        ns.Input("noise", "E", GaussianCurrent(), GaussianCurrent.Params(mean=0.0, std=50.0)),
        ns.Input("keynoise", ("E", 5, 50), KeyNoise(), KeyNoise.Params(mean=0.0, std=20.0)),
        ns.Input("unif", ("E", 10, 30), UniformCurrent(), UniformCurrent.Params(low=0.0, high=100.0)),
        ns.Input("steps", "E", StepCurrent(times_ms=(0.0, 20.0)), StepCurrent.Params(amplitudes=jnp.array([0.0, 80.0])))]),
    "key-drawn uniform noise (lowered)": lambda: _net(LIF(), extra_inputs=[
        ns.Input("keyuniform", ("E", 3, 40), KeyUniform(), KeyUniform.Params(mean=0.0, std=200.0))]),
}
HORIZON_MS = 100.0     # the parity contract's horizon for identical spike trains (docs/engines.md)


def scan_and_native(net, monitors, ms=HORIZON_MS) -> dict:
    """Engine name -> its run of ``net`` for ``ms`` with ``monitors`` (the same key)."""
    return {e: ns.simulate(net, ms, DT, engine=e, monitors=monitors, key=4, progress=False) for e in ("scan", "native")}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(MODELS))
def test_parity_with_the_scan(name, dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    net = MODELS[name]()
    mon = [ns.Spikes("E"), ns.Trace("E", "v", every=50)]
    res = scan_and_native(net, mon)
    assert res["native"].timings["engine"] == "native"
    (ta, ia), (tb, ib) = res["scan"].spikes["E"], res["native"].spikes["E"]
    assert len(ta) > 20, "the test network must fire"
    np.testing.assert_array_equal(ta, tb)
    np.testing.assert_array_equal(ia, ib)
    tol = 1e-2 if dtype == "float32" else 1e-8       # mV, after 100 ms (docs/engines.md)
    np.testing.assert_allclose(res["scan"].traces["E.v"][1], res["native"].traces["E.v"][1], atol=tol, rtol=0)
    for a, b in zip(jax.tree.leaves(res["scan"].state), jax.tree.leaves(res["native"].state)):
        if jnp.issubdtype(jnp.result_type(a), jnp.floating):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=tol * 10, rtol=1e-4)
        else:
            np.testing.assert_array_equal(jax.random.key_data(a) if jnp.issubdtype(a.dtype, jax.dtypes.prng_key)
                                          else a, jax.random.key_data(b) if jnp.issubdtype(b.dtype, jax.dtypes.prng_key)
                                          else b)


def test_chunks_and_engines_continue_each_other():
    net = MODELS["PoissonSource + PoissonInput"]()
    mon = [ns.Spikes("E")]
    whole = ns.simulate(net, 60.0, DT, engine="native", monitors=mon, key=1)
    chunked = ns.simulate(net, 60.0, DT, engine="native", monitors=mon, key=1, chunk_steps=37)
    for a, b in zip(whole.spikes["E"], chunked.spikes["E"]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(whole.state.neurons), jax.tree.leaves(chunked.state.neurons)):
        np.testing.assert_array_equal(a, b)
    first = ns.simulate(net, 30.0, DT, engine="scan", monitors=mon, key=1)
    rest = ns.simulate(net, 30.0, DT, engine="native", monitors=mon, state=first.state)
    np.testing.assert_array_equal(np.concatenate([first.spikes["E"][1], rest.spikes["E"][1]]), whole.spikes["E"][1])


# --------------------------------------------------------------------------- a user's code is the code that runs
class HalvedSynapse(Synapse):
    """A user's synapse whose current is half the base class's (an override of ``current``)."""

    def current(self, params, state, v):
        return 0.5 * super().current(params, state, v)


def test_a_subclass_override_is_lowered_from_its_own_code():
    def make(syn):
        return ns.Network(
            [ns.Population("E", 60, LIF(v_init=ns.Uniform(-60.0, -50.0)))],
            [ns.Projection("EE", "E", "E", ns.events.fixed_probability(60, 60, 0.2, seed=2), 40.0, synapse=syn,
                           syn_params=SynapseParams(tau=5.0))],
            [ns.Input("bg", "E", ConstantCurrent(), ConstantCurrent.Params(jnp.linspace(180.0, 260.0, 60)))])
    plain, halved = make(Synapse("exponential", "current")), make(HalvedSynapse("exponential", "current"))
    mon = [ns.Spikes("E")]
    scan = ns.simulate(halved, 200.0, DT, engine="scan", monitors=mon)
    auto = ns.simulate(halved, 200.0, DT, monitors=mon)
    base = ns.simulate(plain, 200.0, DT, monitors=mon)
    assert auto.timings["engine"] == "native" and base.timings["engine"] == "fused"
    assert len(auto.spikes["E"][0]) == len(scan.spikes["E"][0]) != len(base.spikes["E"][0])
    why = ns.engines.describe(halved, DT).verdicts[0]
    assert why.engine == "fused" and not why.ok and "HalvedSynapse" in why.reason


# --------------------------------------------------------------------------- refusals, by name
class GlobalInhibitionLIF(LIF):
    """Every neuron is inhibited by the population's mean voltage: a sum over elements."""

    def step(self, params, state, i, dt):
        return super().step(params, state, i - 0.1 * jnp.sum(state.v) / state.v.shape[0], dt)


class KeyNoise:
    """A user's noise current that draws normal numbers from the step's PRNG key (as
    GaussianCurrent did before it drew counter-based numbers): lowered in float32 (the key's hash,
    the inverse error function), tabulated in float64."""

    Params = GaussianCurrent.Params

    def init(self, params, n, key):
        return ()

    def current(self, params, state, t, dt, key, v):
        return state, params.mean + params.std * jax.random.normal(key, v.shape, v.dtype)


class KeyUniform(KeyNoise):
    """A user's noise current drawing uniform numbers from the step's PRNG key: lowered (the key
    implementation's own hash), not tabulated, and the scan's numbers exactly."""

    def current(self, params, state, t, dt, key, v):
        return state, params.mean + params.std * (jax.random.uniform(key, v.shape, v.dtype) - 0.5) * (1.0 + 0.0 * v)


class GammaNoise(KeyNoise):
    """A user's noise current drawn from a gamma law (its own key primitive, a rejection loop): it cannot be
    lowered, and, reading neither the membrane nor its state, it is tabulated."""

    def current(self, params, state, t, dt, key, v):
        return state, params.mean + params.std * (jax.random.gamma(key, 2.0, v.shape, v.dtype) - 2.0)


class NoisyConductance(GammaNoise):
    """A gamma-drawn noise conductance: its current reads the membrane too, so it can be neither
    lowered (the draw's loop) nor tabulated."""

    def current(self, params, state, t, dt, key, v):
        state, i = super().current(params, state, t, dt, key, v)
        return state, i * (0.0 - v) * 0.01


def test_unlowerable_models_are_refused_by_name_and_auto_takes_the_scan():
    net = ns.Network([ns.Population("E", 30, GlobalInhibitionLIF())], [],
                     [ns.Input("bg", "E", ConstantCurrent(), ConstantCurrent.Params(300.0))])
    with pytest.raises(ValueError, match=r"engine='native' cannot run this simulation: population 'E' "
                                         r"\(GlobalInhibitionLIF.step\): primitive 'reduce_sum'"):
        ns.simulate(net, 5.0, DT, engine="native")
    assert ns.simulate(net, 5.0, DT).timings["engine"] == "scan"
    d = ns.engines.describe(net, DT)
    assert d.chosen == "scan" and "reduce_sum" in d.verdicts[1].reason and "reduce_sum" in str(d)
    net = ns.Network([ns.Population("E", 30, LIF())], [], [ns.Input("n", "E", NoisyConductance(),
                                                                     KeyNoise.Params(std=5.0))])
    reason = native_plan(net, net.params(), DT)
    assert "primitive 'random_gamma'" in reason and "depends on the membrane potential" in reason, reason


def test_names_the_program_cannot_tell_apart_are_refused_not_merged(monkeypatch):
    """Two projections whose C++ identifiers coincide would share their buffers: refused by
    name (auto then takes the scan), never run with one buffer for both."""
    from neurosim.engines.native import engine as native_engine

    net = ns.builders.coba(100, seed=0)
    assert not isinstance(native_plan(net, net.params(), DT), str)        # a plan, not a refusal
    monkeypatch.setattr(native_engine, "_c", lambda name: "same" if name in ("exc", "inh") else "n_" + name)
    reason = native_plan(ns.builders.coba(100, seed=0), net.params(), DT)
    assert reason == ("the projections 'exc' and 'inh' get the same C++ identifier 'same' in the native program; "
                      "rename one of them"), reason


def test_a_model_that_does_not_trace_per_element_is_refused():
    def bad(*a):
        raise RuntimeError("boom")
    with pytest.raises(Unlowerable, match="test: its code cannot be lowered .*RuntimeError: boom"):
        lower("test", bad, [np.zeros(3, np.float32)], ["dynamic"], [True], 3)


# --------------------------------------------------------------------------- the compile cache
def _fresh_net(n):
    return ns.Network([ns.Population("E", n, LIF())], [],
                      [ns.Input("bg", "E", ConstantCurrent(), ConstantCurrent.Params(300.0))])


def test_an_unwritable_cache_directory_asked_for_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("NEUROSIM_CACHE_DIR", "/proc/neurosim-cannot-be-here")
    with pytest.raises(ValueError, match="NEUROSIM_CACHE_DIR='/proc/neurosim-cannot-be-here' cannot be created"):
        ns.simulate(_fresh_net(71), 1.0, DT, engine="native")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):
        pytest.skip("running as a user who can write anywhere")
    monkeypatch.setenv("NEUROSIM_CACHE_DIR", str(locked))
    with pytest.raises(ValueError, match="is not writable"):
        ns.simulate(_fresh_net(73), 1.0, DT, engine="native")


def test_an_unwritable_default_cache_falls_back_to_a_private_one(monkeypatch, tmp_path):
    monkeypatch.delenv("NEUROSIM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/neurosim-cannot-be-here")
    res = ns.simulate(_fresh_net(77), 5.0, DT, engine="native", monitors=[ns.Spikes("E")])
    assert res.timings["engine"] == "native" and compiler.cache_dir() != "/proc/neurosim-cannot-be-here"


def test_the_cache_keeps_a_compiled_program(monkeypatch, tmp_path):
    monkeypatch.setenv("NEUROSIM_CACHE_DIR", str(tmp_path))
    net = _fresh_net(79)
    first = ns.simulate(net, 1.0, DT, engine="native")
    assert len(list(tmp_path.glob("ns_*.so"))) == 1 and not list(tmp_path.glob("*.cc"))
    compiler._libraries.clear()                  # as a new process would: found on disk, not compiled
    plan = native_plan(_fresh_net(79), net.params(), DT)
    from neurosim.engines.native.engine import build
    assert build(plan) == 0.0 and first.timings["compile_s"] > 0


def test_the_docs_coverage_table_is_what_the_engines_answer():
    from pathlib import Path

    from neurosim.engines import coverage
    page = (Path(__file__).resolve().parent.parent / "docs" / "engines.md").read_text()
    table = page.split(coverage.BEGIN, 1)[1].split(coverage.END, 1)[0].strip()
    assert table == coverage.markdown(), "run: python -m neurosim.engines.coverage --write docs/engines.md"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("every", [None, 4])
def test_astrocyte_calcium_and_multirate_follow_the_scan(every, dtype, request):
    """Li-Rinzel astrocytes (rk4, FM oscillations) bare and wrapped in MultiRate (a lax.cond):
    20 s of calcium within the contract's tolerance of the scan's."""
    from test_multirate import _astro_net
    if dtype == "float64":
        request.getfixturevalue("x64")
    net = _astro_net(every)
    mon = [ns.Trace("a", "c", every=10)]
    a = ns.simulate(net, 20e3, 1.0, monitors=mon, engine="scan")
    b = ns.simulate(net, 20e3, 1.0, monitors=mon, engine="native")
    assert np.ptp(a.traces["a.c"][1]) > 0.5                     # it oscillates
    np.testing.assert_allclose(b.traces["a.c"][1], a.traces["a.c"][1], atol=1e-4 if dtype == "float32" else 1e-12)


def test_one_neuron_per_population_and_rate_monitors():
    """Populations of one neuron (their per-neuron params have the element count's shape) and
    Rate monitors (from the program's spike bits) agree with the scan."""
    net = ns.Network([ns.Population("a", 1, Izhikevich(), Izhikevich.Params(a=jnp.array([0.02]), d=jnp.array([8.0]))),
                      ns.Population("b", 1, LIF())],
                     [ns.Projection("ab", "a", "b", ns.CSR.from_arrays([0], [0], 1, 1), 3000.0,
                                    Synapse("exponential", "current"), SynapseParams(tau=5.0))],
                     [ns.Input("drive", "a", ConstantCurrent(), ConstantCurrent.Params(10.0))])
    mon = [ns.Spikes("a"), ns.Rate("a"), ns.Rate("b")]
    res = {e: ns.simulate(net, 200.0, DT, engine=e, monitors=mon) for e in ("scan", "native")}
    assert res["native"].timings["engine"] == "native" and res["scan"].spikes["a"][0].size > 3
    np.testing.assert_array_equal(res["scan"].spikes["a"][0], res["native"].spikes["a"][0])
    for pop in ("a", "b"):
        np.testing.assert_array_equal(res["scan"].rates[pop][1], res["native"].rates[pop][1])
    assert res["native"].rates["b"][1].sum() > 0



@pytest.mark.skipif(__import__("neurosim.engines.native.cuda", fromlist=["nvcc"]).nvcc() is None, reason="needs nvcc")
def test_the_same_lowering_emits_cuda_that_nvcc_compiles():
    """Each model's lowered step as a CUDA kernel (one thread per element), compiled by nvcc; not
    run here (no GPU on the test machines): see neurosim.engines.native.cuda."""
    from neurosim.engines.native import cuda
    from neurosim.engines.native.engine import _param_elems, _per_element

    n = 16
    for model in (LIF(), Izhikevich("net_m"), AdEx(), AdaptiveLIF(), QIF(), PoissonSource()):
        p = model.Params()
        state = model.init(p, n, jax.random.key(0))
        u = lower(type(model).__name__, lambda a, s, i, m=model: m.step(a, s, i, 0.1), [p, state, jnp.zeros(n)],
                  ["static", "dynamic", "dynamic"], [_param_elems(p, n), _per_element(model.init, p, n), True], n)
        cuda.compile_check(cuda.kernel_source(u, f"step_{type(model).__name__}"))


def test_key_draws_lower_to_the_key_implementations_hash_and_equal_jax():
    """A draw from a PRNG key (fold_in, split, uniform, bits, randint) is lowered from JAX's own
    threefry code on the key's data: the same bits as JAX, per element and shared."""
    n = 37

    def fn(key, x, t):
        k1, k2 = jax.random.split(jax.random.fold_in(key, t))
        return (jax.random.uniform(k1, x.shape) + x, jax.random.bits(k2, x.shape),
                jax.random.uniform(k2, ()) + 0 * x, jax.random.randint(k1, x.shape, 0, 10))

    key, x, t = jax.random.key(7), np.random.default_rng(0).random(n).astype(np.float32), np.int32(12)
    u = lower("test", fn, [key, x, t], ["dynamic"] * 3, [False, True, False], n)
    assert u.draws and "threefry2x32" in u.primitives
    slots = Slots()
    ins = [("ptr", slots.add("key", np.uint32)), ("ptr", slots.add("x", np.float32)), ("ptr", slots.add("t", np.int32))]
    want = [np.asarray(w) for w in jax.jit(fn)(key, x, t)]
    outs = [np.zeros((n,), w.dtype) for w in want]
    out_b = [("ptr", slots.add(f"out {k}", o.dtype), True) for k, o in enumerate(outs)]
    hz = [slots.add(f"hz {h}", node.dtype) for h, node in enumerate(u.hoisted)]
    source = program(slots, ["for (int64_t k = 0; k < n_steps; ++k) {"] + unit_block(u, n, ins, out_b, hz, "t") + ["}"])
    f, _ = compiler.load(source, "ns_run")
    arrays = [np.ascontiguousarray(np.asarray(jax.random.key_data(key))), x, np.array([t])] + outs
    arrays += [np.ascontiguousarray(np.asarray(h)) for h in u.hoist([])]
    f.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]
    assert f((ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays]), 1, 0, 0) == 0
    for g, w in zip(outs, want):
        np.testing.assert_array_equal(g, w)
    net = MODELS["key-drawn uniform noise (lowered)"]()
    assert native_plan(net, net.params(), DT).tabulated == []      # lowered, not tabulated
    net = MODELS["Gaussian, uniform, step, key noise (tabulated)"]()
    assert "keynoise" not in [name for _, name, _ in native_plan(net, net.params(), DT).tabulated]  # normal: lowered
    net = ns.Network([ns.Population("E", 30, LIF())], [], [ns.Input("g", "E", GammaNoise(), KeyNoise.Params(std=5.0))])
    assert [name for _, name, _ in native_plan(net, net.params(), DT).tabulated] == ["g"]       # gamma: a loop


def test_a_few_spike_times_lower_as_a_scatter_into_the_population():
    """SpikeTimes (a list of (time, neuron) pairs): each neuron compares its index with the
    entries due this step; the spikes it replays and those it drives are the scan's."""
    from neurosim.inputs import SpikeTimes
    rng = np.random.default_rng(0)
    times, ids = np.sort(rng.uniform(0, 50, 40)), rng.integers(0, 20, 40)
    src = ns.Population("src", 20, SpikeTimes(times_ms=tuple(times), ids=tuple(ids)))
    conn = ns.events.fixed_probability(20, 30, 0.3, seed=1)
    net = ns.Network([src, ns.Population("E", 30, LIF())],
                     [ns.Projection("p", "src", "E", conn, 50.0, Synapse("exponential", "current"))],
                     [ns.Input("bg", "E", ConstantCurrent(), ConstantCurrent.Params(250.0))])
    assert ns.engines.describe(net, DT).chosen == "native"
    mon = [ns.Spikes("src"), ns.Spikes("E")]
    scan = ns.simulate(net, 60.0, DT, monitors=mon, engine="scan")
    native = ns.simulate(net, 60.0, DT, monitors=mon, engine="native")
    for pop, least in (("src", 40), ("E", 1)):
        assert scan.spikes[pop][0].size >= least
        np.testing.assert_array_equal(native.spikes[pop][0], scan.spikes[pop][0])
        np.testing.assert_array_equal(native.spikes[pop][1], scan.spikes[pop][1])


def test_a_population_cut_by_slices_advances_its_shared_state_once_per_step():
    """A MultiRate population (a shared step counter, advanced every 3 steps) with currents onto
    slices of it: the loop over its neurons is cut at the slices' bounds, and its shared values
    are read once and written once per step, as the scan does."""
    from neurosim.neurons.multirate import MultiRate
    pop = ns.Population("E", 40, MultiRate(LIF(), 3))
    net = ns.Network([pop], [], [ns.Input("a", ("E", 0, 25), ConstantCurrent(), ConstantCurrent.Params(420.0)),
                                 ns.Input("b", ("E", 10, 40), ConstantCurrent(), ConstantCurrent.Params(300.0))])
    mon = [ns.Spikes("E")]
    scan = ns.simulate(net, 60.0, DT, monitors=mon, engine="scan")
    native = ns.simulate(net, 60.0, DT, monitors=mon, engine="native")
    assert scan.spikes["E"][0].size > 0
    np.testing.assert_array_equal(native.spikes["E"][0], scan.spikes["E"][0])
    np.testing.assert_array_equal(native.spikes["E"][1], scan.spikes["E"][1])
    assert int(native.state.neurons["E"].count) == int(scan.state.neurons["E"].count)
    np.testing.assert_allclose(native.state.neurons["E"].drive, scan.state.neurons["E"].drive, rtol=1e-5)


def test_a_raster_source_reads_one_row_of_its_table_per_step():
    """RasterSource keeps a (steps, neurons) raster in its state: each neuron reads its column of
    the step's row (a table of rows per element); replayed and driven spikes are the scan's."""
    from neurosim.inputs import RasterSource
    from neurosim.network.step import init_state
    n, rows = 16, 300
    net = ns.Network([ns.Population("src", n, RasterSource(n_steps=rows)), ns.Population("E", 30, LIF())],
                     [ns.Projection("p", "src", "E", ns.events.fixed_probability(n, 30, 0.4, seed=1), 60.0,
                                    Synapse("exponential", "current"))],
                     [ns.Input("bg", "E", ConstantCurrent(), ConstantCurrent.Params(250.0))])
    state = init_state(net, net.params(), 0, DT)
    raster = (np.random.default_rng(0).random((rows, n)) < 0.05).astype(np.float32)
    state = state._replace(neurons={**state.neurons, "src": state.neurons["src"]._replace(raster=raster)})
    mon = [ns.Spikes("src"), ns.Spikes("E")]
    scan = ns.simulate(net, 40.0, DT, state=state, monitors=mon, engine="scan")      # past the raster's end
    native = ns.simulate(net, 40.0, DT, state=state, monitors=mon, engine="native")
    for pop in ("src", "E"):
        assert scan.spikes[pop][0].size > 0
        np.testing.assert_array_equal(native.spikes[pop][0], scan.spikes[pop][0])
        np.testing.assert_array_equal(native.spikes[pop][1], scan.spikes[pop][1])
    assert int(native.state.neurons["src"].t) == int(scan.state.neurons["src"].t) == 400


# --------------------------------------------------------------------------- fused multiply-adds
def _sources(fn, n=8):
    return "\n".join(lower("test", fn, [np.zeros(n, np.float32)] * 3, ["dynamic"] * 3, [True] * 3, n).body)


def test_a_product_read_once_fuses_into_its_sum_as_xla_fuses_it():
    x, y, z = (_values(257, np.float32, seed) for seed in range(3))
    # fused: a * b + c, c - a * b; exactly as one rounding (float64 product, then the sum)
    for fn, want in [(lambda a, b, c: a * b + c, np.float64(x) * y + z), (lambda a, b, c: c - a * b, z - np.float64(x) * y),
                     (lambda a, b, c: a * b - c, np.float64(x) * y - z)]:
        assert "std::fma" in _sources(fn)
        np.testing.assert_array_equal(run_lowered(fn, [x, y, z], 257)[0], np.float32(want))
    # not fused: a product behind an optimisation barrier (the model asks for it rounded), or read twice
    barrier = lambda a, b, c: jax.lax.optimization_barrier(a * b) + c              # noqa: E731

    def twice(a, b, c):
        p = a * b
        return (p + c) * p
    @jax.jit
    def inner(p, c):
        return p + c, p - c

    def passed_on(a, b, c):         # read twice inside the function it is passed to
        return inner(a * b, c)[0] * inner(a * b, c)[1]

    def across_a_branch(a, b, c):   # fused by XLA only within one block of code
        p = a * b
        return jax.lax.cond(c > 0, lambda: p + c, lambda: p - c)

    for fn in (barrier, twice, passed_on):
        assert "std::fma" not in _sources(fn)
    assert "std::fma" not in "\n".join(
        lower("test", across_a_branch, [np.float32(0)] * 3, ["dynamic"] * 3, [False] * 3, 8).shared)
    np.testing.assert_array_equal(run_lowered(barrier, [x, y, z], 257)[0], x * y + z)


# Models whose step the native engine computes with XLA's own roundings: every product and sum, and
# the products XLA's CPU compiler fuses into multiply-adds (the left operand first, a product read
# once). A jaxlib that changed where XLA fuses would fail here (the others, within the contract).
BITWISE = ("LIF", "LIF-alpha-current", "LIF-delta", "AdaptiveLIF", "QIF (user model)", "PoissonSource + PoissonInput",
           "key-drawn uniform noise (lowered)")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", BITWISE)
def test_where_xla_fuses_the_same_products_the_engines_agree_bit_for_bit(name, dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    net = MODELS[name]()
    mon = [ns.Spikes("E"), ns.Trace("E", "v", every=1)]
    res = scan_and_native(net, mon)
    np.testing.assert_array_equal(res["scan"].traces["E.v"][1], res["native"].traces["E.v"][1])
    for a, b in zip(jax.tree.leaves(res["scan"].state), jax.tree.leaves(res["native"].state)):
        if jnp.issubdtype(jnp.result_type(a), jnp.floating):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# --------------------------------------------------------------------------- branches on shared values
class Switched(NamedTuple):
    mode: jax.Array = jnp.int32(0)
    i: jax.Array = jnp.float32(1.0)


@dataclass(frozen=True)
class SwitchedCurrent:
    """A current whose form a parameter picks (``lax.switch`` on a value shared by every neuron)."""

    Params = Switched
    State = type(None)

    def init(self, params, n, key):
        return None

    def current(self, params, state, t, dt, key, v, first=0):
        i = jax.lax.switch(params.mode, [lambda: params.i * jnp.ones_like(v), lambda: params.i * (1.0 - 0.01 * v),
                                         lambda: jnp.full_like(v, 3.0 * params.i)])
        return state, i


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_a_branch_on_a_shared_value_is_a_loop_per_branch_and_the_scan_s_result(mode):
    net = _net(LIF(), extra_inputs=[ns.Input("sw", "E", SwitchedCurrent(), Switched(jnp.int32(mode), jnp.float32(90.0)))])
    plan = native_plan(net, net.params(), DT, [], ns.init_state(net, net.params(), 0, DT))
    # one copy of the population's loop per branch, in which the branch index is a constant
    versions = re.findall(r"const int32_t (t\d+_hz\d+) = (\d);", plan.source)
    assert len({name for name, _ in versions}) == 1 and sorted(b for _, b in versions) == ["0", "1", "2"]
    mon = [ns.Spikes("E")]
    res = scan_and_native(net, mon, 50.0)
    assert res["native"].timings["engine"] == "native" and res["scan"].spikes["E"][0].size > 0
    for a, b in zip(res["scan"].spikes["E"], res["native"].spikes["E"]):
        np.testing.assert_array_equal(a, b)


def test_a_second_run_with_other_monitors_finds_the_compiled_chunk_and_runs():
    """Two plans of one program (other monitors) share a compiled chunk: the second run loads
    the program before calling it (it once called a program never loaded)."""
    net = MODELS["LIF"]()
    first = ns.simulate(net, 5.0, 0.1, engine="native", monitors=[ns.Spikes("E")], chunk_steps=50, progress=False)
    second = ns.simulate(net, 5.0, 0.1, engine="native", state=first.state, chunk_steps=50, progress=False)
    scan = ns.simulate(net, 10.0, 0.1, engine="scan", progress=False)
    np.testing.assert_allclose(np.asarray(second.state.neurons["E"].v), np.asarray(scan.state.neurons["E"].v),
                               rtol=1e-5, atol=1e-4)


def test_threads_share_the_loops_and_deliveries_and_change_no_result(monkeypatch):
    """A network over the synapse threshold runs its element loops and deliveries on OpenMP
    threads (engine.native_threads): each element and each projection's additions are the
    one-thread program's, so spikes and every state leaf are bitwise the same."""
    import importlib
    from neurosim.events.delays import normal_delays
    from neurosim.synapses import TsodyksMarkram
    E = importlib.import_module("neurosim.engines.native.engine")
    P = importlib.import_module("neurosim.engines.native.program")
    monkeypatch.setattr(P, "PARALLEL_ELEMENTS", 64)        # small loops shared too
    pops = [ns.Population("P", 400, PoissonSource(), PoissonSource.Params(30.0)),
            ns.Population("E", 300, LIF()), ns.Population("I", 150, AdEx())]
    cur = Synapse("exponential", "current")
    pe = ns.events.fixed_probability(400, 300, 0.1, seed=1)
    projs = [ns.Projection("PE", "P", "E", pe, 40.0, delay_ms=normal_delays(pe.nnz, 1.0, 0.5, DT, seed=2), synapse=cur),
             ns.Projection("PI", "P", "I", ns.events.fixed_probability(400, 150, 0.1, seed=3), 30.0, synapse=cur),
             ns.Projection("EI", "E", "I", ns.events.fixed_probability(300, 150, 0.2, seed=4), 20.0, delay_ms=0.5,
                           synapse=cur),
             ns.Projection("IE", "I", "E", ns.events.fixed_probability(150, 300, 0.2, seed=5), -15.0, synapse=cur,
                           stp=TsodyksMarkram())]
    inputs = [ns.Input("bg", "E", PoissonInput(n_sources=50, synapse=cur),
                       PoissonInputParams(rate_hz=8.0, weight=30.0, synapse=SynapseParams(tau=0.5)))]
    runs = {}
    for threads in (1, 2):
        monkeypatch.setattr(E, "native_threads", lambda net, t=threads: t)
        net = ns.Network(pops, projs, inputs)
        runs[threads] = ns.simulate(net, 100.0, DT, key=3, engine="native", progress=False,
                                    monitors=[ns.Spikes("E"), ns.Spikes("I"), ns.Trace("I", "v", every=10)])
        source = native_plan(net, net.params(), DT).source
        assert ("#pragma omp parallel" in source) == (threads > 1)
    assert len(runs[1].spikes["E"][0]) > 100
    for pop in ("E", "I"):
        for a, b in zip(runs[1].spikes[pop], runs[2].spikes[pop]):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[1].traces["I.v"][1], runs[2].traces["I.v"][1])
    leaves = [jax.tree.leaves(r.state) for r in runs.values()]
    for a, b in zip(*leaves):
        if not jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_neurosim_threads_must_be_a_whole_number(monkeypatch):
    import importlib
    E = importlib.import_module("neurosim.engines.native.engine")
    monkeypatch.setattr(E, "THREADED_SYNAPSES", 0)
    net = ns.Network([ns.Population("E", 10, LIF())], [])
    for bad in ("two", "0"):
        monkeypatch.setenv("NEUROSIM_THREADS", bad)
        with pytest.raises(ValueError, match=rf"NEUROSIM_THREADS must be a whole number of threads >= 1, got '{bad}'"):
            E.native_threads(net)
    monkeypatch.setenv("NEUROSIM_THREADS", "1")
    assert E.native_threads(net) == 1
