"""COBA benchmark: neurosim against its peers (Brian2, BrainPy, NEST).

    .venv/bin/python benchmarks/coba.py --n 4000 --duration 1 \
        --tools neurosim,brian2,brainpy,nest --out out/bench

Each tool runs in its own subprocess: neurosim with this interpreter
(``sys.executable``), every peer with the Python of its venv under
``.peers/<tool>/`` (``make bench-peers`` / ``bash benchmarks/peers/install.sh``
creates them).  The tools run one after another, never side by side, so
that they do not compete for the cores.  Every run prints one JSON line on
stdout as soon as it finishes; a tool that is not installed, fails or
times out prints a line with an ``"error"`` field and the script goes on.
neurosim runs first, so that every peer line can carry
``ratio_vs_neurosim`` = peer rtf / neurosim rtf (median over repeats).
With ``--out DIR`` all lines go to ``DIR/coba.json`` and a bar chart of
the RTFs to ``DIR/coba.png``.  See benchmarks/README.md for the fields.

neurosim's engine: ``--engine auto`` (default; ``neurosim.demo.run_coba``),
or a comma list of ``scan`` / ``fused`` (one run, one line each, with an
``"engine"`` field); ``--record counts`` counts spikes on the device instead
of bringing every spike to the host (see peers/neurosim_coba.py); ``--noise-std S`` adds a
Gaussian current (std S pA, drawn every step) onto every neuron (neurosim only).
``--sweep 4000,40000,400000,4000000`` runs every tool and engine at each
size (p = min(0.02, 80 / N): 80 synapses per neuron past 4000, as BrainPy's
scaled COBA) and plots the RTF against N (``DIR/coba_sweep.png``):

    .venv/bin/python benchmarks/coba.py --tools neurosim --device gpu \
        --engine fused,scan --record counts --sweep 4000,40000,400000 --out out/bench
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

from driver import run_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_DIR = os.environ.get("NEUROSIM_PEERS_DIR", os.path.join(ROOT, ".peers"))
RUNNERS = os.path.join(HERE, "peers")

# tool name -> (venv name or None for this interpreter, runner script, extra args, cpu only)
TOOLS = {
    "neurosim": (None, "neurosim_coba.py", [], False),
    "brian2-cpp_standalone": ("brian2", "brian2_coba.py", ["--mode", "cpp_standalone"], True),
    "brian2-cython": ("brian2", "brian2_coba.py", ["--mode", "cython"], True),
    "brainpy": ("brainpy", "brainpy_coba.py", [], False),
    "nest": ("nest", "nest_coba.py", [], True),
}
ALIASES = {
    "brian2": ["brian2-cpp_standalone", "brian2-cython"],
    "brian": ["brian2-cpp_standalone", "brian2-cython"],
    "brian2-standalone": ["brian2-cpp_standalone"],
    "brian2-cpp": ["brian2-cpp_standalone"],
    "all": list(TOOLS),
}


def expand_tools(spec: str) -> list[str]:
    out: list[str] = []
    for name in (s.strip() for s in spec.split(",")):
        if not name:
            continue
        names = ALIASES.get(name, [name])
        for t in names:
            if t not in TOOLS:
                raise SystemExit(f"coba.py: unknown tool {name!r} (known: {', '.join(list(TOOLS) + list(ALIASES))})")
            if t not in out:
                out.append(t)
    # neurosim first, so the peers' lines can carry ratio_vs_neurosim
    out.sort(key=lambda t: t != "neurosim")
    return out


def run_tool(tool: str, args, engine: str | None = None) -> dict:
    venv, script, extra, cpu_only = TOOLS[tool]
    base = {"tool": tool, "n": args.n, "duration_s": args.duration, "seed": args.seed}
    if tool == "neurosim" and (engine not in (None, "auto") or args.record != "spikes" or args.procedural
                               or args.noise_std):
        extra = [*extra, "--engine", engine or "auto", "--record", args.record]
        base["engine"] = engine or "auto"
        if args.procedural:
            extra.append("--procedural")
            base["procedural"] = True
        if args.noise_std:
            extra += ["--noise-std", str(args.noise_std)]
            base["noise_std"] = args.noise_std
    if venv is None:
        python = sys.executable
    else:
        python = os.path.join(PEERS_DIR, venv, "bin", "python")
        if not os.path.exists(python):
            return {**base, "error": f"not installed ({python} missing): run `make bench-peers`"}
    device = "cpu" if cpu_only else args.device
    cmd = [python, os.path.join(RUNNERS, script), "--n", str(args.n), "--duration", str(args.duration),
           "--seed", str(args.seed), "--threads", str(args.threads), "--device", device, *extra]
    if args.p is not None:
        cmd += ["--p", str(args.p)]
    return run_json(cmd, base, timeout=args.timeout, verbose=args.verbose, peer=venv is not None)


def label(d: dict) -> str:
    """A line's tool, with neurosim's engine when one was named."""
    return d["tool"] + (f" [{d['engine']}]" if d.get("engine") not in (None, "auto") else "")


def plot(lines: list[dict], path: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tools: list[str] = []
    for d in lines:
        if "error" not in d and label(d) not in tools:
            tools.append(label(d))
    if not tools:
        return
    rtfs = {t: [d["rtf"] for d in lines if label(d) == t and "error" not in d] for t in tools}
    med = [statistics.median(rtfs[t]) for t in tools]
    lo = [m - min(rtfs[t]) for t, m in zip(tools, med)]
    hi = [max(rtfs[t]) - m for t, m in zip(tools, med)]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * len(tools) + 2.5), 4.8))
    colors = ["tab:red" if t.startswith("neurosim") else "tab:blue" for t in tools]
    ax.bar(range(len(tools)), med, color=colors, yerr=[lo, hi] if len(lines) > len(tools) else None,
           capsize=4)
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.text(-0.45, 1.0, "real time", va="bottom", ha="left", fontsize=8)
    ax.set_xticks(range(len(tools)))
    ax.set_xticklabels(tools, rotation=20, ha="right")
    ax.set_ylabel("RTF = run time / simulated time (log)")
    ax.set_title(title, fontsize=10)
    for i, t in enumerate(tools):
        ds = [d for d in lines if label(d) == t and "error" not in d]
        re_ = statistics.mean(d["rate_e_hz"] for d in ds)
        ri_ = statistics.mean(d["rate_i_hz"] for d in ds)
        ax.annotate(f"RTF {med[i]:.3g}\nE {re_:.1f} Hz\nI {ri_:.1f} Hz", (i, max(rtfs[t])),
                    textcoords="offset points", xytext=(0, 6), ha="center", va="bottom", fontsize=8)
    lo_y = min(min(v) for v in rtfs.values())
    hi_y = max(max(v) for v in rtfs.values())
    ax.set_ylim(min(lo_y, 1.0) / 3, max(hi_y, 1.0) * 6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sweep(lines: list[dict], path: str, title: str) -> None:
    """RTF against N, one line per tool (and neurosim engine), log-log."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [d for d in lines if "error" not in d]
    if not ok:
        return
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    for name in dict.fromkeys(label(d) for d in ok):
        pts = {}
        for d in ok:
            if label(d) == name:
                pts.setdefault(d["n"], []).append(d["rtf"])
        ns_ = sorted(pts)
        med = [statistics.median(pts[n]) for n in ns_]
        ax.plot(ns_, med, "o-", label=name, color=None if not name.startswith("neurosim") else None)
        for n, m in zip(ns_, med):
            ax.annotate(f"{m:.3g}", (n, m), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("neurons N (80 synapses per neuron past N = 4000)")
    ax.set_ylabel("RTF = run time / simulated time (log)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--tools", default="neurosim,brian2,brainpy,nest",
                    help="comma list of: " + ", ".join(list(TOOLS) + list(ALIASES)))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--p", type=float, default=None, help="connection probability (default min(0.02, 80/N))")
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                    help="for neurosim and brainpy; Brian2 and NEST always run on the CPU")
    ap.add_argument("--threads", type=int, default=1, help="cores per tool (each run is pinned to them)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool (each in a fresh process)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    ap.add_argument("--out", default=None, help="write DIR/coba.json and DIR/coba.png")
    ap.add_argument("--verbose", "-v", action="store_true", help="pass the runners' stderr through")
    ap.add_argument("--engine", default="auto",
                    help="neurosim's engine: auto, or a comma list of scan and fused (one run each)")
    ap.add_argument("--procedural", action="store_true",
                    help="neurosim: procedural (JitConn) connectivity instead of a stored CSR (runs on the scan engine)")
    ap.add_argument("--noise-std", type=float, default=0.0,
                    help="neurosim only: a Gaussian current of this std (pA, drawn every step) onto every neuron")
    ap.add_argument("--record", default="spikes", choices=["spikes", "counts"],
                    help="neurosim: every spike to the host (spikes) or E/I counts summed on the device (counts)")
    ap.add_argument("--sweep", default=None,
                    help="comma list of sizes N, e.g. 4000,40000,400000,4000000 (overrides --n; p = min(0.02, 80/N))")
    args = ap.parse_args(argv)
    engines = [e.strip() for e in args.engine.split(",") if e.strip()]
    if not engines or any(e not in ("auto", "scan", "fused", "native") for e in engines):
        ap.error(f"--engine must be auto or a comma list of scan, fused and native, got {args.engine!r}")
    sizes = [args.n]
    if args.sweep:
        try:
            sizes = [int(float(x)) for x in args.sweep.split(",") if x.strip()]
        except ValueError:
            ap.error(f"--sweep must be a comma list of sizes, got {args.sweep!r}")
        if not sizes or min(sizes) < 2:
            ap.error("--sweep sizes must be >= 2")

    if args.p is not None and not 0.0 < args.p <= 1.0:
        ap.error("--p must be in (0, 1]")
    if args.n < 2 or args.duration <= 0 or args.repeat < 1:
        ap.error("need --n >= 2, --duration > 0, --repeat >= 1")
    tools = expand_tools(args.tools)
    if args.noise_std < 0 or (args.noise_std and tools != ["neurosim"]):
        ap.error(f"--noise-std must be >= 0 and runs neurosim alone (the peers' runners have no noise), "
                 f"got {args.noise_std!r} with --tools {args.tools!r}")
    lines: list[dict] = []
    for n in sizes:
        args.n = n
        ref_rtf = None
        for tool in tools:
            for engine in (engines if tool == "neurosim" else [None]):
                results = []
                for r in range(args.repeat):
                    what = tool if engine in (None, "auto") else f"{tool} [{engine}]"
                    sys.stderr.write(f"coba.py: {what} (n={n}, {args.duration} s, run {r + 1}/{args.repeat}) ...\n")
                    d = run_tool(tool, args, engine)
                    if args.repeat > 1:
                        d["repeat"] = r
                    if tool != "neurosim" and ref_rtf and "error" not in d:
                        d["ratio_vs_neurosim"] = round(d["rtf"] / ref_rtf, 3)
                    print(json.dumps(d), flush=True)
                    lines.append(d)
                    results.append(d)
                if tool == "neurosim":  # peers are compared with neurosim's fastest engine
                    ok = [d["rtf"] for d in results if "error" not in d and d.get("rtf")]
                    if ok and (ref_rtf is None or statistics.median(ok) < ref_rtf):
                        ref_rtf = statistics.median(ok)

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "coba.json"), "w") as f:
            for d in lines:
                f.write(json.dumps(d) + "\n")
        dev = next((d.get("device") for d in lines if d.get("tool") == "neurosim" and "device" in d), args.device)
        if len(sizes) > 1:
            name = "coba_sweep.png"
            title = (f"COBA scaling, {args.duration:g} s simulated, neurosim on {dev}, record {args.record}\n"
                     f"median of {args.repeat} run(s) per point")
        else:
            name = "coba.png"
            title = (f"COBA, N = {args.n}, {args.duration:g} s simulated, {args.threads} thread(s) per tool\n"
                     f"neurosim on {dev}; bars: median of {args.repeat} run(s)")
        try:
            (plot_sweep if len(sizes) > 1 else plot)(lines, os.path.join(args.out, name), title)
        except Exception as err:  # noqa: BLE001 - the JSON is the result; the plot is a bonus
            sys.stderr.write(f"coba.py: no plot ({type(err).__name__}: {err})\n")
        sys.stderr.write(f"coba.py: wrote {args.out}/coba.json and {name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
