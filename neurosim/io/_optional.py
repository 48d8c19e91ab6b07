"""The optional libraries of :mod:`neurosim.io`, imported on first use with a message that names
the extra to install."""
from __future__ import annotations

import importlib


def require(module: str, feature: str, extra: str):
    """``module`` imported, or an ImportError saying that ``feature`` needs it and how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{feature} needs {module}: pip install 'neurosim[{extra}]' (or pip install {module})") from None
