"""A parameter sweep: the phase diagram of Brunel's (2000) sparse E/I network, with ns.sweep.

    python examples/sweep_brunel.py --out DIR [--quick]

``ns.builders.brunel2000`` at scale 0.1 (1000 excitatory and 250 inhibitory LIF neurons, 100 and
25 inputs each, J = 1 mV, delay 1.5 ms) swept over the relative strength of inhibition ``g``
(the inhibitory weights are -g J) and the external drive nu_ext / nu_thr (the background
Poisson rate), one network per pair, all in one ``vmap``-batched run: 100 ms of warm-up, then
500 ms measured on the device (rate, CV of the inter-spike intervals, synchrony chi of 10-ms
counts, the population spectrum's peak).

Checks (Brunel 2000, Fig. 2: excitation-dominated networks (g < 4) fire regularly near
saturation and synchronously; inhibition-dominated ones (g > 4) fire irregularly at low rates,
the more the stronger the drive):

- g <= 3: CV < 0.2 at every drive; g >= 5: CV > 0.8 at every drive;
- the rate at g = 3 is more than 2.5 times the rate at g = 5, at every drive;
- synchrony is higher at g = 3 than at g = 5, at every drive;
- for g >= 5 the rate grows with the drive.

Measured (full grid, g 2-7 x nu_ext/nu_thr 1-4, 24 networks, 2 cores): 5.4 s in all, compilation
included; rates 316-445 Hz for g <= 3 (CV <= 0.13) and 11-103 Hz for g >= 5 (CV 0.93-1.92).
``--quick`` (the tests): g in {3, 5, 6}, drives {2, 4}. Writes ``DIR/sweep_brunel.png`` and
``DIR/sweep_brunel.json``; exits non-zero when a check fails.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.report import check
from neurosim.report import write as report_write

INH, DRIVE = "projections.inh.weights", "inputs.background.rate_hz"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="directory for the PNG and JSON")
    parser.add_argument("--quick", action="store_true", help="a 3 x 2 grid")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    net = ns.builders.brunel2000("C", scale=0.1, seed=2)
    j = float(np.max(np.asarray(net.params().projections["exc"].weights)))     # the jump J, as a current
    nu_thr = 10.0                                                              # Hz, at every scale
    gs = (3.0, 5.0, 6.0) if args.quick else (2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
    drives = (2.0, 4.0) if args.quick else (1.0, 2.0, 3.0, 4.0)
    res = ns.sweep(net, {INH: [-g * j for g in gs], DRIVE: [d * nu_thr for d in drives]}, 500.0, warmup_ms=100.0,
                   bin_ms=10.0, progress=True)
    sweep_s = time.perf_counter() - t0
    tab = res.table(pandas=False)

    def at(measure, g):
        sel = np.isclose(tab[INH], -g * j)
        return np.asarray(tab[f"neurons.{measure}"][sel])          # ordered by drive

    checks = [
        check("CV at g <= 3 (max over drives)", float(max(at("cv", g).max() for g in gs if g <= 3)), "< 0.2",
              all(at("cv", g).max() < 0.2 for g in gs if g <= 3)),
        check("CV at g >= 5 (min over drives)", float(min(at("cv", g).min() for g in gs if g >= 5)), "> 0.8",
              all(at("cv", g).min() > 0.8 for g in gs if g >= 5)),
        check("rate at g = 3 / rate at g = 5 (min over drives)", float(np.min(at("rate", 3.0) / at("rate", 5.0))),
              "> 2.5", bool(np.all(at("rate", 3.0) > 2.5 * at("rate", 5.0)))),
        check("synchrony at g = 3 minus at g = 5 (min over drives)",
              float(np.min(at("synchrony", 3.0) - at("synchrony", 5.0))), "> 0",
              bool(np.all(at("synchrony", 3.0) > at("synchrony", 5.0)))),
        check("rate grows with the drive at g >= 5 (smallest step, Hz)",
              float(min(np.diff(at("rate", g)).min() for g in gs if g >= 5)), "> 0",
              all(np.all(np.diff(at("rate", g)) > 0) for g in gs if g >= 5)),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(12, 3.6))
    axes = fig.subplots(1, 3)
    for ax, m in zip(axes, ("rate", "cv", "synchrony")):
        xs, ys, grid = res.grid(f"neurons.{m}", DRIVE, INH)
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(xs.size), [f"{x / nu_thr:g}" for x in xs])
        ax.set_yticks(range(ys.size), [f"{-y / j:g}" for y in ys])
        ax.set(xlabel="nu_ext / nu_thr", ylabel="g", title={"rate": "rate (Hz)", "cv": "CV of ISI",
                                                             "synchrony": "synchrony chi"}[m])
        fig.colorbar(im, ax=ax)
    fig.suptitle(f"Brunel (2000) network, {res.n} instances in one ns.sweep ({sweep_s:.1f} s)", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out / "sweep_brunel.png", dpi=110)
    report = {"paper": "N. Brunel (2000), Dynamics of sparsely connected networks of excitatory and inhibitory "
                       "spiking neurons, J. Comput. Neurosci. 8:183 (Fig. 2), swept with ns.sweep",
              "checks": checks, "runtime_s": time.perf_counter() - t0, "quick": bool(args.quick),
              "sweep_s": sweep_s, "g": list(gs), "drive": list(drives),
              "rate_hz": {f"g={g:g}": at("rate", g).tolist() for g in gs},
              "cv": {f"g={g:g}": at("cv", g).tolist() for g in gs}}
    return report_write(args.out, "sweep_brunel", report)


if __name__ == "__main__":
    sys.exit(main())
