"""COBA benchmark in BrainPy 2.9 (``brainpy.state`` API on brainstate /
brainevent).

    .peers/brainpy/bin/python benchmarks/peers/brainpy_coba.py --n 4000 --duration 1

Prints one JSON line (see benchmarks/README.md).

Model: one ``brainpy.state.LIFRef`` population (hard reset, refractory
clamp, exponential-Euler membrane update), two
``brainpy.state.AlignPostProj`` projections (E -> all, I -> all) whose
synapses are ``brainpy.state.Expon`` conductances (shared per target via
the descriptor mechanism) with ``brainpy.state.COBA`` outputs.  The
communication is event-driven CSR: a ``brainevent.CSR`` matrix with one
homogeneous weight, multiplied by ``brainevent.BinaryArray(spikes)``
(brainevent's binary CSR mat-vec kernel: numba on CPU, CUDA on GPU).  The
CSR is Bernoulli(p) connectivity drawn with numpy from ``--seed``, the
same statistics as the Brian and NEST runners (brainstate's own
``EventFixedProb`` draws a fixed out-degree instead).

Conductances are dimensionless (units of g_L) and R = 1, so
``R * g * (E - V)`` is in mV as in the benchmark's membrane equation; the
background drive is the constant input x = 20 mV.  Spikes of step t (V >=
V_th at the end of step t) are fed to the projections at the start of
step t+1, so they act on V in step t+1 (no extra delay).

Timings: ``build_s`` = numpy connectivity + building the modules +
``init_all_states``; ``first_call_s`` = the first call of the jitted
``for_loop`` over all steps (trace + XLA compile + numba kernel set-up + one
simulation); then the states are reset (same State objects, so nothing is
re-traced) and ``run_s`` = a second call of the same function;
``compile_s`` = ``first_call_s - run_s``.  Rates come from the second run.
``--threads 1`` pins the process to one core before jax is imported and
turns off XLA's multi-threaded Eigen (brainevent's numba kernels are serial
by default); ``--threads k > 1`` pins to k cores and turns on brainevent's
numba parallel mode with k threads.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402


def main(argv=None):
    args = C.parse_args("BrainPy COBA benchmark", argv=argv)
    if args.device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
        threads = C.limit_threads(args.threads, pin=True)
        if args.threads <= 1:
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                       " --xla_cpu_multi_thread_eigen=false").strip()
    else:
        threads = None

    with C.quiet_stdout():
        import numpy as np
        import jax
        import jax.numpy as jnp
        import brainunit as u
        import brainstate
        import braintools
        import brainevent
        import brainpy

        if args.device == "gpu" and jax.default_backend() != "gpu":
            raise SystemExit(f"brainpy: --device gpu asked but jax's backend is {jax.default_backend()}")

        if args.device == "cpu" and args.threads > 1:
            brainevent.config.set_numba_parallel(True, num_threads=args.threads)
        n, ne = args.n, C.n_exc(args.n)
        dt = C.DT_MS * u.ms
        brainstate.environ.set(dt=dt)
        brainstate.random.seed(args.seed)

        class CSRComm(brainstate.nn.Module):
            """Event-driven sparse projection: spikes (bool, n_pre) @ CSR (n_pre, n_post)."""

            def __init__(self, indptr, indices, n_pre, n_post, weight):
                super().__init__()
                self.in_size = (n_pre,)
                self.out_size = (n_post,)
                self.csr = brainevent.CSR(
                    (jnp.asarray([weight], dtype=jnp.float32),
                     jnp.asarray(indices, dtype=jnp.int32),
                     jnp.asarray(indptr, dtype=jnp.int32)),
                    shape=(n_pre, n_post))

            def update(self, spk):
                return brainevent.BinaryArray(spk) @ self.csr

        class COBANet(brainstate.nn.Module):
            def __init__(self, rng):
                super().__init__()
                self.N = brainpy.state.LIFRef(
                    n, R=1.0, tau=C.TAU_M_MS * u.ms, tau_ref=C.TAU_REF_MS * u.ms,
                    V_th=C.V_TH_MV * u.mV, V_reset=C.V_RESET_MV * u.mV, V_rest=C.V_REST_MV * u.mV,
                    V_initializer=braintools.init.Uniform(C.V_RESET_MV * u.mV, C.V_TH_MV * u.mV),
                    spk_reset="hard",
                )
                ip_e, ix_e = C.bernoulli_csr(ne, n, args.p, rng)
                ip_i, ix_i = C.bernoulli_csr(n - ne, n, args.p, rng)
                self.n_synapses = int(ix_e.size + ix_i.size)
                zero = braintools.init.Constant(0.0)
                self.E = brainpy.state.AlignPostProj(
                    comm=CSRComm(ip_e, ix_e, ne, n, C.W_E),
                    syn=brainpy.state.Expon.desc(n, tau=C.TAU_E_MS * u.ms, g_initializer=zero),
                    out=brainpy.state.COBA.desc(E=C.E_E_MV * u.mV),
                    post=self.N,
                )
                self.I = brainpy.state.AlignPostProj(
                    comm=CSRComm(ip_i, ix_i, n - ne, n, C.W_I),
                    syn=brainpy.state.Expon.desc(n, tau=C.TAU_I_MS * u.ms, g_initializer=zero),
                    out=brainpy.state.COBA.desc(E=C.E_I_MV * u.mV),
                    post=self.N,
                )

            def update(self, i):
                with brainstate.environ.context(t=i * dt, i=i):
                    spk = self.N.get_spike() != 0.0
                    self.E(spk[:ne])
                    self.I(spk[ne:])
                    self.N(C.I_BG_MV * u.mV)
                    out = self.N.get_spike() != 0.0
                    return jnp.stack([out[:ne].sum(dtype=jnp.int32), out[ne:].sum(dtype=jnp.int32)])

        t0 = C.now()
        net = COBANet(np.random.default_rng(args.seed))
        brainstate.nn.init_all_states(net)
        jax.block_until_ready(net.N.V.value)
        build_s = C.now() - t0

        n_steps = int(round(args.duration * 1000.0 / C.DT_MS))

        @brainstate.transform.jit
        def simulate(steps):
            return brainstate.transform.for_loop(net.update, steps)

        steps = jnp.arange(n_steps, dtype=jnp.int32)
        t0 = C.now()
        counts = jax.block_until_ready(simulate(steps))
        first_call_s = C.now() - t0

        brainstate.nn.reset_all_states(net)
        jax.block_until_ready(net.N.V.value)
        t0 = C.now()
        counts = jax.block_until_ready(simulate(steps))
        run_s = C.now() - t0
        counts = np.asarray(counts)
        backend = jax.default_backend()
        if backend == "cpu":
            device = C.cpu_device()
        else:
            device = f"{backend} ({jax.devices()[0].device_kind})"

    C.emit(C.result(
        "brainpy", args, build_s=build_s, compile_s=max(0.0, first_call_s - run_s), run_s=run_s,
        spikes_e=counts[:, 0].sum(), spikes_i=counts[:, 1].sum(),
        version=f"brainpy {brainpy.__version__}, brainstate {brainstate.__version__}, "
                f"brainevent {brainevent.__version__}, jax {jax.__version__}",
        threads=threads, device=device, first_call_s=round(first_call_s, 4),
        api="brainpy.state (LIFRef + AlignPostProj + Expon + COBA, brainevent CSR event mat-vec)",
        n_synapses=net.n_synapses,
        kernel_backend=brainevent.binary_csrmv_p.defaults.get(backend),
    ))


if __name__ == "__main__":
    main()
