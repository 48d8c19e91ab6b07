"""Every public name (each subpackage's ``__all__``) has a docstring of its own: the API
reference of the documentation site is generated from them."""
import importlib
import inspect

import pytest

SUBPACKAGES = ["network", "neurons", "synapses", "events", "inputs", "plasticity", "astrocytes", "builders", "train",
               "sweeps", "analysis", "io"]


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
