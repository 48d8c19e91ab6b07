"""Results in the formats the field uses: NWB (:mod:`~neurosim.io.nwb`, needs pynwb), monitors
streamed to HDF5 during a run (:mod:`~neurosim.io.stream`, needs h5py), and spiking networks to
and from NIR (:mod:`~neurosim.io.nir` for training layers, :mod:`~neurosim.io.nir_network` for
whole ``ns.Network``s; both need nir)."""
from .nir import from_nir, to_nir
from .nir_network import network_from_nir, network_to_nir
from .nwb import read_nwb, to_nwb
from .stream import StreamWriteError, read_stream

__all__ = ["StreamWriteError", "from_nir", "network_from_nir", "network_to_nir", "read_nwb", "read_stream", "to_nir", "to_nwb"]
