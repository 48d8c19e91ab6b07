"""Gao, Peterson & Voytek (2017) NeuroImage 158:70: the aperiodic ("1/f") exponent of the LFP
power spectrum tracks the ratio of excitation to inhibition, because inhibitory synaptic
currents decay more slowly than excitatory ones; LFP proxy of Mazzoni et al. (2008, 2015).

The LFP proxy (``neurosim.analysis.lfp_proxy``) is the sum over a population of the absolute
synaptic currents, |g_e (E_e - V)| + |g_i (E_i - V)|, taken after every step through
``run(..., observe=...)`` and averaged over 1 ms (1 kHz). Its Welch spectrum (0.5 s segments,
2 Hz resolution) is fitted with log10 P = b - chi log10 f by ``aperiodic_exponent`` (robust to
narrow peaks). Synapses as in the COBA benchmark: exponential conductances, tau_e = 5 ms,
tau_i = 10 ms, E_e = 0 mV, E_i = -80 mV, w_e = 6 nS, w_i = 67 nS x scale. A filtered Poisson
train has the Lorentzian spectrum 1 / (1 + (2 pi f tau)^2), whose log-log slope over 20-80 Hz is
about -1.3 for tau = 5 ms and -1.7 for tau = 10 ms; the LFP's exponent moves between the two as
the inhibitory share of its power grows. Every sweep is one ``jax.vmap`` over parameter sets,
each with its own PRNG key.

Part A (checked): Gao et al.'s model, simulated. N_CELLS COBA LIF cells (the Vogels-Abbott cell),
each driven by its own 64 excitatory and 16 inhibitory Poisson trains of 10 Hz (the in-degrees
of the N = 4000 COBA network) through the synapses above. The E/I ratio is Gao's: the mean
conductance ratio g_I / g_E = (w_i 16 tau_i) / (w_e 64 tau_e), swept over RATIOS (0.75-12,
which includes Gao's 2-6) by scaling w_i; each ratio is simulated with several seeds and the
spectra averaged. The LFP is taken at a holding potential of -65 mV, as Gao et al. did
(``lfp_proxy(..., v_hold=-65)``): currents g (E - V_hold), a fixed linear read-out of the
conductances. Its exact spectrum follows from the model (shot noise through the discrete-time
exponential filters and the 1 ms average), so the measured exponent is also compared with theory.

Part B (reported, sanity-checked): the recurrent COBA network (``neurosim.builders.coba``, N_REC
neurons, p = 80 / N_REC so each neuron keeps 64 E and 16 I inputs, 200 pA background), its
inhibitory weight scaled over REC_SCALES (0.5-8 x 67 nS); LFP proxy of its E cells (Mazzoni's
generators), at -65 mV and at each cell's own V.

What we found (docs/ei_ratio.md has the numbers): (1) in Part A, chi rises monotonically with
g_I/g_E, from 1.27 to 1.68 over 0.75-12 (20-80 Hz, full run), within 0.02 of theory on average;
(2) the same proxy computed at the cells' own membrane potential does not: it rises while
excitation dominates, then falls (1.29, 1.43 at g_I/g_E = 1.7, 1.24 at 12). In a
conductance-based point neuron the membrane follows the conductances (effective time constant
C / g_total of 1-3 ms), so the excitatory and inhibitory current fluctuations largely cancel;
|I_i| / |I_e| saturates near 1 (0.91-1.08 for g_I/g_E = 3.7-12) and the sum of magnitudes loses
the E/I information. (3) In the small recurrent COBA network the exponent is dominated by the
network's own population-rate spectrum (rhythms and finite-size fluctuations whose shape changes
with inhibition) and is not monotonic in the inhibition with either proxy (Spearman 0.29 in the
full run). Only Part A's trend is checked; Part B is reported with its sanity checks.

Checks: Part A, band 20-80 Hz, LFP at -65 mV: Spearman(g_I/g_E, chi) > 0.8; chi(12) - chi(0.75) >
0.2; mean |chi - chi_theory| < 0.06; cells active at every ratio (rate > 0.5 Hz). Part B: every
network active (E rate > 1 Hz) with finite rates below 150 Hz; the sweep moves the measured
g_I/g_E (Spearman with the scale > 0.9). Gao's own band (30-50 Hz) holds only 11 frequencies at
2 Hz resolution, so its exponent is ~3x noisier; it is reported, not checked.

Usage: ``python examples/frompapers/EI_ratio_1f.py --out DIR [--quick] [--seed S]`` writes
``DIR/EI_ratio_1f.png`` and ``DIR/EI_ratio_1f.json`` and exits non-zero when a check fails.
``--quick``: 8 seeds x 8 s per ratio in Part A, N_REC = 200 for 1 s in Part B (a smoke test of
the recurrent sweep: too short for its exponents to mean anything); full: 16 seeds x 20 s,
N_REC = 500 for 10 s.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.report import check
from neurosim.report import write as report_write
from neurosim.analysis import aperiodic_exponent, lfp_proxy, welch
from neurosim.builders import coba
from neurosim.inputs import PoissonInput, PoissonInputParams
from neurosim.neurons import LIF, LIFParams
from neurosim.synapses import Synapse, SynapseParams

PAPER = ("Gao, Peterson & Voytek (2017) NeuroImage 158:70 (E/I ratio and the aperiodic exponent); "
         "LFP proxy of Mazzoni et al. (2008) PLoS Comput Biol 4:e1000239 and (2015) 11:e1004584")
NAME = "EI_ratio_1f"

DT = 0.1             # ms
DECIM = 10           # LFP averaged over 10 steps: 1 kHz
FS = 1000.0 / (DT * DECIM)   # Hz
CHUNK_MS = 1000.0    # one compiled chunk of run
T_SKIP = 200.0       # ms left out of the spectra (initial transient)
NPERSEG = 500        # Welch segments of 0.5 s: 2 Hz resolution
BAND = (20.0, 80.0)      # Hz, checked
GAO_BAND = (30.0, 50.0)  # Hz, Gao et al.'s band, reported
V_HOLD = -65.0       # mV, Gao et al.'s holding potential

# synapses of the COBA benchmark
TAU_E, TAU_I = 5.0, 10.0     # ms
E_E, E_I = 0.0, -80.0        # mV
W_E, W_I = 6.0, 67.0         # nS

# Part A: Poisson-driven cells
N_CELLS = 5
K_E, K_I = 64, 16            # Poisson trains per cell
RATE_E, RATE_I = 10.0, 10.0  # Hz per train
RATIOS = np.geomspace(0.75, 12.0, 8)   # mean g_I / g_E

# Part B: recurrent COBA
REC_SCALES = np.geomspace(0.5, 8.0, 8)  # w_i = 67 nS x scale
REC_BACKGROUND = 200.0                  # pA

CONFIG = {
    "quick": {"seeds": 8, "input_ms": 8000.0, "rec_n": 200, "rec_ms": 1000.0},
    "full": {"seeds": 16, "input_ms": 20000.0, "rec_n": 500, "rec_ms": 10000.0},
}


def w_i_for_ratio(ratio):
    """Inhibitory weight (nS) giving mean g_I / g_E = ratio in Part A
    (mean g = w x trains x rate x tau)."""
    return ratio * (W_E * K_E * RATE_E * TAU_E) / (K_I * RATE_I * TAU_I)


# --------------------------------------------------------------------------- simulation


def input_network(n=N_CELLS):
    cond = Synapse("exponential", "conductance")
    cells = ns.Population("cells", n, LIF(v_init=ns.Uniform(-60.0, -50.0)), LIFParams())
    exc = ns.Input("ext_e", "cells", PoissonInput(n_sources=K_E, synapse=cond),
                   PoissonInputParams(rate_hz=RATE_E, weight=W_E, synapse=SynapseParams(tau=TAU_E, e_rev=E_E)))
    inh = ns.Input("ext_i", "cells", PoissonInput(n_sources=K_I, synapse=cond),
                   PoissonInputParams(rate_hz=RATE_I, weight=W_I, synapse=SynapseParams(tau=TAU_I, e_rev=E_I)))
    return ns.Network([cells], [], [exc, inh])


def input_observe(net, p):
    def observe(s, spk):
        return {
            "lfp_hold": lfp_proxy(net, p, s, "cells", v_hold=V_HOLD),   # pA
            "lfp_v": lfp_proxy(net, p, s, "cells"),                     # pA, at each cell's V
            "g_e": jnp.sum(s.inputs["ext_e"].g), "g_i": jnp.sum(s.inputs["ext_i"].g),  # nS
            "i_e": jnp.sum(jnp.abs(s.inputs["ext_e"].g * (E_E - s.neurons["cells"].v))),
            "i_i": jnp.sum(jnp.abs(s.inputs["ext_i"].g * (E_I - s.neurons["cells"].v))),
            "spikes": jnp.sum(spk["cells"]),
        }
    return observe


def recurrent_observe(net, p, n_e):
    gen = ("neurons", 0, n_e)  # the E cells generate the LFP

    def observe(s, spk):
        return {
            "lfp_hold": lfp_proxy(net, p, s, gen, v_hold=V_HOLD),
            "lfp_v": lfp_proxy(net, p, s, gen),
            "g_e": jnp.sum(s.synapses["exc"].g[:n_e]), "g_i": jnp.sum(s.synapses["inh"].g[:n_e]),
            "spikes_e": jnp.sum(spk["neurons"][:n_e]), "spikes_i": jnp.sum(spk["neurons"][n_e:]),
        }
    return observe


def sweep(net, batched, keys, duration_ms, observe_for):
    """Simulate every parameter set of ``batched`` (leading axis B, one key each) side by side:
    one ``jax.vmap`` of ``run(..., observe=...)``, in compiled chunks of CHUNK_MS. Returns the
    observations averaged over DECIM steps, numpy (B, T, ...), and (compile_s, run_s)."""
    chunk_steps = int(round(CHUNK_MS / DT))

    def init(p, key):
        return ns.init_state(net, p, key, DT)

    def advance(p, s):
        s, obs = ns.run(net, p, s, chunk_steps, DT, observe=observe_for(p))
        return s, jax.tree.map(lambda x: x.reshape((chunk_steps // DECIM, DECIM) + x.shape[1:]).mean(axis=1), obs)

    t0 = time.perf_counter()
    state = jax.jit(jax.vmap(init))(batched, keys)
    step_fn = jax.jit(jax.vmap(advance)).lower(batched, state).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    chunks = []
    for _ in range(int(round(duration_ms / CHUNK_MS))):
        state, obs = step_fn(batched, state)
        chunks.append(jax.device_get(obs))
    run_s = time.perf_counter() - t0
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *chunks), (compile_s, run_s)


def stack(params_list):
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x, jnp.float32) for x in xs]), *params_list)


def run_input_model(n_seeds, duration_ms, seed):
    net = input_network()
    base = net.params()
    plist = []
    for r in RATIOS:
        for _ in range(n_seeds):
            p = base._replace(inputs=dict(base.inputs, ext_i=base.inputs["ext_i"]._replace(weight=float(w_i_for_ratio(r)))))
            plist.append(p)
    keys = jax.random.split(jax.random.key(seed), len(plist))
    obs, timing = sweep(net, stack(plist), keys, duration_ms, lambda p: input_observe(net, p))
    return jax.tree.map(lambda x: x.reshape((len(RATIOS), n_seeds) + x.shape[1:]), obs), timing


def run_recurrent(n, duration_ms, seed):
    net = coba(n, p=min(1.0, 80.0 / n), seed=seed, background_pa=REC_BACKGROUND)
    n_e = int(round(0.8 * n))
    base = net.params()
    plist = []
    for s in REC_SCALES:
        p = base.with_weights({"inh": base.projections["inh"].weights * float(s)})
        plist.append(p)
    keys = jax.random.split(jax.random.key(seed + 1), len(plist))
    obs, timing = sweep(net, stack(plist), keys, duration_ms, lambda p: recurrent_observe(net, p, n_e))
    return obs, timing, n_e


# --------------------------------------------------------------------------- analysis


def spectrum(x):
    """Welch PSD (pA^2 / Hz) of 1 kHz LFP samples after the transient."""
    return welch(x[int(round(T_SKIP * FS / 1000.0)):], FS, NPERSEG)


def theory_psd(freqs, w_i):
    """Exact spectrum (up to a constant) of Part A's LFP at V_HOLD: per synapse type, shot noise
    of rate trains x rate and charge w |E - V_HOLD| through g <- a g + w k (a = exp(-dt/tau)),
    then the 1 ms average; the aliases of the average are negligible (< 1e-3)."""
    om = 2.0 * np.pi * np.asarray(freqs) * DT * 1e-3
    out = 0.0
    for k, rate, w, tau, e in ((K_E, RATE_E, W_E, TAU_E, E_E), (K_I, RATE_I, w_i, TAU_I, E_I)):
        a = math.exp(-DT / tau)
        out = out + k * rate * (w * abs(e - V_HOLD)) ** 2 / (1.0 - 2.0 * a * np.cos(om) + a * a)
    with np.errstate(invalid="ignore", divide="ignore"):
        box = np.where(om > 0, np.sin(DECIM * om / 2) / (DECIM * np.sin(om / 2)), 1.0) ** 2
    return out * box


def spearman(x, y):
    rx = np.argsort(np.argsort(x)).astype(float)
    ry = np.argsort(np.argsort(y)).astype(float)
    rx -= rx.mean()
    ry -= ry.mean()
    den = math.sqrt(float(np.sum(rx * rx) * np.sum(ry * ry)))
    return float(np.sum(rx * ry) / den) if den > 0 else math.nan


def analyse_input(obs, n_seeds):
    """Per ratio: seed-averaged spectra of both LFP variants, their exponents, the theory."""
    res = {"ratio": RATIOS.tolist(), "w_i_ns": [float(w_i_for_ratio(r)) for r in RATIOS]}
    f = spectrum(obs["lfp_hold"][0, 0])[0]
    skip = int(round(T_SKIP * FS / 1000.0))
    rows = []
    for k, r in enumerate(RATIOS):
        row = {}
        for var in ("lfp_hold", "lfp_v"):
            psd = np.mean([spectrum(obs[var][k, j])[1] for j in range(n_seeds)], axis=0)
            row[var] = psd
            for tag, band in (("", BAND), ("_gao", GAO_BAND)):
                row[f"chi_{var}{tag}"], row[f"fit_{var}{tag}"] = aperiodic_exponent(f, psd, *band)
            per_seed = [aperiodic_exponent(f, spectrum(obs[var][k, j])[1], *BAND)[0] for j in range(n_seeds)]
            row[f"chi_{var}_seed_sd"] = float(np.std(per_seed))
        th = theory_psd(f, w_i_for_ratio(r))
        row["theory"] = th
        row["chi_theory"] = aperiodic_exponent(f, th, *BAND, max_iter=1)[0]
        row["chi_theory_gao"] = aperiodic_exponent(f, th, *GAO_BAND, max_iter=1)[0]
        row["g_ratio_measured"] = float(obs["g_i"][k, :, skip:].mean() / obs["g_e"][k, :, skip:].mean())
        row["i_ratio_measured"] = float(obs["i_i"][k, :, skip:].mean() / obs["i_e"][k, :, skip:].mean())
        row["rate_hz"] = float(obs["spikes"][k, :, skip:].mean() / (N_CELLS * DT * 1e-3))
        rows.append(row)
    res["freqs"] = f
    res["rows"] = rows
    return res


def analyse_recurrent(obs, n, n_e):
    skip = int(round(T_SKIP * FS / 1000.0))
    f = spectrum(obs["lfp_hold"][0])[0]
    rows = []
    for k, s in enumerate(REC_SCALES):
        row = {"scale": float(s)}
        for var in ("lfp_hold", "lfp_v"):
            psd = spectrum(obs[var][k])[1]
            row[var] = psd
            ok = np.all(np.isfinite(psd)) and np.all(psd[(f >= BAND[0]) & (f <= BAND[1])] > 0)
            row[f"chi_{var}"] = aperiodic_exponent(f, psd, *BAND)[0] if ok else math.nan
            row[f"chi_{var}_gao"] = aperiodic_exponent(f, psd, *GAO_BAND)[0] if ok else math.nan
        row["g_ratio_measured"] = float(obs["g_i"][k, skip:].mean() / obs["g_e"][k, skip:].mean())
        row["rate_e_hz"] = float(obs["spikes_e"][k, skip:].mean() / (n_e * DT * 1e-3))
        row["rate_i_hz"] = float(obs["spikes_i"][k, skip:].mean() / ((n - n_e) * DT * 1e-3))
        rows.append(row)
    return {"freqs": f, "rows": rows}


def checks_for(a, b):
    checks = []

    def add(name, value, target, ok):
        checks.append(check(name, float(value), target, ok))

    ra = a["rows"]
    chi = np.array([r["chi_lfp_hold"] for r in ra])
    chi_th = np.array([r["chi_theory"] for r in ra])
    add("input model: Spearman(g_I/g_E, chi 20-80 Hz, LFP at -65 mV)", rho := spearman(RATIOS, chi), "> 0.8", rho > 0.8)
    add("input model: chi(g_I/g_E = 12) - chi(0.75), 20-80 Hz", d := chi[-1] - chi[0], "> 0.2", d > 0.2)
    add("input model: mean |chi - chi_theory|, 20-80 Hz", e := float(np.mean(np.abs(chi - chi_th))), "< 0.06", e < 0.06)
    rates = np.array([r["rate_hz"] for r in ra])
    add("input model: cells active at every ratio (min rate, Hz)", m := float(rates.min()), "> 0.5", m > 0.5)
    rb = b["rows"]
    re_ = np.array([r["rate_e_hz"] for r in rb])
    ri_ = np.array([r["rate_i_hz"] for r in rb])
    add("recurrent COBA: every network active (min E rate, Hz)", m := float(re_.min()), "> 1", m > 1.0)
    mx = float(np.max(np.concatenate([re_, ri_])))
    add("recurrent COBA: rates finite (max rate, Hz)", mx, "< 150", math.isfinite(mx) and mx < 150.0)
    g = np.array([r["g_ratio_measured"] for r in rb])
    add("recurrent COBA: measured g_I/g_E follows the inhibitory scale (Spearman)", rho := spearman(REC_SCALES, g),
        "> 0.9", rho > 0.9)
    return checks


# --------------------------------------------------------------------------- figure


def _band_level(f, psd):
    band = (f >= BAND[0]) & (f <= BAND[1])
    with np.errstate(divide="ignore"):
        level = 10.0 ** np.mean(np.log10(psd[band]))
    return level if np.isfinite(level) and level > 0 else 1.0


def make_figure(path, a, b):
    fig = Figure(figsize=(12.0, 8.5), layout="constrained")
    FigureCanvasAgg(fig)
    (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
    ra, rb = a["rows"], b["rows"]
    ax1.plot(RATIOS, [r["chi_theory"] for r in ra], "k--", label="theory (filtered shot noise)")
    ax1.plot(RATIOS, [r["chi_lfp_hold"] for r in ra], "o-", color="C0", label="LFP at -65 mV (Gao), checked")
    ax1.errorbar(RATIOS, [r["chi_lfp_hold"] for r in ra],
                 yerr=[r["chi_lfp_hold_seed_sd"] / math.sqrt(a["n_seeds"]) for r in ra], fmt="none", color="C0")
    ax1.plot(RATIOS, [r["chi_lfp_v"] for r in ra], "s-", color="C3", label="LFP at each cell's V (Mazzoni)")
    ax1.plot(RATIOS, [r["chi_lfp_hold_gao"] for r in ra], "^:", color="C2", label="LFP at -65 mV, 30-50 Hz")
    ax1.axvspan(2.0, 6.0, color="0.92", zorder=0, label="Gao 2017 range")
    ax1.set_xscale("log")
    ax1.set_xlabel("mean g_I / g_E")
    ax1.set_ylabel(f"aperiodic exponent chi ({BAND[0]:.0f}-{BAND[1]:.0f} Hz unless noted)")
    ax1.set_title(f"A. Poisson-driven COBA cells ({a['n_seeds']} seeds x {a['duration_s']:.0f} s per ratio)",
                  fontsize="medium")
    ax1.legend(fontsize="small")

    f = a["freqs"]
    m = (f >= 2.0) & (f <= 300.0)
    for k, c in ((0, "C0"), (len(RATIOS) // 2, "C1"), (len(RATIOS) - 1, "C3")):
        r = ra[k]
        psd = r["lfp_hold"]
        ref = _band_level(f, psd)
        ax2.loglog(f[m], psd[m] / ref, color=c, label=f"g_I/g_E = {RATIOS[k]:.2g}: chi = {r['chi_lfp_hold']:.2f}")
        fit = r["fit_lfp_hold"]
        ax2.loglog(fit.freqs, fit.power(fit.freqs) / ref, color="k", linewidth=1.0)
    ax2.axvspan(*BAND, color="0.92", zorder=0)
    ax2.set_xlabel("frequency (Hz)")
    ax2.set_ylabel("LFP PSD (at -65 mV) / band geometric mean")
    ax2.set_title("A. example spectra and power-law fits (black)", fontsize="medium")
    ax2.legend(fontsize="small")

    g = [r["g_ratio_measured"] for r in rb]
    ax3.plot(g, [r["chi_lfp_hold"] for r in rb], "o-", color="C0", label="LFP at -65 mV")
    ax3.plot(g, [r["chi_lfp_v"] for r in rb], "s-", color="C3", label="LFP at each cell's V")
    ax3.set_xscale("log")
    ax3.set_xlabel("measured mean g_I / g_E of the E cells")
    ax3.set_ylabel(f"chi ({BAND[0]:.0f}-{BAND[1]:.0f} Hz)")
    ax3.set_title(f"B. recurrent COBA, N = {b['n']}, w_i x {REC_SCALES[0]:g}-{REC_SCALES[-1]:g} "
                  f"({b['duration_s']:.0f} s, one seed): reported, not checked", fontsize="medium")
    for x, r in zip(g, rb):
        ax3.annotate(f"{r['rate_e_hz']:.0f} Hz", (x, r["chi_lfp_hold"]), fontsize="x-small",
                     textcoords="offset points", xytext=(3, 3))
    ax3.legend(fontsize="small")

    f = b["freqs"]
    m = (f >= 2.0) & (f <= 300.0)
    for k, c in ((0, "C0"), (len(REC_SCALES) // 2, "C1"), (len(REC_SCALES) - 1, "C3")):
        psd = rb[k]["lfp_hold"]
        ax4.loglog(f[m], psd[m] / _band_level(f, psd), color=c,
                   label=f"w_i x {REC_SCALES[k]:.2g}: chi = {rb[k]['chi_lfp_hold']:.2f}")
    ax4.axvspan(*BAND, color="0.92", zorder=0)
    ax4.set_xlabel("frequency (Hz)")
    ax4.set_ylabel("LFP PSD (at -65 mV) / band geometric mean")
    ax4.set_title("B. recurrent COBA spectra: shaped by the network's rhythms", fontsize="medium")
    ax4.legend(fontsize="small")
    fig.suptitle("E/I ratio and the aperiodic exponent of an LFP proxy (Gao, Peterson & Voytek 2017)",
                 fontsize="medium")
    fig.savefig(path, dpi=100, format="png")


# --------------------------------------------------------------------------- main


def _fmt(x):
    return "nan" if x is None else f"{x:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="fewer seeds, shorter runs, a smaller recurrent network")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (keys of every parameter set, connectivity)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = CONFIG["quick" if args.quick else "full"]

    obs_a, (ca, ra) = run_input_model(cfg["seeds"], cfg["input_ms"], args.seed)
    a = analyse_input(obs_a, cfg["seeds"])
    a.update(n_seeds=cfg["seeds"], duration_s=cfg["input_ms"] / 1e3)
    print(f"  A: {len(RATIOS)} ratios x {cfg['seeds']} seeds x {cfg['input_ms'] / 1e3:.0f} s "
          f"(compile {ca:.1f} s, run {ra:.1f} s)", flush=True)
    for r, row in zip(RATIOS, a["rows"]):
        print(f"     g_I/g_E {r:6.2f} (measured {row['g_ratio_measured']:6.2f})  chi {row['chi_lfp_hold']:.3f} "
              f"(theory {row['chi_theory']:.3f}, 30-50 Hz {row['chi_lfp_hold_gao']:.3f})  at own V {row['chi_lfp_v']:.3f}  "
              f"|I_i|/|I_e| {row['i_ratio_measured']:.2f}  rate {row['rate_hz']:6.1f} Hz", flush=True)

    obs_b, (cb, rb_s), n_e = run_recurrent(cfg["rec_n"], cfg["rec_ms"], args.seed)
    b = analyse_recurrent(obs_b, cfg["rec_n"], n_e)
    b.update(n=cfg["rec_n"], duration_s=cfg["rec_ms"] / 1e3)
    print(f"  B: recurrent COBA N = {cfg['rec_n']}, {len(REC_SCALES)} inhibitory scales x {cfg['rec_ms'] / 1e3:.0f} s "
          f"(compile {cb:.1f} s, run {rb_s:.1f} s)", flush=True)
    for row in b["rows"]:
        print(f"     w_i x {row['scale']:5.2f}  g_I/g_E {row['g_ratio_measured']:6.2f}  chi at -65 mV {row['chi_lfp_hold']:.3f} "
              f"(30-50 Hz {row['chi_lfp_hold_gao']:.3f})  at own V {row['chi_lfp_v']:.3f}  "
              f"rates E {row['rate_e_hz']:5.1f} I {row['rate_i_hz']:5.1f} Hz", flush=True)

    checks = checks_for(a, b)
    make_figure(args.out / f"{NAME}.png", a, b)
    runtime = time.perf_counter() - t0

    chi_v = [r["chi_lfp_v"] for r in a["rows"]]
    rec_chi = [r["chi_lfp_hold"] for r in b["rows"]]
    rec_chi_v = [r["chi_lfp_v"] for r in b["rows"]]
    rec_g = [r["g_ratio_measured"] for r in b["rows"]]
    keys_a = ("g_ratio_measured", "i_ratio_measured", "rate_hz", "chi_lfp_hold", "chi_lfp_hold_gao", "chi_theory",
              "chi_theory_gao", "chi_lfp_v", "chi_lfp_v_gao", "chi_lfp_hold_seed_sd", "chi_lfp_v_seed_sd")
    keys_b = ("scale", "g_ratio_measured", "rate_e_hz", "rate_i_hz", "chi_lfp_hold", "chi_lfp_hold_gao", "chi_lfp_v",
              "chi_lfp_v_gao")
    report = {
        "paper": PAPER, "checks": checks, "runtime_s": runtime, "quick": bool(args.quick), "seed": args.seed,
        "dt_ms": DT, "band_hz": list(BAND), "gao_band_hz": list(GAO_BAND), "v_hold_mv": V_HOLD,
        "input_model": {
            "n_cells": N_CELLS, "seeds": cfg["seeds"], "duration_ms": cfg["input_ms"], "compile_s": ca, "run_s": ra,
            "g_ratio": RATIOS.tolist(), "w_i_ns": a["w_i_ns"],
            "rows": [{k: (float(r[k])) for k in keys_a} for r in a["rows"]],
            "reported": {"spearman_chi_at_own_v": (spearman(RATIOS, chi_v))},
        },
        "recurrent_coba": {
            "n": cfg["rec_n"], "duration_ms": cfg["rec_ms"], "background_pa": REC_BACKGROUND, "compile_s": cb,
            "run_s": rb_s, "rows": [{k: (float(r[k])) for k in keys_b} for r in b["rows"]],
            "reported": {"spearman_g_ratio_chi_at_-65mV": (spearman(rec_g, rec_chi)),
                         "spearman_g_ratio_chi_at_own_v": (spearman(rec_g, rec_chi_v))},
        },
    }
    rep_a, rep_b = report["input_model"]["reported"], report["recurrent_coba"]["reported"]
    print(f"  reported: Spearman(g_I/g_E, chi): A at own V {_fmt(rep_a['spearman_chi_at_own_v'])}; "
          f"B at -65 mV {_fmt(rep_b['spearman_g_ratio_chi_at_-65mV'])}, at own V {_fmt(rep_b['spearman_g_ratio_chi_at_own_v'])}")
    return report_write(args.out, NAME, report)


if __name__ == "__main__":
    sys.exit(main())
