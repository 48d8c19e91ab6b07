"""Neuron-parallel benchmark: one network over 1, 2, 4 ... devices, the spike exchange's share
of the run time, and the cost model of COBA at 4 M and 40 M neurons on 8 GPUs.

    .venv/bin/python benchmarks/parallel.py [--workloads coba,brunel] [--devices 1,2,4]
        [--duration 1000] [--out DIR]
    .venv/bin/python benchmarks/parallel.py --model       # the cost model only (no run)

On a CPU the devices are host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=D``);
each device count runs in its own process. Workloads: ``coba`` (``coba(4000)``: delay one step,
so one exchange per step) and ``brunel`` (``brunel2000("C", scale=0.4)``: 5000 neurons, delay
1.5 ms = 15 steps, one exchange per 15 steps). Per (workload, devices), one JSON line with:

- ``run_s``: ``simulate(engine="parallel")``'s run time (compilation excluded), best of 3;
- ``scan_run_s``: the scan engine's on the same process (one device), and ``ratio_vs_scan``;
- ``exchange_s``: the same number of all_gathers of the same windows (a program that only
  exchanges, in a scan over the windows), best of 3; ``exchange_share = exchange_s / run_s``;
- ``spikes_equal``: the parallel spikes equal the scan engine's (bitwise).

``--model`` prints one JSON line per network size of the cost model described in
``docs/performance.md`` (a model on paper; no GPU was used).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def workload(name):
    import neurosim as ns
    if name == "coba":
        return ns.builders.coba(4000, seed=0)
    return ns.builders.brunel2000("C", scale=0.4, seed=2)


def exchange_only(plan, n_windows, length):
    """A program doing what the parallel engine exchanges: per window, one packed all_gather
    of each presynaptic population's (length, n/D) spikes."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import PartitionSpec as P

    from neurosim.network.parallel import AXIS

    net = plan.net
    pres = sorted({net._refs[pr.name][0][0] for pr in net.projections})

    def body(x):
        def window(x, _):
            out = []
            for p, xp in zip(pres, x):
                mine = jnp.packbits(xp > 0, axis=1, bitorder="little")
                whole = jax.lax.all_gather(mine, AXIS, axis=1, tiled=True)
                got = jnp.unpackbits(whole, axis=1, count=xp.shape[1] * plan.n_devices, bitorder="little")
                # the next window's input depends on this one's result: nothing is hoisted or merged
                out.append(jnp.roll(xp, 1, axis=0) + got[:, :xp.shape[1]].astype(xp.dtype))
            return tuple(out), None
        x, _ = jax.lax.scan(window, x, None, length=n_windows)
        return x

    f = jax.jit(jax.shard_map(body, mesh=plan.mesh, in_specs=P(None, AXIS), out_specs=P(None, AXIS), check_vma=False))
    x = tuple(jnp.zeros((length, net.population(p).n), jnp.uint8) for p in pres)
    return f, x


def child(name, duration, n_dev):
    import jax
    import numpy as np

    import neurosim as ns
    from neurosim.network import parallel

    net = workload(name)
    mons = [ns.Spikes(net.populations[0].name)]
    pop = net.populations[0].name

    def best(engine, **kw):
        ns.simulate(net, duration, engine=engine, monitors=mons, key=1, **kw)          # compile
        runs = [ns.simulate(net, duration, engine=engine, monitors=mons, key=1, **kw) for _ in range(3)]
        return min(r.timings["run_s"] for r in runs), runs[0]

    par_s, par = best("parallel", devices=n_dev)
    scan_s, scan = best("scan")
    equal = all(np.array_equal(a, b) for a, b in zip(par.spikes[pop], scan.spikes[pop]))
    plan = parallel.parallel_plan(net, 0.1, mons, n_dev)
    n_steps = int(round(duration / 0.1))
    f, x = exchange_only(plan, n_steps // plan.window, plan.window)
    jax.block_until_ready(f(x))
    ex = []
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(f(x))
        ex.append(time.perf_counter() - t0)
    n = sum(p.n for p in net.populations)
    print(json.dumps({
        "tool": "neurosim-parallel", "workload": name, "neurons": n, "devices": n_dev,
        "platform": jax.devices()[0].platform, "cpu_cores": os.cpu_count(), "jax": jax.__version__,
        "duration_ms": duration, "window_steps": plan.window, "run_s": round(par_s, 4),
        "rtf": round(par_s / (duration / 1000.0), 4), "scan_run_s": round(scan_s, 4),
        "ratio_vs_scan": round(scan_s / par_s, 3), "exchange_s": round(min(ex), 4),
        "exchange_share": round(min(ex) / par_s, 3), "spikes": int(len(par.spikes[pop][0])), "spikes_equal": equal,
        "bytes_per_exchange_per_device": int(plan.window * n / 8 * (n_dev - 1) / n_dev),
    }), flush=True)


# --------------------------------------------------------------------------- the cost model (on paper)
H200 = {"hbm_bytes_s": 4.8e12, "link_bytes_s": 450e9, "collective_latency_s": 15e-6}


def model(n, devices=8, rate_hz=20.0, k_syn=80, dt_ms=0.1, window=1, exchange="bitmap", hw=H200):
    """Per step and device: the bytes the step moves in memory and on the links, and the time
    they take at the given bandwidths (the assumptions are in docs/performance.md).
    ``exchange``: "bitmap" (what the engine does: 1 bit per neuron and step, and every device
    expands the whole population's spikes to a full-width vector) or "list" (not built: the
    indices of the neurons that spiked, 4 B each, and the event product reads only those)."""
    block = n / devices
    state = block * 4 * 4 * 2                      # v, t_left and two synaptic g, float32, read and written
    spikes = n * rate_hz * dt_ms * 1e-3            # neurons that spike in a step (every device sees all of them)
    events = spikes * k_syn / devices              # synapses a device delivers per step
    event_bytes = events * (4 + 4 + 8) + spikes * 8        # index, weight, read-modify-write of the target; row pointers
    rows = 1 if window == 1 else 2                 # the delayed vector; with a delay buffer its row is written too
    if exchange == "bitmap":
        full_width = n * 4 * (rows + 1)            # unpacked from the exchange, written into the ring, scanned for spikes
        wire = window * n / 8 * (devices - 1) / devices
    else:
        full_width = spikes * 4 * (rows + 1)
        wire = window * spikes * 4 * (devices - 1) / devices
    memory = state + event_bytes + full_width
    t_compute = memory / hw["hbm_bytes_s"]
    t_exchange = (wire / hw["link_bytes_s"] + hw["collective_latency_s"]) / window
    return {"tool": "model", "workload": f"coba-{n / 1e6:g}M", "exchange": exchange, "neurons": int(n),
            "devices": devices, "window_steps": window, "memory_bytes_per_step": int(memory),
            "exchange_bytes_per_window": int(wire), "compute_us_per_step": round(t_compute * 1e6, 2),
            "exchange_us_per_step": round(t_exchange * 1e6, 2), "rtf": round((t_compute + t_exchange) * 1e3 / dt_ms, 3),
            "exchange_share": round(t_exchange / (t_compute + t_exchange), 3),
            "synapse_gb_per_device": round(n * k_syn * 8 / devices / 1e9, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="coba,brunel")
    ap.add_argument("--devices", default="1,2,4")
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--model", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("WORKLOAD", "DEVICES"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], a.duration, int(a.child[1]))
        return
    lines = [model(n, window=w, exchange=e) for e in ("bitmap", "list") for n in (4e6, 40e6) for w in (1, 15)]
    for line in lines:
        print(json.dumps(line), flush=True)
    if not a.model:
        for name in a.workloads.split(","):
            for d in (int(x) for x in a.devices.split(",")):
                env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={d}"}
                proc = subprocess.run([sys.executable, __file__, "--child", name, str(d), "--duration", str(a.duration)],
                                      env=env, capture_output=True, text=True)
                if proc.returncode:
                    sys.exit(proc.stderr)
                line = proc.stdout.strip().splitlines()[-1]
                print(line, flush=True)
                lines.append(json.loads(line))
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "parallel.json"), "w") as f:
            json.dump(lines, f, indent=1)
        runs = [x for x in lines if x["tool"] == "neurosim-parallel"]
        if runs:
            plot(runs, os.path.join(a.out, "parallel.png"))


def plot(runs, path):
    """Run time per device count, split into the exchange (measured alone) and the rest."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r["workload"] for r in runs})
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        rows = [r for r in runs if r["workload"] == name]
        d = [str(r["devices"]) for r in rows]
        ex = [r["exchange_s"] if r["devices"] > 1 else 0.0 for r in rows]
        rest = [r["run_s"] - e for r, e in zip(rows, ex)]
        ax.bar(d, rest, label="neurons, synapses, delivery", color="#4c72b0")
        ax.bar(d, ex, bottom=rest, label="spike exchange (measured alone)", color="#dd8452")
        ax.axhline(rows[0]["scan_run_s"], color="k", ls="--", lw=1, label="scan engine, 1 device")
        ax.set_title(f"{name}: {rows[0]['neurons']} neurons, window {rows[0]['window_steps']} step(s)")
        ax.set_xlabel(f"host devices (on {rows[0]['cpu_cores']} cores)")
        ax.set_ylabel("run time for 1 s (s)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
