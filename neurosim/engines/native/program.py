"""The native engine's program: one C++ function that advances a whole network by K steps.

It is assembled from two kinds of code, in the order of :func:`neurosim.network.step.advance`:

- **generated**, one block per model function, from :mod:`.lower`: each population's
  ``voltage`` and ``step``, each projection's synapse ``current`` and ``step``, each input's
  ``current``. These are the models' own JAX functions; nothing here knows LIF from AdEx.
- **hand-written**, for what no model owns: the step loop, the current sums (in the scan's
  order: whole-population terms, then slices, each in network order), delay rings, CSR
  delivery of the spikes that arrive, tabulated input rows, spike bits and traces.

The function is ``int ns_run(void** a, int64_t n_steps, int64_t t0, int64_t done)``; ``a``
holds the buffers listed by :class:`Slots` (hoisted values, state, connectivity, tables,
monitors) in the order the program was written with. ``t0`` is the state's step counter and
``done`` the number of steps of the run before this call (trace sampling is counted from it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .lower import PRELUDE, Lowered, ctype, ptype, shared_reads


@dataclass
class Slots:
    """The buffers of one program, by name, in the order of ``a``: ``(name, dtype)``."""

    names: list = field(default_factory=list)
    dtypes: list = field(default_factory=list)

    def add(self, name: str, dtype) -> str:
        """Reserve a slot; returns the C++ expression of its typed pointer."""
        k = len(self.names)
        self.names.append(name)
        self.dtypes.append(np.dtype(dtype))
        return f"p{k}"

    def declarations(self) -> list:
        """Each slot's typed pointer, ``p{k}``: no two slots overlap (``__restrict``)."""
        return [f"{ptype(d)}* __restrict p{k} = ({ptype(d)}*)a[{k}];  // {name}"
                for k, (name, d) in enumerate(zip(self.names, self.dtypes))]


_NAMES = re.compile(r"\b(?:in|hz|x|c)\d+(?:_\d+)?\b")    # the identifiers lower.py generates


@dataclass
class Parts:
    """A lowered function's code around a loop over elements: ``pre`` (before it: shared values,
    hoisted scalars), ``body`` (inside it: reads, statements, writes of element ``i``) and
    ``post`` (after it: shared outputs)."""

    pre: list
    body: list
    post: list
    switches: tuple = ()    # the lowered function's branches on shared values (Lowered.switches)


class Sum:
    """A sum of terms ``t1 + t2 + ...`` into the variable ``var``, one statement per term, as XLA's
    CPU compiler computes it: the first term is the sum so far (no ``0 +``); a product read
    once is fused into the addition that reads it, the left operand's first (so a first term
    that is a product is fused into the second addition)."""

    def __init__(self, var: str, started: bool = False):
        self.var, self.started, self.pending = var, started, None

    def add(self, value: str, factors: tuple | None) -> str:
        """The statement adding the term ``value`` (a C++ expression), whose factors are
        ``factors`` (C++ expressions) when it is a product read once."""
        v = self.var
        if not self.started:
            self.started, self.pending = True, factors
            return f"{v} = {value};"
        if self.pending is not None:
            (a, b), self.pending = self.pending, None
            return f"{v} = std::fma({a}, {b}, {value});"
        if factors is not None:
            return f"{v} = std::fma({factors[0]}, {factors[1]}, {v});"
        return f"{v} += {value};"


def unit_parts(u: Lowered, ins: list, outs: list, hz: list, title: str, prefix: str = "") -> Parts:
    """The code of lowered function ``u`` for one loop over its elements.

    ``ins``: per input leaf of ``u``, None (a static leaf, or a key: not read), ``("ptr", P)``
    (a per-element leaf read as ``P[i]``, or a shared one read as ``P[j]``), ``("val", E)`` (a
    shared scalar given as an expression) or ``("local", E)`` (a per-element value given as an
    expression of element ``i``). ``outs``: per output leaf, None (discarded), ``("ptr", P,
    elem)`` (stored: as ``P[i]`` when ``elem``, else as the entries ``P[j]`` of a shared value),
    ``("add", P, True)`` (added to ``P[i]``), ``("local", V, True)`` / ``("addlocal", V,
    True)`` (assigned / added to the variable ``V``) or ``("term", S, True)`` (the next term of
    the :class:`Sum` ``S``). ``hz``: the pointer of each hoisted value.
    ``prefix`` renames the generated identifiers, so that several functions share one loop."""
    pre, reads, writes, post = [], [], [], []

    def rename(text: str) -> str:
        return _NAMES.sub(lambda m: prefix + m.group(0), text) if prefix else text

    for node, b in zip(u.inputs, ins):
        if node.static or b is None:    # a PRNG key's data (2 words) is bound like a small shared array
            continue
        t = ctype(node.dtype)
        kind, p = b
        if node.table:
            pre.append(f"const {t}* {node.names[0]} = {p};")
        elif node.elem:
            reads.append(f"const {t} {node.names[0]} = {p if kind == 'local' else p + '[i]'};")
        else:
            pre += shared_reads(node, kind, p)
    for node, p in zip(u.hoisted, hz):
        if node.elem:
            reads.append(f"const {ctype(node.dtype)} {node.names[0]} = {p}[i];")
        else:
            pre += shared_reads(node, "ptr", p)
    pre += u.shared
    for node, b in zip(u.outputs, outs):
        if b is None:
            continue
        kind, p = b[0], b[1]
        if any(node is x for x in u.inputs) and ins[next(j for j, x in enumerate(u.inputs) if x is node)] == b[:2]:
            continue            # unchanged state, stored where it was read from
        if kind == "ptr" and not b[2]:          # a shared value
            post += [f"{p}[{j}] = {name};" for j, name in enumerate(node.names)]
        elif not (node.elem or node.size == 1):
            raise ValueError(f"{title}: an output of shape {node.shape} where one value per element is expected")
        elif kind == "term":                    # a term of a sum (``p``: its Sum), renamed below
            factors = None if node.product is None else tuple(rename(f.names[0]) for f in node.product)
            writes.append(p.add(node.names[0], factors))
        elif kind in ("local", "addlocal"):
            writes.append(f"{p} {'+=' if kind == 'addlocal' else '='} {node.names[0]};")
        else:
            writes.append(f"{p}[i] {'+=' if kind == 'add' else '='} {node.names[0]};")
    parts = Parts(pre, [f"// {title}"] + reads + u.body + writes, post, u.switches)
    if prefix:
        switches = tuple((prefix + name, n, None if up is None else (prefix + up[0], up[1]))
                         for name, n, up in u.switches)
        parts = Parts(*([rename(x) for x in lines] for lines in (parts.pre, parts.body, parts.post)), switches)
    return parts


MAX_VERSIONS = 16   # the most copies of one loop written for its shared branches


def versions(switches) -> list:
    """Every combination of branches that the shared branches ``switches`` (``(index name,
    branches, enclosing (name, branch) or None)``) can take, each a dict name -> branch; a
    branch inside another one is only taken with it."""
    def within(up):
        combos = [{}]
        for name, n, parent in switches:
            if parent == up:
                combos = [{**c, name: b, **inner} for c in combos for b in range(n) for inner in within((name, b))]
        return combos
    return within(None)


# A loop over at least this many elements is shared among the program's threads (loop_block)
PARALLEL_ELEMENTS = 4096


def loop_block(parts: list, n: int, title: str, before_each: list = (), start: int = 0, threads: int = 1) -> list:
    """One loop over the elements ``start`` to ``n`` running every function of ``parts``
    (:class:`Parts`, in order) on element ``i``; ``before_each``: statements that open each
    iteration. With ``threads > 1`` a loop of at least :data:`PARALLEL_ELEMENTS` elements is
    split among that many OpenMP threads (element ``i`` reads and writes index ``i`` only, so
    every element's arithmetic, and its result, is the same)."""
    lines = [f"{{  // {title}"]
    for p in parts:
        lines += p.pre
    body = list(before_each) + [s for p in parts for s in p.body]
    if any(not s.lstrip().startswith("//") for s in body):
        loop = ["#pragma GCC ivdep",   # element i reads and writes index i only: no dependence between elements
                f"for (int64_t i = {start}; i < {n}; ++i) {{"] + ["  " + s for s in body] + ["}"]
        if threads > 1 and n - start >= PARALLEL_ELEMENTS:    # each thread a run of whole 64-element blocks
            loop = [f"#pragma omp parallel num_threads({threads})", "{",
                    "  const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();",
                    f"  const int64_t per = (({n - start} + nt - 1) / nt + 63) / 64 * 64;",
                    f"  const int64_t lo = {start} + id * per, hi = std::min<int64_t>({n}, lo + per);",
                    "#pragma GCC ivdep", "  for (int64_t i = lo; i < hi; ++i) {"] + ["    " + s for s in body] + ["  }", "}"]
        # the parts' shared branches, as many parts' as fit in MAX_VERSIONS copies (in order)
        switches, combos = [], [{}]
        for p in parts:
            more = versions(switches + list(p.switches))
            if len(more) <= MAX_VERSIONS:
                switches, combos = switches + list(p.switches), more
        if len(combos) == 1:
            lines += loop
        else:   # one copy of the loop per combination of branches, each index a constant in it
            for j, combo in enumerate(combos):
                test = " && ".join(f"{name} == {b}" for name, b in combo.items())
                lines.append(f"{'if' if j == 0 else '} else if'} ({test}) {{")
                lines += [f"  const int32_t {name} = {b};" for name, b in combo.items()]
                lines += ["  " + x for x in loop]
            lines += ["} else {  // (no other values: a branch index is clamped)"] + ["  " + x for x in loop] + ["}"]
    for p in parts:
        lines += p.post
    lines.append("}")
    return lines


def unit_block(u: Lowered, n: int, ins: list, outs: list, hz: list, title: str) -> list:
    """The C++ block running lowered function ``u`` alone over ``n`` elements (see
    :func:`unit_parts` for ``ins``, ``outs`` and ``hz``)."""
    return loop_block([unit_parts(u, ins, outs, hz, title)], n, title)


def program(slots: Slots, body: list) -> str:
    """The whole translation unit around the step loop's statements."""
    return "\n".join([PRELUDE, 'extern "C" int ns_run(void** a, int64_t n_steps, int64_t t0, int64_t done) {',
                      *("  " + s for s in slots.declarations() + body), "  return 0;", "}", ""])
