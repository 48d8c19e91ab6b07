"""COBAHH benchmark (Brette et al. 2007 benchmark 3) in BrainPy 2.9 (``brainpy.state`` on
brainstate / brainevent).

    .peers/brainpy/bin/python benchmarks/peers/brainpy_cobahh.py --n 4000 --duration 1

Prints one JSON line: the fields of a COBA line (benchmarks/README.md) plus the COBAHH
statistics of ``cobahh_common.stats``.

Model: the network of cobahh_common.py (Brian2's ``examples/COBAHH.py``), written the way
BrainPy's own COBA-HH example (``examples_state/106_COBA_HH_2007.py`` in brainpy/BrainPy) writes
it: an HH ``brainpy.state.Dynamics`` whose V, m, h, n each take one
``brainstate.nn.exp_euler_step`` from the values at the start of the step, and two
``brainpy.state.AlignPostProj`` projections with ``Expon`` conductances and ``COBA`` outputs.
Where that example departs from the benchmark, this runner follows the benchmark (and Brian2):

* g_L = 10 nS (the example writes ``5 nS/cm^2``, 1e4 times smaller than the benchmark's
  5e-5 S/cm^2, which leaves its cells almost without leak);
* dt = 0.1 ms (the example: 0.04 ms, 300 ms);
* spike = V > -20 mV outside a 3-ms refractory period, as Brian (the example: an upward
  crossing of -20 mV, no refractory period);
* g_e(0), g_i(0) drawn as in Brian's example (BrainPy's starts them at 0);
* connectivity: Bernoulli(p) per ordered pair drawn with numpy (``common.bernoulli_csr``),
  as Brian's ``connect(p=p)``; the example's ``EventFixedProb`` draws a fixed out-degree. The
  event-driven CSR mat-vec is brainevent's (``BinaryArray(spikes) @ CSR``, one homogeneous
  weight; numba kernel on the CPU), as in brainpy_coba.py.

Units: V in mV (brainunit), conductances as plain numbers in nS, C in pF, so
(nS * mV) / pF / ms is mV/ms. A spike of step t reaches g at the start of step t + 1, after g's
decay of that step, and V of step t + 1 uses that g: the same recursion as Brian (there, V of
step t + 1 uses g before its decay, which already holds step t's spikes); only g(0) is used once
more decayed in the first step. Initial states are drawn with numpy from ``--seed``; each tool
draws its own network, so results agree in statistics, not spike by spike.

ISI statistics are accumulated on the device inside the loop (per neuron: spike count, last
spike step, Welford mean and M2 of the ISIs in steps), plus E and I spike counts per step.

Timings as in brainpy_coba.py: ``build_s`` = connectivity + modules + ``init_all_states``;
``first_call_s`` = the first call of the jitted ``for_loop`` (trace, XLA compile, kernel set-up,
one simulation); ``run_s`` = a second call after ``reset_all_states`` (same initial state, no
re-trace); ``compile_s`` = ``first_call_s - run_s``; statistics from the second run.
``--precision 32`` (default, JAX's) or ``64``.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import cobahh_common as H  # noqa: E402

NEVER = -(10 ** 8)   # "last spike" step of a neuron that has not spiked


def main(argv=None):
    def add(ap):
        ap.add_argument("--precision", type=int, default=32, choices=[32, 64],
                        help="float precision of the simulation (JAX's default is 32)")

    args = C.parse_args("BrainPy COBAHH benchmark", argv=argv, add=add)
    if args.device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
        threads = C.limit_threads(args.threads, pin=True)
        if args.threads <= 1:
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                       " --xla_cpu_multi_thread_eigen=false").strip()
    else:
        threads = None
    if args.precision == 64:
        os.environ["JAX_ENABLE_X64"] = "1"

    with C.quiet_stdout():
        import numpy as np
        import jax
        import jax.numpy as jnp
        import brainunit as u
        import brainstate
        import brainevent
        import brainpy

        if args.device == "gpu" and jax.default_backend() != "gpu":
            raise SystemExit(f"brainpy: --device gpu asked but jax's backend is {jax.default_backend()}")
        if args.device == "cpu" and args.threads > 1:
            brainevent.config.set_numba_parallel(True, num_threads=args.threads)

        n, ne = args.n, C.n_exc(args.n)
        dt = H.DT_MS * u.ms
        brainstate.environ.set(dt=dt, precision=args.precision)
        ftype = brainstate.environ.dftype()
        brainstate.random.seed(args.seed)
        rng = np.random.default_rng(args.seed)

        class CSRComm(brainstate.nn.Module):
            """spikes (bool, n_pre) @ CSR (n_pre, n_post) with one weight, event-driven."""

            def __init__(self, indptr, indices, n_pre, n_post, weight):
                super().__init__()
                self.in_size, self.out_size = (n_pre,), (n_post,)
                self.csr = brainevent.CSR(
                    (jnp.asarray([weight], dtype=ftype), jnp.asarray(indices, dtype=jnp.int32),
                     jnp.asarray(indptr, dtype=jnp.int32)),
                    shape=(n_pre, n_post))

            def update(self, spk):
                return brainevent.BinaryArray(spk) @ self.csr

        class HHCells(brainpy.state.Dynamics):
            """Traub-Miles HH cells with Brian's spike rule and on-device ISI moments."""

            def __init__(self, size, v0):
                super().__init__(size)
                self.v0 = np.asarray(v0)

            def init_state(self, *a, **k):
                z = lambda dtype=ftype: jnp.zeros(self.varshape, dtype=dtype)  # noqa: E731
                self.V = brainstate.HiddenState(jnp.asarray(self.v0, dtype=ftype) * u.mV)
                self.m = brainstate.HiddenState(z())
                self.h = brainstate.HiddenState(z())
                self.n = brainstate.HiddenState(z())
                self.spike = brainstate.ShortTermState(z(bool))
                self.last = brainstate.ShortTermState(jnp.full(self.varshape, NEVER, jnp.int32))
                self.count = brainstate.ShortTermState(z(jnp.int32))
                self.isi_mean = brainstate.ShortTermState(z())
                self.isi_m2 = brainstate.ShortTermState(z())

            def reset_state(self, *a, **k):
                self.V.value = jnp.asarray(self.v0, dtype=ftype) * u.mV
                for s in (self.m, self.h, self.n, self.isi_mean, self.isi_m2):
                    s.value = jnp.zeros(self.varshape, dtype=ftype)
                self.spike.value = jnp.zeros(self.varshape, dtype=bool)
                self.last.value = jnp.full(self.varshape, NEVER, jnp.int32)
                self.count.value = jnp.zeros(self.varshape, dtype=jnp.int32)

            def dV(self, V, m, h, n_):
                # nS * mV / pF = mV/ms
                i_ion = (H.G_L_NS * (H.E_L_MV * u.mV - V)
                         - H.G_NA_NS * (m * m * m) * h * (V - H.E_NA_MV * u.mV)
                         - H.G_K_NS * (n_ * n_ * n_ * n_) * (V - H.E_K_MV * u.mV))
                return self.sum_current_inputs(i_ion, V) / H.C_M_PF / u.ms

            @staticmethod
            def _u(V):
                return (V - H.V_T_MV * u.mV) / u.mV

            def dm(self, m, V):
                x = self._u(V)
                a = 0.32 * 4.0 / u.math.exprel((13.0 - x) / 4.0)
                b = 0.28 * 5.0 / u.math.exprel((x - 40.0) / 5.0)
                return (a * (1.0 - m) - b * m) / u.ms

            def dh(self, h, V):
                x = self._u(V)
                a = 0.128 * u.math.exp((17.0 - x) / 18.0)
                b = 4.0 / (1.0 + u.math.exp((40.0 - x) / 5.0))
                return (a * (1.0 - h) - b * h) / u.ms

            def dn(self, n_, V):
                x = self._u(V)
                a = 0.032 * 5.0 / u.math.exprel((15.0 - x) / 5.0)
                b = 0.5 * u.math.exp((10.0 - x) / 40.0)
                return (a * (1.0 - n_) - b * n_) / u.ms

            def update(self):
                i = brainstate.environ.get("i")
                V0, m0, h0, n0 = self.V.value, self.m.value, self.h.value, self.n.value
                V = brainstate.nn.exp_euler_step(self.dV, V0, m0, h0, n0)
                self.m.value = brainstate.nn.exp_euler_step(self.dm, m0, V0)
                self.h.value = brainstate.nn.exp_euler_step(self.dh, h0, V0)
                self.n.value = brainstate.nn.exp_euler_step(self.dn, n0, V0)
                self.V.value = V
                last = self.last.value
                spk = (V > H.V_SPIKE_MV * u.mV) & (i - last >= H.REF_STEPS)
                # Welford update of the ISI moments (in steps) where a spike follows another
                cnt = self.count.value
                follow = spk & (cnt > 0)
                isi = (i - last).astype(ftype)
                k = jnp.maximum(cnt, 1).astype(ftype)          # ISIs so far, this one included
                delta = isi - self.isi_mean.value
                new_mean = self.isi_mean.value + delta / k
                self.isi_m2.value = jnp.where(follow, self.isi_m2.value + delta * (isi - new_mean),
                                              self.isi_m2.value)
                self.isi_mean.value = jnp.where(follow, new_mean, self.isi_mean.value)
                self.count.value = cnt + spk.astype(jnp.int32)
                self.last.value = jnp.where(spk, i, last)
                self.spike.value = spk
                return spk

        class COBAHHNet(brainstate.nn.Module):
            def __init__(self):
                super().__init__()
                v0 = H.V0_MEAN_MV + H.V0_STD_MV * rng.standard_normal(n)
                ge0 = H.GE0_MEAN_NS + H.GE0_STD_NS * rng.standard_normal(n)
                gi0 = H.GI0_MEAN_NS + H.GI0_STD_NS * rng.standard_normal(n)
                self.N = HHCells(n, v0)
                ip_e, ix_e = C.bernoulli_csr(ne, n, args.p, rng)
                ip_i, ix_i = C.bernoulli_csr(n - ne, n, args.p, rng)
                self.n_synapses = int(ix_e.size + ix_i.size)
                self.E = brainpy.state.AlignPostProj(
                    comm=CSRComm(ip_e, ix_e, ne, n, H.W_E_NS),
                    syn=brainpy.state.Expon.desc(n, tau=H.TAU_E_MS * u.ms,
                                                 g_initializer=jnp.asarray(ge0, dtype=ftype)),
                    out=brainpy.state.COBA.desc(E=H.E_E_MV * u.mV),
                    post=self.N,
                )
                self.I = brainpy.state.AlignPostProj(
                    comm=CSRComm(ip_i, ix_i, n - ne, n, H.W_I_NS),
                    syn=brainpy.state.Expon.desc(n, tau=H.TAU_I_MS * u.ms,
                                                 g_initializer=jnp.asarray(gi0, dtype=ftype)),
                    out=brainpy.state.COBA.desc(E=H.E_I_MV * u.mV),
                    post=self.N,
                )

            def update(self, i):
                with brainstate.environ.context(t=i * dt, i=i):
                    spk = self.N.spike.value
                    self.E(spk[:ne])
                    self.I(spk[ne:])
                    out = self.N()
                    return jnp.stack([out[:ne].sum(dtype=jnp.int32), out[ne:].sum(dtype=jnp.int32)])

        t0 = C.now()
        net = COBAHHNet()
        brainstate.nn.init_all_states(net)
        jax.block_until_ready(net.N.V.value)
        build_s = C.now() - t0

        n_steps = int(round(args.duration * 1000.0 / H.DT_MS))

        @brainstate.transform.jit
        def simulate(steps):
            return brainstate.transform.for_loop(net.update, steps)

        steps = jnp.arange(n_steps, dtype=jnp.int32)
        t0 = C.now()
        jax.block_until_ready(simulate(steps))
        first_call_s = C.now() - t0

        brainstate.nn.reset_all_states(net)
        jax.block_until_ready(net.N.V.value)
        t0 = C.now()
        per_step = jax.block_until_ready(simulate(steps))
        run_s = C.now() - t0
        per_step = np.asarray(per_step)
        counts = np.asarray(net.N.count.value)
        isi_mean = np.asarray(net.N.isi_mean.value)
        isi_m2 = np.asarray(net.N.isi_m2.value)
        backend = jax.default_backend()
        device = C.cpu_device() if backend == "cpu" else f"{backend} ({jax.devices()[0].device_kind})"

    st = H.stats(counts, isi_mean, isi_m2, ne, args.duration,
                 H.rate_bins_from_step_counts(per_step.sum(axis=1), n))
    C.emit(C.result(
        "brainpy", args, build_s=build_s, compile_s=max(0.0, first_call_s - run_s), run_s=run_s,
        spikes_e=per_step[:, 0].sum(), spikes_i=per_step[:, 1].sum(),
        version=f"brainpy {brainpy.__version__}, brainstate {brainstate.__version__}, "
                f"brainevent {brainevent.__version__}, jax {jax.__version__}",
        threads=threads, device=device, first_call_s=round(first_call_s, 4), workload="cobahh",
        model=H.BRIAN2_EXAMPLE + ", in BrainPy (cf. brainpy/BrainPy examples_state/106_COBA_HH_2007.py)",
        method="exp_euler_step (brainstate)", precision=args.precision,
        api="brainpy.state (HH Dynamics + AlignPostProj + Expon + COBA, brainevent CSR event mat-vec)",
        n_synapses=net.n_synapses, kernel_backend=brainevent.binary_csrmv_p.defaults.get(backend),
        **st,
    ))


if __name__ == "__main__":
    main()
