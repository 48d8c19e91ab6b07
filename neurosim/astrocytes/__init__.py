"""Astrocytes: calcium and IP3 dynamics (the ChI / G-ChI models) as a population model,
gliotransmitter release, and the tripartite synapse (gliotransmitter-modulated release) as a
per-synapse mechanism over astrocyte domains; the NALSM astrocyte (a modulator setting the
depression rate of astrocyte-modulated STDP). See docs/astrocytes.md."""
from . import domains
from .calcium import ASTROCYTE_PRESETS, Astrocyte, AstrocyteParams, AstrocyteState, derivatives
from .gliotransmission import (
    Gliotransmission, GliotransmissionParams, GliotransmissionState, receptor_step, resting_release,
)
from .nalsm import AstrocyteStdpParams, AstrocyteStdpState, astrocyte_stdp, branching_factor, nalsm_astrocyte

__all__ = [
    "ASTROCYTE_PRESETS", "Astrocyte", "AstrocyteParams", "AstrocyteState", "Gliotransmission", "GliotransmissionParams",
    "GliotransmissionState", "AstrocyteStdpParams", "AstrocyteStdpState", "astrocyte_stdp", "branching_factor",
    "derivatives", "domains", "nalsm_astrocyte", "receptor_step", "resting_release",
]
