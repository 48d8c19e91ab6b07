"""Astrocyte domains: which astrocytes cover which synapses.

A domain is an integer array of astrocyte indices, one row per synapse of a projection (CSR
order): shape ``(nnz,)``, or ``(nnz, k)`` when each synapse is covered by k astrocytes. An
astrocyte covers the synapses of the neurons in its territory, so a domain is usually built from
a neuron -> astrocyte map:

    by_postsynaptic(conn, territory)     synapse j -> territory[post(j)]
    by_presynaptic(conn, territory)      synapse j -> territory[pre(j)]
    nearest(neuron_xyz, astro_xyz, k)    neuron -> its k nearest astrocytes (a territory)
    tiles(n_neurons, n_astrocytes)       neuron i -> i * n_astrocytes // n_neurons (contiguous blocks)

Every function checks its input and says what does not fit.
"""
from __future__ import annotations

import numpy as np


def _territory(territory, n: int, what: str) -> np.ndarray:
    t = np.asarray(territory)
    if not np.issubdtype(t.dtype, np.integer) or t.ndim not in (1, 2):
        raise ValueError(f"{what}: territory must be integer astrocyte indices of shape (n_neurons,) or (n_neurons, k), "
                         f"got dtype {t.dtype} and shape {t.shape}")
    if t.shape[0] != n:
        raise ValueError(f"{what}: territory has {t.shape[0]} rows, but the connectivity has {n} neurons on that side")
    if t.size and t.min() < 0:
        raise ValueError(f"{what}: territory holds a negative astrocyte index ({int(t.min())})")
    return t


def by_postsynaptic(conn, territory) -> np.ndarray:
    """Each synapse covered by the astrocyte(s) of its postsynaptic neuron."""
    t = _territory(territory, conn.n_post, "by_postsynaptic")
    return t[np.asarray(conn.indices)]


def by_presynaptic(conn, territory) -> np.ndarray:
    """Each synapse covered by the astrocyte(s) of its presynaptic neuron."""
    t = _territory(territory, conn.n_pre, "by_presynaptic")
    return t[np.asarray(conn.rows)]


def nearest(neuron_xyz, astro_xyz, k: int = 1) -> np.ndarray:
    """The ``k`` nearest astrocytes of every neuron (Euclidean), shape ``(n_neurons, k)``;
    positions are ``(n, d)`` arrays in one unit."""
    a, b = np.asarray(neuron_xyz, float), np.asarray(astro_xyz, float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"nearest: positions must be (n_neurons, d) and (n_astrocytes, d), got shapes {a.shape} "
                         f"and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("nearest: positions must be finite")
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= b.shape[0]):
        raise ValueError(f"nearest: k must be an integer in [1, {b.shape[0]}] (the number of astrocytes), got {k!r}")
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.argsort(d2, axis=1, kind="stable")[:, :k].astype(np.int32)


def tiles(n_neurons: int, n_astrocytes: int) -> np.ndarray:
    """Contiguous territories: neuron i belongs to astrocyte ``i * n_astrocytes // n_neurons``."""
    for name, v in (("n_neurons", n_neurons), ("n_astrocytes", n_astrocytes)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"tiles: {name} must be a positive integer, got {v!r}")
    if n_astrocytes > n_neurons:
        raise ValueError(f"tiles: {n_astrocytes} astrocytes for {n_neurons} neurons leaves some astrocytes without "
                         "a territory")
    return (np.arange(n_neurons) * n_astrocytes // n_neurons).astype(np.int32)
