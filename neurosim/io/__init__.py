"""Results in the formats the field uses: NWB (:mod:`~neurosim.io.nwb`, needs pynwb), and
monitors streamed to HDF5 during a run (:mod:`~neurosim.io.stream`, needs h5py)."""
from .nwb import read_nwb, to_nwb
from .stream import read_stream

__all__ = ["read_nwb", "read_stream", "to_nwb"]
