"""examples/frompapers/Vogels_Abbott_2005.py --quick: runs, writes its figure and JSON, and every
check passes (CUBA rates and ISI CV; self-sustained COBA after kicks (a) and (b); targets from
papers.md 2.4); and the builder's NEST-style Poisson kick."""
import numpy as np
import pytest
from paper_examples import run_quick

from neurosim.builders import coba

EXPECTED_CHECKS = {
    "CUBA E rate 200-1000 ms (Hz)", "CUBA I rate 200-1000 ms (Hz)", "CUBA mean ISI CV",
    *(
        f"{v} {what}"
        for v in ("COBA(a)", "COBA(b)")
        for what in (
            "E rate 200-1000 ms (Hz)", "I rate 200-1000 ms (Hz)", "mean ISI CV",
            "self-sustained: rate 200-1000 / rate 0-1000 ms",
            "persists: rate 900-1000 / rate 200-1000 ms (min over seeds)",
        )
    ),
}


@pytest.mark.slow
def test_vogels_abbott_2005_quick(tmp_path):
    data = run_quick("Vogels_Abbott_2005", tmp_path, EXPECTED_CHECKS, paper_word="Vogels")
    assert "Brette" in data["paper"]


def test_coba_poisson_kick_is_nest_stimulus():
    """kick="poisson": 50 E neurons, each an independent ~300 Hz train inside [1, 51) ms, 6 nS."""
    net = coba(4000, seed=3, background_pa=0.0, kick="poisson")
    assert [p.name for p in net.populations] == ["neurons", "kick"]
    assert not net.inputs
    src = net.population("kick").model
    assert net.population("kick").n == 50
    times, ids = src.times_ms, src.ids
    assert times.min() >= 1.0 and times.max() < 51.0
    assert set(ids.tolist()) <= set(range(50))
    rate = times.size / (50 * 50e-3)  # spikes / (neurons x 50 ms)
    assert 250.0 < rate < 350.0, rate
    kick = next(pr for pr in net.projections if pr.name == "kick_syn")
    assert kick.post == ("neurons", 0, 50) and float(kick.weights) == 6.0
    np.testing.assert_array_equal(np.asarray(kick.conn.indices), np.arange(50))
    # the speed benchmark's network is unchanged: one population, 200 pA background, no kick
    bench = coba(4000, seed=1, p=0.02)
    assert [p.name for p in bench.populations] == ["neurons"]
    assert [i.name for i in bench.inputs] == ["background"]
    assert bench.inputs[0].params.amplitude == 200.0


def test_coba_rejects_unknown_kick():
    with pytest.raises(ValueError, match="kick must be None, 'conductance' or 'poisson'"):
        coba(100, kick="nest")
