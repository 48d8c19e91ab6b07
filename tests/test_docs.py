"""The documentation runs: every ```python block of the pages below is executed, in order, in one
fresh namespace per page, so the examples cannot drift from the API.

Blocks that are not meant to run are fenced ```text or ```bash. A failure names the page and
the line of the failing statement in it (the block is compiled with the page's line numbers).
Files the examples write (figures) land in a temporary directory.
"""
from __future__ import annotations

import re
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/getting_started.md", "docs/models.md", "docs/builders_reservoir.md", "docs/ei_ratio.md", "docs/jitconn.md",
         "docs/plasticity.md", "docs/astrocytes.md", "docs/training.md", "docs/sweeps.md", "docs/io.md",
         "docs/extending.md"]

# An opening fence with its info string, the body, and a closing fence of the same indentation.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, source)`` of every block fenced ```python (1-based line of the
    block's first source line)."""
    blocks = []
    for m in _FENCE.finditer(text):
        if m.group("info").strip().split(" ")[0].lower() not in ("python", "py"):
            continue
        first_line = text.count("\n", 0, m.start("body")) + 1
        indent = len(m.group("indent"))
        body = "\n".join(line[indent:] for line in m.group("body").splitlines())
        blocks.append((first_line, body + "\n"))
    return blocks


def test_block_extraction():
    text = "intro\n```python\na = 1\n```\n\n```text\nnot code\n```\n```bash\nmake\n```\n  ```python\n  b = 2\n  ```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (13, "b = 2\n")]


@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page, tmp_path, monkeypatch):
    path = ROOT / page
    if not path.exists():
        pytest.skip(f"{page} does not exist yet")
    blocks = python_blocks(path.read_text())
    if not blocks:
        pytest.skip(f"{page} has no python blocks")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{path.stem}"}
    x64 = jax.config.jax_enable_x64   # a page may switch float64 on for its user; not for the tests after it
    try:
        for first_line, source in blocks:
            # Pad with blank lines so tracebacks point at the line of the page.
            code = compile("\n" * (first_line - 1) + source, str(path), "exec")
            exec(code, namespace)
    finally:
        jax.config.update("jax_enable_x64", x64)


# --------------------------------------------------------------------------- links

LINKED_PAGES = [
    "docs/index.md", "docs/getting_started.md", "docs/models.md", "docs/builders_balanced.md",
    "docs/builders_reservoir.md", "docs/builders_lsm.md", "docs/ei_ratio.md", "docs/performance.md",
    "docs/plasticity.md", "docs/astrocytes.md", "docs/training.md", "docs/sweeps.md", "docs/io.md",
]
# Pages other engineers are writing; a link to one is checked once the page exists.
PENDING = set()

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    prose = _FENCE.sub("", text)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", prose, re.M)}


@pytest.mark.parametrize("page", LINKED_PAGES)
def test_links_resolve(page):
    path = ROOT / page
    if not path.exists():
        pytest.skip(f"{page} does not exist yet")
    text = path.read_text()
    broken = []
    for target in _LINK.findall(_FENCE.sub("", text)):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        rel = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
        if not dest.exists():
            if rel not in PENDING:
                broken.append(f"{target} (no file {rel})")
            continue
        if anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text()):
            broken.append(f"{target} (no heading #{anchor} in {rel})")
    assert not broken, f"{page}: broken links: {broken}"
