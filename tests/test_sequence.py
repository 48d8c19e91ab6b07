"""neurosim.train.sequence: the spiking RWKV language model (SpikeGPT). Its LIF equals
spikingjelly's multi-step LIF written out; the recurrent form equals the parallel one; the
non-spiking option removes the LIFs; gradients reach every parameter; generation is seeded;
metrics; bad input."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from neurosim.train.corpus import Vocabulary, text_corpus
from neurosim.train.sequence import (
    SpikingRWKV,
    bits_per_character,
    evaluate_language_model,
    fit_language_model,
    generate,
    lif_over_tokens,
    lm_gradient,
    lm_loss,
    operation_counts,
    perplexity,
    sequence_loss,
    token_lif,
)

V, C, L, T = 11, 16, 2, 12


def _model(spiking=True, seed=0, dtype=jnp.float32, context=T):
    return SpikingRWKV(V, n_embd=C, n_layer=L, context=context, spiking=spiking, rngs=nnx.Rngs(seed), dtype=dtype)


def _excite(model, scale=3.0, seed=1):
    """Give the zero-initialised matrices random values, so the LIFs fire and every path is used."""
    keys = iter(jax.random.split(jax.random.key(seed), 64))
    for _, p in nnx.iter_graph(model):
        if isinstance(p, nnx.Param) and p.ndim == 2 and p.shape[0] != V:
            p[...] = scale * jax.random.normal(next(keys), p.shape, p.dtype) / math.sqrt(p.shape[0])
    return model


def _tokens(b=3, t=T, seed=2):
    return jax.random.randint(jax.random.key(seed), (b, t), 0, V)


def _spikingjelly_lif(x, tau=2.0, v_th=1.0):
    """spikingjelly's MultiStepLIFNode (decay_input, v_reset 0, hard reset) in numpy, x (T, ...)."""
    v, out = np.zeros(x.shape[1:]), []
    for xt in x:
        v = v + (xt - v) / tau
        s = (v >= v_th).astype(float)
        v = v * (1 - s)
        out.append(s)
    return np.stack(out)


def test_token_lif_is_spikingjelly_multistep_lif(x64):
    model, params = token_lif(2.0)
    x = 1.5 * np.asarray(jax.random.normal(jax.random.key(0), (4, 200, 7), jnp.float64)) + 0.8
    s = np.asarray(lif_over_tokens(model, params, jnp.asarray(x)))
    ref = np.swapaxes(_spikingjelly_lif(np.swapaxes(x, 0, 1)), 0, 1)
    assert 0.05 < s.mean() < 0.6
    np.testing.assert_array_equal(s, ref)
    assert params.c_m == pytest.approx(1 / math.log(2))      # kappa = exp(-1 / tau_m) = 1 - 1/2


def test_token_lif_surrogate_is_spikingjelly_atan_alpha_2(x64):
    model, params = token_lif(2.0)
    x = jnp.linspace(-2, 2, 9)
    # one step from rest: V = x / 2, s = spike(V - 1); d s / d x = 1/2 * g'(x / 2 - 1), g' = ATan(alpha=2)'
    g = jax.vmap(jax.grad(lambda xi: lif_over_tokens(model, params, xi[None, None, None])[0, 0, 0]))(x)
    z = x / 2 - 1
    alpha = 2.0
    np.testing.assert_allclose(g, 0.5 * (alpha / 2) / (1 + (math.pi / 2 * alpha * z) ** 2), rtol=1e-12)


def test_bad_lif_options():
    with pytest.raises(ValueError, match="tau must be > 1"):
        token_lif(1.0)
    with pytest.raises(ValueError, match="surrogate"):
        token_lif(2.0, surrogate="nope")


@pytest.mark.parametrize("spiking", [True, False])
def test_shapes_and_rates(spiking):
    m = _excite(_model(spiking))
    out = m(_tokens())
    assert out.logits.shape == (3, T, V) and out.rates.shape == (2 * L,)
    if spiking:
        assert np.all((np.asarray(out.rates) > 0) & (np.asarray(out.rates) < 1))
        assert 0 < float(out.embedding_rate) < 1
    else:
        assert np.all(np.asarray(out.rates) == 0) and float(out.embedding_rate) == 0


def test_causal():
    # changing a later token changes nothing before it
    m = _excite(_model())
    x = _tokens(1)
    y = x.at[0, 7].set((x[0, 7] + 1) % V)
    a, b = m(x).logits, m(y).logits
    np.testing.assert_array_equal(a[:, :7], b[:, :7])
    assert not np.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize("spiking", [True, False])
def test_recurrent_form_equals_parallel_form(spiking, x64):
    m = _excite(_model(spiking, dtype=jnp.float64))
    x = _tokens(2)
    par = np.asarray(m(x).logits)
    graphdef, params = nnx.split(m)
    step = jax.jit(lambda p, s, t: nnx.merge(graphdef, p).step(s, t))
    state, rec = m.init_state(2), []
    for t in range(T):
        state, logits = step(params, state, x[:, t])
        rec.append(np.asarray(logits))
    np.testing.assert_allclose(np.stack(rec, 1), par, rtol=1e-10, atol=1e-10)


def test_non_spiking_is_the_model_without_lif():
    # same weights: spiking=False is the spiking model with the LIFs and the embedding's spike
    # replaced by the identity
    a, b = _excite(_model(True)), _excite(_model(False))
    nnx.update(b, nnx.state(a, nnx.Param))
    x = _tokens()
    import neurosim.train.sequence as seq
    orig_fire, orig_embed = seq.lif_over_tokens, seq.SpikingRWKV._embed
    try:
        seq.lif_over_tokens = lambda model, params, y, state=None: y if state is None else (state, y)
        seq.SpikingRWKV._embed = lambda self, t: self.embed[...][t]
        ident = a(x).logits
    finally:
        seq.lif_over_tokens, seq.SpikingRWKV._embed = orig_fire, orig_embed
    np.testing.assert_allclose(np.asarray(b(x).logits), np.asarray(ident), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("spiking", [True, False])
def test_gradient_reaches_every_parameter(spiking):
    m = _excite(_model(spiking), scale=1.5)
    x, y = _tokens(), _tokens(seed=3)
    graphdef, params, rest = nnx.split(m, nnx.Param, ...)
    g = jax.grad(lambda p: lm_loss(nnx.merge(graphdef, p, rest)(x).logits, y))(params)
    for path, leaf in jax.tree_util.tree_flatten_with_path(g)[0]:
        assert np.all(np.isfinite(np.asarray(leaf))), path
        assert np.any(np.asarray(leaf) != 0), f"no gradient reaches {jax.tree_util.keystr(path)}"


def test_lm_loss_bits_and_perplexity():
    logits = jnp.zeros((2, 5, V))                       # uniform: log2 V bits, perplexity V
    y = _tokens(2, 5)
    assert float(lm_loss(logits, y)) == pytest.approx(math.log(V), rel=1e-6)
    assert perplexity(math.log2(V)) == pytest.approx(V)
    m = _model()
    nnx.update(m, jax.tree.map(jnp.zeros_like, nnx.state(m, nnx.Param)))   # every weight 0: uniform logits
    x = _tokens(5)
    assert bits_per_character(m, x, x, batch_size=2) == pytest.approx(math.log2(V), rel=1e-6)


def test_operation_counts():
    m = _model()
    rates = np.array([0.1, 0.2, 0.3, 0.4])
    ops = operation_counts(m, rates, embedding_rate=0.5)
    fans = [3 * C, 5 * C, 3 * C, 5 * C, V]
    r = [0.5, 0.1, 0.2, 0.3, 0.4]
    assert ops["sops"] == pytest.approx(sum(ri * C * f for ri, f in zip(r, fans)))
    assert ops["macs_same_inputs"] == pytest.approx(C * sum(fans))
    assert ops["sop_per_mac"] == pytest.approx(ops["sops"] / ops["macs_same_inputs"])
    assert ops["dense_macs"] == L * 13 * C * C + C * V
    assert [p[0] for p in ops["per_layer"]][:3] == ["embedding", "block 1 time mix", "block 1 channel mix"]
    with pytest.raises(ValueError, match="2 x 2 layer rates"):
        operation_counts(m, rates[:3])


def test_generate_is_seeded_and_stays_in_vocabulary():
    vocab = Vocabulary("abcdefghij ")
    m = _excite(_model())
    a = generate(m, vocab, "abc", 30, temperature=1.0, seed=4)
    assert a == generate(m, vocab, "abc", 30, temperature=1.0, seed=4)
    assert a.startswith("abc") and len(a) == 33 and set(a) <= set(vocab.chars)
    assert a != generate(m, vocab, "abc", 30, temperature=1.0, seed=5)
    greedy = generate(m, vocab, "abc", 10, temperature=0)
    assert greedy == generate(m, vocab, "abc", 10, temperature=0, seed=9)
    assert generate(m, vocab, "abc", 0) == "abc"
    # the text may run past the context (the recurrent form carries its state)
    assert len(generate(m, vocab, "a", 3 * T)) == 3 * T + 1


def test_bad_input():
    vocab = Vocabulary("abcdefghij ")
    m = _model()
    with pytest.raises(ValueError, match=r"not in the vocabulary of 11: 'X', 'é'"):
        generate(m, vocab, "abXcé", 5)
    with pytest.raises(ValueError, match="longer than the model's context of 12"):
        m(_tokens(1, T + 1))
    with pytest.raises(ValueError, match="more than the model's context of 12"):
        generate(m, vocab, "a" * (T + 1), 5)
    with pytest.raises(ValueError, match="non-empty string"):
        generate(m, vocab, "", 5)
    with pytest.raises(ValueError, match="temperature"):
        generate(m, vocab, "a", 5, temperature=-1)
    with pytest.raises(ValueError, match=r"\[0, 11\)"):
        m(jnp.array([[0, 11]]))
    with pytest.raises(ValueError, match="integers of shape"):
        m(jnp.zeros((2, 3)))


def test_fit_language_model_learns_a_small_text():
    text = "the cat sat on the mat. " * 60
    corpus = text_corpus(text, held_out=0.2)
    m = SpikingRWKV(corpus.vocab.size, n_embd=16, n_layer=1, context=16, rngs=nnx.Rngs(0))
    h = fit_language_model(m, corpus, steps=60, batch_size=8, optimizer=optax.adam(1e-2), eval_every=20,
                           progress=False)
    assert h["step"] == [20, 40, 60]
    assert h["held_out_bpc"][-1] < 0.6 * corpus.unigram_entropy()
    assert len(h["rates"][-1]) == 2
    assert corpus.vocab.size == 11
    other = SpikingRWKV(13, n_embd=8, n_layer=1, context=16, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="the corpus has 11 characters but the model's vocabulary has 13"):
        fit_language_model(other, corpus, steps=1)


def test_fit_language_model_stops_at_the_steps_asked_and_scores_one_sequence():
    # review: the last chunk ran eval_every updates past `steps`; a 1-D x and y were refused
    text = "the cat sat on the mat. " * 40
    corpus = text_corpus(text, held_out=0.2)
    m = SpikingRWKV(corpus.vocab.size, n_embd=8, n_layer=1, context=8, rngs=nnx.Rngs(0))
    h = fit_language_model(m, corpus, steps=3, batch_size=2, eval_every=2, progress=False)
    assert h["step"] == [2, 3]
    x, y = corpus.contexts(8, "held_out", limit=1)
    one = evaluate_language_model(m, x[0], y[0])["bits_per_character"]
    assert one == pytest.approx(evaluate_language_model(m, x, y)["bits_per_character"], rel=1e-6)


# chunked BPTT -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spiking", [True, False])
def test_consecutive_segments_equal_one_call(spiking, x64):
    m = _excite(_model(spiking, dtype=jnp.float64))
    x = _tokens(2)
    whole = m(x)
    state, parts = m.init_state(2), []
    for a, b in ((0, 5), (5, 8), (8, T)):
        state, out = m.segment(state, x[:, a:b])
        parts.append(np.asarray(out.logits))
    np.testing.assert_allclose(np.concatenate(parts, 1), np.asarray(whole.logits), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spiking", [True, False])
def test_chunked_gradient_equals_the_whole_sequence(spiking, x64):
    # bptt_chunk with truncate=False: the same loss, rates and gradient as one backward pass over
    # the whole sequence (checkpointed segments recompute, they do not approximate)
    m = _excite(_model(spiking, dtype=jnp.float64), scale=1.5)
    x, y = _tokens(), _tokens(seed=3)
    full = lm_gradient(m, x, y, rate_penalty=0.5)
    for chunk in (3, 4, 6):
        part = lm_gradient(m, x, y, bptt_chunk=chunk, rate_penalty=0.5)
        np.testing.assert_allclose(float(part[0]), float(full[0]), rtol=1e-12)
        if not spiking:     # the rates are per-segment means: equal to the whole's only as a mean of equal parts
            np.testing.assert_allclose(np.asarray(part[1]), 0.0)
        for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(part[2])[0], jax.tree.leaves(full[2])):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12,
                                       err_msg=jax.tree_util.keystr(path))
    loss, rates = sequence_loss(m, x, y, bptt_chunk=4)
    np.testing.assert_allclose(float(loss), float(full[0]), rtol=1e-12)
    # the loss is an independent computation: lm_loss of the plain call
    np.testing.assert_allclose(float(full[0]), float(lm_loss(m(x).logits, y)), rtol=1e-12)


def test_truncated_gradient_is_the_sum_of_per_segment_gradients(x64):
    # truncate=True: each segment's loss differentiated with the state it starts from held
    # constant, the gradients averaged; written out here segment by segment
    m = _excite(_model(True, dtype=jnp.float64), scale=1.5)
    x, y = _tokens(), _tokens(seed=3)
    loss, _, g = lm_gradient(m, x, y, bptt_chunk=4, truncate=True)
    graphdef, params, rest = nnx.split(m, nnx.Param, ...)
    state, total, losses = m.init_state(3), None, []
    for a in range(0, T, 4):
        def f(p, state=state, a=a):
            after, out = nnx.merge(graphdef, p, rest).segment(state, x[:, a:a + 4])
            return lm_loss(out.logits, y[:, a:a + 4]), after
        (value, state), gi = jax.value_and_grad(f, has_aux=True)(params)
        state = jax.lax.stop_gradient(state)
        losses.append(float(value))
        total = gi if total is None else jax.tree.map(jnp.add, total, gi)
    np.testing.assert_allclose(float(loss), np.mean(losses), rtol=1e-12)
    np.testing.assert_allclose(float(loss), float(lm_loss(m(x).logits, y)), rtol=1e-12)   # the forward pass is exact
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(total)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b) / 3, rtol=1e-9, atol=1e-12)
    full = lm_gradient(m, x, y)[2]
    assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(full)))


def test_bad_bptt_chunk():
    m = _model()
    x = _tokens()
    with pytest.raises(ValueError, match="bptt_chunk=5 must divide the sequence length 12"):
        lm_gradient(m, x, x, bptt_chunk=5)
    with pytest.raises(ValueError, match="bptt_chunk"):
        sequence_loss(m, x, x, bptt_chunk=0)
    with pytest.raises(ValueError, match="targets y must have the tokens' shape"):
        lm_gradient(m, x, x[:, :4])
    with pytest.raises(ValueError, match="truncate=True needs bptt_chunk"):
        lm_gradient(m, x, x, truncate=True)


def test_fit_language_model_with_chunked_bptt_follows_the_whole_gradient():
    # the same seed and data: the chunked (exact) backward pass takes the same steps
    text = "the cat sat on the mat. " * 40
    corpus = text_corpus(text, held_out=0.2)
    hist = []
    for chunk in (None, 4):
        m = SpikingRWKV(corpus.vocab.size, n_embd=8, n_layer=1, context=8, rngs=nnx.Rngs(0))
        hist.append(fit_language_model(m, corpus, steps=4, batch_size=4, eval_every=2, bptt_chunk=chunk,
                                       optimizer=optax.adam(1e-2), progress=False))
    np.testing.assert_allclose(hist[1]["train_bpc"], hist[0]["train_bpc"], rtol=1e-4)
    np.testing.assert_allclose(hist[1]["held_out_bpc"], hist[0]["held_out_bpc"], rtol=1e-4)
    with pytest.raises(ValueError, match="bptt_chunk=3 must divide the sequence length 8"):
        fit_language_model(m, corpus, steps=1, bptt_chunk=3, progress=False)
