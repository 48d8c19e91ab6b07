"""Vogels & Abbott (2005) / Brette et al. (2007) benchmark networks: COBA and CUBA, presets of
the general E/I builder :func:`neurosim.builders.balanced.ei_network`.

N LIF neurons (80 % excitatory, 20 % inhibitory), each ordered pair connected with probability
p (autapses allowed, as in Brian2), exponential synapses (tau_e = 5 ms, tau_i = 10 ms), one
population so that each synapse type is a single projection from a slice of it
(``FixedProbability(p)``: E projection from ``seed``, I projection from ``seed + 1_000_003``).

COBA (benchmark 1):  C dV/dt = g_L (E_L - V) + g_e (E_e - V) + g_i (E_i - V) + I_bg
    E_L = -60 mV, E_e = 0 mV, E_i = -80 mV, g_L = 10 nS, C = 200 pF, w_e = 6 nS, w_i = 67 nS
CUBA (benchmark 2):  C dV/dt = g_L (E_L - V) + I_e + I_i
    E_L = -49 mV, w_e = 16.2 pA (1.62 mV), w_i = -90 pA (-9 mV)
Both: V_th = -50 mV, V_reset = -60 mV, 5 ms refractory, V(0) ~ U(-60, -50) mV.

``background_pa``: the constant drive of the speed benchmark (200 pA = 20 mV, as BrainPy's
and the peers' COBA benchmark use). ``kick``: how self-sustained COBA activity is started
without background: ``"conductance"`` draws g_e(0) ~ N(4, 1.5) g_L and g_i(0) ~ N(20, 12) g_L
(Brian 1 style); ``"poisson"`` is NEST's stimulus (``brette_et_al_2007/coba.py``): the first 50
excitatory neurons each receive an independent 300 Hz Poisson train during t in [1, 51) ms through
their own 6 nS exponential conductance synapse (tau 5 ms, E_rev 0 mV). The trains are drawn from
``seed`` on the 0.1 ms grid (Bernoulli with p = rate x 0.1 ms, as ``PoissonSource`` does) and
replayed by a ``SpikeTimes`` population ``"kick"`` through projection ``"kick_syn"`` (two populations;
"neurons" is unchanged). References: Vogels & Abbott, J. Neurosci. 25:10786 (2005); Brette et
al., J. Comput. Neurosci. 23:349 (2007).
"""
from __future__ import annotations

import numpy as np

from .. import _checks
from ..events import one_to_one
from ..init import Normal, Uniform
from ..inputs import SpikeTimes
from ..network import Network, Population, Projection
from ..neurons import LIF, LIFParams
from ..synapses import Synapse, SynapseParams
from .balanced import ConstantDrive, FixedProbability, ei_network


def coba(n: int = 4000, *, p: float | None = None, seed: int = 0, background_pa: float = 200.0,
         kick: str | None = None, backend: str | None = None, procedural: bool = False) -> Network:
    """COBA network. ``p`` defaults to min(0.02, 80 / n) (80 synapses per neuron past 4000).
    ``procedural=True`` regenerates the connectivity from the seed inside the event kernels
    (:class:`~neurosim.events.JitConn`) instead of storing it."""
    return _build("coba", n, p, seed, background_pa, kick, backend, procedural)


def cuba(n: int = 4000, *, p: float | None = None, seed: int = 0, backend: str | None = None,
         procedural: bool = False) -> Network:
    """CUBA network (self-driven: E_L = -49 mV lies above threshold)."""
    return _build("cuba", n, p, seed, 0.0, None, backend, procedural)


def _build(kind, n, p, seed, background_pa, kick, backend, procedural=False):
    n = _checks.count("n", n, minimum=5)
    p = min(0.02, 80.0 / n) if p is None else _checks.probability("p", p)
    if kick not in (None, "conductance", "poisson"):
        raise ValueError(f"kick must be None, 'conductance' or 'poisson', got {kick!r}")
    n_e = int(round(0.8 * n))
    v_rest = -60.0 if kind == "coba" else -49.0
    if kind == "coba":
        g_e0 = Normal(40.0, 15.0) if kick == "conductance" else None
        g_i0 = Normal(200.0, 120.0) if kick == "conductance" else None
        syn_e = Synapse("exponential", "conductance", g_init=g_e0)
        syn_i = Synapse("exponential", "conductance", g_init=g_i0)
        w_e, w_i = 6.0, 67.0
    else:
        syn_e = syn_i = Synapse("exponential", "current")
        w_e, w_i = 16.2, -90.0
    net = ei_network(
        n_e, n - n_e, connectivity=FixedProbability(p, procedural=bool(procedural)), j_e=w_e, j_i=w_i,
        neuron=LIF(v_init=Uniform(-60.0, -50.0)),
        neuron_params=LIFParams(v_rest=v_rest, v_reset=-60.0, v_th=-50.0, c_m=200.0, g_l=10.0, t_ref=5.0),
        exc_synapse=syn_e, exc_params=SynapseParams(tau=5.0, e_rev=0.0),
        inh_synapse=syn_i, inh_params=SynapseParams(tau=10.0, e_rev=-80.0),
        drive=ConstantDrive(background_pa) if background_pa else None, seed=seed, backend=backend,
    )
    if kind == "coba" and kick == "poisson":
        stim, syn_stim = _poisson_kick(min(_KICK_N, n_e), seed, backend)
        net = Network(net.populations + (stim,), net.projections + (syn_stim,), net.inputs)
    return net


_KICK_N, _KICK_RATE_HZ, _KICK_START_MS, _KICK_STOP_MS, _KICK_W_NS, _KICK_GRID_MS = 50, 300.0, 1.0, 51.0, 6.0, 0.1


def _poisson_kick(n_stim, seed, backend):
    """NEST's COBA stimulus: neurons 0..n_stim-1 each get an independent Poisson train."""
    rng = np.random.default_rng([_checks.seed("seed", seed), 2_000_003])
    steps = np.arange(int(round(_KICK_START_MS / _KICK_GRID_MS)), int(round(_KICK_STOP_MS / _KICK_GRID_MS)))
    hit = rng.random((steps.size, n_stim)) < _KICK_RATE_HZ * _KICK_GRID_MS * 1e-3
    k, ids = np.nonzero(hit)
    # times at the centres of the grid's steps, so no rounding moves a spike to a neighbouring step
    stim = Population("kick", n_stim, SpikeTimes((steps[k] + 0.5) * _KICK_GRID_MS, ids))
    syn = Projection("kick_syn", "kick", ("neurons", 0, n_stim), one_to_one(n_stim), _KICK_W_NS,
                     Synapse("exponential", "conductance"), SynapseParams(tau=5.0, e_rev=0.0), backend=backend)
    return stim, syn
