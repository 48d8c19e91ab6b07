"""One conductance-based LIF neuron learning its excitatory inputs by additive pair STDP: the
network of Song, Miller & Abbott (2000), and the shorter variant of Brian2's STDP example.

**song2000** (Song, Miller & Abbott 2000, Nat. Neurosci. 3:919): ``n_exc`` Poisson inputs of
``rate_hz`` through plastic excitatory conductances and ``n_inh`` Poisson inputs at 10 Hz
through fixed inhibitory ones onto one neuron::

    tau_m dV/dt = V_rest - V + g_ex (E_ex - V) + g_in (E_in - V)      (g in units of g_L)
    tau_m = 20 ms, V_rest = -70 mV, V_th = -54 mV, V_reset = -60 mV, E_ex = 0, E_in = -70 mV
    tau_ex = tau_in = 5 ms; an excitatory spike of synapse a adds gbar_a, an inhibitory one 0.05
    gbar_a in [0, g_max], g_max = 0.015; STDP: A_+ = 0.005 g_max, A_- = 1.05 A_+,
    tau_+ = tau_- = 20 ms, all-to-all traces, additive, clipped to [0, g_max]

**brian_stdp** (Brian2's ``examples/synapses/STDP.py``, "adapted from Song, Miller and Abbott
2000"): 1000 Poisson inputs at 15 Hz, no inhibition, tau_m = 10 ms, E_L = -74 mV,
V_th = -54 mV, V_reset = -60 mV, E_e = 0, tau_e = 5 ms, g_max = 0.01, A_+ = 0.01 g_max,
A_- = 1.05 A_+, tau_+ = tau_- = 20 ms.

Units here: conductances in nS with g_L = 10 nS (so 0.015 g_L = 0.15 nS); C_m = tau_m g_L; no
refractory period; initial weights uniform in [0, g_max] (seeded). neurosim integrates the leak
exactly (the references use Euler), and the weight update of a step is clipped once (Brian2
clips after each of its pre and post events); both are below the run-to-run spread.
"""
from __future__ import annotations

import numpy as np

from .. import _checks
from .. import plasticity as pl
from ..events import all_to_all
from ..inputs import PoissonSource
from ..network import Network, Population, Projection
from ..neurons import LIF, LIFParams
from ..synapses import Synapse, SynapseParams

G_L = 10.0   # nS


def _learner(name_in, n_in, rate_hz, lif, g_max, a_plus_rel, seed, traces="all_to_all"):
    w0 = np.random.default_rng(_checks.seed("seed", seed)).uniform(0.0, g_max * G_L, n_in).astype(np.float32)
    rule = pl.chain(pl.stdp_pair(a_plus_rel * g_max * G_L, 1.05 * a_plus_rel * g_max * G_L, 20.0, 20.0,
                                 w_max=g_max * G_L, traces=traces),
                    pl.clip_weights(0.0, g_max * G_L))
    src = Population(name_in, n_in, PoissonSource(), PoissonSource.Params(rate_hz))
    cell = Population("neuron", 1, LIF(v_init=lif.v_rest), lif)
    proj = Projection("stdp", name_in, "neuron", all_to_all(n_in, 1), w0, Synapse("exponential", "conductance"),
                      SynapseParams(tau=5.0, e_rev=0.0), plasticity=rule)
    return src, cell, proj


def song2000(rate_hz: float = 10.0, *, n_exc: int = 1000, n_inh: int = 200, g_max: float = 0.015, seed: int = 0,
             traces: str = "all_to_all") -> Network:
    """The Song, Miller & Abbott (2000) neuron (module docstring); the plastic projection is
    ``"stdp"`` (weights in nS; ``g_max`` in units of g_L)."""
    lif = LIFParams(v_rest=-70.0, v_reset=-60.0, v_th=-54.0, c_m=20.0 * G_L, g_l=G_L, t_ref=0.0)
    src, cell, proj = _learner("exc", n_exc, rate_hz, lif, g_max, 0.005, seed, traces)
    pops, projs = [src, cell], [proj]
    if n_inh:
        inh = Population("inh", n_inh, PoissonSource(), PoissonSource.Params(10.0))
        pops.insert(1, inh)
        projs.append(Projection("inh_syn", "inh", "neuron", all_to_all(n_inh, 1), 0.05 * G_L,
                                Synapse("exponential", "conductance"), SynapseParams(tau=5.0, e_rev=-70.0)))
    return Network(pops, projs)


def brian_stdp(*, n_in: int = 1000, rate_hz: float = 15.0, g_max: float = 0.01, seed: int = 0) -> Network:
    """Brian2's STDP example network (module docstring); the plastic projection is ``"stdp"``."""
    lif = LIFParams(v_rest=-74.0, v_reset=-60.0, v_th=-54.0, c_m=10.0 * G_L, g_l=G_L, t_ref=0.0)
    src, cell, proj = _learner("inputs", n_in, rate_hz, lif, g_max, 0.01, seed)
    return Network([src, cell], [proj])
