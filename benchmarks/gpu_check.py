"""The one script to run when a GPU is at hand: the GPU tests, then the GPU workloads, as JSON lines.

    .venv/bin/python benchmarks/gpu_check.py [--out DIR] [--budget-s 480]

In order, each step with its own time limit and all of them within ``--budget-s`` (8 minutes by
default, so a 15-minute lease leaves room to rerun):

1. ``pytest -m gpu`` (the tests that skip without a GPU: CUDA kernels against the CPU ones, and the
   ring of per-synapse delays, pure JAX on a GPU, against the CPU kernel);
2. COBA-4000, 1 s, on the GPU (``benchmarks/coba.py --tools neurosim --device gpu --engine
   fused,scan --record counts``);
3. the Izhikevich (2003) 1000-neuron network and the AdEx COBA network
   (``benchmarks/networks.py --device gpu``: the scan engine on the GPU; the native engine is
   CPU-only today);
4. Brunel's network C and coba-stdp (their scripts have no ``--device``; ``JAX_PLATFORMS=cuda``
   puts their neurosim runs on the GPU).

Every step prints one JSON line ``{"step", "ok", "seconds", ...}`` (the benchmarks' own lines
follow theirs); ``--out DIR`` also writes them to ``DIR/gpu_check.jsonl``. Without a GPU the
script says so in its first line and exits 2, having run nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _gpu() -> str | None:
    try:
        import jax
        gpus = [d for d in jax.devices() if d.platform == "gpu"]
    except RuntimeError:
        return None
    return str(gpus[0].device_kind) if gpus else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="directory for gpu_check.jsonl")
    ap.add_argument("--budget-s", type=float, default=480.0, help="seconds for all steps together")
    args = ap.parse_args(argv)
    lines = []

    def emit(obj):
        print(json.dumps(obj), flush=True)
        lines.append(obj)

    gpu = _gpu()
    emit({"step": "device", "ok": gpu is not None, "gpu": gpu})
    if gpu is None:
        print("gpu_check: no GPU here (jax.devices() has none); nothing was run", file=sys.stderr)
        return 2
    py = sys.executable
    steps = [
        ("gpu tests", [py, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:xdist", "tests"], 150),
        ("coba-4000", [py, "benchmarks/coba.py", "--tools", "neurosim", "--device", "gpu", "--engine", "fused,scan",
                       "--record", "counts", "--n", "4000", "--duration", "1"], 90),
        ("izhikevich2003", [py, "benchmarks/networks.py", "--workload", "izhikevich2003", "--tools", "neurosim",
                            "--device", "gpu", "--engine", "scan"], 60),
        ("adex", [py, "benchmarks/networks.py", "--workload", "adex", "--tools", "neurosim", "--device", "gpu",
                  "--engine", "scan"], 60),
        # these two scripts have no --device: JAX_PLATFORMS=cuda puts their neurosim runs on the GPU
        ("brunel", [py, "benchmarks/brunel.py", "--tools", "neurosim"], 60),
        ("coba-stdp", [py, "benchmarks/plasticity.py", "--workload", "coba-stdp", "--tools", "neurosim"], 60),
    ]
    on_gpu = {**os.environ, "JAX_PLATFORMS": "cuda"}
    start = time.perf_counter()
    failed = 0
    for name, cmd, limit in steps:
        left = args.budget_s - (time.perf_counter() - start)
        if left < 10:
            emit({"step": name, "ok": False, "error": "out of budget"})
            failed += 1
            continue
        t0 = time.perf_counter()
        try:
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=min(limit, left),
                                  env=on_gpu if name in ("brunel", "coba-stdp") else None)
            ok, tail = done.returncode == 0, (done.stdout + done.stderr)[-1500:]
        except subprocess.TimeoutExpired as err:
            ok, tail = False, f"timed out after {err.timeout:.0f} s"
        rows = [json.loads(x) for x in (done.stdout.splitlines() if ok else []) if x.startswith("{")]
        emit({"step": name, "ok": ok, "seconds": round(time.perf_counter() - t0, 1),
              **({} if ok else {"tail": tail})})
        for row in rows:
            emit({"step": name, **row})
        failed += not ok
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "gpu_check.jsonl"), "w") as f:
            f.writelines(json.dumps(x) + "\n" for x in lines)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
