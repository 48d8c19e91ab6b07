"""Monitors streamed to disk during a run (``ns.simulate(..., stream_to="run.h5")``), and read
back (:func:`read_stream`).

The file is HDF5 (h5py, part of the ``nwb`` extra), one group per kind, datasets that grow by
one chunk at a time and are flushed after each, so a run stopped by Ctrl-C (or a crash) leaves
every finished chunk readable:

    spikes/<pop>/t (ms, float64), spikes/<pop>/i (int64)
    traces/<key>/t (ms), traces/<key>/values (samples, columns), traces/<key>/labels
    rates/<pop>/t (ms), rates/<pop>/values (Hz)
    observed/<key>/t (ms), observed/<key>/values (Observe and LFP monitors: an array, or the
        pytree as nested groups: a dict's keys and a NamedTuple's fields name the groups, a
        tuple's or list's are numbered and marked ``sequence``)

and the attributes ``dt``, ``t_start`` and ``t_stop`` (ms, the end of the last chunk written).
"""
from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from ._optional import require


def _h5py():
    return require("h5py", "stream_to", "nwb")


class StreamSink:
    """Appends each chunk's monitor data to an HDF5 file (module docstring)."""

    def __init__(self, path, net, monitors, dt):
        h5py = _h5py()
        self.path = Path(path)
        self.directory = self.path.parent
        if not self.directory.is_dir():
            raise ValueError(f"stream_to: the directory {str(self.directory)!r} does not exist")
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
        for key, (t, tree) in piece.observed.items():
            self._append(f"observed/{key}/t", t)
            for where, leaf, sequences in _tree_paths(key, tree):
                self._append(f"observed/{key}/values{where}", leaf)
                for group in sequences:
                    f[f"observed/{key}/values{group}"].attrs["sequence"] = True
        f.flush()

    def __del__(self):
        try:
            self.file.close()
        except Exception:   # noqa: BLE001 - closing at interpreter exit
            pass


def _tree_paths(key, tree):
    """``(h5 path below values, leaf, groups that are sequences)`` for every leaf of an observed
    pytree; a bare array is the dataset ``values`` itself."""
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        where, sequences = "", []
        for entry in path:
            if isinstance(entry, jax.tree_util.SequenceKey):
                sequences.append(where)
                name = str(entry.idx)
            elif isinstance(entry, jax.tree_util.DictKey):
                name = str(entry.key)
            elif isinstance(entry, jax.tree_util.GetAttrKey):
                name = entry.name
            else:
                raise ValueError(f"stream_to: monitor {key!r} returns a pytree node {type(entry).__name__} that the "
                                 "file cannot name; return arrays in dicts, tuples or NamedTuples")
            if "/" in name or name in ("", "."):
                raise ValueError(f"stream_to: monitor {key!r} has a pytree key {name!r} that cannot name an HDF5 "
                                 "group (no '/', not empty)")
            where += "/" + name
        out.append((where, np.asarray(leaf), sequences))
    return out


def _read_tree(node):
    """The observed pytree of an ``observed/<key>/values`` node: arrays, dicts and tuples."""
    if not hasattr(node, "keys"):
        return node[:]
    if node.attrs.get("sequence", False):
        return tuple(_read_tree(node[k]) for k in sorted(node.keys(), key=int))
    return {k: _read_tree(node[k]) for k in node.keys()}


def read_stream(path) -> dict:
    """``{"spikes": {pop: (t_ms, ids)}, "traces": {key: (t_ms, values, labels)}, "rates": {pop:
    (t_ms, hz)}, "observed": {key: (t_ms, values)}, "dt", "t_start", "t_stop"}`` of a file
    written by ``simulate(stream_to=path)``. Observed pytrees come back as arrays, dicts and
    tuples (a NamedTuple as a dict of its fields)."""
    h5py = _h5py()
    if not Path(path).is_file():
        raise ValueError(f"read_stream: no file {str(path)!r}")
    out = {"spikes": {}, "traces": {}, "rates": {}, "observed": {}}
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
        for key, g in f.get("observed", {}).items():
            out["observed"][key] = (g["t"][:], _read_tree(g["values"]))
    return out
