"""Mean-field (diffusion) theory of the sparse E/I network of Brunel (2000): the stationary
firing rate of a LIF neuron driven by white noise (Siegert's formula) and its self-consistent
solution for the network. Numpy only; no simulation.

A LIF neuron (V relative to rest, membrane time constant tau, threshold theta, reset V_r,
absolute refractory period tau_rp) whose input is Gaussian white noise of mean mu and
standard deviation sigma (both in mV: tau dV/dt = -V + mu + sigma sqrt(tau) xi(t)) fires at

    1 / nu = tau_rp + tau sqrt(pi) integral_{(V_r - mu)/sigma}^{(theta - mu)/sigma} e^{u^2} (1 + erf u) du

(Siegert 1951; Amit & Brunel 1997; Brunel 2000 eq. 21). In the network each neuron receives
C_E excitatory inputs of J (mV), C_I = gamma C_E inhibitory inputs of -g J and C_ext = C_E
external Poisson inputs of J at nu_ext; with every neuron firing at nu,

    mu      = J C_E tau [nu_ext + nu (1 - g gamma)]
    sigma^2 = J^2 C_E tau [nu_ext + nu (1 + g^2 gamma)]

and the stationary rate solves nu = Siegert(mu(nu), sigma(nu)). nu_ext is given relative to
nu_thr = theta / (J C_E tau), the external rate that brings the mean input to threshold.

Units: times in ms (tau, tau_rp), voltages in mV (J, theta, V_r, mu, sigma), rates in Hz.

The integral. The identity e^{u^2}(1 + erf u) = e^{u^2} erfc(-u) = (2/sqrt(pi)) int_0^inf
exp(-s^2 + 2 u s) ds (substitute t = s - u in erfc) turns it into one integral of a smooth,
positive function with no error function in it:

    sqrt(pi) int_{y_r}^{y_th} e^{u^2}(1 + erf u) du
        = int_0^inf exp(-s^2 + 2 y_th s) (1 - exp(-2 (y_th - y_r) s)) / s ds

evaluated by composite Gauss-Legendre quadrature in the log domain (so a high barrier,
y_th >> 1, gives a rate that underflows to 0 instead of an overflow), accurate to ~1e-12
relative for the arguments met in practice.

Reference: N. Brunel, "Dynamics of sparsely connected networks of excitatory and inhibitory
spiking neurons", J. Comput. Neurosci. 8:183-208 (2000); A. J. F. Siegert, Phys. Rev.
81:617 (1951); D. J. Amit and N. Brunel, Cereb. Cortex 7:237 (1997).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["siegert_rate", "brunel_input", "brunel_fixed_points", "brunel_rate"]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(48)


def _log_barrier_integral(y_th: float, y_r: float) -> float:
    """log of  int_0^inf exp(-s^2 + 2 y_th s) (1 - exp(-2 (y_th - y_r) s)) / s ds  (y_th > y_r)."""
    delta = y_th - y_r
    s_max = max(y_th, 0.0) + 9.0  # exp(-(s - y_th)^2) < e^-81 beyond
    # Breakpoints where the integrand changes scale: ~1/delta near 0 (the factor
    # (1 - e^{-2 delta s}) / s), the Gaussian bump around s = y_th, and geometric refinement.
    edges = {0.0, s_max}
    for c in (0.25, 1.0, 4.0, 16.0):
        edges.add(c / (2.0 * delta))
    for c in (-6.0, -3.0, -1.0, 0.0, 1.0, 3.0):
        edges.add(y_th + c)
    edges.update(np.linspace(0.0, s_max, 9)[1:-1].tolist())
    e = np.array(sorted(x for x in edges if 0.0 <= x <= s_max))
    a, b = e[:-1], e[1:]
    half, mid = 0.5 * (b - a), 0.5 * (b + a)
    s = (mid[:, None] + half[:, None] * _NODES[None, :]).ravel()
    w = (half[:, None] * _WEIGHTS[None, :]).ravel()
    # log of the integrand; -expm1(-x)/s -> 2 delta as s -> 0 (Gauss nodes never hit s = 0)
    log_f = -s * s + 2.0 * y_th * s + np.log(-np.expm1(-2.0 * delta * s) / s)
    m = float(np.max(log_f))
    return m + math.log(float(np.sum(w * np.exp(log_f - m))))


def siegert_rate(mu, sigma, *, tau=20.0, theta=20.0, V_r=10.0, tau_rp=2.0) -> float:
    """Stationary rate (Hz) of a LIF neuron with white-noise input of mean ``mu`` and standard
    deviation ``sigma`` (mV): the Siegert formula above. ``tau``, ``tau_rp`` in ms; ``theta``,
    ``V_r`` in mV (relative to rest). ``sigma`` must be > 0."""
    mu, sigma = float(mu), float(sigma)
    tau, tau_rp = float(tau), float(tau_rp)
    theta, V_r = float(theta), float(V_r)
    if not (math.isfinite(mu) and math.isfinite(sigma)) or sigma <= 0:
        raise ValueError(f"siegert_rate: need finite mu and sigma > 0, got mu={mu!r} mV, sigma={sigma!r} mV")
    if not (tau > 0 and tau_rp >= 0 and math.isfinite(tau) and math.isfinite(tau_rp)):
        raise ValueError(f"siegert_rate: need tau > 0 and tau_rp >= 0 (ms), got tau={tau!r}, tau_rp={tau_rp!r}")
    if not theta > V_r:
        raise ValueError(f"siegert_rate: theta must be above V_r, got theta={theta!r} mV, V_r={V_r!r} mV")
    log_i = _log_barrier_integral((theta - mu) / sigma, (V_r - mu) / sigma)
    if log_i > 700.0:  # the interval is astronomically long: the neuron is silent
        return 0.0
    return 1e3 / (tau_rp + tau * math.exp(log_i))


def _check_brunel(g, nu_ext_over_thr, J, C_E, gamma, tau, theta, V_r, tau_rp):
    for name, v in (("g", g), ("nu_ext_over_thr", nu_ext_over_thr), ("gamma", gamma), ("tau_rp", tau_rp)):
        if not (math.isfinite(float(v)) and float(v) >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    for name, v in (("J", J), ("C_E", C_E), ("tau", tau), ("theta", theta)):
        if not (math.isfinite(float(v)) and float(v) > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if not float(theta) > float(V_r):
        raise ValueError(f"theta must be above V_r, got theta={theta!r} mV, V_r={V_r!r} mV")


def brunel_input(nu, g, nu_ext_over_thr, *, J=0.1, C_E=1000, gamma=0.25, tau=20.0, theta=20.0):
    """``(mu, sigma)`` in mV of the input to a neuron of the network when every neuron fires at
    ``nu`` Hz (the two formulas above)."""
    tau_s = float(tau) * 1e-3
    nu_ext = float(nu_ext_over_thr) * float(theta) / (J * C_E * tau_s)
    mu = J * C_E * tau_s * (nu_ext + nu * (1.0 - g * gamma))
    sigma = math.sqrt(J * J * C_E * tau_s * (nu_ext + nu * (1.0 + g * g * gamma)))
    return mu, sigma


def brunel_fixed_points(g, nu_ext_over_thr, *, J=0.1, C_E=1000, gamma=0.25, tau=20.0, theta=20.0,
                        V_r=10.0, tau_rp=2.0, grid=400) -> np.ndarray:
    """Every stationary rate (Hz, ascending) of the network: the roots of
    ``F(nu) = Siegert(mu(nu), sigma(nu)) - nu`` in ``[0, 1000 / tau_rp]``, found by a sign scan
    on ``grid`` points (dense at low rates) and refined by bisection to 1e-10 relative."""
    _check_brunel(g, nu_ext_over_thr, J, C_E, gamma, tau, theta, V_r, tau_rp)
    if float(nu_ext_over_thr) == 0.0:
        raise ValueError("nu_ext_over_thr must be > 0 (without external drive sigma vanishes at nu = 0)")
    kw = dict(tau=tau, theta=theta, V_r=V_r, tau_rp=tau_rp)

    def f(nu):
        mu, sigma = brunel_input(nu, g, nu_ext_over_thr, J=J, C_E=C_E, gamma=gamma, tau=tau, theta=theta)
        return siegert_rate(mu, sigma, **kw) - nu

    nu_max = 1e3 / tau_rp if tau_rp > 0 else 1e4
    pts = np.unique(np.concatenate([[0.0], np.geomspace(1e-3, nu_max, grid)]))
    vals = np.array([f(x) for x in pts])
    roots = []
    for k in range(pts.size - 1):
        a, b, fa, fb = pts[k], pts[k + 1], vals[k], vals[k + 1]
        if fa == 0.0:
            roots.append(a)
            continue
        if fa * fb > 0:
            continue
        for _ in range(200):  # bisection: F is continuous, the bracket halves each time
            m = 0.5 * (a + b)
            fm = f(m)
            if fa * fm <= 0:
                b, fb = m, fm
            else:
                a, fa = m, fm
            if b - a <= 1e-10 * max(b, 1e-12):
                break
        roots.append(0.5 * (a + b))
    if vals[-1] == 0.0:
        roots.append(pts[-1])
    return np.array(roots)


def brunel_rate(g, nu_ext_over_thr, J=0.1, C_E=1000, gamma=0.25, tau=20.0, theta=20.0, V_r=10.0,
                tau_rp=2.0) -> float:
    """The self-consistent stationary rate (Hz) of Brunel's (2000) network, for relative
    inhibition ``g`` and external drive ``nu_ext_over_thr`` = nu_ext / nu_thr. Raises a
    ValueError when the fixed point is not unique (use :func:`brunel_fixed_points`).

    >>> round(brunel_rate(5.0, 2.0), 2)   # regime C (asynchronous irregular)
    37.95
    """
    roots = brunel_fixed_points(g, nu_ext_over_thr, J=J, C_E=C_E, gamma=gamma, tau=tau, theta=theta,
                                V_r=V_r, tau_rp=tau_rp)
    if roots.size != 1:
        raise ValueError(
            f"brunel_rate: g={g!r}, nu_ext_over_thr={nu_ext_over_thr!r} has {roots.size} stationary rates "
            f"{np.round(roots, 4).tolist()} Hz, not one; use brunel_fixed_points"
        )
    return float(roots[0])
