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


def izhikevich2007(b2, np, seed):
    """The distal-reward network of Izhikevich (2007) as his daspnet.m runs it (dt = 1 ms, the
    connectivity drawn as neurosim.builders.distal_reward draws it): two 0.5 ms Euler steps of v,
    one of u; delta synapses read in the next step; noise 13 (U - 0.5); nearest-spike STDP
    traces 0.1 at a spike (x 0.95 per ms) into an eligibility c (LTP c += x_pre at a post spike,
    LTD c -= 1.5 y_post at a pre spike); every 10 ms w = clip(w + (0.002 + DA) c, 0, 4), c *= 0.99;
    DA x 0.995 per ms, + 0.5 at a reward, 1-3 s after n2 fired within 20 ms after n1 (one
    pending at a time). The closed loop is one extra neuron R (its synapses from n1 and n2 keep
    the timing; its DA reaches the plastic synapses through a summed variable)."""
    from brian2 import ms, second

    n, n_e, m = 1000, 800, 100
    rng = np.random.default_rng(seed)
    pre = np.repeat(np.arange(n), m)
    post = np.concatenate([rng.choice(n if i < n_e else n_e, m, replace=False) for i in range(n)])
    eqs = """v : 1
             u : 1
             a : 1
             dd : 1
             Isyn : 1
             Itot : 1
             DA : 1"""
    G = b2.NeuronGroup(n, eqs, threshold="v >= 30", reset="v = -65\nu += dd", method="euler")
    G.v, G.u = -65.0, -13.0
    G.a = np.r_[np.full(n_e, 0.02), np.full(n - n_e, 0.1)]
    G.dd = np.r_[np.full(n_e, 8.0), np.full(n - n_e, 2.0)]
    G.run_regularly("""Itot = 13 * (rand() - 0.5) + Isyn
                       v += 0.5 * (0.04 * v**2 + 5 * v + 140 - u + Itot)
                       v += 0.5 * (0.04 * v**2 + 5 * v + 140 - u + Itot)
                       u += a * (0.2 * v - u)
                       Isyn = 0""", when="groups")
    tau = -1.0 / np.log(0.95) * ms
    S = b2.Synapses(G, G, """w : 1
                             c : 1
                             dApre/dt = -Apre / tau : 1 (event-driven)
                             dApost/dt = -Apost / tau : 1 (event-driven)""",
                    on_pre="Isyn_post += w\nApre = 0.1\nc -= 1.5 * Apost",
                    on_post="Apost = 0.1\nc += Apre", namespace={"tau": tau})
    S.connect(i=pre[: n_e * m], j=post[: n_e * m])
    w0 = np.ones(n_e * m)
    w0[0] = 0.0   # n1 = 0 -> n2 = its first target: the rewarded synapse
    S.w = w0
    S.run_regularly("w = clip(w + (0.002 + DA_post) * c, 0, 4)\nc = 0.99 * c", dt=10 * ms, when="end")
    Si = b2.Synapses(G, G, "w : 1", on_pre="Isyn_post += w")
    Si.connect(i=pre[n_e * m:], j=post[n_e * m:])
    Si.w = -1.0
    R = b2.NeuronGroup(1, """last_n1 : second
                             reward_at : second
                             rew : 1
                             DA : 1""", method="euler")
    R.last_n1, R.reward_at = -1 * second, -1 * second
    R.run_regularly("""rew = int(reward_at >= 0 * second and t >= reward_at)
                       DA = 0.995 * DA + 0.5 * rew
                       reward_at = reward_at * (1 - rew) - rew * second""", when="start")
    n1, n2 = 0, int(post[0])
    from_n1 = b2.Synapses(G, R, on_pre="last_n1_post = t")
    from_n1.connect(i=n1, j=0)
    from_n2 = b2.Synapses(G, R, "hit : 1",
                          on_pre="""hit = int(t - last_n1_post > 0 * ms and t - last_n1_post < 20 * ms and reward_at_post < 0 * second)
                                    reward_at_post = reward_at_post * (1 - hit) + hit * (t + 1 * second + ceil(2000 * rand()) * ms)""")
    from_n2.connect(i=n2, j=0)
    spread = b2.Synapses(R, G, "DA_post = DA_pre : 1 (summed)")
    spread.connect(i=0, j=np.arange(n))
    mon = b2.SpikeMonitor(G, record=False)
    net = b2.Network(G, S, Si, R, from_n1, from_n2, spread, mon)
    return net, mon, n, S, 4.0


def main(argv=None):
    args = P.parse_args("Brian2 plasticity benchmark", argv, modes=["cpp_standalone", "cython"])
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
        if args.workload == "izhikevich2007":
            b2.defaultclock.dt = 1 * ms
            net, mon, n_out, plastic, wmax = izhikevich2007(b2, np, args.seed)
        elif args.workload == "song":
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
        build_s = C.now() - t0
        compile_s, run_s = build.run(net, args.duration * second, f"plasticity-{args.workload}", args.threads)
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
