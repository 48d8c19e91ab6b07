"""examples/frompapers/Pinsky_Rinzel_1994.py --quick: the two-compartment CA3 cell written as
equations with units reproduces the regimes of an independent reference integrator
(tests/reference/pinsky_rinzel.py, LSODA: 2.02 bursts/s of 4 spikes at g_c 2.1, single spikes at
g_c 10, fast somatic firing without a dendritic spike at g_c 1)."""
import pytest
from paper_examples import run_quick

EXPECTED_CHECKS = {
    "A: burst rate (Hz)", "A: spikes per burst", "A: every event a burst (fraction)", "A: dendritic peak (mV)",
    "A: calcium peak", "B: single spikes (spikes per event)", "B: rate (Hz)", "C: rate (Hz)",
    "C: the dendrite does not spike (peak, mV)", "D: rate (Hz)",
}


@pytest.mark.slow
def test_pinsky_rinzel_1994_quick(tmp_path):
    data = run_quick("Pinsky_Rinzel_1994", tmp_path, EXPECTED_CHECKS, paper_word="Pinsky")
    assert data["timings"]["engine"] == "native"


def test_the_string_model_has_the_reference_right_hand_side(x64):
    # the example's strings, advanced by neurosim's step over a tiny dt (float64), against the
    # reference's right-hand side (written out by hand in Python) at random states: dx = f(x) dt
    import sys
    from pathlib import Path

    import jax
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "frompapers"))
    import Pinsky_Rinzel_1994 as P
    from reference import pinsky_rinzel as R

    cell = P.build().populations[0].model
    params = cell.Params()
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = {"Vs": rng.uniform(-75, 20), "Vd": rng.uniform(-75, 20), "h": rng.uniform(0, 1), "n": rng.uniform(0, 1),
             "s": rng.uniform(0, 1), "c": rng.uniform(0, 1), "q": rng.uniform(0, 0.02), "Ca": rng.uniform(0, 400)}
        x = {k: float(np.float32(v)) for k, v in x.items()}        # exactly what the float32 state holds
        state = cell.State(**{k: jnp.full((1,), x[k], jnp.float32) for k in R.STATE_ORDER}, t_left=jnp.zeros(1))
        p1 = jax.tree.map(lambda a: jnp.asarray(a)[:1] if jnp.ndim(a) else a, params)
        state64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), state)
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), p1)
        dt = 1e-6
        new, _ = cell.step(p64, state64, jnp.zeros(1, jnp.float64), dt)
        got = np.array([(float(getattr(new, k)[0]) - x[k]) / dt for k in R.STATE_ORDER])
        rhs = R._make_rhs({k: v for k, (v, _) in R.PARAMETERS.items()})      # cell A: I_s 0.75, g_c 2.1
        want = np.asarray(rhs(0.0, [x[k] for k in R.STATE_ORDER]))
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)
