"""The COBAHH network of benchmarks/cobahh.py, shared by its runners (standard library and
numpy only: every peer runner runs in its own venv).

Brette et al. (2007) benchmark 3, as Brian2's example ``examples/COBAHH.py`` states it
(the version with ``exprel``, unchanged in brian-team/brian2 since 2019):

* N Hodgkin-Huxley cells of the Traub & Miles type, the first 80 % excitatory
  (3200 E + 800 I at N = 4000); every ordered pair connected independently with probability
  p = 0.02 (``Synapses.connect(p=0.02)``: autapses allowed); past N = 4000 the runners keep
  80 synapses per neuron on average, as the COBA benchmark (``common.default_p``).
* Membrane patch of 20000 um^2: C = 1 uF/cm^2 -> 200 pF, g_L = 5e-5 S/cm^2 -> 10 nS,
  g_Na = 100 mS/cm^2 -> 20 uS, g_K = 30 mS/cm^2 -> 6 uS; E_L = -60, E_K = -90, E_Na = 50,
  V_T = -63 mV.

      C dv/dt = g_L (E_L - v) + g_e (E_e - v) + g_i (E_i - v)
                - g_Na m^3 h (v - E_Na) - g_K n^4 (v - E_K)
      dx/dt = alpha_x(v) (1 - x) - beta_x(v) x        for x in m, h, n
      dg_e/dt = -g_e / 5 ms,  dg_i/dt = -g_i / 10 ms

  with u = v - V_T in mV and rates in 1/ms:

      alpha_m = 0.32 * 4 / exprel((13 - u) / 4)     beta_m = 0.28 * 5 / exprel((u - 40) / 5)
      alpha_h = 0.128 exp((17 - u) / 18)            beta_h = 4 / (1 + exp((40 - u) / 5))
      alpha_n = 0.032 * 5 / exprel((15 - u) / 5)    beta_n = 0.5 exp((10 - u) / 40)

  where exprel(x) = (exp(x) - 1) / x (exprel(0) = 1), i.e. alpha_m = 0.32 (13 - u) /
  (exp((13 - u) / 4) - 1) without the removable singularity.
* Synapses: an E spike adds w_e = 6 nS to g_e of its targets (E_e = 0 mV), an I spike
  w_i = 67 nS to g_i (E_i = -80 mV); no delay beyond the next step.
* Spike: v > -20 mV while not refractory; refractory 3 ms after a spike (threshold blocked
  only: there is no reset, v is not clamped). A neuron that spiked at step s may spike again
  from step s + 30 on (Brian's ``timestep(t - lastspike, dt) >= timestep(3 ms, dt)``).
* Integration: exponential Euler (every variable linear in itself with the others frozen at
  the start of the step), dt = 0.1 ms.
* Initial state: v = E_L + (5 N(0, 1) - 5) mV, g_e = (1.5 N(0, 1) + 4) * 10 nS,
  g_i = (12 N(0, 1) + 20) * 10 nS (about 5 % of the g_i start negative; Brian keeps them),
  m = h = n = 0 (Brian's default: the example does not set them).
* Duration 1 s (the example's ``run(1 * second)``).

Statistics every runner reports (:func:`stats`), over the whole run:
``rate_e_hz`` / ``rate_i_hz`` (common.result), ``n_spikes``, ``frac_firing`` (neurons with at
least one spike), ``cv_isi_mean`` (mean over the neurons with at least ``CV_MIN_SPIKES`` = 3
spikes of std(ISI) / mean(ISI), std with ddof = 0; ``cv_isi_n_neurons`` of them), and
``rate_bins_hz``: the population rate (all neurons) in consecutive ``rate_bin_ms`` = 100 ms
bins (the last one shorter when the duration is not a multiple), to see whether the activity
lasts.
"""
from __future__ import annotations

# ---------------------------------------------------------------- parameters (mV, nS, pF, ms)
DT_MS = 0.1
DURATION_S = 1.0
AREA_CM2 = 20000e-8          # 20000 um^2
C_M_PF = 1.0 * AREA_CM2 * 1e6              # 1 uF/cm^2 * area = 200 pF
G_L_NS = 5e-5 * AREA_CM2 * 1e9              # 10 nS
G_NA_NS = 100e-3 * AREA_CM2 * 1e9           # 20000 nS
G_K_NS = 30e-3 * AREA_CM2 * 1e9             # 6000 nS
E_L_MV, E_K_MV, E_NA_MV, V_T_MV = -60.0, -90.0, 50.0, -63.0
TAU_E_MS, TAU_I_MS = 5.0, 10.0
E_E_MV, E_I_MV = 0.0, -80.0
W_E_NS, W_I_NS = 6.0, 67.0
V_SPIKE_MV = -20.0
T_REF_MS = 3.0
REF_STEPS = int(round(T_REF_MS / DT_MS))     # 30
# initial state: mean and std of the normal draws
V0_MEAN_MV, V0_STD_MV = E_L_MV - 5.0, 5.0        # E_L + (5 N - 5) mV
GE0_MEAN_NS, GE0_STD_NS = 40.0, 15.0             # (1.5 N + 4) * 10 nS
GI0_MEAN_NS, GI0_STD_NS = 200.0, 120.0           # (12 N + 20) * 10 nS

CV_MIN_SPIKES = 3
RATE_BIN_MS = 100.0

BRIAN2_EXAMPLE = "brian-team/brian2 examples/COBAHH.py (exprel version, 2019-12-09)"


def stats(counts, isi_mean, isi_m2, n_exc: int, duration_s: float, rate_bins_hz) -> dict:
    """The COBAHH statistics from per-neuron moments of the ISIs.

    ``counts[k]``: spikes of neuron k; ``isi_mean[k]``, ``isi_m2[k]``: the mean of its
    ``counts[k] - 1`` ISIs and the sum of their squared deviations from that mean (Welford's
    M2), in any one time unit (the CV has none); ``rate_bins_hz``: population rate per bin."""
    import numpy as np

    counts = np.asarray(counts, dtype=np.int64)
    isi_mean = np.asarray(isi_mean, dtype=np.float64)
    isi_m2 = np.asarray(isi_m2, dtype=np.float64)
    n = counts.size
    ok = counts >= CV_MIN_SPIKES
    n_isi = np.maximum(counts - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = np.sqrt(np.maximum(isi_m2, 0.0) / n_isi) / isi_mean
    cv_ok = cv[ok]
    return {
        "n_spikes": int(counts.sum()),
        "frac_firing": round(float((counts > 0).mean()), 5) if n else None,
        "frac_firing_e": round(float((counts[:n_exc] > 0).mean()), 5) if n_exc else None,
        "frac_firing_i": round(float((counts[n_exc:] > 0).mean()), 5) if n > n_exc else None,
        "cv_isi_mean": round(float(cv_ok.mean()), 5) if cv_ok.size else None,
        "cv_isi_n_neurons": int(ok.sum()),
        "cv_isi_rule": (f"mean over neurons with >= {CV_MIN_SPIKES} spikes of std(ISI)/mean(ISI), "
                        "std with ddof=0, ISIs over the whole run"),
        "rate_bin_ms": RATE_BIN_MS,
        "rate_bins_hz": [round(float(r), 3) for r in rate_bins_hz],
        "dt_ms": DT_MS,
    }


def isi_moments(neuron, step, n: int):
    """Per-neuron (counts, ISI mean, ISI M2) from spike neuron indices and integer step
    indices (any order), in steps."""
    import numpy as np

    neuron = np.asarray(neuron, dtype=np.int64)
    step = np.asarray(step, dtype=np.int64)
    counts = np.bincount(neuron, minlength=n)
    mean = np.zeros(n)
    m2 = np.zeros(n)
    if neuron.size:
        order = np.lexsort((step, neuron))
        nk, sk = neuron[order], step[order]
        same = nk[1:] == nk[:-1]
        isi = (sk[1:] - sk[:-1])[same].astype(np.float64)
        who = nk[1:][same]
        n_isi = np.bincount(who, minlength=n)
        s1 = np.bincount(who, weights=isi, minlength=n)
        has = n_isi > 0
        mean[has] = s1[has] / n_isi[has]
        dev = isi - mean[who]
        m2 = np.bincount(who, weights=dev * dev, minlength=n)
    return counts, mean, m2


def rate_bins(step, n: int, duration_s: float):
    """Population rate (Hz per neuron) in consecutive RATE_BIN_MS bins from spike step indices."""
    import numpy as np

    n_steps = int(round(duration_s * 1000.0 / DT_MS))
    per_bin = int(round(RATE_BIN_MS / DT_MS))
    edges = list(range(0, n_steps, per_bin)) + [n_steps]
    hist = np.histogram(np.asarray(step), bins=edges)[0]
    widths_s = np.diff(edges) * DT_MS / 1000.0
    return hist / widths_s / n


def rate_bins_from_step_counts(step_counts, n: int):
    """Population rate in RATE_BIN_MS bins from spikes per step (all neurons)."""
    import numpy as np

    c = np.asarray(step_counts, dtype=np.int64)
    per_bin = int(round(RATE_BIN_MS / DT_MS))
    out = []
    for a in range(0, c.size, per_bin):
        seg = c[a:a + per_bin]
        out.append(seg.sum() / (seg.size * DT_MS / 1000.0) / n)
    return out
