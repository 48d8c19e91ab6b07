"""A plasticity rule from equations, as Brian2 writes one on its ``Synapses``::

    rule = ns.equations.rule('''
        dapre/dt = -apre/taupre : 1 (event-driven)
        dapost/dt = -apost/taupost : 1 (event-driven)
    ''', on_pre="apre += Apre; w = clip(w + apost, 0, wmax)",
         on_post="apost += Apost; w = clip(w + apre, 0, wmax)",
         params=dict(taupre="20*ms", taupost="20*ms", Apre=0.01, Apost=-0.0105, wmax=1.0))

The result is an ordinary :class:`neurosim.plasticity.Rule` (``Projection(...,
plasticity=rule)``, ``chain`` with constraints, its ``params`` in ``net.params()``).

Every variable is per synapse; ``w`` is the synapse's weight (in the projection's weight units:
declare ``w : siemens`` to have the units checked, otherwise it is a number). In one step, at
each synapse:

1. variables flagged ``(event-driven)`` are brought to the present in closed form from the last
   step they were updated at (they must be linear; only at synapses with an event: a delivered
   presynaptic spike or a postsynaptic spike), other variables advance over dt by ``method``;
2. where the presynaptic spike arrives, the ``on_pre`` statements run in order;
3. where the postsynaptic neuron spiked, the ``on_post`` statements run in order (after
   ``on_pre`` when both happen in the step, as in Brian2 and in neurosim's ``stdp_pair``).

The transmission itself (Brian2's ``ge += w`` in ``on_pre``) is the projection's synapse, not
the rule's: leave it out. A rule with only event-driven variables is evaluated at the synapses
with events only (``event_driven=True``); a clock-driven variable makes it visit every synapse
every step.
"""
from __future__ import annotations

import math

import jax.numpy as jnp

from ..plasticity.rules import Rule, store_visited, visited
from . import units as U
from .errors import EquationError
from .evaluate import compile_exprs
from .methods import choose, update
from .parse import expression, rand, randn, statements, symbol
from .system import System, check_name, keep_used
from .types import params_type, state_type


def rule(model: str = "", on_pre: str = "", on_post: str = "", *, params: dict | None = None,
         initial: dict | None = None, method: str | None = None, name: str = "equations") -> Rule:
    """A plasticity :class:`~neurosim.plasticity.Rule` from Brian2-style strings (see the module
    docstring). ``model``: per-synapse variables (``dx/dt = ... : unit (event-driven)``,
    subexpressions, parameters ``name : unit``, and optionally ``w : unit`` for the weight's
    units); ``on_pre`` / ``on_post``: statements (``x += A``, ``w = clip(w + x, 0, wmax)``);
    ``params``, ``initial`` (numbers or strings of parameters; variables start at 0 otherwise)
    and ``method`` (for clock-driven variables) as for :class:`~neurosim.equations.Neuron`."""
    check_name(name, "rule")
    where = f"{name} rule"
    w_dim = U.DIMENSIONLESS
    lines = []
    for line in (model or "").splitlines():        # 'w : unit' declares the weight's units
        body = line.split("#", 1)[0].strip()
        if body.startswith("w") and body[1:].lstrip().startswith(":"):
            from .parse import unit_dimension
            w_dim = unit_dimension(body.split(":", 1)[1].split("(")[0], f"{where}: {body!r}")
            continue
        lines.append(line)
    model = "\n".join(lines)
    sys = System(model, params, {"w": w_dim, "dt": U.TIME}, where, flags=("event-driven",), allow_empty=True)
    diff = [e for e in sys.diff]
    if any(e.name == "w" for e in diff):
        raise EquationError(f"{where}: the weight w changes in on_pre and on_post only, not by an equation")
    event = [e.name for e in diff if "event-driven" in e.flags]
    clock = [e.name for e in diff if "event-driven" not in e.flags]
    var_dims = {e.name: e.dim for e in diff}
    texts = {e.name: e.text for e in diff}
    rhs = sys.rhs()
    for group, other, what in ((event, clock, "event-driven"), (clock, event, "clock-driven")):
        for n in group:     # each kind is brought to the present its own way: they may not mix
            uses = {s.name for s in rhs[n].free_symbols} & set(other)
            if uses:
                raise EquationError(f"{where}: {texts[n]!r} is {what} but uses {', '.join(sorted(uses))}, which "
                                    f"{'is' if len(uses) == 1 else 'are'} not; flag both (event-driven) or neither")
    closed = update({n: rhs[n] for n in event}, "exact", texts, where) if event else None
    clock_rhs = {n: rhs[n] for n in clock}
    stepped = update(clock_rhs, choose(clock_rhs, method, texts, where), texts, where) if clock else None

    targets = set(var_dims) | {"w"}
    used = {s.name for e in sys.eqs if e.expr is not None for s in e.expr.free_symbols}

    def compile_statements(text, which):
        out = []
        for st in statements(text or "", f"{where}: {which}"):
            if st.target not in targets:
                hint = (" — the transmission is the projection's synapse (ns.equations.Synapse(on_pre='g += w')); "
                        "leave it out of the rule" if which == "on_pre" else "")
                raise EquationError(f"{where}: {which} {st.text!r} changes {st.target!r}, which is not a variable of "
                                    f"the rule ({', '.join(sorted(targets))}){hint}")
            dim = w_dim if st.target == "w" else var_dims[st.target]
            sys.check(st.expr, dim if st.op in ("=", "+=", "-=") else U.DIMENSIONLESS, f"{which} {st.text!r}")
            used.update(s.name for s in st.expr.free_symbols)
            x = symbol(st.target)
            value = {"=": st.expr, "+=": x + st.expr, "-=": x - st.expr, "*=": x * st.expr, "/=": x / st.expr}[st.op]
            out.append((st.target, compile_exprs([sys.inline(value)], f"{where}: {which} {st.text!r}")))
        return out

    pre_statements = compile_statements(on_pre, "on_pre")
    post_statements = compile_statements(on_post, "on_post")
    if not pre_statements and not post_statements:
        raise EquationError(f"{where}: on_pre and on_post are both empty: the rule would change nothing")
    inits = {}
    for var, value in dict(initial or {}).items():
        if var not in var_dims:
            raise EquationError(f"{where}: initial[{var!r}]: not a variable of the rule ({', '.join(var_dims)})")
        if isinstance(value, str):
            e = expression(value, f"{where}: initial[{var!r}]")
            if e.has(rand, randn):
                raise EquationError(f"{where}: initial[{var!r}] = {value!r}: a rule's initial values are the same at "
                                    f"every synapse (numbers, or strings of parameters); rand() and randn() are not "
                                    f"available here")
            sys.check(e, var_dims[var], f"initial[{var!r}] = {value!r}")
            used.update(s.name for s in e.free_symbols)
            inits[var] = compile_exprs([sys.inline(e)], f"{where}: initial[{var!r}]", cse=False)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            inits[var] = float(value)
        else:
            raise EquationError(f"{where}: initial[{var!r}] must be a finite number or a string of parameters with "
                                f"units, got {value!r}")
    names = keep_used(sys, used, where)
    defaults = tuple(sys.constants[n].stored for n in names)
    Params = params_type(f"{name.capitalize()}RuleParams", tuple(names), defaults)
    state_fields = tuple(var_dims) + (("t_last",) if event else ())
    State = state_type(f"{name.capitalize()}RuleState", state_fields)
    factors = {n: U.storage_factor(sys.constants[n].dim) for n in names}
    w_factor = U.storage_factor(w_dim)
    var_factors = {n: U.storage_factor(d) for n, d in var_dims.items()}

    def env_of(p):
        return {n: getattr(p, n) * f for n, f in factors.items()}

    def init(p, shape):
        env = env_of(p)
        out = {}
        for var in var_dims:
            how = inits.get(var, 0.0)
            v = how(env)[0] / var_factors[var] if callable(how) else how
            out[var] = jnp.full((shape.nnz,), v, shape.dtype)
        if event:
            out["t_last"] = jnp.zeros((shape.nnz,), jnp.int32)
        return State(**out)

    def step_update(p, dw, state, weights, ev):
        conn = ev.conn
        pre = ev.pre[conn.rows] > 0
        post = ev.post[conn.indices] > 0
        env = env_of(p)
        x = {n: visited(conn, getattr(state, n)) * var_factors[n] for n in var_dims}
        env.update(x)
        env["w"] = (weights + dw) * w_factor
        if clock:
            env.update(stepped({**env, "dt": ev.dt}))
        if event:
            t_last = visited(conn, state.t_last)
            elapsed = (ev.t - t_last).astype(env["w"].dtype) * ev.dt
            now = closed({**env, "dt": elapsed})
            active = pre | post
            for n in event:
                env[n] = jnp.where(active, now[n], env[n])
        for mask, todo in ((pre, pre_statements), (post, post_statements)):
            for target, fn in todo:
                (value,) = fn(env)
                env[target] = jnp.where(mask, value, env[target])
        new = {n: store_visited(conn, getattr(state, n), (env[n] / var_factors[n]).astype(getattr(state, n).dtype))
               for n in var_dims}
        if event:
            new["t_last"] = store_visited(conn, state.t_last, jnp.where(pre | post, ev.t, t_last).astype(jnp.int32))
        return env["w"] / w_factor - weights, State(**new)

    params_value = Params(*defaults)
    return Rule(f"equations:{name}", params_value, init, step_update, event_driven=not clock)
