"""COBAHH benchmark (Brette et al. 2007 benchmark 3: Brian2's examples/COBAHH.py): neurosim
against Brian2 (C++ standalone, Cython) and BrainPy.

    .venv/bin/python benchmarks/cobahh.py --n 4000 --duration 1 --seeds 0,1,2 --repeats 1 \
        --tools neurosim,brian2,brainpy --out out/bench

The network (4000 Traub-Miles HH cells, 80 % E, p = 0.02, exponential conductances, exponential
Euler at dt = 0.1 ms) is described in peers/cobahh_common.py. Each run is its own subprocess:
neurosim with this interpreter (peers/neurosim_cobahh.py), every peer with the Python of its venv
under .peers/<tool>/ (``bash benchmarks/peers/install.sh brian2 brainpy``). Tools run one after
another, neurosim first; one JSON line per (tool, seed, repeat) is printed as soon as it ends. A
tool that is not installed, whose runner is missing, that fails or times out gives a line with
an ``"error"`` field and the script goes on. Peer lines carry ``ratio_vs_neurosim`` = their rtf /
neurosim's median rtf over the same seed's repeats. With ``--out DIR``: every line in
``DIR/cobahh.json`` and a bar chart of the real-time factors in ``DIR/cobahh.png``. Fields:
benchmarks/README.md ("COBAHH").
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

# tool -> (venv name or None for this interpreter, runner script, extra args, cpu only)
TOOLS = {
    "neurosim": (None, "neurosim_cobahh.py", [], False),
    "neurosim-builtin": (None, "neurosim_cobahh.py", ["--model", "builtin"], False),
    "brian2-cpp_standalone": ("brian2", "brian2_cobahh.py", ["--mode", "cpp_standalone"], True),
    "brian2-cython": ("brian2", "brian2_cobahh.py", ["--mode", "cython"], True),
    "brainpy": ("brainpy", "brainpy_cobahh.py", [], False),
}
ALIASES = {
    "brian2": ["brian2-cpp_standalone", "brian2-cython"],
    "brian2-standalone": ["brian2-cpp_standalone"],
    "brian2-cpp": ["brian2-cpp_standalone"],
    "all": list(TOOLS),
}


def expand_tools(spec: str) -> list[str]:
    out: list[str] = []
    for name in (s.strip() for s in spec.split(",")):
        if not name:
            continue
        for t in ALIASES.get(name, [name]):
            if t not in TOOLS:
                known = ", ".join(list(TOOLS) + list(ALIASES))
                raise SystemExit(f"cobahh.py: unknown tool {name!r} (known: {known})")
            if t not in out:
                out.append(t)
    out.sort(key=lambda t: (t != "neurosim", not t.startswith("neurosim")))   # neurosim first: the peers' lines carry the ratio
    return out


def run_tool(tool: str, args, seed: int) -> dict:
    venv, script, extra, cpu_only = TOOLS[tool]
    base = {"tool": tool, "workload": "cobahh", "n": args.n, "duration_s": args.duration, "seed": seed}
    runner = os.path.join(RUNNERS, script)
    if not os.path.exists(runner):
        return {**base, "error": f"runner {os.path.relpath(runner, ROOT)} missing"}
    if venv is None:
        python = sys.executable
    else:
        python = os.path.join(PEERS_DIR, venv, "bin", "python")
        if not os.path.exists(python):
            return {**base, "error": f"not installed ({python} missing): run `bash benchmarks/peers/install.sh {venv}`"}
    cmd = [python, runner, "--n", str(args.n), "--duration", str(args.duration), "--seed", str(seed),
           "--threads", str(args.threads), "--device", "cpu" if cpu_only else args.device, *extra]
    if args.p is not None:
        cmd += ["--p", str(args.p)]
    return run_json(cmd, base, timeout=args.timeout, verbose=args.verbose, peer=venv is not None)


def plot(lines: list[dict], path: str, title: str) -> None:
    """Bars: median RTF per tool over every seed and repeat (log scale), whiskers min-max,
    annotated with the mean E/I rates and ISI CV."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [d for d in lines if "error" not in d and d.get("rtf") is not None]
    tools = list(dict.fromkeys(d["tool"] for d in ok))
    if not tools:
        return
    rtfs = {t: [d["rtf"] for d in ok if d["tool"] == t] for t in tools}
    med = [statistics.median(rtfs[t]) for t in tools]
    err = [[m - min(rtfs[t]) for t, m in zip(tools, med)], [max(rtfs[t]) - m for t, m in zip(tools, med)]]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.7 * len(tools) + 2.5), 5.2))
    ax.bar(range(len(tools)), med, color=["tab:red" if t == "neurosim" else "tab:blue" for t in tools],
           yerr=err if any(len(v) > 1 for v in rtfs.values()) else None, capsize=4)
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.text(len(tools) - 0.55, 1.0, "real time", va="bottom", ha="right", fontsize=8)
    ax.set_xticks(range(len(tools)))
    ax.set_xticklabels(tools, rotation=15, ha="right")
    ax.set_xlabel("tool")
    ax.set_ylabel("real-time factor = wall-clock s per simulated s (log)")
    ax.set_title(title, fontsize=10)
    for i, t in enumerate(tools):
        ds = [d for d in ok if d["tool"] == t]
        cvs = [d["cv_isi_mean"] for d in ds if d.get("cv_isi_mean") is not None]
        txt = (f"RTF {med[i]:.3g}\nE {statistics.mean(d['rate_e_hz'] for d in ds):.1f} Hz"
               f"\nI {statistics.mean(d['rate_i_hz'] for d in ds):.1f} Hz")
        if cvs:
            txt += f"\nCV {statistics.mean(cvs):.2f}"
        ax.annotate(txt, (i, max(rtfs[t])), textcoords="offset points", xytext=(0, 6), ha="center",
                    va="bottom", fontsize=8)
    lo = min(min(v) for v in rtfs.values())
    hi = max(max(v) for v in rtfs.values())
    ax.set_ylim(min(lo, 1.0) / 3, max(hi, 1.0) * 8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


SUMMARY_FIELDS = ("rate_e_hz", "rate_i_hz", "cv_isi_mean", "frac_firing", "frac_firing_e", "frac_firing_i",
                  "n_spikes", "cv_isi_n_neurons", "n_synapses")
PER_SEED_FIELDS = ("seed", *SUMMARY_FIELDS, "rate_bins_hz")


def summarize(lines: list[dict], tool: str) -> dict:
    """mean / std (ddof = 1) / min / max over the seeds of the statistics of ``tool``'s lines
    (the first repeat of each seed)."""
    per_seed = {}
    for d in lines:
        if d["tool"] == tool and "error" not in d:
            per_seed.setdefault(d["seed"], d)
    out = {}
    for k in SUMMARY_FIELDS:
        vals = [d[k] for d in per_seed.values() if d.get(k) is not None]
        if vals:
            out[k] = {"mean": round(statistics.mean(vals), 5),
                      "std": round(statistics.stdev(vals), 5) if len(vals) > 1 else None,
                      "min": min(vals), "max": max(vals), "n_seeds": len(vals)}
    return out


def write_reference(path: str, lines: list[dict], tool: str, argv: list[str]) -> None:
    """The reference statistics of one tool over the seeds (benchmarks/reference/)."""
    import datetime
    import shlex

    ok = [d for d in lines if d["tool"] == tool and "error" not in d]
    if not ok:
        raise SystemExit(f"cobahh.py: no successful {tool} run, {path} not written")
    first = {}
    for d in ok:
        first.setdefault(d["seed"], d)
    d0 = ok[0]
    ref = {
        "workload": "cobahh",
        "model": d0.get("model", "Brian2 examples/COBAHH.py (Brette et al. 2007 benchmark 3)"),
        "tool": tool,
        "version": d0.get("version"),
        "n": d0["n"], "p": d0.get("p"), "dt_ms": d0.get("dt_ms"), "duration_s": d0["duration_s"],
        "method": d0.get("method"), "threads": d0.get("threads"), "device": d0.get("device"),
        "date": datetime.date.today().isoformat(),
        "command": " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable, ROOT),
                                                      os.path.relpath(os.path.abspath(__file__), ROOT), *argv]),
        "cv_isi_rule": d0.get("cv_isi_rule"),
        "frac_firing_rule": "fraction of neurons with >= 1 spike over the whole run",
        "rate_rule": "spikes / neurons / duration over the whole run (E: first 80 %, I: the rest)",
        "rate_bin_ms": d0.get("rate_bin_ms"),
        "std_rule": "sample std across seeds (ddof = 1)",
        "per_seed": [{k: first[s].get(k) for k in PER_SEED_FIELDS} for s in sorted(first)],
        "across_seeds": summarize(ok, tool),
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    sys.stderr.write(f"cobahh.py: wrote {path}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000, help="neurons (80 %% E)")
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--tools", default="neurosim,brian2,brainpy",
                    help="comma list of: " + ", ".join(list(TOOLS) + list(ALIASES)))
    ap.add_argument("--seeds", default="0", help="comma list of seeds (network and initial state)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per (tool, seed), each in a fresh process")
    ap.add_argument("--p", type=float, default=None, help="connection probability (default min(0.02, 80/N))")
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                    help="for neurosim and brainpy; Brian2 always runs on the CPU")
    ap.add_argument("--threads", type=int, default=1, help="cores per tool (each run is pinned to them)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    ap.add_argument("--out", default=None, help="write DIR/cobahh.json and DIR/cobahh.png")
    ap.add_argument("--verbose", "-v", action="store_true", help="pass the runners' stderr through")
    ap.add_argument("--reference", default=None, metavar="FILE",
                    help="with exactly one tool: write its statistics per seed and across seeds to FILE "
                         "(e.g. benchmarks/reference/cobahh_brian2.json)")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--seeds must be a comma list of integers, got {args.seeds!r}")
    if not seeds:
        ap.error("--seeds is empty")
    if args.n < 2 or args.duration <= 0 or args.repeats < 1:
        ap.error("need --n >= 2, --duration > 0, --repeats >= 1")
    if args.p is not None and not 0.0 < args.p <= 1.0:
        ap.error("--p must be in (0, 1]")
    tools = expand_tools(args.tools)
    if args.reference and len(tools) != 1:
        ap.error(f"--reference needs exactly one tool, got {tools}")

    lines: list[dict] = []
    for seed in seeds:
        ref_rtf = None
        for tool in tools:
            rtfs = []
            for r in range(args.repeats):
                sys.stderr.write(f"cobahh.py: {tool} (n={args.n}, {args.duration} s, seed {seed}, "
                                 f"run {r + 1}/{args.repeats}) ...\n")
                d = run_tool(tool, args, seed)
                if args.repeats > 1:
                    d["repeat"] = r
                if tool != "neurosim" and ref_rtf and "error" not in d:
                    d["ratio_vs_neurosim"] = round(d["rtf"] / ref_rtf, 3)
                print(json.dumps(d), flush=True)
                lines.append(d)
                if "error" not in d and d.get("rtf"):
                    rtfs.append(d["rtf"])
            if tool == "neurosim" and rtfs:
                ref_rtf = statistics.median(rtfs)

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "cobahh.json"), "w") as f:
            for d in lines:
                f.write(json.dumps(d) + "\n")
        dev = next((d.get("device") for d in lines if d.get("tool") == "neurosim" and "device" in d), args.device)
        title = (f"COBAHH (Brette et al. 2007, benchmark 3): N = {args.n}, {args.duration:g} s simulated\n"
                 f"{args.threads} thread(s) per tool, neurosim on {dev}\n"
                 f"bars: median over {len(seeds)} seed(s) x {args.repeats} run(s), whiskers min-max")
        try:
            plot(lines, os.path.join(args.out, "cobahh.png"), title)
        except Exception as err:  # noqa: BLE001 - the JSON is the result; the plot is a bonus
            sys.stderr.write(f"cobahh.py: no plot ({type(err).__name__}: {err})\n")
        with open(os.path.join(args.out, "cobahh_summary.json"), "w") as f:
            json.dump({t: summarize(lines, t) for t in tools}, f, indent=1)
        sys.stderr.write(f"cobahh.py: wrote {args.out}/cobahh.json, cobahh_summary.json and cobahh.png\n")
    if args.reference:
        write_reference(args.reference, lines, tools[0], argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
