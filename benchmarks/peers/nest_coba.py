"""COBA benchmark in NEST (``iaf_cond_exp``).

    .peers/nest/bin/python benchmarks/peers/nest_coba.py --n 4000 --duration 1

Prints one JSON line (see benchmarks/README.md).  NEST writes the membrane
equation in pA, so the benchmark's "20 mV" drive is I_e = 200 pA
(g_L = 10 nS, C_m = 200 pF), weights are conductances in nS (6 nS
excitatory, 67 nS inhibitory; iaf_cond_exp routes a negative weight to the
inhibitory conductance) and the delay is the minimum, one step (0.1 ms):
a spike emitted in step t acts from step t+1, as in the other runners.
iaf_cond_exp integrates with GSL's adaptive RKF45, not Euler.

Timings: ``build_s`` = Create + Connect; ``compile_s`` = ``nest.Prepare()``
(NEST compiles nothing; this is its per-simulation set-up); ``run_s`` =
``nest.Run(duration)``.  ``--threads`` sets ``local_num_threads`` (default 1)
and pins the process to that many cores.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402


def main(argv=None):
    args = C.parse_args("NEST COBA benchmark", argv=argv)
    if args.device != "cpu":
        raise SystemExit("nest: only --device cpu is supported")
    C.limit_threads(args.threads, pin=True)

    with C.quiet_stdout():
        nest = C.nest_kernel(C.DT_MS, args.threads, args.seed)

        n, ne = args.n, C.n_exc(args.n)
        params = {
            "C_m": C.C_M_PF, "g_L": C.G_L_NS, "E_L": C.V_REST_MV,
            "V_th": C.V_TH_MV, "V_reset": C.V_RESET_MV, "t_ref": C.TAU_REF_MS,
            "E_ex": C.E_E_MV, "E_in": C.E_I_MV,
            "tau_syn_ex": C.TAU_E_MS, "tau_syn_in": C.TAU_I_MS,
            "I_e": C.I_BG_PA, "g_ex": 0.0, "g_in": 0.0,
        }
        t0 = C.now()
        pop = nest.Create("iaf_cond_exp", n, params=params)
        pop.V_m = nest.random.uniform(min=C.V_RESET_MV, max=C.V_TH_MV)
        exc, inh = pop[:ne], pop[ne:]
        conn = {"rule": "pairwise_bernoulli", "p": args.p, "allow_autapses": True,
                "allow_multapses": True}
        nest.Connect(exc, pop, conn, {"synapse_model": "static_synapse",
                                      "weight": C.W_E * C.G_L_NS, "delay": C.DT_MS})
        nest.Connect(inh, pop, conn, {"synapse_model": "static_synapse",
                                      "weight": -C.W_I * C.G_L_NS, "delay": C.DT_MS})
        rec = nest.Create("spike_recorder")
        nest.Connect(pop, rec)
        build_s = C.now() - t0

        compile_s, run_s = C.nest_run(nest, args.duration)

        import numpy as np

        senders = np.asarray(rec.get("events", "senders"))
        first = pop[0].global_id
        idx = senders - first
        n_syn = nest.num_connections - n  # minus the recorder connections

    C.emit(C.result(
        "nest", args, build_s=build_s, compile_s=compile_s, run_s=run_s,
        spikes_e=int((idx < ne).sum()), spikes_i=int((idx >= ne).sum()),
        version=str(nest.__version__), threads=args.threads,
        compile_s_source="nest.Prepare() (no code generation)", n_synapses=int(n_syn),
    ))


if __name__ == "__main__":
    main()
