"""Potjans & Diesmann (2014) Cereb. Cortex 24:785: the cortical microcircuit, eight populations of
LIF neurons in four layers with per-synapse delays, downscaled by the rule of van Albada, Helias
& Diesmann (2015) (``neurosim.builders.microcircuit``: population sizes x ``scale``, in-degrees x
``k_scale``, weights / sqrt(k_scale), a DC current restoring the mean input).

Statistics over t in [T0, T) of every population: the mean rate (Hz), the irregularity (mean CV
of the interspike intervals of neurons with at least 3 spikes) and the synchrony (variance over
mean of the population's spike counts in 3 ms bins, as the paper measures it).

Checks. Full run (scale 0.1, k_scale 0.1, 2 s): each population's rate within a factor 1.6 of
the full-scale model's rate (NEST's reference run, docs/papers.md: 0.94, 3.0, 4.4, 5.9, 7.7, 8.7,
1.1, 7.9 Hz for L2/3E ... L6I) — the downscaling keeps the mean input, not the fluctuations, so
the low-rate populations L2/3E and L6E move most; the layer pattern of the paper's Fig. 6 (L5E
faster than L2/3E and L6E; every inhibitory population faster than its excitatory one); the
activity asynchronous and irregular (mean CV 0.6-1.2, synchrony below 10 in every population).
``--quick`` (scale 0.02, 0.6 s, for the tests): every population fires (0 < rate < 30 Hz) and the
layer pattern holds. Not checked here: NEST's own run at the same scale side by side (NEST is not
installable on this machine); see docs/papers.md.

Usage: ``python examples/frompapers/Potjans_Diesmann_2014.py --out DIR [--quick] [--seed S]``
writes ``DIR/Potjans_Diesmann_2014.png`` and ``.json`` and exits non-zero when a check fails.
"""
from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.analysis import bin_spikes, mean_isi_cv, mean_rate
from neurosim.plot import raster
from neurosim.report import check, finish

M = importlib.import_module("neurosim.builders.microcircuit")
PAPER = "Potjans & Diesmann (2014) Cereb Cortex 24:785; van Albada, Helias & Diesmann (2015) PLoS Comput Biol 11:e1004490"
NAME = "Potjans_Diesmann_2014"
DT, T0 = 0.1, 200.0               # ms; the statistics start after the initial transient
RUNS = {"full": dict(scale=0.1, duration=2000.0), "quick": dict(scale=0.02, duration=600.0)}
RATE_FACTOR = 1.6                 # full run: rate / full-scale rate in [1 / 1.6, 1.6]


def statistics(res, net, t_stop):
    out = {}
    for p in net.populations:
        t, i = res.spikes[p.name]
        late = t >= T0
        counts = bin_spikes(t[late], np.zeros(int(late.sum()), np.int64), 1, T0, t_stop, 3.0).ravel()
        out[p.name] = {"rate_hz": mean_rate(t, i, p.n, T0, t_stop),
                       "cv_isi": mean_isi_cv(t[late], i[late], p.n, min_spikes=3),
                       "synchrony": float(counts.var() / counts.mean()) if counts.mean() > 0 else float("nan")}
    return out


def checks_for(stats, mode):
    rates = {p: s["rate_hz"] for p, s in stats.items()}
    out = []
    if mode == "full":
        for p, ref in zip(M.POPULATIONS, M.FULL_SCALE_RATES_HZ):
            ratio = rates[p] / ref
            out.append(check(f"{p} rate / full-scale rate", ratio, f"{1 / RATE_FACTOR:.2f}-{RATE_FACTOR}",
                             1 / RATE_FACTOR <= ratio <= RATE_FACTOR))
        cvs = [s["cv_isi"] for s in stats.values()]
        out.append(check("mean ISI CV over populations", float(np.nanmean(cvs)), "0.6-1.2", 0.6 <= np.nanmean(cvs) <= 1.2))
        worst = max(s["synchrony"] for s in stats.values())
        out.append(check("synchrony (3 ms count variance / mean), most synchronous population", worst, "< 10",
                         worst < 10))
    else:
        out.append(check("every population fires (min rate, Hz)", min(rates.values()), "> 0",
                         min(rates.values()) > 0))
        out.append(check("max population rate (Hz)", max(rates.values()), "< 30", max(rates.values()) < 30))
    out.append(check("L5E rate / max(L2/3E, L6E)", rates["L5E"] / max(rates["L23E"], rates["L6E"], 1e-9), "> 1",
                     rates["L5E"] > max(rates["L23E"], rates["L6E"])))
    pairs = [("L23I", "L23E"), ("L4I", "L4E"), ("L5I", "L5E"), ("L6I", "L6E")]
    low = min(rates[i] / max(rates[e], 1e-9) for i, e in pairs)
    out.append(check("inhibitory / excitatory rate, smallest over the four layers", low, "> 1", low > 1))
    return out


def make_figure(path, res, net, stats, t_stop, scale):
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax_r, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    offset, ticks, labels = 0, [], []
    t_show = (max(T0, t_stop - 200.0), t_stop)
    for k, p in enumerate(net.populations):
        t, i = res.spikes[p.name]
        show = min(p.n, max(8, p.n // 10))               # a tenth of each population, as the paper's raster
        sel = (i < show) & (t >= t_show[0])
        raster(t[sel], i[sel], ax_r, t_start=t_show[0], t_stop=t_show[1], color="C0" if k % 2 == 0 else "C3",
               marker_size=2.5, id_offset=offset)
        ticks.append(offset + show / 2)
        labels.append(p.name)
        offset += show
    ax_r.set_yticks(ticks, labels)
    ax_r.invert_yaxis()
    ax_r.set_ylabel("population (a tenth of its neurons each)")
    ax_r.set_xlabel("time (ms)")
    ax_r.set_title(f"spikes, last {t_show[1] - t_show[0]:.0f} ms (scale {scale:g})", fontsize="medium")
    y = np.arange(8)
    ax_b.barh(y - 0.2, [stats[p]["rate_hz"] for p in M.POPULATIONS], height=0.4, color="C0", label="neurosim")
    ax_b.barh(y + 0.2, M.FULL_SCALE_RATES_HZ, height=0.4, color="0.6", label="full-scale reference")
    ax_b.set_yticks(y, M.POPULATIONS)
    ax_b.invert_yaxis()
    ax_b.set_xlabel("mean rate (Hz)")
    ax_b.legend(fontsize="small")
    ax_b.set_title("rates per population", fontsize="medium")
    fig.suptitle("Potjans & Diesmann 2014 cortical microcircuit (downscaled, van Albada et al. 2015)", fontsize="medium")
    fig.savefig(path, dpi=110, format="png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="scale 0.02 for 0.6 s instead of scale 0.1 for 2 s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    mode = "quick" if args.quick else "full"
    run = RUNS[mode]
    net = M.microcircuit(run["scale"], seed=args.seed, dt=DT)
    res = ns.simulate(net, run["duration"], DT, key=args.seed, monitors=[ns.Spikes(p) for p in M.POPULATIONS],
                      progress=False)
    stats = statistics(res, net, run["duration"])
    for p, s in stats.items():
        print(f"{p:5s} rate {s['rate_hz']:6.2f} Hz  CV {s['cv_isi']:.2f}  synchrony {s['synchrony']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    make_figure(args.out / f"{NAME}.png", res, net, stats, run["duration"], run["scale"])
    return finish(args.out, NAME, PAPER, checks_for(stats, mode), t0, mode=mode, scale=run["scale"],
                  statistics=stats, neurons=sum(p.n for p in net.populations),
                  synapses=sum(pr.conn.nnz for pr in net.projections), timings=res.timings)


if __name__ == "__main__":
    raise SystemExit(main())
