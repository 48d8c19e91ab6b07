"""Running a sweep: instances in ``vmap`` batches sized to the device memory, each batch
sharded over the local devices (a ``batch`` mesh axis), batches shared out between the
processes of a ``jax.distributed`` run, results saved after every batch so that an interrupted
sweep resumes where it stopped.

With ``engine="vmap"`` one batch is one compiled program: ``vmap`` over the instances of a
function that sets the swept params leaves, draws the initial state from the instance's seed,
runs ``warmup_ms``, then the measured ``duration`` as a scan of scans (bins of ``bin_ms`` made of bins of
``psd_bin_ms``) whose carry holds the running sums of :mod:`.measures`. Every batch has the
same shape (the last is padded with copies of its last instance, whose rows are dropped), so
the program compiles once. With ``engine="loop"`` (the default on one CPU device) a batch's
instances run one after another through ``ns.simulate`` and the same running sums are taken
from their spikes; a batch is then the unit saved for resuming.
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from .._files import bad_file, read_npz, write_atomically
from ..network.checkpoint import fingerprint as network_fingerprint
from ..network.model import Network, float_dtype
from ..network.step import init_state, step
from . import measures as M
from .design import make_design, set_leaf
from .results import SweepResult

FORMAT = "neurosim-sweep/1"


def _whole(name, value_ms, unit_ms, unit_name):
    k = value_ms / unit_ms
    if not (np.isfinite(k) and abs(k - round(k)) < 1e-9 * max(1.0, abs(k)) and round(k) >= 1):
        raise ValueError(f"{name} = {value_ms!r} ms must be a whole number (>= 1) of {unit_name} = {unit_ms!r} ms")
    return int(round(k))


def _populations(net, populations):
    if populations is None:
        return tuple(p.name for p in net.populations if not getattr(p.model, "is_source", False)) or \
            tuple(p.name for p in net.populations)
    if isinstance(populations, str):
        populations = (populations,)
    for name in populations:
        net.population(name)
    return tuple(populations)


def _instance_fn(net, paths, pops, dt, warm, outer, k_fine, m_steps, reduce):
    plastic = [pr.name for pr in net.projections if pr.plastic]

    def one(values, seed, conns, base):
        params = base
        for p in paths:
            params = set_leaf(params, p, values[p])
        state = init_state(net, params, jax.random.key(seed), dt)
        dtype = float_dtype()

        def advance(s, _):
            s, _ = step(net, params, s, dt, conns)
            return s, None

        if warm:
            state, _ = jax.lax.scan(advance, state, None, length=warm)
        accs = {p: M.init(net.population(p).n, dtype) for p in pops}

        def one_step(carry, _):
            s, a, t = carry
            s, spikes = step(net, params, s, dt, conns)
            a = {p: M.on_step(a[p], spikes[p].astype(dtype), t, dt) for p in pops}
            return (s, a, t + 1), None

        def fine_bin(carry, _):
            before = {p: jnp.sum(carry[1][p].count) for p in pops}
            carry, _ = jax.lax.scan(one_step, carry, None, length=m_steps)
            return carry, {p: jnp.sum(carry[1][p].count) - before[p] for p in pops}

        def coarse_bin(carry, _):
            carry, fine = jax.lax.scan(fine_bin, carry, None, length=k_fine)
            s, a, t = carry
            binned = {p: M.on_bin(a[p]) for p in pops}           # (accumulator, population count)
            return (s, {p: b[0] for p, b in binned.items()}, t), (fine, {p: b[1] for p, b in binned.items()})

        (state, accs, _), (fine, coarse) = jax.lax.scan(coarse_bin, (state, accs, jnp.zeros((), jnp.int32)), None,
                                                        length=outer)
        sums = {p: {k: getattr(accs[p], k) for k in M.SUMS} for p in pops}
        series = {p: (fine[p].reshape(-1), coarse[p]) for p in pops}
        extra = {f"{name}.weights_mean": jnp.mean(state.weights[name]) for name in plastic}
        if reduce is not None:
            user = reduce(state)
            if not isinstance(user, dict):
                raise ValueError(f"reduce must return a dict of name -> scalar, got {type(user).__name__}")
            extra.update({k: jnp.asarray(v) for k, v in user.items()})
        return sums, series, extra

    return one


class _Networks:
    """The network of each instance: the one given, or ``build(seed)`` for each seed (a
    connectivity draw of its own), checked to have the template's structure."""

    def __init__(self, build, net):
        self.build, self.net, self.cache = build, net, {}

    def template(self, seeds):
        """The first instance's network (seeds: a count, starting at 0, or a list)."""
        return self.get(0 if isinstance(seeds, (int, np.integer)) else int(np.asarray(seeds).reshape(-1)[0]))

    def get(self, seed: int) -> Network:
        if self.build is None:
            return self.net
        if seed not in self.cache:
            net = self.build(seed)
            if not isinstance(net, Network):
                raise ValueError(f"the network builder returned {type(net).__name__} for seed {seed}, not an ns.Network")
            if self.cache:
                first = next(iter(self.cache.values()))
                same = [(p.name, p.n) for p in first.populations] == [(p.name, p.n) for p in net.populations] and \
                    jax.tree.structure(first.params()) == jax.tree.structure(net.params())
                if not same:
                    raise ValueError(f"the network builder made a differently structured network for seed {seed} "
                                     "(populations, sizes or params); a sweep varies values, not structure")
            self.cache[seed] = net
        return self.cache[seed]

    def stacked(self, seeds):
        """The connectivities and params of ``seeds``' networks stacked along a batch axis (a
        vmap over draws needs the same number of synapses in each: fixed in-degree, say)."""
        from ..events.csr import CSR

        nets = [self.get(s) for s in seeds]
        for pr in nets[0].projections:
            if pr.delay_ms is not None and np.ndim(pr.delay_ms) > 0:
                raise ValueError(f"engine='vmap' with a network drawn per seed cannot batch projection {pr.name!r}'s "
                                 "per-synapse delays (each draw has its own ring of delays and targets); use "
                                 "engine='loop'")
        conns = [n.connectivity() for n in nets]
        for name in conns[0]:
            nnz = {c[name].nnz for c in conns if isinstance(c[name], CSR)}
            if len(nnz) > 1:
                raise ValueError(f"engine='vmap' with a connectivity draw per seed needs the same number of synapses in "
                                 f"every draw; projection {name!r} has {sorted(nnz)} (use a fixed in-degree, or "
                                 "engine='loop')")
        same_aux = []
        for c in conns:
            fixed = {}
            for name, conn in c.items():
                if isinstance(conn, CSR):      # one static max_row / max_col for the batch
                    max_row = max(cc[name].max_row for cc in conns)
                    cols = None if not conn.has_columns else (conn.col_ptr, conn.col_perm,
                                                               max(cc[name].max_col for cc in conns))
                    conn = CSR(conn.indptr, conn.indices, conn.n_pre, conn.n_post, rows=conn.rows, max_row=max_row,
                               check=False, columns=cols)
                fixed[name] = conn
            same_aux.append(fixed)
        stack = lambda *xs: jnp.stack([jnp.asarray(x) for x in xs])  # noqa: E731
        return jax.tree.map(stack, *same_aux), jax.tree.map(stack, *[n.params() for n in nets])


def _per_instance_bytes(net, dt, pops) -> int:
    state = jax.eval_shape(lambda: init_state(net, net.params(), 0, dt))
    b = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(state) if hasattr(x, "dtype")
            and not jnp.issubdtype(x.dtype, jax.dtypes.prng_key))
    b += sum(10 * 4 * net.population(p).n for p in pops)
    return 4 * b                 # the scan's working copies of the carry


def _budget_bytes(devices) -> int:
    stats = None
    try:
        stats = devices[0].memory_stats()
    except Exception:   # noqa: BLE001 - backends without memory stats (CPU)
        pass
    if stats and stats.get("bytes_limit"):
        return int(0.4 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
    return 1 << 30                # 1 GiB per device where the backend does not say


def sweep(net: Network, axes: dict, duration: float, dt: float = 0.1, *, design: str = "grid", seeds=1,
          measures=M.MEASURES, populations=None, warmup_ms: float = 0.0, bin_ms: float = 50.0,
          psd_bin_ms: float = 1.0, reduce=None, batch_size: int | None = None, devices=None, resume=None,
          engine: str = "auto", progress: bool | None = None) -> SweepResult:
    """Run ``net`` once per instance of ``axes`` x ``seeds`` and return one row of measures per
    instance (a :class:`~neurosim.sweeps.results.SweepResult`: ``.table()``, ``.heatmap()``).

    Args:
        net: an ``ns.Network`` (its connectivity shared by every instance), or a function
            ``seed -> ns.Network`` (a connectivity draw per seed; with ``engine="vmap"`` every
            draw must have the same number of synapses).
        axes: params path -> values (:mod:`neurosim.sweeps.design`); ``design``: ``"grid"`` or ``"zip"``.
        duration, dt: the measured time and the step, ms (``warmup_ms`` runs first, unmeasured).
        seeds: a count (seeds 0..k-1) or a list of seeds: each combination runs with each.
        measures: a subset of ``("rate", "cv", "fano", "synchrony", "psd_peak")`` (:mod:`.measures`);
            ``bin_ms`` (Fano, synchrony) and ``psd_bin_ms`` (the population-count series of the
            spectrum) must divide ``duration`` and be whole numbers of steps.
        populations: the populations measured (default: every one that is not a spike source).
        reduce: ``reduce(final_state) -> {name: scalar}``, evaluated on the device per instance.
        batch_size: instances per compiled batch (default: what fits in 40 % of the free device
            memory, at least one per device).
        devices: the local devices to shard each batch over (default all; a number takes the
            first ones).
        resume: an ``.npz`` path: results are saved there after every batch, and a sweep with
            the same design and network restarts after the last saved batch.
        engine: ``"vmap"`` (each batch one vmapped program, sharded over the devices),
            ``"loop"`` (the instances of a batch one after another through ``ns.simulate``,
            which picks its fastest engine; the measures from the spikes on the host) or
            ``"auto"``: ``"loop"`` on a single CPU device, where a batch has nothing to run in
            parallel and the compiled CPU engine is several times faster per instance, else
            ``"vmap"``. The rows agree (rates, Fano, synchrony and spectra exactly, CV to
            float32 rounding).
        progress: a line per batch on stderr (default: when stderr is a terminal).
    """
    build = None
    if callable(net) and not isinstance(net, Network):
        build = net                   # one connectivity draw per seed: net(seed) -> Network
    elif not isinstance(net, Network):
        raise ValueError(f"net must be an ns.Network or a function seed -> Network (a connectivity draw per seed), "
                         f"got {type(net).__name__}")
    dt = _checks.positive_finite("dt", dt)
    duration = _checks.positive_finite("duration", duration)
    measures = M.check_measures(measures)
    m_steps = _whole("psd_bin_ms", psd_bin_ms, dt, "dt")
    k_fine = _whole("bin_ms", bin_ms, psd_bin_ms, "psd_bin_ms")
    outer = _whole("duration", duration, bin_ms, "bin_ms")
    if not (isinstance(warmup_ms, (int, float)) and warmup_ms >= 0):
        raise ValueError(f"warmup_ms must be a number >= 0, got {warmup_ms!r}")
    warm = 0 if warmup_ms == 0 else _whole("warmup_ms", warmup_ms, dt, "dt")
    nets = _Networks(build, net)
    if build is not None:
        net = nets.template(seeds)
    pops = _populations(net, populations)
    base = net.params()
    des = make_design(base, axes, design, seeds)
    local = jax.local_devices()
    if devices is None:
        devices = local
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ValueError(f"devices = {devices} asks for more devices than the {len(local)} present "
                             f"({local[0].platform}); for several CPU devices set "
                             "XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts")
        devices = local[:int(devices)]
    else:
        devices = list(devices)
    nd = len(devices)
    if engine not in ("auto", "vmap", "loop"):
        raise ValueError(f"engine must be 'auto', 'vmap' or 'loop', got {engine!r}")
    if engine == "auto":
        engine = "loop" if nd == 1 and devices[0].platform == "cpu" else "vmap"
    if batch_size is None and engine == "loop":
        batch_size = min(des.n, 16)
    if batch_size is None:
        fit = max(1, _budget_bytes(devices) // max(_per_instance_bytes(net, dt, pops), 1))
        batch_size = int(min(des.n, fit * nd))
    else:
        batch_size = _checks.integer_at_least("batch_size", batch_size)
    if batch_size % nd:
        rounded = -(-batch_size // nd) * nd
        warnings.warn(f"sweep: batch_size {batch_size} is not a multiple of the {nd} devices; using {rounded} "
                      "(padded with copies whose rows are dropped)", stacklevel=2)
        batch_size = rounded
    n_batches = -(-des.n // batch_size)

    key_design = json.dumps({"format": FORMAT, "design": des.fingerprint(), "net": network_fingerprint(net),
                             "connectivity": "per seed" if build is not None else "shared",
                             "duration": duration, "dt": dt, "warmup_ms": warmup_ms, "bin_ms": bin_ms,
                             "psd_bin_ms": psd_bin_ms, "populations": list(pops), "batch_size": batch_size},
                            sort_keys=True)
    done_rows = _load_resume(resume, key_design)
    if n_batches * batch_size != des.n and (nd > 1 or n_batches > 1):
        warnings.warn(f"sweep: {des.n} instances in batches of {batch_size}: the last batch is padded with "
                      f"{n_batches * batch_size - des.n} copies of its last instance (their rows are dropped)",
                      stacklevel=2)
    proc, nproc = jax.process_index(), jax.process_count()
    if n_batches < nproc:
        raise ValueError(f"sweep: {n_batches} batch(es) for {nproc} processes; every process needs at least one: "
                         f"use batch_size <= {max(1, des.n // nproc)}")
    mine = [b for b in range(n_batches) if b % nproc == proc]
    per_seed = build is not None
    if engine == "vmap":
        one = _instance_fn(net, des.paths, pops, dt, warm, outer, k_fine, m_steps, reduce)
        batched = jax.jit(jax.vmap(one, in_axes=(0, 0, 0 if per_seed else None, 0 if per_seed else None)))
        if nd > 1:
            mesh = jax.sharding.Mesh(np.asarray(devices), ("batch",))
            put = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
            replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        else:
            put = replicated = devices[0]
        conns, shared_base = jax.device_put((net.connectivity(), base), replicated)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    t0 = time.perf_counter()
    for done_count, b in enumerate(mine):
        if b in done_rows:
            continue
        idx = np.arange(b * batch_size, (b + 1) * batch_size)
        idx = np.minimum(idx, des.n - 1)                     # the padding repeats the last instance
        if engine == "loop":
            done_rows[b] = _rows(*_loop_batch(nets, des, idx, pops, dt, warmup_ms, duration, bin_ms, psd_bin_ms,
                                              reduce), measures, pops, psd_bin_ms, duration)
            _save_resume(resume, key_design, done_rows)
            _report(show, t0, done_count, len(mine), batch_size, des.n)
            continue
        values = {p: jnp.asarray(des.values[p][idx], jnp.float32 if not jax.config.jax_enable_x64 else jnp.float64)
                  for p in des.paths}
        seeds_b = jnp.asarray(des.seeds[idx], jnp.uint32)
        values, seeds_b = jax.device_put((values, seeds_b), put)
        if per_seed:                  # each instance's own draw, stacked along the batch
            conns, shared_base = jax.device_put(nets.stacked([int(x) for x in des.seeds[idx]]), put)
        out, series, extra = jax.device_get(batched(values, seeds_b, conns, shared_base))
        done_rows[b] = _rows(out, series, extra, measures, pops, psd_bin_ms, duration)
        _save_resume(resume, key_design, done_rows)
        _report(show, t0, done_count, len(mine), batch_size, des.n)
    if nproc > 1:
        done_rows = _gather(done_rows, n_batches, batch_size)
    columns = {}
    for b in range(n_batches):
        for name, vals in done_rows[b].items():
            columns.setdefault(name, []).append(vals)
    columns = {name: np.concatenate(v)[:des.n] for name, v in columns.items()}
    series = {p: columns.pop(f"{p}.series") for p in pops}
    return SweepResult(design=des, columns=columns, series=series, populations=pops, dt=dt, duration=duration,
                       psd_bin_ms=psd_bin_ms, batch_size=batch_size, n_devices=nd, info={"engine": engine})


def _report(show, t0, done_count, n_mine, batch_size, n):
    if show:
        el = time.perf_counter() - t0
        k = done_count + 1
        print(f"sweep: batch {k}/{n_mine} ({min(k * batch_size, n)}/{n} instances), {el:.1f} s, "
              f"ETA {el / k * (n_mine - k):.1f} s", file=sys.stderr, flush=True)


def _loop_batch(nets, des, idx, pops, dt, warmup_ms, duration, bin_ms, psd_bin_ms, reduce):
    """The instances ``idx`` one after another through ``ns.simulate``; the running sums of
    :mod:`.measures` computed from their spikes (the same numbers the vmapped scan keeps)."""
    from ..network.monitors import Spikes
    from ..network.simulate import simulate

    plastic = [pr.name for pr in nets.get(int(des.seeds[idx[0]])).projections if pr.plastic]
    n_fine, n_coarse = int(round(duration / psd_bin_ms)), int(round(duration / bin_ms))
    sums = {p: {k: [] for k in M.SUMS} for p in pops}
    series = {p: ([], []) for p in pops}
    extra = {}
    for j in idx:
        net = nets.get(int(des.seeds[j]))
        params = net.params()
        for path in des.paths:
            params = set_leaf(params, path, jnp.asarray(des.values[path][j]))
        seed = int(des.seeds[j])
        state = None
        if warmup_ms:
            state = simulate(net, warmup_ms, dt, params=params, key=seed, progress=False).state
        r = simulate(net, duration, dt, params=params, key=seed, state=state, monitors=[Spikes(p) for p in pops],
                     progress=False)
        start = int(r.state.t) - int(round(duration / dt))
        for p in pops:
            n = net.population(p).n
            events = r.spikes[p]
            k = events.steps.astype(np.int64) - start              # the step (0-based, measured part) of each spike
            one = _spike_sums(k, np.asarray(events.ids), n, dt, int(round(bin_ms / dt)), int(round(psd_bin_ms / dt)),
                              n_coarse, n_fine)
            for name in M.SUMS:
                sums[p][name].append(one[name])
            series[p][0].append(one["fine"])
            series[p][1].append(one["coarse"])
        for name in plastic:
            extra.setdefault(f"{name}.weights_mean", []).append(float(jnp.mean(r.state.weights[name])))
        if reduce is not None:
            user = reduce(r.state)
            if not isinstance(user, dict):
                raise ValueError(f"reduce must return a dict of name -> scalar, got {type(user).__name__}")
            for name, v in user.items():
                extra.setdefault(name, []).append(np.asarray(v))
    sums = {p: {k: np.stack(v) for k, v in d.items()} for p, d in sums.items()}
    series = {p: (np.stack(a), np.stack(b)) for p, (a, b) in series.items()}
    return sums, series, {k: np.asarray(v) for k, v in extra.items()}


def _spike_sums(k, i, n, dt, bin_steps, psd_steps, n_coarse, n_fine) -> dict:
    """The running sums of one population from its spikes (``k`` steps, ``i`` ids), in float32
    where the scan keeps float32 (counts are whole numbers, exact either way)."""
    count = np.bincount(i, minlength=n).astype(np.float32)
    order = np.lexsort((k, i))
    ks, ids = k[order], i[order]
    same = ids[1:] == ids[:-1]
    isi = (np.diff(ks)[same]).astype(np.float32) * np.float32(dt)
    owner = ids[1:][same]
    isi_n = np.bincount(owner, minlength=n).astype(np.float32)
    isi_sum = np.zeros(n, np.float32)
    isi_sq = np.zeros(n, np.float32)
    np.add.at(isi_sum, owner, isi)                 # unbuffered, in time order per neuron: as the scan adds them
    np.add.at(isi_sq, owner, isi * isi)
    per_bin = np.zeros((n_coarse, n), np.float32)
    np.add.at(per_bin, (k // bin_steps, i), 1.0)
    fine = np.bincount(k // psd_steps, minlength=n_fine).astype(np.float32)
    return {"count": count, "isi_n": isi_n, "isi_sum": isi_sum, "isi_sq": isi_sq,
            "bin_sum": per_bin.sum(0), "bin_sq": (per_bin * per_bin).sum(0), "fine": fine, "coarse": per_bin.sum(1)}


def _rows(sums, series, extra, measures, pops, psd_bin_ms, duration) -> dict:
    """The columns of one batch: its measures per population (reduced on the host), the fine
    population-count series, and the extra (plastic, user) measures."""
    cols = {}
    for p in pops:
        fine, coarse = (np.asarray(x) for x in series[p])
        per = [M.finish({k: v[j] for k, v in sums[p].items()}, coarse[j], duration) for j in range(fine.shape[0])]
        for m in measures:
            if m == "psd_peak":
                cols[f"{p}.psd_peak"] = np.asarray([M.psd_peak_hz(np.asarray(s, float), psd_bin_ms) for s in fine])
            else:
                cols[f"{p}.{m}"] = np.asarray([row[m] for row in per], float)
        cols[f"{p}.series"] = fine.astype(np.float32)
    for k, v in extra.items():
        cols[k] = np.asarray(v, float)
    return cols


def _load_resume(resume, key_design) -> dict:
    if resume is None:
        return {}
    path = Path(resume)
    if not path.exists():
        if not path.parent.is_dir():
            raise ValueError(f"resume: the directory {str(path.parent)!r} does not exist")
        return {}
    def bad(why):
        return bad_file("sweep(resume=...)", path, "a sweep's resume file", why)

    stored = read_npz(path, "sweep(resume=...)", "a sweep's resume file")
    if "__design__" not in stored:
        raise bad(f"no __design__ entry; it holds {sorted(stored)[:5]}")
    try:
        saved = json.loads(str(stored.pop("__design__")))
    except json.JSONDecodeError as e:
        raise bad(f"its design is not JSON: {e}") from None
    design = json.loads(key_design)
    if not isinstance(saved, dict):
        raise bad(f"its design is {type(saved).__name__} JSON, not an object")
    if saved != design:
        changed = sorted(k for k in set(saved) | set(design) if saved.get(k) != design.get(k))
        raise ValueError(f"resume: {str(path)!r} holds a sweep with a different design ({', '.join(changed)} "
                         "differ); use another path, or delete it to start over")
    rows = {}
    for name, value in stored.items():
        b, _, col = name[1:].partition(":")
        if not (name.startswith("b") and b.isdigit() and col):
            raise bad(f"an entry {name!r} that is no batch's column (b<batch>:<column>)")
        if value.shape[:1] != (design["batch_size"],):
            raise bad(f"its {name} has {value.shape[:1]} rows, a batch has {design['batch_size']}")
        rows.setdefault(int(b), {})[col] = value
    if len({tuple(sorted(cols)) for cols in rows.values()}) > 1:
        raise bad("its batches hold different columns")
    return rows


def _save_resume(resume, key_design, rows) -> None:
    if resume is None:
        return
    path = Path(resume)
    arrays = {"__design__": np.array(key_design)}
    for b, cols in rows.items():
        for col, v in cols.items():
            arrays[f"b{b}:{col}"] = v
    write_atomically(path, lambda f: np.savez(f, **arrays), "sweep(resume=...)")


def _gather(rows, n_batches, batch_size) -> dict:
    """Every process's batches on every process (``multihost_utils.process_allgather``); each
    process owns batches ``b`` with ``b % process_count == process_index``."""
    from jax.experimental import multihost_utils

    template = rows[min(rows)]
    out = {}
    for b in range(n_batches):
        owner = b % jax.process_count()
        for name, like in template.items():
            buf = np.ascontiguousarray(rows[b][name] if b in rows else np.zeros_like(like))
            # as raw 32-bit words: JAX would round float64 to float32 on the way (x64 off)
            words = np.asarray(multihost_utils.process_allgather(buf.view(np.uint32)))[owner]
            out.setdefault(b, {})[name] = np.ascontiguousarray(words).view(buf.dtype).reshape(buf.shape)
    return out
