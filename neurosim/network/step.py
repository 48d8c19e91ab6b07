"""Stage 5, the step: one pure function that advances a whole network by dt.

    state' , spikes = step(net, params, state, dt)

In data-flow order, for every population:
  1. current  = sum of its synapses' outputs (at the membrane potential of the step's start)
               and external inputs: first those onto the whole population (projections, then
               inputs, in network order), then those onto a slice of it; then the currents of
               the gap junctions (:mod:`neurosim.network.gap`), from the same potentials
  2. neurons  : (params, state, current, dt) -> (state, spikes)                [stage 1]
  3. modulators: decay, scheduled jumps and closed-loop drive from this step's spikes
  then for every projection:
  4. dynamics : each per-synapse mechanism's ``modulate`` -> delivered weights (STP release)
  5. events   : delayed presynaptic spikes x CSR x delivered weights -> drive  [stage 2]
  6. synapses : drive -> synaptic state (used by the next step's current)       [stage 3]
  7. dynamics : each mechanism's ``update`` -> stored weights (plasticity)      [stage 4]
Delays are ring buffers of presynaptic spike vectors, ``delay - 1`` deep; a projection with
per-synapse delays keeps a ring of postsynaptic input instead (:mod:`neurosim.events.delays`),
unless it also has per-synapse dynamics: it then runs as one one-delay projection per distinct
delay (:func:`_deliver_groups`, :func:`_update_groups`), reading each group's presynaptic
spikes from one buffer as deep as its longest delay, so that every mechanism sees a spike when
it arrives at the synapse (the whole delay is axonal). A projection whose
chain (:mod:`neurosim.synapses.dynamics`) holds a plastic mechanism keeps its weights in
``state.weights``; every other projection reads ``params``.

:func:`advance` is the step itself, for the neurons a *layout* places in the state:
:class:`OneDevice` (all of them: what :func:`step` uses) or a block of every population on one
device of a neuron-parallel run (:mod:`neurosim.network.parallel`). The layout says how many
neurons each population has here, which global index the first one has (the Poisson draws are
functions of it) and how delayed presynaptic spikes arrive; nothing else in the step knows.

The state belongs to one network and one ``dt``: delay depths and schedules are derived from
dt when the state is made, so :func:`step`, ``run`` and ``simulate`` refuse a state made for
another dt (``state.dt`` is static data of the pytree) or for another network.
"""
from __future__ import annotations

import dataclasses
import numbers
import weakref

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..events import default_capacity, propagate
from ..events.delays import (CHUNK, DelayRing, GroupedCSR, deliver, deliver_fractional, learnable_ring, ring_slots, ring_state,
                             synapse_depth, synapse_steps)
from ..synapses.dynamics import SynapseShape, SynapticEvents
from ..synapses.kinetics import decay_time
from .gap import add_currents as add_gap_currents
from .model import Network, float_dtype


@dataclasses.dataclass(frozen=True)
class NetworkState:
    """The state of a network at the start of step ``t``. A pytree whose leaves are the
    arrays below; ``dt`` (ms) is static data, the step the state was made for."""

    t: jax.Array             # () int32, index of the next step
    key: jax.Array           # PRNG key for the inputs' randomness
    neurons: dict            # population name -> neuron state
    synapses: dict           # projection name -> synapse state (per postsynaptic neuron)
    delays: dict             # projection name -> (delay - 1, n_pre) buffer of past spikes
    inputs: dict             # input name -> input state
    dynamics: dict = dataclasses.field(default_factory=dict)    # projection -> {mechanism key -> state}
    weights: dict = dataclasses.field(default_factory=dict)     # plastic projection -> (nnz,) weights
    modulators: dict = dataclasses.field(default_factory=dict)  # modulator name -> ModulatorState
    dt: float | None = None  # ms (static)

    def _replace(self, **changes) -> "NetworkState":
        return dataclasses.replace(self, **changes)


jax.tree_util.register_dataclass(
    NetworkState,
    data_fields=["t", "key", "neurons", "synapses", "delays", "inputs", "dynamics", "weights", "modulators"],
    meta_fields=["dt"],
)


def delay_steps(net: Network, dt: float) -> dict:
    """Projection name -> its delay in steps of ``dt``: an int, or an (nnz,) int32 array for a
    projection with per-synapse delays."""
    return {pr.name: projection_steps(pr, dt) for pr in net.projections}


def projection_steps(pr, dt: float):
    """``pr``'s delay in steps of ``dt``: an int, or an (nnz,) int32 array for per-synapse delays
    (for learnable delays, which are params: the ring's depth)."""
    if learns_delays(pr):
        return projection_depth(pr, dt)
    if pr.delay_ms is None:
        return 1
    if per_synapse_delays(pr):
        return synapse_steps(f"Projection {pr.name!r}: delay_ms", pr.delay_ms, dt)
    return _checks.whole_steps(f"Projection {pr.name!r}: delay_ms", pr.delay_ms, dt, minimum=1)


def delay_depths(net: Network, dt: float) -> dict:
    """Projection name -> its longest delay in steps of ``dt`` (every delay checked, none kept:
    what the rings' depths need), cached on the network for each ``dt``."""
    key = ("delay depths", float(dt))
    if key not in net._cache:
        net._cache[key] = {pr.name: projection_depth(pr, dt) for pr in net.projections}
    return net._cache[key]


def projection_depth(pr, dt: float) -> int:
    """``pr``'s longest delay in steps of ``dt``, every delay checked (learnable delays: the
    whole steps of ``max_delay_ms``, at least two)."""
    if learns_delays(pr):
        depth = _checks.whole_steps(f"Projection {pr.name!r}: max_delay_ms", pr.max_delay_ms, dt, minimum=2)
        short = np.asarray(pr.delay_ms) < dt * (1 - 1e-6)
        if np.any(short):      # clipped to one step in every run, it would never learn
            k = int(np.argmax(short))
            raise ValueError(f"Projection {pr.name!r}: the initial learnable delay delay_ms[{k}] = "
                             f"{float(pr.delay_ms[k])!r} ms is shorter than one step of dt = {dt!r} ms "
                             f"({int(short.sum())} synapse(s) like it); a learnable delay is at least one step")
        return depth
    if per_synapse_delays(pr):
        return synapse_depth(f"Projection {pr.name!r}: delay_ms", pr.delay_ms, dt)
    return projection_steps(pr, dt)


def learns_delays(pr) -> bool:
    """Whether ``pr`` learns its delays (``max_delay_ms``): they are then params, read by the
    step, and its state a :class:`DelayRing` whose slots are the targets."""
    return pr.max_delay_ms is not None


def per_synapse_delays(pr) -> bool:
    """Whether ``pr`` gives each synapse its own delay (its state is then a :class:`DelayRing`,
    or a buffer of past spikes where it has :func:`delay_groups`)."""
    return pr.delay_ms is not None and np.ndim(pr.delay_ms) > 0


def delay_groups(pr) -> bool:
    """Whether ``pr`` runs as one group of synapses per delay (per-synapse delays and per-synapse
    dynamics; its ``conn`` is then a :class:`~neurosim.events.delays.GroupedCSR`)."""
    return isinstance(pr.conn, GroupedCSR)


def group_lags(pr, dt: float) -> np.ndarray:
    """Each delay group's delay in steps, less one: how many steps back its spikes were sent
    (``dt``: the step the state was made for, known when the step is traced; a delay that is
    not whole steps of it is refused by name). Also what the native engine's split network
    (:mod:`neurosim.engines.native.split`) reads."""
    return synapse_steps(f"Projection {pr.name!r}: delay_ms", pr.conn.delays_ms, dt) - 1


def in_group(tree, ids, nnz: int, where: str):
    """``tree`` (weights, a mechanism's params) for one delay group: each leaf with one value per
    synapse taken at the group's synapses ``ids``, scalars as they are."""
    def take(x):
        if np.shape(x) == ():
            return x
        if np.shape(x) != (nnz,):
            raise ValueError(f"{where}: with per-synapse delays every value must be a scalar or one per synapse, "
                             f"shape ({nnz},), got shape {np.shape(x)}")
        return jnp.asarray(x)[ids]
    return jax.tree.map(take, tree)


def _cast(tree, dtype):
    """Every floating leaf of ``tree`` in ``dtype`` (the network's float dtype)."""
    def cast(x):
        if isinstance(x, (np.ndarray, np.generic, float, int)):     # on the host: cast there, then one
            x = np.asarray(x)                                       # transfer (jnp.asarray of a numpy array
            x = x.astype(dtype) if np.issubdtype(x.dtype, np.floating) else x    # compiles a program per shape)
            return jax.device_put(x)
        x = jnp.asarray(x)
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x
    return jax.tree.map(cast, tree)


def init_state(net: Network, params: dict, key, dt: float) -> NetworkState:
    """The state at t = 0 (initial values drawn from ``key``) for steps of ``dt`` ms. Floats
    are float32, or float64 when ``jax_enable_x64`` is on."""
    dt = _checks.positive_finite("dt", dt)
    dtype = float_dtype()
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        key = jax.random.key(int(key))
    elif not (isinstance(key, jax.Array) and (jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                                              or (key.dtype == jnp.uint32 and key.shape == (2,)))):
        raise ValueError(f"key must be an integer seed or a jax.random.key(...), got {key!r}")
    keys = jax.random.split(key, 3)
    k_pop = jax.random.split(keys[0], len(net.populations))
    check_params_for_dt(net, params, dt)
    neurons = {p.name: p.model.init(params.neurons[p.name], p.n, k) for p, k in zip(net.populations, k_pop)}
    k_syn = jax.random.split(keys[1], len(net.projections) + len(net.inputs))
    synapses, delays, dynamics, weights = {}, {}, {}, {}
    cached, depths = net._cache.get(("delay depths", float(dt))), {}
    for pr, k in zip(net.projections, k_syn):
        (pre, post) = net._refs[pr.name]
        pp = params.projections[pr.name]
        n_pre, n_post = pre[2] - pre[1], post[2] - post[1]
        synapses[pr.name] = pr.synapse.init(pp.synapse, n_post, k)
        ring = per_synapse_delays(pr) and not delay_groups(pr) and not learns_delays(pr)
        if ring:    # the steps are checked once, here, and give the depth (full scale: ~5 s less)
            steps = projection_steps(pr, dt)
            depths[pr.name] = int(steps.max()) if steps.size else 1
        else:
            depths[pr.name] = cached[pr.name] if cached is not None else projection_depth(pr, dt)
        if delay_groups(pr):        # one buffer of past spikes, as deep as the longest delay
            delays[pr.name] = jax.device_put(np.zeros((depths[pr.name] - 1, n_pre), dtype))
        elif learns_delays(pr) or ring:
            if ring:
                delays[pr.name] = ring_state(pr.conn, steps, dtype, pr.name)
                del steps
            else:
                delays[pr.name] = learnable_ring(pr.conn, depths[pr.name], dtype, pr.name)
            if not _checks.traced(delays[pr.name].slot):   # (eval_shape traces init_state too)
                # made here for this network: check_structure need not compare it synapse by synapse
                net._cache[("ring slots", pr.name, float(dt))] = weakref.ref(delays[pr.name].slot)
        else:
            delays[pr.name] = jnp.zeros((depths[pr.name] - 1, n_pre), dtype)
        if delay_groups(pr):        # each mechanism: one state per delay group
            conn = pr.conn
            dynamics[pr.name] = {m.key: tuple(
                m.for_synapses(ids).init(in_group(pp.dynamics[m.key], ids, conn.nnz,
                                                   f"Projection {pr.name!r}: dynamics[{m.key!r}]"),
                                         SynapseShape(n_pre, n_post, int(ids.shape[0]), dtype))
                for ids in conn.ids) for m in pr.chain}
        elif pr.chain:
            shape = SynapseShape(n_pre, n_post, pr.conn.nnz, dtype)
            dynamics[pr.name] = {m.key: m.init(pp.dynamics[m.key], shape) for m in pr.chain}
        if pr.plastic:
            weights[pr.name] = jnp.broadcast_to(jnp.asarray(pp.weights, dtype), (pr.conn.nnz,))
    inputs = {}
    for inp, k in zip(net.inputs, k_syn[len(net.projections):]):
        (tgt,) = net._refs[inp.name]
        inputs[inp.name] = inp.source.init(params.inputs[inp.name], tgt[2] - tgt[1], k)
    net._cache.setdefault(("delay depths", float(dt)), depths)
    modulators = {m.name: m.init(dtype) for m in net.modulators}
    neurons, synapses, inputs = _cast((neurons, synapses, inputs), dtype)
    return NetworkState(jnp.zeros((), jnp.int32), keys[2], neurons, synapses, delays, inputs, dynamics, weights,
                        modulators, dt)


def check_params_for_dt(net: Network, params, dt: float) -> None:
    """Parameters whose valid range depends on dt (a spike source's rate: at most one spike per
    step), for the models that define ``check_dt``; and every refractory period ``t_ref``: 0
    or at least one step (a shorter one is never seen by the step, which compares the time left
    with half a step, so the neuron could fire every step). A network built for one step
    (``Network.dt``: e.g. jump currents chosen for it) runs only at that step. Traced values are
    not checked."""
    if isinstance(dt, jax.core.Tracer):    # jit over dt: nothing here depends on a dt known only when run
        return
    if net.dt is not None and abs(dt - net.dt) > 1e-9 * net.dt:
        raise ValueError(f"this network was built for dt = {net.dt!r} ms (its weights were chosen for that step), but "
                         f"this run uses dt = {dt!r} ms: run it with dt={net.dt!r}, or build it again for dt={dt!r}")
    for inp in net.inputs:
        _check_current(net, inp, params, dt)
    for p in net.populations:
        if hasattr(p.model, "check_dt"):
            p.model.check_dt(params.neurons[p.name], dt, f"Population {p.name!r}")
        t_ref = getattr(params.neurons[p.name], "t_ref", None)
        if t_ref is not None and not isinstance(t_ref, jax.core.Tracer):
            t = np.asarray(t_ref, float)
            short = (t > 0) & (t < dt * (1 - 1e-9))
            if np.any(short):
                raise ValueError(
                    f"Population {p.name!r}: t_ref = {float(t[short].flat[0])!r} ms is shorter than one step (dt = {dt!r} ms) "
                    f"in {int(np.sum(short))} neuron(s): the step would never hold them refractory; use t_ref = 0 (none) "
                    f"or t_ref >= dt")


V_LIMIT_MV = 1e4   # |v| beyond 10 V: no membrane is there; a run that reaches it has diverged


def _check_current(net: Network, inp, params, dt: float) -> None:
    """An input current (the fields its params list in ``CURRENTS``, pA) must not move its
    target's membrane by more than :data:`V_LIMIT_MV` in one step (``|I| dt / c_m``, ``c_m``
    in pF; 1 for models written in mV/ms, as Izhikevich's): such a current is a units slip, and
    a model like Izhikevich's would fire every other step without any variable leaving range."""
    values = params.inputs[inp.name]
    fields = [getattr(values, f) for f in getattr(values, "CURRENTS", ())]
    if not fields or _checks.traced(fields):
        return
    top = max(float(np.max(np.abs(np.asarray(x, float)))) for x in fields)
    target = net._refs[inp.name][0][0]
    c_m = getattr(params.neurons[target], "c_m", 1.0)
    if isinstance(c_m, jax.core.Tracer):
        return
    jump = top * dt / float(np.min(np.asarray(c_m, float)))
    if jump > V_LIMIT_MV:
        field = next(f for f in values.CURRENTS if float(np.max(np.abs(np.asarray(getattr(values, f), float)))) == top)
        raise ValueError(f"Input {inp.name!r}: params.inputs[{inp.name!r}].{field} = {top:g} pA would move the membrane of "
                         f"population {target!r} by {jump:.3g} mV in one step of {dt:g} ms, beyond the +-{V_LIMIT_MV:g} "
                         f"mV any membrane reaches; at this dt and capacitance a current must stay within "
                         f"{V_LIMIT_MV * float(np.min(np.asarray(c_m, float))) / dt:.3g} pA (currents are in pA)")


def check_state(net: Network, state, dt: float, params=None) -> None:
    """``state`` must be a NetworkState made for ``net`` (same populations, projections,
    plastic weights, mechanisms and modulators) and for this ``dt``, its floating-point
    variables still floating point and its variables of a declared sign (``NON_NEGATIVE``:
    concentrations) of that sign. ``params``: the run's (default ``net.params()``)."""
    if not isinstance(state, NetworkState):
        raise ValueError(f"state must be a NetworkState from init_state(net, params, key, dt), got {type(state).__name__}")
    if state.dt is not None and not isinstance(dt, jax.core.Tracer) and abs(state.dt - dt) > 1e-12 * dt:
        raise ValueError(
            f"state was made for dt = {state.dt!r} ms, but this run uses dt = {dt!r} ms: delays and schedules are "
            f"fixed in steps when the state is made; make a new state with init_state(net, params, key, dt={dt!r})"
        )
    expected = {
        "neurons": [p.name for p in net.populations],
        "synapses": [pr.name for pr in net.projections],
        "weights": [pr.name for pr in net.projections if pr.plastic],
        "dynamics": [pr.name for pr in net.projections if pr.chain],
        "inputs": [i.name for i in net.inputs],
        "modulators": [m.name for m in net.modulators],
    }
    for what, names in expected.items():
        have = getattr(state, what)
        if sorted(have) != sorted(names):
            raise ValueError(
                f"state was made for another network: its {what} are {sorted(have)}, this network's are {sorted(names)}; "
                "make the state with init_state(net, ...)"
            )
    depths = None if isinstance(dt, jax.core.Tracer) else delay_depths(net, dt)
    for pr in net.projections:
        pre = net._refs[pr.name][0]
        buf = state.delays[pr.name]
        if delay_groups(pr):
            if depths is not None:
                _check_groups(net, pr, state, buf, depths[pr.name] - 1, pre[2] - pre[1],
                              dt, params)
        elif per_synapse_delays(pr):
            if not isinstance(buf, DelayRing):
                raise ValueError(f"state was made for another network: projection {pr.name!r} has per-synapse delays, "
                                 f"but its delay state is a {type(buf).__name__}, not a DelayRing")
            if depths is not None:
                _check_ring(net, pr, buf, depths[pr.name], dt)
        elif isinstance(buf, DelayRing):
            raise ValueError(f"state was made for another network: projection {pr.name!r} has one delay, but its delay "
                             f"state is a DelayRing (per-synapse delays)")
        elif np.shape(buf) != ((depths[pr.name] - 1 if depths is not None else np.shape(buf)[0]), pre[2] - pre[1]):
            raise ValueError(f"state was made for another network: the delay buffer of projection {pr.name!r} has "
                             f"shape {np.shape(buf)}, this network's (delay - 1, n_pre) is "
                             f"({depths[pr.name] - 1}, {pre[2] - pre[1]})")
        if pr.plastic and np.shape(state.weights[pr.name]) != (pr.conn.nnz,):
            raise ValueError(f"state was made for another network: state.weights[{pr.name!r}] has shape "
                             f"{np.shape(state.weights[pr.name])}, the projection has {pr.conn.nnz} synapses")
    _check_types(net, state, dt, params)
    for p in net.populations:      # the signs a model's state asks (concentrations), where the values are known
        st = state.neurons[p.name]
        if hasattr(st, "_fields") and not _checks.traced(st):
            for f, v in zip(st._fields, st):
                _checks.sign_rules(f"state.neurons[{p.name!r}].{f}", st, f, v)


def _check_groups(net, pr, state, buf, depth: int, n_pre: int, dt: float, params) -> None:
    """A projection run as one group per delay: its delay state is a ``(depth, n_pre)`` buffer
    of past spikes, and each mechanism's state one entry per delay group, as ``init_state``
    makes them."""
    if isinstance(buf, DelayRing) or np.shape(buf) != (depth, n_pre):
        got = "a DelayRing" if isinstance(buf, DelayRing) else f"shape {np.shape(buf)}"
        raise ValueError(f"state was made for another network: projection {pr.name!r} has per-synapse delays and "
                         f"dynamics, so its delay state is a ({depth}, {n_pre}) buffer of past spikes, got {got}")
    want = _initial_shapes(net, dt, params)
    have = state.dynamics[pr.name]
    shapes = lambda tree: jax.tree.map(np.shape, tree)      # noqa: E731
    if (jax.tree.structure(have) != jax.tree.structure(want.dynamics[pr.name])
            or shapes(have) != shapes(want.dynamics[pr.name])):
        raise ValueError(f"state was made for another network: projection {pr.name!r} has per-synapse delays and "
                         f"dynamics, so each mechanism's state holds one entry per delay group "
                         f"({len(pr.conn.groups)} groups, of {', '.join(str(g.nnz) for g in pr.conn.groups)} "
                         "synapses); make the state with init_state(net, ...)")


def _check_ring(net, pr, ring: DelayRing, depth: int, dt: float) -> None:
    """A per-synapse delay state holds this projection's ring size and slots (each synapse's
    delay and target), not another network's: compared a few million synapses at a time."""
    size = depth * pr.conn.n_post
    same = np.shape(ring.ring) == (size,) and np.shape(ring.slot) == (pr.conn.nnz,)
    made_here = net._cache.get(("ring slots", pr.name, float(dt)), lambda: None)() is ring.slot
    if same and not made_here and not _checks.traced(ring.slot):
        slot, indices = np.asarray(ring.slot), np.asarray(pr.conn.indices)
        for a in range(0, pr.conn.nnz, CHUNK):
            if learns_delays(pr):          # the slots are the targets; the delays are params
                expect = indices[a:a + CHUNK]
            else:
                steps = synapse_steps(f"Projection {pr.name!r}: delay_ms", pr.delay_ms[a:a + CHUNK], dt)
                expect = ring_slots(steps, indices[a:a + CHUNK], pr.conn.n_post)
            if not np.array_equal(slot[a:a + CHUNK], expect):
                same = False
                break
    if not same:
        raise ValueError(f"state was made for another network: projection {pr.name!r}'s per-synapse delays or "
                         f"connectivity differ from this network's (ring of {np.shape(ring.ring)} inputs, this "
                         f"network's ({size},)); make the state with init_state(net, ...)")



def _initial_shapes(net: Network, dt: float, params=None):
    """The shapes and dtypes of ``init_state(net, params, 0, dt)``, found once per network, dt
    and precision without running it."""
    cache_key = ("state shapes", float(dt), np.dtype(float_dtype()).name)
    if cache_key not in net._cache:
        p = net.params() if params is None else params
        net._cache[cache_key] = jax.eval_shape(lambda: init_state(net, p, 0, float(dt)))
    return net._cache[cache_key]


def _check_types(net: Network, state, dt, params=None) -> None:
    """Every floating-point variable of ``state`` is still floating point (a state edited by
    hand with an integer array would fail deep inside the step's loop): compared with the
    types ``init_state`` gives, found once per network, dt and precision without running it."""
    if isinstance(dt, jax.core.Tracer):
        return
    cache_key = ("state types", float(dt), np.dtype(float_dtype()).name)
    spec = net._cache.get(cache_key)
    if spec is None:
        leaves, treedef = jax.tree.flatten(_initial_shapes(net, dt, params))
        spec = net._cache[cache_key] = (treedef, tuple(bool(jnp.issubdtype(x.dtype, jnp.floating)) for x in leaves),
                                        tuple(x.dtype for x in leaves))
    treedef, floating, dtypes = spec
    leaves, got = jax.tree.flatten(state)
    if got != treedef:            # another structure: check_state's other checks speak for it
        return
    for (k, x), want_float, want in zip(enumerate(leaves), floating, dtypes):
        if want_float and not jnp.issubdtype(jnp.result_type(x), jnp.floating):
            path = jax.tree_util.keystr(jax.tree_util.tree_flatten_with_path(state)[0][k][0])
            raise ValueError(f"state{path} must be floating point ({np.dtype(want).name}, as init_state makes it), "
                             f"got {jnp.result_type(x)}")


def sliced(net: Network, ref) -> bool:
    """Whether ``ref`` (a ``(population, start, stop)`` of ``net._refs``) covers only part of its
    population: its current term is then summed after the whole-population ones."""
    name, start, stop = ref
    return (start, stop) != (0, net.population(name).n)


def _add(total, value, start, stop, n):
    if start == 0 and stop == n:
        return total + value
    return total.at[start:stop].add(value)


class OneDevice:
    """Where a state's neurons are: all of them, here (the layout of :func:`step`). A layout
    tells :func:`advance` how many neurons of a population the state holds (``size``), where a
    projection's or input's slice lies in them (``local``), the global index of the first one
    (``first``: None where the state holds them all, so models are called without it) and
    how a projection's presynaptic spikes reach it after its delay (``delayed``); the
    neuron-parallel engine (:mod:`neurosim.network.parallel`) has one for a block of every
    population on each device."""

    def size(self, pop) -> int:
        return pop.n

    def local(self, ref) -> tuple:
        return ref

    def first(self, name):
        return None

    def delayed(self, pr, pre_ref, buf, t, spikes):
        """``(delayed, buf)``: the spikes of the projection's presynaptic slice from ``delay``
        steps back, and its ring buffer (``delay - 1`` deep) with this step's spikes in."""
        name, a, b = pre_ref
        s = spikes[name][a:b]
        if not buf.shape[0]:
            return s, buf
        slot = t % buf.shape[0]
        return buf[slot], buf.at[slot].set(s)


ONE_DEVICE = OneDevice()


def step(net: Network, params: dict, state: NetworkState, dt: float, conns: dict | None = None):
    """Advance by one step. Returns ``(state, spikes)``; spikes: population name -> (n,) float.

    ``conns`` (projection name -> CSR, default ``net.connectivity()``) lets a jitted caller pass
    the connectivity as arguments instead of baking its index arrays into the program as
    constants (which makes large programs slow to compile)."""
    conns = net.connectivity() if conns is None else conns
    check_state(net, state, dt)
    return advance(net, params, state, dt, conns, ONE_DEVICE)


def _with_first(first) -> dict:
    return {} if first is None else {"first": first}


def advance(net: Network, params, state: NetworkState, dt: float, conns: dict, layout):
    """The step of :func:`step` for the neurons ``layout`` places in ``state`` (unchecked)."""
    key, sub = jax.random.split(state.key)
    # 1. currents, from the state at the start of the step: per population, the terms onto all of
    # it first (projections, then inputs, each in network order), then those onto a slice of it
    # (the same order). XLA reorders a sum of slice-adds and full adds this way itself; saying it
    # here fixes the rounding, so the fused kernel sums in the same order.
    v = {p.name: p.model.voltage(state.neurons[p.name]) for p in net.populations}
    current = {p.name: jnp.zeros((layout.size(p),), float_dtype()) for p in net.populations}
    synapses = dict(state.synapses)
    # (sliced, network position, projection or input): sorted, whole-population terms come first
    terms = sorted([(sliced(net, net._refs[pr.name][1]), k, pr) for k, pr in enumerate(net.projections)]
                   + [(sliced(net, net._refs[inp.name][0]), len(net.projections) + idx, inp)
                      for idx, inp in enumerate(net.inputs)], key=lambda term: term[:2])
    inputs = {}
    for _, k, obj in terms:
        if k < len(net.projections):
            pr = obj
            post, a, b = layout.local(net._refs[pr.name][1])
            sp = params.projections[pr.name].synapse
            v_post = None if v[post] is None else v[post][a:b]
            current[post] = _add(current[post], pr.synapse.current(sp, state.synapses[pr.name], v_post), a, b,
                                 current[post].shape[0])
            continue
        inp, idx = obj, k - len(net.projections)
        tgt, a, b = layout.local(net._refs[inp.name][0])
        v_tgt = None if v[tgt] is None else v[tgt][a:b]
        if v_tgt is None:
            v_tgt = jnp.zeros((b - a,), float_dtype())
        inputs[inp.name], i = inp.source.current(
            params.inputs[inp.name], state.inputs[inp.name], state.t, dt, jax.random.fold_in(sub, idx), v_tgt,
            **_with_first(layout.first(inp.name)))
        current[tgt] = _add(current[tgt], jnp.broadcast_to(i, (b - a,)), a, b, current[tgt].shape[0])
    inputs = {inp.name: inputs[inp.name] for inp in net.inputs}
    current = add_gap_currents(net, params, v, current, conns)     # electrical synapses, from v at the start
    # 2. neurons
    neurons, spikes = {}, {}
    for p in net.populations:
        neurons[p.name], spikes[p.name] = p.model.step(params.neurons[p.name], state.neurons[p.name], current[p.name],
                                                       dt, **_with_first(layout.first(p.name)))
    # 3. modulators, from this step's spikes
    modulators = {}
    for idx, m in enumerate(net.modulators):
        k_mod = jax.random.fold_in(jax.random.fold_in(sub, len(net.inputs)), idx)
        modulators[m.name] = m.step(state.modulators[m.name], spikes, state.t, dt, k_mod)
    mod_values = {name: ms.value for name, ms in modulators.items()}
    # 4-7. per projection: dynamics (modulate), events, synapses, dynamics (update)
    delays, dynamics, weights = {}, dict(state.dynamics), dict(state.weights)
    for pr in net.projections:
        pre_ref, (post, c, d) = net._refs[pr.name]
        if delay_groups(pr):    # per-synapse delays and dynamics: one one-delay projection per delay
            pp = params.projections[pr.name]
            w = state.weights[pr.name] if pr.plastic else pp.weights
            ev = SynapticEvents(pre=None, post=spikes[post][c:d], conn=None, t=state.t, dt=dt,
                                tau_syn=decay_time(pp.synapse), modulators=mod_values, populations=neurons)
            name, a, b = pre_ref
            lags = group_lags(pr, dt if state.dt is None else state.dt)     # state.dt: static under jit over dt
            groups = _groups(pr, conns[pr.name], pp, w)
            drive, delays[pr.name], dyn, evs = _deliver_groups(pr, groups, d - c, spikes[name][a:b], lags,
                                                               state.delays[pr.name], state.dynamics[pr.name], ev)
            synapses[pr.name] = pr.synapse.step(pp.synapse, state.synapses[pr.name], drive, dt)
            dynamics[pr.name], w = _update_groups(pr, groups, w, dyn, evs)
            if pr.plastic:
                weights[pr.name] = w
            continue
        ring = per_synapse_delays(pr)
        if ring:       # the spikes go into the ring now; the drive is what arrives in this step
            name, a, b = pre_ref
            delayed = spikes[name][a:b]
        else:
            delayed, delays[pr.name] = layout.delayed(pr, pre_ref, state.delays[pr.name], state.t, spikes)
        pp = params.projections[pr.name]
        w = state.weights[pr.name] if pr.plastic else pp.weights
        delivered = w
        if pr.chain:
            ev = SynapticEvents(pre=delayed, post=spikes[post][c:d], conn=conns[pr.name], t=state.t, dt=dt,
                                tau_syn=decay_time(pp.synapse), modulators=mod_values, populations=neurons, backend=pr.backend)
            dyn = dict(state.dynamics[pr.name])
            for m in pr.chain:
                dyn[m.key], delivered = m.modulate(pp.dynamics[m.key], dyn[m.key], delivered, ev)
        if ring:
            capacity = default_capacity(pr.conn.n_pre) if pr.capacity is None else pr.capacity
            if learns_delays(pr):
                drive, delays[pr.name] = deliver_fractional(conns[pr.name], delivered, pp.delays / dt, delayed,
                                                            state.delays[pr.name], state.t, capacity)
            else:
                drive, delays[pr.name] = deliver(conns[pr.name], delivered, delayed, state.delays[pr.name], state.t,
                                                 capacity)
        else:
            drive = propagate(conns[pr.name], delivered, delayed, backend=pr.backend, capacity=pr.capacity)
        if pr.plastic:
            # the update comes after the propagation has read w: said as a data dependency (both
            # outputs of the barrier are used, so it is kept), it lets XLA update the loop-carried
            # weights in place instead of copying them every step
            w, drive = jax.lax.optimization_barrier((w, drive))
        synapses[pr.name] = pr.synapse.step(pp.synapse, state.synapses[pr.name], drive, dt)
        if pr.chain:
            for m in pr.chain:
                dyn[m.key], w = m.update(pp.dynamics[m.key], dyn[m.key], w, ev)
            dynamics[pr.name] = dyn
            if pr.plastic:
                weights[pr.name] = w
    new = NetworkState(state.t + 1, key, neurons, synapses, delays, inputs, dynamics, weights, modulators, state.dt)
    return new, spikes


def _groups(pr, conn: GroupedCSR, pp, w) -> list:
    """Per delay group, what its delivery and its update both read: ``(sub-CSR, synapse ids,
    the group's weights, [(mechanism for its synapses, its params)] in chain order)``. ``conn``
    is the step's (traced) connectivity; a mechanism takes its synapses from the projection's own
    (concrete) ids, as it may slice data of its own with them."""
    where = f"Projection {pr.name!r}"
    return [(sub, ids, in_group(w, ids, conn.nnz, f"{where}: weights"),
             [(m.for_synapses(own), in_group(pp.dynamics[m.key], ids, conn.nnz, f"{where}: dynamics[{m.key!r}]"))
              for m in pr.chain])
            for sub, ids, own in zip(conn.groups, conn.ids, pr.conn.ids)]


def _deliver_groups(pr, groups: list, n_post: int, spikes, lags, buf, dyn_state, ev: SynapticEvents):
    """The events of a projection run as one group per delay (:func:`_groups`): each group's
    presynaptic spikes from ``lags[g]`` steps back (from ``buf``, this step's for a lag of 0)
    through the group's mechanisms' ``modulate`` and its sub-CSR. Returns ``(drive, buf, dyn,
    evs)``: the summed drive, the buffer with this step's spikes in, the mechanisms' states after
    ``modulate`` (key -> list by group) and each group's events (for :func:`_update_groups`)."""
    depth = buf.shape[0]
    drive = jnp.zeros((n_post,), float_dtype())
    dyn = {m.key: list(dyn_state[m.key]) for m in pr.chain}
    evs = []
    for g, ((sub, _, delivered, mechanisms), lag) in enumerate(zip(groups, lags)):
        pre = spikes if lag == 0 else buf[(ev.t - int(lag)) % depth]
        ev_g = ev._replace(pre=pre, conn=sub)
        for m, (m_g, p_g) in zip(pr.chain, mechanisms):
            dyn[m.key][g], delivered = m_g.modulate(p_g, dyn[m.key][g], delivered, ev_g)
        drive = drive + propagate(sub, delivered, pre, capacity=pr.capacity)
        evs.append(ev_g)
    if depth:
        buf = buf.at[ev.t % depth].set(spikes)
    return drive, buf, dyn, evs


def _update_groups(pr, groups: list, w, dyn, evs):
    """Each group's mechanisms' ``update`` on its synapses' stored weights, written back at their
    places in CSR order. Returns ``(dynamics, weights)``."""
    for g, ((_, ids, w_g, mechanisms), ev_g) in enumerate(zip(groups, evs)):
        for m, (m_g, p_g) in zip(pr.chain, mechanisms):
            dyn[m.key][g], w_g = m_g.update(p_g, dyn[m.key][g], w_g, ev_g)
        if pr.plastic:
            w = w.at[ids].set(w_g, unique_indices=True, indices_are_sorted=True)
    return {key: tuple(states) for key, states in dyn.items()}, w
