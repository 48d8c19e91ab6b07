"""examples/frompapers/Shen_2023.py --quick: runs, writes its figure and JSON, and every check
passes (an astrocyte-modulated spiking layer against a recurrent LIF layer of the same size on a
delayed cue-recall task; docs/papers.md)."""
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "astrocyte layer: held-out accuracy, mean over seeds",
    "astrocyte layer: held-out accuracy, worst seed",
    "astrocyte layer minus recurrent LIF layer of the same size, mean accuracy",
    "astrocyte layer minus adaptive-threshold LIF layer (LSNN-like) of the same size, mean accuracy",
    "trained astrocyte layer with its feedback cut (W_an = 0): accuracy",
    "astrocyte states at the recall's onset: the classes apart (best astrocyte's d')",
}


def test_shen_2023_quick(tmp_path):
    data = run_quick("Shen_2023", tmp_path, EXPECTED_CHECKS, paper_word="Astrocyte")
    assert data["quick"] is True and data["config"]["delay"] == 60
    assert len(data["accuracy"]["astro"]) == len(data["accuracy"]["lif"]) == len(data["accuracy"]["alif"]) == 1
