"""What a neuron, a synapse and a rule written as equations share: the names a model string
uses, their units, the parameter values given with it, and the substitution of subexpressions.

Everything here happens once, when a model is built; nothing is traced.
"""
from __future__ import annotations

import collections
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
import sympy

from ..init import draw

from . import units as U
from .dims import dimension_of
from .evaluate import compile_exprs
from .errors import EquationError
from .parse import ZERO, equations, expression, symbol


class Constant(collections.namedtuple("Constant", "name stored dim")):
    """A parameter: its value in neurosim's units (``stored``: a float or an array) and dimension."""


class System:
    """The equations of one model and the names around them.

    ``special`` maps names the model may use without declaring them (the input current ``I``,
    ``dt``, a synapse's ``v_post`` and ``w``) to their dimensions.
    """

    def __init__(self, model: str, params, special: dict, where: str, flags=("unless refractory",),
                 allow_empty: bool = False):
        self.where = where
        self.eqs = equations(model, where, allow_empty)
        for e in self.eqs:
            for f in e.flags - {"constant", "shared", "constant over dt"} - set(flags):
                raise EquationError(f"{where}: {e.text!r}: the flag ({f}) has no meaning here (it belongs to "
                                    f"{'a plasticity rule' if f == 'event-driven' else 'a neuron'})")
        self.special = dict(special)
        self.diff = [e for e in self.eqs if e.kind == "diff"]
        self.subs = [e for e in self.eqs if e.kind == "sub"]
        declared = {e.name: e for e in self.eqs if e.kind == "param"}
        for name in list(declared):
            if name in self.special:       # 'I : amp' declared for the input: it is the input
                if declared[name].dim != self.special[name]:
                    raise EquationError(f"{where}: {declared[name].text!r} declares {name!r}, the model's input, with "
                                        f"units {U.name_of(declared[name].dim)}; it is in {U.name_of(self.special[name])}")
                del declared[name]
        for e in self.diff + self.subs:
            if e.name in self.special:
                raise EquationError(f"{where}: {e.text!r} defines {e.name!r}, a name the model receives "
                                    f"({', '.join(self.special)}); rename it")
        self.constants = resolve_params(params, declared, {e.name for e in self.diff + self.subs}, self.special, where)
        # names the parameters' own strings use ('Cm': '1*uF/cm**2 * area'): build-time helpers
        self.referenced = {s.name for v in (params or {}).values() if isinstance(v, str)
                           for s in expression(v, where, keep_zero=True).free_symbols}
        self.dims = {**self.special, **{e.name: e.dim for e in self.eqs if e.kind != "param"},
                     **{c.name: c.dim for c in self.constants.values()}}
        self._check_units()
        self._order_subexpressions()

    # -- units ------------------------------------------------------------------------------------
    def _check_units(self):
        for e in self.diff:
            got = dimension_of(e.expr, self.dims, f"{self.where}: {e.text!r}")
            if got != e.dim / U.TIME:
                raise EquationError(f"{self.where}: {e.text!r}: the right-hand side has units {U.name_of(got)}, but "
                                    f"d{e.name}/dt must have {U.name_of(e.dim / U.TIME)} ({e.name} is in "
                                    f"{U.name_of(e.dim)})")
        for e in self.subs:
            got = dimension_of(e.expr, self.dims, f"{self.where}: {e.text!r}")
            if got != e.dim:
                raise EquationError(f"{self.where}: {e.text!r}: the right-hand side has units {U.name_of(got)}, "
                                    f"but {e.name} is declared in {U.name_of(e.dim)}")

    def check(self, expr, dim, label: str):
        """Check that ``expr`` has ``dim`` (None: any); ``label`` names it in messages
        (``"reset 'v = 0*mV'"``). Its dimension. A bare 0 fits every unit."""
        got = dimension_of(expr, self.dims, f"{self.where}: {label}")
        if dim is not None and expr == 0:
            return dim
        if dim is not None and got != dim:
            raise EquationError(f"{self.where}: {label} has units {U.name_of(got)}, expected {U.name_of(dim)}")
        return got

    # -- substitution ------------------------------------------------------------------------------
    def _order_subexpressions(self):
        subs = {e.name: e for e in self.subs}
        done, order = set(), []

        def visit(name, path):
            if name in done:
                return
            if name in path:
                raise EquationError(f"{self.where}: the subexpressions {' -> '.join(path + [name])} refer to each other "
                                    f"in a cycle")
            for s in subs[name].expr.free_symbols:
                if s.name in subs:
                    visit(s.name, path + [name])
            done.add(name)
            order.append(name)

        for name in subs:
            visit(name, [])
        self._sub_order = [(symbol(n), subs[n].expr) for n in order]

    def inline(self, expr):
        """``expr`` with every subexpression written out and every unit name a number
        (its value in neurosim's coherent units)."""
        for sym, value in reversed(self._sub_order):
            expr = expr.xreplace({sym: value})
        return numeric_units(expr)

    def rhs(self) -> dict:
        return {e.name: self.inline(e.expr) for e in self.diff}


def numeric_units(expr):
    """Unit names replaced by their values in neurosim's coherent units (mV -> 1, second -> 1000)."""
    reps = {s: sympy.Float(U.coherent_value(s.name)) for s in expr.free_symbols if U.is_unit(s.name)}
    return expr.xreplace(reps) if reps else expr


def quantity(text: str, where: str, known: dict | None = None):
    """``'-65*mV'`` -> (coherent value, dimension); ``known`` maps other constants' names to
    ``(coherent value, dimension)``."""
    known = known or {}
    expr = expression(text, where, keep_zero=True)
    dims = {k: d for k, (_, d) in known.items()}
    dims[ZERO.name] = U.DIMENSIONLESS
    dim = dimension_of(expr, dims, where)
    expr = numeric_units(expr.xreplace({ZERO: sympy.Integer(0)})).xreplace({symbol(k): sympy.Float(v) for k, (v, _) in known.items()
                                         if np.ndim(v) == 0})
    if expr.free_symbols:
        names = sorted(s.name for s in expr.free_symbols)
        raise EquationError(f"{where}: {text!r} must be a number with units; {', '.join(names)} "
                            f"{'is' if len(names) == 1 else 'are'} not known here")
    try:
        value = float(expr)
    except TypeError:
        raise EquationError(f"{where}: {text!r} is not a real number") from None
    if not math.isfinite(value):
        raise EquationError(f"{where}: {text!r} is not finite ({value})")
    return value, dim


def resolve_params(params, declared: dict, variables: set, special: dict, where: str) -> dict:
    """The values of the parameters: declared ones (``name : unit``) and external constants
    (names only given in ``params``), each stored in neurosim's unit of its dimension."""
    if params is not None and not isinstance(params, dict):
        raise EquationError(f"{where}: params must be a dict of name -> value (a string with units or a number), "
                            f"got {type(params).__name__}")
    params = dict(params or {})
    for name in params:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise EquationError(f"{where}: params keys must be names not starting with an underscore, got {name!r}")
        if name in variables or name in special:
            raise EquationError(f"{where}: params[{name!r}]: {name!r} is a variable of the model, not a parameter; "
                                f"give initial values with initial=")
        if U.is_unit(name):
            raise EquationError(f"{where}: params[{name!r}]: {name!r} is a unit name; rename the parameter")
    missing = [n for n in declared if n not in params]
    if missing:
        raise EquationError(f"{where}: the parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                            f"{'have' if len(missing) > 1 else 'has'} no value: give params={{'{missing[0]}': "
                            f"'<number>*<unit>'}} (e.g. '10*nS')")
    coherent, out, pending = {}, {}, dict(params)

    def resolve(name, path):
        if name in out:
            return
        if name in path:
            raise EquationError(f"{where}: params {' -> '.join(path + [name])} refer to each other in a cycle")
        value = pending[name]
        want = declared[name].dim if name in declared else None
        what = f"{where}: params[{name!r}]"
        if isinstance(value, str):
            probe = expression(value, what)
            for s in probe.free_symbols:
                if s.name in pending and s.name != name:
                    resolve(s.name, path + [name])
            v, dim = quantity(value, what, coherent)
            if want is not None and dim != want:
                raise EquationError(f"{what} = {value!r} has units {U.name_of(dim)}, but the model declares "
                                    f"'{name} : {U.name_of(want)}'")
        elif isinstance(value, (numbers.Real, np.ndarray, list, tuple)) or hasattr(value, "__array__"):
            arr = np.asarray(value, dtype=float)
            if not np.all(np.isfinite(arr)):
                raise EquationError(f"{what} must be finite, got {value!r}")
            dim = want if want is not None else U.DIMENSIONLESS
            v = arr * U.storage_factor(dim) if arr.ndim else float(arr) * U.storage_factor(dim)
        else:
            raise EquationError(f"{what} must be a string with units ('10*nS'), or a number or an array in "
                                f"neurosim's units, got {type(value).__name__}")
        coherent[name] = (v, dim)
        stored = v / U.storage_factor(dim)
        out[name] = Constant(name, float(stored) if np.ndim(stored) == 0 else np.asarray(stored, np.float32), dim)

    for name in pending:
        resolve(name, [])
    return {n: out[n] for n in [*declared, *[k for k in params if k not in declared]]}


def check_name(name, what: str) -> None:
    """A model's name becomes the name of its Params and State types: it must be an identifier."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise EquationError(f"{what}: name must be an identifier such as 'HH' or 'my_neuron' (it names the model's "
                            f"Params and State types), got {name!r}")


def keep_used(sys: System, used: set, where: str, also=()) -> list:
    """The parameters the model's params type holds: those its equations, threshold, reset or
    initial values use. One used only in other parameters' values (``area`` in
    ``'1*uF/cm**2 * area'``) was spent when the model was built; one used nowhere is a mistake."""
    unused = [n for n in sys.constants if n not in used and n not in also and n not in sys.referenced]
    if unused:
        raise EquationError(f"{where}: params {', '.join(repr(n) for n in unused)} {'is' if len(unused) == 1 else 'are'} "
                            f"not used by the model (a misspelt name?)")
    return [n for n in sys.constants if n in used or n in also]


def initial_values(sys: System, initial, var_dims: dict, used: set, where: str) -> dict:
    """``initial`` (variable -> a string with units of parameters, ``rand()``, ``randn()``; a
    number; a rule of :mod:`neurosim.init`) checked and compiled: variable -> ``("expr", f)`` or
    ``("rule", value)``. The parameters a string uses are added to ``used``."""
    out = {}
    for var, value in dict(initial or {}).items():
        if var not in var_dims:
            raise EquationError(f"{where}: initial[{var!r}]: {var!r} is not a variable of the model "
                                f"({', '.join(var_dims)})")
        if isinstance(value, str):
            e = expression(value, f"{where}: initial[{var!r}]")
            got = dimension_of(e, {k: c.dim for k, c in sys.constants.items()}, f"{where}: initial[{var!r}] = {value!r}")
            if got != var_dims[var] and e != 0:
                raise EquationError(f"{where}: initial[{var!r}] = {value!r} has units {U.name_of(got)}, but {var} is "
                                    f"in {U.name_of(var_dims[var])}")
            used |= {s.name for s in e.free_symbols}
            out[var] = ("expr", compile_exprs([sys.inline(e)], f"{where}: initial[{var!r}]", cse=False))
        else:
            out[var] = ("rule", value)
    return out


def draw_initial(inits: dict, var_dims: dict, var_factors: dict, env: dict, n: int, key) -> dict:
    """The (n,) float32 starting value of every variable, stored in neurosim's units: a compiled
    string evaluated with the parameters in ``env`` (its draws from ``key``), a rule drawn, or 0."""
    values = {}
    for i, var in enumerate(var_dims):
        kind, how = inits.get(var, ("rule", None))
        k = jax.random.fold_in(key, i)
        if kind == "expr":
            (v,) = how({**env, "__key__": k, "__shape__": (n,)})
            v = jnp.broadcast_to(jnp.asarray(v, jnp.float32), (n,)) / var_factors[var]
        else:
            v = draw(how, 0.0, n, k)
        values[var] = jnp.asarray(v, jnp.float32)
    return values
