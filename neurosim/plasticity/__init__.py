"""Stage 4 of a step: plasticity. ``(pre, post, traces, modulator) -> dW``.

Rules are optax-shaped ``(init, update)`` pairs (:mod:`.rules`) that :func:`chain`
composes; constraints are rules too. Attach one to a projection with
``Projection(..., plasticity=rule)``; its weights then live in the network state and change as
the network runs. Modulators (:class:`Modulator`) are network-level third factors.
See ``docs/plasticity.md``.
"""
from .constraints import clip_weights, dale, normalize_incoming
from .homeostasis import inhibitory_stdp, synaptic_scaling
from .mechanism import Plasticity
from .modulators import Modulator, ModulatorState
from .rules import Rule, chain, store_visited, visited
from .stdp import StdpPairParams, StdpPairState, StdpTripletParams, StdpTripletState, stdp_pair, stdp_triplet
from .three_factor import error_modulated, reward_modulated
from . import traces

__all__ = [
    "Modulator", "ModulatorState", "Plasticity", "Rule", "StdpPairParams", "StdpPairState", "StdpTripletParams",
    "StdpTripletState", "chain", "clip_weights", "dale", "error_modulated", "inhibitory_stdp", "normalize_incoming",
    "reward_modulated", "stdp_pair", "stdp_triplet", "store_visited", "synaptic_scaling", "traces", "visited",
]
