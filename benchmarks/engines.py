"""The engines side by side on the LIF workloads: the generated native engine against the
hand-written fused kernel (and, on request, the scan), in one process, pinned to one core.

    .venv/bin/python benchmarks/engines.py [--workloads coba,coba-stdp,...] [--engines fused,native]
        [--repeat 7] [--out DIR]

Workloads: ``coba`` (COBA-4000, 2 s), ``coba-stdp`` and ``coba-stdp-static`` (COBA-4000 with
pair STDP on E -> E, and the same network without it, 2 s: benchmarks/plasticity.py's),
``brunel`` (Brunel 2000 regime C at scale 0.1, 1 s) and ``brunel-full`` (scale 1, 0.2 s),
``song`` (Brian2's STDP example, 10 s) and ``nalsm`` (the NALSM liquid with its astrocyte-modulated
STDP and a Bernoulli raster, 5 s at dt 1 ms). Every run records the population's spikes. The
engines take turns on each workload (one run each, then again), so that a drift of the machine's
speed falls on all of them; the first run of each engine (compilation) is not counted. One JSON
line per (engine, workload): ``run_s`` min and median, ``ratio_vs_<first engine>`` (median over
median), ``spikes`` and ``same_spikes_as_<first engine>`` (every spike's step and neuron).
With ``--out DIR`` the lines are also written to ``DIR/engines.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
sys.path.insert(0, os.path.dirname(HERE))
import common as C  # noqa: E402

WORKLOADS = ("coba", "coba-stdp", "coba-stdp-static", "brunel", "brunel-full", "song", "nalsm")


def build(ns, np, name):
    """``(network, duration in ms, dt, initial state or None, recorded population)``."""
    if name == "coba":
        return ns.builders.coba(4000, seed=0), 2000.0, 0.1, None, "neurons"
    if name.startswith("coba-stdp"):
        import neurosim_plasticity as NP
        from neurosim import plasticity as pl

        net, _ = NP.coba_stdp(ns, pl, 0, name.endswith("static"))
        return net, 2000.0, 0.1, None, "neurons"
    if name.startswith("brunel"):
        full = name == "brunel-full"
        net = ns.builders.brunel2000("C", scale=1.0 if full else 0.1, seed=0, dt=0.1)
        return net, 200.0 if full else 1000.0, 0.1, None, "neurons"
    if name == "song":
        import plasticity_common as P

        net = ns.builders.brian_stdp(n_in=P.SONG_N, rate_hz=P.SONG_RATE_HZ, g_max=P.SONG_GMAX, seed=0)
        return net, 10_000.0, 0.1, None, "neuron"
    if name == "nalsm":
        import astro_common as A
        from neurosim.builders import set_input_raster

        steps = 5000
        m = ns.builders.nalsm(A.NALSM_GRID, A.NALSM_INPUTS, sample_steps=steps, w_a=A.NALSM_W_A, seed=0)
        rng = np.random.default_rng(0)
        raster = (rng.random((steps, A.NALSM_INPUTS)) < np.asarray(A.nalsm_input_p())).astype(np.float32)
        state = set_input_raster(ns.init_state(m.net, m.net.params(), 0, 1.0), raster)
        return m.net, float(steps), 1.0, state, "liquid"
    raise ValueError(f"engines.py: unknown workload {name!r}; expected one of {WORKLOADS}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--engines", default="fused,native")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per engine (after one untimed)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, got {args.repeat}")
    threads = C.limit_threads(1, pin=True)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    import jax
    import numpy as np

    import neurosim as ns

    engines = args.engines.split(",")
    lines = []
    for name in args.workloads.split(","):
        net, duration, dt, state, pop = build(ns, np, name)
        times = {e: [] for e in engines}
        spikes = {}
        for r in range(args.repeat + 1):
            for e in engines:
                res = ns.simulate(net, duration, dt, key=0, state=state, monitors=[ns.Spikes(pop)], engine=e,
                                  progress=False)
                if r:
                    times[e].append(res.timings["run_s"])
                spikes[e] = tuple(np.asarray(x) for x in res.spikes[pop])
        first = engines[0]
        for e in engines:
            t = sorted(times[e])
            med = float(np.median(t))
            line = {"tool": f"neurosim-{e}", "workload": name, "duration_s": duration / 1e3, "repeat": args.repeat,
                    "run_s_min": round(t[0], 5), "run_s_median": round(med, 5),
                    f"ratio_vs_{first}": round(med / float(np.median(times[first])), 3),
                    "spikes": int(spikes[e][0].size),
                    f"same_spikes_as_{first}": all(np.array_equal(a, b) for a, b in zip(spikes[e], spikes[first])),
                    "device": C.cpu_device(), "threads": threads,
                    "version": f"neurosim {ns.__version__}, jax {jax.__version__}", "load_1min": C.load_1min()}
            print(json.dumps(line), flush=True)
            lines.append(line)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "engines.json"), "w") as f:
            f.write("\n".join(json.dumps(x) for x in lines) + "\n")


if __name__ == "__main__":
    main()
