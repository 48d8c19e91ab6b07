"""Stage 5, the loop: ``run`` (pure, for jit/vmap/grad) and ``simulate`` (the user's driver:
chunks, monitors, progress, numpy results).

``run(net, params, state, n_steps, dt)`` is ``lax.scan`` over :func:`step`; it returns the final
state and every population's spikes as a (n_steps, n) float array, so it can be vmapped over
parameter sets and differentiated through (surrogate gradients).

``simulate`` runs long simulations in chunks of ``chunk_steps`` so device memory stays bounded,
keeps monitors on the device within a chunk, and returns a :class:`SimResult`. One driver
(:func:`drive`) does the chunking, caching, progress, timing and result assembly for every
engine; an engine's runner (:class:`ScanRunner` here, ``fused.FusedEngine``,
``neurosim.engines.native``'s, ``parallel.ParallelEngine``; the contract is
:mod:`neurosim.engines.base`) only advances the state
and brings a chunk's records to the host.

Observations are one mechanism with two doors: ``run(..., observe=fn)`` and the monitors
``Observe(name, fn)`` / ``LFP(pop)`` of ``simulate`` evaluate a function of the state after each
step (and of that step's spikes) inside the scan and stack its outputs, so a reduction (an LFP
proxy, a population sum) is all that is kept.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from functools import reduce
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..engines.base import Runner
from ..engines.chunks import Chunk, describe_monitors as _describe, signature as _signature, spike_events
from ..events.jitconn import JitConn
from .model import Network, check_input_values
from .params import NetParams
from .monitors import MONITORS, OBSERVERS, SAMPLED, Observe, Rate, Spikes, Trace, Weights, check_monitors
from ..neurons.multirate import check_periods
from .step import NetworkState, check_params_for_dt, check_state, init_state, step
from ..neurons import check_params
from ..synapses import SynapseParams


def run(net: Network, params: dict, state: NetworkState, n_steps: int, dt: float, conns: dict | None = None,
        observe=None):
    """Pure simulation of ``n_steps``: returns ``(final_state, spikes)`` with spikes a dict of
    (n_steps, n) arrays. jit, vmap and grad compose with it. Under ``jax.jit`` of a large
    network, pass ``conns=net.connectivity()`` as an argument of the jitted function so the
    connectivity is not compiled in as constants.

    ``observe(state, spikes) -> pytree``, when given, is evaluated inside the scan after every
    step, on the state *after* step k (time ``(k + 1) dt`` from the start) and the spikes of
    step k; ``run`` then returns ``(final_state, observed)``, each leaf of the pytree stacked
    along a new leading axis of length ``n_steps``, and the (n_steps, n) spike arrays are not
    kept (return them from ``observe`` if you want them). Reduce inside ``observe`` (a
    population sum, an LFP proxy: :func:`neurosim.analysis.lfp_proxy`) so long or vmapped runs
    keep O(n_steps) memory instead of O(n_steps x n). Parameters ``observe`` needs are closed
    over: it is called inside the caller's trace, so they stay differentiable and vmappable.
    """
    conns = net.connectivity() if conns is None else conns
    check_state(net, state, dt)
    check_periods(net, n_steps, state)
    check_params_for_dt(net, params, dt)
    if observe is not None and not callable(observe):
        raise ValueError(f"observe must be None or a function (state, spikes) -> pytree, got {observe!r}")

    def body(s, _):
        s, spikes = step(net, params, s, dt, conns)
        return s, (spikes if observe is None else observe(s, spikes))

    return jax.lax.scan(body, state, None, length=n_steps)


@dataclass
class SimResult:
    """Numpy results with their time axes (ms). ``spikes[pop] = (times_ms, ids)``;
    ``traces["pop.var"] = (t_ms, values (T, k), ids)``; ``rates[pop] = (t_ms, rate_hz)``;
    ``observed[key] = (t_ms, values)`` for ``Observe``/``LFP`` monitors, values the monitor's
    pytree with every leaf stacked along a leading time axis, t_ms the time of the state each
    value was computed from (the end of its step)."""

    dt: float
    t_start: float
    duration: float
    spikes: dict = field(default_factory=dict)
    traces: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)
    observed: dict = field(default_factory=dict)
    state: NetworkState | None = None
    timings: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    stream: str | None = None   # the HDF5 file the monitors went to (simulate(stream_to=...)); read with ns.io.read_stream

    @property
    def t_stop(self) -> float:
        return self.t_start + self.duration


def available_host_bytes() -> int | None:
    """The memory available to new allocations now (``MemAvailable`` of /proc/meminfo), or None
    where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _size(n_bytes: float) -> str:
    for unit, k in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= k:
            return f"{n_bytes / k:.3g} {unit}"
    return f"{n_bytes:.0f} B"


def check_host_memory(net, monitors, n_steps, dt, max_host_bytes, observed_bytes=0, disk=None) -> None:
    """Refuse a run whose sampled monitors would not fit in host memory (``simulate``'s
    ``max_host_bytes``), or, streamed to a file in the directory ``disk``, on that disk; naming
    the biggest monitor, the figure and the fixes. ``observed_bytes``: per step, of the
    Observe/LFP monitors (:func:`_observed_bytes`)."""
    if max_host_bytes is not None:
        max_host_bytes = _checks.positive_finite("max_host_bytes", max_host_bytes)
    per = []
    for m in monitors:
        if isinstance(m, SAMPLED):   # float32 values + a float64 time per sample
            per.append((m, (4 * m.width(net) + 8) * n_steps / m.every))
        elif isinstance(m, Rate):
            per.append((m, 12 * n_steps))
    observers = [m for m in monitors if isinstance(m, OBSERVERS)]
    if observers:
        per.append((observers[0], (observed_bytes + 8) * n_steps))
    total = sum(b for _, b in per)
    if total == 0:
        return
    limit = max_host_bytes
    if disk is not None:
        import shutil
        free = shutil.disk_usage(disk).free
        if total > 0.9 * free:
            raise MemoryError(f"simulate: the monitors would write {_size(total)} to {str(disk)!r}, which has "
                              f"{_size(free)} free; record fewer neurons (ids=...) or sample less often (every=...)")
        return
    if limit is None:
        avail = available_host_bytes()
        if avail is None:
            return
        limit = 0.8 * avail
    if total <= limit:
        return
    big, b = max(per, key=lambda x: x[1])
    what = type(big).__name__ + (f"({big.pop!r}, {big.var!r})" if isinstance(big, Trace) else "")
    rate = b / (n_steps * dt / 1000.0)
    raise MemoryError(
        f"simulate: the monitors would hold {_size(total)} on the host for {n_steps * dt:g} ms, more than "
        f"{_size(limit)} ({'max_host_bytes' if max_host_bytes is not None else '80 % of the memory available'}); "
        f"the largest, {what}, grows {_size(rate)} per simulated second. Record fewer neurons (ids=...), sample "
        "less often (every=...), reduce on the device (Observe, Rate), or run in shorter pieces that you save "
        "(state=res.state, ns.save_checkpoint); max_host_bytes=... overrides the limit")


def _bytes_per_step(net, monitors, g, observed_bytes=0):
    b = observed_bytes
    for m in monitors:
        if isinstance(m, OBSERVERS):
            continue
        if isinstance(m, SAMPLED):
            b += 4 * m.width(net) / g
        elif isinstance(m, Spikes):
            b += (net.population(m.pop).n + 7) // 8
        else:  # Rate
            b += 4
    return max(b, 1)


class _Progress:
    def __init__(self, total_ms, enabled):
        self.total, self.enabled, self.t0 = total_ms, enabled, time.perf_counter()

    def update(self, done_ms):
        if not self.enabled:
            return
        frac = done_ms / self.total
        bar = "#" * int(30 * frac)
        elapsed = time.perf_counter() - self.t0
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        sys.stderr.write(f"\rsimulate [{bar:<30}] {100 * frac:5.1f}%  {done_ms / 1e3:.3f}/{self.total / 1e3:.3f} s  "
                         f"elapsed {elapsed:.1f} s  eta {eta:.1f} s")
        if frac >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _make_chunk(net, monitors, dt, n_blocks, g):
    """A jitted function advancing ``n_blocks * g`` steps and returning the monitors' outputs."""
    traces = [m for m in monitors if isinstance(m, SAMPLED)]
    spikes_pops = sorted({m.pop for m in monitors if isinstance(m, Spikes)})
    rate_pops = sorted({m.pop for m in monitors if isinstance(m, Rate)})
    observers = [m for m in monitors if isinstance(m, OBSERVERS)]
    n_of = {p.name: p.n for p in net.populations}

    def chunk(params, s, conns):
        # params and conns are arguments of the jitted function, so the scans close over
        # tracers, not constants: large connectivity is not compiled into the program.
        def inner(s, _):
            s, spk = step(net, params, s, dt, conns)
            out = {
                "spikes": {p: jnp.packbits(spk[p] > 0, bitorder="little") for p in spikes_pops},
                "rates": {p: jnp.sum(spk[p]) / (n_of[p] * dt * 1e-3) for p in rate_pops},
                "observed": {m.key: m.evaluate(net, params, s, spk) for m in observers},
            }
            return s, out

        def outer(s, _):
            rec = {}
            for m in traces:
                rec[m.key] = m.read(s)
            s, out = jax.lax.scan(inner, s, None, length=g)
            return s, (rec, out)

        s, (rec, out) = jax.lax.scan(outer, s, None, length=n_blocks)
        return s, rec, out

    return jax.jit(chunk)


def _refuse_tracers(**args) -> None:
    """``simulate`` drives compiled chunks from Python and copies results to the host: it cannot
    run inside ``jax.grad``/``vmap``/``jit``. Say so, and what to use, before JAX fails deep inside."""
    for name, value in args.items():
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value)):
            raise TypeError(
                f"simulate was called with a traced {name} (inside jax.grad, jax.vmap or jax.jit): it runs "
                "chunk by chunk from Python, with monitors and progress on the host, and cannot be transformed. "
                "Use ns.run(net, params, state, n_steps, dt) instead, the pure function that jit, vmap and grad "
                "compose with, or neurosim.train (layers, fit) for gradient training")


def simulate(
    net: Network,
    duration: float,
    dt: float = 0.1,
    *,
    params: dict | None = None,
    key=0,
    state: NetworkState | None = None,
    monitors=(),
    chunk_steps: int | None = None,
    max_chunk_bytes: float = 256e6,
    progress: bool | None = None,
    engine: str = "auto",
    check_finite: bool = True,
    max_host_bytes: float | None = None,
    stream_to=None,
    devices=None,
) -> SimResult:
    """Simulate ``duration`` ms with step ``dt`` ms.

    ``params`` defaults to ``net.params()``; ``state`` (to continue a run) defaults to a fresh
    state drawn from ``key``. ``duration`` must be a whole number of steps. Compiled chunks are
    cached on the network, so calling again with the same shapes does not recompile.
    ``progress``: None shows a progress bar when the run has several chunks and stderr is a
    terminal. ``monitors``: ``Spikes``, ``Trace``, ``Weights``, ``Rate``, ``Observe`` and ``LFP`` objects
    (:mod:`neurosim.network.monitors`); observations land in ``SimResult.observed``.
    ``engine``: "scan" (one ``lax.scan`` iteration per step: every model and monitor),
    "fused" (many steps per call of one compiled kernel: LIF networks with exponential or delta
    synapses, pair-STDP projections, constant and Poisson inputs, ``Spikes``/``Rate`` monitors; see
    :mod:`neurosim.network.fused`; a ValueError says why when it cannot) or "auto" (fused
    where it can, else scan) or "parallel" (neuron-parallel over ``devices``: every population cut
    into equal blocks, one per device, spikes exchanged once per shortest delay; bitwise the
    scan engine's spikes; see :mod:`neurosim.network.parallel`; ``devices``: None (all local
    devices), a count or a list). ``SimResult.timings["engine"]`` names the one used.
    ``max_host_bytes``: before the run, the bytes the sampled monitors (``Trace``, ``Weights``,
    ``Rate``, ``Observe``) will hold on the host are estimated; above this (default: 80 % of the
    memory available now) the run is refused with the figure and the ways to shrink it, instead
    of running for hours toward an out-of-memory kill. Spike monitors are not counted (their
    size depends on the rates).
    ``stream_to``: an HDF5 path (needs h5py, part of the ``nwb`` extra): each chunk's spikes,
    traces, rates and observations (Observe, LFP) are appended there as soon as it finishes
    and dropped from memory, so an hour-long run's memory stays flat; the result then holds none of them (``res.stream`` names
    the file, :func:`neurosim.io.read_stream` reads it) and the memory guard checks the disk.
    ``check_finite`` (default on): after every chunk the state is checked for NaN or infinite
    values, and membrane voltages for leaving +-10 V (``V_LIMIT_MV``: a divergence, caught before
    it overflows) (one reduction on the device per chunk); the first one found stops the run with a
    :class:`NonFiniteError` naming the population (or projection), the variable, the step and the
    time, with the results up to the last good chunk in its ``partial`` attribute.
    """
    if not isinstance(check_finite, bool):
        raise ValueError(f"check_finite must be True or False, got {check_finite!r}")
    _refuse_tracers(params=params, state=state, duration=duration, dt=dt, key=key)
    dt = _checks.positive_finite("dt", dt)
    duration = _checks.positive_finite("duration", duration)
    n_steps = _checks.whole_steps("duration", duration, dt, minimum=1)
    max_chunk_bytes = _checks.positive_finite("max_chunk_bytes", max_chunk_bytes)
    t_build = time.perf_counter()
    if isinstance(monitors, MONITORS):
        monitors = [monitors]
    params = net.params() if params is None else check_structure(net, params)
    if state is None:
        state = init_state(net, params, key, dt)
    else:                       # a state made earlier: these params are new to this dt
        check_params_for_dt(net, params, dt)
    check_state(net, state, dt)
    check_periods(net, n_steps, state)
    check_monitors(net, monitors, state)
    sink = None
    if stream_to is not None:
        from ..io.stream import StreamSink
        sink = StreamSink(stream_to, net, monitors, dt)
    observed_bytes = _observed_bytes(net, params, state, dt, monitors)     # traces a step once, if observers
    check_host_memory(net, monitors, n_steps, dt, max_host_bytes, observed_bytes,
                      disk=None if sink is None else sink.directory)
    from ..engines import ENGINES
    from ..engines.base import AUTO_ORDER, REGISTRY, Refusal
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    if devices is not None and engine != "parallel":
        raise ValueError(f"devices={devices!r} is for engine='parallel' (neuron-parallel runs), but engine={engine!r}")
    chunk = None if chunk_steps is None else _checks.count("chunk_steps", chunk_steps, minimum=1)
    options = dict(devices=devices, observed_bytes=observed_bytes)
    for name in (AUTO_ORDER if engine == "auto" else (engine,)):    # the first engine with a plan runs it
        plan = REGISTRY[name].prepare(net, params, dt, monitors, state, **options)
        if isinstance(plan, Refusal):
            if engine == "auto":
                continue
            others = "'auto'" + "".join(f", {e!r}" for e in AUTO_ORDER if e != name)
            raise ValueError(f"engine={name!r} cannot run this simulation: {plan.reason}; use engine={others} "
                             "(ns.engines.describe(net) says which engine runs what)")
        runner = REGISTRY[name].runner(plan, net, dt, monitors, n_steps, chunk, max_chunk_bytes, **options)
        return drive(runner, net, params, state, monitors, dt=dt, duration=duration, progress=progress,
                     t_build=t_build, check_finite=check_finite, sink=sink)
    raise AssertionError("the scan engine runs every simulation")


# --------------------------------------------------------------------------- one driver, two engines
class SimulationInterrupted(KeyboardInterrupt):
    """Ctrl-C (KeyboardInterrupt) during ``simulate``: ``partial`` is the :class:`SimResult` of
    the chunks that finished (None before the first); its ``state`` continues the run."""

    def __init__(self, message, partial):
        super().__init__(message)
        self.partial = partial


class NonFiniteError(FloatingPointError):
    """A simulation produced NaN or infinite state. ``partial``: the :class:`SimResult` of the
    chunks before the one where it happened (its ``state`` is still finite), or None when it
    happened in the first chunk."""

    def __init__(self, message, partial):
        super().__init__(message)
        self.partial = partial


def _float_leaves(state) -> list:
    """``(path, array)`` of every floating-point leaf of a state, in the state's order."""
    return [(path, x) for path, x in jax.tree_util.tree_flatten_with_path(state)[0]
            if jnp.issubdtype(x.dtype, jnp.floating)]


V_LIMIT_MV = 1e4   # |v| beyond 10 V: no membrane is there; the run has diverged (it would reach inf later)


def _is_voltage(path) -> bool:
    keys = [getattr(k, "name", getattr(k, "key", getattr(k, "idx", None))) for k in path]
    return bool(keys) and keys[0] == "neurons" and keys[-1] == "v"


def _bad(path, x):
    """Where the leaf ``x`` at ``path`` has gone wrong: not finite, or a membrane voltage beyond
    :data:`V_LIMIT_MV` (a divergence caught before it overflows)."""
    bad = ~jnp.isfinite(x)
    return bad | (jnp.abs(x) > V_LIMIT_MV) if _is_voltage(path) else bad


@jax.jit
def _finite_flags(state):
    """One bool per floating leaf of the state: none of it gone wrong (:func:`_bad`)."""
    leaves = _float_leaves(state)
    return jnp.stack([~jnp.any(_bad(p, x)) for p, x in leaves]) if leaves else jnp.ones((0,), bool)


def _describe_path(path) -> str:
    """``.neurons['E'].v`` -> "population 'E', variable v"."""
    keys = [getattr(k, "name", getattr(k, "key", getattr(k, "idx", None))) for k in path]
    group, rest = (keys[0], keys[1:]) if keys else ("state", [])
    owner = {"neurons": "population", "synapses": "projection", "delays": "projection", "inputs": "input",
             "dynamics": "projection", "weights": "projection", "modulators": "modulator"}.get(group, group)
    if not rest:
        return f"{owner} state"
    variable = ".".join(str(k) for k in rest[1:]) or ("weights" if group == "weights" else "value")
    return f"{owner} {rest[0]!r}, variable {variable}"


def _locate(net, params, state, n_steps, dt):
    """Re-run a chunk step by step from its (finite) start: ``(step, leaf, count)``, the first
    step at which some float leaf of the state is not finite, which one (the first in the
    state's order at that step) and in how many entries."""
    def observe(s, _):
        return jnp.stack([jnp.sum(_bad(p, y)) for p, y in _float_leaves(s)])
    _, bad = jax.jit(lambda p, s: run(net, p, s, n_steps, dt, observe=observe))(params, state)
    bad = np.asarray(bad)                                     # (n_steps, n_float_leaves)
    k = int(np.argmax(bad.sum(axis=1) > 0))
    leaf = int(np.argmax(bad[k] > 0))
    return k, leaf, int(bad[k, leaf])


def _limit_note(path) -> str:
    return f" (or left +-{V_LIMIT_MV:g} mV)" if _is_voltage(path) else ""


def _nonfinite_error(net, params, before, after, done, steps, dt, res):
    paths = [path for path, _ in _float_leaves(after)]
    try:
        k, leaf, count = _locate(net, params, before, steps, dt)
        where = f"in step {done + k} (the step ending at t = {(float(before.t) + k + 1) * dt:g} ms), in {count} entries"
    except Exception:                              # noqa: BLE001 (locating is a courtesy)
        leaf = int(np.argmin(np.asarray(_finite_flags(after))))
        where = (f"between steps {done} and {done + steps} (t = {float(before.t) * dt:g}-"
                 f"{(float(before.t) + steps) * dt:g} ms)")
    return NonFiniteError(
        f"simulate: {_describe_path(paths[leaf])} became NaN or infinite{_limit_note(paths[leaf])} {where}. "
        f"Usual causes: weights or "
        f"currents too large for the model (an overflow), a NaN in params or inputs, a time step too large for an "
        f"explicit integrator. The results up to step {done} are in this error's .partial"
        f"{'' if res is not None else ' (None: nothing before this chunk)'}; check_finite=False runs on regardless",
        res)


def drive(engine, net, params, state, monitors, *, dt, duration, progress, t_build, check_finite=True,
          sink=None) -> SimResult:
    """The simulation driver every engine shares: chunks, compiled-chunk cache, progress bar,
    timings and the assembly of the monitors' results. ``engine`` only advances the state:
    ``engine.plan`` (one item per chunk), ``engine.steps(item)``, ``engine.cache_key(item,
    params, state)``, ``engine.compile(item, params, state)``, ``engine.run(fn, params, state, done)
    -> (state, raw)`` (``done``: steps run before this chunk) and ``engine.to_host(raw, item, done) -> Chunk``.
    ``sink``: where each chunk's monitor data goes instead of memory (``stream_to``)."""
    from ..engines import record

    record(engine.name)
    first_step = int(state.t)       # times are (first_step + k) dt, so a resumed run's equal the whole run's
    t_start = first_step * dt
    if progress is None:
        progress = len(engine.plan) > 1 and sys.stderr.isatty()
    bar = _Progress(duration, bool(progress))
    build_s = time.perf_counter() - t_build
    chunks, compile_s, run_s, done = [], 0.0, 0.0, 0

    def result(at_state, length_ms):
        """The results of the chunks collected so far, ending at ``at_state``."""
        res = SimResult(dt=dt, t_start=t_start, duration=length_ms, state=at_state,
                        timings={"build_s": build_s, "compile_s": compile_s, "run_s": run_s, "engine": engine.name})
        _collect(res, net, monitors, chunks, first_step, dt)
        if sink is not None:
            res.stream = str(sink.path)
            res.sizes.update(sink.sizes)
        return res

    def partial(at_state):
        """What an interrupted run hands back: the finished chunks (None before the first)."""
        return result(at_state, done * dt) if done else None

    good = state                     # the state after the last chunk whose results are collected
    try:
        for item in engine.plan:
            cache_key = engine.cache_key(item, params, state)
            fn = net._cache.get(cache_key)
            if fn is None:
                t0 = time.perf_counter()
                fn = engine.compile(item, params, state)
                compile_s += time.perf_counter() - t0
                net._cache[cache_key] = fn
            t0 = time.perf_counter()
            state, raw = engine.run(fn, params, good, done)
            raw = jax.device_get(raw)
            jax.block_until_ready(state)   # run_s is the run's, also when no monitor brings data back
            run_s += time.perf_counter() - t0
            if check_finite and not bool(np.all(np.asarray(_finite_flags(state)))):
                raise _nonfinite_error(net, params, good, state, done, engine.steps(item), dt, partial(good))
            chunk = engine.to_host(raw, item, done)
            if sink is None:
                chunks.append((done, chunk))
            else:                    # to disk now, nothing kept: memory stays flat however long the run
                piece = SimResult(dt=dt, t_start=t_start, duration=0.0)
                _collect(piece, net, monitors, [(done, chunk)], first_step, dt)
                sink.write(piece, t_start, (done + engine.steps(item)) * dt)
            done += engine.steps(item)
            good = state
            bar.update(done * dt)
    except KeyboardInterrupt:
        raise SimulationInterrupted(
            f"simulate was interrupted after {done} of {sum(engine.steps(i) for i in engine.plan)} steps "
            f"({done * dt:g} of {duration:g} ms): this error's .partial holds the results so far, and "
            f"simulate(net, {duration - done * dt:g}, dt, state=err.partial.state, ...) runs the rest "
            f"(bitwise as the uninterrupted run)", partial(good)) from None
    return result(state, duration)


class ScanRunner(Runner):
    """One ``lax.scan`` iteration per step (every model and monitor); chunks of ``n_blocks``
    blocks of ``g`` steps, ``g`` the gcd of the sampled monitors' ``every``."""

    name = "scan"

    def __init__(self, net, monitors, dt, n_steps, chunk_steps, max_chunk_bytes, observed_bytes=0):
        self.net, self.monitors, self.dt = net, monitors, dt
        self.conns = net.connectivity()
        everys = [m.every for m in monitors if isinstance(m, SAMPLED)]
        g = reduce(math.gcd, everys) if everys else 1
        if chunk_steps is None:
            chunk_steps = int(max_chunk_bytes // _bytes_per_step(net, monitors, g, observed_bytes))
            chunk_steps = max(g, min(chunk_steps, 20_000))
        else:
            chunk_steps = _checks.count("chunk_steps", chunk_steps, minimum=1)
        chunk_blocks = max(1, min(chunk_steps // g, n_steps // g))
        n_full, rest = divmod(n_steps, chunk_blocks * g)
        plan = [(chunk_blocks, g)] * n_full
        tail_blocks, tail_steps = divmod(rest, g)
        if tail_blocks:
            plan.append((tail_blocks, g))
        if tail_steps:
            plan.append((tail_steps, 1))
        self.plan = plan

    @staticmethod
    def steps(item) -> int:
        return item[0] * item[1]

    def cache_key(self, item, params, state):
        return (_signature(params, state), _describe(self.monitors), self.dt) + tuple(item)

    def compile(self, item, params, state):
        n_blocks, g = item
        return _make_chunk(self.net, self.monitors, self.dt, n_blocks, g).lower(params, state, self.conns).compile()

    def run(self, fn, params, state, done):
        state, traces, out = fn(params, state, self.conns)
        return state, (traces, out)

    def to_host(self, raw, item, done) -> Chunk:
        traces, out = raw
        n_blocks, g = item
        steps = n_blocks * g
        spikes = {}
        for pop, packed in out["spikes"].items():     # 1 bit per neuron and step; only set bytes expand
            spikes[pop] = spike_events(np.asarray(packed).reshape(steps, -1))
        rates = {pop: np.asarray(r).reshape(-1) for pop, r in out["rates"].items()}
        sampled = {}
        for m in self.monitors:
            if isinstance(m, SAMPLED) and m.key in traces:
                idx = np.arange(n_blocks) * g
                keep = (idx + done) % m.every == 0
                sampled[m.key] = (idx[keep], np.asarray(traces[m.key])[keep])
        observed = {key: jax.tree.map(lambda x: np.asarray(x).reshape((steps,) + np.shape(x)[2:]), value)
                    for key, value in out["observed"].items()}
        return Chunk(steps, spikes, rates, sampled, observed)


def check_structure(net: Network, params: dict) -> dict:
    """``params`` must have the structure of ``net.params()`` (leaves may differ in value)."""
    if not isinstance(params, NetParams):
        raise TypeError(f"params must be a NetParams (start from net.params() and change its leaves), got "
                        f"{type(params).__name__}")
    reference = net.params()
    for group in NetParams._fields:
        have, want = sorted(getattr(params, group)), sorted(getattr(reference, group))
        if have != want:
            raise ValueError(f"params.{group} must name {want} (as net.params() does), got {have}")
    expected, got = jax.tree.structure(reference), jax.tree.structure(params)
    if got != expected:
        raise ValueError(f"params must have the structure of net.params(); got {got}, expected {expected}")
    # Leaf shapes too: a wrong one would otherwise fail deep inside the traced step.
    for p in net.populations:
        for f, v in zip(p.params._fields, params.neurons[p.name]):
            _checks.per_neuron(f"params.neurons[{p.name!r}].{f}", v, p.n)
        if _concrete(params.neurons[p.name]):     # values too (finite, signs), where they are known
            check_params(params.neurons[p.name], p.n, f"params.neurons[{p.name!r}]")
    for pr in net.projections:
        syn = params.projections[pr.name].synapse
        if isinstance(syn, SynapseParams) and _concrete(syn):
            check_params(syn, 1, f"params.projections[{pr.name!r}].synapse")
    for i in net.inputs:
        check_input_values(params.inputs[i.name], lambda f, name=i.name: f"params.inputs[{name!r}].{f}")
    for pr in net.projections:
        if isinstance(pr.conn, JitConn):  # [wa, wb] (or a scalar for a homogeneous JitConn)
            what = f"params.projections[{pr.name!r}].weights"
            pr.conn.check_weight_shape(np.shape(params.projections[pr.name].weights), what)
            continue
        w = params.projections[pr.name].weights
        shape, nnz = np.shape(w), pr.conn.nnz
        if shape not in ((), (nnz,)):
            raise ValueError(f"params.projections[{pr.name!r}].weights must be a scalar or have shape ({nnz},), got {shape}")
        if pr.synapse.output == "conductance" and not isinstance(w, jax.core.Tracer) and np.any(np.asarray(w) < 0):
            raise ValueError(f"params.projections[{pr.name!r}].weights of a conductance synapse must be >= 0, got min "
                             f"{float(np.min(np.asarray(w)))!r}; inhibition comes from syn_params.e_rev below rest")
    return params


def _concrete(tree) -> bool:
    """No leaf of ``tree`` is traced (values can be checked on the host)."""
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


def _observed_bytes(net, params, state, dt, monitors) -> int:
    """Bytes per step of the Observe/LFP monitors' outputs (shapes traced, nothing run)."""
    observers = [m for m in monitors if isinstance(m, OBSERVERS)]
    if not observers:
        return 0

    def one_step(params, state):
        s, spk = step(net, params, state, dt)
        return [m.evaluate(net, params, s, spk) for m in observers]

    shapes = jax.eval_shape(one_step, params, state)
    return sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(shapes))


def _collect(res, net, monitors, chunks, t0, dt):
    """The monitors' results from every chunk (``(first step, Chunk)`` pairs), with their
    time axes (ms, from the global step index: the run started at step ``t0``)."""
    if not chunks:       # a streamed run: the data is in the file
        return
    for m in monitors:
        if isinstance(m, OBSERVERS):
            values = [c.observed[m.key] for _, c in chunks]
            steps = np.concatenate([done + np.arange(c.steps) for done, c in chunks])
            res.observed[m.key] = ((t0 + steps + 1) * dt, jax.tree.map(lambda *xs: np.concatenate(xs), *values))
        elif isinstance(m, SAMPLED):
            ts = [(t0 + done + c.sampled[m.key][0]) * dt for done, c in chunks if m.key in c.sampled]
            vs = [c.sampled[m.key][1] for _, c in chunks if m.key in c.sampled]
            res.traces[m.key] = (np.concatenate(ts), np.concatenate(vs), m.labels(net))
        elif isinstance(m, Spikes):
            res.spikes[m.pop] = (np.concatenate([(t0 + done + c.spikes[m.pop][0]) * dt for done, c in chunks]),
                                 np.concatenate([c.spikes[m.pop][1] for _, c in chunks]).astype(np.int64))
            res.sizes[m.pop] = net.population(m.pop).n
        elif isinstance(m, Rate):
            rate = np.concatenate([c.rates[m.pop] for _, c in chunks])
            res.rates[m.pop] = (np.concatenate([(t0 + done + np.arange(c.rates[m.pop].size)) * dt
                                                for done, c in chunks]), rate)
