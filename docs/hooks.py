"""The documentation site's own checks and one conversion (mkdocs.yml loads this file twice: as
MkDocs hooks, and as a Griffe extension of mkdocstrings).

- ``SphinxRoles`` (Griffe extension): docstrings may cross-reference in Sphinx's way,
  ``:func:`~neurosim.analysis.population_rate```; the API pages render docstrings as Markdown,
  where that would show as the text ``:func:`` before the name. The extension rewrites each role
  to the name as code (``population_rate``; ``~`` keeps the last component, as in Sphinx).
- ``on_page_content`` (hook): a Sphinx role left in a rendered page (a hand-written page, or a
  docstring the extension did not see) is a warning, so ``make docs`` (``--strict``) fails.
- ``on_post_build`` (hook): every relative ``href``/``src`` of the built site must name a file
  of the site; one that leaves it (``../README.md``, an example script) or names nothing is a
  warning, so ``make docs`` fails. (Markdown links to files outside ``docs/`` are also refused
  by ``validation.links.not_found: warn`` in mkdocs.yml; this catches raw HTML and themes too.)

``tests/test_docs.py`` runs the same functions on small inputs and on the built site.
"""
from __future__ import annotations

import html
import logging
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

# ---------------------------------------------------------------------------- Sphinx roles

ROLES = ("class", "func", "meth", "mod", "attr", "data", "obj", "exc", "const", "ref", "doc", "term")
# :func:`x`, :py:func:`x`; in a docstring (Markdown source)
_ROLE_SOURCE = re.compile(r":(?:py:)?(?P<role>" + "|".join(ROLES) + r"):`(?P<target>[^`]+)`")
# the same after Markdown rendering: :func:<code>x</code>
RAW_ROLE_HTML = re.compile(r":(?:py:)?(?:" + "|".join(ROLES) + r"):(?:<code>|`)")


def role_text(target: str) -> str:
    """What Sphinx shows for a role's target: ``~a.b.c`` -> ``c``, ``!x`` -> ``x``,
    ``title <a.b>`` -> ``title``, otherwise the target itself."""
    target = target.strip()
    titled = re.fullmatch(r"(?P<title>.+?)\s*<[^<>]+>", target)
    if titled:
        return titled.group("title")
    target = target.lstrip("!")
    if target.startswith("~"):
        return target[1:].rstrip(".").rsplit(".", 1)[-1]
    return target.lstrip(".")


def convert_roles(text: str) -> str:
    """``text`` with every Sphinx role rewritten as Markdown code: ``:func:`~a.b``` -> `` `b` ``."""
    return _ROLE_SOURCE.sub(lambda m: f"`{role_text(m.group('target'))}`", text)


def raw_roles(page_html: str) -> list[str]:
    """The Sphinx roles left in rendered HTML, with a little context each (outside ``<pre>``
    blocks, where a role may be shown on purpose)."""
    prose = re.sub(r"<pre\b.*?</pre>", "", page_html, flags=re.S)
    found = []
    for m in RAW_ROLE_HTML.finditer(prose):
        chunk = prose[max(0, m.start() - 30): m.end() + 40]
        chunk = re.sub(r"^[^<]*?>|<[^>]*$", "", chunk) if not chunk.startswith(":") else re.sub(r"<[^>]*$", "", chunk)
        found.append(html.unescape(re.sub(r"<[^>]+>", "", chunk)).strip())
    return found


try:  # the Griffe extension (mkdocstrings' loader); absent Griffe, only the hooks below are used
    from griffe import Extension
except ImportError:  # pragma: no cover
    Extension = object


class SphinxRoles(Extension):
    """Griffe extension: rewrite Sphinx roles in every docstring as Markdown code."""

    def on_instance(self, *, obj, **kwargs) -> None:
        doc = getattr(obj, "docstring", None)
        if doc is not None and ":" in doc.value:
            doc.value = convert_roles(doc.value)


# ---------------------------------------------------------------------------- links that leave the site

_URL = re.compile(r"""\b(?:href|src)\s*=\s*(?P<q>["'])(?P<url>.*?)(?P=q)""", re.I)


def outward_links(site_dir, page: Path) -> list[str]:
    """The relative links and sources of the built ``page`` (a file under ``site_dir``) that do
    not resolve to a file of the site: they leave it, or name a file it does not have."""
    site = Path(site_dir).resolve()
    bad = []
    for m in _URL.finditer(page.read_text(encoding="utf-8", errors="replace")):
        url = html.unescape(m.group("url")).strip()
        parts = urlsplit(url)
        if not url or parts.scheme or parts.netloc or url.startswith("#") or url.startswith("/"):
            continue   # external (http:, mailto:, data:), same-page anchors; absolute paths: mkdocs' own check
        path = unquote(parts.path)
        if not path:
            continue
        dest = (page.parent / path).resolve()
        if not dest.is_relative_to(site):
            bad.append(f"{url} (outside the site)")
        elif not (dest.is_file() or (dest / "index.html").is_file()):
            bad.append(f"{url} (no such file in the site)")
    return bad


# ---------------------------------------------------------------------------- MkDocs hooks

log = logging.getLogger("mkdocs.hooks.neurosim")


def on_page_content(html_text, page, **kwargs):
    for found in raw_roles(html_text):
        log.warning("%s: a raw Sphinx role is shown as text: %r (write `name`, or let the "
                    "docstring go through the API pages' SphinxRoles extension)", page.file.src_uri, found)
    return html_text


def on_post_build(config, **kwargs):
    site = Path(config["site_dir"])
    for page in sorted(site.rglob("*.html")):
        for bad in outward_links(site, page):
            log.warning("%s: a link leaves the site or names nothing in it: %s", page.relative_to(site).as_posix(), bad)
