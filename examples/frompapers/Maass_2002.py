"""Maass, Natschlaeger & Markram (2002) "Real-time computing without stable states", Neural
Computation 14(11):2531-2560: the separation property of a liquid (Fig. 2) and a readout.

The liquid: ``neurosim.builders.lsm()``, a 15 x 3 x 3 column of 135 LIF neurons (20 %
inhibitory) with distance-dependent connectivity C exp(-(D/2)^2) and dynamic (Tsodyks-Markram)
synapses with per-synapse parameters (docs/builders_lsm.md, papers.md 6.1):

    tau_m dV/dt = -V + R_in (I_syn + I_b + I_in),  tau_m = 30 ms, R_in = 1 MOhm, I_b = 13.5 nA,
    V_th = 15 mV, V_reset = 13.5 mV, refractory 3 ms (E) / 2 ms (I), V(0) ~ U[13.5, 15] mV
    I_syn = sum A y,  u <- u + U (1 - u), y <- y + u x, x <- x - u x at each presynaptic spike

One input channel: a 20 Hz Poisson train of 500 ms injected into every neuron as a current jump
of 18 nA (E) / 9 nA (I) decaying with 3 ms / 6 ms. dt = 0.1 ms, exact LIF integration.

Separation experiment (Fig. 2): pairs of input trains u, v with Gaussian-filtered (tau = 5 ms)
distance d(u, v) = 0.4, 0.2, 0.1 (+/- 0.01), and d = 0 (the same train; the initial V differ,
as every trial redraws them). Liquid state = each neuron's spike train filtered with
exp(-t/30 ms), sampled every 1 ms; state distance = mean over neurons of the squared difference
(no square root, as in Brian2's port, to match the paper's numbers), averaged over pairs. The
pairs are split evenly over 3 network instances (seeds seed, seed + 1, seed + 2: wiring and
synapse parameters), as papers.md advises for bands tighter than one instance gives.

Checks (papers.md 6.1 targets): (i) the 100-500 ms means are strictly ordered
0.4 > 0.2 > 0.1 > 0; (ii) the d = 0 distance is below 0.05 at 100 ms and its 100-500 ms mean
is < 0.05 (fading memory of the initial state); (iii) mean(d=0.4)/mean(d=0.1) over 100-500 ms
in 1.5-3; (iv) each 100-500 ms mean for d > 0 within a factor 2 of the Brian2 MEAS table
(0.79 / 0.55 / 0.39).

Readout: two 20 Hz template trains A and B; each trial presents one of them with every spike
jittered by N(0, (8 ms)^2). A ridge classifier (``neurosim.train.readouts.ridge_classifier``,
or the same closed form locally if that module is absent) reads the liquid state at time t,
one readout per t in 50, 75, ..., 475 ms, trained on 2 x 20 trials and tested on 2 x 20 others
(--quick; 2 x 100 / 2 x 100 in full) of instance 0. Check: the mean test accuracy over the
readout times in 100-500 ms is >= 0.8 (chance 0.5).

Every trial is one ``ns.run`` of the same compiled network; trials are batched with
``jax.vmap`` over network states (the initial V and the input raster are state, not model).
Measured (seed 0, this 2-core CPU): --quick ~40 s of CPU time (3 compilations ~4 s each,
~65 ms per trial for 320 trials); the wall time grows with the machine's load.

Usage: ``python examples/frompapers/Maass_2002.py --out DIR [--quick] [--seed S]`` writes
``DIR/Maass_2002.png`` and ``DIR/Maass_2002.json`` and exits non-zero when a check fails.
``--quick``: 30 pairs per distance (the paper: 200, as the full run; papers.md's MEAS: 30) and
fewer readout trials.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.report import check
from neurosim.report import write as report_write
from neurosim.analysis.liquid import input_distance, state_distance
from neurosim.analysis.taps import exp_filter_raster
from neurosim.builders import lsm, set_input_raster, spike_raster

PAPER = ('Maass, Natschlaeger & Markram (2002) "Real-time computing without stable states: a new framework '
         'for neural computation based on perturbations", Neural Computation 14(11):2531-2560')
NAME = "Maass_2002"

DT = 0.1                    # ms
DURATION = 500.0            # ms
N_STEPS = int(round(DURATION / DT))
RATE_HZ = 20.0              # input Poisson rate
TARGETS = (0.4, 0.2, 0.1)   # input distances d(u, v)
DISTANCES = TARGETS + (0.0,)
TOL = 0.01                  # accepted |d - target|
TAU_INPUT = 5.0             # ms, Gaussian kernel of d(u, v)
TAU_STATE = 30.0            # ms, exponential kernel of the liquid state
SAMPLE_MS = 1.0             # ms between state samples
SAMPLES = np.arange(0.0, DURATION, SAMPLE_MS)
WINDOW = (100.0, 500.0)     # ms, the averaging window of the checks
BATCH = 16                  # trials per vmapped call (the last batch is padded)
N_INSTANCES = 3             # network instances (seeds seed, seed + 1, seed + 2) the pairs are split over
MEAS = {0.4: 0.79, 0.2: 0.55, 0.1: 0.39, 0.0: 0.016}   # papers.md 6.1, Brian2, 30 pairs
JITTER_MS = 8.0             # readout task: jitter of the template spikes
READOUT_TIMES = np.arange(50.0, 500.0, 25.0)


# ----------------------------------------------------------------------------- inputs


def poisson_trains(rng, n, rate_hz=RATE_HZ, duration=DURATION):
    """``n`` Poisson trains on [0, duration) with at most one spike per dt step (redrawn
    otherwise, as Brian2's port does); a list of sorted arrays (ms)."""
    out = []
    while len(out) < n:
        t = np.sort(rng.uniform(0.0, duration, rng.poisson(rate_hz * duration * 1e-3)))
        if np.all(np.diff(np.floor(t / DT + 1e-6)) > 0):
            out.append(t)
    return out


def collect_pairs(rng, n_pairs):
    """Pairs (u, v) per target distance, by rejection sampling of independent trains; d = 0:
    the same train twice."""
    pairs = {d: [] for d in TARGETS}
    while min(len(p) for p in pairs.values()) < n_pairs:
        us, vs = poisson_trains(rng, 2000), poisson_trains(rng, 2000)
        dist = input_distance(us, vs, DURATION, TAU_INPUT)
        for d in TARGETS:
            hit = np.flatnonzero(np.abs(dist - d) < TOL)
            for k in hit[: n_pairs - len(pairs[d])]:
                pairs[d].append((us[k], vs[k], float(dist[k])))
    pairs[0.0] = [(u, u, 0.0) for u in poisson_trains(rng, n_pairs)]
    return pairs


def jittered(rng, template, sd):
    t = np.sort(template + rng.normal(0.0, sd, template.size))
    t = t[(t >= 0.0) & (t < DURATION)]
    keep = np.r_[True, np.diff(np.floor(t / DT + 1e-6)) > 0]      # one spike per step
    return t[keep]


# ----------------------------------------------------------------------------- liquid runs


def make_runner(column):
    """A jitted function: (rasters (B, T, 1), keys (B,)) -> (states (B, S, n), the liquid's
    spikes bit-packed along the neuron axis (B, T, ceil(n / 8)))."""
    net = column.network
    params, conns = net.params(), net.connectivity()
    every = int(round(SAMPLE_MS / DT))

    def one(raster, key):
        state = set_input_raster(ns.init_state(net, params, key, DT), raster)   # V(0) redrawn from key
        _, spikes = ns.run(net, params, state, N_STEPS, DT, conns)
        x = exp_filter_raster(spikes["liquid"], DT, TAU_STATE)
        return x[::every], jax.numpy.packbits(spikes["liquid"] > 0, axis=-1)

    return jax.jit(jax.vmap(one))


def run_trials(runner, trains, key, n):
    """Liquid states (N, len(SAMPLES), n), the spike count of each trial, and the spike raster
    (T, n) of the first trial."""
    rasters = np.stack([spike_raster([t], DURATION, DT) for t in trains])
    keys = jax.random.split(key, len(trains))
    states, counts = [], []
    for lo in range(0, len(trains), BATCH):
        r, k = rasters[lo:lo + BATCH], keys[lo:lo + BATCH]
        pad = BATCH - r.shape[0]
        if pad:
            r = np.concatenate([r, np.repeat(r[-1:], pad, axis=0)])
            k = jax.numpy.concatenate([k, jax.numpy.repeat(k[-1:], pad, axis=0)])
        s, bits = runner(r, k)
        bits = np.asarray(bits)[:BATCH - pad]
        if not states:
            first = np.unpackbits(bits[0], axis=-1, count=n)
        states.append(np.asarray(s)[:BATCH - pad])
        counts.append(np.unpackbits(bits, axis=-1, count=n).sum(axis=(1, 2)))
    return np.concatenate(states), np.concatenate(counts), first


# ----------------------------------------------------------------------------- readout


def fit_classifier(x, labels, penalty):
    """Ridge classifier (targets +/-1): ``neurosim.train.readouts.ridge_classifier`` when it is
    there, otherwise the same closed form here."""
    try:
        from neurosim.train.readouts import accuracy, ridge_classifier
    except ImportError:
        ridge_classifier = None
    if ridge_classifier is not None:
        readout = ridge_classifier(x, labels, 2, penalty)
        return lambda xs, ys: float(accuracy(readout, xs, ys)), "neurosim.train.readouts.ridge_classifier"
    mx = x.mean(0)
    y = np.where(labels == 1, 1.0, -1.0)
    xc = x - mx
    w = np.linalg.solve(xc.T @ xc + penalty * np.eye(x.shape[1]), xc.T @ (y - y.mean()))
    b = y.mean() - mx @ w
    return lambda xs, ys: float(np.mean(((xs @ w + b) > 0).astype(int) == ys)), "local closed-form ridge"


def readout_experiment(runner, n, rng, key, n_train, n_test):
    templates = poisson_trains(rng, 2)
    n_total = n_train + n_test
    labels = np.repeat([0, 1], n_total)
    trains = [jittered(rng, templates[c], JITTER_MS) for c in labels]
    states, _, _ = run_trials(runner, trains, key, n)
    order = rng.permutation(labels.size)
    train = np.sort(np.r_[order[labels[order] == 0][:n_train], order[labels[order] == 1][:n_train]])
    test = np.setdiff1d(np.arange(labels.size), train)
    idx = np.round(READOUT_TIMES / SAMPLE_MS).astype(int)
    acc_train, acc_test, used = [], [], None
    for k in idx:
        x = states[:, k, :]
        penalty = 1e-2 * np.trace(np.cov(x[train].T)) + 1e-6
        score, used = fit_classifier(x[train], labels[train], penalty)
        acc_train.append(score(x[train], labels[train]))
        acc_test.append(score(x[test], labels[test]))
    d_templates = input_distance(templates[0], templates[1], DURATION, TAU_INPUT)
    return np.array(acc_train), np.array(acc_test), used, d_templates


# ----------------------------------------------------------------------------- checks, figure


def window_mean(curve):
    keep = (SAMPLES >= WINDOW[0]) & (SAMPLES < WINDOW[1])
    return float(curve[keep].mean())


def make_checks(curves, sems, acc_test):
    checks = []

    def add(name, value, target, ok):
        checks.append(check(name, value, target, ok))

    means = {d: window_mean(curves[d]) for d in curves}
    order = [means[d] for d in (0.4, 0.2, 0.1, 0.0)]
    add("(i) 100-500 ms mean state distance, d = 0.4", means[0.4], "> d = 0.2", order[0] > order[1])
    add("(i) 100-500 ms mean state distance, d = 0.2", means[0.2], "> d = 0.1", order[1] > order[2])
    add("(i) 100-500 ms mean state distance, d = 0.1", means[0.1], "> d = 0", order[2] > order[3])
    d0_100 = float(curves[0.0][np.argmin(np.abs(SAMPLES - 100.0))])
    add("(ii) state distance at 100 ms, d = 0", d0_100, "< 0.05", d0_100 < 0.05)
    add("(ii) 100-500 ms mean state distance, d = 0", means[0.0], "< 0.05", means[0.0] < 0.05)
    ratio = means[0.4] / means[0.1] if means[0.1] > 0 else math.inf
    add("(iii) mean(d = 0.4) / mean(d = 0.1), 100-500 ms", ratio, "1.5-3", 1.5 <= ratio <= 3.0)
    for d in TARGETS:
        f = means[d] / MEAS[d]
        add(f"(iv) 100-500 ms mean, d = {d} / Brian2 MEAS {MEAS[d]}", f, "0.5-2", 0.5 <= f <= 2.0)
    keep = (READOUT_TIMES >= WINDOW[0]) & (READOUT_TIMES < WINDOW[1])
    acc = float(acc_test[keep].mean())
    add("readout test accuracy, mean over 100-500 ms (chance 0.5)", acc, ">= 0.8", acc >= 0.8)
    return checks, means


def make_figure(path, curves, sems, acc_train, acc_test, example, n_pairs, used):
    fig = Figure(figsize=(15.0, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax_r, ax_d, ax_a = fig.subplots(1, 3, width_ratios=[1.2, 1.2, 1.0])
    (t_in, spikes, n_exc) = example
    k, i = np.nonzero(spikes)
    exc = i < n_exc
    ax_r.plot(k[exc] * DT, i[exc], "|", color="k", markersize=2.5)
    ax_r.plot(k[~exc] * DT, i[~exc], "|", color="tab:red", markersize=2.5)
    for t in t_in:
        ax_r.axvline(t, color="tab:blue", alpha=0.25, linewidth=0.8)
    ax_r.set(xlim=(0, DURATION), ylim=(-1, spikes.shape[1]), xlabel="time (ms)", ylabel="neuron (E black, I red)",
             title="one trial: liquid spikes, input spikes (blue)")
    styles = {0.4: "--", 0.2: (0, (8, 6, 1, 6)), 0.1: (0, (5, 10)), 0.0: "-"}
    for d in (0.4, 0.2, 0.1, 0.0):
        ax_d.plot(SAMPLES / 1e3, curves[d], color="k", linestyle=styles[d], label=f"d(u,v) = {d}")
        ax_d.fill_between(SAMPLES / 1e3, curves[d] - sems[d], curves[d] + sems[d], color="0.8", linewidth=0)
    ax_d.set(xlim=(0, 0.5), ylim=(0, 2.5), xlabel="time (s)", ylabel="state distance",
             title=f"separation (Fig. 2): mean of {n_pairs} pairs per d, {N_INSTANCES} columns")
    ax_d.legend(frameon=False, loc="upper right")
    ax_a.plot(READOUT_TIMES, acc_train, "o-", color="0.6", label="train")
    ax_a.plot(READOUT_TIMES, acc_test, "o-", color="k", label="test")
    ax_a.axhline(0.5, color="tab:red", linestyle=":", label="chance")
    ax_a.set(ylim=(0.4, 1.02), xlim=(0, DURATION), xlabel="readout time t (ms)", ylabel="accuracy",
             title=f"template A vs B (jitter {JITTER_MS:.0f} ms)\nridge readout of the state at t")
    ax_a.legend(frameon=False, loc="lower right", fontsize="small")
    fig.suptitle("Maass, Natschlaeger & Markram (2002): liquid of 135 LIF neurons with dynamic synapses")
    fig.savefig(path, dpi=100, format="png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="30 pairs per distance, fewer readout trials")
    parser.add_argument("--seed", type=int, default=0, help="seed of the column, the inputs and the initial states")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    n_per = 10 if args.quick else 67          # pairs per distance and network instance
    n_pairs = N_INSTANCES * n_per
    n_train, n_test = (20, 20) if args.quick else (100, 100)

    rng = np.random.default_rng([args.seed, 2002])
    key = jax.random.key(args.seed)
    distances, counts, columns = {d: [] for d in DISTANCES}, [], []
    for inst in range(N_INSTANCES):
        # every instance: its own column (wiring and synapse parameters), pairs and initial states
        column = lsm(seed=args.seed + inst, input_steps=N_STEPS)
        runner = make_runner(column)
        pairs = collect_pairs(rng, n_per)
        # one batch of trials for the whole instance: u then v of every pair of every distance
        trains = [p[side] for d in DISTANCES for side in (0, 1) for p in pairs[d]]
        states, count, first = run_trials(runner, trains, jax.random.fold_in(key, inst), column.n)
        counts.append(count)
        states = states.reshape(len(DISTANCES), 2, n_per, *states.shape[1:])
        for j, d in enumerate(DISTANCES):
            distances[d].append(state_distance(states[j, 0], states[j, 1]))    # (pairs, samples)
        if inst == 0:
            example = (pairs[DISTANCES[0]][0][0], first, column.n_exc)       # for the raster panel
        columns.append((column, runner))
    curves, sems = {}, {}
    for d, parts in distances.items():
        per_pair = np.concatenate(parts)
        curves[d] = per_pair.mean(axis=0)
        sems[d] = per_pair.std(axis=0, ddof=1) / math.sqrt(per_pair.shape[0])
    column, runner = columns[0]
    rate = float(np.concatenate(counts).mean() / column.n / (DURATION * 1e-3))
    t_sep = time.perf_counter() - t0

    acc_train, acc_test, used, d_templates = readout_experiment(runner, column.n, rng, jax.random.fold_in(key, 99),
                                                                n_train, n_test)
    checks, means = make_checks(curves, sems, acc_test)

    make_figure(args.out / f"{NAME}.png", curves, sems, acc_train, acc_test, example, n_pairs, used)
    runtime = time.perf_counter() - t0

    report = {
        "paper": PAPER, "checks": checks, "runtime_s": runtime, "separation_s": t_sep, "quick": bool(args.quick), "seed": args.seed,
        "n_pairs_per_distance": n_pairs, "mean_state_distance_100_500ms": {str(d): v for d, v in means.items()},
        "state_distance_at_ms": {str(d): {str(int(t)): float(curves[d][int(t)]) for t in (10, 25, 50, 100, 200, 300, 400, 499)}
                                 for d in curves},
        "n_instances": N_INSTANCES,
        "liquid_mean_rate_hz": rate, "readout": {"times_ms": READOUT_TIMES.tolist(), "train_accuracy": acc_train.tolist(),
                                                 "test_accuracy": acc_test.tolist(), "n_train_per_class": n_train,
                                                 "n_test_per_class": n_test, "jitter_ms": JITTER_MS,
                                                 "template_distance": d_templates, "readout": used},
    }
    return report_write(args.out, NAME, report)


if __name__ == "__main__":
    sys.exit(main())
