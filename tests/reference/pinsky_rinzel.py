"""Reference implementation of the Pinsky & Rinzel (1994) two-compartment CA3 pyramidal cell.

Pinsky P.F., Rinzel J. (1994) "Intrinsic and network rhythmogenesis in a reduced Traub model for
CA3 neurons", J. Comput. Neurosci. 1:39-60; erratum J. Comput. Neurosci. 2:275 (1995).

Plain numpy/scipy (``scipy.integrate.solve_ivp``, LSODA, tight tolerances), written for this
project from the paper's equations; it imports nothing from neurosim. A neurosim model is to be
written from :data:`EQUATIONS` and :data:`PARAMETERS` and checked against :func:`simulate`.

Voltage convention
------------------
The paper measures potentials from rest (V_L = 0, V_Na = 120, V_K = -15, V_Ca = 140 mV) and writes
its rate functions in those units. Here, as in the XPP files of the authors' circle (pinrin.ode,
booth_bose.ode) and most reimplementations, every potential is shifted by -60 mV: rest (E_L) is
-60 mV, E_Na = +60, E_K = -75, E_Ca = +80 mV, and each rate function's V is replaced by V + 60 mV.
Nothing else changes. Spike thresholds below are in the shifted units.

Model (area-normalised: conductances mS/cm^2, currents uA/cm^2, C_m uF/cm^2, t in ms)
-----------------------------------------------------------------------------------
soma:      C_m dVs/dt = -I_L(Vs) - I_Na - I_DR + (g_c/p)(Vd - Vs) + I_s/p
           I_Na = g_Na m_inf(Vs)^2 h (Vs - E_Na),  I_DR = g_DR n (Vs - E_K)
dendrite:  C_m dVd/dt = -I_L(Vd) - I_Ca - I_AHP - I_C + (g_c/(1-p))(Vs - Vd) + I_d/(1-p)
           I_Ca = g_Ca s^2 (Vd - E_Ca),  I_AHP = g_AHP q (Vd - E_K),
           I_C  = g_C c chi(Ca) (Vd - E_K),  chi(Ca) = min(Ca/250, 1)
calcium:   dCa/dt = -0.13 I_Ca - 0.075 Ca         (Ca in the paper's arbitrary units)
gates:     dy/dt = alpha_y (1 - y) - beta_y y for y in h, n (of Vs), s, c (of Vd), q (of Ca)
p = 0.5 is the soma's share of the membrane area; I_s, I_d are densities per whole-cell area,
hence the 1/p and 1/(1-p).

Rate functions (1/ms; v = V/mV in the shifted units):
  alpha_m = 0.32 (-46.9 - v) / (exp((-46.9 - v)/4) - 1)   beta_m = 0.28 (v + 19.9) / (exp((v + 19.9)/5) - 1)
  alpha_h = 0.128 exp((-43 - v)/18)                         beta_h = 4 / (1 + exp((-20 - v)/5))
  alpha_n = 0.016 (-24.9 - v) / (exp((-24.9 - v)/5) - 1)   beta_n = 0.25 exp(-1 - 0.025 v)
  alpha_s = 1.6 / (1 + exp(-0.072 (v - 5)))                 beta_s = 0.02 (v + 8.9) / (exp((v + 8.9)/5) - 1)
  v <= -10: alpha_c = exp((v + 50)/11 - (v + 53.5)/27) / 18.975,  beta_c = 2 exp((-53.5 - v)/27) - alpha_c
  v >  -10: alpha_c = 2 exp((-53.5 - v)/27),                      beta_c = 0
  alpha_q = min(0.00002 Ca, 0.01)                           beta_q = 0.001
alpha_c is one exponential of a difference, as in Traub et al. (1991), in every implementation
checked, and (by the note in Gabbiani & Cox's prsolve.m) in the 1995 erratum; the 1994 print of
the appendix shows a difference of two exponentials instead. m is instantaneous:
m_inf = alpha_m/(alpha_m + beta_m). The note in pinrin.ode says that many of the paper's
single-cell runs used V_Na = 115 (55 mV here), not the 120 it states; params={"ENa": 55.0}
gives that variant (rates 2-6 % higher in the regimes tried).

Sources that agree term by term with the above (after the -60 mV shift where needed): the XPP files
pinrin.ode and booth_bose.ode (V. Booth; OpenSourceBrain/PinskyRinzelModel and ModelDB 35358), the
MATLAB prsolve.m of Gabbiani & Cox (unshifted units), the Brian2 class of alafuzof/ocnc-2019-project
and CINPLA/PRmodel (which, for its own electrodiffusive study, sets E_L = -68 mV).
"""
from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
from scipy.integrate import solve_ivp
from scipy.signal import find_peaks

# name -> (value, unit). The paper's standard values, shifted by -60 mV. I_s defaults to the
# paper's Fig. 2A bursting case (0.75); the paper's network "standard" is I_s = -0.5 (rest).
PARAMETERS: dict[str, tuple[float, str]] = {
    "Cm": (3.0, "uF/cm**2"),
    "p": (0.5, "1"),
    "gc": (2.1, "mS/cm**2"),
    "gL": (0.1, "mS/cm**2"),
    "gNa": (30.0, "mS/cm**2"),
    "gKDR": (15.0, "mS/cm**2"),
    "gCa": (10.0, "mS/cm**2"),
    "gKAHP": (0.8, "mS/cm**2"),
    "gKC": (15.0, "mS/cm**2"),
    "EL": (-60.0, "mV"),
    "ENa": (60.0, "mV"),
    "EK": (-75.0, "mV"),
    "ECa": (80.0, "mV"),
    "Is": (0.75, "uA/cm**2"),
    "Id": (0.0, "uA/cm**2"),
}

# Brian2-style equations with the same content as the integrated right-hand side (_make_rhs);
# evaluate_equations() checks that. exprel(x) = (exp(x) - 1)/x, so
# a/exprel(u) is the removable-singularity-safe form of a*u/(exp(u) - 1). The numeric constants
# in the rate functions and the calcium equation (0.13 per uA/cm^2 per ms, 0.075 per ms) are
# the paper's, in the units shown.
EQUATIONS = """
dVs/dt = (-gL*(Vs - EL) - gNa*m_inf**2*h*(Vs - ENa) - gKDR*n*(Vs - EK) + gc/p*(Vd - Vs) + Is/p)/Cm : volt
dVd/dt = (-gL*(Vd - EL) - I_Ca - gKAHP*q*(Vd - EK) - gKC*c*chi*(Vd - EK) + gc/(1 - p)*(Vs - Vd) + Id/(1 - p))/Cm : volt
I_Ca = gCa*s**2*(Vd - ECa) : amp/meter**2
dCa/dt = (-0.13*I_Ca/(uA/cm**2) - 0.075*Ca)/ms : 1
chi = clip(Ca/250, 0, 1) : 1
m_inf = alpha_m/(alpha_m + beta_m) : 1
dh/dt = alpha_h*(1 - h) - beta_h*h : 1
dn/dt = alpha_n*(1 - n) - beta_n*n : 1
ds/dt = alpha_s*(1 - s) - beta_s*s : 1
dc/dt = alpha_c*(1 - c) - beta_c*c : 1
dq/dt = alpha_q*(1 - q) - beta_q*q : 1
alpha_m = 1.28/exprel((-46.9 - Vs/mV)/4)/ms : Hz
beta_m = 1.4/exprel((Vs/mV + 19.9)/5)/ms : Hz
alpha_h = 0.128*exp((-43 - Vs/mV)/18)/ms : Hz
beta_h = 4/(1 + exp((-20 - Vs/mV)/5))/ms : Hz
alpha_n = 0.08/exprel((-24.9 - Vs/mV)/5)/ms : Hz
beta_n = 0.25*exp(-1 - 0.025*Vs/mV)/ms : Hz
alpha_s = 1.6/(1 + exp(-0.072*(Vd/mV - 5)))/ms : Hz
beta_s = 0.1/exprel((Vd/mV + 8.9)/5)/ms : Hz
alpha_c = (int(Vd <= -10*mV)*exp((Vd/mV + 50)/11 - (Vd/mV + 53.5)/27)/18.975 + int(Vd > -10*mV)*2*exp((-53.5 - Vd/mV)/27))/ms : Hz
beta_c = int(Vd <= -10*mV)*(2*exp((-53.5 - Vd/mV)/27) - exp((Vd/mV + 50)/11 - (Vd/mV + 53.5)/27)/18.975)/ms : Hz
alpha_q = clip(0.00002*Ca, 0, 0.01)/ms : Hz
beta_q = 0.001/ms : Hz
"""

# The "standard initial conditions" used with the paper's model by prsolve.m and pinrin.ode
# (potentials shifted by -60 mV; pinrin.ode has q = 0.001 where prsolve.m has 0.01).
INITIAL_STATE: dict[str, float] = {
    "Vs": -64.6, "Vd": -64.5, "h": 0.999, "n": 0.001, "s": 0.009, "c": 0.007, "q": 0.01, "Ca": 0.2,
}
STATE_ORDER = ("Vs", "Vd", "h", "n", "s", "c", "q", "Ca")

# Somatic spike times: upward crossings of Vs through 0 mV (60 mV above rest), i.e. the
# full, overshooting action potentials. Inside a complex burst the soma is overdriven by the
# dendrite and the later spikes are damped "spikelets" peaking between about -27 and -5 mV, so
# any threshold in that range (e.g. -20 mV) counts them only partly and flips with a fraction of
# a mV; 0 mV (and anything from -5 to +2.5 mV) gives the same counts across the tabulated grid,
# except in the irregular regime (g_c = 2.1, I_s = 1.5).
SPIKE_THRESHOLD_MV = 0.0
# Every somatic spike, full or damped: local maxima of Vs above PEAK_MIN_MV with a prominence of
# at least PEAK_PROMINENCE_MV (on the dt_out grid). Nothing subthreshold comes near these bounds
# (no local maximum with a prominence over 0.2 mV lies below -45 mV in the grid), but the
# smallest spikelets have prominences of 1.5 mV (g_c = 2.1, I_s = 0.25) to 3 mV (I_s = 0.5).
PEAK_MIN_MV = -40.0
PEAK_PROMINENCE_MV = 1.0
BURST_ISI_MS = 10.0          # spikes closer than this belong to one burst (see classify)


def _u_over_expm1(u: float) -> float:
    """u / (exp(u) - 1), continuous at u = 0 (= 1/exprel(u))."""
    if abs(u) < 1e-7:
        return 1.0 - 0.5 * u
    return u / math.expm1(u)


def rates(Vs: float, Vd: float, Ca: float) -> dict[str, float]:
    """Every alpha/beta (1/ms) and m_inf at the given state, shifted units (mV)."""
    am = 1.28 * _u_over_expm1((-46.9 - Vs) / 4.0)
    bm = 1.4 * _u_over_expm1((Vs + 19.9) / 5.0)
    out = {
        "alpha_m": am, "beta_m": bm, "m_inf": am / (am + bm),
        "alpha_h": 0.128 * math.exp((-43.0 - Vs) / 18.0),
        "beta_h": 4.0 / (1.0 + math.exp((-20.0 - Vs) / 5.0)),
        "alpha_n": 0.08 * _u_over_expm1((-24.9 - Vs) / 5.0),
        "beta_n": 0.25 * math.exp(-1.0 - 0.025 * Vs),
        "alpha_s": 1.6 / (1.0 + math.exp(-0.072 * (Vd - 5.0))),
        "beta_s": 0.1 * _u_over_expm1((Vd + 8.9) / 5.0),
        "alpha_q": min(0.00002 * Ca, 0.01),
        "beta_q": 0.001,
    }
    slow = 2.0 * math.exp((-53.5 - Vd) / 27.0)
    if Vd <= -10.0:
        ac = math.exp((Vd + 50.0) / 11.0 - (Vd + 53.5) / 27.0) / 18.975
        out["alpha_c"], out["beta_c"] = ac, slow - ac
    else:
        out["alpha_c"], out["beta_c"] = slow, 0.0
    return out


def _make_rhs(P: dict[str, float]):
    Cm, p, gc = P["Cm"], P["p"], P["gc"]
    gL, gNa, gKDR, gCa, gKAHP, gKC = P["gL"], P["gNa"], P["gKDR"], P["gCa"], P["gKAHP"], P["gKC"]
    EL, ENa, EK, ECa, Is, Id = P["EL"], P["ENa"], P["EK"], P["ECa"], P["Is"], P["Id"]
    exp, f = math.exp, _u_over_expm1

    def rhs(t, y):
        Vs, Vd, h, n, s, c, q, Ca = y
        am = 1.28 * f((-46.9 - Vs) / 4.0)
        bm = 1.4 * f((Vs + 19.9) / 5.0)
        minf = am / (am + bm)
        ah = 0.128 * exp((-43.0 - Vs) / 18.0)
        bh = 4.0 / (1.0 + exp((-20.0 - Vs) / 5.0))
        an = 0.08 * f((-24.9 - Vs) / 5.0)
        bn = 0.25 * exp(-1.0 - 0.025 * Vs)
        as_ = 1.6 / (1.0 + exp(-0.072 * (Vd - 5.0)))
        bs = 0.1 * f((Vd + 8.9) / 5.0)
        slow = 2.0 * exp((-53.5 - Vd) / 27.0)
        if Vd <= -10.0:
            ac = exp((Vd + 50.0) / 11.0 - (Vd + 53.5) / 27.0) / 18.975
            bc = slow - ac
        else:
            ac, bc = slow, 0.0
        aq = min(0.00002 * Ca, 0.01)
        chi = min(Ca / 250.0, 1.0)
        I_Ca = gCa * s * s * (Vd - ECa)
        dVs = (-gL * (Vs - EL) - gNa * minf * minf * h * (Vs - ENa) - gKDR * n * (Vs - EK)
               + gc / p * (Vd - Vs) + Is / p) / Cm
        dVd = (-gL * (Vd - EL) - I_Ca - gKAHP * q * (Vd - EK) - gKC * c * chi * (Vd - EK)
               + gc / (1.0 - p) * (Vs - Vd) + Id / (1.0 - p)) / Cm
        return [dVs, dVd,
                ah * (1.0 - h) - bh * h,
                an * (1.0 - n) - bn * n,
                as_ * (1.0 - s) - bs * s,
                ac * (1.0 - c) - bc * c,
                aq * (1.0 - q) - 0.001 * q,
                -0.13 * I_Ca - 0.075 * Ca]

    return rhs


class PRResult(NamedTuple):
    t: np.ndarray            # ms, uniform grid of step dt_out
    Vs: np.ndarray           # mV (shifted: rest -60 mV)
    Vd: np.ndarray           # mV
    Ca: np.ndarray           # paper's Ca units
    spike_times: np.ndarray  # ms, somatic upward crossings of threshold_mV (exact, from the solver's events)
    states: dict             # the eight state arrays by name; "peak_times" (every somatic spike,
                             # full or damped, see somatic_peaks), "dend_crossings", "wall_s", "nfev"


def crossings(t: np.ndarray, v: np.ndarray, threshold: float) -> np.ndarray:
    """Times of upward crossings of ``threshold`` by the sampled trace ``v``, linearly interpolated."""
    i = np.flatnonzero((v[:-1] < threshold) & (v[1:] >= threshold))
    return t[i] + (threshold - v[i]) * (t[i + 1] - t[i]) / (v[i + 1] - v[i])


def somatic_peaks(t: np.ndarray, vs: np.ndarray, min_mV: float = PEAK_MIN_MV,
                  prominence_mV: float = PEAK_PROMINENCE_MV) -> np.ndarray:
    """Times of every somatic spike, full or damped: local maxima of the sampled Vs above
    ``min_mV`` with a prominence of at least ``prominence_mV``."""
    i, _ = find_peaks(vs, height=min_mV, prominence=prominence_mV)
    return t[i]


def simulate(i_soma_uA_cm2: float, g_c_mS_cm2: float, duration_ms: float, i_dend: float = 0.0, p: float = 0.5,
             *, params: dict | None = None, y0: dict | None = None, method: str = "LSODA",
             rtol: float = 1e-8, atol: float = 1e-8, max_step: float = 0.5, dt_out: float = 0.02,
             threshold_mV: float = SPIKE_THRESHOLD_MV, dend_threshold_mV: float = -20.0) -> PRResult:
    """Integrate the model from ``y0`` (default :data:`INITIAL_STATE`) for ``duration_ms``.

    ``params`` overrides entries of :data:`PARAMETERS` by name (values in its units), e.g.
    ``{"ENa": 55.0}`` for the V_Na = 115 (unshifted) variant. ``spike_times`` are the solver's
    events Vs = threshold_mV (default 0 mV: the full spikes) crossed upwards, root-found on the
    dense output (max_step bounds the step so that no spike falls between two steps).
    ``states["peak_times"]`` has every somatic spike, damped ones included (:func:`somatic_peaks`
    on the dt_out grid, so dt_out should stay <= 0.05 ms); dendritic crossings of
    dend_threshold_mV are read from the sampled trace.
    """
    P = {k: v for k, (v, _) in PARAMETERS.items()}
    P.update({"Is": float(i_soma_uA_cm2), "gc": float(g_c_mS_cm2), "Id": float(i_dend), "p": float(p)})
    if params:
        unknown = set(params) - set(P)
        if unknown:
            raise KeyError(f"unknown parameter(s) {sorted(unknown)}; known: {sorted(P)}")
        P.update({k: float(v) for k, v in params.items()})
    init = dict(INITIAL_STATE)
    if y0:
        init.update(y0)
    y_init = [float(init[k]) for k in STATE_ORDER]

    def spike_event(t, y):
        return y[0] - threshold_mV
    spike_event.direction = 1.0

    t_eval = np.arange(0.0, duration_ms + 0.5 * dt_out, dt_out)
    t_eval = t_eval[t_eval <= duration_ms]
    t0 = time.perf_counter()
    sol = solve_ivp(_make_rhs(P), (0.0, float(duration_ms)), y_init, method=method, t_eval=t_eval,
                    events=spike_event, rtol=rtol, atol=atol, max_step=max_step)
    wall = time.perf_counter() - t0
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    states = {k: sol.y[i] for i, k in enumerate(STATE_ORDER)}
    states["dend_crossings"] = crossings(sol.t, states["Vd"], dend_threshold_mV)
    states["peak_times"] = somatic_peaks(sol.t, states["Vs"])
    states["wall_s"] = wall
    states["nfev"] = int(sol.nfev)
    return PRResult(sol.t, states["Vs"], states["Vd"], states["Ca"], np.asarray(sol.t_events[0]), states)


def group_events(spike_times: np.ndarray, burst_isi_ms: float = BURST_ISI_MS) -> list[np.ndarray]:
    """Split sorted spike times into events: a new event starts after a gap of >= burst_isi_ms."""
    st = np.sort(np.asarray(spike_times, dtype=float))
    if st.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(st) >= burst_isi_ms) + 1
    return np.split(st, cuts)


def classify(spike_times, t_start: float = 300.0, t_stop: float | None = None,
             burst_isi_ms: float = BURST_ISI_MS) -> dict:
    """Tell bursting from single spiking in the window [t_start, t_stop] (ms).

    Pass every somatic spike, damped ones included: ``result.states["peak_times"]``. (With the
    0 mV crossings alone a complex burst of the paper's Fig. 2A has one spike and would read as
    a single spike.)

    Rule: spikes closer than ``burst_isi_ms`` (10 ms) form one event; an event with >= 2 spikes is
    a burst, with one a single spike. Events belong to the window by their first spike (one that
    began before t_start is dropped whole); an event whose last spike lies within burst_isi_ms of
    t_stop may be cut short and is left out of the spikes-per-event statistics (not of the rate).
      "silent"   no event in the window;
      "bursting" >= 80 % of the events are bursts;
      "spiking"  <= 20 % are bursts;
      "mixed"    otherwise (irregular mixtures of single spikes and short bursts).
    A single event spanning more than half the window (tonic firing above 100 Hz) counts as
    "spiking"; it does not occur in the tabulated grid.
    event_rate_hz = 1000 / mean interval between event onsets (>= 2 events; else count / window):
    bursts per second when bursting, spikes per second when spiking. spike_rate_hz = spikes in
    the window / window. period_cv is the coefficient of variation of the onset intervals.
    """
    st = np.sort(np.asarray(spike_times, dtype=float))
    if t_stop is None:
        t_stop = float(st[-1]) + burst_isi_ms if st.size else t_start + 1.0
    window = (t_stop - t_start) / 1000.0
    events = [e for e in group_events(st, burst_isi_ms) if t_start <= e[0] < t_stop]
    n_spk = int(np.sum((st >= t_start) & (st < t_stop)))
    out = {"t_start": t_start, "t_stop": t_stop, "burst_isi_ms": burst_isi_ms, "n_events": len(events),
           "n_spikes": n_spk, "spike_rate_hz": n_spk / window, "events": events}
    if not events:
        out.update(regime="silent", event_rate_hz=0.0, spikes_per_event=0.0, spikes_per_event_min=0,
                   spikes_per_event_max=0, frac_bursts=0.0, event_period_ms=None, period_cv=None)
        return out
    onsets = np.array([e[0] for e in events])
    complete = [e for e in events if e[-1] < t_stop - burst_isi_ms] or events
    sizes = np.array([len(e) for e in complete])
    frac = float(np.mean(sizes >= 2))
    if len(events) == 1 and (events[0][-1] - events[0][0]) > 0.5 * (t_stop - t_start):
        regime = "spiking"
    elif frac >= 0.8:
        regime = "bursting"
    elif frac <= 0.2:
        regime = "spiking"
    else:
        regime = "mixed"
    if onsets.size >= 2:
        ibi = np.diff(onsets)
        rate, period, cv = 1000.0 / float(np.mean(ibi)), float(np.mean(ibi)), float(np.std(ibi) / np.mean(ibi))
    else:
        rate, period, cv = len(events) / window, None, None
    out.update(regime=regime, event_rate_hz=rate, spikes_per_event=float(np.mean(sizes)),
               spikes_per_event_min=int(sizes.min()), spikes_per_event_max=int(sizes.max()),
               frac_bursts=frac, event_period_ms=period, period_cv=cv)
    return out


def measure(i_soma: float, g_c: float, duration_ms: float = 2300.0, transient_ms: float = 300.0, **kw) -> dict:
    """simulate + the table's statistics (see :func:`make_table`) over [transient_ms, duration_ms]."""
    r = simulate(i_soma, g_c, duration_ms, **kw)
    out = _stats(r, transient_ms, duration_ms)
    out.update(i_soma=i_soma, g_c=g_c, wall_s=r.states["wall_s"], nfev=r.states["nfev"])
    return out


def _exprel(x):
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1e-7
    safe = np.where(small, 1.0, x)
    return np.where(small, 1.0 + 0.5 * x, np.expm1(safe) / safe)


def evaluate_equations(state: dict, params: dict | None = None, equations: str = EQUATIONS) -> dict:
    """Evaluate the derivatives in ``equations`` (Brian2 syntax) at ``state`` (values in mV, ms,
    uA/cm^2 ... as in :data:`PARAMETERS`), returning {variable: d/dt in its unit per ms}.

    A small interpreter, used to check that :data:`EQUATIONS` says the same as the integrated
    right-hand side: units are given the value 1 (mV, ms, uA/cm**2 and mS/cm**2 are coherent
    with one another), so only the numbers remain."""
    env = {"exp": np.exp, "exprel": _exprel, "clip": np.clip, "int": lambda b: float(b),
          "mV": 1.0, "ms": 1.0, "uA": 1.0, "cm": 1.0}
    env.update({k: v for k, (v, _) in PARAMETERS.items()})
    if params:
        env.update(params)
    env.update(state)
    subs, diffs = {}, {}
    for line in equations.strip().splitlines():
        lhs, rest = line.split("=", 1)
        expr = rest.rsplit(":", 1)[0].strip()
        lhs = lhs.strip()
        if lhs.startswith("d") and lhs.endswith("/dt"):
            diffs[lhs[1:-3]] = expr
        else:
            subs[lhs] = expr
    pending = dict(subs)
    while pending:                      # subexpressions in dependency order
        progressed = False
        for name, expr in list(pending.items()):
            try:
                env[name] = eval(expr, {"__builtins__": {}}, env)
            except NameError:
                continue
            del pending[name]
            progressed = True
        if not progressed:
            raise NameError(f"unresolved subexpressions: {sorted(pending)}")
    return {v: float(eval(expr, {"__builtins__": {}}, env)) for v, expr in diffs.items()}


# ---------------------------------------------------------------------------------------------
# The regime table (tests/reference/pinsky_rinzel_table.json): python tests/reference/pinsky_rinzel.py
# ---------------------------------------------------------------------------------------------
TABLE_GC = (1.0, 2.1, 5.0, 10.0, 20.0)
TABLE_IS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.5)
_TIGHT = dict(rtol=1e-11, atol=1e-11, max_step=0.2)


def _stats(r: PRResult, t0: float, t1: float) -> dict:
    c = classify(r.states["peak_times"], t0, t1)
    events = c.pop("events")
    complete = [e for e in events if e[-1] < t1 - c["burst_isi_ms"]] or events
    st, dc = r.spike_times, r.states["dend_crossings"]
    full = [int(np.sum((st >= e[0] - 2.0) & (st <= e[-1] + 2.0))) for e in complete]
    vd_up = [bool(np.any((dc >= e[0] - 5.0) & (dc <= e[-1] + 20.0))) for e in complete]
    w = (r.t >= t0) & (r.t <= t1)
    keep = ("regime", "event_rate_hz", "spike_rate_hz", "n_events", "n_spikes", "spikes_per_event",
            "spikes_per_event_min", "spikes_per_event_max", "frac_bursts", "event_period_ms", "period_cv")
    out = {k: c[k] for k in keep}
    out.update(full_spikes_per_event=float(np.mean(full)) if full else 0.0,
               full_spike_rate_hz=float(np.sum((st >= t0) & (st < t1))) / ((t1 - t0) / 1000.0),
               frac_events_vd_cross=float(np.mean(vd_up)) if vd_up else None,
               Vs_max=float(r.Vs[w].max()), Vd_max=float(r.Vd[w].max()), Ca_max=float(r.Ca[w].max()))
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def _agree(a: dict, b: dict) -> bool:
    if a["regime"] != b["regime"]:
        return False
    if a["event_rate_hz"] and abs(a["event_rate_hz"] - b["event_rate_hz"]) > 0.03 * a["event_rate_hz"]:
        return False
    return abs(a["spikes_per_event"] - b["spikes_per_event"]) <= 0.25


def table_entry(i_soma: float, g_c: float, transient_ms: float = 300.0, window_ms: float = 2000.0) -> dict:
    """One cell of the table: the brief's window [transient, transient + window] and the steady
    window after it, from the default integration, and both again at tolerance 1e-11 (robust =
    same regime, event rate within 3 %, spikes per event within 0.25, in both windows)."""
    t1, t2 = transient_ms + window_ms, transient_ms + 2 * window_ms
    r = simulate(i_soma, g_c, t2)
    rt = simulate(i_soma, g_c, t2, **_TIGHT)
    main = {"window": _stats(r, transient_ms, t1), "steady": _stats(r, t1, t2)}
    tight = {"window": _stats(rt, transient_ms, t1), "steady": _stats(rt, t1, t2)}
    robust = _agree(main["window"], tight["window"]) and _agree(main["steady"], tight["steady"])
    return {"i_soma_uA_cm2": i_soma, "g_c_mS_cm2": g_c, **main, "robust": robust,
            "tight_tolerance": None if robust else tight, "wall_s": round(r.states["wall_s"], 3)}


# What the paper itself states in numbers (abstract, Fig. 2 caption, parameter list), and a
# cross-check against the XPP trace distributed with ModelDB 35358 (xpp.dat: booth_bose.ode, the
# Fig. 2A case, all gates and Ca starting at 0, Vs = Vd = -60 mV; CVODE, tolerances 1e-4).
PAPER_FACTS = {
    "abstract": ["periodic bursting gives way to repetitive soma spiking as somatic current increases",
                 "steady dendritic stimulation: bursting at 8-20 Hz; steady somatic input: < 8 Hz",
                 "bursting only for an intermediate range of g_c; tightly coupled, the model does not burst"],
    "fig2_triples_Is_gNMDA_gc": {"A": [0.75, 0.0, 2.1, "very low frequency bursting"],
                                 "B": [-0.5, 1.25, 2.1, "low frequency bursting (steady dendritic NMDA drive)"],
                                 "C": [2.5, 0.0, 2.1, "high frequency somatic spiking"],
                                 "D": [2.5, 0.0, 10.5, "soma-dendritic spiking"],
                                 "E": [-0.5, 1.75, 1.425, "single spike followed by burst, repeating; q(0) = 0.4"]},
    "standard_values": {"I_s": -0.5, "I_d": 0.0, "g_c": 2.1, "p": 0.5, "C_m": 3.0},
}
CROSS_CHECK_XPP = {
    "source": "ModelDB 35358 xpp.dat (booth_bose.ode, I_s = 0.75, g_c = 2.1, zero initial gates)",
    "burst_onsets_ms_xpp": [13.6, 92.2, 434.3, 928.9, 1423.0],
    "burst_onsets_ms_here": [13.75, 92.58, 435.45, 930.45, 1425.48],
    "period_ms_xpp": 494.4, "period_ms_here": 495.0,
    "note": "onsets = Vs crossing -20 mV; xpp.dat is sampled every 0.3 ms, so its times are good to ~0.3 ms",
}


def _scan(points, **kw) -> list:
    rows = []
    for i_s, g_c, i_d in points:
        r = simulate(i_s, g_c, 4300.0, i_dend=i_d, **kw)
        st = _stats(r, 2300.0, 4300.0)
        rows.append({"i_soma_uA_cm2": i_s, "g_c_mS_cm2": g_c, "i_dend_uA_cm2": i_d,
                     **{k: st[k] for k in ("regime", "event_rate_hz", "spikes_per_event", "period_cv",
                                           "full_spikes_per_event", "frac_events_vd_cross", "Vd_max")}})
    return rows


def make_table(path=None) -> dict:
    """Compute the regime table and write it as JSON to ``path`` (default beside this file)."""
    import json
    from pathlib import Path

    t_start = time.perf_counter()
    rows = [table_entry(i, g) for g in TABLE_GC for i in TABLE_IS]
    timing = {}
    for i, g in ((0.75, 2.1), (2.5, 1.0)):
        r = simulate(i, g, 2000.0)
        timing[f"I_s={i}, g_c={g}"] = round(r.states["wall_s"], 3)
    data = {
        "model": "Pinsky & Rinzel (1994) J. Comput. Neurosci. 1:39-60 (erratum 2:275, 1995), two-compartment CA3 cell",
        "made_by": "tests/reference/pinsky_rinzel.py (make_table)",
        "convention": "potentials shifted by -60 mV from the paper's (rest = E_L = -60 mV)",
        "parameters": {k: list(v) for k, v in PARAMETERS.items()},
        "initial_state": INITIAL_STATE,
        "integrator": "scipy solve_ivp LSODA, rtol = atol = 1e-8, max_step 0.5 ms, output every 0.02 ms; "
                      "check run: rtol = atol = 1e-11, max_step 0.2 ms",
        "windows_ms": {"window": [300.0, 2300.0], "steady": [2300.0, 4300.0]},
        "rules": {
            "spikes": "every somatic spike: local maxima of Vs above -40 mV with prominence >= 1 mV",
            "full_spikes": "upward crossings of Vs through 0 mV",
            "events": "spikes closer than 10 ms form one event; event with >= 2 spikes = burst",
            "regime": "bursting if >= 80 % of events are bursts, spiking if <= 20 %, else mixed; silent if no event",
            "event_rate_hz": "1000 / mean interval between event onsets (bursts/s when bursting)",
            "frac_events_vd_cross": "share of events during which Vd crosses -20 mV (5 ms before the first spike "
                                    "to 20 ms after the last); the dendrite also crosses it passively when g_c is "
                                    "large, so Vd_max tells a dendritic Ca spike (Vd_max > 0 mV) better",
            "robust": "default and 1e-11 tolerance runs agree (regime, event rate within 3 %, "
                      "spikes/event within 0.25)",
        },
        "seconds_per_2s_simulation": timing,
        "rows": rows,
        "scans_steady_2300_4300": {
            "g_c_at_I_s_0.75": _scan([(0.75, g, 0.0) for g in (0.5, 1.0, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.5,
                                                                3.0, 4.0, 5.0, 6.0, 7.0, 7.5, 8.0, 10.0, 15.0)]),
            "g_c_at_I_s_2.5": _scan([(2.5, g, 0.0) for g in (1.0, 2.0, 2.1, 2.5, 3.0, 5.0, 7.0, 8.0, 10.0, 10.5)]),
            "I_s_at_g_c_2.1": _scan([(i, 2.1, 0.0) for i in (-0.5, -0.4, 0.0, 0.25, 0.75, 1.25, 1.5, 1.75,
                                                              2.0, 2.25, 2.5, 3.0)]),
            "I_d_at_I_s_-0.5_g_c_2.1": _scan([(-0.5, 2.1, d) for d in (0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0)]),
        },
        "paper_facts": PAPER_FACTS,
        "cross_check_xpp": CROSS_CHECK_XPP,
        "seconds_total": round(time.perf_counter() - t_start, 1),
    }
    path = Path(path) if path else Path(__file__).with_name("pinsky_rinzel_table.json")
    path.write_text(json.dumps(data, indent=1) + "\n")
    return data


if __name__ == "__main__":
    d = make_table()
    for row in d["rows"]:
        w, s = row["window"], row["steady"]
        print(f"g_c={row['g_c_mS_cm2']:5} I_s={row['i_soma_uA_cm2']:4}  {w['regime']:8} {w['event_rate_hz']:7.2f} Hz "
              f"{w['spikes_per_event']:.2f} spk/ev | steady {s['regime']:8} {s['event_rate_hz']:7.2f} Hz "
              f"{s['spikes_per_event']:.2f} | robust={row['robust']}")
    print(d["seconds_per_2s_simulation"], d["seconds_total"], "s")
