"""examples/frompapers/Jaeger_2001.py --quick: runs, writes its figure and JSON, and every check
passes (memory capacity and NARMA-10 targets from papers.md 6.2 and 6.3)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "linear N=20 MC/N", "linear N=50 MC/N",
    "tanh N=50 MC (rho 0.95, s_in 0.1)", "tanh N=100 MC (rho 0.95, s_in 0.1)",
    "tanh N=100 MC (rho 0.8, s_in 0.1)", "tanh N=100 MC (rho 0.95, s_in 1.0)",
    "max MC / (N + k_max/T_test) over all runs", "N=100 MC vs rho 0.5..0.95 (increasing)",
    "N=100 MC(s_in 1.0) / MC(s_in 0.1)", "Lyapunov exponent per step, N=100 rho 0.95 (driven)",
    "shift register N=20: MC over k >= 0", "NARMA-10 series mean", "NARMA-10 series max",
    "NARMA-10 NRMSE N=50", "NARMA-10 NRMSE N=100", "NARMA-10 NRMSE N=200",
    "NARMA-10 NRMSE vs N=50/100/200 (decreasing)",
    "NARMA-10 linear-lag baseline NRMSE (ridge on last 10 inputs)", "NARMA-10 ESN(100) NRMSE < 0.35 < baseline",
}


@pytest.mark.slow
def test_jaeger_2001_quick(tmp_path):
    data = run_quick("Jaeger_2001", tmp_path, EXPECTED_CHECKS, paper_word="Jaeger")
    assert data["quick"] is True and data["seeds"] == [0, 1, 2]
