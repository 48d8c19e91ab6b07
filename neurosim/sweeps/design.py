"""What a sweep varies: axes that name params leaves, and designs that combine them.

An **axis** is a dotted path into ``net.params()`` and the values it takes:

    "neurons.E.g_l"                 params.neurons["E"].g_l
    "projections.EE.weights"        params.projections["EE"].weights
    "projections.EE.synapse.tau"    params.projections["EE"].synapse.tau
    "projections.EE.dynamics.plasticity.lr"   a rule's params, by mechanism key (NamedTuple fields)
    "inputs.drive.amplitude"        params.inputs["drive"].amplitude

A value is a number (broadcast to the leaf's shape: every neuron, every synapse) or an array of
the leaf's shape. The **design** combines the axes into instances:

- ``"grid"``: every combination (the product of the axes' lengths);
- ``"zip"``: the i-th value of every axis together (the axes must have the same length; a
  random design is a zipped one: :func:`random_design`);

and every combination is repeated for each of the ``seeds`` (the PRNG key of the run: initial
values, Poisson inputs). The connectivity is shared by all instances (the network's own).
"""
from __future__ import annotations

import hashlib
import itertools
from typing import NamedTuple

import numpy as np


class Leaf(NamedTuple):
    """A params leaf a sweep can set: its dotted path and its shape in ``net.params()``."""

    path: str
    shape: tuple


def _children(node):
    if isinstance(node, dict):
        return dict(node)
    if hasattr(node, "_fields"):     # (a field left None, such as a projection's delays, holds no leaf)
        return {f: getattr(node, f) for f in node._fields if getattr(node, f) is not None}
    return None


def leaves(params) -> list[Leaf]:
    """Every leaf of ``params`` (a NetParams) with its dotted path."""
    out = []

    def walk(node, path):
        kids = _children(node)
        if kids is None:
            out.append(Leaf(path, tuple(np.shape(node))))
            return
        for k, v in kids.items():
            walk(v, f"{path}.{k}" if path else str(k))

    walk(params, "")
    return out


def get_leaf(params, path: str):
    node = params
    for part in path.split("."):
        kids = _children(node)
        if kids is None or part not in kids:
            raise KeyError(part)
        node = kids[part]
    if _children(node) is not None:
        raise KeyError(path)
    return node


def set_leaf(params, path: str, value):
    """``params`` with the leaf at ``path`` replaced by ``value`` (a functional update)."""
    head, _, rest = path.partition(".")
    if isinstance(params, dict):
        return {**params, head: set_leaf(params[head], rest, value) if rest else value}
    child = getattr(params, head)
    return params._replace(**{head: set_leaf(child, rest, value) if rest else value})


def check_axis(params, path) -> Leaf:
    """The leaf ``path`` names, or a ValueError listing the leaves that exist."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"a sweep axis must be a dotted path such as 'neurons.E.g_l', got {path!r}")
    try:
        value = get_leaf(params, path)
    except KeyError:
        names = [leaf.path for leaf in leaves(params)]
        near = [n for n in names if n.split(".")[:2] == path.split(".")[:2]] or names
        raise ValueError(f"sweep axis {path!r} names no params leaf; leaves here include {near[:12]}"
                         + (f" (and {len(near) - 12} more)" if len(near) > 12 else "")) from None
    return Leaf(path, tuple(np.shape(value)))


class Design(NamedTuple):
    """The instances of a sweep: ``values[path]`` (n, *leaf shape) and ``seeds`` (n,), with the
    axis value of each instance as given (``labels[path]`` (n,), a number, or the index of an
    array value) for the results table."""

    paths: tuple
    values: dict
    labels: dict
    seeds: np.ndarray

    @property
    def n(self) -> int:
        return int(self.seeds.shape[0])

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for p in self.paths:
            h.update(p.encode())
            h.update(np.ascontiguousarray(self.values[p], np.float64).tobytes())
        h.update(np.ascontiguousarray(self.seeds, np.int64).tobytes())
        return h.hexdigest()


def _axis_values(params, path, values) -> tuple[np.ndarray, np.ndarray]:
    leaf = check_axis(params, path)
    try:
        vals = [np.asarray(v, float) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"sweep axis {path!r}: values must be a list of numbers or arrays, got {values!r}") from None
    if not vals:
        raise ValueError(f"sweep axis {path!r} has no values")
    out, labels = [], []
    for k, v in enumerate(vals):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"sweep axis {path!r}: value {k} is not finite ({v!r})")
        if v.shape == ():
            if path.endswith(".weights") and leaf.shape == (2,):
                raise ValueError(f"sweep axis {path!r}: a JitConn's weights are [wa, wb]; give each value as a pair")
            out.append(np.broadcast_to(v, leaf.shape))
            labels.append(float(v))
        elif v.shape == leaf.shape:
            out.append(v)
            labels.append(float(k))
        else:
            raise ValueError(f"sweep axis {path!r}: value {k} has shape {v.shape}; the leaf has shape {leaf.shape} "
                             "(give a number, broadcast to it, or an array of that shape)")
    return np.stack(out), np.asarray(labels)


def make_design(params, axes: dict, design: str = "grid", seeds=1) -> Design:
    """The instances of ``axes`` (path -> values) combined by ``design`` and repeated over
    ``seeds`` (a count: seeds 0..k-1, or a list of integer seeds)."""
    if not isinstance(axes, dict) or not axes:
        raise ValueError(f"axes must be a non-empty dict of params path -> values, got {axes!r}")
    if design not in ("grid", "zip"):
        raise ValueError(f"design must be 'grid' or 'zip' (a random design is a zipped one: random_design), got {design!r}")
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be a count >= 1 or a list of integer seeds, got {seeds!r}")
        seeds = list(range(int(seeds)))
    seeds = np.asarray(seeds)
    if seeds.ndim != 1 or seeds.size == 0 or seeds.dtype.kind not in "iu":
        raise ValueError(f"seeds must be a count >= 1 or a list of integer seeds, got {seeds!r}")
    per_axis = {p: _axis_values(params, p, v) for p, v in axes.items()}
    paths = tuple(axes)
    if design == "zip":
        lengths = {p: len(per_axis[p][0]) for p in paths}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"a zipped design needs axes of one length, got {lengths}")
        combos = [tuple([i] * len(paths)) for i in range(next(iter(lengths.values())))]
    else:
        combos = list(itertools.product(*[range(len(per_axis[p][0])) for p in paths]))
    rows = [(c, s) for c in combos for s in seeds]
    values = {p: np.stack([per_axis[p][0][c[j]] for c, _ in rows]) for j, p in enumerate(paths)}
    labels = {p: np.asarray([per_axis[p][1][c[j]] for c, _ in rows]) for j, p in enumerate(paths)}
    return Design(paths, values, labels, np.asarray([s for _, s in rows], np.int64))


def random_design(n: int, ranges: dict, seed: int = 0) -> dict:
    """``n`` points drawn uniformly in ``ranges`` (path -> (low, high)), as axes for
    ``design="zip"``. Same seed, same points."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    out = {}
    for path, r in ranges.items():
        try:
            lo, hi = (float(x) for x in r)
        except (TypeError, ValueError):
            raise ValueError(f"random_design: ranges[{path!r}] must be (low, high), got {r!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
            raise ValueError(f"random_design: ranges[{path!r}] must be finite with low <= high, got {r!r}")
        out[path] = list(rng.uniform(lo, hi, int(n)))
    return out


__all__ = ["Design", "Leaf", "check_axis", "leaves", "make_design", "random_design", "set_leaf"]
