"""The astrocyte workloads in neurosim (see astro_common.py); one JSON line.

    .venv/bin/python benchmarks/peers/neurosim_astro.py --workload tripartite [--duration S]

Pinned to one core with XLA's multi-threaded Eigen off, as the other runners. ``tripartite``:
``neurosim.builders.tripartite`` run by ``run_tripartite`` (four epochs, the state carried over;
``run_s`` sums the four simulation loops, ``compile_s`` is the first epoch's compile).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import astro_common as A  # noqa: E402
import common as C  # noqa: E402


def main(argv=None):
    args = A.parse_args("neurosim astrocyte benchmark", argv)
    if args.workload != "tripartite":
        raise SystemExit(f"no neurosim runner for the {args.workload!r} workload yet")
    threads = C.limit_threads(args.threads, pin=True)
    if args.threads <= 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    sys.path.insert(1, os.path.dirname(os.path.dirname(HERE)))
    with C.quiet_stdout():
        import jax

        import neurosim as ns

        t0 = C.now()
        net = ns.builders.tripartite(A.TRIPARTITE_N)
        build_s = C.now() - t0
        out = ns.builders.run_tripartite(net, rates_hz=A.TRIPARTITE_RATES_HZ, epoch_ms=args.duration * 1e3 / 4,
                                         dt=A.TRIPARTITE_DT_MS, key=args.seed, progress=False)
        # Brian's StateMonitor samples at the start of a step, the observation follows it: both
        # are averaged over the same epochs, one step apart
        means = A.epoch_means((out["t_ms"] - A.TRIPARTITE_DT_MS).tolist(), out["ys"].tolist(), args.duration)
    C.emit({
        "tool": "neurosim", "workload": args.workload, "duration_s": args.duration, "build_s": round(build_s, 4),
        "compile_s": round(out["compile_s"], 4), "run_s": round(out["run_s"], 4),
        "rtf": round(out["run_s"] / args.duration, 4), **means, "device": C.cpu_device(), "threads": threads,
        "version": f"neurosim {ns.__version__}, jax {jax.__version__}", "seed": args.seed, "load_1min": C.load_1min(),
    })


if __name__ == "__main__":
    main()
