"""examples/frompapers/Izhikevich_2003.py --quick: runs, writes its figure and JSON, and every
check passes (Fig. 2 cell types, Fig. 3 network statistics; targets from papers.md 1)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "frompapers" / "Izhikevich_2003.py"

EXPECTED_CHECKS = {
    "RS spike count", "RS adaptation ISI_last/ISI_first", "RS min ISI (ms)",
    "IB spike count", "IB burst ISIs < 10 ms (all leading)",
    "CH fraction of ISIs < 10 ms", "CH max ISI (ms)",
    "FS spike count", "FS fraction of ISIs < 10 ms", "FS ISI_last/ISI_first",
    "LTS spike count", "LTS adaptation ISI_last/ISI_first",
    "TC silent while hyperpolarised (spikes)", "TC rebound spikes within 30 ms of release",
    "TC tonic spike count (I = 1.5)", "TC tonic first spike (ms)",
    "RZ rest (mV)", "RZ spikes (subthreshold pulse)", "RZ damped oscillation period (ms)",
    "net E rate (Hz)", "net I rate (Hz)", "net E mean ISI CV (> 5 spikes)",
    "net E PSD peak in 6-14 Hz (Hz)", "net E PSD alpha peak / median (4-100 Hz)",
    "net E PSD peak in 25-60 Hz (Hz)", "net E PSD gamma peak / median (4-100 Hz)",
}


@pytest.mark.slow
def test_izhikevich_2003_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"exit code {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    png, report = tmp_path / "Izhikevich_2003.png", tmp_path / "Izhikevich_2003.json"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.is_file()
    data = json.loads(report.read_text())
    assert "Izhikevich" in data["paper"]
    assert data["runtime_s"] > 0
    checks = data["checks"]
    assert checks, "the checks list is empty"
    for c in checks:
        assert set(c) >= {"name", "value", "target", "ok"}, c
    names = [c["name"] for c in checks]
    assert len(names) == len(set(names)), f"repeated check names: {names}"
    assert set(names) == EXPECTED_CHECKS
    failed = [c for c in checks if c["ok"] is not True]
    assert not failed, f"failed checks: {failed}"
