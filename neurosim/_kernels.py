"""Loading the compiled kernels built by :mod:`neurosim._build` and registering their XLA FFI
targets. A library that is missing or fails to load is reported once (a
:class:`KernelWarning`) and neurosim falls back to the pure-JAX reference.

:func:`ready` is the one door: ``ready("events", "cuda")`` loads ``libevents_cuda.so`` on first
use, registers every FFI target of :data:`TARGETS` ``["events"]`` (exported as
``<target>_<platform>``, kernels/README.md) and remembers the answer.

``NEUROSIM_KERNELS=off`` in the environment, read once at import, disables every compiled
kernel (the reference is then used everywhere), e.g. to compare against it.
"""
from __future__ import annotations

import ctypes
import os
import warnings

from pathlib import Path

import jax

LIB = Path(__file__).resolve().parent / "_lib"  # where neurosim._build puts the libraries
ENABLED = os.environ.get("NEUROSIM_KERNELS", "on").lower() not in ("0", "off", "false", "no")


# library -> its FFI targets (the contracts of kernels/README.md)
TARGETS = {
    "events": ("neurosim_csr_event", "neurosim_csr_transposed", "neurosim_ring_add"),
    "jitconn": ("neurosim_jit_event", "neurosim_jit_transposed"),
    "fused": ("neurosim_fused_lif", "neurosim_fused_lif_plastic"),
    "plasticity": ("neurosim_stdp_pair",),
}
# targets whose CUDA library does not export them (they exist for CPUs only)
CPU_ONLY = {"neurosim_fused_lif_plastic", "neurosim_ring_add"}
_FFI_PLATFORM = {"cpu": "cpu", "cuda": "CUDA"}  # library suffix -> jax.ffi platform name


class KernelWarning(UserWarning):
    """A compiled kernel is missing or could not be loaded; neurosim uses the reference."""


_loaded: dict = {}   # (name, platform) -> ctypes.CDLL | None
_ready: dict = {}    # (name, platform) -> whether its targets are registered
_warned: set = set()


def ready(name: str, platform: str) -> bool:
    """Whether library ``name``'s kernels for ``platform`` ("cpu" or "cuda") are loaded and
    registered; the first call tries (and warns once if the library is absent)."""
    key = (name, platform)
    if key not in _ready:
        ok = False
        if platform in _FFI_PLATFORM:
            lib = load(name, platform)
            symbols = {t: f"{t}_{platform}" for t in TARGETS[name] if platform == "cpu" or t not in CPU_ONLY}
            ok = lib is not None and register(lib, symbols, _FFI_PLATFORM[platform])
        _ready[key] = ok
    return _ready[key]


def device_platform() -> str:
    """The lowering platform where a jitted call runs now (``jax.default_device`` if set, else
    the first device): "cpu", "cuda", "rocm", "tpu", ..."""
    dev = jax.config.jax_default_device
    if dev is None:
        dev = jax.devices()[0]
    elif isinstance(dev, str):
        dev = jax.devices(dev)[0]
    if dev.platform == "gpu":
        version = str(getattr(dev.client, "platform_version", "")).lower()
        return "rocm" if ("rocm" in version or "hip" in version) else "cuda"
    return dev.platform


def load(name: str, platform: str = "cpu"):
    """The ``lib<name>_<platform>.so`` library, or None (with one warning) if it is absent."""
    key = (name, platform)
    if key in _loaded:
        return _loaded[key]
    lib = None
    if ENABLED:
        from ._build import library_path  # here, so `python -m neurosim._build` runs it fresh

        path = library_path(name, platform, LIB)
        try:
            lib = ctypes.cdll.LoadLibrary(str(path))
        except OSError as err:
            if platform == "cpu" or _has_gpu():
                _warn_once(key, f"neurosim: compiled kernel {path.name} is not available ({err}); using the "
                                f"pure-JAX reference instead. Rebuild with `python -m neurosim._build`.")
    _loaded[key] = lib
    return lib


def register(lib, symbols: dict, platform: str) -> bool:
    """Register ``{ffi_target_name: exported_handler_symbol}`` of ``lib`` for ``platform``
    ("cpu" or "CUDA"). Returns False if a symbol is missing."""
    try:
        for target, symbol in symbols.items():
            jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), platform=platform)
    except (AttributeError, ValueError, RuntimeError) as err:
        _warn_once((str(symbols), platform), f"neurosim: could not register compiled kernels {list(symbols)} "
                                             f"for {platform} ({err}); using the pure-JAX reference instead.")
        return False
    return True


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, KernelWarning, stacklevel=3)


def _has_gpu() -> bool:
    try:
        return any(d.platform == "gpu" for d in jax.devices())
    except RuntimeError:
        return False
