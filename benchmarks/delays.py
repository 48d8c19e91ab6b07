"""Per-synapse delays against one delay per projection: COBA-4000 (dt 0.1 ms) whose two
projections carry every synapse's own delay (normal, mean 1.5 ms for E and 0.75 ms for I, std
half the mean, rounded to steps and clipped at one step: the microcircuit's rule) against the
same network with one delay per projection (1.5 ms and 0.8 ms, the means rounded to steps).

    .venv/bin/python benchmarks/delays.py [--duration S] [--repeat K] [--engines scan] [--workloads coba,coba-stdp]

``coba-stdp``: the same with pair STDP on the E -> E synapses (the plasticity benchmark's
network, benchmarks/peers/neurosim_plasticity.py): with per-synapse delays the plastic
projection runs as one group of synapses per delay on the scan, and as the network split by
delay on the native engine (neurosim/engines/native/split.py).

One JSON line per (workload, engine): ``run_s_min``/``run_s_median`` over ``--repeat`` runs in
this process (pinned to one core, XLA's multi-threaded Eigen off) and, for the per-synapse
workload, ``ratio_vs_one_delay`` (its median over the one-delay network's, same ``--engines``
entry; ``ran_on`` says which engine ``auto`` picked).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
sys.path.insert(1, os.path.dirname(HERE))

MEAN_MS = {"exc": 1.5, "inh": 0.75}         # the per-synapse draws: the microcircuit's means
ONE_DELAY_MS = {"exc": 1.5, "inh": 0.8}     # one delay per projection must be whole steps: 0.75 -> 0.8


def networks(ns, seed, workload="coba"):
    if workload == "coba-stdp":
        import neurosim_plasticity as NP
        base, _ = NP.coba_stdp(ns, ns.plasticity, seed, static=False)
    else:
        base = ns.builders.coba(4000, seed=seed)

    def with_delays(per_synapse):
        projs = []
        for k, pr in enumerate(base.projections):
            kind = "inh" if pr.name == "inh" else "exc"
            mean = MEAN_MS[kind]
            delay = (ns.events.normal_delays(pr.conn.nnz, mean, mean / 2, 0.1, seed=seed + k) if per_synapse
                     else ONE_DELAY_MS[kind])
            projs.append(dataclasses.replace(pr, delay_ms=delay))
        return ns.Network(list(base.populations), projs, list(base.inputs))

    return {"one-delay": with_delays(False), "per-synapse": with_delays(True)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engines", default="scan")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workloads", default="coba", help="coba, coba-stdp (comma-separated)")
    args = ap.parse_args(argv)
    import common as C

    C.limit_threads(1, pin=True)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    import jax
    import numpy as np

    import neurosim as ns

    for workload, engine in [(w, e) for w in args.workloads.split(",") for e in args.engines.split(",")]:
        reference = None
        for name, net in networks(ns, args.seed, workload).items():
            base = {"tool": "neurosim", "workload": f"{workload}-{name}", "engine": engine, "duration_s": args.duration}
            runs = []
            for _ in range(args.repeat):
                res = ns.simulate(net, args.duration * 1e3, 0.1, key=args.seed, monitors=[ns.Spikes("neurons")],
                                  engine=engine, progress=False)
                runs.append(res.timings)
            times = sorted(t["run_s"] for t in runs)
            median = float(np.median(times))
            line = {**base, "run_s_min": round(times[0], 4), "run_s_median": round(median, 4),
                    "compile_s": round(runs[0]["compile_s"], 3), "ran_on": runs[0]["engine"],
                    "rate_hz": round(res.spikes["neurons"][0].size / 4000 / args.duration, 3),
                    "device": C.cpu_device(), "version": f"neurosim {ns.__version__}, jax {jax.__version__}",
                    "load_1min": C.load_1min()}
            if reference is None:
                reference = median
            else:
                line["ratio_vs_one_delay"] = round(median / reference, 3)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
