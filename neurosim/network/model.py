"""Stage 5, the description: populations, projections and inputs, checked once when the
network is made. Nothing here runs a step; see ``step.py``.

A projection names its source and target by population name, optionally restricted to a
contiguous slice of neurons: ``"E"`` or ``("neurons", 0, 3200)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..events import CSR, available_backends
from ..events.delays import GroupedCSR, group_by_delay
from ..events.jitconn import JitConn
from ..neurons import check_params
from ..synapses import Synapse, SynapseParams, is_synapse_model
from ..synapses.dynamics import AbstractSynapseDynamics
from ..synapses.short_term import TsodyksMarkram
from .gap import GapJunction, describe as _describe_gap
from .params import NetParams, ProjectionParams


def check_input_values(params, label) -> None:
    """The values of an input's params (``label(field)`` names a field in messages): numbers,
    finite, with the signs the class asks for (``NON_NEGATIVE``), and a synapse's params (the
    ``synapse`` of ``PoissonInput``) as a synapse's. Traced leaves (under ``jit``/``vmap``)
    have no values to check and are passed over."""
    for f, v in zip(params._fields, params):
        if _checks.traced(v):
            continue
        if isinstance(v, SynapseParams):
            check_params(v, 1, label(f))
        else:
            _checks.finite_numbers(label(f), v)
            _checks.sign_rules(label(f), params, f, v)


def _short(value) -> str:
    """``repr`` of a field, with arrays of more than 8 values summarised (shape, dtype, range)
    so that printing a network shows its structure, not its weights."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):     # params NamedTuples: field by field
        return f"{type(value).__name__}(" + ", ".join(f"{f}={_short(v)}" for f, v in zip(value._fields, value)) + ")"
    if isinstance(value, (np.ndarray, jax.Array)) and np.size(value) > 8:
        a = np.asarray(value)
        span = f", {a.min():.4g}..{a.max():.4g}" if a.dtype.kind in "fiu" else ""
        return f"array(shape={a.shape}, {a.dtype}{span})"
    return repr(value)


def _repr(self) -> str:
    """A dataclass's repr with :func:`_short` fields."""
    return f"{type(self).__name__}(" + ", ".join(f"{f.name}={_short(getattr(self, f.name))}"
                                                 for f in fields(self) if f.repr) + ")"


@dataclass(frozen=True, eq=False)
class Population:
    """``n`` neurons of one model. ``params`` defaults to the model's default parameters."""

    __repr__ = _repr

    name: str
    n: int
    model: object
    params: object = None

    def __post_init__(self):
        _checks.count(f"Population {self.name!r}: n", self.n, minimum=1)
        _instance(self.model, f"Population {self.name!r}: model", "LIF()")
        if self.params is None:
            object.__setattr__(self, "params", self.model.Params())
        if not isinstance(self.params, self.model.Params):
            raise ValueError(
                f"Population {self.name!r}: params must be a {self.model.Params.__name__}, got {type(self.params).__name__}"
            )
        check_params(self.params, self.n, f"Population {self.name!r} params")
        if hasattr(self.model, "check_size"):   # a model with options that depend on n (gap junctions)
            self.model.check_size(self.n, f"Population {self.name!r}")


@dataclass(frozen=True, eq=False)
class Projection:
    """Spikes of ``pre`` delivered through ``conn`` (a CSR of shape pre x post) with
    ``weights`` (scalar or (nnz,); None means 1.0) into a synapse on ``post``, after
    ``delay_ms`` (a whole number of steps, at least one; None means one step). ``delay_ms``
    may also give one delay per synapse, an (nnz,) array in CSR order (each a whole number of
    steps; :func:`neurosim.events.delays.normal_delays` draws them, rounded to steps): the
    projection then keeps a ring of postsynaptic input (:mod:`neurosim.events.delays`). The
    projection keeps its own read-only copy of such an array: float32 if given float32 (half
    the memory of float64, exact enough for whole steps), else float64.

    ``conn`` may also be a :class:`~neurosim.events.JitConn` (procedural connectivity, no
    synapse stored); ``weights`` is then its ``[wa, wb]`` (shape (2,); a scalar w means
    ``[w, 0]`` for a homogeneous JitConn) and None means ``conn.weight_params()``.

    Per-synapse dynamics (:mod:`neurosim.synapses.dynamics`) form one chain,
    ``self.chain``, built from three arguments, in this order:

    - ``stp``: None (static synapses) or ``TsodyksMarkram(...)`` (short-term plasticity, state
      per synapse) with ``stp_params`` (``TsodyksMarkramParams``, each leaf a scalar or
      (nnz,); default ``TsodyksMarkramParams()``): each spike then delivers ``weights * u x``.
    - ``dynamics``: further mechanisms (objects of the contract), e.g. astrocyte gating.
    - ``plasticity``: None or a plasticity rule (``neurosim.plasticity.stdp_pair(...)``, a
      ``chain(...)``), or a ``Plasticity(rule, clip_initial=True)``: the weights then change
      as the network runs and live in ``state.weights[name]`` (one per synapse); ``weights``
      here are their initial values, a differentiable parameter.

    Each mechanism's parameters are ``net.params().projections[name].dynamics[mechanism.key]``
    (``"stp"``, ``"plasticity"``) and its state ``state.dynamics[name][mechanism.key]``.

    With per-synapse delays *and* a chain, each spike meets the mechanisms when it arrives at
    its synapse (the whole delay is axonal): the projection runs as one one-delay projection per
    distinct delay (``conn`` becomes a :class:`~neurosim.events.delays.GroupedCSR`), each
    mechanism's state is then a tuple with one state per delay group (increasing delay), its
    parameters each a scalar or one value per synapse, and ``state.weights[name]`` stays in CSR
    order.

    ``max_delay_ms`` makes the delays **learnable**: ``delay_ms`` (one number, or one per
    synapse; fractional) is then their initial value, ``net.params().projections[name].delays``
    ((nnz,) ms) a differentiable parameter like the weights, and the step splits each synapse's
    weight between the two steps around its delay (linear interpolation), the delay clipped to
    ``[dt, max_delay_ms]`` (``max_delay_ms`` a whole number of at least two steps; see
    :mod:`neurosim.events.delays`). The scan engine runs such a projection; the others refuse it."""

    __repr__ = _repr

    name: str
    pre: object
    post: object
    conn: CSR | JitConn
    weights: object = None
    synapse: object = field(default_factory=Synapse)
    syn_params: object = None
    delay_ms: float | None = None
    backend: str | None = None
    capacity: int | None = None
    stp: TsodyksMarkram | None = None
    stp_params: object = None
    dynamics: tuple = ()
    plasticity: object = None
    max_delay_ms: float | None = None

    def __post_init__(self):
        where = f"Projection {self.name!r}"
        if not isinstance(self.conn, (CSR, JitConn)):
            raise ValueError(f"{where}: conn must be a CSR (ns.events.fixed_probability, from_arrays, ...) or a JitConn, "
                             f"got {type(self.conn).__name__}")
        if not is_synapse_model(self.synapse):
            raise ValueError(f"{where}: synapse must be a Synapse instance, e.g. Synapse('exponential', 'current'), or a "
                             f"synapse model (Params, init, step, current, output: ns.equations.Synapse), "
                             f"got {self.synapse!r}")
        if self.syn_params is None:
            object.__setattr__(self, "syn_params", self.synapse.Params())
        if not isinstance(self.syn_params, self.synapse.Params):
            example = "SynapseParams(tau=5.0)" if isinstance(self.synapse, Synapse) else "synapse.Params()"
            raise ValueError(f"{where}: syn_params must be a {self.synapse.Params.__name__}, e.g. {example}, "
                             f"got {self.syn_params!r}")
        for f, v in zip(self.syn_params._fields, self.syn_params):
            if np.shape(v) not in ((), (1,)):
                raise ValueError(f"{where}: syn_params.{f} must be one value for the whole projection (a scalar), got "
                                 f"shape {np.shape(v)}; for synapses with different {f} use one projection per value")
        check_params(self.syn_params, 1, f"{where}: syn_params")
        if self.weights is None:
            object.__setattr__(self, "weights", self.conn.weight_params() if isinstance(self.conn, JitConn) else 1.0)
        elif isinstance(self.conn, JitConn):
            object.__setattr__(self, "weights", self.conn.weight_array(self.weights, f"{where}: weights"))
        if not np.all(np.isfinite(np.asarray(self.weights))):
            raise ValueError(f"{where}: weights must be finite")
        if self.backend is not None and self.backend not in available_backends() + ["pallas"]:
            raise ValueError(f"{where}: backend must be one of {available_backends() + ['pallas']} or None, got "
                             f"{self.backend!r}")
        if self.backend == "pallas" and isinstance(self.conn, CSR) and not self.conn.has_columns:
            object.__setattr__(self, "conn", self.conn.with_columns())   # the Pallas kernels read the column index
        if self.stp is not None:
            _instance(self.stp, f"{where}: stp", "TsodyksMarkram()")
            if not isinstance(self.stp, TsodyksMarkram):
                raise ValueError(f"{where}: stp must be None or a TsodyksMarkram instance, got {self.stp!r}")
            if self.stp_params is None:
                object.__setattr__(self, "stp_params", self.stp.Params())
        elif self.stp_params is not None:
            raise ValueError(f"{where}: stp_params given without stp; pass stp=TsodyksMarkram() too")
        chain, initial = _dynamics_chain(self, where)
        if self.max_delay_ms is not None:
            object.__setattr__(self, "delay_ms", _learnable_delays(self, chain, where))
        elif self.delay_ms is not None:
            object.__setattr__(self, "delay_ms", _delay_value(self, where))
        object.__setattr__(self, "chain", chain)   # derived; dataclasses.replace rebuilds it from the arguments
        object.__setattr__(self, "_initial", initial)
        plastic = [m for m in chain if m.plastic]
        if plastic:
            object.__setattr__(self, "weights", plastic[0].initial_weights(self.weights, f"{where}: weights"))
            if isinstance(self.conn, CSR):  # event-driven updates reach a neuron's incoming synapses by column
                object.__setattr__(self, "conn", self.conn.with_columns())
        if isinstance(self.conn, GroupedCSR):     # grouped for other delays or dynamics (dataclasses.replace)
            object.__setattr__(self, "conn", self.conn.ungrouped())
        if chain and self.delay_ms is not None and np.ndim(self.delay_ms) > 0:
            # per-synapse dynamics see each spike when it arrives: one group of synapses per delay
            for m in chain:
                _per_synapse_params(initial[m.key], self.conn.nnz, f"{where}: {m.key}")
            object.__setattr__(self, "conn", group_by_delay(self.conn, self.delay_ms))
        if self.synapse.output == "conductance" and not isinstance(self.conn, JitConn) and np.any(np.asarray(self.weights) < 0):
            raise ValueError(
                f"{where}: weights of a conductance synapse must be >= 0 (a conductance; inhibition comes from "
                f"syn_params.e_rev below rest), got min {float(np.min(self.weights))!r}"
            )

    @property
    def plastic(self) -> bool:
        """Whether the weights change as the network runs (then they live in the state)."""
        return any(m.plastic for m in self.chain)

    def initial_dynamics_params(self) -> dict:
        """Mechanism key -> its initial parameters (the projection's entries of net.params())."""
        return dict(self._initial)


def _delay_value(pr, where, value=None):
    """``delay_ms`` (or ``value``) checked: a positive number (whole steps are checked against
    the run's dt), or one positive delay per synapse, as a read-only copy (float32 if given
    float32, else float64)."""
    value = pr.delay_ms if value is None else value
    if np.ndim(value) == 0:
        _checks.positive_finite(f"{where}: delay_ms", value)
        return value
    if isinstance(pr.conn, JitConn):
        raise ValueError(f"{where}: delay_ms gives one delay per synapse, which a JitConn (procedural connectivity) "
                         "does not store; use conn.to_csr(), or one delay for the projection")
    try:
        d = np.array(value, np.float32 if np.asarray(value).dtype == np.float32 else np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: delay_ms must be a number or an array of numbers (ms), got {value!r}") from None
    if d.shape != (pr.conn.nnz,):
        raise ValueError(f"{where}: delay_ms must be one number, or one per synapse: shape ({pr.conn.nnz},) in CSR "
                         f"order, got shape {d.shape}")
    bad = ~np.isfinite(d) | (d <= 0)
    if np.any(bad):
        k = int(np.argmax(bad))
        raise ValueError(f"{where}: delay_ms must be positive and finite at every synapse; delay_ms[{k}] = {float(d[k])!r} "
                         f"({int(bad.sum())} synapse(s) like it)")
    if pr.backend is not None:
        raise ValueError(f"{where}: backend={pr.backend!r} chooses the one-delay event product; a projection with "
                         "per-synapse delays delivers through its ring (neurosim.events.delays): leave backend=None")
    d.setflags(write=False)
    return d


def _learnable_delays(pr, chain, where):
    """The initial delays of a projection that learns them (``max_delay_ms``): one positive,
    finite value per synapse, at most ``max_delay_ms``, as a read-only array (float32 if
    given float32, else float64)."""
    top = _checks.positive_finite(f"{where}: max_delay_ms", pr.max_delay_ms)
    if pr.delay_ms is None:
        raise ValueError(f"{where}: max_delay_ms makes the delays learnable; give their initial values too, delay_ms = "
                         f"one number or one per synapse (ms, at most {top!r})")
    if not isinstance(pr.conn, CSR):
        raise ValueError(f"{where}: learnable delays (max_delay_ms) need a CSR, which stores the synapses; got a "
                         f"{type(pr.conn).__name__} (use conn.to_csr())")
    if chain:
        raise ValueError(f"{where}: learnable delays (max_delay_ms) with per-synapse dynamics "
                         f"({', '.join(m.kind for m in chain)}) are not supported yet: learn the delays of a static "
                         "projection, or give whole-step delays without max_delay_ms")
    given = np.asarray(pr.delay_ms)
    d = _delay_value(pr, where, np.broadcast_to(given, (pr.conn.nnz,)) if given.ndim == 0 else given)
    above = d > top * (1 + 1e-6)
    if np.any(above):
        k = int(np.argmax(above))
        raise ValueError(f"{where}: the initial learnable delays must be positive, finite and at most max_delay_ms = "
                         f"{top!r}; delay_ms[{k}] = {float(d[k])!r} ({int(above.sum())} synapse(s) like it)")
    return d


def _per_synapse_params(params, nnz: int, where: str) -> None:
    """A mechanism's params on a projection with per-synapse delays: each leaf a scalar or one
    value per synapse ``(nnz,)``, which the delay groups split."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if np.shape(leaf) not in ((), (nnz,)):
            raise ValueError(f"{where}{jax.tree_util.keystr(path)}: with per-synapse delays a mechanism's parameter "
                             f"must be a scalar or one value per synapse, shape ({nnz},), got shape {np.shape(leaf)}")


def _dynamics_chain(pr, where):
    """The projection's mechanisms in order (stp, then ``dynamics``, then plasticity), each
    checked against the projection, with their initial parameters by key."""
    from ..plasticity import Plasticity, Rule

    extra = pr.dynamics
    if not isinstance(extra, (list, tuple)):
        extra = (extra,)
    chain = ([pr.stp] if pr.stp is not None else []) + list(extra)
    if pr.plasticity is not None:
        plast = pr.plasticity
        if isinstance(plast, Rule):
            plast = Plasticity(plast)
        if not isinstance(plast, Plasticity):
            raise ValueError(f"{where}: plasticity must be None, a plasticity rule (e.g. neurosim.plasticity."
                             f"stdp_pair()) or a Plasticity(rule), got {pr.plasticity!r}")
        chain.append(plast)
    initial, keys = {}, []
    for m in chain:
        if isinstance(m, type) or not isinstance(m, AbstractSynapseDynamics):
            raise ValueError(f"{where}: every item of dynamics must be a per-synapse mechanism instance "
                             f"(neurosim.synapses.dynamics), got {m!r}")
        m.check(pr)
        if m.key in keys:
            raise ValueError(f"{where}: two mechanisms of the dynamics chain use the key {m.key!r}; keys must be unique")
        if m.key in ("weights", "synapse"):
            raise ValueError(f"{where}: a mechanism may not use the reserved key {m.key!r}")
        keys.append(m.key)
        initial[m.key] = pr.stp_params if m is pr.stp else m.initial_params()
        if isinstance(pr.conn, CSR):
            m.check_params(initial[m.key], pr.conn.nnz, f"{where}: {m.key}_params" if m is pr.stp else f"{where}: {m.key}")
    if sum(m.plastic for m in chain) > 1:
        raise ValueError(f"{where}: at most one plastic mechanism per projection; chain the rules into one with "
                         "neurosim.plasticity.chain(...)")
    return tuple(chain), initial


@dataclass(frozen=True, eq=False)
class Input:
    """An external drive (``neurosim.inputs``) into population ``target``."""

    __repr__ = _repr

    name: str
    target: object
    source: object
    params: object = None

    def __post_init__(self):
        _instance(self.source, f"Input {self.name!r}: source", "ConstantCurrent()")
        if self.params is None:
            object.__setattr__(self, "params", self.source.Params())
        if not isinstance(self.params, self.source.Params):
            raise ValueError(
                f"Input {self.name!r}: params must be a {type(self.source).__name__}.Params "
                f"({self.source.Params.__name__}), got {self.params!r}"
            )


def float_dtype():
    """The float dtype of network state and weights: float64 when ``jax_enable_x64`` is on,
    else float32."""
    return jnp.dtype(jnp.result_type(float))


def _instance(obj, what, example):
    if isinstance(obj, type):
        raise ValueError(f"{what} must be an instance, not the class {obj.__name__}; e.g. {example}")


def _parse_ref(ref, pops: dict, what: str):
    """('pop', start, stop) for a population name or an explicit slice."""
    if isinstance(ref, str):
        name, start, stop = ref, 0, None
    elif isinstance(ref, tuple) and len(ref) == 3 and isinstance(ref[0], str):
        name, start, stop = ref
    else:
        raise ValueError(f"{what} must be a population name or (name, start, stop), got {ref!r}")
    if name not in pops:
        raise ValueError(f"{what}: no population named {name!r}; populations: {sorted(pops)}")
    n = pops[name].n
    stop = n if stop is None else stop
    if not (isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer)) and 0 <= start < stop <= n):
        raise ValueError(f"{what} slice [{start!r}, {stop!r}) is not inside population {name!r} of {n} neurons")
    return name, int(start), int(stop)


@dataclass(frozen=True, eq=False)
class Network:
    """A checked network: populations, projections, inputs, modulators and gap junctions
    (:class:`~neurosim.network.gap.GapJunction`: electrical synapses), each with a unique name."""

    populations: tuple
    projections: tuple = ()
    inputs: tuple = ()
    modulators: tuple = ()
    dt: float | None = None      # ms: the only step it may run at (weights chosen for it), or None: any
    gap_junctions: tuple = ()

    def __post_init__(self):
        from ..plasticity import Modulator

        for what, kind in (("populations", Population), ("projections", Projection), ("inputs", Input),
                           ("modulators", Modulator), ("gap_junctions", GapJunction)):
            items = getattr(self, what)
            if isinstance(items, kind) or not isinstance(items, (list, tuple)):
                raise ValueError(f"Network: {what} must be a list of {kind.__name__} objects, got {items!r}")
            for x in items:
                if not isinstance(x, kind):
                    raise ValueError(f"Network: every item of {what} must be a {kind.__name__}, got {x!r}")
        if not self.populations:
            raise ValueError("Network: populations is empty; a network needs at least one Population")
        object.__setattr__(self, "populations", tuple(self.populations))
        object.__setattr__(self, "projections", tuple(self.projections))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "modulators", tuple(self.modulators))
        object.__setattr__(self, "gap_junctions", tuple(self.gap_junctions))
        if self.dt is not None:
            _checks.positive_finite("Network: dt", self.dt)
        names = [x.name for x in self.populations + self.projections + self.inputs + self.modulators + self.gap_junctions]
        dup = {x for x in names if names.count(x) > 1}
        if dup:
            raise ValueError("names must be unique across populations, projections, inputs, modulators and gap junctions; "
                             f"repeated: {sorted(dup)}")
        pops = {p.name: p for p in self.populations}
        mods = {m.name: m for m in self.modulators}
        refs = {}
        for pr in self.projections:
            pre = _parse_ref(pr.pre, pops, f"Projection {pr.name!r}: pre")
            post = _parse_ref(pr.post, pops, f"Projection {pr.name!r}: post")
            if (pr.conn.n_pre, pr.conn.n_post) != (pre[2] - pre[1], post[2] - post[1]):
                raise ValueError(
                    f"Projection {pr.name!r}: conn is {pr.conn.n_pre} x {pr.conn.n_post} but pre {pr.pre!r} has "
                    f"{pre[2] - pre[1]} neurons and post {pr.post!r} has {post[2] - post[1]}"
                )
            w_shape = np.shape(pr.weights)
            if not isinstance(pr.conn, JitConn) and w_shape not in ((), (pr.conn.nnz,)):  # JitConn: by Projection
                raise ValueError(
                    f"Projection {pr.name!r}: weights must be a scalar or have shape ({pr.conn.nnz},), got {w_shape}"
                )
            if getattr(pops[post[0]].model, "is_source", False):
                raise ValueError(f"Projection {pr.name!r}: post population {post[0]!r} is a spike source and cannot receive input")
            refs[pr.name] = (pre, post)
            for mech in pr.chain:
                for name in mech.modulators():
                    if name not in mods:
                        raise ValueError(f"Projection {pr.name!r}: its {mech.key} reads the modulator {name!r}, which the "
                                         f"network does not define; modulators: {sorted(mods)}")
                    if mods[name].size is not None and mods[name].size != post[2] - post[1]:
                        raise ValueError(f"Projection {pr.name!r}: modulator {name!r} has size {mods[name].size}, but the "
                                         f"projection's post has {post[2] - post[1]} neurons (size None: one global value)")
                for name in mech.populations():
                    if name not in pops:
                        raise ValueError(f"Projection {pr.name!r}: its {mech.key} reads the population {name!r}, which "
                                         f"the network does not define; populations: {sorted(pops)}")
                    mech.check_population(pr, name, pops[name])
        for inp in self.inputs:
            tgt = _parse_ref(inp.target, pops, f"Input {inp.name!r}: target")
            n = tgt[2] - tgt[1]
            check_input_values(inp.params, lambda f, name=inp.name: f"Input {name!r}: {f}")
            for f, v in zip(inp.params._fields, inp.params):
                if f == "synapse":
                    continue
                shape = np.shape(v)
                ok = shape in ((), (n,)) or (f == "amplitudes" and len(shape) in (1, 2) and shape[1:] in ((), (n,)))
                if not ok:
                    raise ValueError(
                        f"Input {inp.name!r}: {f} has shape {shape}, which does not match target {inp.target!r} of {n} neurons"
                    )
            if hasattr(inp.params, "amplitudes") and np.shape(inp.params.amplitudes)[0] != len(inp.source.times_ms):
                raise ValueError(
                    f"Input {inp.name!r}: amplitudes has {np.shape(inp.params.amplitudes)[0]} rows but times_ms has "
                    f"{len(inp.source.times_ms)} entries"
                )
            if getattr(pops[tgt[0]].model, "is_source", False):
                raise ValueError(f"Input {inp.name!r}: target {tgt[0]!r} is a spike source and cannot receive input")
            refs[inp.name] = (tgt,)
        for gj in self.gap_junctions:
            refs[gj.name] = (_parse_ref(gj.pre, pops, f"GapJunction {gj.name!r}: pre"),
                             _parse_ref(gj.post, pops, f"GapJunction {gj.name!r}: post"))
            gj.check(*refs[gj.name], pops)
        object.__setattr__(self, "_refs", refs)
        object.__setattr__(self, "_pops", pops)
        object.__setattr__(self, "_cache", {})

    def __repr__(self) -> str:
        """A summary: one line per population, projection, input and modulator (arrays shown
        by shape and range; the full objects are in ``net.populations`` etc.)."""
        synapses = sum(pr.conn.nnz for pr in self.projections)
        lines = [f"Network: {len(self.populations)} population(s), {sum(p.n for p in self.populations):,} neurons; "
                 f"{len(self.projections)} projection(s), {synapses:,} synapses; {len(self.inputs)} input(s); "
                 f"{len(self.modulators)} modulator(s)"
                 + (f"; {len(self.gap_junctions)} gap junction(s)" if self.gap_junctions else "")
                 + (f"; built for dt = {self.dt:g} ms" if self.dt else "")]
        for p in self.populations:
            lines.append(f"  population {p.name!r}: {p.n} x {type(p.model).__name__}")
        for pr in self.projections:
            w = _short(pr.weights)
            chain = "".join(f", {m.kind}" for m in pr.chain)
            delay = "" if pr.delay_ms is None else (f", delay {pr.delay_ms:g} ms" if np.ndim(pr.delay_ms) == 0 else
                                                    f", delays {_short(pr.delay_ms)} ms")
            if pr.max_delay_ms is not None:
                delay += f" (learnable, up to {pr.max_delay_ms:g} ms)"
            lines.append(f"  projection {pr.name!r}: {pr.pre!r} -> {pr.post!r}, {pr.conn.nnz:,} synapses "
                         f"({getattr(pr.synapse, 'kinetics', type(pr.synapse).__name__)} {pr.synapse.output}), weights {w}{delay}{chain}")
        for i in self.inputs:
            lines.append(f"  input {i.name!r}: {type(i.source).__name__} -> {i.target!r}")
        for m in self.modulators:
            lines.append(f"  modulator {m.name!r}")
        lines += [_describe_gap(gj) for gj in self.gap_junctions]
        return "\n".join(lines)

    # The cache holds compiled programs (and device arrays derived from the connectivity): a
    # speed-up of this process, not part of the network. Pickling leaves it out, so a network
    # that has been simulated pickles like a new one.
    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def __setstate__(self, state):
        for k, v in state.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_cache", {})

    def population(self, name: str) -> Population:
        if not isinstance(name, str) or name not in self._pops:
            raise ValueError(f"no population named {name!r}; populations: {sorted(self._pops)}")
        return self._pops[name]

    def resolve(self, ref, what: str = "pop") -> tuple:
        """``(name, start, stop)`` for a population name or a ``(name, start, stop)`` slice of
        one, checked against this network; ``what`` names the argument in error messages."""
        return _parse_ref(ref, self._pops, what)

    def connectivity(self) -> dict:
        """Projection (and gap junction) name -> CSR (or JitConn, which holds no arrays): the
        non-differentiable connectivity a step reads."""
        return {pr.name: pr.conn for pr in self.projections} | {gj.name: gj.conn for gj in self.gap_junctions}

    def params(self) -> NetParams:
        """The differentiable parameters, initialised from the description: a
        :class:`~neurosim.network.params.NetParams` (``.neurons``, ``.projections``, ``.inputs``,
        ``.gap_junctions``).
        Change leaves (``_replace``, ``with_weights``, ``jax.tree.map``) and pass it to
        ``simulate``/``run``; the structure must stay the same."""
        return NetParams(
            neurons={p.name: p.params for p in self.populations},
            projections={
                pr.name: ProjectionParams(jnp.asarray(pr.weights, float_dtype()), pr.syn_params,
                                          pr.initial_dynamics_params(),
                                          None if pr.max_delay_ms is None else jnp.asarray(pr.delay_ms, float_dtype()))
                for pr in self.projections
            },
            inputs={inp.name: inp.params for inp in self.inputs},
            gap_junctions={gj.name: jnp.asarray(gj.weights, float_dtype()) for gj in self.gap_junctions},
        )
