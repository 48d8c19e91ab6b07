"""Network benchmark: neurosim against Brian2 on two classic networks beside COBA.

    .venv/bin/python benchmarks/networks.py --workload izhikevich2003|adex \
        --tools neurosim,brian2 [--duration S] [--repeat K] [--engine auto] [--out DIR]

Workloads (benchmarks/peers/networks_common.py): ``izhikevich2003`` the 1000-neuron network of
Izhikevich (2003) (net.m: all-to-all, Gaussian thalamic current redrawn every step, dt = 1 ms,
v in two half steps); ``adex`` the COBA-4000 network of Brette et al. (2007) benchmark 1 with
AdEx cells (Brette & Gerstner 2005), dt = 0.1 ms. Default 1 s each.

Tools: ``neurosim`` (this interpreter, ``simulate(engine=--engine)``; the engine string is passed
through as given), ``brian2`` = Brian2 C++ standalone (also ``brian2-cpp_standalone``), and
``brian2-cython`` (the Cython runtime; on request only). Each run is a fresh subprocess, one after
another, pinned to ``--threads`` cores (1: one core, one thread) exactly as benchmarks/coba.py
does; every line is printed as soon as it is measured, one per tool and repeat (``repeat`` field
when ``--repeat`` > 1). neurosim runs first, so that every peer line carries
``ratio_vs_neurosim`` = its rtf / neurosim's median rtf. A tool that is missing, fails or times
out prints a line with an ``"error"`` field. With ``--out DIR`` all lines go to
``DIR/networks_<workload>.json`` (overwritten) and a bar chart to ``DIR/networks_<workload>.png``.
Fields: those of the COBA lines (benchmarks/README.md) plus ``workload``, ``engine``, ``dt_ms``.
"""
from __future__ import annotations

import json
import os
import statistics
import sys

from coba import plot
from driver import peer_python, run_json, workload_parser

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNERS = os.path.join(HERE, "peers")
sys.path.insert(0, RUNNERS)
import networks_common as W  # noqa: E402

# tool -> (venv or None for this interpreter, runner, extra args, cpu only)
TOOLS = {
    "neurosim": (None, "neurosim_networks.py", [], False),
    "brian2": ("brian2", "brian2_networks.py", ["--mode", "cpp_standalone"], True),
    "brian2-cython": ("brian2", "brian2_networks.py", ["--mode", "cython"], True),
}
ALIASES = {"brian2-cpp_standalone": "brian2", "brian2-standalone": "brian2", "brian": "brian2"}


def expand_tools(spec: str) -> list[str]:
    """``--tools`` as runner names, neurosim first (``brian2`` is the C++ standalone alone)."""
    out: list[str] = []
    for name in (s.strip() for s in spec.split(",")):
        if not name:
            continue
        tool = ALIASES.get(name, name)
        if tool not in TOOLS:
            raise SystemExit(f"networks.py: unknown tool {name!r} (known: {', '.join(list(TOOLS) + list(ALIASES))})")
        if tool not in out:
            out.append(tool)
    out.sort(key=lambda t: t != "neurosim")
    return out


def run_tool(tool: str, args, duration: float) -> dict:
    venv, runner, extra, cpu_only = TOOLS[tool]
    base = {"tool": tool, "workload": args.workload, "duration_s": duration, "seed": args.seed}
    if tool == "neurosim":
        base["engine"] = args.engine
        extra = [*extra, "--engine", args.engine]
    python = sys.executable if venv is None else peer_python(venv)
    if python is None:
        return {**base, "error": f"{venv} is not installed (bash benchmarks/peers/install.sh {venv})"}
    cmd = [python, os.path.join(RUNNERS, runner), "--workload", args.workload, "--duration", str(duration),
           "--seed", str(args.seed), "--threads", str(args.threads),
           "--device", "cpu" if cpu_only else args.device, *extra]
    return run_json(cmd, base, timeout=args.timeout, verbose=args.verbose, peer=venv is not None)


def main(argv=None):
    ap = workload_parser(__doc__.splitlines()[0], W.WORKLOADS)
    ap.set_defaults(seed=0)
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool (each in a fresh process)")
    ap.add_argument("--engine", default="auto", help="neurosim's simulate(engine=...), passed through as given")
    ap.add_argument("--threads", type=int, default=1, help="cores per tool (each run is pinned to them)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"], help="for neurosim; Brian2 runs on the CPU")
    ap.add_argument("--verbose", "-v", action="store_true", help="pass the runners' stderr through")
    args = ap.parse_args(argv)
    duration = W.WORKLOADS[args.workload] if args.duration is None else args.duration
    if duration <= 0 or args.repeat < 1 or args.threads < 1:
        ap.error("need --duration > 0, --repeat >= 1, --threads >= 1")
    tools = expand_tools(args.tools)
    lines: list[dict] = []
    ref_rtf = None
    for tool in tools:
        ok = []
        for r in range(args.repeat):
            sys.stderr.write(f"networks.py: {tool} ({args.workload}, {duration:g} s, run {r + 1}/{args.repeat}) ...\n")
            d = run_tool(tool, args, duration)
            if args.repeat > 1:
                d["repeat"] = r
            if tool != "neurosim" and ref_rtf and "error" not in d:
                d["ratio_vs_neurosim"] = round(d["rtf"] / ref_rtf, 3)
            if "error" not in d:
                ok.append(d["rtf"])
            print(json.dumps(d), flush=True)
            lines.append(d)
        if tool == "neurosim" and ok:
            ref_rtf = statistics.median(ok)

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, f"networks_{args.workload}.json")
        with open(path, "w") as f:
            for d in lines:
                f.write(json.dumps(d) + "\n")
        png = os.path.join(args.out, f"networks_{args.workload}.png")
        title = (f"{args.workload}, {duration:g} s simulated, {args.threads} thread(s) per tool\n"
                 f"bars: median of {args.repeat} run(s)")
        try:
            plot(lines, png, title)
        except Exception as err:  # noqa: BLE001 - the JSON is the result; the plot is a bonus
            sys.stderr.write(f"networks.py: no plot ({type(err).__name__}: {err})\n")
        sys.stderr.write(f"networks.py: wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
