"""Timings of the CUDA event operators (kernels/cuda/events.cu, kernels/cuda/jitconn.cu).

    python benchmarks/gpu_ops_probe.py [--out probe.json] [--quick] [--platform cuda|cpu]
    python benchmarks/gpu_ops_probe.py --build      # compile the two CUDA libraries, in parallel

For each op, at the COBA size (4000 x 4000, p = 0.02, 8 rows active) and at >= 1e8 synapses
(1e6 x 1e6, p = 1e-4, 10 % of rows active), for B = 1 and B = 8: the time per call, events/s
(spike x synapse pairs delivered, summed over the batch), the index + weight bytes of the rows
read (each row once, however many batch elements spike in it) per second, and that as a
fraction of the H100's 3.35 TB/s. For the B = 1 scatter, every kernel variant of
``neurosim_csr_event_probe_cuda`` (see ``EventVariant`` in events.cu) is timed too, variants
7-10 (wrong results) splitting the cost: stores instead of atomics, the reads alone, and RED
adds to consecutive instead of random addresses; and two plain-XLA baselines: a read of a large
array (``jnp.sum``, the attainable read bandwidth) and a scatter-add of the same active
synapses (``.at[].add``, gathered beforehand).

Timing: a jitted function makes n back-to-back calls (``has_side_effect=True``, so XLA neither
merges nor drops them); per call = (T(n + 1) - T(1)) / n, each T the median of 5 runs after a
warm-up, with ``jax.block_until_ready``: compilation and the fixed dispatch cost are excluded.
The 1e8-synapse CSR is built on the device with jax.random (row lengths Poisson(100), columns
uniform, sorted by (row, col); a row may hold a rare duplicate column, which changes no cost).

``--platform cpu`` runs small sizes against the CPU kernels (a smoke test of this script).
Prints one JSON object per line and writes them all to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from neurosim import _kernels

PEAK_BYTES_PER_S = 3.35e12   # H100 SXM HBM3

RESULTS: list = []


def emit(out_path, **rec):
    RESULTS.append(rec)
    print(json.dumps(rec), flush=True)
    if out_path:
        Path(out_path).write_text(json.dumps(RESULTS, indent=1))


def register(platform):
    suffix, ffi_platform = ("cuda", "CUDA") if platform == "cuda" else ("cpu", "cpu")
    names = {"events": ["neurosim_csr_event", "neurosim_csr_transposed"],
             "jitconn": ["neurosim_jit_event", "neurosim_jit_transposed"]}
    if platform == "cuda":
        names["events"].append("neurosim_csr_event_probe")
    for lib_name, targets in names.items():
        lib = _kernels.load(lib_name, suffix)
        if lib is None or not _kernels.register(lib, {f"bench_{t}": f"{t}_{suffix}" for t in targets}, ffi_platform):
            raise SystemExit(f"lib{lib_name}_{suffix}.so is not available: build it with python -m neurosim._build")


def call(target, shape, *args, **attrs):
    return jax.ffi.ffi_call(f"bench_{target}", jax.ShapeDtypeStruct(shape, jnp.float32),
                            has_side_effect=True)(*args, **attrs)


def _median_time(f, args, reps=5):
    jax.block_until_ready(f(*args))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def per_call(op, args, budget_s=0.03, n_max=100):
    """Seconds per call of ``op(*args)`` (an array result), dispatch and compilation excluded."""
    def chain(n):
        def f(*a):
            outs = [op(*a) for _ in range(n)]
            return outs[-1].reshape(-1)[:1]
        return jax.jit(f)

    t1 = _median_time(chain(1), args)
    n = int(np.clip(budget_s / max(t1, 1e-5), 8, n_max))
    tn = _median_time(chain(n + 1), args)
    return max(tn - t1, 0.0) / n, n


# --------------------------------------------------------------------------- inputs


def coba_csr(n=4000, p=0.02, seed=1):
    from neurosim.events.connect import fixed_probability
    csr = fixed_probability(n, n, p, seed)
    return jnp.asarray(csr.indptr), jnp.asarray(csr.indices), n, n


def big_csr(n_pre, n_post, mean_row, seed=2):
    """A CSR built on the device: Poisson(mean_row) row lengths, uniform columns, sorted."""
    k1, k2 = jax.random.split(jax.random.key(seed))
    counts = jax.random.poisson(k1, mean_row, (n_pre,)).astype(jnp.int32)
    indptr = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(counts, dtype=jnp.int32)])
    nnz = int(indptr[-1])
    rows = jnp.repeat(jnp.arange(n_pre, dtype=jnp.int32), counts, total_repeat_length=nnz)
    cols = jax.random.randint(k2, (nnz,), 0, n_post, jnp.int32)
    _, cols = jax.lax.sort((rows, cols), num_keys=2)
    return jax.block_until_ready(indptr), jax.block_until_ready(cols), n_pre, n_post


def spikes_with(n_pre, batch, *, frac=None, count=None, seed=3):
    key = jax.random.key(seed)
    if count is not None:
        s = np.zeros((batch, n_pre), bool)
        rng = np.random.default_rng(seed)
        for b in range(batch):
            s[b, rng.choice(n_pre, count, replace=False)] = True
        return jnp.asarray(s)
    return jax.random.bernoulli(key, frac, (batch, n_pre))


# --------------------------------------------------------------------------- measurements


def run_size(label, indptr, indices, n_pre, n_post, *, p, spikes_for, platform, out, probe_variants):
    nnz = int(indices.shape[0])
    lengths = np.diff(np.asarray(indptr)).astype(np.int64)
    w_syn = jax.random.normal(jax.random.key(5), (1, nnz), jnp.float32)
    w_hom = jnp.full((1, 1), 0.5, jnp.float32)
    wa, wb = jnp.array([0.2], jnp.float32), jnp.array([0.5], jnp.float32)
    jit_attrs = dict(seed=np.uint64(123), p=np.float64(p), dist=np.int32(1), allow_self=np.int32(1))
    base = dict(size=label, n_pre=n_pre, n_post=n_post, nnz=nnz, platform=platform)
    for batch in (1, 8):
        spikes = spikes_for(batch)
        s_np = np.asarray(spikes)
        act = s_np.any(0)
        events = int((s_np * lengths[None, :]).sum())                 # (spike, synapse) pairs
        rows_syn = int(lengths[act].sum())                            # synapses of rows read
        common = dict(base, B=batch, active_rows=int(s_np.sum()), rows_read=int(act.sum()), events=events)

        def rec(op, t, n, bytes_read=None, **extra):
            r = dict(common, op=op, us_per_call=t * 1e6, calls_timed=n,
                     events_per_s=events / t if t > 0 else None, **extra)
            if bytes_read is not None:
                r.update(bytes_read=bytes_read, bytes_per_s=bytes_read / t if t > 0 else None,
                         fraction_of_peak=bytes_read / t / PEAK_BYTES_PER_S if t > 0 else None)
            emit(out, **r)

        shape = (batch, n_post)
        t, n = per_call(lambda ip, ix, w, s: call("neurosim_csr_event", shape, ip, ix, w, s),
                        (indptr, indices, w_syn, spikes))
        rec("csr_event per-synapse w", t, n, rows_syn * 8)
        t, n = per_call(lambda ip, ix, w, s: call("neurosim_csr_event", shape, ip, ix, w, s),
                        (indptr, indices, w_hom, spikes))
        rec("csr_event homogeneous w", t, n, rows_syn * 4)
        t, n = per_call(lambda ip, ix, w, s: call("neurosim_csr_event", shape, ip, ix, w, s),
                        (indptr, indices, w_syn, jnp.zeros_like(spikes)))
        emit(out, **dict(common, op="csr_event, no spike (floor: zeroing + scan)", us_per_call=t * 1e6, calls_timed=n))
        if batch == 1 and probe_variants:
            for v, name in probe_variants.items():
                t, n = per_call(lambda ip, ix, w, s, v=v: call("neurosim_csr_event_probe", shape, ip, ix, w, s,
                                                               variant=np.int32(v)),
                                (indptr, indices, w_syn, spikes))
                rec(f"csr_event variant {v} {name}", t, n, rows_syn * 8)
        x = jax.random.normal(jax.random.key(6), (batch, n_post), jnp.float32)
        t, n = per_call(lambda ip, ix, w, x: call("neurosim_csr_transposed", (batch, n_pre), ip, ix, w, x),
                        (indptr, indices, w_syn, x))
        r = dict(common, op="csr_transposed per-synapse w (all rows)", us_per_call=t * 1e6, calls_timed=n,
                 synapses_per_s=batch * nnz / t, bytes_read=nnz * 8, bytes_per_s=nnz * 8 / t,
                 fraction_of_peak=nnz * 8 / t / PEAK_BYTES_PER_S)
        r.pop("events")
        emit(out, **r)
        t, n = per_call(lambda s, a, b: call("neurosim_jit_event", shape, s, a, b, **jit_attrs), (spikes, wa, wb),
                        n_max=50)
        emit(out, **dict(common, op="jit_event uniform w (p as the CSR)", us_per_call=t * 1e6, calls_timed=n,
                         events_per_s_expected=(s_np.sum() * n_post * p) / t))
        t, n = per_call(lambda x, a, b: call("neurosim_jit_transposed", (batch, n_pre), x, a, b, **jit_attrs),
                        (x, wa, wb), n_max=50)
        emit(out, **dict(base, B=batch, op="jit_transposed uniform w (all rows)", us_per_call=t * 1e6,
                         calls_timed=n, synapses_per_s_expected=batch * n_pre * n_post * p / t))
        if batch == 1 and label.startswith("1e8"):
            baselines(indptr, indices, w_syn, s_np[0], n_post, lengths, common, out)


def baselines(indptr, indices, w_syn, s, n_post, lengths, common, out):
    """Plain XLA on the same data: read bandwidth and a scatter-add of the active synapses."""
    big = jnp.ones((max(indices.shape[0] * 2, 500_000_000),), jnp.float32)   # >= 2 GB: dispatch is negligible
    t = _median_time(jax.jit(jnp.sum), (big,))
    emit(out, **dict(common, op="xla jnp.sum of a >= 2 GB array (read bandwidth)", us_per_call=t * 1e6,
                     bytes_read=int(big.size * 4), bytes_per_s=big.size * 4 / t,
                     fraction_of_peak=big.size * 4 / t / PEAK_BYTES_PER_S))
    ip = np.asarray(indptr)
    act = np.flatnonzero(s)
    sel = np.concatenate([np.arange(ip[i], ip[i + 1]) for i in act])
    idx, w = indices[jnp.asarray(sel)], w_syn[0][jnp.asarray(sel)]
    f = jax.jit(lambda idx, w: jnp.zeros((n_post,), jnp.float32).at[idx].add(w))
    t = _median_time(f, (idx, w))
    emit(out, **dict(common, op="xla scatter-add of the active synapses (pre-gathered)", us_per_call=t * 1e6,
                     events_per_s=sel.size / t))


def build_cuda(names=("events", "jitconn")):
    """Compile kernels/cuda/<name>.cu in parallel with neurosim._build's flags (nvcc --threads
    over the GPU targets); the result is what ``python -m neurosim._build`` makes, sooner."""
    import subprocess

    from neurosim import _build
    inc = _build.ffi_include_dir()
    _build.LIB.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name in names:
        src = _build.KERNELS / "cuda" / f"{name}.cu"
        cmd = [_build._compiler("cuda"), *_build.NVCCFLAGS, "--threads", "0", f"-I{inc}",
               f"-I{_build.KERNELS / 'include'}", str(src), "-o", str(_build.library_path(name, "cuda"))]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ok = True
    for name, proc in procs.items():
        log = proc.communicate()[0]
        print(f"build {name}_cuda: {'ok' if proc.returncode == 0 else 'FAILED'}", flush=True)
        if proc.returncode:
            print(log[-4000:])
            ok = False
    return ok


def main(argv=None):
    if argv is None and sys.argv[1:2] == ["--build"]:
        sys.exit(0 if build_cuda() else 1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--platform", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--quick", action="store_true", help="skip the 1e8-synapse size")
    args = ap.parse_args(argv)
    register(args.platform)
    dev = jax.devices()[0]
    emit(args.out, op="environment", device=str(dev.device_kind), platform=args.platform, jax=jax.__version__,
         jaxlib=jax.lib.__version__ if hasattr(jax.lib, "__version__") else None)
    variants = {1: "rows U4", 2: "rows U8", 3: "flat U4", 4: "flat U8", 5: "flat U4 .cs loads",
                6: "rows U4 .cs loads", 7: "rows U4 store (no atomics)", 8: "flat U4 store (no atomics)",
                9: "rows U4 read only (no scatter)", 10: "rows U4 coalesced RED (wrong columns)"}
    probe = variants if args.platform == "cuda" else {}

    ip, ix, n_pre, n_post = coba_csr()
    run_size("coba 4000 p=0.02", ip, ix, n_pre, n_post, p=0.02, platform=args.platform, out=args.out,
             spikes_for=lambda b: spikes_with(n_pre, b, count=8), probe_variants=probe)
    if args.quick:
        return
    if args.platform == "cuda":
        n, mean = 1_000_000, 100.0
    else:
        n, mean = 20_000, 20.0
    t0 = time.perf_counter()
    ip, ix, n_pre, n_post = big_csr(n, n, mean)
    emit(args.out, op="build big CSR on device", seconds=time.perf_counter() - t0, nnz=int(ix.shape[0]))
    run_size(f"1e8 class {n}x{n} p={mean / n:g}", ip, ix, n_pre, n_post, p=mean / n, platform=args.platform,
             out=args.out, spikes_for=lambda b: spikes_with(n_pre, b, frac=0.1), probe_variants=probe)


if __name__ == "__main__":
    main()
