"""examples/frompapers/Potjans_Diesmann_2014.py --quick: the cortical microcircuit at scale 0.02
runs, writes its figure and JSON, the five populations that fire at that scale do so within a
factor 2 of NEST's run of the same network, none above 30 Hz, and the layer pattern of L5 and L6
holds (L5E above L6E, inhibition above excitation)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "rate / NEST's rate, furthest from 1 over L4E, L4I, L5E, L5I, L6I", "max population rate (Hz)",
    "L5E rate / L6E rate", "inhibitory / excitatory rate, smallest over L5, L6",
}


@pytest.mark.slow
def test_potjans_diesmann_2014_quick(tmp_path):
    data = run_quick("Potjans_Diesmann_2014", tmp_path, EXPECTED_CHECKS, paper_word="Potjans")
    assert data["scale"] == 0.02 and data["neurons"] == 1544
    assert set(data["statistics"]) == {"L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"}
