"""Axis labels with units for parameter paths and measures, so figures do not show raw dotted
paths such as ``neurons.E.v_th``.

``param_label("neurons.E.v_th")`` is ``"E: threshold v_th (mV)"``; ``measure_label("E.rate")`` is
``"E: firing rate (Hz)"``. A path whose last name is not in `PARAMS` (or a measure not in
`MEASURES`) is labelled with the path itself: a label never claims a unit it does not know.
Units are neurosim's: ms, mV, pF, nS, pA, Hz.
"""
from __future__ import annotations

__all__ = ["PARAMS", "MEASURES", "param_label", "measure_label"]

# A weight's unit is its synapse's: a current (pA), a conductance (nS) or a voltage jump (mV).
WEIGHT_UNIT = "pA, nS or mV by synapse"

# A params leaf's last name -> (what it is, with its symbol; unit). Only names with one meaning
# and one unit in every model that has them (Izhikevich's a, b, c, d differ from AdEx's a, b: not listed).
PARAMS = {
    # neurons (LIF, adaptive LIF, AdEx)
    "v_rest": ("resting potential v_rest", "mV"),
    "v_reset": ("reset potential v_reset", "mV"),
    "v_th": ("threshold v_th", "mV"),
    "v_t": ("threshold v_t", "mV"),
    "v_peak": ("spike cut-off v_peak", "mV"),
    "e_l": ("leak reversal e_l", "mV"),
    "c_m": ("membrane capacitance c_m", "pF"),
    "g_l": ("leak conductance g_l", "nS"),
    "t_ref": ("refractory period t_ref", "ms"),
    "delta_t": ("slope factor delta_t", "mV"),
    "tau_w": ("adaptation time constant tau_w", "ms"),
    "theta_plus": ("threshold increment theta_plus", "mV"),
    "tau_theta": ("threshold time constant tau_theta", "ms"),
    # synapses
    "tau": ("time constant tau", "ms"),
    "e_rev": ("reversal potential e_rev", "mV"),
    "tau_rec": ("recovery time constant tau_rec", "ms"),
    "tau_facil": ("facilitation time constant tau_facil", "ms"),
    "U": ("release probability U", "dimensionless"),
    # projections and Poisson inputs
    "weights": ("weight", WEIGHT_UNIT),
    "weight": ("weight", WEIGHT_UNIT),
    # inputs
    "rate_hz": ("input rate", "Hz"),
    "amplitude": ("amplitude", "pA"),
    "mean": ("mean current", "pA"),
    "std": ("current noise s.d.", "pA"),
    "low": ("lowest current", "pA"),
    "high": ("highest current", "pA"),
    # plasticity
    "tau_plus": ("potentiation time constant tau_plus", "ms"),
    "tau_minus": ("depression time constant tau_minus", "ms"),
    "tau_x": ("triplet time constant tau_x", "ms"),
    "tau_y": ("triplet time constant tau_y", "ms"),
}

# A sweep measure's last name -> (what it is, unit); see neurosim.sweeps.measures.
MEASURES = {
    "rate": ("firing rate", "Hz"),
    "cv": ("ISI CV", "dimensionless"),
    "fano": ("Fano factor", "dimensionless"),
    "synchrony": ("synchrony chi", "dimensionless"),
    "psd_peak": ("spectral peak", "Hz"),
    "weights_mean": ("mean weight", WEIGHT_UNIT),
}


def _label(path: str, table: dict, skip: int) -> str:
    parts = str(path).split(".")
    known = table.get(parts[-1])
    if known is None:
        return str(path)
    what, unit = known
    owner = " ".join(q for q in parts[skip:-1] if q not in ("synapse", "dynamics"))
    return f"{owner + ': ' if owner else ''}{what} ({unit})"


def param_label(path: str) -> str:
    """A readable label with its unit for a dotted params path (as ``ns.sweep`` takes them):
    ``"neurons.E.v_th"`` -> ``"E: threshold v_th (mV)"``, ``"inputs.drive.rate_hz"`` ->
    ``"drive: input rate (Hz)"``; an unknown leaf name: the path itself."""
    parts = str(path).split(".")
    skip = 1 if parts[0] in ("neurons", "projections", "inputs") and len(parts) > 2 else 0
    return _label(path, PARAMS, skip)


def measure_label(name: str) -> str:
    """A readable label with its unit for a sweep measure column: ``"E.rate"`` ->
    ``"E: firing rate (Hz)"``, ``"EE.weights_mean"`` -> ``"EE: mean weight (pA, nS or mV by synapse)"``; a measure
    of the user's own (a ``reduce`` output): its name."""
    return _label(name, MEASURES, 0)
