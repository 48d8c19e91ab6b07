"""examples/frompapers/Maass_2002.py --quick: runs, writes its figure and JSON, and every check
passes (separation targets (i)-(iv) of papers.md 6.1 and the readout's accuracy)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "(i) 100-500 ms mean state distance, d = 0.4",
    "(i) 100-500 ms mean state distance, d = 0.2",
    "(i) 100-500 ms mean state distance, d = 0.1",
    "(ii) state distance at 100 ms, d = 0",
    "(ii) 100-500 ms mean state distance, d = 0",
    "(iii) mean(d = 0.4) / mean(d = 0.1), 100-500 ms",
    "(iv) 100-500 ms mean, d = 0.4 / Brian2 MEAS 0.79",
    "(iv) 100-500 ms mean, d = 0.2 / Brian2 MEAS 0.55",
    "(iv) 100-500 ms mean, d = 0.1 / Brian2 MEAS 0.39",
    "readout test accuracy, mean over 100-500 ms (chance 0.5)",
}


@pytest.mark.slow
def test_maass_2002_quick(tmp_path):
    data = run_quick("Maass_2002", tmp_path, EXPECTED_CHECKS, paper_word="Maass")
    # the separation curves are ordered as in the paper's Fig. 2 and the readout beats chance
    means = data["mean_state_distance_100_500ms"]
    assert means["0.4"] > means["0.2"] > means["0.1"] > means["0.0"]
    assert data["n_pairs_per_distance"] >= 30
