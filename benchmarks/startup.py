"""Fixed costs: ``import neurosim`` and a network's first ``simulate``, in new processes.

    .venv/bin/python benchmarks/startup.py [--workloads brunel,coba] [--repeat 3] [--out DIR]

Each measurement is a new Python process pinned to one core, timing CPU seconds
(``time.process_time``): ``import jax``, then ``import neurosim`` (what neurosim adds), building
the network, and its first ``simulate`` of 10 ms with a ``Rate`` monitor (compilation included),
then a second one. Workloads: ``brunel`` (``builders.brunel2000("C", scale=0.1)``, 1,250 cells,
Poisson input) and ``coba`` (``builders.vogels_abbott.coba(4000)``). ``cache``: ``cold`` is an
empty JAX compilation cache directory (``NEUROSIM_JAX_CACHE`` set to a new one: what a fresh
machine sees), ``warm`` the same directory again (what every later process sees), ``off``
``NEUROSIM_JAX_CACHE=0``. One JSON line per (workload, cache, run):
``{"tool": "neurosim", "workload", "cache", "import_jax_s", "import_neurosim_s", "build_s",
"first_simulate_s", "second_simulate_s", "compiled_programs"}``; then a summary line per
(workload, cache) with min and median. With ``--out DIR`` the lines are appended to
``DIR/startup.json`` and the summaries drawn in ``DIR/startup.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


CHILD = r"""
import json, logging, sys, time
t0 = time.process_time()
import jax
t1 = time.process_time()
import neurosim as ns
t2 = time.process_time()
compiled = []
class Count(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("Compiling "):
            compiled.append(1)
logging.getLogger("jax").addHandler(Count())
logging.getLogger("jax").setLevel(logging.DEBUG)
jax.config.update("jax_log_compiles", True)
if sys.argv[1] == "brunel":
    from neurosim.builders import brunel2000
    net = brunel2000("C", scale=0.1)
else:
    from neurosim.builders.vogels_abbott import coba
    net = coba(4000)
t3 = time.process_time()
monitors = [ns.Rate(sorted(net._pops)[0])]
ns.simulate(net, 10.0, 0.1, monitors=monitors)
t4 = time.process_time()
ns.simulate(net, 10.0, 0.1, monitors=monitors)
t5 = time.process_time()
print(json.dumps({"import_jax_s": t1 - t0, "import_neurosim_s": t2 - t1, "build_s": t3 - t2,
                  "first_simulate_s": t4 - t3, "second_simulate_s": t5 - t4, "compiled_programs": len(compiled)}))
"""


def child(workload: str, cache: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["NEUROSIM_JAX_CACHE"] = cache or "0"
    cmd = [sys.executable, "-c", CHILD, workload]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", str(min(os.sched_getaffinity(0))), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def plot(summaries, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({d["workload"] for d in summaries})
    caches = ("off", "cold", "warm")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k, cache in enumerate(caches):
        values = [next((d["first_simulate_median_s"] for d in summaries if d["workload"] == w and d["cache"] == cache), 0)
                  for w in workloads]
        ax.bar([j + 0.27 * (k - 1) for j in range(len(workloads))], values, width=0.27, label=f"cache {cache}")
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set(ylabel="first simulate, CPU (s)", title="A network's first simulate in a new process (median; lower is faster)")
    ax.title.set_fontsize(9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="brunel,coba")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    lines = []
    for workload in a.workloads.split(","):
        rows = {"cold": [], "warm": [], "off": []}
        for _ in range(a.repeat):
            with tempfile.TemporaryDirectory(prefix="neurosim-jax-cache-") as where:
                for cache, directory in (("off", None), ("cold", where), ("warm", where)):
                    line = {"tool": "neurosim", "workload": workload, "cache": cache, **child(workload, directory)}
                    rows[cache].append(line)
                    print(json.dumps(line), flush=True)
                    lines.append(line)
        for cache, got in rows.items():
            ok = [r for r in got if "error" not in r]
            if not ok:
                continue
            summary = {"tool": "neurosim", "workload": workload, "cache": cache, "runs": len(ok)}
            for key in ("import_neurosim_s", "first_simulate_s"):
                values = [r[key] for r in ok]
                summary[f"{key[:-2]}_min_s"] = round(min(values), 3)
                summary[f"{key[:-2]}_median_s"] = round(statistics.median(values), 3)
            summary["compiled_programs"] = ok[0]["compiled_programs"]
            print(json.dumps(summary), flush=True)
            lines.append(summary)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "startup.json"), "a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
        plot([line for line in lines if "runs" in line], os.path.join(a.out, "startup.png"))


if __name__ == "__main__":
    main()
