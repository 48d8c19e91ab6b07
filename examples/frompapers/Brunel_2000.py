"""Brunel (2000) J. Comput. Neurosci. 8:183, Fig. 8: the four states of a sparse network of
excitatory and inhibitory LIF neurons with delayed voltage jumps.

    tau dV/dt = -V (V relative to rest)    tau = 20 ms, theta = 20 mV, V_r = 10 mV, tau_rp = 2 ms
    spike of j at t  ->  V_i += J_ij at t + D, D = 1.5 ms;  J_E = J = 0.1 mV, J_I = -g J
    N_E = 10000, N_I = 2500, C_E = 1000 / C_I = 250 inputs per neuron, C_ext = 1000 external
    Poisson trains of nu_ext = (nu_ext / nu_thr) x 10 Hz per neuron, jumps of J; dt = 0.1 ms

    A  SR        g = 3    nu_ext/nu_thr = 2     synchronous regular, ~310 Hz
    B  SI fast   g = 6    nu_ext/nu_thr = 4     fast global oscillation (~180 Hz), irregular neurons
    C  AI        g = 5    nu_ext/nu_thr = 2     asynchronous irregular, ~38 Hz
    D  SI slow   g = 4.5  nu_ext/nu_thr = 0.9   slow global oscillation (~20 Hz), low rates

Built by ``neurosim.builders.brunel2000(regime, scale=...)``; the mean-field rate by
``neurosim.builders.meanfield.brunel_rate``. 1.2 s per regime, V(0) = 0 (as Brian2's
``examples/frompapers/Brunel_2000.py``, the reference of papers.md 3.3).

Statistics (papers.md 3.3) over 200-1200 ms on the first 2000 neurons (excitatory): mean rate;
mean ISI CV over the neurons with >= 4 spikes; pop. std/mean = std / mean of their population
spike count in 0.5 ms bins; PSD peak = argmax over f > 2 Hz of the Welch PSD (segments of
1024 bins = 512 ms, 1.95 Hz resolution, the grid of papers.md's values) of that count; chi =
sqrt(var of the population mean of 1-ms counts / mean over neurons of the variance of their own
counts).

The PSD peak of an oscillating state is a noisy statistic in a 1-s window: a Welch estimate
from 2 segments of 512 ms, whose argmax wanders over a spectral hump tens of Hz wide. In
Brian2 itself, state B at 0.2 scale gives 131, 174, 176, 168, 156, 193 Hz for seeds 0-5; in
neurosim at full scale, state D gives 31, 25, 21, 27, 20 Hz in five consecutive seconds of one
run. So the states whose peak is checked run 5.2 s and their peak is taken over 200-5200 ms
(19 segments; e.g. D seed 2: 21.5 Hz, B at 0.2 scale seeds 0-7: 166-180 Hz); every other
statistic uses 200-1200 ms, and the 1-s peaks are in the JSON too.

Full scale (default; ``--connectivity probability``, each pair with p = 0.1 as the reference)
checks: rates A 280-340, B 53-65, C 35-42, D 4.5-7.5 Hz; C within 5 % of the mean-field 37.95
Hz; CV_A < 0.1, CV_B, CV_C, CV_D in 0.3-0.8; B: PSD peak 160-190 Hz, pop. std/mean > 0.6,
neurons at < 1/2 the peak frequency; D: PSD peak 15-30 Hz, pop. std/mean > 1.5;
chi_C < chi_D < chi_B and chi_C < 0.12; the mean-field rate of C = 37.95 +/- 0.1 Hz. (With
``--connectivity indegree`` the full-scale states differ a little from the p = 0.1 reference:
seed 1 gives CV_B 0.86, pop. std/mean of D 1.43 and chi_D < chi_C, outside those bands.)
About 2.5 min on one CPU core.

``--quick``: the 0.2-scale network (N_E = 2000, N_I = 500, C_E = 200, C_I = 50, J = 0.5 mV,
C_ext = 200; fixed in-degree by default, as papers.md recommends) with papers.md's CI checks:
A rate > 250 Hz and CV_A < 0.2; B PSD peak in 150-190 Hz (seeds 0-3: 158-174 Hz); CV_B, CV_C > 0.6; rate_D < rate_C;
plus the mean-field rate of C. About 25 s on 2 CPU cores.

Usage: ``python examples/frompapers/Brunel_2000.py --out DIR [--quick] [--seed S]
[--connectivity indegree|probability]`` writes ``DIR/Brunel_2000.png`` (rasters and population
rates of the four states) and ``DIR/Brunel_2000.json`` and exits non-zero when a check fails.
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
from neurosim.analysis import bin_spikes, mean_isi_cv, mean_rate, synchrony_chi, welch
from neurosim.builders import brunel2000
from neurosim.builders.balanced import BRUNEL_REGIMES, brunel2000_params, brunel2000_regime_params
from neurosim.builders.meanfield import brunel_rate
from neurosim.report import check, finish

PAPER = ("Brunel (2000) J Comput Neurosci 8:183, Fig. 8 (sparse E/I LIF network: SR, SI fast, AI, SI slow); "
         "reference values: Brian2 examples/frompapers/Brunel_2000.py (papers.md 3.3)")
NAME = "Brunel_2000"
REGIMES = ("A", "B", "C", "D")
DT = 0.1          # ms
T = 1200.0        # ms
T0 = 200.0        # ms, start of the analysis window
N_REC = 2000      # neurons analysed (the first 2000, excitatory)
BIN_SYNC = 0.5    # ms, bins of the population count (std/mean, PSD)
NPERSEG = 1024    # Welch segment, bins of 0.5 ms
T_LONG = 5200.0   # ms, the oscillating states whose PSD peak is checked (see the docstring)
LONG = {"quick": ("B",), "full": ("B", "D")}
CHUNK = 4000      # steps per compiled chunk: divides 1200 ms and 5200 ms
MF_C = 37.95      # Hz, papers.md 3.2


def simulate_regime(net, regime, seed, duration):
    """Spikes (times ms, ids) of the whole network in state ``regime`` and the timings. The
    four states differ only in parameters (inhibitory weights, external rate), so all run on
    one network, compiled once (chunks of CHUNK steps divide every duration used here)."""
    params = brunel2000_regime_params(net, regime)
    res = ns.simulate(net, duration, DT, params=params, key=seed, monitors=[ns.Spikes("neurons")],
                      chunk_steps=CHUNK, progress=False)
    times, ids = res.spikes["neurons"]
    return times, ids, res.timings


def population_counts(times, ids, t0, t1):
    """Spikes of the first N_REC neurons per 0.5 ms bin in [t0, t1)."""
    keep = (ids < N_REC) & (times >= t0) & (times < t1)
    n_bins = int(round((t1 - t0) / BIN_SYNC))
    k = np.floor((times[keep] - t0) / BIN_SYNC + 1e-9).astype(np.int64)
    return np.bincount(k[k < n_bins], minlength=n_bins).astype(float)


def psd_peak(counts):
    """argmax over f > 2 Hz of the Welch PSD of a 0.5-ms population count (Hz)."""
    freqs, psd = welch(counts, 1000.0 / BIN_SYNC, min(NPERSEG, counts.size))
    ok = freqs > 2.0
    return float(freqs[ok][np.argmax(psd[ok])])


def regime_stats(times, ids, t1=T):
    """papers.md 3.3 statistics over [T0, T) of the first N_REC neurons (+ the PSD peak over
    [T0, t1) when the run is longer)."""
    rec = ids < N_REC
    win = rec & (times >= T0) & (times < T)
    t, i = times[win], ids[win]
    counts = population_counts(times, ids, T0, T)
    mean = counts.mean()
    out = {
        "rate_hz": mean_rate(t, i, N_REC, T0, T),
        "cv_isi": mean_isi_cv(t, i, N_REC, min_spikes=4),
        "pop_std_over_mean": float(counts.std() / mean) if mean > 0 else math.nan,
        "psd_peak_hz": psd_peak(counts),
        "chi": synchrony_chi(bin_spikes(t, i, N_REC, T0, T, 1.0)),
    }
    if t1 > T:
        out["psd_peak_long_hz"] = psd_peak(population_counts(times, ids, T0, t1))
        out["long_window_ms"] = [T0, t1]
    return out


def checks_for(stats, mf_c, quick):
    checks = []

    def add(name, value, target, ok):
        value = float(value)
        checks.append(check(name, value, target, bool(ok) and math.isfinite(value)))

    add("mean-field rate of C (Hz)", mf_c, "37.95 +/- 0.1", abs(mf_c - MF_C) <= 0.1)
    A, B, C, D = (stats[r] for r in REGIMES)
    if quick:
        add("A rate (Hz)", A["rate_hz"], "> 250", A["rate_hz"] > 250.0)
        add("A ISI CV", A["cv_isi"], "< 0.2", A["cv_isi"] < 0.2)
        add("B PSD peak, 200-5200 ms (Hz)", B["psd_peak_long_hz"], "150-190", 150.0 <= B["psd_peak_long_hz"] <= 190.0)
        add("B ISI CV", B["cv_isi"], "> 0.6", B["cv_isi"] > 0.6)
        add("C ISI CV", C["cv_isi"], "> 0.6", C["cv_isi"] > 0.6)
        add("rate D / rate C", D["rate_hz"] / C["rate_hz"] if C["rate_hz"] > 0 else math.nan, "< 1",
            D["rate_hz"] < C["rate_hz"])
        return checks
    for r, (lo, hi) in zip(REGIMES, ((280.0, 340.0), (53.0, 65.0), (35.0, 42.0), (4.5, 7.5))):
        add(f"{r} rate (Hz)", stats[r]["rate_hz"], f"{lo:g}-{hi:g}", lo <= stats[r]["rate_hz"] <= hi)
    add("C rate within 5 % of mean field (Hz)", C["rate_hz"], f"{0.95 * MF_C:.2f}-{1.05 * MF_C:.2f}",
        abs(C["rate_hz"] / MF_C - 1.0) <= 0.05)
    add("A ISI CV", A["cv_isi"], "< 0.1", A["cv_isi"] < 0.1)
    for r in "BCD":
        add(f"{r} ISI CV", stats[r]["cv_isi"], "0.3-0.8", 0.3 <= stats[r]["cv_isi"] <= 0.8)
    add("B PSD peak, 200-5200 ms (Hz)", B["psd_peak_long_hz"], "160-190", 160.0 <= B["psd_peak_long_hz"] <= 190.0)
    add("B pop. std/mean (0.5 ms)", B["pop_std_over_mean"], "> 0.6", B["pop_std_over_mean"] > 0.6)
    add("B rate / PSD peak", B["rate_hz"] / B["psd_peak_hz"], "< 0.5", B["rate_hz"] < 0.5 * B["psd_peak_hz"])
    add("D PSD peak, 200-5200 ms (Hz)", D["psd_peak_long_hz"], "15-30", 15.0 <= D["psd_peak_long_hz"] <= 30.0)
    add("D pop. std/mean (0.5 ms)", D["pop_std_over_mean"], "> 1.5", D["pop_std_over_mean"] > 1.5)
    add("chi C", C["chi"], "< 0.12", C["chi"] < 0.12)
    add("chi D - chi C", D["chi"] - C["chi"], "> 0", D["chi"] > C["chi"])
    add("chi B - chi D", B["chi"] - D["chi"], "> 0", B["chi"] > D["chi"])
    return checks


SHOW_MS = {"A": (1150.0, 1200.0), "B": (1100.0, 1200.0), "C": (1100.0, 1200.0), "D": (1000.0, 1200.0)}


def make_figure(path, spikes, stats, scale, n_show=100):
    """Rasters (first ``n_show`` neurons) over population rates (all neurons, 0.5 ms bins), one
    column per state, each over a window ending at 1200 ms (``SHOW_MS``: 50 ms of A to 200 ms of D)."""
    fig = Figure(figsize=(16.0, 6.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 4, sharex="col", gridspec_kw={"height_ratios": [2, 1]})
    for k, r in enumerate(REGIMES):
        times, ids, n = spikes[r]
        t_show = SHOW_MS[r]
        ax_r, ax_p = axes[0, k], axes[1, k]
        sel = (ids < n_show) & (times >= t_show[0]) & (times < t_show[1])
        ax_r.plot(times[sel], ids[sel], ".", color="k", markersize=1.5)
        ax_r.set_ylim(-0.5, n_show - 0.5)
        s = stats[r]
        g, ratio, desc = BRUNEL_REGIMES[r]
        ax_r.set_title(f"{r}: {desc}\ng = {g:g}, nu_ext/nu_thr = {ratio:g}; {s['rate_hz']:.1f} Hz, CV {s['cv_isi']:.2f}, "
                       f"peak {s.get('psd_peak_long_hz', s['psd_peak_hz']):.0f} Hz", fontsize="small")
        if k == 0:
            ax_r.set_ylabel(f"neuron (first {n_show})")
            ax_p.set_ylabel("population rate (Hz)")
        keep = (times >= t_show[0]) & (times < t_show[1])
        n_bins = int(round((t_show[1] - t_show[0]) / BIN_SYNC))
        kk = np.floor((times[keep] - t_show[0]) / BIN_SYNC + 1e-9).astype(np.int64)
        rate = np.bincount(kk[kk < n_bins], minlength=n_bins) / (n * BIN_SYNC * 1e-3)
        ax_p.plot(t_show[0] + (np.arange(n_bins) + 0.5) * BIN_SYNC, rate, color="C0", linewidth=0.8)
        ax_p.set_xlabel("time (ms)")
        ax_p.set_xlim(*t_show)
    fig.suptitle(f"Brunel 2000, Fig. 8: the four states (scale {scale:g}: {brunel2000_params('C', scale=scale).n_e} E + "
                 f"{brunel2000_params('C', scale=scale).n_i} I neurons)", fontsize="medium")
    fig.savefig(path, dpi=110, format="png")


def _json_value(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="the 0.2-scale network and its checks")
    parser.add_argument("--seed", type=int, default=1, help="seed of the connectivity and the external input")
    parser.add_argument("--connectivity", choices=["indegree", "probability"], default=None,
                        help="default: probability (full scale, as the reference), indegree (--quick)")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)  # the figure is drawn before finish() writes the JSON
    scale = 0.2 if args.quick else 1.0
    connectivity = args.connectivity or ("indegree" if args.quick else "probability")

    mf_c = brunel_rate(5.0, 2.0)
    t0 = time.perf_counter()
    net = brunel2000("C", scale=scale, connectivity=connectivity, seed=args.seed, dt=DT)
    build_s = time.perf_counter() - t0
    n = net.population("neurons").n
    print(f"  network: {n} neurons, {sum(p.conn.nnz for p in net.projections)} synapses, {connectivity} "
          f"(built in {build_s:.1f} s)", flush=True)
    stats, spikes, runs = {}, {}, {}
    for r in REGIMES:
        t1 = T_LONG if r in LONG["quick" if args.quick else "full"] else T
        t0 = time.perf_counter()
        times, ids, tm = simulate_regime(net, r, args.seed, t1)
        stats[r] = regime_stats(times, ids, t1)
        spikes[r] = (times, ids, n)
        runs[r] = {"wall_s": time.perf_counter() - t0, "duration_ms": t1, **tm}
        s = stats[r]
        print(f"  {r}: rate {s['rate_hz']:7.2f} Hz  CV {s['cv_isi']:.3f}  pop std/mean {s['pop_std_over_mean']:.3f}  "
              f"PSD peak {s['psd_peak_hz']:6.1f} Hz" + (f" (200-{t1:.0f} ms: {s['psd_peak_long_hz']:.1f} Hz)" if "psd_peak_long_hz" in s else "")
              + f"  chi {s['chi']:.3f}   ({runs[r]['wall_s']:.1f} s: compile {tm['compile_s']:.1f} s, run {tm['run_s']:.1f} s)",
              flush=True)
    bp_c = brunel2000_params("C", scale=scale)
    mf_scaled = brunel_rate(5.0, 2.0, J=bp_c.j, C_E=bp_c.c_e)
    checks = checks_for(stats, mf_c, args.quick)
    make_figure(args.out / f"{NAME}.png", spikes, stats, scale)
    print(f"  ({'quick, ' if args.quick else ''}scale {scale:g}, {connectivity}, seed {args.seed})")
    return finish(
        args.out, NAME, PAPER, checks, t_start, quick=bool(args.quick), scale=scale, seed=args.seed,
        connectivity=connectivity, dt_ms=DT, duration_ms=T, n_recorded=N_REC, n_neurons=n, build_s=build_s,
        meanfield_hz={"C": mf_c, f"C at scale {scale:g}": mf_scaled},
        per_regime={r: {k: _json_value(v) for k, v in {**stats[r], **runs[r]}.items()} for r in REGIMES},
    )


if __name__ == "__main__":
    sys.exit(main())
