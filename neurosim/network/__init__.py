"""Stage 5: compose neurons, events and synapses into one pure step, and run it."""
from .model import Input, Network, Population, Projection
from .monitors import LFP, Observe, Rate, Spikes, Trace, Weights
from .simulate import SimResult, run, simulate
from .step import NetworkState, check_state, init_state, step
from .fused import FusedPlan, fused_plan, run_fused

__all__ = [
    "Input", "LFP", "Network", "NetworkState", "Observe", "Population", "Projection", "Rate", "SimResult", "Spikes", "Trace", "Weights",
    "check_state", "init_state", "run", "simulate", "step", "FusedPlan", "fused_plan", "run_fused",
]
