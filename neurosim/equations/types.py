"""The pytree types of a model built from equations: its ``Params`` and ``State`` NamedTuples.

A ``State`` type is shared by every model with the same name and variables (two builds of the
same strings make states of one type: a checkpoint of one restores into the other). A
``Params`` type is made per model: it carries that model's default values, which two models of
the same structure need not share.
"""
from __future__ import annotations

import collections

_STATES: dict = {}


def params_type(name: str, fields: tuple, defaults: tuple, rules: dict | None = None):
    """A new NamedTuple class ``name`` with these fields and defaults, and the class attributes
    of ``rules`` (``NON_NEGATIVE = (...)``, read by neurosim's parameter checks)."""
    cls = collections.namedtuple(name, fields, defaults=defaults)
    for k, v in (rules or {}).items():
        setattr(cls, k, tuple(v))
    cls.__module__ = __name__
    return cls


def state_type(name: str, fields: tuple):
    """The NamedTuple class ``name`` with these fields, one per (name, fields)."""
    key = (name, tuple(fields))
    if key not in _STATES:
        cls = collections.namedtuple(name, fields)
        cls.__module__ = __name__
        _STATES[key] = cls
    return _STATES[key]
