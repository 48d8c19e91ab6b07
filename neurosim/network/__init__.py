"""Stage 5: compose neurons, events and synapses into one pure step, and run it."""
from .model import Input, Network, Population, Projection
from .monitors import Rate, Spikes, Trace
from .simulate import SimResult, run, simulate
from .step import NetworkState, init_state, step

__all__ = [
    "Input", "Network", "NetworkState", "Population", "Projection", "Rate", "SimResult", "Spikes", "Trace",
    "init_state", "run", "simulate", "step",
]
