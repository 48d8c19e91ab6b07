"""examples/frompapers/Izhikevich_2003.py --quick: runs, writes its figure and JSON, and every
check passes (Fig. 2 cell types, Fig. 3 network statistics; targets from papers.md 1)."""
import pytest

from paper_examples import run_quick

EXPECTED_CHECKS = {
    "RS spike count", "RS adaptation ISI_last/ISI_first", "RS min ISI (ms)",
    "IB spike count", "IB burst ISIs < 10 ms (all leading)",
    "CH fraction of ISIs < 10 ms", "CH max ISI (ms)",
    "FS spike count", "FS fraction of ISIs < 10 ms", "FS ISI_last/ISI_first",
    "LTS spike count", "LTS adaptation ISI_last/ISI_first",
    "TC silent while hyperpolarised (spikes)", "TC rebound spikes within 30 ms of release",
    "TC tonic spike count (I = 1.5)", "TC tonic first spike (ms)",
    "RZ rest (mV)", "RZ spikes (subthreshold pulse)", "RZ damped oscillation period (ms)",
    "net E rate (Hz)", "net I rate (Hz)", "net E mean ISI CV (> 5 spikes)",
    "net E PSD peak in 6-14 Hz (Hz)", "net E PSD alpha peak / median (4-100 Hz)",
    "net E PSD peak in 25-60 Hz (Hz)", "net E PSD gamma peak / median (4-100 Hz)",
}


@pytest.mark.slow
def test_izhikevich_2003_quick(tmp_path):
    data = run_quick("Izhikevich_2003", tmp_path, EXPECTED_CHECKS, paper_word="Izhikevich")
    names = [c["name"] for c in data["checks"]]
    assert len(names) == len(set(names)), f"repeated check names: {names}"
