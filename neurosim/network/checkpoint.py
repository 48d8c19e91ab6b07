"""Checkpoints: a run's full state, its params and its dt on disk, resumable in a new process.

    ns.save_checkpoint("run.npz", net, result)            # a SimResult, or a NetworkState
    ckpt = ns.load_checkpoint("run.npz", net)             # checked against net
    ns.simulate(net, 500.0, dt=ckpt.dt, state=ckpt.state, params=ckpt.params)

The file is a plain ``.npz`` (numpy's zip of arrays; no pickle: loading it executes no code).
It holds every leaf of the state (membranes, synapses, delay buffers, plastic weights, the
inputs' and modulators' states, the step counter and the PRNG key as its raw key data) and of
the params, each under its pytree path, plus a JSON header: the format version, dt, the time,
the key's implementation and the network's :func:`fingerprint` with the description it was
computed from. Loading rebuilds the pytrees from ``net`` itself (a fresh state and
``net.params()`` as templates) and fills them leaf by leaf, so a checkpoint of another network
(other populations, sizes, models, connectivity or weights) is refused with what differs, and
a leaf of the wrong shape or dtype with its path. A run resumed from a checkpoint gives bitwise
the spikes of the uninterrupted run (tested across processes).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._files import bad_file, read_npz, write_atomically
from ..events.delays import CHUNK
from ..events.jitconn import JitConn
from .model import Network
from .step import NetworkState, init_state

FORMAT = "neurosim-checkpoint/1"
_HEADER = "__header__"


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns."""

    state: NetworkState
    params: object          # NetParams
    dt: float               # ms
    t_ms: float             # the time the state is at


def _plain(value):
    """A JSON-able stand-in for an option value: numbers, strings and tuples of them as they
    are, anything else (a function, an object) by its type's name (never an address)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray) or isinstance(value, jax.Array):
        return _digest(value)
    return type(value).__qualname__


def _digest(array) -> str:
    a = np.ascontiguousarray(np.asarray(array))
    return f"{a.dtype.str}{list(a.shape)}:" + hashlib.sha256(a.tobytes()).hexdigest()[:16]


def _digest_delays(delay_ms) -> str:
    """Per-synapse delays (ms) digested as float64 rounded to 1e-6 ms, a few million at a time:
    the same delays given in float32 or float64 give the same digest, and no copy of them all
    is made."""
    d = np.asarray(delay_ms)
    h = hashlib.sha256()
    for a in range(0, d.size, CHUNK):
        h.update(np.ascontiguousarray(np.round(d[a:a + CHUNK].astype(np.float64), 6)).tobytes())
    return f"delays{list(d.shape)}:" + h.hexdigest()[:16]


def _options(obj) -> dict:
    out = {"type": type(obj).__qualname__}
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            out[f.name] = _plain(getattr(obj, f.name))
    return out


def describe(net: Network) -> dict:
    """The structure a checkpoint must match: populations (size, model and its options),
    projections (endpoints, connectivity and weights by digest, synapse, per-synapse
    mechanisms, delay), inputs, modulators and gap junctions (if any)."""
    if not isinstance(net, Network):
        raise ValueError(f"net must be an ns.Network, got {type(net).__name__}")
    pops = {p.name: {"n": p.n, "model": _options(p.model)} for p in net.populations}
    projections = {}
    for pr in net.projections:
        conn = pr.conn
        if isinstance(conn, JitConn):
            c = {"type": "JitConn", **{k: _plain(v) for k, v in sorted(vars(conn).items())}}
        else:
            c = {"type": "CSR", "n_pre": conn.n_pre, "n_post": conn.n_post, "indptr": _digest(conn.indptr),
                 "indices": _digest(conn.indices)}
        projections[pr.name] = {"pre": _plain(pr.pre), "post": _plain(pr.post), "conn": c,
                                "weights": _digest(np.asarray(pr.weights, float)), "synapse": _options(pr.synapse),
                                "delay_ms": pr.delay_ms if np.ndim(pr.delay_ms) == 0 else _digest_delays(pr.delay_ms), "chain": [_options(m) for m in pr.chain]}
        if pr.max_delay_ms is not None:     # (only then: the fingerprints of other networks stay what they were)
            projections[pr.name]["max_delay_ms"] = float(pr.max_delay_ms)
    inputs = {i.name: {"target": _plain(i.target), "source": _options(i.source)} for i in net.inputs}
    modulators = {m.name: {"size": m.size, "tau": m.tau} for m in net.modulators}
    out = {"populations": pops, "projections": projections, "inputs": inputs, "modulators": modulators}
    if net.gap_junctions:       # (only then: the fingerprints of networks without them stay what they were)
        out["gap_junctions"] = {
            gj.name: {"pre": _plain(gj.pre), "post": _plain(gj.post), "symmetric": bool(gj.symmetric),
                      "conn": {"type": "CSR", "n_pre": gj.conn.n_pre, "n_post": gj.conn.n_post,
                               "indptr": _digest(gj.conn.indptr), "indices": _digest(gj.conn.indices)},
                      "weights": _digest(np.asarray(gj.weights, float))}
            for gj in net.gap_junctions}
    return out


def fingerprint(net: Network) -> str:
    """A SHA-256 of :func:`describe`: equal for networks built the same way (in any process)."""
    text = json.dumps(describe(net), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _leaves(tree, prefix: str) -> dict:
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        out[prefix + jax.tree_util.keystr(path)] = leaf
    return out


def save_checkpoint(path, net: Network, state, params=None) -> Path:
    """Write ``state`` (a :class:`~neurosim.network.simulate.SimResult` or a NetworkState made
    for ``net``) and ``params`` (default ``net.params()``) to ``path`` (``.npz`` is appended if
    missing). Returns the path written."""
    from .simulate import SimResult
    from .step import check_state

    if isinstance(state, SimResult):
        state = state.state
    if not isinstance(state, NetworkState):
        raise ValueError(f"state must be a SimResult or a NetworkState, got {type(state).__name__}")
    if state.dt is None:
        raise ValueError("state has no dt: make it with init_state(net, params, key, dt) or take it from simulate")
    check_state(net, state, state.dt)
    params = net.params() if params is None else params
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    if not path.parent.is_dir():
        raise ValueError(f"path: the directory {str(path.parent)!r} does not exist")
    impl = str(jax.random.key_impl(state.key))
    arrays = {}
    for name, leaf in {**_leaves(state._replace(key=jax.random.key_data(state.key)), "state"),
                       **_leaves(params, "params")}.items():
        if isinstance(leaf, jax.core.Tracer):
            raise ValueError(f"save_checkpoint needs concrete values, but {name} is traced (inside jit/vmap/grad)")
        arrays[name] = np.asarray(leaf)
    header = {"format": FORMAT, "dt": float(state.dt), "t_steps": int(state.t), "key_impl": impl,
              "fingerprint": fingerprint(net), "description": describe(net)}
    arrays[_HEADER] = np.array(json.dumps(header))
    return write_atomically(path, lambda f: np.savez(f, **arrays), "save_checkpoint")


def _fill(template, prefix: str, stored, where: str):
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for p, leaf in flat:
        name = prefix + jax.tree_util.keystr(p)
        if name not in stored:
            raise ValueError(f"{where}: the checkpoint has no {name}: it was written for another network or version")
        value = stored[name]
        want = np.asarray(leaf)
        if value.shape != want.shape or value.dtype != want.dtype:
            raise ValueError(f"{where}: {name} is {value.dtype}{list(value.shape)} in the checkpoint but this network "
                             f"needs {want.dtype}{list(want.shape)} (float64 checkpoints need jax_enable_x64, and back)")
        leaves.append(jnp.asarray(value))
    extra = sorted(k for k in stored if k.startswith(prefix) and k not in
                   {prefix + jax.tree_util.keystr(p) for p, _ in flat})
    if extra:
        raise ValueError(f"{where}: the checkpoint holds {extra[:3]} which this network has no place for")
    return jax.tree_util.tree_unflatten(treedef, leaves)


# what a header holds: its fields and a check of each value
_WANTED = {"dt": "a positive number (ms)", "t_steps": "an integer >= 0 (the step)",
           "key_impl": "a string (the PRNG's name)", "fingerprint": "a string (the network's fingerprint)",
           "description": "an object (the network's description)"}
_FIELDS = {"dt": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf"),
           "t_steps": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
           "key_impl": lambda v: isinstance(v, str), "fingerprint": lambda v: isinstance(v, str),
           "description": lambda v: isinstance(v, dict)}


def _header(stored: dict, path) -> dict:
    """The checked JSON header of a checkpoint's arrays (removed from ``stored``)."""
    def bad(why):
        return bad_file("load_checkpoint", path, "a neurosim checkpoint", why)
    if _HEADER not in stored:
        raise bad(f"no {_HEADER} entry; it holds {sorted(stored)[:5]}")
    try:
        header = json.loads(str(stored.pop(_HEADER)))
    except json.JSONDecodeError as e:
        raise bad(f"its header is not JSON: {e}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else header
        raise bad(f"its header names the format {found!r}; this version reads {FORMAT!r}")
    wrong = [k for k, ok in _FIELDS.items() if k not in header or not ok(header[k])]
    if wrong:
        k = wrong[0]
        found = f"{header[k]!r}" if k in header else "nothing"
        raise bad(f"its header's {k!r} is {found}, where {_WANTED[k]} is expected"
                  + (f" (and {len(wrong) - 1} more field(s) are wrong: {wrong[1:]})" if len(wrong) > 1 else ""))
    return header


def load_checkpoint(path, net: Network) -> Checkpoint:
    """The state, params, dt and time saved in ``path``, checked against ``net`` (module
    docstring). Refuses a checkpoint of another network, naming what differs."""
    path = Path(path)
    where = f"load_checkpoint({str(path)!r})"
    if not path.is_file():
        raise ValueError(f"{where}: no such file")
    stored = read_npz(path, "load_checkpoint", "a neurosim checkpoint")
    header = _header(stored, path)
    if header["fingerprint"] != fingerprint(net):
        mine, theirs = describe(net), header["description"]
        differ = [k for k in mine if json.dumps(mine[k], sort_keys=True) != json.dumps(theirs.get(k), sort_keys=True)]
        detail = []
        for k in differ:
            their = theirs.get(k) if isinstance(theirs.get(k), dict) else {}
            names = sorted(set(mine[k]) ^ set(their))
            changed = sorted(n for n in set(mine[k]) & set(their) if mine[k][n] != their[n])
            detail.append(f"{k}" + (f" (only in one: {names})" if names else "") + (f" (changed: {changed})" if changed else ""))
        raise ValueError(f"{where}: the checkpoint was written for another network; its {', '.join(detail)} differ "
                         "from this network's. Load it with the network it was saved from.")
    dt = float(header["dt"])
    template = init_state(net, net.params(), 0, dt)
    raw = _fill(template._replace(key=jax.random.key_data(template.key)), "state", stored, where)
    try:
        state = raw._replace(key=jax.random.wrap_key_data(raw.key, impl=header["key_impl"]))
    except (ValueError, TypeError) as e:
        raise bad_file("load_checkpoint", path, "a neurosim checkpoint", f"its PRNG key does not load: {e}") from None
    params = _fill(net.params(), "params", stored, where)
    return Checkpoint(state, params, dt, int(header["t_steps"]) * dt)
