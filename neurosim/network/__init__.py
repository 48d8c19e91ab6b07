"""Stage 5: compose neurons, events and synapses into one pure step, and run it."""
from .model import Input, Network, Population, Projection
from .gap import GapJunction, gap_currents
from .params import NetParams, ProjectionParams, weights_mask
from .monitors import LFP, Observe, Rate, SpikeEvents, Spikes, Trace, Weights
from .simulate import NonFiniteError, SimResult, SimulationInterrupted, run, simulate
from .step import NetworkState, check_state, init_state, step
from .fused import FusedPlan, fused_plan, run_fused
from .checkpoint import Checkpoint, fingerprint, load_checkpoint, save_checkpoint
from .parallel import ParallelPlan, parallel_plan, parallel_reason

__all__ = [
    "GapJunction", "Input", "LFP", "NetParams", "Network", "NetworkState", "ProjectionParams", "Observe", "Population", "Projection", "Rate", "SimResult", "SpikeEvents", "Spikes", "Trace", "Weights",
    "NonFiniteError", "SimulationInterrupted", "check_state", "init_state", "run", "simulate", "step", "FusedPlan", "fused_plan", "run_fused", "weights_mask",
    "Checkpoint", "fingerprint", "load_checkpoint", "save_checkpoint", "ParallelPlan", "parallel_plan", "parallel_reason",
    "gap_currents",
]
