"""Compiling generated C++ once per model configuration, and keeping it across processes.

A library is named by the SHA-256 of its source, the compiler's version, the flags and the
processor it was built for, and kept in the cache directory: ``$NEUROSIM_CACHE_DIR`` when set,
else ``~/.cache/neurosim/native`` (``$XDG_CACHE_HOME`` respected). A second process with the
same network finds the library there and only loads it. Writes are atomic (a temporary file,
then a rename), so processes that compile the same program at once do not see half a file.

A cache directory that cannot be written: ``$NEUROSIM_CACHE_DIR`` set to one is an error that
names it (the user asked for it); the default one falls back to a private temporary directory
for this process (compiled again in the next).
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from ... import _files

FLAGS = ["-O3", "-std=c++17", "-shared", "-fPIC", "-fopenmp-simd", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-fwrapv",
         "-march=native"]
# GCC only: if-convert selects with many cases (a lax.switch, the segments of ndtri), so such loops vectorise
GCC_FLAGS = ["--param=max-tree-if-conversion-phi-args=64"]


def flags(cxx: str, source: str = "") -> list:
    """The compile flags for compiler ``cxx`` and the program ``source``: OpenMP's runtime
    (``-fopenmp``) only for a program that opens parallel regions (one that runs on several
    threads), so a one-thread program needs no OpenMP library."""
    base = FLAGS + (GCC_FLAGS if "clang" not in _version(cxx).lower() else [])
    return [("-fopenmp" if f == "-fopenmp-simd" and "#pragma omp parallel" in source else f) for f in base]

_libraries: dict = {}     # digest -> ctypes.CDLL (this process)
_fallback_dir: list = []  # the temporary directory used when the default cache cannot be written


class CompilerMissing(RuntimeError):
    """No C++ compiler on this machine: the native engine cannot run (the scan can)."""


def compiler() -> str | None:
    for c in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if c and shutil.which(c):
            return shutil.which(c)
    return None


@functools.lru_cache(maxsize=None)
def _version(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") or line.startswith("flags"):
                    return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_dir() -> Path:
    """Where compiled libraries are kept (see the module docstring); raises ``ValueError`` for
    an unwritable ``$NEUROSIM_CACHE_DIR``."""
    path = _files.cache_dir("NEUROSIM_CACHE_DIR", "native", "or unset it to use ~/.cache/neurosim/native")
    if path is not None:
        return path
    if not _fallback_dir:
        _fallback_dir.append(Path(tempfile.mkdtemp(prefix="neurosim-native-")))
    return _fallback_dir[0]


def digest(source: str) -> str:
    cxx = compiler()
    if cxx is None:
        raise CompilerMissing("no C++ compiler (g++, c++ or clang++; or $CXX) was found")
    text = "\n".join([source, cxx, _version(cxx), " ".join(flags(cxx, source)), _cpu()])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load(source: str, symbol: str):
    """The function ``symbol`` of ``source`` compiled (or found in the cache) and loaded;
    returns ``(function, seconds spent compiling, 0 when cached)``."""
    key = digest(source)
    if key in _libraries:
        return getattr(_libraries[key], symbol), 0.0
    directory = cache_dir()
    lib = directory / f"ns_{key}.so"
    spent = 0.0
    if not lib.exists():
        import time

        t0 = time.perf_counter()
        src = directory / f"ns_{key}.{os.getpid()}.cc"
        tmp = directory / f"ns_{key}.{os.getpid()}.so.tmp"
        src.write_text(source)
        cmd = [compiler(), *flags(compiler(), source), str(src), "-o", str(tmp)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            keep = directory / f"ns_{key}.failed.cc"
            os.replace(src, keep)
            raise RuntimeError(f"the generated C++ did not compile (source kept in {keep}):\n{done.stderr[-4000:]}")
        os.replace(tmp, lib)
        src.unlink(missing_ok=True)
        spent = time.perf_counter() - t0
    handle = ctypes.CDLL(str(lib))
    _libraries[key] = handle
    return getattr(handle, symbol), spent
