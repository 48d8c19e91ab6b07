"""`neurosim demo`, the main job of `make demo`: it runs, writes its figure and summary, and
refuses bad arguments with a message."""
import json
import subprocess
import sys

import pytest

from paper_examples import ROOT

KEYS = {"rate_e_hz", "rate_i_hz", "cv_isi_e", "build_s", "compile_s", "run_s", "rtf", "device"}


def _demo(*args):
    return subprocess.run([sys.executable, "-m", "neurosim", "demo", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_demo_writes_raster_and_summary(tmp_path):
    proc = _demo("--out", str(tmp_path), "--duration", "0.3s", "--n", "1000", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert KEYS <= set(summary)
    assert summary["n"] == 1000 and summary["duration_s"] == 0.3
    # the 200 pA background alone drives a cell to ~50 Hz; recurrent inhibition keeps it lower
    assert 5.0 < summary["rate_e_hz"] < 60.0 and 5.0 < summary["rate_i_hz"] < 60.0
    assert summary["rtf"] == pytest.approx(summary["run_s"] / 0.3)
    assert (tmp_path / "raster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "real-time factor" in proc.stdout


def test_demo_same_seed_same_rates(tmp_path):
    a = _demo("--out", str(tmp_path / "a"), "--duration", "100ms", "--n", "500")
    b = _demo("--out", str(tmp_path / "b"), "--duration", "100", "--n", "500")     # bare numbers are ms
    assert a.returncode == 0 and b.returncode == 0
    ra = json.loads((tmp_path / "a" / "summary.json").read_text())
    rb = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert (ra["rate_e_hz"], ra["rate_i_hz"]) == (rb["rate_e_hz"], rb["rate_i_hz"])


@pytest.mark.parametrize("args, message", [
    (("--duration", "-1"), "--duration: must be a positive time, got '-1' = -1 ms"),
    (("--duration", "1 h"), "--duration: expected a time such as 1s, 500ms or 250 (ms), got '1 h'"),
    (("--n", "2"), "--n: must be between 10 and 2,000,000 neurons, got 2"),
    (("--n", "1e8"), "--n: expected a whole number of neurons, got '1e8'"),
    (("--n", "100000000"), "--n: must be between 10 and 2,000,000 neurons, got 100,000,000"),
    (("--out", "/dev/null/x", "--n", "100", "--duration", "1ms"), "--out '/dev/null/x': cannot write there"),
])
def test_demo_rejects_bad_arguments(tmp_path, args, message):
    if "--out" not in args:
        args = ("--out", str(tmp_path), *args)
    proc = _demo(*args)
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_duration_units():
    from neurosim.cli import duration_ms

    assert duration_ms("1s") == 1000.0 and duration_ms("500ms") == 500.0 and duration_ms("250") == 250.0
    assert duration_ms("1.5 s") == 1500.0 and duration_ms("2e2ms") == 200.0


def test_info_lists_every_kernel_source_and_its_state(capsys):
    from neurosim import _build
    from neurosim.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("neurosim ")
    for src in sorted((_build.KERNELS / "cpu").glob("*.cc")):
        line = next(ln for ln in out.splitlines() if ln.split()[:2] == [src.stem, "cpu"])
        built = _build.library_path(src.stem, "cpu").exists()
        assert ("built" in line) == built and ("missing" in line) == (not built)


def test_demo_figure_axes_name_their_units_and_the_rate_range_skips_the_start():
    from neurosim.demo import raster_figure, run_coba

    s = run_coba(n=500, duration_s=0.2, seed=0, record=True)
    times, ids, n_e = s["_spikes"]
    fig = raster_figure(times, ids, n_e, 500, 0.2, s["rate_e_hz"], s["rate_i_hz"])
    ax_raster, ax_rate = fig.axes
    assert ax_raster.get_ylabel() == "neuron index"
    assert sorted(t.get_text() for t in ax_raster.texts) == ["E", "I"]          # the bands, named
    assert ax_raster.get_ylim() == (-0.5, 499.5)
    assert ax_rate.get_xlabel() == "time (ms)" and ax_rate.get_ylabel() == "population rate (Hz)"
    peak = max(line.get_ydata().max() for line in ax_rate.lines)
    bottom, top = ax_rate.get_ylim()
    # the synchronous start from rest is far above the steady rates: clipped, and said so
    assert bottom == 0.0 and top < peak
    assert any(t.get_text().startswith("first 50 ms clipped: peak") for t in ax_rate.texts)
