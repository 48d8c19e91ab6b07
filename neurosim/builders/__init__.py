"""Network builders: wiring and parameter sets, no new mathematics. Each returns the same
pure ``Network`` (or, for rate reservoirs, the same pure step) every other part of neurosim uses.
"""
from . import meanfield
from .distal_reward import distal_reward
from .ei_reservoir import EIReservoirParams, adapt_balance, ei_reservoir, ei_reservoir_step, run_ei_reservoir
from .balanced import ConstantDrive, FixedIndegree, FixedProbability, PoissonDrive, brunel2000, ei_network
from .izhikevich_reservoir import IzhikevichReservoir, izhikevich_reservoir
from .lsm import MAASS_2002, LiquidColumn, RasterSource, lsm, set_input_raster, spike_raster
from .nalsm import NALSM, nalsm
from .meanfield import brunel_rate, siegert_rate
from .microcircuit import microcircuit
from .reservoir import ReservoirParams, esn, from_matrix, reservoir_step, run_reservoir, stack_reservoirs
from .stdp_neuron import brian_stdp, song2000
from .tripartite import run_tripartite, tripartite
from .vogels_abbott import coba, cuba

__all__ = [
    "ConstantDrive", "FixedIndegree", "FixedProbability", "IzhikevichReservoir", "LiquidColumn", "MAASS_2002",
    "PoissonDrive", "RasterSource", "brian_stdp", "distal_reward", "song2000", "ReservoirParams", "brunel2000", "brunel_rate", "coba", "cuba", "ei_network",
    "esn", "from_matrix", "izhikevich_reservoir", "lsm", "meanfield", "reservoir_step", "run_reservoir",
    "set_input_raster", "siegert_rate", "spike_raster", "stack_reservoirs", "run_tripartite", "tripartite", "NALSM", "nalsm", "EIReservoirParams", "adapt_balance",
    "ei_reservoir", "ei_reservoir_step", "run_ei_reservoir", "microcircuit",
]
