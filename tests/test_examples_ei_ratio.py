"""examples/frompapers/EI_ratio_1f.py --quick: runs, writes its figure and JSON, and every
check passes (the aperiodic exponent of the LFP proxy rises with g_I/g_E and matches theory in
the Poisson-driven model; the recurrent COBA sweep is active, finite and moves g_I/g_E)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "frompapers" / "EI_ratio_1f.py"

EXPECTED_CHECKS = {
    "input model: Spearman(g_I/g_E, chi 20-80 Hz, LFP at -65 mV)",
    "input model: chi(g_I/g_E = 12) - chi(0.75), 20-80 Hz",
    "input model: mean |chi - chi_theory|, 20-80 Hz",
    "input model: cells active at every ratio (min rate, Hz)",
    "recurrent COBA: every network active (min E rate, Hz)",
    "recurrent COBA: rates finite (max rate, Hz)",
    "recurrent COBA: measured g_I/g_E follows the inhibitory scale (Spearman)",
}


@pytest.mark.slow
def test_ei_ratio_1f_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"exit code {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    png, report = tmp_path / "EI_ratio_1f.png", tmp_path / "EI_ratio_1f.json"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(report.read_text())
    assert "Gao" in data["paper"] and "Mazzoni" in data["paper"]
    assert data["runtime_s"] > 0 and data["quick"] is True
    checks = data["checks"]
    for c in checks:
        assert set(c) >= {"name", "value", "target", "ok"}, c
    names = [c["name"] for c in checks]
    assert len(names) == len(set(names)), f"repeated check names: {names}"
    assert set(names) == EXPECTED_CHECKS
    failed = [c for c in checks if c["ok"] is not True]
    assert not failed, f"failed checks: {failed}"
    rows = data["input_model"]["rows"]
    assert len(rows) == 8 and len(data["recurrent_coba"]["rows"]) == 8
    chi = [r["chi_lfp_hold"] for r in rows]
    assert chi[-1] > chi[0]
