"""Short-term synaptic plasticity: the Tsodyks-Markram model of depressing and facilitating
synapses, kept per synapse and applied as a factor on the weight a spike delivers.

Each synapse holds the fraction of its resources that is *recovered* (``x``, ready for
release), *active* (``y``, in the cleft: the postsynaptic current is ``A y``) and *inactive*
(``z = 1 - x - y``, recovering), and a utilisation ``u``. With a presynaptic spike at time
``t_s`` (after the projection's delay)::

    u <- u + U (1 - u)               (facilitation: u jumps first; u = U when tau_facil = 0)
    r  = u x                         (the released fraction: the weight is scaled by r)
    x <- x - r ,   y <- y + r

and between spikes::

    du/dt = -u / tau_facil           (u relaxes to 0)
    dy/dt = -y / tau_in              (the PSC decays with the projection's synapse tau)
    dx/dt =  z / tau_rec = (1 - x - y) / tau_rec      recovery = "inactive"  (3-state, 1997)
    dx/dt = (1 - x) / tau_rec                          recovery = "instant"   (2-state, 1998)

The delivered drive of a projection with weights ``A`` (pA, or nS for conductance output) is
``sum_i s_i A_ij r_ij``; the projection's synapse (``exponential`` kinetics with
``tau = tau_in``) then carries ``g_j = sum_i A_ij y_ij`` exactly, since every ``y`` of one
projection decays with the same ``tau_in``. So the PSC variable is the existing
per-postsynaptic synapse state, and only ``u``, ``x`` (and, for the 3-state form, ``y`` for the
recovery term) are kept per synapse.

``"inactive"`` is the model of Tsodyks & Markram (1997) and of the Maass et al. (2002) liquid
(and Brian2's port of it); it needs the projection's synapse to have ``exponential`` kinetics,
whose ``tau`` is ``tau_in``. ``"instant"`` is the two-variable form (``tau_in -> 0`` in the
recovery; Markram, Wang & Tsodyks 1998; NEST ``tsodyks2_synapse``), usable with any kinetics.
They differ by O(tau_in / tau_rec) (0.3 % for tau_in = 3 ms, tau_rec = 1.1 s).

Parameters (``TsodyksMarkramParams``; each a scalar or one value per synapse, ``(nnz,)`` in CSR
order, and differentiable):

=============  ========  =======  ===============================================================
``U``          0.5       (1)      utilisation increment, in (0, 1]
``tau_rec``    800.0     ms       recovery time constant ``D`` (> 0)
``tau_facil``  0.0       ms       facilitation time constant ``F`` (>= 0; 0: no facilitation)
=============  ========  =======  ===============================================================

Closed form for a regular train of period ``T`` (steady state; ``u``, ``r`` at the spike, ``x``
just before it; 2-state recovery)::

    u* = U / (1 - (1 - U) e^{-T/F})
    x* = (1 - e^{-T/D}) / (1 - (1 - u*) e^{-T/D})
    r* = u* x*

(:func:`tsodyks_markram_steady_state` also gives the 3-state form.) With ``F = 0`` a depressing
synapse has ``r* = U (1 - e^{-T/D}) / (1 - (1 - U) e^{-T/D})`` (Tsodyks & Markram 1997).

**Integration: exact, lazily at the presynaptic spike.** The state stored for a synapse is its
value just after its last spike, plus the step of that spike (one per presynaptic neuron, as
all synapses of a neuron see the same train). At the next spike the time since then, ``delta``,
gives the decayed values in closed form: ``u e^{-delta/F}``, ``y e^{-delta/tau_in}`` and, with
``w = 1 - x`` and rates ``a = 1/D``, ``b = 1/tau_in``::

    w(delta) = w e^{-a delta} + y a (e^{-a delta} - e^{-b delta}) / (b - a)

(where ``|b - a| delta`` is small, i.e. D ~ tau_in, the last factor is evaluated as
``delta e^{-min(a,b) delta} (1 - s/2 + s^2/6)``, ``s = |b - a| delta``, free of cancellation).

Why lazily and not by decaying every synapse each step: the state changes only at spikes, so
the result is exact for any interval, with no float32 rounding accumulated over thousands of
multiplications by ``e^{-dt/D}`` (0.99991 at dt = 0.1 ms, D = 1.1 s), and nothing needs
updating between spikes (which is what an event-driven kernel exploits). In this reference
implementation the closed form is evaluated for every synapse of the projection each step
(``O(nnz)`` elementwise work) and kept only where the presynaptic neuron spiked.

Timing: ``t`` is the step in which a (delayed) spike is delivered; intervals are whole numbers
of steps times ``dt``, exact in float32 as integer differences. A spike delivered in step ``k``
uses the state decayed to ``k dt`` and changes the postsynaptic current from step ``k + 1`` on,
as for a static synapse. Spikes are events: ``s > 0`` in a step counts as one spike.

Gradients: exact with respect to ``U``, ``tau_rec``, ``tau_facil``, ``tau_in`` and the weights;
the surrogate gradient of a spike reaches the postsynaptic drive (through ``w r s``) but not the
synapse's state (the state update is gated by the spike with ``stop_gradient``, as the reset of
a neuron is).

References: M. V. Tsodyks and H. Markram, "The neural code between neocortical pyramidal
neurons depends on neurotransmitter release probability", PNAS 94:719-723 (1997);
H. Markram, Y. Wang and M. Tsodyks, "Differential signaling via the same axon of neocortical
pyramidal neurons", PNAS 95:5323-5328 (1998); W. Maass, T. Natschlaeger and H. Markram,
"Real-time computing without stable states", Neural Computation 14:2531-2560 (2002).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .dynamics import AbstractSynapseDynamics, SynapseShape, SynapticEvents

RECOVERY = ("inactive", "instant")


class TsodyksMarkramParams(NamedTuple):
    """The parameters of TsodyksMarkram (a pytree: each field a scalar or one value per element):
    ``U`` ((1), in (0, 1]); ``tau_rec`` (ms, D); ``tau_facil`` (ms, F; 0 = no facilitation)."""

    U: jax.typing.ArrayLike = 0.5            # (1), in (0, 1]
    tau_rec: jax.typing.ArrayLike = 800.0    # ms, D
    tau_facil: jax.typing.ArrayLike = 0.0    # ms, F; 0 = no facilitation

    POSITIVE = ("U", "tau_rec")
    NON_NEGATIVE = ("tau_facil",)


class TsodyksMarkramState(NamedTuple):
    """The state of TsodyksMarkram (a pytree): ``u`` ((nnz,) utilisation just after the synapse's
    last spike (0 before the first)); ``x`` ((nnz,) recovered fraction just after the last spike (1
    before the first)); ``y`` ((nnz,) active fraction just after the last spike (recovery
    "inactive"; else 0)); ``last`` ((n_pre,) int32, step of the presynaptic neuron's last delivered
    spike)."""

    u: jax.Array     # (nnz,) utilisation just after the synapse's last spike (0 before the first)
    x: jax.Array     # (nnz,) recovered fraction just after the last spike (1 before the first)
    y: jax.Array     # (nnz,) active fraction just after the last spike (recovery "inactive"; else 0)
    last: jax.Array  # (n_pre,) int32, step of the presynaptic neuron's last delivered spike


def check_stp_params(params, nnz: int, where: str = "TsodyksMarkramParams") -> None:
    """Every leaf a finite scalar or ``(nnz,)`` array; ``U`` in (0, 1], ``tau_rec`` > 0,
    ``tau_facil`` >= 0. Raises a ValueError that names the field and the value."""
    if not isinstance(params, TsodyksMarkramParams):
        raise ValueError(f"{where} must be a TsodyksMarkramParams, e.g. TsodyksMarkramParams(U=0.5, tau_rec=800.0), "
                         f"got {params!r}")
    for name, value in zip(params._fields, params):
        shape = np.shape(value)
        if shape not in ((), (nnz,)):
            raise ValueError(f"{where}.{name} must be a scalar or have shape ({nnz},) (one per synapse), got shape {shape}")
        if isinstance(value, jax.core.Tracer):
            continue  # values are checked where they are concrete (Projection, eager calls)
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{where}.{name} must be finite, got {_show(arr)}")
        if name in TsodyksMarkramParams.POSITIVE and not np.all(arr > 0):
            raise ValueError(f"{where}.{name} must be > 0, got {_show(arr)}")
        if name in TsodyksMarkramParams.NON_NEGATIVE and not np.all(arr >= 0):
            raise ValueError(f"{where}.{name} must be >= 0 (0 means no facilitation), got {_show(arr)}")
    u = np.asarray(params.U, float) if not isinstance(params.U, jax.core.Tracer) else None
    if u is not None and not np.all(u <= 1):
        raise ValueError(f"{where}.U must lie in (0, 1] (a release fraction), got {_show(u)}")


def _show(arr):
    if arr.ndim == 0:
        return repr(float(arr))
    return f"an array of {arr.size} values in [{np.min(arr)!r}, {np.max(arr)!r}]"


def _decay_factor(delta, tau):
    """e^{-delta/tau}, and 0 for tau = 0 (instant decay), with finite gradients at tau = 0."""
    pos = tau > 0
    return jnp.where(pos, jnp.exp(-delta / jnp.where(pos, tau, 1.0)), 0.0)


def decay(params: TsodyksMarkramParams, u, x, y, delta, tau_in=None):
    """The state ``(u, x, y)`` of a synapse ``delta`` ms after it was ``(u, x, y)``, with no spike
    in between (closed form; ``tau_in=None`` is the 2-state recovery)."""
    u = u * _decay_factor(delta, params.tau_facil)
    a = 1.0 / params.tau_rec
    e_a = jnp.exp(-a * delta)
    w = (1.0 - x) * e_a
    if tau_in is not None:
        b = 1.0 / tau_in
        e_b = jnp.exp(-b * delta)
        # (e^{-a delta} - e^{-b delta}) / (b - a) = delta e^{-min(a,b) delta} phi(|b - a| delta), with
        # phi(s) = (1 - e^{-s}) / s: the difference form where s is not small, phi's series (no
        # cancellation) where it is (s < 0.01: truncation error s^3 / 24 < 5e-8)
        gap = b - a
        s = jnp.abs(gap) * delta
        near = s < 1e-2
        e_min = jnp.where(a < b, e_a, e_b)
        series = delta * e_min * (1.0 - s * (0.5 - s / 6.0))
        transfer = jnp.where(near, series, (e_a - e_b) / jnp.where(near, 1.0, gap))
        w = w + y * a * transfer
        y = y * e_b
    return u, 1.0 - w, y


def spike_update(params: TsodyksMarkramParams, u, x, y):
    """The jump at a spike: returns ``(u, x, y, r)`` after it, ``r = u x`` the release."""
    u = u + params.U * (1.0 - u)
    r = u * x
    return u, x - r, y + r, r


@dataclass(frozen=True)
class TsodyksMarkram(AbstractSynapseDynamics):
    """Tsodyks-Markram short-term plasticity of a projection (see the module docstring for the
    equations): a per-synapse mechanism (:mod:`neurosim.synapses.dynamics`) that scales what
    each spike delivers. Use it as ``Projection(..., stp=TsodyksMarkram(), stp_params=...)``;
    its parameters are ``params.projections[name].dynamics["stp"]`` and its state
    ``state.dynamics[name]["stp"]``.

    ``recovery``: ``"inactive"`` (3-state: x recovers from z = 1 - x - y; needs the
    projection's synapse to have exponential kinetics, whose ``tau`` is ``tau_in``) or
    ``"instant"`` (2-state: dx/dt = (1 - x) / tau_rec; any kinetics).
    """

    recovery: str = "instant"

    Params = TsodyksMarkramParams
    State = TsodyksMarkramState
    key = "stp"
    kind = "short-term plasticity"

    def __post_init__(self):
        if self.recovery not in RECOVERY:
            raise ValueError(f"TsodyksMarkram: recovery must be one of {RECOVERY}, got {self.recovery!r}")

    def initial_params(self) -> TsodyksMarkramParams:
        return TsodyksMarkramParams()

    def check(self, projection) -> None:
        where = f"Projection {projection.name!r}"
        if not hasattr(projection.conn, "rows"):
            raise ValueError(f"{where}: short-term plasticity keeps state per synapse, which a JitConn (procedural "
                             "connectivity) does not store; use conn.to_csr() for a stored CSR, or stp=None")
        kinetics = getattr(projection.synapse, "kinetics", None)
        if self.recovery == "inactive" and kinetics != "exponential":
            got = f"kinetics {kinetics!r}" if kinetics is not None else f"the synapse model {projection.synapse!r}"
            raise ValueError(
                f"{where}: TsodyksMarkram(recovery='inactive') needs a neurosim.synapses.Synapse with exponential "
                f"kinetics (its tau is the PSC decay tau_in), got {got}; use recovery='instant' otherwise"
            )

    def check_params(self, params, nnz: int, where: str) -> None:
        check_stp_params(params, nnz, where)

    def init(self, params: TsodyksMarkramParams, shape: SynapseShape) -> TsodyksMarkramState:
        """All synapses at rest: u = 0 (so the first spike releases U x), x = 1, y = 0."""
        return TsodyksMarkramState(
            u=jnp.zeros((shape.nnz,), shape.dtype),
            x=jnp.ones((shape.nnz,), shape.dtype),
            y=jnp.zeros((shape.nnz,), shape.dtype),
            last=jnp.zeros((shape.n_pre,), jnp.int32),
        )

    def event_driven_modulate(self) -> bool:
        """:meth:`modulate` changes nothing at a synapse whose presynaptic neuron delivered no
        spike, and what it delivers there is not read (a compiled engine may visit only the
        rows of the neurons whose spikes arrive)."""
        return True

    def modulate(self, params, state, weights, ev: SynapticEvents):
        """The weights a spike of this step delivers: ``weights * u x`` (the release)."""
        state, release = self.release(params, state, ev.conn.rows, ev.pre, ev.t, ev.dt, tau_in=ev.tau_syn)
        return state, weights * release

    def release(self, params: TsodyksMarkramParams, state: TsodyksMarkramState, rows, spikes, t, dt, tau_in=None):
        """Deliver the presynaptic ``spikes`` (n_pre,) of step ``t``. ``rows``: the presynaptic
        index of every synapse (``CSR.rows``). Returns ``(state, r)``; ``r`` (nnz,) is the
        released fraction ``u x`` of every synapse whose presynaptic neuron spiked (the value a
        spike would release, for the others): the weight ``A`` delivers ``A r``.
        ``tau_in`` (ms): the PSC decay, used by recovery ``"inactive"`` (required there)."""
        check_stp_params(params, state.u.shape[0], "stp_params")
        if self.recovery == "inactive":
            if tau_in is None:
                raise ValueError("TsodyksMarkram(recovery='inactive') needs tau_in, the decay of the PSC (ms)")
        else:
            tau_in = None
        s = jax.lax.stop_gradient(spikes)
        # the per-presynaptic quantities at every synapse: the time since the last spike, the spike
        delta = (t - state.last).astype(state.u.dtype)[rows] * dt
        spiked = s.astype(state.u.dtype)[rows] > 0
        u, x, y = decay(params, state.u, state.x, state.y, delta, tau_in)
        u, x, y, r = spike_update(params, u, x, y)
        new = TsodyksMarkramState(
            u=jnp.where(spiked, u, state.u),
            x=jnp.where(spiked, x, state.x),
            y=jnp.where(spiked, y, state.y) if tau_in is not None else state.y,
            last=jnp.where(s > 0, jnp.asarray(t, jnp.int32), state.last),
        )
        return new, r


def tsodyks_markram_steady_state(params: TsodyksMarkramParams, period_ms, tau_in=None):
    """Steady state of a synapse driven by a regular train of period ``T`` = ``period_ms``.

    Returns ``(u, x, r)``: the utilisation at a spike (after its jump), the recovered fraction
    just before a spike, and the release ``r = u x`` (the steady PSC amplitude relative to
    ``A``). ``tau_in=None``: the 2-state recovery; a number: the 3-state form, where
    ``x* = 1 / (1 + c)``, ``c = e^{-T/D} u* (1 + K / (1 - e^{-T/tau_in})) / (1 - e^{-T/D})`` and
    ``K = (T/D) (e^{-T/D} - e^{-T/tau_in}) / ((1/tau_in - 1/D) T e^{-T/D})`` (the transfer of
    the active fraction into the recovering one over one interval, as in :func:`decay`). numpy,
    float64."""
    U, D, F = (np.asarray(v, float) for v in params[:3])
    T = np.asarray(period_ms, float)
    e_f = np.where(F > 0, np.exp(-T / np.where(F > 0, F, 1.0)), 0.0)
    u = U / (1.0 - (1.0 - U) * e_f)
    e_d = np.exp(-T / D)
    if tau_in is None:
        x = (1.0 - e_d) / (1.0 - (1.0 - u) * e_d)
    else:
        a, b = 1.0 / D, 1.0 / np.asarray(tau_in, float)
        s = np.abs(b - a) * T
        phi = np.where(s < 1e-12, 1.0, -np.expm1(-s) / np.where(s < 1e-12, 1.0, s))    # (1 - e^{-s}) / s
        k = a * T * np.exp(-np.minimum(a, b) * T) * phi / e_d   # transfer of y+ into w, per e^{-T/D}
        e_in = np.exp(-T * b)
        c = e_d * u * (1.0 + k / (1.0 - e_in)) / (1.0 - e_d)
        x = 1.0 / (1.0 + c)
    return u, x, u * x
