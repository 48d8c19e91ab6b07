"""Counter-based random numbers for the inputs: the draw of neuron ``i`` in step ``t`` is a pure
function of ``(seed, t, i)``, computed the same way by this module (jax.numpy, 32-bit integer
arithmetic, so it needs no 64-bit mode), by the fused engine's C++ kernel
(``kernels/include/neurosim/counter_rng.h``) and by a plain numpy mirror (:func:`uniforms_np`).
So a network with random inputs gives the same spike trains whichever engine advances it, in
chunks of any length, and a state can be continued by either.

    mix(x)   = the 'lowbias32' finaliser (a bijection on 32 bits, full avalanche):
               x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16
    s_t      = mix(mix(t ^ seed0) + seed1)                    (one per step)
    h_{t,i}  = mix(mix(s_t ^ i) + s_t)
    u_{t,i}  = (h_{t,i} >> 8) 2^-24                           (24 bits, in [0, 1))

(all sums and products modulo 2^32). ``seed`` (two uint32 words) is drawn once from the
input's key when the state is made. Quality: every output bit of ``mix`` depends on every
input bit (bias ~1.7e-4 by its author's measure, C. Wellons, 'Hash function prospector',
2018); two rounds per draw; the draws of the tests pass a chi-square test against their
distribution.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_M1, _M2 = 0x7FEB352D, 0x846CA68B


def _mix(x):
    """lowbias32 on a uint32 array, jax.numpy or numpy alike (wrapping arithmetic)."""
    u32 = x.dtype.type
    x = x ^ (x >> u32(16))
    x = x * u32(_M1)
    x = x ^ (x >> u32(15))
    x = x * u32(_M2)
    return x ^ (x >> u32(16))


def _hash(seed, t, i):
    """``h_{t,i}`` (module docstring) for uint32 ``seed`` (2,), step ``t`` and neuron indices ``i``."""
    s = _mix(_mix(t ^ seed[0]) + seed[1])
    return _mix(_mix(s ^ i) + s)


def new_seed(key) -> jax.Array:
    """Two uint32 words drawn from ``key``: the seed of an input's draws."""
    return jax.random.bits(key, (2,), jnp.uint32)


def uniforms(seed, t, n: int, dtype=jnp.float32, first=0):
    """``u_{t,i}`` for ``i = first .. first + n - 1`` (module docstring); ``seed`` uint32[2],
    ``t`` the step; ``first`` (may be traced) the index of the first neuron: a block of a
    population (one device's, in a neuron-parallel run) draws what the whole one draws there."""
    i = jnp.asarray(first).astype(jnp.uint32) + jnp.arange(n, dtype=jnp.uint32)
    h = _hash(jnp.asarray(seed, jnp.uint32), jnp.asarray(t).astype(jnp.uint32), i)
    return (h >> 8).astype(dtype) * jnp.asarray(2.0**-24, dtype)


def normals(seed, t, n: int, dtype=jnp.float32, first=0):
    """Standard normal numbers ``z_{t,i} = Phi^-1((h_{t,i} >> 9 + 1/2) 2^-23)`` for ``i = first ..
    first + n - 1``: the inverse normal CDF (``jax.scipy.special.ndtri``) of a 23-bit uniform from
    the same hash as :func:`uniforms`, half a step off the grid so that it lies in (0, 1) in
    float32 too (2^-24 <= u <= 1 - 2^-24). Normal up to that grid: the tails are cut at
    |z| = 5.3 (probability 1.2e-7). Vectorises on every engine (a rational function, a log, a
    square root)."""
    i = jnp.asarray(first).astype(jnp.uint32) + jnp.arange(n, dtype=jnp.uint32)
    h = _hash(jnp.asarray(seed, jnp.uint32), jnp.asarray(t).astype(jnp.uint32), i)
    u = ((h >> 9).astype(dtype) + jnp.asarray(0.5, dtype)) * jnp.asarray(2.0**-23, dtype)
    return jax.scipy.special.ndtri(u)


def uniforms_np(seed, t: int, n: int) -> np.ndarray:
    """The numpy mirror of :func:`uniforms` (float64 values of the same 24-bit numbers)."""
    with np.errstate(over="ignore"):
        h = _hash(np.asarray(seed, np.uint32), np.asarray(t, np.uint32), np.arange(n, dtype=np.uint32))
    return (h >> np.uint32(8)).astype(np.float64) * 2.0**-24
