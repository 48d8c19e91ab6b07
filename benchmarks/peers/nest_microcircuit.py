"""The cortical microcircuit (Potjans & Diesmann 2014) in NEST, built from the network neurosim
built: the same neurons, connectivity, weights and delays, synapse by synapse, in NEST's terms.

    .peers/nest/bin/python benchmarks/peers/nest_microcircuit.py --network NET.npz --duration 1 \
        --spikes OUT.npz [--threads 1] [--seed 1]

``benchmarks/microcircuit.py --tools nest`` writes ``NET.npz`` (with
``neurosim.builders.microcircuit``) and runs this script in the NEST environment
(``bash benchmarks/peers/install.sh nest``). What the file holds, per population ``p``: its size,
the neuron parameters, the mean and spread of the initial membrane potential, a DC current, and
the Poisson background (number of sources, rate, weight); per projection ``k``: source and
target population, and each synapse's presynaptic and postsynaptic index, weight (pA) and delay
(ms, whole steps); ``weight_factor``, by which every weight is multiplied here: NEST integrates
the synaptic current exactly, neurosim holds it at its step-start value, and the model fixes
the PSP (0.15 mV), not the current.

**Delays, in NEST's terms.** neurosim (as Brian2) times a spike at the start of the step in
which the threshold is crossed and counts its delay from there: a delay of one step acts on the
next step's current. NEST times it at the end of that step and counts from there, so the same
``delay_ms`` arrives one step later in NEST. Each synapse is therefore given ``delay - dt`` here,
and ``dt`` (NEST's minimum) where that is shorter: those synapses (the JSON's
``delays_one_step_longer``, a few percent) arrive one step later than in neurosim.

In NEST: ``iaf_psc_exp`` neurons (the synaptic current integrated exactly, where neurosim's step
holds it at its step-start value), one ``poisson_generator`` per population at ``n_sources x
rate`` (NEST sends every target its own train), connected with the excitatory weight and the
smallest delay; ``I_e`` the DC current; the recurrent synapses by ``nest.Connect(pre, post,
"one_to_one")`` on arrays of node ids with their weights and delays (multapses allowed, as the
arrays may repeat a pair). What differs from the neurosim run: the random numbers (initial
potentials, Poisson trains), and the delays of one step (above).

Prints one JSON line: ``build_s`` (Create + Connect), ``compile_s`` (``nest.Prepare()``, NEST
compiles nothing), ``run_s`` (``nest.Run``), ``rtf``, the spike count, the synapse count,
``events_per_s_per_core`` (spikes x fan-out delivered per second of ``run_s`` per thread) and
``peak_rss_mb`` (the process's peak resident memory, the network file's arrays included).
Writes every population's spike times (ms) and neuron indices to ``--spikes``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", required=True, help="the network, as benchmarks/microcircuit.py writes it")
    ap.add_argument("--spikes", required=True, help="where to write the spikes (npz)")
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    C.limit_threads(args.threads, pin=True)
    import numpy as np

    f = np.load(args.network)
    dt, factor = float(f["dt"]), float(f["weight_factor"])
    names = [str(x) for x in f["populations"]]
    with C.quiet_stdout():
        nest = C.nest_kernel(dt, args.threads, args.seed)
        t0 = C.now()
        pops, recs = [], []
        for k, name in enumerate(names):
            p = f[f"neuron {k}"]      # c_m, tau_m, e_l, v_reset, v_th, t_ref, tau_syn, i_dc
            pop = nest.Create("iaf_psc_exp", int(f["sizes"][k]), params={
                "C_m": float(p[0]), "tau_m": float(p[1]), "E_L": float(p[2]), "V_reset": float(p[3]),
                "V_th": float(p[4]), "t_ref": float(p[5]), "tau_syn_ex": float(p[6]), "tau_syn_in": float(p[6]),
                "I_e": float(p[7])})
            pop.V_m = nest.random.normal(mean=float(f["v0_mean"][k]), std=float(f["v0_std"][k]))
            n_src, rate, w = (float(x) for x in f[f"background {k}"])
            if n_src > 0:
                gen = nest.Create("poisson_generator", params={"rate": n_src * rate})
                nest.Connect(gen, pop, "all_to_all", {"weight": w * factor, "delay": dt})
            rec = nest.Create("spike_recorder")
            nest.Connect(pop, rec)
            pops.append(pop)
            recs.append(rec)
        first = np.array([pop[0].global_id for pop in pops], np.int64)
        n_syn, longer = 0, 0
        fan_out = [np.zeros(int(n)) for n in f["sizes"]]
        # one copy of static_synapse per source population: NEST holds at most 134,217,726
        # connections per virtual process and synapse model (the full model's 0.3e9 synapses
        # on two threads exceed one model's limit)
        for name in names:
            nest.CopyModel("static_synapse", f"static from {name}")
        for k in range(int(f["n_projections"])):
            src, tgt = (int(x) for x in f[f"projection {k}"])
            pre, post = f[f"pre {k}"].astype(np.int64), f[f"post {k}"].astype(np.int64)
            delay = f[f"delay {k}"].astype(np.float64) - dt          # NEST counts from the step's end
            longer += int(np.sum(delay < dt - 1e-9))
            delay = np.maximum(np.round(delay / dt), 1.0) * dt
            nest.Connect(pre + first[src], post + first[tgt], "one_to_one",
                         {"synapse_model": f"static from {names[src]}", "weight": f[f"weight {k}"].astype(np.float64) * factor,
                          "delay": delay})
            n_syn += pre.size
            fan_out[src] += np.bincount(pre, minlength=fan_out[src].size)
        build_s = C.now() - t0
        compile_s, run_s = C.nest_run(nest, args.duration)
        out, n_spikes, events = {}, 0, 0.0
        for k, (pop, rec) in enumerate(zip(pops, recs)):
            ev = rec.get("events")
            ids = np.asarray(ev["senders"], np.int64) - first[k]
            out[f"times {k}"] = np.asarray(ev["times"], np.float64)
            out[f"ids {k}"] = ids
            n_spikes += ids.size
            events += float(fan_out[k][ids].sum())
        np.savez(args.spikes, **out)
    n = int(np.sum(f["sizes"]))
    print(json.dumps({
        "tool": "nest", "workload": "microcircuit", "scale": float(f["scale"]), "neurons": n, "synapses": int(n_syn),
        "duration_s": args.duration, "threads": args.threads, "build_s": round(build_s, 2),
        "compile_s": round(compile_s, 3), "run_s": round(run_s, 3), "rtf": round(run_s / args.duration, 3),
        "rate_hz": round(n_spikes / n / args.duration, 3),
        "events_per_s_per_core": round(events / run_s / args.threads),
        "delays_one_step_longer": round(longer / max(n_syn, 1), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1),
        "version": f"NEST {nest.__version__}", "device": C.cpu_device(), "load_1min": C.load_1min()}), flush=True)


if __name__ == "__main__":
    main()
