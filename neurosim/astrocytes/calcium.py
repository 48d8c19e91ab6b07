"""Astrocyte calcium: the ChI model (Li-Rinzel calcium-induced calcium release, IP3 metabolism)
with glutamate-driven IP3 production (G-ChI) and gliotransmitter release.

An astrocyte population is a population like any other: ``init``/``step``/``voltage`` (it has
no membrane potential: ``voltage`` is None), its input is what its projections and inputs sum
onto it, and its "spikes" are its calcium events, which release gliotransmitter.

Calcium and IP3R gating (Li & Rinzel 1994; De Pitta et al. 2009), C and I in uM, t in s::

    dC/dt = (Omega_C m_inf^3 h^3 + Omega_L) (C_T - (1 + rho_A) C) - O_P C^2 / (C^2 + K_P^2)
    dh/dt = (h_inf - h) / tau_h
    m_inf = I / (I + d1) * C / (C + d5)
    Q2 = d2 (I + d1) / (I + d3),   h_inf = Q2 / (Q2 + C),   tau_h = 1 / (O_2 (Q2 + C))

IP3 (``ip3="dynamic"``; with ``ip3="clamped"`` I stays at the parameter ``ip3``, the Li-Rinzel
setting of De Pitta et al. 2009's amplitude/frequency-modulation experiments)::

    dI/dt = O_beta Gamma_A                                       (PLC-beta, glutamate-driven)
          + O_delta / (1 + I / kappa_delta) * C^2 / (C^2 + K_delta^2)   (PLC-delta)
          - O_3K C^4 / (C^4 + K_D^4) * I / (I + K_3K)             (IP3 3-kinase)
          - Omega_5P I                                            (IP3 5-phosphatase)
          + J_ex + F_ex_flow(I - I_bias)                          (exogenous, uM/s)
          + sum_j F_gj_flow(I - I_j)                              (gap junctions, option)

    flow(delta) = -F/2 (1 + tanh((|delta| - I_Theta) / omega_I)) sign(delta)

(the regenerative IP3 flow of Goldberg et al. 2010 as Stimberg et al. 2019 write it: an
exogenous stimulation drives I towards ``i_bias`` with F = ``f_ex``; coupled astrocytes
exchange IP3 with F = ``f_gj`` along their gap junctions, which carries calcium waves.)

Metabotropic receptors, driven by the glutamate Y_S (uM) at the astrocyte::

    dGamma_A/dt = O_N Y_S (1 - Gamma_A) - Omega_N (1 + zeta C / (C + K_KC)) Gamma_A

Gliotransmitter release (Stimberg et al. 2019): a calcium event is C crossing C_Theta upwards;
at an event ``G_A += rho_e G_T U_A x_A`` and ``x_A -= U_A x_A``; between events
``dx_A/dt = Omega_A (1 - x_A)`` and ``dG_A/dt = -Omega_e G_A`` (G_A: gliotransmitter released
into the extracellular space, uM), integrated exactly over a step whatever the integrator (they
are linear and decoupled; RK4 on Omega_e = 60/s would be unstable for steps above 46 ms).

What the population's input means is an option (data): ``input="glutamate"`` (default): the
summed input is Y_S in uM (e.g. a current-output exponential synapse with tau = 1/Omega_c =
25 ms whose weight is the glutamate released per vesicle fraction, rho_c Y_T); ``input="ip3"``:
the summed input is an extra IP3 production in uM/s.

Time: the network's dt is in ms, the model's rates are per second (the papers' units); the step
converts. ``integrator``: ``"euler"`` (the reference implementation's, fine at dt <= 1 ms) or
``"rk4"`` (classic Runge-Kutta on the continuous part, for steps of 10-50 ms when the astrocytes
run alone). Parameter presets: ``ASTROCYTE_PRESETS`` ("li_rinzel_1994", "chi" (De Pitta 2009 /
Brian2's G-ChI example), "fm" (the ChI of the tripartite-synapse example, K_P = 0.05 uM: the
frequency-modulated regime)).

References: Y.-X. Li & J. Rinzel, J. Theor. Biol. 166:461 (1994); M. De Pitta, M. Goldberg,
V. Volman, H. Berry & E. Ben-Jacob, J. Biol. Phys. 35:383 (2009); M. Stimberg, D. F. M.
Goodman, R. Brette & M. De Pitta, "Modeling neuron-glia interactions with the Brian 2
simulator" (2019).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..init import draw
from ..neurons.spike import spike


class AstrocyteParams(NamedTuple):
    """The parameters of Astrocyte (a pytree: each field a scalar or one value per element): ``c_t``
    (uM, total free calcium per cytosolic volume); ``rho_a`` (ER-to-cytosol volume ratio);
    ``omega_c`` (1/s, maximal IP3R (CICR) rate); ``omega_l`` (1/s, calcium leak from the ER);
    ``o_p`` (uM/s, maximal SERCA uptake); ``k_p`` (uM, SERCA affinity); ``d1`` (uM, IP3 dissociation
    constant); ``d2`` (uM, calcium inactivation dissociation constant); ``d3`` (uM, IP3 dissociation
    constant); ``d5`` (uM, calcium activation dissociation constant); ``o_2`` (1/(uM s), IP3R
    binding rate for calcium inhibition); ``ip3`` (uM, IP3 (ip3="clamped"), its initial value
    otherwise); ``o_beta`` (uM/s, maximal PLC-beta production); ``o_delta`` (uM/s, maximal PLC-delta
    production); ``kappa_delta`` (uM, PLC-delta inhibition by IP3); ``k_delta`` (uM, PLC-delta
    calcium affinity); ``o_3k`` (uM/s, maximal IP3 3-kinase degradation); ``k_d`` (uM, 3-kinase
    calcium affinity); ``k_3k`` (uM, 3-kinase IP3 affinity); ``omega_5p`` (1/s, IP3 5-phosphatase
    rate); ``j_ex`` (uM/s, exogenous IP3 production); ``f_ex`` (uM/s, maximal exogenous IP3 flow
    towards i_bias); ``i_bias`` (uM, the IP3 level the exogenous flow drives towards); ``f_gj``
    (uM/s, gap-junction IP3 permeability (with gap_junctions)); ``i_theta`` (uM, threshold IP3
    gradient of both flows); ``omega_i`` (uM, scaling of both flows); ``o_n`` (1/(uM s), receptor
    binding rate); ``omega_n`` (1/s, receptor unbinding rate); ``k_kc`` (uM, PKC calcium affinity);
    ``zeta`` (maximal PKC-dependent receptor desensitisation); ``c_theta`` (uM, calcium threshold of
    a release event); ``u_a`` (fraction of the releasable pool released per event); ``g_t`` (uM,
    gliotransmitter in the vesicles (200 mM)); ``rho_e`` (extracellular-to-vesicular volume ratio);
    ``omega_a`` (1/s, recovery of the releasable pool); ``omega_e`` (1/s, clearance of released
    gliotransmitter); ``slope`` (1/uM, surrogate sharpness of a calcium event)."""

    # calcium-induced calcium release (Li-Rinzel)
    c_t: jax.typing.ArrayLike = 2.0          # uM, total free calcium per cytosolic volume
    rho_a: jax.typing.ArrayLike = 0.18       # ER-to-cytosol volume ratio
    omega_c: jax.typing.ArrayLike = 6.0      # 1/s, maximal IP3R (CICR) rate
    omega_l: jax.typing.ArrayLike = 0.1      # 1/s, calcium leak from the ER
    o_p: jax.typing.ArrayLike = 0.9          # uM/s, maximal SERCA uptake
    k_p: jax.typing.ArrayLike = 0.1          # uM, SERCA affinity
    d1: jax.typing.ArrayLike = 0.13          # uM, IP3 dissociation constant
    d2: jax.typing.ArrayLike = 1.05          # uM, calcium inactivation dissociation constant
    d3: jax.typing.ArrayLike = 0.9434        # uM, IP3 dissociation constant
    d5: jax.typing.ArrayLike = 0.08          # uM, calcium activation dissociation constant
    o_2: jax.typing.ArrayLike = 0.2          # 1/(uM s), IP3R binding rate for calcium inhibition
    # IP3 metabolism
    ip3: jax.typing.ArrayLike = 0.5          # uM, IP3 (ip3="clamped"), its initial value otherwise
    o_beta: jax.typing.ArrayLike = 5.0       # uM/s, maximal PLC-beta production
    o_delta: jax.typing.ArrayLike = 0.2      # uM/s, maximal PLC-delta production
    kappa_delta: jax.typing.ArrayLike = 1.5  # uM, PLC-delta inhibition by IP3
    k_delta: jax.typing.ArrayLike = 0.3      # uM, PLC-delta calcium affinity
    o_3k: jax.typing.ArrayLike = 4.5         # uM/s, maximal IP3 3-kinase degradation
    k_d: jax.typing.ArrayLike = 0.5          # uM, 3-kinase calcium affinity
    k_3k: jax.typing.ArrayLike = 1.0         # uM, 3-kinase IP3 affinity
    omega_5p: jax.typing.ArrayLike = 0.1     # 1/s, IP3 5-phosphatase rate
    j_ex: jax.typing.ArrayLike = 0.0         # uM/s, exogenous IP3 production
    f_ex: jax.typing.ArrayLike = 0.0         # uM/s, maximal exogenous IP3 flow towards i_bias
    i_bias: jax.typing.ArrayLike = 0.0       # uM, the IP3 level the exogenous flow drives towards
    f_gj: jax.typing.ArrayLike = 2.0         # uM/s, gap-junction IP3 permeability (with gap_junctions)
    i_theta: jax.typing.ArrayLike = 0.3      # uM, threshold IP3 gradient of both flows
    omega_i: jax.typing.ArrayLike = 0.05     # uM, scaling of both flows
    # metabotropic glutamate receptors
    o_n: jax.typing.ArrayLike = 0.3          # 1/(uM s), receptor binding rate
    omega_n: jax.typing.ArrayLike = 0.5      # 1/s, receptor unbinding rate
    k_kc: jax.typing.ArrayLike = 0.5         # uM, PKC calcium affinity
    zeta: jax.typing.ArrayLike = 10.0        # maximal PKC-dependent receptor desensitisation
    # gliotransmitter release
    c_theta: jax.typing.ArrayLike = 0.5      # uM, calcium threshold of a release event
    u_a: jax.typing.ArrayLike = 0.6          # fraction of the releasable pool released per event
    g_t: jax.typing.ArrayLike = 200e3        # uM, gliotransmitter in the vesicles (200 mM)
    rho_e: jax.typing.ArrayLike = 6.5e-4     # extracellular-to-vesicular volume ratio
    omega_a: jax.typing.ArrayLike = 0.6      # 1/s, recovery of the releasable pool
    omega_e: jax.typing.ArrayLike = 60.0     # 1/s, clearance of released gliotransmitter
    slope: jax.typing.ArrayLike = 10.0       # 1/uM, surrogate sharpness of a calcium event

    POSITIVE = ("c_t", "omega_c", "o_p", "k_p", "d1", "d2", "d3", "d5", "o_2", "kappa_delta", "k_delta",
                "k_d", "k_3k", "k_kc", "c_theta", "omega_a", "omega_e", "g_t", "omega_i")
    NON_NEGATIVE = ("rho_a", "omega_l", "ip3", "o_beta", "o_delta", "o_3k", "omega_5p", "o_n", "omega_n",
                    "zeta", "u_a", "rho_e", "slope", "f_ex", "i_bias", "f_gj", "i_theta")


class AstrocyteState(NamedTuple):
    """The state of Astrocyte (a pytree): ``c`` ((n,) uM, cytosolic calcium); ``h`` ((n,) fraction
    of IP3R not inactivated by calcium); ``ip3`` ((n,) uM, IP3); ``gamma_a`` ((n,) fraction of
    activated metabotropic receptors); ``x_a`` ((n,) fraction of gliotransmitter available for
    release); ``g_a`` ((n,) uM, released gliotransmitter)."""

    c: jax.Array        # (n,) uM, cytosolic calcium
    h: jax.Array        # (n,) fraction of IP3R not inactivated by calcium
    ip3: jax.Array      # (n,) uM, IP3
    gamma_a: jax.Array  # (n,) fraction of activated metabotropic receptors
    x_a: jax.Array      # (n,) fraction of gliotransmitter available for release
    g_a: jax.Array      # (n,) uM, released gliotransmitter

    NON_NEGATIVE = ("c", "ip3")         # concentrations: a state given to simulate is checked


_LI_RINZEL = dict(c_t=2.0, rho_a=0.185, omega_c=6.0, omega_l=0.11, o_p=0.9, k_p=0.1, d1=0.13, d2=1.049,
                  d3=0.9434, d5=0.08234, o_2=0.2)
ASTROCYTE_PRESETS = {
    "li_rinzel_1994": AstrocyteParams(**_LI_RINZEL),
    "chi": AstrocyteParams(),
    # the tripartite-synapse example's astrocyte (Stimberg et al. 2019, their example 4)
    "fm": AstrocyteParams(k_p=0.05, o_beta=3.2, o_delta=0.6, k_delta=0.1, omega_5p=0.05, k_d=0.7),
}

INTEGRATORS = ("euler", "rk4")
INPUTS = ("glutamate", "ip3")
IP3_MODES = ("dynamic", "clamped")


def _hill(x, k, n):
    return x ** n / (x ** n + k ** n)


def ip3_flow(delta, f, i_theta, omega_i):
    """The regenerative IP3 flow of an IP3 difference ``delta`` = I - I_other (uM), in uM/s,
    towards the other side: ``-f/2 (1 + tanh((|delta| - I_Theta) / omega_I)) sign(delta)``
    (Stimberg et al. 2019, after Goldberg et al. 2010): small below the threshold gradient
    I_Theta, ``f`` above it."""
    return -0.5 * f * (1.0 + jnp.tanh((jnp.abs(delta) - i_theta) / omega_i)) * jnp.sign(delta)


def derivatives(p: AstrocyteParams, c, h, ip3, gamma_a, glutamate, ip3_in, clamped: bool, junctions=None):
    """Time derivatives (per second) of the coupled variables C, h, IP3 and gamma_A (x_A and G_A
    are linear and decoupled: :class:`Astrocyte` integrates them exactly); ``glutamate`` (uM) drives the
    receptors, ``ip3_in`` (uM/s) adds to the IP3 production; ``junctions`` = ``(i, j)`` index
    arrays of the gap junctions (each pair in both directions) or None."""
    m_inf = ip3 / (ip3 + p.d1) * c / (c + p.d5)
    q2 = p.d2 * (ip3 + p.d1) / (ip3 + p.d3)
    h_inf = q2 / (q2 + c)
    dh = (h_inf - h) * p.o_2 * (q2 + c)
    dc = (p.omega_c * m_inf ** 3 * h ** 3 + p.omega_l) * (p.c_t - (1.0 + p.rho_a) * c) - p.o_p * _hill(c, p.k_p, 2)
    if clamped:
        dip3 = jnp.zeros_like(ip3)
    else:
        dip3 = (p.o_beta * gamma_a + p.o_delta / (1.0 + ip3 / p.kappa_delta) * _hill(c, p.k_delta, 2)
                - p.o_3k * _hill(c, p.k_d, 4) * ip3 / (ip3 + p.k_3k) - p.omega_5p * ip3 + p.j_ex + ip3_in
                + ip3_flow(ip3 - p.i_bias, p.f_ex, p.i_theta, p.omega_i))
        if junctions is not None:
            i, j = junctions
            f_gj, i_theta, omega_i = (jnp.broadcast_to(x, ip3.shape)[i] for x in (p.f_gj, p.i_theta, p.omega_i))
            flow = ip3_flow(ip3[i] - ip3[j], f_gj, i_theta, omega_i)
            dip3 = dip3 + jax.ops.segment_sum(flow, i, num_segments=ip3.shape[0])
    dgamma = p.o_n * glutamate * (1.0 - gamma_a) - p.omega_n * (1.0 + p.zeta * c / (c + p.k_kc)) * gamma_a
    return dc, dh, dip3, dgamma


def fastest_rate(params: AstrocyteParams, clamped: bool = False) -> float:
    """The largest |eigenvalue| (1/s) of the Jacobian of the calcium, h, IP3 and receptor
    equations (calcium and h alone when IP3 is ``clamped``) over calcium 0.05-2 uM (h 0.9,
    glutamate 0 and 1), for each distinct set of per-astrocyte parameters: how fast the
    stiffest mode relaxes, which bounds an explicit integrator's step. Remembered per set of
    parameter values, so a network pays for it once."""
    flat = [np.ravel(np.asarray(x, float)) for x in params]
    n = max(x.size for x in flat)
    rows = np.unique(np.stack([np.broadcast_to(x, (n,)) for x in flat], axis=1), axis=0)   # distinct astrocytes
    key = (rows.shape, rows.tobytes(), clamped)
    if key not in _RATES:
        padded = np.concatenate([rows, np.repeat(rows[-1:], _pad(len(rows)) - len(rows), axis=0)])
        with jax.ensure_compile_time_eval():       # concrete values, also when called inside a trace
            jac = np.asarray(_jacobians(jnp.asarray(padded.T)), float)     # (rows, calcium, glutamate, 4, 4)
        if clamped:
            jac = jac[..., :2, :2]
        _RATES[key] = float(np.max(np.abs(np.linalg.eigvals(jac))))
    return _RATES[key]


_RATES: dict = {}


def _pad(n: int) -> int:
    """The next power of two: one compiled Jacobian program serves every row count up to it."""
    return 1 << max(0, (n - 1).bit_length())


@jax.jit
def _jacobians(columns):
    """The Jacobians of :func:`derivatives` at the states :func:`fastest_rate` samples, for
    each column of parameters (``columns``: one row per AstrocyteParams field)."""
    def at(column, c, glutamate):
        p = AstrocyteParams(*column)
        y = jnp.stack([c, 0.9, p.ip3, 0.1]).astype(column.dtype)
        return jax.jacfwd(lambda z: jnp.stack(derivatives(p, z[0], z[1], z[2], z[3], glutamate, 0.0, False)))(y)
    calcium, glutamate = jnp.array([0.05, 0.1, 0.3, 0.7, 1.0, 2.0]), jnp.array([0.0, 1.0])
    over_glutamate = jax.vmap(at, in_axes=(None, None, 0))
    return jax.vmap(jax.vmap(over_glutamate, in_axes=(None, 0, None)), in_axes=(1, None, None))(columns, calcium, glutamate)


@dataclass(frozen=True, eq=False)
class Astrocyte:
    """A population of astrocytes (module docstring). Options: ``ip3`` ("dynamic" or
    "clamped"), ``input`` ("glutamate" or "ip3"), ``integrator`` ("euler" or "rk4"); initial
    values ``c_init`` (uM, default 0.1), ``h_init`` (default 0.9): a number or a rule of
    :mod:`neurosim.init`. IP3 starts at the parameter ``ip3``, receptors unbound, the releasable
    pool full and no gliotransmitter released. ``gap_junctions``: the astrocytes whose IP3
    diffuses into each other (a CSR of the population onto itself, or ``(i, j)`` index pairs;
    each junction couples both ways), or None."""

    ip3: str = "dynamic"
    input: str = "glutamate"
    integrator: str = "euler"
    c_init: object = None
    h_init: object = None
    gap_junctions: object = None

    Params = AstrocyteParams
    State = AstrocyteState

    def __post_init__(self):
        for name, allowed in (("ip3", IP3_MODES), ("input", INPUTS), ("integrator", INTEGRATORS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"Astrocyte: {name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name, low, high in (("c_init", 0.0, None), ("h_init", 0.0, 1.0)):
            for v in _rule_values(getattr(self, name)):
                if not np.isfinite(v) or v < low or (high is not None and v > high):
                    bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
                    raise ValueError(f"Astrocyte: {name} must be {bound}, got {getattr(self, name)!r}")
        if self.gap_junctions is not None:
            object.__setattr__(self, "gap_junctions", _junction_pairs(self.gap_junctions))

    def check_size(self, n: int, where: str) -> None:
        if self.gap_junctions is not None and self.gap_junctions[0].size and self.gap_junctions[0].max() >= n:
            raise ValueError(f"{where}: gap_junctions name astrocyte {int(self.gap_junctions[0].max())}, but the "
                             f"population has {n} (indices 0..{n - 1})")

    def check_dt(self, params: AstrocyteParams, dt: float, where: str) -> None:
        """The step must be short for the integrator: the fastest rate of the calcium/IP3
        system (the largest |eigenvalue| of its Jacobian over the calcium range it visits,
        ~4-5 /s with the Li-Rinzel parameters) times the step must stay inside the method's
        stability interval (Euler 2, RK4 2.78) with a margin: at most 1 for Euler (dt <= ~200
        ms), 2.5 for RK4. Beyond it calcium oscillates wrongly or goes negative without a NaN."""
        if _checks.traced(params):
            return
        rate = fastest_rate(params, clamped=self.ip3 == "clamped")
        limit = 1.0 if self.integrator == "euler" else 2.5
        if rate * dt * 1e-3 > limit:
            raise ValueError(
                f"{where}: dt = {dt:g} ms is too long for integrator={self.integrator!r}: the astrocytes' fastest rate is "
                f"{rate:.3g} /s, and {self.integrator} needs dt x rate <= {limit:g} (dt <= {limit / rate * 1e3:.0f} ms) to "
                f"stay stable and accurate" + ("; use integrator='rk4' or a shorter step" if self.integrator == "euler"
                                               else "; use a shorter step (MultiRate every= fewer steps)"))

    def init(self, params: AstrocyteParams, n: int, key) -> AstrocyteState:
        k_c, k_h = jax.random.split(key)
        c = draw(self.c_init, 0.1, n, k_c)
        h = draw(self.h_init, 0.9, n, k_h)
        ip3 = jnp.broadcast_to(jnp.asarray(params.ip3, c.dtype), (n,))
        zeros = jnp.zeros((n,), c.dtype)
        return AstrocyteState(c, h, ip3, zeros, jnp.ones((n,), c.dtype), zeros)

    def step(self, params: AstrocyteParams, state: AstrocyteState, i, dt):
        """Advance by ``dt`` ms; returns ``(state, events)`` (events: calcium crossing
        ``c_theta`` upwards, float 0/1)."""
        h_s = dt * 1e-3
        glutamate, ip3_in = (i, 0.0) if self.input == "glutamate" else (0.0, i)
        clamped = self.ip3 == "clamped"
        x = (state.c, state.h, state.ip3, state.gamma_a)

        junctions = None if self.gap_junctions is None else tuple(jnp.asarray(a) for a in self.gap_junctions)

        def f(y):
            return derivatives(params, *y, glutamate, ip3_in, clamped, junctions)

        if self.integrator == "euler":
            new = tuple(a + h_s * d for a, d in zip(x, f(x)))
        else:
            k1 = f(x)
            k2 = f(tuple(a + 0.5 * h_s * d for a, d in zip(x, k1)))
            k3 = f(tuple(a + 0.5 * h_s * d for a, d in zip(x, k2)))
            k4 = f(tuple(a + h_s * d for a, d in zip(x, k3)))
            new = tuple(a + h_s / 6.0 * (d1 + 2 * d2 + 2 * d3 + d4) for a, d1, d2, d3, d4 in zip(x, k1, k2, k3, k4))
        c, h, ip3, gamma_a = new
        # x_A and G_A are linear and decoupled between releases: integrated exactly, so a slow
        # astrocyte (MultiRate, steps of tens of ms) stays stable where RK4 on omega_e = 60/s
        # would not (its growth factor exceeds 1 for omega_e h > 2.79, i.e. h > 46 ms)
        x_a = 1.0 - (1.0 - state.x_a) * jnp.exp(-params.omega_a * h_s)
        g_a = state.g_a * jnp.exp(-params.omega_e * h_s)
        event = spike(c - params.c_theta, params.slope) * jax.lax.stop_gradient(
            (state.c < params.c_theta).astype(c.dtype))
        released = params.u_a * x_a * event
        g_a = g_a + params.rho_e * params.g_t * released
        x_a = x_a - released
        return AstrocyteState(c, h, ip3, gamma_a, x_a, g_a), event

    @staticmethod
    def voltage(state: AstrocyteState):
        return None


def _junction_pairs(junctions):
    """(i, j) int32 arrays with every junction in both directions, once, no self-coupling."""
    if hasattr(junctions, "rows") and hasattr(junctions, "indices"):
        if junctions.n_pre != junctions.n_post:
            raise ValueError(f"Astrocyte: gap_junctions must couple a population with itself (a square CSR), got "
                             f"{junctions.n_pre} x {junctions.n_post}")
        i, j = np.asarray(junctions.rows), np.asarray(junctions.indices)
    else:
        try:
            i, j = (np.asarray(a) for a in junctions)
        except (TypeError, ValueError):
            raise ValueError(f"Astrocyte: gap_junctions must be a CSR or (i, j) index arrays, got {junctions!r}") from None
    if i.shape != j.shape or i.ndim != 1 or not (np.issubdtype(i.dtype, np.integer) and np.issubdtype(j.dtype, np.integer)):
        raise ValueError(f"Astrocyte: gap_junctions (i, j) must be integer arrays of one shape, got {i.dtype}{i.shape} "
                         f"and {j.dtype}{j.shape}")
    if i.size and min(i.min(), j.min()) < 0:
        raise ValueError("Astrocyte: gap_junctions hold a negative index")
    if np.any(i == j):
        raise ValueError(f"Astrocyte: gap_junctions couple astrocyte {int(i[i == j][0])} with itself")
    pairs = np.unique(np.concatenate([np.stack([i, j], 1), np.stack([j, i], 1)]), axis=0)
    return pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32)


def _rule_values(rule):
    if rule is None:
        return ()
    if hasattr(rule, "low"):
        return (rule.low, rule.high)
    if hasattr(rule, "mean"):
        return (rule.mean,)
    return (float(rule),)
