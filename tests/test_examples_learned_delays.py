"""examples/learned_delays.py --quick: four spike-timing patterns with the same spike counts;
learned per-synapse delays classify them (>= 0.85), better than the same delays frozen at
their random values and far better than the weights alone."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "test accuracy with learned delays", "accuracy gain of learning the delays over freezing them",
    "accuracy gain of learned delays over no delays",
}


@pytest.mark.slow
def test_learned_delays_quick(tmp_path):
    data = run_quick("learned_delays", tmp_path, EXPECTED_CHECKS, paper_word="Grimaldi", folder=None)
    assert data["quick"] is True and data["epochs"] == 15
    acc = data["accuracy"]
    assert acc["learned delays"] > acc["frozen random delays"] > acc["no delays"]
