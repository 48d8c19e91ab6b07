"""Tests for the liquid builders: neurosim.builders.lsm (Maass et al. 2002 column, its input
source) and neurosim.builders.izhikevich_reservoir (papers.md 9).

Wiring statistics are checked against the specification with binomial / sampling tolerances
pooled over a few seeds (the builders are numpy draws, fast); dynamics with short runs.
"""
import math

import jax
import numpy as np
import pytest

import neurosim as ns
from neurosim.builders.izhikevich_reservoir import izhikevich_reservoir
from neurosim.builders.lsm import MAASS_2002, RasterSource, lsm, set_input_raster, spike_raster
from neurosim.synapses.short_term import TsodyksMarkram

DT = 0.1
SEEDS = range(6)


@pytest.fixture(scope="module")
def columns():
    return [lsm(seed=s) for s in SEEDS]


def proj(col, name):
    return next(p for p in col.network.projections if p.name == name)


# --------------------------------------------------------------------------- the column


def test_grid_positions_and_types(columns):
    col = columns[0]
    assert col.n == 135 and col.n_exc == 108
    assert col.is_inhibitory.sum() == 27
    cells = {tuple(p) for p in col.positions}
    assert len(cells) == 135                                           # every grid cell once
    assert col.positions.min(axis=0).tolist() == [0, 0, 0] and col.positions.max(axis=0).tolist() == [14, 2, 2]
    # inhibitory neurons sit at random places: not all at one end of the column
    z_inh = col.positions[col.n_exc:, 0]
    assert 2 < z_inh.mean() < 12
    liquid = col.network.population("liquid")
    np.testing.assert_array_equal(liquid.params.t_ref, np.where(col.is_inhibitory, 2.0, 3.0))
    p = liquid.params
    assert (p.v_rest, p.v_reset, p.v_th) == (0.0, 13.5, 15.0)
    assert p.c_m / p.g_l == pytest.approx(30.0)                         # tau_m, ms
    assert 1e3 / p.g_l == pytest.approx(1.0)                            # R_in, MOhm


def test_frac_inh_sets_the_number_of_inhibitory_neurons():
    col = lsm((4, 4, 4), frac_inh=0.25, seed=1)
    assert col.n == 64 and col.n_exc == 48


def test_connection_probability_follows_c_exp_minus_d_over_lambda_squared(columns):
    # pooled over seeds: for each synapse type and squared distance, the fraction of ordered
    # pairs connected against C exp(-D^2 / lambda^2), within 4 binomial standard deviations
    for kind, st in MAASS_2002.items():
        hits, pairs = {}, {}
        for col in columns:
            pre_e, post_e = kind[0] == "E", kind[1] == "E"
            pre_ids = np.flatnonzero(~col.is_inhibitory if pre_e else col.is_inhibitory)
            post_ids = np.flatnonzero(~col.is_inhibitory if post_e else col.is_inhibitory)
            d2 = ((col.positions[pre_ids, None, :] - col.positions[None, post_ids, :]) ** 2).sum(-1)
            same = pre_ids[:, None] == post_ids[None, :]
            connected = np.zeros(d2.shape, bool)
            pre, post = col.synapses(kind)
            connected[np.searchsorted(pre_ids, pre), np.searchsorted(post_ids, post)] = True
            for v in np.unique(d2):
                sel = (d2 == v) & ~same
                hits[v] = hits.get(v, 0) + connected[sel].sum()
                pairs[v] = pairs.get(v, 0) + sel.sum()
            assert not connected[same].any()                           # no autapses by default
        checked = 0
        for v in sorted(pairs):
            if pairs[v] < 100:
                continue
            p = st.c * math.exp(-v / 2.0**2)
            expected = p * pairs[v]
            # counts within 4 binomial sd (+3 for the rare far pairs, where the count is ~Poisson)
            assert abs(hits[v] - expected) < 4 * math.sqrt(expected * (1 - p)) + 3, (kind, v, hits[v], expected)
            checked += 1
        assert checked >= 3, (kind, checked)


def test_autapses_option():
    col = lsm(seed=0, autapses=True, types={k: v._replace(c=1.0) for k, v in MAASS_2002.items()})
    pre, post = col.synapses("EE")
    assert np.sum(pre == post) == col.n_exc                           # C = 1 at D = 0: every E neuron


def spec_moments(mean, upper=None, n=2_000_000):
    """Mean and sd of papers.md's rule: N(mean, (mean/2)^2), draws <= 0 (or > upper) -> mean."""
    x = np.random.default_rng(0).normal(mean, 0.5 * mean, n)
    bad = (x <= 0) | ((x > upper) if upper is not None else False)
    x = np.where(bad, mean, x)
    return x.mean(), x.std()


def test_per_synapse_parameters_are_drawn_around_the_means(columns):
    for kind, st in MAASS_2002.items():
        w = np.concatenate([np.asarray(proj(c, kind).weights) for c in columns])
        assert np.all(np.sign(w) == np.sign(st.a_pa))
        # |A| ~ Gamma with shape 1 (an exponential): mean |A|, sd |A|
        assert abs(np.abs(w).mean() - abs(st.a_pa)) < 5 * abs(st.a_pa) / math.sqrt(w.size)
        assert np.abs(w).std() == pytest.approx(abs(st.a_pa), rel=0.25)
        stp = [proj(c, kind).stp_params for c in columns]
        for field, mean in (("U", st.u), ("tau_rec", st.d_ms), ("tau_facil", st.f_ms)):
            x = np.concatenate([np.asarray(getattr(s, field)) for s in stp]).astype(float)
            assert np.all(x > 0)
            if field == "U":
                assert np.all(x <= 1)
            m, sd = spec_moments(mean, upper=1.0 if field == "U" else None)
            assert abs(x.mean() - m) < 5 * sd / math.sqrt(x.size), (kind, field, x.mean(), m)
            assert x.std() == pytest.approx(sd, rel=0.2), (kind, field)


def test_synapse_types_delays_time_constants_and_input(columns):
    col = columns[0]
    for kind, st in MAASS_2002.items():
        p = proj(col, kind)
        assert p.delay_ms == st.delay_ms
        assert p.syn_params.tau == (3.0 if kind[0] == "E" else 6.0)
        assert isinstance(p.stp, TsodyksMarkram) and p.stp.recovery == "inactive"
        assert p.synapse.kinetics == "exponential" and p.synapse.output == "current"
    assert [MAASS_2002[k].delay_ms for k in ("EE", "EI", "IE", "II")] == [1.5, 0.8, 0.8, 0.8]
    for name, w, tau, n_post in (("input_E", 18_000.0, 3.0, 108), ("input_I", 9_000.0, 6.0, 27)):
        p = proj(col, name)
        assert p.weights == w and p.syn_params.tau == tau and p.stp is None
        assert p.conn.nnz == n_post                                     # one channel into every neuron
    bg = col.network.inputs[0]
    assert bg.params.amplitude == 13_500.0                              # pA: V_inf = 13.5 mV
    adj = col.adjacency()
    assert adj.nnz == sum(proj(col, k).conn.nnz for k in MAASS_2002)
    assert (adj.n_pre, adj.n_post) == (135, 135)


def test_same_seed_same_column_other_seed_other_column():
    a, b, c = lsm(seed=3), lsm(seed=3), lsm(seed=4)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(proj(a, "EE").weights, proj(b, "EE").weights)
    assert not np.array_equal(a.positions, c.positions)


def test_input_p_and_several_channels():
    col = lsm(seed=0, n_inputs=4, input_p=0.3)
    p = proj(col, "input_E")
    assert p.conn.n_pre == 4
    assert abs(p.conn.nnz / (4 * 108) - 0.3) < 0.1


@pytest.mark.parametrize("kwargs, message", [
    (dict(grid=(15, 3)), "grid must have 3 entries"),
    (dict(grid=(1, 1, 1)), "need at least one of each"),
    (dict(frac_inh=1.5), "frac_inh must be a probability"),
    (dict(lam=0.0), "lam must be a positive"),
    (dict(n_inputs=0), "n_inputs must be >= 1"),
    (dict(param_cv=-1.0), "param_cv"),
    (dict(types={"EE": MAASS_2002["EE"]}), "types must have the keys"),
])
def test_bad_arguments_are_clear_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lsm(**kwargs)


# --------------------------------------------------------------------------- input source


def test_spike_raster_bins_like_spike_times():
    r = spike_raster([np.array([0.0, 0.05, 0.1, 2.34]), np.array([])], 3.0, 0.1)
    assert r.shape == (30, 2)
    assert np.flatnonzero(r[:, 0]).tolist() == [0, 1, 23] and r[:, 1].sum() == 0
    with pytest.raises(ValueError, match="outside"):
        spike_raster([np.array([3.0])], 3.0, 0.1)
    with pytest.raises(ValueError, match="outside"):
        spike_raster([np.array([-0.1])], 3.0, 0.1)


def test_raster_source_replays_its_state_and_then_stays_silent():
    src = RasterSource(n_steps=5)
    state = src.init(src.Params(), 2, None)
    raster = np.zeros((3, 2), np.float32)
    raster[0, 1] = raster[2, 0] = 1.0
    state = state._replace(raster=raster)
    out = []
    for _ in range(5):
        state, s = src.step(src.Params(), state, np.zeros(2), DT)
        out.append(np.asarray(s))
    np.testing.assert_array_equal(out, [[0, 1], [0, 0], [1, 0], [0, 0], [0, 0]])


def test_set_input_raster_errors():
    col = lsm(seed=0, input_steps=10)
    state = ns.init_state(col.network, col.network.params(), 0, DT)
    with pytest.raises(ValueError, match="shape"):
        set_input_raster(state, np.zeros((10, 2)))
    with pytest.raises(ValueError, match="no population 'stim'"):
        set_input_raster(state, np.zeros((10, 1)), pop="stim")
    with pytest.raises(ValueError, match="not a RasterSource"):
        set_input_raster(state, np.zeros((10, 135)), pop="liquid")


def test_liquid_is_silent_without_input_and_responds_to_it():
    col = lsm(seed=0, input_steps=1000)
    net = col.network
    params = net.params()
    silent = ns.init_state(net, params, jax.random.key(1), DT)
    driven = set_input_raster(silent, spike_raster([np.array([20.0, 40.0, 60.0])], 100.0, DT))
    run = jax.jit(jax.vmap(lambda s: ns.run(net, params, s, 1000, DT)[1]["liquid"]))
    both = jax.tree.map(lambda a, b: jax.numpy.stack([a, b]), silent, driven)
    spikes = np.asarray(run(both))
    assert spikes[0].sum() == 0                                         # V_inf = 13.5 mV < 15 mV
    k, _ = np.nonzero(spikes[1])
    assert k.size > 50 and k.min() >= 200                              # nothing before the first input spike
    # initial V is drawn in [13.5, 15) mV, redrawn from every key
    v = np.asarray(silent.neurons["liquid"].v)
    assert v.min() >= 13.5 and v.max() < 15.0 and v.std() > 0.2


# --------------------------------------------------------------------------- Izhikevich reservoir


def test_izhikevich_reservoir_heterogeneity_follows_net_m():
    res = izhikevich_reservoir(80, 20, seed=2)
    p = res.network.population("reservoir").params
    r = res.r
    e = slice(0, 80)
    i = slice(80, 100)
    np.testing.assert_allclose(p.a[e], 0.02)
    np.testing.assert_allclose(p.b[e], 0.2)
    np.testing.assert_allclose(p.c[e], -65 + 15 * r[e] ** 2, rtol=1e-6)
    np.testing.assert_allclose(p.d[e], 8 - 6 * r[e] ** 2, rtol=1e-6)
    np.testing.assert_allclose(p.a[i], 0.02 + 0.08 * r[i], rtol=1e-6)
    np.testing.assert_allclose(p.b[i], 0.25 - 0.05 * r[i], rtol=1e-6)
    np.testing.assert_allclose(p.c[i], -65.0)
    np.testing.assert_allclose(p.d[i], 2.0)
    # heterogeneous: RS (r = 0) to CH (r = 1) cells among the excitatory ones
    assert p.c[e].min() < -63 and p.c[e].max() > -52
    assert np.std(p.a[i]) > 0.01


def test_izhikevich_reservoir_wiring():
    res = izhikevich_reservoir(80, 20, seed=0)
    exc, inh = res.network.projections
    assert exc.conn.nnz == 80 * 100 and inh.conn.nnz == 20 * 100        # all to all, self included
    assert exc.synapse.kinetics == "delta"
    w_e, w_i = np.asarray(exc.weights), np.asarray(inh.weights)
    assert w_e.min() >= 0 and w_e.max() <= 0.5 and w_e.mean() == pytest.approx(0.25, abs=0.02)
    assert w_i.max() <= 0 and w_i.min() >= -1 and w_i.mean() == pytest.approx(-0.5, abs=0.04)
    sparse = izhikevich_reservoir(80, 20, p=0.2, seed=0)
    exc, inh = sparse.network.projections
    assert abs(exc.conn.nnz / 8000 - 0.2) < 0.03
    assert np.asarray(exc.weights).mean() == pytest.approx(0.25 / 0.2, rel=0.1)   # mean input kept
    noise = res.network.inputs[0]
    np.testing.assert_array_equal(noise.params.std, np.r_[np.full(80, 5.0), np.full(20, 2.0)])


def test_izhikevich_reservoir_runs_in_a_sane_band_and_feels_its_cue():
    res = izhikevich_reservoir(160, 40, pulses={"cue": (200.0, 50.0)}, seed=1)
    ids = res.pulse_ids["cue"]
    assert ids.size == 40 and np.unique(ids).size == 40
    out = ns.simulate(res.network, 600.0, 1.0, key=1, monitors=[ns.Spikes("reservoir")])
    t, i = out.spikes["reservoir"]
    rate_e = np.sum(i < 160) / 160 / 0.6
    rate_i = np.sum(i >= 160) / 40 / 0.6
    assert 1.0 < rate_e < 30.0 and 0.5 < rate_i < 40.0
    during = (t >= 200) & (t < 250)
    cued = np.isin(i, ids)
    rate_cued = np.sum(cued & during) / ids.size / 0.05
    rate_other = np.sum(~cued & during) / (200 - ids.size) / 0.05
    assert rate_cued > 3 * rate_other


@pytest.mark.parametrize("kwargs, message", [
    (dict(p=0.0), "p must be > 0"),
    (dict(w_exc=-1.0), "w_exc must be a finite number >= 0"),
    (dict(pulses={"cue": (10.0,)}), r"pulses\['cue'\] must be \(onset_ms, duration_ms\)"),
    (dict(pulses={"cue": (10.0, 0.0)}), "duration_ms > 0"),
    (dict(pulses={"noise": (10.0, 5.0)}), "names must be unique"),
])
def test_izhikevich_reservoir_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        izhikevich_reservoir(8, 2, **kwargs)


# --------------------------------------------------------------------------- the documentation page


def test_docs_builders_lsm_page_runs(tmp_path, monkeypatch):
    """Every ```python block of docs/builders_lsm.md runs, in order, in one namespace."""
    from pathlib import Path

    from test_docs import python_blocks

    path = Path(__file__).resolve().parents[1] / "docs" / "builders_lsm.md"
    blocks = python_blocks(path.read_text())
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_builders_lsm"}
    for first_line, source in blocks:
        exec(compile("\n" * (first_line - 1) + source, str(path), "exec"), namespace)
