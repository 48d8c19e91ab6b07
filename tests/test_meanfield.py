"""Mean-field rate of Brunel's (2000) network (neurosim.builders.meanfield): the Siegert
transfer function against direct quadrature of its textbook form (scipy), its limits, the
self-consistent rates of the four regimes (papers.md 3.2), and errors."""
import math

import numpy as np
import pytest
from scipy import integrate, special

from neurosim.builders.meanfield import brunel_fixed_points, brunel_input, brunel_rate, siegert_rate


def siegert_reference(mu, sigma, tau=20.0, theta=20.0, V_r=10.0, tau_rp=2.0):
    """1/nu = tau_rp + tau sqrt(pi) int_{y_r}^{y_th} e^{u^2}(1 + erf u) du, with the integrand
    written as erfcx(-u) (finite for u << 0) and integrated by adaptive quadrature."""
    y_th, y_r = (theta - mu) / sigma, (V_r - mu) / sigma
    val, _ = integrate.quad(lambda u: special.erfcx(-u), y_r, y_th, epsabs=0, epsrel=1e-12, limit=200)
    return 1e3 / (tau_rp + tau * math.sqrt(math.pi) * val)


@pytest.mark.parametrize("mu, sigma", [
    (20.7, 7.7),    # regime C's operating point (mean-driven, just above threshold)
    (10.0, 5.0),    # fluctuation-driven
    (15.0, 1.0),    # high barrier: low rate
    (40.0, 2.0),    # strongly suprathreshold: near the deterministic rate
    (-5.0, 10.0),
    (25.0, 0.3),
    (5.0, 30.0),
])
def test_siegert_matches_quadrature_of_the_textbook_integral(mu, sigma):
    assert siegert_rate(mu, sigma) == pytest.approx(siegert_reference(mu, sigma), rel=1e-9)


def test_siegert_limits():
    # deterministic limit: sigma -> 0 above threshold, 1/nu = tau_rp + tau ln((mu - V_r) / (mu - theta))
    mu = 30.0
    det = 1e3 / (2.0 + 20.0 * math.log((mu - 10.0) / (mu - 20.0)))
    assert siegert_rate(mu, 0.01) == pytest.approx(det, rel=1e-3)
    # far below threshold with little noise: silent (underflows to 0, no overflow)
    assert siegert_rate(0.0, 0.5) == 0.0
    assert siegert_rate(10.0, 1.0) < 1e-10
    # saturation towards 1 / tau_rp = 500 Hz
    assert siegert_rate(1e4, 1.0) == pytest.approx(1e3 / (2.0 + 20.0 * math.log(9990.0 / 9980.0)), rel=1e-6)
    assert 495.0 < siegert_rate(1e4, 1.0) < 500.0
    # monotone in mu and, below threshold, in sigma
    rates = [siegert_rate(m, 3.0) for m in np.linspace(0.0, 40.0, 21)]
    assert np.all(np.diff(rates) > 0)
    assert siegert_rate(15.0, 2.0) < siegert_rate(15.0, 4.0) < siegert_rate(15.0, 8.0)


@pytest.mark.parametrize("g, ratio, rate, tol", [
    (3.0, 2.0, 327.0, 0.1),    # A (unstable: the network goes SR)
    (6.0, 4.0, 55.8, 0.05),    # B (unstable: fast oscillation)
    (5.0, 2.0, 37.95, 0.1),    # C (stable: AI) -- papers.md asserts 37.95 +/- 0.1
    (4.5, 0.9, 6.52, 0.005),   # D (unstable: slow oscillation)
])
def test_brunel_rates_of_the_four_regimes(g, ratio, rate, tol):
    assert brunel_rate(g, ratio) == pytest.approx(rate, abs=tol)


def test_brunel_rate_is_a_fixed_point():
    nu = brunel_rate(5.0, 2.0)
    mu, sigma = brunel_input(nu, 5.0, 2.0)
    assert siegert_rate(mu, sigma) == pytest.approx(nu, rel=1e-8)
    # the AI state is mean-driven: mu = J C_E tau (nu_ext - nu / 4) = 2 mV s x (20 - 9.49) Hz = 21.0 mV,
    # just above theta = 20 mV (papers.md 3.3 quotes ~20.7)
    assert mu == pytest.approx(2.0 * (20.0 - 0.25 * nu), rel=1e-12)
    assert 20.0 < mu < 21.5 and sigma == pytest.approx(math.sqrt(0.2 * (20.0 + nu * 7.25)), rel=1e-12)
    # nu_thr brings the mean input to threshold without recurrence
    assert brunel_input(0.0, 5.0, 1.0)[0] == pytest.approx(20.0)


def test_brunel_rate_scaled_network():
    # 0.2 scale: J C_E kept (same mu), sigma^2 x 5: a different, higher rate
    nu = brunel_rate(5.0, 2.0, J=0.5, C_E=200)
    assert 45.0 < nu < 55.0
    _, sigma = brunel_input(nu, 5.0, 2.0, J=0.5, C_E=200)
    assert sigma**2 == pytest.approx(5 * brunel_input(nu, 5.0, 2.0)[1] ** 2)


def test_several_fixed_points_are_reported():
    # excitation-dominated (g < 4), weak drive: a quiet state, an unstable one and a saturated one
    roots = brunel_fixed_points(3.0, 0.8)
    assert roots.size == 3 and roots[0] < 0.01 and 1.0 < roots[1] < 5.0 and roots[2] > 250.0
    with pytest.raises(ValueError, match="has 3 stationary rates"):
        brunel_rate(3.0, 0.8)


@pytest.mark.parametrize("call, match", [
    (lambda: siegert_rate(10.0, 0.0), "sigma > 0"),
    (lambda: siegert_rate(float("nan"), 1.0), "finite mu"),
    (lambda: siegert_rate(10.0, 1.0, theta=10.0, V_r=10.0), "theta must be above V_r"),
    (lambda: siegert_rate(10.0, 1.0, tau=0.0), "tau > 0"),
    (lambda: brunel_rate(-1.0, 2.0), "g must be a finite number >= 0"),
    (lambda: brunel_rate(5.0, 0.0), "nu_ext_over_thr must be > 0"),
    (lambda: brunel_rate(5.0, 2.0, J=0.0), "J must be a finite number > 0"),
    (lambda: brunel_rate(5.0, 2.0, theta=5.0), "theta must be above V_r"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
