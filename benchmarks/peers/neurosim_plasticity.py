"""The plasticity workloads in neurosim (see plasticity_common.py); one JSON line.

    .venv/bin/python benchmarks/peers/neurosim_plasticity.py --workload song|coba-stdp [--duration S] \
        [--mode auto|fused|native|scan]

Pinned to one core with XLA's multi-threaded Eigen off, as the COBA runner. ``build_s``: the
network; ``compile_s``: the first chunk's compile; ``run_s``: the simulation loop
(``SimResult.timings``). The output rate and the final weight statistics come from the run.
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import plasticity_common as P  # noqa: E402


def coba_stdp(ns, pl, seed, static):
    import numpy as np

    base = ns.builders.coba(P.COBA_N, seed=seed)
    exc = next(pr for pr in base.projections if pr.name == "exc")
    n_e, n = exc.conn.n_pre, P.COBA_N
    rows, cols = np.asarray(exc.conn.rows), np.asarray(exc.conn.indices)
    to_e = cols < n_e
    ee = ns.events.from_arrays(rows[to_e], cols[to_e], n_e, n_e)
    ei = ns.events.from_arrays(rows[~to_e], cols[~to_e] - n_e, n_e, n - n_e)
    w_e, w_max = float(exc.weights), P.COBA_WMAX * 10.0
    a = P.A_REL * w_max
    rule = None if static else pl.chain(pl.stdp_pair(a, P.A_RATIO * a, P.TAU_STDP, P.TAU_STDP, w_max=w_max),
                                        pl.clip_weights(0.0, w_max))
    common = dict(synapse=exc.synapse, syn_params=exc.syn_params, delay_ms=exc.delay_ms)
    projs = [ns.Projection("ee", ("neurons", 0, n_e), ("neurons", 0, n_e), ee, w_e, plasticity=rule, **common),
             ns.Projection("ei", ("neurons", 0, n_e), ("neurons", n_e, n), ei, w_e, **common)]
    projs += [pr for pr in base.projections if pr.name != "exc"]
    return ns.Network(list(base.populations), projs, list(base.inputs)), w_max


def main(argv=None):
    args = P.parse_args("neurosim plasticity benchmark", argv, modes=("auto", "fused", "native", "scan"))
    threads = C.limit_threads(args.threads, pin=True)
    if args.threads <= 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    sys.path.insert(1, os.path.dirname(os.path.dirname(HERE)))
    with C.quiet_stdout():
        import jax
        import numpy as np

        import neurosim as ns
        from neurosim import plasticity as pl

        t0 = C.now()
        if args.workload == "izhikevich2007":
            net, _ = ns.builders.distal_reward(seed=args.seed)
            w_max, pop, proj, n_out = 4.0, "neurons", "exc", 1000
        elif args.workload == "song":
            net = ns.builders.brian_stdp(n_in=P.SONG_N, rate_hz=P.SONG_RATE_HZ, g_max=P.SONG_GMAX, seed=args.seed)
            w_max, pop, proj, n_out = P.SONG_GMAX * 10.0, "neuron", "stdp", 1
        else:
            net, w_max = coba_stdp(ns, pl, args.seed, args.static)
            pop, proj, n_out = "neurons", "ee", P.COBA_N
        build_s = C.now() - t0
        dt = 1.0 if args.workload == "izhikevich2007" else P.DT_MS
        res = ns.simulate(net, args.duration * 1e3, dt, key=args.seed, monitors=[ns.Spikes(pop)], engine=args.mode)
        times, _ = res.spikes[pop]
        w = res.state.weights[proj] if proj in res.state.weights else net.params().projections[proj].weights
        stats = P.weight_stats(np.broadcast_to(np.asarray(w), (net.projections[0].conn.nnz,)), w_max)
    t = res.timings
    C.emit({
        "tool": "neurosim" if args.mode == "auto" else f"neurosim-{args.mode}",
        "workload": args.workload + ("-static" if args.static else ""),
        "duration_s": args.duration, "build_s": round(build_s, 4), "compile_s": round(t["compile_s"], 4),
        "run_s": round(t["run_s"], 4), "rtf": round(t["run_s"] / args.duration, 4), "engine": t["engine"],
        "rate_out_hz": round(times.size / n_out / args.duration, 3), **stats, "device": C.cpu_device(),
        "threads": threads, "version": f"neurosim {ns.__version__}, jax {jax.__version__}", "seed": args.seed,
        "load_1min": C.load_1min(),
    })


if __name__ == "__main__":
    main()
