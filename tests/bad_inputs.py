"""A catalogue of bad inputs across the public API, and how each is answered.

Every case is ``(label, call, expected)``: ``call()`` gives the library a bad argument, and a
*clear* answer is a ``ValueError``, ``TypeError``, ``MemoryError`` or ``FloatingPointError`` (``ns.NonFiniteError``
is one) whose message matches the regular expression ``expected`` (naming the
argument, and usually the value and what was wanted). Any other exception (a ``KeyError`` or an
error from inside JAX, h5py or numpy, say) is *unclear*; no exception at all is *silent* (a wrong
or NaN result).

    python tests/bad_inputs.py          # the counts, and every case that is not clear

``tests/test_bad_inputs.py`` runs the same catalogue and requires every case to be clear.
"""
from __future__ import annotations

import re
import sys
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

import neurosim as ns
from neurosim import train as T
from neurosim.builders import RasterSource
from neurosim.builders.microcircuit import psc_per_psp
from neurosim.inputs import ConstantCurrent, GaussianCurrent, PoissonInput, PoissonSource, StepCurrent
from neurosim.neurons import AdEx, AdaptiveLIF, HodgkinHuxley, Izhikevich, LIF
from neurosim.synapses import Synapse, SynapseParams

conn = ns.events.fixed_probability


def _net(**kw):
    return ns.Network([ns.Population("E", 10, LIF(**kw))])


def _pair(weights=1.0, **proj):
    pops = [ns.Population("P", 5, PoissonSource(), PoissonSource.Params(10.0)), ns.Population("E", 10, LIF())]
    return ns.Network(pops, [ns.Projection("PE", "P", "E", conn(5, 10, 0.5, seed=1), weights, **proj)])


def _sim(net=None, duration=1.0, **kw):
    return ns.simulate(_net() if net is None else net, duration, progress=False, **kw)


def _inp(model, params):
    pop = ns.Population("E", 10, LIF())
    return ns.simulate(ns.Network([pop], inputs=[ns.Input("drive", "E", model, params)]), 1.0, progress=False)


def _with_neuron(**changes):
    net = _net()
    p = net.params()
    return _sim(net, params=p._replace(neurons={"E": p.neurons["E"]._replace(**changes)}))


def _with_synapse(**changes):
    net = _pair()
    p = net.params()
    pp = p.projections["PE"]
    return _sim(net, params=p._replace(projections={"PE": pp._replace(synapse=pp.synapse._replace(**changes))}))


def _runaway():
    net = ns.builders.cuba(400)         # the issue's case: CUBA with 1e37 weights (NaN voltages once summed)
    p = net.params()
    return ns.simulate(net, 20.0, params=p.with_weights({k: w * 1e37 for k, w in p.weights().items()}), progress=False)


def _states():
    return np.random.default_rng(0).normal(size=(50, 4))


def _layer_net():
    return T.SpikingNetwork(T.SpikingLayer(3, 4, rngs=_rngs()), T.LeakyReadout(4, 2, rngs=_rngs()), dt=1.0)


class _PerNeuronParams(ns.synapses.dynamics.AbstractSynapseDynamics):
    """A user's mechanism with a parameter of one value per presynaptic neuron."""

    key = "per_neuron"

    class Params(NamedTuple):
        g: object

    def initial_params(self):
        return self.Params(np.ones(20))


def _plastic(rule, output="current", weights=0.5):
    pops = [ns.Population("P", 20, PoissonSource(), PoissonSource.Params(50.0)), ns.Population("E", 10, LIF())]
    return ns.Network(pops, [ns.Projection("PE", "P", "E", conn(20, 10, 0.5, seed=1), weights,
                                           synapse=Synapse("exponential", output), plasticity=rule)])


def _additive(w_max=1.0):
    """Additive pair STDP kept in [0, w_max] (Song et al. 2000)."""
    return ns.plasticity.chain(ns.plasticity.stdp_pair(w_max=w_max), ns.plasticity.clip_weights(0.0, w_max))


def _with_dynamics(net, key, **changes):
    p = net.params()
    pp = p.projections[net.projections[0].name]
    dyn = dict(pp.dynamics)
    dyn[key] = (dyn[key]._replace(**changes) if hasattr(dyn[key], "_fields")
                else (dyn[key][0], dyn[key][1]._replace(**changes)))
    return _sim(net, duration=20.0, params=p._replace(projections={net.projections[0].name: pp._replace(dynamics=dyn)}))


def _glio():
    """A projection whose release is modulated by an astrocyte population (gliotransmission)."""
    from neurosim.astrocytes import Astrocyte, Gliotransmission
    pops = [ns.Population("P", 4, PoissonSource(), PoissonSource.Params(20.0)), ns.Population("E", 4, LIF()),
            ns.Population("A", 2, Astrocyte())]
    c = conn(4, 4, 1.0, seed=1)
    glio = Gliotransmission("A", domain=np.arange(c.nnz) % 2)
    return ns.Network(pops, [ns.Projection("PE", "P", "E", c, 1.0, dynamics=(glio,))])


def _state_with(net, pop, **changes):
    state = ns.init_state(net, net.params(), 0, 0.1)
    return state._replace(neurons={**state.neurons, pop: state.neurons[pop]._replace(**changes)})


def _astro(integrator="euler", **kw):
    from neurosim.astrocytes import Astrocyte
    return ns.Network([ns.Population("A", 3, Astrocyte(integrator=integrator))], **kw)


def _rngs():
    from flax import nnx
    return nnx.Rngs(0)


def _event_file(name: str, data: bytes) -> str:
    """``data`` written to ``name`` in a temporary directory of this process (event readers' cases)."""
    import atexit
    import os
    import shutil
    import tempfile
    folder = os.path.join(tempfile.gettempdir(), f"neurosim-bad-inputs-{os.getpid()}")
    if not os.path.isdir(folder):
        os.makedirs(folder)
        atexit.register(shutil.rmtree, folder, True)
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _nmnist(records) -> str:
    """An N-MNIST file of (x, y, p, t) records: 40 bits each, most significant byte first."""
    return _event_file("sample.bin", b"".join(((x << 32) | (y << 24) | (p << 23) | t).to_bytes(5, "big")
                                              for x, y, p, t in records))


def _aedat(version=b"#!AER-DAT3.1", number=None, x=5) -> str:
    """An AEDAT file: header lines, then one polarity packet of two events (the second at ``x``)."""
    import struct
    body = struct.pack("<IiIi", (3 << 17) | (4 << 2) | 3, 10, (x << 17) | (4 << 2) | 1, 20)
    head = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 2 if number is None else number, 2 if number is None else number, 2)
    return _event_file("gesture.aedat", version + b"\r\n#Format: RAW\r\n#!END-HEADER\r\n" + head + body)


def _shd(labels=(0, 1), units=((1, 2), (3,)), skip=()) -> str:
    """An SHD file (HDF5) of two samples."""
    import h5py
    path = _event_file("shd.h5", b"")
    with h5py.File(path, "w") as f:
        for name, dtype, values in (("spikes/times", np.float32, [[0.1] * len(u) for u in units]),
                                    ("spikes/units", np.uint16, units)):
            if name not in skip:
                d = f.create_dataset(name, (len(values),), dtype=h5py.vlen_dtype(dtype))
                for i, v in enumerate(values):
                    d[i] = np.asarray(v, dtype)
        if "labels" not in skip:
            f["labels"] = np.asarray(labels, np.uint16)
    return path


def _events(n=3, x=1):
    ev = np.zeros(n, ns.io.EVENTS)
    ev["t"], ev["x"], ev["y"], ev["p"] = np.arange(n) * 10, x, 2, 1
    return ev


NAN = float("nan")
INF = float("inf")

CASES = [
    # ---------------------------------------------------------------- populations and models
    ("Population n=0", lambda: ns.Population("E", 0, LIF()), r"Population 'E': n must be"),
    ("Population n=2.5", lambda: ns.Population("E", 2.5, LIF()), r"Population 'E': n must be"),
    ("Population n='10'", lambda: ns.Population("E", "10", LIF()), r"Population 'E': n must be"),
    ("Population model class, not instance", lambda: ns.Population("E", 3, LIF), r"model must be an instance"),
    ("Population params of another model", lambda: ns.Population("E", 3, LIF(), Izhikevich.Params()), r"params must be a LIFParams"),
    ("LIF c_m=0", lambda: ns.Population("E", 3, LIF(), LIF.Params(c_m=0.0)), r"c_m"),
    ("LIF g_l=-1", lambda: ns.Population("E", 3, LIF(), LIF.Params(g_l=-1.0)), r"g_l"),
    ("LIF v_th=nan", lambda: ns.Population("E", 3, LIF(), LIF.Params(v_th=NAN)), r"v_th"),
    ("LIF t_ref=-1", lambda: ns.Population("E", 3, LIF(), LIF.Params(t_ref=-1.0)), r"t_ref"),
    ("LIF per-neuron params of the wrong length", lambda: ns.Population("E", 3, LIF(), LIF.Params(v_th=np.zeros(4))), r"v_th"),
    ("LIF t_ref shorter than dt", lambda: _sim(ns.Network([ns.Population("E", 3, LIF(), LIF.Params(t_ref=0.05))])), r"t_ref"),
    ("LIF unknown surrogate", lambda: LIF(surrogate="gauss"), r"surrogate"),
    ("AdEx delta_t=0", lambda: ns.Population("E", 3, AdEx(), AdEx.Params(delta_t=0.0)), r"delta_t"),
    ("HodgkinHuxley c_m=-200", lambda: ns.Population("E", 3, HodgkinHuxley(), HodgkinHuxley.Params(c_m=-200.0)),
     r"params.c_m must be > 0, got -200.0"),
    ("HodgkinHuxley g_na=-1", lambda: ns.Population("E", 3, HodgkinHuxley(), HodgkinHuxley.Params(g_na=-1.0)),
     r"params.g_na must be >= 0, got -1.0"),
    ("HodgkinHuxley e_k above e_na", lambda: ns.Population("E", 3, HodgkinHuxley(), HodgkinHuxley.Params(e_k=60.0)),
     r"e_k must be below e_na, got e_k=60.0 and e_na=50.0"),
    ("HodgkinHuxley t_ref shorter than dt", lambda: _sim(ns.Network(
        [ns.Population("E", 3, HodgkinHuxley(), HodgkinHuxley.Params(t_ref=0.05))])), r"t_ref = 0.05 ms is shorter than one step"),
    ("HodgkinHuxley unknown surrogate", lambda: HodgkinHuxley(surrogate="gauss"), r"HodgkinHuxley: surrogate must be one of"),
    ("AdaptiveLIF tau_theta=-5", lambda: ns.Population("E", 3, AdaptiveLIF(), AdaptiveLIF.Params(tau_theta=-5.0)),
     r"params.tau_theta must be > 0, got -5.0"),
    ("Izhikevich unknown integrator", lambda: Izhikevich(integrator="rk9"), r"integrator"),
    ("Uniform reversed", lambda: _sim(_net(v_init=ns.Uniform(-50.0, -60.0))), r"low <= high"),
    ("Normal negative std", lambda: _sim(_net(v_init=ns.Normal(-55.0, -1.0))), r"std"),
    ("Uniform with NaN", lambda: _sim(_net(v_init=ns.Uniform(-60.0, NAN))), r"finite"),
    # ---------------------------------------------------------------- projections and synapses
    ("Synapse unknown kinetics", lambda: Synapse("gamma"), r"kinetics must be one of"),
    ("Synapse unknown output", lambda: Synapse("exponential", "voltage"), r"output must be one of"),
    ("SynapseParams tau=0", lambda: _pair(syn_params=SynapseParams(tau=0.0)), r"tau"),
    ("SynapseParams per-neuron tau", lambda: _pair(syn_params=SynapseParams(tau=np.ones(10))), r"one value for the whole projection"),
    ("Projection weights NaN", lambda: _pair(weights=NAN), r"weights must be finite"),
    ("Projection weights of the wrong length", lambda: _pair(weights=np.ones(3)), r"weights"),
    ("Projection negative conductance weight", lambda: _sim(_pair(-1.0, synapse=Synapse("exponential", "conductance"))),
     r"conductance synapse must be >= 0"),
    ("Projection delay not a multiple of dt", lambda: _sim(_pair(delay_ms=0.15)), r"delay"),
    ("Projection delay 0", lambda: _sim(_pair(delay_ms=0.0)), r"delay"),
    ("Projection unknown pre", lambda: ns.Network([ns.Population("E", 10, LIF())],
                                                  [ns.Projection("X", "Q", "E", conn(5, 10, 0.5), 1.0)]), r"'Q'"),
    ("Projection conn of the wrong shape", lambda: ns.Network(
        [ns.Population("E", 10, LIF())], [ns.Projection("EE", "E", "E", conn(5, 10, 0.5), 1.0)]), r"Projection 'EE': conn is 5 x 10"),
    ("Projection conn not a CSR", lambda: ns.Projection("X", "E", "E", np.ones((3, 3)), 1.0), r"conn"),
    ("Projection unknown backend", lambda: ns.Projection("X", "E", "E", conn(3, 3, 0.5), 1.0, backend="fpga"), r"backend"),
    ("Projection stp_params without stp", lambda: ns.Projection("X", "E", "E", conn(3, 3, 0.5), 1.0,
                                                                 stp_params=ns.synapses.TsodyksMarkramParams()), r"stp_params"),
    ("fixed_probability p=1.5", lambda: conn(3, 3, 1.5), r"p must be a probability in \[0, 1\], got 1.5"),
    ("fixed_indegree k > n_pre", lambda: ns.events.fixed_indegree(3, 5, 4), r"k \(in-degree\) must be <= 3, got 4"),
    ("from_arrays duplicate synapse", lambda: ns.events.from_arrays([0, 0], [1, 1], 2, 2), r"duplicate synapse"),
    ("from_arrays index out of range", lambda: ns.events.from_arrays([0, 5], [1, 1], 2, 2), r"pre"),
    ("propagate spikes of the wrong length", lambda: ns.propagate(conn(4, 3, 0.5), 1.0, np.ones(5)), r"spikes"),
    # ---------------------------------------------------------------- networks
    ("Network([])", lambda: ns.Network([]), r"populations is empty"),
    ("Network repeated names", lambda: ns.Network([ns.Population("E", 2, LIF()), ns.Population("E", 3, LIF())]),
     r"names must be unique"),
    ("Network populations not a list", lambda: ns.Network(ns.Population("E", 2, LIF())), r"populations must be a list"),
    ("Network dt=-0.1", lambda: ns.Network([ns.Population("E", 2, LIF())], dt=-0.1), r"dt"),
    ("a network built for dt=0.1 run at 0.05", lambda: ns.simulate(ns.builders.brunel2000("C", scale=0.05), 1.0, 0.05,
                                                                    progress=False), r"built for dt = 0.1 ms"),
    # ---------------------------------------------------------------- inputs
    ("ConstantCurrent amplitude '200'", lambda: _inp(ConstantCurrent(), ConstantCurrent.Params("200")), r"amplitude"),
    ("ConstantCurrent amplitude NaN", lambda: _inp(ConstantCurrent(), ConstantCurrent.Params(NAN)), r"amplitude"),
    ("StepCurrent amplitudes inf", lambda: _inp(StepCurrent((0.5,)), StepCurrent.Params(amplitudes=[INF])), r"amplitudes"),
    ("GaussianCurrent std NaN", lambda: _inp(GaussianCurrent(), GaussianCurrent.Params(std=NAN)), r"std"),
    ("GaussianCurrent std -1", lambda: _inp(GaussianCurrent(), GaussianCurrent.Params(std=-1.0)), r"std"),
    ("PoissonInput rate -5", lambda: _inp(PoissonInput(), PoissonInput.Params(rate_hz=-5.0)), r"rate"),
    ("PoissonSource rate x dt > 1", lambda: _sim(ns.Network([ns.Population("P", 3, PoissonSource(), PoissonSource.Params(20000.0))])),
     r"rate"),
    ("PoissonSource rate NaN", lambda: _sim(ns.Network([ns.Population("P", 3, PoissonSource(), PoissonSource.Params(NAN))])),
     r"rate"),
    ("Input onto an unknown population", lambda: ns.Network([ns.Population("E", 3, LIF())],
                                                            inputs=[ns.Input("d", "Q", ConstantCurrent(), ConstantCurrent.Params())]),
     r"'Q'"),
    # ---------------------------------------------------------------- simulate
    ("simulate duration -1", lambda: _sim(duration=-1.0), r"duration"),
    ("simulate duration NaN", lambda: _sim(duration=NAN), r"duration"),
    ("simulate duration not a multiple of dt", lambda: _sim(duration=1.05), r"duration"),
    ("simulate dt=0", lambda: _sim(dt=0.0), r"dt"),
    ("simulate dt='0.1'", lambda: _sim(dt="0.1"), r"dt"),
    ("simulate key='abc'", lambda: _sim(key="abc"), r"key"),
    ("simulate key=1.5", lambda: _sim(key=1.5), r"key"),
    ("simulate unknown engine", lambda: _sim(engine="gpu"), r"engine"),
    ("simulate chunk_steps=0", lambda: _sim(chunk_steps=0), r"chunk_steps"),
    ("simulate max_chunk_bytes NaN", lambda: _sim(max_chunk_bytes=NAN), r"max_chunk_bytes"),
    ("simulate max_host_bytes -1", lambda: _sim(max_host_bytes=-1.0), r"max_host_bytes"),
    ("simulate monitors not monitors", lambda: _sim(monitors=["E"]), r"monitors must be Spikes"),
    ("simulate Spikes of an unknown population", lambda: _sim(monitors=[ns.Spikes("Q")]), r"'Q'"),
    ("simulate Trace of an unknown variable", lambda: _sim(monitors=[ns.Trace("E", "u")]), r"'u'"),
    ("simulate Trace every=0", lambda: _sim(monitors=[ns.Trace("E", "v", every=0)]), r"every"),
    ("simulate Trace ids out of range", lambda: _sim(monitors=[ns.Trace("E", "v", ids=[20])]), r"ids"),
    ("simulate params NaN g_l", lambda: _with_neuron(g_l=NAN), r"g_l"),
    ("simulate params negative c_m", lambda: _with_neuron(c_m=-200.0), r"c_m"),
    ("simulate params negative synapse tau", lambda: _with_synapse(tau=-5.0), r"tau"),
    ("simulate params of another network", lambda: _sim(_net(), params=_pair().params()), r"params.neurons must name"),
    ("simulate state of another network", lambda: _sim(_net(), state=_sim(_pair()).state), r"state was made for another network"),
    ("simulate state at another dt", lambda: _sim(_net(), dt=0.05, state=_sim(_net()).state), r"state was made for dt = 0.1 ms"),
    ("simulate a memory guard overrun", lambda: ns.simulate(ns.Network([ns.Population("E", 4000, LIF())]), 1e7,
                                                            monitors=[ns.Trace("E", "v")], max_host_bytes=1e9,
                                                            progress=False), r"would hold .* on the host"),
    ("simulate runaway weights (NaN during the run)", lambda: _runaway(), r"variable \w+ became NaN or infinite in step \d+"),
    ("simulate stream_to a missing directory", lambda: _sim(monitors=[ns.Spikes("E")], stream_to="/nonexistent/x.h5"),
     r"stream_to"),
    ("jax.jit of simulate", lambda: __import__("jax").jit(lambda d: ns.simulate(_net(), 1.0, params=d, progress=False))(
        _net().params()), r"ns.run"),
    # ---------------------------------------------------------------- builders
    ("brunel2000 unknown regime", lambda: ns.builders.brunel2000("Z"), r"regime"),
    ("brunel2000 scale=0", lambda: ns.builders.brunel2000("C", scale=0.0), r"scale"),
    ("brunel2000 unknown connectivity", lambda: ns.builders.brunel2000("C", scale=0.05, connectivity="ring"), r"connectivity"),
    ("coba n=-5", lambda: ns.builders.coba(-5), r"n must be >= 5, got -5"),
    ("coba p=2", lambda: ns.builders.coba(400, p=2.0), r"p must be a probability in \[0, 1\], got 2.0"),
    ("esn spectral_radius NaN", lambda: ns.builders.esn(10, spectral_radius=NAN), r"spectral_radius"),
    ("esn density 0", lambda: ns.builders.esn(10, density=0.0), r"density"),
    ("esn leak 2", lambda: ns.builders.esn(10, leak=2.0), r"leak"),
    ("run_reservoir inputs of the wrong width", lambda: ns.builders.run_reservoir(ns.builders.esn(10, n_inputs=2),
                                                                                  np.zeros((5, 3))), r"inputs"),
    ("lsm grid with a zero", lambda: ns.builders.lsm((0, 3, 3)), r"grid"),
    ("set_input_raster of an unknown population", lambda: ns.builders.set_input_raster(
        ns.init_state(_net(), _net().params(), 0, 0.1), np.zeros((3, 2)), "in"), r"no population 'in'"),
    ("spike_raster with a negative duration", lambda: ns.builders.spike_raster([[1.0]], -5.0, 0.1), r"duration"),
    # ---------------------------------------------------------------- analysis
    ("bin_spikes bin_ms=0", lambda: ns.analysis.bin_spikes(np.array([1.0]), np.array([0]), 2, 0.0, 10.0, 0.0), r"bin_ms"),
    ("bin_spikes t_stop <= t_start", lambda: ns.analysis.bin_spikes(np.array([1.0]), np.array([0]), 2, 10.0, 5.0, 1.0),
     r"t_stop"),
    ("bin_spikes ids out of range", lambda: ns.analysis.bin_spikes(np.array([1.0]), np.array([5]), 2, 0.0, 10.0, 1.0), r"ids"),
    ("bin_spikes times and ids of different lengths", lambda: ns.analysis.bin_spikes(np.array([1.0, 2.0]), np.array([0]), 2,
                                                                                     0.0, 10.0, 1.0), r"times"),
    ("firing_rates n=0", lambda: ns.analysis.firing_rates(np.array([1.0]), np.array([0]), 0, 0.0, 10.0), r"n must be >= 1, got 0"),
    ("isi_cv min_spikes=1", lambda: ns.analysis.isi_cv(np.array([1.0]), np.array([0]), 2, min_spikes=1), r"min_spikes"),
    ("welch nperseg larger than the signal", lambda: ns.analysis.welch(np.zeros(10), 1000.0, 64), r"nperseg"),
    ("psd_peak fmin > fmax", lambda: ns.analysis.psd_peak(np.arange(10.0), np.ones(10), fmin=50.0, fmax=10.0), r"fmin"),
    ("memory_capacity k_max=0", lambda: ns.analysis.memory_capacity(np.zeros((100, 3)), np.zeros(100), 0), r"k_max"),
    ("nrmse shapes differ", lambda: ns.analysis.nrmse(np.zeros(5), np.zeros(6)), r"shape"),
    ("narma10 n_steps=0", lambda: ns.analysis.narma10(0), r"n_steps"),
    ("spectral_radius of a non-square matrix", lambda: ns.analysis.spectral_radius(np.zeros((3, 4))), r"square"),
    # ---------------------------------------------------------------- readouts and training
    ("ridge penalty -1", lambda: T.ridge(_states(), _states()[:, 0], penalty=-1.0), r"penalty"),
    ("ridge states and targets of different lengths", lambda: T.ridge(_states(), np.zeros(49)), r"targets"),
    ("ridge NaN in the states", lambda: T.ridge(np.full((50, 4), NAN), np.zeros(50)), r"states"),
    ("ridge_cv n_folds=0", lambda: T.ridge_cv(_states(), np.zeros(50), n_folds=0), r"n_folds"),
    ("rls_fit forgetting 0", lambda: T.rls_fit(_states(), np.zeros(50), forgetting=0.0), r"forgetting"),
    ("rls_fit forgetting -0.5", lambda: T.rls_fit(_states(), np.zeros(50), forgetting=-0.5), r"forgetting"),
    ("lms_fit learning_rate 10 (diverges)", lambda: T.lms_fit(_states() * 10, _states()[:, 0], learning_rate=10.0),
     r"learning_rate"),
    ("ridge_classifier labels out of range", lambda: T.ridge_classifier(_states(), np.full(50, 7), 3), r"labels"),
    ("train_test_split n_train too big", lambda: T.train_test_split(_states(), np.zeros(50), n_train=60), r"n_train"),
    ("bernoulli max_prob 2", lambda: T.bernoulli(__import__("jax").random.key(0), np.ones((2, 3)) * 0.5, 10, max_prob=2.0),
     r"max_prob"),
    ("bernoulli x outside [0, 1]", lambda: T.bernoulli(__import__("jax").random.key(0), np.ones((2, 3)) * 3, 10), r"x must be <= 1.0"),
    ("latency unknown kind", lambda: T.latency(np.ones((2, 3)) * 0.5, 10, kind="cubic"), r"kind"),
    ("SpikingLayer n=0", lambda: T.SpikingLayer(3, 0, rngs=_rngs()), r"n must be an integer >= 1, got 0"),
    ("SpikingLayer unknown recurrent", lambda: T.SpikingLayer(3, 4, recurrent="sparse", rngs=_rngs()), r"recurrent"),
    ("SpikingNetwork input of the wrong width", lambda: _layer_net()(np.zeros((5, 2, 4))), r"x_seq"),
    ("CrossEntropy unknown readout", lambda: T.CrossEntropy("median"), r"readout"),
    ("fit unknown gradient", lambda: T.fit(_layer_net(), np.zeros((4, 5, 3)), np.zeros(4, int), gradient="rtrl",
                                           batch_size=2, progress=False), r"gradient"),
    ("fit epochs 0", lambda: T.fit(_layer_net(), np.zeros((4, 5, 3)), np.zeros(4, int), epochs=0, progress=False), r"epochs"),
    ("fit NaN data", lambda: T.fit(_layer_net(), np.full((4, 5, 3), NAN), np.zeros(4, int), progress=False), r"NaN"),
    ("fit labels of the wrong length", lambda: T.fit(_layer_net(), np.zeros((4, 5, 3)), np.zeros(3, int), progress=False),
     r"labels"),
    # ---------------------------------------------------------------- plasticity
    ("stdp_pair tau_plus=0", lambda: ns.plasticity.stdp_pair(tau_plus=0.0), r"tau_plus"),
    ("stdp_pair w_min > w_max", lambda: ns.plasticity.stdp_pair(w_min=1.0, w_max=0.5), r"w_min"),
    ("stdp_pair unknown traces", lambda: ns.plasticity.stdp_pair(traces="some"), r"traces"),
    ("clip_weights w_min > w_max", lambda: ns.plasticity.clip_weights(2.0, 1.0), r"w_min"),
    ("a plastic JitConn projection", lambda: ns.Network([ns.Population("E", 4, LIF())], [ns.Projection(
        "EE", "E", "E", ns.events.JitConn(4, 4, 0.5, seed=1), 1.0, plasticity=ns.plasticity.stdp_pair())]),
     r"Projection 'EE': plasticity changes a weight per synapse"),
    ("reward_modulated without the modulator", lambda: _sim(_pair(plasticity=ns.plasticity.reward_modulated("dopamine"))),
     r"dopamine"),
    # ---------------------------------------------------------------- sweeps
    ("sweep an axis that names no leaf", lambda: ns.sweep(_net(), {"neurons.E.v_thr": [-50.0]}, 100.0, progress=False),
     r"v_thr"),
    ("sweep zipped axes of different lengths", lambda: ns.sweep(_net(), {"neurons.E.v_th": [-50.0, -52.0],
                                                                        "neurons.E.g_l": [10.0]}, 100.0, design="zip",
                                                                 progress=False), r"length"),
    ("sweep NaN values", lambda: ns.sweep(_net(), {"neurons.E.v_th": [NAN]}, 100.0, progress=False), r"v_th"),
    ("sweep unknown measure", lambda: ns.sweep(_net(), {"neurons.E.v_th": [-50.0]}, 100.0, measures=("entropy",),
                                               progress=False), r"entropy"),
    ("sweep seeds=0", lambda: ns.sweep(_net(), {"neurons.E.v_th": [-50.0]}, 100.0, seeds=0, progress=False), r"seeds"),
    # ---------------------------------------------------------------- neuron-parallel runs
    ("parallel with more devices than present", lambda: _sim(engine="parallel", devices=1000),
     r"devices=1000 asked, but only \d+"),
    ("parallel of an STP projection", lambda: _sim(_pair(stp=ns.synapses.TsodyksMarkram()), engine="parallel"),
     r"engine='parallel' cannot run this simulation: projection 'PE' has per-synapse dynamics \(stp\)"),
    ("parallel with a Trace monitor", lambda: _sim(engine="parallel", monitors=[ns.Trace("E", "v")]),
     r"monitor Trace is not recorded by the parallel engine"),
    ("devices without the parallel engine", lambda: _sim(devices=2), r"devices=2 is for engine='parallel'"),
    ("parallel with devices=0", lambda: _sim(engine="parallel", devices=0), r"devices"),
    ("fused spike_counts of a population the plan lacks",
     lambda: ns.network.fused.spike_counts(ns.network.fused.fused_plan(_net()), np.zeros((1, 1), np.uint32), "X"),
     r"spike_counts: the plan has no population 'X'"),
    # ---------------------------------------------------------------- checkpoints and formats
    ("load_checkpoint of a file that is not one", lambda: ns.load_checkpoint(__file__, _net()), r"not a neurosim checkpoint"),
    ("save_checkpoint of something that is not a state", lambda: ns.save_checkpoint("/tmp/x.npz", _net(), "state"), r"state must be a SimResult or a NetworkState"),
    ("to_nwb of something that is not a result", lambda: ns.io.to_nwb({"spikes": {}}, _net(), "/tmp/x.nwb"),
     r"result must be the SimResult"),
    ("read_stream of a missing file", lambda: ns.io.read_stream("/nonexistent/x.h5"), r"read_stream: no file '/nonexistent/x.h5'"),
    ("to_nir of a string", lambda: ns.io.to_nir("net", dt=1.0), r"to_nir takes"),
    ("network_to_nir with refractoriness", lambda: ns.io.network_to_nir(_net(), dt=0.1), r"t_ref"),
    # ---------------------------------------------------------------- damaged and mismatched files
    # each loader given each damaged file of tests/data/damaged (its make.py says what each is): the
    # error names the loader, the file and what is wrong with it
    *[(f"{who} of damaged/{name}", lambda load=load, name=name: load(__file__.replace("bad_inputs.py", f"data/damaged/{name}")),
       rf"{re.escape(who)}: '.*damaged/{name}' is not .* \({why}")
      for who, load, files in [
          ("load_checkpoint", lambda p: ns.load_checkpoint(p, _net()),
           {"truncated.npz": "a zip archive cut short", "no_keys.npz": "no __header__ entry",
            "bad_json.npz": "its header is not JSON", "bad_content.npz": r"its header's 'dt' is -1, where a positive number \(ms\) is expected"}),
          ("fit(resume=True)", lambda p: T.fit(_layer_net(), np.zeros((4, 5, 3)), np.zeros(4, int), batch_size=2,
                                               progress=False, checkpoint=p, resume=True),
           {"truncated.npz": "a zip archive cut short", "no_keys.npz": "no meta entry",
            "bad_json.npz": "its meta is not JSON", "bad_content.npz": "its meta's 'epoch' is 'three', where int is expected"}),
          ("sweep(resume=...)", lambda p: ns.sweep(_net(), {"neurons.E.v_th": [-50.0]}, 100.0, progress=False, resume=p),
           {"truncated.npz": "a zip archive cut short", "no_keys.npz": "no __design__ entry",
            "bad_json.npz": "its design is not JSON", "bad_content.npz": "its design is list JSON, not an object"}),
          ("read_stream", ns.io.read_stream,
           {"truncated.h5": "an HDF5 file cut short", "no_keys.h5": "its format attribute is None",
            "overclaim.h5": "its /spikes/E/t claims 25 rows but holds 20"}),
          ("read_nwb", ns.io.read_nwb,
           {"truncated.h5": "an HDF5 file cut short", "no_keys.h5": "pynwb cannot read it",
            "bad_json.nwb": "its notes field is not the JSON to_nwb writes"}),
          ("from_nir", lambda p: ns.io.from_nir(p, dt=1.0),
           {"truncated.h5": "an HDF5 file cut short", "no_keys.h5": "nir.read cannot read it"}),
          ("network_from_nir", lambda p: ns.io.network_from_nir(p, dt=0.1, n_steps=10), {"no_keys.h5": "nir.read"}),
          ("read_nmnist", ns.io.read_nmnist,
           {"text.txt": "39 bytes is not a whole number of 5-byte records", "random.bin": "512 bytes is not a whole number"}),
          ("read_aedat", ns.io.read_aedat,
           {"text.txt": "it does not start with the version line", "random.bin": "it does not start with the version line"}),
          ("read_shd", ns.io.read_shd,
           {"truncated.h5": "an HDF5 file cut short", "no_keys.h5": "it has no dataset spikes/times"})]
      for name, why in {"empty": "an empty file", "text.txt": "not (a zip archive|an HDF5 file): it holds text",
                        "random.bin": r"not (a zip archive|an HDF5 file)\)", **files}.items()],
    # ---------------------------------------------------------------- event data (neurosim.io.events)
    ("read_nmnist of a record beyond the 34 x 34 sensor", lambda: ns.io.read_nmnist(_nmnist([(1, 1, 1, 5), (40, 3, 0, 9)])),
     r"read_nmnist: '.*sample.bin' is not an N-MNIST event file of a 34 x 34 sensor \(record 1 \(bytes 5-9\) has x = 40, "
     r"y = 3"),
    ("read_nmnist of a file cut mid-record", lambda: ns.io.read_nmnist(_event_file("cut.bin", b"\x01" * 12)),
     r"read_nmnist: '.*cut.bin' is not .* \(12 bytes is not a whole number of 5-byte records: 2 records and 2 byte"),
    ("read_aedat of an AEDAT 2.0 file", lambda: ns.io.read_aedat(_aedat(version=b"#!AER-DAT2.0")),
     r"read_aedat: '.*gesture.aedat' is not an AEDAT 3.1 file \(it is AEDAT 2.0; this reader reads AEDAT 3.1"),
    ("read_aedat of a packet claiming more events than follow", lambda: ns.io.read_aedat(_aedat(number=9)),
     r"read_aedat: '.*gesture.aedat' is not an AEDAT 3.1 file \(packet 0 at byte 42 \(eventType 1\) claims 9 events of "
     r"8 bytes \(72 bytes\), but only 16 bytes follow"),
    ("read_aedat of an event beyond the 128 x 128 sensor", lambda: ns.io.read_aedat(_aedat(x=200)),
     r"read_aedat: '.*gesture.aedat' is not an AEDAT 3.1 file of a 128 x 128 sensor \(packet 0 at byte 42 \(eventType 1\), "
     r"event 1 \(byte 78\) has x = 200, y = 4"),
    ("read_shd of a file without labels", lambda: ns.io.read_shd(_shd(skip=("labels",))),
     r"read_shd: '.*shd.h5' is not an SHD file .*\(it has no dataset labels"),
    ("read_shd of a label out of range", lambda: ns.io.read_shd(_shd(labels=(0, 25))),
     r"read_shd: '.*shd.h5' is not an SHD file .*\(its labels\[1\] = 25 lies outside the classes 0-19"),
    ("open_shd, a sample with unit 700", lambda: ns.io.open_shd(_shd(units=((1, 700), (3,))))[0],
     r"open_shd: '.*shd.h5' is not an SHD file .*\(its sample 0, spike 1 is of unit 700, outside the 700 channels"),
    ("write_nmnist of a time past 23 bits", lambda: ns.io.write_nmnist("/tmp/x.bin", np.array(
        [(2 ** 23, 0, 0, 0)], ns.io.EVENTS)), r"write_nmnist: event 0 has t = 8388608, which the format cannot hold"),
    ("to_raster of an event beyond the sensor", lambda: ns.io.to_raster(_events(x=34), (34, 34), 1000),
     r"to_raster: event 0 has x = 34, y = 2, outside the 34 x 34 sensor"),
    ("to_raster dt_us=0", lambda: ns.io.to_raster(_events(), (34, 34), 0), r"to_raster: dt_us must be a positive finite"),
    ("to_raster channels='rgb'", lambda: ns.io.to_raster(_events(), (34, 34), 1000, channels="rgb"),
     r"to_raster: channels must be 'polarity' \(ON and OFF apart\) or 'merge', got 'rgb'"),
    ("to_raster of a plain array", lambda: ns.io.to_raster(np.zeros((3, 4)), (34, 34), 1000),
     r"to_raster: events must be a 1-D structured array with fields \(t, x, y, p\) or \(t, channel\)"),
    ("to_raster sensor_size (34,)", lambda: ns.io.to_raster(_events(), (34,), 1000),
     r"to_raster: camera events \(t, x, y, p\) need sensor_size=\(width, height\)"),
    ("denoise filter_time_us=-5", lambda: ns.io.denoise(_events(), -5), r"denoise: filter_time_us must be a positive"),
    ("time_surface tau_us=NaN", lambda: ns.io.time_surface(_events(), (34, 34), NAN, 10), r"time_surface: tau_us must be"),
    ("downsample factor=0", lambda: ns.io.downsample(_events(), (34, 34), 0), r"downsample: factor must be an integer >= 1"),
    ("crop a box beyond the sensor", lambda: ns.io.crop(_events(), (34, 34), (30, 30), (10, 10)),
     r"crop: origin must be 2 integer\(s\) >= 0 placing the box of size \(10, 10\) inside the sensor \(34, 34\)"),
    ("from_nir of a number", lambda: ns.io.from_nir(42, dt=1.0), r"from_nir takes a nir.NIRGraph or the path of a .nir file, got int"),
    ("simulate stream_to a file that exists", lambda: _sim(monitors=[ns.Spikes("E")], stream_to=__file__.replace(
        "bad_inputs.py", "data/damaged/text.txt")), r"stream_to: '.*text.txt' exists; .* stream_overwrite=True"),
    ("simulate stream_overwrite='yes'", lambda: _sim(monitors=[ns.Spikes("E")], stream_to="/tmp/x.h5", stream_overwrite="yes"),
     r"stream_overwrite must be True or False, got 'yes'"),
    ("simulate stream_overwrite=True without stream_to", lambda: _sim(stream_overwrite=True),
     r"stream_overwrite=True is for a file to stream to, but stream_to is None"),
    ("to_nwb spikes of a neuron beyond the population", lambda: ns.io.to_nwb(
        ns.SimResult(dt=0.1, t_start=0.0, duration=1.0, spikes={"E": (np.array([0.5]), np.array([12]))}), _net(), "/tmp/x.nwb"),
     r"to_nwb: result is not of this net: it has spikes of neuron 12 of population 'E', which has 10 neurons"),
    ("to_nwb spikes of a population the net lacks", lambda: ns.io.to_nwb(
        ns.SimResult(dt=0.1, t_start=0.0, duration=1.0, spikes={"I": (np.array([0.5]), np.array([1]))}), _net(), "/tmp/x.nwb"),
     r"to_nwb: result is not of this net: it has spikes of population 'I', which net lacks"),
    ("to_nwb a trace of a neuron beyond the population", lambda: ns.io.to_nwb(
        _sim(ns.Network([ns.Population("E", 20, LIF())]), monitors=[ns.Trace("E", "v", ids=[15])]), _net(), "/tmp/x.nwb"),
     r"to_nwb: result is not of this net: it has a trace \(E.v\) of neuron 15 of population 'E', which has 10"),
    # ---------------------------------------------------------------- values through side doors
    ("params: a rule's tau_plus = -20", lambda: _with_dynamics(_plastic(ns.plasticity.stdp_pair()), "plasticity",
                                                                tau_plus=-20.0),
     r"params.projections\['PE'\].dynamics\['plasticity'\].tau_plus must be > 0, got -20.0"),
    ("params: a NaN gliotransmission parameter", lambda: _with_dynamics(_glio(), "glio", o_g=NAN),
     r"dynamics\['glio'\]\[1\].o_g must be finite"),
    ("params: a NaN STP parameter", lambda: _with_dynamics(_pair(stp=ns.synapses.TsodyksMarkram()), "stp", U=NAN),
     r"dynamics\['stp'\].U must be finite"),
    ("params: initial weights 5x an additive rule's w_max", lambda: _sim(
        _plastic(_additive()), params=_plastic(_additive()).params().with_weights({"PE": 5.0})),
     r"params.projections\['PE'\].weights: 1 initial weight\(s\) lie outside the bounds \[0, 1\]"),
    ("a rule that makes conductance weights negative", lambda: _sim(
        _plastic(ns.plasticity.normalize_incoming(-1.0), "conductance"), duration=20.0),
     r"projection 'PE', variable weights fell below 0 in step \d+ .*: its synapses are conductances, which must stay >= 0"),
    ("LIF v_reset above v_th", lambda: ns.Population("E", 3, LIF(), LIF.Params(v_reset=-40.0, v_th=-50.0)),
     r"v_reset must be below v_th, got v_reset=-40.0 and v_th=-50.0"),
    ("params: v_reset above v_th", lambda: _with_neuron(v_reset=-40.0), r"v_reset must be below v_th"),
    ("Izhikevich c above v_peak", lambda: ns.Population("E", 3, Izhikevich(), Izhikevich.Params(c=40.0)),
     r"c must be below v_peak"),
    ("an Izhikevich current of -1e20 pA", lambda: _sim(ns.Network(
        [ns.Population("E", 10, Izhikevich())], inputs=[ns.Input("d", "E", ConstantCurrent(), ConstantCurrent.Params(-1e20))])),
     r"Input 'd': params.inputs\['d'\].amplitude = 1e\+20 pA would move the membrane of population 'E' by 1e\+19 mV "
     r"in one step of 0.1 ms.* within 1e\+05 pA"),
    ("a rate reservoir fed NaN input", lambda: ns.builders.run_reservoir(ns.builders.esn(10, n_inputs=1),
                                                                          np.full((5, 1), NAN)), r"inputs must be finite"),
    ("an E/I reservoir fed NaN input", lambda: ns.builders.run_ei_reservoir(ns.builders.ei_reservoir(20),
                                                                             np.full(5, NAN)), r"inputs must be finite"),
    ("ns.run with 10.5 steps", lambda: ns.run(_net(), _net().params(), ns.init_state(_net(), _net().params(), 0, 0.1), 10.5,
                                              0.1), r"n_steps must be an integer, got 10.5"),
    ("ns.run with params of another network", lambda: ns.run(_net(), _pair().params(), ns.init_state(_net(), _net().params(),
                                                                                                      0, 0.1), 10, 0.1),
     r"params.neurons must name \['E'\]"),
    ("an astrocyte state with negative calcium", lambda: _sim(_astro(), state=_state_with(_astro(), "A", c=-np.ones(3))),
     r"state.neurons\['A'\].c must be >= 0"),
    ("Euler at an unstable dt for astrocytes", lambda: ns.simulate(_astro(), 5000.0, 500.0, progress=False),
     r"dt = 500 ms is too long for integrator='euler': the astrocytes' fastest rate is"),
    ("an int state", lambda: _sim(_net(), state=_state_with(_net(), "E", v=np.zeros(10, np.int32))),
     r"state.neurons\['E'\].v must be floating point"),
    ("a seed given as a string", lambda: conn(5, 5, 0.5, seed="abc"), r"seed must be an integer >= 0 \(or a numpy Generator\), got 'abc'"),
    ("connectivity that cannot fit in memory", lambda: conn(10**6, 10**6, 0.5, seed=1),
     r"fixed_probability\(n_pre=1000000, n_post=1000000, p=0.5\): ~5e\+11 synapses needs ~.*, more than the"),
    ("fixed_indegree that cannot fit in memory", lambda: ns.events.fixed_indegree(10**6, 10**7, 10**5, seed=1),
     r"fixed_indegree\(n_pre=1000000, n_post=10000000, k=100000\)"),
    ("predict with states of the wrong width", lambda: T.predict(T.ridge(_states(), _states()[:, 0]), np.zeros((5, 3))),
     r"predict: states must have 4 features"),
    ("rls_update with x of the wrong length", lambda: T.rls_update(T.rls_init(4), np.zeros(3), 1.0),
     r"rls_update: x must have shape \(4,\)"),
    ("rls_update with too many targets", lambda: T.rls_update(T.rls_init(4, 2), np.zeros(4), np.zeros(3)),
     r"rls_update: target must hold 2 value"),
    ("lms_update with x of the wrong length", lambda: T.lms_update(T.lms_init(4), np.zeros(3), 1.0, learning_rate=0.1),
     r"lms_update: x must have shape \(4,\)"),
    ("fit with label -1", lambda: T.fit(_layer_net(), np.zeros((4, 5, 3)), np.array([0, 1, -1, 0]), batch_size=2,
                                        progress=False), r"fit: labels must lie in \[0, 2\) \(the model has 2 outputs\), got -1"),
    ("fit with validation labels out of range", lambda: T.fit(_layer_net(), np.zeros((4, 5, 3)), np.array([0, 1, 1, 0]),
                                                              batch_size=2, progress=False,
                                                              validation=(np.zeros((4, 5, 3)), np.array([5, 0, 0, 0]))),
     r"fit\(validation=...\): labels must lie in \[0, 2\)"),
    ("evaluate with a label past the last class", lambda: T.evaluate(_layer_net(), np.zeros((4, 5, 3)), np.array([0, 1, 3, 0])),
     r"evaluate: labels must lie in \[0, 2\)"),
    ("fit with float labels", lambda: T.fit(_layer_net(), np.zeros((4, 5, 3)), np.array([0.0, 1.0, 0.5, 0.0]), batch_size=2,
                                            progress=False), r"fit: labels must be integers"),
    ("fit into a checkpoint directory that does not exist", lambda: T.fit(
        _layer_net(), np.zeros((4, 5, 3)), np.array([0, 1, 1, 0]), batch_size=2, progress=False,
        checkpoint="/nonexistent/dir/c.npz"), r"checkpoint='/nonexistent/dir/c.npz': the directory '/nonexistent/dir' does not exist"),
    ("Trace of a projection's unknown synapse variable", lambda: _sim(_pair(), monitors=[ns.Trace("PE", "q")]),
     r"Trace: projection 'PE' has no synapse variable 'q'; it has \['g', 'x'\]"),
    ("Trace of a name that is neither", lambda: _sim(_pair(), monitors=[ns.Trace("IE", "g")]),
     r"Trace: no population or projection named 'IE'"),
    ("simulate duration '1 h'", lambda: _sim(duration="1 h"),
     r"duration: expected a time such as 1s, 500ms or 250 \(ms\), got '1 h'"),
    ("simulate duration '-5ms'", lambda: _sim(duration="-5ms"), r"duration: must be a positive time, got '-5ms' = -5 ms"),
    ("simulate duration '0 s'", lambda: _sim(duration="0 s"), r"duration: must be a positive time, got '0 s' = 0 ms"),
    ("simulate duration '1e400 s'", lambda: _sim(duration="1e400 s"), r"duration: must be a positive time, got '1e400 s' = inf ms"),
    ("simulate duration '0.05 ms' (under a step)", lambda: _sim(duration="0.05 ms"),
     r"duration = 0.05 ms is 0.5 steps of dt = 0.1 ms; expected at least 1 step"),
    ("simulate duration '0.15 ms' (not whole steps)", lambda: _sim(duration="0.15 ms"),
     r"duration = 0.15 ms is not a whole number of steps of dt = 0.1 ms"),
    ("simulate duration b'1s'", lambda: _sim(duration=b"1s"), r"duration must be a positive finite number, got b'1s'"),
    ("simulate max_rate_hz=0", lambda: _sim(max_rate_hz=0.0), r"max_rate_hz must be a positive finite number, got 0.0"),
    ("simulate max_rate_hz NaN", lambda: _sim(monitors=[ns.Spikes("E")], max_rate_hz=NAN), r"max_rate_hz must be a positive finite"),
    ("simulate spill_to=5", lambda: _sim(monitors=[ns.Spikes("E")], spill_to=5), r"spill_to must be None, True"),
    ("simulate spill_to a missing directory", lambda: _sim(monitors=[ns.Spikes("E")], spill_to="/nonexistent/x.h5"),
     r"spill_to: the directory '/nonexistent' does not exist"),
    ("simulate spill_to and stream_to", lambda: _sim(monitors=[ns.Spikes("E")], spill_to=True, stream_to="/tmp/x.h5"),
     r"give one of the two"),
    ("simulate a spike monitor over the memory guard", lambda: ns.simulate(
        ns.Network([ns.Population("E", 4000, LIF())]), 1e6, monitors=[ns.Spikes("E")], max_host_bytes=1e9, progress=False),
     r"would hold 3.2 GB on the host .*max_rate_hz = 100 Hz.*spill_to="),
    ("SpikeEvents of arrays of two lengths", lambda: ns.network.SpikeEvents([1, 2], [1], 0.1),
     r"SpikeEvents: steps and ids must be 1-D arrays of one length"),
    # ---------------------------------------------------------------- per-synapse delays
    ("delay_ms array of the wrong length", lambda: _pair(delay_ms=np.ones(3)),
     r"Projection 'PE': delay_ms must be one number, or one per synapse: shape \(\d+,\) in CSR order, got shape \(3,\)"),
    ("delay_ms array with a NaN", lambda: _pair(delay_ms=np.r_[np.nan, np.ones(conn(5, 10, 0.5, seed=1).nnz - 1)]),
     r"delay_ms must be positive and finite at every synapse; delay_ms\[0\] = nan"),
    ("delay_ms array with a negative delay", lambda: _pair(delay_ms=np.r_[np.ones(2), -1.0,
                                                                          np.ones(conn(5, 10, 0.5, seed=1).nnz - 3)]),
     r"delay_ms\[2\] = -1.0"),
    ("delay_ms array not in whole steps", lambda: _sim(_pair(delay_ms=np.r_[0.15, np.ones(conn(5, 10, 0.5, seed=1).nnz - 1)])),
     r"Projection 'PE': delay_ms\[0\] = 0.15 ms is not a whole number of steps of dt = 0.1 ms"),
    ("delay_ms array below one step", lambda: _sim(_pair(delay_ms=np.r_[0.04, np.ones(conn(5, 10, 0.5, seed=1).nnz - 1)]),
                                                   dt=0.1),
     r"delay_ms\[0\] = 0.04 ms is shorter than one step of dt = 0.1 ms"),
    ("delay_ms array on a JitConn", lambda: ns.Projection("X", "E", "E", ns.events.JitConn(4, 4, 0.5, seed=1), 1.0,
                                                          delay_ms=np.ones(3)),
     r"delay_ms gives one delay per synapse, which a JitConn"),
    ("per-synapse delays with a rule coupling a neuron's synapses", lambda: ns.Projection(
        "PE", "P", "E", conn(20, 10, 0.5, seed=1), 0.5,
        plasticity=ns.plasticity.chain(ns.plasticity.stdp_pair(), ns.plasticity.normalize_incoming(5.0)),
        delay_ms=np.ones(conn(20, 10, 0.5, seed=1).nnz)),
     r"Projection 'PE': chain\(stdp_pair.*normalize_incoming\(5\)\) couples the synapses of a neuron, which "
     r"per-synapse delays split into one group per delay value"),
    ("per-synapse delays with a mechanism parameter per neuron", lambda: ns.Projection(
        "PE", "P", "E", conn(20, 10, 0.5, seed=1), 0.5, dynamics=_PerNeuronParams(),
        delay_ms=np.ones(conn(20, 10, 0.5, seed=1).nnz)),
     r"Projection 'PE': per_neuron\.g: with per-synapse delays a mechanism's parameter must be a scalar or one "
     r"value per synapse, shape \(\d+,\), got shape \(20,\)"),
    ("a ring of delays larger than memory", lambda: _sim(ns.Network(
        [ns.Population("P", 5, PoissonSource()), ns.Population("E", 10**6, LIF())],
        [ns.Projection("PE", "P", "E", conn(5, 10**6, 1e-5, seed=1), 1.0,
                       delay_ms=np.full(conn(5, 10**6, 1e-5, seed=1).nnz, 1e7))])),
     r"the ring of per-synapse delays up to 100000000 steps onto 1000000 neurons .* needs ~.*, more than the"),
    ("normal_delays with a negative std", lambda: ns.events.delays.normal_delays(10, 1.5, -0.5, 0.1),
     r"std_ms must be >= 0, got -0.5"),
    ("psc_per_psp with dt 0", lambda: psc_per_psp(dt=0.0), r"dt must be a positive finite number, got 0.0"),
    ("psc_per_psp with equal time constants", lambda: psc_per_psp(tau_m=0.5, tau_syn=0.5),
     r"tau_m and tau_syn must differ .* got both 0.5 ms"),
    ("the scalar delay 0", lambda: _pair(delay_ms=0.0), r"Projection 'PE': delay_ms must be a positive finite number"),
    ("per-synapse delays with a backend", lambda: _pair(delay_ms=np.ones(conn(5, 10, 0.5, seed=1).nnz), backend="reference"),
     r"backend='reference' chooses the one-delay event product"),
    ("a state with another network's per-synapse delays", lambda: _sim(
        _pair(delay_ms=np.full(conn(5, 10, 0.5, seed=1).nnz, 0.5)),
        state=ns.init_state(_pair(delay_ms=np.full(conn(5, 10, 0.5, seed=1).nnz, 0.1)),
                            _pair(delay_ms=np.full(conn(5, 10, 0.5, seed=1).nnz, 0.1)).params(), 0, 0.1)),
     r"projection 'PE''s per-synapse delays or connectivity differ from this network's"),
    ("a state with another one-delay depth", lambda: _sim(_pair(delay_ms=0.5), state=ns.init_state(
        _pair(delay_ms=0.3), _pair(delay_ms=0.3).params(), 0, 0.1)),
     r"the delay buffer of projection 'PE' has shape \(2, 5\), this network's \(delay - 1, n_pre\) is \(4, 5\)"),
    ("learnable delays without initial delays", lambda: _pair(max_delay_ms=1.0),
     r"Projection 'PE': max_delay_ms makes the delays learnable; give their initial values too"),
    ("an initial learnable delay above max_delay_ms", lambda: _pair(delay_ms=1.5, max_delay_ms=1.0),
     r"the initial learnable delays must be positive, finite and at most max_delay_ms = 1.0; delay_ms\[0\] = 1.5"),
    ("learnable delays with plasticity", lambda: _pair(delay_ms=0.5, max_delay_ms=1.0, plasticity=ns.plasticity.stdp_pair()),
     r"learnable delays \(max_delay_ms\) with per-synapse dynamics \(long-term plasticity\) are not supported yet"),
    ("an initial learnable delay below one step", lambda: _sim(_pair(delay_ms=0.05, max_delay_ms=1.0)),
     r"Projection 'PE': the initial learnable delay delay_ms\[0\] = 0.05 ms is shorter than one step of dt = 0.1 ms"),
    ("max_delay_ms of one step", lambda: _sim(_pair(delay_ms=0.1, max_delay_ms=0.1)),
     r"Projection 'PE': max_delay_ms = 0.1 ms is 1 steps of dt = 0.1 ms; expected at least 2 step\(s\)"),
    ("max_delay_ms not whole steps", lambda: _sim(_pair(delay_ms=0.1, max_delay_ms=0.55)),
     r"Projection 'PE': max_delay_ms = 0.55 ms is not a whole number of steps of dt = 0.1 ms"),
    ("learnable delays of the wrong shape", lambda: _sim(_pair(delay_ms=0.5, max_delay_ms=1.0), params=_pair(
        delay_ms=0.5, max_delay_ms=1.0).params().with_delays({"PE": jnp.ones(3)})),
     r"params.projections\['PE'\].delays must have shape \(\d+,\) \(one delay per synapse, ms\), got \(3,\)"),
    ("a NaN learnable delay", lambda: _sim(_pair(delay_ms=0.5, max_delay_ms=1.0), params=_pair(
        delay_ms=0.5, max_delay_ms=1.0).params().with_delays({"PE": jnp.full(conn(5, 10, 0.5, seed=1).nnz, jnp.nan)})),
     r"params.projections\['PE'\].delays must be finite; delays\[0\] = nan"),
    ("with_delays of a projection that does not learn them", lambda: _pair().params().with_delays({"PE": jnp.ones(3)}),
     r"with_delays: no projection that learns its delays is named \['PE'\]"),
    ("learnable delays on the native engine", lambda: _sim(_pair(delay_ms=0.5, max_delay_ms=1.0), engine="native"),
     r"projection 'PE' learns its delays \(max_delay_ms = 1.0; .*only the scan engine runs them"),
    # ---------------------------------------------------------------- plots, docs and the public API
    ("raster of times and ids of different lengths", lambda: ns.plot.raster(np.zeros(3), np.zeros(2)), r"times and ids"),
    ("raster max_points=0", lambda: ns.plot.raster(np.zeros(3), np.zeros(3), max_points=0), r"max_points"),
    ("voltage_traces ids of the wrong length", lambda: ns.plot.voltage_traces(np.arange(4.0), np.zeros((4, 2)), ids=[1]),
     r"ids must have one entry per column"),
    ("psd_plot of different shapes", lambda: ns.plot.psd_plot(np.arange(4.0), np.ones(3)), r"freqs and psd"),
    ("psd_plot fmax=0", lambda: ns.plot.psd_plot(np.arange(4.0), np.ones(4), fmax=0.0), r"fmax"),
    ("raster_with_rate of no population", lambda: ns.plot.raster_with_rate({}, 0.0, 1.0, 0.1), r"times_by_pop"),
    ("raster_with_rate transient_ms < 0", lambda: ns.plot.raster_with_rate(
        {"E": (np.zeros(1), np.zeros(1, int), 1)}, 0.0, 10.0, 1.0, transient_ms=-5.0), r"transient_ms must be >= 0"),
    ("raster_with_rate transient_ms NaN", lambda: ns.plot.raster_with_rate(
        {"E": (np.zeros(1), np.zeros(1, int), 1)}, 0.0, 10.0, 1.0, transient_ms=NAN), r"transient_ms"),
    # (a two-instance SweepResult made by hand, without a run: its heat map is what is tried)
    ("heatmap labels naming no axis", lambda: ns.sweeps.SweepResult(
        ns.sweeps.Design(("neurons.E.v_th", "inputs.d.rate_hz"), {}, {"neurons.E.v_th": np.arange(2.0),
                         "inputs.d.rate_hz": np.arange(2.0)}, np.zeros(2, int)),
        {"E.rate": np.ones(2)}, {}, ("E",), 0.1, 10.0, 1.0, 2, 1).heatmap(
        "E.rate", "neurons.E.v_th", "inputs.d.rate_hz", labels={"neurons.E.v_thr": "x (mV)"}),
     r"labels names \['neurons\.E\.v_thr'\], which is neither"),
    ("heatmap labels not a dict", lambda: ns.sweeps.SweepResult(
        ns.sweeps.Design(("neurons.E.v_th", "inputs.d.rate_hz"), {}, {"neurons.E.v_th": np.arange(2.0),
                         "inputs.d.rate_hz": np.arange(2.0)}, np.zeros(2, int)),
        {"E.rate": np.ones(2)}, {}, ("E",), 0.1, 10.0, 1.0, 2, 1).heatmap(
        "E.rate", "neurons.E.v_th", "inputs.d.rate_hz", labels=[("E.rate", "r")]), r"labels must be a dict"),
    ("heatmap of a measure not measured", lambda: ns.sweeps.SweepResult(
        ns.sweeps.Design(("neurons.E.v_th", "inputs.d.rate_hz"), {}, {"neurons.E.v_th": np.arange(2.0),
                         "inputs.d.rate_hz": np.arange(2.0)}, np.zeros(2, int)),
        {"E.rate": np.ones(2)}, {}, ("E",), 0.1, 10.0, 1.0, 2, 1).heatmap(
        "E.rates", "neurons.E.v_th", "inputs.d.rate_hz"), r"no measure 'E.rates'"),
    ("heatmap over an axis not swept", lambda: ns.sweeps.SweepResult(
        ns.sweeps.Design(("neurons.E.v_th", "inputs.d.rate_hz"), {}, {"neurons.E.v_th": np.arange(2.0),
                         "inputs.d.rate_hz": np.arange(2.0)}, np.zeros(2, int)),
        {"E.rate": np.ones(2)}, {}, ("E",), 0.1, 10.0, 1.0, 2, 1).heatmap(
        "E.rate", "neurons.E.v_th", "neurons.E.g_l"), r"'neurons.E.g_l' is not an axis"),
    ("demo on a device that is not one", lambda: __import__("neurosim.demo").demo.run_coba(n=20, device="tpu"),
     r"device must be 'cpu' or 'gpu'"),
    # -- models from equations (ns.equations)
    ("equation adding a voltage to a current", lambda: ns.equations.Neuron(
        "dv/dt = (g*(E - v) + v)/C : volt", params=dict(g="1*nS", E="0*mV", C="1*pF")),
     r"dv/dt = \(g\*\(E - v\) \+ v\)/C.*different units"),
    ("equation with an undeclared name", lambda: ns.equations.Neuron("dv/dt = -v/tau : volt"),
     r"unknown identifier 'tau'"),
    ("equation parameter with the wrong unit", lambda: ns.equations.Neuron(
        "dv/dt = -v/tau : volt\ntau : second", params=dict(tau="5*mV")), r"params\['tau'\] = '5\*mV' has units volt"),
    ("equation solved 'exact' that is not linear", lambda: ns.equations.Neuron(
        "dv/dt = -v*v/(tau*mV) : volt", params=dict(tau="5*ms"), method="exact"), r"'exact' needs linear equations"),
    ("equation with a function the lowering has not", lambda: ns.equations.Neuron(
        "dv/dt = -gamma(v/mV)*mV/ms : volt"), r"unknown function 'gamma'"),
    ("equation string that tries to run code", lambda: ns.equations.Neuron(
        "dv/dt = __import__('os').getcwd()*mV/ms : volt"), r"not allowed|unknown function '__import__'"),
    ("equation synapse whose event sets a variable", lambda: ns.equations.Synapse(
        "dg/dt = -g/tau : siemens", on_pre="g = w", current_expr="g*(E - v_post)", params=dict(tau="5*ms", E="0*mV")),
     r"on_pre 'g = w'.*can only add"),
    ("equation synapse current not in amp", lambda: ns.equations.Synapse(
        "dg/dt = -g/tau : siemens", on_pre="g += w", current_expr="g", params=dict(tau="5*ms")),
     r"current_expr 'g' has units siemens, expected amp"),
    ("equation rule that transmits", lambda: ns.equations.rule(
        "dx/dt = -x/tau : 1 (event-driven)", on_pre="ge += w; x += 1", on_post="w += x", params=dict(tau="20*ms")),
     r"on_pre 'ge \+= w' changes 'ge'.*projection's synapse"),
    ("negative weights on an equation conductance synapse", lambda: _pair(-1.0, synapse=ns.equations.Synapse(
        "dg/dt = -g/tau : siemens", on_pre="g += w", current_expr="g*(E - v_post)", params=dict(tau="5*ms", E="0*mV"))),
     r"weights.*>= 0|must be >= 0|below 0|negative"),
    ("equation model named with a space", lambda: ns.equations.Neuron(
        "dv/dt = -v/tau : volt", params=dict(tau="10*ms"), name="my neuron"), r"name must be an identifier"),
    ("equation params as a list of pairs", lambda: ns.equations.Neuron(
        "dv/dt = -v/tau : volt", params=[("tau", "10*ms")]), r"params must be a dict"),
    ("equation parameter that overflows", lambda: ns.equations.Neuron(
        "dv/dt = -v/tau : volt", params=dict(tau="1e400*ms")), r"not finite"),
    ("equation rule drawing random initial values", lambda: ns.equations.rule(
        "dx/dt = -x/tau : 1 (event-driven)", on_pre="x += 1", params=dict(tau="20*ms"), initial=dict(x="rand()")),
     r"rand\(\) and randn\(\) are not available"),
    ("equation neuron params of the wrong shape", lambda: ns.Population("E", 3, ns.equations.Neuron(
        "dv/dt = -v/tau : volt", params=dict(tau=[5.0, 6.0]))), r"tau"),
]


def classify(call, expected) -> tuple[str, str]:
    """``("clear" | "unclear" | "silent", what happened)`` for one case."""
    try:
        out = call()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:   # noqa: BLE001 - every answer is classified
        message = f"{type(e).__name__}: {e}"
        clear = isinstance(e, (ValueError, TypeError, MemoryError, FloatingPointError)) and re.search(expected, str(e))
        return ("clear" if clear else "unclear"), message.splitlines()[0][:300]
    return "silent", f"returned {type(out).__name__}"


def main() -> int:
    counts = {"clear": 0, "unclear": 0, "silent": 0}
    for label, call, expected in CASES:
        kind, what = classify(call, expected)
        counts[kind] += 1
        if kind != "clear":
            print(f"{kind:8s} {label}: {what}")
    print(f"tried {len(CASES)}: clear {counts['clear']}, unclear {counts['unclear']}, silent {counts['silent']}")
    return 0 if counts["clear"] == len(CASES) else 1


if __name__ == "__main__":
    sys.exit(main())
