"""Files written whole or not at all, and read back with errors that say what is wrong with them.

- :func:`write_atomically`: a new file beside the target, flushed to the disk, then renamed over
  it; used by every writer of a file that a later run reads back (``save_checkpoint``, the
  checkpoints of ``train.fit``, the resume files of ``sweep``).
- :func:`read_npz` and :func:`open_hdf5`: every array of an ``.npz`` file, or an HDF5 file open
  for reading; a damaged file (empty, cut short, text, random bytes) is a ValueError naming the
  reader, the file and what it holds instead: ``"load_checkpoint: '/x/y.npz' is not a neurosim
  checkpoint (not a zip archive: it holds text)"``.
- :func:`bad_file`: that ValueError, for the readers' own checks of what the file holds.
- :func:`cache_dir`: a cache directory, ``$VARIABLE`` when set, else ``neurosim/<name>`` under
  ``$XDG_CACHE_HOME`` (default ``~/.cache``); used by the native engine's compiled libraries and
  by JAX's compilation cache.
"""
from __future__ import annotations

import contextlib
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np

_ZIP, _HDF5 = b"PK\x03\x04", b"\x89HDF\r\n\x1a\n"


def write_atomically(path, write, who: str) -> Path:
    """Write ``path`` whole or not at all: ``write(f)`` fills a new file in the same directory
    (``.<name>.<pid>-<random>.tmp``), which is flushed to the disk (``os.fsync``) and renamed over
    ``path`` (``os.replace``, atomic). A reader, another writer or a kill at any moment sees the
    old file or the new one, never a part of one (a kill may leave the temporary file behind).
    When writing fails (a full disk, say), the temporary file is removed, ``path`` is as it was,
    and an OSError of the same ``errno`` names ``who`` and ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OSError(e.errno, f"{who}: could not write {str(path)!r} ({e.strerror or e}); the file that was "
                                   "there, if any, is unchanged") from e
        raise
    with contextlib.suppress(OSError):       # the rename itself survives a power cut once the directory is synced
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def cache_dir(variable: str, name: str, unset: str) -> Path | None:
    """``$variable`` when set, created if need be: a ValueError naming it when it cannot be created
    or written (the user asked for it; ``unset`` ends the message with what else to do); else
    ``neurosim/<name>`` under ``$XDG_CACHE_HOME`` (default ``~/.cache``), or None when that cannot
    be made or written (no home directory, a read-only one): the caller decides what then."""
    asked = os.environ.get(variable, "").strip()
    if asked:
        path = Path(asked).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"{variable}={asked!r} cannot be created ({err.strerror}); set it to a writable "
                             f"directory, {unset}") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{variable}={asked!r} is not writable; set it to a writable directory, {unset}")
        return path
    try:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "neurosim" / name
        path.mkdir(parents=True, exist_ok=True)
        return path if os.access(path, os.W_OK | os.X_OK) else None
    except (OSError, RuntimeError):       # no home directory, or one that cannot be written
        return None


def bad_file(who: str, path, kind: str, why: str) -> ValueError:
    """``who: 'path' is not <kind> (<why>)``."""
    return ValueError(f"{who}: {str(path)!r} is not {kind} ({why})")


def _existing(path, who: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{who}: no file {str(path)!r}")
    return path


def _holds_instead(path: Path, magic: bytes, format_name: str) -> str:
    """What a file that is not ``format_name`` ("a zip archive") holds: nothing, the start of
    one, text, bytes."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "an empty file"
    if head[:len(magic)] == magic[:len(head)]:
        return f"{format_name} cut short or damaged"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"not {format_name}"
    return f"not {format_name}: it holds text"


def read_npz(path, who: str, kind: str) -> dict:
    """``{name: array}`` of the ``.npz`` file ``path``, loaded without pickle (no code runs), or a
    ValueError saying what the file is instead."""
    path = _existing(path, who)
    if not zipfile.is_zipfile(path):
        raise bad_file(who, path, kind, _holds_instead(path, _ZIP, "a zip archive"))
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:     # a damaged member, an object array
        raise bad_file(who, path, kind, f"a zip archive with a damaged entry: {e}") from None


def open_hdf5(path, who: str, kind: str, feature: str = "reading HDF5 files", extra: str = "nwb"):
    """``h5py.File(path, "r")``, or a ValueError saying what the file is instead (an HDF5 file cut
    short, by a copy or a full disk, is refused here: HDF5 cannot read it)."""
    from .io._optional import require

    h5py = require("h5py", feature, extra)
    path = _existing(path, who)
    if not h5py.is_hdf5(path):
        raise bad_file(who, path, kind, _holds_instead(path, _HDF5, "an HDF5 file"))
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise bad_file(who, path, kind, f"an HDF5 file cut short or damaged: {e}") from None
