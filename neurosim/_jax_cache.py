"""JAX's persistent compilation cache, on by default for neurosim's users.

A network's first ``simulate`` compiles its programs (the engine's chunk, the initial state,
the finiteness checks): 0.3-1.5 s of CPU that every new process paid again. With the cache, a
second process with the same network and jaxlib loads the compiled programs from disk.

Where: ``$NEUROSIM_JAX_CACHE`` when set to a directory; else ``neurosim/jax`` under
``$XDG_CACHE_HOME`` (default ``~/.cache``); a directory asked for that cannot be created or
written is a ValueError naming the variable. Off: ``NEUROSIM_JAX_CACHE=0`` (or ``off``,
``false``, ``no``). The directory is not capped (JAX's capped cache scans the whole
directory at every write: with the test suite's ~5,000 programs, a few hundred milliseconds
per compiled program); delete it to reclaim the space. neurosim leaves JAX alone when its cache
is already configured (the ``JAX_COMPILATION_CACHE_DIR`` variable, or
``jax.config.update("jax_compilation_cache_dir", ...)`` before ``import neurosim``), and when
the default directory cannot be written. JAX writes an entry in place, and without a lock when
the cache has no size cap: processes started together on one directory can read an entry
another is writing, warn ``Error reading persistent compilation cache entry`` and compile the
program again (same results); give them a directory each. Programs that took at least ``MIN_COMPILE_S`` (10 ms)
to compile are kept: JAX's own default keeps only those over 1 s,
which left out most of a simulation's programs, whose compilations add up to a second; the
eager operations below 10 ms, most of the programs a session compiles, are not worth a file
each. A user's own setting of that threshold is kept.

Measured (one core, jax 0.12.1): the first ``simulate`` of Brunel's network at scale 0.1 took
1.6 s of CPU in a new process, 0.27 s with the cache; COBA-4000 0.7 s, then 0.2 s.
"""
from __future__ import annotations

import os
from pathlib import Path

import jax

from ._files import cache_dir

MIN_COMPILE_S = 0.01
OFF = {"0", "off", "false", "no"}
JAX_DEFAULT_MIN_COMPILE_S = 1.0


def directory() -> Path | None:
    """The cache directory neurosim would set, or None when it is turned off or cannot be used."""
    if os.environ.get("NEUROSIM_JAX_CACHE", "").strip().lower() in OFF:
        return None
    return cache_dir("NEUROSIM_JAX_CACHE", "jax", "to 0 to turn the compilation cache off, or unset it")


def configure() -> Path | None:
    """Turn JAX's persistent compilation cache on (module docstring); returns the directory in
    use, None when off or left to the user's own configuration."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR") or jax.config.jax_compilation_cache_dir:
        return None
    path = directory()
    if path is None:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    if ("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ
            and jax.config.jax_persistent_cache_min_compile_time_secs == JAX_DEFAULT_MIN_COMPILE_S):
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
    return path
