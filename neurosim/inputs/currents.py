"""External drive injected into a population, added to the synaptic current each step.

Every input is a small frozen dataclass with pure methods:

    init(params, n, key)                       -> state
    current(params, state, t, dt, key, v)      -> (state, i)      i in pA, shape (n,) or ()

``t`` is the step index (an int32 array), so time is explicit state, never global.

- ``ConstantCurrent``: I = amplitude (pA, scalar or per neuron).
- ``GaussianCurrent``: white noise redrawn every step, I = mean + std N(0, 1) per neuron.
- ``UniformCurrent``: white noise redrawn every step, I = low + (high - low) U[0, 1) per neuron.
  Both draw counter-based numbers (a pure function of their seed, the step and the neuron:
  :mod:`neurosim.inputs.draws`), as the Poisson inputs and sources do, so every engine draws them.
- ``StepCurrent``: piecewise constant; amplitude ``amplitudes[k]`` from ``times_ms[k]`` on
  (0 before the first time).
- ``PoissonInput``: each neuron receives ``n_sources`` independent Poisson trains of
  ``rate_hz``; their spikes are delivered through its own synapse (kinetics and output as in
  :class:`neurosim.synapses.Synapse`): per step, k ~ Poisson(n_sources rate dt), drive = k w,
  with k drawn by :func:`poisson_from_uniform` from one counter-based uniform number per
  neuron and step (:mod:`neurosim.inputs.draws`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..synapses import Synapse, SynapseParams
from ..synapses.kinetics import SynapseState
from . import draws


class ConstantParams(NamedTuple):
    """The parameters of ConstantCurrent (a pytree: each field a scalar or one value per element):
    ``amplitude`` (pA)."""

    amplitude: jax.typing.ArrayLike = 0.0  # pA

    CURRENTS = ("amplitude",)   # pA fields: bounded by what one step can do to a membrane


@dataclass(frozen=True)
class ConstantCurrent:
    """A constant current ``I = amplitude`` (pA, scalar or per neuron)."""

    Params = ConstantParams

    def init(self, params, n, key):
        return ()

    def current(self, params, state, t, dt, key, v):
        return state, jnp.asarray(params.amplitude)


class GaussianParams(NamedTuple):
    """The parameters of GaussianCurrent (a pytree: each field a scalar or one value per element): ``mean``
    (pA, scalar or per neuron); ``std`` (pA, scalar or per neuron)."""

    mean: jax.typing.ArrayLike = 0.0  # pA, scalar or per neuron
    std: jax.typing.ArrayLike = 1.0   # pA, scalar or per neuron

    NON_NEGATIVE = ("std",)
    CURRENTS = ("mean", "std")


class NoiseState(NamedTuple):
    """The state of a noise current: ``seed``, uint32[2], the seed of its counter-based draws
    (:mod:`neurosim.inputs.draws`), drawn once from the key given to ``init``."""

    seed: jax.Array


@dataclass(frozen=True)
class GaussianCurrent:
    """White-noise current, drawn afresh in every step and independently for every neuron:

        I_i(t_k) = mean_i + std_i * xi_ik,     xi_ik ~ N(0, 1) i.i.d.

    The draw is per *step* and is not scaled with dt (no 1/sqrt(dt) factor), as in the
    thalamic input of Izhikevich's ``net.m`` (``I = [5*randn(Ne,1); 2*randn(Ni,1)]`` each
    1 ms step), so its effect on the membrane depends on dt. ``xi_ik`` is a counter-based normal
    (:func:`neurosim.inputs.draws.normals`): a pure function of the input's seed (drawn once
    from the key given to :meth:`init`), the step ``k`` and the neuron ``i``, so every engine and
    every block of a neuron-parallel run draws the same numbers without a per-step key.
    """

    Params = GaussianParams
    State = NoiseState

    def init(self, params, n, key):
        if key is None:
            raise ValueError("GaussianCurrent.init: key must be a PRNG key (it seeds the input's draws), got None")
        return NoiseState(draws.new_seed(key))

    def current(self, params, state, t, dt, key, v, first=0):
        """``first``: the index of ``v``'s first neuron in the target (a block of it)."""
        xi = draws.normals(state.seed, t, v.shape[0], v.dtype, first)
        return state, params.mean + params.std * xi


class UniformParams(NamedTuple):
    """The parameters of UniformCurrent (a pytree: each field a scalar or one value per element): ``low``
    (pA, scalar or per neuron); ``high`` (pA, scalar or per neuron)."""

    low: jax.typing.ArrayLike = -0.5   # pA, scalar or per neuron
    high: jax.typing.ArrayLike = 0.5   # pA, scalar or per neuron

    CURRENTS = ("low", "high")


@dataclass(frozen=True)
class UniformCurrent:
    """Uniform white noise, drawn afresh in every step for every neuron:

        I_i(t_k) = low_i + (high_i - low_i) u_ik,     u_ik ~ U[0, 1) i.i.d.

    Not scaled with dt, as ``GaussianCurrent``; Izhikevich's ``daspnet.m`` (2007) drives every
    neuron with ``13 (rand - 0.5)`` each 1 ms step, i.e. ``low = -6.5, high = 6.5``. ``u_ik`` is
    the counter-based uniform of :func:`neurosim.inputs.draws.uniforms` (24 bits), seeded once from
    the key given to :meth:`init`."""

    Params = UniformParams
    State = NoiseState

    def init(self, params, n, key):
        if key is None:
            raise ValueError("UniformCurrent.init: key must be a PRNG key (it seeds the input's draws), got None")
        return NoiseState(draws.new_seed(key))

    def current(self, params, state, t, dt, key, v, first=0):
        """``first``: the index of ``v``'s first neuron in the target (a block of it)."""
        u = draws.uniforms(state.seed, t, v.shape[0], v.dtype, first)
        return state, params.low + (params.high - params.low) * u


class StepParams(NamedTuple):
    """The parameters of StepCurrent (a pytree: each field a scalar or one value per element):
    ``amplitudes`` ((k,) or (k, n) pA)."""

    amplitudes: jax.Array  # (k,) or (k, n) pA

    CURRENTS = ("amplitudes",)


@dataclass(frozen=True, eq=False)
class StepCurrent:
    """``times_ms`` (k,) ascending onsets; the amplitudes are parameters (differentiable)."""

    times_ms: tuple

    Params = StepParams

    def __post_init__(self):
        times = np.asarray(self.times_ms, float)
        if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
            raise ValueError(f"times_ms must be a non-empty 1-D list of finite times, got {self.times_ms!r}")
        if np.any(np.diff(times) <= 0):
            raise ValueError(f"times_ms must be strictly increasing, got {self.times_ms!r}")
        object.__setattr__(self, "times_ms", tuple(float(x) for x in times))

    def init(self, params, n, key):
        return ()

    def current(self, params, state, t, dt, key, v):
        onsets = jnp.asarray(self.times_ms)
        k = jnp.searchsorted(onsets, (jnp.asarray(t, onsets.dtype) + 0.5) * dt, side="right") - 1
        amps = jnp.asarray(params.amplitudes)
        i = jnp.where(k >= 0, amps[jnp.maximum(k, 0)], jnp.zeros_like(amps[0]))
        return state, i


class PoissonInputParams(NamedTuple):
    """The parameters of PoissonInput (a pytree: each field a scalar or one value per element):
    ``rate_hz`` (Hz per source); ``weight`` (pA (current) or nS (conductance) per spike);
    ``synapse``."""

    rate_hz: jax.typing.ArrayLike = 10.0   # Hz per source
    weight: jax.typing.ArrayLike = 1.0     # pA (current) or nS (conductance) per spike
    synapse: SynapseParams = SynapseParams()

    NON_NEGATIVE = ("rate_hz",)


# Per-step means below POISSON_INVERSION_MAX are sampled exactly by inversion with
# POISSON_TERMS terms; P(k >= 40 | lam = 12) = 1.6e-10 is the (only) truncation error.
POISSON_INVERSION_MAX = 12.0
POISSON_TERMS = 40
POISSON_HEADS = (8, 16, 24, POISSON_TERMS)   # the lengths the inversion's sum may stop at


def poisson_cdf(lam):
    """``F(j) = sum_{i<=j} e^-lam lam^i / i!`` for ``j = 0 .. POISSON_TERMS - 1``, each of
    ``lam``'s shape (a list of arrays), by the recursion ``p_0 = e^-lam``, ``p_i = (p_{i-1} lam) / i``,
    ``F(j) = F(j - 1) + p_j``. The divisor ``i`` is hidden from the compiler (an optimisation
    barrier), so that it divides (instead of multiplying by a rounded reciprocal) and no product
    feeds a sum: every operation is one IEEE float operation, rounded the same way in any
    program, which lets the fused engine's kernel compare against the very same table."""
    p = jnp.exp(-lam)
    cdf = [p]
    i = jax.lax.optimization_barrier(jnp.arange(1, POISSON_TERMS, dtype=jnp.result_type(lam)))
    for j in range(POISSON_TERMS - 1):
        p = p * lam / i[j]
        cdf.append(cdf[-1] + p)
    return cdf


def poisson_from_uniform(u, lam):
    """Poisson counts of mean ``lam`` (broadcastable to ``u``'s shape) from uniform numbers ``u``
    in [0, 1), one per count, as floats of ``u``'s dtype; ``lam`` is stop-gradiented. See
    :func:`poisson_counts` for the two branches (inversion below POISSON_INVERSION_MAX, a
    corrected normal approximation above)."""
    dtype = u.dtype
    lam = jax.lax.stop_gradient(jnp.maximum(jnp.asarray(lam, dtype), 0.0))
    shape = jnp.shape(u)

    def inversion():
        # k = #{j < POISSON_TERMS : u > F(j)} (F is non-decreasing: the first F(j) >= u ends it).
        # u < 1, so the terms from the first F(j) >= 1 on count nothing: the sum stops at the
        # first of POISSON_HEADS whose last F is >= 1 everywhere (the same counts, fewer terms)
        cdf = poisson_cdf(lam)

        def count(n):
            def terms():
                k = jnp.zeros(shape, dtype)
                for f in cdf[:n]:
                    k = k + (u > f).astype(dtype)
                return k
            return terms

        short = sum(jnp.any(cdf[n - 1] < 1.0).astype(jnp.int32) for n in POISSON_HEADS[:-1])
        return jax.lax.switch(short, [count(n) for n in POISSON_HEADS])

    def normal():
        z = jnp.clip(jax.scipy.special.ndtri(jnp.clip(u, 1e-7, 1.0 - 1e-7)), -6.0, 6.0)
        x = lam + jnp.sqrt(jnp.maximum(lam - 5.0 / 36.0, 0.0)) * z + (z * z - 1.0) / 6.0
        return jnp.maximum(jnp.floor(x + 0.5), 0.0)

    small = lam < POISSON_INVERSION_MAX
    return jax.lax.cond(jnp.all(small), inversion, lambda: jnp.where(small, inversion(), normal()))


def poisson_counts(key, lam, shape, dtype=jnp.float32):
    """Poisson counts of mean ``lam`` (scalar or broadcastable to ``shape``), from one uniform
    number ``u`` per element drawn from ``key``; float ``dtype``. No derivative (``lam`` is
    stop-gradiented).

    - ``lam < POISSON_INVERSION_MAX`` (12): inversion of the CDF with a fixed number of terms,
      ``k = #{j < 40 : u > F(j)}`` (:func:`poisson_cdf`): exact but for the truncation at 40
      (``P(k >= 40) < 2e-10``) and float32 rounding of ``F`` (~1e-7).
    - ``lam >= 12``: a normal approximation corrected to the Poisson's first three moments,
      ``k = max(0, floor(lam + sqrt(lam - 5/36) z + (z^2 - 1) / 6 + 1/2))``, ``z = Phi^-1(u)``:
      the ``(z^2 - 1) / 6`` term (Cornish-Fisher) gives the skewness ``lam^-1/2``; the
      ``-5/36`` removes the variance it adds (``1/18``) and the variance the rounding adds
      (``1/12``, Sheppard). Mean and variance are exact to < 1e-5 relative; the
      total-variation distance from Poisson(lam) is 1.8e-3 at lam = 12, 2e-4 at lam = 100.

    Cost: one uniform per element plus 40 compare-adds, ~8x faster than ``jax.random.poisson``
    on CPU (whose rejection loops dominate a network step). The same ``key`` gives the same
    counts. :class:`PoissonInput` uses :func:`poisson_from_uniform` on counter-based uniforms
    (:mod:`neurosim.inputs.draws`) instead of a key.
    """
    u = jax.random.uniform(key, shape, dtype)
    return poisson_from_uniform(u, jnp.broadcast_to(jnp.asarray(lam, dtype), shape))


class PoissonInputState(NamedTuple):
    g: jax.Array      # (n,) the input synapse's state (as SynapseState)
    x: jax.Array      # (n,) its alpha rise variable (zeros otherwise)
    seed: jax.Array   # uint32[2], the seed of the counter-based draws (drawn from the init key)


@dataclass(frozen=True)
class PoissonInput:
    """Each target neuron receives ``n_sources`` independent Poisson trains of ``rate_hz``
    through its own synapse: per step, ``k ~ Poisson(n_sources rate_hz dt)`` and ``drive = k
    weight``. The count of target neuron ``i`` in step ``t`` is drawn from the counter-based
    uniform ``u_{t,i}`` of :mod:`neurosim.inputs.draws` (seeded once from the key given to
    :meth:`init`) by :func:`poisson_from_uniform`: a pure function of (seed, t, i), the same in
    the scan and the fused engine. The per-step key of :meth:`current` is not used."""

    n_sources: int = 1
    synapse: Synapse = field(default_factory=Synapse)

    Params = PoissonInputParams
    State = PoissonInputState

    def __post_init__(self):
        if not isinstance(self.n_sources, int) or self.n_sources < 1:
            raise ValueError(f"n_sources must be a positive integer, got {self.n_sources!r}")

    def init(self, params, n, key):
        if key is None:
            raise ValueError("PoissonInput.init: key must be a PRNG key (it seeds the input's draws), got None")
        syn = self.synapse.init(params.synapse, n, key)
        return PoissonInputState(syn.g, syn.x, draws.new_seed(jax.random.fold_in(key, 1)))

    def mean_count(self, params, dt):
        """The per-step mean count ``n_sources rate_hz dt`` (rate in Hz, dt in ms)."""
        return self.n_sources * params.rate_hz * dt * 1e-3

    def current(self, params, state, t, dt, key, v, first=0):
        """``first``: the index of ``v``'s first neuron in the target (a block of it)."""
        i = self.synapse.current(params.synapse, state, v)
        u = draws.uniforms(state.seed, t, v.shape[0], v.dtype, first)
        k = poisson_from_uniform(u, self.mean_count(params, dt))
        syn = self.synapse.step(params.synapse, SynapseState(state.g, state.x), k * params.weight, dt)
        return PoissonInputState(syn.g, syn.x, state.seed), i
