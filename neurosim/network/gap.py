"""Gap junctions (electrical synapses): a current between neurons through a conductance, read
from their membrane potentials every step.

    I_post,i = sum over junctions j -> i of  g_ji (V_pre,j - V_post,i)      (pA = nS x mV)

A :class:`GapJunction` is a CSR of junctions from ``pre`` to ``post`` (one population, two, or
slices of them, written as a projection writes them) and one conductance per junction (nS, >= 0;
a scalar for all of them): ``params.gap_junctions[name]``, a differentiable parameter. By
default a junction is *directed* (Brian2's ``Igap_post = w * (v_pre - v_post) : 1 (summed)``):
it carries current into its postsynaptic neuron only, and a coupling that conducts both ways
stores both directions. ``symmetric=True`` makes each stored junction conduct both ways (the
presynaptic neuron then receives ``g (V_post - V_pre)`` too), so that each pair is given once.

When: in step 1 of the network step (:mod:`neurosim.network.step`), from the membrane potentials
at the start of the step (``model.voltage(state)``, as a conductance synapse reads them), added
to the input current of the neurons after their synaptic and input currents, the junctions in
network order, and held over the step: the coupling is explicit, first order in dt. There is no
event and no delay: every step reads every presynaptic voltage. The scan and the native engine
run it (:mod:`neurosim.engines.native.engine` sums the currents in the order XLA gives the scan's);
the fused and neuron-parallel engines refuse it by name (:func:`neurosim.engines.describe`).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..events import CSR
from ..events.jitconn import JitConn


@dataclass(frozen=True, eq=False)
class GapJunction:
    """Electrical synapses from ``pre`` onto ``post`` (population names or ``(name, start,
    stop)`` slices, as a :class:`~neurosim.network.Projection` takes them) through ``conn`` (a
    CSR of shape pre x post) with conductances ``weights`` (nS, >= 0: a scalar, or one per
    junction in CSR order). Each junction carries ``g (V_pre - V_post)`` (pA) into its
    postsynaptic neuron; with ``symmetric=True`` also ``g (V_post - V_pre)`` into its presynaptic
    one (give each pair once: a pair stored in both directions is refused). Listed in
    ``Network(..., gap_junctions=[...])``; module docstring for the step order."""

    name: str
    pre: object
    post: object
    conn: CSR
    weights: object
    symmetric: bool = False

    def __post_init__(self):
        where = f"GapJunction {self.name!r}"
        if isinstance(self.conn, JitConn):
            raise ValueError(f"{where}: conn is a JitConn (procedural connectivity); a gap junction reads every junction "
                             "every step, from a stored CSR: pass conn.to_csr()")
        if not isinstance(self.conn, CSR):
            raise ValueError(f"{where}: conn must be a CSR (ns.events.fixed_probability, CSR.from_arrays, ...), got "
                             f"{type(self.conn).__name__}")
        if not isinstance(self.symmetric, (bool, np.bool_)):
            raise ValueError(f"{where}: symmetric must be True or False, got {self.symmetric!r}")
        object.__setattr__(self, "weights", check_conductances(f"{where}: weights", self.weights, self.conn.nnz))

    def __repr__(self) -> str:
        from .model import _repr     # (model imports this module)
        return _repr(self)

    def check(self, pre, post, pops: dict) -> None:
        """Check against the network: ``pre``/``post`` are the parsed ``(name, start, stop)``
        references, ``pops`` the populations by name."""
        where = f"GapJunction {self.name!r}"
        if (self.conn.n_pre, self.conn.n_post) != (pre[2] - pre[1], post[2] - post[1]):
            raise ValueError(f"{where}: conn is {self.conn.n_pre} x {self.conn.n_post} but pre {self.pre!r} has "
                             f"{pre[2] - pre[1]} neurons and post {self.post!r} has {post[2] - post[1]}")
        for side, ref in (("pre", pre), ("post", post)):
            _check_voltage(where, side, pops[ref[0]])
        if self.symmetric and pre[0] == post[0]:
            _check_each_pair_once(where, self.conn, pre[1], post[1])

    def currents(self, g, v_pre, v_post, conn=None):
        """``(i_post, i_pre)``: the current (pA) into each postsynaptic neuron, (n_post,), and
        with ``symmetric`` into each presynaptic one, (n_pre,) (else None), from conductances
        ``g`` (nS) and membrane potentials ``v_pre``, ``v_post`` (mV). ``conn`` defaults to
        ``self.conn`` (a jitted caller passes it as an argument)."""
        conn = self.conn if conn is None else conn
        flow = g * (v_pre[conn.rows] - v_post[conn.indices])           # (nnz,) pA, pre -> post
        i_post = jax.ops.segment_sum(flow, conn.indices, num_segments=conn.n_post)
        if not self.symmetric:
            return i_post, None
        return i_post, -jax.ops.segment_sum(flow, conn.rows, num_segments=conn.n_pre, indices_are_sorted=True)


def check_conductances(what: str, g, nnz: int):
    """Conductances (nS): a number or an (nnz,) array, finite and >= 0 (traced values pass)."""
    if isinstance(g, jax.core.Tracer):
        return g
    shape = np.shape(g)
    if shape not in ((), (nnz,)):
        raise ValueError(f"{what} must be a scalar or have shape ({nnz},) (one conductance per junction, in CSR order), "
                         f"got shape {shape}")
    try:
        a = np.asarray(g, float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number or an array of numbers (nS), got {g!r}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} must be finite, got {int(np.sum(~np.isfinite(a)))} value(s) that are not")
    if np.any(a < 0):
        k = int(np.argmin(a)) if a.ndim else 0
        raise ValueError(f"{what} are conductances (nS) and must be >= 0, got {float(a.flat[k])!r}"
                         + (f" at junction {k}" if a.ndim else ""))
    return g


def _check_voltage(where: str, side: str, pop) -> None:
    """A gap junction couples membrane potentials: the population must have one per neuron."""
    if getattr(pop.model, "is_source", False):
        raise ValueError(f"{where}: {side} population {pop.name!r} is a spike source ({type(pop.model).__name__}), which "
                         "has no membrane potential to couple")
    try:
        shape = jax.eval_shape(lambda: pop.model.voltage(pop.model.init(pop.params, pop.n, jax.random.key(0))))
    except Exception:                  # noqa: BLE001 (a model that will not trace abstractly: ask it concretely)
        shape = pop.model.voltage(pop.model.init(pop.params, pop.n, jax.random.key(0)))
    if shape is None:
        raise ValueError(f"{where}: {side} population {pop.name!r} is a {type(pop.model).__name__}, which has no membrane "
                         "potential (its voltage(state) is None); a gap junction couples membrane potentials")
    if tuple(shape.shape) != (pop.n,):
        raise ValueError(f"{where}: {side} population {pop.name!r}: its voltage has shape {tuple(shape.shape)}, not one "
                         f"value per neuron ({pop.n},)")


def _check_each_pair_once(where: str, conn: CSR, pre_start: int, post_start: int) -> None:
    """With ``symmetric=True`` in one population, a pair stored in both directions would conduct
    twice: refuse it, naming one."""
    a = np.asarray(conn.rows, np.int64) + pre_start
    b = np.asarray(conn.indices, np.int64) + post_start
    keep = a != b                      # a neuron coupled with itself carries no current
    lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    key = lo * (max(int(hi.max(initial=0)), 0) + 1) + hi
    uniq, counts = np.unique(key, return_counts=True)
    if np.any(counts > 1):
        k = uniq[np.argmax(counts > 1)]
        i, j = int(lo[key == k][0]), int(hi[key == k][0])
        raise ValueError(f"{where}: symmetric=True makes each junction conduct both ways, but conn holds the pair of "
                         f"neurons {i} and {j} in both directions ({int(np.sum(counts > 1))} such pair(s)): each would "
                         "conduct twice. Give each pair once (e.g. only i < j), or pass symmetric=False with both "
                         "directions stored (as Brian2 does)")


def add_currents(net, params, v: dict, current: dict, conns: dict | None = None) -> dict:
    """``current`` (population name -> (n,) pA) with every gap junction's current added, in
    network order, from the membrane potentials ``v`` (population name -> (n,) mV) at the start
    of the step: the network step's term (``conns``: name -> CSR, default each junction's own)."""
    for gj in net.gap_junctions:
        (pre, a, b), (post, c, d) = net._refs[gj.name]
        conn = gj.conn if conns is None else conns.get(gj.name, gj.conn)
        i_post, i_pre = gj.currents(params.gap_junctions[gj.name], v[pre][a:b], v[post][c:d], conn)
        current[post] = _add(current[post], i_post, c, d)
        if i_pre is not None:
            current[pre] = _add(current[pre], i_pre, a, b)
    return current


def _add(total, value, start, stop):
    if start == 0 and stop == total.shape[0]:
        return total + value
    return total.at[start:stop].add(value)


def gap_currents(net, params, state, conns: dict | None = None) -> dict:
    """The gap-junction current (pA) into every neuron at ``state`` (a NetworkState): population
    name -> (n,) array, zero where no junction reaches (the term the next step adds). Use it in
    an ``Observe`` monitor or a ``run(..., observe=...)`` function to record it."""
    from .model import float_dtype

    v = {p.name: p.model.voltage(state.neurons[p.name]) for p in net.populations}
    current = {p.name: jnp.zeros((p.n,), float_dtype()) for p in net.populations}
    return add_currents(net, params, v, current, conns)


def check_params(net, params) -> None:
    """``params.gap_junctions`` (checked for structure already): each a scalar or (nnz,), finite
    and >= 0 where the values are known."""
    for gj in net.gap_junctions:
        check_conductances(f"params.gap_junctions[{gj.name!r}]", params.gap_junctions[gj.name], gj.conn.nnz)


def describe(gj: GapJunction) -> str:
    """One line of a network's repr."""
    from .model import _short

    arrow = "<->" if gj.symmetric else "->"
    return (f"  gap junction {gj.name!r}: {gj.pre!r} {arrow} {gj.post!r}, {gj.conn.nnz:,} junctions"
            f"{' (each both ways)' if gj.symmetric else ''}, conductances {_short(gj.weights)} nS")
