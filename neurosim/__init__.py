"""neurosim: a JAX-based, differentiable brain-simulation framework.

A simulation step flows through five stages, one subpackage each:
``neurons`` -> ``events`` -> ``synapses`` -> ``plasticity`` -> ``network``; ``inputs`` drive it,
``builders`` wire ready-made networks, ``train`` fits readouts, ``analysis`` and ``plot`` read
the results. Units: ms, mV, pF, nS, pA, Hz.

The top level is deliberately small (``__all__`` below): the subpackages, and the names a
script needs to build, run, keep and sweep a network. Everything else (models, connectivity
formats, engine internals) is imported from its subpackage: ``from neurosim.neurons import LIF``,
``from neurosim.engines.native import ...``. ``ns.plot`` is imported on first use, so
``import neurosim`` does not pay for matplotlib; ``ns.equations`` (models from equations with units)
likewise for sympy, and ``ns.train`` for flax and optax.
"""
from . import _jax_cache

_jax_cache.configure()   # JAX's persistent compilation cache (NEUROSIM_JAX_CACHE=0 turns it off)

from . import analysis, astrocytes, builders, engines, events, init, inputs, io, network, neurons, plasticity, sweeps, synapses
from .events import CSR, propagate
from .init import Normal, Uniform
from .sweeps import sweep
from .network import (
    LFP, Input, NetParams, Network, NonFiniteError, Observe, Population, Projection, Rate, SimResult, SimulationInterrupted, Spikes, Trace, Weights, init_state, run,
    simulate, step, weights_mask, Checkpoint, fingerprint, load_checkpoint, save_checkpoint,
)

__version__ = "0.1.0"

# The public top level, by purpose. tests/test_api_docs.py pins its size: a name added here is a
# name every user sees and we keep, so it is a decision, not a side effect of an import.
__all__ = [
    # subpackages, in data-flow order, then the ones around the step
    "neurons", "events", "synapses", "plasticity", "network", "inputs", "astrocytes", "builders", "init",
    "train", "sweeps", "analysis", "plot", "io", "engines", "equations",
    # a network: populations, projections, inputs, initialisers, connectivity and its one operator
    "Network", "Population", "Projection", "Input", "Normal", "Uniform", "CSR", "propagate",
    # its parameters and the pure step
    "NetParams", "Weights", "weights_mask", "init_state", "step", "run",
    # simulate: monitors, results and errors
    "simulate", "Spikes", "Trace", "Rate", "LFP", "Observe", "SimResult", "NonFiniteError", "SimulationInterrupted",
    # runs kept and continued, many runs at once
    "Checkpoint", "save_checkpoint", "load_checkpoint", "fingerprint", "sweep",
]

_LAZY = {"plot", "equations", "train"}   # imported on first use (matplotlib, sympy, flax and optax are slow to import)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY)
