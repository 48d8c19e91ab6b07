"""Monitors streamed to disk during a run (``ns.simulate(..., stream_to="run.h5")``), and read
back (:func:`read_stream`).

The file is HDF5 (h5py, part of the ``nwb`` extra), one group per kind, datasets that grow by
one chunk at a time and are flushed after each, so a run stopped by Ctrl-C (or a crash) leaves
every finished chunk readable:

    spikes/<pop>/t (ms, float64), spikes/<pop>/i (int64)
    traces/<key>/t (ms), traces/<key>/values (samples, columns), traces/<key>/labels
    rates/<pop>/t (ms), rates/<pop>/values (Hz)

and the attributes ``dt``, ``t_start`` and ``t_stop`` (ms, the end of the last chunk written).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._optional import require


def _h5py():
    return require("h5py", "stream_to", "nwb")


class StreamSink:
    """Appends each chunk's monitor data to an HDF5 file (module docstring)."""

    def __init__(self, path, net, monitors, dt):
        from ..network.monitors import OBSERVERS

        h5py = _h5py()
        self.path = Path(path)
        self.directory = self.path.parent
        if not self.directory.is_dir():
            raise ValueError(f"stream_to: the directory {str(self.directory)!r} does not exist")
        bad = [type(m).__name__ for m in monitors if isinstance(m, OBSERVERS)]
        if bad:
            raise ValueError(f"stream_to takes Spikes, Trace, Weights and Rate monitors; {bad} (pytrees of your own) "
                             "are not streamed yet: run them without stream_to")
        self.sizes = {}
        self.file = h5py.File(self.path, "w")
        self.file.attrs["dt"] = float(dt)
        self.file.attrs["format"] = "neurosim-stream/1"

    def _append(self, name, data):
        data = np.asarray(data)
        if name not in self.file:
            self.file.create_dataset(name, data=data, maxshape=(None,) + data.shape[1:], chunks=True)
            return
        ds = self.file[name]
        n = ds.shape[0]
        ds.resize(n + data.shape[0], axis=0)
        ds[n:] = data

    def write(self, piece, t_start, t_stop):
        f = self.file
        f.attrs["t_start"], f.attrs["t_stop"] = float(t_start), float(t_stop)
        for pop, (t, i) in piece.spikes.items():
            self._append(f"spikes/{pop}/t", t)
            self._append(f"spikes/{pop}/i", i)
            self.sizes[pop] = piece.sizes.get(pop)
            f[f"spikes/{pop}"].attrs["n"] = int(piece.sizes.get(pop, 0))
        for key, (t, values, labels) in piece.traces.items():
            self._append(f"traces/{key}/t", t)
            self._append(f"traces/{key}/values", values)
            if f"traces/{key}/labels" not in f:
                f.create_dataset(f"traces/{key}/labels", data=np.asarray(labels))
        for pop, (t, rate) in piece.rates.items():
            self._append(f"rates/{pop}/t", t)
            self._append(f"rates/{pop}/values", rate)
        f.flush()

    def __del__(self):
        try:
            self.file.close()
        except Exception:   # noqa: BLE001 - closing at interpreter exit
            pass


def read_stream(path) -> dict:
    """``{"spikes": {pop: (t_ms, ids)}, "traces": {key: (t_ms, values, labels)}, "rates": {pop:
    (t_ms, hz)}, "dt", "t_start", "t_stop"}`` of a file written by ``simulate(stream_to=path)``."""
    h5py = _h5py()
    out = {"spikes": {}, "traces": {}, "rates": {}}
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "neurosim-stream/1":
            raise ValueError(f"read_stream: {str(path)!r} is not a neurosim stream (simulate(stream_to=...))")
        out.update(dt=float(f.attrs["dt"]), t_start=float(f.attrs.get("t_start", 0.0)),
                   t_stop=float(f.attrs.get("t_stop", 0.0)))
        for pop, g in f.get("spikes", {}).items():
            out["spikes"][pop] = (g["t"][:], g["i"][:])
        for key, g in f.get("traces", {}).items():
            out["traces"][key] = (g["t"][:], g["values"][:], g["labels"][:])
        for pop, g in f.get("rates", {}).items():
            out["rates"][pop] = (g["t"][:], g["values"][:])
    return out
