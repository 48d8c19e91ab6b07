"""The cortical microcircuit (Potjans & Diesmann 2014, ``neurosim.builders.microcircuit``) on
neurosim: build time, compile time, real-time factor and memory at one or more scales.

    .venv/bin/python benchmarks/microcircuit.py [--scales 0.02,0.1] [--duration S] [--engine auto]

One JSON line per scale: neurons, synapses, ``build_s`` (the network: connectivity, weights,
delays), ``state_s`` (simulate's set-up before the first chunk, including the initial state),
``compile_s``, ``run_s`` and ``rtf`` (run seconds per simulated second), the engine that ran,
mean rate, and ``peak_rss_mb`` / ``bytes_per_synapse`` (the peak resident memory of this
process over the synapses; each scale runs in a fresh process so the figures do not mix). The
whole run is pinned to one core with XLA's multi-threaded Eigen off. NEST is not run here (it
cannot be installed on this machine); its figures for the full model are in docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
sys.path.insert(1, os.path.dirname(HERE))


def one(scale: float, duration_s: float, engine: str, seed: int) -> dict:
    import common as C

    C.limit_threads(1, pin=True)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    import importlib

    import jax

    import neurosim as ns
    M = importlib.import_module("neurosim.builders.microcircuit")

    t0 = time.perf_counter()
    net = M.microcircuit(scale, seed=seed)
    build_s = time.perf_counter() - t0
    res = ns.simulate(net, duration_s * 1e3, 0.1, key=seed, engine=engine,
                      monitors=[ns.Spikes(p) for p in M.POPULATIONS], progress=False)
    n = sum(p.n for p in net.populations)
    synapses = sum(pr.conn.nnz for pr in net.projections)
    spikes = sum(res.spikes[p][0].size for p in M.POPULATIONS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = res.timings
    return {"tool": "neurosim", "workload": "microcircuit", "scale": scale, "k_scale": scale, "neurons": n,
            "synapses": synapses, "duration_s": duration_s, "engine": t["engine"], "build_s": round(build_s, 2),
            "state_s": round(t["build_s"], 2), "compile_s": round(t["compile_s"], 2), "run_s": round(t["run_s"], 3),
            "rtf": round(t["run_s"] / duration_s, 3), "rate_hz": round(spikes / n / duration_s, 3),
            "peak_rss_mb": round(peak / 1e6, 1), "bytes_per_synapse": round(peak / max(synapses, 1), 1),
            "device": C.cpu_device(), "version": f"neurosim {ns.__version__}, jax {jax.__version__}",
            "load_1min": C.load_1min()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="0.02,0.1")
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)    # the child process
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one(args.one, args.duration, args.engine, args.seed)), flush=True)
        return
    for scale in (float(s) for s in args.scales.split(",")):
        proc = subprocess.run([sys.executable, __file__, "--one", str(scale), "--duration", str(args.duration),
                               "--engine", args.engine, "--seed", str(args.seed)], capture_output=True, text=True)
        lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
        print(lines[-1] if lines else json.dumps({"tool": "neurosim", "workload": "microcircuit", "scale": scale,
                                                  "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}),
              flush=True)


if __name__ == "__main__":
    main()
