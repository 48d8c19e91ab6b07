"""examples/frompapers/De_Pitta_2009.py --quick: runs, writes its figure and JSON, and every check
passes (astrocyte calcium AM/FM targets from papers.md 11.1)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "AM: period at IP3 = 0.5 uM (s)", "AM: peak C at IP3 = 0.5 uM (uM)", "AM: stationary C at IP3 = 0.3 uM (uM)",
    "AM: stationary C at IP3 = 0.8 uM (uM)", "AM: oscillation window (uM)", "AM: peak C range across the window (uM)",
    "FM: oscillation window (uM)", "FM: period at IP3 = 0.55 uM (s)", "FM: period at IP3 = 0.7 uM (s)",
    "FM: period at IP3 = 0.9 uM (s)", "FM: period at IP3 = 1.1 uM (s)",
    "FM: frequency increases with IP3 over 0.54-1.05 uM", "FM: peak C across the window (uM)",
}


@pytest.mark.slow
def test_de_pitta_2009_quick(tmp_path):
    data = run_quick("De_Pitta_2009", tmp_path, EXPECTED_CHECKS, paper_word="De Pitta")
    assert data["quick"] is True and data["duration_s"] == 400.0
