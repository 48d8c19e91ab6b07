"""Event-operator benchmark: neurosim's CSR operators against plain JAX, jax.experimental.sparse
and BrainPy's brainevent, on the same connectivity and the same spikes.

    .venv/bin/python benchmarks/ops.py                         # CPU, COBA-sized and 3.2e6 synapses
    python benchmarks/ops.py --device gpu --out out/ops       # adds a 1e8-synapse CSR

Operators (``--ops``):
  event       drive = spikes x CSR (spikes (B, n_pre), bool or with ``--spike-dtype float32`` 0/1
              floats as a network step passes them; ``--activity`` active rows per call)
  transposed  out = CSR @ x        (x float (B, n_post), every row)
Tools (``--tools``):
  neurosim-kernel     neurosim.events.propagate(..., backend="kernel") (the compiled FFI kernel)
  neurosim-reference  neurosim.events.propagate(..., backend="reference") (pure JAX, tiered)
  segment_sum         plain JAX over every synapse: jax.ops.segment_sum(s[rows] * w, indices)
  bcoo                jax.experimental.sparse BCOO mat-vec (the matrix transposed for ``event``)
  brainevent          brainevent.BinaryArray(s) @ brainevent.CSR (BrainPy's event kernels), run in
                      the peer venv .peers/brainpy through benchmarks/driver.py; skipped with a
                      JSON note where that venv is absent
``vmap`` of the mat-vec gives the mat-mat form for ``--batch`` > 1.

Timing: one jitted ``lax.fori_loop`` of ``steps`` calls (the spikes of call t are pattern
t % 16 of a bank of random patterns with the requested activity, so no call is hoisted out of
the loop); steps grow until a loop takes ``--min-time`` seconds (at most ``--steps``); the best
of ``--repeat`` loops. ``s_per_call`` is that loop time per step; ``s_per_call_net`` subtracts
the same loop with the operator left out (``loop_s_per_step``).

One JSON line per (op, tool, size, activity, weights, batch):
  events_per_s    synaptic events (synapses of the active rows, times B) per second
  spikes_per_s    active rows (times B) per second
  bytes_per_s     index + weight bytes of the active rows (4 + 4 per synapse; 4 for a
                  homogeneous weight) read per second, from ``s_per_call_net`` — the useful
                  traffic, whatever a tool actually reads (segment_sum and BCOO read every synapse)
  dram_fraction   bytes_per_s / (--peak-gbs * 1e9), with ``--device gpu``
With ``--out DIR``: DIR/ops.json (all lines) and DIR/ops.png (events/s per tool, log scale).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

NEUROSIM_TOOLS = ["neurosim-kernel", "neurosim-reference", "segment_sum", "bcoo"]
TOOLS = NEUROSIM_TOOLS + ["brainevent"]
BANK = 16  # spike patterns cycled through by the timing loop


# --------------------------------------------------------------------------- arguments


def parse_size(text: str):
    try:
        n_pre, n_post, p = text.lower().split("x")
        n_pre, n_post, p = int(float(n_pre)), int(float(n_post)), float(p)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like N_PRExN_POSTxP (e.g. 4000x4000x0.02), got {text!r}")
    if n_pre < 1 or n_post < 1 or not 0.0 < p <= 1.0:
        raise argparse.ArgumentTypeError(f"size {text!r}: need n_pre, n_post >= 1 and 0 < p <= 1")
    return n_pre, n_post, p


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--sizes", default=None,
                    help="comma list of N_PRExN_POSTxP; default 4000x4000x0.02,40000x40000x0.002 "
                         "(and 1000000x1000000x0.0001, 1e8 synapses, with --device gpu)")
    ap.add_argument("--activity", default="8,0.1",
                    help="comma list: active rows per call (>= 1) or fraction of rows (< 1)")
    ap.add_argument("--ops", default="event,transposed")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--weights", default=None,
                    help="comma list of homogeneous, per-synapse (default homogeneous on cpu, both on gpu)")
    ap.add_argument("--spike-dtype", default="bool", choices=["bool", "float32"],
                    help="event op: bool spikes, or float32 0/1 spikes as a network step passes them")
    ap.add_argument("--batch", default="1", help="comma list of batch sizes B (vmap -> mat-mat form)")
    ap.add_argument("--steps", type=int, default=10000, help="most calls in one timed loop")
    ap.add_argument("--min-time", type=float, default=0.1, help="seconds one timed loop should take")
    ap.add_argument("--repeat", type=int, default=2, help="timed loops per measurement (best is kept)")
    ap.add_argument("--peak-gbs", type=float, default=3350.0, help="peak DRAM bandwidth in GB/s (H100: 3350)")
    ap.add_argument("--threads", type=int, default=1, help="cpu: cores (the process is pinned to them)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds for the brainevent subprocess")
    ap.add_argument("--out", default=None, help="write DIR/ops.json and DIR/ops.png")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)   # brainevent, in its venv
    ap.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sizes is None:
        args.sizes = "4000x4000x0.02,40000x40000x0.002" + (",1000000x1000000x0.0001" if args.device == "gpu" else "")
    if args.weights is None:
        args.weights = "homogeneous" if args.device == "cpu" else "homogeneous,per-synapse"
    args.size_list = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    args.activity_list = [float(a) for a in args.activity.split(",") if a.strip()]
    args.op_list = [o.strip() for o in args.ops.split(",") if o.strip()]
    args.tool_list = [t.strip() for t in args.tools.split(",") if t.strip()]
    args.weight_list = [w.strip() for w in args.weights.split(",") if w.strip()]
    args.batch_list = [int(b) for b in args.batch.split(",") if b.strip()]
    for name, values, known in (("--ops", args.op_list, ["event", "transposed"]), ("--tools", args.tool_list, TOOLS),
                                ("--weights", args.weight_list, ["homogeneous", "per-synapse"])):
        bad = [v for v in values if v not in known]
        if bad:
            ap.error(f"{name}: unknown {bad}; known: {known}")
    if any(a <= 0 for a in args.activity_list) or any(b < 1 for b in args.batch_list):
        ap.error("--activity values must be > 0 and --batch values >= 1")
    return args


def setup_process(device: str, threads: int):
    """Environment for jax, set before it is imported."""
    if device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
        if hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:max(1, threads)]))
            except OSError:
                pass
        if threads <= 1:
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()


# --------------------------------------------------------------------------- inputs


def make_inputs(n_pre, n_post, p, seed):
    """Bernoulli(p) CSR (indptr, indices as numpy int32) and per-synapse weights."""
    import numpy as np

    sys.path.insert(0, ROOT)
    from neurosim.events import fixed_probability

    conn = fixed_probability(n_pre, n_post, p, seed=seed)
    indptr = np.asarray(conn.indptr, np.int32)
    indices = np.asarray(conn.indices, np.int32)
    weights = np.random.default_rng(seed + 1).uniform(0.5, 1.5, indices.size).astype(np.float32)
    return conn, indptr, indices, weights


def spike_bank(n_pre, activity, batch, seed, dtype="bool"):
    """(BANK, B, n_pre) 0/1 patterns of ``dtype`` with ``activity`` active rows (count or
    fraction) each."""
    import numpy as np

    k = int(round(activity * n_pre)) if activity < 1 else int(activity)
    k = max(0, min(n_pre, k))
    rng = np.random.default_rng(seed + 2)
    bank = np.zeros((BANK, batch, n_pre), bool)
    for i in range(BANK):
        for b in range(batch):
            bank[i, b, rng.choice(n_pre, k, replace=False)] = True
    return bank.astype(dtype)


def active_counts(indptr, bank):
    """Mean active rows and active synapses per call (summed over the batch)."""
    import numpy as np

    lengths = np.diff(indptr.astype(np.int64))
    bank = bank != 0
    rows = bank.sum(axis=(1, 2)).mean()
    syn = np.array([(bank[i].astype(np.int64) @ lengths).sum() for i in range(bank.shape[0])]).mean()
    return float(rows), float(syn)


# --------------------------------------------------------------------------- timing


def time_op(op, bank, n_out, args):
    """Seconds per step of a jitted fori_loop calling ``op(spikes_or_x)``, and of the same loop
    without the operator."""
    import jax
    import jax.numpy as jnp

    def looped(call):
        def run(bank, n):
            def body(t, acc):
                out = call(bank[t % bank.shape[0]])
                return acc + out.reshape(-1)[t % n_out]
            return jax.lax.fori_loop(0, n, body, jnp.zeros((), jnp.float32))
        return jax.jit(run)

    def measure(fn):
        jax.block_until_ready(fn(bank, 2))  # compile + warm up
        n = 10
        while True:
            t0 = time.perf_counter()
            jax.block_until_ready(fn(bank, n))
            dt = time.perf_counter() - t0
            if dt >= args.min_time or n >= args.steps:
                break
            n = int(min(args.steps, max(2 * n, n * 1.2 * args.min_time / max(dt, 1e-9))))
        best = dt
        for _ in range(args.repeat - 1):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(bank, n))
            best = min(best, time.perf_counter() - t0)
        return best / n, n

    per_call, steps = measure(looped(op))
    key = (bank.shape, str(bank.dtype), n_out)
    if key not in _EMPTY_LOOP:  # the loop alone, once per bank and output size
        _EMPTY_LOOP[key] = measure(looped(lambda s: s.astype(jnp.float32)))[0]
    return per_call, _EMPTY_LOOP[key], steps


_EMPTY_LOOP: dict = {}


def result_line(base, per_call, loop, steps, active_rows, active_syn, per_synapse, args):
    net = max(per_call - loop, 1e-12)
    bytes_per_call = active_syn * 4 + (active_syn * 4 if per_synapse else 4)
    line = dict(base, s_per_call=per_call, s_per_call_net=net, loop_s_per_step=loop, steps=steps,
                active_rows=active_rows, active_synapses=active_syn,
                events_per_s=active_syn / net, spikes_per_s=active_rows / net,
                bytes_per_call=bytes_per_call, bytes_per_s=bytes_per_call / net)
    if args.device == "gpu":
        line["dram_fraction"] = line["bytes_per_s"] / (args.peak_gbs * 1e9)
        line["peak_gbs"] = args.peak_gbs
    return line


# --------------------------------------------------------------------------- neurosim and plain JAX


def build_tool(tool, op, conn, weights, per_synapse):
    """A function of one spike / x batch (B, n) -> (B, n_out), or a reason it cannot run."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import sparse

    from neurosim.events import available_backends, propagate, propagate_transposed

    w = jnp.asarray(weights) if per_synapse else jnp.float32(1.0)
    w_syn = jnp.broadcast_to(w, (conn.nnz,))
    if tool.startswith("neurosim-"):
        backend = tool.split("-", 1)[1]
        if backend not in available_backends():
            return f"skipped: backend {backend!r} not available here (available: {available_backends()})"
        if op == "event":
            f = lambda s: propagate(conn, w, s, backend=backend)
        else:
            f = lambda x: propagate_transposed(conn, w, x, backend=backend)
    elif tool == "segment_sum":
        if op == "event":
            f = lambda s: jax.ops.segment_sum(s.astype(jnp.float32)[conn.rows] * w_syn, conn.indices,
                                              num_segments=conn.n_post)
        else:
            f = lambda x: jax.ops.segment_sum(w_syn * x[conn.indices], conn.rows, num_segments=conn.n_pre,
                                              indices_are_sorted=True)
    elif tool == "bcoo":
        if op == "event":   # drive = M^T s, with M^T as an (n_post, n_pre) BCOO matrix
            m = sparse.BCOO((w_syn, jnp.stack([conn.indices, conn.rows], 1)), shape=(conn.n_post, conn.n_pre))
            f = lambda s: m @ s.astype(jnp.float32)
        else:
            m = sparse.BCOO((w_syn, jnp.stack([conn.rows, conn.indices], 1)), shape=(conn.n_pre, conn.n_post),
                            indices_sorted=True)
            f = lambda x: m @ x
    else:
        raise ValueError(tool)
    return jax.vmap(f)


def run_neurosim_tools(args, size, conn, indptr, weights, banks, xbank, lines):
    import jax

    for op in args.op_list:
        for tool in [t for t in args.tool_list if t in NEUROSIM_TOOLS]:
            for wkind in args.weight_list:
                per_synapse = wkind == "per-synapse"
                fn = build_tool(tool, op, conn, weights, per_synapse)
                for batch in args.batch_list:
                    acts = args.activity_list if op == "event" else [1.0]
                    for act in acts:
                        base = dict(op=op, tool=tool, size=size_label(size), n_pre=conn.n_pre, n_post=conn.n_post,
                                    p=size[2], nnz=conn.nnz, batch=batch, activity=act if op == "event" else "all",
                                    weights=wkind, device=device_name())
                        if op == "event":
                            base["spike_dtype"] = args.spike_dtype
                        if isinstance(fn, str):
                            emit(dict(base, note=fn), lines)
                            continue
                        bank = banks[(batch, act)] if op == "event" else xbank[batch]
                        n_out = conn.n_post if op == "event" else conn.n_pre
                        if op == "event":
                            rows, syn = active_counts(indptr, banks[(batch, act)])
                        else:
                            rows, syn = float(conn.n_pre * batch), float(conn.nnz * batch)
                        try:
                            per_call, loop, steps = time_op(fn, jax.device_put(bank), n_out, args)
                        except Exception as err:  # noqa: BLE001 - one failing tool never stops the run
                            emit(dict(base, error=f"{type(err).__name__}: {str(err)[:300]}"), lines)
                            continue
                        emit(result_line(base, per_call, loop, steps, rows, syn, per_synapse, args), lines)


# --------------------------------------------------------------------------- brainevent (peer venv)


def run_brainevent(args, size, data_path, lines):
    from driver import peer_python, run_json

    base = dict(tool="brainevent", size=size_label(size))
    python = peer_python("brainpy")
    if python is None:
        emit(dict(base, note="skipped: .peers/brainpy not installed (make bench-peers)"), lines)
        return
    cmd = [python, os.path.abspath(__file__), "--worker", "brainevent", "--data", data_path,
           "--device", args.device, "--activity", args.activity, "--ops", args.ops, "--weights", args.weights,
           "--batch", args.batch, "--spike-dtype", args.spike_dtype, "--steps", str(args.steps),
           "--min-time", str(args.min_time),
           "--repeat", str(args.repeat), "--peak-gbs", str(args.peak_gbs), "--threads", str(args.threads),
           "--sizes", args.sizes]
    got = run_json(cmd, base, timeout=args.timeout, verbose=args.verbose, peer=True)
    if "results" not in got:
        emit(dict(base, **{k: v for k, v in got.items() if k not in base}), lines)
        return
    for line in got["results"]:
        emit(line, lines)


def brainevent_worker(args):
    """Runs in the brainpy venv: neither neurosim nor this repository is importable there."""
    setup_process(args.device, args.threads)
    import numpy as np

    saved = os.dup(1)
    os.dup2(2, 1)  # keep stdout for the JSON line
    try:
        import brainevent
        import jax
        import jax.numpy as jnp

        d = np.load(args.data)
        indptr, indices, weights = d["indptr"], d["indices"], d["weights"]
        n_pre, n_post, p = int(d["n_pre"]), int(d["n_post"]), float(d["p"])
        nnz = int(indices.size)
        size = (n_pre, n_post, p)
        results = []
        for op in args.op_list:
            for wkind in args.weight_list:
                per_synapse = wkind == "per-synapse"
                data = jnp.asarray(weights if per_synapse else np.ones(1, np.float32))
                for batch in args.batch_list:
                    for act in (args.activity_list if op == "event" else [1.0]):
                        # a fresh matrix per measurement: brainevent caches traced values on it
                        csr = brainevent.CSR((data, jnp.asarray(indices), jnp.asarray(indptr)), shape=(n_pre, n_post))
                        if op == "event":
                            f = jax.vmap(lambda s, csr=csr: brainevent.BinaryArray(s) @ csr)
                        else:
                            f = jax.vmap(lambda x, csr=csr: csr @ x)
                        base = dict(op=op, tool="brainevent", size=size_label(size), n_pre=n_pre, n_post=n_post, p=p,
                                    nnz=nnz, batch=batch, activity=act if op == "event" else "all", weights=wkind,
                                    device=device_name(), version=f"brainevent {brainevent.__version__}, "
                                                                  f"jax {jax.__version__}")
                        if op == "event":
                            base["spike_dtype"] = args.spike_dtype
                            bank = spike_bank(n_pre, act, batch, args.seed, args.spike_dtype)
                            rows, syn = active_counts(indptr, bank)
                            n_out = n_post
                        else:
                            bank = x_bank(n_post, batch, args.seed)
                            rows, syn = float(n_pre * batch), float(nnz * batch)
                            n_out = n_pre
                        try:
                            per_call, loop, steps = time_op(f, jax.device_put(bank), n_out, args)
                        except Exception as err:  # noqa: BLE001
                            results.append(dict(base, error=f"{type(err).__name__}: {str(err)[:300]}"))
                            continue
                        results.append(result_line(base, per_call, loop, steps, rows, syn, per_synapse, args))
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
    print(json.dumps({"results": results}), flush=True)
    return 0


# --------------------------------------------------------------------------- output


def x_bank(n_post, batch, seed):
    import numpy as np

    return np.random.default_rng(seed + 3).normal(size=(BANK, batch, n_post)).astype(np.float32)


def size_label(size):
    n_pre, n_post, p = size
    return f"{n_pre}x{n_post}x{p:g}"


def device_name():
    import jax

    if jax.default_backend() == "cpu":
        n = os.cpu_count() or 1
        return f"cpu ({n} core{'s' if n != 1 else ''}, {len(os.sched_getaffinity(0))} used)"
    return f"{jax.default_backend()} ({jax.devices()[0].device_kind})"


def emit(line, lines):
    for k, v in list(line.items()):
        if isinstance(v, float):
            line[k] = float(f"{v:.4g}")
    print(json.dumps(line), flush=True)
    lines.append(line)


def plot(lines, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [d for d in lines if "events_per_s" in d]
    if not ok:
        return
    groups = []
    for d in ok:
        key = (d["op"], d["size"], d["activity"], d["weights"], d["batch"])
        if key not in groups:
            groups.append(key)
    tools = [t for t in TOOLS if any(d["tool"] == t for d in ok)]
    fig, ax = plt.subplots(figsize=(max(8.0, 1.3 * len(groups) + 3), 5))
    width = 0.8 / len(tools)
    colors = {"neurosim-kernel": "tab:red", "neurosim-reference": "tab:orange", "segment_sum": "tab:blue",
              "bcoo": "tab:green", "brainevent": "tab:purple"}
    for k, tool in enumerate(tools):
        xs, ys = [], []
        for g, key in enumerate(groups):
            for d in ok:
                if d["tool"] == tool and (d["op"], d["size"], d["activity"], d["weights"], d["batch"]) == key:
                    xs.append(g + (k - (len(tools) - 1) / 2) * width)
                    ys.append(d["events_per_s"])
        ax.bar(xs, ys, width, label=tool, color=colors.get(tool))
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{op}\n{size}\nact {act} {w[:4]} B={b}" for op, size, act, w, b in groups], fontsize=7)
    ax.set_ylabel("synaptic events / s (log)")
    ax.set_title(f"CSR event operators on {ok[0]['device']}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.worker == "brainevent":
        return brainevent_worker(args)
    setup_process(args.device, args.threads)
    sys.path.insert(0, ROOT)
    import jax
    import numpy as np

    if args.device == "gpu" and jax.default_backend() != "gpu":
        raise SystemExit(f"ops.py: --device gpu asked but jax's backend is {jax.default_backend()}")
    lines = []
    for size in args.size_list:
        t0 = time.perf_counter()
        conn, indptr, indices, weights = make_inputs(*size, args.seed)
        sys.stderr.write(f"ops.py: {size_label(size)}: nnz = {conn.nnz}, built in {time.perf_counter() - t0:.1f} s\n")
        banks = {(b, a): spike_bank(size[0], a, b, args.seed, args.spike_dtype)
                 for b in args.batch_list for a in args.activity_list}
        xbank = {b: x_bank(size[1], b, args.seed) for b in args.batch_list}
        run_neurosim_tools(args, size, conn, indptr, weights, banks, xbank, lines)
        if "brainevent" in args.tool_list:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "csr.npz")
                np.savez(path, indptr=indptr, indices=indices, weights=weights, n_pre=size[0], n_post=size[1],
                         p=size[2])
                one = argparse.Namespace(**{**vars(args), "sizes": size_label(size)})
                run_brainevent(one, size, path, lines)
        del conn
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "ops.json"), "w") as f:
            for d in lines:
                f.write(json.dumps(d) + "\n")
        try:
            plot(lines, os.path.join(args.out, "ops.png"))
        except Exception as err:  # noqa: BLE001 - the JSON is the result; the plot is a bonus
            sys.stderr.write(f"ops.py: no plot ({type(err).__name__}: {err})\n")
        sys.stderr.write(f"ops.py: wrote {args.out}/ops.json and ops.png\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
