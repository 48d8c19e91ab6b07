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


def nalsm(ns, np, args):
    """The NALSM liquid, plastic, run continuously for ``args.duration`` with Bernoulli inputs
    at the fixed probabilities of astro_common.nalsm_input_p()."""
    from neurosim.builders import set_input_raster

    steps = int(round(args.duration * 1e3))
    t0 = C.now()
    m = ns.builders.nalsm(A.NALSM_GRID, A.NALSM_INPUTS, sample_steps=steps, w_a=A.NALSM_W_A, seed=args.seed)
    params = m.net.params()
    rng = np.random.default_rng(args.seed)
    raster = (rng.random((steps, A.NALSM_INPUTS)) < np.asarray(A.nalsm_input_p())).astype(np.float32)
    state = set_input_raster(ns.init_state(m.net, params, args.seed, 1.0), raster)
    build_s = C.now() - t0
    res = ns.simulate(m.net, float(steps), 1.0, state=state, monitors=[ns.Spikes("liquid")], progress=False,
                      engine=args.mode)
    out = {"rate_hz": round(res.spikes["liquid"][0].size / m.n_liquid / args.duration, 3),
           **{f"w_{k}": round(float(np.mean(np.asarray(v))), 4) for k, v in res.state.weights.items()}}
    return build_s, res.timings, out


def main(argv=None):
    args = A.parse_args("neurosim astrocyte benchmark", argv, modes=("auto", "scan"), network=True)
    threads = C.limit_threads(args.threads, pin=True)
    if args.threads <= 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    sys.path.insert(1, os.path.dirname(os.path.dirname(HERE)))
    with C.quiet_stdout():
        import jax

        import neurosim as ns

        if args.workload == "nalsm":
            import numpy as np

            build_s, t, out = nalsm(ns, np, args)
            line = ({"tool": "neurosim", "workload": args.workload, "duration_s": args.duration,
                    "build_s": round(build_s, 4), "compile_s": round(t["compile_s"], 4), "run_s": round(t["run_s"], 4),
                    "rtf": round(t["run_s"] / args.duration, 4), "engine": t["engine"], **out,
                    "device": C.cpu_device(), "threads": threads,
                    "version": f"neurosim {ns.__version__}, jax {jax.__version__}", "seed": args.seed,
                    "load_1min": C.load_1min()})
    if args.workload == "nalsm":   # printed outside quiet_stdout, which sends stdout to stderr
        C.emit(line)
        return
    with C.quiet_stdout():
        t0 = C.now()
        net = ns.builders.tripartite(A.TRIPARTITE_N)
        build_s = C.now() - t0
        out = ns.builders.run_tripartite(net, rates_hz=A.TRIPARTITE_RATES_HZ, epoch_ms=args.duration * 1e3 / 4,
                                         dt=A.TRIPARTITE_DT_MS, key=args.seed, progress=False)
        means = {f"ys_{loop}": [round(float(v), 4) for v in out["epoch_ys"][:, j]] for j, loop in enumerate(A.LOOPS)}
    C.emit({
        "tool": "neurosim", "workload": args.workload, "duration_s": args.duration, "build_s": round(build_s, 4),
        "compile_s": round(out["compile_s"], 4), "run_s": round(out["run_s"], 4),
        "rtf": round(out["run_s"] / args.duration, 4), **means, "device": C.cpu_device(), "threads": threads,
        "version": f"neurosim {ns.__version__}, jax {jax.__version__}", "seed": args.seed, "load_1min": C.load_1min(),
    })


if __name__ == "__main__":
    main()
