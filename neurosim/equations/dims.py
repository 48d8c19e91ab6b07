"""Dimensional analysis of a sympy expression: each term's dimension, once, when a model is built."""
from __future__ import annotations

from fractions import Fraction

import sympy

from . import units as U
from .errors import EquationError
from .parse import exprel, rand, randn

_ANY = "any"   # the literal 0 fits every dimension ('v > 0', 'x = 0')
_DIMENSIONLESS_FUNCS = (sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.sinh, sympy.cosh,
                        sympy.tanh, sympy.asin, sympy.acos, sympy.atan, exprel)


def dimension_of(expr, dims: dict, where: str) -> U.Dimension:
    """The dimension of ``expr``; ``dims`` maps model names to their dimensions, unit names are
    known. A term whose dimension does not match raises naming ``where`` and the term."""
    d = _dim(expr, dims, where)
    return U.DIMENSIONLESS if d == _ANY else d


def _dim(e, dims, where):
    if e.is_Number or e in (sympy.pi, sympy.oo, -sympy.oo, sympy.E):
        return _ANY if e == 0 else U.DIMENSIONLESS
    if e.is_Symbol:
        if e.name in dims:
            return dims[e.name]
        if U.is_unit(e.name):
            return U.UNITS[e.name].dim
        raise EquationError(f"{where}: unknown identifier {e.name!r}: declare it ('{e.name} : unit'), give it a "
                            f"value in params=, or check the spelling")
    if isinstance(e, sympy.Add):
        terms = [(t, _dim(t, dims, where)) for t in e.args]
        known = [(t, d) for t, d in terms if d != _ANY]
        for t, d in known[1:]:
            if d != known[0][1]:
                raise EquationError(
                    f"{where}: the terms {_show(known[0][0])} ({U.name_of(known[0][1])}) and {_show(t)} "
                    f"({U.name_of(d)}) are added but have different units")
        return known[0][1] if known else _ANY
    if isinstance(e, sympy.Mul):
        out = U.DIMENSIONLESS
        for a in e.args:
            d = _dim(a, dims, where)
            if d != _ANY:
                out = out * d
        return out
    if isinstance(e, sympy.Pow):
        base, ex = e.args
        db, de = _dim(base, dims, where), _dim(ex, dims, where)
        if de not in (_ANY, U.DIMENSIONLESS):
            raise EquationError(f"{where}: the exponent of {_show(e)} has units ({U.name_of(de)}); it must be a number")
        if db in (_ANY, U.DIMENSIONLESS):
            return db
        if not ex.is_Number:
            raise EquationError(f"{where}: {_show(base)} has units ({U.name_of(db)}) and is raised to a power "
                                f"that is not a number ({_show(ex)})")
        return db ** Fraction(str(ex)) if ex.is_Rational else db ** Fraction(float(ex)).limit_denominator(1000)
    if isinstance(e, _DIMENSIONLESS_FUNCS):
        d = _dim(e.args[0], dims, where)
        if d not in (_ANY, U.DIMENSIONLESS):
            raise EquationError(f"{where}: the argument of {type(e).__name__}() in {_show(e)} has units "
                                f"({U.name_of(d)}); it must be dimensionless (divide by a unit, e.g. v/mV)")
        return U.DIMENSIONLESS
    if isinstance(e, (sympy.Min, sympy.Max, sympy.Abs, sympy.floor, sympy.ceiling)):
        ds = [(a, _dim(a, dims, where)) for a in e.args]
        known = [(a, d) for a, d in ds if d != _ANY]
        for a, d in known[1:]:
            if d != known[0][1]:
                raise EquationError(f"{where}: the arguments of {_show(e)} have different units "
                                    f"({U.name_of(known[0][1])} and {U.name_of(d)})")
        return known[0][1] if known else _ANY
    if isinstance(e, sympy.sign):
        _dim(e.args[0], dims, where)
        return U.DIMENSIONLESS
    if isinstance(e, (rand, randn)):
        return U.DIMENSIONLESS
    if isinstance(e, sympy.Piecewise):        # int(a < b) and what sympy makes of it
        ds = []
        for value, cond in e.args:
            if cond not in (sympy.true, sympy.false):
                _dim(cond, dims, where)
            ds.append((value, _dim(value, dims, where)))
        known = [(v, d) for v, d in ds if d != _ANY]
        for v, d in known[1:]:
            if d != known[0][1]:
                raise EquationError(f"{where}: the branches of {_show(e)} have different units")
        return known[0][1] if known else _ANY
    if isinstance(e, sympy.core.relational.Relational):
        a, b = _dim(e.lhs, dims, where), _dim(e.rhs, dims, where)
        if _ANY not in (a, b) and a != b:
            raise EquationError(f"{where}: {_show(e)} compares {U.name_of(a)} with {U.name_of(b)}")
        return U.DIMENSIONLESS
    raise EquationError(f"{where}: cannot find the units of {_show(e)}")


def _show(e) -> str:
    return repr(str(e))
