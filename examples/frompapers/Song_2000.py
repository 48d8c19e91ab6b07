"""Song, Miller & Abbott (2000) Nat. Neurosci. 3:919, "Competitive Hebbian learning through
spike-timing-dependent synaptic plasticity": one conductance-based LIF neuron learns its 1000
excitatory Poisson inputs by additive pair STDP; the weights split into a bimodal (U-shaped)
distribution and the output rate becomes only weakly dependent on the input rate.

Two forms (networks: ``neurosim.builders.brian_stdp`` and ``song2000``; equations in
``docs/plasticity.md``):

- **Brian2's STDP example** (1000 inputs at 15 Hz, tau_m = 10 ms, no inhibition, 100 s):
  reference values measured with Brian2 (seed 1): weight histogram (10 bins of w/g_max) after
  100 s [234, 117, 60, 63, 51, 56, 61, 68, 105, 185]; 23.4 % of the weights below 0.1 g_max and
  18.5 % above 0.9 g_max; output rate 35.9 Hz in the first 10 s, 19.9 Hz in the last 10 s.
  Checks: U-shaped (each end bin above every other bin, and above twice every bin of the
  central six, 0.2-0.8 g_max; Brian2's own first bin is exactly twice its neighbour, so the
  neighbours of the end bins are not held to 2x), each end-bin fraction in 0.15-0.30, output
  rate in the last 10 s in 15-25 Hz and below 0.7x the rate of the first 10 s.
- **The paper's neuron** (1000 excitatory inputs at 10 or 40 Hz, 200 inhibitory at 10 Hz,
  tau_m = 20 ms, g_max = 0.015, A_+ = 0.005 g_max, A_- = 1.05 A_+): reference values from a
  numpy port (seed 1): at 40 Hz for 300 s, 74 % of weights below 0.1 g_max, mean 0.14 g_max,
  output rate 15.1 Hz, ISI CV 0.73; at 10 Hz for 2000 s, 34 % below 0.1 and 40 % above 0.9
  g_max, 14 % in [0.2, 0.8], output 9.5 Hz. Checks: at 40 Hz, frac(< 0.1 g_max) > 0.6 and mean
  < 0.2 g_max, output ISI CV in 0.6-1.1; full run only: at 10 Hz bimodal (frac < 0.1 plus
  frac > 0.9 above 0.65, frac in [0.2, 0.8] below 0.2) and rate normalisation (the 4x input
  rate changes the learned output rate by less than 2x).

Usage: ``python examples/frompapers/Song_2000.py --out DIR [--quick] [--seed S]`` writes
``DIR/Song_2000.png`` and ``DIR/Song_2000.json`` and exits non-zero when a check fails.
Full: Brian2's form for 100 s, the paper's neuron at 40 Hz for 300 s and at 10 Hz for 2000 s
(~8 min on one CPU core). ``--quick``: Brian2's form for 100 s and the paper's neuron at 40 Hz
for 100 s (where it has already converged: the checks of the 40 Hz run hold from ~60 s on).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.analysis import isi_cv
from neurosim.builders import brian_stdp, song2000
from neurosim.builders.stdp_neuron import G_L
from neurosim.report import check, finish

PAPER = ("Song, Miller & Abbott (2000) Nat Neurosci 3:919, competitive Hebbian learning through STDP; "
         "and the Brian2 STDP example adapted from it")
NAME = "Song_2000"
DT = 0.1
BRIAN2_HIST = [234, 117, 60, 63, 51, 56, 61, 68, 105, 185]   # Brian2, seed 1, 100 s
SNAP_MS = 1000.0      # weight-histogram snapshots every second


def run(net, g_max, duration_ms, seed):
    res = ns.simulate(net, duration_ms, DT, key=seed, monitors=[
        ns.Spikes("neuron"), ns.Weights("stdp", bins=10, range=(0.0, g_max * G_L), every=int(round(SNAP_MS / DT)))])
    times, _ = res.spikes["neuron"]
    w = np.asarray(res.state.weights["stdp"], float) / (g_max * G_L)
    snap_t, snaps, _ = res.traces["stdp.weights_hist"]
    return {"times": times, "w": w, "snap_t": snap_t, "snaps": snaps, "duration": duration_ms,
            "run_s": res.timings["run_s"], "compile_s": res.timings["compile_s"]}


def rate(times, t0, t1):
    return float(np.sum((times >= t0) & (times < t1)) / ((t1 - t0) * 1e-3))


def cv_last(times, duration, window=50e3):
    sel = times[times >= duration - min(window, duration / 2)]
    return float(isi_cv(sel, np.zeros(sel.size, int), 1)[0]) if sel.size > 3 else float("nan")


def checks_for(brian, song40, song10):
    checks = []

    def add(name, value, target, ok):
        checks.append(check(name, value, target, ok))

    hist = np.histogram(brian["w"], 10, (0.0, 1.0))[0]
    ends, central, others = hist[[0, -1]], hist[2:8], hist[1:9]
    add("Brian2 form: weight histogram U-shaped (end bins vs the others)", hist.tolist(),
        "each end bin > every other bin and > 2x every bin of 0.2-0.8 g_max (Brian2: " f"{BRIAN2_HIST})",
        bool(np.all(ends.min() > others.max()) and np.all(ends.min() > 2 * central.max())))
    lo, hi = float(np.mean(brian["w"] < 0.1)), float(np.mean(brian["w"] > 0.9))
    add("Brian2 form: frac w < 0.1 g_max", lo, "0.15-0.30 (Brian2 0.234)", 0.15 <= lo <= 0.30)
    add("Brian2 form: frac w > 0.9 g_max", hi, "0.15-0.30 (Brian2 0.185)", 0.15 <= hi <= 0.30)
    d = brian["duration"]
    r0, r1 = rate(brian["times"], 0.0, 10e3), rate(brian["times"], d - 10e3, d)
    add("Brian2 form: output rate, last 10 s (Hz)", r1, "15-25 Hz (Brian2 19.9)", 15.0 <= r1 <= 25.0)
    add("Brian2 form: rate last 10 s / first 10 s", r1 / r0, "< 0.7 (Brian2 19.9 / 35.9 = 0.55)", r1 / r0 < 0.7)

    lo40, mean40 = float(np.mean(song40["w"] < 0.1)), float(np.mean(song40["w"]))
    add("paper neuron, 40 Hz: frac w < 0.1 g_max", lo40, "> 0.6 (numpy port 0.74 at 300 s)", lo40 > 0.6)
    add("paper neuron, 40 Hz: mean w / g_max", mean40, "< 0.2 (numpy port 0.14)", mean40 < 0.2)
    cv40 = cv_last(song40["times"], song40["duration"])
    add("paper neuron, 40 Hz: output ISI CV", cv40, "0.6-1.1 (numpy port 0.73)", 0.6 <= cv40 <= 1.1)
    if song10 is not None:
        w = song10["w"]
        ends10, mid10 = float(np.mean(w < 0.1) + np.mean(w > 0.9)), float(np.mean((w >= 0.2) & (w <= 0.8)))
        add("paper neuron, 10 Hz, 2000 s: frac < 0.1 + frac > 0.9", ends10, "> 0.65 (numpy port 0.74)", ends10 > 0.65)
        add("paper neuron, 10 Hz, 2000 s: frac in [0.2, 0.8] g_max", mid10, "< 0.2 (numpy port 0.14)", mid10 < 0.2)
        d10, d40 = song10["duration"], song40["duration"]
        r10, r40 = rate(song10["times"], d10 - 50e3, d10), rate(song40["times"], d40 - 50e3, d40)
        ratio = max(r10, r40) / max(min(r10, r40), 1e-9)
        add("rate normalisation: output rate ratio, 40 vs 10 Hz input", ratio,
            "< 2 for a 4x input rate (numpy port 15.6 / 9.5 = 1.6)", ratio < 2.0)
    return checks


def make_figure(path, brian, song40, song10):
    cols = 3 if song10 is not None else 2
    fig = Figure(figsize=(4.6 * cols, 7.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, cols, squeeze=False)
    centres = np.arange(10) / 10 + 0.05
    runs = [("Brian2 form, 15 Hz", brian), ("paper neuron, 40 Hz", song40)] + (
        [("paper neuron, 10 Hz", song10)] if song10 is not None else [])
    for k, (title, r) in enumerate(runs):
        ax = axes[0, k]
        ax.bar(centres, np.histogram(r["w"], 10, (0, 1))[0], width=0.09, color="C0", label="neurosim")
        if k == 0:
            ax.plot(centres, BRIAN2_HIST, "o-", color="C3", label="Brian2 (seed 1)")
            ax.legend(fontsize="small")
        ax.set_xlabel("w / g_max")
        ax.set_ylabel("synapses")
        ax.set_title(f"{title}: weights after {r['duration'] / 1e3:.0f} s", fontsize="medium")
        ax = axes[1, k]
        snaps = np.asarray(r["snaps"], float)
        ax.imshow(snaps.T, aspect="auto", origin="lower", cmap="viridis",
                  extent=[(r["snap_t"][0] - SNAP_MS) / 1e3, r["snap_t"][-1] / 1e3, 0.0, 1.0])   # each at its window's end
        ax.set_xlabel("time (s)")
        ax.set_ylabel("w / g_max (histogram, colour: count)")
        edges = np.arange(0.0, r["duration"] + 1, max(r["duration"] / 50, 1000.0))
        counts = np.histogram(r["times"], edges)[0] / (np.diff(edges) * 1e-3)
        twin = ax.twinx()
        twin.plot(edges[:-1] / 1e3 + np.diff(edges) / 2e3, counts, color="w", linewidth=1.2)
        twin.set_ylabel("output rate (Hz, white)")
    fig.suptitle("Song, Miller & Abbott 2000: additive STDP splits the weights and normalises the output rate",
                 fontsize="medium")
    fig.savefig(path, dpi=110, format="png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="100 s runs; no 2000 s run at 10 Hz")
    parser.add_argument("--seed", type=int, default=1, help="seed of the initial weights and the Poisson inputs")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    s = args.seed
    brian = run(brian_stdp(seed=s), 0.01, 100e3, s)
    print(f"  Brian2 form: {brian['run_s']:.1f} s for 100 s", flush=True)
    song40 = run(song2000(40.0, seed=s), 0.015, 100e3 if args.quick else 300e3, s)
    print(f"  paper neuron 40 Hz: {song40['run_s']:.1f} s for {song40['duration'] / 1e3:.0f} s", flush=True)
    song10 = None
    if not args.quick:
        song10 = run(song2000(10.0, seed=s), 0.015, 2000e3, s)
        print(f"  paper neuron 10 Hz: {song10['run_s']:.1f} s for 2000 s", flush=True)
    checks = checks_for(brian, song40, song10)
    make_figure(args.out / f"{NAME}.png", brian, song40, song10)
    runs = {"brian2_form": brian, "paper_40hz": song40} | ({"paper_10hz": song10} if song10 else {})
    summary = {k: {"duration_s": r["duration"] / 1e3, "run_s": r["run_s"], "compile_s": r["compile_s"],
                   "rtf": r["run_s"] / (r["duration"] / 1e3), "hist": np.histogram(r["w"], 10, (0, 1))[0].tolist(),
                   "mean_w": float(np.mean(r["w"]))} for k, r in runs.items()}
    return finish(args.out, NAME, PAPER, checks, t0, quick=bool(args.quick), seed=s, dt_ms=DT, runs=summary)


if __name__ == "__main__":
    sys.exit(main())
