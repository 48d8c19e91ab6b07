"""COBAHH benchmark (Brette et al. 2007 benchmark 3, Brian2's ``examples/COBAHH.py``) in Brian2,
C++ standalone or Cython runtime.

    .peers/brian2/bin/python benchmarks/peers/brian2_cobahh.py --n 4000 --duration 1 --mode cpp_standalone

Prints one JSON line: the fields of a COBA line (benchmarks/README.md) plus the COBAHH
statistics of ``cobahh_common.stats`` (``n_spikes``, ``frac_firing``, ``cv_isi_mean``, ...).

The model is the example's (see cobahh_common.py): one ``NeuronGroup`` of HH cells with
``threshold='v > -20*mV'``, ``refractory=3*ms`` (no reset, nothing clamped) and
``method='exponential_euler'``, two ``Synapses`` (``ge += we`` from the first 80 %, ``gi += wi``
from the rest) with ``connect(p=p)``, the example's random initial v, ge and gi, m = h = n = 0.
A ``SpikeMonitor`` records every spike (the ISI statistics need the times).

Timings as in brian2_coba.py: cpp_standalone: ``build_s`` = the Brian objects and the
recording ``run()``, ``compile_s`` = ``device.build(compile=True, run=False)`` (code generation
+ C++ compile, in a fresh directory unless ``--cache warm``), ``run_s`` = Brian's own timer
around the C++ network loop (``device._last_run_time``), ``binary_wall_s`` = the binary's whole
wall time; no OpenMP (``openmp_threads = 0``), the binary pinned to one core. cython:
``build_s`` = the objects including ``connect`` and the initial values, ``compile_s`` =
``net.run(0 ms)``, ``run_s`` = Brian's timer around the loop of ``net.run(duration)``,
``run_wall_s`` = the whole call; single-threaded, the process pinned to one core.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import cobahh_common as H  # noqa: E402

EQUATIONS = """
dv/dt = (g_l*(E_l - v) + ge*(E_e - v) + gi*(E_i - v)
         - g_na*m*m*m*h*(v - E_na) - g_k*n*n*n*n*(v - E_k)) / C_m : volt
dm/dt = a_m*(1 - m) - b_m*m : 1
dh/dt = a_h*(1 - h) - b_h*h : 1
dn/dt = a_n*(1 - n) - b_n*n : 1
dge/dt = -ge / tau_e : siemens
dgi/dt = -gi / tau_i : siemens
u = (v - V_T) / mV : 1
a_m = 0.32 * 4 / exprel((13 - u) / 4) / ms : Hz
b_m = 0.28 * 5 / exprel((u - 40) / 5) / ms : Hz
a_h = 0.128 * exp((17 - u) / 18) / ms : Hz
b_h = 4 / (1 + exp((40 - u) / 5)) / ms : Hz
a_n = 0.032 * 5 / exprel((15 - u) / 5) / ms : Hz
b_n = 0.5 * exp((10 - u) / 40) / ms : Hz
"""


def main(argv=None):
    def add(ap):
        ap.add_argument("--cache", default="cold", choices=["cold", "warm"],
                        help="cold: compile in a fresh directory (default); warm: reuse .peers/brian2/cache")

    args = C.parse_args("Brian2 COBAHH benchmark", modes=["cpp_standalone", "cython"], argv=argv, add=add)
    if args.device != "cpu":
        raise SystemExit("brian2: only --device cpu is supported (Brian2CUDA is not installed)")

    standalone = args.mode == "cpp_standalone"
    # Cython: pin the whole process; standalone: only the binary (the C++ compile may use every core)
    C.limit_threads(args.threads, pin=not standalone)

    with C.quiet_stdout():
        import numpy as np
        import brian2 as b2
        from brian2 import ms, mV, nS, pF, second

        build = C.Brian2Build(b2, standalone, args.cache, args.threads)
        b2.defaultclock.dt = H.DT_MS * ms
        b2.seed(args.seed)

        n, ne = args.n, C.n_exc(args.n)
        ns = dict(
            C_m=H.C_M_PF * pF, g_l=H.G_L_NS * nS, g_na=H.G_NA_NS * nS, g_k=H.G_K_NS * nS,
            E_l=H.E_L_MV * mV, E_k=H.E_K_MV * mV, E_na=H.E_NA_MV * mV, V_T=H.V_T_MV * mV,
            E_e=H.E_E_MV * mV, E_i=H.E_I_MV * mV, tau_e=H.TAU_E_MS * ms, tau_i=H.TAU_I_MS * ms,
            w_e=H.W_E_NS * nS, w_i=H.W_I_NS * nS, v_spike=H.V_SPIKE_MV * mV,
            v0_mean=H.V0_MEAN_MV * mV, v0_std=H.V0_STD_MV * mV,
            ge0_mean=H.GE0_MEAN_NS * nS, ge0_std=H.GE0_STD_NS * nS,
            gi0_mean=H.GI0_MEAN_NS * nS, gi0_std=H.GI0_STD_NS * nS,
        )

        t0 = C.now()
        P = b2.NeuronGroup(n, EQUATIONS, threshold="v > v_spike",
                           refractory=H.T_REF_MS * ms, method="exponential_euler", namespace=ns)
        Ce = b2.Synapses(P[:ne], P, on_pre="ge += w_e", namespace=ns)
        Ci = b2.Synapses(P[ne:], P, on_pre="gi += w_i", namespace=ns)
        Ce.connect(p=args.p)
        Ci.connect(p=args.p)
        P.v = "v0_mean + v0_std * randn()"
        P.ge = "ge0_mean + ge0_std * randn()"
        P.gi = "gi0_mean + gi0_std * randn()"
        mon = b2.SpikeMonitor(P)
        net = b2.Network(P, Ce, Ci, mon)

        if standalone:
            net.run(args.duration * second, namespace=ns)
            build_s = C.now() - t0
            build_dir = build.standalone_dir(f"cobahh-{n}")
            t0 = C.now()
            b2.device.build(directory=build_dir, compile=True, run=False, with_output=False)
            compile_s = C.now() - t0
            C.limit_threads(args.threads, pin=True)  # the binary inherits this
            t0 = C.now()
            b2.device.run(directory=build_dir, with_output=False)
            binary_wall_s = C.now() - t0
            run_s = b2.device._last_run_time
            extra_fields = dict(binary_wall_s=round(binary_wall_s, 4),
                                run_s_source="brian2 device._last_run_time (C++ network loop)")
        else:
            build_s = C.now() - t0
            t0 = C.now()
            net.run(0 * ms, namespace=ns)
            compile_s = C.now() - t0
            t0 = C.now()
            net.run(args.duration * second, namespace=ns)
            run_wall_s = C.now() - t0
            run_s = b2.get_device()._last_run_time
            extra_fields = dict(run_wall_s=round(run_wall_s, 4),
                                run_s_source="brian2 device._last_run_time (Network.run loop, "
                                             "after before_run)")

        idx = np.asarray(mon.i[:], dtype=np.int64)
        steps = np.rint(np.asarray(mon.t[:] / second) * 1000.0 / H.DT_MS).astype(np.int64)
        n_syn = int(len(Ce)) + int(len(Ci))
        build.cleanup()

    counts, isi_mean, isi_m2 = H.isi_moments(idx, steps, n)
    st = H.stats(counts, isi_mean, isi_m2, ne, args.duration, H.rate_bins(steps, n, args.duration))
    C.emit(C.result(
        f"brian2-{args.mode}", args, build_s=build_s, compile_s=compile_s, run_s=run_s,
        spikes_e=counts[:ne].sum(), spikes_i=counts[ne:].sum(),
        version=b2.__version__, threads=max(1, args.threads) if standalone else 1,
        workload="cobahh", method="exponential_euler", compile_cache=args.cache, n_synapses=n_syn,
        model=H.BRIAN2_EXAMPLE, **st, **extra_fields,
    ))


if __name__ == "__main__":
    main()
