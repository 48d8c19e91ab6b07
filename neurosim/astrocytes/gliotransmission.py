"""The tripartite synapse: Tsodyks-Markram release whose resting release probability is set by
the gliotransmitter of the synapse's astrocyte.

Each synapse has presynaptic receptors for gliotransmitter, a fraction Gamma_S of them bound,
driven by the gliotransmitter G_A (uM) that its astrocyte releases (an
:class:`~neurosim.astrocytes.Astrocyte` population's state ``g_a``)::

    dGamma_S/dt = O_G G_A (1 - Gamma_S) - Omega_G Gamma_S           (t in s)
    U_0 = (1 - Gamma_S) U_0* + alpha Gamma_S

and the synapse's Tsodyks-Markram release (:mod:`neurosim.synapses.short_term`) uses ``U = U_0``
at each presynaptic spike: ``u += U_0 (1 - u)``, ``r = u x``, ``x -= r``. ``U_0*`` is the
Tsodyks-Markram ``U`` without gliotransmitter; ``alpha`` = 0 makes gliotransmission
release-decreasing, ``alpha`` = 1 release-increasing. Gamma_S is advanced once per step in
closed form for the step's G_A (exact for a G_A that is constant over a step)::

    Gamma_S <- Gamma_S + (Gamma_inf - Gamma_S) (1 - e^{-k dt}),  k = O_G G_A + Omega_G,
    Gamma_inf = O_G G_A / k

Which astrocyte covers which synapse is the ``domain``: one astrocyte index per synapse, shape
``(nnz,)`` in CSR order, or ``(nnz, k)`` for k astrocytes per synapse (the synapse then sees
their mean G_A). :mod:`neurosim.astrocytes.domains` builds it from the pre- or postsynaptic
neuron, or from positions (the k nearest astrocytes).

Parameters (``GliotransmissionParams``; scalars or one per synapse):

===========  ==========  =========  ================================================
``o_g``      1.5         1/(uM s)   receptor binding rate
``omega_g``  0.5 / 60    1/s        receptor unbinding rate
``alpha``    0.0         (1)        release probability with every receptor bound
===========  ==========  =========  ================================================

Reference: M. Stimberg, D. F. M. Goodman, R. Brette & M. De Pitta, "Modeling neuron-glia
interactions with the Brian 2 simulator" (2019), their example of gliotransmitter-modulated
release; M. De Pitta, V. Volman, H. Berry & E. Ben-Jacob, PLoS Comput Biol 7:e1002293 (2011).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..neurons.base import state_fields
from ..synapses.dynamics import AbstractSynapseDynamics, SynapseShape, SynapticEvents
from ..synapses.short_term import TsodyksMarkram, TsodyksMarkramParams, TsodyksMarkramState, check_stp_params


class GliotransmissionParams(NamedTuple):
    """The parameters of Gliotransmission (a pytree: each field a scalar or one value per element):
    ``o_g`` (1/(uM s)); ``omega_g`` (1/s); ``alpha`` (in [0, 1])."""

    o_g: jax.typing.ArrayLike = 1.5            # 1/(uM s)
    omega_g: jax.typing.ArrayLike = 0.5 / 60   # 1/s
    alpha: jax.typing.ArrayLike = 0.0          # in [0, 1]

    NON_NEGATIVE = ("o_g", "omega_g")
    UNIT_INTERVAL = ("alpha",)


class GliotransmissionState(NamedTuple):
    """The state of Gliotransmission (a pytree): ``release`` (the Tsodyks-Markram state (u, x, y,
    last)); ``gamma_s`` ((nnz,) fraction of bound presynaptic receptors)."""

    release: TsodyksMarkramState   # the Tsodyks-Markram state (u, x, y, last)
    gamma_s: jax.Array             # (nnz,) fraction of bound presynaptic receptors


def receptor_step(params: GliotransmissionParams, gamma_s, g_a, dt_ms):
    """Gamma_S after ``dt_ms`` of a constant gliotransmitter ``g_a`` (uM), in closed form."""
    k = params.o_g * g_a + params.omega_g
    moving = k > 0                       # k = 0 (no binding, no unbinding): Gamma_S stays
    safe_k = jnp.where(moving, k, 1.0)
    gamma_inf = params.o_g * g_a / safe_k
    # (Gamma_inf - Gamma_S)(1 - e^{-k dt}) with expm1: Omega_G dt is ~1e-5 at dt = 1 ms, where
    # 1 - exp(...) in float32 would lose ~1 % of the change every step
    return jnp.where(moving, gamma_s - (gamma_inf - gamma_s) * jnp.expm1(-safe_k * dt_ms * 1e-3), gamma_s)


def resting_release(u0_star, params: GliotransmissionParams, gamma_s):
    """U_0 = (1 - Gamma_S) U_0* + alpha Gamma_S."""
    return (1.0 - gamma_s) * u0_star + params.alpha * gamma_s


@dataclass(frozen=True, eq=False)
class Gliotransmission(AbstractSynapseDynamics):
    """Gliotransmitter-modulated Tsodyks-Markram release (module docstring), a per-synapse
    mechanism: ``Projection(..., dynamics=[Gliotransmission("astro", domain)])``. ``release`` is
    the Tsodyks-Markram model it modulates (default: the two-state form). Its parameters are
    ``(TsodyksMarkramParams, GliotransmissionParams)`` at ``params.projections[name].dynamics["glio"]``."""

    astrocytes: str
    domain: object
    release: TsodyksMarkram = field(default_factory=TsodyksMarkram)
    initial: tuple = None    # (TsodyksMarkramParams, GliotransmissionParams); None: the defaults

    key = "glio"
    kind = "gliotransmission"

    def __post_init__(self):
        if not isinstance(self.astrocytes, str) or not self.astrocytes:
            raise ValueError(f"Gliotransmission: astrocytes must be the name of an astrocyte population, got "
                             f"{self.astrocytes!r}")
        domain = np.asarray(self.domain)
        if domain.ndim not in (1, 2) or not np.issubdtype(domain.dtype, np.integer):
            raise ValueError(f"Gliotransmission: domain must be integer astrocyte indices of shape (nnz,) or (nnz, k), "
                             f"got dtype {domain.dtype} and shape {domain.shape}")
        object.__setattr__(self, "domain", domain.reshape(domain.shape[0], -1).astype(np.int32))
        if not isinstance(self.release, TsodyksMarkram):
            raise ValueError(f"Gliotransmission: release must be a TsodyksMarkram, got {self.release!r}")
        if self.initial is None:
            object.__setattr__(self, "initial", (TsodyksMarkramParams(), GliotransmissionParams()))

    def initial_params(self):
        return self.initial

    def populations(self) -> tuple:
        return (self.astrocytes,)

    def check(self, projection) -> None:
        where = f"Projection {projection.name!r}"
        if not hasattr(projection.conn, "rows"):
            raise ValueError(f"{where}: gliotransmission keeps state per synapse, which a JitConn (procedural "
                             "connectivity) does not store; use conn.to_csr()")
        self.release.check(projection)
        if self.domain.shape[0] != projection.conn.nnz:
            raise ValueError(f"{where}: the gliotransmission domain maps {self.domain.shape[0]} synapses, but the "
                             f"projection has {projection.conn.nnz}; give one astrocyte index per synapse (CSR order)")

    def check_population(self, projection, name, population) -> None:
        where = f"Projection {projection.name!r}"
        if "g_a" not in state_fields(population.model):
            raise ValueError(f"{where}: gliotransmission reads the gliotransmitter g_a of population {name!r}, whose "
                             f"model {type(population.model).__name__} has none; use an Astrocyte population")
        lo, hi = int(self.domain.min()), int(self.domain.max())
        if lo < 0 or hi >= population.n:
            raise ValueError(f"{where}: the gliotransmission domain names astrocytes {lo}..{hi}, but population "
                             f"{name!r} has {population.n} (indices 0..{population.n - 1})")

    def check_params(self, params, nnz: int, where: str) -> None:
        if not (isinstance(params, tuple) and len(params) == 2 and isinstance(params[0], TsodyksMarkramParams)
                and isinstance(params[1], GliotransmissionParams)):
            raise ValueError(f"{where} must be (TsodyksMarkramParams, GliotransmissionParams), got {params!r}")
        check_stp_params(params[0], nnz, f"{where}[0]")
        for name, value in zip(params[1]._fields, params[1]):
            if np.shape(value) not in ((), (nnz,)):
                raise ValueError(f"{where}[1].{name} must be a scalar or have shape ({nnz},), got {np.shape(value)}")
            arr = np.asarray(value, float)
            if not np.all(np.isfinite(arr)) or np.any(arr < 0) or (name == "alpha" and np.any(arr > 1)):
                bound = "in [0, 1]" if name == "alpha" else ">= 0"
                raise ValueError(f"{where}[1].{name} must be finite and {bound}, got {value!r}")

    def for_synapses(self, ids) -> "Gliotransmission":
        """The mechanism for the synapses ``ids`` alone: their rows of the domain map."""
        return replace(self, domain=self.domain[np.asarray(ids)])

    def init(self, params, shape: SynapseShape) -> GliotransmissionState:
        return GliotransmissionState(self.release.init(params[0], shape), jnp.zeros((shape.nnz,), shape.dtype))

    def modulate(self, params, state: GliotransmissionState, weights, ev: SynapticEvents):
        """Advance Gamma_S with this step's G_A of each synapse's astrocytes, then release with
        U = U_0: the delivered weights are ``weights * u x``."""
        tm, glio = params
        g_a = jnp.mean(ev.populations[self.astrocytes].g_a[jnp.asarray(self.domain)], axis=1)
        gamma_s = receptor_step(glio, state.gamma_s, g_a, ev.dt)
        u0 = resting_release(tm.U, glio, gamma_s)
        release, r = self.release.release(tm._replace(U=u0), state.release, ev.conn.rows, ev.pre, ev.t, ev.dt,
                                          tau_in=ev.tau_syn)
        return GliotransmissionState(release, gamma_s), weights * r
