"""examples/frompapers/Bellec_2020.py --quick: runs, writes its figure and JSON, and every check
passes (pattern generation by e-prop and by BPTT; e-prop's memory flat in the duration)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "e-prop: normalised error", "BPTT: normalised error", "e-prop error / BPTT error", "e-prop memory, 2 s / 1 s",
    "BPTT memory, 2 s / 1 s", "e-prop: rate after training (Hz)",
}


@pytest.mark.slow
def test_bellec_2020_quick(tmp_path):
    data = run_quick("Bellec_2020", tmp_path, EXPECTED_CHECKS, paper_word="Bellec")
    assert data["quick"] is True and data["iterations"] == 50
