"""Brunel (2000) state C (asynchronous irregular) at full scale: neurosim against Brian2.

    .venv/bin/python benchmarks/brunel.py [--regime C] [--scale 1] [--duration 1.2] \
        [--tools neurosim,brian2-cython,brian2-cpp_standalone] [--connectivity probability] [--out DIR]

The workload (papers.md 3.1): 10 000 E + 2 500 I LIF neurons with voltage jumps (J = 0.1 mV,
g = 5, D = 1.5 ms, tau_rp = 2 ms), each pair connected with p = 0.1 (~15.6 M synapses; or
``--connectivity indegree``: exactly 1000 + 250 inputs per neuron), 1000 external Poisson trains
of 20 Hz per neuron, dt = 0.1 ms, 1.2 s simulated. neurosim builds it with
``neurosim.builders.brunel2000`` and counts spikes with a ``Rate`` monitor; Brian2 runs
``benchmarks/peers/brian2_brunel.py`` (its ``examples/frompapers/Brunel_2000.py`` model) with
the Brian2 venv's Python, in the Cython runtime and as C++ standalone, its ``SpikeMonitor``
counting spikes.

Each tool runs in its own process, one after the other, pinned to ``--threads`` cores (default
1; XLA's multi-threaded Eigen off for neurosim then). One JSON line per tool on stdout, as soon
as it ends: ``{"tool", "workload", "n", "duration_s", "build_s", "compile_s", "run_s", "rtf",
"rate_hz", "device", ...}`` with ``rtf = run_s / duration_s`` and ``rate_hz`` the mean rate of
all neurons over the whole run; ``load_1min`` is the machine's load when the tool started.
Then one line ``{"ratio": {"<peer> / neurosim": run_s ratio, ...}}`` (> 1: neurosim is
faster). A tool that is missing or fails gives a line with ``"error"``. neurosim's
``compile_s`` is XLA's compilation of the simulation loop; Brian2's is code generation plus
Cython or C++ compilation (cold cache).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from driver import run_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_DIR = os.environ.get("NEUROSIM_PEERS_DIR", os.path.join(ROOT, ".peers"))
TOOLS = ("neurosim", "brian2-cython", "brian2-cpp_standalone")


def _load():
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _pin(threads: int) -> int:
    if hasattr(os, "sched_setaffinity"):
        try:
            cores = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, set(cores[:max(1, threads)]))
            return len(os.sched_getaffinity(0))
        except OSError:
            pass
    return threads


def run_neurosim(args) -> dict:
    """The neurosim runner (this interpreter, in a child process): prints one JSON line."""
    load = _load()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    threads = _pin(args.threads)
    if args.threads <= 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import jax
    import numpy as np

    import neurosim as ns
    from neurosim.builders import brunel2000

    t0 = time.perf_counter()
    net = brunel2000(args.regime, scale=args.scale, connectivity=args.connectivity, seed=args.seed, dt=0.1)
    build_s = time.perf_counter() - t0
    res = ns.simulate(net, args.duration * 1e3, 0.1, key=args.seed, monitors=[ns.Rate("neurons")], progress=False)
    _, rate = res.rates["neurons"]
    n = net.population("neurons").n
    d = jax.devices()[0]
    return {
        "tool": "neurosim", "workload": f"brunel2000-{args.regime}", "n": n, "duration_s": args.duration,
        "build_s": round(build_s + res.timings["build_s"], 4), "compile_s": round(res.timings["compile_s"], 4),
        "run_s": round(res.timings["run_s"], 4), "rtf": round(res.timings["run_s"] / args.duration, 4),
        "engine": res.timings["engine"], "rate_hz": round(float(np.mean(rate)), 3),
        "device": f"{d.platform} ({os.cpu_count()} cores), {threads} thread(s)", "version": ns.__version__,
        "jax": jax.__version__, "seed": args.seed, "scale": args.scale, "connectivity": args.connectivity,
        "n_synapses": int(sum(p.conn.nnz for p in net.projections)), "load_1min": load,
    }


def run_tool(tool: str, args) -> dict:
    base = {"tool": tool, "workload": f"brunel2000-{args.regime}", "duration_s": args.duration}
    common = ["--regime", args.regime, "--scale", str(args.scale), "--duration", str(args.duration),
              "--seed", str(args.seed), "--connectivity", args.connectivity]
    if tool == "neurosim":
        cmd = [sys.executable, os.path.abspath(__file__), "--runner-neurosim", "--threads", str(args.threads), *common]
    else:
        python = os.path.join(PEERS_DIR, "brian2", "bin", "python")
        if not os.path.exists(python):
            return {**base, "error": f"not installed ({python} missing): run `make bench-peers`"}
        mode = tool.split("-", 1)[1]
        cmd = [python, os.path.join(HERE, "peers", "brian2_brunel.py"), "--mode", mode, *common]
    return run_json(cmd, base, timeout=args.timeout, verbose=args.verbose, peer=tool != "neurosim")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regime", default="C", choices=["A", "B", "C", "D"])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=1.2, help="simulated seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--connectivity", default="probability", choices=["probability", "indegree"])
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma list of {', '.join(TOOLS)} (or brian2 for both modes)")
    ap.add_argument("--threads", type=int, default=1, help="cores for neurosim (Brian2 runs single-threaded)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool")
    ap.add_argument("--out", default=None, help="also write DIR/brunel.json (all lines)")
    ap.add_argument("--verbose", "-v", action="store_true", help="pass the runners' stderr through")
    ap.add_argument("--runner-neurosim", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.duration <= 0 or args.scale <= 0:
        ap.error("--duration and --scale must be > 0")
    if args.runner_neurosim:
        print(json.dumps(run_neurosim(args)), flush=True)
        return 0

    tools = []
    for t in (s.strip() for s in args.tools.split(",") if s.strip()):
        for name in (["brian2-cython", "brian2-cpp_standalone"] if t == "brian2" else [t]):
            if name not in TOOLS:
                ap.error(f"unknown tool {t!r}; known: {', '.join(TOOLS)}, brian2")
            if name not in tools:
                tools.append(name)
    tools.sort(key=lambda t: t != "neurosim")
    lines = []
    for tool in tools:
        sys.stderr.write(f"brunel.py: {tool} (regime {args.regime}, scale {args.scale:g}, {args.duration:g} s) ...\n")
        d = run_tool(tool, args)
        print(json.dumps(d), flush=True)
        lines.append(d)
    ref = next((d for d in lines if d.get("tool") == "neurosim" and "error" not in d), None)
    if ref is not None:
        ratio = {f"{d['tool']} / neurosim": round(d["run_s"] / ref["run_s"], 3)
                 for d in lines if d is not ref and "error" not in d}
        ratio_line = {"ratio": ratio, "of": "run_s (> 1: neurosim faster)", "workload": ref["workload"]}
        print(json.dumps(ratio_line), flush=True)
        lines.append(ratio_line)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "brunel.json"), "w") as f:
            f.writelines(json.dumps(d) + "\n" for d in lines)
    return 1 if any("error" in d for d in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
