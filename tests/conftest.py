"""Shared test helpers.

- ``x64``: a fixture that turns on ``jax_enable_x64`` for one test only (and restores the
  previous setting afterwards). The suite runs in float32, the library's default; a test asks
  for float64 only where it compares against a float64 reference and wants rounding out of
  the way (identical spike times, Euler convergence order).
- Hypothesis runs derandomized (its examples are a fixed function of each test) and keeps no
  example database, so a fresh clone and a re-run draw the same cases: CI is deterministic.
  ``HYPOTHESIS_PROFILE=explore`` draws fresh random cases when hunting for bugs by hand.
- **Strict JAX:** implicit rank promotion raises (``(B, n) + (n,)`` must be written
  ``(B, n) + (n,)[None]``), in this process and, through the environment, in the example
  scripts the tests start. ``NEUROSIM_TEST_RANK_PROMOTION=allow`` turns it off by hand.
- **A compilation cache of the run's own:** ``NEUROSIM_JAX_CACHE`` (the persistent JAX cache
  ``import neurosim`` turns on) points at a new temporary directory per run, unless it is set
  already: a file left cut short in the user's cache by an interrupted run would make JAX warn
  on reading it, and warnings are errors here. **Each xdist worker gets a directory of its own**
  under it (shared with the example scripts it starts): JAX writes an entry in place, without a
  lock when the cache is not capped, so two workers compiling the same program at once (both
  collect every module) could read each other's entries half written. That failed CI once.
- ``requires_gpu``: a decorator that marks a test ``gpu`` and skips it when ``jax.devices()``
  has no GPU. Tests marked ``@pytest.mark.gpu`` directly are skipped the same way.
"""
import atexit
import os
import shutil
import tempfile

if "NEUROSIM_JAX_CACHE" not in os.environ:
    os.environ["NEUROSIM_JAX_CACHE"] = tempfile.mkdtemp(prefix="neurosim-test-jax-cache-")
    atexit.register(shutil.rmtree, os.environ["NEUROSIM_JAX_CACHE"], ignore_errors=True)
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and os.environ["NEUROSIM_JAX_CACHE"].strip().lower() not in {"0", "off", "false", "no"}:
    os.environ["NEUROSIM_JAX_CACHE"] = os.path.join(os.environ["NEUROSIM_JAX_CACHE"], _WORKER)
    os.makedirs(os.environ["NEUROSIM_JAX_CACHE"], exist_ok=True)
os.environ["JAX_NUMPY_RANK_PROMOTION"] = os.environ.get("NEUROSIM_TEST_RANK_PROMOTION", "raise")

import jax  # noqa: E402  (after the environment above, so jax reads it)
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", os.environ["JAX_NUMPY_RANK_PROMOTION"])  # in case jax came first

settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


def _has_gpu() -> bool:
    try:
        return any(d.platform == "gpu" for d in jax.devices())
    except RuntimeError:  # no backend could be initialised
        return False


_SKIP_NO_GPU = pytest.mark.skipif(not _has_gpu(), reason="needs a GPU; jax.devices() has none")


def requires_gpu(test):
    """``@requires_gpu``: run the test only where JAX sees a GPU."""
    return pytest.mark.gpu(_SKIP_NO_GPU(test))


def pytest_collection_modifyitems(config, items):
    if _has_gpu():
        return
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(_SKIP_NO_GPU)


@pytest.fixture
def x64():
    """Enable float64 in JAX for the duration of one test."""
    with jax.enable_x64(True):
        yield
