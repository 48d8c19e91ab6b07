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
                       Decoupled (J diagonal): the formula above, exact. Coupled:
                       x + ... = exp(J dt) x + (integral_0^dt exp(J s) ds) b, both computed
                       numerically (scaling and squaring), safe for equal or complex rates.

``None`` picks ``exact`` where the equations are linear, else ``euler`` (Brian2's default).
Reference: Brian2's documentation, "State update"; Hochbruck & Ostermann (2010), Acta Numerica
19:209 (exponential integrators).
"""
from __future__ import annotations

import math

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
    # int(v > x), clip, minimum, floor ... of a variable: piecewise, their derivative says nothing
    kinks = (sympy.Piecewise, sympy.Min, sympy.Max, sympy.Abs, sympy.floor, sympy.ceiling, sympy.sign)
    if any(k.free_symbols & set(xs) for f in rhs.values() for k in f.atoms(*kinks)):
        linear = False
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
    if method == "exact":
        return _exact(rhs, texts, where)
    if method == "exponential_euler":
        run = compile_exprs(_exponential_euler(rhs, texts, where), where)
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
        # a rate of known sign (HH gates: -(alpha + beta) < 0) needs no branch at a = 0, only a
        # nudge away from 0 for when it underflows there (the update is then x + dt f, its limit);
        # 1e-30 is lost in any rate that has not underflowed
        if a.is_negative:
            a = a - sympy.Float(1e-30)
        elif a.is_positive:
            a = a + sympy.Float(1e-30)
        out.append(x + f * expm1(a * DT) / a if a.is_nonzero else x + DT * f * exprel(a * DT))
    return out


def _exact(rhs, texts, where):
    """The update of a linear system dx/dt = J x + b (J and b free of x, held over the step).
    Decoupled (J diagonal): each variable in closed form. Coupled: x(dt) = E x + F b with
    E = exp(J dt) and F = integral_0^dt exp(J s) ds, computed numerically at run time (scaling
    and squaring of their Taylor series; no division by a difference of rates, so equal or
    complex eigenvalues are as safe as any others). Where J depends only on shared parameters,
    E and F are the same for every element, and the native engine computes them once a step."""
    names = list(rhs)
    xs = [symbol(n) for n in names]
    J, linear = jacobian(rhs)
    if not linear:
        kinks = (sympy.Piecewise, sympy.Min, sympy.Max, sympy.Abs, sympy.floor, sympy.ceiling, sympy.sign)
        for i, n in enumerate(names):
            bad = {names[j] for j in range(len(names)) if J[i, j].free_symbols & set(xs)}
            bad |= {s.name for k in rhs[n].atoms(*kinks) for s in k.free_symbols & set(xs)}
            if bad:
                raise EquationError(f"{where}: method 'exact' needs linear equations; {texts[n]!r} is not linear "
                                    f"in {', '.join(sorted(bad))}; use 'exponential_euler' (conductance-based "
                                    f"models), 'euler', 'rk2' or 'rk4'")
    if J.is_diagonal():
        run = compile_exprs([x + DT * rhs[n] * exprel(J[i, i] * DT) for i, (n, x) in enumerate(zip(names, xs))], where)
        return lambda env: dict(zip(names, run(env)))
    k = len(names)
    b = [sympy.expand(rhs[n] - sum(J[i, j] * xs[j] for j in range(k))) for i, n in enumerate(names)]
    coefficients = compile_exprs([J[i, j] for i in range(k) for j in range(k)] + b, where)

    def step(env):
        vals = coefficients(env)
        Jm = [vals[i * k:(i + 1) * k] for i in range(k)]
        D, F = _exp_and_integral(Jm, env["dt"])
        x = [env[n] for n in names]
        bv = vals[k * k:]
        return {n: x[i] + sum(D[i][j] * x[j] + F[i][j] * bv[j] for j in range(k)) for i, n in enumerate(names)}

    return step


SQUARINGS, TAYLOR = 8, 12     # exact to float64 rounding for |J dt| up to ~2^8 (dt 256 x the fastest rate)


def _exp_and_integral(J, dt):
    """(exp(J dt) - I, integral_0^dt exp(J s) ds) for a small matrix of arrays (lists of rows),
    elementwise: the Taylor series of phi1(A) = sum A^n / (n+1)! at A = J h, h = dt / 2^S, then
    S doublings. The identity is kept out (D = E - I: D(2h) = 2 D + D^2, F(2h) = 2 F + D F), so
    a step much shorter than the time constants loses nothing to 1 + tiny in float32."""
    k = len(J)
    h = dt / 2.0 ** SQUARINGS
    A = [[J[i][j] * h for j in range(k)] for i in range(k)]
    eye = [[1.0 if i == j else 0.0 for j in range(k)] for i in range(k)]

    def matmul(P, Q):
        return [[sum(P[i][m] * Q[m][j] for m in range(k)) for j in range(k)] for i in range(k)]

    phi = [[e / math.factorial(TAYLOR + 1) for e in row] for row in eye]       # Horner on phi1
    for n in range(TAYLOR, 0, -1):
        phi = matmul(A, phi)
        phi = [[phi[i][j] + eye[i][j] / math.factorial(n) for j in range(k)] for i in range(k)]
    D = matmul(A, phi)
    F = [[q * h for q in row] for row in phi]
    for _ in range(SQUARINGS):
        DF, DD = matmul(D, F), matmul(D, D)
        F = [[2.0 * F[i][j] + DF[i][j] for j in range(k)] for i in range(k)]
        D = [[2.0 * D[i][j] + DD[i][j] for j in range(k)] for i in range(k)]
    return D, F
