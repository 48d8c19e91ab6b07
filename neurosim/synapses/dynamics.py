"""Per-synapse dynamics: the one contract that short-term plasticity, long-term plasticity and
astrocyte gating (gliotransmission) plug into.

A projection carries a chain of *mechanisms* (``Projection.chain``, built from its ``stp``,
``dynamics`` and ``plasticity`` arguments). In every step, after
the neurons have spiked, the step calls each mechanism twice, in chain order::

    modulate(params, state, weights, ev) -> (state, weights_delivered)   before propagation
    update(params, state, weights, ev)   -> (state, weights_stored)      after it

``modulate`` scales what this step's spikes deliver (Tsodyks-Markram release ``u x``);
``update`` changes the stored weights (STDP, three-factor rules, constraints). A mechanism
that changes weights is ``plastic``; a projection with one keeps its weights in the network
state (``NetworkState.weights``), because they change as the network runs, and its initial
weights stay a differentiable parameter. Everything a mechanism may read about the step is in
:class:`SynapticEvents`.

A mechanism is a small frozen dataclass (its fields are options) with:

=====================  ==================================================================
``key``                its entry in the projection's params and state (unique per projection)
``kind``               what it is, in words (for messages)
``plastic``            True if ``update`` may change the weights
``initial_params()``   its differentiable parameters (a pytree), placed in ``net.params()``
``check(projection)``  raise a ValueError for a projection it cannot serve
``modulators()``       the names of the network modulators it reads
``populations()``      the names of the populations whose state it reads (``ev.populations``)
``check_population(projection, name, population)``  raise a ValueError for a population it
                       names but cannot read (a domain map that does not fit it, say)
``init(params, shape)``  its state for a projection of ``shape`` (:class:`SynapseShape`)
``for_synapses(ids)``  the same mechanism for the synapses ``ids`` of its projection alone
                       (a projection with per-synapse delays runs one group per delay); the
                       default returns it unchanged: override it where the mechanism holds
                       data of its own per synapse (a domain map, say)
``modulate``, ``update``  as above; the defaults change nothing
=====================  ==================================================================

and, for compiled engines that evaluate the chain their own way (the native engine), what the
update is in terms of every synapse (each with a default that fits a mechanism without them):

==============================  ===========================================================
``dense_update(..., tick)``     the update at every synapse, followed by its periodic part
                                when ``tick`` (default: ``update``, which is then dense)
``tick_steps(dt)``              the steps between the periodic part's applications (0: none)
``tick_only(...)``              the periodic part alone (default: nothing)
``event_driven_update()``       ``dense_update`` changes nothing at a synapse whose neurons did
                                not spike (default: only where ``update`` is the default)
``event_driven_modulate()``     ``modulate`` changes, and delivers, nothing at a synapse whose
                                presynaptic neuron sent no spike (default: only the default)
==============================  ===========================================================
"""
from __future__ import annotations

from typing import NamedTuple

import jax

from .. import _checks


class SynapseShape(NamedTuple):
    n_pre: int
    n_post: int
    nnz: int
    dtype: object      # the float dtype of the network's state


class SynapticEvents(NamedTuple):
    """What a per-synapse mechanism sees in one step."""

    pre: jax.Array        # (n_pre,) presynaptic spikes delivered this step (after the delay)
    post: jax.Array       # (n_post,) postsynaptic spikes of this step
    conn: object          # the projection's CSR: .rows, .indices (postsynaptic index), .indptr
    t: jax.Array          # () int32, index of this step
    dt: float             # ms, static
    tau_syn: jax.Array    # ms, the projection's synapse time constant
    modulators: dict      # modulator name -> its value after this step's update
    populations: dict = {}   # population name -> its state after this step (astrocytes, say)
    backend: str | None = None   # the projection's event backend (a compiled update may follow it: "pallas")


class AbstractSynapseDynamics:
    """Defaults of the contract (see the module docstring): no parameters, no state, changes
    nothing. Subclasses are frozen dataclasses."""

    key: str = "dynamics"
    kind: str = "per-synapse dynamics"   # in words, for messages
    plastic: bool = False

    def initial_params(self):
        return ()

    def check(self, projection) -> None:
        return None

    def check_params(self, params, nnz: int, where: str) -> None:
        """The mechanism's params are finite and of the signs their class asks (``POSITIVE``,
        ``NON_NEGATIVE``, ``UNIT_INTERVAL``, ``BELOW``); checked when the projection is built
        and again for params passed to ``simulate`` (``where`` names them)."""
        _checks.params_values(where, params)

    def modulators(self) -> tuple:
        return ()

    def populations(self) -> tuple:
        return ()

    def check_population(self, projection, name: str, population) -> None:
        return None

    def init(self, params, shape: SynapseShape):
        return ()

    def for_synapses(self, ids) -> "AbstractSynapseDynamics":
        return self

    def modulate(self, params, state, weights, ev: SynapticEvents):
        return state, weights

    def update(self, params, state, weights, ev: SynapticEvents):
        return state, weights

    def dense_update(self, params, state, weights, ev: SynapticEvents, tick: bool = False):
        return self.update(params, state, weights, ev)

    def tick_steps(self, dt: float) -> int:
        return 0

    def tick_only(self, params, state, weights, ev: SynapticEvents):
        return state, weights

    def event_driven_update(self) -> bool:
        return type(self).update is AbstractSynapseDynamics.update

    def event_driven_modulate(self) -> bool:
        return type(self).modulate is AbstractSynapseDynamics.modulate
