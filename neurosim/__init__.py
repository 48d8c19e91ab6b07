"""neurosim: a JAX-based, differentiable brain-simulation framework.

A simulation step flows through five stages, one subpackage each:
``neurons`` -> ``events`` -> ``synapses`` -> ``plasticity`` -> ``network``; ``inputs`` drive it,
``builders`` wire ready-made networks, ``train`` fits readouts, ``analysis`` and ``plot`` read
the results. Units: ms, mV, pF, nS, pA, Hz.
"""
from . import analysis, astrocytes, builders, engines, events, init, inputs, io, network, neurons, plasticity, sweeps, synapses, train
from .events import CSR, propagate
from .init import Normal, Uniform
from .sweeps import sweep
from .network import (
    LFP, Input, NetParams, Network, NonFiniteError, Observe, Population, Projection, Rate, SimResult, SimulationInterrupted, Spikes, Trace, Weights, init_state, run,
    simulate, step, weights_mask, Checkpoint, fingerprint, load_checkpoint, save_checkpoint,
)

__version__ = "0.1.0"

__all__ = [
    "CSR", "Input", "LFP", "NetParams", "NonFiniteError", "Observe", "Network", "Normal", "Population", "Projection", "Rate", "SimResult", "SimulationInterrupted", "Spikes", "Trace",
    "Uniform", "Weights", "analysis", "astrocytes", "builders", "engines", "events", "init", "init_state", "inputs", "network", "neurons", "plasticity", "propagate",
    "run", "simulate", "step", "synapses", "train", "weights_mask", "Checkpoint", "fingerprint", "load_checkpoint",
    "save_checkpoint", "sweep", "sweeps", "io",
]
