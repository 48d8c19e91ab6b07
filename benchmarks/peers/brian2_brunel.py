"""Brunel (2000) sparse E/I network in Brian2 (Cython runtime or C++ standalone): the peer of
``benchmarks/brunel.py``. Run with the Brian2 venv's Python:

    .peers/brian2/bin/python benchmarks/peers/brian2_brunel.py --regime C --mode cython

The model is Brian2's ``examples/frompapers/Brunel_2000.py`` (papers.md 3.1): V relative to
rest, tau dV/dt = -V (exact integration), theta = 20 mV, V_r = 10 mV, tau_rp = 2 ms, spikes
``v += J`` (E) / ``v += -g J`` (I) after D = 1.5 ms, ``PoissonInput`` of C_ext = C_E trains of
nu_ext with weight J, dt = 0.1 ms, V(0) = 0. ``--scale`` as neurosim's ``brunel2000``
(J C_E = 100 mV kept). ``--connectivity probability`` (default; Brian's example: each pair
with p = 0.1) or ``indegree`` (exactly C_E / C_I inputs per neuron, drawn with numpy).
While refractory, v is clamped and jumps are lost, as in the paper and in neurosim: Brian2
marks ``v`` ``(unless refractory)``, which also makes every write to it (``on_pre``,
``PoissonInput``) conditional on ``not_refractory``.

Prints one JSON line on stdout (everything else goes to stderr):
``{"tool", "workload", "n", "duration_s", "build_s", "compile_s", "run_s", "rtf", "rate_hz",
"device", ...}``. Timings: cython: ``build_s`` = creating the objects and the synapses,
``compile_s`` = ``run(0 ms)`` (code generation and Cython compilation, cold cache unless
``--cache warm``), ``run_s`` = ``run(duration)``. cpp_standalone: ``build_s`` = creating the
objects, ``compile_s`` = ``device.build(compile=True, run=False)`` (code generation + make),
``run_s`` = Brian's own timer of the C++ network loop (``device._last_run_time``); the
binary's whole wall time (building the synapses in C++, writing results) is ``binary_wall_s``.
The rate is over every neuron and the whole run. With ``--stats`` the statistics of papers.md
3.3 on the first 2000 neurons over 200-1200 ms are added (rate, ISI CV, pop std/mean at
0.5 ms, PSD peak, chi). Single-threaded, pinned to one core.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import common as C

REGIMES = {"A": (3.0, 2.0), "B": (6.0, 4.0), "C": (5.0, 2.0), "D": (4.5, 0.9)}


def _indegree_pairs(n_pre, n_post, k, rng):
    """Every post neuron gets exactly k distinct pre partners (numpy), as (i, j) arrays."""
    import numpy as np

    keys = rng.random((n_post, n_pre), dtype=np.float32)
    pre = np.argpartition(keys, k - 1, axis=1)[:, :k]
    return pre.ravel(), np.repeat(np.arange(n_post), k)


def stats(times_ms, ids, n_rec=2000, t0=200.0, t1=1200.0):
    """papers.md 3.3 statistics (numpy only; the same definitions as the neurosim example)."""
    import numpy as np

    keep = (ids < n_rec) & (times_ms >= t0) & (times_ms < t1)
    t, i = times_ms[keep], ids[keep]
    rate = t.size / n_rec / ((t1 - t0) * 1e-3)
    order = np.lexsort((t, i))
    t, i = t[order], i[order]
    cvs = []
    for k in np.unique(i):
        s = t[i == k]
        if s.size >= 4:
            isi = np.diff(s)
            cvs.append(isi.std() / isi.mean())
    n_bins = int(round((t1 - t0) / 0.5))
    counts = np.bincount(((t - t0) / 0.5).astype(int), minlength=n_bins)[:n_bins].astype(float)
    sync = counts.std() / counts.mean() if counts.mean() > 0 else float("nan")
    nper = 1024
    step = nper // 2
    segs = np.array([counts[s:s + nper] for s in range(0, counts.size - nper + 1, step)])
    segs = segs - segs.mean(axis=1, keepdims=True)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nper) / nper)
    psd = (np.abs(np.fft.rfft(segs * win, axis=1)) ** 2).mean(axis=0)
    f = np.fft.rfftfreq(nper, 0.5e-3)
    ok = f > 2.0
    peak = float(f[ok][np.argmax(psd[ok])])
    m_bins = int(round(t1 - t0))
    c1 = np.zeros((m_bins, n_rec))
    np.add.at(c1, (((t - t0) / 1.0).astype(int).clip(0, m_bins - 1), i), 1.0)
    ind = c1.var(axis=0).mean()
    chi = float(np.sqrt(c1.mean(axis=1).var() / ind)) if ind > 0 else float("nan")
    return {"rate_rec_hz": rate, "cv_isi": float(np.mean(cvs)) if cvs else float("nan"),
            "pop_std_over_mean": float(sync), "psd_peak_hz": peak, "chi": chi}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Brunel (2000) network in Brian2")
    ap.add_argument("--regime", default="C", choices=sorted(REGIMES))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=1.2, help="simulated seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mode", default="cython", choices=["cython", "cpp_standalone"])
    ap.add_argument("--connectivity", default="probability", choices=["probability", "indegree"])
    ap.add_argument("--cache", default="cold", choices=["cold", "warm"],
                    help="cold: compile in a fresh directory (default); warm: reuse .peers/brian2/cache")
    ap.add_argument("--stats", action="store_true", help="add the papers.md 3.3 statistics (records spikes)")
    args = ap.parse_args(argv)
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    standalone = args.mode == "cpp_standalone"
    C.limit_threads(1, pin=not standalone)  # standalone: pin only the binary, so make may use every core

    with C.quiet_stdout():
        import numpy as np
        import brian2 as b2
        from brian2 import Hz, ms, mV, second

        build = C.Brian2Build(b2, standalone, args.cache)
        b2.defaultclock.dt = 0.1 * ms
        b2.seed(args.seed)
        rng = np.random.default_rng(args.seed)

        g, ratio = REGIMES[args.regime]
        n_e = int(round(10000 * args.scale))
        n_i = int(round(0.25 * n_e))
        n = n_e + n_i
        c_e, c_i = int(round(0.1 * n_e)), int(round(0.1 * n_i))
        J = 100.0 / c_e * mV
        tau, theta, V_r, tau_rp, D = 20 * ms, 20 * mV, 10 * mV, 2 * ms, 1.5 * ms
        nu_thr = theta / (J * c_e * tau)
        nu_ext = ratio * nu_thr

        t0 = time.perf_counter()
        neurons = b2.NeuronGroup(n, "dv/dt = -v/tau : volt (unless refractory)", threshold="v > theta",
                                 reset="v = V_r", refractory=tau_rp, method="exact",
                                 namespace=dict(tau=tau, theta=theta, V_r=V_r))
        exc = b2.Synapses(neurons[:n_e], neurons, on_pre="v_post += J", delay=D)
        inh = b2.Synapses(neurons[n_e:], neurons, on_pre="v_post += -g*J", delay=D, namespace=dict(J=J, g=g))
        if args.connectivity == "probability":
            exc.connect(p=0.1)
            inh.connect(p=0.1)
        else:
            i, j = _indegree_pairs(n_e, n, c_e, rng)
            exc.connect(i=i, j=j)
            i, j = _indegree_pairs(n_i, n, c_i, rng)
            inh.connect(i=i, j=j)
        ext = b2.PoissonInput(neurons, "v", N=c_e, rate=nu_ext, weight=J)
        mon = b2.SpikeMonitor(neurons, record=bool(args.stats))
        net = b2.Network(neurons, exc, inh, ext, mon)

        extra = {}
        if standalone:
            net.run(args.duration * second)
            build_s = time.perf_counter() - t0
            build_dir = build.standalone_dir("brunel")
            t0 = time.perf_counter()
            b2.device.build(directory=build_dir, compile=True, run=False, with_output=False)
            compile_s = time.perf_counter() - t0
            C.limit_threads(1, pin=True)  # the binary inherits this
            t0 = time.perf_counter()
            b2.device.run(directory=build_dir, with_output=False)
            extra["binary_wall_s"] = round(time.perf_counter() - t0, 4)
            run_s = b2.device._last_run_time
            extra["run_s_source"] = "brian2 device._last_run_time (C++ network loop)"
        else:
            build_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            net.run(0 * ms)
            compile_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            net.run(args.duration * second)
            run_s = time.perf_counter() - t0
            extra["run_s_source"] = "perf_counter around net.run(duration)"
        counts = np.asarray(mon.count[:])
        if args.stats:
            extra.update(stats(np.asarray(mon.t / ms), np.asarray(mon.i[:])))
        n_syn = int(len(exc)) + int(len(inh))
        build.cleanup()

    out = {
        "tool": f"brian2-{args.mode}", "workload": f"brunel2000-{args.regime}", "n": n,
        "duration_s": args.duration, "build_s": round(build_s, 4), "compile_s": round(compile_s, 4),
        "run_s": round(float(run_s), 4), "rtf": round(float(run_s) / args.duration, 4),
        "rate_hz": round(float(counts.sum()) / n / args.duration, 3),
        "device": f"cpu ({os.cpu_count()} cores), 1 thread", "version": b2.__version__, "seed": args.seed,
        "scale": args.scale, "connectivity": args.connectivity,
        "n_synapses": n_syn, "load_1min": load, "nu_ext_hz": float(nu_ext / Hz), **extra,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
