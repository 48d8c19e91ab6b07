"""The native engine: a network's own models lowered to C++ (:mod:`.lower`, :mod:`.spaces`),
assembled into one program that runs K steps per call (:mod:`.program`), compiled once and
cached on disk (:mod:`.compiler`), driven by the shared driver of ``simulate``.

:func:`native_plan` lowers every model function of a network (neurons, synapses, inputs, the
projections' per-synapse mechanisms (:mod:`.mechanisms`) and the modulators), or says why it
cannot (the model and the primitive). Draws from the step's PRNG key are lowered from the key
implementation's own code; each call is given the subkeys of its steps. An input whose
``current`` cannot be lowered (a draw needing a function without a C++ form) but reads neither
the membrane nor its state is *tabulated*: before each call, JAX computes its values for every
step of the call with the scan's keys, and the program adds a row per step. Gap junctions
read the coupled populations' membrane potentials at the step's start (:func:`_gap_voltages`)
and add their currents after a population's other terms (:func:`_gap_code`). What the program
does not model (procedural connectivity, mechanisms reading other populations' state,
per-neuron modulators, Observe/LFP/Weights monitors) is refused by name.
"""
from __future__ import annotations

import ctypes
import os
import zlib
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ...events import CSR
from ...network.model import float_dtype
from ...network.monitors import OBSERVERS, Observe, Rate, Spikes, Trace, Weights
from ...events.delays import DelayRing
from ...network.step import NetworkState, delay_depths, delay_groups, learns_delays, per_synapse_delays, sliced
from ...synapses.kinetics import decay_time
from ..base import Runner
from ..chunks import MIN_SAMPLE_STEPS, Chunk, describe_monitors, sample_due, sampling_chunk, signature, spikes_and_rates
from . import compiler
from . import mechanisms
from .lower import Unlowerable, ctype, lower
from .spaces import space_code
from .program import Parts, Slots, Sum, loop_block, program, unit_block, unit_parts

TABLE_BYTES = 32e6      # tabulated input values per call, at most
MAX_CHUNK = 20_000      # steps per call, at most
# a plastic projection's column index: the presynaptic neuron of each synapse (CSR order), a
# column's first entry, the synapses of each column, and their presynaptic neurons (column order)
COLUMN_ARRAYS = ("rows", "col_ptr", "col_perm", "col_rows")


def _per_element(init, params, n) -> object:
    """Which leaves of the state ``init(params, n, key)`` makes hold one value per element: those
    whose shape follows n (the per-element parameters taken as one value, so both sizes trace)."""
    key = jax.random.key(0)
    one = jax.tree.map(lambda x: jnp.asarray(x)[0] if np.shape(x) == (n,) else x, params)
    a, b = jax.eval_shape(lambda: init(one, n, key)), jax.eval_shape(lambda: init(one, n + 1, key))

    def per_element(x, y):
        if len(x.shape) == 2 and x.shape[1:] == (n,) and y.shape == (x.shape[0], n + 1):
            return "table"      # rows of one value per element (a raster), read one row at a time
        if x.shape != y.shape and (x.shape, y.shape) != ((n,), (n + 1,)):
            raise Unlowerable(f"{getattr(init, '__qualname__', 'init')}", None,
                              f"a state leaf of shape {x.shape} holds more than one value per element")
        return x.shape != y.shape
    return jax.tree.map(per_element, a, b)


def _param_elems(params, n):
    return jax.tree.map(lambda x: np.shape(x) == (n,), params)


def _depends(closed, outs: list) -> set:
    """The argument leaves the outputs ``outs`` (indices) of a jaxpr depend on (conservative)."""
    jaxpr = closed.jaxpr
    deps = {v: {k} for k, v in enumerate(jaxpr.invars)}
    for eqn in jaxpr.eqns:
        d = set().union(*[deps.get(v, set()) for v in eqn.invars if not hasattr(v, "val")])
        for o in eqn.outvars:
            deps[o] = d
    return set().union(*[deps.get(jaxpr.outvars[k], set()) for k in outs if not hasattr(jaxpr.outvars[k], "val")])


@dataclass
class Unit:
    """A lowered model function and where the program reads its static arguments from."""

    lowered: object
    statics: object            # params -> the static argument leaves, in order


@dataclass
class NativePlan:
    net: object
    dt: float
    dtype: object
    source: str
    slots: Slots
    units: list                # Unit, in the order of their hoisted slots
    state_slots: list          # (group, name, leaf index) of every state leaf passed, in slot order
    conns: list                # (projection name, indptr, indices) in slot order
    tabulated: list            # (input index in net.inputs, input name, n) of tabulated inputs
    pops: list                 # (name, offset, n) for spike bits
    n_words: int
    traces: list               # Trace monitors, with (leaf index)
    trace_leaf: dict = field(default_factory=dict)
    observed: list = field(default_factory=list)   # (Observe key, output tree, [(shape, dtype)] per leaf)
    fn: object = None
    compile_s: float = 0.0


def native_plan(net, params, dt: float, monitors=(), state: NetworkState | None = None):
    """The plan of ``net`` on the native engine, or a string saying why it cannot run it."""
    try:
        return _plan(net, params, dt, monitors, state)
    except Unlowerable as err:
        return str(err)
    except compiler.CompilerMissing as err:
        return str(err)


def _refusal(net, monitors) -> str | None:
    for pr in net.projections:
        if not isinstance(pr.conn, CSR):
            return f"projection {pr.name!r} uses {type(pr.conn).__name__} connectivity; the native engine reads a CSR"
        if learns_delays(pr):
            return (f"projection {pr.name!r} learns its delays (max_delay_ms = {pr.max_delay_ms!r}; fractional delays "
                    "read from params.projections[...].delays): only the scan engine runs them")
        if delay_groups(pr):      # (the engine runs such a network split into one-delay parts: .split)
            return (f"projection {pr.name!r} has per-synapse delays and per-synapse dynamics "
                    f"({', '.join(m.kind for m in pr.chain)}); the native engine runs them split by delay")
    for m in monitors:
        if isinstance(m, OBSERVERS) and not isinstance(m, Observe):
            return f"{type(m).__name__} monitors ({m.key!r}) are not recorded by the native engine"
        if isinstance(m, Weights) and m.every < MIN_SAMPLE_STEPS:
            return (f"Weights monitors ({m.key!r}) sample every {m.every} step(s); the native engine reads the weights "
                    f"between program calls, at least {MIN_SAMPLE_STEPS} steps apart")
    if compiler.compiler() is None:
        return "no C++ compiler (g++, c++ or clang++; or $CXX) was found"
    return None


def _plan(net, params, dt, monitors, state):
    reason = _refusal(net, monitors) or _identifier_clash(net, monitors)
    if reason:
        return reason
    dtype = np.dtype(float_dtype())
    ft = ctype(dtype)
    threads = native_threads(net)     # the element loops and the deliveries of a large network, shared
    if state is None:
        from ...network.step import init_state
        state = init_state(net, params, 0, dt)
    slots, units, body, state_slots = Slots(), [], [], []
    pop_n = {p.name: p.n for p in net.populations}

    def add_unit(u, statics):
        units.append(Unit(u, statics))
        return [slots.add(f"hoisted {u.label} {h}", node.dtype) for h, node in enumerate(u.hoisted)]

    def state_ptrs(group, name, tree):
        out = []
        for j, leaf in enumerate(jax.tree.leaves(tree)):
            out.append(slots.add(f"state {group} {name} {j}", np.asarray(leaf).dtype))
            state_slots.append((group, name, j))
        return out

    # ---- lower every model function
    pops = {}
    for p in net.populations:
        pp, st = params.neurons[p.name], state.neurons[p.name]
        el = _per_element(p.model.init, pp, p.n)
        ptrs = state_ptrs("neurons", p.name, st)
        label = f"population {p.name!r} ({type(p.model).__name__}.step)"
        step_u = lower(label, lambda a, s, i, p=p: p.model.step(a, s, i, dt), [pp, st, jnp.zeros((p.n,), dtype)],
                       ["static", "dynamic", "dynamic"], [_param_elems(pp, p.n), el, True], p.n)
        volt = p.model.voltage(st)
        volt_u = None
        if volt is not None:
            volt_u = lower(f"population {p.name!r} ({type(p.model).__name__}.voltage)", p.model.voltage, [st],
                           ["dynamic"], [el], p.n)
        pops[p.name] = (step_u, volt_u, ptrs, el)
    syns = {}
    for pr in net.projections:
        post, c, d = net._refs[pr.name][1]
        n = d - c
        sp, st = params.projections[pr.name].synapse, state.synapses[pr.name]
        el = _per_element(pr.synapse.init, sp, n)
        ptrs = state_ptrs("synapses", pr.name, st)
        name = type(pr.synapse).__name__
        v = None if pops[post][1] is None else jnp.zeros((n,), dtype)     # a post without a voltage: None, as the scan
        cur_u = lower(f"projection {pr.name!r} ({name}.current)", pr.synapse.current, [sp, st, v],
                      ["static", "dynamic", "dynamic"], [_param_elems(sp, n), el, True], n)
        step_u = lower(f"projection {pr.name!r} ({name}.step)", lambda a, s, x, pr=pr: pr.synapse.step(a, s, x, dt),
                       [sp, st, jnp.zeros((n,), dtype)], ["static", "dynamic", "dynamic"], [_param_elems(sp, n), el, True],
                       n)
        syns[pr.name] = (cur_u, step_u, ptrs, el)
    chains = {}
    for pr in net.projections:
        if not pr.chain:
            continue
        (_, a, b), (_, c, d) = net._refs[pr.name]
        sizes = {"pre": b - a, "post": d - c, "syn": pr.conn.nnz}
        read = list(dict.fromkeys(name for m in pr.chain for name in m.populations()))
        code = mechanisms.lower_chain(pr, params.projections[pr.name], state, dt, sizes, dtype,
                                      [m.name for m in net.modulators],
                                      {name: (state.neurons[name], pops[name][3]) for name in read})
        dptrs = state_ptrs("dynamics", pr.name, _dynamics(pr, state.dynamics[pr.name]))
        wptr = state_ptrs("weights", pr.name, state.weights[pr.name])[0] if pr.plastic else None
        chains[pr.name] = (code, dptrs, wptr, sizes, read)
    observers, reads_syn = [], False
    for m in monitors:
        if isinstance(m, Observe):
            u, syn_read = mechanisms.lower_observer(m, net, state, dtype, {n: v[3] for n, v in pops.items()},
                                                    {n: v[3] for n, v in syns.items()})
            observers.append((m, u))
            reads_syn = reads_syn or syn_read
    # a synapse step is deferred into the next step's loop over its neurons, unless an Observe
    # monitor reads the synaptic state at the end of each step
    defer = not reads_syn
    mods = {}
    for idx, m in enumerate(net.modulators):
        u = mechanisms.lower_modulator(m, idx, net, state, dt, dtype)
        mods[m.name] = (u, state_ptrs("modulators", m.name, state.modulators[m.name]))
    ins, tabulated = {}, []
    for idx, inp in enumerate(net.inputs):
        tgt, a, b = net._refs[inp.name][0]
        n = b - a
        ip, st = params.inputs[inp.name], state.inputs[inp.name]
        el = _per_element(inp.source.init, ip, n)
        ptrs = state_ptrs("inputs", inp.name, st)
        label = f"input {inp.name!r} ({type(inp.source).__name__}.current)"
        # the scan's key for this input: the step's subkey folded with the input's index (a draw
        # from it is lowered too: the key implementation's own hash, on the subkey's data)
        fn = lambda a_, s, t, sub, v, inp=inp, idx=idx: inp.source.current(   # noqa: E731
            a_, s, t, dt, jax.random.fold_in(sub, idx), v)
        args = [ip, st, jnp.zeros((), jnp.int32), jax.random.key(0), jnp.zeros((n,), dtype)]
        try:
            u = lower(label, fn, args, ["static", "dynamic", "dynamic", "dynamic", "dynamic"],
                      [_param_elems(ip, n), el, False, False, True], n)
            ins[inp.name] = (u, ptrs, el)
        except Unlowerable as err:
            reason = _tabulable(fn, args, st)
            if reason:
                raise Unlowerable(err.model, err.primitive, f"{err.detail}; and it cannot be tabulated: {reason}") from None
            tabulated.append((idx, inp.name, n))
            ins[inp.name] = None

    # ---- the step loop
    offsets, off = {}, 0
    for p in net.populations:
        offsets[p.name] = off
        off += p.n
    n_words = max(1, (off + 31) // 32)
    body.append(f"uint32_t* bits = {slots.add('bits', np.uint32)};   // spike bits (n_steps, words), or null")
    # the data of each step's subkey (the scan's split of the state's key), for what draws from it
    subs = f"({slots.add('subkeys', np.uint32)} + 2 * k)"
    scratch = {}

    def buf(name, n, t=ft):
        scratch[name] = (n, t)
        return name

    for p in net.populations:
        buf(f"spk_{_c(p.name)}", p.n)
    hz = {}
    for p in net.populations:
        step_u, volt_u, ptrs, el = pops[p.name]
        hz[("step", p.name)] = add_unit(step_u, lambda prm, p=p: jax.tree.leaves(prm.neurons[p.name]))
        if volt_u is not None:
            hz[("volt", p.name)] = add_unit(volt_u, lambda prm: [])
    for pr in net.projections:
        cur_u, step_u, ptrs, el = syns[pr.name]
        statics = lambda prm, pr=pr: jax.tree.leaves(prm.projections[pr.name].synapse)   # noqa: E731
        hz[("cur", pr.name)] = add_unit(cur_u, statics)
        hz[("syn", pr.name)] = add_unit(step_u, statics)
    for inp in net.inputs:
        if ins[inp.name] is not None:
            hz[("inp", inp.name)] = add_unit(ins[inp.name][0], lambda prm, inp=inp: jax.tree.leaves(prm.inputs[inp.name]))
    for pr in net.projections:
        if pr.name in chains:
            code = chains[pr.name][0]

            def statics(prm, pr=pr):
                pp = prm.projections[pr.name]
                return jax.tree.leaves((tuple(pp.dynamics[m.key] for m in pr.chain), decay_time(pp.synapse)))
            for what in ("modulate", "update", "tick_update"):
                if getattr(code, what) is not None:
                    hz[(what, pr.name)] = add_unit(getattr(code, what), statics)
    for m in net.modulators:
        hz[("mod", m.name)] = add_unit(mods[m.name][0], lambda prm: [])
    conns, weights, csr_extra = [], {}, {}
    for pr in net.projections:
        if pr.name in chains:
            csr_extra[pr.name] = {k: slots.add(f"{k} {pr.name}", np.int32) for k in COLUMN_ARRAYS}
        ip_ = slots.add(f"indptr {pr.name}", np.int32)
        ix_ = slots.add(f"indices {pr.name}", np.int32)
        w_ = slots.add(f"weights {pr.name}", dtype)
        conns.append((pr.name, ip_, ix_, w_))
        weights[pr.name] = np.size(params.projections[pr.name].weights) == 1
    # gap junctions: their CSR and conductances (one for all, or one per junction)
    gaps = {gj.name: (slots.add(f"gap indptr {gj.name}", np.int32), slots.add(f"gap indices {gj.name}", np.int32),
                      slots.add(f"gap g {gj.name}", dtype), np.size(params.gap_junctions[gj.name]) == 1)
            for gj in net.gap_junctions}
    delays = {pr.name: slots.add(f"delays {pr.name}", dtype) for pr in net.projections}
    ring_slots = {pr.name: slots.add(f"ring slots {pr.name}", np.int32) for pr in net.projections
                  if per_synapse_delays(pr)}
    state_slots += [("delays", pr.name, 0) for pr in net.projections]
    tables = {name: slots.add(f"table {name}", dtype) for _, name, _ in tabulated}
    traces = [m for m in monitors if isinstance(m, Trace)]
    trace_ptrs, trace_leaf = [], {}
    for m in traces:
        if m.pop not in state.neurons:
            raise Unlowerable(f"Trace({m.pop!r}, {m.var!r})", None, "it records a synapse variable, which this engine "
                              "keeps inside its step loop")
        st = state.neurons[m.pop]
        leaves, tree = jax.tree.flatten(st)
        try:    # which leaf the monitor reads: ask the state itself, its leaves replaced by their positions
            j = getattr(jax.tree.unflatten(tree, list(range(len(leaves)))), m.var)
        except AttributeError:
            j = None
        if not isinstance(j, int):
            raise Unlowerable(f"Trace({m.pop!r}, {m.var!r})", None, f"the state of {m.pop!r} has no leaf {m.var!r}")
        trace_leaf[m.key] = j
        leaf = jax.tree.leaves(st)[j]
        trace_ptrs.append((slots.add(f"trace ids {m.key}", np.int64), slots.add(f"trace out {m.key}", leaf.dtype), j))

    # per-step statements
    loop = ["const int32_t t = (int32_t)(t0 + k);"]
    # 1-2. per population, one loop over its neurons: the last step's synapse updates of the
    # projections onto it, its voltage, the current terms onto it (whole-population terms first,
    # then slices, each in network order, as the scan sums them) and its neurons. A population's
    # currents read only its own state and the synapses onto it (and, for gap junctions, the
    # potentials taken at the step's start), so populations can go one after another. Where terms
    # cover slices, the loop is cut at their bounds, each piece running the terms that cover it (a
    # slice's code sees its own element index).
    terms = sorted([(sliced(net, net._refs[pr.name][1]), k, pr) for k, pr in enumerate(net.projections)]
                   + [(sliced(net, net._refs[inp.name][0]), len(net.projections) + j, inp)
                      for j, inp in enumerate(net.inputs)], key=lambda term: term[:2])
    # each projection's synapse step (its state from the last step's drive, the drive then
    # zeroed) runs at the start of the next step's loop over its postsynaptic neurons, so the
    # synaptic state is read and written once per step; after the call's last step, once more
    syn_parts = {}
    ring_drives = {}     # per-synapse delays: the synapse step reads (and clears) the ring's row in place
    for idx, pr in enumerate(net.projections):
        _, step_u, ptrs, el = syns[pr.name]
        if pr.name in ring_slots:
            drive = ring_drives[pr.name] = f"rdrive_{_c(pr.name)}"
        else:
            drive = buf(f"drive_{_c(pr.name)}", net._refs[pr.name][1][2] - net._refs[pr.name][1][1])
        n_static = len(jax.tree.leaves(params.projections[pr.name].synapse))
        in_b = [None] * n_static + [("ptr", q) for q in ptrs] + [("ptr", drive)]
        out_b = [("ptr", q, e) for q, e in zip(ptrs, jax.tree.leaves(el))]
        part = unit_parts(step_u, in_b, out_b, hz[("syn", pr.name)], f"synapses of {pr.name}", f"s{idx}_")
        part.body.append(f"{drive}[i] = ({ft})0;")
        syn_parts[pr.name] = part
    # gap junctions read the membrane potentials at the start of the step: a population's, where
    # a later population's currents read it (it is stepped before them), copied first
    vgap = _gap_voltages(net, pops, hz, buf, ft)
    for _, lines in vgap.values():
        loop += lines
    vgap = {name: ptr for name, (ptr, _) in vgap.items()}
    for p in net.populations:
        step_u, volt_u, ptrs, el = pops[p.name]
        onto = [(k, obj) for _, k, obj in terms
                if net._refs[obj.name][1 if k < len(net.projections) else 0][0] == p.name]
        ranged = []     # (start, stop, Parts) in the loop's order
        for k, obj in onto:
            if k < len(net.projections) and defer:
                _, a, b = net._refs[obj.name][1]
                sp_ = syn_parts[obj.name]
                ranged.append((a, b, Parts(sp_.pre, ["if (k > 0) {"] + ["  " + x for x in sp_.body] + ["}"], sp_.post,
                                           sp_.switches)))
        # the membrane potential the terms read: a state leaf where it is one, else computed
        vbind = ("local", f"(({ft})0)")
        if volt_u is not None:
            same = [j for j, x in enumerate(volt_u.inputs) if x is volt_u.outputs[0]]
            if same:
                vbind = ("ptr", ptrs[same[0]])
            else:
                ranged.append((0, p.n, unit_parts(volt_u, [("ptr", q) for q in ptrs], [("local", "v_here", True)],
                                                  hz[("volt", p.name)], f"voltage of {p.name}", "v_")))
                vbind = ("local", "v_here")
        # the terms onto the whole population are one sum, as XLA computes it; a term onto a slice
        # is added to it after them (the sum so far is then a value, not a product)
        whole = Sum("acc")
        for j, (k, obj) in enumerate(onto):
            ref = net._refs[obj.name][1 if k < len(net.projections) else 0]
            a, b, n = ref[1], ref[2], ref[2] - ref[1]
            add = ("term", whole if (a, b) == (0, p.n) else Sum("acc", started=True), True)
            v = vbind if vbind[0] == "local" else ("ptr", f"({vbind[1]} + {a})")
            if k < len(net.projections):
                cur_u, _, sptrs, _ = syns[obj.name]
                n_static = len(jax.tree.leaves(params.projections[obj.name].synapse))
                in_b = [None] * n_static + [("ptr", q) for q in sptrs] + ([] if volt_u is None else [v])
                part = unit_parts(cur_u, in_b, [add], hz[("cur", obj.name)], f"current of projection {obj.name}",
                                  f"t{j}_")
            elif ins[obj.name] is None:
                part = Parts([], [add[1].add(f"{tables[obj.name]}[k * {n} + i]", None) + f"  // tabulated input {obj.name}"], [])
            else:
                u, iptrs, iel = ins[obj.name]
                n_static = len(jax.tree.leaves(params.inputs[obj.name]))
                in_b = [None] * n_static + [("ptr", q) for q in iptrs] + [("val", "t"), ("ptr", subs), v]
                out_b = [("ptr", q, e) for q, e in zip(iptrs, jax.tree.leaves(iel))] + [add]
                part = unit_parts(u, in_b, out_b, hz[("inp", obj.name)], f"input {obj.name}", f"t{j}_")
            ranged.append((a, b, part))
        # the gap junctions' currents come after every other term (as the scan adds them): the
        # terms' sum is stored, the junctions add into it, and then the neurons step in a loop of their own
        gap = _gap_code(net, p.name, gaps, vgap, f"gcur_{_c(p.name)}", ft)
        if gap:
            buf(f"gcur_{_c(p.name)}", p.n)
            ranged.append((0, p.n, Parts([], [f"gcur_{_c(p.name)}[i] = acc;"], [])))
        n_static = len(jax.tree.leaves(params.neurons[p.name]))
        current = ("ptr", f"gcur_{_c(p.name)}") if gap else ("local", "acc")
        in_b = [None] * n_static + [("ptr", q) for q in ptrs] + [current]
        out_b = [("ptr", q, e) for q, e in zip(ptrs, jax.tree.leaves(el))] + [("ptr", f"spk_{_c(p.name)}", True)]
        neurons = unit_parts(step_u, in_b, out_b, hz[("step", p.name)], f"neurons of {p.name}", "n_")
        if not gap:
            ranged.append((0, p.n, neurons))
        first = [f"{ft} acc = ({ft})0;"] + ([f"{ft} v_here;"] if vbind == ("local", "v_here") else [])
        cuts = sorted({0, p.n} | {x for a, b, _ in ranged for x in (a, b)})
        # every function's shared values are read once before the pieces and its shared outputs
        # written once after them (a step counter is advanced once, whatever the pieces)
        loop += [f"{{  // population {p.name}"] + [x for _, _, part in ranged for x in part.pre]
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            here = [_local(Parts([], part.body, [], part.switches), a) for a, b, part in ranged if a <= lo and hi <= b]
            what = "" if (lo, hi) == (0, p.n) else f" [{lo}, {hi})"
            loop += loop_block(here, hi, f"population {p.name}{what}: synapses, currents"
                               + ("" if gap else " and neurons"), first, start=lo, threads=threads)
        if gap:
            loop += gap + loop_block([neurons], p.n, f"population {p.name}: neurons", threads=threads)
        loop += [x for _, _, part in ranged for x in part.post] + ["}"]
        loop += [f"if (bits) ns_spike_bits(spk_{_c(p.name)}, {p.n}, bits + k * {n_words}, {offsets[p.name]});"]
    # 3. modulators, from this step's spikes (their state in place: shared values, read first)
    for m in net.modulators:
        u, mptrs = mods[m.name]
        in_b = [("ptr", q) for q in mptrs] + [("ptr", f"spk_{_c(p.name)}") for p in net.populations] + \
               [("val", "t"), ("ptr", subs)]
        lines, arrays = space_code(u, in_b, [("ptr", q) for q in mptrs], hz[("mod", m.name)], f"modulator {m.name}",
                                   temp=lambda raw, m=m: f"{raw}_mod_{_c(m.name)}")
        for raw, (dt_, space) in arrays.items():
            buf(f"{raw}_mod_{_c(m.name)}", u.sizes[space], ctype(dt_))
        loop += lines
    mod_values = [("ptr", mods[m.name][1][0]) for m in net.modulators]     # each ModulatorState's value
    # 4-6. per projection: its delay ring and the delivery of the spikes that arrive; then the
    # synapses (each projection's drive is its own, so all deliveries may come first), one loop
    # per postsynaptic population for the projections onto all of it; a drive is zeroed as read
    depth = delay_depths(net, dt)
    by_name = {pr.name: pr for pr in net.projections}
    steps_onto = {}
    merged = {}     # the deliveries that share a pass over their spikes (_deliveries)

    def deliver_later(name, spikes, n, before, each, after):
        merged.setdefault((spikes, n), []).append((name, by_name[name].conn.nnz, before, each, after))

    def schedule_synapses(pr, post, n_post):
        """The projection's synapse step, in the loop over its postsynaptic population (or its slice)."""
        whole = not sliced(net, net._refs[pr.name][1])
        steps_onto.setdefault(post if whole else pr.name, []).append((syn_parts[pr.name], n_post, pr.name))

    for (name, ip_, ix_, w_), pr in zip(conns, net.projections):
        (pre, a, b), (post, c, d) = net._refs[pr.name]
        cur_u, step_u, ptrs, el = syns[pr.name]
        arrive = f"(spk_{_c(pre)} + {a})"
        if pr.name in ring_slots:      # per-synapse delays: this step's spikes into the ring of postsynaptic input
            deliver_later(pr.name, arrive, b - a, *_ring_code(
                pr.name, d - c, depth[pr.name], ip_, w_, weights[pr.name],
                delays[pr.name], ring_slots[pr.name], ring_drives[pr.name]))
            schedule_synapses(pr, post, d - c)
            continue
        n_pre, n_post, dd = b - a, d - c, depth[pr.name] - 1
        if not dd and pr.name not in chains:      # the spikes of this step arrive: delivered with the others
            drive = buf(f"drive_{_c(pr.name)}", n_post)
            deliver_later(pr.name, arrive, n_pre, [], [
                f"ns_row({drive}, {ix_}, {w_}, {'true' if weights[pr.name] else 'false'}, s, {ip_}[j], {ip_}[j + 1]);"
                f"  // {pr.name}"], [])
            schedule_synapses(pr, post, n_post)
            continue
        loop.append(f"{{  // projection {pr.name}: delay ring ({dd} deep), delivery")
        if dd:
            buf(f"ring_{_c(pr.name)}", n_pre)
            loop += [f"  const int64_t slot = (int64_t)(t % {dd});",
                     f"  std::memcpy(ring_{_c(pr.name)}, {delays[pr.name]} + slot * {n_pre}, sizeof({ft}) * {n_pre});",
                     f"  std::memcpy({delays[pr.name]} + slot * {n_pre}, {arrive}, sizeof({ft}) * {n_pre});"]
            arrive = f"ring_{_c(pr.name)}"
        drive = buf(f"drive_{_c(pr.name)}", n_post)
        w_deliver, one_w = w_, weights[pr.name]
        if pr.name in chains:
            code, dptrs, wptr, sizes, read = chains[pr.name]
            tag = _c(pr.name)
            if pr.plastic:
                w_deliver, one_w = wptr, False
            n_static = len(jax.tree.leaves((tuple(params.projections[pr.name].dynamics[m.key] for m in pr.chain),
                                            decay_time(params.projections[pr.name].synapse))))
            rows_ = csr_extra[pr.name]["rows"]
            ev_b = [("ptr", w_deliver), ("ptr", arrive), ("ptr", f"(spk_{_c(post)} + {c})"), ("ptr", rows_),
                    ("ptr", ix_), ("val", "t")] + mod_values + [("ptr", q) for name in read for q in pops[name][2]]
            in_b = [None] * n_static + [("ptr", q) for q in dptrs] + ev_b

            def emit(u, outs, title, visits=None, tag=tag):
                lines, arrays = space_code(u, in_b, outs, hz[(title, pr.name)], f"{title} of projection {pr.name}",
                                           visits, temp=lambda raw: f"{raw}_{title}_{tag}")
                for raw, (dt_, space) in arrays.items():
                    buf(f"{raw}_{title}_{tag}", u.sizes[space], ctype(dt_))
                return ["  " + x for x in lines]

            # the synapses an event-driven modulate or update visits: the rows of the spikes that
            # arrive (and, for the update, then the columns of the neurons that fired, less the
            # synapses of those rows), each once
            cx = csr_extra[pr.name]
            rows_visit = {"syn": [_spiking(arrive, n_pre, f"for (int64_t i = {ip_}[j]; i < {ip_}[j + 1]; ++i) {{",
                                           known={rows_: "(int32_t)j"})]}
            both_visit = {"syn": rows_visit["syn"] + [_spiking(
                f"(spk_{_c(post)} + {c})", n_post, f"for (int32_t r = {cx['col_ptr']}[j]; r < {cx['col_ptr']}[j + 1]; ++r) {{",
                f"  const int64_t i = {cx['col_perm']}[r];",
                # a column's synapses lie scattered over the CSR: ask for their weights a few ahead
                *([f"  if (r + 8 < {cx['col_ptr']}[j + 1]) __builtin_prefetch({wptr} + {cx['col_perm']}[r + 8]);"]
                  if pr.plastic else []),
                f"  if ({arrive}[{cx['col_rows']}[r]] != 0) continue;",
                known={ix_: "(int32_t)j", rows_: f"{cx['col_rows']}[r]"})]}
            if code.modulate is not None:
                dlv = buf(f"dlv_{tag}", sizes["syn"])
                loop += emit(code.modulate, [("ptr", q) for q in dptrs] + [("ptr", dlv)], "modulate",
                             rows_visit if code.modulate_rows else None)
                w_deliver, one_w = dlv, False
        # the presynaptic neurons whose spikes arrive deliver their rows
        loop += ["  " + x for x in _each_spike(arrive, n_pre, [
            f"const {ft} s = {arrive}[j];",
            f"ns_row({drive}, {ix_}, {w_deliver}, {'true' if one_w else 'false'}, s, {ip_}[j], {ip_}[j + 1]);"])]
        if pr.name in chains and code.update is not None:
            outs = [("ptr", q) for q in dptrs] + [("ptr", wptr) if pr.plastic else None]
            update = emit(code.update, outs, "update", both_visit if code.event_driven else None)
            if code.tick_update is not None and code.tick_after:     # the update, then on due steps the tick
                loop += update + [f"  if ((t + 1) % {code.tick_steps} == 0) {{"]
                loop += ["  " + x for x in emit(code.tick_update, outs, "tick_update")] + ["  }"]
            elif code.tick_update is not None:
                loop += [f"  if ((t + 1) % {code.tick_steps} == 0) {{"]
                loop += ["  " + x for x in emit(code.tick_update, outs, "tick_update")]
                loop += ["  } else {"] + ["  " + x for x in update] + ["  }"]
            else:
                loop += update
        loop.append("}")
        schedule_synapses(pr, post, n_post)
    loop += _deliveries(merged, ft, threads)
    after = []      # the synapse updates of the last step, after the step loop
    for key, group in steps_onto.items():
        block = loop_block([part for part, _, _ in group], group[0][1],
                           f"synapses of {', '.join(name for _, _, name in group)}", threads=threads)
        if defer:
            after += block
        else:
            loop += block
    # Observe monitors, on the state after the step
    observed = []
    for m, u in observers:
        in_b = [("ptr", q) for name in sorted(pops) for q in pops[name][2]]
        in_b += [("ptr", q) for name in sorted(syns) for q in syns[name][2]]
        in_b += [("ptr", q) for name in sorted(mods) for q in mods[name][1]]
        in_b += [("val", "(t + 1)")] + [("ptr", f"spk_{_c(p.name)}") for p in net.populations]
        outs, leaves = [], []
        for j, node in enumerate(u.outputs):
            width = 1 if node.elem is False and not node.shape else int(np.prod(node.shape))
            ptr = slots.add(f"observe {m.key} {j}", node.dtype)
            outs.append(("ptr", f"({ptr} + k * {width})"))
            leaves.append((tuple(node.shape), node.dtype))
        hz[("obs", m.key)] = add_unit(u, lambda prm: [])
        lines, arrays = space_code(u, in_b, outs, hz[("obs", m.key)], f"Observe {m.key}",
                                   temp=lambda raw, m=m: f"{raw}_obs_{_c(m.key)}")
        for raw, (dt_, space) in arrays.items():
            buf(f"{raw}_obs_{_c(m.key)}", u.sizes[space], ctype(dt_))
        loop += lines
        observed.append((m.key, u.out_tree, leaves))
    # Trace monitors, on the state after the step that ends a window of `every` steps (the end of
    # the run, when a shorter window ends it, is read by the engine from the final state)
    for m, (ids_p, out_p, j) in zip(traces, trace_ptrs):
        src = pops[m.pop][2][j]
        width = len(np.atleast_1d(m.ids)) if m.ids is not None else pop_n[m.pop]
        loop += [f"if ((done + k + 1) % {m.every} == 0) {{  // Trace {m.key}",
                 f"  for (int64_t q = 0; q < {width}; ++q) {out_p}[row_{_c(m.key)} * {width} + q] = {src}[{ids_p}[q]];",
                 f"  ++row_{_c(m.key)};", "}"]

    body += [f"{t}* __restrict {name} = ({t}*)std::calloc({max(n, 1)}, sizeof({t}));" for name, (n, t) in scratch.items()]
    body += [f"int64_t row_{_c(m.key)} = 0;" for m in traces]
    body += [f"{ft}* {ptr} = {delays[name]};" for name, ptr in ring_drives.items()]
    body.append("for (int64_t k = 0; k < n_steps; ++k) {")
    body += ["  " + s for s in loop]
    body.append("}")
    if after:
        body += ["if (n_steps > 0) {  // the synapse updates of the call's last step"] + ["  " + x for x in after] + ["}"]
    body += [f"std::free({name});" for name in scratch]
    source = program(slots, body)
    return NativePlan(net, dt, dtype, source, slots, units, state_slots, conns, tabulated,
                      [(p.name, offsets[p.name], p.n) for p in net.populations], n_words, traces, trace_leaf,
                      observed=observed)


def _spike_nest(spikes: str, n: int) -> tuple:
    """``(head, tail)``: C++ lines opening and closing a loop over the neurons ``j`` whose entry
    of ``spikes`` (``n`` of them) is not 0, in order, 32 at a time (a branch-free mask, then its
    set bits); the lines between them are indented by 4."""
    return ([f"for (int64_t base = 0; base < {n}; base += 32) {{",
             f"  uint32_t m = ns_nonzero32({spikes} + base, {n} - base);",
             "  while (m) {", "    const int64_t j = base + __builtin_ctz(m);", "    m &= m - 1;"], ["  }", "}"])


def _each_spike(spikes: str, n: int, body: list) -> list:
    """The lines running ``body`` for every neuron ``j`` of :func:`_spike_nest`."""
    head, tail = _spike_nest(spikes, n)
    return head + ["    " + x for x in body] + tail


def _spiking(spikes: str, n: int, loop: str, *inner: str, known: dict):
    """A loop nest (:func:`_spike_nest`) ending in the loop ``loop`` over the synapses of each
    such neuron and the lines ``inner`` (which define ``int64_t i``): a visit of
    :func:`spaces.space_code`, in which the arrays of ``known`` hold the given expressions at
    ``i`` (a row's presynaptic index is ``j``)."""
    def nest(pragma):
        head, tail = _spike_nest(spikes, n)
        return head + ["    " + x for x in [*pragma, loop, *inner]], ["    }"] + tail, known
    return nest


def _gap_voltages(net, pops, hz, buf, ft) -> dict:
    """Population name -> ``(pointer, lines)``: where the gap junctions read the membrane
    potentials of a coupled population at the start of the step, and the statements (at the
    step's start) that put them there. A population's junction currents are added in its own
    section of the step, before its neurons step; a junction's currents read both of its
    populations, so a population that a later population's section reads is copied (its
    ``voltage`` computed) before any steps. A voltage that is a state leaf and is read by no later
    population is read in place."""
    order = {p.name: k for k, p in enumerate(net.populations)}
    snapshot = {}
    for gj in net.gap_junctions:
        (pre, _, _), (post, _, _) = net._refs[gj.name]
        readers = {post, pre} if gj.symmetric else {post}      # the sections that add its currents
        for x in (pre, post):
            snapshot[x] = snapshot.get(x, False) or any(order[r] > order[x] for r in readers)
    out = {}
    for p in net.populations:
        if p.name not in snapshot:
            continue
        _, volt_u, ptrs, _ = pops[p.name]
        if volt_u is None:        # (the network refuses such a junction already)
            raise Unlowerable(f"population {p.name!r}", None, "a gap junction couples it, but it has no voltage")
        same = [j for j, x in enumerate(volt_u.inputs) if x is volt_u.outputs[0]]
        if same and not snapshot[p.name]:
            out[p.name] = (ptrs[same[0]], [])
            continue
        ptr = buf(f"vgap_{_c(p.name)}", p.n)
        if same:
            lines = [f"std::memcpy({ptr}, {ptrs[same[0]]}, sizeof({ft}) * {p.n});  // gap junctions: v of {p.name}"]
        else:
            lines = unit_block(volt_u, p.n, [("ptr", q) for q in ptrs], [("ptr", ptr, True)], hz[("volt", p.name)],
                               f"gap junctions: the membrane potential of {p.name}")
        out[p.name] = (ptr, lines)
    return out


def _gap_code(net, name: str, gaps: dict, v: dict, cur: str, ft: str) -> list:
    """The C++ that adds the gap junctions' currents into population ``name``'s input current
    ``cur`` (the sum of its other terms), from the membrane potentials ``v`` (population name ->
    pointer) at the start of the step, junction by junction in network order. The sums are
    XLA's for the scan's ``current + segment_sum(flow)`` (``neurosim.network.gap``), which it
    rewrites into a scatter-add into the current: each junction's current ``g (V_pre -
    V_post)`` is added to its postsynaptic neuron's total in CSR order. A symmetric junction's
    reverse current, the negated sum of a row's currents (from 0), is subtracted from its
    presynaptic neuron's total before (XLA's order when both sides are one population)."""
    lines = []
    for gj in net.gap_junctions:
        (pre, a, b), (post, c, _) = net._refs[gj.name]
        ip_, ix_, g_, one = gaps[gj.name]
        flow = f"{g_}[{'0' if one else 'q'}] * (vj - {v[post]}[{c} + {ix_}[q]])"
        row = [f"  for (int64_t j = 0; j < {b - a}; ++j) {{", f"    const {ft} vj = {v[pre]}[{a} + j];"]
        if gj.symmetric and pre == name:
            lines += [f"{{  // gap junction {gj.name}: the current back into its presynaptic neurons"] + row
            lines += [f"    {ft} s = ({ft})0;",
                      f"    for (int32_t q = {ip_}[j]; q < {ip_}[j + 1]; ++q) s += {flow};",
                      f"    {cur}[{a} + j] -= s;", "  }", "}"]
        if post == name:
            lines += [f"{{  // gap junction {gj.name}: the current into its postsynaptic neurons"] + row
            lines += [f"    for (int32_t q = {ip_}[j]; q < {ip_}[j + 1]; ++q) {cur}[{c} + {ix_}[q]] += {flow};",
                      "  }", "}"]
    return lines


def _local(part: Parts, start: int) -> Parts:
    """``part``, whose code reads element ``i`` of a slice starting at ``start``, in a loop over
    the whole population: its body sees its own index."""
    if not start:
        return part
    return Parts(part.pre, [f"{{ const int64_t i_slice = i - {start};", "  { const int64_t i = i_slice;"]
                 + ["    " + x for x in part.body] + ["  }", "}"], part.post, part.switches)


def _dynamics(pr, dynamics: dict) -> tuple:
    """A projection's mechanism states in chain order (the order its lowered chain reads them)."""
    return tuple(dynamics[m.key] for m in pr.chain)


def _c(name: str) -> str:
    """A C++ identifier for a network name (its letters, and a hash that keeps names apart)."""
    return "".join(ch if ch.isalnum() else "_" for ch in name) + f"_{zlib.crc32(name.encode()) % 100000}"


def _identifier_clash(net, monitors) -> str | None:
    """Why the program cannot name every population, projection, modulator and monitor apart
    (two names of one kind with the same :func:`_c`: their buffers would be one), or None."""
    kinds = {"populations": [p.name for p in net.populations], "projections": [pr.name for pr in net.projections],
             "modulators": [m.name for m in net.modulators], "monitors": [m.key for m in monitors if hasattr(m, "key")]}
    for kind, names in kinds.items():
        seen = {}
        for name in names:
            other = seen.setdefault(_c(name), name)
            if other != name:
                return (f"the {kind} {other!r} and {name!r} get the same C++ identifier {_c(name)!r} in the native "
                        "program; rename one of them")
    return None


def _tabulable(fn, args, state) -> str | None:
    """Why an input's current cannot be computed ahead of the kernel call as a table, or None:
    its current must read neither its state nor the membrane, and it must leave its state as it is."""
    leaves = [len(jax.tree.leaves(a)) for a in args]
    first_state, n_state = leaves[0], leaves[1]
    v_leaf = sum(leaves) - 1
    flat_args, tree = jax.tree.flatten(args)

    def flat(*xs):
        return jax.tree.leaves(fn(*jax.tree.unflatten(tree, xs)))

    closed = jax.make_jaxpr(flat)(*flat_args)
    outs = closed.jaxpr.outvars
    deps = _depends(closed, [len(outs) - 1])
    if v_leaf in deps:
        return "its current depends on the membrane potential"
    if deps & set(range(first_state, first_state + n_state)):
        return "its current depends on its state"
    for k in range(n_state):
        if outs[k] is not closed.jaxpr.invars[first_state + k]:
            return "it changes its state"
    return None


# --------------------------------------------------------------------------- running it


def build(plan: NativePlan) -> float:
    """Compile (or load from the cache) the plan's program; returns the seconds compiling took."""
    if plan.fn is None:
        fn, spent = compiler.load(plan.source, "ns_run")
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]
        plan.fn, plan.compile_s = fn, spent
    return plan.compile_s


def _hoist_fn(plan: NativePlan):
    def hoist(params):
        out = []
        for unit in plan.units:
            out += unit.lowered.hoist([jnp.asarray(x) for x in unit.statics(params)])
        return out
    return jax.jit(hoist)


def _prep_fn(plan: NativePlan, n_steps: int):
    """Advances the network key as ``n_steps`` scan steps do, and fills the tabulated inputs'
    tables with the values the scan would draw (its keys: ``split`` per step, ``fold_in`` by
    the input's index); also each step's subkey (its data), which lowered draws start from."""
    net, dt = plan.net, plan.dt

    def prep(input_params, key, inputs, t0):   # one scan over the steps, as the fused kernel's tables
        def one(key, t):
            key, sub = jax.random.split(key)
            rows = []
            for idx, name, n in plan.tabulated:
                inp, v = net.inputs[idx], jnp.zeros((n,), plan.dtype)
                _, i = inp.source.current(input_params[name], inputs[name], t, dt, jax.random.fold_in(sub, idx), v)
                rows.append(jnp.broadcast_to(i, (n,)).astype(plan.dtype))
            return key, (rows, jax.random.key_data(sub))

        return jax.lax.scan(one, key, t0 + jnp.arange(n_steps, dtype=jnp.int32))
    return jax.jit(prep)


class NativeEngine(Runner):
    """The native program as an engine of ``simulate``'s driver: chunks of up to
    :data:`MAX_CHUNK` steps (fewer when tabulated inputs or monitors would hold more than
    ``max_chunk_bytes``), spikes from the program's spike bits, traces recorded by it."""

    name = "native"

    def __init__(self, plan: NativePlan, monitors, n_steps: int, chunk_steps: int | None, max_chunk_bytes: float):
        self.nplan, self.n_steps = plan, n_steps
        per_step = 4 * plan.n_words + sum(n * plan.dtype.itemsize for _, _, n in plan.tabulated)
        per_step += sum(8 * (len(np.atleast_1d(m.ids)) if m.ids is not None else plan.net.population(m.pop).n) / m.every
                        for m in plan.traces)
        longest = max(1, min(int(max_chunk_bytes // per_step), MAX_CHUNK))
        if plan.tabulated:
            longest = max(1, min(longest, int(TABLE_BYTES // sum(n * plan.dtype.itemsize for _, _, n in plan.tabulated))))
        chunk = longest if chunk_steps is None else min(chunk_steps, MAX_CHUNK)
        # Weights monitors read the state at chunk ends (as the fused engine's): chunks of g steps
        # at most (g the gcd of their `every`), or a divisor of g when g is longer than a chunk may be
        self.weights = [m for m in monitors if isinstance(m, Weights)]
        if self.weights:
            chunk = sampling_chunk(min(chunk, longest), [m.every for m in self.weights])
        self.plan = [chunk] * (n_steps // chunk) + ([n_steps % chunk] if n_steps % chunk else [])
        self.spike_pops = sorted({m.pop for m in monitors if isinstance(m, Spikes)})
        self.rate_pops = sorted({m.pop for m in monitors if isinstance(m, Rate)})
        self.where = {name: (off, n) for name, off, n in plan.pops}
        self._fixed = None

    @staticmethod
    def steps(item) -> int:
        return item

    def cache_key(self, item, params, state):
        return ("native", self.nplan.source, signature(params, state), self.nplan.dt, item)

    def compile(self, item, params, state):
        build(self.nplan)
        prep = _prep_fn(self.nplan, item).lower(params.inputs, state.key, state.inputs, state.t).compile()
        hoist = _hoist_fn(self.nplan).lower(params).compile()
        return item, prep, hoist

    def run(self, fn, params, state, done):
        n_steps, prep, hoist = fn
        build(self.nplan)   # a chunk compiled for another plan of the same program (other monitors) is taken too
        key, (rows, subkeys) = prep(params.inputs, state.key, state.inputs, state.t)   # the inputs' params only
        hoisted = [np.ascontiguousarray(np.asarray(x)) for x in hoist(params)]
        if self._fixed is None or self._fixed[0] is not params:    # the connectivity and weights, once per run
            self._fixed = (params, _connectivity(self.nplan, params))
        fixed = {**self._fixed[1], "subkeys": np.ascontiguousarray(np.asarray(subkeys), np.uint32)}
        state, (bits, sampled, observed) = _call(self.nplan, fixed, state, hoisted, key, rows, done, n_steps,
                                                 bool(self.spike_pops or self.rate_pops))
        # read from the state at this chunk's end: the Weights monitors due there, and the Trace
        # monitors' last sample when a window shorter than `every` ends the run
        end = done + n_steps
        due = [m for m in self.weights if sample_due(end, m.every, self.n_steps)]
        due += [m for m in self.nplan.traces if end == self.n_steps and end % m.every != 0]   # in-loop otherwise
        for m in due:
            at, values = sampled.get(m.key, (np.zeros((0,), np.int64), None))
            value = np.asarray(m.read(state))[None]
            sampled[m.key] = (np.append(at, n_steps), value if values is None else np.concatenate([values, value]))
        return state, (bits, sampled, observed)

    def to_host(self, raw, item, done):
        bits, sampled, observed = raw
        spikes, rates = spikes_and_rates(bits, item, self.where, self.spike_pops, self.rate_pops, self.nplan.dt)
        return Chunk(item, spikes, rates, sampled, observed)


# How many synapses ahead a ring delivery prefetches its slot: a ring is D x n_post inputs
# (tens of MB in all at the microcircuit's full scale), so most additions miss the cache; 64
# ahead measured 19 % faster than none at scale 0.5 (16 and 32: 15 %; docs/performance.md)
RING_PREFETCH = 64


def _ring_code(name, n_post, depth, ip_, w_, one_w, ring, slot, drive) -> tuple:
    """The delivery of a projection with per-synapse delays (neurosim.events.delays), as
    ``(before, each, after)`` lines for :func:`_deliveries`: every synapse of a neuron ``j`` that
    spiked in this step (its spike ``s``) adds into the ring of postsynaptic input at its slot,
    prefetching the slot :data:`RING_PREFETCH` synapses on (the row's order of additions, so every
    sum, is unchanged); then ``drive`` points at this step's row, which the synapse step reads and
    clears in place (in this step, or at the start of the next one where the synapse step is
    deferred)."""
    size, start = depth * n_post, f"start_{_c(name)}"
    w = f"{w_}[0]" if one_w else f"{w_}[q]"
    return ([f"// projection {name}: per-synapse delays, a ring of {depth} x {n_post} inputs",
             f"const int64_t {start} = (int64_t)(t % {depth}) * {n_post};"],
            [f"for (int32_t q = {ip_}[j], e = {ip_}[j + 1]; q < e; ++q) {{  // {name}",
             *([f"  if (q + {RING_PREFETCH} < e) {{   // the slot {RING_PREFETCH} synapses on, fetched ahead",
                f"    int64_t ahead = (int64_t){slot}[q + {RING_PREFETCH}] + {start};",
                f"    __builtin_prefetch({ring} + (ahead >= {size} ? ahead - {size} : ahead), 1);",
                "  }"] if RING_PREFETCH else []),
             f"  int64_t at = (int64_t){slot}[q] + {start};",
             f"  if (at >= {size}) at -= {size};",
             f"  {ring}[at] += s * {w};",
             "}"],
            [f"{drive} = {ring} + {start};   // {name}: this step's row, which the synapse step reads and clears"])


def _deliveries(merged: dict, ft: str, threads: int = 1) -> list:
    """The deliveries of the projections whose spikes arrive without a delay ring of their own:
    ``merged`` maps ``(spikes, n)`` to ``(name, nnz, before, each, after)`` for each projection
    reading that spike array. Each adds into its own drive or ring, in row order, so neither
    sharing a pass nor running on another thread changes a sum.

    ``threads == 1``: one pass over each spike array for all the deliveries that read it.
    ``threads > 1``: one task per projection, the largest first, on ``threads`` OpenMP threads
    (each writes only its own drive or ring: the same additions in the same order)."""
    lines = []
    if threads > 1:
        tasks = sorted(((nnz, name, spikes, n, parts) for (spikes, n), group in merged.items()
                        for name, nnz, *parts in group), key=lambda x: -x[0])
        if len(tasks) > 1:
            lines += [f"#pragma omp parallel for schedule(dynamic, 1) num_threads({threads})",
                      f"for (int task = 0; task < {len(tasks)}; ++task) {{", "  switch (task) {"]
            for k, (_, name, spikes, n, (before, each, after)) in enumerate(tasks):
                lines += [f"  case {k}: {{  // delivery of {name}"] + ["    " + x for x in before]
                lines += ["    " + x for x in _each_spike(spikes, n, [f"const {ft} s = {spikes}[j];", *each])]
                lines += ["    " + x for x in after] + ["  } break;"]
            return lines + ["  }", "}"]
    for (spikes, n), group in merged.items():
        names = [g[0] for g in group]
        before, each, after = ([x for g in group for x in g[k]] for k in (2, 3, 4))
        lines += [f"{{  // delivery of {', '.join(names)}: one pass over the spikes"] + ["  " + x for x in before]
        lines += ["  " + x for x in _each_spike(spikes, n, [f"const {ft} s = {spikes}[j];", *each])]
        lines += ["  " + x for x in after] + ["}"]
    return lines


# Networks of at least this many synapses run on several threads (native_threads)
THREADED_SYNAPSES = 2_000_000


def native_threads(net) -> int:
    """How many threads run the program's element loops and deliveries, for a network of at
    least :data:`THREADED_SYNAPSES` synapses (below it a step is too short to share; else 1):
    the cores this process may run on (``os.sched_getaffinity``), at most ``NEUROSIM_THREADS``
    and at most ``OMP_NUM_THREADS`` where those are set. The spike trains and states are the
    same for any number."""
    if sum(pr.conn.nnz for pr in net.projections if isinstance(pr.conn, CSR)) < THREADED_SYNAPSES:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    for var in ("NEUROSIM_THREADS", "OMP_NUM_THREADS"):
        raw = os.environ.get(var)
        if raw is None or (var == "OMP_NUM_THREADS" and not raw.strip().isdigit()):
            continue        # (OpenMP's own list forms, "4,2", are OpenMP's to read)
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if limit < 1:
            raise ValueError(f"{var} must be a whole number of threads >= 1, got {raw!r}")
        cores = min(cores, limit)
    return max(1, cores)


def _connectivity(plan: NativePlan, params) -> dict:
    """The CSR index arrays and the weights of every projection, and of every gap junction its
    CSR and conductances, as the program reads them."""
    out, conns = {}, plan.net.connectivity()
    for name, *_ in plan.conns:
        out[f"indptr {name}"] = np.ascontiguousarray(conns[name].indptr, np.int32)
        out[f"indices {name}"] = np.ascontiguousarray(conns[name].indices, np.int32)
        out[f"weights {name}"] = np.ascontiguousarray(np.asarray(params.projections[name].weights, plan.dtype))
        if f"rows {name}" in plan.slots.names:
            conn = conns[name].with_columns()
            for k in ("rows", "col_ptr", "col_perm"):
                out[f"{k} {name}"] = np.ascontiguousarray(getattr(conn, k), np.int32)
            out[f"col_rows {name}"] = np.ascontiguousarray(out[f"rows {name}"][out[f"col_perm {name}"]])
    for gj in plan.net.gap_junctions:      # the gap junctions' CSR and conductances
        out[f"gap indptr {gj.name}"] = np.ascontiguousarray(conns[gj.name].indptr, np.int32)
        out[f"gap indices {gj.name}"] = np.ascontiguousarray(conns[gj.name].indices, np.int32)
        out[f"gap g {gj.name}"] = np.ascontiguousarray(np.asarray(params.gap_junctions[gj.name], plan.dtype))
    return out


def _call(plan: NativePlan, fixed: dict, state, hoisted, key, rows, done, n_steps, want_bits):
    """One call of the program: every slot's buffer by name, the call, the new state.
    ``fixed``: :func:`_connectivity`'s arrays."""
    by_name = {"bits": np.zeros((n_steps, plan.n_words), np.uint32) if want_bits else None, **fixed}
    hoisted = iter(hoisted)
    for unit in plan.units:
        for h in range(len(unit.lowered.hoisted)):
            by_name[f"hoisted {unit.lowered.label} {h}"] = next(hoisted)
    by_pr = {pr.name: pr for pr in plan.net.projections}
    groups = {"neurons": state.neurons, "synapses": state.synapses, "inputs": state.inputs, "weights": state.weights,
              "modulators": state.modulators,
              "dynamics": {name: _dynamics(by_pr[name], d) for name, d in state.dynamics.items()}}
    leaves = {}
    for group, name, j in plan.state_slots:
        if group == "delays":
            continue
        if (group, name) not in leaves:
            leaves[(group, name)] = [np.array(x) for x in jax.tree.leaves(groups[group][name])]
        by_name[f"state {group} {name} {j}"] = leaves[(group, name)][j]
    delays = {pr.name: np.array(_ring_or_buffer(state.delays[pr.name]), plan.dtype) for pr in plan.net.projections}
    for name, x in delays.items():
        by_name[f"delays {name}"] = x
        if isinstance(state.delays[name], DelayRing):
            by_name[f"ring slots {name}"] = np.ascontiguousarray(np.asarray(state.delays[name].slot), np.int32)
    for (_, name, _), r in zip(plan.tabulated, rows):
        by_name[f"table {name}"] = np.ascontiguousarray(np.asarray(r))
    samples = {}
    observed = {}
    for name, tree, leaves_ in plan.observed:
        arrays_ = [np.zeros((n_steps,) + shape, dtype) for shape, dtype in leaves_]
        for j, arr in enumerate(arrays_):
            by_name[f"observe {name} {j}"] = arr
        observed[name] = (tree, arrays_)
    for m in plan.traces:
        idx = np.arange(n_steps) + 1          # steps into the call after each step
        rows_m = idx[(idx + done) % m.every == 0]
        ids = np.arange(plan.net.population(m.pop).n) if m.ids is None else np.atleast_1d(np.asarray(m.ids))
        leaf = jax.tree.leaves(state.neurons[m.pop])[plan.trace_leaf[m.key]]
        out = np.zeros((len(rows_m), len(ids)), np.asarray(leaf).dtype)
        samples[m.key] = (rows_m, out)
        by_name[f"trace ids {m.key}"] = np.ascontiguousarray(ids, np.int64)
        by_name[f"trace out {m.key}"] = out
    arrays = [by_name[name] for name in plan.slots.names]
    for arr, dt_, name in zip(arrays, plan.slots.dtypes, plan.slots.names):
        if arr is not None and (arr.dtype != dt_ or not arr.flags.c_contiguous):
            raise AssertionError(f"native engine: slot {name!r} holds {arr.dtype}, expected {dt_}")
    ptrs = (ctypes.c_void_p * len(arrays))(*[None if x is None else x.ctypes.data for x in arrays])
    rc = plan.fn(ptrs, n_steps, int(state.t), int(done))
    if rc != 0:
        raise RuntimeError(f"the native program returned {rc}")
    new = {}
    for (group, name), ls in leaves.items():
        tree = jax.tree.structure(groups[group][name])
        value = jax.tree.unflatten(tree, [jax.device_put(x) for x in ls])
        if group == "dynamics":
            value = {m.key: v for m, v in zip(by_pr[name].chain, value)}
        new.setdefault(group, {})[name] = value
    out_state = state._replace(
        t=jax.device_put(np.int32(int(state.t) + n_steps)), key=key,
        neurons={**state.neurons, **new.get("neurons", {})},
        synapses={**state.synapses, **new.get("synapses", {})},
        inputs={**state.inputs, **new.get("inputs", {})},
        dynamics={**state.dynamics, **new.get("dynamics", {})},
        weights={**state.weights, **new.get("weights", {})},
        modulators={**state.modulators, **new.get("modulators", {})},
        delays={k: (state.delays[k]._replace(ring=jax.device_put(v)) if isinstance(state.delays[k], DelayRing)
                    else jax.device_put(v)) for k, v in delays.items()})
    return out_state, (by_name["bits"], samples, {k: jax.tree.unflatten(t_, a_) for k, (t_, a_) in observed.items()})


def _ring_or_buffer(delays):
    """What the program reads of a projection's delay state: a ring's inputs, or the buffer."""
    return delays.ring if isinstance(delays, DelayRing) else delays


def cached_plan(net, params, dt, monitors, state):
    """:func:`native_plan`, kept on the network for these shapes, dt and monitors."""
    key = ("native-plan", dt, signature(params, state), describe_monitors(monitors), native_threads(net))
    if key not in net._cache:
        net._cache[key] = native_plan(net, params, dt, monitors, state)
    return net._cache[key]
