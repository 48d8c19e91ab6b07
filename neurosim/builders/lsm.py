"""The liquid of a liquid state machine: a Maass, Natschlaeger & Markram (2002) cortical column.

``n`` = prod(``grid``) LIF neurons on an integer 3-D grid (15 x 3 x 3 = 135 in the paper), 20 %
inhibitory at random positions. Each ordered pair (a, b) of neurons, of types (E or I), is
connected with probability

    P(a -> b) = C[type a, type b] exp(-(D(a, b) / lambda)^2)

(D the Euclidean grid distance, lambda = 2) through a dynamic (Tsodyks-Markram) synapse with
per-synapse parameters drawn around the means below. Units: ms, mV, pF, nS, pA.

Neurons (one population ``"liquid"``: E = indices [0, n_exc), I = [n_exc, n))::

    tau_m dV/dt = -V + R_in (I_syn + I_b + I_in),   V >= 15 mV -> V <- 13.5 mV, refractory
    tau_m = 30 ms, R_in = 1 MOhm (g_L = 1000 nS, C_m = 30 nF), rest 0 mV,
    I_b = 13.5 nA (V_inf = 13.5 mV, subthreshold), refractory 3 ms (E) / 2 ms (I),
    V(0) ~ U[13.5, 15] mV, redrawn from every key.

Synapses (``TsodyksMarkram(recovery="inactive")``: u, x, y per synapse, ``I_syn = sum A y``;
the PSC y decays with tau_in = 3 ms from E, 6 ms from I):

====  ====  ============  =====  ==========  =========  =========
type  C     A (nA, mean)  U      D (ms)      F (ms)     delay (ms)
====  ====  ============  =====  ==========  =========  =========
EE    0.3   30            0.5    1100        50         1.5
EI    0.2   60            0.05   125         1200       0.8
IE    0.4   -19           0.25   700         20         0.8
II    0.1   -19           0.32   144         60         0.8
====  ====  ============  =====  ==========  =========  =========

(type = pre then post: "EI" is E -> I). Per synapse, ``|A|`` ~ Gamma(shape ``a_shape``, mean
``|A|``) (shape 1, an exponential distribution, in Brian2's port), and U, D, F ~ N(mean,
(0.5 mean)^2); a draw that is not positive (or U > 1) is replaced by the mean (Maass et al.
redraw such values from a uniform distribution; Brian2's port, and this builder, take the mean).

Input: ``n_inputs`` spike channels (population ``"input"``, a :class:`RasterSource` whose spike
raster lives in the state: set a trial's trains with :func:`set_input_raster`). Each channel
projects to every liquid neuron (``input_p`` = 1, as in the paper's single-train experiments; a
smaller ``input_p`` picks each (channel, neuron) pair with that probability) as a current jump
of 18 nA into E neurons and 9 nA into I neurons, decaying with 3 ms / 6 ms (static exponential
current synapses, delivered one step after the input spike).

Reference: W. Maass, T. Natschlaeger and H. Markram, "Real-time computing without stable
states: a new framework for neural computation based on perturbations", Neural Computation
14(11):2531-2560 (2002); Brian2 ``examples/frompapers/Maass_Natschlaeger_Markram_2002.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..events import CSR
from ..init import Uniform
from ..inputs import ConstantCurrent
from ..inputs.sources import RasterSource, RasterSourceParams, RasterSourceState  # noqa: F401 (builders API)
from ..network import Input, Network, Population, Projection
from ..neurons import LIF, LIFParams
from ..synapses import Synapse, SynapseParams
from ..synapses.short_term import TsodyksMarkram, TsodyksMarkramParams


class SynapseType(NamedTuple):
    """Means of one synapse type of the column (units: pA, ms)."""

    c: float          # connection scale C
    a_pa: float       # mean weight A (pA; negative for inhibition)
    u: float          # U
    d_ms: float       # tau_rec D
    f_ms: float       # tau_facil F
    delay_ms: float
    tau_ms: float     # PSC decay tau_in (by presynaptic type)


MAASS_2002 = {
    "EE": SynapseType(0.3, 30_000.0, 0.5, 1100.0, 50.0, 1.5, 3.0),
    "EI": SynapseType(0.2, 60_000.0, 0.05, 125.0, 1200.0, 0.8, 3.0),
    "IE": SynapseType(0.4, -19_000.0, 0.25, 700.0, 20.0, 0.8, 6.0),
    "II": SynapseType(0.1, -19_000.0, 0.32, 144.0, 60.0, 0.8, 6.0),
}
"""The synapse table of Maass et al. (2002) in neurosim units (pA, ms)."""

MAASS_2002_NEURON = LIFParams(v_rest=0.0, v_reset=13.5, v_th=15.0, c_m=30_000.0, g_l=1000.0, t_ref=3.0)
"""E cell: tau_m = C_m / g_L = 30 ms, R_in = 1/g_L = 1 MOhm; the I cell has t_ref = 2 ms."""


# ----------------------------------------------------------------------------- input rasters
# (the source itself, RasterSource, lives in neurosim.inputs.sources)


def spike_raster(trains, duration_ms: float, dt: float) -> np.ndarray:
    """Spike trains (a list of arrays of times in ms, one per channel) as a ``(n_steps, n)``
    float32 raster on the grid of ``dt``: a spike at ``t`` falls in step ``floor(t / dt)``
    (as :class:`neurosim.inputs.SpikeTimes`; two spikes of a channel in one step count once).
    Times must lie in [0, duration_ms)."""
    dt = _checks.positive_finite("dt", dt)
    n_steps = _checks.whole_steps("duration_ms", duration_ms, dt, minimum=1)
    if isinstance(trains, np.ndarray) and trains.ndim == 1:
        trains = [trains]
    raster = np.zeros((n_steps, len(trains)), np.float32)
    for i, tr in enumerate(trains):
        tr = np.asarray(tr, float)
        if tr.size and (not np.all(np.isfinite(tr)) or tr.min() < 0 or tr.max() >= duration_ms):
            raise ValueError(f"spike_raster: train {i} has times outside [0, {duration_ms}) ms: "
                             f"min {tr.min():.6g}, max {tr.max():.6g}")
        k = np.floor(tr / dt + 1e-6).astype(np.int64)
        raster[np.minimum(k, n_steps - 1), i] = 1.0
    return raster


def set_input_raster(state, raster, pop: str = "input"):
    """The network state with population ``pop``'s raster replaced by ``raster``
    ``(n_steps, n_inputs)`` (numpy or jax; any number of steps) and its clock at the start.
    Works inside ``jit``/``vmap``."""
    if pop not in state.neurons:
        raise ValueError(f"set_input_raster: the state has no population {pop!r}; it has {sorted(state.neurons)}")
    old = state.neurons[pop]
    if not isinstance(old, RasterSourceState):
        raise ValueError(f"set_input_raster: population {pop!r} is not a RasterSource")
    raster = jnp.asarray(raster, jnp.float32)
    if raster.ndim != 2 or raster.shape[1] != old.raster.shape[1]:
        raise ValueError(f"set_input_raster: raster must have shape (n_steps, {old.raster.shape[1]}), got {raster.shape}")
    neurons = dict(state.neurons)
    neurons[pop] = RasterSourceState(t=old.t, raster=raster)
    return state._replace(neurons=neurons)


# ----------------------------------------------------------------------------- the column


@dataclass(frozen=True, eq=False)
class LiquidColumn:
    """What :func:`lsm` builds: the network and the facts about it that analyses need."""

    network: Network
    positions: np.ndarray     # (n, 3) integer grid coordinates of the liquid neurons
    n_exc: int                # liquid neurons [0, n_exc) are excitatory, [n_exc, n) inhibitory
    n_inputs: int
    seed: int

    @property
    def n(self) -> int:
        return int(self.positions.shape[0])

    @property
    def is_inhibitory(self) -> np.ndarray:
        return np.arange(self.n) >= self.n_exc

    def synapses(self, kind: str):
        """``(pre, post)`` liquid indices (global, in [0, n)) of the synapses of type ``kind``
        ("EE", "EI", "IE", "II"), in the projection's CSR order."""
        if kind not in MAASS_2002:
            raise ValueError(f"kind must be one of {sorted(MAASS_2002)}, got {kind!r}")
        pr = next(p for p in self.network.projections if p.name == kind)
        pre0 = 0 if kind[0] == "E" else self.n_exc
        post0 = 0 if kind[1] == "E" else self.n_exc
        return np.asarray(pr.conn.rows) + pre0, np.asarray(pr.conn.indices) + post0

    def adjacency(self) -> CSR:
        """The liquid's recurrent connectivity as one ``n x n`` CSR (all four types)."""
        pre, post = zip(*(self.synapses(k) for k in MAASS_2002))
        return CSR.from_arrays(np.concatenate(pre), np.concatenate(post), self.n, self.n)


def lsm(
    grid: tuple = (15, 3, 3),
    *,
    frac_inh: float = 0.2,
    lam: float = 2.0,
    n_inputs: int = 1,
    input_p: float = 1.0,
    input_steps: int = 1,
    input_weights_pa: tuple = (18_000.0, 9_000.0),
    a_shape: float = 1.0,
    param_cv: float = 0.5,
    autapses: bool = False,
    types: dict | None = None,
    capacity: int | None = 0,
    seed: int = 0,
) -> LiquidColumn:
    """Build a Maass et al. (2002) column (see the module docstring).

    ``grid``: the integer grid (n = its product). ``lam``: lambda (grid units). ``input_steps``:
    the length of the (silent) input raster in the initial state (:func:`set_input_raster`
    replaces it). ``input_weights_pa``: the current jump into (E, I) neurons per input spike.
    ``a_shape``: the Gamma shape of the weights (CV = 1/sqrt(a_shape)); ``param_cv``: the SD
    of U, D, F relative to their means. ``autapses``: allow a -> a (probability C).
    ``types``: a replacement for :data:`MAASS_2002`. ``capacity``: the event operator's
    capacity for every projection; 0 (default) takes the full path (a segment sum over the few
    hundred synapses), fastest for a small liquid and under ``jax.vmap`` (where the event path's
    capacity ladder would evaluate every tier); None is the event-driven default of larger
    networks. Everything is drawn from ``seed``.
    """
    grid = tuple(_checks.count("lsm: grid entry", g, minimum=1) for g in grid)
    if len(grid) != 3:
        raise ValueError(f"lsm: grid must have 3 entries, got {grid!r}")
    frac_inh = _checks.probability("lsm: frac_inh", frac_inh)
    lam = _checks.positive_finite("lsm: lam", lam)
    n_inputs = _checks.count("lsm: n_inputs", n_inputs, minimum=1)
    input_p = _checks.probability("lsm: input_p", input_p)
    a_shape = _checks.positive_finite("lsm: a_shape", a_shape)
    if not (np.isfinite(param_cv) and param_cv >= 0):
        raise ValueError(f"lsm: param_cv must be a finite number >= 0, got {param_cv!r}")
    types = MAASS_2002 if types is None else types
    if set(types) != set(MAASS_2002):
        raise ValueError(f"lsm: types must have the keys {sorted(MAASS_2002)}, got {sorted(types)}")
    n = int(np.prod(grid))
    n_inh = int(round(frac_inh * n))
    n_exc = n - n_inh
    if n_exc < 1 or n_inh < 1:
        raise ValueError(f"lsm: a grid of {n} neurons with frac_inh = {frac_inh} leaves {n_exc} E and {n_inh} I neurons; "
                         "need at least one of each")

    rng = np.random.default_rng(_checks.seed("seed", seed))
    cells = np.stack(np.meshgrid(*(np.arange(g) for g in grid), indexing="ij"), axis=-1).reshape(-1, 3)
    positions = cells[rng.permutation(n)]           # neuron k sits at positions[k]
    inh = np.arange(n) >= n_exc
    diff = positions[:, None, :] - positions[None, :, :]
    dist2 = np.sum(diff.astype(float) ** 2, axis=-1)
    c = np.empty((n, n))
    for kind, st in types.items():
        rows = inh if kind[0] == "I" else ~inh
        cols = inh if kind[1] == "I" else ~inh
        c[np.ix_(rows, cols)] = st.c
    prob = c * np.exp(-dist2 / lam**2)
    if not autapses:
        np.fill_diagonal(prob, 0.0)
    connected = rng.random((n, n)) < prob

    liquid = Population(
        "liquid", n, LIF(v_init=Uniform(MAASS_2002_NEURON.v_reset, MAASS_2002_NEURON.v_th)),
        MAASS_2002_NEURON._replace(t_ref=np.where(inh, 2.0, 3.0).astype(np.float32)),
    )
    projections = []
    for kind, st in types.items():
        pre_sl = (n_exc, n) if kind[0] == "I" else (0, n_exc)
        post_sl = (n_exc, n) if kind[1] == "I" else (0, n_exc)
        block = connected[pre_sl[0]:pre_sl[1], post_sl[0]:post_sl[1]]
        pre, post = np.nonzero(block)                # row-major: already CSR order
        conn = CSR.from_arrays(pre, post, block.shape[0], block.shape[1])
        m = conn.nnz
        weights = np.sign(st.a_pa) * rng.gamma(a_shape, abs(st.a_pa) / a_shape, size=m)
        stp_params = TsodyksMarkramParams(
            U=_draw_around(rng, st.u, param_cv, m, upper=1.0),
            tau_rec=_draw_around(rng, st.d_ms, param_cv, m),
            tau_facil=_draw_around(rng, st.f_ms, param_cv, m),
        )
        projections.append(Projection(
            kind, ("liquid", *pre_sl), ("liquid", *post_sl), conn, weights.astype(np.float32),
            Synapse("exponential", "current"), SynapseParams(tau=st.tau_ms), delay_ms=st.delay_ms,
            capacity=capacity, stp=TsodyksMarkram("inactive"), stp_params=stp_params,
        ))

    source = Population("input", n_inputs, RasterSource(_checks.count("lsm: input_steps", input_steps, minimum=1)))
    w_e, w_i = (float(w) for w in input_weights_pa)
    for name, sl, w, tau in (("input_E", (0, n_exc), w_e, types["EE"].tau_ms), ("input_I", (n_exc, n), w_i, types["IE"].tau_ms)):
        block = rng.random((n_inputs, sl[1] - sl[0])) < input_p if input_p < 1.0 else np.ones((n_inputs, sl[1] - sl[0]), bool)
        pre, post = np.nonzero(block)
        conn = CSR.from_arrays(pre, post, n_inputs, sl[1] - sl[0])
        projections.append(Projection(name, "input", ("liquid", *sl), conn, w, Synapse("exponential", "current"),
                                      SynapseParams(tau=tau), capacity=capacity))
    background = Input("background", "liquid", ConstantCurrent(), ConstantCurrent.Params(amplitude=13_500.0))
    net = Network([liquid, source], projections, [background])
    return LiquidColumn(network=net, positions=positions, n_exc=n_exc, n_inputs=n_inputs, seed=seed)


def _draw_around(rng, mean, cv, m, upper=None):
    """N(mean, (cv mean)^2) per synapse; draws <= 0 (or > upper) replaced by the mean."""
    x = rng.normal(mean, cv * abs(mean), size=m)
    bad = x <= 0
    if upper is not None:
        bad |= x > upper
    return np.where(bad, mean, x).astype(np.float32)
