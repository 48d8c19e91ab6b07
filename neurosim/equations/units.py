"""Physical dimensions and Brian2-compatible unit names, and neurosim's unit system.

A dimension is a vector of exponents over the seven SI base quantities (length, mass, time,
current, temperature, amount of substance, luminous intensity). Every unit name (``mV``,
``nsiemens``, ``uF/cm**2``...) is a scale and a dimension.

neurosim computes in one *coherent* system whose base units are the millisecond, the picoamp
and the millivolt (with the micrometre for lengths and the millimolar for concentrations), so
that no equation needs a conversion factor:

    time ms | voltage mV | current pA | charge fC (pA ms) | capacitance pF (fC / mV)
    conductance nS (pA / mV) | resistance GOhm | length um | concentration mM

A rate (dimension 1/time) computes in 1/ms inside an equation, but, as everywhere in neurosim,
parameters and state of that dimension are *stored* in Hz (``storage_factor``).
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

BASE = ("metre", "kilogram", "second", "amp", "kelvin", "mole", "candela")
# the coherent system: the SI value of one unit of each base quantity
_COHERENT_SCALE = (1e-6, 1e-12, 1e-3, 1e-12, 1.0, 1e-18, 1.0)


class Dimension(tuple):
    """Exponents over :data:`BASE` (Fractions); ``Dimension()`` is dimensionless."""

    def __new__(cls, exps=(0,) * 7):
        return super().__new__(cls, tuple(Fraction(e) for e in exps))

    def __mul__(self, other):
        return Dimension(a + b for a, b in zip(self, other))

    def __truediv__(self, other):
        return Dimension(a - b for a, b in zip(self, other))

    def __pow__(self, k):
        return Dimension(a * Fraction(k) for a in self)

    @property
    def dimensionless(self) -> bool:
        return all(e == 0 for e in self)

    def __str__(self):
        if self.dimensionless:
            return "1 (dimensionless)"
        return name_of(self)


def _dim(**exps) -> Dimension:
    return Dimension(exps.get(b, 0) for b in ("m", "kg", "s", "A", "K", "mol", "cd"))


DIMENSIONLESS = Dimension()
TIME = _dim(s=1)
FREQUENCY = _dim(s=-1)
VOLTAGE = _dim(m=2, kg=1, s=-3, A=-1)
CURRENT = _dim(A=1)
CONDUCTANCE = _dim(m=-2, kg=-1, s=3, A=2)
CAPACITANCE = _dim(m=-2, kg=-1, s=4, A=2)
RESISTANCE = VOLTAGE / CURRENT
CHARGE = _dim(A=1, s=1)
LENGTH = _dim(m=1)
CONCENTRATION = _dim(mol=1, m=-3)

# the names dimensions are spelt with in messages, and the unit neurosim stores each in
_NAMED = [(VOLTAGE, "volt", "mV"), (CURRENT, "amp", "pA"), (CONDUCTANCE, "siemens", "nS"),
          (CAPACITANCE, "farad", "pF"), (TIME, "second", "ms"), (FREQUENCY, "hertz", "Hz"),
          (RESISTANCE, "ohm", "Gohm"), (CHARGE, "coulomb", "fC"), (LENGTH, "metre", "um"),
          (LENGTH ** 2, "metre**2", "um**2"), (CONCENTRATION, "mole/metre**3", "mM"),
          (DIMENSIONLESS, "1", "1")]


def name_of(dim: Dimension) -> str:
    """A readable name of ``dim`` (``volt``, ``siemens/metre**2``, ``metre**2*kilogram/second**3``)."""
    for d, name, _ in _NAMED:
        if d == dim:
            return name
    for d, name, _ in _NAMED:          # per time (a derivative), per area (membrane densities)
        for other, suffix in ((TIME, "/second"), (LENGTH ** 2, "/metre**2"), (TIME ** -1, "*second")):
            if d != DIMENSIONLESS and d / other == dim:
                return f"{name}{suffix}"
    num = [f"{b}" + (f"**{e}" if e != 1 else "") for b, e in zip(BASE, dim) if e > 0]
    den = [f"{b}" + (f"**{-e}" if e != -1 else "") for b, e in zip(BASE, dim) if e < 0]
    return ("*".join(num) or "1") + ("/" + "/".join(den) if den else "")


def neurosim_unit(dim: Dimension) -> str:
    """The unit neurosim stores a quantity of ``dim`` in (``mV``, ``pA``, ``Hz``...)."""
    for d, _, unit in _NAMED:
        if d == dim:
            return unit
    return f"coherent units of {name_of(dim)} (ms, mV, pA, um, mM)"


def coherent_scale(dim: Dimension) -> float:
    """The SI value of one unit of ``dim`` in the coherent system."""
    return math.prod(s ** float(e) for s, e in zip(_COHERENT_SCALE, dim))


def storage_factor(dim: Dimension) -> float:
    """Coherent value = stored value x this: 1, except for rates (stored in Hz, 1/ms inside)."""
    return 1e-3 if dim == FREQUENCY else 1.0


class Unit(NamedTuple):
    scale: float          # SI value of one of it
    dim: Dimension


_PREFIXES = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "c": 1e-2, "k": 1e3, "M": 1e6, "G": 1e9}
# full name, short symbol (None: only prefixed, a bare letter would shadow model names), SI scale, dimension
_BASE_UNITS = [
    ("metre", "m", 1.0, LENGTH), ("meter", None, 1.0, LENGTH), ("second", "s", 1.0, TIME),
    ("amp", "A", 1.0, CURRENT), ("ampere", None, 1.0, CURRENT), ("volt", "V", 1.0, VOLTAGE),
    ("siemens", "S", 1.0, CONDUCTANCE), ("farad", "F", 1.0, CAPACITANCE), ("ohm", "ohm", 1.0, RESISTANCE),
    ("coulomb", "C", 1.0, CHARGE), ("hertz", "Hz", 1.0, FREQUENCY), ("mole", "mol", 1.0, _dim(mol=1)),
    ("molar", "M", 1e3, CONCENTRATION), ("gram", "g", 1e-3, _dim(kg=1)), ("kelvin", "K", 1.0, _dim(K=1)),
    ("liter", "l", 1e-3, LENGTH ** 3), ("litre", None, 1e-3, LENGTH ** 3), ("joule", "J", 1.0, _dim(m=2, kg=1, s=-2)),
    ("watt", "W", 1.0, _dim(m=2, kg=1, s=-3)), ("newton", "N", 1.0, _dim(m=1, kg=1, s=-2)),
    ("candela", "cd", 1.0, _dim(cd=1)),
]
_BARE_OK = {"ohm", "Hz", "mol", "cd"}   # short symbols usable without a prefix


def _table() -> dict:
    units = {}
    for full, short, scale, dim in _BASE_UNITS:
        units[full] = Unit(scale, dim)
        for p, f in _PREFIXES.items():
            if p == "c" and dim != LENGTH:
                continue
            units[p + full] = Unit(scale * f, dim)
            if short is not None:
                units[p + short] = Unit(scale * f, dim)
        if short is not None and short in _BARE_OK:
            units[short] = Unit(scale, dim)
    for name in ("metre", "meter", "m", "cm", "mm", "um", "nm", "cmetre", "mmetre", "umetre", "cmeter", "umeter"):
        if name in units:
            for k in (2, 3):
                units[f"{name}{k}"] = Unit(units[name].scale ** k, units[name].dim ** k)
    units.pop("m", None)
    units["kilogram"] = Unit(1.0, _dim(kg=1))
    units["kg"] = Unit(1.0, _dim(kg=1))
    return units


UNITS: dict = _table()


def is_unit(name: str) -> bool:
    return name in UNITS


def coherent_value(name: str) -> float:
    """The value of one ``name`` in the coherent system (``mV`` -> 1, ``volt`` -> 1000, ``Hz`` -> 0.001)."""
    u = UNITS[name]
    return float(f"{u.scale / coherent_scale(u.dim):.12g}")   # 1e-3 / 1e-3 is 1, not 1.0000000000000002
