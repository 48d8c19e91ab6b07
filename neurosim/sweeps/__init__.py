"""Parameter sweeps: many instances of one network, ``vmap``-batched, sharded over the local
devices and shared out between the processes of a ``jax.distributed`` run, measured on the
device, resumable. See ``docs/sweeps.md``.

* :mod:`~neurosim.sweeps.design` — axes (dotted paths into ``net.params()``) and designs
  (grid, zip, random);
* :mod:`~neurosim.sweeps.measures` — rates, CV, Fano factor, synchrony and spectral peak from
  running sums, without bringing spikes home;
* :mod:`~neurosim.sweeps.runner` — :func:`sweep`: batches, sharding, processes, resume, progress;
* :mod:`~neurosim.sweeps.results` — :class:`SweepResult`: the table and the heat map.
"""
from .design import Design, leaves, make_design, random_design
from .measures import MEASURES
from .results import SweepResult
from .runner import sweep

__all__ = ["Design", "MEASURES", "SweepResult", "leaves", "make_design", "random_design", "sweep"]
