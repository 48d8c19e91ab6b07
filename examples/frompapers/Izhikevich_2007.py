"""Izhikevich (2007) Cereb. Cortex 17:2443, "Solving the distal reward problem through linkage of
STDP and dopamine signaling" (Fig. 1): in a network of 1000 spiking neurons with 80,000 plastic
excitatory synapses, one synapse ``n1 -> n2`` is singled out by a dopamine reward that arrives
1-3 s after each of its pre-before-post coincidences. Dopamine-modulated STDP (eligibility
traces of tau_c ~ 1 s) credits that synapse though the reward comes seconds later and dozens of
other coincidences happened in between: it grows to the cap while the rest of the E weights
drift down.

The network, the rule and the reward protocol: ``neurosim.builders.distal_reward`` (docstring).
Reference values (``docs/papers.md`` section 5; a numpy port of the author's code, 3600 s, seeds
0 / 1): mean rate 1.22 / 1.29 Hz (1.18 Hz without rewards); the rewarded synapse first reaches
the 4 mV cap at 1308 / 864 s and ends at 3.5 / 4.0 mV, while without rewards it stays near 0
(0.04 mV); with rewards 56-63 % of the E weights end below 0.5 mV (85 % without).

Checks (full run, 3600 s, with rewards and a control run without them):
mean rate 0.9-1.6 Hz in both; the rewarded synapse reaches 3.8 mV (95 % of the cap) before the
end and ends above 3 mV; in the control it ends below 0.5 mV; the fraction of E weights below
0.5 mV is 0.45-0.75 with rewards and 0.70-0.95 without. Measured (seeds 0 / 1; both runs ~210 s on
the 2-core test machine): rates 1.21 / 1.18 Hz (1.15 / 1.14 without), 3.8 mV reached at 1512 /
3092 s, final 3.97 / 4.00 mV (control 0.00 / 0.01), fractions below 0.5 mV 0.56 / 0.59 with
rewards and 0.77 / 0.77 without (the reference's 0.85 is not reached: our control keeps more
weights between 0.5 and 1.3 mV).

``--quick`` (the tests): the first 400 s of the same two runs, long before the synapse reaches
the cap; the paper gives no values this early, so the bounds are calibrated on this
implementation (seeds 0 / 1 / 2: 13 / 16 / 8 rewards, the rewarded synapse at 0.62 / 0.86 /
0.36 mV, its highest value in the control 0.042 / 0.054 / 0.045 mV). Checks: the rates as
above, at least 5 rewards, the rewarded synapse above 0.2 mV with rewards and never above
0.2 mV without.

Usage: ``python examples/frompapers/Izhikevich_2007.py --out DIR [--quick] [--seed S]`` writes
``DIR/Izhikevich_2007.png`` and ``DIR/Izhikevich_2007.json`` and exits non-zero when a check fails.
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
from neurosim.builders import distal_reward
from neurosim.builders.distal_reward import N
from neurosim.report import check, finish

PAPER = ("Izhikevich (2007) Cereb Cortex 17:2443, solving the distal reward problem through linkage of STDP "
         "and dopamine signaling (Fig. 1)")
NAME = "Izhikevich_2007"
DT = 1.0                 # ms, as the reference code
CAP = 4.0                # mV, the weight cap
SNAP_MS = 1000.0         # the rewarded synapse is recorded every second
HIST_MS = 60e3           # the E-weight histogram every minute
EDGES = np.linspace(0.0, CAP, 41)


def run(duration_ms, seed, reward):
    net, k = distal_reward(seed=seed, reward=reward)
    monitors = [
        ns.Spikes("neurons"),
        ns.Weights("exc", ids=[k], every=int(SNAP_MS / DT)),
        ns.Weights("exc", bins=EDGES, every=int(HIST_MS / DT)),
        ns.Observe("dopamine", lambda state, spikes: state.modulators["dopamine"].value),
    ]
    res = ns.simulate(net, duration_ms, DT, key=seed, monitors=monitors, progress=True)
    times, _ = res.spikes["neurons"]
    t_w, w_k, _ = res.traces["exc.weights"]
    t_h, hists, _ = res.traces["exc.weights_hist"]
    t_d, da = res.observed["dopamine"]
    da = np.asarray(da).reshape(-1)
    jumps = np.flatnonzero(np.diff(da) > 0.25) + 1            # a reward adds 0.5 to the dopamine
    w = np.asarray(res.state.weights["exc"], float)
    return {"duration": duration_ms, "rate": times.size / N / (duration_ms * 1e-3), "times": np.asarray(times),
            "t_w": np.asarray(t_w), "w_k": np.asarray(w_k, float).reshape(-1), "t_h": np.asarray(t_h),
            "hists": np.asarray(hists), "w": w, "w_star": float(w[k]), "rewards_ms": np.asarray(t_d)[jumps],
            "da_t": np.asarray(t_d), "da": da, "run_s": res.timings["run_s"], "compile_s": res.timings["compile_s"]}


def first_time_above(r, level):
    hit = np.flatnonzero(r["w_k"] >= level)
    return float(r["t_w"][hit[0]] * 1e-3) if hit.size else float("inf")


def checks_for(rew, ctl, quick):
    checks = []

    def add(name, value, target, ok):
        checks.append(check(name, value, target, ok))

    for label, r, ref in (("with rewards", rew, "1.22 / 1.29"), ("without rewards", ctl, "1.18")):
        add(f"mean rate {label} (Hz)", r["rate"], f"0.9-1.6 (reference {ref})", 0.9 <= r["rate"] <= 1.6)
    if quick:
        n, secs = rew["rewards_ms"].size, rew["duration"] * 1e-3
        add(f"rewards delivered in {secs:.0f} s", n, ">= 5 (calibrated: 8-16 in 400 s)", n >= 5)
        add("rewarded synapse at the end, with rewards (mV)", rew["w_star"],
            "> 0.2 (starts at 0; calibrated: 0.36-0.86 at 400 s)", rew["w_star"] > 0.2)
        peak = float(ctl["w_k"].max())
        add("same synapse without rewards, highest value (mV)", peak, "< 0.2 (calibrated: 0.04-0.05; reference 0.04 "
            "at 3600 s)", peak < 0.2)
        return checks
    t_cap = first_time_above(rew, 0.95 * CAP)
    add("rewarded synapse reaches 3.8 mV at (s)", t_cap, "before 3600 s (reference: the cap at 1308 / 864 s)",
        t_cap < rew["duration"] * 1e-3)
    add("rewarded synapse at the end, with rewards (mV)", rew["w_star"], "> 3 (reference 3.5 / 4.0)",
        rew["w_star"] > 3.0)
    add("rewarded synapse at the end, without rewards (mV)", ctl["w_star"], "< 0.5 (reference 0.04)",
        ctl["w_star"] < 0.5)
    f_rew, f_ctl = float(np.mean(rew["w"] < 0.5)), float(np.mean(ctl["w"] < 0.5))
    add("frac E weights < 0.5 mV, with rewards", f_rew, "0.45-0.75 (reference 0.56-0.63)", 0.45 <= f_rew <= 0.75)
    add("frac E weights < 0.5 mV, without rewards", f_ctl, "0.70-0.95 (reference 0.85)", 0.70 <= f_ctl <= 0.95)
    return checks


def make_figure(path, rew, ctl):
    fig = Figure(figsize=(13.0, 7.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplot_mosaic([["w", "w", "hist"], ["raster", "da", "hist"]])
    a = ax["w"]
    a.plot(rew["t_w"] * 1e-3, rew["w_k"], color="C3", label="rewarded synapse, with rewards")
    a.plot(ctl["t_w"] * 1e-3, ctl["w_k"], color="0.5", label="same synapse, no rewards (control)")
    a.plot(rew["rewards_ms"] * 1e-3, np.full(rew["rewards_ms"].size, -0.15), "|", color="C2", markersize=7,
           label="rewards")
    mean_t = rew["t_h"] * 1e-3
    centres = (EDGES[:-1] + EDGES[1:]) / 2
    mean_w = (rew["hists"] * centres).sum(1) / np.maximum(rew["hists"].sum(1), 1)
    a.plot(mean_t, mean_w, "--", color="C0", label="mean E weight, with rewards")
    a.set_xlabel("time (s)")
    a.set_ylabel("weight (mV)")
    a.set_ylim(-0.3, CAP + 0.2)
    a.legend(fontsize="small", loc="center right")
    a.set_title("the rewarded synapse grows to the cap; the others drift down", fontsize="medium")
    a = ax["hist"]
    for r, colour, label in ((rew, "C3", "with rewards"), (ctl, "0.5", "no rewards")):
        a.hist(r["w"], EDGES, histtype="step", color=colour, label=label, linewidth=1.5)
    a.axvline(rew["w_star"], color="C3", linestyle=":", label=f"rewarded synapse ({rew['w_star']:.2f} mV)")
    a.set_yscale("log")
    a.set_xlabel("weight (mV)")
    a.set_ylabel("E synapses")
    a.set_title(f"E weights after {rew['duration'] / 1e3:.0f} s", fontsize="medium")
    a.legend(fontsize="small")
    a = ax["raster"]
    t_end = rew["duration"]
    times = rew["times"]
    sel = times >= t_end - 1000.0
    a.hist(times[sel] - (t_end - 1000.0), np.arange(0, 1001, 10), color="C0")
    a.set_xlabel("time in the last second (ms)")
    a.set_ylabel("spikes / 10 ms")
    a.set_title(f"network activity (mean {rew['rate']:.2f} Hz)", fontsize="medium")
    a = ax["da"]
    window = rew["da_t"] >= t_end - 100e3
    a.plot(rew["da_t"][window] * 1e-3, rew["da"][window], color="C2")
    a.set_xlabel("time (s)")
    a.set_ylabel("dopamine (uM)")
    a.set_title("dopamine, last 100 s: a pulse 1-3 s after each n1 -> n2 coincidence", fontsize="small")
    fig.suptitle("Izhikevich 2007: dopamine-modulated STDP solves the distal reward problem", fontsize="medium")
    fig.savefig(path, dpi=110, format="png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="400 s runs instead of 3600 s")
    parser.add_argument("--seed", type=int, default=0, help="seed of the connectivity, the noise and the rewards")
    parser.add_argument("--duration", type=float, default=None, help="seconds (overrides --quick's and the full length)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    duration_s = args.duration or (400.0 if args.quick else 3600.0)
    rew = run(duration_s * 1e3, args.seed, True)
    print(f"  with rewards: {rew['run_s']:.1f} s for {duration_s:.0f} s", flush=True)
    ctl = run(duration_s * 1e3, args.seed, False)
    print(f"  without rewards: {ctl['run_s']:.1f} s for {duration_s:.0f} s", flush=True)
    checks = checks_for(rew, ctl, quick=duration_s < 3600.0)
    make_figure(args.out / f"{NAME}.png", rew, ctl)
    summary = {label: {"duration_s": duration_s, "run_s": r["run_s"], "compile_s": r["compile_s"],
                       "rtf": r["run_s"] / duration_s, "rate_hz": r["rate"], "rewarded_synapse_mv": r["w_star"],
                       "rewards": int(r["rewards_ms"].size), "frac_below_0.5mv": float(np.mean(r["w"] < 0.5)),
                       "reaches_3.8mv_s": first_time_above(r, 0.95 * CAP)}
               for label, r in (("rewards", rew), ("control", ctl))}
    return finish(args.out, NAME, PAPER, checks, t0, quick=bool(args.quick), seed=args.seed, dt_ms=DT,
                  runs=summary, rewarded_synapse={"t_s": (rew["t_w"] * 1e-3).tolist(), "w_mv": rew["w_k"].tolist()})


if __name__ == "__main__":
    sys.exit(main())
