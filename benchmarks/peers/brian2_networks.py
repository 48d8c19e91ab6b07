"""The network workloads in Brian2 (C++ standalone or Cython), see networks_common.py.

    .peers/brian2/bin/python benchmarks/peers/brian2_networks.py --workload izhikevich2003|adex \
        [--duration S] [--mode cpp_standalone|cython]

izhikevich2003: net.m as Brian2 code. v and u are plain variables advanced by a
``run_regularly`` in the ``groups`` slot of every 1-ms step (``I = sigma randn() + Isyn``, two
half steps of v, one step of u with the new v, then ``Isyn = 0``); threshold ``v >= 30``, reset
``v = c; u += d``; the synapses (``Isyn_post += w``, no delay) add to the ``Isyn`` that the next
step uses, so a spike moves the membrane in the next step, as in net.m and neurosim. r and the
weights are the numbers neurosim's builder draws from the seed (``izhikevich_draws``).
adex: the COBA network of brian2_coba.py with the AdEx equations, forward Euler
(``method='euler'``, as the COBA runner), ``(unless refractory)`` on V only (w keeps evolving).

Timings as in brian2_coba.py (``common.Brian2Build``): ``compile_s`` the code generation and
compile (cold: a fresh directory); ``run_s`` Brian's own timer around the network loop. C++
standalone runs its binary pinned to one core, single-threaded (no OpenMP).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import networks_common as W  # noqa: E402


def izhikevich2003(b2, np, seed):
    n, n_e = W.IZH_NE + W.IZH_NI, W.IZH_NE
    r, w_e, w_i = W.izhikevich_draws(seed)
    a, b, c, d = W.izhikevich_params(r)
    G = b2.NeuronGroup(n, """v : 1
                             u : 1
                             a : 1 (constant)
                             b : 1 (constant)
                             c : 1 (constant)
                             d : 1 (constant)
                             sigma : 1 (constant)
                             Isyn : 1
                             I : 1""", threshold="v >= 30", reset="v = c\nu += d", method="euler")
    G.a, G.b, G.c, G.d = a, b, c, d
    G.sigma = np.r_[np.full(n_e, W.IZH_NOISE_EXC), np.full(n - n_e, W.IZH_NOISE_INH)]
    G.v = -65.0
    G.u = b * np.float32(-65.0)
    G.run_regularly("""I = sigma * randn() + Isyn
                       v += 0.5 * (0.04 * v**2 + 5 * v + 140 - u + I)
                       v += 0.5 * (0.04 * v**2 + 5 * v + 140 - u + I)
                       u += a * (b * v - u)
                       Isyn = 0""", when="groups")
    syns = []
    for (lo, hi), w in (((0, n_e), w_e), ((n_e, n), w_i)):
        S = b2.Synapses(G, G, "w : 1 (constant)", on_pre="Isyn_post += w")
        S.connect(i=np.repeat(np.arange(lo, hi), n), j=np.tile(np.arange(n), hi - lo))
        S.w = w.astype(np.float64)
        syns.append(S)
    mon = b2.SpikeMonitor(G, record=False)
    return b2.Network(G, *syns, mon), mon, syns


def adex(b2, np):
    from brian2 import ms, mV, nS, pA, pF

    n, n_e = W.ADEX_N, C.n_exc(W.ADEX_N)
    cell = W.ADEX_CELL
    ns = dict(c_m=cell["c_m"] * pF, g_l=cell["g_l"] * nS, e_l=cell["e_l"] * mV, v_t=cell["v_t"] * mV,
              delta_t=cell["delta_t"] * mV, v_reset=cell["v_reset"] * mV, v_peak=cell["v_peak"] * mV,
              tau_e=C.TAU_E_MS * ms, tau_i=C.TAU_I_MS * ms, E_e=C.E_E_MV * mV, E_i=C.E_I_MV * mV,
              I_bg=C.I_BG_PA * pA, w_e=C.W_E * C.G_L_NS * nS, w_i=C.W_I * C.G_L_NS * nS)
    eqs = """
    dv/dt = (-g_l*(v - e_l) + g_l*delta_t*exp((v - v_t)/delta_t) - w + ge*(E_e - v) + gi*(E_i - v) + I_bg) / c_m : volt (unless refractory)
    dw/dt = (a*(v - e_l) - w) / tau_w : amp
    dge/dt = -ge / tau_e : siemens
    dgi/dt = -gi / tau_i : siemens
    a : siemens (constant)
    b : amp (constant)
    tau_w : second (constant)
    """
    P = b2.NeuronGroup(n, eqs, threshold="v >= v_peak", reset="v = v_reset\nw += b",
                       refractory=cell["t_ref"] * ms, method="euler", namespace=ns)
    exc = np.arange(n) < n_e
    P.a = np.where(exc, W.ADEX_EXC["a"], W.ADEX_INH["a"]) * nS
    P.b = np.where(exc, W.ADEX_EXC["b"], W.ADEX_INH["b"]) * pA
    P.tau_w = np.where(exc, W.ADEX_EXC["tau_w"], W.ADEX_INH["tau_w"]) * ms
    P.v = "v_reset + rand() * (v_t - v_reset)"   # U(-60, -50) mV
    P.w = 0 * pA
    Ce = b2.Synapses(P[:n_e], P, on_pre="ge += w_e", namespace=ns)
    Ci = b2.Synapses(P[n_e:], P, on_pre="gi += w_i", namespace=ns)
    Ce.connect(p=0.02)
    Ci.connect(p=0.02)
    mon = b2.SpikeMonitor(P, record=False)
    return b2.Network(P, Ce, Ci, mon), mon, [Ce, Ci]


def main(argv=None):
    args = W.parse_args("Brian2 network benchmark", argv, modes=["cpp_standalone", "cython"])
    if args.device != "cpu":
        raise SystemExit("brian2: only --device cpu is supported (Brian2CUDA is not installed)")
    standalone = args.mode == "cpp_standalone"
    # Cython: pin the whole process; standalone: only the binary (Brian2Build.run), so make may use every core
    C.limit_threads(args.threads, pin=not standalone)
    with C.quiet_stdout():
        import numpy as np
        import brian2 as b2
        from brian2 import ms, second

        build = C.Brian2Build(b2, standalone, "cold", args.threads)
        b2.defaultclock.dt = args.dt_ms * ms
        b2.seed(args.seed)
        t0 = C.now()
        if args.workload == "izhikevich2003":
            net, mon, syns = izhikevich2003(b2, np, args.seed)
        else:
            net, mon, syns = adex(b2, np)
        build_s = C.now() - t0
        compile_s, run_s = build.run(net, args.duration * second, f"networks-{args.workload}", args.threads)
        counts = np.asarray(mon.count[:])
        n_syn = sum(int(len(S)) for S in syns)
        build.cleanup()
    n_e = C.n_exc(args.n)
    C.emit(C.result(
        "brian2" if standalone else f"brian2-{args.mode}", args, build_s=build_s, compile_s=compile_s, run_s=run_s,
        spikes_e=counts[:n_e].sum(), spikes_i=counts[n_e:].sum(), version=f"brian2 {b2.__version__}",
        threads=max(1, args.threads) if standalone else 1, workload=args.workload, engine=args.mode,
        mode=args.mode, dt_ms=args.dt_ms, n_synapses=n_syn, method="euler",
        run_s_source="brian2 device._last_run_time (network loop)",
    ))


if __name__ == "__main__":
    main()
