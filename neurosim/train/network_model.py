"""A whole ``ns.Network`` as a trainable model: the same params and state types the simulator
uses, its weights collection selected for training, so ``fit`` trains any network neurosim
simulates (conductance synapses, delays, sparse connectivity, Izhikevich or AdEx neurons...).

    model = train.NetworkModel(net, input="in", output="out", readout=train.LeakyReadout(n_out, 10, rngs=rngs))
    train.fit(model, x, labels, ...)          # x: (N, T, n_in) spikes

The input population must be a :class:`~neurosim.builders.RasterSource`: each sample's spikes
are written into its raster (``set_input_raster``), so one compiled network runs every sample.
A batch is a ``jax.vmap`` of ``ns.run`` over the samples (each with its own PRNG key, drawn
from ``key``, for the initial values and random inputs). The trainable variables are the
network's weights, ``params.weights()`` (``nnx.Param``: one array per projection, scalar or one
per synapse), the delays of the projections that learn them (``Projection(max_delay_ms=...)``:
``model.delays``, ms, one per synapse), and the readout's; every other parameter is kept as it is (an ``nnx.Variable``
that the default filter does not train). The output is the spikes of ``output``: their counts,
and, with a readout, its trace (what the losses read).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from .. import _checks
from ..network.model import Network
from ..network.simulate import run
from ..network.step import init_state
from .layers import LeakyReadout, Outputs, _over_time


class NetworkParams(nnx.Variable):
    """The network's parameters other than its weights (not trained by default)."""


class NetworkModel(nnx.Module):
    """``net`` mapping an input (T, B, n_in) to :class:`Outputs` (module docstring).

    Args:
        net: an ``ns.Network`` with a ``RasterSource`` population named ``input``.
        input, output: population names; ``output`` is what the loss reads.
        readout: None (the loss reads the output's spike counts) or a ``LeakyReadout`` fed by
            the output's spikes.
        dt: ms; ``key``: the seed of the instances' PRNG keys.
        projections: the projections whose weights (and learnable delays) train (default all).
    """

    def __init__(self, net: Network, *, input: str, output: str, readout: LeakyReadout | None = None, dt: float = 1.0,
                 key: int = 0, projections=None):
        from ..inputs import RasterSource

        if not isinstance(net, Network):
            raise ValueError(f"net must be an ns.Network, got {type(net).__name__}")
        pop = net.population(input)
        if not isinstance(pop.model, RasterSource):
            raise ValueError(f"NetworkModel: the input population {input!r} must be a RasterSource (its spikes are "
                             f"the samples), got {type(pop.model).__name__}")
        out = net.population(output)
        if readout is not None and (not isinstance(readout, LeakyReadout) or readout.n_in != out.n):
            raise ValueError(f"readout must be a LeakyReadout with n_in = {out.n} (the output population), got {readout!r}")
        self.net, self.input, self.output = net, input, output
        self.n_in, self.n = pop.n, (out.n if readout is None else readout.n)
        self.dt = _checks.positive_finite("dt", dt)
        self.key = int(key)
        params = net.params()
        names = list(params.projections) if projections is None else list(projections)
        unknown = sorted(set(names) - set(params.projections))
        if unknown:
            raise ValueError(f"projections: no projection named {unknown}; projections: {sorted(params.projections)}")
        self.names = tuple(names)
        self.weights = nnx.Param({k: jnp.asarray(params.projections[k].weights) for k in names})
        learnable = {k: jnp.asarray(params.projections[k].delays) for k in names if params.projections[k].delays is not None}
        self.delays = nnx.Param(learnable) if learnable else None
        self.rest = NetworkParams(params)
        self.readout = readout

    def params(self):
        """The network's params with the trained weights (and learnable delays) in."""
        params = self.rest.get_value().with_weights(dict(self.weights.get_value()))
        return params if self.delays is None else params.with_delays(dict(self.delays.get_value()))

    def __call__(self, x_seq) -> Outputs:
        x_seq = jnp.asarray(x_seq)
        if x_seq.ndim != 3 or x_seq.shape[2] != self.n_in:
            raise ValueError(f"x_seq must have shape (T, B, {self.n_in}), got {x_seq.shape}")
        n_steps, batch = x_seq.shape[:2]
        from ..builders.lsm import set_input_raster

        params, net, dt = self.params(), self.net, self.dt

        def one(x, key):
            state = set_input_raster(init_state(net, params, key, dt), x, self.input)
            return run(net, params, state, n_steps, dt)[1][self.output]          # (T, n_out)

        keys = jax.random.split(jax.random.key(self.key), batch)
        z = jax.vmap(one, in_axes=(1, 0), out_axes=1)(x_seq, keys)               # (T, B, n_out)
        counts = z.sum(0)
        if self.readout is None:
            return Outputs(y=z, counts=(counts,), spikes=(z,))
        r0 = self.readout.init_carry(batch)
        _, y = _over_time(self.readout, r0, z.astype(r0.g.dtype), dt)     # its product for all steps at once
        return Outputs(y=y, counts=(counts,), spikes=(z,))
