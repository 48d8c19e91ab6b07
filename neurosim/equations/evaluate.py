"""sympy expressions evaluated with jax.numpy, node by node (no code is generated or executed).

:func:`compile_exprs` takes the expressions of one update, finds their common subexpressions
once (``sympy.cse``) and returns a function of an environment (name -> array) that evaluates
them in order under ``jit``; what it traces is ordinary elementwise JAX, which the scan runs as
it is and the native engine lowers to C++.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import sympy

from .errors import EquationError
from .parse import expm1, exprel, rand, randn


@jax.custom_jvp
def _exprel(x):
    """(e^x - 1) / x, 1 at x = 0: expm1 is accurate near 0, so only x = 0 itself needs a branch."""
    zero = x == 0
    safe = jnp.where(zero, 1.0, x)
    return jnp.where(zero, 1.0, jnp.expm1(safe) / safe)


@_exprel.defjvp
def _exprel_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = _exprel(x)
    small = jnp.abs(x) < 1e-2                 # the series where the closed form cancels
    safe = jnp.where(small, 1.0, x)
    slope = jnp.where(small, 0.5 + x / 3.0 + x * x / 8.0, (jnp.exp(safe) - _exprel(safe)) / safe)
    return y, slope * dx


@jax.custom_jvp
def _inv_exprel(x):
    """x / (e^x - 1), 1 at x = 0: a rate ``c / exprel(x)`` in one division, not two."""
    zero = x == 0
    safe = jnp.where(zero, 1.0, x)
    return jnp.where(zero, 1.0, safe / jnp.expm1(safe))


@_inv_exprel.defjvp
def _inv_exprel_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = _inv_exprel(x)
    _, d_exprel = jax.jvp(_exprel, (x,), (jnp.ones_like(x),))
    return y, -d_exprel * y * y * dx


_FUNCS = {
    sympy.exp: jnp.exp, sympy.log: jnp.log, sympy.sin: jnp.sin, sympy.cos: jnp.cos, sympy.tan: jnp.tan,
    sympy.sinh: jnp.sinh, sympy.cosh: jnp.cosh, sympy.tanh: jnp.tanh, sympy.asin: jnp.arcsin,
    sympy.acos: jnp.arccos, sympy.atan: jnp.arctan, sympy.Abs: jnp.abs, sympy.sign: jnp.sign,
    sympy.floor: jnp.floor, sympy.ceiling: jnp.ceil, exprel: _exprel, expm1: jnp.expm1,
}


def compile_exprs(exprs, where: str, cse: bool = True):
    """``f(env) -> [values]`` evaluating ``exprs`` (a list of sympy expressions) with the
    arrays of ``env`` (symbol name -> array) and ``env["__key__"]`` for ``rand()``/``randn()``."""
    # factor_terms: 0.2*VT - 0.2*v (sympy distributes numbers over sums) back to 0.2*(VT - v)
    exprs = [sympy.factor_terms(sympy.sympify(e)) for e in exprs]
    if cse:     # never for draws: two rand() calls are two draws
        replacements, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols("_cse"), optimizations=None)
    else:
        replacements, reduced = [], exprs

    def run(env):
        env = dict(env)
        for sym, e in replacements:
            env[sym.name] = _eval(e, env, where)
        return [_eval(e, env, where) for e in reduced]

    return run


class _InvExprel(sympy.Function):
    """1 / exprel(x), as the evaluator computes it (never built by a parser)."""
    nargs = 1


def _negative(e) -> bool:
    """A term written with a minus sign (-x, -2 x y): it is subtracted, not added."""
    return bool(isinstance(e, sympy.Mul) and e.args and e.args[0].is_Number and e.args[0] < 0) or \
        bool(e.is_Number and e < 0)


def _eval(e, env, where):
    if e.is_Symbol:
        try:
            return env[e.name]
        except KeyError:
            raise EquationError(f"{where}: {e.name!r} has no value here") from None
    if e.is_Number:
        if e in (sympy.oo, -sympy.oo):
            return float(e)
        return float(e)
    if e in (sympy.pi, sympy.E):
        return float(e)
    if isinstance(e, sympy.Add):      # a - b for terms with a negative coefficient, not a + (-1) b
        out = None
        for a in sorted(e.args, key=lambda a: _negative(a)):
            neg = _negative(a)
            v = _eval(-a if neg else a, env, where)
            if out is None:
                out = -v if neg else v
            else:
                out = out - v if neg else out + v
        return out
    if isinstance(e, sympy.Mul):
        coeff, factors = e.as_coeff_mul()
        num, den = [], []
        for a in factors:
            if isinstance(a, sympy.Pow) and a.exp == -1 and isinstance(a.base, exprel):
                num.append(_InvExprel(a.base.args[0]))
            elif isinstance(a, sympy.Pow) and a.exp.is_Integer and a.exp < 0:
                den.append(a.base ** (-a.exp))
            else:
                num.append(a)
        out = None
        for a in num:
            v = _eval(a, env, where)
            out = v if out is None else out * v
        for a in den:
            d = _eval(a, env, where)
            out = 1.0 / d if out is None else out / d
        if coeff == -1:
            return -out if out is not None else -1.0
        if coeff != 1:
            out = float(coeff) if out is None else float(coeff) * out
        return 1.0 if out is None else out
    if isinstance(e, _InvExprel):
        return _inv_exprel(_eval(e.args[0], env, where))
    if isinstance(e, sympy.Pow):
        base, ex = e.args
        if ex == -1 and isinstance(base, exprel):
            return _inv_exprel(_eval(base.args[0], env, where))
        b = _eval(base, env, where)
        if ex.is_Integer:
            k = int(ex)
            if k < 0:
                return 1.0 / jax.lax.integer_pow(jnp.asarray(b), -k) if k != -1 else 1.0 / b
            return jax.lax.integer_pow(jnp.asarray(b), k) if k != 1 else b
        if ex == sympy.Rational(1, 2):
            return jnp.sqrt(b)
        if ex == -sympy.Rational(1, 2):
            return 1.0 / jnp.sqrt(b)
        return jnp.power(b, _eval(ex, env, where))
    if isinstance(e, sympy.Min):
        vals = [_eval(a, env, where) for a in e.args]
        out = vals[0]
        for v in vals[1:]:
            out = jnp.minimum(out, v)
        return out
    if isinstance(e, sympy.Max):
        vals = [_eval(a, env, where) for a in e.args]
        out = vals[0]
        for v in vals[1:]:
            out = jnp.maximum(out, v)
        return out
    if isinstance(e, sympy.Piecewise):
        out = None
        for val, cond in reversed(e.args):
            v = _eval(val, env, where)
            out = v if out is None or cond is sympy.true else jnp.where(_eval(cond, env, where), v, out)
        return out
    if isinstance(e, sympy.core.relational.Relational):
        a, b = _eval(e.lhs, env, where), _eval(e.rhs, env, where)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[e.rel_op]
    if isinstance(e, (rand, randn)):
        key, shape = env.get("__key__"), env.get("__shape__")
        if key is None:
            raise EquationError(f"{where}: {type(e).__name__}() draws a random number and is allowed in initial "
                                f"values only")
        env["__key__"], sub = jax.random.split(key)
        return (jax.random.uniform if isinstance(e, rand) else jax.random.normal)(sub, shape)
    for kind, fn in _FUNCS.items():
        if isinstance(e, kind):
            return fn(_eval(e.args[0], env, where))
    raise EquationError(f"{where}: cannot evaluate {str(e)!r} ({type(e).__name__})")
