"""Monitors streamed to disk during a run (``ns.simulate(..., stream_to="run.h5")``), and read
back (:func:`read_stream`).

The file is HDF5 (h5py, part of the ``nwb`` extra), one group per kind, datasets that grow by
one chunk at a time:

    spikes/<pop>/t (ms, float64), spikes/<pop>/i (int32)
    traces/<key>/t (ms), traces/<key>/values (samples, columns), traces/<key>/labels
    rates/<pop>/t (ms), rates/<pop>/values (Hz)
    observed/<key>/t (ms), observed/<key>/values (Observe and LFP monitors: an array, or the
        pytree as nested groups: a dict's keys and a NamedTuple's fields name the groups, a
        tuple's or list's are numbered and marked ``sequence``)

and the attributes ``dt``, ``t_start`` and ``t_stop`` (ms, the end of the last complete chunk).

**After a crash.** Each chunk's data is appended and flushed to the disk first; only then are
its bounds written: every growing dataset's attribute ``rows`` (its rows of complete chunks)
and ``t_stop``. A run stopped at any moment (Ctrl-C, a kill, a full disk) leaves a file whose
bounds claim only data it holds; :func:`read_stream` reads each dataset up to its bounds (the
arrays of one monitor to the shortest of them), so a chunk cut short is left out. A full disk
is a :class:`StreamWriteError` naming the file and the last complete time, and carrying the
results up to there (``partial``), as Ctrl-C's :class:`~neurosim.SimulationInterrupted` does.
HDF5 itself cannot open a file cut short (a copy stopped half way); :func:`read_stream` says so.
"""
from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np

from .._files import bad_file, open_hdf5
from ._optional import require


def _h5py():
    return require("h5py", "stream_to", "nwb")


FORMAT = "neurosim-stream/2"            # /2: the bounds (``rows``, ``t_stop``) follow the data
_READS = ("neurosim-stream/1", FORMAT)   # /1 files have no ``rows``: their datasets are read whole


class StreamWriteError(OSError):
    """Writing a chunk to the file of ``simulate(stream_to=...)`` failed (a full disk, say). The
    file holds the run up to the last complete chunk (the time the message names), and
    ``partial`` is the :class:`~neurosim.network.simulate.SimResult` up to there: its ``state``
    continues the run (``simulate(..., state=err.partial.state, stream_to=<another file>)``).
    ``errno`` is the failed write's, when it had one."""

    def __init__(self, message, errno=None, partial=None):
        super().__init__(message)
        self.errno, self.partial = errno, partial


class StreamSink:
    """Appends each chunk's monitor data to an HDF5 file (module docstring). The file is created
    at the first chunk and closed by :meth:`close`, which ``simulate`` calls however the run
    ends; a file already there that holds anything is replaced only with ``overwrite``."""

    def __init__(self, path, net, monitors, dt, overwrite=False):
        if not isinstance(overwrite, bool):
            raise ValueError(f"stream_overwrite must be True or False, got {overwrite!r}")
        if path is None:
            raise ValueError("stream_overwrite=True is for a file to stream to, but stream_to is None")
        _h5py()
        self.path = Path(path)
        self.directory = self.path.parent
        if not self.directory.is_dir():
            raise ValueError(f"stream_to: the directory {str(self.directory)!r} does not exist")
        if self.path.is_dir() or (self.path.exists() and self.path.stat().st_size and not overwrite):
            raise ValueError(f"stream_to: {str(self.path)!r} exists; simulate replaces a file only when told to: "
                             "stream_overwrite=True, or another path")
        self.dt, self.sizes, self.file, self.failed = float(dt), {}, None, False
        self.t_stop = None        # ms: the end of the last complete chunk in the file

    def _open(self, t_start):
        # no raw-data chunk cache: a failed write (a full disk) raises here, in write(), instead of
        # in HDF5's clean-up of a dataset, where it crashes the interpreter
        self.file = _h5py().File(self.path, "w", rdcc_nbytes=0)
        self.file.attrs.update(format=FORMAT, dt=self.dt, t_start=float(t_start), t_stop=float(t_start))

    def _append(self, name, data):
        data = np.asarray(data)
        if name not in self.file:
            self.file.create_dataset(name, data=data, maxshape=(None,) + data.shape[1:], chunks=True)
            return
        ds = self.file[name]
        n = ds.shape[0]
        ds.resize(n + data.shape[0], axis=0)
        ds[n:] = data

    def _layout(self, piece):
        """What one chunk adds: ``(name, data)`` of the growing datasets, ``(name, labels)`` of the
        fixed ones (a trace's columns, written once) and the groups that are sequences."""
        growing, fixed, sequences = [], [], []
        for pop, (t, i) in piece.spikes.items():
            growing += [(f"spikes/{pop}/t", t), (f"spikes/{pop}/i", i)]
        for key, (t, values, labels) in piece.traces.items():
            growing += [(f"traces/{key}/t", t), (f"traces/{key}/values", values)]
            fixed.append((f"traces/{key}/labels", labels))
        for pop, (t, rate) in piece.rates.items():
            growing += [(f"rates/{pop}/t", t), (f"rates/{pop}/values", rate)]
        for key, (t, tree) in piece.observed.items():
            growing.append((f"observed/{key}/t", t))
            for where, leaf, groups in _tree_paths(key, tree):
                growing.append((f"observed/{key}/values{where}", leaf))
                sequences += [f"observed/{key}/values{g}" for g in groups]
        return growing, fixed, sequences

    def write(self, piece, t_start, t_stop):
        """Append one chunk (``piece``, a SimResult of it), ending at ``t_stop`` ms: its data,
        flushed, then its bounds, flushed. A failure is a :class:`StreamWriteError`."""
        growing, fixed, sequences = self._layout(piece)
        try:
            if self.file is None:
                self._open(t_start)
            f = self.file
            for name, labels in fixed:
                if name not in f:
                    f.create_dataset(name, data=np.asarray(labels))
            for name in sequences:
                f.require_group(name).attrs["sequence"] = True
            for name, data in growing:
                self._append(name, data)
            for pop in piece.spikes:
                self.sizes[pop] = piece.sizes.get(pop)
                f[f"spikes/{pop}"].attrs["n"] = int(piece.sizes.get(pop, 0))
            f.flush()                                     # the data on disk first ...
            for name, _ in growing:
                f[name].attrs["rows"] = f[name].shape[0]
            f.attrs["t_stop"] = float(t_stop)             # ... then the bounds that claim it
            f.flush()
        except (OSError, RuntimeError) as e:              # h5py's errors of a failed write
            self.failed = True
            raise self._error(f"writing the chunk ending at t = {float(t_stop):g} ms failed", e) from e
        self.t_stop = float(t_stop)

    def _error(self, what, e):
        errno = getattr(e, "errno", None)
        why = os.strerror(errno) if errno else str(e).splitlines()[0]
        held = "no complete chunk" if self.t_stop is None else f"the run up to t = {self.t_stop:g} ms, complete"
        return StreamWriteError(f"simulate(stream_to={str(self.path)!r}): {what} ({why}); the file holds {held} "
                                "(ns.io.read_stream reads it, or says why it cannot), and this error's .partial the "
                                "results up to there (its .state continues the run)", errno)

    def close(self):
        """Close the file. After a failed write, HDF5 may fail to close it too; that second error
        is dropped (the first one is the one raised)."""
        file, self.file = self.file, None
        if file is None:
            return
        try:
            file.close()
        except (OSError, RuntimeError) as e:
            if not self.failed:
                raise self._error("closing the file failed", e) from e


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


def _read_tree(node, rows):
    """The observed pytree of an ``observed/<key>/values`` node, its leaves' first ``rows`` rows:
    arrays, dicts and tuples."""
    if not hasattr(node, "keys"):
        return node[:rows]
    if node.attrs.get("sequence", False):
        return tuple(_read_tree(node[k], rows) for k in sorted(node.keys(), key=int))
    return {k: _read_tree(node[k], rows) for k in node.keys()}


def _bound(group, bounded: bool, bad) -> int:
    """The rows of complete chunks of one monitor: the fewest among its growing datasets (their
    ``rows``; a dataset without it belongs to a chunk never completed). ``bounded``: False for a
    /1 file (no bounds: every row)."""
    h5py = _h5py()
    growing = []
    group.visititems(lambda name, obj: growing.append(obj) if isinstance(obj, h5py.Dataset) and name != "labels"
                     else None)
    if not bounded:
        return min((ds.shape[0] for ds in growing), default=0)
    for ds in growing:
        if int(ds.attrs.get("rows", 0)) > ds.shape[0]:
            raise bad(f"its {ds.name} claims {int(ds.attrs['rows'])} rows but holds {ds.shape[0]}")
    return min((int(ds.attrs.get("rows", 0)) for ds in growing), default=0)


def read_stream(path) -> dict:
    """``{"spikes": {pop: (t_ms, ids)}, "traces": {key: (t_ms, values, labels)}, "rates": {pop:
    (t_ms, hz)}, "observed": {key: (t_ms, values)}, "dt", "t_start", "t_stop"}`` of a file
    written by ``simulate(stream_to=path)``, each monitor's data up to its bounds (the complete
    chunks: module docstring). Observed pytrees come back as arrays, dicts and tuples (a
    NamedTuple as a dict of its fields). A file that is not a stream, or is damaged, is a
    ValueError naming it and what is wrong."""
    kind = "a neurosim stream (simulate(stream_to=...))"

    def bad(why):
        return bad_file("read_stream", path, kind, why)

    out = {"spikes": {}, "traces": {}, "rates": {}, "observed": {}}
    with open_hdf5(path, "read_stream", kind, "read_stream") as f:
        try:
            version = f.attrs.get("format")
            if version not in _READS:
                raise bad(f"its format attribute is {version!r}, not one of {list(_READS)}")
            if "dt" not in f.attrs:
                raise bad("it has no dt attribute")
            t_start = float(f.attrs.get("t_start", 0.0))
            out.update(dt=float(f.attrs["dt"]), t_start=t_start, t_stop=float(f.attrs.get("t_stop", t_start)))
            bounded = version == FORMAT
            for pop, g in f.get("spikes", {}).items():
                n = _bound(g, bounded, bad)
                out["spikes"][pop] = (g["t"][:n], g["i"][:n])
            for key, g in f.get("traces", {}).items():
                n = _bound(g, bounded, bad)
                out["traces"][key] = (g["t"][:n], g["values"][:n], g["labels"][:])
            for pop, g in f.get("rates", {}).items():
                n = _bound(g, bounded, bad)
                out["rates"][pop] = (g["t"][:n], g["values"][:n])
            for key, g in f.get("observed", {}).items():
                n = _bound(g, bounded, bad)
                out["observed"][key] = (g["t"][:n], _read_tree(g["values"], n))
        except (KeyError, OSError, RuntimeError, AttributeError) as e:      # a part missing, or unreadable
            raise bad(f"a damaged HDF5 file: {type(e).__name__}: {e}") from None
    return out
