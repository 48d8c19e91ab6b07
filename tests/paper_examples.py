"""Shared harness for the tests that run ``examples/frompapers/NAME.py --quick``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_quick(name: str, tmp_path, expected_names=None, paper_word=None, timeout=900, folder="frompapers",
              args=()) -> dict:
    """Run the example's --quick form (with ``args`` too); assert it exits 0 and wrote a PNG and a
    well-formed JSON whose checks all pass (and are exactly ``expected_names`` when given).
    Returns the report."""
    script = ROOT / "examples" / folder / f"{name}.py" if folder else ROOT / "examples" / f"{name}.py"
    proc = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--quick", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"exit code {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    png, report = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no PNG written"
    data = json.loads(report.read_text())
    assert data["runtime_s"] > 0
    if paper_word:
        assert paper_word in data["paper"]
    checks = data["checks"]
    assert checks, "the checks list is empty"
    for c in checks:
        assert set(c) >= {"name", "value", "target", "ok"}, c
    names = [c["name"] for c in checks]
    if expected_names is not None:
        assert set(names) == set(expected_names), (set(names) ^ set(expected_names))
    failed = [c for c in checks if not c["ok"]]
    assert not failed, f"failed checks: {failed}"
    return data
