"""Results in the formats the field uses: NWB (:mod:`~neurosim.io.nwb`, needs pynwb)."""
from .nwb import read_nwb, to_nwb

__all__ = ["read_nwb", "to_nwb"]
