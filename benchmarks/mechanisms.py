"""Per-synapse mechanisms on neurosim's engines, side by side: COBA-4000 (its E -> E projection
plastic, as the coba-stdp workload) with pair STDP, triplet STDP or inhibitory STDP, and
COBA-4000 with Tsodyks-Markram short-term plasticity on its excitatory synapses.

    .venv/bin/python benchmarks/mechanisms.py [--workloads stp,pair,triplet,istdp]
        [--engines fused,native,scan] [--duration S] [--repeat K]

One JSON line per (workload, engine): ``run_s_min`` and ``run_s_median`` over ``--repeat``
runs in this process (pinned to one core, XLA's multi-threaded Eigen off), ``compile_s`` of
the first run, the mean rate and ``ratio_vs_native`` (the engine's median over the native
engine's). An engine that cannot run a workload gives a line with its reason.
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


def networks(ns, pl, seed):
    import plasticity_common as P
    from neurosim_plasticity import coba_stdp
    from neurosim.synapses import TsodyksMarkram

    def plastic(rule):
        net, w_max = coba_stdp(ns, pl, seed, True)
        projs = [dataclasses.replace(pr, plasticity=rule(w_max)) if pr.name == "ee" else pr for pr in net.projections]
        return ns.Network(list(net.populations), projs, list(net.inputs))

    def amp(w):
        return P.A_REL * w

    def stp():
        base = ns.builders.coba(P.COBA_N, seed=seed)
        projs = [dataclasses.replace(pr, stp=TsodyksMarkram()) if pr.name == "exc" else pr for pr in base.projections]
        return ns.Network(list(base.populations), projs, list(base.inputs))

    return {
        "stp": stp,
        "pair": lambda: plastic(lambda w: pl.chain(pl.stdp_pair(amp(w), P.A_RATIO * amp(w), P.TAU_STDP, P.TAU_STDP,
                                                                w_max=w), pl.clip_weights(0.0, w))),
        "triplet": lambda: plastic(lambda w: pl.chain(pl.stdp_triplet(a2_plus=amp(w), a3_plus=amp(w),
                                                                      a2_minus=P.A_RATIO * amp(w), a3_minus=0.0),
                                                      pl.clip_weights(0.0, w))),
        "istdp": lambda: plastic(lambda w: pl.chain(pl.inhibitory_stdp(eta=amp(w)), pl.clip_weights(0.0, w))),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="stp,pair,triplet,istdp")
    ap.add_argument("--engines", default="fused,native,scan")
    ap.add_argument("--duration", type=float, default=2.0, help="simulated seconds")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    import common as C

    C.limit_threads(1, pin=True)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    import jax
    import numpy as np

    import neurosim as ns
    from neurosim import plasticity as pl

    makers = networks(ns, pl, args.seed)
    for name in args.workloads.split(","):
        net = makers[name]()
        native = None
        for engine in args.engines.split(","):
            base = {"tool": "neurosim", "workload": f"coba-{name}", "engine": engine, "duration_s": args.duration}
            verdict = {v.engine: v for v in ns.engines.describe(net, 0.1).verdicts}.get(engine)
            if verdict is not None and not verdict.ok:
                print(json.dumps({**base, "error": verdict.reason}), flush=True)
                continue
            runs = []
            for _ in range(args.repeat):
                res = ns.simulate(net, args.duration * 1e3, 0.1, key=args.seed, monitors=[ns.Spikes("neurons")],
                                  engine=engine)
                runs.append(res.timings)
            times = sorted(t["run_s"] for t in runs)
            median = float(np.median(times))
            line = {**base, "run_s_min": round(times[0], 4), "run_s_median": round(median, 4),
                    "compile_s": round(runs[0]["compile_s"], 3),
                    "rate_hz": round(res.spikes["neurons"][0].size / net.population("neurons").n / args.duration, 3),
                    "device": C.cpu_device(), "version": f"neurosim {ns.__version__}, jax {jax.__version__}",
                    "load_1min": C.load_1min()}
            if engine == "native":
                native = median
            elif native:
                line["ratio_vs_native"] = round(median / native, 3)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
