"""A local-field-potential proxy computed from the network state: the sum of the absolute
synaptic currents into a population (Mazzoni et al. 2008, 2015).

For a population P (or a contiguous slice of it) and the synapses ``s`` that end on it (every
projection whose postsynaptic side is P, and every synaptic ``Input`` into P, e.g.
``PoissonInput``):

    I_s,j(t) = g_s,j(t) (E_rev,s - V_j(t))     conductance synapses  (pA; g in nS, V in mV)
    I_s,j(t) = g_s,j(t)                        current synapses      (pA)

    LFP(t) = sum_{j in P} sum_s |I_s,j(t)|     (pA)

``I_s,j`` is exactly the current the synapse feeds into the membrane equation in the next
step (``Synapse.current``, the function the network step calls). Non-synaptic inputs
(``ConstantCurrent``, ``GaussianCurrent``, ``StepCurrent``) are left out.

``v_hold`` (mV): evaluate conductance currents at a fixed holding potential instead of each
neuron's own V, ``I_s,j = g_s,j (E_rev,s - v_hold)``, as in the LFP model of Gao, Peterson &
Voytek (2017) (V = -65 mV): the proxy is then a fixed linear combination of the conductances,
what a voltage clamp at ``v_hold`` would record. Why it matters: in a point neuron the
synaptic currents at its own V are tied together by the membrane equation,
``C dV/dt = g_L (E_L - V) + sum_s I_s + I_ext``; in the high-conductance state (effective
time constant C / g_total of a few ms) V follows the conductances so closely that the
fluctuations of the excitatory and inhibitory currents cancel, and the spectrum of the sum of
their absolute values no longer reflects which one dominates (``docs/ei_ratio.md``).

The sum of absolute currents is Mazzoni et al.'s (2008) proxy: in a pyramidal cell AMPA
(inward, dendritic) and GABA (outward, perisomatic) currents form dipoles of the same sign,
so their magnitudes add. Summing over the excitatory cells only (``pop=("neurons", 0,
n_e)``) follows the paper, which takes pyramidal cells as the generators. Each current is a
spike train filtered by its synapse, so the spectrum of the proxy falls off above
1 / (2 pi tau) of each synapse; with slower inhibition (tau_i > tau_e) a larger inhibitory
share makes it steeper: the effect Gao et al. use to read the E/I ratio from the aperiodic
exponent (:func:`neurosim.analysis.aperiodic_exponent`).

These are pure JAX functions of ``(net, params, state)``: they jit, vmap and differentiate, and
are meant for ``run(..., observe=...)`` or the ``LFP`` monitor of ``simulate``.

References: Mazzoni, Panzeri, Logothetis & Brunel, PLoS Comput. Biol. 4:e1000239 (2008);
Mazzoni et al., PLoS Comput. Biol. 11:e1004584 (2015); Gao, Peterson & Voytek, NeuroImage
158:70 (2017).
"""
from __future__ import annotations

import math
import numbers

import jax.numpy as jnp

__all__ = ["synaptic_currents", "lfp_proxy"]


def _sources(net, name):
    """name -> (kind, object, (a, b)) for every synapse ending on population ``name``: its
    projections and its synaptic inputs (those whose source has a ``synapse``)."""
    out = {}
    for pr in net.projections:
        _, (post, a, b) = net._refs[pr.name]
        if post == name:
            out[pr.name] = ("projection", pr, (a, b))
    for inp in net.inputs:
        ((tgt, a, b),) = net._refs[inp.name]
        if tgt == name and hasattr(inp.source, "synapse") and hasattr(inp.params, "synapse"):
            out[inp.name] = ("input", inp, (a, b))
    return out


def _chosen(net, name, synapses):
    found = _sources(net, name)
    if synapses is None:
        if not found:
            raise ValueError(
                f"population {name!r} receives no projection and no synaptic input, so it has no synaptic current"
            )
        return found
    if isinstance(synapses, str):
        synapses = [synapses]
    synapses = list(synapses)
    if not synapses:
        raise ValueError("synapses must name at least one projection or input, or be None for all of them")
    for s in synapses:
        if s not in found:
            raise ValueError(
                f"{s!r} is not a projection or synaptic input ending on population {name!r}; those that are: {sorted(found)}"
            )
    return {s: found[s] for s in synapses}


def check_lfp_args(net, pop, synapses=None, v_hold=None) -> None:
    """Raise a ValueError naming the problem if ``lfp_proxy(net, ..., pop, synapses, v_hold)``
    could not be computed (called by the ``LFP`` monitor before anything is compiled)."""
    name, _, _ = net.resolve(pop, "pop")
    if getattr(net.population(name).model, "is_source", False):
        raise ValueError(f"population {name!r} is a spike source; it has no membrane and no synaptic current")
    _chosen(net, name, synapses)
    if v_hold is not None:
        if isinstance(v_hold, bool) or not isinstance(v_hold, numbers.Real) or not math.isfinite(v_hold):
            raise ValueError(f"v_hold must be None or a finite potential in mV, got {v_hold!r}")


def synaptic_currents(net, params: dict, state, pop, synapses=None, v_hold=None) -> dict:
    """Signed synaptic current of every synapse ending on ``pop``, in pA.

    ``pop``: a population name or ``(name, start, stop)`` for a contiguous slice of it.
    ``synapses``: None (every projection ending on the population and every synaptic input
    into it) or a list of their names. ``v_hold``: None (each neuron's own V) or a holding
    potential in mV for the conductance synapses. Returns name -> ``(stop - start,)`` array:
    ``g (E_rev - V)`` for conductance synapses, ``g`` for current synapses, evaluated on
    ``state`` (zero for neurons of ``pop`` outside the synapse's own target slice).
    Positive = depolarising (inward).
    """
    check_lfp_args(net, pop, synapses, v_hold)
    name, start, stop = net.resolve(pop, "pop")
    n = net.population(name).n
    v = net.population(name).model.voltage(state.neurons[name])
    if v_hold is not None:
        v = jnp.full_like(v, v_hold)
    out = {}
    for key, (kind, obj, (a, b)) in _chosen(net, name, synapses).items():
        if kind == "projection":
            syn, sp, ss = obj.synapse, params.projections[key].synapse, state.synapses[key]
        else:
            syn, sp, ss = obj.source.synapse, params.inputs[key].synapse, state.inputs[key]
        i = jnp.broadcast_to(syn.current(sp, ss, v[a:b]), (b - a,))
        if (a, b) != (0, n):
            i = jnp.zeros((n,), i.dtype).at[a:b].set(i)
        out[key] = i[start:stop]
    return out


def lfp_proxy(net, params: dict, state, pop, synapses=None, v_hold=None):
    """The LFP proxy of ``pop``, ``sum_j sum_s |I_s,j|`` (pA, a scalar): the sum over its
    neurons and over the chosen synapses of the absolute synaptic currents
    (:func:`synaptic_currents`, same arguments). Inside ``run``:
    ``observe=lambda s, spk: lfp_proxy(net, params, s, "neurons")``."""
    currents = synaptic_currents(net, params, state, pop, synapses, v_hold)
    return sum(jnp.sum(jnp.abs(i)) for i in currents.values())
