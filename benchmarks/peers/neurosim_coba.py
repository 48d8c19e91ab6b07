"""COBA benchmark in neurosim (this project), run like the peer runners.

    .venv/bin/python benchmarks/peers/neurosim_coba.py --n 4000 --duration 1 \
        [--engine auto|scan|fused] [--record spikes|counts]

Default (``--engine auto --record spikes``): calls ``neurosim.demo.run_coba``
and prints its dict as one JSON line, adding the fields the peer runners
have (threads, version, ...) where ``run_coba`` leaves them out.  With
``--device cpu --threads 1`` (the default) the process is pinned to one core
and XLA's multi-threaded Eigen is turned off before jax is imported, exactly
as for the BrainPy runner.

``--noise-std S`` adds a Gaussian current (std S pA per step) onto every neuron.
``--engine scan|fused`` runs ``simulate(..., engine=...)`` with a ``Spikes``
monitor (every spike comes back to the host, as in ``run_coba``).
``--record counts`` instead counts the E and I spikes on the device and
brings back two numbers per call, as the BrainPy runner does: the engine's
own speed, without moving a spike raster (500 kB per step at 4 M neurons) to
the host; it calls the engines directly (``neurosim.network.run`` with an
``observe`` sum for the scan, ``neurosim.network.fused.fused_fn`` and a
popcount of the spike words for the fused kernel). ``first_call_s`` is
compile + run of the first call.
"""
from __future__ import annotations

import inspect
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402


def _add_options(ap):
    ap.add_argument("--engine", default="auto", choices=["auto", "scan", "fused", "native"],
                    help="simulate's engine (auto: fused where it can run, else scan)")
    ap.add_argument("--record", default="spikes", choices=["spikes", "counts"],
                    help="spikes: every spike to the host (simulate + Spikes monitor); counts: E/I spike counts "
                         "summed on the device")
    ap.add_argument("--procedural", action="store_true",
                    help="procedural (JitConn) connectivity regenerated inside the kernels instead of a stored CSR")
    ap.add_argument("--noise-std", type=float, default=0.0,
                    help="pA: add a GaussianCurrent (mean 0, this std, drawn every step) onto every neuron")


def run_engine(args) -> dict:
    """The COBA network through ``simulate(engine=...)`` (record spikes) or through the engines
    directly, counting spikes on the device (record counts)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import neurosim as ns
    from neurosim.network import fused

    if args.device == "gpu":
        jax.config.update("jax_default_device", jax.devices("gpu")[0])
    dt, n_steps = C.DT_MS, int(round(args.duration * 1e3 / C.DT_MS))
    t0 = C.now()
    net = ns.builders.coba(args.n, seed=args.seed, p=args.p, procedural=args.procedural)
    if args.noise_std:   # before the constant background, so the fused kernel sums as the scan does
        noise = ns.Input("noise", "neurons", ns.inputs.GaussianCurrent(),
                         ns.inputs.GaussianCurrent.Params(0.0, args.noise_std))
        net = ns.Network(list(net.populations), list(net.projections), [noise, *net.inputs])
    n_e = net.projections[0].conn.n_pre
    nnz = [getattr(pr.conn, "nnz", None) or round(pr.conn.expected_nnz) for pr in net.projections]
    extra = {"engine": args.engine, "record": args.record, "procedural": bool(args.procedural),
             "noise_std": args.noise_std, "n_synapses": int(sum(nnz))}
    if args.record == "spikes":
        build_s = C.now() - t0
        res = ns.simulate(net, args.duration * 1e3, dt, key=args.seed, monitors=[ns.Spikes("neurons")],
                          engine=args.engine, progress=False)
        _, ids = res.spikes["neurons"]
        extra["engine"] = res.timings["engine"]
        return dict(build_s=build_s + res.timings["build_s"], compile_s=res.timings["compile_s"],
                    run_s=res.timings["run_s"], spikes_e=int(np.sum(ids < n_e)), spikes_i=int(np.sum(ids >= n_e)),
                    extra=extra)

    params = net.params()
    state = ns.init_state(net, params, args.seed, dt)
    engine = args.engine
    plan = None
    if engine != "scan":
        plan = fused.fused_plan(net, params, dt)
        if isinstance(plan, str):
            if engine == "fused":
                raise SystemExit(f"neurosim: engine 'fused' cannot run this network: {plan}")
            plan, engine = None, "scan"
        else:
            engine = "fused"
    extra["engine"] = engine
    if engine == "fused":
        chunk = max(1, min(n_steps, int(2e9 // (4 * plan.n_words))))
        we, rem = divmod(n_e, 32)

        def make(k):
            inner = fused.fused_fn(plan, k)

            def f(p, s, ip, ix):
                s, bits = inner(p, s, ip, ix)
                pc = jax.lax.population_count(bits)
                e = jnp.sum(pc[:, :we], dtype=jnp.int32)
                if rem:
                    e = e + jnp.sum(jax.lax.population_count(bits[:, we] & jnp.uint32((1 << rem) - 1)), dtype=jnp.int32)
                return s, jnp.stack([e, jnp.sum(pc, dtype=jnp.int32) - e])
            return jax.jit(f)

        operands = (plan.indptr, plan.indices)
    else:
        chunk = min(n_steps, 10_000)
        conns = net.connectivity()

        def make(k):
            def observe(s, spk):
                x = spk["neurons"]
                return jnp.stack([jnp.sum(x[:n_e]), jnp.sum(x[n_e:])])

            def f(p, s, c):
                s, counts = ns.run(net, p, s, k, dt, conns=c, observe=observe)
                return s, jnp.sum(counts, axis=0).astype(jnp.int32)
            return jax.jit(f)

        operands = (conns,)
    jax.block_until_ready((params, state, operands))
    build_s = C.now() - t0
    sizes = [chunk] * (n_steps // chunk) + ([n_steps % chunk] if n_steps % chunk else [])
    compiled, compile_s, run_s, counts = {}, 0.0, 0.0, np.zeros(2, np.int64)
    first_call_s = None
    for k in sizes:
        if k not in compiled:
            t1 = C.now()
            compiled[k] = make(k).lower(params, state, *operands).compile()
            compile_s += C.now() - t1
        t1 = C.now()
        state, c = compiled[k](params, state, *operands)
        counts += np.asarray(jax.device_get(c), np.int64)
        dt_run = C.now() - t1
        run_s += dt_run
        if first_call_s is None:
            first_call_s = compile_s + dt_run
    extra.update(first_call_s=round(first_call_s, 4), steps_per_call=chunk)
    return dict(build_s=build_s, compile_s=compile_s, run_s=run_s, spikes_e=int(counts[0]), spikes_i=int(counts[1]),
                extra=extra)


def _setup(args):
    """Pin the run to its cores (CPU) and import the checkout's neurosim even when the package is
    not installed; returns the threads actually used (None on GPU)."""
    threads = None
    if args.device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        threads = C.limit_threads(args.threads, pin=True)
        if args.threads <= 1:
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                       " --xla_cpu_multi_thread_eigen=false").strip()
    repo = os.path.dirname(os.path.dirname(HERE))
    if repo not in sys.path:
        sys.path.insert(1, repo)
    return threads


def main(argv=None):
    args = C.parse_args("neurosim COBA benchmark", argv=argv, add=_add_options)
    if args.engine != "auto" or args.record != "spikes" or args.procedural or args.noise_std:
        return main_engine(args)
    threads = _setup(args)


    with C.quiet_stdout():
        try:
            from neurosim.demo import run_coba
        except Exception as err:  # noqa: BLE001
            raise SystemExit(f"neurosim: cannot import neurosim.demo.run_coba ({type(err).__name__}: {err})")
        kwargs = dict(n=args.n, duration_s=args.duration, seed=args.seed, device=args.device)
        params = inspect.signature(run_coba).parameters
        if "p" in params:
            kwargs["p"] = args.p
        elif abs(args.p - C.default_p(args.n)) > 1e-12:
            raise SystemExit("neurosim: run_coba takes no 'p' argument; cannot honour --p")
        res = dict(run_coba(**kwargs))
        import jax

        try:
            import neurosim
            version = getattr(neurosim, "__version__", "unknown")
        except Exception:  # noqa: BLE001
            version = "unknown"
        backend = jax.default_backend()

    res.pop("spikes", None)
    res.setdefault("tool", "neurosim")
    if backend == "cpu":
        res.setdefault("device", C.cpu_device())
    else:
        res.setdefault("device", f"{backend} ({jax.devices()[0].device_kind})")
    res.setdefault("threads", threads)
    res.setdefault("version", f"neurosim {version}, jax {jax.__version__}")
    res.setdefault("p", args.p)
    res.setdefault("seed", args.seed)
    res.setdefault("load_1min", C._LOAD_AT_IMPORT)
    # keep the JSON line plain: numpy / jax scalars -> Python numbers
    out = {}
    for k, v in res.items():
        if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
            v = v.item()
        if isinstance(v, float):
            v = round(v, 4)
        out[k] = v
    C.emit(json.loads(json.dumps(out, default=str)))


def main_engine(args):
    threads = _setup(args)
    with C.quiet_stdout():
        import jax

        import neurosim
        r = run_engine(args)
        dev = jax.devices(args.device)[0]
        device = C.cpu_device() if dev.platform == "cpu" else f"{dev.platform} ({dev.device_kind})"
    out = C.result("neurosim", args, build_s=r["build_s"], compile_s=r["compile_s"], run_s=r["run_s"],
                   spikes_e=r["spikes_e"], spikes_i=r["spikes_i"],
                   version=f"neurosim {getattr(neurosim, '__version__', 'unknown')}, jax {jax.__version__}",
                   threads=threads, device=device, **r["extra"])
    C.emit(out)


if __name__ == "__main__":
    main()
