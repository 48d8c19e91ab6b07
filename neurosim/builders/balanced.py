"""E/I-balanced networks: one general builder and the Brunel (2000) presets. Wiring only: every
network is a plain :class:`neurosim.Network` of existing models, no new mathematics.

``ei_network``: ``n_e`` excitatory and ``n_i`` inhibitory neurons of one model in one population
``"neurons"`` (E = neurons ``[0, n_e)``, I = ``[n_e, n_e + n_i)``), two projections from its
slices onto all of it, and an optional external drive:

    "exc"  E -> all   weight j_e                        synapse exc_synapse / exc_params
    "inh"  I -> all   weight j_i = -g j_e (current)     synapse inh_synapse / inh_params
                          or  +g j_e (conductance: inhibition is the reversal potential's sign)
    "background"      ConstantDrive (pA) or PoissonDrive (n_sources trains per neuron)

Connectivity is data: ``FixedIndegree(c_e, c_i)`` (every neuron receives exactly c_e E and
c_i I inputs, Brunel's choice) or ``FixedProbability(p)`` (each ordered pair independently,
Brian2's and the Vogels-Abbott benchmark's choice; ``FixedProbability(p, procedural=True)``
regenerates it in the kernel from the seed instead of storing it, :class:`neurosim.events.JitConn`).
Autapses are allowed, as in Brian2 and NEST. The E projection is drawn from ``seed``, the I
projection from ``seed + 1_000_003``.

``brunel2000(regime)``: Brunel's sparse network of LIF neurons with voltage jumps, regimes
"A" (synchronous regular), "B" (synchronous irregular, fast), "C" (asynchronous irregular)
and "D" (synchronous irregular, slow), optionally scaled down. See docs/builders_balanced.md.

Units: ms, mV, pF, nS, pA, Hz. Reference: N. Brunel, J. Comput. Neurosci. 8:183-208 (2000).
"""
from __future__ import annotations

import dataclasses

import math
from typing import NamedTuple

import numpy as np

from .. import _checks
from ..events import JitConn, fixed_indegree, fixed_probability
from ..inputs import ConstantCurrent, PoissonInput, PoissonInputParams
from ..network import Input, Network, Population, Projection
from ..neurons import LIF, LIFParams
from ..synapses import Synapse, SynapseParams

__all__ = [
    "FixedIndegree", "FixedProbability", "ConstantDrive", "PoissonDrive", "ei_network",
    "jump_current", "BRUNEL_REGIMES", "BrunelParams", "brunel2000_params", "brunel2000", "brunel2000_regime_params", "in_degrees",
]

I_SEED_OFFSET = 1_000_003  # the inhibitory projection's connectivity seed is seed + this


# --------------------------------------------------------------------------- options (data)


class FixedIndegree(NamedTuple):
    """Every neuron receives exactly ``c_e`` inputs from E and ``c_i`` from I (distinct
    partners, drawn uniformly)."""

    c_e: int
    c_i: int


class FixedProbability(NamedTuple):
    """Each ordered (pre, post) pair is connected independently with probability ``p``.
    ``procedural=True``: a :class:`~neurosim.events.JitConn` (no synapse stored, the matrix is
    regenerated from the seed in every step) instead of a stored CSR."""

    p: float
    procedural: bool = False


class ConstantDrive(NamedTuple):
    """A constant current ``amplitude_pa`` (pA) into every neuron."""

    amplitude_pa: float


class PoissonDrive(NamedTuple):
    """``n_sources`` independent Poisson trains of ``rate_hz`` (Hz) per neuron, each spike
    delivering ``weight`` (pA or nS, as the synapse's output) through ``synapse``
    (:class:`neurosim.inputs.PoissonInput`)."""

    n_sources: int
    rate_hz: float
    weight: float
    synapse: Synapse = Synapse("delta", "current")
    syn_params: SynapseParams = SynapseParams()


# --------------------------------------------------------------------------- the general builder


def ei_network(n_e: int, n_i: int, *, connectivity, j_e: float, g: float | None = None,
               j_i: float | None = None, delay_ms: float | None = None, neuron=None, neuron_params=None,
               exc_synapse: Synapse | None = None, exc_params: SynapseParams | None = None,
               inh_synapse: Synapse | None = None, inh_params: SynapseParams | None = None,
               drive=None, seed: int = 0, dt: float | None = None, backend: str | None = None) -> Network:
    """A network of ``n_e`` excitatory and ``n_i`` inhibitory neurons (see the module docstring).

    ``connectivity``: :class:`FixedIndegree` or :class:`FixedProbability`. ``j_e``: the weight
    of every E synapse (pA for current output, nS for conductance output). Inhibition: either
    ``g`` >= 0 (``j_i = -g j_e`` for current output, ``+g j_e`` for conductance output) or an
    explicit ``j_i``. ``delay_ms``: the delay of both projections (None: one step); with ``dt``
    (ms) it is checked now to be a whole number of steps (otherwise when the network is run).
    ``neuron`` / ``neuron_params``: the model of every neuron (default ``LIF()`` and its default
    parameters). ``exc_synapse`` / ``exc_params``: the E synapses (default
    ``Synapse("delta", "current")``, ``SynapseParams()``); ``inh_synapse`` / ``inh_params``
    default to the same. ``drive``: None, :class:`ConstantDrive` or :class:`PoissonDrive`.
    ``backend``: the event operator of both projections.
    """
    n_e = _checks.count("n_e", n_e, minimum=1)
    n_i = _checks.count("n_i", n_i, minimum=1)
    n = n_e + n_i
    seed = _checks.count("seed", seed, minimum=0)
    neuron = LIF() if neuron is None else neuron
    if isinstance(neuron, type):
        raise ValueError(f"neuron must be an instance, not the class {neuron.__name__}; e.g. LIF()")
    neuron_params = neuron.Params() if neuron_params is None else neuron_params
    exc_synapse = Synapse("delta", "current") if exc_synapse is None else exc_synapse
    exc_params = SynapseParams() if exc_params is None else exc_params
    inh_synapse = exc_synapse if inh_synapse is None else inh_synapse
    inh_params = exc_params if inh_params is None else inh_params
    for what, syn in (("exc_synapse", exc_synapse), ("inh_synapse", inh_synapse)):
        if not isinstance(syn, Synapse):
            raise ValueError(f"{what} must be a Synapse instance, e.g. Synapse('delta', 'current'), got {syn!r}")

    j_e = _checks.finite("j_e", j_e)
    if (g is None) == (j_i is None):
        raise ValueError(f"give exactly one of g (relative inhibition) and j_i (inhibitory weight); got g={g!r}, j_i={j_i!r}")
    if g is not None:
        g = _checks.finite("g", g)
        if g < 0:
            raise ValueError(f"g must be >= 0 (|j_i| = g |j_e|; the sign of inhibition comes from the synapse), got {g!r}")
        j_i = g * j_e if inh_synapse.output == "conductance" else -g * j_e
    j_i = _checks.finite("j_i", j_i)
    for what, w, syn in (("j_e", j_e, exc_synapse), ("j_i", j_i, inh_synapse)):
        if syn.output == "conductance" and w < 0:
            raise ValueError(f"{what} = {w!r} nS is a conductance weight and must be >= 0 (inhibition comes from e_rev)")

    if delay_ms is not None:
        delay_ms = _checks.positive_finite("delay_ms", delay_ms)
        if dt is not None:
            _checks.whole_steps("delay_ms", delay_ms, _checks.positive_finite("dt", dt), minimum=1)

    conn_e, conn_i = _connect(connectivity, n_e, n_i, seed)
    pop = Population("neurons", n, neuron, neuron_params)
    projections = (
        Projection("exc", ("neurons", 0, n_e), "neurons", conn_e, j_e, exc_synapse, exc_params,
                   delay_ms=delay_ms, backend=backend),
        Projection("inh", ("neurons", n_e, n), "neurons", conn_i, j_i, inh_synapse, inh_params,
                   delay_ms=delay_ms, backend=backend),
    )
    return Network((pop,), projections, _drive_inputs(drive))


def _connect(connectivity, n_e, n_i, seed):
    n = n_e + n_i
    if isinstance(connectivity, FixedIndegree):
        c_e = _checks.count("FixedIndegree.c_e", connectivity.c_e, minimum=0)
        c_i = _checks.count("FixedIndegree.c_i", connectivity.c_i, minimum=0)
        for what, k, size, pop in (("c_e", c_e, n_e, "excitatory"), ("c_i", c_i, n_i, "inhibitory")):
            if k > size:
                raise ValueError(
                    f"FixedIndegree.{what} = {k} is larger than the {pop} population ({size} neurons): "
                    f"a neuron cannot have more distinct {pop} partners than there are"
                )
        return fixed_indegree(n_e, n, c_e, seed=seed), fixed_indegree(n_i, n, c_i, seed=seed + I_SEED_OFFSET)
    if isinstance(connectivity, FixedProbability):
        p = _checks.probability("FixedProbability.p", connectivity.p)
        if not isinstance(connectivity.procedural, (bool, np.bool_)):
            raise ValueError(f"FixedProbability.procedural must be True or False, got {connectivity.procedural!r}")
        if connectivity.procedural:
            return JitConn(n_e, n, p, seed), JitConn(n_i, n, p, seed + I_SEED_OFFSET)
        return fixed_probability(n_e, n, p, seed=seed), fixed_probability(n_i, n, p, seed=seed + I_SEED_OFFSET)
    raise ValueError(
        f"connectivity must be FixedIndegree(c_e, c_i) or FixedProbability(p), got {connectivity!r}"
    )


def _drive_inputs(drive) -> tuple:
    if drive is None:
        return ()
    if isinstance(drive, ConstantDrive):
        amp = drive.amplitude_pa  # a number or one per neuron, passed on as given
        if not np.all(np.isfinite(np.asarray(amp, dtype=float))):
            raise ValueError(f"ConstantDrive.amplitude_pa must be finite, got {amp!r}")
        return (Input("background", "neurons", ConstantCurrent(), ConstantCurrent.Params(amp)),)
    if isinstance(drive, PoissonDrive):
        n_src = _checks.count("PoissonDrive.n_sources", drive.n_sources, minimum=1)
        rate = _checks.finite("PoissonDrive.rate_hz", drive.rate_hz)
        if rate < 0:
            raise ValueError(f"PoissonDrive.rate_hz must be >= 0 Hz, got {rate!r}")
        if not isinstance(drive.synapse, Synapse):
            raise ValueError(f"PoissonDrive.synapse must be a Synapse instance, got {drive.synapse!r}")
        params = PoissonInputParams(rate_hz=rate, weight=_checks.finite("PoissonDrive.weight", drive.weight),
                                    synapse=drive.syn_params)
        return (Input("background", "neurons", PoissonInput(n_sources=int(n_src), synapse=drive.synapse), params),)
    raise ValueError(f"drive must be None, ConstantDrive(amplitude_pa) or PoissonDrive(...), got {drive!r}")


# --------------------------------------------------------------------------- voltage jumps


def jump_current(j_mv, params: LIFParams, dt: float) -> float:
    """The one-step current (pA) that moves an exactly integrated LIF by ``j_mv`` (mV).

    neurosim's LIF holds the step's current constant, so a current ``I`` during one step adds
    ``(I / g_L) (1 - exp(-dt g_L / C_m))`` to ``V`` at the step's end (on top of the leak).
    Through a ``Synapse("delta", "current")`` a spike of weight ``I`` is exactly such a
    one-step current, so the weight

        I = j g_L / (1 - exp(-dt g_L / C_m))

    moves ``V`` by exactly ``j`` at the end of the step in which it acts, as an instantaneous
    jump there would. It depends on ``dt``: a network built for one step must be run with it.
    """
    dt = _checks.positive_finite("dt", dt)
    g_l, c_m = float(params.g_l), float(params.c_m)
    return float(j_mv) * g_l / (-math.expm1(-dt * g_l / c_m))


# --------------------------------------------------------------------------- Brunel (2000)

# regime -> (g, nu_ext / nu_thr, description): Brunel (2000) Fig. 8, papers.md 3.1
BRUNEL_REGIMES = {
    "A": (3.0, 2.0, "synchronous regular (SR)"),
    "B": (6.0, 4.0, "synchronous irregular, fast oscillation (SI fast)"),
    "C": (5.0, 2.0, "asynchronous irregular (AI)"),
    "D": (4.5, 0.9, "synchronous irregular, slow oscillation (SI slow)"),
}
_BRUNEL_N_E, _BRUNEL_GAMMA, _BRUNEL_EPSILON = 10_000, 0.25, 0.1
_BRUNEL_J_C_E = 100.0  # mV: J C_E = 0.1 mV x 1000, kept when scaling down


class BrunelParams(NamedTuple):
    """The numbers of one Brunel (2000) network (units in the comments)."""

    n_e: int                 # excitatory neurons
    n_i: int                 # inhibitory neurons (gamma n_e)
    c_e: int                 # excitatory inputs per neuron (epsilon n_e)
    c_i: int                 # inhibitory inputs per neuron (epsilon n_i)
    c_ext: int               # external Poisson inputs per neuron (= c_e)
    j: float                 # mV, excitatory jump (inhibitory: -g j)
    g: float                 # relative strength of inhibition
    nu_ext_over_thr: float   # nu_ext / nu_thr
    nu_thr: float            # Hz, theta / (j c_e tau)
    nu_ext: float            # Hz, rate of each external train
    tau: float = 20.0        # ms, membrane time constant
    theta: float = 20.0      # mV, threshold (relative to rest)
    v_r: float = 10.0        # mV, reset
    tau_rp: float = 2.0      # ms, absolute refractory period
    delay: float = 1.5       # ms, delay of every recurrent synapse


def brunel2000_params(regime: str | None = "C", *, scale: float = 1.0, g: float | None = None,
                      nu_ext_over_thr: float | None = None) -> BrunelParams:
    """The numbers of :func:`brunel2000` (a regime's ``g`` and ``nu_ext / nu_thr``, overridden
    by ``g`` / ``nu_ext_over_thr`` when given; ``regime=None`` needs both)."""
    if regime is not None and regime not in BRUNEL_REGIMES:
        raise ValueError(f"unknown Brunel (2000) regime {regime!r}; the presets are {sorted(BRUNEL_REGIMES)} (or None with g and nu_ext_over_thr)")
    if regime is None and (g is None or nu_ext_over_thr is None):
        raise ValueError("regime=None needs both g and nu_ext_over_thr")
    g0, r0, _ = BRUNEL_REGIMES[regime] if regime is not None else (None, None, None)
    g = _checks.finite("g", g0 if g is None else g)
    if g < 0:
        raise ValueError(f"g must be >= 0 (inhibitory jumps are -g J), got {g!r}")
    ratio = _checks.finite("nu_ext_over_thr", r0 if nu_ext_over_thr is None else nu_ext_over_thr)
    if ratio < 0:
        raise ValueError(f"nu_ext_over_thr must be >= 0, got {ratio!r}")
    scale = _checks.positive_finite("scale", scale)
    n_e = int(round(_BRUNEL_N_E * scale))
    n_i = int(round(_BRUNEL_GAMMA * n_e))
    c_e, c_i = int(round(_BRUNEL_EPSILON * n_e)), int(round(_BRUNEL_EPSILON * n_i))
    if c_i < 1:
        raise ValueError(f"scale = {scale!r} is too small: {n_e} E and {n_i} I neurons leave no inhibitory input (C_I = {c_i}); use scale >= 0.02")
    j = _BRUNEL_J_C_E / c_e
    p = BrunelParams(n_e=n_e, n_i=n_i, c_e=c_e, c_i=c_i, c_ext=c_e, j=j, g=g, nu_ext_over_thr=ratio,
                     nu_thr=0.0, nu_ext=0.0)
    nu_thr = p.theta / (j * c_e * p.tau * 1e-3)
    return p._replace(nu_thr=nu_thr, nu_ext=ratio * nu_thr)


def brunel2000(regime: str | None = "C", *, scale: float = 1.0, g: float | None = None,
               nu_ext_over_thr: float | None = None, connectivity: str = "indegree", seed: int = 0,
               dt: float = 0.1, delay_ms: float = 1.5, v_init=None, backend: str | None = None) -> Network:
    """Brunel's (2000) sparse E/I network of LIF neurons with delayed voltage jumps.

        tau dV/dt = -V   (V relative to rest, mV)     tau = 20 ms
        V >= theta = 20 mV -> spike, V <- V_r = 10 mV, V clamped for tau_rp = 2 ms
        spike of j at t -> V_i += J_ij at t + D, D = 1.5 ms;  J_E = J, J_I = -g J

    N_E = 10000 scale, N_I = N_E / 4; each neuron receives C_E = N_E / 10 excitatory and
    C_I = N_I / 10 inhibitory inputs (``connectivity="indegree"``, as in the paper; or
    ``"probability"``: each pair with p = 0.1, as Brian2's example; or ``"procedural"``: the
    same, regenerated in the kernel instead of stored) and C_ext = C_E external
    Poisson trains of nu_ext = (nu_ext / nu_thr) nu_thr, nu_thr = theta / (J C_E tau), also
    jumps of J. J = 0.1 mV x 1000 / C_E, so ``scale`` keeps J C_E = 100 mV and nu_thr = 10 Hz
    (0.2: N_E = 2000, C_E = 200, J = 0.5 mV).

    ``regime``: "A" (g 3, nu_ext/nu_thr 2), "B" (6, 4), "C" (5, 2), "D" (4.5, 0.9); ``g`` and
    ``nu_ext_over_thr`` override them. The LIF has g_L = 1 nS and C_m = 20 pF (so 1 pA moves
    V_inf by 1 mV); each jump is a one-step current through a ``Synapse("delta", "current")``
    chosen by :func:`jump_current` to move V by exactly J, so the network is built for one
    ``dt`` (ms) and must be run with it. ``delay_ms``: D (a whole number of steps). ``v_init``:
    initial V rule (default: rest, 0 mV, as in Brian2's example). Population ``"neurons"`` (E first), projections ``"exc"`` and ``"inh"``
    (delay D), input ``"background"`` (the external trains).
    """
    bp = brunel2000_params(regime, scale=scale, g=g, nu_ext_over_thr=nu_ext_over_thr)
    dt = _checks.positive_finite("dt", dt)
    if connectivity == "indegree":
        conn = FixedIndegree(bp.c_e, bp.c_i)
    elif connectivity in ("probability", "procedural"):
        conn = FixedProbability(_BRUNEL_EPSILON, procedural=connectivity == "procedural")
    else:
        raise ValueError(f"connectivity must be 'indegree' or 'probability' (stored) or 'procedural', got {connectivity!r}")
    lif = LIFParams(v_rest=0.0, v_reset=bp.v_r, v_th=bp.theta, c_m=bp.tau, g_l=1.0, t_ref=bp.tau_rp)
    w = jump_current(bp.j, lif, dt)
    jump = Synapse("delta", "current")
    net = ei_network(
        bp.n_e, bp.n_i, connectivity=conn, j_e=w, g=bp.g, delay_ms=delay_ms, neuron=LIF(v_init=v_init),
        neuron_params=lif, exc_synapse=jump, exc_params=SynapseParams(),
        drive=PoissonDrive(n_sources=bp.c_ext, rate_hz=bp.nu_ext, weight=w, synapse=jump),
        seed=seed, dt=dt, backend=backend,
    )
    return dataclasses.replace(net, dt=dt)      # the jump currents hold for this step only


def brunel2000_regime_params(net: Network, regime: str | None, *, g: float | None = None,
                             nu_ext_over_thr: float | None = None) -> dict:
    """``net.params()`` of a network made by :func:`brunel2000` (any regime), set to another
    ``regime`` (and/or ``g``, ``nu_ext_over_thr``): the regimes differ only in the inhibitory
    weights (``-g`` x the excitatory ones) and the external rate, which are parameters, so one
    network (one compiled program) runs all four::

        net = brunel2000("C", scale=0.2)
        res = ns.simulate(net, 1200.0, 0.1, params=brunel2000_regime_params(net, "A"))
    """
    names = ([p.name for p in net.populations], [p.name for p in net.projections], [i.name for i in net.inputs])
    if names != (["neurons"], ["exc", "inh"], ["background"]) or not isinstance(net.inputs[0].source, PoissonInput):
        raise ValueError(f"brunel2000_regime_params needs a network made by brunel2000, got populations / projections / "
                         f"inputs {names}")
    exc = net.projections[0]
    bp = brunel2000_params(regime, scale=exc.conn.n_pre / _BRUNEL_N_E, g=g, nu_ext_over_thr=nu_ext_over_thr)
    params = net.params()
    params = params.with_weights({"inh": -bp.g * params.projections["exc"].weights})
    params.inputs["background"] = params.inputs["background"]._replace(rate_hz=bp.nu_ext)
    return params


def in_degrees(net: Network, projection: str) -> np.ndarray:
    """Inputs per postsynaptic neuron of one projection of ``net`` (a wiring check)."""
    pr = next((p for p in net.projections if p.name == projection), None)
    if pr is None:
        raise ValueError(f"no projection named {projection!r}; projections: {[p.name for p in net.projections]}")
    conn = pr.conn.to_csr()[0] if isinstance(pr.conn, JitConn) else pr.conn
    return np.bincount(np.asarray(conn.indices), minlength=conn.n_post)
