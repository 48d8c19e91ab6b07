"""examples/frompapers/EI_ratio_1f.py --quick: runs, writes its figure and JSON, and every
check passes (the aperiodic exponent of the LFP proxy rises with g_I/g_E and matches theory in
the Poisson-driven model; the recurrent COBA sweep is active, finite and moves g_I/g_E)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "input model: Spearman(g_I/g_E, chi 20-80 Hz, LFP at -65 mV)",
    "input model: chi(g_I/g_E = 12) - chi(0.75), 20-80 Hz",
    "input model: mean |chi - chi_theory|, 20-80 Hz",
    "input model: cells active at every ratio (min rate, Hz)",
    "recurrent COBA: every network active (min E rate, Hz)",
    "recurrent COBA: rates finite (max rate, Hz)",
    "recurrent COBA: measured g_I/g_E follows the inhibitory scale (Spearman)",
}


@pytest.mark.slow
def test_ei_ratio_1f_quick(tmp_path):
    data = run_quick("EI_ratio_1f", tmp_path, EXPECTED_CHECKS, paper_word="Gao")
    assert "Mazzoni" in data["paper"] and data["quick"] is True
    rows = data["input_model"]["rows"]
    assert len(rows) == 8 and len(data["recurrent_coba"]["rows"]) == 8
    chi = [r["chi_lfp_hold"] for r in rows]
    assert chi[-1] > chi[0]
