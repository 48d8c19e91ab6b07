"""The song and coba-stdp plasticity workloads in NEST (``stdp_synapse``), see plasticity_common.py.

    .peers/nest/bin/python benchmarks/peers/nest_plasticity.py --workload song|coba-stdp [--static]

NEST's ``stdp_synapse`` with ``mu_plus = mu_minus = 0`` is the additive all-to-all pair rule of
the other runners: a presynaptic trace K+ (+1 per spike, tau_plus) and the postsynaptic
neuron's trace K- (+1 per spike, the neuron's ``tau_minus``); at a postsynaptic spike
``w += lambda Wmax K+``, at a presynaptic one ``w -= alpha lambda Wmax K-``, clipped to
[0, Wmax]. So ``lambda = A_+ / w_max = 0.01`` and ``alpha = A_- / A_+ = 1.05``. NEST reads the
postsynaptic trace at the spike's arrival (one step of dendritic delay), Brian2 and neurosim at
the step of the spike itself: the same rule up to 0.1 ms of timing.

Neurons are ``iaf_cond_exp`` (GSL's adaptive RKF45, not Euler), conductances in nS. Brian2's
dimensionless conductances (units of g_L) become nS through g_L:
- song: g_L = 10 nS, C_m = 100 pF (tau_m = 10 ms), no refractory period, no inhibition; the 1000
  inputs are ``poisson_generator`` -> ``parrot_neuron`` (STDP needs a presynaptic neuron);
  g_max = 0.01 g_L = 0.1 nS.
- coba-stdp: nest_coba.py's network, E -> E through ``stdp_synapse`` (6 nS initial,
  Wmax = 1.2 g_L = 12 nS), the other projections static.

Timings as in nest_coba.py (``compile_s`` = ``nest.Prepare()``, ``run_s`` = ``nest.Run``).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import plasticity_common as P  # noqa: E402


def stdp_spec(w_max, weight):
    return {"synapse_model": "stdp_synapse", "weight": weight, "delay": P.DT_MS, "Wmax": w_max,
            "lambda": P.A_REL, "alpha": P.A_RATIO, "tau_plus": P.TAU_STDP, "mu_plus": 0.0, "mu_minus": 0.0}


def song(nest, args):
    g_l = 10.0   # nS
    w_max = P.SONG_GMAX * g_l
    cell = nest.Create("iaf_cond_exp", 1, params={
        "C_m": P.SONG_TAU_M * g_l, "g_L": g_l, "E_L": P.SONG_EL, "V_th": P.SONG_VTH, "V_reset": P.SONG_VRESET,
        "t_ref": 0.0, "E_ex": 0.0, "tau_syn_ex": P.SONG_TAU_E, "I_e": 0.0, "V_m": P.SONG_EL,
        "tau_minus": P.TAU_STDP})
    gen = nest.Create("poisson_generator", params={"rate": P.SONG_RATE_HZ})
    parrots = nest.Create("parrot_neuron", P.SONG_N)
    nest.Connect(gen, parrots, "all_to_all", {"delay": P.DT_MS})
    nest.Connect(parrots, cell, "all_to_all", stdp_spec(w_max, nest.random.uniform(0.0, w_max)))
    return cell, nest.GetConnections(parrots, cell), w_max


def coba(nest, args):
    n, ne = P.COBA_N, C.n_exc(P.COBA_N)
    w_max = P.COBA_WMAX * C.G_L_NS
    pop = nest.Create("iaf_cond_exp", n, params={
        "C_m": C.C_M_PF, "g_L": C.G_L_NS, "E_L": C.V_REST_MV, "V_th": C.V_TH_MV, "V_reset": C.V_RESET_MV,
        "t_ref": C.TAU_REF_MS, "E_ex": C.E_E_MV, "E_in": C.E_I_MV, "tau_syn_ex": C.TAU_E_MS,
        "tau_syn_in": C.TAU_I_MS, "I_e": C.I_BG_PA, "g_ex": 0.0, "g_in": 0.0, "tau_minus": P.TAU_STDP})
    pop.V_m = nest.random.uniform(min=C.V_RESET_MV, max=C.V_TH_MV)
    exc, inh = pop[:ne], pop[ne:]
    conn = {"rule": "pairwise_bernoulli", "p": 0.02, "allow_autapses": True, "allow_multapses": True}
    w_e = C.W_E * C.G_L_NS
    static = {"synapse_model": "static_synapse", "weight": w_e, "delay": C.DT_MS}
    nest.Connect(exc, exc, conn, static if args.static else stdp_spec(w_max, w_e))
    nest.Connect(exc, inh, conn, static)
    nest.Connect(inh, pop, conn, {"synapse_model": "static_synapse", "weight": -C.W_I * C.G_L_NS, "delay": C.DT_MS})
    return pop, None if args.static else nest.GetConnections(exc, exc), w_max


def main(argv=None):
    args = P.parse_args("NEST plasticity benchmark", argv)
    if args.workload == "izhikevich2007":
        raise SystemExit("nest: no runner for izhikevich2007 (NEST's stdp_dopamine_synapse is a different rule)")
    C.limit_threads(args.threads, pin=True)
    with C.quiet_stdout():
        import numpy as np

        nest = C.nest_kernel(P.DT_MS, args.threads, args.seed)
        t0 = C.now()
        cells, plastic, w_max = (song if args.workload == "song" else coba)(nest, args)
        rec = nest.Create("spike_recorder")
        nest.Connect(cells, rec)
        build_s = C.now() - t0
        compile_s, run_s = C.nest_run(nest, args.duration)
        spikes = int(rec.get("n_events"))
        stats = {} if plastic is None else P.weight_stats(np.asarray(plastic.get("weight"), float), w_max)
    C.emit({
        "tool": "nest", "workload": args.workload + ("-static" if args.static else ""),
        "duration_s": args.duration, "build_s": round(build_s, 4), "compile_s": round(compile_s, 4),
        "run_s": round(run_s, 4), "rtf": round(run_s / args.duration, 4),
        "rate_out_hz": round(spikes / len(cells) / args.duration, 3), **stats, "device": C.cpu_device(),
        "threads": args.threads, "version": f"nest {nest.__version__}", "seed": args.seed, "load_1min": C.load_1min(),
    })


if __name__ == "__main__":
    main()
