"""Lowering a function over several element spaces: what a per-synapse mechanism computes.

A neuron's step is elementwise over one population (:mod:`.lower`). A per-synapse mechanism
(short-term plasticity, an STDP rule) works on three sets of elements at once: the presynaptic
neurons (``pre``: traces), the postsynaptic neurons (``post``) and the synapses (``syn``: weights,
per-synapse state), and moves values between them: a synapse reads its neurons' traces by
*gathers* (``x[conn.rows]``), a neuron may sum over its synapses (a *scatter-add*,
``segment_sum``), and a shared value may sum over a space (``jnp.sum``).

:func:`lower_spaces` traces the function twice, with every space at its real size and then
with each space grown by a different amount (1, 2, 3, ...), so that a value's space is known
from how its shape changes, even where two spaces have the same size. Its statements are then
*scheduled* into segments, in the jaxpr's order: a segment is one loop over one space (or, for
shared values, statements run once). A statement joins the earliest segment of its space that
comes after everything it reads: after the segment that computed a value of another space (a
gather reads a whole array), in or after the segment of a value of its own space (element ``i``
reads element ``i``). Values read across segments are kept in arrays (``ta*``), the others
are scalars in the loop. So an STDP rule becomes three loops: the presynaptic traces, the
postsynaptic traces, then the synapses, which gather the new traces.

:func:`space_code` writes the C++: pointers for the inputs, the segments in order, the outputs
stored in place where no later segment reads what they overwrite (else through an array). A
space may be *visited* instead of swept: its loops then run inside loop nests that name the
elements to visit (the rows of the spikes that arrive, then the columns of the neurons that
fired, for an event-driven rule), so a row's synapses are read as one contiguous run.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import jax
import numpy as np

from .lower import MAX_SHARED, Lowered, Node, Unlowerable, _abstract, _Emitter, _key_words, ctype, flatten_args, literal, shared_reads

_REDUCTIONS = {"reduce_sum": ("+=", "0"), "reduce_max": ("max", "-INFINITY"), "reduce_min": ("min", "INFINITY")}


@dataclass
class Segment:
    """One loop over ``space`` (None: statements run once). ``pre``: before the loop
    (accumulators), ``body``: the loop's statements, ``stores``: values kept in arrays (at the
    end of the body), ``imports``: values of earlier segments read from their arrays."""

    space: str | None
    pre: list = field(default_factory=list)
    body: list = field(default_factory=list)
    stores: dict = field(default_factory=dict)
    imports: dict = field(default_factory=dict)
    reduces: bool = False
    scatters: bool = False      # it adds into an array at computed positions (iterations depend)
    cuda: dict = field(default_factory=dict)       # body index -> its CUDA form (an atomic update)
    cuda_pre: list = field(default_factory=list)   # the accumulators' initial values, in CUDA


@dataclass
class SpaceLowered(Lowered):
    """:class:`~.lower.Lowered` over several spaces: ``segments`` in order, ``temps`` the arrays
    the code needs (name -> (dtype, space)), ``reads`` (input index -> [(segment, gathered)]),
    ``sizes`` (space -> element count)."""

    segments: list = field(default_factory=list)
    temps: dict = field(default_factory=dict)
    reads: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    cross: dict = field(default_factory=dict)          # shared value name -> (dtype, its segment)
    accumulators: dict = field(default_factory=dict)   # sum's name -> (dtype, its segment)

    def reduces(self, space: str) -> bool:
        """Whether a loop over ``space`` sums (or takes extrema) over its elements: then it
        must visit every element."""
        return any(s.reduces and s.space == space for s in self.segments)


def lower_spaces(label: str, fn, args: list, roles: list, spaces: list, sizes: dict, nonneg=()) -> SpaceLowered:
    """Lower ``fn(*args)``. ``args``: example pytrees; ``roles``: per argument "static" or
    "dynamic" (as :func:`~.lower.lower`); ``spaces``: per argument a pytree (or one value) of
    space names (None: shared); ``sizes``: space -> element count; ``nonneg``: the arguments
    (positions) that hold indices >= 0 only."""
    grow = {s: k + 1 for k, s in enumerate(sizes)}
    flat, flat_fn, counts = flatten_args(label, fn, args, roles, spaces, "spaces")

    def shapes(extra, grown=grow):
        return [_abstract(x, s is not None, sizes[s] + extra * grown[s] if s is not None else 0) for x, _, s in flat]

    try:
        closed_a, out_shape = jax.make_jaxpr(flat_fn, return_shape=True)(*shapes(0))
    except Exception as err:   # noqa: BLE001: a function that does not trace is refused, with why
        raise Unlowerable(label, None, f"it does not trace: {type(err).__name__}: {err}") from None
    kept = None
    try:
        closed_b = jax.make_jaxpr(flat_fn)(*shapes(1))
    except Exception as err:   # noqa: BLE001
        # the function closes over arrays with one value per element of a space (a per-synapse
        # map, say), which do not grow: trace again with that space kept at its size; a value of
        # its size that does not grow then belongs to it
        closed_b = None
        for keep in sorted(sizes, key=lambda sp: sp != "syn"):
            shared_of_size = [x for x, _, sp in flat if sp is None and np.ndim(x) and np.shape(x)[0] == sizes[keep]]
            if shared_of_size:
                continue
            try:
                closed_b = jax.make_jaxpr(flat_fn)(*shapes(1, {**grow, keep: 0}))
                kept = keep
                break
            except Exception:   # noqa: BLE001
                continue
        if closed_b is None:
            raise Unlowerable(label, None, f"it does not trace with its spaces grown ({type(err).__name__}: {err})") \
                from None
    em = _SpaceEmitter(label, sizes, grow)
    em.kept = kept
    starts = np.cumsum([0] + counts)
    em.nonneg = {int(starts[a]) + j for a in nonneg for j in range(counts[a])}
    return em.run(closed_a, closed_b, [(x, r, s or False) for x, r, s in flat], jax.tree.structure(out_shape))


class _SpaceEmitter(_Emitter):
    def __init__(self, label, sizes, grow):
        super().__init__(label, 0)
        self.sizes, self.grow = sizes, grow
        # a prologue for the shared values that read only the inputs, so that they never cut a loop
        self.segments, self.temps, self.reads, self.nonneg, self._pending = [Segment(None)], {}, {}, set(), []
        self.accumulators, self.cross = {}, {}     # (for CUDA) shared values read by later segments
        self.special = {"gather": self.gather, "scatter-add": self.scatter_add, "cond": self.no_cond,
                        **{p: self.reduce for p in _REDUCTIONS}}

    def run(self, closed_a, closed_b, flat, out_tree) -> SpaceLowered:
        inputs = []
        for k, ((x, role, sp), va) in enumerate(zip(flat, closed_a.jaxpr.invars)):
            aval = va.aval
            key = jax.dtypes.issubdtype(aval.dtype, jax.dtypes.prng_key)
            if key:     # its data, as lower.py holds keys
                if sp or role == "static":
                    self.fail(None, f"argument leaf {k}: PRNG keys per element, or in the parameters")
                node = Node(np.dtype(np.uint32), tuple(aval.shape) + (_key_words(aval.dtype),), static=False,
                            elem=False, key=True)
                node.impl = aval.dtype._impl
                self.new_id(node)
                node.names = [f"in{k}_{j}" for j in range(node.size)]
                inputs.append(node)
                continue
            node = Node(np.dtype(aval.dtype), tuple(aval.shape), static=(role == "static"), elem=sp)
            vid = self.new_id(node)
            if node.static:
                self.static_in.append((k, vid))
            elif sp:
                node.array, node.names = f"in{k}", [f"in{k}[i]"]
                node.nonneg = k in self.nonneg
                self.reads[k] = []
            else:
                if node.size > MAX_SHARED:
                    self.fail(None, f"argument leaf {k} has shape {node.shape}: neither one value per element of a "
                                    f"space nor a small shared array")
                node.names = [f"in{k}"] if not node.shape else [f"in{k}_{j}" for j in range(node.size)]
            inputs.append(node)
        self.input_ids = {id(n): k for k, n in enumerate(inputs)}
        consts = [self.constant(c) for c in closed_a.consts]
        outs = [self.materialise(o) for o in self.walk(closed_a.jaxpr, closed_b.jaxpr, inputs, consts)]
        return SpaceLowered(self.label, inputs, self.hoisted, [], [], outs, out_tree, self.static_ops, self.static_in,
                            self.hoisted_ids, self.literals, self.prims, self.draws, segments=self.segments,
                            temps=self.temps, reads=self.reads, sizes=dict(self.sizes), cross=self.cross,
                            accumulators=self.accumulators)

    # ------------------------------------------------------------------ spaces of values
    kept = None     # the space the second trace kept at its size (it closes over arrays of it)

    def classify(self, prim, sa, sb):
        if sa == sb:
            if self.kept is not None and sa and sa[0] == self.sizes[self.kept] and all(d == 1 for d in sa[1:]):
                return self.kept
            return False
        if sa and sb and sa[1:] == sb[1:] and all(d == 1 for d in sa[1:]):
            for s, n in self.sizes.items():
                if sa[0] == n and sb[0] == n + self.grow[s]:
                    return s
        self.fail(prim, f"a value of shape {sa} is neither shared nor one value per element of a space "
                        f"({', '.join(f'{s}: {n}' for s, n in self.sizes.items())})")

    def sized_literal(self, prim, a, b) -> None:
        return None     # the first trace has the real sizes

    def emit(self, prim, params, ins, out, t) -> list:
        # an index known to be >= 0 (a CSR's) needs no wrapping of negative positions: say so,
        # and the compiler drops the select jnp's indexing adds
        if prim in ("lt", "ge") and getattr(ins[0], "nonneg", False) and ins[1].literal is not None \
                and np.ndim(ins[1].literal) == 0 and ins[1].literal == 0:
            return ["0" if prim == "lt" else "1"]
        if prim == "slice" and ins[0].elem and not out.elem:
            # a few fixed elements of a space's array (``spikes[n1]``): read from the array
            x = ins[0]
            if len(x.shape) != 1 or out.size > MAX_SHARED:
                self.fail(prim, "a slice of per-element values into a large shared array")
            arr = x.names[0] if x.alias is not None else self._array(x)
            self._pending.append(x)
            st = params["strides"] or (1,)
            return [arr if x.alias is not None else f"{arr}[{j}]"
                    for j in range(params["start_indices"][0], params["limit_indices"][0], st[0])]
        return super().emit(prim, params, ins, out, t)

    def materialise(self, node):
        fresh = node.static and not node.names and node.alias is None
        node = super().materialise(node)
        if fresh and node.elem and node.names and node.names[0].startswith("hz"):
            node.array, node.names = node.names[0], [node.names[0] + "[i]"]
        return node

    # ------------------------------------------------------------------ scheduling
    @staticmethod
    def _space(x):
        return x.elem or None

    def _lowest(self, ins, space) -> int:
        lo = 0
        for x in ins:
            if x.static or x.seg < 0:
                continue
            same = self._space(x) == space and not x.after
            lo = max(lo, x.seg if same else x.seg + 1)
        return lo

    def _segment(self, space, lo: int) -> int:
        for j in range(lo, len(self.segments)):
            if self.segments[j].space == space:
                return j
        self.segments.append(Segment(space))
        return len(self.segments) - 1

    def _use(self, ins, j: int, space) -> None:
        """Record that segment ``j`` reads ``ins`` elementwise: inputs' reads, imports of values
        of the same space computed in earlier segments."""
        seg = self.segments[j]
        for x in ins:
            k = self.input_ids.get(id(x))
            if not x.elem and not x.static and x.seg >= 0 and (x.seg != j or x.after):
                for name in x.names:      # a shared value computed in an earlier segment
                    self.cross.setdefault(name, (x.dtype, x.seg))
            if k is not None and x.elem:
                self.reads[k].append((j, False))
            elif not x.static and x.seg >= 0 and x.elem and not x.after and x.seg < j:
                arr = self._array(x)
                seg.imports[id(x)] = f"const {ctype(x.dtype)} {x.names[0]} = {arr}[i];"

    def _array(self, x, reader: int | None = None) -> str:
        """The array holding value ``x`` (made, and stored in its segment, if it has none)."""
        k = self.input_ids.get(id(x))
        if k is not None and reader is not None:
            self.reads[k].append((reader, True))
        if x.array is None:
            x.array = f"ta{self.vid(x)}"
            self.temps[x.array] = (x.dtype, x.elem)
            self.segments[x.seg].stores[id(x)] = f"{x.array}[i] = {x.names[0]};"
        return x.array

    def place(self, node, ins, statements) -> None:
        space = self._space(node)
        j = self._segment(space, self._lowest(ins, space))
        pending, self._pending = self._pending, []
        for x in pending:           # arrays read at fixed positions
            k = self.input_ids.get(id(x))
            if k is not None:
                self.reads[k].append((j, True))
        self._use([x for x in ins if not any(x is y for y in pending)], j, space)
        self.segments[j].body.extend(statements)
        node.seg = j

    # ------------------------------------------------------------------ moving values between spaces
    def _result(self, ea, space, j) -> Node:
        out = ea.outvars[0]
        node = Node(np.dtype(out.aval.dtype), tuple(out.aval.shape), static=False, elem=space or False, seg=j)
        self.new_id(node)
        return node

    def no_cond(self, ea, ins, elem):
        self.fail("cond", "a branch on a computed value (use jnp.where) in a function over several spaces")

    def gather(self, ea, ins, elem):
        """``x[idx]``: one value of a 1-d array ``x`` (any space) per element of ``idx``'s space."""
        op, idx = (self.materialise(x) for x in ins)
        dn, space = ea.params["dimension_numbers"], elem[0]
        if not (op.elem and len(op.shape) == 1 and idx.elem and space == idx.elem and tuple(dn.offset_dims) == ()
                and tuple(dn.collapsed_slice_dims) == (0,) and tuple(dn.start_index_map) == (0,)
                and tuple(ea.params["slice_sizes"]) == (1,)):
            self.fail("gather", "only x[index] of a 1-d per-element array by one index per element lowers")
        lo = max(self._lowest([idx], space), op.seg + 1 if op.seg >= 0 else 0)
        j = self._segment(space, lo)
        self._use([idx], j, space)
        node = self._result(ea, space, j)
        n, t = self.sizes[op.elem], ctype(node.dtype)
        arr = op.names[0] if op.alias is not None else self._array(op, reader=j)
        q = f"(int64_t){idx.names[0]}"
        mode = str(ea.params.get("mode", ""))
        if op.alias is not None:
            expr = arr
        elif "FILL" in mode:
            fill = ea.params.get("fill_value")
            fill = literal(np.nan if fill is None and node.dtype.kind == "f" else (fill or 0), node.dtype)
            expr = f"((uint64_t){q} < (uint64_t){n} ? {arr}[{q}] : {fill})"
        elif "PROMISE" in mode:     # the caller's indices are in bounds (a CSR's): as they are
            expr = f"{arr}[{idx.names[0]}]"     # (32-bit indices give the compiler 16-lane gathers)
        else:   # clip
            expr = f"{arr}[{q} < 0 ? 0 : ({q} >= {n} ? {n - 1} : {q})]"
        node.names = [f"x{self.count}"]
        self.segments[j].body.append(f"const {t} {node.names[0]} = {expr};")
        return [node]

    def scatter_add(self, ea, ins, elem):
        """``acc.at[idx].add(u)`` (``segment_sum``): ``u`` and ``idx`` of one space summed into
        an array of another, in element order."""
        op, idx, upd = (self.materialise(x) for x in ins)
        dn, space = ea.params["dimension_numbers"], elem[0]
        if not (space and len(op.shape) == 1 and idx.elem and upd.elem == idx.elem
                and tuple(dn.update_window_dims) == () and tuple(dn.inserted_window_dims) == (0,)
                and tuple(dn.scatter_dims_to_operand_dims) == (0,)):
            self.fail("scatter-add", "only a sum of one value per element into a 1-d array (segment_sum) lowers")
        src = idx.elem
        lo = max(self._lowest([idx, upd], src), op.seg + 1 if op.seg >= 0 else 0)
        j = self._segment(src, lo)
        self._use([idx, upd], j, src)
        node = self._result(ea, space, j)
        n = self.sizes[space]
        node.array = f"ta{self.vid(node)}"
        self.temps[node.array] = (node.dtype, space)
        init = op.names[0] if (op.alias is not None or not op.elem) else f"{self._array(op, reader=j)}[q]"
        seg = self.segments[j]
        seg.pre.append(f"for (int64_t q = 0; q < {n}; ++q) {node.array}[q] = {init};")
        seg.cuda_pre.append(seg.pre[-1])
        q = f"(int64_t){idx.names[0]}"
        seg.body.append(f"if ((uint64_t){q} < (uint64_t){n}) {node.array}[{q}] += {upd.names[0]};")
        seg.cuda[len(seg.body) - 1] = f"if ((uint64_t){q} < (uint64_t){n}) atomicAdd(&{node.array}[{q}], {upd.names[0]});"
        seg.reduces = seg.scatters = True
        node.names, node.after = [f"{node.array}[i]"], True
        return [node]

    def reduce(self, ea, ins, elem):
        """A sum (maximum, minimum) over one space's elements: a shared value after its loop."""
        (x,) = (self.materialise(v) for v in ins)
        if x.elem and elem[0] and 0 not in tuple(ea.params["axes"]):     # over trailing axes of one entry
            node = Node(x.dtype, tuple(ea.outvars[0].aval.shape), static=False, elem=x.elem, seg=x.seg,
                        after=x.after, array=x.array)
            node.names = list(x.names)
            self.new_id(node)
            k = self.input_ids.get(id(x))
            if k is not None:
                self.input_ids[id(node)] = k
            return [node]
        if not x.elem or tuple(ea.params["axes"]) != (0,) or elem[0]:
            self.fail(ea.primitive.name, "only a reduction of one value per element to one shared value lowers")
        space = x.elem
        j = self._segment(space, self._lowest([x], space))
        self._use([x], j, space)
        node = self._result(ea, None, j)
        t = ctype(node.dtype)
        op, init = _REDUCTIONS[ea.primitive.name]
        if node.dtype.kind != "f" and init != "0":
            init = f"std::numeric_limits<{t}>::{'lowest' if op == 'max' else 'max'}()"
        node.names = [f"x{self.count}"]
        seg = self.segments[j]
        seg.pre.append(f"{t} {node.names[0]} = {init};")
        seg.body.append(f"{node.names[0]} += {x.names[0]};" if op == "+=" else
                        f"{node.names[0]} = ns_{op}({node.names[0]}, ({t}){x.names[0]});")
        # on a GPU the accumulator is one value in memory (sv...), updated atomically
        seg.cuda_pre.append(f"sv{node.names[0]}[0] = {init};")
        seg.cuda[len(seg.body) - 1] = (f"atomicAdd(&sv{node.names[0]}[0], ({t}){x.names[0]});" if op == "+=" else
                                       f"ns_atomic_{op}(&sv{node.names[0]}[0], ({t}){x.names[0]});")
        self.accumulators[node.names[0]] = (node.dtype, j)
        seg.reduces, node.after = True, True
        return [node]


def _sweep(n: int):
    """The loop nest over every element of a space of ``n`` elements."""
    return lambda pragma: (pragma + [f"for (int64_t i = 0; i < {n}; ++i) {{"], ["}"], {})


def _substitute(body: list, bound: dict, known: dict) -> list:
    """``body`` with the reads ``in{k}[i]`` of the inputs bound to an array whose entry ``i``
    the loop nest knows (``known``: array -> C++ expression, e.g. a CSR row's presynaptic
    index) replaced by that expression: a value the same for the whole row, not a gather."""
    subs = {f"in{k}": known[p] for k, p in bound.items() if p in known}
    if not subs:
        return body
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, subs)) + r")\[i\]")
    return [pattern.sub(lambda m: f"({subs[m.group(1)]})", line) for line in body]


def space_code(u: SpaceLowered, ins: list, outs: list, hz: list, title: str, visits: dict | None = None,
               temp=lambda name: name) -> tuple:
    """The C++ block running ``u``. ``ins``: per input leaf None (static, or not read),
    ``("ptr", P)`` (an array: a space's values, or a shared array's entries) or ``("val", E)`` (a
    shared scalar). ``outs``: per output leaf None or ``("ptr", P)`` (stored in P: per element of
    its space, or a shared value's entries). ``hz``: the pointer of each hoisted value.
    ``visits``: space -> a list of loop nests, each a function ``nest(pragma) -> (head, tail,
    known)``: C++ lines ``head`` open loops whose innermost one defines ``int64_t i`` (preceded
    by the lines ``pragma``), ``tail`` closes them, ``known`` maps an input array to the C++
    expression of its entry ``i`` in the nest; a loop over that space then runs its body in
    each nest, in order, instead of over every element (the nests name each element at most
    once). Returns ``(lines, arrays)``: ``arrays`` the
    temporary arrays the code uses (raw name -> (dtype, space)), which the caller allocates
    (``sizes[space]`` elements) under the names ``temp(raw name)``."""
    visits = visits or {}
    segs = [Segment(s.space, list(s.pre), list(s.body), dict(s.stores), dict(s.imports), s.reduces, s.scatters)
            for s in u.segments]
    for s in segs:
        if s.reduces and s.space in visits:
            raise ValueError(f"{title}: a sum over the elements of {s.space!r} needs every element, not a visit list")
    lines = [f"{{  // {title}"]
    bound = {}
    written = {b[1] for b in outs if b is not None}
    for k, (node, b) in enumerate(zip(u.inputs, ins)):
        if node.static or b is None:
            continue
        kind, p = b
        t = ctype(node.dtype)
        if node.elem:
            bound[k] = p
            # an array this code does not write is read-only here: the compiler may keep its
            # values in registers across the stores (a row's presynaptic trace)
            lines.append(f"{t}* {node.array} = ({t}*)({p});" if p in written else
                         f"const {t}* __restrict {node.array} = (const {t}*)({p});")
        else:
            lines += shared_reads(node, kind, p)
    for node, p in zip(u.hoisted, hz):
        if node.elem:
            lines.append(f"const {ctype(node.dtype)}* {node.array} = {p};")
        else:
            lines += shared_reads(node, "ptr", p)

    def segment_for(space, lo):
        for j in range(lo, len(segs)):
            if segs[j].space == space:
                return j
        segs.append(Segment(space))
        return len(segs) - 1

    copies, shared_out, arrays = [], [], dict(u.temps)
    for k, (node, b) in enumerate(zip(u.outputs, outs)):
        if b is None:
            continue
        p = b[1]
        src = next((m for m, x in enumerate(u.inputs) if x is node), None)
        if src is not None and ins[src] is not None and ins[src][1] == p:
            continue            # unchanged, stored where it was read from
        if not node.elem:
            shared_out += [f"{p}[{j}] = {name};" for j, name in enumerate(node.names)]
            continue
        if node.after:
            w = segment_for(node.elem, node.seg + 1)
        elif node.seg >= 0:
            w = node.seg
        else:
            w = segment_for(node.elem, 0)
        aliased = [m for m, bb in bound.items() if bb == p]
        safe = all((r <= w and not g) or (g and r < w) for m in aliased for r, g in u.reads.get(m, []))
        if safe:
            segs[w].stores[("out", k)] = f"{p}[i] = {node.names[0]};"
        else:
            arrays[f"to{k}"] = (node.dtype, node.elem)
            segs[w].stores[("out", k)] = f"to{k}[i] = {node.names[0]};"
            copies.append(Segment(node.elem, body=[f"{p}[i] = to{k}[i];"]))
    segs += copies
    for s in segs:
        if s.space is None:
            lines += s.pre + s.body
            continue
        lines += s.pre
        # element i reads and writes index i only; a visit names each element once (there,
        # `omp simd`: the compiler's cost model would keep the gathers of a row scalar)
        body = ["  " + x for x in list(s.imports.values()) + s.body + list(s.stores.values())]
        nests = visits.get(s.space)
        pragma = [] if s.scatters else ["#pragma omp simd" if nests else "#pragma GCC ivdep"]
        for nest in nests or [_sweep(u.sizes[s.space])]:
            head, tail, known = nest(pragma)
            lines += head + _substitute(body, bound, known) + tail
    lines += shared_out
    lines.append("}")
    names = re.compile(r"\b(ta\d+|to\d+)\b")
    return [names.sub(lambda m: temp(m.group(1)), line) for line in lines], arrays
