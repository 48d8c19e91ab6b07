"""A projection's per-synapse mechanisms on the native engine, lowered from their own code.

A projection's chain (:mod:`neurosim.synapses.dynamics`: short-term plasticity, long-term
plasticity rules, your own mechanisms) is called by the scan step twice: every mechanism's
``modulate`` before the delivery (the weights this step's spikes carry) and its ``update``
after it (the stored weights and the mechanisms' state). The native engine lowers the two
chains as functions over three spaces (:mod:`.spaces`): the presynaptic neurons, the
postsynaptic neurons and the synapses, with the CSR's ``rows`` and ``indices`` as the
per-synapse indices a mechanism gathers by.

A plasticity rule is lowered in its *dense* form (``dense_update``, a method of the mechanism
contract, :mod:`neurosim.synapses.dynamics`: the rule at every synapse, as the scan evaluates it with ``event_driven=False``); where the rule is
event-driven (it changes nothing at a synapse whose neurons did not spike) the program runs
its synapse loops over the synapses of this step's spiking neurons only (the rows of the
presynaptic neurons whose spikes arrived, then the columns of the postsynaptic neurons that
fired, each synapse once), as the scan's event-driven form does. A rule's periodic ``tick``
(the release of an eligibility trace) runs on its due steps at every synapse, in a second
lowered update. Likewise a ``modulate`` whose mechanisms declare it event-driven
(``event_driven_modulate``: short-term plasticity changes, and delivers, nothing at a synapse
whose presynaptic neuron sent no spike) visits only the rows of the spikes that arrive.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from ...synapses.dynamics import AbstractSynapseDynamics, SynapseShape, SynapticEvents
from ...synapses.kinetics import decay_time
from .lower import Unlowerable
from .spaces import lower_spaces

GROW = {"pre": 1, "post": 2, "syn": 3}     # how much each space grows in the second trace


class _Conn:
    """What a mechanism reads of the CSR in the lowered code: the per-synapse indices and the sizes."""

    def __init__(self, rows, indices, n_pre, n_post):
        self.rows, self.indices, self.n_pre, self.n_post = rows, indices, n_pre, n_post


def _overrides(m, method: str) -> bool:
    return getattr(type(m), method) is not getattr(AbstractSynapseDynamics, method)


def _spaces(init, params, sizes, dtype, label):
    """The space of every leaf of ``init(params, shape)``: "pre", "post", "syn" or None (shared)."""
    def shape(extra):
        return SynapseShape(*(sizes[s] + extra * GROW[s] for s in ("pre", "post", "syn")), dtype)
    a = jax.eval_shape(lambda: init(params, shape(0)))
    b = jax.eval_shape(lambda: init(params, shape(1)))

    def space(x, y):
        if x.shape == y.shape:
            return None
        for s, g in GROW.items():
            if x.shape[:1] == (sizes[s],) and y.shape[:1] == (sizes[s] + g,) and x.shape[1:] == y.shape[1:] == ():
                return s
        raise Unlowerable(label, None, f"a state leaf of shape {x.shape} is not one value per neuron or synapse")
    return jax.tree.map(space, a, b)


@dataclass
class ChainCode:
    """The lowered chains of one projection: ``modulate`` (or None: the weights are delivered
    as stored), ``update`` (or None: no mechanism changes anything after the delivery) and
    ``tick_update`` (or None: the update and tick in one, or the tick alone after the update when
    ``tick_after``), ``tick_steps`` (its period in steps), ``event_driven`` (the
    update may visit only the synapses of spiking neurons), ``modulate_rows`` (the modulate may
    visit only the rows of the presynaptic neurons whose spikes arrive); ``spaces`` the spaces
    of the state leaves, in order."""

    modulate: object
    update: object
    tick_update: object
    tick_steps: int
    event_driven: bool
    modulate_rows: bool
    tick_after: bool        # ``tick_update`` is the tick alone, run after ``update`` on due steps
    spaces: list


def lower_modulator(m, idx: int, net, state, dt, dtype):
    """Lower modulator ``m``'s step (the ``idx``-th of the network) over the populations' spikes:
    ``fn(state, spikes (one array per population), t, subkey) -> state``, its key the scan's
    (the step's subkey folded with the number of inputs, then with ``idx``)."""
    label = f"modulator {m.name!r} ({type(m).__name__}.step)"
    if m.size is not None:
        raise Unlowerable(label, None, f"a modulator with one value per neuron (size={m.size}) is not lowered yet")
    names = [p.name for p in net.populations]
    sizes = {f"pop:{p.name}": p.n for p in net.populations}
    n_inputs = len(net.inputs)

    def fn(ms, spikes, t, sub):
        key = jax.random.fold_in(jax.random.fold_in(sub, n_inputs), idx)
        return m.step(ms, dict(zip(names, spikes)), t, dt, key)

    args = [state.modulators[m.name], tuple(np.zeros(p.n, dtype) for p in net.populations), np.int32(0),
            jax.random.key(0)]
    spaces = [None, tuple(f"pop:{p.name}" for p in net.populations), None, None]
    return lower_spaces(label, fn, args, ["dynamic"] * 4, spaces, sizes)


def lower_chain(pr, params, state, dt, sizes, dtype, modulators=(), populations=None) -> ChainCode:
    """Lower projection ``pr``'s chain. ``params``: the projection's params; ``state`` the
    network state (its ``dynamics`` and ``weights``); ``modulators``: the network's modulator
    names, whose values (one each, shared) the chain functions take; ``populations``: name ->
    (its state, the per-element flags of its leaves) of the populations the mechanisms read
    (each a space ``pop:<name>``), whose states the chain functions take last."""
    populations = populations or {}
    sizes = dict(sizes)
    pop_spaces = []
    for name, (pst, el) in populations.items():
        n = next((np.shape(x)[0] for x, e in zip(jax.tree.leaves(pst), jax.tree.leaves(el)) if e), None)
        if n is not None:
            sizes[f"pop:{name}"] = n
        pop_spaces.append(jax.tree.map(lambda e, name=name: f"pop:{name}" if e else None, el))
    pop_names = list(populations)
    chain = pr.chain
    label = f"projection {pr.name!r}"
    dyn_state = tuple(state.dynamics[pr.name][m.key] for m in chain)
    dyn_params = tuple(params.dynamics[m.key] for m in chain)
    spaces = tuple(_spaces(m.init, p, sizes, dtype, f"{label} ({type(m).__name__}.init)")
                   for m, p in zip(chain, dyn_params))
    w = state.weights[pr.name] if pr.plastic else params.weights
    w_space = "syn" if np.ndim(w) else None
    statics = (dyn_params, decay_time(params.synapse))
    n_pre, n_post = sizes["pre"], sizes["post"]

    def events(pre, post, rows, cols, t, tau, mods, pops):
        return SynapticEvents(pre, post, _Conn(rows, cols, pre.shape[0], post.shape[0]), t, dt, tau,
                              dict(zip(modulators, mods)), dict(zip(pop_names, pops)))

    def modulate(st, dyn, w, pre, post, rows, cols, t, mods, pops):
        ps, tau = st
        ev = events(pre, post, rows, cols, t, tau, mods, pops)
        out = []
        for m, p, s in zip(chain, ps, dyn):
            s, w = m.modulate(p, s, w, ev)
            out.append(s)
        return tuple(out), w

    def update(tick):
        def fn(st, dyn, w, pre, post, rows, cols, t, mods, pops):
            ps, tau = st
            ev = events(pre, post, rows, cols, t, tau, mods, pops)
            out = []
            for m, p, s in zip(chain, ps, dyn):
                s, w = m.tick_only(p, s, w, ev) if tick == "only" else m.dense_update(p, s, w, ev, tick=tick)
                out.append(s)
            return tuple(out), w
        return fn

    args = [statics, dyn_state, w, np.zeros(n_pre, dtype), np.zeros(n_post, dtype), np.zeros(sizes["syn"], np.int32),
            np.zeros(sizes["syn"], np.int32), np.int32(0), tuple(np.zeros((), dtype) for _ in modulators),
            tuple(pst for pst, _ in populations.values())]
    roles = ["static"] + ["dynamic"] * 9
    sp = [None, spaces, w_space, "pre", "post", "syn", "syn", None, None, tuple(pop_spaces)]
    mod = None
    if any(_overrides(m, "modulate") for m in chain):
        mod = lower_spaces(f"{label} (modulate)", modulate, args, roles, sp, sizes, nonneg=(5, 6))
    updates = any(_overrides(m, "update") for m in chain)
    upd = lower_spaces(f"{label} (update)", update(False), args, roles, sp, sizes, nonneg=(5, 6)) if updates else None
    ticking = {k: m.tick_steps(dt) for k, m in enumerate(chain) if m.tick_steps(dt)}
    if len(set(ticking.values())) > 1:
        raise Unlowerable(label, None, f"its mechanisms tick on different periods ({sorted(set(ticking.values()))} "
                                       "steps); one period per projection lowers")
    ticks = list(ticking.values())
    # on a due step: the update, then the tick alone, where no mechanism after the ticking one
    # updates (so the two may run one after the other); else the update and tick together
    after = bool(ticking) and any(_overrides(m, "update") for m in chain[max(ticking) + 1:])
    tick_upd = None
    if ticks:
        tick_upd = lower_spaces(f"{label} (update and tick)" if after else f"{label} (tick)",
                                update(True if after else "only"), args, roles, sp, sizes, nonneg=(5, 6))
    event_driven = upd is not None and not upd.reduces("syn") and all(m.event_driven_update() for m in chain)
    rows = mod is not None and not mod.reduces("syn") and all(m.event_driven_modulate() for m in chain)
    return ChainCode(mod, upd, tick_upd, ticks[0] if ticks else 0, event_driven, rows, bool(ticks) and not after,
                     jax.tree.leaves(spaces, is_leaf=lambda x: x is None))


# the parts of a state an Observe monitor may read on the native engine
OBSERVABLE = ("neurons", "synapses", "modulators", "t")


def lower_observer(m, net, state, dtype, pop_flags: dict, syn_flags: dict):
    """Lower an ``Observe`` monitor's ``fn(state, spikes)`` over the populations (their state
    and spikes: a space each) and the projections' synaptic states (a space each, their
    postsynaptic neurons). ``pop_flags``/``syn_flags``: name -> the per-element flags of its
    state's leaves. Returns ``(lowered, reads_synapses)``; a function that reads another part
    of the state (weights, per-synapse state, inputs, delays, the key) is refused by name."""
    label = f"Observe({m.key!r})"
    names = [p.name for p in net.populations]
    spikes = tuple(np.zeros(p.n, dtype) for p in net.populations)
    paths, tree = jax.tree_util.tree_flatten_with_path((state, spikes))
    leaves = [x for _, x in paths]
    # each leaf's part of the state (the first key of its path in the state), or the spikes
    groups = [path[1].name if path[0].idx == 0 else "spikes" for path, _ in paths]
    try:
        closed = jax.make_jaxpr(lambda *xs: m.fn(*(lambda s, sp: (s, dict(zip(names, sp))))(
            *jax.tree.unflatten(tree, xs))))(*leaves)
    except Exception as err:   # noqa: BLE001
        raise Unlowerable(label, None, f"it does not trace: {type(err).__name__}: {err}") from None
    used = set()
    for eqn in closed.jaxpr.eqns:
        used |= {v for v in eqn.invars if not hasattr(v, "val")}
    used |= {v for v in closed.jaxpr.outvars if not hasattr(v, "val")}
    read = {g for g, v in zip(groups, closed.jaxpr.invars) if v in used}
    other = sorted(read - set(OBSERVABLE) - {"spikes"})
    if other:
        raise Unlowerable(label, None, f"it reads state.{other[0]}; the native engine passes an Observe monitor the "
                                       f"state's {', '.join(OBSERVABLE)} and the spikes")
    sizes = {f"pop:{p.name}": p.n for p in net.populations}
    for pr in net.projections:
        _, c, d = net._refs[pr.name][1]
        sizes[f"post:{pr.name}"] = d - c

    def fn(neurons, synapses, modulators, t, spk):
        st = state._replace(neurons=neurons, synapses=synapses, modulators=modulators, t=t)
        return m.fn(st, dict(zip(names, spk)))

    pops_sp = {p.name: jax.tree.map(lambda e, n=p.name: f"pop:{n}" if e else None, pop_flags[p.name])
               for p in net.populations}
    syns_sp = {pr.name: jax.tree.map(lambda e, n=pr.name: f"post:{n}" if e else None, syn_flags[pr.name])
               for pr in net.projections}
    args = [state.neurons, state.synapses, state.modulators, state.t, spikes]
    spaces = [pops_sp, syns_sp, None, None, tuple(f"pop:{p.name}" for p in net.populations)]
    return lower_spaces(label, fn, args, ["dynamic"] * 5, spaces, sizes), "synapses" in read
