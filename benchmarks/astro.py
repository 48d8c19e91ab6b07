"""Astrocyte benchmark: neurosim against Brian2 (C++ standalone and Cython) on neuron-glia networks.

    .venv/bin/python benchmarks/astro.py --workload tripartite|nalsm --tools neurosim,brian2 \
        [--duration S] [--seed N] [--out DIR]

Workloads (benchmarks/peers/astro_common.py): ``tripartite`` the closed-loop gliotransmission
example of Stimberg et al. (2019) (500 Poisson sources x three Tsodyks-Markram synapses, 1000
ChI astrocytes, rk4, dt = 1 ms, 20 s); ``nalsm`` the astrocyte-modulated liquid of Ivanov &
Michmizos (2021), which has no runner yet (its lines carry an error). ``brian2`` means both
Brian2 modes. Each tool runs in its own process, one after another, pinned to one core; every
line is printed as soon as it is measured, with ``ratio_vs_neurosim`` = the tool's run time /
neurosim's. The tripartite lines carry the mean Y_S (uM) of each loop per rate epoch
(``ys_closed``, ``ys_open``, ``ys_none``); a last line per peer gives the largest relative
difference from neurosim's over the epochs at 1.1 and 11 Hz (``max_rel_diff``; the seed-to-seed
spread of either tool is ~3 % there, docs/papers.md section 11.2). With ``--out DIR``: the lines
are appended to ``DIR/astro.json`` and ``DIR/astro.png`` plots them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from driver import peer_python, run_json

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNERS = os.path.join(HERE, "peers")
sys.path.insert(0, RUNNERS)
import astro_common as A  # noqa: E402

TOOLS = {
    "neurosim": (None, "neurosim_astro.py", []),
    "brian2-cpp_standalone": ("brian2", "brian2_astro.py", ["--mode", "cpp_standalone"]),
    "brian2-cython": ("brian2", "brian2_astro.py", ["--mode", "cython"]),
}


def expand(tools: str) -> list:
    out = []
    for t in tools.split(","):
        t = t.strip()
        if t == "brian2":
            out += ["brian2-cpp_standalone", "brian2-cython"]
        elif t in TOOLS:
            out.append(t)
        else:
            raise SystemExit(f"unknown tool {t!r}; choose from neurosim, brian2, {', '.join(TOOLS)}")
    return out


def run_tool(tool, workload, duration, seed, timeout):
    venv, runner, extra = TOOLS[tool]
    base = {"tool": tool, "workload": workload, "duration_s": duration}
    if workload != "tripartite":
        return {**base, "error": f"no {tool} runner for the {workload!r} workload yet"}
    python = sys.executable if venv is None else peer_python(venv)
    if python is None:
        return {**base, "error": f"{venv} is not installed (bash benchmarks/peers/install.sh {venv})"}
    cmd = [python, os.path.join(RUNNERS, runner), "--workload", workload, "--duration", str(duration),
           "--seed", str(seed)] + extra
    return run_json(cmd, base, timeout=timeout, peer=venv is not None)


def agreement(line, ref) -> float | None:
    """The largest |peer - neurosim| / neurosim of the mean Y_S over the loops at the two
    highest rates (where 500 synapses fire enough for a mean to be meaningful)."""
    diffs = []
    for loop in A.LOOPS:
        a, b = line.get(f"ys_{loop}"), ref.get(f"ys_{loop}")
        if not a or not b:
            return None
        diffs += [abs(x - y) / abs(y) for x, y in zip(a[-2:], b[-2:])]
    return round(max(diffs), 4)


def plot(lines, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ok = [ln for ln in lines if "ys_none" in ln]
    if not ok:
        return
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_t, ax_y = fig.subplots(1, 2, width_ratios=[1, 2])
    ax_t.barh(range(len(ok)), [ln["rtf"] for ln in ok], color=["C0" if ln["tool"] == "neurosim" else "C1" for ln in ok])
    ax_t.set_yticks(range(len(ok)), [ln["tool"] for ln in ok])
    ax_t.invert_yaxis()
    for i, ln in enumerate(ok):
        ax_t.annotate(f"{ln['rtf']:.3g}", (ln["rtf"], i), xytext=(3, 0), textcoords="offset points", va="center",
                      fontsize=8)
    ax_t.set_xlabel("real-time factor (one core; lower is faster)")
    x = range(len(A.TRIPARTITE_RATES_HZ))
    for ln, marker in zip(ok, "osd^v"):
        for loop, color in zip(A.LOOPS, ("C3", "C2", "k")):
            ax_y.plot(x, ln[f"ys_{loop}"], marker=marker, color=color, ls="-" if ln["tool"] == "neurosim" else ":",
                      label=f"{loop} ({ln['tool']})")
    ax_y.set_xticks(list(x), [f"{r:g} Hz" for r in A.TRIPARTITE_RATES_HZ])
    ax_y.set_yscale("log")
    ax_y.set_ylabel("mean Y_S over the epoch (uM)")
    ax_y.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", required=True, choices=sorted(A.WORKLOADS))
    ap.add_argument("--tools", default="neurosim,brian2")
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds (default per workload)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    duration = A.WORKLOADS[args.workload] if args.duration is None else args.duration
    if duration <= 0:
        ap.error(f"--duration must be > 0 s, got {duration}")
    tools = expand(args.tools)
    if "neurosim" in tools:
        tools.remove("neurosim")
        tools.insert(0, "neurosim")
    lines, ref = [], None
    for tool in tools:
        line = run_tool(tool, args.workload, duration, args.seed, args.timeout)
        if tool == "neurosim" and "run_s" in line:
            ref = line
        elif ref is not None and "run_s" in line:
            line["ratio_vs_neurosim"] = round(line["run_s"] / ref["run_s"], 3)
        lines.append(line)
        print(json.dumps(line), flush=True)
    if ref is not None:
        for line in lines:
            if line is not ref and "run_s" in line:
                diff = agreement(line, ref)
                print(json.dumps({"tool": line["tool"], "workload": args.workload, "max_rel_diff": diff}), flush=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "astro.json")
        with open(path, "a") as f:
            for ln in lines:
                f.write(json.dumps(ln) + "\n")
        with open(path) as f:
            latest = {(d["tool"], d["workload"]): d for d in map(json.loads, f) if "workload" in d}
        plot(list(latest.values()), os.path.join(args.out, "astro.png"))


if __name__ == "__main__":
    main()
