"""External inputs: injected currents and spike sources."""
from .currents import ConstantCurrent, PoissonInput, PoissonInputParams, StepCurrent
from .sources import PoissonSource, SpikeTimes

__all__ = ["ConstantCurrent", "PoissonInput", "PoissonInputParams", "PoissonSource", "SpikeTimes", "StepCurrent"]
