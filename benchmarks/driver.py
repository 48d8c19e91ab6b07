"""What every benchmark orchestrator shares: run one tool in its own process and read back the
one JSON line it prints. A tool that is missing, fails or times out becomes a JSON line with an
``"error"`` field, so one broken peer never stops a comparison."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_DIR = os.path.join(ROOT, ".peers")


def peer_python(venv: str):
    """The python of a peer's venv under .peers/, or None when it is not installed."""
    python = os.path.join(PEERS_DIR, venv, "bin", "python")
    return python if os.path.exists(python) else None


def last_json_line(text: str):
    for ln in reversed(text.splitlines()):
        ln = ln.strip()
        if ln.startswith("{"):
            try:
                return json.loads(ln)
            except json.JSONDecodeError:
                continue
    return None


def run_json(cmd: list, base: dict, *, timeout: float, verbose: bool = False, peer: bool = False) -> dict:
    """Run ``cmd``; return its last JSON line with ``wall_s`` added, or ``base`` plus an error.
    ``peer``: the command runs in a peer's venv, which must not see this project's packages."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if peer:
        env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**base, "error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - t0
    if verbose and proc.stderr:
        sys.stderr.write(proc.stderr)
    line = last_json_line(proc.stdout)
    if proc.returncode != 0 or line is None:
        tail = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
        reason = tail[-1] if tail else f"no JSON line on stdout (exit {proc.returncode})"
        return {**base, "error": f"exit {proc.returncode}: {reason[:400]}"}
    for k, v in base.items():
        line.setdefault(k, v)
    line["wall_s"] = round(wall, 2)
    return line


def expand_tools(tools: str, known) -> list:
    """``--tools`` as a list of runner names: ``brian2`` means both Brian2 modes; neurosim
    first, so that every peer's line can carry its ratio to neurosim."""
    out = []
    for t in tools.split(","):
        t = t.strip()
        if t == "brian2":
            out += ["brian2-cpp_standalone", "brian2-cython"]
        elif t in known:
            out.append(t)
        else:
            raise SystemExit(f"unknown tool {t!r}; choose from neurosim, brian2, {', '.join(k for k in known if k != 'neurosim')}")
    if "neurosim" in out:
        out.remove("neurosim")
        out.insert(0, "neurosim")
    return out


def workload_parser(description: str, workloads) -> argparse.ArgumentParser:
    """The options every workload orchestrator takes (``--workload``, ``--tools``,
    ``--duration``, ``--seed``, ``--timeout``, ``--out``)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--workload", required=True, choices=sorted(workloads))
    ap.add_argument("--tools", default="neurosim,brian2")
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds (default per workload)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--out", default=None)
    return ap


def save_lines(out_dir: str, name: str, lines: list, plot) -> None:
    """Append ``lines`` to ``out_dir/name.json`` and redraw ``out_dir/name.png`` with
    ``plot(lines, path)`` from the latest line of every (tool, workload) measured into the file."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.json")
    with open(path, "a") as f:
        for ln in lines:
            f.write(json.dumps(ln) + "\n")
    with open(path) as f:
        latest = {(d["tool"], d["workload"]): d for d in map(json.loads, f) if "workload" in d}
    plot(list(latest.values()), os.path.join(out_dir, f"{name}.png"))
