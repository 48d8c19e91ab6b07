"""examples/frompapers/Maass_2002.py --quick: runs, writes its figure and JSON, and every check
passes (separation targets (i)-(iv) of papers.md 6.1 and the readout's accuracy)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "frompapers" / "Maass_2002.py"

EXPECTED_CHECKS = {
    "(i) 100-500 ms mean state distance, d = 0.4",
    "(i) 100-500 ms mean state distance, d = 0.2",
    "(i) 100-500 ms mean state distance, d = 0.1",
    "(ii) state distance at 100 ms, d = 0",
    "(ii) 100-500 ms mean state distance, d = 0",
    "(iii) mean(d = 0.4) / mean(d = 0.1), 100-500 ms",
    "(iv) 100-500 ms mean, d = 0.4 / Brian2 MEAS 0.79",
    "(iv) 100-500 ms mean, d = 0.2 / Brian2 MEAS 0.55",
    "(iv) 100-500 ms mean, d = 0.1 / Brian2 MEAS 0.39",
    "readout test accuracy, mean over 100-500 ms (chance 0.5)",
}


@pytest.mark.slow
def test_maass_2002_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"exit code {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    png, report = tmp_path / "Maass_2002.png", tmp_path / "Maass_2002.json"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(report.read_text())
    assert "Maass" in data["paper"]
    assert data["runtime_s"] > 0
    checks = data["checks"]
    for c in checks:
        assert set(c) >= {"name", "value", "target", "ok"}, c
    names = [c["name"] for c in checks]
    assert len(names) == len(set(names)), f"repeated check names: {names}"
    assert set(names) == EXPECTED_CHECKS
    failed = [c for c in checks if c["ok"] is not True]
    assert not failed, f"failed checks: {failed}"
    # the separation curves are ordered as in the paper's Fig. 2 and the readout beats chance
    means = data["mean_state_distance_100_500ms"]
    assert means["0.4"] > means["0.2"] > means["0.1"] > means["0.0"]
    assert data["n_pairs_per_distance"] >= 30
