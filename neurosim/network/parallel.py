"""Neuron-parallel simulation: one network spread over the devices of a mesh
(``simulate(..., engine="parallel", devices=D)``).

**What each device holds.** Every population is cut into D equal contiguous blocks, one per
device of a one-axis mesh (axis ``"neurons"``). Device k owns, for its block of neurons:

- the neuron state and per-neuron parameters of its block;
- the synapse state of every projection onto its block, and the synapses themselves: each
  projection's CSR restricted to the postsynaptic neurons of the block, in the global order
  (so every neuron sums its inputs in the same order as on one device);
- the state of the inputs onto its block.

The delay buffers hold presynaptic spikes of the whole population (full width) and are the same
on every device.

**Spike exchange, once per window.** Spikes cross between devices once per window of
``w`` steps, ``w`` the shortest delay of any projection in steps (the scheme of NEST and NEST
GPU). A spike emitted in step t through a projection of delay D is delivered in step
t + D - 1 (a delay of one step delivers it in the step that emits it, to act on the next
step's current). So every delivery inside a window reads spikes of earlier windows, except
in the window's last step. There, after the neurons have stepped and before the projections
deliver, one ``all_gather`` per population brings the window's spikes to every device: w x n/D
bits from each device where the blocks are whole bytes, else w x n/D bytes. They are written
into the delay buffers where later steps will read them. At the end of every window the state
is exactly the one-device state.

Within one host: the mesh is made of ``jax.local_devices()``. A network spread over the devices
of several processes (``jax.distributed``) is not built.

**Exactly the one-device run.**
- Neurons and inputs step elementwise. The counter-based draws of Poisson and noise inputs and
  of sources are functions of the global neuron index (``first``; :mod:`neurosim.inputs.draws`). Initial
  values are drawn on one device and then cut into blocks.
- The synapses onto a neuron are summed in the same order.

So the spike trains are bitwise those of ``engine="scan"``; the tests check it on 4 host
devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``).

**What it runs.** Models whose code shows how a block of them steps (:func:`partition`, derived
from the model's own step, not declared by it): *elementwise* ones, whose step the native
engine's lowering takes element by element without an element index (LIF, AdaptiveLIF, AdEx,
Izhikevich, MultiRate, Li-Rinzel astrocytes without gap junctions, ConstantCurrent, a model of
your own of that kind), and *indexed* ones, whose step takes ``first=``, the global index of the
block's first neuron (PoissonSource, SpikeTimes, PoissonInput, GaussianCurrent, UniformCurrent);
stored (CSR) static projections and inputs onto whole populations; ``Spikes`` and ``Rate``
monitors. Anything else is refused by name (:func:`parallel_reason`).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from .. import _checks
from ..events import CSR
from ..engines.base import Runner
from ..engines.chunks import Chunk, signature, spike_events
from .model import Network, float_dtype
from .monitors import Rate, Spikes
from .step import advance, delay_depths, learns_delays, per_synapse_delays

AXIS = "neurons"


def _takes_first(fn) -> bool:
    try:
        return "first" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def partition(obj, params, n: int):
    """How a block of the ``n`` elements of ``obj`` (a neuron model, or an input's source)
    steps, derived from the model's own code, not declared by it: ``"indexed"`` when its ``step``
    (``current`` for an input) takes ``first=``, the global index of the block's first element
    (counter-based draws); ``"elementwise"`` when it lowers element by element and reads no
    element index (the native engine's lowering, :func:`neurosim.engines.native.lower.lower`).
    Returns ``(kind, per_element)``, ``per_element`` saying which leaves of its state hold one
    value per element (the others every block shares), or a string saying why neither holds."""
    from ..engines.native.engine import _param_elems, _per_element
    from ..engines.native.lower import Unlowerable, lower

    source = not hasattr(obj, "step")
    try:
        per_element = _per_element(obj.init, params, n)
    except Unlowerable as err:
        return f"its state cannot be cut into blocks ({err.detail})"
    fn = obj.current if source else obj.step
    if _takes_first(fn):
        return "indexed", per_element
    state = obj.init(params, n, jax.random.key(0))
    dt = 0.1
    try:
        if source:
            u = lower(type(obj).__name__, lambda a, s, t, k, v: obj.current(a, s, t, dt, k, v),
                      [params, state, jnp.zeros((), jnp.int32), jax.random.key(0), jnp.zeros((n,), float_dtype())],
                      ["static", "dynamic", "dynamic", "dynamic", "dynamic"],
                      [_param_elems(params, n), per_element, False, False, True], n)
        else:
            u = lower(type(obj).__name__, lambda a, s, i: obj.step(a, s, i, dt), [params, state, jnp.zeros((n,), float_dtype())],
                      ["static", "dynamic", "dynamic"], [_param_elems(params, n), per_element, True], n)
    except Unlowerable as err:
        return f"it takes no first= and is not elementwise ({err.primitive or 'its code'}: {err.detail})"
    if "iota" in u.primitives:
        return "it reads the element index but takes no first= (the block's offset)"
    return "elementwise", per_element


def partitions(net: Network) -> dict:
    """:func:`partition` of every population and input of ``net`` (by name), kept on the network."""
    key = ("parallel-partitions",)
    if key not in net._cache:
        params = net.params()
        out = {p.name: partition(p.model, params.neurons[p.name], p.n) for p in net.populations}
        for inp in net.inputs:
            tgt, a, b = net._refs[inp.name][0]
            out[inp.name] = partition(inp.source, params.inputs[inp.name], b - a)
        net._cache[key] = out
    return net._cache[key]


class LocalConns(NamedTuple):
    """One projection's synapses split by the device that owns their postsynaptic neuron: row
    k holds device k's, as a CSR over all presynaptic neurons and the block's postsynaptic ones,
    padded to the longest (padding points past the block, so it is dropped)."""

    indptr: jax.Array   # (D, n_pre + 1) int32
    indices: jax.Array  # (D, L) int32, local postsynaptic index (L = the block's size for padding)
    rows: jax.Array     # (D, L) int32, presynaptic index
    perm: jax.Array     # (D, L) int32, the synapse's index in the projection's (nnz,) weights
    valid: jax.Array    # (D, L) bool, False for padding


def split_csr(conn: CSR, n_devices: int) -> tuple[LocalConns, int]:
    """``conn`` cut by postsynaptic block: the :class:`LocalConns` and the longest local row."""
    m = conn.n_post // n_devices
    indptr, indices = np.asarray(conn.indptr), np.asarray(conn.indices)
    rows = np.repeat(np.arange(conn.n_pre, dtype=np.int32), np.diff(indptr))
    owner = indices // m
    length = max(1, int(np.bincount(owner, minlength=n_devices).max()) if indices.size else 1)
    out = {f: [] for f in LocalConns._fields}
    max_row = 0
    for k in range(n_devices):
        (sel,) = np.nonzero(owner == k)           # global synapse ids, in CSR order
        counts = np.bincount(rows[sel], minlength=conn.n_pre)
        max_row = max(max_row, int(counts.max()) if counts.size else 0)
        pad = length - sel.size
        out["indptr"].append(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
        out["indices"].append(np.concatenate([indices[sel] - k * m, np.full(pad, m)]).astype(np.int32))
        out["rows"].append(np.concatenate([rows[sel], np.zeros(pad)]).astype(np.int32))
        out["perm"].append(np.concatenate([sel, np.zeros(pad)]).astype(np.int32))
        out["valid"].append(np.arange(length) < sel.size)
    return LocalConns(*(jnp.asarray(np.stack(out[f])) for f in LocalConns._fields)), max_row


def _whole(net, ref) -> bool:
    name, a, b = ref
    return (a, b) == (0, net.population(name).n)


def parallel_reason(net: Network, monitors, n_devices: int) -> str | None:
    """Why ``net`` cannot run neuron-parallel on ``n_devices`` devices with these monitors, or
    None when it can."""
    kinds = partitions(net)
    for p in net.populations:
        if isinstance(kinds[p.name], str):
            return (f"population {p.name!r}: its model {type(p.model).__name__} does not say how a block of its neurons "
                    f"steps: {kinds[p.name]}")
        if p.n % n_devices:
            return (f"population {p.name!r} has {p.n} neurons, which {n_devices} devices do not divide: every "
                    f"population's size must be a multiple of the device count (here of {n_devices})")
    for pr in net.projections:
        if not isinstance(pr.conn, CSR):
            return f"projection {pr.name!r} has procedural connectivity ({type(pr.conn).__name__}); a stored CSR is needed"
        if learns_delays(pr):
            return (f"projection {pr.name!r} learns its delays (max_delay_ms), which only the scan engine runs")
        if per_synapse_delays(pr):
            return (f"projection {pr.name!r} has per-synapse delays, which the neuron-parallel engine does not implement yet "
                    "(the scan and the native engine run them)")
        if pr.chain:
            kinds = ", ".join(m.key for m in pr.chain)
            return (f"projection {pr.name!r} has per-synapse dynamics ({kinds}); neuron-parallel runs take static "
                    "projections only")
        if not _whole(net, net._refs[pr.name][1]):
            return f"projection {pr.name!r} targets a slice of population {net._refs[pr.name][1][0]!r}; it must target a whole population"
    if net.gap_junctions:
        return (f"gap junction {net.gap_junctions[0].name!r} reads membrane potentials of neurons on other devices "
                "every step; the neuron-parallel engine exchanges spikes only, once per window")
    for inp in net.inputs:
        if isinstance(kinds[inp.name], str):
            return (f"input {inp.name!r}: its source {type(inp.source).__name__} does not say how a block of neurons "
                    f"draws it: {kinds[inp.name]}")
        if not _whole(net, net._refs[inp.name][0]):
            return f"input {inp.name!r} targets a slice of population {net._refs[inp.name][0][0]!r}; it must target a whole population"
    if net.modulators:
        return f"the network has modulators ({', '.join(m.name for m in net.modulators)}), which read every neuron each step"
    for m in monitors:
        if not isinstance(m, (Spikes, Rate)):
            return f"monitor {type(m).__name__} is not recorded by the parallel engine (Spikes and Rate are)"
    return None


def local_devices(devices) -> list:
    """The devices of a run: ``None`` (all local ones), a count (the first ones) or a list."""
    present = jax.local_devices()
    if devices is None:
        return present
    if isinstance(devices, (list, tuple)):
        if not devices:
            raise ValueError("devices must name at least one device, got an empty list")
        return list(devices)
    k = _checks.count("devices", devices, minimum=1)
    if k > len(present):
        raise ValueError(f"devices={k} asked, but only {len(present)} {present[0].platform} device(s) are present; "
                         "on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N (set before jax is imported) "
                         "makes N")
    return present[:k]


@dataclass(frozen=True, eq=False)
class ParallelPlan:
    """A network cut over a mesh: the devices, the window (steps between exchanges) and every
    projection's synapses by device."""

    net: Network
    dt: float
    mesh: Mesh
    window: int | None             # None: no projection, nothing to exchange
    conns: dict                    # projection name -> LocalConns
    max_row: dict                  # projection name -> the longest local row

    @property
    def n_devices(self) -> int:
        return self.mesh.devices.size

    def block(self, pop: str) -> int:
        return self.net.population(pop).n // self.n_devices


def parallel_plan(net: Network, dt: float, monitors=(), devices=None) -> ParallelPlan:
    """The plan of a neuron-parallel run, or a ValueError naming what stands in the way."""
    devs = local_devices(devices)
    reason = parallel_reason(net, monitors, len(devs))
    if reason is not None:
        raise ValueError(f"engine='parallel' cannot run this simulation: {reason}")
    key = ("parallel-plan", dt, tuple(d.id for d in devs))
    plan = net._cache.get(key)
    if plan is None:
        delays = delay_depths(net, dt)
        conns, max_row = {}, {}
        for pr in net.projections:
            conns[pr.name], max_row[pr.name] = split_csr(pr.conn, len(devs))
        plan = ParallelPlan(net, dt, Mesh(np.asarray(devs), (AXIS,)), min(delays.values()) if delays else None,
                            conns, max_row)
        net._cache[key] = plan
    return plan


# --------------------------------------------------------------------------- the layout of a block
class Block:
    """The layout (:class:`~neurosim.network.step.OneDevice`) of device ``k``'s block of every
    population inside a window. ``history`` (population -> (j, n/D) spikes of the window's
    earlier steps) is given in the window's last step, which exchanges the window's spikes;
    None in the others, which read the delay buffers only."""

    def __init__(self, plan: ParallelPlan, k, history=None):
        self.plan, self.k, self.history = plan, k, history
        self.gathered = {}

    def size(self, pop) -> int:
        return self.plan.block(pop.name)

    def local(self, ref) -> tuple:
        return (ref[0], 0, self.plan.block(ref[0]))      # whole populations only (parallel_reason)

    def first(self, name):
        net = self.plan.net
        pop = name if name in net._pops else net._refs[name][0][0]
        return self.k * self.plan.block(pop) if partitions(net)[name][0] == "indexed" else None

    def _window(self, pop, spikes):
        """The window's spikes of the whole population ``pop``: (steps, n), one all_gather."""
        if pop not in self.gathered:
            mine = jnp.concatenate([self.history[pop], spikes[pop][None]]) > 0
            m = self.plan.block(pop)
            if self.plan.n_devices == 1:    # nothing to exchange
                whole = mine
            elif m % 8 == 0:      # 1 bit per neuron and step on the wire (blocks of whole bytes)
                whole = jax.lax.all_gather(jnp.packbits(mine, axis=1, bitorder="little"), AXIS, axis=1, tiled=True)
                whole = jnp.unpackbits(whole, axis=1, count=m * self.plan.n_devices, bitorder="little")
            else:               # 1 byte
                whole = jax.lax.all_gather(mine.astype(jnp.uint8), AXIS, axis=1, tiled=True)
            self.gathered[pop] = whole.astype(spikes[pop].dtype)
        return self.gathered[pop]

    def delayed(self, pr, pre_ref, buf, t, spikes):
        depth = buf.shape[0]                 # delay - 1
        if self.history is None:             # not the exchange step: delay > window position, in the buffer
            return buf[t % depth], buf
        name, a, b = pre_ref
        window = self._window(name, spikes)[:, a:b]
        length, delay = window.shape[0], depth + 1
        # the spikes of step t - delay + 1 (this window's first when delay == length)
        delayed = window[length - delay] if delay <= length else buf[t % depth]
        # the window's spikes that later steps read go where the one-device ring would hold them
        keep = np.arange(max(0, length - delay + 1), length)
        if depth and keep.size:
            slots = (t - (length - 1) + jnp.asarray(keep, jnp.int32)) % depth
            buf = buf.at[slots].set(window[keep])
        return delayed, buf


# --------------------------------------------------------------------------- shardings
def _spec_tree(tree, n: int, per_element=None):
    """P(AXIS) for every leaf of ``tree`` with a leading axis of ``n`` (per neuron), P() for the
    others; ``per_element`` (a tree of bools, :func:`partition`'s) says it leaf by leaf instead."""
    if per_element is not None:
        return jax.tree.map(lambda e: P(AXIS) if e else P(), per_element)
    return jax.tree.map(lambda x: P() if np.ndim(x) == 0 or np.shape(x)[0] != n else P(AXIS), tree)


def _state_specs(net, state):
    pops = net._pops
    kinds = partitions(net)
    neurons = {p.name: _spec_tree(state.neurons[p.name], p.n, kinds[p.name][1]) for p in net.populations}
    synapses = {pr.name: _spec_tree(state.synapses[pr.name], pops[net._refs[pr.name][1][0]].n)
                for pr in net.projections}
    inputs = {i.name: _spec_tree(state.inputs[i.name], pops[net._refs[i.name][0][0]].n, kinds[i.name][1])
              for i in net.inputs}
    return state._replace(t=P(), key=P(), neurons=neurons, synapses=synapses,
                          delays=jax.tree.map(lambda _: P(), state.delays), inputs=inputs,
                          dynamics={}, weights={}, modulators={})


def _param_specs(net, params):
    pops = net._pops
    neurons = {p.name: _spec_tree(params.neurons[p.name], p.n) for p in net.populations}
    projections = {name: pp._replace(weights=P() if np.ndim(pp.weights) == 0 else P(AXIS),
                                     synapse=jax.tree.map(lambda _: P(), pp.synapse), dynamics={}, delays=None)
                   for name, pp in params.projections.items()}
    inputs = {i.name: _spec_tree(params.inputs[i.name], pops[net._refs[i.name][0][0]].n) for i in net.inputs}
    return params._replace(neurons=neurons, projections=projections, inputs=inputs)


def _place(tree, specs, mesh):
    return jax.device_put(tree, jax.tree.map(lambda s: NamedSharding(mesh, s), specs,
                                             is_leaf=lambda x: isinstance(x, P)))


def _local_weights(plan, params):
    """Each projection's weights by device, (D, L) (zero at padding), or its scalar."""
    out = {}
    for name, lc in plan.conns.items():
        w = params.projections[name].weights
        out[name] = w if jnp.ndim(w) == 0 else jnp.where(lc.valid, jnp.asarray(w)[lc.perm], jnp.zeros((), w.dtype))
    return out


def _make_chunk(plan: ParallelPlan, spiking, rating, n_windows: int, length: int):
    """A jitted function advancing ``n_windows`` windows of ``length`` steps; it returns the
    state, the spikes of the populations in ``spiking`` packed 1 bit per neuron and step (on
    the device, step by step, where the blocks are whole bytes) and the spike counts of those in
    ``rating``."""
    net, dt, mesh = plan.net, plan.dt, plan.mesh
    pres = sorted({net._refs[pr.name][0][0] for pr in net.projections})
    packed = {p: plan.block(p) % 8 == 0 for p in spiking}

    def record(spk):
        bits = {p: jnp.packbits(spk[p] > 0, bitorder="little") if packed[p] else spk[p] > 0 for p in spiking}
        counts = {p: jnp.sum(spk[p] > 0, dtype=jnp.int32)[None] for p in rating}
        return bits, counts

    def body(params, state, lcs):
        k = jax.lax.axis_index(AXIS)
        conns = {}
        for pr in net.projections:
            lc = lcs[pr.name]
            aux = (pr.conn.n_pre, plan.block(net._refs[pr.name][1][0]), plan.max_row[pr.name], None)
            conns[pr.name] = CSR.tree_unflatten(aux, (lc.indptr[0], lc.indices[0], lc.rows[0]))
        params = params.with_weights({name: pp.weights if jnp.ndim(pp.weights) == 0 else pp.weights[0]
                                      for name, pp in params.projections.items()})

        def window(s, _):
            def inner(carry, j):
                s, hist = carry
                s, spk = advance(net, params, s, dt, conns, Block(plan, k))
                return (s, {p: hist[p].at[j].set(spk[p]) for p in pres}), record(spk)

            hist = {p: jnp.zeros((length - 1, plan.block(p)), float_dtype()) for p in pres}
            if length > 1:
                (s, hist), rec = jax.lax.scan(inner, (s, hist), jnp.arange(length - 1))
            s, spk = advance(net, params, s, dt, conns, Block(plan, k, hist))
            last = record(spk)
            if length > 1:
                last = jax.tree.map(lambda r, x: jnp.concatenate([r, x[None]]), rec, last)
            else:
                last = jax.tree.map(lambda x: x[None], last)
            return s, last

        state, rec = jax.lax.scan(window, state, None, length=n_windows)
        return state, jax.tree.map(lambda r: r.reshape((n_windows * length, -1)), rec)

    def chunk(params, state, lcs):
        params = params.with_weights(_local_weights(plan, params))
        sspec = _state_specs(net, state)
        # check_vma off: the compiled event kernels do not carry the varying-axis types through;
        # what is replicated (t, key, the delay buffers) is replicated by construction
        local = jax.shard_map(body, mesh=mesh, check_vma=False,
                              in_specs=(_param_specs(net, params), sspec,
                                        {name: LocalConns(*[P(AXIS)] * 5) for name in lcs}),
                              out_specs=(sspec, ({p: P(None, AXIS) for p in spiking},
                                                 {p: P(None, AXIS) for p in rating})))
        state, (bits, counts) = local(params, state, lcs)
        out = {"spikes": {p: b if packed[p] else jnp.packbits(b, axis=-1, bitorder="little") for p, b in bits.items()},
               "rates": {p: jnp.sum(c, axis=-1).astype(jnp.float32) / (net._pops[p].n * dt * 1e-3)
                         for p, c in counts.items()}}
        return state, out

    return jax.jit(chunk)


class ParallelEngine(Runner):
    """The neuron-parallel engine of :func:`~neurosim.network.simulate.drive`: chunks of whole
    windows (the last may be shorter), each one compiled program over the mesh."""

    name = "parallel"

    def __init__(self, plan: ParallelPlan, monitors, n_steps: int, chunk_steps: int | None, max_chunk_bytes: float):
        self.p, self.monitors = plan, monitors
        self.spiking = sorted({m.pop for m in monitors if isinstance(m, Spikes)})
        self.rating = sorted({m.pop for m in monitors if isinstance(m, Rate)})
        self._placed = None        # (params, their copy on the mesh): placed once per run
        self._conns = _place(plan.conns, {n: LocalConns(*[P(AXIS)] * 5) for n in plan.conns}, plan.mesh)
        if chunk_steps is None:
            per_step = (sum((plan.net.population(p).n + 7) // 8 for p in self.spiking) + 4 * len(self.rating)) or 1
            chunk_steps = max(1, min(int(max_chunk_bytes // per_step), 20_000))
        w = plan.window or chunk_steps
        windows = max(1, chunk_steps // w)
        n_full, rest = divmod(n_steps, windows * w)
        items = [(windows, w)] * n_full
        if rest // w:
            items.append((rest // w, w))
        if rest % w:
            items.append((1, rest % w))
        self.plan = items

    @staticmethod
    def steps(item) -> int:
        return item[0] * item[1]

    def cache_key(self, item, params, state):
        return ("parallel", signature(params, state), tuple(self.spiking), tuple(self.rating), self.p.dt,
                tuple(d.id for d in self.p.mesh.devices.flat)) + tuple(item)

    def _args(self, params, state):
        """The chunk's arguments on the mesh: params replicated (the chunk cuts the weights by
        device), the state by block, the synapses by device."""
        net, mesh = self.p.net, self.p.mesh
        if self._placed is None or self._placed[0] is not params:
            self._placed = (params, _place(params, jax.tree.map(lambda _: P(), params), mesh))
        return self._placed[1], _place(state, _state_specs(net, state), mesh), self._conns

    def compile(self, item, params, state):
        return _make_chunk(self.p, self.spiking, self.rating, *item).lower(*self._args(params, state)).compile()

    def run(self, fn, params, state, done):
        state, out = fn(*self._args(params, state))
        # back on one device, so the result's state (and one passed on to another run) is an ordinary one
        return jax.device_put(state, self.p.mesh.devices.flat[0]), out

    def to_host(self, raw, item, done):
        steps = self.steps(item)
        spikes = {p: spike_events(np.asarray(packed).reshape(steps, -1)) for p, packed in raw["spikes"].items()}
        rates = {p: np.asarray(r).reshape(-1) for p, r in raw["rates"].items()}
        return Chunk(steps, spikes, rates, {}, {})
