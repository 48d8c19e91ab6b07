"""examples/frompapers/Vogels_Abbott_2005.py --quick: runs, writes its figure and JSON, and every
check passes (CUBA rates and ISI CV; self-sustained COBA after kicks (a) and (b); targets from
papers.md 2.4); and the builder's NEST-style Poisson kick."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurosim.builders import coba

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "frompapers" / "Vogels_Abbott_2005.py"

EXPECTED_CHECKS = {
    "CUBA E rate 200-1000 ms (Hz)", "CUBA I rate 200-1000 ms (Hz)", "CUBA mean ISI CV",
    *(
        f"{v} {what}"
        for v in ("COBA(a)", "COBA(b)")
        for what in (
            "E rate 200-1000 ms (Hz)", "I rate 200-1000 ms (Hz)", "mean ISI CV",
            "self-sustained: rate 200-1000 / rate 0-1000 ms",
            "persists: rate 900-1000 / rate 200-1000 ms (min over seeds)",
        )
    ),
}


@pytest.mark.slow
def test_vogels_abbott_2005_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"exit code {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    png, report = tmp_path / "Vogels_Abbott_2005.png", tmp_path / "Vogels_Abbott_2005.json"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.is_file()
    data = json.loads(report.read_text())
    assert "Vogels" in data["paper"] and "Brette" in data["paper"]
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


def test_coba_poisson_kick_is_nest_stimulus():
    """kick="poisson": 50 E neurons, each an independent ~300 Hz train inside [1, 51) ms, 6 nS."""
    net = coba(4000, seed=3, background_pa=0.0, kick="poisson")
    assert [p.name for p in net.populations] == ["neurons", "kick"]
    assert not net.inputs
    src = net.population("kick").model
    assert net.population("kick").n == 50
    times, ids = src.times_ms, src.ids
    assert times.min() >= 1.0 and times.max() < 51.0
    assert set(ids.tolist()) <= set(range(50))
    rate = times.size / (50 * 50e-3)  # spikes / (neurons x 50 ms)
    assert 250.0 < rate < 350.0, rate
    kick = next(pr for pr in net.projections if pr.name == "kick_syn")
    assert kick.post == ("neurons", 0, 50) and float(kick.weights) == 6.0
    np.testing.assert_array_equal(np.asarray(kick.conn.indices), np.arange(50))
    # the speed benchmark's network is unchanged: one population, 200 pA background, no kick
    bench = coba(4000, seed=1, p=0.02)
    assert [p.name for p in bench.populations] == ["neurons"]
    assert [i.name for i in bench.inputs] == ["background"]
    assert bench.inputs[0].params.amplitude == 200.0


def test_coba_rejects_unknown_kick():
    with pytest.raises(ValueError, match="kick must be None, 'conductance' or 'poisson'"):
        coba(100, kick="nest")
