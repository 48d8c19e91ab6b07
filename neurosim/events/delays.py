"""Per-synapse delays: a ring of postsynaptic input.

A projection whose synapses each have their own delay ``d_k`` (whole steps, 1 <= d_k <= D)
keeps a ring ``R`` of ``D`` rows of postsynaptic input, ``(D, n_post)``, indexed by the step
an input arrives at, modulo ``D``. In step ``t`` a presynaptic spike adds the weight of each
synapse ``k`` of its row to ``R[(t + d_k - 1) mod D, post_k]``; the step's drive is then the row
``R[t mod D]``, which is cleared for the inputs of step ``t + D``::

    R[(t + d_k - 1) mod D, j_k] += s_i(t) w_k      for each synapse k = (i -> j_k) of a spiking i
    drive(t) = R[t mod D];   R[t mod D] = 0

So ``d_k = 1`` delivers in the step of the spike, as a projection with one delay of one step
does (its input reaches the membrane in the next step), and a projection whose synapses all
have the delay ``d`` gives the drive of the same projection with ``delay_ms = d dt``. Memory is
``D x n_post`` (it does not grow with synapses x delay, as a ring of presynaptic spikes
indexed per synapse would); a step costs O(spikes x fan-out + n_post). On a CPU the compiled
kernel ``neurosim_ring_add`` (kernels/cpu/events.cc) adds the rows of the spiking neurons into
the ring in place; elsewhere (and in float64) the pure-JAX form finds them 16 at a time with
``top_k`` and adds them in a loop that carries the ring, so it too is updated in place.

**Delay groups.** A projection whose synapses also carry per-synapse dynamics (plasticity,
short-term plasticity) delivers differently: such a mechanism must see each spike when it
*arrives* at the synapse, with the weight and release of that step, so the projection is run as
the sum of its one-delay parts. :func:`group_by_delay` keeps, beside the whole CSR, one sub-CSR
per distinct delay (a :class:`GroupedCSR`); the step reads each group's presynaptic spikes from a
buffer of past spikes ``D - 1`` deep, as a one-delay projection does (``neurosim.network.step``).

**Learnable delays.** A projection that learns its delays (``max_delay_ms``) reads them, in
ms and fractional, from its params in every step and splits each synapse's weight between the
two rows around its delay (linear interpolation, :func:`deliver_fractional`): with ``d_k`` in
steps clipped to ``[1, D]``, ``n_k = min(floor(d_k), D - 1)`` and ``f_k = d_k - n_k``,

    R[(t + n_k - 1) mod D, j_k] += s_i(t) w_k (1 - f_k),    R[(t + n_k) mod D, j_k] += s_i(t) w_k f_k

so a whole-step delay delivers as above, and the drive is piecewise linear in ``d_k``, with the
derivative ``w_k s_i (R-row cotangent at n_k + 1 - at n_k)``: the slope towards the next
whole step, at a whole step too (:func:`fractional`). Its ``slot`` holds ``j_k`` only.

Autodiff: the operation is linear in the ring, the weights and the spikes; its tangent is the
same scatter of ``s w_dot + s_dot w`` over every synapse (the derivative with respect to float,
surrogate spikes is not sparse), so ``jax.grad`` with respect to weights and spikes is exact,
and with respect to learnable delays through the weights ``w_k (1 - f_k)`` and ``w_k f_k``.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _kernels
from . import ops
from .csr import CSR



CHUNK = 1 << 22       # synapses checked at a time: float64 temporaries stay near 100 MB


def synapse_steps(name: str, delay_ms, dt: float) -> np.ndarray:
    """Per-synapse delays (ms) as whole steps of ``dt`` (>= 1 each), refusing any that is not:
    the message names the first such synapse, its value and the nearest whole-step delay.
    Returns ``(nnz,)`` int32; checked a few million synapses at a time, so its temporaries do
    not grow with the projection."""
    d = np.asarray(delay_ms)
    out = np.empty(d.shape, np.int32)
    for a in range(0, d.size, CHUNK):
        out[a:a + CHUNK] = _whole_steps(name, d[a:a + CHUNK], dt, a, d)
    return out


def synapse_depth(name: str, delay_ms, dt: float) -> int:
    """The longest of the per-synapse delays ``delay_ms`` in whole steps of ``dt`` (1 for no
    synapse), every delay checked as :func:`synapse_steps` checks it, without keeping the steps."""
    d = np.asarray(delay_ms)
    return max((int(_whole_steps(name, d[a:a + CHUNK], dt, a, d).max()) for a in range(0, d.size, CHUNK)), default=1)


_RULES = ((lambda s, r: s < 1 - 1e-6, "is shorter than one step of dt = {dt!r} ms"),
          (lambda s, r: np.abs(s - r) > 1e-6 * np.maximum(1.0, np.abs(s)), "is not a whole number of steps of dt = {dt!r} ms"),
          (lambda s, r: r >= 2**31, "is more than 2**31 - 1 steps of dt = {dt!r} ms"))


def _whole_steps(name, d, dt, offset, whole=None) -> np.ndarray:
    """``d`` (the delays in ms of synapses ``offset ...`` of ``whole``) as int64 whole steps."""
    with np.errstate(invalid="ignore"):     # an infinite delay is refused below, by name
        return _checked_steps(name, d, dt, offset, whole)


def _checked_steps(name, d, dt, offset, whole) -> np.ndarray:
    steps = np.asarray(d, np.float64) / dt
    n = np.rint(steps)
    # one pass for the common case (every delay is fine; NaN fails the first comparison), the
    # rules one by one only to name what is wrong
    ok = steps >= 1 - 1e-6
    ok &= n < 2**31
    err = steps - n
    np.abs(err, out=err)
    np.abs(steps, out=steps)
    np.maximum(steps, 1.0, out=steps)
    steps *= 1e-6
    ok &= err <= steps
    if not ok.all():
        steps = np.asarray(d, np.float64) / dt
        for bad, what in _RULES:
            mask = bad(steps, n)
            if np.any(mask):
                k = int(np.argmax(mask))
                everywhere = d if whole is None else whole
                count = sum(int(np.count_nonzero(bad(c, np.rint(c)))) for c in
                            (np.asarray(everywhere[a:a + CHUNK], np.float64) / dt for a in range(0, len(everywhere), CHUNK)))
                hint = ("every delay is at least one step" if "shorter" in what else
                        "use a longer dt or shorter delays" if "2**31" in what else
                        "round the delays to steps first, e.g. neurosim.events.delays.to_steps(delay_ms, dt) * dt "
                        f"(nearest: {n[k] * dt:.6g} ms)")
                raise ValueError(f"{name}[{offset + k}] = {float(d[k])!r} ms " + what.format(dt=dt) +
                                 f" ({count} synapse(s) like it); {hint}")
        k = int(np.argmax(np.isnan(steps)))
        raise ValueError(f"{name}[{offset + k}] = {float(d[k])!r} ms is not a number; every delay must be a finite "
                         "number of ms")
    return n.astype(np.int64)


def to_steps(delay_ms, dt: float, *, minimum: int = 1) -> np.ndarray:
    """Delays (ms) rounded to the nearest whole step of ``dt`` and clipped below at ``minimum``
    steps (NEST rounds delays to the grid in the same way): ``(nnz,)`` int64."""
    d = np.asarray(delay_ms, np.float64)
    if not np.all(np.isfinite(d)):
        raise ValueError(f"delay_ms must be finite, got {int(np.sum(~np.isfinite(d)))} NaN or infinite value(s)")
    return np.maximum(np.rint(d / dt), minimum).astype(np.int64)


def normal_delays(n: int, mean_ms: float, std_ms: float, dt: float, seed: int = 0) -> np.ndarray:
    """``n`` delays (ms) drawn from a normal distribution of ``mean_ms`` and ``std_ms``, rounded
    to whole steps of ``dt`` and clipped below at one step (the cortical microcircuit's rule,
    Potjans & Diesmann 2014): ``(n,)`` float64, each a multiple of ``dt``."""
    from .. import _checks
    n = _checks.count("n", n, minimum=0)
    mean_ms, std_ms = _checks.positive_finite("mean_ms", mean_ms), _checks.finite("std_ms", std_ms)
    if std_ms < 0:
        raise ValueError(f"std_ms must be >= 0, got {std_ms!r}")
    dt = _checks.positive_finite("dt", dt)
    draws = np.random.default_rng(_checks.seed("seed", seed)).normal(mean_ms, std_ms, n)
    return to_steps(draws, dt) * dt


@jax.tree_util.register_pytree_node_class
class GroupedCSR(CSR):
    """A CSR whose synapses are also kept grouped by delay (module docstring): ``groups[g]``
    is the sub-CSR (with its column index) of the synapses whose delay is ``delays_ms[g]``,
    ascending; ``ids[g]`` their indices in this CSR (ascending). Everywhere else it is the CSR
    it was made from."""

    groups: tuple = ()
    ids: tuple = ()
    delays_ms: tuple = ()

    def with_columns(self) -> "GroupedCSR":
        if self.has_columns:
            return self
        return _grouped(CSR.with_columns(self), self.ids, self.delays_ms)

    def ungrouped(self) -> CSR:
        """The CSR it was made from."""
        leaves, aux = CSR.tree_flatten(self)
        return CSR.tree_unflatten(aux, leaves)

    def tree_flatten(self):
        leaves, aux = CSR.tree_flatten(self)
        return (leaves, self.groups, self.ids), (aux, self.delays_ms)

    @classmethod
    def tree_unflatten(cls, aux, children):
        leaves, groups, ids = children
        obj = CSR.tree_unflatten.__func__(cls, aux[0], leaves)
        obj.groups, obj.ids, obj.delays_ms = groups, ids, aux[1]
        return obj

    def __repr__(self):
        return f"{CSR.__repr__(self)[:-1]}, delay groups={len(self.groups)})"


def group_by_delay(conn: CSR, delay_ms) -> GroupedCSR:
    """``conn`` with its synapses grouped by their delays ``delay_ms`` ((nnz,) ms, in CSR
    order): one group per distinct value, in increasing order."""
    d = np.asarray(delay_ms, np.float64)
    values, which = np.unique(d, return_inverse=True)
    ids = tuple(np.flatnonzero(which == g).astype(np.int32) for g in range(values.size))
    return _grouped(conn, ids, tuple(float(v) for v in values))


def _grouped(conn: CSR, ids: tuple, delays_ms: tuple) -> GroupedCSR:
    rows, cols = np.asarray(conn.rows), np.asarray(conn.indices)
    groups = []
    for k in ids:
        k = np.asarray(k)
        counts = np.bincount(rows[k], minlength=conn.n_pre)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        groups.append(CSR(indptr, cols[k], conn.n_pre, conn.n_post, rows=rows[k],
                          max_row=int(counts.max()) if counts.size else 0, check=False).with_columns())
    columns = (conn.col_ptr, conn.col_perm, conn.max_col) if conn.has_columns else None
    out = GroupedCSR(conn.indptr, conn.indices, conn.n_pre, conn.n_post, rows=conn.rows, max_row=conn.max_row,
                     check=False, columns=columns)
    out.groups, out.delays_ms = tuple(groups), tuple(delays_ms)
    out.ids = tuple(jax.device_put(np.asarray(k, np.int32)) for k in ids)
    return out


class DelayRing(NamedTuple):
    """The state of a projection with per-synapse delays (a pytree): ``ring`` ((D * n_post,)
    input still to arrive, row ``r`` = entries ``r n_post ... (r + 1) n_post - 1`` holding what
    arrives in the steps t with t mod D = r); ``slot`` ((nnz,) int32, ``(d_k - 1) n_post + j_k``:
    where synapse k's input lands, relative to the current step's row). The ring is flat so that
    reading and clearing a row updates it in place."""

    ring: jax.Array   # (D * n_post,) input still to arrive, by arrival step mod D
    slot: jax.Array   # (nnz,) int32: (d_k - 1) * n_post + post_k

    def rows(self, n_post: int) -> jax.Array:
        """The ring as (D, n_post): row r arrives in the steps t with t mod D = r."""
        return self.ring.reshape(-1, n_post)


def ring_layout(conn, steps, name: str = "projection") -> tuple[int, np.ndarray]:
    """``(size, slot)``: the ring's length ``D n_post`` and each synapse's slot ``(d_k - 1) n_post
    + j_k`` (int32, computed in place: 4 bytes per synapse) for the projection ``name`` through
    ``conn`` whose synapses have ``steps`` ((nnz,) ints >= 1) of delay."""
    steps = np.asarray(steps)
    size = _ring_size(conn, int(steps.max()) if steps.size else 1, name, "shorter delays")
    return size, ring_slots(steps, conn.indices, conn.n_post)


def _ring_size(conn, depth: int, name: str, shorter: str) -> int:
    """``depth x n_post``, refused above 2**30 entries (``shorter``: what to use instead)."""
    size = depth * conn.n_post
    if size >= 2**30:           # (slot + shift) is computed in int32: both below 2**30, their sum fits
        raise ValueError(f"projection {name!r}: a ring of {depth} x {conn.n_post} inputs exceeds 2**30 entries; use "
                         f"{shorter}, a longer dt, or split the projection")
    return size


def ring_slots(steps, indices, n_post: int) -> np.ndarray:
    """Each synapse's slot in the ring, ``(d_k - 1) n_post + j_k`` (int32, computed in place in
    a copy: 4 bytes per synapse), from its delay ``steps`` and postsynaptic ``indices``."""
    slot = np.asarray(steps).astype(np.int32)
    slot -= 1
    slot *= np.int32(n_post)
    slot += np.asarray(indices, np.int32)
    return slot


def ring_state(conn, steps, dtype, name: str = "projection") -> DelayRing:
    """The empty ring of the projection ``name`` through ``conn`` whose synapses have ``steps``
    ((nnz,) ints >= 1) of delay."""
    depth = int(np.max(steps)) if np.size(steps) else 1
    return _empty_ring(conn, depth, lambda: ring_layout(conn, steps, name)[1], dtype,
                       f"projection {name!r}: the ring of per-synapse delays", "use shorter delays or a longer dt")


def learnable_ring(conn, depth: int, dtype, name: str = "projection") -> DelayRing:
    """The empty ring of a projection that learns its delays, up to ``depth`` steps (>= 2): its
    ``slot`` holds each synapse's target ``j_k``; the step adds the delay from the params."""
    if depth < 2:
        raise ValueError(f"projection {name!r}: a ring of learnable delays needs at least 2 steps (it interpolates "
                         f"between two), got {depth}")
    def targets():
        _ring_size(conn, depth, name, "a smaller max_delay_ms")
        return np.asarray(conn.indices, np.int32)
    return _empty_ring(conn, depth, targets, dtype,
                       f"projection {name!r}: the ring of learnable delays", "use a smaller max_delay_ms or a longer dt")


def _empty_ring(conn, depth: int, make_slot, dtype, what: str, hint: str) -> DelayRing:
    """A ring of ``depth x n_post`` zeros (refused with the figure where it would not fit in
    memory) and the slots ``make_slot()`` makes, once the ring is known to fit."""
    from .._checks import fits_in_memory
    fits_in_memory(f"{what} up to {depth} steps onto {conn.n_post} neurons ({depth} x {conn.n_post} inputs)",
                   depth * conn.n_post * np.dtype(dtype).itemsize, hint)
    slot = make_slot()
    # device_put of numpy arrays: an eager jnp.zeros or jnp.asarray compiles a program per size
    return DelayRing(jax.device_put(np.zeros((depth * conn.n_post,), dtype)), jax.device_put(slot))


def deliver(conn, weights, spikes, state: DelayRing, t, capacity: int):
    """``(drive (n_post,), state)``: this step's spikes ``spikes`` (n_pre,) through ``conn`` with
    ``weights`` (scalar or (nnz,)) put into the ring, and the input arriving in step ``t`` taken
    out of it (module docstring)."""
    n_post = conn.n_post
    start = (t % (state.ring.shape[0] // n_post)) * n_post
    ring = _add(state.ring, state.slot, conn.indptr, conn.rows, jnp.asarray(weights, state.ring.dtype), spikes, start,
                capacity, conn.max_row)
    return _take(ring, start, n_post, state.slot)


def fractional(d, low: float, high: float):
    """``(n, f)``: delays ``d`` (in steps) clipped to ``[low, high]`` and split into a whole
    part ``n = min(floor(d), high - 1)`` (no gradient) and ``f = d - n`` in [0, 1]. The clip
    has slope 1 inside, bounds included, so the derivative in ``d`` is the slope towards the
    next whole step, at a whole step too (``d = k`` moves towards ``k + 1``; ``high`` towards
    ``high - 1``); a delay outside the bounds gets none."""
    d = jnp.where(d < low, low, jnp.where(d > high, high, d))
    n = jax.lax.stop_gradient(jnp.minimum(jnp.floor(d), high - 1.0))
    return n, d - n


def deliver_fractional(conn, weights, steps, spikes, state: DelayRing, t, capacity: int):
    """:func:`deliver` for learnable delays: ``steps`` ((nnz,) fractional delays in steps,
    traced) clipped to [1, D], each synapse's weight split between the two rows around its
    delay (module docstring). A delay within 1e-5 steps of a whole step ``k`` (relative: 1e-5 ``k``
    steps for ``k > 1``) delivers at that step (its gradient unchanged), so delays given in whole
    steps of ms deliver as the ring does."""
    n_post = conn.n_post
    depth = state.ring.shape[0] // n_post
    start = (t % depth) * n_post
    # a delay within 1e-5 steps of a whole step k (1e-5 k steps beyond one step) is that step
    # (ms / dt rounds: 0.3 / 0.1 is 2.9999998 in float32), with its gradient kept
    whole = jnp.round(steps)
    steps = jnp.where(jnp.abs(steps - whole) < 1e-5 * jnp.maximum(1.0, whole),
                      steps + jax.lax.stop_gradient(whole - steps), steps)
    n, f = fractional(steps, 1.0, float(depth))
    low = (n.astype(jnp.int32) - 1) * n_post + state.slot
    w = jnp.asarray(weights, state.ring.dtype)
    ring = _add(state.ring, low, conn.indptr, conn.rows, w * (1 - f), spikes, start, capacity, conn.max_row)
    ring = _add(ring, low + n_post, conn.indptr, conn.rows, w * f, spikes, start, capacity, conn.max_row)
    return _take(ring, start, n_post, state.slot)


def _take(ring, start, n_post: int, slot):
    """The row of the step (``start``) read out of the ring and cleared: ``(drive, state)``."""
    drive = jax.lax.dynamic_slice(ring, (start,), (n_post,))
    drive, ring = jax.lax.optimization_barrier((drive, ring))     # read, then clear in place (no copy of the ring)
    ring = jax.lax.dynamic_update_slice(ring, jnp.zeros((n_post,), ring.dtype), (start,))
    return drive, DelayRing(ring, slot)


def _targets(slot, shift, size):
    return (slot + shift) % size


def _dense(flat, slot, indptr, rows, weights, spikes, shift):
    w = jnp.broadcast_to(weights, slot.shape)
    return flat.at[_targets(slot, shift, flat.shape[0])].add(spikes.astype(w.dtype)[rows] * w)


BLOCK = 16   # presynaptic neurons whose rows one scatter takes


def _add_events(flat, slot, indptr, weights, spikes, shift, max_row: int):
    """The rows of the spiking neurons, BLOCK neurons at a time (the first BLOCK still pending,
    found by ``top_k``: cheaper on a CPU than compacting every index with ``nonzero``), added into
    the ring in a loop that carries it, so that it is updated in place."""
    n_pre = spikes.shape[0]
    indptr, weights, spikes = jnp.asarray(indptr), jnp.asarray(weights), jnp.asarray(spikes)
    rank = jnp.arange(n_pre, 0, -1, dtype=jnp.float32)       # top_k takes the lowest pending index first
    size = flat.shape[0]
    offset = jnp.arange(max_row, dtype=indptr.dtype)
    per_synapse = jnp.ndim(weights) > 0

    def block(carry):
        flat, pending = carry
        key, ids = jax.lax.top_k(jnp.where(pending, rank, 0.0), min(BLOCK, n_pre))
        live = key > 0
        start = indptr[ids]
        length = jnp.where(live, indptr[ids + 1] - start, 0)
        valid = offset[None, :] < length[:, None]
        pos = jnp.where(valid, start[:, None] + offset[None, :], 0)
        target = jnp.where(valid, _targets(slot[pos], shift, size), size)        # padding is dropped
        w = weights[pos] if per_synapse else weights
        contrib = jnp.where(valid, spikes[ids].astype(flat.dtype)[:, None] * w, 0)
        flat = flat.at[target.ravel()].add(contrib.ravel(), mode="drop")
        return flat, pending.at[ids].set(False)

    flat, _ = jax.lax.while_loop(lambda c: jnp.any(c[1]), block, (flat, spikes != 0))
    return flat


@functools.lru_cache(maxsize=None)
def _kernel_add(max_row: int):
    """The same addition by the compiled CPU kernel (``neurosim_ring_add``, kernels/cpu/events.cc),
    in place: ``op(flat, slot, indptr, weights, spikes, shift)``. Under ``vmap`` the pure-JAX
    form runs batched instead (a loop of kernel calls would copy each member's ring)."""
    @jax.custom_batching.custom_vmap
    def op(flat, slot, indptr, weights, spikes, shift):
        if spikes.dtype not in (jnp.bool_, jnp.float32):
            spikes = spikes.astype(jnp.float32)
        call = jax.ffi.ffi_call(ops.RING_TARGET, jax.ShapeDtypeStruct(flat.shape, flat.dtype),
                                input_output_aliases={5: 0})
        return call(jnp.asarray(indptr, jnp.int32), slot, jnp.reshape(weights, (-1,)).astype(jnp.float32), spikes,
                    jnp.asarray(shift, jnp.int32), flat)

    @op.def_vmap
    def op_vmap(axis_size, in_batched, flat, slot, indptr, weights, spikes, shift):
        def one(f, sl, ip, w, sp, sh):
            return _add_events(f, sl, ip, w, sp, sh, max_row)
        axes = [0 if b else None for b in in_batched]
        return jax.vmap(one, in_axes=axes, axis_size=axis_size)(flat, slot, indptr, weights, spikes, shift), True

    return op


def _kernel_ready(flat, weights) -> bool:
    """Whether the compiled kernel takes this call: float32 values, on a CPU, its library loaded."""
    return (flat.dtype == jnp.float32 and jnp.result_type(weights) == jnp.float32
            and _kernels.device_platform() == "cpu" and ops.kernel_ready("cpu"))


@functools.partial(jax.custom_jvp, nondiff_argnums=(7, 8))
def _add(flat, slot, indptr, rows, weights, spikes, shift, capacity: int, max_row: int):
    if max_row == 0 or slot.shape[0] == 0 or capacity <= 0:
        return _dense(flat, slot, indptr, rows, weights, spikes, shift)
    if _kernel_ready(flat, weights):
        return _kernel_add(max_row)(flat, slot, indptr, weights, spikes, shift)
    return _add_events(flat, slot, indptr, weights, spikes, shift, max_row)


@_add.defjvp
def _add_jvp(capacity, max_row, primals, tangents):
    flat, slot, indptr, rows, weights, spikes, shift = primals
    flat_dot, _, _, _, w_dot, s_dot, _ = tangents
    out = _add(flat, slot, indptr, rows, weights, spikes, shift, capacity, max_row)
    # linear in each: the same scatter over every synapse of (s w_dot) and of (s_dot w)
    tangent = jnp.zeros_like(out) if _zero(flat_dot) else jnp.asarray(flat_dot, out.dtype)
    if not _zero(w_dot):
        tangent = _dense(tangent, slot, indptr, rows, jnp.asarray(w_dot, out.dtype), spikes, shift)
    if not _zero(s_dot):
        tangent = _dense(tangent, slot, indptr, rows, jnp.asarray(weights, out.dtype), jnp.asarray(s_dot, out.dtype),
                         shift)
    return out, tangent


def _zero(tangent) -> bool:
    return type(tangent) is jax.custom_derivatives.SymbolicZero or getattr(tangent, "dtype", None) == jax.dtypes.float0
