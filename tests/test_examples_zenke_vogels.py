"""examples/frompapers/Zenke_Vogels_2021.py --quick: runs, writes its figure and JSON, and every
check passes (Randman: the easy setting >= 95 %; in the deep setting the surrogate's shape
matters less than its scale, every shape beats the no-surrogate control, a differentiable reset
hurts)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "easy setting: test accuracy after 10 epochs (%)", "spread over shapes / spread over scales",
    "best scale minus scale 1000 (points)", "worst shape minus no surrogate (points)",
    "detached reset minus differentiable reset, scale 10 (points)",
}


@pytest.mark.slow
def test_zenke_vogels_2021_quick(tmp_path):
    data = run_quick("Zenke_Vogels_2021", tmp_path, EXPECTED_CHECKS, paper_word="Zenke")
    assert data["quick"] is True and set(data["accuracy_by_scale"]) == {"0.1", "10", "1000"}
