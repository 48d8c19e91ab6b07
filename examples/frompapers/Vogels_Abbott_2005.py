"""Vogels & Abbott (2005) J. Neurosci. 25:10786, as benchmarks 1 (COBA) and 2 (CUBA) of
Brette et al. (2007) J. Comput. Neurosci. 23:349: self-sustained asynchronous irregular
activity in a sparse E/I network of LIF neurons.

N = 4000 LIF neurons (3200 E, 800 I), every ordered pair connected with p = 0.02 (autapses
allowed), exponential synapses (tau_e = 5 ms, tau_i = 10 ms), spikes delivered on the next step:

    CUBA:  tau_m dV/dt = (E_L - V) + g_e + g_i                       (g in mV)
           E_L = -49 mV (above threshold: self-driven), E spike g_e += 1.62 mV, I spike g_i += -9 mV
    COBA:  tau_m dV/dt = (E_L - V) + g_e (E_e - V) + g_i (E_i - V)    (g in units of g_L = 10 nS)
           E_L = -60 mV, E_e = 0 mV, E_i = -80 mV, E spike g_e += 0.6 (6 nS), I spike g_i += 6.7 (67 nS)
    both:  tau_m = 20 ms (C = 200 pF, g_L = 10 nS), V_th = -50 mV, V_reset = -60 mV, 5 ms
           refractory (V clamped), V(0) ~ U(-60, -50) mV, dt = 0.1 ms, 1 s.

COBA runs without any background drive; its activity is started by a kick and then sustains
itself. Two kicks (papers.md 2.3): (a) Brian-1 random initial conductances g_e(0) ~ N(4, 1.5),
g_i(0) ~ N(20, 12) (units of g_L); (b) NEST's stimulus, 50 E neurons each with an independent
300 Hz Poisson train in t in [1, 51) ms through a 6 nS synapse. Built by
``neurosim.builders.cuba`` / ``coba(background_pa=0, kick=...)``.

Integration: neurosim's LIF integrates the leak exactly with the synaptic current held at its
start-of-step value (for COBA the current g (E - V) uses V at the step's start), i.e. Euler with
each increment scaled by (1 - exp(-dt/tau_m)) / (dt/tau_m) = 0.9975; Brian's reference uses
Euler for COBA and exact integration for CUBA. Refractoriness clamps V for 50 steps (NEST's
count; Brian's timestep rule integrates again after 49). Both differences are well below the
seed-to-seed spread.

Checks (papers.md 2.4, MEAS Brian2, 3 seeds x 1 s; seed means reported): CUBA E and I rates
in 200-1000 ms 4.5-6.5 Hz, mean ISI CV 0.4-0.65; COBA E and I rates 15-25 Hz, mean ISI CV > 1.2;
COBA self-sustained: the rate in 200-1000 ms equals the rate in 0-1000 ms within 2 % (so the
kick leaves no lasting transient; 4 % for the single seed of --quick, see SUSTAIN_TOL), and
activity persists to the end (rate in the last 100 ms at least half the 200-1000 ms rate, in
every seed). ISI CVs use the spikes in 200-1000 ms of the neurons with at least 3 of them.

Usage: ``python examples/frompapers/Vogels_Abbott_2005.py --out DIR [--quick] [--seed S]``
writes ``DIR/Vogels_Abbott_2005.png`` and ``DIR/Vogels_Abbott_2005.json`` and exits non-zero
when a check fails. Full: seeds S, S+1, S+2. ``--quick``: seed S only, same N = 4000 and 1 s
(the bands already hold for single seeds; a smaller network would need a rescaled p or
weights to keep ~80 inputs per neuron and is then a different network, so it is not used).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.report import check, finish
from neurosim.analysis import mean_isi_cv, mean_rate, population_rate
from neurosim.builders import coba, cuba
from neurosim.plot import raster, rate_plot

PAPER = ("Vogels & Abbott (2005) J Neurosci 25:10786; Brette et al. (2007) J Comput Neurosci 23:349, "
         "benchmarks 1 (COBA) and 2 (CUBA)")
NAME = "Vogels_Abbott_2005"

N = 4000
N_E = 3200
DT = 0.1          # ms
T = 1000.0        # ms
T0 = 200.0        # ms, start of the analysis window (after the initial transient)
T_LAST = 100.0    # ms, the final stretch in which activity must persist
# Self-sustained: |rate(200-1000 ms) / rate(0-1000 ms) - 1| <= tol. papers.md's 2 % is met by the
# mean of 3 seeds. A single seed fluctuates more: the rate of any 200 ms window wanders by ~10 %,
# and over seeds 0-11 the single-seed ratio had mean 1.008 / sd 0.012 (kick a) and 1.007 / 0.016
# (kick b), range 0.980-1.037, 5 of 24 runs outside 2 %; so --quick (one seed) allows 4 % (~2.5 sd). A network whose activity died or
# decayed after the kick gives a ratio far below 1 and fails either way (and the "persists" check).
SUSTAIN_TOL = {"full": 0.02, "quick": 0.04}

# variant -> (title, builder); COBA without background, started by a kick
VARIANTS = {
    "CUBA": ("CUBA (E_L = -49 mV, self-driven)", lambda seed: cuba(N, seed=seed)),
    "COBA(a)": ("COBA, kick (a): random initial conductances",
                lambda seed: coba(N, seed=seed, background_pa=0.0, kick="conductance")),
    "COBA(b)": ("COBA, kick (b): 50 x 300 Hz Poisson in [1, 51) ms",
                lambda seed: coba(N, seed=seed, background_pa=0.0, kick="poisson")),
}


def run_variant(variant, seed):
    """Spikes (times ms, ids) of the 4000 neurons and the simulation's timings."""
    net = VARIANTS[variant][1](seed)
    res = ns.simulate(net, T, DT, key=seed, monitors=[ns.Spikes("neurons")], progress=False)
    times, ids = res.spikes["neurons"]
    return times, ids, res.timings


def stats(times, ids):
    e = ids < N_E
    late = times >= T0
    return {
        "rate_e_hz": mean_rate(times[e], ids[e], N_E, T0, T),
        "rate_i_hz": mean_rate(times[~e], ids[~e] - N_E, N - N_E, T0, T),
        "rate_all_hz": mean_rate(times, ids, N, T0, T),
        "rate_all_0_hz": mean_rate(times, ids, N, 0.0, T),
        "rate_first_hz": mean_rate(times, ids, N, 0.0, T0),
        "rate_last_hz": mean_rate(times, ids, N, T - T_LAST, T),
        "cv_isi": mean_isi_cv(times[late], ids[late], N, min_spikes=3),
        "last_spike_ms": float(times.max()) if times.size else math.nan,
    }


def _ratio(a, b):
    """a / b, NaN (a failed check, not a crash) when the network was silent."""
    return a / b if b > 0 else math.nan


def checks_for(results, sustain_tol):
    """results: variant -> list of per-seed stats. Seed means are checked. ``sustain_tol``: the
    allowed |rate 200-1000 / rate 0-1000 - 1| (see SUSTAIN_TOL)."""
    checks = []

    def add(name, value, target, ok):
        checks.append(check(name, float(value), target, ok))

    def mean(variant, key):
        return float(np.mean([s[key] for s in results[variant]]))

    add("CUBA E rate 200-1000 ms (Hz)", r := mean("CUBA", "rate_e_hz"), "4.5-6.5", 4.5 <= r <= 6.5)
    add("CUBA I rate 200-1000 ms (Hz)", r := mean("CUBA", "rate_i_hz"), "4.5-6.5", 4.5 <= r <= 6.5)
    add("CUBA mean ISI CV", cv := mean("CUBA", "cv_isi"), "0.4-0.65", 0.4 <= cv <= 0.65)
    for v in ("COBA(a)", "COBA(b)"):
        if v not in results:
            continue
        add(f"{v} E rate 200-1000 ms (Hz)", r := mean(v, "rate_e_hz"), "15-25", 15.0 <= r <= 25.0)
        add(f"{v} I rate 200-1000 ms (Hz)", r := mean(v, "rate_i_hz"), "15-25", 15.0 <= r <= 25.0)
        add(f"{v} mean ISI CV", cv := mean(v, "cv_isi"), "> 1.2", cv > 1.2)
        ratio = _ratio(mean(v, "rate_all_hz"), mean(v, "rate_all_0_hz"))
        add(f"{v} self-sustained: rate 200-1000 / rate 0-1000 ms", ratio, f"1 +/- {sustain_tol:g}",
            abs(ratio - 1.0) <= sustain_tol)
        persist = float(np.min([_ratio(s["rate_last_hz"], s["rate_all_hz"]) for s in results[v]]))  # NaN-propagating
        add(f"{v} persists: rate 900-1000 / rate 200-1000 ms (min over seeds)", persist, ">= 0.5", persist >= 0.5)
    return checks


def make_figure(path, first, results):
    """Rasters (first 400 E and first 100 I neurons) over population rates, one column per variant."""
    cols = list(first)
    fig = Figure(figsize=(5.0 * len(cols), 6.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(cols), sharex=True, gridspec_kw={"height_ratios": [3, 1]}, squeeze=False)
    show_e, show_i = 400, 100
    for k, v in enumerate(cols):
        times, ids = first[v]
        ax_r, ax_p = axes[0, k], axes[1, k]
        e = ids < show_e
        i = (ids >= N_E) & (ids < N_E + show_i)
        raster(times[e], ids[e], ax_r, t_start=0.0, t_stop=T, color="C0", marker_size=1.5, label="E")
        raster(times[i], ids[i] - N_E, ax_r, t_start=0.0, t_stop=T, color="C3", marker_size=1.5,
               id_offset=show_e, label="I")
        ax_r.axhline(show_e - 0.5, color="0.7", linewidth=0.5)
        ax_r.set_ylim(-0.5, show_e + show_i - 0.5)
        ax_r.set_xlabel("")
        ax_r.set_ylabel(f"neuron (E 0-{show_e - 1}, I 0-{show_i - 1})")
        s0 = results[v][0]
        ax_r.set_title(f"{VARIANTS[v][0]}\nseed 0: E {s0['rate_e_hz']:.1f} Hz, I {s0['rate_i_hz']:.1f} Hz, "
                       f"CV {s0['cv_isi']:.2f}", fontsize="medium")
        ex = ids < N_E
        for sel, n, color, label in ((ex, N_E, "C0", "E"), (~ex, N - N_E, "C3", "I")):
            off = 0 if label == "E" else N_E
            t, r = population_rate(times[sel], ids[sel] - off, n, 0.0, T, bin_ms=1.0, smooth_ms=3.0)
            rate_plot(t, r, ax_p, color=color, label=label)
        ax_p.axvspan(0.0, T0, color="0.9", zorder=0)
        ax_p.set_xlim(0.0, T)
        ax_p.legend(loc="upper right", fontsize="small")
    fig.suptitle("Vogels & Abbott 2005 / Brette et al. 2007: CUBA and self-sustained COBA (N = 4000; "
                 "grey: excluded transient)", fontsize="medium")
    fig.savefig(path, dpi=110, format="png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="one seed instead of three")
    parser.add_argument("--seed", type=int, default=0, help="first seed (connectivity, initial state, kick)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = [args.seed] if args.quick else [args.seed + k for k in range(3)]

    results, first, timings = {}, {}, {}
    for v in VARIANTS:
        results[v] = []
        for seed in seeds:
            t1 = time.perf_counter()
            times, ids, tm = run_variant(v, seed)
            st = stats(times, ids)
            st["seed"] = seed
            st["wall_s"] = time.perf_counter() - t1
            st["compile_s"], st["run_s"] = tm["compile_s"], tm["run_s"]
            results[v].append(st)
            if seed == seeds[0]:
                first[v] = (times, ids)
            print(f"  {v:8s} seed {seed}: E {st['rate_e_hz']:6.2f} Hz  I {st['rate_i_hz']:6.2f} Hz  "
                  f"CV {st['cv_isi']:.3f}  rate 0-200 {st['rate_first_hz']:6.2f}  200-1000 {st['rate_all_hz']:6.2f}  "
                  f"last 100 ms {st['rate_last_hz']:6.2f} Hz  ({st['wall_s']:.1f} s, compile {st['compile_s']:.1f} s)",
                  flush=True)
    checks = checks_for(results, SUSTAIN_TOL["quick" if args.quick else "full"])
    make_figure(args.out / f"{NAME}.png", first, results)
    per_seed = {v: [{k: float(x) if isinstance(x, float) else x for k, x in st.items()} for st in rs]
                for v, rs in results.items()}
    print(f"({'quick, ' if args.quick else ''}seeds {seeds})")
    return finish(args.out, NAME, PAPER, checks, t0, quick=bool(args.quick), seeds=seeds, n=N,
                  duration_ms=T, dt_ms=DT, per_seed=per_seed)


if __name__ == "__main__":
    sys.exit(main())
