"""Stage 3 of a step: drive -> synaptic state -> current."""
from .kinetics import KINETICS, OUTPUTS, Synapse, SynapseParams, SynapseState, is_synapse_model
from .short_term import TsodyksMarkram, TsodyksMarkramParams, TsodyksMarkramState, tsodyks_markram_steady_state  # noqa: F401 (STP)

__all__ = [
    "KINETICS", "OUTPUTS", "Synapse", "SynapseParams", "SynapseState", "TsodyksMarkram", "TsodyksMarkramParams",
    "TsodyksMarkramState", "tsodyks_markram_steady_state", "is_synapse_model",
]
