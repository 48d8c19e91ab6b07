"""examples/three_ways.py --quick: one recurrent E/I network trained by BPTT, e-prop and the
three-factor rule; every check passes (each way learns the pattern, BPTT and e-prop beat the
readout alone, Dale's law holds, the online ways' memory is flat in the duration)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "bptt: normalised error", "eprop: normalised error", "three_factor: normalised error",
    "bptt: error / readout-only error", "eprop: error / readout-only error",
    "Dale's law: recurrent weights keep their signs (all ways)", "e-prop memory, 2 s / 1 s",
    "three-factor memory, 2 s / 1 s", "BPTT memory, 2 s / 1 s",
}


@pytest.mark.slow
def test_three_ways_quick(tmp_path):
    data = run_quick("three_ways", tmp_path, EXPECTED_CHECKS, paper_word="Bellec", folder=None)
    assert data["quick"] is True and data["iterations"] == 50
    assert set(data["nmse"]) == {"bptt", "eprop", "three_factor", "readout only"}
