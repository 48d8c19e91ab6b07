"""Results to and from NWB (Neurodata Without Borders, via ``pynwb``, an optional extra:
``pip install neurosim[nwb]``).

    ns.io.to_nwb(result, net, "run.nwb")        # a SimResult of simulate(net, ...)
    back = ns.io.read_nwb("run.nwb")             # the same spikes, traces and rates, as numpy

What goes where (times in seconds, as NWB wants them; neurosim's are ms):

- **spikes** -> the ``units`` table: one unit per neuron of every population with a ``Spikes``
  monitor, its ``spike_times``, and the columns ``population`` and ``neuron_id``;
- **traces** (``Trace``, ``Weights``) -> a ``TimeSeries`` per monitor in the processing module
  ``misc`` (regularly sampled: ``starting_time`` and ``rate``), with the unit of its
  variable, and beside it a table ``<name>.columns`` giving the neuron (or synapse) of each
  column;
- **rates** (``Rate``) -> a ``TimeSeries`` ``<pop>.rate`` in Hz in the same module;
- **the network** -> ``experiment_description``: a JSON of its structure (populations, models
  and their options, projections and their connectivity digests, inputs) and fingerprint, the
  one :func:`neurosim.load_checkpoint` checks; ``notes``: dt, the start and the duration; the
  ``subject``: the network itself ("in silico", identified by its fingerprint).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ._optional import require

UNITS = {"v": "mV", "u": "mV", "w": "pA", "g": "nS", "g_e": "nS", "g_i": "nS", "i": "pA", "t_left": "ms"}


def _pynwb():
    return require("pynwb", "NWB export", "nwb")


def _weight_unit(net, proj):
    pr = {p.name: p for p in net.projections}[proj]
    return "nS" if getattr(pr.synapse, "output", None) == "conductance" else "pA"


def to_nwb(result, net, path, *, session_description: str = "a neurosim simulation", identifier: str | None = None,
           session_start_time: datetime | None = None, **nwbfile_fields) -> Path:
    """Write the spikes, traces and rates of ``result`` (a SimResult of ``net``) and the
    network's description to the NWB file ``path`` (module docstring). ``nwbfile_fields`` go to
    ``pynwb.NWBFile`` (``experimenter=``, ``institution=``, ...). Returns the path."""
    _pynwb()
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.file import Subject
    from pynwb.misc import Units

    from ..network.checkpoint import describe, fingerprint
    from ..network.simulate import SimResult

    if not isinstance(result, SimResult):
        raise ValueError(f"result must be the SimResult of ns.simulate, got {type(result).__name__}")
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"path: the directory {str(path.parent)!r} does not exist")
    start = session_start_time or datetime.now(timezone.utc)
    nwb = NWBFile(session_description=session_description, identifier=identifier or str(uuid.uuid4()),
                  session_start_time=start,
                  experiment_description=json.dumps({"neurosim_network": describe(net), "fingerprint": fingerprint(net)},
                                                    sort_keys=True),
                  notes=json.dumps({"dt_ms": result.dt, "t_start_ms": result.t_start, "duration_ms": result.duration}),
                  source_script="neurosim", source_script_file_name="neurosim",
                  keywords=nwbfile_fields.pop("keywords", ["simulation", "spiking neural network", "neurosim"]),
                  **nwbfile_fields)
    # NWB asks for a subject; here it is the network, "born" when the session starts, of no sex
    nwb.subject = Subject(subject_id=f"neurosim-{fingerprint(net)[:12]}", species="in silico", sex="U",
                          date_of_birth=start, description="a simulated network (neurosim), not an animal")
    if result.spikes:
        nwb.units = Units(name="units", resolution=result.dt / 1000.0, description="neurons of neurosim populations")
        nwb.add_unit_column(name="population", description="the neurosim population of the unit")
        nwb.add_unit_column(name="neuron_id", description="the index of the neuron in its population")
        for pop, (t, ids) in result.spikes.items():
            n = result.sizes.get(pop, net.population(pop).n)
            order = np.lexsort((t, ids))
            t, ids = np.asarray(t)[order], np.asarray(ids)[order]
            bounds = np.searchsorted(ids, np.arange(n + 1))
            for i in range(n):
                nwb.add_unit(spike_times=t[bounds[i]:bounds[i + 1]] / 1000.0, population=pop, neuron_id=i)
    module = nwb.create_processing_module("misc", "traces and rates recorded by neurosim monitors")
    for key, (t, values, labels) in result.traces.items():
        what, _, var = key.partition(".")
        unit = _weight_unit(net, what) if var.startswith("weights") else UNITS.get(var, "n.a.")
        step = float(t[1] - t[0]) if len(t) > 1 else result.dt
        module.add(TimeSeries(name=key, data=np.asarray(values), unit=unit, starting_time=float(t[0]) / 1000.0,
                              rate=1000.0 / step, description=f"neurosim monitor {key}: {var} of {what}, sampled "
                                                               f"every {step:g} ms"))
        column = "bin_edge" if var == "weights_hist" else ("synapse_id" if var == "weights" else "neuron_id")
        module.add(DynamicTable(name=f"{key}.columns", description=f"what each column of {key} is",
                                columns=[VectorData(name=column, data=np.asarray(labels),
                                                    description=f"the {column.replace('_', ' ')} of each column")]))
    for pop, (t, rate) in result.rates.items():
        module.add(TimeSeries(name=f"{pop}.rate", data=np.asarray(rate), unit="Hz", starting_time=float(t[0]) / 1000.0,
                              rate=1000.0 / result.dt, description=f"population rate of {pop}, every step"))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def read_nwb(path) -> dict:
    """What :func:`to_nwb` wrote, in neurosim's units (ms): ``{"spikes": {pop: (times_ms, ids)},
    "traces": {key: (t_ms, values, labels)}, "rates": {pop: (t_ms, rate_hz)}, "network": dict,
    "dt": float, "t_start": float, "duration": float}``."""
    _pynwb()
    from pynwb import NWBHDF5IO

    out = {"spikes": {}, "traces": {}, "rates": {}}
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        meta = json.loads(nwb.notes)
        out.update(dt=meta["dt_ms"], t_start=meta["t_start_ms"], duration=meta["duration_ms"],
                   network=json.loads(nwb.experiment_description))
        if nwb.units is not None:
            df = nwb.units
            pops = np.asarray(df["population"][:])
            ids = np.asarray(df["neuron_id"][:])
            for pop in dict.fromkeys(pops):
                ts, ns_ = [], []
                for row in np.flatnonzero(pops == pop):
                    st = np.asarray(df["spike_times"][row]) * 1000.0
                    ts.append(st)
                    ns_.append(np.full(st.size, ids[row], np.int64))
                t, i = np.concatenate(ts), np.concatenate(ns_)
                order = np.lexsort((i, t))
                out["spikes"][str(pop)] = (t[order], i[order])
        module = nwb.processing["misc"]
        for name, obj in module.data_interfaces.items():
            if name.endswith(".columns"):
                continue
            data = np.asarray(obj.data[:])
            t = (obj.starting_time + np.arange(data.shape[0]) / obj.rate) * 1000.0
            if name.endswith(".rate") and f"{name}.columns" not in module.data_interfaces:
                out["rates"][name[:-len(".rate")]] = (t, data)
            else:
                table = module.data_interfaces[f"{name}.columns"]
                labels = np.asarray(table[table.colnames[0]][:])
                out["traces"][name] = (t, data, labels)
    return out
