"""Astrocyte benchmark: neurosim against Brian2 (C++ standalone and Cython) on neuron-glia networks.

    .venv/bin/python benchmarks/astro.py --workload tripartite|nalsm --tools neurosim,brian2 \
        [--duration S] [--seed N] [--out DIR]

Workloads (benchmarks/peers/astro_common.py): ``tripartite`` the closed-loop gliotransmission
example of Stimberg et al. (2019) (500 Poisson sources x three Tsodyks-Markram synapses, 1000
ChI astrocytes, rk4, dt = 1 ms, 20 s); ``nalsm`` the astrocyte-modulated liquid of Ivanov &
Michmizos (2021) (1000 LIF neurons, astrocyte-modulated STDP on all ~26k synapses, 2 s; the
connections are drawn by neurosim's builder and handed to the peers in a file; lines carry the
liquid's rate and mean weights). ``brian2`` means both
Brian2 modes; ``neurosim`` runs the engine ``simulate`` picks (the fused one on a CPU),
``neurosim-scan`` forces the scan engine. Each tool runs in its own process, one after another, pinned to one core; every
line is printed as soon as it is measured, with ``ratio_vs_neurosim`` = the tool's run time /
neurosim's. The tripartite lines carry the mean Y_S (uM) of each loop per rate epoch
(``ys_closed``, ``ys_open``, ``ys_none``); a last line per peer gives the largest relative
difference from neurosim's over the epochs at 1.1 and 11 Hz (``max_rel_diff``; the seed-to-seed
spread of either tool is 0.2-2 % there, docs/papers.md section 11.3), for nalsm over the rate
and the mean weights. With ``--out DIR``: the lines
are appended to ``DIR/astro.json`` and ``DIR/astro.png`` plots them.
"""
from __future__ import annotations

import json
import os
import sys

from driver import expand_tools, peer_python, run_json, save_lines, workload_parser

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNERS = os.path.join(HERE, "peers")
sys.path.insert(0, RUNNERS)
import astro_common as A  # noqa: E402

TOOLS = {
    "neurosim": (None, "neurosim_astro.py", []),
    "neurosim-scan": (None, "neurosim_astro.py", ["--mode", "scan"]),
    "brian2-cpp_standalone": ("brian2", "brian2_astro.py", ["--mode", "cpp_standalone"]),
    "brian2-cython": ("brian2", "brian2_astro.py", ["--mode", "cython"]),
}


def write_nalsm_network(path, seed):
    """The NALSM liquid's connections and initial weights as neurosim builds them, for the
    peers (which must not import neurosim)."""
    import numpy as np

    sys.path.insert(0, os.path.dirname(HERE))
    import neurosim as ns

    m = ns.builders.nalsm(A.NALSM_GRID, A.NALSM_INPUTS, w_a=A.NALSM_W_A, seed=seed)
    arrays = {"n": m.n_liquid, "n_e": m.n_exc, "n_in": m.n_inputs}
    for pr in m.net.projections:
        arrays[f"{pr.name}_pre"] = np.asarray(pr.conn.rows)
        arrays[f"{pr.name}_post"] = np.asarray(pr.conn.indices)
        arrays[f"{pr.name}_w"] = np.broadcast_to(np.asarray(pr.weights, float), (pr.conn.nnz,))
    np.savez(path, **arrays)


def run_tool(tool, workload, duration, seed, timeout, network=None):
    venv, runner, extra = TOOLS[tool]
    base = {"tool": tool, "workload": workload, "duration_s": duration}
    python = sys.executable if venv is None else peer_python(venv)
    if python is None:
        return {**base, "error": f"{venv} is not installed (bash benchmarks/peers/install.sh {venv})"}
    cmd = [python, os.path.join(RUNNERS, runner), "--workload", workload, "--duration", str(duration),
           "--seed", str(seed)] + extra + (["--network", network] if network else [])
    line = run_json(cmd, base, timeout=timeout, peer=venv is not None)
    line["tool"] = tool      # neurosim-scan prints itself as neurosim
    return line


def agreement(line, ref) -> float | None:
    """The largest |peer - neurosim| / neurosim of the mean Y_S over the loops at the two
    highest rates (where 500 synapses fire enough for a mean to be meaningful); for nalsm, of
    the liquid's rate and the mean weight of each projection."""
    if ref.get("workload") == "nalsm":
        keys = ("rate_hz", "w_exc", "w_inh", "w_in")
        if not all(k in line and k in ref for k in keys):
            return None
        return round(max(abs(line[k] - ref[k]) / abs(ref[k]) for k in keys), 4)
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

    timed = [ln for ln in lines if "rtf" in ln]
    ok = [ln for ln in lines if "ys_none" in ln]
    if not timed:
        return
    fig = Figure(figsize=(11, 1.6 + 0.35 * len(timed)), layout="constrained")
    FigureCanvasAgg(fig)
    ax_t, ax_y = fig.subplots(1, 2, width_ratios=[1, 2])
    ax_t.barh(range(len(timed)), [ln["rtf"] for ln in timed],
              color=["C0" if ln["tool"] == "neurosim" else "C1" for ln in timed])
    ax_t.set_yticks(range(len(timed)), [f"{ln['tool']} / {ln['workload']}" for ln in timed], fontsize=8)
    ax_t.invert_yaxis()
    for i, ln in enumerate(timed):
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
    if ok:      # tripartite lines (a nalsm-only run has none to plot here)
        ax_y.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = workload_parser(__doc__.splitlines()[0], A.WORKLOADS)
    args = ap.parse_args(argv)
    duration = A.WORKLOADS[args.workload] if args.duration is None else args.duration
    if duration <= 0:
        ap.error(f"--duration must be > 0 s, got {duration}")
    tools = expand_tools(args.tools, TOOLS)
    lines, ref, network = [], None, None
    if args.workload == "nalsm":
        import tempfile

        network = os.path.join(tempfile.mkdtemp(prefix="astro-nalsm-"), "nalsm.npz")
        write_nalsm_network(network, args.seed)
    for tool in tools:
        line = run_tool(tool, args.workload, duration, args.seed, args.timeout, network)
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
        save_lines(args.out, "astro", lines, plot)


if __name__ == "__main__":
    main()
