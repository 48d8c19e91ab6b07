"""examples/frompapers/Izhikevich_2007.py --quick: runs, writes its figure and JSON, and every
check passes (400 s of the distal-reward network with and without rewards: the paper's rate,
rewards delivered, the rewarded synapse grown with rewards and near 0 without)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "mean rate with rewards (Hz)",
    "mean rate without rewards (Hz)",
    "rewards delivered in 400 s",
    "rewarded synapse at the end, with rewards (mV)",
    "same synapse without rewards, highest value (mV)",
}


@pytest.mark.slow
def test_izhikevich_2007_quick(tmp_path):
    data = run_quick("Izhikevich_2007", tmp_path, EXPECTED_CHECKS, paper_word="Izhikevich")
    assert data["quick"] is True and data["runs"]["rewards"]["duration_s"] == 400.0
    # the control run delivers no reward at all
    assert data["runs"]["control"]["rewards"] == 0
