"""Results to and from NWB (Neurodata Without Borders, via ``pynwb``, an optional extra:
``pip install neurosim[nwb]``).

    ns.io.to_nwb(result, net, "run.nwb")        # a SimResult of simulate(net, ...)
    back = ns.io.read_nwb("run.nwb")             # the same spikes, traces and rates, as numpy

What goes where (times in seconds, as NWB wants them; neurosim's are ms):

- **spikes** -> the ``units`` table: one unit per neuron of every population with a ``Spikes``
  monitor, its ``spike_times``, and the columns ``population`` and ``neuron_id``;
- **traces** (``Trace``, ``Weights``) -> a ``TimeSeries`` per monitor in the processing module
  ``misc`` (regularly sampled: ``starting_time`` and ``rate``; ``timestamps`` where a run ends
  inside a sampling window and its last sample is the final state), with the unit of its
  variable, and beside it a table ``<name>.columns`` giving the neuron (or synapse) of each
  column;
- **rates** (``Rate``) -> a ``TimeSeries`` ``<pop>.rate`` in Hz in the same module;
- **the network** -> ``experiment_description``: a JSON of its structure (populations, models
  and their options, projections and their connectivity digests, inputs) and fingerprint, the
  one :func:`neurosim.load_checkpoint` checks; ``notes``: dt, the start and the duration; the
  ``subject``: the network itself ("in silico", identified by its fingerprint).

A result streamed to a file (``simulate(stream_to=...)``) is written from that file, which must
still hold the result's time span. A result of another network (a population it lacks, a
neuron beyond one of its populations) is refused, naming the population and the id.
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._files import bad_file, open_hdf5
from ._optional import require

UNITS = {"v": "mV", "u": "mV", "w": "pA", "g": "nS", "g_e": "nS", "g_i": "nS", "i": "pA", "t_left": "ms"}


def _pynwb():
    return require("pynwb", "NWB export", "nwb")


def _weight_unit(net, proj):
    pr = {p.name: p for p in net.projections}[proj]
    return "nS" if getattr(pr.synapse, "output", None) == "conductance" else "pA"


def to_nwb(result, net, path, *, session_description: str = "a neurosim simulation", identifier: str | None = None,
           session_start_time: datetime | None = None, **nwbfile_fields) -> Path:
    """Write the spikes, traces and rates of ``result`` (a SimResult of ``net``; streamed ones
    from their file) and the network's description to the NWB file ``path`` (module docstring).
    ``nwbfile_fields`` go to ``pynwb.NWBFile`` (``experimenter=``, ``institution=``, ...).
    Returns the path."""
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
    if result.stream is not None:
        result = _from_stream(result)
    _check_result_of(net, result)
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
            n = net.population(pop).n
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
        # regular samples as a start and a rate; a run that ends inside a window has a last sample
        # closer than the others (at the end of the run), so its times are written as they are
        regular = len(t) < 3 or np.allclose(np.diff(t), step, rtol=1e-9, atol=1e-9 * step)
        timing = (dict(starting_time=float(t[0]) / 1000.0, rate=1000.0 / step) if regular
                  else dict(timestamps=np.asarray(t, np.float64) / 1000.0))
        module.add(TimeSeries(name=key, data=np.asarray(values), unit=unit, **timing,
                              description=f"neurosim monitor {key}: {var} of {what}, sampled every {step:g} ms"
                                          + ("" if regular else " and at the end of the run")))
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


def _from_stream(result):
    """``result`` with the spikes, traces and rates of the file its monitors were streamed to."""
    from .stream import read_stream

    data = read_stream(result.stream)
    span = [round(t / result.dt) for t in (data["t_start"], data["t_stop"])]
    if span != [round(t / result.dt) for t in (result.t_start, result.t_stop)]:
        raise ValueError(f"to_nwb: the result's monitors were streamed to {result.stream!r}, which now holds "
                         f"t = {data['t_start']:g}-{data['t_stop']:g} ms, not the result's {result.t_start:g}-"
                         f"{result.t_stop:g} ms (written over since?)")
    return dataclasses.replace(result, spikes=data["spikes"], traces=data["traces"], rates=data["rates"], stream=None)


def _check_result_of(net, result) -> None:
    """Refuse a result of another network: populations or projections ``net`` lacks, neurons
    beyond its populations."""
    sizes = {p.name: p.n for p in net.populations}
    projections = {pr.name for pr in net.projections}
    where = "to_nwb: result is not of this net"

    def check_ids(pop, ids, what):
        ids = np.asarray(ids)
        if pop not in sizes:
            raise ValueError(f"{where}: it has {what} of population {pop!r}, which net lacks (its populations: "
                             f"{list(sizes)})")
        if result.sizes.get(pop, sizes[pop]) != sizes[pop]:
            raise ValueError(f"{where}: its population {pop!r} has {result.sizes[pop]} neurons, net's has {sizes[pop]}")
        beyond = ids[(ids < 0) | (ids >= sizes[pop])]
        if beyond.size:
            raise ValueError(f"{where}: it has {what} of neuron {int(beyond[0])} of population {pop!r}, which has "
                             f"{sizes[pop]} neurons (ids 0-{sizes[pop] - 1})")

    for pop, (_, ids) in result.spikes.items():
        check_ids(pop, ids, "spikes")
    for pop in result.rates:
        check_ids(pop, [], "a rate")
    for key, (_, _, labels) in result.traces.items():
        what = key.partition(".")[0]
        if what in projections:
            continue
        check_ids(what, labels, f"a trace ({key})")


def _json(text, field: str, keys, bad) -> dict:
    """The JSON object ``to_nwb`` wrote in the text field ``field``, with ``keys``."""
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError) as e:
        raise bad(f"its {field} field is not the JSON to_nwb writes: {e}") from None
    if not isinstance(value, dict) or not all(k in value for k in keys):
        raise bad(f"its {field} field lacks some of {list(keys)}")
    return value


def read_nwb(path) -> dict:
    """What :func:`to_nwb` wrote, in neurosim's units (ms): ``{"spikes": {pop: (times_ms, ids)},
    "traces": {key: (t_ms, values, labels)}, "rates": {pop: (t_ms, rate_hz)}, "network": dict,
    "dt": float, "t_start": float, "duration": float}``. A file that is not one (damaged, cut
    short, another program's NWB) is a ValueError naming it and what is wrong."""
    _pynwb()
    from pynwb import NWBHDF5IO

    kind = "an NWB file of neurosim (ns.io.to_nwb)"

    def bad(why):
        return bad_file("read_nwb", path, kind, why)

    open_hdf5(path, "read_nwb", kind, "NWB export").close()        # there, whole, and HDF5
    io = None
    try:
        io = NWBHDF5IO(str(path), "r")
        nwb = io.read()
    except Exception as e:       # noqa: BLE001 - pynwb and hdmf refuse an HDF5 file that is not NWB in many ways
        if io is not None:
            io.close()
        raise bad(f"pynwb cannot read it: {type(e).__name__}: {e}") from None
    out = {"spikes": {}, "traces": {}, "rates": {}}
    with io:
        meta = _json(nwb.notes, "notes", ("dt_ms", "t_start_ms", "duration_ms"), bad)
        out.update(dt=meta["dt_ms"], t_start=meta["t_start_ms"], duration=meta["duration_ms"],
                   network=_json(nwb.experiment_description, "experiment_description",
                                 ("neurosim_network", "fingerprint"), bad))
        if "misc" not in nwb.processing:
            raise bad("it has no processing module 'misc'")
        if nwb.units is not None and not {"population", "neuron_id"} <= set(nwb.units.colnames):
            raise bad("its units table has no population and neuron_id columns")
        try:
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
                t = (np.asarray(obj.timestamps[:], np.float64) if obj.timestamps is not None
                     else obj.starting_time + np.arange(data.shape[0]) / obj.rate) * 1000.0
                if name.endswith(".rate") and f"{name}.columns" not in module.data_interfaces:
                    out["rates"][name[:-len(".rate")]] = (t, data)
                else:
                    table = module.data_interfaces[f"{name}.columns"]
                    labels = np.asarray(table[table.colnames[0]][:])
                    out["traces"][name] = (t, data, labels)
        except (KeyError, OSError, TypeError, AttributeError) as e:      # a part missing or unreadable
            raise bad(f"{type(e).__name__}: {e}") from None
    return out
