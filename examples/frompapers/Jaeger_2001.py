"""Jaeger (2001) "Short term memory in echo state networks", GMD Report 152, with the NARMA-10
benchmark of Atiya & Parlos (2000) as a second task.

Echo state network (neurosim.builders.esn, leak 1):

    x(t) = f(W x(t-1) + w_in u(t) + b),   f = tanh (or identity for the linear reservoir)

Memory capacity (papers.md 6.2): u(t) ~ U[-0.5, 0.5] i.i.d.; W dense N(0, 1) rescaled to
spectral radius rho, w_in ~ U[-1, 1] x s_in, no bias; washout 500, train 4000, test 2000 steps;
one ridge readout (penalty 1e-10, float64) per delay k = 1..k_max reconstructs u(t - k);
MC_k = squared test correlation, MC = sum_k MC_k; k_max = 2N (tanh) or 3N (linear). The linear
reservoir is W = 0.95 x a random orthogonal matrix (MC/N close to 1, Jaeger's bound MC <= N).
The shift register (a delay line of N units) holds u(t), ..., u(t-N+1) exactly: MC over
k >= 0 is N.

NARMA-10 (papers.md 6.3): y(t+1) = 0.3 y(t) + 0.05 y(t) sum_{i=0}^{9} y(t-i) + 1.5 u(t-9) u(t)
+ 0.1 with u ~ U[0, 0.5]; the readout of x(t) (which has seen u up to t) predicts y(t); tanh
ESN with rho 0.95, s_in 0.2, bias ~ U[-0.2, 0.2]; washout 200, train 2000, test 1000; ridge
1e-8; NRMSE = sqrt(mean((y_hat - y)^2) / var(y)). One series (seed 0, as papers.md advises: a
fixed seed, checked for divergence); the seeds vary the reservoirs. Baseline: ridge on the last
10 inputs.

Targets: docs/papers.md 6.2 and 6.3 (MEAS: numpy ESN, 3 seeds; the bands
include the seed spread). Each check uses the mean over seeds (3 with --quick, 5 without).

Usage: ``python examples/frompapers/Jaeger_2001.py --out DIR [--quick]`` writes
``DIR/Jaeger_2001.png`` (MC_k curves, MC and Lyapunov exponent vs rho, NARMA-10 NRMSE vs N and a
stretch of prediction) and ``DIR/Jaeger_2001.json``, and exits non-zero when a check fails.
"""
from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)  # ridge 1e-10 needs float64 normal equations

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from neurosim.analysis import lyapunov_exponent, memory_capacity, narma10, nrmse  # noqa: E402
from neurosim.builders import esn, from_matrix, reservoir_step, run_reservoir, stack_reservoirs  # noqa: E402
from neurosim.report import check  # noqa: E402
from neurosim.report import write as report_write  # noqa: E402
from neurosim.train import predict, ridge  # noqa: E402

PAPER = 'Jaeger (2001) "Short term memory in echo state networks", GMD Report 152; NARMA-10 (Atiya & Parlos 2000)'
NAME = "Jaeger_2001"

MC_WASHOUT, MC_TRAIN, MC_TEST, MC_PENALTY = 500, 4000, 2000, 1e-10
NARMA_WASHOUT, NARMA_TRAIN, NARMA_TEST, NARMA_PENALTY = 200, 2000, 1000, 1e-8
RHO_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.05, 1.2)   # MC must increase up to 0.95
LYAP_WASHOUT, LYAP_STEPS = 500, 3000


# ----------------------------------------------------------------------------- memory capacity


def mc_inputs(seeds, t):
    return jnp.asarray(np.stack([np.random.default_rng([7, s]).uniform(-0.5, 0.5, t) for s in seeds]))


@partial(jax.jit, static_argnums=(2, 3))
def batched_mc(params, inputs, k_max, activation):
    """MC and MC_k of a stack of reservoirs, each driven by its own input series (compiled once
    per shape, so every N=100 configuration reuses one executable)."""
    def one(p, u):
        states = run_reservoir(p, u, activation=activation)
        return memory_capacity(states, u, k_max, washout=MC_WASHOUT, n_train=MC_TRAIN, penalty=MC_PENALTY)

    return jax.vmap(one)(params, inputs)


def tanh_mc(n, rho, s_in, seeds):
    params = stack_reservoirs([esn(n, density=1.0, spectral_radius=rho, input_scaling=s_in, seed=s) for s in seeds])
    mc, mc_k = batched_mc(params, mc_inputs(seeds, MC_WASHOUT + MC_TRAIN + MC_TEST), 2 * n, "tanh")
    return np.asarray(mc), np.asarray(mc_k)


def linear_mc(n, seeds):
    reservoirs = []
    for s in seeds:
        rng = np.random.default_rng([11, s])
        q, r = np.linalg.qr(rng.standard_normal((n, n)))
        q = q * np.sign(np.diag(r))  # Haar-distributed orthogonal matrix
        reservoirs.append(from_matrix(0.95 * q, rng.uniform(-1.0, 1.0, n), sparse=False))
    mc, mc_k = batched_mc(stack_reservoirs(reservoirs), mc_inputs(seeds, MC_WASHOUT + MC_TRAIN + MC_TEST), 3 * n, "linear")
    return np.asarray(mc), np.asarray(mc_k)


def delay_line_mc(n):
    """A shift register: unit 0 takes u(t), unit i copies unit i-1 (MC over k >= 0 is n)."""
    params = from_matrix(np.eye(n, k=-1), np.eye(n)[0])
    u = mc_inputs([0], MC_WASHOUT + MC_TRAIN + MC_TEST)[0]
    states = run_reservoir(params, u, activation="linear")
    mc, _ = memory_capacity(states, u, 2 * n, washout=MC_WASHOUT, n_train=MC_TRAIN, penalty=MC_PENALTY, k_min=0)
    return float(mc)


@jax.jit
def _batched_lyapunov(params, inputs):
    def one(p, u):
        x0 = run_reservoir(p, u[:LYAP_WASHOUT])[-1]
        step = lambda x, ut: reservoir_step(p, x, ut)  # noqa: E731
        return lyapunov_exponent(step, x0, u[LYAP_WASHOUT:], washout=LYAP_WASHOUT)

    return jax.vmap(one)(params, inputs)


def lyapunov(n, rhos, s_in, seeds):
    """Largest Lyapunov exponent of the driven tanh ESN for each rho (mean over seeds)."""
    params = stack_reservoirs([esn(n, density=1.0, spectral_radius=rho, input_scaling=s_in, seed=s)
                               for rho in rhos for s in seeds])
    inputs = jnp.concatenate([mc_inputs(seeds, LYAP_STEPS)] * len(rhos))
    lam = np.asarray(_batched_lyapunov(params, inputs)).reshape(len(rhos), len(seeds))
    return dict(zip(rhos, lam.mean(axis=1).tolist()))


# ----------------------------------------------------------------------------- NARMA-10


def narma_series(seed=0):
    """The NARMA-10 series; papers.md 6.3: one series from a fixed seed, checked for divergence
    (narma10 raises if max y >= 1.5). The seeds of the checks vary the reservoirs."""
    return narma10(NARMA_WASHOUT + NARMA_TRAIN + NARMA_TEST, seed=seed)


def narma_nrmse(n, seeds):
    """Test NRMSE of a tanh ESN on NARMA-10, one value per seed; and the last prediction."""
    out, trace = [], None
    tr = slice(NARMA_WASHOUT, NARMA_WASHOUT + NARMA_TRAIN)
    te = slice(NARMA_WASHOUT + NARMA_TRAIN, None)
    u, y = narma_series()
    for s in seeds:
        params = esn(n, density=1.0, spectral_radius=0.95, input_scaling=0.2, bias_scaling=0.2, seed=s)
        states = run_reservoir(params, u)
        readout = ridge(states[tr], y[tr], NARMA_PENALTY)
        y_hat = predict(readout, states[te])
        out.append(float(nrmse(y_hat, y[te])))
        trace = (np.asarray(y[te]), np.asarray(y_hat))
    return np.array(out), trace


def narma_baseline():
    """Test NRMSE of ridge on the last 10 inputs u(t), ..., u(t-9) (papers.md: 0.81)."""
    u, y = narma_series()
    idx = np.arange(9, u.size)[:, None] - np.arange(10)[None, :]
    x, target = u[idx], y[9:]
    tr = slice(NARMA_WASHOUT - 9, NARMA_WASHOUT - 9 + NARMA_TRAIN)
    te = slice(NARMA_WASHOUT - 9 + NARMA_TRAIN, None)
    readout = ridge(x[tr], target[tr], NARMA_PENALTY)
    return float(nrmse(predict(readout, x[te]), target[te]))


# ----------------------------------------------------------------------------- run, check, draw


def run_all(seeds):
    r = {}
    r["linear"] = {n: linear_mc(n, seeds) for n in (20, 50)}
    r["tanh"] = {key: tanh_mc(*key, seeds) for key in ((50, 0.95, 0.1), (100, 0.95, 0.1), (100, 0.8, 0.1), (100, 0.95, 1.0))}
    r["rho"] = {rho: (r["tanh"][(100, rho, 0.1)] if (100, rho, 0.1) in r["tanh"] else tanh_mc(100, rho, 0.1, seeds))
                for rho in RHO_GRID}
    r["lyapunov"] = lyapunov(100, RHO_GRID, 0.1, seeds)
    r["delay_line"] = delay_line_mc(20)
    r["narma"] = {n: narma_nrmse(n, seeds) for n in (50, 100, 200)}
    r["baseline"] = narma_baseline()
    u, y = narma_series()
    r["narma_stats"] = (float(y.mean()), float(y.std()), float(y.max()))
    return r


def checks_of(r):
    checks = []

    def add(name, value, target, ok):
        checks.append(check(name, value, target, ok))

    def band(name, value, lo, hi):
        add(name, float(value), f"{lo}-{hi}", lo <= value <= hi)

    for n, lo in ((20, 0.85), (50, 0.9)):
        band(f"linear N={n} MC/N", r["linear"][n][0].mean() / n, lo, 1.0)
    band("tanh N=50 MC (rho 0.95, s_in 0.1)", r["tanh"][(50, 0.95, 0.1)][0].mean(), 22, 30)
    band("tanh N=100 MC (rho 0.95, s_in 0.1)", r["tanh"][(100, 0.95, 0.1)][0].mean(), 29, 38)
    band("tanh N=100 MC (rho 0.8, s_in 0.1)", r["tanh"][(100, 0.8, 0.1)][0].mean(), 23, 30)
    band("tanh N=100 MC (rho 0.95, s_in 1.0)", r["tanh"][(100, 0.95, 1.0)][0].mean(), 13, 20)
    worst = 0.0
    for (n, *_), (mc, _) in r["tanh"].items():
        worst = max(worst, float(np.max(mc / (n + 2 * n / MC_TEST))))
    for n, (mc, _) in r["linear"].items():
        worst = max(worst, float(np.max(mc / (n + 3 * n / MC_TEST))))
    add("max MC / (N + k_max/T_test) over all runs", worst, "<= 1 (Jaeger's bound)", worst <= 1.0)
    curve = [float(r["rho"][rho][0].mean()) for rho in RHO_GRID if rho <= 0.95]
    add("N=100 MC vs rho 0.5..0.95 (increasing)", curve, "strictly increasing", all(np.diff(curve) > 0))
    s_lo, s_hi = r["tanh"][(100, 0.95, 0.1)][0].mean(), r["tanh"][(100, 0.95, 1.0)][0].mean()
    add("N=100 MC(s_in 1.0) / MC(s_in 0.1)", float(s_hi / s_lo), "< 1 (saturation kills memory)", s_hi < s_lo)
    lam = r["lyapunov"][0.95]
    add("Lyapunov exponent per step, N=100 rho 0.95 (driven)", lam, "< 0 (echo state)", lam < 0)
    add("shift register N=20: MC over k >= 0", r["delay_line"], "20 +/- 0.1", abs(r["delay_line"] - 20) <= 0.1)
    mean, std, peak = r["narma_stats"]
    add("NARMA-10 series mean", mean, "0.383 +/- 0.02", abs(mean - 0.383) <= 0.02)
    add("NARMA-10 series max", peak, "< 1.5 (no divergence)", peak < 1.5)
    for n, lo, hi in ((50, 0.33, 0.42), (100, 0.25, 0.33), (200, 0.16, 0.24)):
        band(f"NARMA-10 NRMSE N={n}", r["narma"][n][0].mean(), lo, hi)
    means = [float(r["narma"][n][0].mean()) for n in (50, 100, 200)]
    add("NARMA-10 NRMSE vs N=50/100/200 (decreasing)", means, "strictly decreasing", all(np.diff(means) < 0))
    base = r["baseline"]
    add("NARMA-10 linear-lag baseline NRMSE (ridge on last 10 inputs)", base, "> 0.35 (MEAS 0.81)", base > 0.35)
    add("NARMA-10 ESN(100) NRMSE < 0.35 < baseline", means[1], f"< 0.35 < {base:.2f}", means[1] < 0.35 < base)
    return checks


def make_figure(path, r):
    fig = Figure(figsize=(12, 8.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    ax = axes[0, 0]
    for key, label in (((50, 0.95, 0.1), "tanh N=50"), ((100, 0.95, 0.1), "tanh N=100"), ((100, 0.95, 1.0), "tanh N=100, s_in 1")):
        mc_k = r["tanh"][key][1].mean(0)
        ax.plot(np.arange(1, mc_k.size + 1), mc_k, label=f"{label} (MC {r['tanh'][key][0].mean():.1f})")
    mc_k = r["linear"][50][1].mean(0)
    ax.plot(np.arange(1, mc_k.size + 1), mc_k, "k--", label=f"linear N=50 (MC {r['linear'][50][0].mean():.1f})")
    ax.set(xlabel="delay k (steps)", ylabel="MC_k", title="Forgetting curves (mean over seeds)", xlim=(0, 150))
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    rhos = np.array(RHO_GRID)
    mcs = np.array([r["rho"][rho][0].mean() for rho in RHO_GRID])
    sd = np.array([r["rho"][rho][0].std() for rho in RHO_GRID])
    ax.errorbar(rhos, mcs, yerr=sd, marker="o", label="MC (N=100, s_in 0.1)")
    ax.set(xlabel="spectral radius rho", ylabel="memory capacity", title="MC and largest Lyapunov exponent vs rho")
    ax2 = ax.twinx()
    ax2.plot(rhos, [r["lyapunov"][rho] for rho in RHO_GRID], "r^-", label="Lyapunov exponent")
    ax2.axhline(0.0, color="r", lw=0.5)
    ax2.set_ylabel("Lyapunov exponent (1/step)", color="r")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="lower right", fontsize=8)
    ax = axes[1, 0]
    ns_ = np.array([50, 100, 200])
    vals = [r["narma"][n][0] for n in ns_]
    ax.errorbar(ns_, [v.mean() for v in vals], yerr=[v.std() for v in vals], marker="o", label="ESN")
    for n, lo, hi in ((50, 0.33, 0.42), (100, 0.25, 0.33), (200, 0.16, 0.24)):
        ax.plot([n, n], [lo, hi], color="0.6", lw=6, alpha=0.5)
    ax.axhline(r["baseline"], color="k", ls="--", label="ridge on last 10 inputs")
    ax.set(xscale="log", xlabel="reservoir size N", ylabel="test NRMSE", title="NARMA-10 (grey: papers.md bands)", ylim=(0, 1))
    ax.set_xticks(ns_, [str(n) for n in ns_])
    ax.minorticks_off()
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    y, y_hat = r["narma"][200][1]
    ax.plot(y[:200], "k", label="NARMA-10 y(t)")
    ax.plot(y_hat[:200], "C1", label="ESN N=200")
    ax.set(xlabel="test step", ylabel="y", title="NARMA-10 prediction (test set)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="3 seeds instead of 5")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(3 if args.quick else 5))

    r = run_all(seeds)
    checks = checks_of(r)
    make_figure(args.out / f"{NAME}.png", r)
    runtime = time.perf_counter() - t0

    report = {"paper": PAPER, "checks": checks, "runtime_s": runtime, "quick": bool(args.quick), "seeds": seeds,
              "mc_vs_rho": {str(rho): float(r["rho"][rho][0].mean()) for rho in RHO_GRID},
              "lyapunov_vs_rho": {str(rho): r["lyapunov"][rho] for rho in RHO_GRID},
              "narma_nrmse": {str(n): r["narma"][n][0].tolist() for n in (50, 100, 200)}}
    return report_write(args.out, NAME, report)


if __name__ == "__main__":
    sys.exit(main())
