"""The astrocyte workloads in Brian2 (C++ standalone or Cython), see astro_common.py.

    .peers/brian2/bin/python benchmarks/peers/brian2_astro.py --workload tripartite --mode cpp_standalone

``tripartite`` is the model of Brian2's own tripartite-synapse example
(examples/frompapers/Stimberg_et_al_2018/example_4_synrel.py), written out here with the same
equations, parameters and integration methods (exact synapses, rk4 astrocytes, dt = 1 ms); the
only addition is a three-neuron group that sums the mean Y_S of each loop every step (what the
neurosim runner records too). Timings as in brian2_coba.py (``run_s``: Brian's timer around the
network loop).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import astro_common as A  # noqa: E402
import common as C  # noqa: E402

SYNAPSE_EQS = """
dY_S/dt = -Omega_c * Y_S : mmolar (clock-driven)
dGamma_S/dt = O_G * G_A * (1 - Gamma_S) - Omega_G * Gamma_S : 1 (clock-driven)
du_S/dt = -Omega_f * u_S : 1 (event-driven)
dx_S/dt = Omega_d * (1 - x_S) : 1 (event-driven)
r_S : 1
G_A : mmolar
"""
SYNAPSE_ON_PRE = """
U_0 = (1 - Gamma_S) * U_0__star + alpha * Gamma_S
u_S += U_0 * (1 - u_S)
r_S = u_S * x_S
x_S -= r_S
Y_S += rho_c * Y_T * r_S
"""
ASTRO_EQS = """
dGamma_A/dt = O_N * Y_S * (1 - Gamma_A) - Omega_N * (1 + zeta * C / (C + K_KC)) * Gamma_A : 1
dI/dt = J_beta + J_delta - J_3K - J_5P + J_ex : mmolar
J_beta = O_beta * Gamma_A : mmolar/second
J_delta = O_delta / (1 + I / kappa_delta) * C**2 / (C**2 + K_delta**2) : mmolar/second
J_3K = O_3K * C**4 / (C**4 + K_D**4) * I / (I + K_3K) : mmolar/second
J_5P = Omega_5P * I : mmolar/second
delta_I_bias = I - I_bias : mmolar
J_ex = -F_ex / 2 * (1 + tanh((abs(delta_I_bias) - I_Theta) / omega_I)) * sign(delta_I_bias) : mmolar/second
I_bias : mmolar (constant)
dC/dt = (Omega_C * m_inf**3 * h**3 + Omega_L) * (C_T - (1 + rho_A) * C) - O_P * C**2 / (C**2 + K_P**2) : mmolar
dh/dt = (h_inf - h) / tau_h : 1
m_inf = I / (I + d_1) * C / (C + d_5) : 1
h_inf = Q_2 / (Q_2 + C) : 1
tau_h = 1 / (O_2 * (Q_2 + C)) : second
Q_2 = d_2 * (I + d_1) / (I + d_3) : mmolar
dx_A/dt = Omega_A * (1 - x_A) : 1
dG_A/dt = -Omega_e * G_A : mmolar
Y_S : mmolar
"""
GLIO_RELEASE = """
G_A += rho_e * G_T * U_A * x_A
x_A -= U_A * x_A
"""


def namespace(b2):
    from brian2 import mmolar, second, umolar

    return dict(
        rho_c=0.005, Y_T=500 * mmolar, Omega_c=40 / second, U_0__star=0.6, Omega_f=3.33 / second,
        Omega_d=2.0 / second, O_G=1.5 / umolar / second, Omega_G=0.5 / (60 * second),
        O_P=0.9 * umolar / second, K_P=0.05 * umolar, C_T=2 * umolar, rho_A=0.18, Omega_C=6 / second,
        Omega_L=0.1 / second, d_1=0.13 * umolar, d_2=1.05 * umolar, O_2=0.2 / umolar / second,
        d_3=0.9434 * umolar, d_5=0.08 * umolar, O_beta=3.2 * umolar / second, O_N=0.3 / umolar / second,
        Omega_N=0.5 / second, K_KC=0.5 * umolar, zeta=10, O_delta=0.6 * umolar / second,
        kappa_delta=1.5 * umolar, K_delta=0.1 * umolar, Omega_5P=0.05 / second, K_D=0.7 * umolar,
        K_3K=1.0 * umolar, O_3K=4.5 * umolar / second, F_ex=2.0 * umolar / second, I_Theta=0.3 * umolar,
        omega_I=0.05 * umolar, C_Theta=0.5 * umolar, Omega_A=0.6 / second, U_A=0.6, G_T=200 * mmolar,
        rho_e=6.5e-4, Omega_e=60 / second, alpha=0.0, N_synapses=A.TRIPARTITE_N,
    )


def tripartite(b2, np, duration_s):
    from brian2 import Hz, ms, second, umolar

    n = A.TRIPARTITE_N
    ns = namespace(b2)
    ns["rate_in"] = b2.TimedArray(np.asarray(A.TRIPARTITE_RATES_HZ) * Hz, dt=duration_s / 4 * second)
    src = b2.PoissonGroup(n, rates="rate_in(t)", namespace=ns)
    tgt = b2.NeuronGroup(n, "")
    syn = b2.Synapses(src, tgt, model=SYNAPSE_EQS, on_pre=SYNAPSE_ON_PRE, method="exact", namespace=ns)
    for _ in A.LOOPS:                      # closed, open, none: synapses k, n + k, 2 n + k
        syn.connect(j="i")
    syn.x_S = 1.0
    astro = b2.NeuronGroup(2 * n, ASTRO_EQS, threshold="C > C_Theta", refractory="C > C_Theta", reset=GLIO_RELEASE,
                           method="rk4", namespace=ns)
    astro.h = 0.9
    astro.x_A = 1.0
    astro.I_bias = np.r_[np.zeros(n), np.ones(n)] * umolar
    to_astro = b2.Synapses(syn, astro, "Y_S_post = Y_S_pre : mmolar (summed)", namespace=ns)
    to_astro.connect(j="i if i < N_synapses")
    to_syn = b2.Synapses(astro, syn, "G_A_post = G_A_pre : mmolar (summed)", namespace=ns)
    to_syn.connect(j="i if i < N_synapses")
    to_syn.connect(j="i if i >= N_synapses and i < 2*N_synapses")
    meter = b2.NeuronGroup(3, "Ym : mmolar")
    to_meter = b2.Synapses(syn, meter, "Ym_post = Y_S_pre / N_synapses : mmolar (summed)", namespace=ns)
    to_meter.connect(j="i // N_synapses")
    mon = b2.StateMonitor(meter, "Ym", record=True)
    net = b2.Network(src, tgt, syn, astro, to_astro, to_syn, meter, to_meter, mon)
    return net, mon


def nalsm(b2, np, path):
    """The NALSM liquid with the connections of ``path`` (written by benchmarks/astro.py from
    neurosim.builders.nalsm): v decays exactly with tau_v = 64 ms, a presynaptic spike adds w to
    v (Brian's ``v_post += w``); per-neuron traces x <- 0.905 (x + 0.1 s) at the end of every
    step (spike flags set at the reset); the astrocyte counts liquid minus input spikes through
    on_pre events and updates A at the end of the step; the synapses read A through a summed
    variable (one step late at most)."""
    from brian2 import ms

    net_file = np.load(path)
    n, n_e, n_in = (int(net_file[k]) for k in ("n", "n_e", "n_in"))
    m, eta, b_a, tau_a = 0.905, 0.15, 0.15, 100.0
    ns = dict(m=m, eta=eta, b_a=b_a, tau_a=tau_a, w_a=A.NALSM_W_A, tau_v=64 * ms)
    liquid = b2.NeuronGroup(n, """dv/dt = -v / tau_v : 1 (unless refractory)
                                 x : 1
                                 spk : 1
                                 A : 1""", threshold="v >= 20", reset="v = 0\nspk = 1", refractory=2 * ms,
                            method="exact", namespace=ns)
    liquid.run_regularly("x = m * (x + 0.1 * spk)\nspk = 0", when="end")
    inputs = b2.NeuronGroup(n_in, """p : 1
                                    x : 1
                                    spk : 1""", threshold="rand() < p", reset="spk = 1", namespace=ns)
    inputs.p = np.asarray(A.nalsm_input_p())
    inputs.run_regularly("x = m * (x + 0.1 * spk)\nspk = 0", when="end")
    astro = b2.NeuronGroup(1, """A : 1
                                D : 1""", namespace=ns)
    astro.A = b_a
    astro.run_regularly("A = A + (w_a * D + b_a - A) / tau_a\nD = 0", when="end")
    count_l = b2.Synapses(liquid, astro, on_pre="D_post += 1")
    count_l.connect()
    count_i = b2.Synapses(inputs, astro, on_pre="D_post -= 1")
    count_i.connect()
    share = b2.Synapses(astro, liquid, "A_post = A_pre : 1 (summed)")
    share.connect()
    excitatory = dict(on_pre="v_post += w\nw = clip(w - A_post * x_post, lo, hi)", on_post="w = clip(w + eta * x_pre, lo, hi)")
    inhibitory = dict(on_pre="v_post += w\nw = clip(w + eta * x_post, lo, hi)", on_post="w = clip(w - A_post * x_pre, lo, hi)")
    syns = {}
    for name, src, offset, rule, (lo, hi) in (("exc", liquid[:n_e], 0, excitatory, (0.0, 3.0)),
                                              ("inh", liquid[n_e:], n_e, inhibitory, (-3.0, 0.0)),
                                              ("in", inputs, 0, excitatory, (-3.0, 3.0))):
        syn = b2.Synapses(src, liquid, "w : 1", namespace=dict(ns, lo=lo, hi=hi), **rule)
        syn.connect(i=net_file[f"{name}_pre"], j=net_file[f"{name}_post"])
        syn.w = net_file[f"{name}_w"]
        syns[name] = syn
    mon = b2.SpikeMonitor(liquid, record=False)
    net = b2.Network(liquid, inputs, astro, count_l, count_i, share, *syns.values(), mon)
    return net, mon, syns, n


def main(argv=None):
    args = A.parse_args("Brian2 astrocyte benchmark", argv, modes=["cpp_standalone", "cython"],
                        network=True)
    if args.workload == "nalsm" and not args.network:
        raise SystemExit("the nalsm workload needs --network FILE (benchmarks/astro.py writes it)")
    standalone = args.mode == "cpp_standalone"
    C.limit_threads(args.threads, pin=not standalone)
    with C.quiet_stdout():
        import numpy as np
        import brian2 as b2
        from brian2 import ms, second, umolar

        build = C.Brian2Build(b2, standalone, "cold", args.threads)
        b2.defaultclock.dt = A.TRIPARTITE_DT_MS * ms
        b2.seed(args.seed)
        t0 = C.now()
        if args.workload == "nalsm":
            net, mon, syns, n_liquid = nalsm(b2, np, args.network)
        else:
            net, mon = tripartite(b2, np, args.duration)
        build_s = C.now() - t0
        compile_s, run_s = build.run(net, args.duration * second, f"astro-{args.workload}", args.threads)
        if args.workload == "nalsm":
            means = {"rate_hz": round(float(np.asarray(mon.count[:]).sum()) / n_liquid / args.duration, 3),
                     **{f"w_{k}": round(float(np.mean(np.asarray(s.w[:]))), 4) for k, s in syns.items()}}
        else:
            t_ms = np.asarray(mon.t / ms)
            ys = np.asarray(mon.Ym / umolar).T          # steps x 3
            means = A.epoch_means(t_ms.tolist(), ys.tolist(), args.duration)
        build.cleanup()
    C.emit({
        "tool": f"brian2-{args.mode}", "workload": args.workload, "duration_s": args.duration,
        "build_s": round(build_s, 4), "compile_s": round(compile_s, 4), "run_s": round(float(run_s), 4),
        "rtf": round(float(run_s) / args.duration, 4), **means, "device": C.cpu_device(), "threads": 1,
        "version": f"brian2 {b2.__version__}", "seed": args.seed, "load_1min": C.load_1min(),
    })


if __name__ == "__main__":
    main()
