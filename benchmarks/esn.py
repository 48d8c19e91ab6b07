"""ESN memory-capacity benchmark: neurosim against ReservoirPy, on the CPU.

    .venv/bin/python benchmarks/esn.py                       # n 1000, connectivity 0.01 and 0.1
    .venv/bin/python benchmarks/esn.py --connectivity 0.01 --reservoirs 4 --steps 2000   # a quick look

The workload (identical in both tools, float64): ``--reservoirs`` (20) echo state networks of
``--n`` (1000) tanh units, leak 1, no bias, recurrent weights N(0, 1) on a random graph of
density ``--connectivity`` rescaled to spectral radius 0.95, dense input weights
U[-1, 1] x 0.1; one input series u ~ U[-0.5, 0.5] of ``--steps`` (10,000) steps drives each;
Jaeger's memory capacity with k_max = 200 (ridge 1e-8 with bias, all delays at once, rows
[400, 8000) train and [8000, 10000) test). Each reservoir draws its own connectivity.

* neurosim (this interpreter, ``--runner neurosim``): ``builders.esn`` for each seed,
  ``stack_reservoirs``, then ONE jitted function that ``jax.lax.map``s over the stacked
  reservoirs, ``batch_size = --batch`` of them vmapped at a time, ``run_reservoir`` followed by
  ``analysis.memory_capacity``. Default batch: 1 on a CPU (one reservoir after the other: on
  one core, vmapping 20 reservoirs measured 2-4x slower, the 1.6 GB of batched states and the
  batched scatter-adds working against the caches), all at once on an accelerator.
  ``compile_s`` is the ahead-of-time ``lower().compile()``; ``run_s`` one call of the compiled
  function (states + readouts).
* ReservoirPy (``.peers/reservoirpy/bin/python benchmarks/peers/reservoirpy_esn.py``): its
  ``Reservoir`` and ``Ridge`` nodes, one reservoir after the other (``run_s`` + ``readout_s``).

``seconds`` = build + run (+ readout) without neurosim's compilation; ``ratio`` =
ReservoirPy seconds / neurosim seconds for the same connectivity (> 1: neurosim is faster);
``ratio_incl_compile`` counts neurosim's compilation too. Every run is a fresh process pinned
to ``--threads`` cores (1 by default; BLAS, OpenMP and XLA's thread pools limited to match).
One JSON line per (tool, connectivity) on stdout; ``--out DIR`` also writes ``DIR/esn.json``.
Install the peer with ``bash benchmarks/peers/install.sh reservoirpy``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from driver import run_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_DIR = os.environ.get("NEUROSIM_PEERS_DIR", os.path.join(ROOT, ".peers"))
WASHOUT_OF = lambda k_max: 2 * k_max  # noqa: E731  rows before the first training row
TEST_ROWS = 2000


def limit_threads(threads: int) -> int:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(threads)
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(cores[:threads]))
        return len(os.sched_getaffinity(0))
    return threads


def split(args):
    washout = WASHOUT_OF(args.k_max)
    n_train = args.steps - washout - TEST_ROWS
    if n_train < 2 * args.k_max:
        raise SystemExit(f"esn.py: --steps {args.steps} is too short for k_max {args.k_max} (need washout "
                         f"{washout} + {TEST_ROWS} test rows + a training part)")
    return washout, n_train


# ----------------------------------------------------------------------------- neurosim runner


def run_neurosim(args) -> dict:
    threads = limit_threads(args.threads)
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    import neurosim
    from neurosim.analysis import memory_capacity
    from neurosim.builders import esn, run_reservoir, stack_reservoirs

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    washout, n_train = split(args)
    u = jax.numpy.asarray(np.random.default_rng([args.seed, 1]).uniform(-0.5, 0.5, args.steps))

    t0 = time.perf_counter()
    reservoirs = [esn(args.n, density=args.connectivity, spectral_radius=0.95, input_scaling=0.1, seed=args.seed * 1000 + r)
                  for r in range(args.reservoirs)]
    params = stack_reservoirs(reservoirs)
    jax.block_until_ready(params)
    build_s = time.perf_counter() - t0

    on_cpu = jax.devices()[0].platform == "cpu"
    batch = args.batch or (1 if on_cpu else args.reservoirs)

    def mc_all(params, u):
        def one(p):
            states = run_reservoir(p, u)
            return memory_capacity(states, u, args.k_max, washout=washout, n_train=n_train, penalty=args.penalty)[0]
        return jax.lax.map(one, params, batch_size=batch)

    t0 = time.perf_counter()
    compiled = jax.jit(mc_all).lower(params, u).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    mcs = np.asarray(jax.block_until_ready(compiled(params, u)))
    run_s = time.perf_counter() - t0
    return {
        "tool": "neurosim", "n": args.n, "connectivity": args.connectivity, "steps": args.steps,
        "reservoirs": args.reservoirs, "k_max": args.k_max, "dtype": "float64", "batch": batch,
        "build_s": round(build_s, 3), "compile_s": round(compile_s, 3), "run_s": round(run_s, 3),
        "seconds": round(build_s + run_s, 3),
        "mc_mean": round(float(mcs.mean()), 3), "mc_std": round(float(mcs.std()), 3),
        "nnz_mean": float(np.mean([r.conn.nnz for r in reservoirs])),
        "version": f"neurosim {neurosim.__version__}, jax {jax.__version__}", "device": str(jax.devices()[0]),
        "threads": threads, "load_1min": load,
    }


# ----------------------------------------------------------------------------- driver


def run_tool(tool: str, connectivity: float, args) -> dict:
    common = ["--n", str(args.n), "--connectivity", str(connectivity), "--steps", str(args.steps),
              "--reservoirs", str(args.reservoirs), "--k-max", str(args.k_max), "--penalty", str(args.penalty),
              "--threads", str(args.threads), "--seed", str(args.seed)]
    if tool == "neurosim":
        cmd = [sys.executable, os.path.abspath(__file__), "--runner", "neurosim", "--batch", str(args.batch), *common]
    else:
        python = os.path.join(PEERS_DIR, "reservoirpy", "bin", "python")
        if not os.path.exists(python):
            return {"tool": tool, "connectivity": connectivity,
                    "error": f"not installed ({python} missing): run `bash benchmarks/peers/install.sh reservoirpy`"}
        washout, n_train = split(args)
        cmd = [python, os.path.join(HERE, "peers", "reservoirpy_esn.py"), "--washout", str(washout),
               "--n-train", str(n_train), *common]
    base = {"tool": tool, "connectivity": connectivity}
    return run_json(cmd, base, timeout=args.timeout, verbose=args.verbose, peer=tool != "neurosim")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="units per reservoir")
    ap.add_argument("--connectivity", default="0.01,0.1", help="comma-separated recurrent densities")
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--reservoirs", type=int, default=20)
    ap.add_argument("--k-max", type=int, default=200)
    ap.add_argument("--penalty", type=float, default=1e-8)
    ap.add_argument("--batch", type=int, default=0, help="neurosim: reservoirs vmapped at once (0 = 1 on CPU, all on GPU)")
    ap.add_argument("--tools", default="neurosim,reservoirpy")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    ap.add_argument("--out", default=None, help="also write DIR/esn.json")
    ap.add_argument("--runner", choices=["neurosim"], help=argparse.SUPPRESS)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    if args.runner == "neurosim":
        args.connectivity = float(args.connectivity)
        print(json.dumps(run_neurosim(args)), flush=True)
        return 0

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - {"neurosim", "reservoirpy"}
    if unknown:
        raise SystemExit(f"esn.py: unknown tool(s) {sorted(unknown)} (known: neurosim, reservoirpy)")
    split(args)
    lines = []
    for c in (float(x) for x in args.connectivity.split(",")):
        ours = None
        for tool in sorted(tools, key=lambda t: t != "neurosim"):
            line = run_tool(tool, c, args)
            if tool == "neurosim" and "error" not in line:
                ours = line
            elif ours is not None and "error" not in line:
                line["ratio"] = round(line["seconds"] / ours["seconds"], 3)
                line["ratio_incl_compile"] = round(line["seconds"] / (ours["seconds"] + ours["compile_s"]), 3)
            print(json.dumps(line), flush=True)
            lines.append(line)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "esn.json"), "w") as f:
            json.dump(lines, f, indent=2)
    return 0 if all("error" not in d for d in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
