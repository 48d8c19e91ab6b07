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
         "docs/event_data.md", "docs/extending.md", "docs/delays.md", "docs/equations.md", "docs/migration_brian2.md"]
# docs/migration_snntorch.md runs in tests/test_migration_snntorch.py, which checks its numbers too

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
            # dont_inherit: this module's `from __future__ import annotations` must not leak into
            # the page (a page's dataclass would then see its annotations as strings)
            code = compile("\n" * (first_line - 1) + source, str(path), "exec", dont_inherit=True)
            exec(code, namespace)
    finally:
        jax.config.update("jax_enable_x64", x64)


# --------------------------------------------------------------------------- links

LINKED_PAGES = [
    "docs/index.md", "docs/getting_started.md", "docs/models.md", "docs/builders_balanced.md",
    "docs/builders_reservoir.md", "docs/builders_lsm.md", "docs/ei_ratio.md", "docs/performance.md",
    "docs/plasticity.md", "docs/astrocytes.md", "docs/training.md", "docs/sweeps.md", "docs/io.md",
    "docs/event_data.md", "docs/equations.md", "docs/migration_brian2.md", "docs/migration_snntorch.md",
]
# Pages other engineers are writing; a link to one is checked once the page exists.
PENDING = set()

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's (and MkDocs') anchor for a heading: lower case, punctuation dropped (underscores
    kept: `## Izhikevich_2003` is `#izhikevich_2003`), spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
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


# --------------------------------------------------------------------------- the built site: roles and links

def _hooks():
    """docs/hooks.py, the site's checks (loaded by mkdocs.yml as hooks and as a Griffe extension)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("source, shown", [
    ("see :func:`~neurosim.analysis.population_rate`.", "see `population_rate`."),
    (":class:`neurosim.network.SimResult`", "`neurosim.network.SimResult`"),
    (":py:meth:`Network.params` and :attr:`x`", "`Network.params` and `x`"),
    (":mod:`~.lower`", "`lower`"),
    (":class:`the result <neurosim.network.SimResult>`", "`the result`"),
    (":func:`!not_linked`", "`not_linked`"),
    ("``code`` and `x` and :math: stay", "``code`` and `x` and :math: stay"),
])
def test_sphinx_roles_become_code(source, shown):
    assert _hooks().convert_roles(source) == shown


def test_raw_roles_are_found_in_rendered_pages_but_not_in_code_blocks():
    hooks = _hooks()
    found = hooks.raw_roles("<p>uses :func:<code>rate</code> and :class:<code>X</code></p>")
    assert len(found) == 2 and found[0] == "uses :func:rate and :class:X" and ":class:X" in found[1]
    assert hooks.raw_roles("<pre><code>:func:`rate`</code></pre><p>plain</p>") == []


def test_outward_links_are_found(tmp_path):
    site = tmp_path / "site"
    (site / "api").mkdir(parents=True)
    (site / "index.html").write_text("")
    page = site / "api" / "index.html"
    page.write_text('<a href="../index.html">home</a> <a href="../">home</a> <a href="#x">x</a> '
                    '<a href="https://example.org">web</a> <img src="../../README.md"> <a href="../gone.html">gone</a>')
    assert _hooks().outward_links(site, page) == ["../../README.md (outside the site)",
                                                  "../gone.html (no such file in the site)"]


def test_no_markdown_link_leaves_the_site():
    """A link from a page of docs/ to a file outside docs/ (the README, an example script) does not
    exist on the site: link a page of the site, or write the path as code."""
    docs = ROOT / "docs"
    leaving = []
    for path in sorted(docs.rglob("*.md")):
        for target in _LINK.findall(_FENCE.sub("", path.read_text())):
            if re.match(r"[a-z]+://", target) or target.startswith(("mailto:", "#")):
                continue
            dest = (path.parent / target.partition("#")[0]).resolve()
            if not dest.is_relative_to(docs):
                leaving.append(f"{path.relative_to(ROOT)}: {target}")
    assert not leaving, f"links that leave the site: {leaving}"


def test_site_builds_without_raw_roles_or_links_leaving_it(tmp_path):
    """`make docs` in a test: strict, so docs/hooks.py's warnings (a raw role, a link that leaves
    the site) and mkdocs' own (a link to a file outside docs/) fail it; then the same scan again."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", "mkdocs.yml",
                           "-d", str(site)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    hooks = _hooks()
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20 and (site / "api" / "train" / "index.html").exists()
    roles = {p.relative_to(site).as_posix(): hooks.raw_roles(p.read_text()) for p in pages}
    links = {p.relative_to(site).as_posix(): hooks.outward_links(site, p) for p in pages}
    assert not {k: v for k, v in roles.items() if v}, "raw Sphinx roles on the site"
    assert not {k: v for k, v in links.items() if v}, "links that leave the site"
