"""Sweep benchmark: ``ns.sweep`` against a Python loop of ``ns.simulate`` over the same instances.

    .venv/bin/python benchmarks/sweep.py [--workload brunel|coba] [--instances 32] [--duration 500]
        [--tools sweep,sweep-vmap,loop] [--out DIR]

Tools: ``sweep`` (``engine="auto"``), ``sweep-vmap`` (``engine="vmap"``: one vmapped program per
batch, what a GPU runs) and ``loop`` (a Python loop of ``ns.simulate``, what a user writes).
Workloads: ``brunel`` (``brunel2000("C", scale=0.1)``: 1250 LIF neurons, Poisson drive; the
instances sweep the background rate) and ``coba`` (``coba(4000)``, the Vogels-Abbott network;
they sweep the excitatory weight), one seed each. Each tool runs in its own process and pays
its own compilation. ``sweep_s``: the whole sweep, compilation included; ``rtf_per_network`` =
sweep_s / (instances x simulated seconds); ``speedup_vs_loop``; ``max_rate_diff_hz`` against the
loop's rates (the sweep measures them on the device, the loop from a spike monitor). One JSON
line per tool.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

import neurosim as ns  # noqa: E402


def workload(name):
    if name == "brunel":
        net = ns.builders.brunel2000("C", scale=0.1, seed=2)
        return net, "inputs.background.rate_hz", "neurons", lambda k, n: 15.0 + 10.0 * k / max(n - 1, 1)
    net = ns.builders.coba(4000, seed=0)
    w = float(np.max(np.asarray(net.params().projections[net.projections[0].name].weights)))
    path = f"projections.{net.projections[0].name}.weights"
    return net, path, net.populations[0].name, lambda k, n: w * (0.8 + 0.4 * k / max(n - 1, 1))


def run_tool(tool, a) -> dict:
    """One tool, in this process (fresh: the orchestrator starts one process per tool)."""
    net, path, pop, value = workload(a.workload)
    values = [value(k, a.instances) for k in range(a.instances)]
    sim_s = a.instances * a.duration / 1000.0
    base = {"tool": tool, "workload": a.workload, "instances": a.instances, "duration_ms": a.duration,
            "device": jax.devices()[0].platform, "n_devices": len(jax.devices()), "jax": jax.__version__,
            "neurons": sum(p.n for p in net.populations)}
    t0 = time.perf_counter()
    if tool in ("sweep", "sweep-vmap"):
        res = ns.sweep(net, {path: values}, a.duration, bin_ms=10.0, measures=("rate",), populations=pop,
                       engine="auto" if tool == "sweep" else "vmap")
        rates = np.asarray(res.columns[f"{pop}.rate"])
        extra = {"engine": res.info["engine"], "batch_size": res.batch_size}
    else:
        from neurosim.analysis.spikes import mean_rate

        p0, rates = net.params(), []
        for v in values:
            r = ns.simulate(net, a.duration, key=0, params=_set(p0, path, v), monitors=[ns.Spikes(pop)], progress=False)
            t, i = r.spikes[pop]
            rates.append(mean_rate(t, i, net.population(pop).n, 0.0, a.duration))
        rates, extra = np.asarray(rates), {}
    wall = time.perf_counter() - t0
    return {**base, **extra, "sweep_s": wall, "rtf_per_network": wall / sim_s, "mean_rate_hz": float(rates.mean()),
            "rates_hz": [round(float(x), 6) for x in rates]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", choices=["brunel", "coba"], default="brunel")
    ap.add_argument("--instances", type=int, default=32)
    ap.add_argument("--duration", type=float, default=500.0)
    ap.add_argument("--tools", default="sweep,sweep-vmap,loop")
    ap.add_argument("--tool", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.tool:
        print(json.dumps(run_tool(a.tool, a)), flush=True)
        return
    from driver import run_json, save_lines

    size = ["--workload", a.workload, "--instances", str(a.instances), "--duration", str(a.duration)]
    lines = [run_json([sys.executable, os.path.abspath(__file__), "--tool", t, *size], {"tool": t, "workload": a.workload},
                      timeout=3600) for t in a.tools.split(",")]
    ref = next((ln for ln in lines if ln.get("tool") == "loop" and "sweep_s" in ln), None)
    for ln in lines:
        if ref and "sweep_s" in ln:
            ln["speedup_vs_loop"] = round(ref["sweep_s"] / ln["sweep_s"], 3)
            ln["max_rate_diff_hz"] = float(np.max(np.abs(np.asarray(ln["rates_hz"]) - np.asarray(ref["rates_hz"]))))
        ln.pop("rates_hz", None)
        print(json.dumps(ln), flush=True)
    if a.out:
        def plot(ls, out):
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots(figsize=(6, 3.2))
            ok = [d for d in ls if "rtf_per_network" in d]
            ax.bar([f"{d['workload']}\n{d['tool']}" for d in ok], [d["rtf_per_network"] for d in ok], color="C0")
            ax.set(ylabel="wall s / (simulated s x network)", yscale="log", title="sweeps, CPU")
            ax.tick_params(axis="x", labelsize=7)
            fig.tight_layout()
            fig.savefig(out, dpi=110)

        save_lines(a.out, "sweep", lines, plot)


def _set(params, path, value):
    from neurosim.sweeps.design import set_leaf, get_leaf
    return set_leaf(params, path, np.broadcast_to(value, np.shape(get_leaf(params, path))))


if __name__ == "__main__":
    main()
