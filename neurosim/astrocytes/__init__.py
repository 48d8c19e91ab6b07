"""Astrocytes: calcium and IP3 dynamics (the ChI / G-ChI models) as a population model,
gliotransmitter release, and the tripartite synapse (gliotransmitter-modulated release) as a
per-synapse mechanism over astrocyte domains. See docs/astrocytes.md."""
from . import domains
from .calcium import ASTROCYTE_PRESETS, Astrocyte, AstrocyteParams, AstrocyteState, derivatives
from .gliotransmission import (
    Gliotransmission, GliotransmissionParams, GliotransmissionState, receptor_step, resting_release,
)

__all__ = [
    "ASTROCYTE_PRESETS", "Astrocyte", "AstrocyteParams", "AstrocyteState", "Gliotransmission", "GliotransmissionParams",
    "GliotransmissionState", "derivatives", "domains", "receptor_step", "resting_release",
]
