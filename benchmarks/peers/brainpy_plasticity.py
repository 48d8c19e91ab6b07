"""The song plasticity workload in BrainPy 2.9 (``brainpy.dyn.STDP_Song2000``), see
plasticity_common.py.

    .peers/brainpy/bin/python benchmarks/peers/brainpy_plasticity.py --workload song [--duration S]

BrainPy's own STDP projection (the ``brainpy.dyn`` API; ``brainpy.state`` has no plasticity):
- 1000 ``PoissonGroup`` inputs (15 Hz), one ``LifRef`` neuron (tau_m 10 ms, R = 1, no
  refractory period);
- ``STDP_Song2000`` over an all-to-all ``EventCSRLinear`` with ``Expon`` (tau_e 5 ms) and
  ``COBA`` (E_e = 0 mV) outputs; conductances dimensionless, as in Brian2's example.

The rule is the other runners' additive all-to-all pair STDP. The presynaptic trace jumps by
``A1 = A_+`` at a spike and the postsynaptic by ``A2 = A_-``, both decaying with tau = 20 ms.
A postsynaptic spike adds the presynaptic trace to w, a presynaptic spike subtracts the
postsynaptic trace, and w is clipped to [0, g_max].

Timings and outcome:
- ``first_call_s``: the first call of the jitted loop (trace, compile, run) from the initial
  state; the output rate and the weight statistics are this run's;
- ``run_s``: a second call of the same program, continuing from where the first ended (after
  ``DSRunner.reset_state()`` the neuron fell silent in brainpy 2.9, so the state is not reset);
- ``compile_s = first_call_s - run_s``.
The coba-stdp and izhikevich2007 workloads have no BrainPy runner (their lines say so).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import plasticity_common as P  # noqa: E402


def main(argv=None):
    args = P.parse_args("BrainPy plasticity benchmark", argv)
    if args.workload != "song":
        raise SystemExit(f"brainpy: no runner for {args.workload} (only song is written)")
    os.environ["JAX_PLATFORMS"] = "cpu"
    threads = C.limit_threads(args.threads, pin=True)
    if args.threads <= 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    with C.quiet_stdout():
        import jax
        import numpy as np
        import brainpy as bp
        import brainpy.math as bm
        from brainpy.connect import csr2csc

        bm.set_dt(P.DT_MS)
        bm.random.seed(args.seed)
        g_max = P.SONG_GMAX
        a_plus = P.A_REL * g_max

        class Song(bp.DynamicalSystem):
            def __init__(self):
                super().__init__()
                self.inputs = bp.dyn.PoissonGroup(P.SONG_N, freqs=P.SONG_RATE_HZ)
                self.cell = bp.dyn.LifRef(1, V_rest=P.SONG_EL, V_reset=P.SONG_VRESET, V_th=P.SONG_VTH,
                                          tau=P.SONG_TAU_M, tau_ref=0.0, R=1.0, V_initializer=bp.init.Constant(P.SONG_EL))
                self.syn = bp.dyn.STDP_Song2000(
                    pre=self.inputs, delay=None,
                    comm=bp.dnn.EventCSRLinear(bp.conn.All2All(pre=P.SONG_N, post=1),
                                               weight=bp.init.Uniform(0.0, g_max)),
                    syn=bp.dyn.Expon.desc(1, tau=P.SONG_TAU_E), out=bp.dyn.COBA.desc(E=0.0), post=self.cell,
                    tau_s=P.TAU_STDP, tau_t=P.TAU_STDP, A1=a_plus, A2=P.A_RATIO * a_plus, W_max=g_max, W_min=0.0)

            def update(self):
                self.syn()
                self.inputs()
                self.cell()
                return self.cell.spike.sum()

        t0 = C.now()
        net = Song()
        # the column (postsynaptic) index of the CSR, which STDP_Song2000 builds lazily on the
        # first postsynaptic update; built inside the jitted loop it escapes the trace (an
        # UnexpectedTracerError in brainpy 2.9), so it is built here, eagerly, the same way
        # (and the weights, which it promotes to a Variable on the first update: made one here)
        comm = net.syn.comm
        comm.weight = bm.Variable(comm.weight)
        comm._pre_ids, comm._post_indptr, comm.w_indices = csr2csc(
            [np.asarray(comm.indices), np.asarray(comm.indptr)], comm.conn.post_num, data=np.arange(comm.weight.size))
        build_s = C.now() - t0
        n_steps = int(round(args.duration * 1000.0 / P.DT_MS))

        runner = bp.DSRunner(net, monitors={"spike": net.cell.spike}, progress_bar=False, jit=True)

        def run():
            return runner.run(n_steps * P.DT_MS)

        t0 = C.now()
        jax.block_until_ready(run())
        first_call_s = C.now() - t0
        spikes = np.asarray(runner.mon["spike"])          # the outcome: the first call, a whole run
        w = np.asarray(net.syn.comm.weight)
        t0 = C.now()
        jax.block_until_ready(run())                       # the timing: the same program again
        run_s = C.now() - t0
    C.emit({
        "tool": "brainpy", "workload": args.workload, "duration_s": args.duration, "build_s": round(build_s, 4),
        "compile_s": round(max(0.0, first_call_s - run_s), 4), "run_s": round(run_s, 4),
        "rtf": round(run_s / args.duration, 4), "rate_out_hz": round(float(spikes.sum()) / args.duration, 3),
        **P.weight_stats(w, g_max), "device": C.cpu_device(), "threads": threads,
        "version": f"brainpy {bp.__version__}, jax {jax.__version__}", "seed": args.seed,
        "first_call_s": round(first_call_s, 4), "load_1min": C.load_1min(),
        "api": "brainpy.dyn (PoissonGroup + LifRef + STDP_Song2000 over EventCSRLinear, Expon + COBA)",
    })


if __name__ == "__main__":
    main()
