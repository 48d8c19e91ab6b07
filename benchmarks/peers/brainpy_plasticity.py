"""The song and coba-stdp plasticity workloads in BrainPy 2.9 (``brainpy.dyn.STDP_Song2000``), see
plasticity_common.py.

    .peers/brainpy/bin/python benchmarks/peers/brainpy_plasticity.py --workload song|coba-stdp \
        [--duration S] [--static]

BrainPy's own STDP projection (the ``brainpy.dyn`` API; ``brainpy.state`` has no plasticity):
- 1000 ``PoissonGroup`` inputs (15 Hz), one ``LifRef`` neuron (tau_m 10 ms, R = 1, no
  refractory period);
- ``STDP_Song2000`` over an all-to-all ``EventCSRLinear`` with ``Expon`` (tau_e 5 ms) and
  ``COBA`` (E_e = 0 mV) outputs; conductances dimensionless, as in Brian2's example.

coba-stdp: two ``LifRef`` populations, E (3200) and I (800) (tau_m 20 ms, refractory 5 ms,
V_rest = V_reset = -60, V_th = -50 mV, R = 1, the 20 mV background as the input current,
V0 ~ U[V_reset, V_th]); E -> E is ``STDP_Song2000`` over an ``EventCSRLinear`` (initial w_e,
bounds [0, w_max]); E -> I, I -> E and I -> I are ``ProjAlignPostMg2`` projections over
``EventCSRLinear`` with one weight (w_e, w_i); ``Expon`` (tau_e 5 ms, tau_i 10 ms) and ``COBA``
(E_e 0, E_i -80 mV) outputs; Bernoulli(0.02) connections drawn with numpy from ``--seed``
(``common.bernoulli_csr``). ``--static``: E -> E as a static projection too. BrainPy's LifRef
integrates the membrane by exponential Euler (Brian2 and neurosim: Euler).

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
The izhikevich2007 workload has no BrainPy runner (BrainPy has no dopamine-modulated STDP).
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
    if args.workload not in ("song", "coba-stdp"):
        raise SystemExit(f"brainpy: no runner for {args.workload} (song and coba-stdp are written)")
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

        def stdp_columns(comm):
            """The column (postsynaptic) index of the CSR, which STDP_Song2000 builds lazily on the
            first postsynaptic update; built inside the jitted loop it escapes the trace (an
            UnexpectedTracerError in brainpy 2.9), so it is built here, eagerly, the same way
            (and the weights, which it promotes to a Variable on the first update: made one here)."""
            comm.weight = bm.Variable(comm.weight)
            comm._pre_ids, comm._post_indptr, comm.w_indices = csr2csc(
                [np.asarray(comm.indices), np.asarray(comm.indptr)], comm.conn.post_num,
                data=np.arange(comm.weight.size))

        def csr_linear(ip, ix, n_pre, n_post, weight):
            conn = bp.conn.CSRConn(indices=np.asarray(ix), inptr=np.asarray(ip))(n_pre, n_post)
            return bp.dnn.EventCSRLinear(conn, weight=weight)

        class CobaStdp(bp.DynamicalSystem):
            def __init__(self, rng):
                super().__init__()
                n, ne = P.COBA_N, C.n_exc(P.COBA_N)
                v0 = bp.init.Uniform(C.V_RESET_MV, C.V_TH_MV)
                kw = dict(V_rest=C.V_REST_MV, V_reset=C.V_RESET_MV, V_th=C.V_TH_MV, tau=C.TAU_M_MS,
                          tau_ref=C.TAU_REF_MS, R=1.0, V_initializer=v0)
                self.E = bp.dyn.LifRef(ne, **kw)
                self.I = bp.dyn.LifRef(n - ne, **kw)
                p = C.default_p(n)
                ee = C.bernoulli_csr(ne, ne, p, rng)
                ei = C.bernoulli_csr(ne, n - ne, p, rng)
                ie = C.bernoulli_csr(n - ne, ne, p, rng)
                ii = C.bernoulli_csr(n - ne, n - ne, p, rng)
                exc = dict(syn=bp.dyn.Expon.desc(ne, tau=C.TAU_E_MS), out=bp.dyn.COBA.desc(E=C.E_E_MV))
                if args.static:
                    self.ee = bp.dyn.ProjAlignPostMg2(pre=self.E, delay=None, comm=csr_linear(*ee, ne, ne, C.W_E),
                                                      post=self.E, **exc)
                else:
                    self.ee = bp.dyn.STDP_Song2000(
                        pre=self.E, delay=None, comm=csr_linear(*ee, ne, ne, bp.init.Constant(C.W_E)), post=self.E,
                        tau_s=P.TAU_STDP, tau_t=P.TAU_STDP, A1=P.A_REL * P.COBA_WMAX,
                        A2=P.A_RATIO * P.A_REL * P.COBA_WMAX, W_max=P.COBA_WMAX, W_min=0.0, **exc)
                self.ei = bp.dyn.ProjAlignPostMg2(pre=self.E, delay=None, comm=csr_linear(*ei, ne, n - ne, C.W_E),
                                                  syn=bp.dyn.Expon.desc(n - ne, tau=C.TAU_E_MS),
                                                  out=bp.dyn.COBA.desc(E=C.E_E_MV), post=self.I)
                self.ie = bp.dyn.ProjAlignPostMg2(pre=self.I, delay=None, comm=csr_linear(*ie, n - ne, ne, C.W_I),
                                                  syn=bp.dyn.Expon.desc(ne, tau=C.TAU_I_MS),
                                                  out=bp.dyn.COBA.desc(E=C.E_I_MV), post=self.E)
                self.ii = bp.dyn.ProjAlignPostMg2(pre=self.I, delay=None,
                                                  comm=csr_linear(*ii, n - ne, n - ne, C.W_I),
                                                  syn=bp.dyn.Expon.desc(n - ne, tau=C.TAU_I_MS),
                                                  out=bp.dyn.COBA.desc(E=C.E_I_MV), post=self.I)
                self.n_synapses = sum(int(c[1].size) for c in (ee, ei, ie, ii))

            def update(self):
                self.ee()
                self.ei()
                self.ie()
                self.ii()
                self.E(C.I_BG_MV)
                self.I(C.I_BG_MV)
                return self.E.spike.sum() + self.I.spike.sum()

        t0 = C.now()
        coba = args.workload == "coba-stdp"
        net = CobaStdp(np.random.default_rng(args.seed)) if coba else Song()
        plastic = None if (coba and args.static) else (net.ee if coba else net.syn)
        if plastic is not None:
            stdp_columns(plastic.comm)
        build_s = C.now() - t0
        n_steps = int(round(args.duration * 1000.0 / P.DT_MS))
        spiking = (net.E, net.I) if coba else (net.cell,)
        n_out = P.COBA_N if coba else 1
        w_max = P.COBA_WMAX if coba else g_max

        runner = bp.DSRunner(net, monitors={f"spike{k}": pop.spike for k, pop in enumerate(spiking)},
                             progress_bar=False, jit=True)

        def run():
            return runner.run(n_steps * P.DT_MS)

        t0 = C.now()
        jax.block_until_ready(run())
        first_call_s = C.now() - t0
        # the outcome: the first call, a whole run
        n_spikes = sum(float(np.asarray(runner.mon[f"spike{k}"]).sum()) for k in range(len(spiking)))
        w = None if plastic is None else np.asarray(plastic.comm.weight)
        t0 = C.now()
        jax.block_until_ready(run())                       # the timing: the same program again
        run_s = C.now() - t0
    C.emit({
        "tool": "brainpy", "workload": args.workload + ("-static" if coba and args.static else ""),
        "duration_s": args.duration, "build_s": round(build_s, 4),
        "compile_s": round(max(0.0, first_call_s - run_s), 4), "run_s": round(run_s, 4),
        "rtf": round(run_s / args.duration, 4), "rate_out_hz": round(n_spikes / n_out / args.duration, 3),
        **({} if w is None else P.weight_stats(w, w_max)), "device": C.cpu_device(), "threads": threads,
        "version": f"brainpy {bp.__version__}, jax {jax.__version__}", "seed": args.seed,
        "first_call_s": round(first_call_s, 4), "load_1min": C.load_1min(),
        "api": ("brainpy.dyn (LifRef E/I + STDP_Song2000 / ProjAlignPostMg2 over EventCSRLinear, Expon + COBA)"
                if coba else "brainpy.dyn (PoissonGroup + LifRef + STDP_Song2000 over EventCSRLinear, Expon + COBA)"),
    })


if __name__ == "__main__":
    main()
