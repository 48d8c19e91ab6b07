"""Brian2's model strings, read into sympy without evaluating them.

Three kinds of lines, one per line (``#`` starts a comment; a line continues while a bracket is
open), each with its unit after a colon and optional flags in brackets::

    dv/dt = (g_l * (E_l - v) + I) / C : volt (unless refractory)    # a differential equation
    I_na = g_na * m**3 * h * (E_na - v) : amp                       # a subexpression
    g_l : siemens                                                    # a parameter

Expressions are read by Python's :mod:`ast` and translated node by node into sympy: only
numbers, names, arithmetic, comparisons and calls of the functions in :data:`FUNCTIONS` are
accepted, so a model string is never executed (no ``eval``, no ``sympy.sympify``).
"""
from __future__ import annotations

import ast
import math
import re
from typing import NamedTuple

import sympy

from . import units as U
from .errors import EquationError


class exprel(sympy.Function):
    """(exp(x) - 1) / x, 1 at x = 0 (Brian2's ``exprel``: the Hodgkin-Huxley rate functions
    without a removable singularity)."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return ((x - 1) * sympy.exp(x) + 1) / x ** 2

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sympy.Integer(1)

    def _eval_is_positive(self):      # (e^x - 1) / x > 0 for every real x
        return True if self.args[0].is_extended_real else None


class expm1(sympy.Function):
    """e^x - 1 (what exponential Euler writes where its rate is known not to vanish; not a
    name model strings use)."""

    def fdiff(self, argindex=1):
        return sympy.exp(self.args[0])


def _clip(x, low, high):
    return sympy.Min(sympy.Max(x, low), high)


class rand(sympy.Function):
    """A uniform draw in [0, 1) per element (initial values only). Its argument is a fresh
    symbol per call, so that sympy does not merge two calls into one draw."""
    nargs = 1


class randn(sympy.Function):
    """A standard normal draw per element (initial values only); a fresh symbol per call, as rand."""
    nargs = 1


FUNCTIONS = {
    "exp": sympy.exp, "log": sympy.log, "log10": lambda x: sympy.log(x) / sympy.log(10), "sqrt": sympy.sqrt,
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "sinh": sympy.sinh, "cosh": sympy.cosh,
    "tanh": sympy.tanh, "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan, "abs": sympy.Abs,
    "sign": sympy.sign, "floor": sympy.floor, "ceil": sympy.ceiling, "exprel": exprel, "clip": _clip,
    "minimum": sympy.Min, "maximum": sympy.Max, "rand": lambda: rand(sympy.Dummy("draw")),
    "randn": lambda: randn(sympy.Dummy("draw")),
}
_ARITY = {"clip": 3, "minimum": 2, "maximum": 2, "rand": 0, "randn": 0}
CONSTANTS = {"pi": sympy.pi, "inf": sympy.oo}
FLAGS = ("unless refractory", "event-driven", "constant", "shared", "constant over dt")
_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}
_COMPARE = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}


def symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


ZERO = sympy.Symbol("__zero__", real=True)


def expression(text: str, where: str, keep_zero: bool = False) -> sympy.Expr:
    """``text`` (one Python expression) as a sympy expression; names become real symbols. With
    ``keep_zero`` a literal 0 is the symbol :data:`ZERO`, so that ``0*ms`` keeps its unit."""
    tree = _parse(text, where, "eval")
    return _expr(tree.body, where, keep_zero)


def condition(text: str, where: str) -> tuple:
    """A threshold ``lhs > rhs`` (or ``>=``, ``<``, ``<=``) as ``(op, lhs, rhs)``."""
    tree = _parse(text, where, "eval")
    node = tree.body
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE):
        raise EquationError(f"{where}: expected one comparison such as 'v > -50*mV', got {text!r}")
    return _COMPARE[type(node.ops[0])], _expr(node.left, where), _expr(node.comparators[0], where)


class Statement(NamedTuple):
    target: str
    op: str            # "=", "+=", "-=", "*=", "/="
    expr: sympy.Expr
    text: str


_AUG = {ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/="}


def statements(text: str, where: str) -> list:
    """``v = v_reset; w += b`` (``;`` or new lines) as a list of :class:`Statement`."""
    out = []
    for line in re.split(r"[;\n]", _strip_comments(text)):
        line = line.strip()
        if not line:
            continue
        tree = _parse(line, f"{where} {line!r}", "exec")
        if len(tree.body) != 1:
            raise EquationError(f"{where}: expected one assignment per statement, got {line!r}")
        node = tree.body[0]
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out.append(Statement(node.targets[0].id, "=", _expr(node.value, f"{where} {line!r}"), line))
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and type(node.op) in _AUG:
            out.append(Statement(node.target.id, _AUG[type(node.op)], _expr(node.value, f"{where} {line!r}"), line))
        else:
            raise EquationError(f"{where}: expected 'name = expression' or 'name += expression' "
                                f"(also -=, *=, /=), got {line!r}")
    return out


class Equation(NamedTuple):
    kind: str                 # "diff", "sub" or "param"
    name: str
    expr: object              # sympy expression (None for a parameter)
    dim: U.Dimension
    flags: frozenset
    text: str                 # the line as written, for messages


_DIFF = re.compile(r"^d\s*([A-Za-z_]\w*)\s*/\s*dt\s*=\s*(.+)$", re.S)
_SUB = re.compile(r"^([A-Za-z_]\w*)\s*=\s*(.+)$", re.S)
_PARAM = re.compile(r"^([A-Za-z_]\w*)$")


def equations(text: str, where: str = "equations", allow_empty: bool = False) -> list:
    """The lines of a model string as :class:`Equation` (in the order written)."""
    if not isinstance(text, str):
        raise EquationError(f"{where}: expected the model as a string, got {type(text).__name__}")
    out, seen = [], {}
    for line in _lines(text):
        body, unit, flags = _split_line(line, where)
        if m := _DIFF.match(body):
            kind, name, rhs = "diff", m.group(1), m.group(2)
        elif m := _SUB.match(body):
            kind, name, rhs = "sub", m.group(1), m.group(2)
        elif m := _PARAM.match(body):
            kind, name, rhs = "param", m.group(1), None
        else:
            raise EquationError(f"{where}: cannot read {line!r}: expected 'dx/dt = expression : unit', "
                                f"'x = expression : unit' or 'x : unit'")
        if name in seen:
            raise EquationError(f"{where}: {name!r} is defined twice: {seen[name]!r} and {line!r}")
        if name.startswith("_"):
            raise EquationError(f"{where}: {line!r}: names may not start with an underscore ({name!r})")
        if U.is_unit(name) or name in FUNCTIONS or name in CONSTANTS:
            raise EquationError(f"{where}: {line!r} defines {name!r}, which is the name of a unit or a function; "
                                f"rename it")
        seen[name] = line
        expr = expression(rhs, f"{where}: {line!r}") if rhs is not None else None
        if "xi" in {str(s) for s in getattr(expr, "free_symbols", ())} or (expr is not None and any(
                str(s).startswith("xi_") for s in expr.free_symbols)):
            raise EquationError(f"{where}: {line!r} has a noise term (xi); stochastic equations are not supported "
                                f"yet: add noise with an input (ns.inputs.NoisyCurrent)")
        out.append(Equation(kind, name, expr, unit_dimension(unit, f"{where}: {line!r}"), flags, line))
    if not out and not allow_empty:
        raise EquationError(f"{where}: the model string has no equations")
    return out


def unit_dimension(text: str, where: str) -> U.Dimension:
    """The dimension of a unit expression such as ``volt``, ``1``, ``siemens/meter**2``."""
    text = text.strip()
    if text in ("boolean", "integer"):
        raise EquationError(f"{where}: {text} variables are not supported; use a float variable with unit 1")
    try:
        expr = expression(text, where)
    except EquationError as e:
        raise EquationError(f"{where}: cannot read the unit {text!r} ({e})") from None
    from .dims import dimension_of
    for s in expr.free_symbols:
        if not U.is_unit(s.name):
            raise EquationError(f"{where}: {s.name!r} in the unit {text!r} is not a unit name "
                                f"(e.g. volt, amp, siemens, farad, second, hertz, metre, mole; or 1)")
    return dimension_of(expr, {}, where)


# ------------------------------------------------------------------------------------------------

def _strip_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def _lines(text: str):
    buf, depth = "", 0
    for raw in _strip_comments(text).splitlines():
        buf = f"{buf} {raw.strip()}" if buf else raw.strip()
        depth = buf.count("(") - buf.count(")")
        if depth <= 0 and buf:
            yield buf
            buf = ""
    if buf:
        yield buf


def _split_line(line: str, where: str):
    if ":" not in line:
        raise EquationError(f"{where}: {line!r} has no unit: write it after a colon, e.g. 'dv/dt = -v/tau : volt' "
                            f"(': 1' for a dimensionless variable)")
    body, rest = line.rsplit(":", 1)
    flags = frozenset()
    m = re.match(r"^(.*?)\(([A-Za-z ,-]*)\)\s*$", rest.strip())
    if m and m.group(1).strip() and not m.group(1).rstrip().endswith(("*", "/", "(")):   # not 'volt/(amp)'
        unit, flag_text = m.group(1), m.group(2)
        flags = frozenset(f.strip() for f in flag_text.split(","))
        for f in flags:
            if f not in FLAGS:
                raise EquationError(f"{where}: unknown flag {f!r} in {line!r}; known flags: {', '.join(FLAGS)}")
        rest = unit
    return body.strip(), rest.strip(), flags


def _parse(text: str, where: str, mode: str):
    if not isinstance(text, str) or not text.strip():
        raise EquationError(f"{where}: expected an expression, got {text!r}")
    try:
        return ast.parse(text.strip(), mode=mode)
    except SyntaxError as e:
        raise EquationError(f"{where}: cannot read {text.strip()!r}: {e.msg}") from None


def _expr(node, where: str, keep_zero: bool = False):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        if keep_zero and node.value == 0:
            return ZERO
        if not math.isfinite(node.value):
            raise EquationError(f"{where}: the number {ast.unparse(node)} is not finite in float64")
        return sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Float(node.value)
    if isinstance(node, ast.Name):
        return CONSTANTS.get(node.id) or symbol(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _expr(node.left, where, keep_zero), _expr(node.right, where, keep_zero)
        if isinstance(node.op, ast.Pow) and left.is_Number and right.is_Number and abs(right) > 64:
            raise EquationError(f"{where}: {ast.unparse(node)!r}: a power of a number with an exponent beyond 64 "
                                f"(sympy would compute it exactly)")
        return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        x = _expr(node.operand, where, keep_zero)
        return -x if isinstance(node.op, ast.USub) else x
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "int":
        # int(a < b): 1 where the comparison holds, else 0 (Brian2's idiom for piecewise rates)
        arg = node.args[0] if len(node.args) == 1 and not node.keywords else None
        if not (isinstance(arg, ast.Compare) and len(arg.ops) == 1 and type(arg.ops[0]) in _COMPARE):
            raise EquationError(f"{where}: int() takes one comparison, e.g. int(v > -10*mV)")
        rel = {">": sympy.Gt, ">=": sympy.Ge, "<": sympy.Lt, "<=": sympy.Le}[_COMPARE[type(arg.ops[0])]](
            _expr(arg.left, where, keep_zero), _expr(arg.comparators[0], where, keep_zero), evaluate=False)
        return sympy.Piecewise((sympy.Integer(1), rel), (sympy.Integer(0), True))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name not in FUNCTIONS:
            raise EquationError(f"{where}: unknown function {name!r}; known: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise EquationError(f"{where}: {name}() takes no keyword arguments")
        want = _ARITY.get(name, 1)
        if len(node.args) != want:
            raise EquationError(f"{where}: {name}() takes {want} argument{'s' if want != 1 else ''}, "
                                f"got {len(node.args)}")
        return FUNCTIONS[name](*[_expr(a, where, keep_zero) for a in node.args])
    what = ast.unparse(node) if hasattr(ast, "unparse") else type(node).__name__
    raise EquationError(f"{where}: {what!r} is not allowed in an equation (numbers, names, + - * / **, "
                        f"int(comparison), and calls of {', '.join(sorted(FUNCTIONS))} are)")
