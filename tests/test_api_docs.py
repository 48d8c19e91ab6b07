"""Every public name (each subpackage's ``__all__``) has a docstring of its own: the API
reference of the documentation site is generated from them."""
import importlib
import inspect

import pytest

SUBPACKAGES = ["network", "neurons", "synapses", "events", "inputs", "plasticity", "astrocytes", "builders", "train",
               "sweeps", "analysis", "io", "plot", "equations"]


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_every_public_name_is_documented(sub):
    module = importlib.import_module(f"neurosim.{sub}")
    assert (module.__doc__ or "").strip(), f"neurosim.{sub} has no module docstring"
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj) or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        doc = (obj.__doc__ or "").strip()
        # a NamedTuple's or dataclass's generated docstring ("Name(field, ...)") does not count
        if not doc or doc.startswith(f"{obj.__name__}("):
            missing.append(name)
    assert not missing, f"undocumented in neurosim.{sub}: {missing}"


# --------------------------------------------------------------------------- the top-level namespace

# The public top level is a decision: `neurosim.__all__` lists it by purpose (the subpackages, and
# what a script needs to build, run, keep and sweep a network). 43 = the 42 names of before issue 30
# (none of them engine internals: those live in neurosim.engines and its submodules) + `plot`, now
# reachable as `ns.plot` (imported lazily); 44: `equations` (models from strings with units, issue
# 28; imported lazily too, as it loads sympy). Adding a name here is adding API every user sees and
# we keep: change the number in the same commit as `__all__`, with the reason.
PUBLIC_TOP_LEVEL = 44


def test_the_top_level_is_the_documented_list():
    import subprocess
    import sys

    import neurosim

    assert len(neurosim.__all__) == len(set(neurosim.__all__)) == PUBLIC_TOP_LEVEL
    # a fresh interpreter: what `import neurosim` shows, before any test imported a submodule
    code = ("import neurosim, sys; print(' '.join(n for n in dir(neurosim) if not n.startswith('_'))); "
            "print(*(m in sys.modules for m in ('matplotlib', 'flax', 'optax', 'sympy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    shown, heavy = out.splitlines()
    assert sorted(shown.split()) == sorted(neurosim.__all__)
    # ns.plot, ns.train and ns.equations are lazy: import neurosim does not import matplotlib,
    # flax, optax or sympy (issue 26: neurosim's own import 0.42 -> 0.17 s of CPU)
    assert heavy == "False False False False"
    for name in neurosim.__all__:
        assert getattr(neurosim, name) is not None


def test_neurosim_train_says_the_same_names_to_python_and_to_tools_that_read_the_source():
    """``neurosim.train`` imports its names on first use (``_NAMES``); its ``TYPE_CHECKING`` block
    and its literal ``__all__`` say the same to mkdocstrings and type checkers. The three must
    agree, and every name must resolve."""
    import ast
    import inspect

    from neurosim import train

    static = {}
    for node in ast.walk(ast.parse(inspect.getsource(train))):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module in train._NAMES:
            static[node.module] = tuple(a.name for a in node.names)
    assert static == {m: tuple(n) for m, n in train._NAMES.items()}
    assert set(train.__all__) == set(train._SUBMODULES) | set(train._WHERE) | {"SURROGATES"}
    for name in train.__all__:
        assert getattr(train, name) is not None


def _ns_names(source: str) -> set:
    """The names read as ``ns.NAME`` in Python source (code only: not strings or comments)."""
    import io
    import tokenize

    names, window = set(), []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                continue
            window = (window + [tok])[-4:]
            if (len(window) >= 3 and window[-1].type == tokenize.NAME and window[-2].string == "."
                    and window[-3].string == "ns" and (len(window) < 4 or window[-4].string != ".")):
                names.add(window[-1].string)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return names


def test_nothing_uses_a_top_level_name_that_is_not_public():
    """tests/, examples/, benchmarks/, docs/ and the README read ``ns.X`` only for X in
    ``neurosim.__all__``: an engine internal is imported from its submodule."""
    from pathlib import Path

    import neurosim
    from test_docs import python_blocks

    root = Path(__file__).resolve().parents[1]
    sources = [p for d in ("tests", "examples", "benchmarks") for p in (root / d).rglob("*.py")]
    pages = list((root / "docs").rglob("*.md")) + [root / "README.md"]
    allowed = set(neurosim.__all__)
    bad = []
    for path in sources:
        bad += [f"{path.relative_to(root)}: ns.{n}" for n in _ns_names(path.read_text()) - allowed if not n.startswith("_")]
    for path in pages:
        for _, block in python_blocks(path.read_text()):
            bad += [f"{path.relative_to(root)}: ns.{n}" for n in _ns_names(block) - allowed if not n.startswith("_")]
    assert not bad, f"names not in neurosim.__all__: {bad}"


def test_the_name_scan_reads_code_only():
    assert _ns_names('"""ns.Networks in prose"""\nx = ns.simulate(net)  # ns.nothing\ny = a.ns.z\n') == {"simulate"}
