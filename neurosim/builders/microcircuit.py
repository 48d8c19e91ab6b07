"""The cortical microcircuit of Potjans & Diesmann (2014): 1 mm² of early sensory cortex, eight
populations of current-based LIF neurons in four layers, the field's reference network for
simulator speed.

    net = microcircuit(scale=0.1)              # 7,717 neurons, in-degrees scaled with it
    res = ns.simulate(net, 1000.0, 0.1, monitors=[ns.Spikes(p) for p in POPULATIONS])

**Model** (units ms, mV, pF, pA, Hz). Populations L23E, L23I, L4E, L4I, L5E, L5I, L6E, L6I of
20,683 / 5,834 / 21,915 / 5,479 / 4,850 / 1,065 / 14,395 / 2,948 neurons. Neurons: LIF with
C_m 250 pF, tau_m 10 ms (g_l 25 nS), E_L = V_reset = -65 mV, V_th -50 mV, t_ref 2 ms, initial
V normal per population (van Albada et al.'s "optimized" means and spreads). Synapses:
exponential currents, tau_syn 0.5 ms; a weight is the current that gives a 0.15 mV PSP with a
relative spread of 10 % (normal, clipped at 0 to keep its sign), -4 times that for inhibitory
sources, and twice that from L4E onto L23E. The PSP is 0.15 mV *as neurosim integrates it*:
87.8 pA integrated exactly (NEST's ``iaf_psc_exp``), 79.6 pA at dt = 0.1 ms in neurosim, whose
``LIF`` holds the synaptic current at its value at the start of each step. With tau_syn only 5
steps long, 87.8 pA would give 0.166 mV here: 10 % more charge per spike, and rates 10-50 %
above NEST's on the same network (:func:`psc_per_psp`). Delays: normal, 1.5 ± 0.75 ms
from excitatory and 0.75 ± 0.375 ms from inhibitory sources, rounded to the step and clipped at
one step (one per synapse: :mod:`neurosim.events.delays`). Connectivity: the connection
probabilities ``P`` of the paper's Table 5; the number of synapses between two populations is
``log(1 - P) / log(1 - 1 / (N_post N_pre))`` (the rule that counts multapses), given as an
in-degree ``K = synapses / N_post``. Background: ``K_ext`` Poisson trains of 8 Hz per neuron
(1600 / 1500 / 2100 / 1900 / 2000 / 1900 / 2900 / 2100) with the excitatory weight, or their
mean as a DC current (``background="dc"``).

**Downscaling** (van Albada, Helias & Diesmann 2015). ``scale`` multiplies the population
sizes, ``k_scale`` (default ``scale``) the in-degrees (internal and external). With
``k_scale < 1`` the weights are divided by ``sqrt(k_scale)`` (keeping the input's variance) and
a DC current ``(1 - sqrt(k_scale)) tau_syn sum_j K_ij w_ij r_j`` per neuron restores its mean,
``r_j`` the full-scale rates (:data:`FULL_SCALE_RATES_HZ`, external sources at 8 Hz): so a
scaled-down network keeps the full-scale mean rates to first order. ``k_scale = 1`` keeps the
in-degrees (possible while every ``K`` fits in its scaled presynaptic population).

**Differences from NEST's reference implementation**, stated: neurosim draws each pair of
populations' synapses with a fixed probability ``K / N_pre`` (binomial in-degrees, no
multapses) where NEST places a fixed total number with multapses; weights and delays outside
their range are clipped where NEST redraws them. The mean in-degrees, weights and delays are
the same. A delay counts from the start of the spike's step here, from its end in NEST (the
same ``delay_ms`` arrives one step earlier here: docs/delays.md); the delays are the paper's
numbers in neurosim's terms.

References: T. C. Potjans, M. Diesmann, Cereb. Cortex 24:785-806 (2014); S. J. van Albada, M.
Helias, M. Diesmann, PLoS Comput. Biol. 11:e1004490 (2015).
"""
from __future__ import annotations

import math

import jax
import numpy as np

from .. import _checks
from ..events import fixed_probability
from ..events.delays import normal_delays
from ..init import Normal
from ..inputs import ConstantCurrent, PoissonInput, PoissonInputParams
from ..network import Input, Network, Population, Projection
from ..neurons import LIF, LIFParams
from ..synapses import Synapse, SynapseParams

__all__ = ["POPULATIONS", "FULL_SIZES", "CONNECTION_PROBABILITIES", "K_EXT", "FULL_SCALE_RATES_HZ",
           "microcircuit", "indegrees", "psc_per_psp"]

POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
FULL_SIZES = (20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948)
# Table 5 of Potjans & Diesmann (2014): row = target, column = source, in POPULATIONS order
CONNECTION_PROBABILITIES = np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
])
K_EXT = (1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100)   # external Poisson inputs per neuron
# Mean rates of the full-scale model with Poisson background (NEST's reference run, as an earlier
# release of its microcircuit example records them; the current one lists 0.903, 2.965, 4.414,
# 5.876, 7.569, 8.633, 1.105, 7.829 Hz): the DC compensation of a downscaled network uses them.
FULL_SCALE_RATES_HZ = (0.943, 3.026, 4.368, 5.882, 7.733, 8.664, 1.096, 7.851)
V0_MEAN_MV = (-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43)
V0_STD_MV = (5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48)

C_M, TAU_M, TAU_SYN, T_REF = 250.0, 10.0, 0.5, 2.0            # pF, ms, ms, ms
E_L, V_TH = -65.0, -50.0                                      # mV
PSP_MV, WEIGHT_REL_STD, G, BG_RATE_HZ = 0.15, 0.1, -4.0, 8.0
DELAY_E_MS, DELAY_I_MS, DELAY_REL_STD = 1.5, 0.75, 0.5


def psc_per_psp(c_m: float = C_M, tau_m: float = TAU_M, tau_syn: float = TAU_SYN, dt: float | None = None) -> float:
    """The amplitude (pA) of an exponential synaptic current whose PSP peaks at 1 mV in a LIF
    neuron of capacitance ``c_m`` (pF) and time constants ``tau_m``, ``tau_syn`` (ms).

    ``dt=None``: integrated exactly (as NEST's ``iaf_psc_exp``), the peak of ``v(t) = w tau_m
    tau_syn / (c_m (tau_m - tau_syn)) (e^{-t/tau_m} - e^{-t/tau_syn})``. ``dt`` (ms): as
    neurosim's step integrates it (``LIF`` holds the current at its value at the start of each
    step, ``g_k = w b^k``, ``b = e^{-dt/tau_syn}``), the peak over whole steps of ``v_n = w (1 - a)
    (a^n - b^n) / (g_l (a - b))``, ``a = e^{-dt/tau_m}``. The two differ where ``tau_syn`` is
    short against ``dt``: 87.8 pA and 79.6 pA for the microcircuit's 0.15 mV at dt = 0.1 ms."""
    c_m, tau_m, tau_syn = (_checks.positive_finite(n, v) for n, v in (("c_m", c_m), ("tau_m", tau_m),
                                                                     ("tau_syn", tau_syn)))
    if tau_m == tau_syn:
        raise ValueError(f"psc_per_psp: tau_m and tau_syn must differ (the PSP's form divides by tau_m - tau_syn), "
                         f"got both {tau_m!r} ms")
    if dt is None:
        t_peak = tau_m * tau_syn / (tau_m - tau_syn) * math.log(tau_m / tau_syn)
        peak = tau_m * tau_syn / (c_m * (tau_m - tau_syn)) * (math.exp(-t_peak / tau_m) - math.exp(-t_peak / tau_syn))
        return 1.0 / peak
    dt = _checks.positive_finite("dt", dt)
    a, b, g_l = math.exp(-dt / tau_m), math.exp(-dt / tau_syn), c_m / tau_m
    n = np.arange(1, int(20 * max(tau_m, tau_syn) / dt) + 2)
    return 1.0 / float(np.max((1.0 - a) * (a ** n - b ** n) / (g_l * (a - b))))


def indegrees(sizes=FULL_SIZES) -> np.ndarray:
    """``K[i, j]``: the mean number of synapses a neuron of population i receives from
    population j in the full-scale model, ``log(1 - P) / log(1 - 1 / (N_i N_j)) / N_i``."""
    n = np.asarray(sizes, np.float64)
    prod = np.outer(n, n)
    synapses = np.log1p(-CONNECTION_PROBABILITIES) / np.log1p(-1.0 / prod)
    return synapses / n[:, None]


def microcircuit(scale: float = 0.1, *, k_scale: float | None = None, background: str = "poisson",
                 dt: float = 0.1, seed: int = 0) -> Network:
    """The Potjans & Diesmann (2014) microcircuit (module docstring): ``scale`` of its neurons,
    ``k_scale`` (default ``scale``) of its in-degrees with van Albada's compensation,
    ``background`` "poisson" or "dc", delays drawn for steps of ``dt`` ms, connectivity, weights
    and delays drawn from ``seed``."""
    scale = _checks.positive_finite("scale", scale)
    if scale > 1:
        raise ValueError(f"scale must be in (0, 1] (a fraction of the full model's neurons), got {scale!r}")
    k_scale = scale if k_scale is None else _checks.positive_finite("k_scale", k_scale)
    if k_scale > 1:
        raise ValueError(f"k_scale must be in (0, 1] (a fraction of the full model's in-degrees), got {k_scale!r}")
    if background not in ("poisson", "dc"):
        raise ValueError(f"background must be 'poisson' or 'dc', got {background!r}")
    dt = _checks.positive_finite("dt", dt)
    seed = _checks.seed("seed", seed)
    sizes = [max(1, int(round(n * scale))) for n in FULL_SIZES]
    k_full = indegrees()
    # a PSP of 0.15 mV as neurosim's step integrates it (module docstring). The DC terms need the
    # mean charge a spike brings: w_model tau_syn, equal within 0.01 % at dt = 0.1 ms to the
    # charge w_exc dt / (1 - e^{-dt/tau_syn}) of neurosim's step
    w_exc, w_model = PSP_MV * psc_per_psp(dt=dt), PSP_MV * psc_per_psp()
    sign = np.where(np.arange(8)[None, :] % 2 == 0, 1.0, G) * np.ones((8, 8))
    sign[0, 2] *= 2.0                                          # L4E -> L23E: twice the weight
    w_full, w_charge = w_exc * sign, w_model * sign
    w_scaled = w_full / math.sqrt(k_scale)
    rng = np.random.default_rng(seed)

    pops = [Population(name, n, LIF(v_init=Normal(m, s)),
                        LIFParams(v_rest=E_L, v_reset=E_L, v_th=V_TH, c_m=C_M, g_l=C_M / TAU_M, t_ref=T_REF))
            for name, n, m, s in zip(POPULATIONS, sizes, V0_MEAN_MV, V0_STD_MV)]
    synapse, syn_params = Synapse("exponential", "current"), SynapseParams(tau=TAU_SYN)
    projections = []
    for i, target in enumerate(POPULATIONS):
        for j, source in enumerate(POPULATIONS):
            k = k_full[i, j] * k_scale
            if k == 0:
                continue
            p = k / sizes[j]
            if p > 1:
                raise ValueError(f"microcircuit: {source} -> {target} needs an in-degree of {k:.0f} from {sizes[j]} "
                                 f"neurons at scale={scale:g}, k_scale={k_scale:g}; use a smaller k_scale (e.g. "
                                 f"k_scale=scale) or a larger scale")
            conn = fixed_probability(sizes[j], sizes[i], p, seed=int(rng.integers(2**31)))
            mean = w_scaled[i, j]
            w = rng.normal(mean, WEIGHT_REL_STD * abs(mean), conn.nnz)
            w = np.maximum(w, 0.0) if mean > 0 else np.minimum(w, 0.0)     # each weight keeps its source's sign
            d_mean = DELAY_E_MS if j % 2 == 0 else DELAY_I_MS
            delays = normal_delays(conn.nnz, d_mean, DELAY_REL_STD * d_mean, dt, seed=int(rng.integers(2**31)))
            # the weights as a JAX array, which params() shares (a numpy array would be copied there),
            # the delays in float32: whole steps exactly, 4 B per synapse
            projections.append(Projection(f"{source}->{target}", source, target, conn,
                                          jax.device_put(w.astype(np.float32)), synapse=synapse,
                                          syn_params=syn_params, delay_ms=delays.astype(np.float32)))
    inputs = []
    tau_s = TAU_SYN * 1e-3
    for i, target in enumerate(POPULATIONS):
        # the mean current that k_scale removed, restored as DC (van Albada et al. 2015, eq. 5)
        recurrent = sum(k_full[i, j] * w_charge[i, j] * FULL_SCALE_RATES_HZ[j] for j in range(8))
        external = K_EXT[i] * w_model * BG_RATE_HZ
        dc = (1.0 - math.sqrt(k_scale)) * tau_s * (recurrent + external)
        if background == "poisson":
            n_src = max(1, int(round(K_EXT[i] * k_scale)))
            inputs.append(Input(f"bg {target}", target, PoissonInput(n_sources=n_src, synapse=synapse),
                                PoissonInputParams(rate_hz=BG_RATE_HZ, weight=w_exc / math.sqrt(k_scale),
                                                   synapse=syn_params)))
        else:
            dc += tau_s * external * math.sqrt(k_scale)       # the scaled external input, as its mean
        if dc != 0.0:
            inputs.append(Input(f"dc {target}", target, ConstantCurrent(), ConstantCurrent.Params(dc)))
    return Network(pops, projections, inputs, dt=dt)
