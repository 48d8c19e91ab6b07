"""The cortical microcircuit (Potjans & Diesmann 2014, ``neurosim.builders.microcircuit``) on
neurosim and on NEST, side by side: build time, compile time, real-time factor, memory, and the
per-population statistics of the two runs.

    .venv/bin/python benchmarks/microcircuit.py [--scales 0.02,0.1] [--duration S] [--engine auto] \
        [--tools neurosim,nest] [--threads 1] [--cores 1]

One JSON line per (tool, scale): neurons, synapses, ``build_s`` (the network: connectivity,
weights, delays; for NEST, Create + Connect of the same network), ``state_s`` (simulate's set-up
before the first chunk), ``compile_s`` (NEST: ``nest.Prepare()``), ``run_s`` and ``rtf`` (run
seconds per simulated second), the engine that ran, mean rate, ``events_per_s_per_core``
(spikes x their fan-out, per second of ``run_s`` and per thread the run used: ``threads``), and for neurosim
``peak_rss_mb`` / ``bytes_per_synapse`` (the peak resident memory of its process over the
synapses, JAX's fixed ~340 MB included; each scale runs in a fresh process). Then one line per scale comparing the two runs
(``"tool": "compare"``): each population's rate, ISI CV and synchrony (as
examples/frompapers/Potjans_Diesmann_2014.py measures them, after 200 ms) for both tools.

NEST (``bash benchmarks/peers/install.sh nest``) runs the very network neurosim built: a
neurosim process writes its neurons, connectivity, weights, delays and inputs to a file, which
benchmarks/peers/nest_microcircuit.py builds in NEST. What differs besides the random numbers
(initial potentials, Poisson trains) is said in each simulator's terms:
- the weights: each simulator gets the current that gives the model's 0.15 mV PSP under its own
  integration (NEST's ``iaf_psc_exp`` integrates the synaptic current exactly; neurosim's step
  holds it at its step-start value, so the builder's weights are 10 % smaller at dt = 0.1 ms:
  ``psc_per_psp``); NEST's are the builder's times ``weight_factor``;
- the delays: NEST counts a delay from the end of the spike's step, neurosim (as Brian2) from
  its start, so NEST is given ``delay - dt`` (``dt`` at least: the few percent of synapses of
  one-step delay arrive one step later there).
NEST runs ``--threads`` threads (``local_num_threads``) pinned to as many cores; neurosim runs
pinned to ``--cores`` cores (the native engine's element loops and deliveries take as many
threads for a network of 2 M synapses or more), XLA's multi-threaded Eigen off.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
sys.path.insert(1, os.path.dirname(HERE))


def export(net, path: str, scale: float, dt: float) -> None:
    """``net`` (a microcircuit) as arrays, for benchmarks/peers/nest_microcircuit.py."""
    import importlib

    import numpy as np
    M = importlib.import_module("neurosim.builders.microcircuit")
    names = [p.name for p in net.populations]
    out = {"dt": dt, "scale": scale, "populations": np.array(names), "sizes": np.array([p.n for p in net.populations]),
           # NEST integrates the synaptic current exactly: the current of the model's 0.15 mV PSP
           "weight_factor": M.psc_per_psp() / M.psc_per_psp(dt=dt),
           "v0_mean": np.array(M.V0_MEAN_MV), "v0_std": np.array(M.V0_STD_MV),
           "n_projections": len(net.projections)}
    inputs = {inp.name: inp for inp in net.inputs}
    for k, p in enumerate(net.populations):
        q = p.params
        dc = inputs.get(f"dc {p.name}")
        out[f"neuron {k}"] = np.array([float(q.c_m), float(q.c_m) / float(q.g_l), float(q.v_rest), float(q.v_reset),
                                       float(q.v_th), float(q.t_ref), M.TAU_SYN,
                                       float(dc.params.amplitude) if dc is not None else 0.0])
        bg = inputs.get(f"bg {p.name}")
        out[f"background {k}"] = (np.array([bg.source.n_sources, float(bg.params.rate_hz), float(bg.params.weight)])
                                  if bg is not None else np.zeros(3))
    for k, pr in enumerate(net.projections):
        src, tgt = pr.name.split("->")
        out[f"projection {k}"] = np.array([names.index(src), names.index(tgt)])
        out[f"pre {k}"] = np.asarray(pr.conn.rows, np.int32)
        out[f"post {k}"] = np.asarray(pr.conn.indices, np.int32)
        out[f"weight {k}"] = np.broadcast_to(np.asarray(pr.weights, np.float32), (pr.conn.nnz,))
        out[f"delay {k}"] = np.broadcast_to(np.asarray(pr.delay_ms, np.float32), (pr.conn.nnz,))
    np.savez(path, **out)


def fan_out_events(net, spikes: dict) -> float:
    """Spikes x their fan-out: the synaptic events a run delivered."""
    import numpy as np
    fan = {p.name: np.zeros(p.n) for p in net.populations}
    for pr in net.projections:
        src = pr.name.split("->")[0]
        fan[src] += np.diff(np.asarray(pr.conn.indptr))        # each neuron's synapses in this projection
    return float(sum(fan[name][np.asarray(ids, np.int64)].sum() for name, (_, ids) in spikes.items()))


def one(scale: float, duration_s: float, engine: str, seed: int, spikes_path=None, export_path=None,
        cores: int = 1) -> dict:
    import common as C

    cores = C.limit_threads(cores, pin=True)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    import importlib

    import jax

    import neurosim as ns
    M = importlib.import_module("neurosim.builders.microcircuit")

    t0 = time.perf_counter()
    net = M.microcircuit(scale, seed=seed)
    build_s = time.perf_counter() - t0
    if export_path:
        export(net, export_path, scale, net.dt)
        return {}
    res = ns.simulate(net, duration_s * 1e3, 0.1, key=seed, engine=engine,
                      monitors=[ns.Spikes(p) for p in M.POPULATIONS], progress=False)
    n = sum(p.n for p in net.populations)
    synapses = sum(pr.conn.nnz for pr in net.projections)
    spikes = sum(res.spikes[p][0].size for p in M.POPULATIONS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = res.timings
    # the cores the run used: the native engine's threads (several for 2 M synapses or more), else one
    used = importlib.import_module("neurosim.engines.native.engine").native_threads(net) if t["engine"] == "native" else 1
    if spikes_path:
        import numpy as np
        np.savez(spikes_path, **{f"times {k}": res.spikes[p][0] for k, p in enumerate(M.POPULATIONS)},
                 **{f"ids {k}": res.spikes[p][1] for k, p in enumerate(M.POPULATIONS)})
    return {"tool": "neurosim", "workload": "microcircuit", "scale": scale, "k_scale": scale, "neurons": n,
            "synapses": synapses, "duration_s": duration_s, "engine": t["engine"], "build_s": round(build_s, 2),
            "state_s": round(t["build_s"], 2), "compile_s": round(t["compile_s"], 2), "run_s": round(t["run_s"], 3),
            "rtf": round(t["run_s"] / duration_s, 3), "rate_hz": round(spikes / n / duration_s, 3),
            "cores": cores, "threads": used, "events_per_s_per_core": round(fan_out_events(net, res.spikes) / t["run_s"] / used),
            "peak_rss_mb": round(peak / 1e6, 1), "bytes_per_synapse": round(peak / max(synapses, 1), 1),
            "device": C.cpu_device(), "version": f"neurosim {ns.__version__}, jax {jax.__version__}",
            "load_1min": C.load_1min()}


@functools.lru_cache(maxsize=None)
def example():
    """examples/frompapers/Potjans_Diesmann_2014.py, whose ``statistics`` and ``T0`` (ms, the
    start of the measured window) the comparison uses."""
    import importlib.util
    script = os.path.join(os.path.dirname(HERE), "examples", "frompapers", "Potjans_Diesmann_2014.py")
    spec = importlib.util.spec_from_file_location("potjans_diesmann_2014", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def statistics(path: str, sizes, names, duration_s: float) -> dict:
    """Each population's rate, ISI CV and synchrony from a spikes file, by the example's own
    ``statistics``, rounded for the JSON line (None where a value is undefined)."""
    import math

    import numpy as np
    f = np.load(path)
    spikes = {name: (f[f"times {k}"], f[f"ids {k}"]) for k, name in enumerate(names)}
    stats = example().statistics(spikes, dict(zip(names, sizes)), duration_s * 1e3)
    return {name: {key: round(v, 3) if math.isfinite(v) else None for key, v in values.items()}
            for name, values in stats.items()}


def _child(args_list):
    proc = subprocess.run(args_list, capture_output=True, text=True)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode or not lines:
        return None, (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(lines[-1]), None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="0.02,0.1")
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tools", default="neurosim", help="neurosim, nest (comma-separated)")
    ap.add_argument("--threads", type=int, default=1, help="NEST's local_num_threads")
    ap.add_argument("--cores", type=int, default=1, help="the cores neurosim's process is pinned to")
    ap.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)    # the child process
    ap.add_argument("--spikes", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--export", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one is not None:
        line = one(args.one, args.duration, args.engine, args.seed, args.spikes, args.export, args.cores)
        print(json.dumps(line or {"exported": args.export}), flush=True)
        return
    import importlib
    import tempfile
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in ("neurosim", "nest")]
    if unknown:
        raise SystemExit(f"--tools: unknown tool(s) {unknown} (neurosim, nest)")
    nest_python = os.path.join(os.path.dirname(HERE), ".peers", "nest", "bin", "python")
    M = importlib.import_module("neurosim.builders.microcircuit")
    base = [sys.executable, __file__, "--duration", str(args.duration), "--engine", args.engine, "--seed",
            str(args.seed), "--cores", str(args.cores)]
    for scale in (float(s) for s in args.scales.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            spikes, stats = {}, {}
            for tool in tools:
                spikes[tool] = os.path.join(tmp, f"{tool}.npz")
                if tool == "neurosim":
                    line, err = _child(base + ["--one", str(scale), "--spikes", spikes[tool]])
                elif tool == "nest":
                    if not os.path.exists(nest_python):
                        line, err = None, "NEST is not installed: bash benchmarks/peers/install.sh nest"
                    else:
                        net_file = os.path.join(tmp, "network.npz")
                        _, err = _child(base + ["--one", str(scale), "--export", net_file])
                        line = None
                        if err is None:
                            line, err = _child([nest_python, os.path.join(HERE, "peers", "nest_microcircuit.py"),
                                                "--network", net_file, "--spikes", spikes[tool], "--duration",
                                                str(args.duration), "--threads", str(args.threads), "--seed",
                                                str(args.seed)])
                if line is None:
                    print(json.dumps({"tool": tool, "workload": "microcircuit", "scale": scale, "error": err}), flush=True)
                    continue
                print(json.dumps(line), flush=True)
                sizes = [max(1, int(round(n * scale))) for n in M.FULL_SIZES]
                if args.duration * 1e3 > example().T0:
                    stats[tool] = statistics(spikes[tool], sizes, M.POPULATIONS, args.duration)
            if stats:
                print(json.dumps({"tool": "compare", "workload": "microcircuit", "scale": scale,
                                  "duration_s": args.duration, "t0_ms": example().T0, "statistics": stats}), flush=True)


if __name__ == "__main__":
    main()
