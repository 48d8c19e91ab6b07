"""Build docs/gallery.md: run every example (``--quick``), keep its figure and its check table.

    .venv/bin/python docs/make_gallery.py [--full] [--only NAME ...]

``--only`` runs the examples named and replaces (or adds) their sections of the page, keeping
every other section as it was.

Each example writes ``NAME.png`` and ``NAME.json`` (``{"paper", "checks", "runtime_s"}``); the
figure is copied to ``docs/img/gallery/NAME.png`` and the page lists, per example, its paper,
the figure and every check with its value, target and outcome. ``--full`` runs the full-size
examples instead of ``--quick`` (minutes to an hour). ``make gallery`` runs this.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img" / "gallery"


def examples():
    return sorted((ROOT / "examples" / "frompapers").glob("*.py")) + sorted((ROOT / "examples").glob("*.py"))


def run(script: Path, out: Path, full: bool) -> dict:
    cmd = [sys.executable, str(script), "--out", str(out)] + ([] if full else ["--quick"])
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    report = out / f"{script.stem}.json"
    if not report.exists():
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]}
    return json.loads(report.read_text())


def fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--only", nargs="*", default=None)
    a = ap.parse_args()
    IMG.mkdir(parents=True, exist_ok=True)
    lines = ["# Gallery", "",
             "Every example of `examples/` with the figure it draws and the checks it makes, as produced by "
             f"`make gallery` ({'full size' if a.full else 'the `--quick` forms the tests run'}; the full-size numbers "
             "are in each script's docstring and in [papers.md](papers.md)). Regenerate with "
             "`.venv/bin/python docs/make_gallery.py`.", ""]
    kept = _sections((ROOT / "docs" / "gallery.md").read_text()) if a.only else {}
    for script in examples():
        if a.only and script.stem not in a.only:
            lines += kept.get(script.stem, [])
            continue
        print(f"gallery: {script.stem} ...", flush=True)
        with tempfile.TemporaryDirectory() as d:
            rep = run(script, Path(d), a.full)
            png = Path(d) / f"{script.stem}.png"
            if png.exists():
                shutil.copy(png, IMG / png.name)
        rel = script.relative_to(ROOT)
        lines += [f"## {script.stem}", "", f"`{rel}`" + (f": {rep['paper']}" if "paper" in rep else ""), ""]
        if "error" in rep:
            lines += [f"Did not run here: {rep['error'][0]}", ""]
            continue
        if (IMG / f"{script.stem}.png").exists():
            lines += [f"![{script.stem}](img/gallery/{script.stem}.png)", ""]
        lines += ["| check | value | target | ok |", "|---|---|---|---|"]
        for c in rep.get("checks", []):
            lines.append(f"| {c['name']} | {fmt(c['value'])} | {c['target']} | {'yes' if c['ok'] else '**no**'} |")
        lines += ["", f"Runtime {rep.get('runtime_s', float('nan')):.1f} s on the machine that built this page.", ""]
    (ROOT / "docs" / "gallery.md").write_text("\n".join(lines).rstrip("\n") + "\n")
    print("gallery: wrote docs/gallery.md")


def _sections(page: str) -> dict:
    """The page's ``## NAME`` sections, each as its list of lines."""
    out, name = {}, None
    for line in page.splitlines():
        if line.startswith("## "):
            name = line[3:].strip()
            out[name] = []
        if name is not None:
            out[name].append(line)
    return out


if __name__ == "__main__":
    main()
