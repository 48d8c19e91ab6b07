"""examples/frompapers/Potjans_Diesmann_2014.py --quick: the cortical microcircuit at scale 0.02
runs, writes its figure and JSON, every population fires below 30 Hz and the paper's layer
pattern holds (L5E above L2/3E and L6E, inhibition above excitation in every layer)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "every population fires (min rate, Hz)", "max population rate (Hz)", "L5E rate / max(L2/3E, L6E)",
    "inhibitory / excitatory rate, smallest over the four layers",
}


@pytest.mark.slow
def test_potjans_diesmann_2014_quick(tmp_path):
    data = run_quick("Potjans_Diesmann_2014", tmp_path, EXPECTED_CHECKS, paper_word="Potjans")
    assert data["scale"] == 0.02 and data["neurons"] == 1544
    assert set(data["statistics"]) == {"L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"}
