"""COBA benchmark in Brian2 (C++ standalone or Cython runtime).

    .peers/brian2/bin/python benchmarks/peers/brian2_coba.py --n 4000 --duration 1 --mode cpp_standalone

Prints one JSON line (see benchmarks/README.md).  Timings:

* cpp_standalone: ``build_s`` = creating the Brian objects and recording
  ``run()`` in Python; ``compile_s`` = ``device.build(compile=True,
  run=False)``: code generation plus the C++ compile (``make``);
  ``run_s`` = Brian's own timer around the C++ network loop
  (``device._last_run_time``, from ``results/last_run_info.txt``): the
  simulation of ``duration`` only.  The binary's whole wall time (loading,
  building the synapses in C++, writing results) is ``binary_wall_s``.
  The project is built in a fresh temporary directory each time unless
  ``--cache warm`` is given (``.peers/brian2/cache/standalone-N``), so by
  default compile_s is the cold-compile cost.  Single-threaded (no OpenMP:
  ``openmp_threads = 0``); ``--threads k > 1`` sets ``openmp_threads = k``.
* cython: ``build_s`` = creating the objects, including generating the
  synapses (Brian runs ``connect`` at once in runtime mode);
  ``compile_s`` = ``net.run(0 ms)``: code generation and Cython
  compilation of every code object (cold: a fresh cache directory, unless
  ``--cache warm``); ``run_s`` = Brian's own timer around the simulation
  loop of ``net.run(duration)`` (``device._last_run_time``); the whole call,
  which first re-creates the code objects (from the cache, ~0.1-0.2 s), is
  ``run_wall_s``.  Single-threaded.

Integration: forward Euler (``method='euler'``), the Brian reference of
the benchmark; ``--method exponential_euler`` for the alternative.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402


def main(argv=None):
    def add(ap):
        ap.add_argument("--method", default="euler", choices=["euler", "exponential_euler"],
                        help="Brian state updater for the neuron equations")
        ap.add_argument("--cache", default="cold", choices=["cold", "warm"],
                        help="cold: compile in a fresh directory (default); warm: reuse .peers/brian2/cache")

    args = C.parse_args("Brian2 COBA benchmark", modes=["cpp_standalone", "cython"], argv=argv, add=add)
    if args.device != "cpu":
        raise SystemExit("brian2: only --device cpu is supported (Brian2CUDA is not installed)")

    standalone = args.mode == "cpp_standalone"
    # Cython/runtime: pin the whole process.  Standalone: pin only the
    # binary (below), so that make -j may use every core for the compile.
    C.limit_threads(args.threads, pin=not standalone)

    with C.quiet_stdout():
        import numpy as np
        import brian2 as b2
        from brian2 import ms, mV, second

        build = C.Brian2Build(b2, standalone, args.cache, args.threads)
        b2.defaultclock.dt = C.DT_MS * ms
        b2.seed(args.seed)

        n, ne = args.n, C.n_exc(args.n)
        ns = dict(
            tau_m=C.TAU_M_MS * ms, tau_e=C.TAU_E_MS * ms, tau_i=C.TAU_I_MS * ms,
            v_rest=C.V_REST_MV * mV, v_reset=C.V_RESET_MV * mV, v_th=C.V_TH_MV * mV,
            E_e=C.E_E_MV * mV, E_i=C.E_I_MV * mV, I_bg=C.I_BG_MV * mV,
            w_e=C.W_E, w_i=C.W_I,
        )
        eqs = """
        dv/dt = ((v_rest - v) + ge*(E_e - v) + gi*(E_i - v) + I_bg) / tau_m : volt (unless refractory)
        dge/dt = -ge / tau_e : 1
        dgi/dt = -gi / tau_i : 1
        """

        t0 = C.now()
        P = b2.NeuronGroup(n, eqs, threshold="v > v_th", reset="v = v_reset",
                           refractory=C.TAU_REF_MS * ms, method=args.method, namespace=ns)
        P.v = "v_reset + rand() * (v_th - v_reset)"
        P.ge = 0
        P.gi = 0
        Pe, Pi = P[:ne], P[ne:]
        Ce = b2.Synapses(Pe, P, on_pre="ge += w_e", namespace=ns)
        Ci = b2.Synapses(Pi, P, on_pre="gi += w_i", namespace=ns)
        Ce.connect(p=args.p)
        Ci.connect(p=args.p)
        mon = b2.SpikeMonitor(P, record=False)
        net = b2.Network(P, Ce, Ci, mon)

        if standalone:
            net.run(args.duration * second)
            build_s = C.now() - t0
            build_dir = build.standalone_dir(str(n))
            t0 = C.now()
            b2.device.build(directory=build_dir, compile=True, run=False, with_output=False)
            compile_s = C.now() - t0
            C.limit_threads(args.threads, pin=True)  # the binary inherits this
            t0 = C.now()
            b2.device.run(directory=build_dir, with_output=False)
            binary_wall_s = C.now() - t0
            run_s = b2.device._last_run_time
            counts = np.asarray(mon.count[:])
            extra_fields = dict(binary_wall_s=round(binary_wall_s, 4),
                                run_s_source="brian2 device._last_run_time (C++ network loop)")
        else:
            build_s = C.now() - t0
            t0 = C.now()
            net.run(0 * ms)
            compile_s = C.now() - t0
            t0 = C.now()
            net.run(args.duration * second)
            run_wall_s = C.now() - t0
            run_s = b2.get_device()._last_run_time
            counts = np.asarray(mon.count[:])
            extra_fields = dict(run_wall_s=round(run_wall_s, 4),
                                run_s_source="brian2 device._last_run_time (Network.run loop, "
                                             "after before_run)")

        n_syn = int(len(Ce)) + int(len(Ci))
        build.cleanup()

    C.emit(C.result(
        f"brian2-{args.mode}", args, build_s=build_s, compile_s=compile_s, run_s=run_s,
        spikes_e=counts[:ne].sum(), spikes_i=counts[ne:].sum(),
        version=b2.__version__, threads=max(1, args.threads) if standalone else 1,
        method=args.method, compile_cache=args.cache, n_synapses=n_syn, **extra_fields,
    ))


if __name__ == "__main__":
    main()
