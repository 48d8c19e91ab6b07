"""Files under faults (each fault injected): a process killed while it saves a checkpoint, two
processes saving one checkpoint while a third reads it, a full disk during a save (checkpoints,
train.fit, sweep resume) and during a streamed run (injected, and a real file-size limit that
used to crash the interpreter), a stream file whose data runs past its bounds or that is cut
short, and real files of every loader cut short. Damaged files of every kind given to every
loader are cases of tests/bad_inputs.py (the files: tests/data/damaged)."""
import errno
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
from flax import nnx

import neurosim as ns
from neurosim import train as T
from neurosim.neurons import LIF

# ----------------------------------------------------------------------------- atomic saves
# a network whose checkpoint is a few MB (per-synapse weights), so that a save takes a while
BIG = textwrap.dedent("""
    import numpy as np
    import neurosim as ns
    conn = ns.events.fixed_probability(2000, 2000, 0.2, seed=1)
    net = ns.Network([ns.Population("E", 2000, ns.neurons.LIF())],
                     [ns.Projection("EE", "E", "E", conn, np.linspace(0.0, 0.1, conn.nnz))])
""")
SAVER = BIG + textwrap.dedent("""
    import sys
    path = sys.argv[1]
    old, new = (ns.simulate(net, t, progress=False).state for t in (1.0, 2.0))
    ns.save_checkpoint(path, net, old)
    print("saving", flush=True)
    for k in range(10**9):                   # until killed: old, new, old, ...
        ns.save_checkpoint(path, net, (new, old)[k % 2])
""")


def _big_net():
    space = {}
    exec(BIG, space)
    return space["net"]


def _savers(tmp_path, paths):
    """One child per path saving checkpoints there in a loop; returned once each has saved once."""
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    procs = [subprocess.Popen([sys.executable, str(script), str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for p in paths]
    for p in procs:
        line = p.stdout.readline()
        assert line == "saving\n", p.stderr.read()
    return procs


def _kill(procs):
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        p.stderr.close()


def _old_or_new(path, net):
    return ns.load_checkpoint(path, net).t_ms in (pytest.approx(1.0), pytest.approx(2.0))


def test_a_kill_during_a_save_leaves_the_old_or_the_new_checkpoint(tmp_path):
    paths = [tmp_path / f"ck{k}.npz" for k in range(3)]
    procs = _savers(tmp_path, paths)
    for p, delay in zip(procs, (0.05, 0.3, 0.7)):     # killed at three moments of their loops
        time.sleep(delay)
        _kill([p])
    net = _big_net()
    for path in paths:
        assert _old_or_new(path, net), path
    assert ns.load_checkpoint(paths[0], net).params.projections["EE"].weights.shape == (net.projections[0].conn.nnz,)


def test_two_writers_and_a_reader_never_see_a_broken_checkpoint(tmp_path):
    path = tmp_path / "shared.npz"
    procs = _savers(tmp_path, [path, path])
    net = _big_net()
    reads, t0 = 0, time.perf_counter()
    try:
        while time.perf_counter() - t0 < 3.0:
            assert _old_or_new(path, net)
            reads += 1
    finally:
        _kill(procs)
    assert reads >= 3 and _old_or_new(path, net)


def _tiny_fit(path, epochs, resume=False):
    model = T.SpikingNetwork(T.SpikingLayer(3, 4, rngs=nnx.Rngs(0)), T.LeakyReadout(4, 2, rngs=nnx.Rngs(0)), dt=1.0)
    return T.fit(model, np.zeros((4, 5, 3), np.float32), np.zeros(4, int), epochs=epochs, batch_size=2,
                 progress=False, checkpoint=path, resume=resume)


def _small():
    return ns.Network([ns.Population("E", 10, LIF())], inputs=[ns.Input(
        "drive", "E", ns.inputs.ConstantCurrent(), ns.inputs.ConstantCurrent.Params(500.0))])


WRITERS = {     # each writes its file twice: the second write meets a full disk
    "save_checkpoint": lambda path: [ns.save_checkpoint(path, _small(), ns.simulate(_small(), t, progress=False))
                                     for t in (1.0, 2.0)],
    "fit(checkpoint=...)": lambda path: _tiny_fit(path, epochs=2),
    "sweep(resume=...)": lambda path: ns.sweep(_small(), {"neurons.E.v_th": [-50.0, -52.0]}, 10.0, bin_ms=10.0,
                                               batch_size=1, resume=path, progress=False),
}


@pytest.mark.parametrize("who", list(WRITERS))
def test_a_full_disk_during_a_save_leaves_the_old_file_and_no_temporary_one(who, tmp_path, monkeypatch):
    path, calls, before = tmp_path / "file.npz", [], {}
    real = np.savez

    def full_disk_on_the_second_save(file, **arrays):
        calls.append(1)
        if len(calls) < 2:
            return real(file, **arrays)
        before["bytes"] = path.read_bytes()
        file.write(b"PK\x03\x04 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk_on_the_second_save)
    with pytest.raises(OSError, match=rf"{re.escape(who)}: could not write '{path}' \(No space left "
                                      r"on device\); the file that was there, if any, is unchanged") as err:
        WRITERS[who](path)
    assert err.value.errno == errno.ENOSPC
    assert path.read_bytes() == before["bytes"]
    assert os.listdir(tmp_path) == ["file.npz"]                     # no temporary file left


def test_a_resume_after_a_failed_save_continues_from_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "fit.npz"
    whole = _tiny_fit(tmp_path / "whole.npz", epochs=3)
    real = np.savez
    calls = []

    def full_disk_after_the_first_epoch(file, **arrays):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(file, **arrays)

    monkeypatch.setattr(np, "savez", full_disk_after_the_first_epoch)
    with pytest.raises(OSError):
        _tiny_fit(path, epochs=3)
    monkeypatch.setattr(np, "savez", real)
    resumed = _tiny_fit(path, epochs=3, resume=True)
    assert resumed["epoch"] == [1, 2, 3] and resumed["loss"] == whole["loss"]


# ----------------------------------------------------------------------------- streams
@pytest.fixture(scope="module")
def brunel():
    return ns.builders.brunel2000("C", scale=0.1, seed=2)


MONITORS = lambda: [ns.Spikes("neurons"), ns.Trace("neurons", "v", ids=[0, 3]), ns.Rate("neurons")]   # noqa: E731


def test_a_failing_write_while_streaming_is_a_clear_error_carrying_the_partial_result(brunel, tmp_path, monkeypatch):
    from neurosim.io import stream

    kept = ns.simulate(brunel, 50.0, monitors=MONITORS(), chunk_steps=100, engine="scan", progress=False)
    real, appended = stream.StreamSink._append, []

    def full_disk_in_the_third_chunk(self, name, data):
        appended.append(name)
        if len(appended) == 2 * 6 + 3:       # 6 datasets a chunk: the third chunk's spikes are in, its trace not
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, name, data)

    monkeypatch.setattr(stream.StreamSink, "_append", full_disk_in_the_third_chunk)
    path = tmp_path / "run.h5"
    with pytest.raises(ns.io.StreamWriteError, match=rf"simulate\(stream_to='{path}'\): writing the chunk ending at "
                       r"t = 30 ms failed \(No space left on device\); the file holds the run up to t = 20 ms") as err:
        ns.simulate(brunel, 50.0, monitors=MONITORS(), chunk_steps=100, engine="scan", progress=False, stream_to=path)
    assert err.value.errno == errno.ENOSPC
    partial = err.value.partial
    assert partial.stream == str(path) and int(partial.state.t) == 200 and partial.duration == pytest.approx(20.0)
    with h5py.File(path, "r") as f:
        assert f["spikes/neurons/t"].shape[0] > f["spikes/neurons/t"].attrs["rows"]      # the cut chunk is there ...
    back = ns.io.read_stream(path)                                                       # ... and left out
    assert back["t_stop"] == pytest.approx(20.0)
    t, i = kept.spikes["neurons"]
    early = t < 20.0 - 1e-9
    np.testing.assert_array_equal(back["spikes"]["neurons"][0], t[early])
    np.testing.assert_array_equal(back["spikes"]["neurons"][1], i[early])
    np.testing.assert_array_equal(back["traces"]["neurons.v"][1], kept.traces["neurons.v"][1][:200])
    np.testing.assert_array_equal(back["rates"]["neurons"][1], kept.rates["neurons"][1][:200])


FILE_SIZE_LIMIT = textwrap.dedent("""
    import resource, signal, sys
    import neurosim as ns
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)        # a write past the limit fails with EFBIG instead
    net = ns.builders.brunel2000("C", scale=0.1, seed=2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
    try:
        ns.simulate(net, 100.0, monitors=[ns.Spikes("neurons"), ns.Trace("neurons", "v", ids=list(range(50)))],
                    chunk_steps=100, engine="scan", progress=False, stream_to=sys.argv[1])
    except ns.io.StreamWriteError as e:
        print("StreamWriteError", e.errno, e.partial.duration if e.partial else None)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE as a full disk: Linux")
def test_a_full_disk_while_streaming_ends_the_run_with_an_error_not_a_crash(tmp_path):
    script = tmp_path / "limit.py"
    script.write_text(FILE_SIZE_LIMIT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "run.h5"), "150000"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]                 # it was -11 (a segmentation fault)
    kind, code, done = proc.stdout.split()
    assert kind == "StreamWriteError" and int(code) == errno.EFBIG and float(done) > 0


def test_read_stream_reads_to_the_bounds(brunel, tmp_path):
    path = tmp_path / "run.h5"
    ns.simulate(brunel, 30.0, monitors=MONITORS(), chunk_steps=100, progress=False, stream_to=path)
    before = ns.io.read_stream(path)
    with h5py.File(path, "a") as f:                    # a crash after a chunk's data, before its bounds
        for name in ("spikes/neurons/t", "spikes/neurons/i", "traces/neurons.v/values", "rates/neurons/t"):
            ds = f[name]
            ds.resize(ds.shape[0] + 7, axis=0)
    after = ns.io.read_stream(path)
    assert after["t_stop"] == before["t_stop"] == pytest.approx(30.0)
    for what in ("spikes", "traces", "rates"):
        for key, arrays in before[what].items():
            for a, b in zip(arrays, after[what][key]):
                np.testing.assert_array_equal(a, b)


def test_a_stream_cut_short_is_a_clear_error(brunel, tmp_path):
    path = tmp_path / "run.h5"
    ns.simulate(brunel, 30.0, monitors=MONITORS(), chunk_steps=100, progress=False, stream_to=path)
    data = path.read_bytes()
    for cut in (0, 100, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"read_stream: '{path}' is not a neurosim stream .*\((an empty file|an "
                                             r"HDF5 file cut short or damaged)"):
            ns.io.read_stream(path)


def test_stream_to_replaces_a_file_only_when_told_to(brunel, tmp_path):
    path = tmp_path / "run.h5"
    path.write_text("results of last week")
    with pytest.raises(ValueError, match=rf"stream_to: '{path}' exists; .*stream_overwrite=True"):
        ns.simulate(brunel, 10.0, monitors=[ns.Spikes("neurons")], progress=False, stream_to=path)
    assert path.read_text() == "results of last week"
    ns.simulate(brunel, 10.0, monitors=[ns.Spikes("neurons")], progress=False, stream_to=path, stream_overwrite=True)
    assert ns.io.read_stream(path)["t_stop"] == pytest.approx(10.0)
    empty = tmp_path / "made_by_mkstemp.h5"                             # an empty file holds nothing to lose
    empty.touch()
    ns.simulate(brunel, 10.0, monitors=[ns.Spikes("neurons")], progress=False, stream_to=empty)
    assert ns.io.read_stream(empty)["t_stop"] == pytest.approx(10.0)


# ----------------------------------------------------------------------------- real files cut short
def _checkpoint(path):
    net = _small()
    ns.save_checkpoint(path, net, ns.simulate(net, 1.0, progress=False))
    return lambda: ns.load_checkpoint(path, net)


def _fit(path):
    _tiny_fit(path, epochs=1)
    return lambda: _tiny_fit(path, epochs=2, resume=True)


def _sweep(path):
    run = lambda: ns.sweep(_small(), {"neurons.E.v_th": [-50.0]}, 10.0, bin_ms=10.0, resume=path,   # noqa: E731
                           progress=False)
    run()
    return run


def _stream(path):
    ns.simulate(_small(), 5.0, monitors=[ns.Spikes("E")], chunk_steps=10, progress=False, stream_to=path)
    return lambda: ns.io.read_stream(path)


def _nwb(path):
    net = _small()
    ns.io.to_nwb(ns.simulate(net, 5.0, monitors=[ns.Spikes("E")], progress=False), net, path)
    return lambda: ns.io.read_nwb(path)


def _nir(path):
    import nir
    model = T.SpikingNetwork(T.SpikingLayer(3, 4, rngs=nnx.Rngs(0)), dt=1.0)
    nir.write(path, ns.io.to_nir(model, dt=1.0))
    return lambda: ns.io.from_nir(path, dt=1.0)


@pytest.mark.parametrize("who,make,name", [
    ("load_checkpoint", _checkpoint, "a.npz"), (r"fit\(resume=True\)", _fit, "a.npz"),
    (r"sweep\(resume=...\)", _sweep, "a.npz"), ("read_stream", _stream, "a.h5"), ("read_nwb", _nwb, "a.nwb"),
    ("from_nir", _nir, "a.nir")])
def test_every_loader_names_a_file_cut_short(who, make, name, tmp_path):
    path = tmp_path / name
    load = make(path)
    load()                                                              # whole, it loads
    data = path.read_bytes()
    for cut in (0, 1, len(data) // 3, 2 * len(data) // 3, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"{who}: '{path}' is not .* \((an empty file|.* cut short or damaged)"):
            load()
