"""examples/frompapers/Zhu_2023.py --quick: runs, writes its figure and JSON, and every check
passes (a CPU-sized SpikeGPT against the same model without LIF, on CPython's pydoc texts;
docs/_drafts/zhu_2023.md)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "spiking held-out bits per character, below the unigram entropy",
    "spiking minus non-spiking held-out bits per character",
    "largest mean firing rate of a LIF layer (spikes per neuron per token)",
    "synaptic operations per dense MAC of the same inputs",
    "recurrent form vs parallel form, largest |logit difference|",
    "generated sample reproducible from its seed",
}


@pytest.mark.slow
def test_zhu_2023_quick(tmp_path):
    data = run_quick("Zhu_2023", tmp_path, EXPECTED_CHECKS, paper_word="SpikeGPT")
    assert data["quick"] is True and data["corpus"]["name"] == "pydoc_data.topics"
    assert len(data["spiking"]["rates"]) == 4 and data["sample"].startswith("The ")
    assert data["operations_per_token"]["dense_macs"] > data["operations_per_token"]["sops"] > 0
