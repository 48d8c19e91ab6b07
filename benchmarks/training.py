"""Training benchmark: neurosim's layers against a hand-written pure-JAX loop, Spyx and snnTorch.

    .venv/bin/python benchmarks/training.py --workload lif|digits --tools neurosim,jax,spyx,snntorch \
        [--neurons N --batch B --steps T] [--out DIR]

Workloads (benchmarks/peers/neurosim_training.py, spyx_training.py, snntorch_training.py):

- ``lif``: the Open Neuromorphic training benchmark's model, one Linear (N x N, no bias) and one
  LIF layer of N neurons, forward and backward of a spike-count loss over T steps at batch B
  (``fwd_bwd_s``: median over 5 calls, compilation excluded; the benchmark's own size is N =
  16384, B = 16, T = 500; the default N = 2048 fits this 2-core CPU). ``jax`` is the same model
  written as a bare ``lax.scan`` (the product ``x W`` in it, as Spyx and snnTorch compute it):
  the ratio jax / neurosim is what computing the product for all steps at once outside the scan
  gains. ``neurosim-bf16``: the same with the product in bfloat16 (``product_dtype``), summed in
  float32. ``fwd_bwd_s`` is the median of 5 calls, ``fwd_bwd_min_s`` their minimum.
- ``digits``: one epoch of the Neftci_2019 classifier (64 -> 128 LIF -> 10 readout, batch 128,
  25 Bernoulli steps), ``neurosim.train.fit`` against a hand-written jitted epoch of the same
  model (``epoch_s``: median over epochs 2-6).

Each tool runs in its own process, one after another, on ``--threads`` cores (default 1); every line carries ``ratio_vs_neurosim``
(the tool's time / neurosim's). Spyx and snnTorch run from ``.peers/spyx`` and ``.peers/snntorch``
(``bash benchmarks/peers/install.sh spyx snntorch``), on the ``lif`` workload. With ``--out DIR`` the lines are appended to
``DIR/training.json`` and plotted in ``DIR/training.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from driver import peer_python, run_json, save_lines

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNERS = os.path.join(HERE, "peers")
TOOLS = {"neurosim": None, "neurosim-bf16": None, "jax": None, "spyx": "spyx", "snntorch": "snntorch"}


def plot(lines, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    panels = ((axes[0], "lif", "fwd_bwd_s", "forward + backward (s)", "Linear + LIF"),
              (axes[1], "digits", "epoch_s", "one training epoch (s)", "digits classifier"))
    for ax, workload, key, ylabel, title in panels:
        rows = [d for d in lines if d.get("workload") == workload and key in d]
        ax.bar([d["tool"] for d in rows], [d[key] for d in rows], color=["C1" if d["tool"].startswith("neurosim") else "C0" for d in rows])
        size = f", N = {rows[0]['neurons']}, B = {rows[0]['batch']}, T = {rows[0]['steps']}" if rows and "neurons" in rows[0] else ""
        ax.set(ylabel=ylabel, title=f"{title}{size} (median, lower is faster)")
        ax.title.set_fontsize(9)
        ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=["lif", "digits"], required=True)
    ap.add_argument("--tools", default="neurosim,jax,spyx,snntorch")
    ap.add_argument("--neurons", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--threads", type=int, default=1, help="cores every tool may use (this process and its children are pinned)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    tools = [t.strip() for t in a.tools.split(",")]
    if hasattr(os, "sched_setaffinity"):      # children inherit the pinning
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:max(1, a.threads)]))
    for t in tools:
        if t not in TOOLS:
            raise SystemExit(f"unknown tool {t!r}; choose from {', '.join(TOOLS)}")
    if "neurosim" in tools:
        tools.remove("neurosim")
        tools.insert(0, "neurosim")
    size = ["--neurons", str(a.neurons), "--batch", str(a.batch), "--steps", str(a.steps)]
    lines, ref = [], None
    key = "fwd_bwd_s" if a.workload == "lif" else "epoch_s"
    for tool in tools:
        base = {"tool": tool, "workload": a.workload}
        if TOOLS[tool] is not None:
            python = peer_python(TOOLS[tool])
            if a.workload != "lif":
                continue
            if python is None:
                line = {**base, "error": f"not installed: bash benchmarks/peers/install.sh {TOOLS[tool]}"}
            else:
                line = run_json([python, os.path.join(RUNNERS, f"{tool}_training.py"), "--workload", "lif", *size],
                                base, timeout=a.timeout, peer=True)
        else:
            line = run_json([sys.executable, os.path.join(RUNNERS, "neurosim_training.py"), "--tool", tool,
                             "--workload", a.workload, *size], base, timeout=a.timeout)
        if tool == "neurosim" and key in line:
            ref = line[key]
        if ref and key in line:
            line["ratio_vs_neurosim"] = round(line[key] / ref, 3)
        print(json.dumps(line), flush=True)
        lines.append(line)
    if a.out:
        save_lines(a.out, "training", lines, plot)


if __name__ == "__main__":
    main()
