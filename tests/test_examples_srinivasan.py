"""examples/frompapers/Srinivasan_2025.py --quick: runs, writes its figure and JSON, and every check
passes (memory capacity against the global E/I balance and after local adaptation; the targets
of the reconstruction in docs/papers.md section 8)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "seed 0: fraction of units within 0.03 of their target (worst of 4 runs)",
    "seed 0: MC from g0 = 0.25 vs 3.0 (difference)", "seed 0: MC adapted (rho = 0.2) vs best global MC",
    "seed 0: MC adapted / MC at g = 0.25", "seed 0: min MC at g in [1, 2] vs MC at g = 0.25",
}


@pytest.mark.slow
def test_srinivasan_2025_quick(tmp_path):
    data = run_quick("Srinivasan_2025", tmp_path, EXPECTED_CHECKS, paper_word="Srinivasan")
    assert data["quick"] is True and data["seeds"] == [0]
