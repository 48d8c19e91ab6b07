"""The neuron-astrocyte liquid state machine (NALSM) of Ivanov & Michmizos (2021): a 3-D liquid of
LIF neurons whose STDP is modulated by one global astrocyte (:mod:`neurosim.astrocytes.nalsm`).

Liquid (the authors' code): neurons on an integer grid (10 x 10 x 10 for NALSM1000), 80 %
excitatory, positions randomly permuted; j -> i connected with probability
``C exp(-(D / lambda)^2)``, lambda = 3, D the grid distance, no self-connections, C = 0.2
(E->E), 0.1 (E->I), 0.3 (I->E), 0.05 (I->I); each input neuron reaches a uniformly random 15 %
of the liquid with a random sign. Neurons (dt = 1 ms)::

    V <- V e^{-dt/tau_v} + sum_j W_ij s_j + ... ,   tau_v = 64 ms
    spike at V >= 20, V <- 0, refractory 2 ms

(neurosim's LIF with C_m = 1, g_L = 1/64 and delta synapses: a spike of j moves V_i by W_ij
in the next step; the reference spreads it over 1-2 steps with a kernel e^{-t/tau_u}/tau_u,
tau_u in {1, 2} ms, whose integral is the same W_ij.) Weights start at the bound magnitude 3
(sign by presynaptic type; random sign for inputs) and stay in [0, 3] (E), [-3, 0] (I),
[-3, 3] (input) under :func:`~neurosim.astrocytes.astrocyte_stdp` with eta_+ = 0.15 and the
depression rate A of :func:`~neurosim.astrocytes.nalsm_astrocyte` (w_A, b_A = 0.15, tau_A =
100 ms), driven by the liquid's and the input's spike counts.

``plasticity``: ``"astrocyte"`` (NALSM), ``"stdp"`` (the same rule with A fixed at b_A: plain
STDP, the paper's LSM+STDP) or None (static weights: the paper's LSM, or a NALSM whose weights
``weights`` were learned before). Inputs are a :class:`~neurosim.builders.RasterSource` (put a
sample's spikes in with :func:`~neurosim.builders.set_input_raster`).

Reference: V. Ivanov & K. Michmizos, NeurIPS 2021 (arXiv:2111.01760) and their code.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks
from .. import plasticity as pl
from ..astrocytes.nalsm import astrocyte_stdp, nalsm_astrocyte
from ..events import CSR, from_arrays
from ..network import Network, Population, Projection
from ..neurons import LIF, LIFParams
from ..synapses import Synapse, SynapseParams
from .lsm import RasterSource

W_MAX = 3.0
LIQUID = LIFParams(v_rest=0.0, v_reset=0.0, v_th=20.0, c_m=1.0, g_l=1.0 / 64.0, t_ref=2.0)
C_TYPE = {("E", "E"): 0.2, ("E", "I"): 0.1, ("I", "E"): 0.3, ("I", "I"): 0.05}
PLASTICITY = ("astrocyte", "stdp", None)


@dataclass(frozen=True, eq=False)
class NALSM:
    """What :func:`nalsm` builds: the network, its recurrent connectivity (for the branching
    factor), the projections' names and the numbers of neurons."""

    net: Network
    recurrent: CSR          # the liquid onto itself (n x n), every recurrent synapse
    n_liquid: int
    n_exc: int
    n_inputs: int


def nalsm(grid=(10, 10, 10), n_inputs: int = 64, *, sample_steps: int = 250, plasticity="astrocyte",
          w_a: float = 0.015, weights: dict | None = None, lam: float = 3.0, input_p: float = 0.15,
          seed: int = 0) -> NALSM:
    """The NALSM liquid (module docstring). Projections: ``"exc"`` (E -> liquid), ``"inh"``
    (I -> liquid), ``"in"`` (input -> liquid); ``weights``: their weights (name -> (nnz,)), e.g.
    those learned by a plastic run, instead of the initial magnitude 3. ``sample_steps``: the
    length of the input raster."""
    if plasticity not in PLASTICITY:
        raise ValueError(f"nalsm: plasticity must be one of {PLASTICITY}, got {plasticity!r}")
    grid = tuple(int(g) for g in grid)
    if len(grid) != 3 or min(grid) < 1:
        raise ValueError(f"nalsm: grid must be three positive integers, got {grid!r}")
    n = int(np.prod(grid))
    n_e = int(round(0.8 * n))
    if n_e < 1 or n_e == n:
        raise ValueError(f"nalsm: a grid of {n} neurons has no room for both E and I neurons")
    if not (isinstance(n_inputs, (int, np.integer)) and n_inputs >= 1):
        raise ValueError(f"nalsm: n_inputs must be a positive integer, got {n_inputs!r}")
    rng = np.random.default_rng(_checks.seed("seed", seed))
    cells = np.stack(np.meshgrid(*(np.arange(g) for g in grid), indexing="ij"), axis=-1).reshape(-1, 3)
    pos = cells[rng.permutation(n)].astype(float)
    kind = np.where(np.arange(n) < n_e, "E", "I")
    c = np.vectorize(lambda a, b: C_TYPE[(a, b)])(kind[:, None], kind[None, :])
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    connected = rng.random((n, n)) < c * np.exp(-d2 / lam ** 2)
    np.fill_diagonal(connected, False)
    pre, post = np.nonzero(connected)
    recurrent = from_arrays(pre, post, n, n)
    e = pre < n_e
    exc = from_arrays(pre[e], post[e], n_e, n)
    inh = from_arrays(pre[~e] - n_e, post[~e], n - n_e, n)
    block = rng.random((n_inputs, n)) < input_p
    i_pre, i_post = np.nonzero(block)
    inp = from_arrays(i_pre, i_post, n_inputs, n)
    w_in = W_MAX * np.where(rng.random(inp.nnz) < 0.5, -1.0, 1.0)
    # from_arrays sorts by (pre, post); np.nonzero already gives that order, so w_in follows CSR order
    initial = {"exc": np.full(exc.nnz, W_MAX), "inh": np.full(inh.nnz, -W_MAX), "in": w_in}
    if weights is not None:
        for name, w in weights.items():
            if name not in initial or np.shape(w) != initial[name].shape:
                raise ValueError(f"nalsm: weights[{name!r}] must be one of {sorted(initial)} with shape "
                                 f"{initial[name].shape if name in initial else '?'}, got {np.shape(w)}")
            initial[name] = np.asarray(w, np.float32)
    rules = {"exc": None, "inh": None, "in": None}
    modulators = []
    if plasticity is not None:
        a_w = w_a if plasticity == "astrocyte" else 0.0
        modulators.append(nalsm_astrocyte("astrocyte", liquid="liquid", inputs="input", w_a=a_w))
        rules = {"exc": pl.chain(astrocyte_stdp("astrocyte"), pl.clip_weights(0.0, W_MAX)),
                 "inh": pl.chain(astrocyte_stdp("astrocyte", presynaptic="inhibitory"), pl.clip_weights(-W_MAX, 0.0)),
                 "in": pl.chain(astrocyte_stdp("astrocyte"), pl.clip_weights(-W_MAX, W_MAX))}
    delta = dict(synapse=Synapse("delta", "current"), syn_params=SynapseParams(tau=1.0))
    pops = [Population("input", n_inputs, RasterSource(sample_steps)), Population("liquid", n, LIF(v_init=0.0), LIQUID)]
    projs = [Projection("exc", ("liquid", 0, n_e), "liquid", exc, initial["exc"].astype(np.float32), plasticity=rules["exc"], **delta),
             Projection("inh", ("liquid", n_e, n), "liquid", inh, initial["inh"].astype(np.float32), plasticity=rules["inh"], **delta),
             Projection("in", "input", "liquid", inp, initial["in"].astype(np.float32), plasticity=rules["in"], **delta)]
    return NALSM(Network(pops, projs, modulators=modulators), recurrent, n, n_e, n_inputs)


def encode(images, n_steps: int, rng) -> np.ndarray:
    """Bernoulli pixel spikes as the reference encodes them: per image ``x / sum(x)``, divided
    by the largest such value over the images, is each pixel's spike probability per step.
    ``images``: (k, n_pixels) >= 0; returns (k, n_steps, n_pixels) float32 0/1."""
    x = np.asarray(images, float)
    if x.ndim != 2 or np.any(x < 0) or np.any(x.sum(1) <= 0):
        raise ValueError(f"encode: images must be (k, n_pixels) of non-negative values with some ink each, got {x.shape}")
    p = x / x.sum(1, keepdims=True)
    p = p / p.max()
    return (rng.random((x.shape[0], n_steps, x.shape[1])) < p[:, None, :]).astype(np.float32)
