"""The report every paper example writes: checks with targets, as JSON, and a printed summary.

    checks = [check("E rate (Hz)", 7.4, "6-9", 6 <= 7.4 <= 9), ...]
    code = finish(out_dir, "Izhikevich_2003", paper, checks, t0, quick=True)

``finish`` writes ``out_dir/NAME.json`` = ``{"paper", "checks": [{"name", "value", "target",
"ok"}], "runtime_s", "engines", ...extra}`` (``engines``: how many ``simulate`` runs each engine
ran in this process, :func:`neurosim.engines.used`), prints one line per check and returns the exit code
(1 when any check failed), so a script ends with ``sys.exit(main())``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np


def check(name: str, value, target: str, ok) -> dict:
    """One check: a measured ``value``, the ``target`` in words, and whether it holds."""
    return {"name": name, "value": _plain(value), "target": str(target), "ok": bool(ok)}


def _plain(x):
    """JSON-safe value: numpy scalars and arrays to Python, NaN/inf to None, recursively."""
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    return x


def finish(out_dir, name: str, paper: str, checks: list, t0: float, **extra) -> int:
    """Write the JSON report, print the summary, return 0 if every check passed else 1."""
    report = {"paper": paper, "checks": checks, "runtime_s": time.perf_counter() - t0, **extra}
    return write(out_dir, name, report)


def write(out_dir, name: str, report: dict) -> int:
    """Write a ready ``report`` dict (``paper``, ``checks``, ``runtime_s``, extras) as JSON, print
    the summary, return the exit code."""
    from .engines import used

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = _plain({**report, "engines": report.get("engines", used())})
    checks, runtime = report["checks"], report["runtime_s"]
    (out_dir / f"{name}.json").write_text(json.dumps(report, indent=2))
    width = max((len(c["name"]) for c in checks), default=0)
    for c in checks:
        v = c["value"]
        shown = "nan" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
        print(f"  [{'ok' if c['ok'] else 'FAIL'}] {c['name']:<{width}}  {shown:>10}   target {c['target']}")
    n_fail = sum(not c["ok"] for c in checks)
    engines = ", ".join(f"{e} x{k}" for e, k in report["engines"].items()) or "none (ns.run / training only)"
    print(f"{name}: {len(checks) - n_fail}/{len(checks)} checks passed in {runtime:.1f} s -> {out_dir} "
          f"(simulate's engines: {engines})")
    return 1 if n_fail or not checks else 0
