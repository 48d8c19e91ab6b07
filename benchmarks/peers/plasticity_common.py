"""The plasticity workloads, shared by the neurosim and Brian2 runners (standard library and
numpy only; see benchmarks/plasticity.py).

song       Brian2's examples/synapses/STDP.py: 1000 Poisson inputs (15 Hz) -> one conductance
           LIF neuron (tau_m 10 ms, E_L -74, V_th -54, V_reset -60 mV, tau_e 5 ms, E_e 0 mV),
           additive all-to-all pair STDP on every input, g_max = 0.01 (units of g_L),
           A_+ = 0.01 g_max, A_- = 1.05 A_+, tau_+- = 20 ms, weights clipped to [0, g_max],
           initial weights U[0, g_max]. Default 100 s.
coba-stdp  COBA-4000 (the benchmark network of coba.py: 80 % E, p = 0.02, 200 pA background)
           with the same additive pair STDP on E -> E (w_max = 2 w_e = 1.2 g_L, initial
           w_e = 0.6 g_L, A_+ = 0.01 w_max); E -> I, I -> E and I -> I static. Default 2 s.
           ``--static`` runs it without plasticity (for the plastic/static ratio).
izhikevich2007  the distal-reward network of Izhikevich (2007) (neurosim.builders.distal_reward:
           1000 Izhikevich neurons, 100k synapses, dopamine-modulated STDP on the 80k E synapses,
           dt = 1 ms; Brian2: benchmarks/peers/brian2_plasticity.py, the same model as daspnet.m
           runs it); default 3600 s.
"""
from __future__ import annotations

import argparse

DT_MS = 0.1
WORKLOADS = {"song": 100.0, "coba-stdp": 2.0, "izhikevich2007": 3600.0}   # default durations, s

# song
SONG_N, SONG_RATE_HZ, SONG_GMAX = 1000, 15.0, 0.01
SONG_TAU_M, SONG_EL, SONG_VTH, SONG_VRESET, SONG_TAU_E = 10.0, -74.0, -54.0, -60.0, 5.0
# coba-stdp (STDP part; the network is coba.py's)
COBA_N, COBA_WMAX = 4000, 1.2
A_REL, A_RATIO, TAU_STDP = 0.01, 1.05, 20.0


def parse_args(description, argv=None, modes=None):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds (default per workload)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--static", action="store_true", help="coba-stdp without plasticity (the same network)")
    ap.add_argument("--threads", type=int, default=1)
    if modes:
        ap.add_argument("--mode", default=modes[0], choices=modes)
    args = ap.parse_args(argv)
    if args.duration is None:
        args.duration = WORKLOADS[args.workload]
    return args


def weight_stats(w, w_max) -> dict:
    import numpy as np

    x = np.asarray(w, float) / w_max
    return {"w_mean_rel": round(float(x.mean()), 4), "frac_w_low": round(float(np.mean(x < 0.1)), 4),
            "frac_w_high": round(float(np.mean(x > 0.9)), 4), "n_plastic": int(x.size)}
