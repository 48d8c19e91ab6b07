"""Yamada & Chao (2025): a heterogeneous Izhikevich reservoir whose linear readouts learn *what*
and *when* by an error-modulated, gated three-factor rule, against FORCE (recursive least
squares) without a reset after the latency changes.

    python examples/frompapers/Yamada_Chao_2025.py --out DIR [--quick]

The paper's methods were not retrievable: this is our reconstruction (docs/papers.md section 9).

**Reservoir.**
- The 1000-neuron network of Izhikevich (2003) (800 E / 200 I, all-to-all, net.m's noise of
  std 5 / 2, dt = 1 ms): ``neurosim.builders.izhikevich_reservoir``.
- Calibrated first, as section 9 asks: with net.m's parameters the cue-locked trajectory fades
  within ~100 ms. Giving the excitatory neurons heterogeneous, slower recovery,
  ``a = 0.02 x 10^(-1.5 r)`` with ``r ~ U[0, 1]`` (recovery times 50 ms to 1.6 s), makes it
  carry elapsed time for more than 500 ms.
- Trials start from one warmed-up state with their own noise. A cue (A or B) is a 50-ms pulse of
  20 mV/ms into its own 40 % of the neurons (disjoint).

**Readouts.**
- Each readout is ``r(t) = w . [xbar(t), 1]`` on every neuron's spikes filtered with
  tau = 50 ms, sampled every 5 ms for 700 ms from the cue's onset.
- "when": the target is a Gaussian bump (sd 20 ms) at latency L after the cue when the stimulus
  occurs (probability p per trial), else 0.
- "what": +1 after cue A and -1 after cue B.

**The three-factor rule.** ``dw = eta G(t) e(t) xbar(t) / |xbar(t)|^2``:
- the error ``e = z - r`` is the neuromodulator;
- the attention gate ``G`` opens 100 ms after the cue's onset, once the cue's own response has
  passed;
- eta = 0.1.
The rule is normalised LMS (``neurosim.train.readouts.lms_update``) on the gated samples;
FORCE is ``rls_update`` on the same samples, with P(0) = I.

**Protocol** (trials drawn from a bank of simulated reservoir trials, held-out trials for the
measures):
1. 100 trials at L = 250 ms, p = 1.
2. Blocks with p = 0.75, 0.5, 0.25 (60 trials each). A(p) is the readout's mean response
   within 20 ms of L, averaged over the block's last 10 trials (A(1): phase 1's last 10).
3. p = 1 and L = 400 ms for 100 trials: the gated rule and FORCE, each continuing from its
   own state at the end of phase 1, without a reset.

The latencies (250 and 400 ms, where section 9 suggests 300 and 500) lie inside the range
the calibrated reservoir carries with margin.

**Checks:**
- (c) the calibration: a ridge readout of held-out trials peaks within 25 ms of
  L = 100 ... 500 ms;
- (i) after phase 1 the gated "when" readout peaks within 20 ms of 250 ms;
- (ii) amplitudes A(p)/A(1): Pearson r > 0.9 and slope within 25 % of 1;
- (iii) after the switch the gated rule re-locks to 400 ms (its peak within 25 ms for 5
  trials in a row) in fewer than 50 trials, and faster than FORCE;
- (iv) the "what" readout tells A from B on held-out trials (>= 80 %), and its weights are
  near-orthogonal to the "when" readout's (|cos| < 0.3).

Each check is made on five reservoirs (seeds 0-4; a seed draws the network, the slow recovery,
the cues and the trials) and must hold on at least four. ``--quick`` (the tests) uses one
reservoir (seed 0), on which each must hold, and a shorter phase 3 (70 trials). Writes
``DIR/Yamada_Chao_2025.png`` and ``DIR/Yamada_Chao_2025.json``; exits non-zero when a check fails.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.builders.izhikevich_reservoir import izhikevich_reservoir
from neurosim.report import check
from neurosim.report import write as report_write
from neurosim.train.readouts import lms_init, lms_update, rls_init, rls_update

PAPER = ('Yamada & Chao (2025) "Joint encoding of what and when predictions through error-modulated plasticity '
         'in reservoir spiking networks", arXiv:2510.14382')
NAME = "Yamada_Chao_2025"
N, DT, CUE_MS, AFTER_MS, EVERY = 1000, 1.0, 200, 700, 5
CUE_FRACTION = 0.4         # of the neurons, per cue (disjoint)
TAU_READ, BUMP_SD, GATE_MS, ETA, SLOW = 50.0, 20.0, 100, 0.1, 1.5
L1, L2 = 250, 400
WHAT_MS = (100, 250)       # the window in which the 'what' readout reports the cue's identity


def reservoir(seed):
    """The calibrated reservoir: the network, its params and the two cue patterns."""
    res = izhikevich_reservoir(800, 200, pulses={"cue": (float(CUE_MS), 50.0)}, seed=seed)
    params = res.network.params()
    rng = np.random.default_rng([seed, 7])
    a = np.asarray(params.neurons["reservoir"].a).copy()
    a[:800] = 0.02 * 10.0 ** (-SLOW * rng.random(800))          # heterogeneous, slower recovery
    params = params._replace(neurons={"reservoir": params.neurons["reservoir"]._replace(a=a.astype(np.float32))})
    perm, k = rng.permutation(N), int(CUE_FRACTION * N)
    patterns = np.zeros((2, 2, N), np.float32)                   # cue A, cue B: (on, off) amplitudes
    for c in range(2):
        patterns[c, 0, perm[c * k:(c + 1) * k]] = 20.0
    return res.network, params, patterns


def with_cue(params, amplitudes):
    return params._replace(inputs={**params.inputs, "cue": params.inputs["cue"]._replace(amplitudes=amplitudes)})


def bank(net, params, patterns, cues, seed):
    """Filtered spikes of every neuron, (trials, samples, N + 1) with a bias feature, one trial per cue in
    ``cues``; every trial starts from the same warmed-up state with its own noise."""
    state0 = ns.simulate(net, 300.0, DT, key=seed, params=with_cue(params, np.zeros((2, N), np.float32)),
                         progress=False).state
    conns, decay, steps = net.connectivity(), np.exp(-DT / TAU_READ), CUE_MS + AFTER_MS

    def trial(key, amplitudes):
        s = state0._replace(key=key, t=jnp.zeros((), jnp.int32))
        _, spikes = ns.run(net, with_cue(params, amplitudes), s, steps, DT, conns=conns)
        filt = jax.lax.scan(lambda c, x: (c * decay + x, c * decay + x), jnp.zeros(N), spikes["reservoir"])[1]
        return filt[CUE_MS::EVERY]

    run = jax.jit(jax.vmap(trial))
    keys = jax.random.split(jax.random.key(seed + 1000), len(cues))
    out = [np.asarray(run(keys[i:i + 32], jnp.asarray(patterns[cues[i:i + 32]]))) for i in range(0, len(cues), 32)]
    x = np.concatenate(out)
    return np.concatenate([x / x.std(), np.ones(x.shape[:2] + (1,))], axis=2)     # scaled, and a bias feature


T_MS = np.arange(0, AFTER_MS, EVERY)
GATE = T_MS >= GATE_MS


def bump(latency):
    return np.exp(-0.5 * ((T_MS - latency) / BUMP_SD) ** 2)


def peak_ms(response):
    """The time of the response's largest value inside the gate (ms after the cue's onset)."""
    return int(T_MS[GATE][np.argmax(response[GATE])])


class Learner:
    """A readout learning online, trial by trial, from the samples its gate lets through:
    ``update(state, x, target) -> (state, error)`` over those samples, one jitted scan per trial."""

    def __init__(self, state, update, gate=None):
        self.state = state
        gated = np.flatnonzero(GATE if gate is None else gate)

        def one_trial(state, x, z):
            return jax.lax.scan(lambda s, xz: (update(s, xz[0], xz[1])[0], None), state, (x[gated], z[gated]))[0]
        self._trial = jax.jit(one_trial)

    @property
    def w(self):
        return np.asarray(self.state.w[:, 0])

    @w.setter
    def w(self, value):
        self.state = self.state._replace(w=jnp.asarray(value, jnp.float32)[:, None])

    def trial(self, x, z):
        self.state = self._trial(self.state, jnp.asarray(x, jnp.float32), jnp.asarray(z, jnp.float32))


def gated(n, gate=None):
    """The error-modulated, gated three-factor rule, w += eta G e xbar / |xbar|^2: normalised
    LMS (``neurosim.train.readouts.lms_update``) on the samples the gate G lets through."""
    return Learner(lms_init(n, 1, dtype=jnp.float32),
                   lambda s, x, z: lms_update(s, x, z, learning_rate=ETA, normalized=True), gate)


def force(n):
    """FORCE: recursive least squares (``rls_update``) on the same gated samples, P(0) = I, never reset."""
    return Learner(rls_init(n, 1, alpha=1.0, dtype=jnp.float32), rls_update)


def experiment(seed, quick):
    t0 = time.perf_counter()
    net, params, patterns = reservoir(seed)
    n_train, n_test = 96, 16
    cues = np.repeat([0, 1], n_train + n_test)
    x = bank(net, params, patterns, cues, seed)
    held = np.zeros(cues.size, bool)
    for c in (0, 1):
        held[np.flatnonzero(cues == c)[-n_test:]] = True
    train = np.flatnonzero(~held)
    mean_held = x[held].mean(0)                                  # the measure: the mean held-out response
    out = {"bank_s": time.perf_counter() - t0, "trials": int(cues.size)}

    # (c) calibration: what a ridge readout of the bank can time
    xt = x[train].reshape(-1, x.shape[2])
    gram = xt.T @ xt + 10.0 * np.eye(x.shape[2])
    out["ridge_peaks"] = {L: peak_ms(mean_held @ np.linalg.solve(gram, xt.T @ np.tile(bump(L), train.size)))
                          for L in (100, 200, 300, 400, 500)}

    rng = np.random.default_rng([seed, 3])
    n1, n_block, n3 = (100, 60, 70) if quick else (100, 60, 100)
    what_gate = (T_MS >= WHAT_MS[0]) & (T_MS < WHAT_MS[1])
    when, fit, what = gated(x.shape[2]), force(x.shape[2]), gated(x.shape[2], what_gate)

    def step(latency, p, learners):
        i = rng.choice(train)
        z = bump(latency) * (rng.random() < p)
        for learner in learners:
            learner.trial(x[i], z)
        what.trial(x[i], np.full(T_MS.size, 1.0 if cues[i] == 0 else -1.0))

    window = np.abs(T_MS - L1) <= BUMP_SD       # the amplitude: the mean response within one sd of L1
    seen = []
    for k in range(n1):
        step(L1, 1.0, (when, fit))
        if k >= n1 - 10:                         # as for the blocks below: the last 10 trials, averaged
            seen.append(float((mean_held @ when.w)[window].mean()))
    out["peak_after_phase1"] = peak_ms(mean_held @ when.w)
    out["force_peak_after_phase1"] = peak_ms(mean_held @ fit.w)
    amplitude = {1.0: float(np.mean(seen))}
    w_phase1, force_phase1 = when.w.copy(), fit.state
    for p in (0.75, 0.5, 0.25):
        seen = []
        for k in range(n_block):
            step(L1, p, (when,))
            if k >= n_block - 10:         # the block's last 10 trials: the readout's estimate of p, averaged
                seen.append(float((mean_held @ when.w)[window].mean()))
        amplitude[p] = float(np.mean(seen))
    out["amplitude"] = amplitude
    # phase 3 continues from the end of phase 1 (p = 1 before the switch, for both)
    when.w, fit.state = w_phase1.copy(), force_phase1
    peaks = {"gated": [], "force": []}
    for _ in range(n3):
        step(L2, 1.0, (when, fit))
        peaks["gated"].append(peak_ms(mean_held @ when.w))
        peaks["force"].append(peak_ms(mean_held @ fit.w))
    out["peaks_after_switch"] = peaks
    out["relock"] = {k: relock_trial(v, n3) for k, v in peaks.items()}
    # (iv) what against when
    said = (x[held][:, what_gate] @ what.w).mean(1)
    out["what_accuracy"] = float(np.mean(np.sign(said) == np.where(cues[held] == 0, 1.0, -1.0)))
    a, b = what.w[:-1], w_phase1[:-1]
    out["cos_what_when"] = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    out["responses"] = {"held_mean_when": mean_held @ w_phase1, "held_mean_when_after_switch": mean_held @ when.w,
                        "held_mean_force_after_switch": mean_held @ fit.w}
    out["runtime_s"] = time.perf_counter() - t0
    return out


def relock_trial(peaks, n):
    """The first trial after which the peak stays within 25 ms of L2 for 5 trials in a row
    (n + 1: never)."""
    ok = np.abs(np.asarray(peaks) - L2) <= 25
    for k in range(len(ok) - 4):
        if ok[k:k + 5].all():
            return k + 1
    return n + 1


def checks_of(r):
    ps = np.array([0.25, 0.5, 0.75, 1.0])
    rel = np.array([r["amplitude"][p] / r["amplitude"][1.0] for p in ps])
    pearson = float(np.corrcoef(ps, rel)[0, 1])
    slope = float(np.polyfit(ps, rel, 1)[0])
    ridge_err = max(abs(v - L) for L, v in r["ridge_peaks"].items())
    g, f = r["relock"]["gated"], r["relock"]["force"]
    return [
        check("(c) calibration: ridge peak error over L = 100..500 ms (ms)", ridge_err, "<= 25", ridge_err <= 25),
        check("(i) gated 'when' readout: peak after phase 1 (ms after the cue)", r["peak_after_phase1"],
              f"{L1} +/- 20", abs(r["peak_after_phase1"] - L1) <= 20),
        check("(ii) A(p)/A(1) against p: Pearson r", pearson, "> 0.9", pearson > 0.9),
        check("(ii) A(p)/A(1) against p: least-squares slope", slope, "1 +/- 0.25", abs(slope - 1) <= 0.25),
        check(f"(iii) trials to re-lock to L = {L2} ms: gated rule", g, "< 50", g < 50),
        check("(iii) trials to re-lock: gated rule vs FORCE without reset", [g, f], "gated < FORCE", g < f),
        check("(iv) 'what' readout: held-out A/B accuracy", r["what_accuracy"], ">= 0.8", r["what_accuracy"] >= 0.8),
        check("(iv) |cos('what' weights, 'when' weights)|", abs(r["cos_what_when"]), "< 0.3",
              abs(r["cos_what_when"]) < 0.3),
    ]


def make_figure(path, r):
    fig = Figure(figsize=(13, 4))
    ax = fig.subplots(1, 3)
    resp = r["responses"]
    ax[0].plot(T_MS, resp["held_mean_when"], label=f"gated rule after phase 1 (L = {L1} ms)")
    ax[0].plot(T_MS, resp["held_mean_when_after_switch"], label=f"gated rule after the switch (L = {L2} ms)")
    ax[0].plot(T_MS, resp["held_mean_force_after_switch"], label="FORCE after the switch (no reset)")
    ax[0].plot(T_MS, bump(L1), "k:", lw=0.8)
    ax[0].plot(T_MS, bump(L2), "k--", lw=0.8)
    ax[0].axvspan(0, GATE_MS, color="0.9", label="gate closed")
    ax[0].set(xlabel="ms after the cue's onset", ylabel="readout (held-out mean)", title="when")
    ax[0].legend(fontsize=7)
    ps = sorted(r["amplitude"])
    ax[1].plot(ps, [r["amplitude"][p] / r["amplitude"][1.0] for p in ps], "o-", label="A(p) / A(1)")
    ax[1].plot([0, 1], [0, 1], "k:", lw=0.8)
    ax[1].set(xlabel="probability of the stimulus p", ylabel="peak amplitude / amplitude at p = 1",
              title="probability (blocks of trials)")
    pk = r["peaks_after_switch"]
    ax[2].plot(np.arange(1, len(pk["gated"]) + 1), pk["gated"], ".-", label="gated three-factor rule")
    ax[2].plot(np.arange(1, len(pk["force"]) + 1), pk["force"], ".-", label="FORCE (RLS), no reset")
    ax[2].axhline(L2, color="k", lw=0.8)
    ax[2].axhline(L1, color="k", lw=0.8, ls=":")
    ax[2].set(xlabel=f"trials after the switch {L1} -> {L2} ms", ylabel="peak time (ms)", title="re-adaptation")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def aggregate(per_seed):
    """One check per criterion over the seeds: how many of them meet it (all, for one seed; at
    least all but one otherwise: a reservoir is a random draw, and one in five may time worse)."""
    seeds = sorted(per_seed)
    need = len(seeds) if len(seeds) == 1 else len(seeds) - 1
    out = []
    for k, first in enumerate(per_seed[seeds[0]]):
        rows = [per_seed[sd][k] for sd in seeds]
        passed = sum(r["ok"] for r in rows)
        out.append(check(f"{first['name']} [{first['target']}]: seeds meeting it", passed,
                         f">= {need} of {len(seeds)}", passed >= need)
                   | {"per_seed": {str(sd): r["value"] for sd, r in zip(seeds, rows)}})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="one reservoir (seed 0) and shorter learning phases")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    seeds = (0,) if args.quick else (0, 1, 2, 3, 4)
    runs = {sd: experiment(sd, args.quick) for sd in seeds}
    checks = aggregate({sd: checks_of(r) for sd, r in runs.items()})
    args.out.mkdir(parents=True, exist_ok=True)
    make_figure(args.out / f"{NAME}.png", runs[seeds[0]])
    results = {str(sd): {k: v for k, v in r.items() if k != "responses"} for sd, r in runs.items()}
    report = {"paper": PAPER, "checks": checks, "runtime_s": time.perf_counter() - t0, "quick": bool(args.quick),
              "seeds": list(seeds), "results": results}
    return report_write(args.out, NAME, report)


if __name__ == "__main__":
    sys.exit(main())
