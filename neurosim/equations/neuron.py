"""A neuron model from Brian2-style equations: an ordinary neurosim neuron (``Params``,
``State``, ``init``, ``step``, ``voltage``), so it runs in networks, under ``jit``, ``vmap``
and ``grad``, on the scan engine and on the native engine, which lowers its ``step`` to C++.

One step, in order (the built-in :class:`~neurosim.neurons.LIF` does the same):

1. ``refractory = t_left > dt / 2`` (when ``refractory`` is given);
2. every differential equation advanced over dt by ``method``, the input current ``I`` (pA: the
   sum of the synaptic and input currents, computed from the state at the start of the step)
   and the parameters held constant; variables flagged ``(unless refractory)`` keep their value
   while refractory;
3. ``spike = threshold`` (a comparison, on the new state; never while refractory), with a
   surrogate derivative of scale ``slope`` (per unit of the comparison's left side);
4. ``reset`` statements, in order, where a spike occurred;
5. ``t_left = t_ref`` after a spike, else ``max(t_left - dt, 0)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax.numpy as jnp

from ..neurons.base import check_gradient_options, reset as _blend
from ..neurons.spike import spike
from . import units as U
from .errors import EquationError
from .evaluate import compile_exprs
from .methods import choose, update
from .parse import condition, statements, symbol
from .system import System, check_name, draw_initial, initial_values, keep_used, quantity
from .types import params_type, state_type

_VOLTAGE_NAMES = ("v", "V", "vm", "Vm", "v_m", "V_m", "u_m")
@dataclass(frozen=True, eq=False)
class Neuron:
    """A neuron model written as equations (Brian2's syntax, units checked once when built).

    ``model``: the equations (``dv/dt = ... : volt``, subexpressions, parameters ``name : unit``);
    the input current is ``current`` (default ``I``, in amp: neurosim's pA), ``dt`` is the step.
    ``threshold``: a comparison (``'v > -50*mV'``) or None (no spikes); ``reset``: statements
    (``'v = v_reset; w += b'``); ``refractory``: a duration (``'5*ms'``, a number in ms, or the
    name of a parameter) or None. ``method``: see :mod:`neurosim.equations.methods` (None: exact
    where linear, else euler). ``params``: name -> value, a string with units (``'10*nS'``,
    ``'2*g_l'``) or a number/array in neurosim's units (ms, mV, pF, nS, pA, Hz); every declared
    parameter needs one, and names used but not declared are external constants taken from here.
    ``initial``: variable -> initial value (a string with units, which may use parameters,
    ``rand()`` and ``randn()``; a number in neurosim's units; or a rule of :mod:`neurosim.init`);
    unset variables start at 0. ``voltage``: the variable synapses read as the membrane potential
    (default: ``v`` or the first variable in volts). ``surrogate`` / ``detach_reset``: as the
    built-in neurons.

    The result's ``Params`` has one field per parameter (plus ``slope`` with a threshold and
    ``t_ref`` with a fixed refractory period), ``State`` one per variable (plus ``t_left``).
    """

    model: str
    threshold: str | None = None
    reset: str | None = None
    refractory: object = None
    method: str | None = None
    params: dict = field(default=None, repr=False)
    initial: dict = field(default=None, repr=False)
    current: str = "I"
    voltage_var: str | None = None
    surrogate: str = "fast_sigmoid"
    detach_reset: bool = True
    name: str = "Equations"

    def __post_init__(self):
        check_gradient_options(self)
        check_name(self.name, "Neuron")
        where = f"{self.name} neuron"
        if not isinstance(self.current, str) or not self.current.isidentifier():
            raise EquationError(f"{where}: current must be a name (the input current's symbol), got {self.current!r}")
        sys = System(self.model, self.params, {self.current: U.CURRENT, "dt": U.TIME}, where)
        for bad in ("t", "xi"):
            if bad in {s.name for e in sys.eqs if e.expr is not None for s in e.expr.free_symbols} - set(sys.dims):
                raise EquationError(f"{where}: the equations use {bad!r}, the time; a neuron's step does not see the "
                                    f"clock (time is explicit state): drive time-dependent currents with an Input")
        if not sys.diff:
            raise EquationError(f"{where}: the model has no differential equation (dx/dt = ...)")
        texts = {e.name: e.text for e in sys.diff}
        rhs = sys.rhs()
        method = choose(rhs, self.method, texts, where)
        advance = update(rhs, method, texts, where)
        held = tuple(e.name for e in sys.diff if "unless refractory" in e.flags)
        var_dims = {e.name: e.dim for e in sys.diff}

        # threshold: spike(lhs - rhs) (or rhs - lhs for < and <=)
        spike_fn, slope_dim, strict = None, None, False
        used = {s.name for e in sys.eqs if e.expr is not None for s in e.expr.free_symbols}
        if self.threshold is not None:
            op, lhs, rhs_ = condition(self.threshold, f"{where}: threshold")
            used |= {s.name for s in (lhs - rhs_).free_symbols}
            d = sys.check(lhs - rhs_, None, f"threshold {self.threshold!r}")
            slope_dim = U.DIMENSIONLESS / d
            diff = sys.inline(lhs - rhs_ if op in (">", ">=") else rhs_ - lhs)
            strict = op in (">", "<")             # 'v > v_th' does not fire at v == v_th
            spike_fn = compile_exprs([diff], f"{where}: threshold {self.threshold!r}")
        elif self.reset is not None or self.refractory is not None:
            raise EquationError(f"{where}: reset and refractory need a threshold")

        # reset: statements in order
        resets = []
        for st in statements(self.reset or "", f"{where}: reset"):
            if st.target not in var_dims:
                raise EquationError(f"{where}: reset {st.text!r} assigns {st.target!r}, which is not a variable of the "
                                    f"model ({', '.join(var_dims)})")
            want = var_dims[st.target] if st.op in ("=", "+=", "-=") else U.DIMENSIONLESS
            sys.check(st.expr, want, f"reset {st.text!r}")
            used |= {s.name for s in st.expr.free_symbols}
            x = symbol(st.target)
            value = {"=": st.expr, "+=": x + st.expr, "-=": x - st.expr, "*=": x * st.expr, "/=": x / st.expr}[st.op]
            resets.append((st.target, compile_exprs([sys.inline(value)], f"{where}: reset {st.text!r}")))

        # refractoriness: a fixed duration (t_ref) or a parameter's value
        t_ref_name = None
        refractory_default = None
        if self.refractory is not None:
            if isinstance(self.refractory, str) and self.refractory in sys.constants:
                if sys.constants[self.refractory].dim != U.TIME:
                    raise EquationError(f"{where}: refractory names {self.refractory!r}, which is not a duration")
                t_ref_name = self.refractory
            elif isinstance(self.refractory, str):
                v, d = quantity(self.refractory, f"{where}: refractory", {})
                if d != U.TIME:
                    raise EquationError(f"{where}: refractory = {self.refractory!r} has units {U.name_of(d)}; expected a "
                                        f"duration such as '5*ms'")
                t_ref_name, refractory_default = "t_ref", v
            elif isinstance(self.refractory, (int, float)) and not isinstance(self.refractory, bool):
                t_ref_name, refractory_default = "t_ref", float(self.refractory)
            else:
                raise EquationError(f"{where}: refractory must be a duration ('5*ms', a number in ms, or a parameter's "
                                    f"name), got {self.refractory!r}")
            if refractory_default is not None and not refractory_default >= 0:
                raise EquationError(f"{where}: refractory must be >= 0 ms, got {self.refractory!r}")
        if held and self.refractory is None:
            raise EquationError(f"{where}: {', '.join(held)} {'is' if len(held) == 1 else 'are'} flagged "
                                f"'(unless refractory)' but no refractory period is given (refractory='2*ms')")

        inits = initial_values(sys, self.initial, var_dims, used, where)

        # params and state types
        names = keep_used(sys, used, where, also={t_ref_name})
        extra_fields, extra_defaults = [], []
        if spike_fn is not None:
            if "slope" in sys.dims:
                raise EquationError(f"{where}: 'slope' is the surrogate's scale, added to the params of every spiking "
                                    f"model; rename the model's 'slope'")
            extra_fields.append("slope")
            extra_defaults.append(1.0)
        if refractory_default is not None:
            if "t_ref" in sys.dims:
                raise EquationError(f"{where}: 't_ref' holds the refractory period; rename the model's 't_ref'")
            extra_fields.append("t_ref")
            extra_defaults.append(refractory_default)
        fields = tuple(names + extra_fields)
        rules = {"NON_NEGATIVE": [f for f in ("slope", "t_ref") if f in extra_fields]}
        defaults = tuple(sys.constants[n].stored for n in names) + tuple(extra_defaults)
        Params = params_type(f"{self.name}Params", fields, defaults, rules)
        state_fields = tuple(var_dims) + (("t_left",) if self.refractory is not None else ())
        if "t_left" in var_dims:
            raise EquationError(f"{where}: 't_left' holds the refractory clock; rename the model's 't_left'")
        State = state_type(f"{self.name}State", state_fields)

        voltage = self.voltage_var
        if voltage is None:
            voltage = next((n for n in _VOLTAGE_NAMES if var_dims.get(n) == U.VOLTAGE), None) or \
                next((n for n, d in var_dims.items() if d == U.VOLTAGE), None)
        elif var_dims.get(voltage) != U.VOLTAGE:
            raise EquationError(f"{where}: voltage_var = {voltage!r} is not a variable in volts of the model")

        factors = {n: U.storage_factor(sys.constants[n].dim) for n in names}
        var_factors = {n: U.storage_factor(d) for n, d in var_dims.items()}
        spec = dict(sys=sys, method=method, advance=advance, held=held, spike_fn=spike_fn, resets=resets,
                    t_ref_name=t_ref_name, names=names, factors=factors, var_factors=var_factors, inits=inits,
                    voltage=voltage, slope_dim=slope_dim, var_dims=var_dims, strict=strict)
        object.__setattr__(self, "Params", Params)
        object.__setattr__(self, "State", State)
        object.__setattr__(self, "_spec", spec)

    # -- the neuron contract --------------------------------------------------------------------
    @property
    def integration_method(self) -> str:
        """The method the equations are integrated with (``method``, or the one chosen for None)."""
        return self._spec["method"]

    def _env(self, params, dt=None):
        sp = self._spec
        env = {n: getattr(params, n) * f if f != 1.0 else getattr(params, n) for n, f in sp["factors"].items()}
        if dt is not None:
            env["dt"] = dt
        return env

    def init(self, params, n: int, key):
        sp = self._spec
        values = draw_initial(sp["inits"], sp["var_dims"], sp["var_factors"], self._env(params), n, key)
        if "t_left" in self.State._fields:
            values["t_left"] = jnp.zeros((n,), jnp.float32)
        return self.State(**values)

    def step(self, params, state, i, dt):
        sp = self._spec
        env = self._env(params, dt)
        env[self.current] = i
        for var, f in sp["var_factors"].items():
            x = getattr(state, var)
            env[var] = x * f if f != 1.0 else x
        refractory = state.t_left > 0.5 * dt if sp["t_ref_name"] is not None else None
        new = sp["advance"](env)
        for var in sp["held"]:
            new[var] = jnp.where(refractory, env[var], new[var])
        after = {**env, **new}
        if sp["spike_fn"] is None:
            s = jnp.zeros_like(getattr(state, next(iter(sp["var_dims"]))))
        else:
            (x,) = sp["spike_fn"](after)
            s = spike(x, params.slope, self.surrogate)
            if sp["strict"]:
                s = s * (x != 0).astype(s.dtype)
            if refractory is not None:
                s = s * (1.0 - refractory.astype(s.dtype))
            for var, fn in sp["resets"]:
                (value,) = fn(after)
                after[var] = _blend(after[var], value, s, self.detach_reset)
        out = {var: after[var] / f if f != 1.0 else after[var] for var, f in sp["var_factors"].items()}
        if refractory is not None:
            t_ref = getattr(params, sp["t_ref_name"])
            out["t_left"] = jnp.where(s > 0, t_ref, jnp.maximum(state.t_left - dt, 0.0))
        out = {k: jnp.asarray(v, getattr(state, k).dtype) for k, v in out.items()}
        return self.State(**out), s

    def voltage(self, state):
        v = self._spec["voltage"]
        return None if v is None else getattr(state, v)

    def __repr__(self):
        return f"ns.equations.Neuron({self.name!r}: {', '.join(self._spec['var_dims'])}; method {self._spec['method']!r})"
