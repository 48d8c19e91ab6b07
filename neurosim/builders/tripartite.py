"""The tripartite synapse of Stimberg et al. (2019), their closed-loop gliotransmission example:
one Poisson train drives three kinds of synapse side by side.

``n`` Poisson sources (population ``"pre"``), each driving three synapses, one per loop:

- ``"closed"``: Tsodyks-Markram release modulated by the gliotransmitter of an astrocyte that
  this same synapse's glutamate drives (the astrocyte is the synapse's target);
- ``"open"``: release modulated by an astrocyte that no synapse drives; an exogenous IP3 flow
  (``F_ex`` = 2 uM/s towards ``I_bias`` = 1 uM) makes it oscillate on its own;
- ``"none"``: Tsodyks-Markram release alone.

Each synapse's extracellular glutamate is the state of its projection's current synapse::

    dY_S/dt = -Omega_c Y_S,   Y_S += rho_c Y_T r_S at a release r_S = u_S x_S
    (Omega_c = 40 /s: tau = 25 ms; rho_c Y_T = 0.005 x 500 mM = 2500 uM)

with Tsodyks-Markram release (``U_0* = 0.6``, ``Omega_d = 2 /s``: tau_rec = 500 ms,
``Omega_f = 3.33 /s``: tau_facil = 300.3 ms) whose resting probability is
``U_0 = (1 - Gamma_S) U_0* + alpha Gamma_S`` (:class:`~neurosim.astrocytes.Gliotransmission`,
``alpha`` = 0: release-decreasing). The ``2 n`` astrocytes (population ``"astro"``: the first
``n`` closed-loop, the others open-loop) are the ChI model of the example
(``ASTROCYTE_PRESETS["fm"]``, ``F_ex`` = 2 uM/s for all, ``I_bias`` = 0 / 1 uM, classic
Runge-Kutta, C, I, Gamma_A = 0, h = 0.9 at the start). The open-loop and unmodulated synapses
deliver their glutamate onto the open-loop astrocytes, whose receptors are switched off
(``O_N`` = 0): in the reference their target is an empty group and no glutamate reaches
those astrocytes, which is what ``O_N`` = 0 says.

The example steps the presynaptic rate 0.011 -> 0.11 -> 1.1 -> 11 Hz every 5 s at dt = 1 ms
(``params.neurons["pre"].rate_hz``). Reference: M. Stimberg, D. F. M. Goodman, R. Brette &
M. De Pitta, "Modeling neuron-glia interactions with the Brian 2 simulator" (2019), Fig. 4B.
"""
from __future__ import annotations

import numpy as np

from ..astrocytes import ASTROCYTE_PRESETS, Astrocyte, Gliotransmission, GliotransmissionParams
from ..events import from_arrays
from ..inputs import PoissonSource
from ..network import Network, Population, Projection
from ..synapses import Synapse, SynapseParams, TsodyksMarkram, TsodyksMarkramParams

LOOPS = ("closed", "open", "none")
RHO_C_Y_T = 0.005 * 500e3        # uM of glutamate per released fraction
TAU_CLEARANCE = 1e3 / 40.0       # ms, 1 / Omega_c
RELEASE = TsodyksMarkramParams(U=0.6, tau_rec=1e3 / 2.0, tau_facil=1e3 / 3.33)


def tripartite(n: int = 500, *, rate_hz: float = 0.011, alpha: float = 0.0) -> Network:
    """The closed-loop gliotransmission network (module docstring) with ``n`` synapses per
    loop; ``alpha`` in [0, 1] is the nature of gliotransmission (0 decreases release, 1
    increases it). Projections ``"closed"``, ``"open"``, ``"none"``; the mean of
    ``state.synapses[loop].g`` over a projection is its mean Y_S (uM)."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"tripartite: n must be a positive integer, got {n!r}")
    if not (np.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"tripartite: alpha must be in [0, 1], got {alpha!r}")
    astro = ASTROCYTE_PRESETS["fm"]._replace(
        ip3=0.0, f_ex=2.0,
        i_bias=np.r_[np.zeros(n), np.ones(n)].astype(np.float32),
        o_n=np.r_[np.full(n, float(ASTROCYTE_PRESETS["fm"].o_n)), np.zeros(n)].astype(np.float32))
    pops = [Population("pre", n, PoissonSource(), PoissonSource.Params(rate_hz)),
            Population("astro", 2 * n, Astrocyte(integrator="rk4", c_init=0.0, h_init=0.9), astro)]
    ids = np.arange(n)
    conn = from_arrays(ids, ids, n, n)
    glio = (RELEASE, GliotransmissionParams(alpha=alpha))
    common = dict(synapse=Synapse("exponential", "current"), syn_params=SynapseParams(tau=TAU_CLEARANCE))
    closed_loop = ("astro", 0, n)
    others = ("astro", n, 2 * n)
    projs = [
        Projection("closed", "pre", closed_loop, conn, RHO_C_Y_T, dynamics=[Gliotransmission("astro", ids, initial=glio)],
                   **common),
        Projection("open", "pre", others, conn, RHO_C_Y_T, dynamics=[Gliotransmission("astro", ids + n, initial=glio)],
                   **common),
        Projection("none", "pre", others, conn, RHO_C_Y_T, stp=TsodyksMarkram(), stp_params=RELEASE, **common),
    ]
    return Network(pops, projs)


RATES_HZ = (0.011, 0.11, 1.1, 11.0)


def run_tripartite(net: Network, *, rates_hz=RATES_HZ, epoch_ms: float = 5000.0, dt: float = 1.0, key=0,
                   monitors=(), progress: bool | None = None) -> dict:
    """Run ``net`` (from :func:`tripartite`) through epochs of ``epoch_ms`` at each presynaptic
    rate of ``rates_hz`` in turn, the state carried over. Returns ``{"t_ms": (steps,), "ys":
    (steps, 3) mean Y_S (uM) of the closed, open and unmodulated synapses after every step,
    "epoch_ys": (epochs, 3) their mean over each epoch, "state": the final state, "traces": the
    extra monitors' traces concatenated, "run_s", "compile_s"}``."""
    from ..network import Observe, simulate

    rates = np.asarray(rates_hz, float)
    if rates.ndim != 1 or rates.size == 0 or not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise ValueError(f"run_tripartite: rates_hz must be a non-empty list of rates >= 0 Hz, got {rates_hz!r}")
    params, state = net.params(), None
    meter = Observe("ys", _mean_ys)
    t, ys, traces, run_s, compile_s = [], [], {}, 0.0, 0.0
    for rate in rates:
        p = params._replace(neurons={**params.neurons, "pre": params.neurons["pre"]._replace(rate_hz=float(rate))})
        res = simulate(net, epoch_ms, dt, params=p, state=state, key=key, monitors=[meter, *monitors],
                       progress=progress)
        state = res.state
        t.append(np.asarray(res.observed["ys"][0]))
        ys.append(np.asarray(res.observed["ys"][1]))
        for k, (tk, vk, *_) in res.traces.items():
            traces.setdefault(k, ([], []))
            traces[k][0].append(np.asarray(tk))
            traces[k][1].append(np.asarray(vk))
        run_s += res.timings["run_s"]
        compile_s += res.timings["compile_s"]
    return {"t_ms": np.concatenate(t), "ys": np.concatenate(ys), "epoch_ys": np.stack([y.mean(0) for y in ys]),
            "state": state,
            "traces": {k: (np.concatenate(a), np.concatenate(b)) for k, (a, b) in traces.items()},
            "run_s": run_s, "compile_s": compile_s}


def _mean_ys(state, spikes):
    import jax.numpy as jnp

    return jnp.stack([state.synapses[loop].g.mean() for loop in LOOPS])
