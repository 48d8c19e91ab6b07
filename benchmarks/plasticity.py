"""Plasticity benchmark: neurosim against Brian2 (C++ standalone and Cython) on learning networks.

    .venv/bin/python benchmarks/plasticity.py --workload song|coba-stdp|izhikevich2007 \
        --tools neurosim,brian2[,nest,brainpy] [--duration S] [--out DIR]

Workloads (benchmarks/peers/plasticity_common.py): ``song`` Brian2's STDP example (1000 Poisson
inputs -> 1 neuron, 100 s); ``coba-stdp`` COBA-4000 with pair STDP on E -> E (2 s), run also
without plasticity (``-static`` lines) for the plastic/static ratio; ``izhikevich2007`` the distal-reward
network of Izhikevich (2007), 3600 s (the Brian2 runner follows the author's daspnet.m).
``brian2`` means both Brian2 modes; ``neurosim`` runs the engine ``simulate`` picks,
``neurosim-native`` and ``neurosim-scan`` force one. Each tool runs
in its own process, one after another (never side by side, so they do not share the cores),
pinned to one core; every line is printed as soon as it is measured, with ``ratio_vs_neurosim``
= the tool's run time / neurosim's on the same workload. NEST runs song and coba-stdp
(``stdp_synapse``); BrainPy runs song and coba-stdp (``brainpy.dyn.STDP_Song2000``); a workload a tool has no
runner for gives a line with the error. With ``--out DIR``: the
lines are appended to ``DIR/plasticity.json`` and ``DIR/plasticity.png`` shows the real-time
factors of every (tool, workload) measured into DIR (the latest of each).
"""
from __future__ import annotations

import json
import os
import sys

from driver import expand_tools, peer_python, run_json, save_lines, workload_parser

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNERS = os.path.join(HERE, "peers")
sys.path.insert(0, RUNNERS)
import plasticity_common as P  # noqa: E402

# tool -> (venv or None for this interpreter, runner, extra args)
TOOLS = {
    "neurosim": (None, "neurosim_plasticity.py", []),
    "neurosim-native": (None, "neurosim_plasticity.py", ["--mode", "native"]),
    "neurosim-scan": (None, "neurosim_plasticity.py", ["--mode", "scan"]),
    "brian2-cpp_standalone": ("brian2", "brian2_plasticity.py", ["--mode", "cpp_standalone"]),
    "brian2-cython": ("brian2", "brian2_plasticity.py", ["--mode", "cython"]),
    "nest": ("nest", "nest_plasticity.py", []),
    "brainpy": ("brainpy", "brainpy_plasticity.py", []),
}


def run_tool(tool, workload, duration, seed, static, timeout):
    venv, runner, extra = TOOLS[tool]
    base = {"tool": tool, "workload": workload + ("-static" if static else ""), "duration_s": duration}
    if runner is None:
        return {**base, "error": f"no {tool} runner for the plasticity workloads yet"}
    python = sys.executable if venv is None else peer_python(venv)
    if python is None:
        return {**base, "error": f"{venv} is not installed (bash benchmarks/peers/install.sh {venv})"}
    cmd = [python, os.path.join(RUNNERS, runner), "--workload", workload, "--duration", str(duration),
           "--seed", str(seed)] + extra + (["--static"] if static else [])
    return run_json(cmd, base, timeout=timeout, peer=venv is not None)


def plot(lines, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ok = [ln for ln in lines if "rtf" in ln]
    if not ok:
        return
    fig = Figure(figsize=(7.5, 0.5 + 0.45 * len(ok)), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    labels = [f"{ln['tool']} / {ln['workload']}" for ln in ok]
    ax.barh(range(len(ok)), [ln["rtf"] for ln in ok], color=["C0" if ln["tool"] == "neurosim" else "C1" for ln in ok])
    ax.set_yticks(range(len(ok)), labels)
    ax.invert_yaxis()
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())   # the decades only: minor labels overlap
    for i, ln in enumerate(ok):
        ax.annotate(f"{ln['rtf']:.3g}", (ln["rtf"], i), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.set_xlabel("real-time factor (run s / simulated s, one core; lower is faster)")
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = workload_parser(__doc__.splitlines()[0], P.WORKLOADS)
    args = ap.parse_args(argv)
    duration = P.WORKLOADS[args.workload] if args.duration is None else args.duration
    tools = expand_tools(args.tools, TOOLS)
    lines, ref = [], {}
    variants = [False, True] if args.workload == "coba-stdp" else [False]
    for tool in tools:
        for static in variants:
            line = run_tool(tool, args.workload, duration, args.seed, static, args.timeout)
            key = line["workload"]
            if tool == "neurosim" and "run_s" in line:
                ref[key] = line["run_s"]
            if "run_s" in line and key in ref and tool != "neurosim":
                line["ratio_vs_neurosim"] = round(line["run_s"] / ref[key], 3)
            lines.append(line)
            print(json.dumps(line), flush=True)
    for tool in tools:   # plastic / static within each tool
        by = {ln["workload"]: ln for ln in lines if ln["tool"] == tool and "run_s" in ln}
        if f"{args.workload}-static" in by and args.workload in by:
            ratio = by[args.workload]["run_s"] / by[f"{args.workload}-static"]["run_s"]
            print(json.dumps({"tool": tool, "workload": args.workload, "plastic_over_static": round(ratio, 3)}),
                  flush=True)
    if args.out:
        save_lines(args.out, "plasticity", lines, plot)


if __name__ == "__main__":
    main()
