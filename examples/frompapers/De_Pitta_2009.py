"""De Pitta et al. (2009): amplitude- and frequency-modulated astrocyte calcium oscillations as IP3 varies.

    python examples/frompapers/De_Pitta_2009.py --out DIR [--quick]

Two populations of astrocytes (``neurosim.astrocytes.Astrocyte``, IP3 clamped, one astrocyte per
IP3 value, all in one simulation): the Li-Rinzel (1994) parameters, whose calcium oscillates for
IP3 between about 0.355 and 0.64 uM with an amplitude that changes with IP3 (AM encoding) and a
period near 11-13 s, and the ChI model with a high-affinity SERCA pump (K_P = 0.05 uM, the
astrocyte of Stimberg et al.'s tripartite-synapse example), which oscillates for IP3 between
about 0.54 and 1.12 uM in spike-like calcium events of ~1 uM whose frequency grows with IP3 (FM
encoding). Classic Runge-Kutta at dt = 10 ms; the first half of the run is discarded.

Reference values (docs/papers.md section 11: scipy's solve_ivp at rtol 1e-8 on the same
equations): Li-Rinzel at IP3 = 0.5 uM: period 11.5 +/- 0.3 s, peak 0.445 +/- 0.02 uM; stationary
at 0.3 and 0.8 uM with C = 0.123 and 0.391 uM; window 0.355-0.64 uM (+/- 0.01); FM: window
0.54-1.12 uM (+/- 0.02), periods 38.3 / 23.2 / 18.7 / 17.3 s at 0.55 / 0.70 / 0.90 / 1.10 uM
(+/- 3 %), frequency increasing with IP3 over 0.54-1.05 uM, peaks within 0.95-1.2 uM.

Near the AM window's upper edge the oscillation decays slowly: at IP3 = 0.64 uM the range of C
falls from 0.22 to 0.12 uM between 200 and 900 s, so with the sustained-oscillation criterion of
``measure`` the window ends at 0.63-0.64 uM (the reference's 0.64 was read from 300-600 s).

``--quick`` (the tests): 400 s instead of 900 s and an IP3 grid of 0.01 uM around the window
edges only.

Writes ``DIR/De_Pitta_2009.png`` (calcium traces, the min/max of C against IP3, frequency
against IP3) and ``DIR/De_Pitta_2009.json``; exits non-zero when a check fails.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.astrocytes import ASTROCYTE_PRESETS, Astrocyte
from neurosim.report import check
from neurosim.report import write as report_write

PAPER = ('De Pitta, Goldberg, Volman, Berry & Ben-Jacob (2009) "Glutamate regulation of calcium and IP3 '
         'oscillating and pulsating dynamics in astrocytes", J Biol Phys 35:383; Li & Rinzel (1994) J Theor Biol 166:461')
NAME = "De_Pitta_2009"
DT = 10.0                  # ms
SAMPLE_EVERY = 1           # steps: C every 10 ms
OSC_AMPLITUDE = 0.05       # uM: max - min of C above this over the second half = oscillating
MODELS = {"AM (Li-Rinzel 1994)": "li_rinzel_1994", "FM (ChI, K_P = 0.05 uM)": "fm"}
FM_PERIODS = {0.55: 38.3, 0.70: 23.2, 0.90: 18.7, 1.10: 17.3}   # s
# The FM period falls with IP3 to a minimum of ~17.3 s near 1.09 uM, then rises by ~1 % before
# the oscillation stops at ~1.13 uM (solve_ivp shows the same): "increasing" is checked below it.
FM_RISING_UP_TO = 1.05


def ip3_grid(quick: bool) -> dict:
    """IP3 values per model: the whole range (full run), or the window edges and the checked
    points (quick)."""
    if not quick:
        full = np.round(np.arange(0.20, 1.301, 0.005), 3)
        return {"li_rinzel_1994": full, "fm": full}
    lr = np.r_[0.30, np.arange(0.34, 0.371, 0.01), 0.40, 0.50, 0.60, np.arange(0.62, 0.661, 0.01), 0.80]
    fm = np.r_[np.arange(0.50, 0.571, 0.01), 0.70, 0.80, 0.90, 1.00, 1.05, np.arange(1.08, 1.151, 0.01)]
    return {"li_rinzel_1994": np.round(lr, 3), "fm": np.round(np.union1d(fm, list(FM_PERIODS)), 3)}


def simulate(grid: dict, duration_ms: float):
    pops = [ns.Population(key, len(ip3), Astrocyte(ip3="clamped", integrator="rk4"),
                          ASTROCYTE_PRESETS[key]._replace(ip3=np.asarray(ip3, np.float32)))
            for key, ip3 in grid.items()]
    net = ns.Network(pops)
    monitors = [ns.Trace(key, "c", every=SAMPLE_EVERY) for key in grid]
    res = ns.simulate(net, duration_ms, DT, monitors=monitors, key=0)
    return {key: res.traces[f"{key}.c"][:2] for key in grid}, res.timings


def measure(t_ms, c):
    """Per astrocyte over the second half: (period s or nan, min C, max C). It oscillates when
    C's range over the last quarter of the run exceeds OSC_AMPLITUDE and is at least 90 % of its
    range over the third quarter (near the window's edges the oscillation decays slowly)."""
    t = np.asarray(t_ms) * 1e-3
    keep = t >= t[-1] / 2
    t, c = t[keep], np.asarray(c)[keep]
    late = t >= 0.75 * t[-1]
    out = []
    for x in c.T:
        lo, hi = float(x.min()), float(x.max())
        period = float("nan")
        amp_late, amp_early = np.ptp(x[late]), np.ptp(x[~late])
        if amp_late > OSC_AMPLITUDE and amp_late >= 0.9 * amp_early:
            mid = 0.5 * (lo + hi)
            up = np.nonzero((x[:-1] < mid) & (x[1:] >= mid))[0]
            if up.size >= 3:
                period = float(np.diff(t[up]).mean())
        out.append((period, lo, hi))
    return np.array(out)


def window(ip3, stats):
    osc = np.isfinite(stats[:, 0])
    return (float(ip3[osc].min()), float(ip3[osc].max())) if osc.any() else (float("nan"), float("nan"))


def at(ip3, stats, value):
    return stats[int(np.argmin(np.abs(ip3 - value)))]


def checks_of(grid, stats):
    lr, fm = stats["li_rinzel_1994"], stats["fm"]
    ip_lr, ip_fm = grid["li_rinzel_1994"], grid["fm"]
    checks = []
    period, _, peak = at(ip_lr, lr, 0.5)
    checks.append(check("AM: period at IP3 = 0.5 uM (s)", period, "11.5 +/- 0.3", abs(period - 11.5) <= 0.3))
    checks.append(check("AM: peak C at IP3 = 0.5 uM (uM)", peak, "0.445 +/- 0.02", abs(peak - 0.445) <= 0.02))
    for value, target in ((0.3, 0.123), (0.8, 0.391)):
        period, lo, hi = at(ip_lr, lr, value)
        ok = not np.isfinite(period) and abs(0.5 * (lo + hi) - target) <= 0.005
        checks.append(check(f"AM: stationary C at IP3 = {value} uM (uM)", 0.5 * (lo + hi),
                            f"{target} +/- 0.005, not oscillating", ok))
    lo, hi = window(ip_lr, lr)
    checks.append(check("AM: oscillation window (uM)", [lo, hi], "0.355-0.64 +/- 0.01",
                        abs(lo - 0.355) <= 0.01 + 1e-9 and abs(hi - 0.64) <= 0.01 + 1e-9))
    peaks = lr[np.isfinite(lr[:, 0]), 2]
    checks.append(check("AM: peak C range across the window (uM)", [float(peaks.min()), float(peaks.max())],
                        "varies by > 0.15 uM (amplitude encodes IP3)", peaks.max() - peaks.min() > 0.15))
    lo, hi = window(ip_fm, fm)
    checks.append(check("FM: oscillation window (uM)", [lo, hi], "0.54-1.12 +/- 0.02",
                        abs(lo - 0.54) <= 0.02 + 1e-9 and abs(hi - 1.12) <= 0.02 + 1e-9))
    for value, target in FM_PERIODS.items():
        period = at(ip_fm, fm, value)[0]
        checks.append(check(f"FM: period at IP3 = {value} uM (s)", period, f"{target} +/- 3 %",
                            abs(period - target) <= 0.03 * target))
    band = (ip_fm >= 0.54 - 1e-9) & (ip_fm <= FM_RISING_UP_TO + 1e-9) & np.isfinite(fm[:, 0])
    freq = 1.0 / fm[band, 0]
    checks.append(check(f"FM: frequency increases with IP3 over 0.54-{FM_RISING_UP_TO} uM", bool(np.all(np.diff(freq) > 0)),
                        "strictly increasing", np.all(np.diff(freq) > 0)))
    peaks = fm[np.isfinite(fm[:, 0]), 2]
    checks.append(check("FM: peak C across the window (uM)", [float(peaks.min()), float(peaks.max())], "0.95-1.2",
                        peaks.min() >= 0.95 and peaks.max() <= 1.2))
    return checks


def make_figure(path, grid, traces, stats):
    fig = Figure(figsize=(12, 7.5))
    axes = fig.subplots(2, 2)
    for col, (label, key) in enumerate(MODELS.items()):
        ax = axes[0, col]
        t, c = traces[key]
        t = np.asarray(t) * 1e-3
        show = t >= t[-1] - 120.0
        for value, color in zip((0.4, 0.5, 0.6) if key == "li_rinzel_1994" else (0.55, 0.7, 1.1), ("C0", "C1", "C2")):
            k = int(np.argmin(np.abs(grid[key] - value)))
            ax.plot(t[show], np.asarray(c)[show, k], color, lw=1, label=f"IP3 = {grid[key][k]:.2f} uM")
        ax.set(xlabel="time (s)", ylabel="C (uM)", title=label)
        ax.legend(fontsize=8, loc="upper right")
    ax = axes[1, 0]
    for (label, key), color in zip(MODELS.items(), ("C0", "C3")):
        s = stats[key]
        ax.plot(grid[key], s[:, 1], color, marker=".", ms=3, lw=0.8, label=f"{label}: min")
        ax.plot(grid[key], s[:, 2], color, marker=".", ms=3, lw=0.8, ls="--", label="max")
    ax.set(xlabel="IP3 (uM)", ylabel="C over the second half (uM)", title="amplitude")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    for (label, key), color in zip(MODELS.items(), ("C0", "C3")):
        s = stats[key]
        ax.plot(grid[key], 1e3 / s[:, 0], color, marker=".", ms=3, lw=0.8, label=label)
    ax.plot(list(FM_PERIODS), [1e3 / p for p in FM_PERIODS.values()], "kx", label="reference (FM)")
    ax.set(xlabel="IP3 (uM)", ylabel="frequency (mHz)", title="frequency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="400 s and the window edges only")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    grid = ip3_grid(args.quick)
    duration = 400e3 if args.quick else 900e3
    traces, timings = simulate(grid, duration)
    stats = {key: measure(*traces[key]) for key in grid}
    checks = checks_of(grid, stats)
    make_figure(args.out / f"{NAME}.png", grid, traces, stats)
    report = {"paper": PAPER, "checks": checks, "runtime_s": time.perf_counter() - t0, "quick": bool(args.quick),
              "duration_s": duration * 1e-3, "dt_ms": DT, "simulate_timings": timings,
              "period_s": {key: dict(zip(map(float, grid[key]), map(float, stats[key][:, 0]))) for key in grid}}
    return report_write(args.out, NAME, report)


if __name__ == "__main__":
    sys.exit(main())
