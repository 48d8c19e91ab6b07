"""Stage 3 of a step: drive -> synaptic state -> current."""
from .kinetics import KINETICS, OUTPUTS, Synapse, SynapseParams, SynapseState

__all__ = ["KINETICS", "OUTPUTS", "Synapse", "SynapseParams", "SynapseState"]
