"""examples/sweep_brunel.py --quick: Brunel's phase diagram by ns.sweep; every check passes
(regular and synchronous when excitation dominates, irregular and slower when inhibition does,
faster with more drive)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "CV at g <= 3 (max over drives)", "CV at g >= 5 (min over drives)",
    "rate at g = 3 / rate at g = 5 (min over drives)", "synchrony at g = 3 minus at g = 5 (min over drives)",
    "rate grows with the drive at g >= 5 (smallest step, Hz)",
}


@pytest.mark.slow
def test_sweep_brunel_quick(tmp_path):
    data = run_quick("sweep_brunel", tmp_path, EXPECTED_CHECKS, paper_word="Brunel", folder=None)
    assert data["quick"] is True and data["g"] == [3.0, 5.0, 6.0]
