"""examples/frompapers/Stimberg_2019.py --quick: runs, writes its figure and JSON, and every check
passes (mean glutamate of closed-loop, open-loop and unmodulated tripartite synapses per rate
epoch against Brian2's run of the same model, docs/papers.md 11.2)."""
import pytest
from paper_examples import run_quick

LOOPS = ("closed", "open", "none")
EXPECTED_CHECKS = {f"{loop}: mean Y_S at {rate} Hz (uM)" for loop in LOOPS for rate in ("0.11", "1.1", "11")} | {
    "open / none at 1.1 Hz", "closed / none at 11 Hz", "open / none at 11 Hz",
    "closed = none at 0.011 Hz (relative difference)",
}


@pytest.mark.slow
def test_stimberg_2019_quick(tmp_path):
    data = run_quick("Stimberg_2019", tmp_path, EXPECTED_CHECKS, paper_word="Stimberg")
    assert data["quick"] is True and data["seeds"] == [1]
