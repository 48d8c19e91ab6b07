"""COBAHH benchmark in neurosim, run like the peer runners (benchmarks/cobahh.py).

    .venv/bin/python benchmarks/peers/neurosim_cobahh.py --n 4000 --duration 1 --seed 0 [--model strings|builtin]

``--model strings`` (default): the network of ``examples/frompapers/Brette_2007.py``, built from
Brian2's model strings by ``ns.equations`` (``model_build_s``: the strings to models, sympy
included). ``--model builtin``: the same network from the hand-written
``ns.neurons.HodgkinHuxley`` and ``ns.synapses.Synapse("exponential", "conductance")`` with the
same parameters and initial distributions (its gates start at their steady state, the strings'
at 0 as in Brian2's example) — the reference a string model must match in speed.

Timings: ``build_s`` = the models and the network (Python) plus ``simulate``'s own build;
``compile_s`` = the native engine's compile (the first call); ``run_s`` = the second call's
``res.timings["run_s"]`` (the simulation loop, warm); ``first_call_s`` = the first call's wall
time. One core: the process is pinned and XLA's threads limited, as for the peers. Spikes come
back to the host (a ``Spikes`` monitor), as Brian2's ``SpikeMonitor``.
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import cobahh_common as H  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))


def build(args):
    import neurosim as ns

    n = args.n
    p = C.default_p(n) if args.p is None else args.p
    if args.model == "strings":
        sys.path.insert(0, os.path.join(ROOT, "examples", "frompapers"))
        import Brette_2007 as B

        B.P_CONNECT = p
        t0 = C.now()
        net = B.build(n, args.seed)
        return net, C.now() - t0
    from neurosim.init import Normal
    from neurosim.synapses import Synapse, SynapseParams

    t0 = C.now()
    hh = ns.neurons.HodgkinHuxley(v_init=Normal(H.V0_MEAN_MV, H.V0_STD_MV))
    syn_e = Synapse("exponential", "conductance", g_init=Normal(H.GE0_MEAN_NS, H.GE0_STD_NS))
    syn_i = Synapse("exponential", "conductance", g_init=Normal(H.GI0_MEAN_NS, H.GI0_STD_NS))
    n_e = C.n_exc(n)
    net = ns.Network([ns.Population("P", n, hh)], [
        ns.Projection("Ce", ("P", 0, n_e), "P", ns.events.fixed_probability(n_e, n, p, seed=args.seed), H.W_E_NS,
                      syn_e, SynapseParams(tau=H.TAU_E_MS, e_rev=H.E_E_MV)),
        ns.Projection("Ci", ("P", n_e, n), "P", ns.events.fixed_probability(n - n_e, n, p, seed=args.seed + 1000),
                      H.W_I_NS, syn_i, SynapseParams(tau=H.TAU_I_MS, e_rev=H.E_I_MV))])
    return net, C.now() - t0


def main(argv=None):
    def add(ap):
        ap.add_argument("--model", default="strings", choices=["strings", "builtin"],
                        help="strings: Brian2's model strings through ns.equations; builtin: the hand-written models")

    args = C.parse_args("neurosim COBAHH benchmark", argv=argv, add=add)
    threads = C.limit_threads(args.threads)
    if args.device == "cpu":
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()
    with C.quiet_stdout():
        import numpy as np

        import neurosim as ns

        t0 = C.now()
        net, model_build_s = build(args)
        build_s = C.now() - t0
        duration_ms = args.duration * 1e3
        t1 = C.now()
        first = ns.simulate(net, duration_ms, H.DT_MS, key=args.seed, monitors=[ns.Spikes("P")], progress=False)
        first_call_s = C.now() - t1
        res = ns.simulate(net, duration_ms, H.DT_MS, key=args.seed, monitors=[ns.Spikes("P")], progress=False)
        t, i = (np.asarray(a) for a in res.spikes["P"])
        n_e = C.n_exc(args.n)
        step = np.rint(t / H.DT_MS).astype(np.int64)
        counts, isi_mean, isi_m2 = H.isi_moments(i, step, args.n)
        stats = H.stats(counts, isi_mean, isi_m2, n_e, args.duration, H.rate_bins(step, args.n, args.duration))
    out = C.result("neurosim" if args.model == "strings" else "neurosim-builtin", args, build_s=build_s + first.timings["build_s"],
                   compile_s=first.timings["compile_s"], run_s=res.timings["run_s"],
                   spikes_e=int(np.sum(i < n_e)), spikes_i=int(np.sum(i >= n_e)), version=ns.__version__,
                   threads=threads, engine=res.timings["engine"], model=args.model, model_build_s=round(model_build_s, 4),
                   first_call_s=round(first_call_s, 4), n_synapses=int(sum(pr.conn.nnz for pr in net.projections)),
                   **stats)
    C.emit(out)


if __name__ == "__main__":
    main()
