"""The astrocyte workloads, shared by the neurosim and Brian2 runners (standard library only;
see benchmarks/astro.py).

tripartite  Stimberg et al. (2019), closed-loop gliotransmission (their Fig. 4B example;
            neurosim.builders.tripartite): 500 Poisson sources, each driving three
            Tsodyks-Markram synapses (closed-loop, open-loop and no gliotransmission), 1000 ChI
            astrocytes (rk4), dt = 1 ms; the presynaptic rate steps 0.011 -> 0.11 -> 1.1 -> 11 Hz
            every quarter of the run (5 s each by default). Both runners record the mean Y_S of
            each loop every step and report its mean per epoch (``ys_<loop>`` lists, uM).
nalsm       the NALSM liquid of Ivanov & Michmizos (2021) (neurosim.builders.nalsm): 1000 LIF
            neurons on a 10 x 10 x 10 grid (connections drawn by neurosim's builder and written
            to a file both runners read), 64 Bernoulli inputs at fixed per-step probabilities
            (the encoding of one digit), astrocyte-modulated STDP on every projection, one
            astrocyte (w_A 0.015), dt = 1 ms, run continuously (no resets); default 2 s. Lines
            carry the liquid's rate and the mean weight of each projection at the end.
"""
from __future__ import annotations

import argparse

WORKLOADS = {"tripartite": 20.0, "nalsm": 2.0}   # default durations, s
TRIPARTITE_N = 500
TRIPARTITE_DT_MS = 1.0
TRIPARTITE_RATES_HZ = (0.011, 0.11, 1.1, 11.0)
LOOPS = ("closed", "open", "none")


def parse_args(description, argv=None, modes=None, network=False):
    ap = argparse.ArgumentParser(description=description)
    if network:
        ap.add_argument("--network", default=None, help="the nalsm connections (.npz, written by benchmarks/astro.py)")
    ap.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds (default per workload)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    if modes:
        ap.add_argument("--mode", default=modes[0], choices=modes)
    args = ap.parse_args(argv)
    if args.duration is None:
        args.duration = WORKLOADS[args.workload]
    if args.duration <= 0:
        ap.error(f"--duration must be > 0 s, got {args.duration}")
    return args


def epoch_means(t_ms, values, duration_s):
    """Per loop, the mean of ``values`` (steps x 3) over each of the four rate epochs."""
    n = len(TRIPARTITE_RATES_HZ)
    edges = [duration_s * 1e3 * k / n for k in range(n + 1)]
    out = {}
    for j, loop in enumerate(LOOPS):
        col = [row[j] for row in values]
        means = []
        for a, b in zip(edges[:-1], edges[1:]):
            sel = [v for t, v in zip(t_ms, col) if a <= t < b]
            means.append(round(sum(sel) / len(sel), 4) if sel else None)
        out[f"ys_{loop}"] = means
    return out


NALSM_GRID = (10, 10, 10)
NALSM_INPUTS = 64
NALSM_W_A = 0.015


def nalsm_input_p():
    """Per-step spike probabilities of the 64 inputs: a fixed digit-like pattern (a ring of
    ink on the 8 x 8 grid, normalised as the paper's encoding: the largest is 1/2)."""
    out = []
    for r in range(8):
        for c in range(8):
            d = ((r - 3.5) ** 2 + (c - 3.5) ** 2) ** 0.5
            out.append(0.5 if 1.5 <= d <= 3.2 else 0.02)
    return out
