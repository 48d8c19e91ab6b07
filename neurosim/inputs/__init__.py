"""External inputs: injected currents and spike sources."""
from .currents import (
    ConstantCurrent, ConstantParams, GaussianCurrent, GaussianParams, PoissonInput, PoissonInputParams, StepCurrent,
    StepParams, UniformCurrent, UniformParams,
)
from .sources import PoissonSource, RasterSource, SpikeTimes

__all__ = [
    "ConstantCurrent", "ConstantParams", "GaussianCurrent", "GaussianParams", "StepParams", "PoissonInput", "PoissonInputParams", "PoissonSource", "RasterSource", "SpikeTimes", "StepCurrent",
    "UniformCurrent", "UniformParams"]
