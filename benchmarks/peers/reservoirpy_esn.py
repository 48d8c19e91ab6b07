"""ESN memory-capacity benchmark, ReservoirPy side (run with .peers/reservoirpy/bin/python).

The workload of ``benchmarks/esn.py``, written with ReservoirPy's own parts: for each of
``--reservoirs`` seeds a ``reservoirpy.nodes.Reservoir`` (``units=n``, tanh, ``lr=1``,
``sr=0.95`` rescaled by ReservoirPy (ARPACK), ``rc_connectivity=c`` with N(0, 1) weights
(``mat_gen.normal``, a scipy sparse matrix), ``Win = mat_gen.uniform`` with
``input_connectivity=1`` and ``input_scaling=0.1``, no bias, float64) is run on the shared input
series ``u ~ U[-0.5, 0.5]`` (``--steps`` steps, ``Reservoir.run``); a ``reservoirpy.nodes.Ridge``
(``ridge=--penalty``, with bias) is fitted on rows [washout, washout + n_train) to the lagged
inputs ``u(t - k)``, k = 1..k_max, all at once, and run on the remaining rows; MC_k is the
squared correlation of each output with its target (as in ``reservoirpy.observables
.memory_capacity``), MC their sum. Reservoirs run one after the other (ReservoirPy has no
batch axis over reservoirs).

Prints one JSON line: ``tool, n, connectivity, steps, reservoirs, k_max, build_s, run_s,
readout_s, seconds (= build + run + readout), mc_mean, mc_std, nnz_mean, version, threads,
load_1min``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def limit_threads(threads: int) -> int:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(threads)
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(cores[:threads]))
        return len(os.sched_getaffinity(0))
    return threads


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--connectivity", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--reservoirs", type=int, default=20)
    ap.add_argument("--k-max", type=int, default=200)
    ap.add_argument("--washout", type=int, default=400)
    ap.add_argument("--n-train", type=int, default=7600)
    ap.add_argument("--penalty", type=float, default=1e-8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    threads = limit_threads(args.threads)

    import numpy as np  # after the thread limits, so that OpenBLAS sees them
    import reservoirpy
    from reservoirpy import mat_gen
    from reservoirpy.nodes import Reservoir, Ridge

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    u = np.random.default_rng([args.seed, 1]).uniform(-0.5, 0.5, (args.steps, 1))
    lags = np.arange(1, args.k_max + 1)
    rows = np.arange(args.washout, args.steps)
    targets = u[rows[:, None] - lags[None, :], 0]                      # (rows, k_max): u(t - k)
    train = slice(0, args.n_train)
    test = slice(args.n_train, None)

    build_s = run_s = readout_s = 0.0
    mcs, nnzs = [], []
    for r in range(args.reservoirs):
        t0 = time.perf_counter()
        res = Reservoir(units=args.n, lr=1.0, sr=0.95, input_scaling=0.1, input_connectivity=1.0,
                        rc_connectivity=args.connectivity, Win=mat_gen.uniform, W=mat_gen.normal,
                        bias=0.0, seed=args.seed * 1000 + r)
        res.initialize(u[:1])
        t1 = time.perf_counter()
        states = res.run(u)
        t2 = time.perf_counter()
        x = states[args.washout:]
        readout = Ridge(ridge=args.penalty)
        readout.fit(x[train], targets[train])
        y_hat = readout.run(x[test])
        y = targets[test]
        yc, hc = y - y.mean(0), y_hat - y_hat.mean(0)
        mc_k = (yc * hc).sum(0) ** 2 / ((yc**2).sum(0) * (hc**2).sum(0))
        t3 = time.perf_counter()
        build_s += t1 - t0
        run_s += t2 - t1
        readout_s += t3 - t2
        mcs.append(float(mc_k.sum()))
        nnzs.append(int(res.W.nnz) if hasattr(res.W, "nnz") else int(np.count_nonzero(res.W)))
        print(f"reservoirpy_esn: reservoir {r}: MC {mcs[-1]:.2f}, build {t1 - t0:.2f} s, run {t2 - t1:.2f} s, "
              f"readout {t3 - t2:.2f} s", file=sys.stderr)

    line = {
        "tool": "reservoirpy", "n": args.n, "connectivity": args.connectivity, "steps": args.steps,
        "reservoirs": args.reservoirs, "k_max": args.k_max, "dtype": "float64",
        "build_s": round(build_s, 3), "run_s": round(run_s, 3), "readout_s": round(readout_s, 3),
        "seconds": round(build_s + run_s + readout_s, 3),
        "mc_mean": round(float(np.mean(mcs)), 3), "mc_std": round(float(np.std(mcs)), 3),
        "nnz_mean": float(np.mean(nnzs)), "version": f"reservoirpy {reservoirpy.__version__}, numpy {np.__version__}",
        "threads": threads, "load_1min": load,
    }
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
