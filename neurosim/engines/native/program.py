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

from dataclasses import dataclass, field

import numpy as np

from .lower import PRELUDE, Lowered, ctype, ptype


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


def unit_block(u: Lowered, n: int, ins: list, outs: list, hz: list, title: str) -> list:
    """The C++ block running lowered function ``u`` over ``n`` elements.

    ``ins``: per input leaf of ``u``, None (a static leaf, or a key: not read), ``("ptr", P)``
    (a per-element leaf read as ``P[i]``, or a shared one read as ``P[j]``) or ``("val", E)``
    (a shared scalar given as an expression). ``outs``: per output leaf, None (discarded),
    ``("ptr", P, elem)`` (stored: as ``P[i]`` when ``elem``, else as the entries ``P[j]`` of a
    shared value) or ``("add", P, True)`` (added to ``P[i]``). ``hz``: the pointer of each
    hoisted value."""
    lines = [f"{{  // {title}"]
    loop_reads, loop_writes, after = [], [], []
    for node, b in zip(u.inputs, ins):
        if node.static or node.key or b is None:
            continue
        t = ctype(node.dtype)
        kind, p = b
        if node.elem:
            loop_reads.append(f"const {t} {node.names[0]} = {p}[i];")
        elif kind == "val":
            lines.append(f"const {t} {node.names[0]} = {p};")
        else:
            lines += [f"const {t} {name} = {p}[{j}];" for j, name in enumerate(node.names)]
    for node, p in zip(u.hoisted, hz):
        t = ctype(node.dtype)
        if node.elem:
            loop_reads.append(f"const {t} {node.names[0]} = {p}[i];")
        else:
            lines += [f"const {t} {name} = {p}[{j}];" for j, name in enumerate(node.names)]
    lines += u.shared
    for node, b in zip(u.outputs, outs):
        if b is None:
            continue
        kind, p = b[0], b[1]
        if any(node is x for x in u.inputs) and ins[next(j for j, x in enumerate(u.inputs) if x is node)] == b[:2]:
            continue            # unchanged state, stored where it was read from
        if kind == "ptr" and not b[2]:          # a shared value
            after += [f"{p}[{j}] = {name};" for j, name in enumerate(node.names)]
        elif node.elem or node.size == 1:
            loop_writes.append(f"{p}[i] {'+=' if kind == 'add' else '='} {node.names[0]};")
        else:
            raise ValueError(f"{title}: an output of shape {node.shape} where one value per element is expected")
    if loop_reads or u.body or loop_writes:
        lines.append("#pragma GCC ivdep")   # element i reads and writes index i only: no dependence between elements
        lines.append(f"for (int64_t i = 0; i < {n}; ++i) {{")
        lines += ["  " + s for s in loop_reads + u.body + loop_writes]
        lines.append("}")
    lines += after
    lines.append("}")
    return lines


def program(slots: Slots, body: list) -> str:
    """The whole translation unit around the step loop's statements."""
    return "\n".join([PRELUDE, 'extern "C" int ns_run(void** a, int64_t n_steps, int64_t t0, int64_t done) {',
                      *("  " + s for s in slots.declarations() + body), "  return 0;", "}", ""])
