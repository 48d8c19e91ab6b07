"""The network workloads of benchmarks/networks.py, shared by the neurosim and Brian2 runners
(standard library and numpy only: the Brian2 runner runs in its own venv).

izhikevich2003  The 1000-neuron network of Izhikevich (2003) "Simple model of spiking neurons"
           (his ``net.m``), as ``neurosim.builders.izhikevich_reservoir()`` builds it with its
           defaults: 800 excitatory (a = 0.02, b = 0.2, c = -65 + 15 r^2, d = 8 - 6 r^2) and
           200 inhibitory (a = 0.02 + 0.08 r, b = 0.25 - 0.05 r, c = -65, d = 2) neurons,
           r ~ U[0, 1] per neuron; all-to-all (autapses included) instantaneous current synapses,
           S[post, pre] = 0.5 U[0, 1] from E and -U[0, 1] from I, a spike moving the membrane in
           the next step; thalamic input I = 5 N(0, 1) (E) / 2 N(0, 1) (I) redrawn every step;
           dt = 1 ms, v advanced by two 0.5-ms Euler half steps, then u by one 1-ms step with the
           new v; v >= 30 -> v = c, u += d; v(0) = -65, u(0) = b v(0). Both tools use the same
           r and S (:func:`izhikevich_draws` repeats the builder's numpy draws from the seed);
           the noise streams differ (JAX and Brian have their own generators). Default 1 s.
adex       The COBA network of Vogels & Abbott (2005) / Brette et al. (2007) benchmark 1
           (benchmarks/peers/common.py: 4000 neurons, 80 % E, p = 0.02, autapses allowed,
           exponential conductances tau_e 5 / tau_i 10 ms, E_e 0 / E_i -80 mV, w_e 6 / w_i 67 nS,
           spikes delivered in the next step (one 0.1-ms step of delay), 200 pA constant drive,
           V(0) ~ U(-60, -50) mV, dt = 0.1 ms, forward Euler) with adaptive exponential
           integrate-and-fire cells (Brette & Gerstner 2005) in place of the LIF ones:

               C dV/dt = -g_L (V - E_L) + g_L Delta_T exp((V - V_T) / Delta_T) - w + I_syn + I_bg
               tau_w dw/dt = a (V - E_L) - w
               V >= V_peak -> V = V_reset, w += b; V held at V_reset for t_ref

           with the COBA cell's passive constants (C = 200 pF, g_L = 10 nS, E_L = V_reset =
           -60 mV, V_T = -50 mV, t_ref = 5 ms), Delta_T = 2 mV, V_peak = V_T + 5 Delta_T =
           -40 mV, and an adapting-E / non-adapting-I split in the spirit of the AdEx
           networks of Destexhe (2009, J. Comput. Neurosci. 27:493): E ("regular spiking")
           a = 1 nS, b = 40 pA, tau_w = 600 ms; I ("fast spiking") a = 1 nS, b = 0,
           tau_w = 600 ms; w(0) = 0. With the 200 pA drive this fires asynchronously and
           irregularly (seeds 0-2, 2 s: E 6-8 Hz, I 9-10 Hz, E ISI CV ~1.3; both tools within
           a few percent of each other). The two tools draw their own connectivity and V(0)
           (as in the COBA benchmark). Default 1 s.
"""
from __future__ import annotations

WORKLOADS = {"izhikevich2003": 1.0, "adex": 1.0}   # default durations, s
DT_MS = {"izhikevich2003": 1.0, "adex": 0.1}

# izhikevich2003 (net.m; the defaults of neurosim.builders.izhikevich_reservoir)
IZH_NE, IZH_NI = 800, 200
IZH_W_EXC, IZH_W_INH = 0.5, 1.0
IZH_NOISE_EXC, IZH_NOISE_INH = 5.0, 2.0

# adex: COBA network (benchmarks/peers/common.py) with AdEx cells
ADEX_N = 4000
ADEX_CELL = dict(c_m=200.0, g_l=10.0, e_l=-60.0, v_t=-50.0, delta_t=2.0, v_reset=-60.0, v_peak=-40.0,
                 t_ref=5.0)   # pF, nS, mV, mV, mV, mV, mV, ms
ADEX_EXC = dict(a=1.0, b=40.0, tau_w=600.0)   # nS, pA, ms: adapting (regular spiking)
ADEX_INH = dict(a=1.0, b=0.0, tau_w=600.0)    # no spike-triggered adaptation (fast spiking)


def izhikevich_draws(seed: int):
    """r (n,), the E weights (n_e * n,) and the I weights (n_i * n,) exactly as
    ``neurosim.builders.izhikevich_reservoir(seed=seed)`` draws them (p = 1): the synapses in
    pre-major order, post ascending; float32 as the builder stores them."""
    import numpy as np

    n = IZH_NE + IZH_NI
    rng = np.random.default_rng(seed)
    r = rng.random(n)
    w_e = (IZH_W_EXC * rng.random(IZH_NE * n)).astype(np.float32)
    w_i = (-IZH_W_INH * rng.random(IZH_NI * n)).astype(np.float32)
    return r, w_e, w_i


def izhikevich_params(r):
    """a, b, c, d (float32, one per neuron) from r, as the builder computes them."""
    import numpy as np

    exc = np.arange(r.size) < IZH_NE
    return (np.where(exc, 0.02, 0.02 + 0.08 * r).astype(np.float32),
            np.where(exc, 0.2, 0.25 - 0.05 * r).astype(np.float32),
            np.where(exc, -65.0 + 15.0 * r**2, -65.0).astype(np.float32),
            np.where(exc, 8.0 - 6.0 * r**2, 2.0).astype(np.float32))


def parse_args(description, argv=None, modes=None, add=None):
    """The runners' options. ``args.n`` and ``args.p`` are set from the workload, so that
    ``common.result`` can compute the E / I rates (both networks are 80 % excitatory)."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds (default per workload)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    if modes:
        ap.add_argument("--mode", default=modes[0], choices=modes)
    if add is not None:
        add(ap)
    args = ap.parse_args(argv)
    if args.duration is None:
        args.duration = WORKLOADS[args.workload]
    if args.duration <= 0:
        ap.error("--duration must be > 0")
    if args.workload == "izhikevich2003":
        args.n, args.p = IZH_NE + IZH_NI, 1.0
    else:
        args.n, args.p = ADEX_N, 0.02
    args.dt_ms = DT_MS[args.workload]
    return args
