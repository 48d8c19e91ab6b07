"""Results in the formats the field uses: NWB (:mod:`~neurosim.io.nwb`, needs pynwb), monitors
streamed to HDF5 during a run (:mod:`~neurosim.io.stream`, needs h5py), spiking networks to
and from NIR (:mod:`~neurosim.io.nir` for training layers, :mod:`~neurosim.io.nir_network` for
whole ``ns.Network``s; both need nir), and neuromorphic event data (:mod:`~neurosim.io.events`:
readers of N-MNIST, AEDAT 3.1, DVS Gesture label and SHD files, and the transforms to rasters;
numpy, and h5py for SHD)."""
from .events import (
    CHANNEL_EVENTS,
    DVS_GESTURE_CLASSES,
    EVENTS,
    GESTURE_LABELS,
    Recording,
    SHDFile,
    SHDSamples,
    crop,
    denoise,
    downsample,
    open_shd,
    read_aedat,
    read_dvs_gesture_labels,
    read_nmnist,
    read_shd,
    split_gestures,
    time_surface,
    to_raster,
    write_aedat,
    write_dvs_gesture_labels,
    write_nmnist,
    write_shd,
)
from .nir import from_nir, to_nir
from .nir_network import network_from_nir, network_to_nir
from .nwb import read_nwb, to_nwb
from .stream import StreamWriteError, read_stream

__all__ = ["CHANNEL_EVENTS", "DVS_GESTURE_CLASSES", "EVENTS", "GESTURE_LABELS", "Recording", "SHDFile", "SHDSamples",
           "StreamWriteError", "crop", "denoise", "downsample", "from_nir", "network_from_nir", "network_to_nir",
           "open_shd", "read_aedat", "read_dvs_gesture_labels", "read_nmnist", "read_nwb", "read_shd", "read_stream",
           "split_gestures", "time_surface", "to_nir", "to_nwb", "to_raster", "write_aedat", "write_dvs_gesture_labels",
           "write_nmnist", "write_shd"]
