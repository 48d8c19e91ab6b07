"""Writes the damaged files next to this script, the ones tests/bad_inputs.py and
tests/test_faults.py hand to every loader (load_checkpoint, fit and sweep resume, read_stream,
read_nwb, from_nir). Run it again after a change to a format: ``python tests/data/damaged/make.py``.

    empty            0 bytes
    text.txt         a line of text
    random.bin       512 random bytes
    truncated.npz    the first half of a real checkpoint (save_checkpoint)
    truncated.h5     the first half of a real stream file (simulate(stream_to=...))
    no_keys.npz      a valid .npz holding only ``x``
    no_keys.h5       a valid HDF5 file holding only ``x``
    bad_json.npz     the JSON entries of a checkpoint, fit checkpoint and sweep resume file
                     (``__header__``, ``meta``, ``__design__``), each not JSON
    bad_content.npz  the same entries, JSON of the wrong content
    bad_json.nwb     an NWB file (pynwb) whose ``notes`` are not JSON
    overclaim.h5     a real stream file whose spike times' bounds claim more rows than it holds
"""
from pathlib import Path

import h5py
import numpy as np

import neurosim as ns

HERE = Path(__file__).resolve().parent


def main():
    net = ns.Network([ns.Population("E", 10, ns.neurons.LIF())],
                     inputs=[ns.Input("drive", "E", ns.inputs.ConstantCurrent(), ns.inputs.ConstantCurrent.Params(500.0))])
    res = ns.simulate(net, 20.0, monitors=[ns.Spikes("E")], progress=False)
    (HERE / "empty").write_bytes(b"")
    (HERE / "text.txt").write_text("a plain text file, not a neurosim file\n")
    (HERE / "random.bin").write_bytes(np.random.default_rng(0).bytes(512))
    data = ns.save_checkpoint(HERE / "whole.npz", net, res).read_bytes()
    (HERE / "truncated.npz").write_bytes(data[:len(data) // 2])
    (HERE / "whole.npz").unlink()
    ns.simulate(net, 20.0, monitors=[ns.Spikes("E")], chunk_steps=50, stream_to=HERE / "whole.h5", progress=False)
    data = (HERE / "whole.h5").read_bytes()
    (HERE / "truncated.h5").write_bytes(data[:len(data) // 2])
    with h5py.File(HERE / "whole.h5", "a") as f:
        f["spikes/E/t"].attrs["rows"] = f["spikes/E/t"].shape[0] + 5
    (HERE / "whole.h5").replace(HERE / "overclaim.h5")
    np.savez(HERE / "no_keys.npz", x=np.zeros(3))
    with h5py.File(HERE / "no_keys.h5", "w") as f:
        f["x"] = np.zeros(3)
    np.savez(HERE / "bad_json.npz", __header__=np.array("{not json"), __design__=np.array("{not json"),
             meta=np.frombuffer(b"{not json", np.uint8))
    np.savez(HERE / "bad_content.npz", __header__=np.array('{"format": "neurosim-checkpoint/1", "dt": -1}'),
             __design__=np.array("[1, 2]"), meta=np.frombuffer(b'{"epoch": "three"}', np.uint8))
    from datetime import datetime, timezone
    from pynwb import NWBHDF5IO, NWBFile
    nwb = NWBFile(session_description="damaged", identifier="damaged", notes="{not json",
                  session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc), experiment_description="{}")
    with NWBHDF5IO(str(HERE / "bad_json.nwb"), "w") as io:
        io.write(nwb, cache_spec=False)             # pynwb knows its own spec; caching it is most of a file

if __name__ == "__main__":
    main()
