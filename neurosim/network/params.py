"""The network's differentiable parameters, as typed pytrees.

    params = net.params()
    params.neurons["E"]                      # the population's model params (e.g. LIFParams)
    params.projections["EE"].weights         # scalar or (nnz,): one weight per synapse
    params.projections["EE"].synapse         # the synapse's params (e.g. SynapseParams)
    params.projections["EE"].dynamics["plasticity"]   # per-synapse mechanisms, by key
    params.inputs["drive"]                   # the input's params
    params.gap_junctions["gj"]               # scalar or (nnz,): conductances (nS) of the gap junctions

Both types are NamedTuples, so they are pytrees (``jax.grad`` returns a ``NetParams`` of
gradients) and ``_replace`` makes a changed copy. The groups are dicts keyed by name.

**The weights collection.** The synaptic weights are the leaves that training selects:
``params.weights()`` gives them by projection, ``params.with_weights({...})`` replaces some, and
``weights_mask(params)`` is the same tree with ``True`` at the weights and ``False`` elsewhere:
label the leaves from it for ``optax.multi_transform`` (``optax.set_to_zero()`` for the rest) to
train the weights and leave every other parameter alone. A
plastic projection's weights here are its *initial* weights: while the network runs they live
in ``state.weights``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax


def _no_items(obj, key):
    fields = ", ".join(f".{f}" for f in obj._fields)
    if isinstance(key, str) and key in obj._fields:
        hint = f"write .{key} instead of [{key!r}]"
    elif isinstance(key, str):
        hint = f"{key!r} is not one of them"
        if isinstance(obj, ProjectionParams):
            hint += f"; a mechanism's params are .dynamics[{key!r}]"
    else:
        return tuple.__getitem__(obj, key)
    raise TypeError(f"{type(obj).__name__} is a typed pytree with fields {fields}: {hint}")


class ProjectionParams(NamedTuple):
    """One projection's parameters: its weights (the initial weights of a plastic projection),
    its synapse's params, by mechanism key the params of its per-synapse dynamics
    (``"stp"``, ``"plasticity"``, ...) and, for a projection that learns its delays
    (``Projection(max_delay_ms=...)``), its delays: (nnz,) ms, fractional (else None)."""

    weights: Any
    synapse: Any
    dynamics: dict
    delays: Any = None

    def __getitem__(self, key):
        return _no_items(self, key)


class NetParams(NamedTuple):
    """A network's parameters, grouped by what they belong to; each group maps names to params."""

    neurons: dict       # population name -> neuron params
    projections: dict   # projection name -> ProjectionParams
    inputs: dict        # input name -> input params
    gap_junctions: dict = {}    # gap junction name -> conductances (nS), scalar or (nnz,)

    def __getitem__(self, key):
        return _no_items(self, key)

    def weights(self) -> dict:
        """Projection name -> weights: the weights collection."""
        return {name: pp.weights for name, pp in self.projections.items()}

    def with_weights(self, weights: dict) -> "NetParams":
        """A copy with the weights of the projections named in ``weights`` replaced."""
        unknown = sorted(set(weights) - set(self.projections))
        if unknown:
            raise ValueError(f"with_weights: no projection named {unknown}; projections: {sorted(self.projections)}")
        projections = {name: pp._replace(weights=weights[name]) if name in weights else pp
                       for name, pp in self.projections.items()}
        return self._replace(projections=projections)

    def delays(self) -> dict:
        """Projection name -> delays (ms), for the projections that learn their delays."""
        return {name: pp.delays for name, pp in self.projections.items() if pp.delays is not None}

    def with_delays(self, delays: dict) -> "NetParams":
        """A copy with the delays of the projections named in ``delays`` replaced (each must
        learn its delays)."""
        unknown = sorted(set(delays) - set(self.delays()))
        if unknown:
            raise ValueError(f"with_delays: no projection that learns its delays is named {unknown}; those that do: "
                             f"{sorted(self.delays())}")
        projections = {name: pp._replace(delays=delays[name]) if name in delays else pp
                       for name, pp in self.projections.items()}
        return self._replace(projections=projections)


def weights_mask(params: NetParams, projections=None) -> NetParams:
    """``params`` with ``True`` at the weights of ``projections`` (default: all) and ``False`` at
    every other leaf (e.g. to label the leaves for ``optax.multi_transform``)."""
    if not isinstance(params, NetParams):
        raise TypeError(f"weights_mask: params must be a NetParams (net.params()), got {type(params).__name__}")
    names = set(params.projections) if projections is None else set(
        [projections] if isinstance(projections, str) else projections)
    unknown = sorted(names - set(params.projections))
    if unknown:
        raise ValueError(f"weights_mask: no projection named {unknown}; projections: {sorted(params.projections)}")
    mask = jax.tree.map(lambda _: False, params)
    return mask.with_weights({name: jax.tree.map(lambda _: True, params.projections[name].weights) for name in names})
