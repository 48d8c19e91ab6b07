"""The networks of the neuron-parallel tests (tests/test_parallel.py), and the script that runs
them on several host devices.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/parallel_cases.py OUT.npz

writes, for every case, each population's spikes and the final state's leaves of
``simulate(..., engine="parallel")``; the test compares them with ``engine="scan"`` in its own
(one-device) process.
"""
import sys

import numpy as np

import neurosim as ns
from neurosim.events import fixed_probability
from neurosim.inputs import ConstantCurrent, GaussianCurrent, PoissonInput, PoissonSource, SpikeTimes, UniformCurrent
from neurosim.neurons import LIF, Izhikevich, LIFParams
from neurosim.synapses import Synapse, SynapseParams


def mixed():
    """Every kind the parallel engine takes: two spike sources (Poisson, given times), LIF and
    Izhikevich populations, delays of 3, 4 and 5 steps (a window of 3, so the 4- and 5-step
    delays read the buffers across windows), a recurrent projection from a slice, per-synapse
    and scalar weights, current and conductance synapses, a constant current per neuron and
    Poisson input trains."""
    rng = np.random.default_rng(5)
    kick_t = rng.uniform(0.0, 60.0, 40)
    kick_i = rng.integers(0, 8, 40)
    pops = [
        ns.Population("src", 64, PoissonSource(), PoissonSource.Params(rate_hz=40.0)),
        ns.Population("kick", 8, SpikeTimes(kick_t, kick_i)),
        ns.Population("A", 96, LIF(v_init=ns.Uniform(-65.0, -52.0)),
                      LIFParams(v_rest=-65.0, v_reset=-65.0, v_th=-50.0, c_m=200.0, g_l=10.0, t_ref=2.0)),
        ns.Population("B", 32, Izhikevich()),
    ]
    c_src = fixed_probability(64, 96, 0.2, seed=1)
    c_rec = fixed_probability(48, 96, 0.1, seed=2)
    c_ab = fixed_probability(96, 32, 0.15, seed=3)
    projs = [
        ns.Projection("src_A", "src", "A", c_src, rng.uniform(20.0, 60.0, c_src.nnz), Synapse("exponential", "current"),
                      SynapseParams(tau=5.0), delay_ms=0.3),
        ns.Projection("kick_A", "kick", "A", fixed_probability(8, 96, 0.5, seed=4), 4.0,
                      Synapse("exponential", "conductance"), SynapseParams(tau=3.0, e_rev=0.0), delay_ms=0.4),
        ns.Projection("rec", ("A", 0, 48), "A", c_rec, 30.0, Synapse("exponential", "current"),
                      SynapseParams(tau=5.0), delay_ms=0.5),
        ns.Projection("A_B", "A", "B", c_ab, rng.uniform(4.0, 8.0, c_ab.nnz), Synapse("delta"), delay_ms=0.3),
    ]
    inputs = [
        ns.Input("bias", "A", ConstantCurrent(), ConstantCurrent.Params(rng.uniform(100.0, 140.0, 96))),
        ns.Input("noise", "B", PoissonInput(n_sources=20, synapse=Synapse("delta")),
                 PoissonInput.Params(rate_hz=30.0, weight=6.0)),
        ns.Input("bias_B", "B", ConstantCurrent(), ConstantCurrent.Params(5.0)),
        # counter-based noise: a block draws what the whole draws there
        ns.Input("gauss_B", "B", GaussianCurrent(), GaussianCurrent.Params(0.0, 3.0)),
        ns.Input("unif_A", "A", UniformCurrent(), UniformCurrent.Params(-20.0, 20.0)),
    ]
    return ns.Network(pops, projs, inputs)


def derived():
    """Models that declare nothing about blocks: a MultiRate-wrapped LIF (its step counter shared
    by every block) driving plain LIF neurons, with uniform noise."""
    from neurosim.neurons import LIF, MultiRate

    pops = [ns.Population("slow", 16, MultiRate(LIF(v_init=ns.Uniform(-60.0, -50.0)), 2)),
            ns.Population("fast", 16, LIF(v_init=ns.Uniform(-60.0, -50.0)))]
    projs = [ns.Projection("sf", "slow", "fast", fixed_probability(16, 16, 0.5, seed=7), 60.0,
                           Synapse("exponential", "current"), SynapseParams(tau=5.0), delay_ms=0.4)]
    inputs = [ns.Input("drive", "slow", ConstantCurrent(), ConstantCurrent.Params(np.linspace(250.0, 400.0, 16))),
              ns.Input("noise", "fast", UniformCurrent(), UniformCurrent.Params(150.0, 350.0))]
    return ns.Network(pops, projs, inputs)


def cases():
    """name -> (network, duration ms, simulate keyword arguments, devices)."""
    coba = ns.builders.coba(2000, seed=1)
    brunel = ns.builders.brunel2000("C", scale=0.2, seed=2)
    return {
        "coba": (coba, 100.0, {"key": 4}, 4),
        # 1510 steps in chunks of 26 windows of 15 steps (390): a tail of 22 windows and one of 10 steps
        "brunel": (brunel, 151.0, {"key": 5, "chunk_steps": 400}, 4),
        "brunel_2": (brunel, 151.0, {"key": 5}, 2),
        "mixed": (mixed(), 60.0, {"key": 6, "chunk_steps": 100}, 4),
        "derived": (derived(), 200.0, {"key": 7}, 4),
    }


def flat_state(state):
    """The state's leaves as numpy arrays (the key as its data)."""
    import jax
    return [np.asarray(x) for x in jax.tree.leaves(state._replace(key=jax.random.key_data(state.key)))]


def run(name, engine, devices=None, continued=False):
    """``(spikes per population, final state leaves)``; ``spikes["rate"]`` is the last
    population's Rate monitor (times, Hz); ``continued``: the run in three pieces, each
    continuing the last one's state."""
    net, duration, kw, n_dev = cases()[name]
    extra = {"devices": devices or n_dev} if engine == "parallel" else {}
    mons = [ns.Spikes(p.name) for p in net.populations]
    if not continued:
        res = ns.simulate(net, duration, engine=engine, monitors=mons + [ns.Rate(net.populations[-1].name)],
                          progress=False, **kw, **extra)
        spikes = {p: res.spikes[p] for p in res.spikes}
        spikes["rate"] = res.rates[net.populations[-1].name]
        return spikes, flat_state(res.state)
    kw = {k: v for k, v in kw.items() if k != "key"}
    state, spikes = None, {p.name: ([], []) for p in net.populations}
    for i, piece in enumerate((duration / 3, duration / 6, duration / 2)):
        res = ns.simulate(net, piece, engine=engine, monitors=mons, progress=False, state=state,
                          key=cases()[name][2]["key"], **kw, **extra)
        state = res.state
        for p in spikes:
            spikes[p][0].append(res.spikes[p][0])
            spikes[p][1].append(res.spikes[p][1])
    return {p: (np.concatenate(t), np.concatenate(i)) for p, (t, i) in spikes.items()}, flat_state(state)


if __name__ == "__main__":
    out = {}
    for name in cases():
        for continued in (False, True) if name == "mixed" else (False,):
            spikes, leaves = run(name, "parallel", continued=continued)
            tag = f"{name}{'_continued' if continued else ''}"
            for p, (t, i) in spikes.items():
                out[f"{tag}/spikes/{p}/t"], out[f"{tag}/spikes/{p}/i"] = t, i
            for k, x in enumerate(leaves):
                out[f"{tag}/state/{k}"] = x
    np.savez(sys.argv[1], **out)
    print("cases", len(cases()))
