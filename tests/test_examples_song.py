"""examples/frompapers/Song_2000.py --quick: runs, writes its figure and JSON, and every check
passes (Brian2's STDP example: U-shaped weights, end-bin fractions, falling output rate; the
paper's neuron at 40 Hz: depression-dominated weights, irregular output)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "Brian2 form: weight histogram U-shaped (end bins vs the others)",
    "Brian2 form: frac w < 0.1 g_max",
    "Brian2 form: frac w > 0.9 g_max",
    "Brian2 form: output rate, last 10 s (Hz)",
    "Brian2 form: rate last 10 s / first 10 s",
    "paper neuron, 40 Hz: frac w < 0.1 g_max",
    "paper neuron, 40 Hz: mean w / g_max",
    "paper neuron, 40 Hz: output ISI CV",
}


@pytest.mark.slow
def test_song_2000_quick(tmp_path):
    data = run_quick("Song_2000", tmp_path, EXPECTED_CHECKS, paper_word="Song")
    assert data["quick"] is True and data["runs"]["brian2_form"]["duration_s"] == 100.0
