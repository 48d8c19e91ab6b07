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

On the host, each chunk's spikes go at once into one compact record per population (8 bytes a
spike, :class:`~neurosim.engines.chunks.SpikeBuffer`; nothing is concatenated at the end), and
before the run the memory guard (:func:`check_host_memory`) estimates what the monitors will
hold, spike monitors at a stated rate bound (``max_rate_hz``).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from functools import partial, reduce
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from .._checks import available_host_bytes, size as _size
from ..engines.base import Runner
from ..engines.chunks import Chunk, SpikeBuffer, describe_monitors as _describe, signature as _signature, spike_events
from ..events.csr import CSR
from ..events.jitconn import JitConn
from .gap import check_params as check_gap_conductances
from .model import Network, check_input_values
from .params import NetParams
from .monitors import MONITORS, OBSERVERS, SAMPLED, Observe, Rate, SpikeEvents, Spikes, Trace, Weights, check_monitors
from ..neurons.multirate import check_periods
from .step import V_LIMIT_MV, NetworkState, check_params_for_dt, check_state, init_state, step
from ..neurons import check_params


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
    n_steps = _checks.count("n_steps", n_steps, minimum=0)
    params = check_structure(net, params)
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


@dataclass(repr=False)
class SimResult:
    """Numpy results with their time axes (ms). ``spikes[pop]``: a :class:`SpikeEvents`, which
    unpacks as ``(times_ms, ids)`` and holds 8 bytes a spike; ``traces["pop.var"] = (t_ms,
    values (T, k), ids)``; ``rates[pop] = (t_ms, rate_hz)``; ``observed[key] = (t_ms, values)``
    for ``Observe``/``LFP`` monitors, values the monitor's pytree with every leaf stacked along a
    leading time axis. Every t_ms is the time of the state a value was read from: the end of its
    step (Rate, Observe, LFP) or of its window of ``every`` steps (Trace, Weights). ``duration``,
    ``t_start``, ``dt``: ms; ``timings``: seconds."""

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

    def __repr__(self) -> str:
        """One line per kind of record, every figure with its unit."""
        n_steps = int(round(self.duration / self.dt)) if self.dt else 0
        lines = [f"SimResult: {self.duration:g} ms ({n_steps:,} steps of dt = {self.dt:g} ms) from t = {self.t_start:g} ms"
                 + (f", engine {self.timings['engine']!r}" if "engine" in self.timings else "")]
        for pop, ev in self.spikes.items():
            count = ev.n_spikes if isinstance(ev, SpikeEvents) else len(ev[1])
            n = self.sizes.get(pop)
            rate = f", {count / (n * self.duration * 1e-3):.3g} Hz a neuron" if n and self.duration else ""
            held = f", {_size(ev.nbytes)} held" if isinstance(ev, SpikeEvents) else ""
            lines.append(f"  spikes[{pop!r}]: {count:,} spikes{rate}{held}")
        for key, (t, v, _) in self.traces.items():
            lines.append(f"  traces[{key!r}]: {np.shape(v)[0]:,} samples x {int(np.prod(np.shape(v)[1:])):,}"
                         + (f", t = {t[0]:g}-{t[-1]:g} ms" if len(t) else ""))
        for pop, (t, r) in self.rates.items():
            lines.append(f"  rates[{pop!r}]: {len(r):,} steps, mean {float(np.mean(r)) if len(r) else 0.0:.3g} Hz")
        for key, (t, _) in self.observed.items():
            lines.append(f"  observed[{key!r}]: {len(t):,} steps")
        if self.stream is not None:
            lines.append(f"  monitors streamed to {self.stream!r} (ns.io.read_stream)")
        times = [f"{k[:-2]} {v:.3g} s" for k, v in self.timings.items() if k.endswith("_s")]
        if times:
            lines.append("  timings: " + ", ".join(times))
        return "\n".join(lines)


MAX_RATE_HZ = 100.0   # the rate per neuron (Hz) the memory guard assumes of a Spikes monitor unless told
SPIKE_BYTES = {"host": 8, "disk": 12}   # a spike held (SpikeEvents: int32 step, int32 id); streamed (float64 t, int32 id)


def monitor_bytes(net, monitors, n_steps, dt, observed_bytes=0, max_rate_hz=MAX_RATE_HZ, where="host") -> list:
    """``[(name, bytes)]``: the most each monitor will hold by the end of a run of ``n_steps``
    (``where``: "host", in memory, or "disk", streamed). Sampled monitors (Trace, Weights) and
    Rate are exact (float32 values and a float64 time per sample); a Spikes monitor holds
    ``SPIKE_BYTES`` per spike and is counted at ``max_rate_hz`` per neuron (a bound: its real
    size depends on the rates); Observe/LFP from ``observed_bytes`` per step."""
    per, seconds = [], n_steps * dt / 1000.0
    for m in monitors:
        if isinstance(m, SAMPLED):
            what = type(m).__name__ + (f"({m.pop!r}, {m.var!r})" if isinstance(m, Trace) else f"({m.proj!r})")
            per.append((what, (4 * m.width(net) + 8) * -(-n_steps // m.every)))
        elif isinstance(m, Rate):
            per.append((f"Rate({m.pop!r})", 12 * n_steps))
    for pop in sorted({m.pop for m in monitors if isinstance(m, Spikes)}):   # one record per population
        per.append((f"Spikes({pop!r})", SPIKE_BYTES[where] * net.population(pop).n * max_rate_hz * seconds))
    observers = [m for m in monitors if isinstance(m, OBSERVERS)]
    if observers:
        per.append((", ".join(f"{type(m).__name__}({m.key!r})" for m in observers), (observed_bytes + 8) * n_steps))
    return per


def check_host_memory(net, monitors, n_steps, dt, max_host_bytes, observed_bytes=0, disk=None,
                      max_rate_hz=MAX_RATE_HZ, spill=False) -> str | None:
    """Refuse a run whose monitors would not fit in host memory (``simulate``'s
    ``max_host_bytes``, default 80 % of the memory available), or, streamed to a file in the
    directory ``disk``, on that disk: a MemoryError naming the estimate (:func:`monitor_bytes`:
    Spikes monitors at ``max_rate_hz`` per neuron), the limit, the largest monitor and the
    options. ``spill`` (``simulate(spill_to=...)``): instead of refusing, return the estimate and
    the limit in words, for the caller to stream the monitors to disk; None when they fit.
    ``observed_bytes``: per step, of the Observe/LFP monitors (:func:`_observed_bytes`)."""
    if max_host_bytes is not None:
        max_host_bytes = _checks.positive_finite("max_host_bytes", max_host_bytes)
    max_rate_hz = _checks.positive_finite("max_rate_hz", max_rate_hz)
    per = monitor_bytes(net, monitors, n_steps, dt, observed_bytes, max_rate_hz, "host" if disk is None else "disk")
    total = sum(b for _, b in per)
    if total == 0:
        return None
    big, b = max(per, key=lambda x: x[1])
    rate = b / (n_steps * dt / 1000.0)
    spikes = any(isinstance(m, Spikes) for m in monitors)
    per_spike = SPIKE_BYTES["host" if disk is None else "disk"]
    bound = (f" (Spikes monitors counted at up to max_rate_hz = {max_rate_hz:g} Hz a neuron, {per_spike} B a spike; "
             "their real size depends on the rates)") if spikes else ""
    lower = "state a lower rate bound if the rates are known to stay below it (max_rate_hz=...), " if spikes else ""
    fewer = ("record fewer neurons (ids=...), sample less often (every=...), "
             if any(isinstance(m, SAMPLED) for m in monitors) else "")
    if disk is not None:
        import shutil
        free = shutil.disk_usage(disk).free
        if total > 0.9 * free:
            raise MemoryError(f"simulate: the monitors would write up to {_size(total)} to {str(disk)!r}{bound}, which has "
                              f"{_size(free)} free; the largest, {big}, grows {_size(rate)} per simulated second. "
                              f"Options: {fewer}{lower}or stream to another disk")
        return None
    limit = max_host_bytes
    if limit is None:
        avail = available_host_bytes()
        if avail is None:
            return None
        limit = 0.8 * avail
    if total <= limit:
        return None
    if spill:
        return (f"{_size(total)} on the host{bound}, more than {_size(limit)} "
                f"({'max_host_bytes' if max_host_bytes is not None else '80 % of the memory available'})")
    raise MemoryError(
        f"simulate: the monitors would hold {_size(total)} on the host for {n_steps * dt:g} ms{bound}, more than "
        f"{_size(limit)} ({'max_host_bytes' if max_host_bytes is not None else '80 % of the memory available'}); "
        f"the largest, {big}, grows {_size(rate)} per simulated second. Options: {fewer}reduce on the device "
        f"(Observe, Rate), {lower}stream the monitors to disk "
        "(stream_to='run.h5'; or spill_to='run.h5' or True, a temporary file, to stream only when this estimate "
        "is over the limit), or run in shorter pieces that you save (state=res.state, ns.save_checkpoint); "
        "max_host_bytes=... overrides the limit")


def _spill_target(spill_to, stream_to):
    """``simulate``'s ``spill_to`` checked: None, True or an HDF5 path (a str or PathLike)."""
    if spill_to is None or spill_to is False:
        return None
    if stream_to is not None:
        raise ValueError(f"spill_to={spill_to!r} streams the monitors only when they would not fit in memory, but "
                         f"stream_to={stream_to!r} streams them always: give one of the two")
    if spill_to is not True:
        import os
        if not isinstance(spill_to, (str, os.PathLike)):
            raise ValueError(f"spill_to must be None, True (a temporary file) or the path of an HDF5 file, got {spill_to!r}")
        directory = os.path.dirname(os.path.abspath(spill_to))
        if not os.path.isdir(directory):
            raise ValueError(f"spill_to: the directory {directory!r} does not exist")
        if os.path.isdir(spill_to) or (os.path.exists(spill_to) and os.path.getsize(spill_to)):
            raise ValueError(f"spill_to: {str(spill_to)!r} exists; give a new path, or True for a temporary file")
    from ..io._optional import require
    require("h5py", "spill_to", "nwb")
    return spill_to


def _spill(spill_to, over, net, monitors, n_steps, dt, observed_bytes, max_rate_hz):
    """The sink of a run whose monitors would not fit in memory (``over`` says by how much):
    ``spill_to``'s file, or a new temporary one; the disk checked, a warning naming the file."""
    import os
    import tempfile
    import warnings

    from ..io.stream import StreamSink
    if spill_to is True:
        fd, spill_to = tempfile.mkstemp(prefix="neurosim-spill-", suffix=".h5")
        os.close(fd)
    sink = StreamSink(spill_to, net, monitors, dt)
    check_host_memory(net, monitors, n_steps, dt, None, observed_bytes, disk=sink.directory, max_rate_hz=max_rate_hz)
    warnings.warn(f"simulate: the monitors would hold up to {over}: they are streamed to {str(sink.path)!r} "
                  "(spill_to) and the result holds none of them; res.stream names the file, "
                  "ns.io.read_stream reads it", stacklevel=3)
    return sink


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
        sys.stderr.write(f"\rsimulate [{bar:<30}] {100 * frac:5.1f}%  {done_ms / 1e3:.3f}/{self.total / 1e3:.3f} s "
                         f"simulated  elapsed {elapsed:.1f} s  eta {eta:.1f} s")
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
            s, out = jax.lax.scan(inner, s, None, length=g)
            rec = {m.key: m.read(s) for m in traces}     # the state at the block's end
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
    max_rate_hz: float = MAX_RATE_HZ,
    spill_to=None,
    stream_to=None,
    stream_overwrite: bool = False,
    devices=None,
) -> SimResult:
    """Simulate ``duration`` with step ``dt`` ms. ``duration``: a number of ms, or a string with
    its unit, as the command line takes it: ``"1s"``, ``"2 s"``, ``"500ms"``, ``"100 ms"``.

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
    ``max_host_bytes``: before the run, the bytes the monitors will hold on the host are
    estimated (``Trace``, ``Weights``, ``Rate``, ``Observe`` exactly; a ``Spikes`` monitor, 8 bytes a
    spike, at ``max_rate_hz`` per neuron); above this (default: 80 % of the memory available now)
    the run is refused with a MemoryError giving the estimate, the rate bound and the ways to
    shrink it, instead of running for hours toward an out-of-memory kill.
    ``max_rate_hz`` (default ``MAX_RATE_HZ``, 100 Hz): the rate no neuron of a recorded
    population is expected to exceed, averaged over the run; the guard's bound for ``Spikes``
    monitors (it refuses nothing by itself: the run records every spike however many there are).
    ``spill_to``: None (the default: refuse), an HDF5 path or True (a new temporary file): when
    the estimate is over the limit, stream the monitors there (as ``stream_to`` does, with a
    warning naming the file) instead of refusing; when it is not, they stay in memory as usual.
    Test ``res.stream`` (None, or the file) to know which happened.
    ``stream_to``: an HDF5 path (needs h5py, part of the ``nwb`` extra): each chunk's spikes,
    traces, rates and observations (Observe, LFP) are appended there as soon as it finishes
    and dropped from memory, so an hour-long run's memory stays flat; the result then holds none of them (``res.stream`` names
    the file, :func:`neurosim.io.read_stream` reads it) and the memory guard checks the disk.
    A file that exists and is not empty is refused unless ``stream_overwrite=True``. A failed
    write (a full disk) stops the run with a :class:`~neurosim.io.StreamWriteError` naming the
    file and the last complete time, with the results up to there in its ``partial`` attribute.
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
    duration = _checks.duration_ms("duration", duration)
    n_steps = _checks.whole_steps("duration", duration, dt, minimum=1)
    max_chunk_bytes = _checks.positive_finite("max_chunk_bytes", max_chunk_bytes)
    t_build = time.perf_counter()
    if isinstance(monitors, MONITORS):
        monitors = [monitors]
    params = net.params() if params is None else check_structure(net, params)
    if state is None:
        state = init_state(net, params, key, dt)
    else:                       # a state made earlier (checked): these params are new to this dt
        check_params_for_dt(net, params, dt)
        check_state(net, state, dt, params)
    check_periods(net, n_steps, state)
    check_monitors(net, monitors, state)
    from ..engines import ENGINES
    from ..engines.base import AUTO_ORDER, REGISTRY, Refusal
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    if devices is not None and engine != "parallel":
        raise ValueError(f"devices={devices!r} is for engine='parallel' (neuron-parallel runs), but engine={engine!r}")
    chunk = None if chunk_steps is None else _checks.count("chunk_steps", chunk_steps, minimum=1)
    sink = None      # (after every argument check: a stream or spill file is made only for a run that starts)
    if stream_to is not None or stream_overwrite is not False:
        from ..io.stream import StreamSink
        sink = StreamSink(stream_to, net, monitors, dt, overwrite=stream_overwrite)
    spill_to = _spill_target(spill_to, stream_to)
    observed_bytes = _observed_bytes(net, params, state, dt, monitors)     # traces a step once, if observers
    over = check_host_memory(net, monitors, n_steps, dt, max_host_bytes, observed_bytes,
                             disk=None if sink is None else sink.directory, max_rate_hz=max_rate_hz,
                             spill=spill_to is not None)
    if over is not None:         # spill_to: the monitors go to disk instead
        sink = _spill(spill_to, over, net, monitors, n_steps, dt, observed_bytes, max_rate_hz)
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




def _keys(path) -> list:
    return [getattr(k, "name", getattr(k, "key", getattr(k, "idx", None))) for k in path]


def _is_voltage(path) -> bool:
    keys = _keys(path)
    return bool(keys) and keys[0] == "neurons" and keys[-1] == "v"


def _is_conductance(path, conductances) -> bool:
    """``path`` is the weights of a plastic projection onto conductance synapses (they must stay >= 0)."""
    keys = _keys(path)
    return len(keys) == 2 and keys[0] == "weights" and keys[1] in conductances


def conductances(net) -> tuple:
    """The plastic projections whose weights are conductances (>= 0 at every step)."""
    return tuple(pr.name for pr in net.projections if pr.plastic and pr.synapse.output == "conductance")


def _bad(path, x, conductances=()):
    """Where the leaf ``x`` at ``path`` has gone wrong: not finite, a membrane voltage beyond
    :data:`V_LIMIT_MV` (a divergence caught before it overflows), or a conductance weight below 0
    (a plasticity rule that does not keep the projection's sign)."""
    bad = ~jnp.isfinite(x)
    if _is_voltage(path):
        return bad | (jnp.abs(x) > V_LIMIT_MV)
    return bad | (x < 0) if _is_conductance(path, conductances) else bad


@partial(jax.jit, static_argnames="conductances")
def _finite_flags(state, conductances=()):
    """One bool per floating leaf of the state: none of it gone wrong (:func:`_bad`)."""
    leaves = _float_leaves(state)
    return jnp.stack([~jnp.any(_bad(p, x, conductances)) for p, x in leaves]) if leaves else jnp.ones((0,), bool)


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
        return jnp.stack([jnp.sum(_bad(p, y, conductances(net))) for p, y in _float_leaves(s)])
    _, bad = jax.jit(lambda p, s: run(net, p, s, n_steps, dt, observe=observe))(params, state)
    bad = np.asarray(bad)                                     # (n_steps, n_float_leaves)
    k = int(np.argmax(bad.sum(axis=1) > 0))
    leaf = int(np.argmax(bad[k] > 0))
    return k, leaf, int(bad[k, leaf])


def _limit_note(path) -> str:
    return f" (or left +-{V_LIMIT_MV:g} mV)" if _is_voltage(path) else ""


def _nonfinite_error(net, params, before, after, done, steps, dt, res):
    paths = [path for path, _ in _float_leaves(after)]
    signs = conductances(net)
    try:
        k, leaf, count = _locate(net, params, before, steps, dt)
        where = f"in step {done + k} (the step ending at t = {(float(before.t) + k + 1) * dt:g} ms), in {count} entries"
    except Exception:                              # noqa: BLE001 (locating is a courtesy)
        leaf = int(np.argmin(np.asarray(_finite_flags(after, signs))))
        where = (f"between steps {done} and {done + steps} (t = {float(before.t) * dt:g}-"
                 f"{(float(before.t) + steps) * dt:g} ms)")
    partial = (f"The results up to step {done} are in this error's .partial"
               f"{'' if res is not None else ' (None: nothing before this chunk)'}; check_finite=False runs on regardless")
    value = _float_leaves(after)[leaf][1]
    if _is_conductance(paths[leaf], signs) and bool(jnp.all(jnp.isfinite(value))):
        return NonFiniteError(
            f"simulate: {_describe_path(paths[leaf])} fell below 0 {where} (min {float(jnp.min(value)):.4g} at the end "
            f"of the chunk): its synapses are conductances, which must stay >= 0, and its plasticity rule let them go "
            f"negative; chain neurosim.plasticity.clip_weights(0, w_max) or dale(+1) after the rule, or use smaller "
            f"amplitudes (with mu > 0 an amplitude is per unit of (w_max - w_min)^mu). {partial}", res)
    return NonFiniteError(
        f"simulate: {_describe_path(paths[leaf])} became NaN or infinite{_limit_note(paths[leaf])} {where}. "
        f"Usual causes: weights or currents too large for the model (an overflow), a NaN in params or inputs, a time "
        f"step too large for an explicit integrator. {partial}", res)


def drive(engine, net, params, state, monitors, *, dt, duration, progress, t_build, check_finite=True,
          sink=None) -> SimResult:
    """The simulation driver every engine shares: chunks, compiled-chunk cache, progress bar,
    timings and the assembly of the monitors' results. ``engine`` only advances the state:
    ``engine.plan`` (one item per chunk), ``engine.steps(item)``, ``engine.cache_key(item,
    params, state)``, ``engine.compile(item, params, state)``, ``engine.run(fn, params, state, done)
    -> (state, raw)`` (``done``: steps run before this chunk) and ``engine.to_host(raw, item, done) -> Chunk``.
    ``sink``: where each chunk's monitor data goes instead of memory (``stream_to``)."""
    from ..engines import record
    from ..io.stream import StreamWriteError

    record(engine.name)
    signs = conductances(net)        # the projections whose weights must stay >= 0
    first_step = int(state.t)       # times are (first_step + k) dt, so a resumed run's equal the whole run's
    t_start = first_step * dt
    if progress is None:
        progress = len(engine.plan) > 1 and sys.stderr.isatty()
    bar = _Progress(duration, bool(progress))
    build_s = time.perf_counter() - t_build
    chunks, compile_s, run_s, done = [], 0.0, 0.0, 0
    # the Spikes monitors kept in memory: one compact record per population that grows chunk by
    # chunk (8 bytes a spike), so no chunk's arrays are kept and nothing is concatenated at the end
    last_step = first_step + sum(engine.steps(i) for i in engine.plan)
    spikes = {} if sink is not None else {m.pop: SpikeBuffer(last_step) for m in monitors if isinstance(m, Spikes)}

    def result(at_state, length_ms):
        """The results of the chunks collected so far, ending at ``at_state``."""
        res = SimResult(dt=dt, t_start=t_start, duration=length_ms, state=at_state,
                        timings={"build_s": build_s, "compile_s": compile_s, "run_s": run_s, "engine": engine.name})
        _collect(res, net, monitors, chunks, first_step, dt, spikes)
        if sink is not None:
            res.stream = str(sink.path)
            res.sizes.update(sink.sizes)
        return res

    def so_far(at_state):
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
            if check_finite and not bool(np.all(np.asarray(_finite_flags(state, signs)))):
                raise _nonfinite_error(net, params, good, state, done, engine.steps(item), dt, so_far(good))
            chunk = engine.to_host(raw, item, done)
            if sink is None:
                for pop, kept in spikes.items():
                    kept.append(first_step + done, *chunk.spikes[pop])
                chunks.append((done, chunk._replace(spikes={})))
            else:                    # to disk now, nothing kept: memory stays flat however long the run
                piece = SimResult(dt=dt, t_start=t_start, duration=0.0)
                _collect(piece, net, monitors, [(done, chunk)], first_step, dt)
                sink.write(piece, t_start, (first_step + done + engine.steps(item)) * dt)
            done += engine.steps(item)
            good = state
            bar.update(done * dt)
    except KeyboardInterrupt:
        raise SimulationInterrupted(
            f"simulate was interrupted after {done} of {sum(engine.steps(i) for i in engine.plan)} steps "
            f"({done * dt:g} of {duration:g} ms): this error's .partial holds the results so far, and "
            f"simulate(net, {duration - done * dt:g}, dt, state=err.partial.state, ...) runs the rest "
            f"(bitwise as the uninterrupted run)", so_far(good)) from None
    except StreamWriteError as e:    # a full disk, say: the file holds the chunks before this one
        e.partial = so_far(good)
        raise
    finally:
        if sink is not None:
            sink.close()
    return result(state, duration)


class ScanRunner(Runner):
    """One ``lax.scan`` iteration per step (every model and monitor); chunks of ``n_blocks``
    blocks of ``g`` steps, ``g`` the gcd of the sampled monitors' ``every``, the sampled monitors
    read at the blocks' ends (kept where a window of ``every`` steps ends, or the run)."""

    name = "scan"

    def __init__(self, net, monitors, dt, n_steps, chunk_steps, max_chunk_bytes, observed_bytes=0):
        self.net, self.monitors, self.dt, self.n_steps = net, monitors, dt, n_steps
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
                ends = (np.arange(n_blocks) + 1) * g          # steps into the chunk at each block's end
                keep = ((ends + done) % m.every == 0) | (ends + done == self.n_steps)
                sampled[m.key] = (ends[keep], np.asarray(traces[m.key])[keep])
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
        if not _checks.traced(params.neurons[p.name]):     # values too (finite, signs), where they are known
            check_params(params.neurons[p.name], p.n, f"params.neurons[{p.name!r}]")
    for pr in net.projections:
        where = f"params.projections[{pr.name!r}]"
        syn = params.projections[pr.name].synapse
        if isinstance(syn, pr.synapse.Params) and not _checks.traced(syn):
            check_params(syn, 1, f"{where}.synapse")
        if isinstance(pr.conn, CSR):         # each mechanism's params, as the projection checked its own
            for m in pr.chain:
                value = params.projections[pr.name].dynamics[m.key]
                if not _checks.traced(value):
                    m.check_params(value, pr.conn.nnz, f"{where}.dynamics[{m.key!r}]")
    for i in net.inputs:
        check_input_values(params.inputs[i.name], lambda f, name=i.name: f"params.inputs[{name!r}].{f}")
    check_gap_conductances(net, params)
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
        d = params.projections[pr.name].delays
        if d is not None:       # learnable delays (ms): clipped to [dt, max_delay_ms] in the step, so any finite value runs
            if np.shape(d) != (nnz,):
                raise ValueError(f"params.projections[{pr.name!r}].delays must have shape ({nnz},) (one delay per "
                                 f"synapse, ms), got {np.shape(d)}")
            if not _checks.traced(d) and not np.all(np.isfinite(np.asarray(d))):
                k = int(np.argmax(~np.isfinite(np.asarray(d))))
                raise ValueError(f"params.projections[{pr.name!r}].delays must be finite; delays[{k}] = "
                                 f"{float(np.asarray(d)[k])!r}")
        plastic = [m for m in pr.chain if m.plastic]
        if plastic and not _checks.traced(w):          # a plastic projection's initial weights, within its rule's bounds
            clipped = plastic[0].initial_weights(w, f"params.projections[{pr.name!r}].weights")
            if clipped is not w:              # Plasticity(rule, clip_initial=True): clipped, as at build time
                params = params.with_weights({pr.name: clipped})
    return params


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


def _collect(res, net, monitors, chunks, t0, dt, spikes=None):
    """The monitors' results from every chunk (``(first step, Chunk)`` pairs), with their
    time axes (ms, from the global step index: the run started at step ``t0``). ``spikes``:
    population -> the :class:`SpikeBuffer` that has the chunks' spikes (else they are read from
    the chunks)."""
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
            record = (spikes or {}).get(m.pop)
            if record is None:
                record = SpikeBuffer(t0 + max(done + c.steps for done, c in chunks))
                for done, c in chunks:
                    record.append(t0 + done, *c.spikes[m.pop])
            res.spikes[m.pop] = record.events(dt)
            res.sizes[m.pop] = net.population(m.pop).n
        elif isinstance(m, Rate):
            rate = np.concatenate([c.rates[m.pop] for _, c in chunks])
            res.rates[m.pop] = (np.concatenate([(t0 + done + np.arange(c.rates[m.pop].size)) * dt
                                                for done, c in chunks]), rate)
