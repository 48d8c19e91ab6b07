"""Synthetic spiking datasets, generated in code (no download).

:func:`randman` — the random-manifold task of Zenke & Vogels (2021): each class is a smooth
random manifold of dimension ``dim`` embedded in ``n_units`` dimensions; a sample is a point on
its class's manifold, and each embedding coordinate becomes the time of one spike of one input
unit. Each coordinate of a class's manifold is

    f_u(x) = prod_{d < dim} sum_{i=1}^{f_c} a_{u,d,i} i^{-alpha} sin(2 pi (i x_d b_{u,d,i} + c_{u,d,i}))

with ``x ~ U[0, 1]^dim`` and ``a, b, c ~ U[0, 1]`` drawn once per class; ``f_c = ceil(prec^(-1/alpha))``
terms (32 for alpha = 2 and prec = 1e-3). Smaller ``alpha`` makes rougher manifolds, larger
``dim`` more of them to tell apart: both make the task harder. Each unit's values are scaled to
[0, 1] over the whole dataset (min-max; our choice) and unit ``u`` of a sample spikes once, at
step ``floor(f_u (n_steps - 1))``.

Reference: F. Zenke and T. P. Vogels, "The remarkable robustness of surrogate gradient learning
for instilling complex function in spiking neural networks", Neural Comput. 33:899 (2021).

:func:`pattern_generation` — the pattern-generation task of Bellec et al. (2020, Fig. 2): a
frozen Poisson input (``n_inputs`` trains at ``rate_hz`` in steps of ``dt``) and a target trace

    y*(t) = sum_f a_f sin(2 pi f t + phi_f),   a_f ~ U[0.5, 2], phi_f ~ U[0, 2 pi], f in freqs_hz

scaled to a peak of 1, which a network must reproduce from the input.
Reference: G. Bellec et al., "A solution to the learning dilemma for recurrent networks of
spiking neurons", Nat. Commun. 11:3625 (2020).

:func:`cue_recall` — a memory-retention task: a cue names one of ``n_classes`` classes at the
start of a trial, a delay of background noise follows, and a recall signal at the end asks for
the class. The inputs come in ``n_classes + 1`` groups of ``group`` channels: group ``c`` fires
at ``cue_hz`` for the first ``cue_steps`` steps when the class is ``c``; the last group fires at
``cue_hz`` during the last ``recall_steps`` steps of every trial (the same for all classes);
every channel fires at ``noise_hz`` throughout (Poisson, Bernoulli per step). Between cue and
recall lie ``delay`` steps that carry no information about the class: a network answers above
chance only if it holds the cue that long. (The store-and-recall shape of the working-memory
tasks of Bellec et al. 2018, NeurIPS, "Long short-term memory and learning-to-learn in networks
of spiking neurons", reduced to one cue.)
"""
from __future__ import annotations

import math

import numpy as np

from .. import _checks

__all__ = ["cue_recall", "pattern_generation", "randman"]


def randman(n_classes: int = 10, n_units: int = 20, dim: int = 1, *, alpha: float = 2.0, n_steps: int = 50,
            per_class: int = 500, prec: float = 1e-3, seed: int = 0):
    """``(spikes, labels)``: spikes (n_classes x per_class, n_steps, n_units) float32, exactly one
    spike per unit per sample, and labels (n,) int32, shuffled (module docstring). Same seed,
    same data."""
    n_classes = _checks.integer_at_least("n_classes", n_classes, 2)
    n_units = _checks.integer_at_least("n_units", n_units)
    dim = _checks.integer_at_least("dim", dim)
    n_steps = _checks.integer_at_least("n_steps", n_steps, 2)
    per_class = _checks.integer_at_least("per_class", per_class)
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive number (the smoothness exponent), got {alpha!r}")
    if not (isinstance(prec, (int, float)) and 0 < prec < 1):
        raise ValueError(f"prec must be in (0, 1) (the amplitude of the last Fourier term), got {prec!r}")
    rng = np.random.default_rng(seed)
    f_c = int(math.ceil(prec ** (-1.0 / alpha)))
    i = np.arange(1, f_c + 1, dtype=float)
    values, labels = [], []
    for c in range(n_classes):
        a, b, ph = rng.uniform(0.0, 1.0, (3, n_units, dim, f_c))
        x = rng.uniform(0.0, 1.0, (per_class, dim))
        # (samples, units, dim, terms) -> sum over terms, product over dims
        terms = a * i ** (-alpha) * np.sin(2 * np.pi * (i * x[:, None, :, None] * b + ph))
        values.append(np.prod(terms.sum(-1), axis=-1))
        labels.append(np.full(per_class, c, np.int32))
    v, y = np.concatenate(values), np.concatenate(labels)
    lo, hi = v.min(0), v.max(0)
    v = (v - lo) / np.where(hi > lo, hi - lo, 1.0)
    steps = np.minimum(np.floor(v * (n_steps - 1)).astype(int), n_steps - 1)
    spikes = np.zeros((len(v), n_steps, n_units), np.float32)
    spikes[np.arange(len(v))[:, None], steps, np.arange(n_units)[None, :]] = 1.0
    order = rng.permutation(len(v))
    return spikes[order], y[order]


def pattern_generation(n_inputs: int = 50, n_steps: int = 1000, *, dt: float = 1.0, rate_hz: float = 10.0,
                       freqs_hz=(1.0, 2.0, 3.0, 5.0), seed: int = 0):
    """``(x, target)``: the input spikes (1, n_steps, n_inputs) float32 and the target (1,
    n_steps, 1) float32 (module docstring). Same seed, same data."""
    n_inputs = _checks.integer_at_least("n_inputs", n_inputs)
    n_steps = _checks.integer_at_least("n_steps", n_steps)
    dt = _checks.positive_finite("dt", dt)
    p = _checks.positive_finite("rate_hz", rate_hz) * dt / 1000.0
    if p > 1:
        raise ValueError(f"rate_hz = {rate_hz!r} at dt = {dt!r} ms is more than one spike per step")
    rng = np.random.default_rng(seed)
    x = (rng.uniform(size=(1, n_steps, n_inputs)) < p).astype(np.float32)
    t = np.arange(n_steps) * dt / 1000.0
    y = sum(rng.uniform(0.5, 2.0) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs_hz)
    return x, (y / np.abs(y).max()).astype(np.float32)[None, :, None]


def cue_recall(n_samples: int, *, delay: int = 200, n_classes: int = 2, group: int = 10, cue_steps: int = 20,
               recall_steps: int = 20, cue_hz: float = 100.0, noise_hz: float = 5.0, dt: float = 1.0, seed: int = 0):
    """``(x, labels)``: input spikes (n_samples, T, (n_classes + 1) * group) float32 with ``T =
    cue_steps + delay + recall_steps``, and labels (n_samples,) int32, balanced classes in random
    order (module docstring). The answer is read in the last ``recall_steps`` steps, e.g.
    ``CrossEntropy("mean", window=(T - recall_steps, T))``. Same seed, same data."""
    n_samples = _checks.integer_at_least("n_samples", n_samples)
    delay = _checks.integer_at_least("delay", delay, 0)
    n_classes = _checks.integer_at_least("n_classes", n_classes, 2)
    group = _checks.integer_at_least("group", group)
    cue_steps = _checks.integer_at_least("cue_steps", cue_steps)
    recall_steps = _checks.integer_at_least("recall_steps", recall_steps)
    dt = _checks.positive_finite("dt", dt)
    p_cue = _checks.positive_finite("cue_hz", cue_hz) * dt / 1000.0
    noise_hz = float(noise_hz)
    if not (math.isfinite(noise_hz) and noise_hz >= 0):
        raise ValueError(f"noise_hz must be >= 0 (Hz), got {noise_hz!r}")
    p_noise = noise_hz * dt / 1000.0
    if p_cue > 1 or p_noise > 1:
        raise ValueError(f"cue_hz = {cue_hz!r} and noise_hz = {noise_hz!r} at dt = {dt!r} ms must stay below one "
                         f"spike per step ({1000.0 / dt:g} Hz)")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n_samples) % n_classes).astype(np.int32)
    n_steps = cue_steps + delay + recall_steps
    rate = np.full((n_samples, n_steps, (n_classes + 1) * group), p_noise)
    for c in range(n_classes):
        rate[labels == c, :cue_steps, c * group:(c + 1) * group] = p_cue
    rate[:, n_steps - recall_steps:, n_classes * group:] = p_cue
    x = (rng.uniform(size=rate.shape) < rate).astype(np.float32)
    return x, labels
