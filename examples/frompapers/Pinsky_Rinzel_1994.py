"""Pinsky & Rinzel (1994) J. Comput. Neurosci. 1:39: the two-compartment reduction of Traub's CA3
pyramidal cell, written as equations with units (``ns.equations``): a soma (fast Na with an
instantaneous activation, delayed-rectifier K) and a dendrite (Ca, Ca-activated K-C and K-AHP,
calcium dynamics), coupled by a conductance g_c; area-normalised (uF/cm^2, mS/cm^2, uA/cm^2),
potentials shifted by -60 mV (rest -60 mV), integrated by RK4 at dt = 0.05 ms.

Four cells, one per regime, driven by a somatic current I_s (one population, per-cell
parameters): (A) I_s = 0.75, g_c = 2.1 (the paper's Fig. 2A): slow bursts, each a full somatic
spike and damped spikelets riding a dendritic calcium spike; (B) g_c = 10: strong coupling,
soma and dendrite fire together, single spikes; (C) g_c = 1: weak coupling, the soma fires on
its own, fast, and the dendrite never spikes; (D) I_s = 3, g_c = 2.1: fast somatic firing.

Checks (docs/papers.md §14; targets from an independent reference, LSODA at tight tolerances on
the same equations, which matches the authors' own XPP trace of Fig. 2A to 0.1 %): A's burst
rate 1.9-2.15 Hz (reference 2.02), 3-5 spikes per burst (4), the dendrite's peak -5..15 mV (6)
and calcium's 300-400 (352); B fires single spikes at 2.5-2.9 Hz (2.69); C fires at 29-32.5 Hz
(30.8) with the dendrite below -20 mV; D fires at 46-53 Hz (49.4). Statistics over 300-2300 ms
(``--quick`` runs the same: it takes seconds).

Usage: ``python examples/frompapers/Pinsky_Rinzel_1994.py --out DIR [--quick]``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.report import check, finish

PAPER = "Pinsky & Rinzel (1994) J Comput Neurosci 1:39 (two-compartment CA3 pyramidal cell)"
NAME = "Pinsky_Rinzel_1994"
DT, T0, T_STOP = 0.05, 300.0, 2300.0       # ms
BURST_GAP_MS = 10.0                        # somatic spikes closer than this belong to one event

MODEL = """
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
PARAMS = dict(Cm="3*uF/cm**2", p=0.5, gc="2.1*mS/cm**2", gL="0.1*mS/cm**2", gNa="30*mS/cm**2", gKDR="15*mS/cm**2",
              gCa="10*mS/cm**2", gKAHP="0.8*mS/cm**2", gKC="15*mS/cm**2", EL="-60*mV", ENa="60*mV", EK="-75*mV",
              ECa="80*mV", Is="0.75*uA/cm**2", Id="0*uA/cm**2")
# the "standard initial conditions" of the model's published code (potentials shifted by -60 mV)
INITIAL = dict(Vs="-64.6*mV", Vd="-64.5*mV", h=0.999, n=0.001, s=0.009, c=0.007, q=0.01, Ca=0.2)
CELLS = [("A: I_s 0.75, g_c 2.1 (bursts)", 0.75, 2.1), ("B: I_s 0.75, g_c 10 (strong coupling)", 0.75, 10.0),
         ("C: I_s 0.75, g_c 1 (weak coupling)", 0.75, 1.0), ("D: I_s 3, g_c 2.1 (strong drive)", 3.0, 2.1)]


def build():
    """The model from its strings, and one cell per regime (I_s and g_c per cell)."""
    cell = ns.equations.Neuron(MODEL, threshold="Vs > 0*mV", refractory="2*ms", method="rk4", params=PARAMS,
                               initial=INITIAL, voltage_var="Vs", name="PinskyRinzel")
    p = cell.Params()
    p = p._replace(Is=p.Is * jnp.asarray([c[1] for c in CELLS]) / 0.75,
                   gc=p.gc * jnp.asarray([c[2] for c in CELLS]) / 2.1)
    return ns.Network([ns.Population("PR", len(CELLS), cell, p)])


def peaks(v, floor=-40.0, prominence=1.0):
    """Indices of the somatic spikes, full or damped: local maxima above ``floor`` (mV) standing
    ``prominence`` (mV) above the lower of the two minima around them."""
    top = np.nonzero((v[1:-1] > v[:-2]) & (v[1:-1] >= v[2:]))[0] + 1
    low = np.nonzero((v[1:-1] < v[:-2]) & (v[1:-1] <= v[2:]))[0] + 1
    out = []
    for k in top:
        if v[k] <= floor:
            continue
        left, right = low[low < k], low[low > k]
        base = max(v[left[-1]] if left.size else v[:k].min(), v[right[0]] if right.size else v[k:].min())
        if v[k] - base >= prominence:
            out.append(k)
    return np.asarray(out, int)


def statistics(res):
    t_tr, vs = res.traces["PR.Vs"][:2]
    vd = res.traces["PR.Vd"][1]
    ca = res.traces["PR.Ca"][1]
    t_tr, vs, vd, ca = (np.asarray(a) for a in (t_tr, vs, vd, ca))
    late = t_tr >= T0
    st, si = (np.asarray(a) for a in res.spikes["PR"])
    out = []
    for k, (label, _, _) in enumerate(CELLS):
        full = st[(si == k) & (st >= T0)]
        every = t_tr[late][peaks(vs[late, k])]
        onsets = every[np.r_[True, np.diff(every) >= BURST_GAP_MS]] if every.size else every
        sizes = np.diff(np.r_[np.nonzero(np.r_[True, np.diff(every) >= BURST_GAP_MS])[0], every.size])
        rate = 1000.0 * (onsets.size - 1) / (onsets[-1] - onsets[0]) if onsets.size > 1 else 0.0
        out.append({"cell": label, "event_rate_hz": rate, "full_spike_rate_hz": 1000.0 * full.size / (T_STOP - T0),
                    "spikes_per_event": float(np.mean(sizes)) if sizes.size else 0.0,
                    "bursts_fraction": float(np.mean(sizes >= 2)) if sizes.size else 0.0,
                    "vd_peak_mv": float(vd[late, k].max()), "ca_peak": float(ca[late, k].max())})
    return out


def checks_for(stats):
    a, b, c, d = stats
    return [
        check("A: burst rate (Hz)", a["event_rate_hz"], "1.9-2.15 (reference 2.02)", 1.9 <= a["event_rate_hz"] <= 2.15),
        check("A: spikes per burst", a["spikes_per_event"], "3-5 (reference 4)", 3 <= a["spikes_per_event"] <= 5),
        check("A: every event a burst (fraction)", a["bursts_fraction"], ">= 0.8", a["bursts_fraction"] >= 0.8),
        check("A: dendritic peak (mV)", a["vd_peak_mv"], "-5 to 15 (reference 6)", -5 <= a["vd_peak_mv"] <= 15),
        check("A: calcium peak", a["ca_peak"], "300-400 (reference 352)", 300 <= a["ca_peak"] <= 400),
        check("B: single spikes (spikes per event)", b["spikes_per_event"], "1", b["spikes_per_event"] == 1.0),
        check("B: rate (Hz)", b["event_rate_hz"], "2.5-2.9 (reference 2.69)", 2.5 <= b["event_rate_hz"] <= 2.9),
        check("C: rate (Hz)", c["event_rate_hz"], "29-32.5 (reference 30.8)", 29 <= c["event_rate_hz"] <= 32.5),
        check("C: the dendrite does not spike (peak, mV)", c["vd_peak_mv"], "< -20", c["vd_peak_mv"] < -20),
        check("D: rate (Hz)", d["event_rate_hz"], "46-53 (reference 49.4)", 46 <= d["event_rate_hz"] <= 53),
    ]


def make_figure(path, res, stats):
    t, vs = (np.asarray(a) for a in res.traces["PR.Vs"][:2])
    vd = np.asarray(res.traces["PR.Vd"][1])
    fig = Figure(figsize=(11, 8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(CELLS), 1, sharex=True)
    show = (t >= 300.0) & (t <= 1300.0)
    for k, ax in enumerate(axes):
        ax.plot(t[show], vs[show, k], lw=0.7, color="C0", label="soma V_s")
        ax.plot(t[show], vd[show, k], lw=0.7, color="C3", label="dendrite V_d")
        s = stats[k]
        ax.set_title(f"{CELLS[k][0]}: {s['event_rate_hz']:.2f} events/s, {s['spikes_per_event']:.1f} spikes per event",
                     fontsize="medium")
        ax.set_ylabel("V (mV)")
        ax.set_ylim(-85, 40)
    axes[0].legend(fontsize="small", loc="upper right")
    axes[-1].set_xlabel("time (ms)")
    fig.suptitle("Pinsky & Rinzel (1994): two-compartment CA3 cell from its equations (RK4, dt 0.05 ms)",
                 fontsize="medium")
    fig.savefig(path, dpi=110, format="png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="the same run (it takes seconds)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    net = build()
    res = ns.simulate(net, T_STOP, DT, monitors=[ns.Spikes("PR"), ns.Trace("PR", "Vs"), ns.Trace("PR", "Vd"),
                                                 ns.Trace("PR", "Ca")], progress=False)
    stats = statistics(res)
    for s in stats:
        print(f"{s['cell']:42s} {s['event_rate_hz']:7.2f} events/s  {s['spikes_per_event']:.2f} spikes/event  "
              f"V_d peak {s['vd_peak_mv']:6.1f} mV  Ca peak {s['ca_peak']:6.1f}")
    args.out.mkdir(parents=True, exist_ok=True)
    make_figure(args.out / f"{NAME}.png", res, stats)
    return finish(args.out, NAME, PAPER, checks_for(stats), t0, mode="quick" if args.quick else "full",
                  statistics=stats, timings=res.timings)


if __name__ == "__main__":
    raise SystemExit(main())
