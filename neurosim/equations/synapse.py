"""A synapse from equations: the kinetics of a projection's synaptic variables, the effect of
a presynaptic event (``on_pre``) and the current it makes (``current_expr``).

neurosim keeps synaptic state per *postsynaptic neuron* (all synapses of one projection onto
one neuron share it), so the kinetics must be linear in the events: ``on_pre`` adds a multiple
of the weight ``w`` to a variable (``g += w``, ``x += e*w``), and one step is

    variables advanced over dt by ``method``;   then  x += c * (sum of w over the step's events)

(the built-in :class:`~neurosim.synapses.Synapse` does the same: a spike delivered in step k
moves the current from step k + 1 on). ``current_expr`` is an expression in amp that may use the
postsynaptic membrane potential ``v_post``. Brian2's ``ge += we`` onto a neuron variable is,
here, ``g += w`` onto the projection's own ``g`` with ``current_expr = 'g*(E_e - v_post)'``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax.numpy as jnp
import sympy

from . import units as U
from .errors import EquationError
from .evaluate import compile_exprs
from .methods import choose, update
from .parse import expression, statements, symbol
from .system import System, check_name, draw_initial, initial_values, keep_used
from .types import params_type, state_type

W = symbol("w")


@dataclass(frozen=True, eq=False)
class Synapse:
    """A synapse model written as equations, used as ``Projection(..., synapse=this,
    syn_params=this.Params())``.

    ``model``: the kinetics (``dg/dt = -g/tau : siemens``; parameters as for a neuron);
    ``on_pre``: what an event does (``'g += w'``: the weight ``w`` gets the unit this implies,
    here siemens, so projection weights are in nS); ``current_expr``: the current into the
    postsynaptic neuron, in amp, from the variables, the parameters and ``v_post`` (mV).
    ``method``, ``params``, ``initial``: as :class:`~neurosim.equations.Neuron`.
    """

    model: str
    on_pre: str
    current_expr: str
    method: str | None = None
    params: dict = field(default=None, repr=False)
    initial: dict = field(default=None, repr=False)
    name: str = "EquationSynapse"

    def __post_init__(self):
        check_name(self.name, "Synapse")
        where = f"{self.name} synapse"
        sys = System(self.model, self.params, {"v_post": U.VOLTAGE, "dt": U.TIME}, where, flags=())
        if not sys.diff:
            raise EquationError(f"{where}: the model has no differential equation (dg/dt = ...)")
        var_dims = {e.name: e.dim for e in sys.diff}
        for e in sys.diff:
            if "v_post" in {s.name for s in sys.inline(e.expr).free_symbols}:
                raise EquationError(f"{where}: {e.text!r} uses v_post; the kinetics are shared by the synapses onto "
                                    f"a neuron and must not depend on its voltage (use it in current_expr=)")
        texts = {e.name: e.text for e in sys.diff}
        rhs = sys.rhs()
        method = choose(rhs, self.method, texts, where)
        advance = update(rhs, method, texts, where)

        # on_pre: x += c w, c free of the variables
        increments, w_dim = [], None
        for st in statements(self.on_pre, f"{where}: on_pre"):
            if st.target not in var_dims:
                raise EquationError(f"{where}: on_pre {st.text!r} changes {st.target!r}, which is not a variable of the "
                                    f"synapse ({', '.join(var_dims)})")
            if st.op not in ("+=", "-="):
                raise EquationError(f"{where}: on_pre {st.text!r}: the synapses onto a neuron share its variables, so an "
                                    f"event can only add to them ('{st.target} += w'), not {st.op!r}")
            c = sympy.diff(st.expr, W)
            states = {symbol(n) for n in var_dims} | {symbol("v_post")}
            if W not in st.expr.free_symbols or W in c.free_symbols or sympy.simplify(st.expr - c * W) != 0 \
                    or c.free_symbols & states:
                raise EquationError(f"{where}: on_pre {st.text!r} must add a multiple of the weight w (e.g. "
                                    f"'{st.target} += w' or '{st.target} += 2.7*w'), with a factor free of the variables")
            c_dim = sys.check(c, None, f"on_pre {st.text!r}")
            this = var_dims[st.target] / c_dim
            if w_dim is not None and this != w_dim:
                raise EquationError(f"{where}: on_pre gives the weight w two units ({U.name_of(w_dim)} and "
                                    f"{U.name_of(this)})")
            w_dim = this
            increments.append((st.target, compile_exprs([sys.inline(c if st.op == "+=" else -c)],
                                                        f"{where}: on_pre {st.text!r}")))
        if not increments:
            raise EquationError(f"{where}: on_pre is empty: say what an event does ('g += w')")

        cur = expression(self.current_expr, f"{where}: current_expr")
        sys.check(cur, U.CURRENT, f"current_expr {self.current_expr!r}")
        cur = sys.inline(cur)
        current_fn = compile_exprs([cur], f"{where}: current_expr {self.current_expr!r}")
        output = "conductance" if symbol("v_post") in cur.free_symbols else "current"

        used = {s.name for e in sys.eqs if e.expr is not None for s in e.expr.free_symbols}
        used |= {s.name for s in expression(self.current_expr, where).free_symbols}
        used |= {s.name for st in statements(self.on_pre, where) for s in st.expr.free_symbols}
        inits = initial_values(sys, self.initial, var_dims, used, where)
        names = keep_used(sys, used, where)
        Params = params_type(f"{self.name}Params", tuple(names), tuple(sys.constants[n].stored for n in names))
        State = state_type(f"{self.name}State", tuple(var_dims))
        spec = dict(sys=sys, method=method, advance=advance, increments=increments, current=current_fn,
                    names=names, factors={n: U.storage_factor(sys.constants[n].dim) for n in names},
                    var_factors={n: U.storage_factor(d) for n, d in var_dims.items()}, inits=inits,
                    var_dims=var_dims, w_dim=w_dim)
        object.__setattr__(self, "Params", Params)
        object.__setattr__(self, "State", State)
        object.__setattr__(self, "output", output)
        object.__setattr__(self, "_spec", spec)

    @property
    def weight_unit(self) -> str:
        """The unit projection weights are in (the one ``on_pre`` implies for ``w``)."""
        return U.neurosim_unit(self._spec["w_dim"])

    @property
    def integration_method(self) -> str:
        return self._spec["method"]

    def _env(self, params, state=None):
        sp = self._spec
        env = {n: getattr(params, n) * f for n, f in sp["factors"].items()}
        if state is not None:
            env.update({n: getattr(state, n) * f for n, f in sp["var_factors"].items()})
        return env

    def init(self, params, n: int, key):
        sp = self._spec
        return self.State(**draw_initial(sp["inits"], sp["var_dims"], sp["var_factors"], self._env(params), n, key))

    def current(self, params, state, v):
        env = self._env(params, state)
        env["v_post"] = v
        (i,) = self._spec["current"](env)
        return jnp.broadcast_to(i, getattr(state, next(iter(self._spec["var_dims"]))).shape)

    def step(self, params, state, drive, dt):
        sp = self._spec
        env = self._env(params, state)
        env["dt"] = dt
        new = sp["advance"](env)
        for var, c in sp["increments"]:
            (k,) = c(env)
            new[var] = new[var] + k * drive * U.storage_factor(sp["w_dim"])
        return self.State(**{var: jnp.asarray(new[var] / f, getattr(state, var).dtype)
                             for var, f in sp["var_factors"].items()})

    def __repr__(self):
        return f"ns.equations.Synapse({self.name!r}: {', '.join(self._spec['var_dims'])}; {self.output})"
