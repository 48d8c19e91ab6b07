"""Integration methods, chosen by name as Brian2's ``method=``.

For a system dx_k/dt = f_k(x, p) over one step dt (inputs and parameters held constant):

``euler``              x + dt f(x)
``rk2``                x + dt f(x + dt/2 f(x))                               (midpoint)
``rk4``                the classical fourth-order Runge-Kutta
``exponential_euler``  each f_k = A_k x_k + B_k with A_k, B_k free of x_k (conditionally linear,
                       as Hodgkin-Huxley's gates and membrane are); then, A and B held at their
                       values at the start of the step, x_k + dt f_k exprel(A_k dt)
                       (= -B/A + (x + B/A) exp(A dt), safe at A = 0)
``exact``              linear equations with coefficients free of the state: dx/dt = J x + b.
                       Decoupled (J diagonal): the formula above, exact. Coupled: the matrix
                       exponential of [[J, b], [0, 0]] dt, derived once with sympy.

``None`` picks ``exact`` where the equations are linear, else ``euler`` (Brian2's default).
Reference: Brian2's documentation, "State update"; Hochbruck & Ostermann (2010), Acta Numerica
19:209 (exponential integrators).
"""
from __future__ import annotations

import sympy

from .errors import EquationError
from .evaluate import compile_exprs
from .parse import expm1, exprel, symbol

METHODS = ("exact", "exponential_euler", "euler", "rk2", "rk4")
DT = sympy.Symbol("dt", positive=True)   # the step, > 0 (the equations' own dt is the same name)


def jacobian(rhs: dict):
    """The Jacobian of ``rhs`` (name -> f) w.r.t. its variables, and whether it is free of them."""
    names = list(rhs)
    xs = [symbol(n) for n in names]
    J = sympy.Matrix([[sympy.diff(rhs[a], x) for x in xs] for a in names])
    linear = all(not (J[i, j].free_symbols & set(xs)) for i in range(len(xs)) for j in range(len(xs)))
    return J, linear


def choose(rhs: dict, method, texts: dict, where: str) -> str:
    """The method to use: ``method`` checked, or the default for these equations."""
    if method is None:
        return "exact" if not rhs or jacobian(rhs)[1] else "euler"
    if method not in METHODS:
        raise EquationError(f"{where}: method must be one of {METHODS} (or None: exact where linear, else euler), "
                            f"got {method!r}")
    return method


def update(rhs: dict, method: str, texts: dict, where: str):
    """``f(env) -> {name: new value}`` for one step of ``method``; ``env`` holds the state, the
    parameters, the inputs and ``dt`` (coherent units), ``rhs`` maps each variable to its f."""
    names = list(rhs)
    if not names:
        return lambda env: {}
    if method in ("exact", "exponential_euler"):
        exprs = _exact(rhs, texts, where) if method == "exact" else _exponential_euler(rhs, texts, where)
        run = compile_exprs(exprs, where)
        return lambda env: dict(zip(names, run(env)))
    f = compile_exprs([rhs[n] for n in names], where)

    def rates(env, x):
        return dict(zip(names, f({**env, **x})))

    def step(env):
        dt = env["dt"]
        x0 = {n: env[n] for n in names}
        k1 = rates(env, x0)
        if method == "euler":
            return {n: x0[n] + dt * k1[n] for n in names}
        if method == "rk2":
            k2 = rates(env, {n: x0[n] + 0.5 * dt * k1[n] for n in names})
            return {n: x0[n] + dt * k2[n] for n in names}
        k2 = rates(env, {n: x0[n] + 0.5 * dt * k1[n] for n in names})
        k3 = rates(env, {n: x0[n] + 0.5 * dt * k2[n] for n in names})
        k4 = rates(env, {n: x0[n] + dt * k3[n] for n in names})
        return {n: x0[n] + dt / 6.0 * (k1[n] + 2.0 * k2[n] + 2.0 * k3[n] + k4[n]) for n in names}

    return step


def _exponential_euler(rhs, texts, where):
    out = []
    for n, f in rhs.items():
        x = symbol(n)
        a = sympy.diff(f, x)
        if x in a.free_symbols:
            why = f"d f/d {n} = {a}" if len(str(a)) < 120 else f"d f/d {n} still depends on {n}"
            raise EquationError(f"{where}: method 'exponential_euler' needs each equation linear in its own variable; "
                                f"{texts[n]!r} is not linear in {n} ({why}); use 'euler', 'rk2' or 'rk4'")
        # a rate sympy can prove non-zero (HH gates: -(alpha + beta)) needs no branch at a = 0
        out.append(x + f * expm1(a * DT) / a if a.is_nonzero else x + DT * f * exprel(a * DT))
    return out


def _exact(rhs, texts, where):
    names = list(rhs)
    xs = [symbol(n) for n in names]
    J, linear = jacobian(rhs)
    if not linear:
        for i, n in enumerate(names):
            bad = [names[j] for j in range(len(names)) if J[i, j].free_symbols & set(xs)]
            if bad:
                raise EquationError(f"{where}: method 'exact' needs linear equations; {texts[n]!r} is not linear in "
                                    f"{', '.join(bad)}; use 'exponential_euler' (conductance-based models), 'euler', "
                                    f"'rk2' or 'rk4'")
    b = [sympy.expand(rhs[n] - sum(J[i, j] * xs[j] for j in range(len(xs)))) for i, n in enumerate(names)]
    if J.is_diagonal():
        return [x + DT * rhs[n] * exprel(J[i, i] * DT) for i, (n, x) in enumerate(zip(names, xs))]
    k = len(names)
    M = sympy.zeros(k + 1, k + 1)
    M[:k, :k] = J * DT
    for i in range(k):
        M[i, k] = b[i] * DT
    try:
        E = M.exp()
    except Exception as e:   # sympy cannot always diagonalise a symbolic matrix
        raise EquationError(f"{where}: method 'exact' could not solve the coupled linear system of "
                            f"{', '.join(names)} symbolically ({type(e).__name__}); use 'rk4' or "
                            f"'exponential_euler'") from None
    new = E * sympy.Matrix([*xs, 1])
    out = []
    for i in range(k):   # an oscillating system comes out in complex exponentials: back to cos and sin
        e = sympy.simplify(sympy.expand_complex(new[i])) if new[i].has(sympy.I) else sympy.simplify(new[i])
        if e.has(sympy.I):
            raise EquationError(f"{where}: method 'exact' gave a complex solution for {names[i]}; use 'rk4'")
        out.append(e)
    return out
