"""Stage 1 of a step: neuron models, ``(params, state, input, dt) -> (state, spikes)``."""
from .adaptive_lif import AdaptiveLIF, AdaptiveLIFParams, AdaptiveLIFState
from .adex import AdEx, AdExParams, AdExState
from .base import check_params
from .hodgkin_huxley import HodgkinHuxley, HodgkinHuxleyParams, HodgkinHuxleyState
from .izhikevich import IZHIKEVICH_TYPES, Izhikevich, IzhikevichParams, IzhikevichState
from .lif import LIF, LIFParams, LIFState
from .multirate import MultiRate, MultiRateState
from .spike import SURROGATES, check_surrogate, spike, surrogate_derivative

__all__ = [
    "AdaptiveLIF", "AdaptiveLIFParams", "AdaptiveLIFState", "AdEx", "AdExParams", "AdExState", "HodgkinHuxley",
    "HodgkinHuxleyParams", "HodgkinHuxleyState", "IZHIKEVICH_TYPES", "Izhikevich", "IzhikevichParams",
    "IzhikevichState", "LIF", "LIFParams", "LIFState", "MultiRate", "MultiRateState", "SURROGATES", "check_params", "check_surrogate", "spike",
    "surrogate_derivative",
]
