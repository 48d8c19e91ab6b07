"""examples/frompapers/Neftci_2019.py --quick: runs, writes its figure and JSON, and every check
passes (a surrogate-gradient classifier on sklearn's digits; docs/papers.md section 10.1)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "128 hidden: test accuracy after 10 epochs (%, mean over seeds)",
    "32 hidden: surrogate lead over no surrogate (points)",
    "32 hidden: train loss, surrogate / none",
    "hidden weights unchanged without a surrogate (max |dW|)",
    "hidden weights changed with the surrogate (max |dW|)",
    "hidden firing (spikes per neuron per step)",
}


@pytest.mark.slow
def test_neftci_2019_quick(tmp_path):
    data = run_quick("Neftci_2019", tmp_path, EXPECTED_CHECKS, paper_word="Neftci")
    assert data["quick"] is True and len(data["val_acc_128"]["0"]) == 10
