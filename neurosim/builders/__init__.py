"""Network builders: wiring and parameter sets, no new mathematics."""
from .vogels_abbott import coba, cuba

__all__ = ["coba", "cuba"]
