"""Lowering one model function to C++: the model's own JAX code, traced to a jaxpr, emitted as
the body of a loop over its elements.

A model's per-element work (a neuron's ``step``, a synapse's ``current`` and ``step``, an input's
``current``) is the pure function the scan engine runs. :func:`lower` traces it twice, for ``n``
and for ``n + 1`` elements: a value whose shape follows the element count is *per element*, any
other value is *shared* by all elements (a scalar parameter, a step counter, a seed). Every
value is also either

- *static*: computed from parameters and constants alone. These are not emitted: XLA
  evaluates them once per kernel call (:meth:`Lowered.hoist`), so a decay ``exp(-dt / tau)``
  is XLA's own and costs nothing per step; or
- *dynamic*: it depends on the state, the input or the step. These become C++ statements:
  shared ones before the loop over elements, per-element ones inside it.

Every primitive has one C++ form in :data:`UNARY` / :data:`BINARY` or a rule below; a primitive
without one (a reduction over elements, a gather, a loop) raises :class:`Unlowerable` naming the
model and the primitive, and the engine refuses the network (:mod:`.spaces` lowers reductions
and gathers between element spaces). An operation on PRNG keys (:data:`KEY_OPS`) is replaced by
the key implementation's own code on the key's data, whose Threefry hash is ``ns_threefry2x32``.
Nested ``jit``s and ``custom_jvp``/``custom_vjp`` functions are inlined (their primal code:
the forward value is all a simulation needs).

Float operations are emitted one by one, in the jaxpr's order, and compiled without
contraction (``-ffp-contract=off``): the result is the IEEE value of each operation, except
that a product read once and added to (or subtracted from) another value is one ``std::fma``,
where XLA's CPU compiler (LLVM) fuses it (:func:`contraction`; not through an optimisation
barrier). XLA computes transcendentals with its own polynomials, so the last bit can still
differ from the scan's; docs/engines.md states the parity contract this gives. A branch on a
value every element shares is recorded in :attr:`Lowered.switches`, so that the program writes
the loop once per branch taken (:func:`program.loop_block`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore

CTYPES = {
    np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.int32): "int32_t",
    np.dtype(np.uint32): "uint32_t", np.dtype(np.int64): "int64_t", np.dtype(np.uint64): "uint64_t",
    np.dtype(np.int8): "int8_t", np.dtype(np.uint8): "uint8_t", np.dtype(np.int16): "int16_t",
    np.dtype(np.uint16): "uint16_t", np.dtype(np.bool_): "int32_t",
}
# Booleans are held as 0/1 in an int32_t while computed (so loops with comparisons vectorise)
# and stored in one byte.
PTYPES = {**CTYPES, np.dtype(np.bool_): "bool"}

MAX_SHARED = 64   # elements of a shared (non-per-element) array held as C++ scalars


class Unlowerable(Exception):
    """A model's function uses something the native engine cannot emit: ``model`` (a label
    such as "population 'E' (Izhikevich.step)"), ``primitive`` (the JAX primitive, or None)
    and ``detail``."""

    def __init__(self, model: str, primitive: str | None, detail: str):
        self.model, self.primitive, self.detail = model, primitive, detail
        what = f"primitive {primitive!r}" if primitive else "its code"
        super().__init__(f"{model}: {what} cannot be lowered to native code ({detail})")


def ctype(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype not in CTYPES:
        raise KeyError(dtype)
    return CTYPES[dtype]


def ptype(dtype) -> str:
    """The C++ element type of a buffer of ``dtype``."""
    return PTYPES[np.dtype(dtype)]


def shared_reads(node, kind: str, p: str) -> list:
    """The C++ that binds a shared (not per-element) value ``node``: a scalar given as the
    expression ``p`` (``kind`` "val"), or each of its entries read from the array ``p``."""
    t = ctype(node.dtype)
    if kind == "val":
        return [f"const {t} {node.names[0]} = {p};"]
    return [f"const {t} {name} = {p}[{j}];" for j, name in enumerate(node.names)]


def literal(value, dtype) -> str:
    """A C++ literal of ``value`` in ``dtype``, exact (hexadecimal floats)."""
    dtype = np.dtype(dtype)
    t = ctype(dtype)
    if dtype.kind == "f":
        x = float(value)
        if math.isnan(x):
            return f"(({t})NAN)"
        if math.isinf(x):
            return f"(({t})({'-' if x < 0 else ''}INFINITY))"
        return f"(({t}){x.hex()})"
    if dtype.kind == "b":
        return "1" if bool(value) else "0"
    return f"(({t}){int(value)}{'ull' if dtype.kind == 'u' else 'll'})"


# C++ forms of the elementwise primitives: format strings over the operands' expressions.
UNARY = {
    "neg": "(-{0})", "exp": "ns_exp({0})", "exp2": "std::exp2({0})", "log": "ns_log({0})",
    "log1p": "std::log1p({0})", "expm1": "ns_expm1({0})", "tanh": "ns_tanh({0})", "sqrt": "std::sqrt({0})",
    "rsqrt": "(({t})1 / std::sqrt({0}))", "cbrt": "std::cbrt({0})", "sin": "std::sin({0})", "cos": "std::cos({0})",
    "tan": "std::tan({0})", "asin": "std::asin({0})", "acos": "std::acos({0})", "atan": "std::atan({0})",
    "sinh": "std::sinh({0})", "cosh": "std::cosh({0})", "erf": "std::erf({0})", "erfc": "std::erfc({0})",
    "floor": "std::floor({0})", "ceil": "std::ceil({0})", "abs": "ns_abs({0})", "sign": "ns_sign({0})",
    "logistic": "(({t})1 / (({t})1 + ns_exp(-{0})))", "square": "({0} * {0})", "is_finite": "std::isfinite({0})",
    "stop_gradient": "{0}", "copy": "{0}", "copy_p": "{0}", "real": "{0}",
    "not": "ns_not({0})", "erf_inv": "ns_erfinv({0})",
}
BINARY = {
    "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "div": "({0} / {1})",
    "rem": "ns_rem({0}, {1})", "pow": "ns_pow({0}, {1})", "atan2": "std::atan2({0}, {1})",
    "max": "ns_max({0}, {1})", "min": "ns_min({0}, {1})", "nextafter": "std::nextafter({0}, {1})",
    "eq": "({0} == {1})", "ne": "({0} != {1})", "lt": "({0} < {1})", "le": "({0} <= {1})",
    "gt": "({0} > {1})", "ge": "({0} >= {1})",
    "and": "ns_and({0}, {1})", "or": "ns_or({0}, {1})", "xor": "ns_xor({0}, {1})",
    "shift_left": "ns_shl({0}, {1})", "shift_right_logical": "ns_shrl({0}, {1})",
    "shift_right_arithmetic": "ns_shra({0}, {1})",
}
SCATTERS = ("scatter", "scatter-add", "scatter-max", "scatter-min", "scatter-mul")
# Primitives with several results, and their handlers (methods of the emitter).
MULTI = {"unstack": "pieces", "split": "pieces", "iota_2x32_shape": "iota_2x32", "threefry2x32": "threefry"}
# Primitives that make per-element values from nothing: emitted in the loop, not hoisted.
ITERATORS = ("iota", "iota_2x32_shape")


def _key_words(dtype) -> int:
    return int(np.prod(dtype._impl.key_shape))


def _bits(impl, params):
    return lambda d: impl.random_bits(d, params["bit_width"], tuple(params["shape"]))


# Operations on PRNG keys: functions on the keys' data (the implementation's own code), lowered
# in their place. Each is given the key implementation and the equation's params.
KEY_OPS = {
    "random_bits": _bits,
    "random_fold_in": lambda impl, params: lambda d, m: impl.fold_in(d, m),
    "random_split": lambda impl, params: lambda d: impl.split(d, tuple(params["shape"])),
    "random_wrap": lambda impl, params: lambda d: d,
    "random_unwrap": lambda impl, params: lambda d: d,
    "random_seed": lambda impl, params: lambda x: impl.seed(x),
}

# Whose primal code is inlined, and where it is.
INLINED = {"jit": "jaxpr", "pjit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
           "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr", "custom_vjp_call_jaxpr": "fun_jaxpr",
           "remat": "jaxpr", "checkpoint": "jaxpr"}
IDENTITY = ("optimization_barrier",)

# The helpers the emitted code calls (XLA's semantics where C++'s differ: NaN-propagating max
# and min, shifts by the bit width or more, sign of zero and NaN).
PRELUDE = r"""
#ifdef __CUDACC__
#define NS_FN static inline __host__ __device__
#else
#define NS_FN static inline
#endif
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include <algorithm>
#if defined(_OPENMP) && !defined(__CUDACC__)
#include <omp.h>
#endif
template <class T> NS_FN T ns_max(T a, T b) {     // one expression: selects, no branches; XLA's NaN
  return a != a ? a : (a > b ? a : b); }           // propagation (b NaN: a > b is false, b is taken)
template <class T> NS_FN T ns_min(T a, T b) {
  return a != a ? a : (a < b ? a : b); }
template <class T> NS_FN T ns_abs(T a) {
  if constexpr (std::is_floating_point<T>::value) return std::fabs(a); else return a < 0 ? -a : a; }
template <class T> NS_FN T ns_sign(T a) {
  if constexpr (std::is_floating_point<T>::value) return a > 0 ? T(1) : (a < 0 ? T(-1) : a);
  else return a > 0 ? T(1) : (a < 0 ? T(-1) : T(0)); }
template <class T> NS_FN T ns_rem(T a, T b) {
  if constexpr (std::is_floating_point<T>::value) return std::fmod(a, b); else return a % b; }
template <class T> NS_FN T ns_not(T a) {
  if constexpr (std::is_same<T, bool>::value) return !a; else return ~a; }
template <class T> NS_FN T ns_and(T a, T b) {
  if constexpr (std::is_same<T, bool>::value) return a && b; else return a & b; }
template <class T> NS_FN T ns_or(T a, T b) {
  if constexpr (std::is_same<T, bool>::value) return a || b; else return a | b; }
template <class T> NS_FN T ns_xor(T a, T b) {
  if constexpr (std::is_same<T, bool>::value) return a != b; else return a ^ b; }
template <class T> NS_FN T ns_shl(T a, T b) {
  typedef typename std::make_unsigned<T>::type U;
  return (b < 0 || b >= T(8 * sizeof(T))) ? T(0) : T(U(a) << b); }
template <class T> NS_FN T ns_shrl(T a, T b) {
  typedef typename std::make_unsigned<T>::type U;
  return (b < 0 || b >= T(8 * sizeof(T))) ? T(0) : T(U(a) >> b); }
template <class T> NS_FN T ns_shra(T a, T b) {
  typedef typename std::make_signed<T>::type S;
  if (b < 0 || b >= T(8 * sizeof(T))) b = T(8 * sizeof(T) - 1);
  return T(S(a) >> b); }
"""


@dataclass
class Node:
    """A value of the traced function. ``static``: known from parameters and constants alone;
    ``elem``: one value per element (else shared); ``names``: its C++ expressions (one for a
    per-element value or a scalar, one per entry, row-major, for a small shared array);
    ``literal``: its value, when the jaxpr spells it out."""

    dtype: np.dtype
    shape: tuple            # the shape traced for n elements
    static: bool
    elem: bool
    names: list = field(default_factory=list)
    literal: object = None
    key: bool = False       # a PRNG key: any use of it is a draw
    alias: object = None    # a static per-element value that is one shared value broadcast
    table: bool = False     # an argument of rows of one value per element (its name a pointer)
    seg: int = -1           # (several spaces, :mod:`.spaces`) the segment computing it; -1: given
    after: bool = False     # ... available only after its segment (a sum over elements)
    array: str | None = None    # ... the array holding it, where one does
    product: tuple | None = None    # a float product used once: its factors (contracted into an fma)

    @property
    def size(self) -> int:
        return 1 if self.elem else int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Lowered:
    """One model function lowered to C++ (see the module docstring).

    ``inputs``: one :class:`Node` per flattened argument leaf (its ``names`` are the C++
    variables the caller defines: ``in{k}`` for per-element and scalar leaves, ``in{k}_{j}``
    for the entries of a small shared array). ``hoisted``: the static values the code reads,
    each a Node named ``hz{h}`` (``hz{h}_{j}`` for entries) that the caller defines from
    :meth:`hoist`'s arrays. ``shared`` and ``body``: the statements before and inside the
    loop over elements (the per-element index is ``i``). ``outputs``: one Node per flattened
    output leaf, whose ``names`` are valid after ``shared`` (shared) or inside ``body``
    (per element). ``out_tree``: the output's pytree structure."""

    label: str
    inputs: list
    hoisted: list
    shared: list
    body: list
    outputs: list
    out_tree: object
    static_ops: list          # (eqn, input ids, output ids) evaluated by XLA, in order
    static_in: list           # argument leaf index -> value id, for the static arguments
    hoisted_ids: list         # value id of each hoisted node
    literals: dict            # value id -> literal value, for the static evaluation
    primitives: set           # the primitives emitted as C++
    draws: bool = False       # it draws from a PRNG key argument (whose data the caller then binds)
    switches: tuple = ()      # (index name, branches, enclosing (name, branch) or None): the
                              # branches on a value shared by every element, known before the loop

    def hoist(self, static_leaves: list) -> list:
        """The hoisted values (arrays, XLA's) from the static argument leaves (in argument
        order); traceable, so the engine evaluates every model's in one jitted call."""
        values = dict(self.literals)
        for (k, vid), x in zip(self.static_in, static_leaves):
            values[vid] = x
        for eqn, ins, outs in self.static_ops:
            with eqn.ctx.manager:
                out = eqn.primitive.bind(*[values[v] for v in ins], **eqn.primitive.get_bind_params(eqn.params))
            out = out if eqn.primitive.multiple_results else [out]
            for vid, x in zip(outs, out):
                values[vid] = x
        return [values[v] for v in self.hoisted_ids]



def _abstract(x, elem, n: int):
    """The abstract value of an argument leaf for ``n`` elements: ``elem`` True (one value per
    element), "table" (rows of one value per element: shape (rows, n)) or False (shared)."""
    x = jnp.asarray(x) if not isinstance(x, jax.Array) else x
    shape = (np.shape(x)[0], n) if elem == "table" else ((n,) if elem else np.shape(x))
    return jax.ShapeDtypeStruct(shape, x.dtype, weak_type=getattr(x, "weak_type", False))


def flatten_args(label: str, fn, args: list, roles: list, flags: list, what: str):
    """``fn``'s arguments as leaves: ``(flat, flat_fn, counts)`` with ``flat`` one ``(leaf, role,
    flag)`` per leaf (``flags``: per argument a pytree of per-leaf flags, or one flag for all its
    leaves), ``flat_fn`` the function of the leaves, ``counts`` the leaves per argument."""
    flat, trees, counts = [], [], []
    for a, role, f in zip(args, roles, flags):
        leaves, tree = jax.tree.flatten(a)
        fs = [f] * len(leaves) if f is None or isinstance(f, (bool, str)) else \
            jax.tree.leaves(f, is_leaf=lambda x: x is None)
        if len(fs) != len(leaves):
            raise ValueError(f"{label}: the {what} do not match the argument's leaves")
        trees.append(tree)
        counts.append(len(leaves))
        flat += [(x, role, g) for x, g in zip(leaves, fs)]

    def flat_fn(*leaves):
        out, pos = [], 0
        for tree, k in zip(trees, counts):
            out.append(jax.tree.unflatten(tree, leaves[pos:pos + k]))
            pos += k
        return fn(*out)

    return flat, flat_fn, counts


def lower(label: str, fn, args: list, roles: list, elems: list, n: int) -> Lowered:
    """Lower ``fn(*args)`` for ``n`` elements. ``args``: example argument pytrees (their leaves
    give dtypes and the shapes of shared leaves); ``roles``: per argument, "static" (parameters:
    may be hoisted) or "dynamic"; ``elems``: per argument, a pytree of bools (same structure)
    saying which leaves hold one value per element, or one bool for the whole argument."""
    flat, flat_fn, _ = flatten_args(label, fn, args, roles, elems, "per-element flags")
    flat = [(x, role, f if isinstance(f, str) else bool(f)) for x, role, f in flat]
    try:
        closed_a, out_shape = jax.make_jaxpr(flat_fn, return_shape=True)(*[_abstract(x, e, n) for x, _, e in flat])
        closed_b = jax.make_jaxpr(flat_fn)(*[_abstract(x, e, n + 1) for x, _, e in flat])
    except Exception as err:   # noqa: BLE001: a model that does not trace is refused, with why
        raise Unlowerable(label, None, f"it does not trace for {n} elements: {type(err).__name__}: {err}") from None
    return _Emitter(label, n).run(closed_a, closed_b, flat, jax.tree.structure(out_shape))


class _Emitter:
    def __init__(self, label, n):
        self.label, self.n = label, n
        self.shared, self.body, self.hoisted, self.hoisted_ids = [], [], [], []
        self.static_ops, self.static_in, self.literals = [], [], {}
        self.ids, self.count, self.prims, self.draws = {}, 0, set(), False
        self.switches, self.branch_of = [], []     # shared branches; the (name, branch) being walked

    # ------------------------------------------------------------------ values
    def new_id(self, node) -> int:
        self.count += 1
        self.ids[id(node)] = self.count
        return self.count

    def vid(self, node) -> int:
        return self.ids[id(node)]

    def fail(self, prim, detail):
        raise Unlowerable(self.label, prim, detail)

    def run(self, closed_a, closed_b, flat, out_tree) -> Lowered:
        inputs = []
        for k, ((x, role, e), va) in enumerate(zip(flat, closed_a.jaxpr.invars)):
            aval = va.aval
            key = jax.dtypes.issubdtype(aval.dtype, jax.dtypes.prng_key)
            # a PRNG key is held as its data: uint32, the key's shape and then its 2 words
            node = Node(np.dtype(np.uint32) if key else np.dtype(aval.dtype),
                        tuple(aval.shape) + (_key_words(aval.dtype),) if key else tuple(aval.shape),
                        static=(role == "static"), elem=e and not key, key=key)
            if key:
                node.impl = aval.dtype._impl
            vid = self.new_id(node)
            if node.static:
                self.static_in.append((k, vid))
            elif key:
                if e or node.size > MAX_SHARED:
                    self.fail(None, f"argument leaf {k} holds PRNG keys per element")
                node.names = [f"in{k}_{j}" for j in range(node.size)]
            elif e == "table":      # rows of one value per element: read by a row index only
                node.elem, node.table, node.names = False, True, [f"in{k}"]
            else:
                node.names = [f"in{k}"] if node.size == 1 and (e or not node.shape) else \
                    [f"in{k}_{j}" for j in range(node.size)]
                if not e and node.size > MAX_SHARED:
                    self.fail(None, f"argument leaf {k} has shape {node.shape}: neither one value per element nor a "
                                    f"small shared array (at most {MAX_SHARED} entries)")
            inputs.append(node)
        consts = [self.constant(c) for c in closed_a.consts]
        outs = self.walk(closed_a.jaxpr, closed_b.jaxpr, inputs, consts)
        outs = [self.materialise(o) for o in outs]
        return Lowered(self.label, inputs, self.hoisted, self.shared, self.body, outs, out_tree, self.static_ops,
                       self.static_in, self.hoisted_ids, self.literals, self.prims, self.draws, tuple(self.switches))

    def constant(self, value):
        value = np.asarray(value)
        node = Node(value.dtype, value.shape, static=True, elem=False, literal=value)
        self.literals[self.new_id(node)] = value
        return node

    def lit(self, v):
        value = np.asarray(v.val)
        node = Node(np.dtype(v.aval.dtype), tuple(v.aval.shape), static=True, elem=False, literal=value)
        self.literals[self.new_id(node)] = value
        return node

    def rounded(self, node) -> Node:
        """``node``'s value, no longer known as a product (so not fused into a sum)."""
        copy = Node(node.dtype, node.shape, node.static, node.elem, list(node.names), seg=node.seg, after=node.after,
                    array=node.array)
        self.ids[id(copy)] = self.vid(node)
        return copy

    def materialise(self, node) -> Node:
        """A static node read by dynamic code or returned: a literal inline, else hoisted."""
        if not node.static or node.names:
            return node
        if node.alias is not None:
            node.names = self.materialise(node.alias).names[:1]
            return node
        if node.literal is not None and node.literal.size <= MAX_SHARED and not node.elem:
            node.names = [literal(x, node.dtype) for x in np.ravel(node.literal)]
            return node
        if node.key:
            self.fail(None, "a PRNG key is computed from the parameters")
        h = len(self.hoisted)
        if not node.elem and node.size > MAX_SHARED:
            self.fail(None, f"a static array of shape {node.shape} is read per step (neither one value per element "
                            f"nor a small shared array)")
        node.names = [f"hz{h}"] if node.size == 1 else [f"hz{h}_{j}" for j in range(node.size)]
        self.hoisted.append(node)
        self.hoisted_ids.append(self.vid(node))
        return node

    # ------------------------------------------------------------------ the walk
    def walk(self, jaxpr_a, jaxpr_b, in_nodes, consts=()):
        env = dict(zip(jaxpr_a.constvars, consts))

        def read(v):
            if isinstance(v, jcore.Literal):
                return self.lit(v)
            return env[v]

        uses = {}       # how often each value is read in this jaxpr (as an output: once)
        for v in [v for eqn in jaxpr_a.eqns for v in eqn.invars] + list(jaxpr_a.outvars):
            if not isinstance(v, jcore.Literal):
                uses[v] = uses.get(v, 0) + 1
        for var, node in zip(jaxpr_a.invars, in_nodes):     # (an inlined function's arguments)
            env[var] = node if node.product is None or uses.get(var, 0) == 1 else self.rounded(node)
        if len(jaxpr_a.eqns) != len(jaxpr_b.eqns):
            self.fail(None, "its code depends on the number of elements")
        for ea, eb in zip(jaxpr_a.eqns, jaxpr_b.eqns):
            prim = ea.primitive.name
            if prim != eb.primitive.name:
                self.fail(prim, "its code depends on the number of elements")
            for va, vb in zip(ea.invars, eb.invars):
                if isinstance(va, jcore.Literal) and isinstance(vb, jcore.Literal) and \
                        not np.array_equal(np.asarray(va.val), np.asarray(vb.val)):
                    self.sized_literal(prim, va.val, vb.val)
            ins = [read(v) for v in ea.invars]
            if any(getattr(x, "table", False) for x in ins) and prim not in INLINED:
                if prim != "dynamic_slice" or not getattr(ins[0], "table", False):
                    self.fail(prim, "a table of rows per element read other than one row at a time")
                for o, x in zip(ea.outvars, self.table_row(ea, ins)):
                    env[o] = x
                continue
            if any(x.key for x in ins) and prim not in INLINED and prim not in KEY_OPS and prim not in ("unstack", "split"):
                self.fail(prim, "an operation on PRNG keys the lowering does not know")
            if prim in KEY_OPS and any(x.key and x.static for x in ins):
                self.fail(prim, "a PRNG key computed from the parameters or constants")
            outs_a, outs_b = ea.outvars, eb.outvars
            elem = [self.classify(prim, tuple(oa.aval.shape), tuple(ob.aval.shape)) for oa, ob in zip(outs_a, outs_b)]
            if all(x.static for x in ins) and prim not in ITERATORS or (prim in ITERATORS and not elem[0]):
                nodes = [Node(np.dtype(o.aval.dtype), tuple(o.aval.shape), static=True, elem=e,
                              key=jax.dtypes.issubdtype(o.aval.dtype, jax.dtypes.prng_key))
                         for o, e in zip(outs_a, elem)]
                if prim == "broadcast_in_dim" and elem[0] and not ins[0].elem and ins[0].size == 1:
                    nodes[0].alias = ins[0]      # one shared value read by every element: not an (n,) array
                self.static_ops.append((ea, [self.vid(x) for x in ins], [self.new_id(x) for x in nodes]))
                for o, x in zip(outs_a, nodes):
                    env[o] = x
                continue
            self.prims.add(prim)
            if prim in INLINED:
                sub_a, sub_b = ea.params[INLINED[prim]], eb.params[INLINED[prim]]
                sub_a = sub_a if isinstance(sub_a, jcore.ClosedJaxpr) else jcore.ClosedJaxpr(sub_a, ())
                sub_b = sub_b if isinstance(sub_b, jcore.ClosedJaxpr) else jcore.ClosedJaxpr(sub_b, ())
                nin = len(sub_a.jaxpr.invars)
                consts = [self.constant(c) for c in sub_a.consts]
                res = self.walk(sub_a.jaxpr, sub_b.jaxpr, ins[len(ins) - nin:], consts)
                for o, x in zip(outs_a, res):    # a product is fused only where it is read once in all
                    env[o] = x if x.product is None or uses.get(o, 0) == 1 else self.rounded(x)
                continue
            if prim in KEY_OPS:
                for o, x in zip(outs_a, self.expand_key_op(ea, eb, ins)):
                    env[o] = x
                continue
            if prim in self.special or prim in MULTI:
                handler = self.special.get(prim) or getattr(self, MULTI[prim])
                for o, x in zip(outs_a, handler(ea, ins, elem)):
                    env[o] = x
                continue
            if prim == "cond":
                for o, x in zip(outs_a, self.cond(ea, eb, ins, elem)):
                    env[o] = x
                continue
            if prim in IDENTITY:    # an optimisation barrier: the value as it is, rounded (no fma through it)
                for o, x in zip(outs_a, ins):
                    env[o] = x if x.product is None else self.rounded(x)
                continue
            ins = [self.materialise(x) for x in ins]
            out = outs_a[0]
            node = Node(np.dtype(out.aval.dtype), tuple(out.aval.shape), static=False, elem=elem[0])
            self.new_id(node)
            if len(outs_a) != 1:
                self.fail(prim, "a primitive with several results")
            try:
                t = ctype(node.dtype)
            except KeyError:
                self.fail(prim, f"dtype {node.dtype} has no C++ type here")
            fma = contraction(prim, ins, node)
            if fma is not None:     # a product and a sum as XLA's CPU compiler fuses them
                ins, exprs = fma
            else:
                exprs = self.emit(prim, ea.params, ins, node, t)
            names = [f"x{self.count}" if len(exprs) == 1 else f"x{self.count}_{j}" for j in range(len(exprs))]
            node.names = names
            if prim == "mul" and node.dtype.kind == "f" and node.size == 1 and uses.get(out, 0) == 1:
                node.product = (ins[0], ins[1])
            self.place(node, ins, [f"const {t} {name} = {expr};" for name, expr in zip(names, exprs)])
            env[out] = node
        return [read(v) for v in jaxpr_a.outvars]

    special: dict = {}      # primitive -> a method (eqn, input nodes, output kinds) -> output nodes

    def classify(self, prim, sa: tuple, sb: tuple):
        """Whether a value traced with shape ``sa`` (n elements) and ``sb`` (n + 1) holds one
        value per element (True) or is shared (False)."""
        if sa == sb:
            return False
        if sa == (self.n,) and sb == (self.n + 1,):
            return True
        if sa == (1, self.n) and sb == (1, self.n + 1) and prim == "dynamic_slice":
            return True     # one row of a table (squeezed next)
        self.fail(prim, f"a value of shape {sa} holds more than one value per element")

    def sized_literal(self, prim, a, b) -> None:
        """A literal that differs between the two traces: the element count used as a value.
        The code is emitted from the trace for the real count (the first), so it stays."""

    def place(self, node, ins, statements) -> None:
        """Where a dynamic value's statements go: in the loop (per element) or before it."""
        (self.body if node.elem else self.shared).extend(statements)

    def table_row(self, ea, ins) -> list:
        """``table[row]`` (a ``dynamic_slice`` of one row, all columns) of a table of rows of one
        value per element: element ``i`` reads ``table[row * n + i]``."""
        table, row, col = ins[0], self.materialise(ins[1]), ins[2]
        if tuple(ea.params["slice_sizes"]) != (1, self.n) or row.elem or not (col.static or col.literal is not None):
            self.fail("dynamic_slice", "a table read other than by one whole row")
        out = ea.outvars[0]
        node = Node(np.dtype(out.aval.dtype), tuple(out.aval.shape), static=False, elem=True)
        self.new_id(node)
        node.names = [f"x{self.count}"]
        rows = table.shape[0]
        q = f"(int64_t){row.names[0]}"
        expr = f"{table.names[0]}[({q} < 0 ? 0 : ({q} >= {rows} ? {rows - 1} : {q})) * {self.n} + i]"
        self.place(node, [row], [f"const {ctype(node.dtype)} {node.names[0]} = {expr};"])
        return [node]

    def scatter_into_elements(self, prim, params, ins, t) -> str:
        """``x.at[idx].max(u)`` (and add, min, mul, set) with a few shared positions and values
        (a list of spike times): each element compares its index with every position, in order."""
        op, idx, upd = ins
        dn = params["dimension_numbers"]
        if not (tuple(dn.update_window_dims) == () and tuple(dn.inserted_window_dims) == (0,)
                and tuple(dn.scatter_dims_to_operand_dims) == (0,) and idx.size == upd.size
                and "CLIP" not in str(params.get("mode", ""))):
            self.fail(prim, "only a scatter of a few shared values at shared positions into per-element values lowers")
        update = {"scatter-max": "a = ns_max(a, {u});", "scatter-min": "a = ns_min(a, {u});",
                  "scatter-add": "a = a + {u};", "scatter-mul": "a = a * {u};", "scatter": "a = {u};"}[prim]
        steps = " ".join(f"if ((int64_t){idx.names[k]} == i) {{ {update.format(u=upd.names[k])} }}"
                         for k in range(idx.size))
        return f"([&]() {{ {t} a = {op.names[0]}; {steps} return a; }}())"

    # ------------------------------------------------------------------ PRNG keys and their hash
    def expand_key_op(self, ea, eb, ins) -> list:
        """An operation on PRNG keys, replaced by the key implementation's own code on the keys'
        data (JAX's threefry: a hash of counters), traced and lowered like the model's code."""
        prim, params = ea.primitive.name, ea.params
        impl = next((x.impl for x in ins if getattr(x, "impl", None) is not None), None)
        if impl is None:    # random_wrap: data -> key
            impl = ea.outvars[0].aval.dtype._impl
        if getattr(impl, "name", "") != "threefry2x32":
            self.fail(prim, f"a PRNG key of the {getattr(impl, 'name', impl)!r} implementation (threefry2x32 lowers)")
        if prim == "random_bits":
            self.draws = True
        fn_a, fn_b = KEY_OPS[prim](impl, params), KEY_OPS[prim](impl, eb.params)

        def avals(eqn):
            out = []
            for v in eqn.invars:
                a = v.aval
                if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
                    out.append(jax.ShapeDtypeStruct(tuple(a.shape) + (_key_words(a.dtype),), np.uint32))
                else:
                    out.append(jax.ShapeDtypeStruct(a.shape, a.dtype))
            return out
        try:
            sub_a, sub_b = jax.make_jaxpr(fn_a)(*avals(ea)), jax.make_jaxpr(fn_b)(*avals(eb))
        except Exception as err:   # noqa: BLE001
            self.fail(prim, f"its key implementation does not trace here ({type(err).__name__}: {err})")
        data = [Node(x.dtype, x.shape, x.static, x.elem, x.names, x.literal, key=False, alias=x.alias, seg=x.seg,
                     after=x.after, array=x.array)
                for x in ins]
        for x, d in zip(ins, data):
            self.ids[id(d)] = self.ids[id(x)]
        res = self.walk(sub_a.jaxpr, sub_b.jaxpr, data, [self.constant(c) for c in sub_a.consts])
        out = []
        for o, r in zip(ea.outvars, res):
            if jax.dtypes.issubdtype(o.aval.dtype, jax.dtypes.prng_key):
                r = Node(r.dtype, r.shape, r.static, r.elem, r.names, r.literal, key=True, alias=r.alias, seg=r.seg,
                         after=r.after, array=r.array)
                r.impl = o.aval.dtype._impl
                self.new_id(r)
            out.append(r)
        return out

    def pieces(self, ea, ins, elem) -> list:
        """``unstack`` and ``split`` of a small shared array: its entries, renamed."""
        x = self.materialise(ins[0])
        if x.elem or any(elem):
            self.fail(ea.primitive.name, "splitting per-element values")
        src = np.arange(x.size).reshape(x.shape)
        axis = ea.params["axis"]
        if ea.primitive.name == "unstack":
            parts = [np.take(src, j, axis=axis) for j in range(src.shape[axis])]
        else:
            parts = np.split(src, np.cumsum(ea.params["sizes"])[:-1], axis=axis)
        outs = []
        for o, part in zip(ea.outvars, parts):
            node = Node(x.dtype, tuple(part.shape), static=False, elem=False, key=x.key, seg=x.seg, after=x.after)
            node.names = [x.names[int(j)] for j in np.ravel(part)]
            if x.key:
                node.impl = x.impl
            self.new_id(node)
            outs.append(node)
        return outs

    def iota_2x32(self, ea, ins, elem) -> list:
        """The two words of a 64-bit element counter, per element (a shared one is static)."""
        hi = Node(np.dtype(np.uint32), tuple(ea.outvars[0].aval.shape), static=False, elem=elem[0])
        lo = Node(np.dtype(np.uint32), tuple(ea.outvars[1].aval.shape), static=False, elem=elem[1])
        for node, expr in ((hi, "(uint32_t)((uint64_t)i >> 32)"), (lo, "(uint32_t)(uint64_t)i")):
            self.new_id(node)
            node.names = [f"x{self.count}"]
            self.place(node, [], [f"const uint32_t {node.names[0]} = {expr};"])
        return [hi, lo]

    def threefry(self, ea, ins, elem) -> list:
        """The Threefry-2x32 hash (20 rounds, Salmon et al. 2011; ``ns_threefry2x32``), entry by entry."""
        ins = [self.materialise(x) for x in ins]
        out = [Node(np.dtype(np.uint32), tuple(o.aval.shape), static=False, elem=e) for o, e in zip(ea.outvars, elem)]
        size = out[0].size

        def entry(x, j):
            return x.names[0] if (x.elem or x.size == 1) else x.names[j]
        for node in out:
            self.new_id(node)
            node.names = [f"x{self.count}" if size == 1 else f"x{self.count}_{j}" for j in range(size)]
        statements = []
        for j in range(size):
            a, b = out[0].names[j], out[1].names[j]
            statements += [f"uint32_t {a}, {b};",
                           f"ns_threefry2x32({', '.join(entry(x, j) for x in ins)}, {a}, {b});"]
        self.place(out[0], ins, statements)
        out[1].seg = out[0].seg
        return out

    def cond(self, ea, eb, ins, elem) -> list:
        """``lax.cond``/``switch``: an ``if`` on the branch index around each branch's code,
        in the statements before the loop and in the loop alike. An index shared by every
        element and defined before the loop (a static one, the usual case, or one computed
        outside any branch) is recorded in ``switches``: the loop is then written once per
        branch taken (:func:`program.loop_block`), so that no test is left in it."""
        index = self.materialise(ins[0])
        name = index.names[0]
        ins = [ins[0]] + [x if x.product is None else self.rounded(x) for x in ins[1:]]   # no fma across a branch
        known = not index.elem and index.size == 1 and re.fullmatch(r"[A-Za-z_]\w*", name) is not None and (
            index.static or not self.branch_of)
        if known:
            self.switches.append((name, len(ea.params["branches"]), self.branch_of[-1] if self.branch_of else None))
        ops = ins[1:]
        outs = []
        for o, e in zip(ea.outvars, elem):
            node = Node(np.dtype(o.aval.dtype), tuple(o.aval.shape), static=False, elem=e)
            self.new_id(node)
            node.names = [f"c{self.count}_{j}" for j in range(node.size)]
            target = self.body if e else self.shared
            target += [f"{ctype(node.dtype)} {name};" for name in node.names]
            outs.append(node)
        branches = list(zip(ea.params["branches"], eb.params["branches"]))
        for b, (ba, bb) in enumerate(branches):
            opener = (f"if ({index.names[0]} <= {b}) {{" if b == 0 else
                      f"}} else if ({index.names[0]} == {b}) {{" if b < len(branches) - 1 else "} else {")
            self.shared.append(opener)
            self.body.append(opener)
            self.branch_of.append((name, b) if known else None)
            res = self.walk(ba.jaxpr, bb.jaxpr, ops, [self.constant(c) for c in ba.consts])
            self.branch_of.pop()
            for node, r in zip(outs, res):
                r = self.materialise(r)
                target = self.body if node.elem else self.shared
                target += [f"{name} = {r.names[0] if r.size == 1 else r.names[j]};" for j, name in enumerate(node.names)]
        self.shared.append("}")
        self.body.append("}")
        return outs

    # ------------------------------------------------------------------ one primitive
    def emit(self, prim, params, ins, out, t) -> list:
        """The C++ expressions of ``out`` (one, or one per entry of a small shared array)."""
        size = out.size

        def entry(x, j):
            if x.elem or x.size == 1:
                return x.names[0]
            return x.names[j]

        def index_map(fn):
            """Entries of a shared result picked from the operand's by a numpy index rearrangement."""
            src = np.arange(ins[0].size).reshape(ins[0].shape) if not ins[0].elem else None
            return [ins[0].names[int(j)] for j in np.ravel(fn(src))]

        if prim == "erf_inv" and out.dtype != np.float32:
            self.fail(prim, f"the inverse error function lowers in float32 only (here {out.dtype})")
        if prim == "not" and out.dtype == np.bool_:
            return [f"({entry(ins[0], j)} ^ 1)" for j in range(size)]
        if prim in UNARY:
            return [UNARY[prim].format(entry(ins[0], j), t=t) for j in range(size)]
        if prim in BINARY:
            return [BINARY[prim].format(entry(ins[0], j), entry(ins[1], j)) for j in range(size)]
        if prim == "integer_pow":
            return [_integer_pow(entry(ins[0], j), params["y"], t) for j in range(size)]
        if prim == "convert_element_type":
            src = ins[0].dtype
            if out.dtype == np.bool_:
                return [f"({entry(ins[0], j)} != 0)" for j in range(size)]
            if src.kind == "f" and out.dtype.kind in "iu":   # XLA: truncate, saturating, NaN -> 0
                info = np.iinfo(out.dtype)
                return [f"ns_f2i<{t}>({entry(ins[0], j)}, {literal(info.min, out.dtype)}, {literal(info.max, out.dtype)})"
                        for j in range(size)]
            return [f"(({t}){entry(ins[0], j)})" for j in range(size)]
        if prim in ("polynomial", "fma", "fmuladd"):   # Horner with fused multiply-adds, as XLA's CPU lowering
            coeffs = ins[1:] if prim == "polynomial" else None
            res = []
            for j in range(size):
                if prim != "polynomial":
                    a, b, c = (entry(x, j) for x in ins)
                    res.append(f"std::fma({a}, {b}, {c})")
                    continue
                x, acc = entry(ins[0], j), entry(coeffs[-1], j)
                for c in reversed(coeffs[:-1]):
                    acc = f"std::fma({acc}, {x}, {entry(c, j)})" if out.dtype.kind == "f" else f"({acc} * {x} + {entry(c, j)})"
                res.append(acc)
            return res
        if prim == "bitcast_convert_type":
            if ins[0].dtype.itemsize != out.dtype.itemsize or out.dtype == np.bool_ or ins[0].dtype == np.bool_:
                self.fail(prim, f"a bit cast from {ins[0].dtype} to {out.dtype}")
            return [f"__builtin_bit_cast({t}, {entry(ins[0], j)})" for j in range(size)]
        if prim == "select_n":
            pred, cases = ins[0], ins[1:]
            res = []
            for j in range(size):
                p = entry(pred, j)
                if len(cases) == 2:
                    res.append(f"({p} ? {entry(cases[1], j)} : {entry(cases[0], j)})")
                else:
                    expr = entry(cases[-1], j)
                    for c in range(len(cases) - 2, -1, -1):
                        expr = f"(({p}) == {c} ? {entry(cases[c], j)} : {expr})"
                    res.append(expr)
            return res
        if prim == "clamp":
            lo, x, hi = ins
            return [f"ns_min(ns_max({entry(x, j)}, {entry(lo, j)}), {entry(hi, j)})" for j in range(size)]
        if prim == "round":
            method = int(params.get("rounding_method", 0))
            fn = "std::round" if method == 0 else "std::nearbyint"
            return [f"{fn}({entry(ins[0], j)})" for j in range(size)]
        if prim == "iota":
            return [f"(({t})(i))"]    # per element (a shared iota is static)
        if prim == "broadcast_in_dim":
            if out.elem:
                if not ins[0].elem and ins[0].size != 1:
                    self.fail(prim, "a shared array broadcast over the elements")
                return [ins[0].names[0]]
            dims = params["broadcast_dimensions"]

            def bcast(src):
                shape = [1] * len(out.shape)
                for d, s in zip(dims, src.shape):
                    shape[d] = s
                return np.broadcast_to(src.reshape(shape), out.shape)
            return index_map(bcast)
        if prim in ("reshape", "squeeze", "expand_dims"):
            if out.elem or ins[0].elem:
                if not (out.elem and ins[0].elem):
                    self.fail(prim, "reshaping per-element values into another layout")
                return [ins[0].names[0]]
            return index_map(lambda src: src.reshape(out.shape))
        if prim in ("slice", "concatenate", "rev", "transpose") and not out.elem and not any(x.elem for x in ins):
            if prim == "slice":
                st = params["strides"] or (1,) * len(params["start_indices"])
                sl = tuple(slice(a, b, s) for a, b, s in zip(params["start_indices"], params["limit_indices"], st))
                return index_map(lambda src: src[sl])
            if prim == "rev":
                return index_map(lambda src: np.flip(src, params["dimensions"]))
            if prim == "transpose":
                return index_map(lambda src: np.transpose(src, params["permutation"]))
            names, offset = [], 0
            parts = []
            for x in ins:
                parts.append(np.arange(offset, offset + x.size).reshape(x.shape))
                names += [entry(x, j) for j in range(x.size)]
                offset += x.size
            return [names[int(j)] for j in np.ravel(np.concatenate(parts, axis=params["dimension"]))]
        if prim in SCATTERS and out.elem and ins[0].elem and not ins[1].elem and not ins[2].elem:
            return [self.scatter_into_elements(prim, params, ins, t)]
        if prim == "dot_general" and not out.elem and not any(x.elem for x in ins):
            return _dot(params, ins, out, t, entry)
        if prim == "stack" and not out.elem and not any(x.elem for x in ins):
            names, parts, offset = [], [], 0
            for x in ins:
                parts.append(np.arange(offset, offset + x.size).reshape(x.shape))
                names += [entry(x, j) for j in range(x.size)]
                offset += x.size
            return [names[int(j)] for j in np.ravel(np.stack(parts, axis=params["axis"]))]
        if prim == "slice" and out.elem and ins[0].elem:
            return [ins[0].names[0]]    # the whole range (a slice of (n,) to (n,))
        why = {"reduce_sum": "a sum over elements", "reduce_max": "a maximum over elements",
               "reduce_min": "a minimum over elements", "gather": "indexing by computed positions",
               "dynamic_slice": "indexing by computed positions", "scatter": "writing at computed positions",
               "scatter-add": "writing at computed positions", "dot_general": "a product over elements",
               "while": "a loop", "cond": "a branch on a computed value", "scan": "a loop",
               "random_bits": "a draw from a PRNG key", "erf_inv": "no C++ form yet"}.get(prim, "no C++ form yet")
        self.fail(prim, why)


def _dot(params, ins, out, t, entry) -> list:
    """``dot_general`` of small shared arrays: each output entry the sum over the contracted
    indices, in index order, of the products."""
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    lhs, rhs = ins
    lshape, rshape = lhs.shape, rhs.shape
    lfree = [d for d in range(len(lshape)) if d not in lc and d not in lb]
    rfree = [d for d in range(len(rshape)) if d not in rc and d not in rb]
    lid = np.arange(lhs.size).reshape(lshape)
    rid = np.arange(rhs.size).reshape(rshape)
    exprs = []
    for pos in np.ndindex(*out.shape):
        nb = len(lb)
        b, lf, rf = pos[:nb], pos[nb:nb + len(lfree)], pos[nb + len(lfree):]
        terms = []
        for c in np.ndindex(*[lshape[d] for d in lc]):
            li = _position(len(lshape), zip((*lb, *lfree, *lc), (*b, *lf, *c)))
            ri = _position(len(rshape), zip((*rb, *rfree, *rc), (*b, *rf, *c)))
            a, bb = entry(lhs, int(lid[li])), entry(rhs, int(rid[ri]))
            terms.append(f"(({t}){a} * ({t}){bb})")
        expr = terms[0] if terms else f"(({t})0)"
        for term in terms[1:]:
            expr = f"({expr} + {term})"
        exprs.append(expr)
    return exprs


def _position(rank: int, dims_and_values) -> tuple:
    """An index of ``rank`` axes from ``(axis, value)`` pairs."""
    out = [0] * rank
    for d, v in dims_and_values:
        out[d] = v
    return tuple(out)


def contraction(prim: str, ins: list, out: Node):
    """``a * b + c`` (and ``a * b - c``, ``c - a * b``) as one fused multiply-add, where XLA's
    CPU compiler (LLVM) forms one: a float sum or difference one of whose operands is a product
    read by nothing else, the left operand first. Returns ``(inputs, [expression])`` or None.
    Products behind an optimisation barrier are not fused (the model asks for them rounded)."""
    if prim not in ("add", "sub") or out.dtype.kind != "f" or out.size != 1:
        return None
    x, y = ins
    if x.product is not None:
        (a, b), c, neg_ab = x.product, y, False
        neg_c = prim == "sub"
    elif y.product is not None:
        (a, b), c, neg_c = y.product, x, False
        neg_ab = prim == "sub"
    else:
        return None
    if any(v.size != 1 for v in (a, b, c)):
        return None
    fa, fb, fc = a.names[0], b.names[0], c.names[0]
    return [a, b, c], [f"std::fma({'-' if neg_ab else ''}{fa}, {fb}, {'-' if neg_c else ''}{fc})"]


def _integer_pow(x, y, t) -> str:
    """x ** y by JAX's own multiplication order (square and multiply), so the rounding agrees."""
    if y == 0:
        return f"(({t})1)"
    recip, y = y < 0, abs(y)
    acc, base = None, x
    while y > 0:
        if y & 1:
            acc = base if acc is None else f"({acc} * {base})"
        y >>= 1
        if y > 0:
            base = f"({base} * {base})"
    return f"(({t})1 / {acc})" if recip else acc


PRELUDE += r"""
template <class I, class F> NS_FN I ns_f2i(F x, I lo, I hi) {   // selects only: vectorises
  const F c = x != x ? F(0) : (x <= F(lo) ? F(lo) : (x >= F(hi) ? F(0) : x));   // always in range
  const I r = I(c);
  return x >= F(hi) ? hi : r; }
"""

# exp, in a form the compiler vectorises (glibc's is a call per element): Cody-Waite reduction
# x = n ln2 + r, Cephes' polynomial (float) and Pade form (double) for exp(r), then 2^n in two
# exact factors. Within 1 ulp (float) and 2 ulp (double) of the exact value (tests/test_native.py).
PRELUDE += r"""
NS_FN float ns_exp(float x) {
  const float hi = 88.72283935546875f, lo = -103.97208404541015625f;
  const float xc = x > hi ? hi : (x < lo ? lo : x);
  const float n = std::nearbyint(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * (r * r) + r + 1.0f;
  const int32_t ni = (int32_t)n, a = ni / 2, b = ni - a;
  const float sa = __builtin_bit_cast(float, (a + 127) << 23), sb = __builtin_bit_cast(float, (b + 127) << 23);
  const float res = y * sa * sb;
  return x != x ? x : (x > hi ? INFINITY : (x < lo ? 0.0f : res));
}
NS_FN double ns_exp(double x) {
  const double hi = 709.782712893383996843, lo = -745.13321910194110842;
  const double xc = x > hi ? hi : (x < lo ? lo : x);
  const double n = std::nearbyint(xc * 1.4426950408889634073599);
  double r = xc - n * 6.93145751953125e-1;
  r = r - n * 1.42860682030941723212e-6;
  const double rr = r * r;
  const double px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 9.99999999999999999910e-1);
  const double qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr + 2.27265548208155028766e-1) * rr
                    + 2.00000000000000000009e0;
  const double y = 1.0 + 2.0 * (px / (qx - px));
  const int64_t ni = (int64_t)n, a = ni / 2, b = ni - a;
  const double sa = __builtin_bit_cast(double, (a + 1023) << 52), sb = __builtin_bit_cast(double, (b + 1023) << 52);
  const double res = y * sa * sb;
  return x != x ? x : (x > hi ? INFINITY : (x < lo ? 0.0 : res));
}
"""

# The hand-written pieces of the step that scan spike vectors (program.py, engine.py): 32 neurons
# at a time, branch-free, so that sparse spikes cost a mask per 32 neurons, not a branch per neuron.
PRELUDE += r"""
#if defined(__AVX512F__) && !defined(__CUDACC__)
#include <immintrin.h>
// 32 comparisons as two 16-lane masks (float), or four 8-lane ones (double)
static inline uint32_t ns_mask32(const float* s, bool positive) {
  const __m512 z = _mm512_setzero_ps();
  const uint32_t lo = positive ? _mm512_cmp_ps_mask(_mm512_loadu_ps(s), z, _CMP_GT_OQ)
                               : _mm512_cmp_ps_mask(_mm512_loadu_ps(s), z, _CMP_NEQ_UQ);
  const uint32_t hi = positive ? _mm512_cmp_ps_mask(_mm512_loadu_ps(s + 16), z, _CMP_GT_OQ)
                               : _mm512_cmp_ps_mask(_mm512_loadu_ps(s + 16), z, _CMP_NEQ_UQ);
  return lo | (hi << 16);
}
static inline uint32_t ns_mask32(const double* s, bool positive) {
  const __m512d z = _mm512_setzero_pd();
  uint32_t m = 0;
  for (int q = 0; q < 4; ++q) {
    const uint32_t part = positive ? _mm512_cmp_pd_mask(_mm512_loadu_pd(s + 8 * q), z, _CMP_GT_OQ)
                                   : _mm512_cmp_pd_mask(_mm512_loadu_pd(s + 8 * q), z, _CMP_NEQ_UQ);
    m |= part << (8 * q);
  }
  return m;
}
#define NS_MASK32(s, positive) ns_mask32(s, positive)
#else
#define NS_MASK32(s, positive) ns_mask32_plain(s, positive)
#endif
template <class T> NS_FN uint32_t ns_mask32_plain(const T* s, bool positive) {
  uint32_t m = 0;
  if (positive) { for (int b = 0; b < 32; ++b) m |= (uint32_t)(s[b] > 0) << b; }
  else { for (int b = 0; b < 32; ++b) m |= (uint32_t)(s[b] != 0) << b; }
  return m;
}
template <class T> NS_FN uint32_t ns_nonzero32(const T* s, int64_t left) {
  uint32_t m = 0;
  if (left >= 32) return NS_MASK32(s, false);
  for (int b = 0; b < left; ++b) m |= (uint32_t)(s[b] != 0) << b;
  return m;
}
template <class T> NS_FN void ns_spike_bits(const T* s, int64_t n, uint32_t* row, int64_t offset) {
  for (int64_t base = 0; base < n; base += 32) {
    uint32_t m = 0;
    const int64_t left = n - base;
    if (left >= 32) { m = NS_MASK32(s + base, true); }
    else { for (int b = 0; b < left; ++b) m |= (uint32_t)(s[base + b] > 0) << b; }
    if (!m) continue;
    const int64_t g = offset + base;
    const int sh = (int)(g & 31);
    row[g >> 5] |= m << sh;
    if (sh && (m >> (32 - sh))) row[(g >> 5) + 1] |= m >> (32 - sh);
  }
}
"""

# Delivery of one presynaptic spike along its CSR row: drive[post] += w s, synapse by synapse.
# (AVX-512 gathers and scatters for rows that name no neuron twice were measured here: 5 % faster
# on COBA-4000, 13 % slower on the all-to-all Izhikevich network, so the scalar loop stays.)
PRELUDE += r"""
template <class T> NS_FN void ns_row(T* __restrict drive, const int32_t* __restrict idx,
                                             const T* __restrict w, bool one_w, T s, int32_t q, int32_t end) {
  if (one_w) { const T ws = w[0]; for (; q < end; ++q) drive[idx[q]] += ws * s; }
  else { for (; q < end; ++q) drive[idx[q]] += w[q] * s; }
}
"""

# log, vectorisable: x = m 2^e with m in [sqrt(1/2), sqrt(2)), subnormals scaled first; log(m) by
# Cephes' polynomial (float) and fdlibm's (double); 0, infinities and NaN by selects.
PRELUDE += r"""
NS_FN float ns_log(float x) {
  const bool sub = x < 1.17549435e-38f;
  const float xs = sub ? x * 8388608.0f : x;
  const int32_t bits = __builtin_bit_cast(int32_t, xs);
  int32_t e = ((bits >> 23) & 0xff) - 126 - (sub ? 23 : 0);
  float f = __builtin_bit_cast(float, (bits & 0x007fffff) | 0x3f000000);
  const bool low = f < 0.707106781186547524f;
  e = low ? e - 1 : e;
  f = low ? f + f - 1.0f : f - 1.0f;
  const float z = f * f;
  float y = 7.0376836292e-2f;
  y = y * f - 1.1514610310e-1f;
  y = y * f + 1.1676998740e-1f;
  y = y * f - 1.2420140846e-1f;
  y = y * f + 1.4249322787e-1f;
  y = y * f - 1.6668057665e-1f;
  y = y * f + 2.0000714765e-1f;
  y = y * f - 2.4999993993e-1f;
  y = y * f + 3.3333331174e-1f;
  y = y * f * z;
  const float fe = (float)e;
  y = y + fe * -2.12194440e-4f;
  y = y - 0.5f * z;
  const float r = (f + y) + fe * 0.693359375f;
  float out = x == INFINITY ? x : r;          // selects, not branches: the loop stays vectorised
  out = x == 0.0f ? -INFINITY : out;
  return x >= 0.0f ? out : NAN;                // negative or NaN
}
NS_FN double ns_log(double x) {
  const bool sub = x < 2.2250738585072014e-308;
  const double xs = sub ? x * 18014398509481984.0 : x;
  const int64_t bits = __builtin_bit_cast(int64_t, xs);
  int64_t e = ((bits >> 52) & 0x7ff) - 1022 - (sub ? 54 : 0);
  double m = __builtin_bit_cast(double, (bits & 0x000fffffffffffffLL) | 0x3fe0000000000000LL);
  const bool low = m < 0.70710678118654752440;
  e = low ? e - 1 : e;
  const double f = low ? m + m - 1.0 : m - 1.0;
  const double s = f / (2.0 + f), z = s * s, w = z * z;
  const double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
  const double t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01 + w * (1.818357216161805012e-01
                    + w * 1.479819860511658591e-01)));
  const double R = t2 + t1, hfsq = 0.5 * f * f, k = (double)e;
  const double r = k * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + R) + k * 1.90821492927058770002e-10)) - f);
  double out = x == INFINITY ? x : r;
  out = x == 0.0 ? -INFINITY : out;
  return x >= 0.0 ? out : NAN;
}
"""

# Threefry-2x32 with 20 rounds (Salmon et al., SC 2011), as JAX's threefry2x32 primitive defines it:
# the counter (x0, x1) hashed under the key (k0, k1).
PRELUDE += r"""
NS_FN uint32_t ns_rotl32(uint32_t v, int r) { return (v << r) | (v >> (32 - r)); }
NS_FN void ns_threefry2x32(uint32_t k0, uint32_t k1, uint32_t x0, uint32_t x1, uint32_t& y0, uint32_t& y1) {
  const uint32_t k2 = k0 ^ k1 ^ 0x1BD11BDAu;
  const uint32_t ks[3] = {k0, k1, k2};
  const int rot[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
  x0 += k0; x1 += k1;
  for (int g = 0; g < 5; ++g) {
    for (int r = 0; r < 4; ++r) { x0 += x1; x1 = ns_rotl32(x1, rot[g & 1][r]); x1 ^= x0; }
    x0 += ks[(g + 1) % 3]; x1 += ks[(g + 2) % 3] + (uint32_t)(g + 1);
  }
  y0 = x0; y1 = x1;
}
"""

# pow, vectorisable: exp(y log x) in double (so a float result is within an ulp), with the C
# library's special cases as selects: x = 0, x < 0 with an integer y (its sign), 1^y, x^0.
PRELUDE += r"""
NS_FN double ns_pow_core(double x, double y) {
  const double ax = x < 0 ? -x : x;
  const double r = ns_exp(y * ns_log(ax));
  const bool yint = std::nearbyint(y) == y;
  const bool odd = yint && std::fabs(std::fmod(y, 2.0)) == 1.0;
  double out = x < 0 ? (yint ? (odd ? -r : r) : NAN) : r;
  out = x == 0 ? (y > 0 ? (odd ? x : 0.0) : (y < 0 ? (odd ? 1.0 / x : INFINITY) : 1.0)) : out;
  out = (y == 0 || x == 1) ? 1.0 : out;
  return (x != x || y != y) && !(y == 0 || x == 1) ? NAN : out;
}
NS_FN float ns_pow(float x, float y) { return (float)ns_pow_core((double)x, (double)y); }
NS_FN double ns_pow(double x, double y) { return ns_pow_core(x, y); }
"""

# expm1 and tanh, vectorisable (the C library's are a call per element): Kahan's form
# expm1(x) = (u - 1) x / log(u), u = exp(x) (exact where u = 1), in double for a float argument;
# tanh(x) = expm1(2x) / (expm1(2x) + 2), saturating at +-1.
PRELUDE += r"""
NS_FN double ns_expm1_core(double x) {
  const double u = ns_exp(x);
  const double r = u == 1.0 ? x : (u - 1.0) * x / ns_log(u);
  return x > 709.0 ? (x != x ? x : INFINITY) : (x < -40.0 ? -1.0 : (u - 1.0 == -1.0 ? -1.0 : r));
}
NS_FN float ns_expm1(float x) {   // float: a Taylor polynomial below |x| = 0.5 (error < 1e-8), exp(x) - 1 above
  const float ax = x < 0 ? -x : x;
  float p = 2.48015873015873e-05f;
  p = p * x + 1.98412698412698e-04f;
  p = p * x + 1.38888888888889e-03f;
  p = p * x + 8.33333333333333e-03f;
  p = p * x + 4.16666666666667e-02f;
  p = p * x + 1.66666666666667e-01f;
  p = p * x + 0.5f;
  const float small = x + x * x * p;
  const float big = ns_exp(x) - 1.0f;
  return x != x ? x : (ax < 0.5f ? small : (x < -40.0f ? -1.0f : big));
}
NS_FN double ns_expm1(double x) { return ns_expm1_core(x); }
NS_FN double ns_tanh_core(double x) {
  const double ax = x < 0 ? -x : x;
  const double e = ns_expm1_core(2.0 * (ax > 20.0 ? 20.0 : ax));
  const double r = ax > 20.0 ? 1.0 : e / (e + 2.0);
  return x != x ? x : (x < 0 ? -r : r);
}
NS_FN float ns_tanh(float x) {   // a rational form in float (as Eigen's and XLA's fast tanh)
  const float c = 7.90531110763549805f;
  const float xc = x > c ? c : (x < -c ? -c : x);
  const float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = xc * p;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  const float r = p / q;
  const float ax = x < 0 ? -x : x;
  return x != x ? x : (ax < 0.0004f ? x : r);
}
NS_FN double ns_tanh(double x) { return ns_tanh_core(x); }
"""

# The inverse error function as XLA evaluates it (Giles, "Approximating the erfinv function",
# GPU Computing Gems 2011): w = -log(1 - x^2), one of two polynomials in w, times x.
PRELUDE += r"""
NS_FN double ns_log1p_core(double x) {     // Kahan's form: exact where 1 + x rounds to 1
  const double u = 1.0 + x;
  return u == 1.0 ? x : ns_log(u) * x / (u - 1.0);
}
NS_FN float ns_erfinv(float x) {
  const float w0 = -(float)ns_log1p_core(-(double)x * (double)x);
  const bool lt = w0 < 5.0f;
  const float w = lt ? w0 - 2.5f : std::sqrt(w0) - 3.0f;
  const float a[9] = {2.81022636e-08f, 3.43273939e-07f, -3.5233877e-06f, -4.39150654e-06f, 0.00021858087f,
                      -0.00125372503f, -0.00417768164f, 0.246640727f, 1.50140941f};
  const float b[9] = {-0.000200214257f, 0.000100950558f, 0.00134934322f, -0.00367342844f, 0.00573950773f,
                      -0.0076224613f, 0.00943887047f, 1.00167406f, 2.83297682f};
  float p = lt ? a[0] : b[0];
  for (int k = 1; k < 9; ++k) p = (lt ? a[k] : b[k]) + p * w;
  const float r = p * x;
  const float ax = x < 0 ? -x : x;
  return ax == 1.0f ? x * INFINITY : (ax > 1.0f || x != x ? NAN : r);
}
"""
