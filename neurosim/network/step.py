"""Stage 5, the step: one pure function that advances a whole network by dt.

    state' , spikes = step(net, params, state, dt)

In data-flow order, for every population:
  1. current  = sum of its synapses' outputs (at the membrane potential of the step's start)
               + external inputs
  2. neurons  : (params, state, current, dt) -> (state, spikes)                [stage 1]
  3. events   : delayed presynaptic spikes x CSR x weights -> drive             [stage 2]
  4. synapses : drive -> synaptic state (used by the next step's current)       [stage 3]
Delays are ring buffers of presynaptic spike vectors, ``delay - 1`` deep. A projection with
short-term plasticity (``stp``) scales its weights by each synapse's release ``u x`` at the
delivered spikes (``neurosim.synapses.short_term``); its per-synapse state is ``state.stp``.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .. import _checks
from ..events import propagate
from .model import Network


class NetworkState(NamedTuple):
    t: jax.Array         # () int32, index of the next step
    key: jax.Array       # PRNG key for the inputs' randomness
    neurons: dict        # population name -> neuron state
    synapses: dict       # projection name -> synapse state (per postsynaptic neuron)
    delays: dict         # projection name -> (delay - 1, n_pre) buffer of past spikes
    inputs: dict         # input name -> input state
    stp: dict = {}       # projection name -> short-term plasticity state (per synapse), for projections with stp


def delay_steps(net: Network, dt: float) -> dict:
    out = {}
    for pr in net.projections:
        if pr.delay_ms is None:
            out[pr.name] = 1
        else:
            out[pr.name] = _checks.whole_steps(f"Projection {pr.name!r}: delay_ms", pr.delay_ms, dt, minimum=1)
    return out


def init_state(net: Network, params: dict, key, dt: float) -> NetworkState:
    """The state at t = 0 (initial values drawn from ``key``)."""
    dt = _checks.positive_finite("dt", dt)
    if isinstance(key, numbers.Integral):
        key = jax.random.key(int(key))
    keys = jax.random.split(key, 3)
    k_pop = jax.random.split(keys[0], len(net.populations))
    neurons = {p.name: p.model.init(params["neurons"][p.name], p.n, k) for p, k in zip(net.populations, k_pop)}
    k_syn = jax.random.split(keys[1], len(net.projections) + len(net.inputs))
    synapses, delays = {}, {}
    for pr, k, d in zip(net.projections, k_syn, delay_steps(net, dt).values()):
        (pre, post) = net._refs[pr.name]
        synapses[pr.name] = pr.synapse.init(params["projections"][pr.name]["synapse"], post[2] - post[1], k)
        delays[pr.name] = jnp.zeros((d - 1, pre[2] - pre[1]), jnp.float32)
    inputs = {}
    for inp, k in zip(net.inputs, k_syn[len(net.projections):]):
        (tgt,) = net._refs[inp.name]
        inputs[inp.name] = inp.source.init(params["inputs"][inp.name], tgt[2] - tgt[1], k)
    stp = {pr.name: pr.stp.init(params["projections"][pr.name]["stp"], pr.conn.nnz, pr.conn.n_pre)
           for pr in net.projections if pr.stp is not None}
    return NetworkState(jnp.zeros((), jnp.int32), keys[2], neurons, synapses, delays, inputs, stp)


def _add(total, value, start, stop, n):
    if start == 0 and stop == n:
        return total + value
    return total.at[start:stop].add(value)


def step(net: Network, params: dict, state: NetworkState, dt: float, conns: dict | None = None):
    """Advance by one step. Returns ``(state, spikes)``; spikes: population name -> (n,) float.

    ``conns`` (projection name -> CSR, default ``net.connectivity()``) lets a jitted caller pass
    the connectivity as arguments instead of baking its index arrays into the program as
    constants (which makes large programs slow to compile)."""
    conns = net.connectivity() if conns is None else conns
    key, sub = jax.random.split(state.key)
    # 1. currents, from the state at the start of the step
    v = {p.name: p.model.voltage(state.neurons[p.name]) for p in net.populations}
    current = {p.name: jnp.zeros((p.n,), jnp.float32) for p in net.populations}
    synapses = dict(state.synapses)
    for pr in net.projections:
        _, (post, a, b) = net._refs[pr.name]
        sp = params["projections"][pr.name]["synapse"]
        v_post = None if v[post] is None else v[post][a:b]
        current[post] = _add(current[post], pr.synapse.current(sp, state.synapses[pr.name], v_post), a, b, current[post].shape[0])
    inputs = {}
    for idx, inp in enumerate(net.inputs):
        ((tgt, a, b),) = net._refs[inp.name]
        v_tgt = None if v[tgt] is None else v[tgt][a:b]
        if v_tgt is None:
            v_tgt = jnp.zeros((b - a,), jnp.float32)
        inputs[inp.name], i = inp.source.current(
            params["inputs"][inp.name], state.inputs[inp.name], state.t, dt, jax.random.fold_in(sub, idx), v_tgt
        )
        current[tgt] = _add(current[tgt], jnp.broadcast_to(i, (b - a,)), a, b, current[tgt].shape[0])
    # 2. neurons
    neurons, spikes = {}, {}
    for p in net.populations:
        neurons[p.name], spikes[p.name] = p.model.step(params["neurons"][p.name], state.neurons[p.name], current[p.name], dt)
    # 3-4. events (scaled by short-term plasticity where a projection has it) and synapses
    delays, stp = {}, dict(state.stp)
    for pr in net.projections:
        (pre, a, b), (post, _, _) = net._refs[pr.name]
        s = spikes[pre][a:b]
        buf = state.delays[pr.name]
        if buf.shape[0]:
            slot = state.t % buf.shape[0]
            delayed = buf[slot]
            delays[pr.name] = buf.at[slot].set(s)
        else:
            delayed = s
            delays[pr.name] = buf
        pp = params["projections"][pr.name]
        weights = pp["weights"]
        if pr.stp is not None:
            if pr.name not in state.stp:
                raise ValueError(f"Projection {pr.name!r} has stp but the state has no stp entry for it; "
                                 "make the state with init_state(net, ...)")
            stp[pr.name], release = pr.stp.release(pp["stp"], state.stp[pr.name], conns[pr.name].rows, delayed,
                                                   state.t, dt, tau_in=pp["synapse"].tau)
            weights = weights * release
        drive = propagate(conns[pr.name], weights, delayed, backend=pr.backend, capacity=pr.capacity)
        synapses[pr.name] = pr.synapse.step(pp["synapse"], state.synapses[pr.name], drive, dt)
    return NetworkState(state.t + 1, key, neurons, synapses, delays, inputs, stp), spikes
