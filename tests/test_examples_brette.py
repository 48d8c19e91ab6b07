"""examples/frompapers/Brette_2007.py --quick: Brian2's COBAHH example, pasted as model strings,
runs (4000 Hodgkin-Huxley cells, 300 ms) on the native engine, writes its figure and JSON, and
the network is active and irregular. The full run's checks against Brian2's own statistics are
the example's (run by hand and in the gallery: docs/papers.md)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {"excitatory rate (Hz)", "inhibitory rate (Hz)", "mean ISI CV"}


@pytest.mark.slow
def test_brette_2007_cobahh_quick(tmp_path):
    data = run_quick("Brette_2007", tmp_path, EXPECTED_CHECKS, paper_word="Brette")
    assert data["timings"]["engine"] == "native"
    assert set(data["brian2_reference"]) == {"rate_e_hz", "rate_i_hz", "cv_isi_mean", "frac_firing"}
    assert 0.5 < data["statistics"]["frac_firing"] <= 1.0
