"""Models from equations with units: Brian2's way of writing models, compiled to neurosim's
pure, differentiable models (see docs/equations.md)."""
from .errors import EquationError
from .neuron import Neuron
from .rule import rule
from .synapse import Synapse

__all__ = ["EquationError", "Neuron", "Synapse", "rule"]
