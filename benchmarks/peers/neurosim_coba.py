"""COBA benchmark in neurosim (this project), run like the peer runners.

    .venv/bin/python benchmarks/peers/neurosim_coba.py --n 4000 --duration 1

Calls ``neurosim.demo.run_coba`` and prints its dict as one JSON line,
adding the fields the peer runners have (threads, version, ...) where
``run_coba`` leaves them out.  With ``--device cpu --threads 1`` (the
default) the process is pinned to one core and XLA's multi-threaded Eigen
is turned off before jax is imported, exactly as for the BrainPy runner.
"""
from __future__ import annotations

import inspect
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402


def main(argv=None):
    args = C.parse_args("neurosim COBA benchmark", argv=argv)
    threads = None
    if args.device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        threads = C.limit_threads(args.threads, pin=True)
        if args.threads <= 1:
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                       " --xla_cpu_multi_thread_eigen=false").strip()

    # Use the checkout's neurosim even when the package is not installed.
    repo = os.path.dirname(os.path.dirname(HERE))
    if repo not in sys.path:
        sys.path.insert(1, repo)

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


if __name__ == "__main__":
    main()
