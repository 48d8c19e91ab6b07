"""Gradient training: the layers against a hand-written recurrence, bounded-memory BPTT against
plain BPTT, e-prop against BPTT where theory says they are equal, encoders, losses, and the
training loop (deterministic, resumes bitwise, stops early, refuses bad input)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import neurosim as ns
from neurosim import train as T


def _inputs(t=30, b=4, n=8, seed=1, p=0.3):
    return (jax.random.uniform(jax.random.key(seed), (t, b, n)) < p).astype(jnp.float32)


def _net(recurrent=None, n_in=8, n=16, c=3, seed=0, **kw):
    r = nnx.Rngs(seed)
    return T.SpikingNetwork(T.SpikingLayer(n_in, n, recurrent=recurrent, rngs=r), T.LeakyReadout(n, c, rngs=r), **kw)


def _hand_written(w, b, w_rec, w2, b2, x, tau=10.0, tau_out=10.0, dt=1.0):
    """The same network written out: V <- k V + (1 - k) I, spike at 1, reset to 0."""
    k, ko = np.exp(-dt / tau), np.exp(-dt / tau_out)
    v = np.zeros((x.shape[1], w.shape[1]), np.float32)
    z = np.zeros_like(v)
    y = np.zeros((x.shape[1], w2.shape[1]), np.float32)
    ys, zs = [], []
    for t in range(x.shape[0]):
        i = x[t] @ w + b + (z @ w_rec if w_rec is not None else 0)
        v = i + (v - i) * k
        z = (v >= 1.0).astype(np.float32)
        v = v * (1 - z)
        y = y * ko + z @ w2 + b2
        ys.append(y)
        zs.append(z)
    return np.stack(ys), np.stack(zs)


@pytest.mark.parametrize("recurrent", [None, "dense"])
def test_network_equals_hand_written_recurrence(recurrent):
    net = _net(recurrent, record_spikes=True)
    x = _inputs()
    out = net(x)
    h, ro = net.layers
    y, z = _hand_written(np.asarray(h.w[...]), np.asarray(h.b[...]),
                         None if recurrent is None else np.asarray(h.w_rec[...]),
                         np.asarray(ro.w[...]), np.asarray(ro.b[...]), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(out.spikes[0]), z)
    assert 0.05 < z.mean() < 0.6
    np.testing.assert_allclose(np.asarray(out.y), y, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(out.counts[0]), z.sum(0))


def test_sparse_recurrent_layers_equal_the_dense_layer_with_the_same_matrix():
    x = _inputs(t=25, b=3, n=6, p=0.5)
    csr = ns.events.fixed_probability(12, 12, 0.3, seed=4)
    sparse = _net(csr, n_in=6, n=12, record_spikes=True)
    dense = _net("dense", n_in=6, n=12, record_spikes=True)
    w_dense = np.asarray(csr.to_dense(np.asarray(sparse.layers[0].w_rec[...])))
    dense.layers[0].w_rec[...] = jnp.asarray(w_dense)
    dense.layers[0].w[...] = sparse.layers[0].w[...]
    a, b = sparse(x), dense(x)
    np.testing.assert_array_equal(np.asarray(a.spikes[0]), np.asarray(b.spikes[0]))
    np.testing.assert_allclose(np.asarray(a.y), np.asarray(b.y), rtol=1e-5, atol=1e-5)
    # and the gradient w.r.t. the per-synapse weights is the dense gradient at the synapses
    lab = jnp.array([0, 1, 2])
    loss = T.CrossEntropy("max")
    gs = nnx.grad(lambda m: loss(m(x), lab))(sparse).layers[0].w_rec[...]
    gd = nnx.grad(lambda m: loss(m(x), lab))(dense).layers[0].w_rec[...]
    pre, post = np.repeat(np.arange(12), np.diff(np.asarray(csr.indptr))), np.asarray(csr.indices)
    np.testing.assert_allclose(np.asarray(gs), np.asarray(gd)[pre, post], rtol=1e-4, atol=1e-6)


def test_jitconn_layer_trains_its_distribution_parameters():
    conn = ns.events.JitConn(12, 12, 0.3, seed=7, weight=ns.Normal(0.5, 0.2))
    net = _net(conn, n_in=6, n=12, record_spikes=True)
    w_rec = net.layers[0].w_rec
    np.testing.assert_allclose(np.asarray(w_rec[...]), [0.5, 0.2])
    dense = _net("dense", n_in=6, n=12, record_spikes=True)
    dense.layers[0].w_rec[...] = jnp.asarray(conn.to_dense(), jnp.float32)
    x = _inputs(t=25, b=3, n=6, p=0.5)
    np.testing.assert_array_equal(np.asarray(net(x).spikes[0]), np.asarray(dense(x).spikes[0]))
    g = nnx.grad(lambda m: T.CrossEntropy()(m(x), jnp.array([0, 1, 2])))(net).layers[0].w_rec[...]
    assert g.shape == (2,) and np.all(np.isfinite(np.asarray(g)))


def test_chunked_rematerialised_bptt_has_the_same_gradient_and_less_memory():
    x = _inputs(t=400, b=8, n=8)
    lab = jnp.arange(8) % 3
    loss = T.CrossEntropy("mean")

    def grads_and_bytes(net):
        graphdef, params, rest = nnx.split(net, nnx.Param, ...)

        def f(params):
            return loss(nnx.merge(graphdef, params, rest)(x), lab)
        g = jax.grad(f)(params)
        mem = jax.jit(jax.grad(f)).lower(params).compile().memory_analysis()
        return g, mem.temp_size_in_bytes

    plain, b_plain = grads_and_bytes(_net())
    chunked, b_chunk = grads_and_bytes(_net(remat_chunk=20))
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(chunked)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    assert b_chunk < 0.5 * b_plain, (b_chunk, b_plain)


def test_remat_with_a_remainder_chunk_gives_the_same_outputs():
    x = _inputs(t=37)
    np.testing.assert_array_equal(np.asarray(_net()(x).y), np.asarray(_net(remat_chunk=10)(x).y))


def _one_scan(net, x):
    """The network as it was stepped before issue 26: every layer's whole ``step`` (its own
    product x W included) in one ``lax.scan`` over time."""
    def body(carry, xt):
        carry, (y, outs) = net.step(carry, xt)
        return carry, (y, outs)
    _, (y, outs) = jax.lax.scan(body, net.init_carry(x.shape[1]), x)
    return y, outs


class _Shifted(T.SpikingLayer):
    """A user's layer that overrides ``step`` only: it must be stepped by its own step."""

    def step(self, carry, x, dt):
        return super().step(carry, x + 0.5, dt)


class _Silenced(T.LeakyReadout):
    """A user's readout that overrides ``drive`` only: it must be honoured, never bypassed."""

    def drive(self, x):
        return 0.0 * super().drive(x)


def test_a_readout_overriding_drive_is_honoured_and_bool_inputs_count_in_floats():
    r = nnx.Rngs(5)
    net = T.SpikingNetwork(T.SpikingLayer(8, 12, rngs=r), _Silenced(12, 3, rngs=r))
    x = _inputs(t=20, b=2, n=8, p=0.5)
    out = net(x)
    assert float(out.counts[0].sum()) > 0
    np.testing.assert_array_equal(np.asarray(out.y), 0.0)
    carry = net.step(net.init_carry(2), x[0])[0]
    assert float(jnp.abs(net.step(carry, x[1])[1][0]).max()) == 0.0
    counts = T.SpikingNetwork(T.SpikingLayer(8, 12, rngs=nnx.Rngs(5)), T.LeakyReadout(12, 3, rngs=nnx.Rngs(5)))(
        x.astype(bool)).counts[0]
    assert jnp.issubdtype(counts.dtype, jnp.floating) and float(counts.max()) > 1


@pytest.mark.parametrize("kind", ["feedforward", "dense", "csr", "astrocyte", "remat", "user_step"])
def test_hoisted_products_give_the_one_scan_network_bit_for_bit(kind):
    """SpikingNetwork computes each layer's x W for all steps in one matrix product (issue 26):
    its spikes equal stepping every layer in one scan, to the last bit; its readout too, to the
    last bit where XLA sums a step's rows as it sums them in the product of all steps (here the
    5 x 16 by 16 x 3 readout product is not: one ulp); its gradient equals that network's to
    rounding (the weight gradient is summed in another order)."""
    r = nnx.Rngs(3)
    recurrent = {"dense": "dense", "csr": ns.events.fixed_probability(24, 24, 0.2, seed=2)}.get(kind)
    first = {"astrocyte": T.AstrocyteLayer(8, 24, n_astrocytes=4, tau_astrocyte=20.0, rngs=r),
             "user_step": _Shifted(8, 24, rngs=r)}.get(kind) or T.SpikingLayer(8, 24, recurrent=recurrent, rngs=r)
    layers = (first, T.SpikingLayer(24, 16, recurrent="dense" if kind == "dense" else None, rngs=r), T.LeakyReadout(16, 3, rngs=r))
    net = T.SpikingNetwork(*layers, record_spikes=True, remat_chunk=7 if kind == "remat" else None)
    x = _inputs(t=40, b=5, n=8, p=0.4)
    out = jax.jit(lambda x: net(x))(x)
    y, outs = jax.jit(lambda x: _one_scan(net, x))(x)
    assert 0.02 < float(out.spikes[0].mean()) < 0.6 and float(out.spikes[1].mean()) > 0.01
    np.testing.assert_allclose(np.asarray(out.y), np.asarray(y), rtol=1e-6, atol=1e-6)
    for k in range(2):
        np.testing.assert_array_equal(np.asarray(out.spikes[k]), np.asarray(outs[k]))
        np.testing.assert_array_equal(np.asarray(out.counts[k]), np.asarray(outs[k]).sum(0))
    lab = jnp.array([0, 1, 2, 0, 1])
    loss = T.CrossEntropy("mean")
    graphdef, params, rest = nnx.split(net, nnx.Param, ...)
    g_new = jax.grad(lambda p: loss(nnx.merge(graphdef, p, rest)(x), lab))(params)
    g_old = jax.grad(lambda p: loss(T.layers.Outputs(_one_scan(nnx.merge(graphdef, p, rest), x)[0], (), ()), lab))(params)
    for a, b in zip(jax.tree.leaves(g_new), jax.tree.leaves(g_old)):
        scale = float(jnp.abs(b).max())
        assert scale > 0
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("model", ["adaptive_lif", "izhikevich", "adex"])
def test_layers_take_any_neurosim_neuron_model(model):
    models = {
        "adaptive_lif": (ns.neurons.AdaptiveLIF(), ns.neurons.AdaptiveLIFParams(t_ref=0.0)),
        "izhikevich": (ns.neurons.Izhikevich(), ns.neurons.IzhikevichParams()),
        "adex": (ns.neurons.AdEx(), ns.neurons.AdExParams()),
    }
    neuron, params = models[model]
    r = nnx.Rngs(0)
    net = T.SpikingNetwork(T.SpikingLayer(8, 10, neuron=neuron, params=params, w_std=400.0, rngs=r),
                           T.LeakyReadout(10, 2, rngs=r), dt=0.5, record_spikes=True)
    x = _inputs(t=100, b=2, n=8, p=0.5)
    out = net(x)
    # the layer's spikes are the model's own, stepped by hand with the same currents
    state = jax.tree.map(lambda a: jnp.broadcast_to(a, (2, 10)), neuron.init(params, 10, jax.random.key(0)))
    w, b = net.layers[0].w[...], net.layers[0].b[...]
    zs = []
    for t in range(100):
        state, z = neuron.step(params, state, x[t] @ w + b[None], 0.5)
        zs.append(z)
    np.testing.assert_array_equal(np.asarray(out.spikes[0]), np.asarray(jnp.stack(zs)))
    assert float(out.spikes[0].sum()) > 0
    g = nnx.grad(lambda m: T.CrossEntropy("mean")(m(x), jnp.array([0, 1])))(net).layers[0].w[...]
    assert float(jnp.abs(g).sum()) > 0


def test_layer_errors_name_the_argument():
    r = nnx.Rngs(0)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        T.SpikingLayer(4, 0, rngs=r)
    with pytest.raises(ValueError, match="recurrent connectivity must be 5 x 5"):
        T.SpikingLayer(4, 5, recurrent=ns.events.fixed_probability(6, 6, 0.5), rngs=r)
    with pytest.raises(ValueError, match="recurrent must be None, 'dense', a CSR or a JitConn, got 'sparse'"):
        T.SpikingLayer(4, 5, recurrent="sparse", rngs=r)
    with pytest.raises(ValueError, match="layer 0 has 5 outputs but layer 1 expects 6 inputs"):
        T.SpikingNetwork(T.SpikingLayer(4, 5, rngs=r), T.LeakyReadout(6, 2, rngs=r))
    with pytest.raises(ValueError, match=r"x_seq must have shape \(T, B, 4\)"):
        T.SpikingNetwork(T.SpikingLayer(4, 5, rngs=r))(jnp.zeros((10, 4)))
    with pytest.raises(ValueError, match="scale must be > 0"):
        T.lif(scale=0.0)
    with pytest.raises(ValueError, match="surrogate must be one of"):
        T.lif(surrogate="tanh")
    with pytest.raises(ValueError, match="tau must be a positive finite number, got -1"):
        T.LeakyReadout(4, 2, tau=-1.0, rngs=r)


# ------------------------------------------------------------------------------- e-prop
def _as64(net):
    graphdef, state = nnx.split(net)
    return nnx.merge(graphdef, jax.tree.map(
        lambda a: a.astype(jnp.float64) if isinstance(a, jax.Array) and jnp.issubdtype(a.dtype, jnp.floating) else a,
        state))


@pytest.mark.parametrize("loss_kind", ["ce", "mse"])
def test_eprop_equals_bptt_without_recurrent_connections(loss_kind, x64):
    net = _as64(_net(None))
    x = _inputs(t=40).astype(jnp.float64)
    if loss_kind == "ce":
        loss, target = T.CrossEntropy("steps", window=(10, 40)), jnp.array([0, 1, 2, 1])
    else:
        loss = T.StepMSE()
        target = jnp.sin(jnp.arange(40)[None, :, None] / 5.0 + jnp.arange(3)[None, None, :]) * jnp.ones((4, 1, 1))
    value, g = T.eprop_gradients(net, x, target, loss=loss)
    value_bptt, g_bptt = nnx.value_and_grad(lambda m: loss(m(x), target))(net)
    assert float(value) == pytest.approx(float(value_bptt), rel=1e-12)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(nnx.state(g_bptt, nnx.Param))):
        assert float(jnp.abs(b).max()) > 0
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12)


def test_eprop_with_recurrence_is_exact_for_the_readout_and_approximate_for_the_rest(x64):
    net = _as64(_net("dense"))
    x = _inputs(t=40).astype(jnp.float64)
    loss, lab = T.CrossEntropy("steps"), jnp.array([0, 1, 2, 1])
    _, g = T.eprop_gradients(net, x, lab, loss=loss)
    g_bptt = nnx.grad(lambda m: loss(m(x), lab))(net)
    np.testing.assert_allclose(np.asarray(g["layers"][1]["w"][...]), np.asarray(g_bptt.layers[1].w[...]), rtol=1e-9)
    a, b = np.asarray(g["layers"][0]["w"][...]).ravel(), np.asarray(g_bptt.layers[0].w[...]).ravel()
    cosine = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert 0.1 < cosine < 0.999      # the dropped recurrent paths: aligned, not equal


def test_eprop_memory_does_not_grow_with_time():
    net = _net("dense")
    lab = jnp.arange(4) % 3
    graphdef, params, rest = nnx.split(net, nnx.Param, ...)

    def temp_bytes(t):
        x = _inputs(t=t)
        f = jax.jit(lambda p: T.eprop_gradients(nnx.merge(graphdef, p, rest), x, lab)[1])
        return f.lower(params).compile().memory_analysis().temp_size_in_bytes

    short, long = temp_bytes(200), temp_bytes(2000)
    assert long <= 1.25 * short, (short, long)           # BPTT's would grow ~10x: see the test above


def test_eprop_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="sum over steps"):
        T.eprop_gradients(_net(), _inputs(), jnp.zeros(4, int), loss=T.CrossEntropy("max"))
    r = nnx.Rngs(0)
    with pytest.raises(ValueError, match=r"needs SpikingNetwork\(SpikingLayer"):
        T.eprop_gradients(T.SpikingNetwork(T.SpikingLayer(8, 4, rngs=r)), _inputs(), jnp.zeros(4, int))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        T.eprop_gradients(_net(), _inputs(), jnp.zeros(3, int))


# ------------------------------------------------------------------------- three-factor
def test_three_factor_rule_equals_a_written_out_presynaptic_trace_times_the_broadcast_error(x64):
    net = _as64(_net(None, record_spikes=True))
    x = _inputs(t=40).astype(jnp.float64)
    target = jnp.sin(jnp.arange(40)[None, :, None] / 5.0 + jnp.arange(3)[None, None, :]) * jnp.ones((4, 1, 1))
    value, g = T.three_factor_gradients(net, x, target, loss=T.StepMSE())
    out = net(x)
    y, z, xs = np.asarray(out.y), np.asarray(out.spikes[0]), np.asarray(x)
    kappa = np.exp(-1.0 / 10.0)                                    # the readout's tau, 10 ms
    dy = (y - np.swapaxes(np.asarray(target), 0, 1)) / (4 * 40)    # d(StepMSE)/dy, (T, B, C)
    w_out = np.asarray(net.layers[1].w[...])
    g_w, g_b, g_out = np.zeros((8, 16)), np.zeros(16), np.zeros((16, 3))
    x_bar, z_bar, one_bar = np.zeros((4, 8)), np.zeros((4, 16)), 0.0
    for t in range(40):
        x_bar, z_bar, one_bar = kappa * x_bar + xs[t], kappa * z_bar + z[t], kappa * one_bar + 1.0
        signal = dy[t] @ w_out.T                                  # (B, n): the error sent back
        g_w += x_bar.T @ signal
        g_b += one_bar * signal.sum(0)
        g_out += z_bar.T @ dy[t]
    assert float(value) == pytest.approx(float(T.StepMSE()(out, target)), rel=1e-12)
    np.testing.assert_allclose(np.asarray(g["layers"][0]["w"][...]), g_w, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(np.asarray(g["layers"][0]["b"][...]), g_b, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(np.asarray(g["layers"][1]["w"][...]), g_out, rtol=1e-9, atol=1e-13)
    # and the readout's part is its exact gradient, as in e-prop
    g_bptt = nnx.grad(lambda m: T.StepMSE()(m(x), target))(net)
    np.testing.assert_allclose(g_out, np.asarray(g_bptt.layers[1].w[...]), rtol=1e-9, atol=1e-13)
    a, b = g_w.ravel(), np.asarray(g_bptt.layers[0].w[...]).ravel()
    assert 0.0 < a @ b / np.linalg.norm(a) / np.linalg.norm(b) < 0.999   # a descent direction, not the gradient


def test_three_factor_memory_does_not_grow_with_time_and_fit_learns_by_it():
    net = _net("dense")
    lab = jnp.arange(4) % 3
    graphdef, params, rest = nnx.split(net, nnx.Param, ...)

    def temp_bytes(t):
        x = _inputs(t=t)
        f = jax.jit(lambda p: T.three_factor_gradients(nnx.merge(graphdef, p, rest), x, lab)[1])
        return f.lower(params).compile().memory_analysis().temp_size_in_bytes

    short, long = temp_bytes(200), temp_bytes(2000)
    assert long <= 1.25 * short, (short, long)
    x, y = _data()
    h = T.fit(_net(), x, y, encode=_enc, loss=T.CrossEntropy("steps"), gradient="three_factor", epochs=6,
              batch_size=32, optimizer=optax.adam(1e-2), progress=False)
    assert h["loss"][-1] < 0.6 * h["loss"][0], h["loss"]


@pytest.mark.parametrize("gradient", ["eprop", "three_factor"])
def test_online_rules_train_only_what_the_filter_selects(gradient):
    x, y = _data()
    net = _net("dense")
    w_rec0, w0 = np.asarray(net.layers[0].w_rec[...]).copy(), np.asarray(net.layers[0].w[...]).copy()
    fixed_recurrence = nnx.All(nnx.Param, nnx.Not(nnx.PathContains("w_rec")))
    T.fit(net, x, y, encode=_enc, loss=T.CrossEntropy("steps"), gradient=gradient, trainable=fixed_recurrence,
          epochs=1, batch_size=32, progress=False)
    np.testing.assert_array_equal(np.asarray(net.layers[0].w_rec[...]), w_rec0)
    assert not np.array_equal(np.asarray(net.layers[0].w[...]), w0)
    with pytest.raises(ValueError, match="have no gradient for .*params"):
        T.fit(_net(), x, y, encode=_enc, loss=T.CrossEntropy("steps"), gradient=gradient,
              trainable=nnx.Any(nnx.Param, T.NeuronParams), epochs=1, batch_size=32, progress=False)
    with pytest.raises(ValueError, match="takes no regulariser"):
        T.fit(_net(), x, y, encode=_enc, loss=T.CrossEntropy("steps"), gradient=gradient,
              regulariser=lambda out: 0.0, epochs=1, batch_size=32, progress=False)


def test_three_factor_refuses_bad_input():
    with pytest.raises(ValueError, match="tau_pre must be a positive number of ms, got -1"):
        T.three_factor_gradients(_net(), _inputs(), jnp.zeros(4, int), tau_pre=-1.0)
    with pytest.raises(ValueError, match="sum over steps"):
        T.three_factor_gradients(_net(), _inputs(), jnp.zeros(4, int), loss=T.CrossEntropy("max"))
    with pytest.raises(ValueError, match=r"feedback must have the readout's weight shape \(16, 3\)"):
        T.three_factor_gradients(_net(), _inputs(), jnp.zeros(4, int), feedback=jnp.zeros((3, 16)))


# ------------------------------------------------------------------------------ datasets
def test_randman_one_spike_per_unit_same_seed_same_data_and_classes_that_differ():
    x, y = T.randman(n_classes=4, n_units=12, dim=1, n_steps=30, per_class=100, seed=3)
    assert x.shape == (400, 30, 12) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x.sum(1), np.ones((400, 12)))          # exactly one spike per unit
    np.testing.assert_array_equal(np.bincount(y), [100] * 4)
    x2, y2 = T.randman(n_classes=4, n_units=12, dim=1, n_steps=30, per_class=100, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(x, T.randman(n_classes=4, n_units=12, dim=1, n_steps=30, per_class=100, seed=4)[0])
    # each unit's spike times span the whole window (min-max scaling over the dataset)
    times = x.argmax(1)
    np.testing.assert_array_equal(times.min(0), 0)
    np.testing.assert_array_equal(times.max(0), 29)
    # the classes are manifolds of their own: a nearest-centroid rule on spike times, fitted on
    # half the data, is far above chance (25 %) on the other half
    tr, te = slice(0, 200), slice(200, 400)
    centroids = np.stack([times[tr][y[tr] == c].mean(0) for c in range(4)])
    guess = np.argmin(((times[te][:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert np.mean(guess == y[te]) > 0.6


def test_pattern_generation_is_the_poisson_input_and_the_sum_of_its_sines():
    x, y = T.pattern_generation(50, 2000, seed=3)
    assert x.shape == (1, 2000, 50) and y.shape == (1, 2000, 1) and x.dtype == y.dtype == np.float32
    assert 9.0 < x.mean() * 1000.0 < 11.0                          # 10 Hz at 1-ms steps
    assert np.abs(y).max() == pytest.approx(1.0)
    power = np.abs(np.fft.rfft(y[0, :, 0])) ** 2                   # 2 s: bins of 0.5 Hz
    top = np.sort(np.argsort(power)[-4:]) * 0.5
    np.testing.assert_array_equal(top, [1.0, 2.0, 3.0, 5.0])
    np.testing.assert_array_equal(T.pattern_generation(50, 2000, seed=3)[0], x)
    with pytest.raises(ValueError, match="more than one spike per step"):
        T.pattern_generation(rate_hz=2000.0)


def test_randman_refuses_bad_input():
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2, got 1"):
        T.randman(n_classes=1)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        T.randman(alpha=-1.0)
    with pytest.raises(ValueError, match=r"prec must be in \(0, 1\)"):
        T.randman(prec=2.0)
    with pytest.raises(ValueError, match="n_steps must be an integer >= 2"):
        T.randman(n_steps=1)


# ------------------------------------------------------------------------------ encoders
def test_bernoulli_rate_matches_probability_and_refuses_out_of_range():
    x = jnp.array([[0.0, 0.25, 1.0]])
    s = T.bernoulli(jax.random.key(0), jnp.repeat(x, 500, 0), 40)
    np.testing.assert_allclose(np.asarray(s.mean((0, 1))), [0.0, 0.25, 1.0], atol=0.01)
    with pytest.raises(ValueError, match="x must be >= 0.0 for this encoder, got a minimum of -0.1"):
        T.bernoulli(jax.random.key(0), jnp.array([[-0.1, 0.5]]), 10)
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1"):
        T.bernoulli(jax.random.key(0), x, 0)


def test_latency_codes_one_spike_at_the_right_step():
    x = jnp.array([[1.0, 0.5, 0.0]])
    s = np.asarray(T.latency(x, 11))
    assert s.sum() == 2 and s[0, 0, 0] == 1 and s[5, 0, 1] == 1 and s[:, 0, 2].sum() == 0
    tau, th = 20.0, 0.2
    s = np.asarray(T.latency(jnp.array([[0.6]]), 100, kind="log", tau=tau, threshold=th))
    assert int(np.argmax(s[:, 0, 0])) == round(tau * np.log(0.6 / 0.4))


def test_delta_encoder_counts_threshold_crossings():
    sig = jnp.concatenate([jnp.linspace(0, 1, 11), jnp.linspace(1, 0, 11)[1:]])[:, None, None]
    s = np.asarray(T.delta(sig, 0.25))
    assert s[..., 0].sum() == 4 and s[..., 1].sum() == 4


# -------------------------------------------------------------------------------- losses
def test_cross_entropy_readouts_and_errors():
    y = jnp.array([[[1.0, 0.0]], [[3.0, 0.5]], [[0.0, 2.0]]])          # (T=3, B=1, C=2)
    out = T.Outputs(y=y, counts=(), spikes=())
    for readout, logits in [("max", [3.0, 2.0]), ("mean", [4 / 3, 2.5 / 3]), ("last", [0.0, 2.0]), ("count", [4, 2.5])]:
        want = -jax.nn.log_softmax(jnp.array(logits))[0]
        assert float(T.CrossEntropy(readout)(out, jnp.array([0]))) == pytest.approx(float(want), rel=1e-6)
    steps = np.mean([-jax.nn.log_softmax(y[t, 0])[1] for t in range(3)])
    assert float(T.CrossEntropy("steps")(out, jnp.array([1]))) == pytest.approx(float(steps), rel=1e-6)
    with pytest.raises(ValueError, match=r"labels must have shape \(1,\)"):
        T.CrossEntropy()(out, jnp.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        T.CrossEntropy()(out, jnp.array([2]))
    with pytest.raises(ValueError, match="readout must be one of"):
        T.CrossEntropy("median")


def test_first_spike_times_are_exact_for_binary_spikes():
    z = np.zeros((6, 1, 3), np.float32)
    z[2, 0, 0] = z[4, 0, 0] = z[0, 0, 1] = 1
    np.testing.assert_array_equal(np.asarray(T.first_spike_times(jnp.asarray(z)))[0], [2, 0, 6])


def test_rate_regulariser_penalises_outside_the_band_only():
    counts = jnp.array([[0.0, 5.0, 10.0]])       # rates 0, 0.5, 1 per step over 10 steps
    got = float(T.rate_regulariser(counts, 10, lower=0.1, upper=0.6))
    assert got == pytest.approx((0.1 ** 2 + 0.4 ** 2) / 3, rel=1e-6)


# ---------------------------------------------------------------------------------- loop
def _data(n=192, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = rng.uniform(0, 1, (3, 8))
    x = np.clip(centres[labels] + 0.1 * rng.normal(size=(n, 8)), 0, 1).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(labels)


def _enc(key, xb):
    return T.bernoulli(key, xb, 20)


def test_fit_learns_is_deterministic_and_resumes_bitwise(tmp_path):
    x, y = _data()
    a, b = _net(), _net()
    h = T.fit(a, x, y, encode=_enc, epochs=4, batch_size=32, key=3, optimizer=optax.adam(1e-2), progress=False)
    assert h["loss"][-1] < 0.3 * h["loss"][0] and h["train_acc"][-1] > 0.9
    ck = tmp_path / "ck.npz"
    T.fit(b, x, y, encode=_enc, epochs=2, batch_size=32, key=3, optimizer=optax.adam(1e-2), progress=False,
          checkpoint=ck)
    c = _net(seed=9)                             # other initial weights: the checkpoint replaces them
    h2 = T.fit(c, x, y, encode=_enc, epochs=4, batch_size=32, key=3, optimizer=optax.adam(1e-2), progress=False,
               checkpoint=ck, resume=True)
    for u, v in zip(jax.tree.leaves(nnx.state(a, nnx.Param)), jax.tree.leaves(nnx.state(c, nnx.Param))):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert h2["loss"] == h["loss"]
    with pytest.raises(ValueError, match="written for another model"):
        T.fit(_net(n=12), x, y, encode=_enc, epochs=3, batch_size=32, progress=False, checkpoint=ck, resume=True)


def test_fit_by_eprop_learns():
    x, y = _data()
    h = T.fit(_net(), x, y, encode=_enc, loss=T.CrossEntropy("steps"), gradient="eprop", epochs=4, batch_size=32,
              optimizer=optax.adam(1e-2), progress=False)
    assert h["loss"][-1] < 0.4 * h["loss"][0] and h["train_acc"][-1] > 0.9


def test_early_stopping_restores_the_best_epoch():
    x, y = _data()
    xv, yv = _data(48, seed=0)
    net = _net()
    h = T.fit(net, x, y, encode=_enc, epochs=40, batch_size=32, validation=(xv, yv), patience=2,
              optimizer=optax.adam(3e-2), progress=False)
    assert h["stopped_early"] and len(h["epoch"]) < 40
    best = h["best_epoch"]
    assert h["val_acc"][best - 1] == max(h["val_acc"])


def test_fit_errors_name_the_argument():
    x, y = _data()
    with pytest.raises(ValueError, match="batch_size = 500 is larger than the 192 training samples"):
        T.fit(_net(), x, y, encode=_enc, batch_size=500, progress=False)
    with pytest.raises(ValueError, match="patience .* needs validation"):
        T.fit(_net(), x, y, encode=_enc, batch_size=32, patience=2, progress=False)
    with pytest.raises(ValueError, match="x has 192 samples but the labels/targets have shape"):
        T.fit(_net(), x, y[:10], encode=_enc, batch_size=32, progress=False)
    with pytest.raises(ValueError, match="gradient must be 'bptt', 'eprop' or 'three_factor'"):
        T.fit(_net(), x, y, encode=_enc, batch_size=32, gradient="rtrl", progress=False)
    with pytest.raises(ValueError, match="fit: x holds 1 NaN or infinite values"):
        T.fit(_net(), x.at[3, 2].set(jnp.nan), y, encode=_enc, batch_size=32, progress=False)
    with pytest.raises(FloatingPointError, match=r"non-finite gradient or update \(inf or NaN\) in batch 0 of epoch 1"):
        T.fit(_net(), x, y, encode=_enc, epochs=1, batch_size=32, optimizer=optax.sgd(float("nan")), progress=False)


def test_fit_refuses_a_non_finite_gradient_that_would_silence_the_network():
    # BPTT through 1000 steps of strong recurrence overflows float32 to inf; NaN weights then
    # make every membrane NaN, which never spikes, and the loss stays finite. fit must say so.
    r = nnx.Rngs(0)
    neuron, params = T.lif(tau=20.0, scale=1.0, t_ref=2.0)
    net = T.SpikingNetwork(T.SpikingLayer(50, 100, neuron=neuron, params=params, recurrent="dense", w_std=15.0,
                                          bias=False, rngs=r), T.LeakyReadout(100, 1, tau=20.0, w_std=0.01, rngs=r))
    rng = np.random.default_rng(0)
    x = jnp.asarray((rng.uniform(size=(1, 1000, 50)) < 0.01).astype(np.float32))
    target = jnp.asarray(np.sin(np.arange(1000) / 50.0)[None, :, None].astype(np.float32))
    before = np.asarray(net.layers[0].w[...]).copy()
    with pytest.raises(FloatingPointError, match="non-finite gradient or update .* in batch 0 of epoch 1"):
        T.fit(net, x, target, loss=T.StepMSE(), epochs=2, batch_size=1, progress=False)
    np.testing.assert_array_equal(np.asarray(net.layers[0].w[...]), before)     # left as it was


# ------------------------------------------------------------------ simulate under transforms
@pytest.mark.parametrize("transform", ["grad", "vmap", "jit"])
def test_simulate_under_a_transformation_points_to_run(transform):
    net = ns.Network([ns.Population("E", 4, ns.neurons.LIF())])
    params = net.params()

    def f(g_l):
        p = params._replace(neurons={"E": params.neurons["E"]._replace(g_l=g_l)})
        return ns.simulate(net, 1.0, params=p).spikes["E"].sum() * 0.0 + g_l

    fn = {"grad": jax.grad(f), "vmap": jax.vmap(f), "jit": jax.jit(f)}[transform]
    arg = jnp.ones(3) * 10.0 if transform == "vmap" else jnp.asarray(10.0)
    with pytest.raises(TypeError, match=r"simulate was called with a traced params .*Use ns.run\(net, params"):
        fn(arg)


def test_fit_trains_neuron_parameters_only_when_the_filter_names_them():
    x, y = _data()
    fixed, learned = _net(), _net()
    T.fit(fixed, x, y, encode=_enc, epochs=2, batch_size=32, optimizer=optax.adam(1e-2), progress=False)
    T.fit(learned, x, y, encode=_enc, epochs=2, batch_size=32, optimizer=optax.adam(1e-2), progress=False,
          trainable=nnx.Any(nnx.Param, T.NeuronParams))
    assert float(fixed.layers[0].params.get_value().c_m) == 10.0          # the membrane time constant, ms
    assert float(learned.layers[0].params.get_value().c_m) != 10.0


# ------------------------------------------------------------------- a whole ns.Network
def _two_class_network(seed=0):
    rng = np.random.default_rng(seed)
    n, steps, n_in = 192, 30, 20
    y = rng.integers(0, 2, n)
    p = np.where((np.arange(n_in)[None, :] < 10) == (y[:, None] == 0), 0.25, 0.03)
    x = (rng.random((n, steps, n_in)) < p[:, None, :]).astype(np.float32)
    conn = ns.events.all_to_all(n_in, 32)
    w0 = rng.normal(150.0, 80.0, conn.nnz)
    net = ns.Network([ns.Population("in", n_in, ns.builders.RasterSource(steps)),
                      ns.Population("hid", 32, ns.neurons.LIF())], [ns.Projection("IH", "in", "hid", conn, w0)])
    return net, jnp.asarray(x), jnp.asarray(y), w0


def _groups(params):
    return jax.tree_util.tree_map_with_path(
        lambda p, _: "net" if "weights" in jax.tree_util.keystr(p) else "readout", params)


def test_a_network_model_is_ns_run_differentiated():
    net, x, y, w0 = _two_class_network()
    model = T.NetworkModel(net, input="in", output="hid", readout=T.LeakyReadout(32, 2, rngs=nnx.Rngs(0)), dt=1.0)
    xs = jnp.swapaxes(x[:6], 0, 1)
    loss = T.CrossEntropy("max")
    g_model = nnx.grad(lambda m: loss(m(xs), y[:6]))(model).weights.get_value()["IH"]
    ro_w, ro_b = model.readout.w[...], model.readout.b[...]

    def by_hand(w):                          # the same computation written out with ns.run
        params = net.params().with_weights({"IH": w})
        keys = jax.random.split(jax.random.key(0), 6)

        def one(xb, key):
            state = ns.builders.set_input_raster(ns.init_state(net, params, key, 1.0), xb, "in")
            return ns.run(net, params, state, 30, 1.0)[1]["hid"]
        z = jax.vmap(one, in_axes=(1, 0), out_axes=1)(xs, keys)
        k = np.exp(-1.0 / 10.0)
        ys = jax.lax.scan(lambda r, zt: (r * k + zt @ ro_w + ro_b[None],) * 2, jnp.zeros((6, 2)), z)[1]
        return optax.softmax_cross_entropy_with_integer_labels(ys.max(0), y[:6]).mean()

    g_hand = jax.grad(by_hand)(jnp.asarray(w0, jnp.float32))
    assert float(jnp.abs(g_hand).max()) > 0
    np.testing.assert_allclose(np.asarray(g_model), np.asarray(g_hand), rtol=1e-4, atol=1e-7)


def test_fit_trains_a_whole_network_better_than_its_readout_alone():
    net, x, y, w0 = _two_class_network()
    losses = {}
    for lr in (0.0, 5.0):
        model = T.NetworkModel(net, input="in", output="hid", readout=T.LeakyReadout(32, 2, w_std=0.05, rngs=nnx.Rngs(0)))
        opt = optax.multi_transform({"net": optax.adam(lr) if lr else optax.set_to_zero(), "readout": optax.adam(1e-2)},
                                    _groups)
        h = T.fit(model, x, y, epochs=8, batch_size=32, optimizer=opt, progress=False)
        losses[lr] = h["loss"][-1]
        moved = float(jnp.abs(model.weights.get_value()["IH"] - w0).max())
        assert (moved > 10.0) == (lr > 0)
        # everything but the weights is the network's own
        for a, b in zip(jax.tree.leaves(model.rest.get_value().neurons), jax.tree.leaves(net.params().neurons)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert losses[5.0] < 0.2 * losses[0.0], losses


def test_network_model_refusals():
    net, x, y, _ = _two_class_network()
    with pytest.raises(ValueError, match="the input population 'hid' must be a RasterSource"):
        T.NetworkModel(net, input="hid", output="hid")
    with pytest.raises(ValueError, match="readout must be a LeakyReadout with n_in = 32"):
        T.NetworkModel(net, input="in", output="hid", readout=T.LeakyReadout(5, 2, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=r"projections: no projection named \['XY'\]"):
        T.NetworkModel(net, input="in", output="hid", projections=["XY"])
    with pytest.raises(ValueError, match=r"x_seq must have shape \(T, B, 20\)"):
        T.NetworkModel(net, input="in", output="hid")(jnp.zeros((30, 2, 7)))


def _bf16(a):
    return np.asarray(jnp.asarray(a).astype(jnp.bfloat16).astype(jnp.float32), np.float64)


def test_bfloat16_product_is_the_product_of_the_rounded_operands_forward_backward_and_vmapped():
    """``product_dtype="bfloat16"``: x and W rounded to bfloat16, products summed in float32; the
    backward products likewise with the cotangent rounded (reference: float64 sums of the
    rounded operands)."""
    from neurosim.train.layers import _bf16_product, _cpu_flags, BF16_CPU_FLAGS

    x = jax.random.normal(jax.random.key(0), (40, 33))
    w = jax.random.normal(jax.random.key(1), (33, 17))
    g = jax.random.normal(jax.random.key(2), (40, 17))
    y, vjp = jax.vjp(_bf16_product, x, w)
    np.testing.assert_allclose(np.asarray(y), _bf16(x) @ _bf16(w), rtol=1e-5, atol=1e-5)
    assert not np.allclose(np.asarray(y), np.asarray(x, np.float64) @ np.asarray(w, np.float64), rtol=1e-4, atol=0)
    dx, dw = vjp(g)
    assert dx.dtype == x.dtype and dw.dtype == w.dtype
    np.testing.assert_allclose(np.asarray(dx), _bf16(g) @ _bf16(w).T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(dw), _bf16(x).T @ _bf16(g), rtol=1e-5, atol=1e-5)
    xs = jax.random.normal(jax.random.key(3), (3, 40, 33))
    batched = jax.vmap(_bf16_product, in_axes=(0, None))(xs, w)
    for k in range(3):
        np.testing.assert_array_equal(np.asarray(batched[k]), np.asarray(_bf16_product(xs[k], w)))
    if _cpu_flags() & set(BF16_CPU_FLAGS) or jax.default_backend() != "cpu":
        r = nnx.Rngs(0)
        net = T.SpikingNetwork(T.SpikingLayer(8, 24, product_dtype="bfloat16", rngs=r), T.LeakyReadout(24, 3, rngs=r))
        ref = T.SpikingNetwork(T.SpikingLayer(8, 24, rngs=nnx.Rngs(0)), T.LeakyReadout(24, 3, rngs=nnx.Rngs(0)))
        ref.layers[0].w[...] = jnp.asarray(_bf16(net.layers[0].w[...]), jnp.float32)
        ref.layers[1].w[...] = net.layers[1].w[...]
        x_in = _inputs(t=30, b=4, n=8, p=0.4)        # spikes: exact in bfloat16
        a, b = net(x_in), ref(x_in)
        np.testing.assert_array_equal(np.asarray(a.counts[0]), np.asarray(b.counts[0]))
        np.testing.assert_allclose(np.asarray(a.y), np.asarray(b.y), rtol=1e-5, atol=1e-5)


def test_bfloat16_is_refused_where_the_cpu_would_emulate_it(monkeypatch):
    from neurosim.train import layers

    with pytest.raises(ValueError, match="product_dtype must be None .* or 'bfloat16', got 'float16'"):
        T.SpikingLayer(4, 4, product_dtype="float16", rngs=nnx.Rngs(0))
    monkeypatch.setattr(layers, "_cpu_flags", lambda: {"avx2", "avx512f"})
    monkeypatch.setattr(layers.jax, "default_backend", lambda: "cpu")
    for make in (lambda: T.SpikingLayer(4, 4, product_dtype="bfloat16", rngs=nnx.Rngs(0)),
                 lambda: T.LeakyReadout(4, 2, product_dtype="bfloat16", rngs=nnx.Rngs(0))):
        with pytest.raises(ValueError, match="product_dtype='bfloat16' needs a CPU that multiplies bfloat16 natively"):
            make()


# ----------------------------------------------------------------------------- learnable input delays


def _delayed_reference(x, w, b, d, top):
    """I[t, b, j] = sum_i W_ij [(1 - f) x_i(t - n) + f x_i(t - n - 1)] + b_j, n = floor(d), f = d - n,
    with x = 0 before the first step and d clipped to [0, top] (numpy, float64)."""
    x, w, d = np.asarray(x, np.float64), np.asarray(w, np.float64), np.clip(np.asarray(d, np.float64), 0, top)
    steps = x.shape[0]
    out = np.zeros((steps, x.shape[1], w.shape[1])) + np.asarray(b, np.float64)
    n, f = np.floor(d).astype(int), d - np.floor(d)
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            for lag, share in ((n[i, j], 1 - f[i, j]), (n[i, j] + 1, f[i, j])):
                if share and lag <= top:
                    out[lag:, :, j] += w[i, j] * share * x[: steps - lag, :, i]
    return out


def _delayed_layer(top=5, n_in=4, n=3, seed=0, **kw):
    return T.SpikingLayer(n_in, n, max_delay=top, rngs=nnx.Rngs(seed), **kw)


def test_learnable_delays_read_the_input_between_steps_and_carry_it_across_blocks():
    layer = _delayed_layer(top=5)
    layer.d[...] = jnp.asarray([[0.0, 1.5, 5.0], [2.25, 7.0, -1.0], [4.75, 0.5, 3.0], [1.0, 2.0, 4.2]])   # 7 and -1: clipped
    layer.b[...] = jnp.asarray([0.1, -0.2, 0.3])
    x = jax.random.normal(jax.random.key(0), (30, 2, 4))
    ref = _delayed_reference(x, layer.w[...], layer.b[...], layer.d[...], 5)
    carry = layer.init_carry(2)
    _, whole = layer.feed_block(carry, x)
    np.testing.assert_allclose(np.asarray(whole), ref, rtol=1e-5, atol=1e-5)
    c, first = layer.feed_block(carry, x[:11])                   # two blocks: the carry holds the last 5 inputs
    _, second = layer.feed_block(c, x[11:])
    np.testing.assert_allclose(np.asarray(jnp.concatenate([first, second])), ref, rtol=1e-5, atol=1e-5)
    # integer delays shift the input exactly
    layer.d[...] = jnp.full((4, 3), 3.0)
    _, shifted = layer.feed_block(carry, x)
    want = np.concatenate([np.zeros((3, 2, 3)), np.asarray(x[:-3]) @ np.asarray(layer.w[...])]) + np.asarray(layer.b[...])
    np.testing.assert_allclose(np.asarray(shifted), want, rtol=1e-5, atol=1e-5)


def test_learnable_delays_gradient_vmap_and_the_network_equals_stepping():
    from jax.test_util import check_grads

    layer = _delayed_layer(top=4, n_in=3, n=2, seed=1)
    d0 = jnp.asarray([[0.3, 1.6], [2.4, 3.7], [1.2, 0.8]])       # away from whole steps (the kinks)
    x = jax.random.normal(jax.random.key(2), (12, 2, 3))
    graphdef, params, rest = nnx.split(layer, nnx.Param, ...)

    def current(w, d):
        p = jax.tree.map(lambda v: v, params)
        p["w"][...], p["d"][...] = w, d
        m = nnx.merge(graphdef, p, rest)
        return m.feed_block(m.init_carry(2), x)[1]

    check_grads(current, (layer.w[...], d0), order=1, modes=("fwd", "rev"), eps=1e-3, atol=2e-2, rtol=2e-2)
    # the delay gradient against finite differences of the float64 reference
    g = jax.grad(lambda d: jnp.sum(current(layer.w[...], d) ** 2))(d0)
    eps = 1e-4
    for (i, j) in [(0, 0), (1, 1), (2, 0)]:
        up, down = np.asarray(d0, np.float64).copy(), np.asarray(d0, np.float64).copy()
        up[i, j] += eps
        down[i, j] -= eps
        num = (np.sum(_delayed_reference(x, layer.w[...], layer.b[...], up, 4) ** 2)
               - np.sum(_delayed_reference(x, layer.w[...], layer.b[...], down, 4) ** 2)) / (2 * eps)
        np.testing.assert_allclose(float(g[i, j]), num, rtol=1e-3, atol=1e-3)
    # vmap over a batch of input sequences equals a loop
    xs = jax.random.normal(jax.random.key(3), (3, 12, 2, 3))
    layer.d[...] = d0
    batched = jax.vmap(lambda xx: layer.feed_block(layer.init_carry(2), xx)[1])(xs)
    for k in range(3):
        np.testing.assert_array_equal(np.asarray(batched[k]), np.asarray(layer.feed_block(layer.init_carry(2), xs[k])[1]))
    # a network with a delayed layer equals stepping it (one step at a time), and chunked BPTT equals plain
    r = nnx.Rngs(4)
    net = T.SpikingNetwork(T.SpikingLayer(6, 5, max_delay=7, rngs=r), T.LeakyReadout(5, 2, rngs=r), record_spikes=True)
    xin = _inputs(t=40, b=3, n=6, p=0.4)
    out = net(xin)
    carry, ys = net.init_carry(3), []
    for t in range(40):
        carry, (y, _) = net.step(carry, xin[t])
        ys.append(y)
    np.testing.assert_allclose(np.asarray(out.y), np.asarray(jnp.stack(ys)), rtol=1e-5, atol=1e-5)
    assert 0.02 < float(out.spikes[0].mean()) < 0.8
    chunked = T.SpikingNetwork(*net.layers, remat_chunk=9, record_spikes=True)
    np.testing.assert_array_equal(np.asarray(chunked(xin).spikes[0]), np.asarray(out.spikes[0]))


@pytest.mark.parametrize("whole", [0.0, 1.0, 3.0, 4.0])
def test_a_whole_step_delay_has_the_one_sided_slope_towards_the_next_step(whole):
    """At d = k the derivative is the slope of moving towards reading k + 1 (at D = 4, towards
    D - 1): the finite difference on that side, not an average with a spurious term."""
    layer = _delayed_layer(top=4, n_in=3, n=2, seed=2, delay_init=np.full((3, 2), 1.5))
    x = jax.random.normal(jax.random.key(5), (12, 2, 3))
    d0 = jnp.asarray(layer.d[...]).at[1, 0].set(whole)
    graphdef, params, rest = nnx.split(layer, nnx.Param, ...)

    def loss(d):
        p = jax.tree.map(lambda v: v, params)
        p["d"][...] = d
        m = nnx.merge(graphdef, p, rest)
        return jnp.sum(m.feed_block(m.init_carry(2), x)[1] ** 2)

    g = float(jax.grad(loss)(d0)[1, 0])
    step = -1e-3 if whole == 4.0 else 1e-3
    d1 = np.asarray(d0, np.float64).copy()
    d1[1, 0] += step
    ref = lambda d: np.sum(_delayed_reference(x, layer.w[...], layer.b[...], d, 4) ** 2)   # noqa: E731
    one_sided = (ref(d1) - ref(np.asarray(d0, np.float64))) / step
    np.testing.assert_allclose(g, one_sided, rtol=2e-3, atol=2e-3)


def test_learnable_delays_are_trained_by_fit_and_refused_where_they_cannot_run():
    r = nnx.Rngs(0)
    net = T.SpikingNetwork(T.SpikingLayer(6, 8, max_delay=5, rngs=r), T.LeakyReadout(8, 3, rngs=r))
    d0 = np.asarray(net.layers[0].d[...]).copy()
    assert d0.min() >= 0 and d0.max() <= 5
    x = _inputs(t=30, b=48, n=6, p=0.3).transpose(1, 0, 2)
    T.fit(net, x, np.arange(48) % 3, epochs=2, batch_size=16, progress=False)
    assert np.abs(np.asarray(net.layers[0].d[...]) - d0).max() > 0       # nnx.Param: trained with the weights
    with pytest.raises(ValueError, match="max_delay must be an integer >= 1, got 0"):
        T.SpikingLayer(3, 2, max_delay=0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"delay_init must be one value or \(3, 2\) .*in \[0, max_delay = 4\]"):
        T.SpikingLayer(3, 2, max_delay=4, delay_init=np.full((3, 2), 5.0), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="delay_init must be one value or"):
        T.SpikingLayer(3, 2, max_delay=4, delay_init=np.zeros((2, 3)), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="delay_init is given but max_delay is None"):
        T.SpikingLayer(3, 2, delay_init=1.0, rngs=nnx.Rngs(0))
    from neurosim import _checks

    huge = T.SpikingLayer(1000, 2, max_delay=10_000, rngs=nnx.Rngs(0))
    if _checks.available_host_bytes() is not None:     # 10^4 steps x 64 x 1000 x 10^4 lags: 25 TB
        with pytest.raises(MemoryError, match=r"SpikingLayer\(max_delay=10000\): the 10000 x 64 x 1000 x 10001 lagged.*remat_chunk"):
            jax.eval_shape(T.SpikingNetwork(huge), jax.ShapeDtypeStruct((10_000, 64, 1000), jnp.float32))   # traced only
    with pytest.raises(ValueError, match="delay_init must be numbers"):
        T.SpikingLayer(3, 2, max_delay=4, delay_init="soon", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="AstrocyteLayer does not take max_delay .*got max_delay=3"):
        T.AstrocyteLayer(3, 4, max_delay=3, rngs=nnx.Rngs(0))
    layer = T.SpikingLayer(3, 2, max_delay=2, delay_init=1.5, rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.asarray(layer.d[...]), np.full((3, 2), 1.5))
    with pytest.raises(ValueError, match=r"drive\(x, past\) cannot give the current of a layer with input delays"):
        layer.drive(jnp.zeros((1, 3)), jnp.zeros((1, 1, 2)))
    with pytest.raises(ValueError, match="the online rules do not learn input delays"):
        T.eprop_gradients(net, x.transpose(1, 0, 2)[:, :4], jnp.arange(4) % 3)
