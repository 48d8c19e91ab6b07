"""Shared helpers for the COBA benchmark runners in this folder.

Every runner is a standalone script run with its own peer venv's Python
(``.peers/<tool>/bin/python``), so this module must only use the standard
library and numpy, and must not import the tool itself.

The COBA network (Vogels & Abbott 2005 / Brette et al. 2007 benchmark 1,
in the variant measured in docs/performance.md):

* N LIF neurons, the first 80 % excitatory, the rest inhibitory.
* Every ordered pair connected independently with probability p
  (default ``min(0.02, 80 / N)``: p = 0.02 up to N = 4000, then a fixed
  mean of 80 synapses per neuron); autapses allowed.
* tau_m dV/dt = (V_rest - V) + g_e (E_e - V) + g_i (E_i - V) + 20 mV,
  conductances in units of g_L = 10 nS (C = 200 pF, tau_m = 20 ms).
* dg_e/dt = -g_e / 5 ms, dg_i/dt = -g_i / 10 ms; E spike: g_e += 0.6,
  I spike: g_i += 6.7 (6 nS / 67 nS).
* V_rest = V_reset = -60 mV, V_th = -50 mV, refractory 5 ms (V clamped).
* dt = 0.1 ms, V(0) ~ U(-60, -50) mV, g(0) = 0, spikes delivered on the
  next step (no extra delay).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import shutil
import sys
import time

# ---------------------------------------------------------------- parameters
DT_MS = 0.1
TAU_M_MS = 20.0
TAU_E_MS = 5.0
TAU_I_MS = 10.0
TAU_REF_MS = 5.0
V_REST_MV = -60.0
V_RESET_MV = -60.0
V_TH_MV = -50.0
E_E_MV = 0.0
E_I_MV = -80.0
I_BG_MV = 20.0          # background drive, = 200 pA * 100 MOhm
W_E = 0.6               # units of g_L
W_I = 6.7
G_L_NS = 10.0
C_M_PF = 200.0
I_BG_PA = I_BG_MV * G_L_NS  # 200 pA
FRAC_E = 0.8


def default_p(n: int) -> float:
    return min(0.02, 80.0 / n)


def n_exc(n: int) -> int:
    return int(round(FRAC_E * n))


# ---------------------------------------------------------------- arguments
def parse_args(description: str, modes: list[str] | None = None, argv=None, add=None):
    """Common runner options; ``add(parser)`` may add tool-specific ones."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--n", type=int, default=4000, help="number of neurons (80%% E, 20%% I)")
    ap.add_argument("--duration", type=float, default=1.0, help="simulated time in seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--p", type=float, default=None,
                    help="connection probability (default min(0.02, 80/N))")
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads/cores the tool may use (the process is pinned to that many cores)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    if modes:
        ap.add_argument("--mode", default=modes[0], choices=modes)
    if add is not None:
        add(ap)
    args = ap.parse_args(argv)
    if args.p is None:
        args.p = default_p(args.n)
    if args.n < 2:
        ap.error("--n must be >= 2")
    if not 0.0 < args.p <= 1.0:
        ap.error("--p must be in (0, 1]")
    if args.duration <= 0:
        ap.error("--duration must be > 0")
    return args


# ---------------------------------------------------------------- NEST
def nest_kernel(dt_ms: float, threads: int, seed: int):
    """Import NEST quietly and reset its kernel for one run: resolution ``dt_ms``,
    ``threads`` local threads, RNG seed ``seed + 1`` (NEST seeds must be >= 1). Returns
    the ``nest`` module. Call inside ``quiet_stdout()``."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:
        nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = dt_ms
    nest.local_num_threads = threads
    nest.rng_seed = seed + 1
    nest.print_time = False
    return nest


def nest_run(nest, duration_s: float) -> tuple[float, float]:
    """``(compile_s, run_s)``: ``nest.Prepare()`` (NEST's per-simulation set-up; it compiles
    nothing) and ``nest.Run`` of ``duration_s`` seconds, timed apart, then ``nest.Cleanup()``."""
    t0 = now()
    nest.Prepare()
    compile_s = now() - t0
    t0 = now()
    nest.Run(duration_s * 1000.0)
    run_s = now() - t0
    nest.Cleanup()
    return compile_s, run_s


# ---------------------------------------------------------------- threads
def limit_threads(threads: int, pin: bool = True) -> int:
    """Pin this process (and its future children) to ``threads`` cores and
    set the usual thread-count variables.  Call before importing the tool.
    Returns the number of cores actually allowed."""
    threads = max(1, int(threads))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(threads)
    if pin and hasattr(os, "sched_setaffinity"):
        try:
            cores = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, set(cores[:threads]))
        except OSError:
            pass
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return threads


def machine_cores() -> int:
    return os.cpu_count() or 1


def load_1min():
    """1-minute load average of the machine (other work running beside the
    benchmark makes its timings unreliable); None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


_LOAD_AT_IMPORT = load_1min()


def cpu_device() -> str:
    n = machine_cores()
    return f"cpu ({n} core{'s' if n != 1 else ''})"


# ---------------------------------------------------------------- connectivity
def bernoulli_csr(n_pre: int, n_post: int, p: float, rng, *, chunk_cells: int = 1 << 24):
    """Random connectivity, every (pre, post) pair independently with
    probability p (autapses allowed), as CSR (indptr, indices) with rows =
    presynaptic neurons.  Exact Bernoulli sampling by masks while a block of
    rows fits ``chunk_cells``; for very wide rows each row draws its
    Binomial(n_post, p) count and that many distinct targets."""
    import numpy as np

    counts = np.zeros(n_pre, dtype=np.int64)
    parts = []
    if n_post <= chunk_cells:
        rows = max(1, chunk_cells // n_post)
        for r0 in range(0, n_pre, rows):
            r1 = min(n_pre, r0 + rows)
            mask = rng.random((r1 - r0, n_post), dtype=np.float32) < p
            counts[r0:r1] = mask.sum(axis=1)
            parts.append(np.nonzero(mask)[1].astype(np.int32))
    else:  # pragma: no cover - only for n in the millions
        counts = rng.binomial(n_post, p, size=n_pre).astype(np.int64)
        for k in counts:
            parts.append(np.sort(rng.choice(n_post, size=int(k), replace=False)).astype(np.int32))
    indptr = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    return indptr, indices


# ---------------------------------------------------------------- output
def result(tool: str, args, *, build_s, compile_s, run_s, spikes_e, spikes_i,
           version: str, threads: int, device: str | None = None, **extra) -> dict:
    n = args.n
    ne = n_exc(n)
    ni = n - ne
    dur = float(args.duration)
    out = {
        "tool": tool,
        "n": n,
        "duration_s": dur,
        "build_s": round(float(build_s), 4),
        "compile_s": None if compile_s is None else round(float(compile_s), 4),
        "run_s": round(float(run_s), 4),
        "rtf": round(float(run_s) / dur, 4),
        "rate_e_hz": round(float(spikes_e) / ne / dur, 3),
        "rate_i_hz": round(float(spikes_i) / ni / dur, 3) if ni else None,
        "device": device or cpu_device(),
        "threads": threads,
        "version": version,
        "p": args.p,
        "seed": args.seed,
        "load_1min": _LOAD_AT_IMPORT,
    }
    out.update(extra)
    return out


def emit(d: dict) -> None:
    """Print the one JSON result line on the real stdout."""
    sys.stdout.write(json.dumps(d) + "\n")
    sys.stdout.flush()


class quiet_stdout:
    """Redirect fd 1 to fd 2 while the tool runs (NEST, Brian and JAX may
    print to stdout), so the runner's stdout carries only the JSON line."""

    def __enter__(self):
        sys.stdout.flush()
        self._saved = os.dup(1)
        os.dup2(2, 1)
        return self

    def __exit__(self, *exc):
        sys.stdout.flush()
        os.dup2(self._saved, 1)
        os.close(self._saved)
        return False


now = time.perf_counter


# ---------------------------------------------------------------- Brian2
class Brian2Build:
    """Brian2 code generation as the peer scripts use it: the Cython runtime or C++ standalone,
    compiled in a fresh directory (``cache="cold"``, removed by :meth:`cleanup`) or reusing
    ``.peers/brian2/cache`` (``"warm"``). ``b2`` is the imported brian2 module."""

    def __init__(self, b2, standalone: bool, cache: str, threads: int = 1):
        self.b2, self.standalone, self.cache = b2, standalone, cache
        self.cache_root = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                       ".peers", "brian2", "cache")
        self._tmp = []
        b2.prefs.logging.console_log_level = "WARNING"
        if standalone:
            b2.set_device("cpp_standalone", build_on_run=False)
            b2.prefs.devices.cpp_standalone.openmp_threads = 0 if threads <= 1 else threads
        else:
            b2.prefs.codegen.target = "cython"
            b2.prefs.codegen.runtime.cython.cache_dir = self._dir("cython")
            b2.prefs.codegen.runtime.cython.multiprocess_safe = False

    def _dir(self, name: str) -> str:
        if self.cache == "cold":
            d = tempfile.mkdtemp(prefix=f"brian2-{name}-")
            self._tmp.append(d)
            return d
        d = os.path.join(self.cache_root, name)
        os.makedirs(d, exist_ok=True)
        return d

    def standalone_dir(self, name: str) -> str:
        """Where ``device.build`` writes the C++ project ``name``."""
        return self._dir(f"standalone-{name}")

    def run(self, net, duration, name: str, threads: int = 1) -> tuple:
        """Run ``net`` (a brian2 Network) for ``duration`` (a brian2 quantity) and return
        ``(compile_s, run_s)``: C++ standalone builds the project ``name`` and runs its binary
        pinned to ``threads`` cores; Cython compiles with a zero-length run first. ``run_s`` is
        Brian's own timer around the network loop."""
        b2 = self.b2
        if self.standalone:
            net.run(duration)
            build_dir = self.standalone_dir(name)
            t0 = now()
            b2.device.build(directory=build_dir, compile=True, run=False, with_output=False)
            compile_s = now() - t0
            limit_threads(threads, pin=True)
            b2.device.run(directory=build_dir, with_output=False)
            return compile_s, float(b2.device._last_run_time)
        t0 = now()
        net.run(0 * b2.ms)
        compile_s = now() - t0
        net.run(duration)
        return compile_s, float(b2.get_device()._last_run_time)

    def cleanup(self) -> None:
        for d in self._tmp:
            shutil.rmtree(d, ignore_errors=True)
