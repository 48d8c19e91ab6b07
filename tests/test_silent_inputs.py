"""Inputs that used to be accepted silently with a wrong result now get a clear error naming the
argument and the value (issue 12's list): a reversed Uniform or negative-std Normal initial
rule, an empty network, negative or more-than-one-per-step Poisson rates, an RLS forgetting
factor outside (0, 1], an LMS learning rate that diverges, a max_chunk_bytes that is not a
positive number."""
import jax.numpy as jnp
import numpy as np
import pytest

import neurosim as ns
from neurosim.inputs import PoissonSource
from neurosim.neurons import LIF


def _lif_net(v_init):
    return ns.Network([ns.Population("n", 3, LIF(v_init=v_init))])


def test_initial_value_rules():
    with pytest.raises(ValueError, match=r"Uniform\(low=-50.0, high=-60.0\): low and high must be finite with low <= high"):
        ns.simulate(_lif_net(ns.Uniform(-50.0, -60.0)), 1.0, 0.1)
    with pytest.raises(ValueError, match=r"std finite and >= 0"):
        ns.simulate(_lif_net(ns.Normal(-55.0, -1.0)), 1.0, 0.1)
    with pytest.raises(ValueError, match="low and high must be finite"):
        ns.simulate(_lif_net(ns.Uniform(-60.0, np.nan)), 1.0, 0.1)
    # per-neuron bounds are checked elementwise, and good rules still draw in range
    with pytest.raises(ValueError, match="low <= high"):
        ns.simulate(_lif_net(ns.Uniform(np.array([-60.0, -50.0, -60.0]), np.array([-55.0, -55.0, -55.0]))), 1.0, 0.1)
    v = ns.init_state(_lif_net(ns.Uniform(-60.0, -55.0)), _lif_net(None).params(), 0, 0.1).neurons["n"].v
    assert np.all((np.asarray(v) >= -60.0) & (np.asarray(v) <= -55.0))


def test_empty_network():
    with pytest.raises(ValueError, match="populations is empty; a network needs at least one Population"):
        ns.Network([])


def test_poisson_rates():
    with pytest.raises(ValueError, match=r"params.rate_hz must be >= 0, got -5.0"):
        ns.Population("p", 3, PoissonSource(), PoissonSource.Params(-5.0))
    net = ns.Network([ns.Population("p", 3, PoissonSource(), PoissonSource.Params(np.array([10.0, 20000.0, 5.0])))])
    with pytest.raises(ValueError, match=r"rate_hz = 20000 Hz at dt = 0.1 ms asks for 2 spikes per step.*<= 10000 Hz"):
        ns.simulate(net, 1.0, 0.1)
    # at dt = 0.05 ms the same rate is one spike per step: allowed
    res = ns.simulate(net, 1.0, 0.05)
    # params changed for a state made earlier are checked too (in simulate and in run)
    fast = net.params()._replace(neurons={"p": PoissonSource.Params(np.array([10.0, 30000.0, 5.0]))})
    with pytest.raises(ValueError, match="rate_hz = 30000 Hz at dt = 0.05 ms"):
        ns.simulate(net, 1.0, 0.05, params=fast, state=res.state)
    with pytest.raises(ValueError, match="rate_hz = 30000 Hz at dt = 0.05 ms"):
        ns.run(net, fast, res.state, 20, 0.05)
    # a source advanced every 4 steps (MultiRate) steps by 4 dt: 10 kHz is then too fast
    slow = ns.Network([ns.Population("p", 1, ns.neurons.MultiRate(PoissonSource(), 4), PoissonSource.Params(10000.0))])
    with pytest.raises(ValueError, match="rate_hz = 10000 Hz at dt = 0.2 ms"):
        ns.simulate(slow, 2.0, 0.05)


def test_readout_rules():
    x = jnp.asarray(np.random.default_rng(0).random((100, 5)))
    y = jnp.asarray(np.random.default_rng(1).random((100, 1)))
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match=r"forgetting must be in \(0, 1\]"):
            ns.train.readouts.rls_fit(x, y, forgetting=bad)
    with pytest.raises(ValueError, match=r"lms_fit diverged .*learning_rate = 10.0 is too large"):
        ns.train.lms_fit(x, y, learning_rate=10.0)
    w, _ = ns.train.lms_fit(x, y, learning_rate=0.01)
    assert np.all(np.isfinite(np.asarray(w.w)))


def test_max_chunk_bytes():
    net = _lif_net(None)
    for bad in (float("nan"), 0.0, -1.0, "big"):
        with pytest.raises(ValueError, match="max_chunk_bytes must be a positive finite number"):
            ns.simulate(net, 1.0, 0.1, max_chunk_bytes=bad)


def test_a_simulated_network_pickles_and_the_copy_simulates_the_same():
    import pickle

    net = ns.Network([ns.Population("E", 20, ns.neurons.LIF(v_init=ns.Uniform(-60.0, -50.0))),
                      ns.Population("P", 10, PoissonSource(), PoissonSource.Params(200.0))],
                     [ns.Projection("PE", "P", "E", ns.events.fixed_probability(10, 20, 0.5, seed=1), 20.0)])
    mon = [ns.Spikes("E"), ns.Spikes("P")]
    first = ns.simulate(net, 20.0, key=3, monitors=mon)
    copy = pickle.loads(pickle.dumps(net))       # used to fail on the compiled programs it cached
    again = ns.simulate(copy, 20.0, key=3, monitors=mon)
    for name in ("E", "P"):
        np.testing.assert_array_equal(np.asarray(first.spikes[name]), np.asarray(again.spikes[name]))
    assert int(np.asarray(first.spikes["E"]).sum()) > 0


def _exploding(weight=3e38, rate=50.0):
    conn = ns.events.fixed_probability(10, 20, 0.5, seed=1)
    return ns.Network([ns.Population("E", 20, LIF()), ns.Population("P", 10, PoissonSource(), PoissonSource.Params(rate))],
                      [ns.Projection("PE", "P", "E", conn, weight)])


@pytest.mark.parametrize("engine", ["scan", "fused"])
def test_a_run_that_goes_non_finite_stops_naming_population_variable_and_step(engine):
    # 3e38 pA per spike overflows float32: V becomes inf, then NaN (inf - inf), and a NaN
    # membrane never spikes again: without the check the run "succeeds" with silent neurons.
    net = _exploding()
    with pytest.raises(ns.NonFiniteError, match=r"projection 'PE', variable g became NaN or infinite in step \d+ "
                                                 r"\(the step ending at t = [\d.]+ ms\), in \d+ entries") as err:
        ns.simulate(net, 50.0, key=0, engine=engine, chunk_steps=5, monitors=[ns.Spikes("E")])
    partial = err.value.partial
    assert partial is not None and partial.duration > 0
    assert np.all(np.isfinite(np.asarray(partial.state.neurons["E"].v)))
    # the step it names is the first at which the state is not finite (checked by running there)
    step = int(str(err.value).split("in step ")[1].split(" ")[0])
    s0 = ns.init_state(net, net.params(), 0, 0.1)
    _, g = ns.run(net, net.params(), s0, step + 1, 0.1, observe=lambda s, _: s.synapses["PE"].g)
    g = np.asarray(g)
    assert np.all(np.isfinite(g[:step])) and not np.all(np.isfinite(g[step]))
    # off: it runs to the end, silently wrong, as the user asked
    res = ns.simulate(net, 50.0, key=0, engine=engine, check_finite=False)
    assert not np.all(np.isfinite(np.asarray(res.state.neurons["E"].v)))
    with pytest.raises(ValueError, match="check_finite must be True or False, got 'no'"):
        ns.simulate(net, 1.0, check_finite="no")


def test_the_finite_check_does_not_fire_on_a_healthy_network():
    res = ns.simulate(_exploding(weight=100.0, rate=500.0), 50.0, key=0, monitors=[ns.Spikes("E")])
    assert res.spikes["E"][0].size > 0


@pytest.mark.parametrize("engine", ["scan", "fused"])
def test_ctrl_c_returns_the_partial_results_and_a_state_that_resumes_bitwise(engine, monkeypatch):
    import importlib

    sim = importlib.import_module("neurosim.network.simulate")

    net = _exploding(weight=100.0, rate=500.0)
    mon = [ns.Spikes("E")]
    whole = ns.simulate(net, 30.0, key=4, engine=engine, chunk_steps=50, monitors=mon)
    real_update = sim._Progress.update

    def interrupt_after_two_chunks(self, done_ms):
        real_update(self, done_ms)
        if done_ms >= 10.0:
            raise KeyboardInterrupt

    monkeypatch.setattr(sim._Progress, "update", interrupt_after_two_chunks)
    with pytest.raises(ns.SimulationInterrupted, match=r"interrupted after 100 of 300 steps \(10 of 30 ms\)") as err:
        ns.simulate(net, 30.0, key=4, engine=engine, chunk_steps=50, monitors=mon)
    monkeypatch.setattr(sim._Progress, "update", real_update)
    part = err.value.partial
    assert part.duration == pytest.approx(10.0) and int(part.state.t) == 100
    rest = ns.simulate(net, 20.0, state=part.state, engine=engine, chunk_steps=50, monitors=mon)
    t = np.concatenate([part.spikes["E"][0], rest.spikes["E"][0]])
    i = np.concatenate([part.spikes["E"][1], rest.spikes["E"][1]])
    np.testing.assert_allclose(t, whole.spikes["E"][0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(i, whole.spikes["E"][1])
    assert len(t) > 0 and isinstance(err.value, KeyboardInterrupt)


def _e_net(**input_params):
    E = ns.Population("E", 50, LIF())
    inp = ns.Input("drive", "E", ns.inputs.ConstantCurrent(), ns.inputs.ConstantCurrent.Params(**input_params))
    return ns.Network([E], inputs=[inp])


def test_values_that_enter_at_run_time_are_checked_on_the_host():
    with pytest.raises(ValueError, match=r"Input 'drive': amplitude must be a number or an array of numbers, got '200'"):
        _e_net(amplitude="200")
    with pytest.raises(ValueError, match=r"Input 'drive': amplitude must be finite, got nan"):
        _e_net(amplitude=float("nan"))
    net = _e_net(amplitude=300.0)
    p = net.params()
    bad = p._replace(neurons={"E": p.neurons["E"]._replace(g_l=float("nan"))})
    with pytest.raises(ValueError, match=r"params.neurons\['E'\].g_l must be finite, got nan"):
        ns.simulate(net, 10.0, params=bad, progress=False)
    bad = p._replace(neurons={"E": p.neurons["E"]._replace(c_m=-5.0)})
    with pytest.raises(ValueError, match=r"params.neurons\['E'\].c_m must be > 0, got -5.0"):
        ns.simulate(net, 10.0, params=bad, progress=False)
    bad = p._replace(inputs={"drive": p.inputs["drive"]._replace(amplitude=np.inf)})
    with pytest.raises(ValueError, match=r"params.inputs\['drive'\].amplitude must be finite, got inf"):
        ns.simulate(net, 10.0, params=bad, progress=False)
    good = ns.simulate(net, 10.0, params=p, progress=False)       # and good values still run
    assert int(good.state.t) == 100


def test_a_negative_synapse_tau_through_params_is_refused():
    E = ns.Population("E", 20, LIF())
    P = ns.Population("P", 10, PoissonSource(), PoissonSource.Params(50.0))
    net = ns.Network([E, P], [ns.Projection("PE", "P", "E", ns.events.fixed_probability(10, 20, 0.5, seed=1), 50.0)])
    p = net.params()
    bad = p._replace(projections={"PE": p.projections["PE"]._replace(
        synapse=p.projections["PE"].synapse._replace(tau=-5.0))})
    with pytest.raises(ValueError, match=r"params.projections\['PE'\].synapse.tau must be > 0, got -5.0"):
        ns.simulate(net, 10.0, params=bad, progress=False)


def test_a_per_neuron_synapse_tau_gets_a_message_about_the_projection_not_a_population_of_one():
    with pytest.raises(ValueError, match=r"syn_params.tau must be one value for the whole projection \(a scalar\), "
                                         r"got shape \(50,\)"):
        ns.Projection("PE", "P", "E", ns.events.fixed_probability(10, 50, 0.5, seed=1), 1.0,
                      syn_params=ns.synapses.SynapseParams(tau=np.full(50, 5.0)))


def test_a_refractory_period_shorter_than_a_step_is_refused():
    net = ns.Network([ns.Population("E", 5, LIF(), LIF.Params(t_ref=0.05))])
    with pytest.raises(ValueError, match=r"Population 'E': t_ref = 0.05 ms is shorter than one step \(dt = 0.1 ms\)"):
        ns.simulate(net, 10.0, 0.1, progress=False)
    ns.simulate(net, 10.0, 0.05, progress=False)                    # one step long: fine
    ns.simulate(ns.Network([ns.Population("E", 5, LIF(), LIF.Params(t_ref=0.0))]), 1.0, 0.1, progress=False)


def test_a_key_that_is_not_a_seed_or_a_key():
    net = _e_net(amplitude=100.0)
    with pytest.raises(ValueError, match="key must be an integer seed or a jax.random.key"):
        ns.simulate(net, 1.0, key="abc", progress=False)
    with pytest.raises(ValueError, match="key must be an integer seed or a jax.random.key"):
        ns.simulate(net, 1.0, key=1.5, progress=False)
    import jax
    a = ns.simulate(net, 1.0, key=jax.random.key(3), progress=False)
    b = ns.simulate(net, 1.0, key=3, progress=False)
    np.testing.assert_array_equal(np.asarray(a.state.neurons["E"].v), np.asarray(b.state.neurons["E"].v))


def test_the_memory_guard_refuses_monitors_that_would_not_fit_with_the_figure_and_the_fix():
    net = ns.Network([ns.Population("E", 4000, LIF())])
    with pytest.raises(MemoryError, match=r"would hold 1.6 TB on the host for 1e\+07 ms.*Trace\('E', 'v'\), grows "
                                          r"160 MB per simulated second. Options: record fewer neurons \(ids=...\)"):
        ns.simulate(net, 1e7, monitors=[ns.Trace("E", "v")], max_host_bytes=1e11, progress=False)
    with pytest.raises(MemoryError, match=r"more than 1 MB \(max_host_bytes\)"):
        ns.simulate(net, 1000.0, monitors=[ns.Trace("E", "v")], max_host_bytes=1e6, progress=False)
    # the default limit is what the machine has: a day of a full voltage trace does not fit anywhere here
    with pytest.raises(MemoryError, match="80 % of the memory available"):
        ns.simulate(net, 8.64e7, monitors=[ns.Trace("E", "v")], progress=False)
    # sampling less often or fewer neurons brings it under the limit, and the run goes ahead
    res = ns.simulate(net, 20.0, monitors=[ns.Trace("E", "v", ids=[0, 1], every=10)], max_host_bytes=1e6,
                      progress=False)
    assert res.traces["E.v"][1].shape == (20, 2)
    with pytest.raises(ValueError, match="max_host_bytes must be"):
        ns.simulate(net, 1.0, max_host_bytes=-1.0, progress=False)


def test_a_spike_monitor_costs_the_host_its_spikes_not_a_raster_per_step():
    # 4000 neurons, 20,000 steps, few spikes: a dense (steps, n) raster would be 80 MB on the host;
    # the scan engine brings 1 bit per neuron and step and expands only the bytes that hold a spike
    import tracemalloc

    E = ns.Population("E", 4000, LIF(v_init=-65.0))
    P = ns.Population("P", 20, PoissonSource(), PoissonSource.Params(5.0))
    net = ns.Network([E, P], [ns.Projection("PE", "P", "E", ns.events.fixed_probability(20, 4000, 0.05, seed=1), 1000.0)])
    mons = [ns.Spikes("E")]
    ns.simulate(net, 10.0, monitors=mons, engine="scan", progress=False)          # compile outside the measure
    tracemalloc.start()
    res = ns.simulate(net, 2000.0, monitors=mons, engine="scan", progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_spikes = len(res.spikes["E"][0])
    assert n_spikes > 1000
    raster = 20_000 * 4000                      # bytes of a dense uint8 raster
    assert peak < raster / 16 + 64 * n_spikes, (peak, n_spikes)
    # and it is the fused engine's answer
    fused = ns.simulate(net, 2000.0, monitors=mons, engine="fused", progress=False)
    for a, b in zip(res.spikes["E"], fused.spikes["E"]):
        np.testing.assert_array_equal(a, b)


def test_a_network_built_for_one_step_refuses_another():
    net = ns.builders.brunel2000("C", scale=0.05, dt=0.1)       # jump currents chosen for 0.1 ms
    with pytest.raises(ValueError, match=r"built for dt = 0.1 ms .* this run uses dt = 0.05 ms"):
        ns.simulate(net, 10.0, dt=0.05, progress=False)
    ns.simulate(net, 10.0, dt=0.1, progress=False)
    ns.simulate(ns.builders.brunel2000("C", scale=0.05, dt=0.05), 10.0, dt=0.05, progress=False)


@pytest.mark.parametrize("engine", ["scan", "fused"])
def test_a_voltage_that_runs_away_is_caught_before_it_overflows(engine):
    # 1e6-pA inhibitory kicks drive V to about -1e5 mV within a few steps: finite, but no membrane
    # is there, and the neurons would look silent. The check stops it at +-10 V.
    E = ns.Population("E", 10, LIF())
    P = ns.Population("P", 5, PoissonSource(), PoissonSource.Params(200.0))
    net = ns.Network([E, P], [ns.Projection("PE", "P", "E", ns.events.all_to_all(5, 10), -1e6)])
    with pytest.raises(ns.NonFiniteError, match=r"population 'E', variable v became NaN or infinite \(or left "
                                                 r"\+-10000 mV\) in step \d+") as err:
        ns.simulate(net, 20.0, engine=engine, chunk_steps=50, progress=False)
    v = np.asarray(err.value.partial.state.neurons["E"].v) if err.value.partial is not None else None
    assert v is None or np.all(np.abs(v) <= 1e4)
    # a healthy strongly driven network is not stopped
    ok = ns.Network([E, P], [ns.Projection("PE", "P", "E", ns.events.all_to_all(5, 10), 300.0)])
    ns.simulate(ok, 20.0, engine=engine, progress=False)
