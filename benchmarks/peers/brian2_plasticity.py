"""The plasticity workloads in Brian2 (C++ standalone or Cython), see plasticity_common.py.

    .peers/brian2/bin/python benchmarks/peers/brian2_plasticity.py --workload song|coba-stdp --mode cpp_standalone

The STDP synapses are Brian2's own STDP example: event-driven traces, on_pre
``g += w; Apre += dApre; w = clip(w + Apost, 0, wmax)``, on_post ``Apost += dApost;
w = clip(w + Apre, 0, wmax)``. Timings as in brian2_coba.py (``run_s``: Brian's timer around
the network loop). Forward Euler, as Brian2's example.
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import plasticity_common as P  # noqa: E402


STDP_MODEL = """w : 1
dApre/dt = -Apre / taupre : 1 (event-driven)
dApost/dt = -Apost / taupost : 1 (event-driven)"""


def main(argv=None):
    args = P.parse_args("Brian2 plasticity benchmark", argv, modes=["cpp_standalone", "cython"])
    if args.workload == "izhikevich2007":
        raise SystemExit("brian2: the izhikevich2007 workload is not implemented in this runner")
    standalone = args.mode == "cpp_standalone"
    C.limit_threads(args.threads, pin=not standalone)
    with C.quiet_stdout():
        import numpy as np
        import brian2 as b2
        from brian2 import Hz, ms, mV, second

        build = C.Brian2Build(b2, standalone, "cold", args.threads)
        b2.defaultclock.dt = P.DT_MS * ms
        b2.seed(args.seed)
        t0 = C.now()
        stdp_ns = dict(taupre=P.TAU_STDP * ms, taupost=P.TAU_STDP * ms)
        on_pre_stdp = "Apre += dApre\nw = clip(w + Apost, 0, wmax)"
        on_post_stdp = "Apost += dApost\nw = clip(w + Apre, 0, wmax)"
        if args.workload == "song":
            wmax = P.SONG_GMAX
            ns = dict(stdp_ns, taum=P.SONG_TAU_M * ms, Ee=0 * mV, vt=P.SONG_VTH * mV, vr=P.SONG_VRESET * mV,
                      El=P.SONG_EL * mV, taue=P.SONG_TAU_E * ms, wmax=wmax, dApre=P.A_REL * wmax,
                      dApost=-P.A_REL * P.A_RATIO * wmax)
            eqs = """dv/dt = (ge * (Ee - v) + El - v) / taum : volt
                     dge/dt = -ge / taue : 1"""
            inp = b2.PoissonGroup(P.SONG_N, rates=P.SONG_RATE_HZ * Hz)
            out = b2.NeuronGroup(1, eqs, threshold="v > vt", reset="v = vr", method="euler", namespace=ns)
            out.v = P.SONG_EL * mV
            S = b2.Synapses(inp, out, STDP_MODEL, on_pre="ge += w\n" + on_pre_stdp, on_post=on_post_stdp, namespace=ns)
            S.connect()
            S.w = "rand() * wmax"
            mon = b2.SpikeMonitor(out, record=False)
            net = b2.Network(inp, out, S, mon)
            n_out = 1
            plastic = S
        else:
            n, ne = P.COBA_N, C.n_exc(P.COBA_N)
            wmax = P.COBA_WMAX
            ns = dict(stdp_ns, tau_m=C.TAU_M_MS * ms, tau_e=C.TAU_E_MS * ms, tau_i=C.TAU_I_MS * ms,
                      v_rest=C.V_REST_MV * mV, v_reset=C.V_RESET_MV * mV, v_th=C.V_TH_MV * mV, E_e=C.E_E_MV * mV,
                      E_i=C.E_I_MV * mV, I_bg=C.I_BG_MV * mV, w_e=C.W_E, w_i=C.W_I, wmax=wmax,
                      dApre=P.A_REL * wmax, dApost=-P.A_REL * P.A_RATIO * wmax)
            eqs = """dv/dt = ((v_rest - v) + ge*(E_e - v) + gi*(E_i - v) + I_bg) / tau_m : volt (unless refractory)
                     dge/dt = -ge / tau_e : 1
                     dgi/dt = -gi / tau_i : 1"""
            G = b2.NeuronGroup(n, eqs, threshold="v > v_th", reset="v = v_reset", refractory=C.TAU_REF_MS * ms,
                               method="euler", namespace=ns)
            G.v = "v_reset + rand() * (v_th - v_reset)"
            Ge, Gi = G[:ne], G[ne:]
            if args.static:
                See = b2.Synapses(Ge, Ge, on_pre="ge += w_e", namespace=ns)
            else:
                See = b2.Synapses(Ge, Ge, STDP_MODEL, on_pre="ge += w\n" + on_pre_stdp, on_post=on_post_stdp,
                                  namespace=ns)
            See.connect(p=0.02)
            if not args.static:
                See.w = "w_e"
            Sei = b2.Synapses(Ge, Gi, on_pre="ge += w_e", namespace=ns)
            Sei.connect(p=0.02)
            Si = b2.Synapses(Gi, G, on_pre="gi += w_i", namespace=ns)
            Si.connect(p=0.02)
            mon = b2.SpikeMonitor(G, record=False)
            net = b2.Network(G, See, Sei, Si, mon)
            n_out = n
            plastic = None if args.static else See
        if standalone:
            net.run(args.duration * second)
            build_s = C.now() - t0
            build_dir = build.standalone_dir(f"plasticity-{args.workload}")
            t0 = C.now()
            b2.device.build(directory=build_dir, compile=True, run=False, with_output=False)
            compile_s = C.now() - t0
            C.limit_threads(args.threads, pin=True)
            b2.device.run(directory=build_dir, with_output=False)
            run_s = b2.device._last_run_time
        else:
            build_s = C.now() - t0
            t0 = C.now()
            net.run(0 * ms)
            compile_s = C.now() - t0
            net.run(args.duration * second)
            run_s = b2.get_device()._last_run_time
        spikes = int(np.asarray(mon.count[:]).sum())
        stats = P.weight_stats(np.asarray(plastic.w[:]), wmax) if plastic is not None else {}
        build.cleanup()
    C.emit({
        "tool": f"brian2-{args.mode}", "workload": args.workload + ("-static" if args.static else ""),
        "duration_s": args.duration, "build_s": round(build_s, 4), "compile_s": round(compile_s, 4),
        "run_s": round(float(run_s), 4), "rtf": round(float(run_s) / args.duration, 4),
        "rate_out_hz": round(spikes / n_out / args.duration, 3), **stats, "device": C.cpu_device(), "threads": 1,
        "version": f"brian2 {b2.__version__}", "seed": args.seed, "load_1min": C.load_1min(),
    })


if __name__ == "__main__":
    main()
