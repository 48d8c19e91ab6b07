"""Potjans & Diesmann (2014) Cereb. Cortex 24:785: the cortical microcircuit, eight populations of
LIF neurons in four layers with per-synapse delays, downscaled by the rule of van Albada, Helias
& Diesmann (2015) (``neurosim.builders.microcircuit``: population sizes x ``scale``, in-degrees x
``k_scale``, weights / sqrt(k_scale), a DC current restoring the mean input).

Statistics over t in [T0, T) of every population: the mean rate (Hz), the irregularity (mean CV
of the interspike intervals of neurons with at least 3 spikes) and the synchrony (variance over
mean of the population's spike counts in 3 ms bins, as the paper measures it).

Reference: NEST 3.10's run of the same downscaled network (``benchmarks/microcircuit.py --tools
neurosim,nest``: the network this example builds, seed 1, written out and built in NEST synapse
by synapse in NEST's terms (weights for its exact integration, delays counted from the end of a
spike's step), ``iaf_psc_exp``, 2 s, the same statistics), kept below and in docs/papers.md with
the full-scale model's rates beside them.

Checks. Full run (scale 0.1, 2 s): each population's rate within [0.8, 1.25] of NEST's; the mean
ISI CV within 0.1 of NEST's; each population's synchrony within a factor 1.6 of NEST's and
below 10; the layer pattern of the paper's Fig. 6 (L5E faster than L2/3E and L6E; every
inhibitory population faster than its excitatory one). ``--quick`` (scale 0.02, 0.6 s, for the
tests): the five populations NEST finds above 0.5 Hz at that scale within a factor 2 of NEST's
rates (NEST's over 2 s: the quick run's 0.6 s gives rougher rates, hence the wider band) (L2/3E, L2/3I and L6E are nearly silent at scale 0.02, in NEST as here), none above 30 Hz,
and the layer pattern of L5 and L6. The downscaled network does not keep the full-scale rates
of L2/3E and L6E (0.42 and 0.63 Hz in NEST at scale 0.1 against 0.94 and 1.10 at full scale):
van Albada's rule restores the mean input, not its fluctuations.

Usage: ``python examples/frompapers/Potjans_Diesmann_2014.py --out DIR [--quick] [--seed S]``
writes ``DIR/Potjans_Diesmann_2014.png`` and ``.json`` and exits non-zero when a check fails
(the NEST reference is for seed 1).
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
# NEST 3.10 on the same network (seed 1), 2 s, statistics after T0: (rate Hz, mean ISI CV, synchrony)
NEST = {
    0.1: {"L23E": (0.415, 0.527, 5.42), "L23I": (1.857, 0.577, 2.50), "L4E": (3.993, 0.678, 5.97),
          "L4I": (4.667, 0.693, 2.18), "L5E": (5.521, 0.681, 5.56), "L5I": (7.096, 0.700, 1.10),
          "L6E": (0.629, 0.566, 1.59), "L6I": (6.616, 0.687, 0.99)},
    0.02: {"L23E": (0.005, None, 0.99), "L23I": (0.085, None, 0.97), "L4E": (1.182, 0.531, 1.36),
           "L4I": (0.874, 0.458, 1.07), "L5E": (1.271, 0.614, 1.41), "L5I": (3.122, 0.685, 1.07),
           "L6E": (0.073, None, 0.94), "L6I": (3.870, 0.679, 0.98)},
}
RATE_RANGE = (0.8, 1.25)          # full run: rate / NEST's rate
SYNCHRONY_FACTOR = 1.6            # full run: synchrony / NEST's within [1 / 1.6, 1.6]


def statistics(spikes, sizes, t_stop):
    """Population name -> its rate, ISI CV and synchrony over [T0, t_stop) (module docstring), from
    ``spikes`` (name -> (times ms, ids)) and ``sizes`` (name -> neurons). benchmarks/microcircuit.py
    measures NEST's run with it too."""
    out = {}
    for name, n in sizes.items():
        t, i = spikes[name]
        late = t >= T0
        counts = bin_spikes(t[late], np.zeros(int(late.sum()), np.int64), 1, T0, t_stop, 3.0).ravel()
        out[name] = {"rate_hz": mean_rate(t, i, n, T0, t_stop),
                     "cv_isi": mean_isi_cv(t[late], i[late], n, min_spikes=3),
                     "synchrony": float(counts.var() / counts.mean()) if counts.mean() > 0 else float("nan")}
    return out


def furthest_from_one(ratios) -> float:
    """The ratio furthest from 1 either way; NaN (a failed check) if any is not a positive number."""
    ratios = [float(r) for r in ratios]
    if not all(np.isfinite(r) and r > 0 for r in ratios):
        return float("nan")
    return max(ratios, key=lambda r: max(r, 1 / r))


def checks_for(stats, mode, scale):
    rates = {p: s["rate_hz"] for p, s in stats.items()}
    nest = NEST[scale]
    out = []
    if mode == "full":
        lo, hi = RATE_RANGE
        for p in M.POPULATIONS:
            ratio = rates[p] / nest[p][0]
            out.append(check(f"{p} rate / NEST's rate (same network)", ratio, f"{lo}-{hi}", lo <= ratio <= hi))
        both = [p for p in M.POPULATIONS if np.isfinite(stats[p]["cv_isi"]) and nest[p][1] is not None]
        cv = float(np.mean([stats[p]["cv_isi"] for p in both])) if both else float("nan")
        cv_nest = float(np.mean([nest[p][1] for p in both])) if both else float("nan")
        out.append(check(f"mean ISI CV over {len(both)} populations - NEST's", cv - cv_nest, "within +-0.1",
                         abs(cv - cv_nest) <= 0.1))
        worst = furthest_from_one(stats[p]["synchrony"] / nest[p][2] for p in M.POPULATIONS)
        out.append(check("synchrony / NEST's, furthest from 1 over populations", worst,
                         f"{1 / SYNCHRONY_FACTOR:.2f}-{SYNCHRONY_FACTOR}", 1 / SYNCHRONY_FACTOR <= worst <= SYNCHRONY_FACTOR))
        top = float(np.nanmax([s["synchrony"] for s in stats.values()]))
        out.append(check("synchrony (3 ms count variance / mean), most synchronous population", top, "< 10", top < 10))
        pairs = [("L23I", "L23E"), ("L4I", "L4E"), ("L5I", "L5E"), ("L6I", "L6E")]
        l5 = rates["L5E"] / max(rates["L23E"], rates["L6E"], 1e-9)
        out.append(check("L5E rate / max(L2/3E, L6E)", l5, "> 1", l5 > 1))
    else:
        active = [p for p in M.POPULATIONS if nest[p][0] > 0.5]
        worst = furthest_from_one(rates[p] / nest[p][0] for p in active)
        out.append(check(f"rate / NEST's rate, furthest from 1 over {', '.join(active)}", worst, "0.5-2",
                         0.5 <= worst <= 2))
        out.append(check("max population rate (Hz)", max(rates.values()), "< 30", max(rates.values()) < 30))
        pairs = [("L5I", "L5E"), ("L6I", "L6E")]
        l5 = rates["L5E"] / max(rates["L6E"], 1e-9)
        out.append(check("L5E rate / L6E rate", l5, "> 1", l5 > 1))
    low = min(rates[i] / max(rates[e], 1e-9) for i, e in pairs)
    out.append(check(f"inhibitory / excitatory rate, smallest over {', '.join(i[:-1] for i, _ in pairs)}", low, "> 1",
                     low > 1))
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
    ax_r.set_ylabel("population (a tenth of its neurons, at least 8)")
    ax_r.set_xlabel("time (ms)")
    ax_r.set_title(f"spikes, last {t_show[1] - t_show[0]:.0f} ms (scale {scale:g})", fontsize="medium")
    y = np.arange(8)
    ax_b.barh(y - 0.27, [stats[p]["rate_hz"] for p in M.POPULATIONS], height=0.27, color="C0", label="neurosim")
    ax_b.barh(y, [NEST[scale][p][0] for p in M.POPULATIONS], height=0.27, color="C1",
              label="NEST 3.10, same network")
    ax_b.barh(y + 0.27, M.FULL_SCALE_RATES_HZ, height=0.27, color="0.6", label="full scale (NEST)")
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
    stats = statistics(res.spikes, {p.name: p.n for p in net.populations}, run["duration"])
    for p, s in stats.items():
        print(f"{p:5s} rate {s['rate_hz']:6.2f} Hz  CV {s['cv_isi']:.2f}  synchrony {s['synchrony']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    make_figure(args.out / f"{NAME}.png", res, net, stats, run["duration"], run["scale"])
    return finish(args.out, NAME, PAPER, checks_for(stats, mode, run["scale"]), t0, mode=mode, scale=run["scale"],
                  statistics=stats, neurons=sum(p.n for p in net.populations),
                  synapses=sum(pr.conn.nnz for pr in net.projections), timings=res.timings)


if __name__ == "__main__":
    raise SystemExit(main())
