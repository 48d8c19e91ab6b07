"""examples/frompapers/Brunel_2000.py --quick: runs (0.2-scale network, the four states),
writes its figure and JSON in the convention of the paper examples, and every check of
papers.md 3.3's scaled-down targets passes; plus its statistics on synthetic spike trains."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from paper_examples import run_quick

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "frompapers" / "Brunel_2000.py"

EXPECTED_QUICK = {
    "mean-field rate of C (Hz)", "A rate (Hz)", "A ISI CV", "B PSD peak, 200-5200 ms (Hz)", "B ISI CV",
    "C ISI CV", "rate D / rate C",
}


def load_example():
    spec = importlib.util.spec_from_file_location("brunel_2000_example", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_brunel_2000_quick(tmp_path):
    data = run_quick("Brunel_2000", tmp_path, EXPECTED_QUICK, paper_word="Brunel")
    assert data["quick"] is True and data["scale"] == 0.2
    assert set(data["per_regime"]) == {"A", "B", "C", "D"}


def test_statistics_on_synthetic_trains():
    ex = load_example()
    rng = np.random.default_rng(0)
    # 2000 independent Poisson neurons at 40 Hz over 0-1200 ms, plus neurons past N_REC that
    # the statistics must ignore
    n, rate, t_end = 2000, 40.0, 1200.0
    counts = rng.poisson(rate * t_end * 1e-3, n)
    ids = np.repeat(np.arange(n), counts)
    times = rng.uniform(0.0, t_end, ids.size)
    extra_t, extra_i = rng.uniform(0, t_end, 5000), np.full(5000, n + 3)
    s = ex.regime_stats(np.concatenate([times, extra_t]), np.concatenate([ids, extra_i]))
    assert s["rate_hz"] == pytest.approx(rate, rel=0.02)
    assert s["cv_isi"] == pytest.approx(1.0, abs=0.05)          # Poisson
    # std/mean of the count in 0.5 ms bins: 1 / sqrt(n rate 0.5 ms) = 0.158 for independent neurons
    assert s["pop_std_over_mean"] == pytest.approx(1 / np.sqrt(n * rate * 0.5e-3), rel=0.05)
    assert s["chi"] < 0.05                                       # ~1 / sqrt(n)
    # a population oscillating at 180 Hz: the PSD peak finds it
    t = np.arange(0.0, t_end, 0.1)
    p = 0.002 * (1 + 0.9 * np.sin(2 * np.pi * 180.0 * t * 1e-3))
    hit = rng.random((t.size, 300)) < p[:, None]
    k, i = np.nonzero(hit)
    assert abs(ex.regime_stats(t[k], i)["psd_peak_hz"] - 180.0) <= 2.0
