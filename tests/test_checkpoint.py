"""Checkpoints (neurosim.network.checkpoint): a run saved, loaded in a new process and resumed
gives bitwise the spikes (and plastic weights) of the uninterrupted run; a checkpoint of another
network, a file that is not one, or a resume at another dt is refused with what differs."""
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import neurosim as ns

BUILD = {
    "brunel": lambda: ns.builders.brunel2000("C", scale=0.1, seed=2),        # Poisson drive: the key matters
    "song": lambda: ns.builders.song2000(n_exc=200, n_inh=40, g_max=0.1, seed=1),      # plastic weights in the state
}

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import neurosim as ns
    kind, stage, path = sys.argv[1:4]
    net = {"brunel": lambda: ns.builders.brunel2000("C", scale=0.1, seed=2),
           "song": lambda: ns.builders.song2000(n_exc=200, n_inh=40, g_max=0.1, seed=1)}[kind]()
    pop = net.populations[-1].name
    if stage == "first":
        r = ns.simulate(net, 100.0, key=7, monitors=[ns.Spikes(pop)], progress=False)
        ns.save_checkpoint(path, net, r)
    else:
        c = ns.load_checkpoint(path, net)
        r = ns.simulate(net, 100.0, dt=c.dt, state=c.state, params=c.params, monitors=[ns.Spikes(pop)], progress=False)
        t, i = r.spikes[pop]
        np.savez(path + ".out.npz", t=t, i=i, t_start=r.t_start,
                 **{"w_" + k: np.asarray(v) for k, v in r.state.weights.items()})
""")


@pytest.mark.parametrize("kind", ["brunel", "song"])
def test_a_run_resumed_in_new_processes_equals_the_uninterrupted_run_bitwise(kind, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    path = str(tmp_path / "ck.npz")
    for stage in ("first", "second"):
        proc = subprocess.run([sys.executable, str(script), kind, stage, path], capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
    net = BUILD[kind]()
    pop = net.populations[-1].name
    whole = ns.simulate(net, 200.0, key=7, monitors=[ns.Spikes(pop)], progress=False)
    t, i = whole.spikes[pop]
    late = t >= 100.0 - 1e-9
    out = np.load(path + ".out.npz")
    assert float(out["t_start"]) == pytest.approx(100.0)
    assert late.sum() > 5                                         # the second half has spikes to compare
    np.testing.assert_array_equal(out["t"], t[late])
    np.testing.assert_array_equal(out["i"], i[late])
    for name, w in whole.state.weights.items():
        np.testing.assert_array_equal(out["w_" + name], np.asarray(w))
    if kind == "song":
        assert whole.state.weights                                # the plastic case really has weights


def test_load_returns_what_was_saved():
    net = BUILD["brunel"]()
    r = ns.simulate(net, 20.0, key=3, progress=False)
    import tempfile, os
    with tempfile.TemporaryDirectory() as d:
        p = ns.save_checkpoint(os.path.join(d, "x"), net, r.state)
        assert p.name == "x.npz"
        c = ns.load_checkpoint(p, net)
    assert c.dt == 0.1 and c.t_ms == pytest.approx(20.0) and int(c.state.t) == 200
    for a, b in zip(jax.tree.leaves(r.state._replace(key=jax.random.key_data(r.state.key))),
                    jax.tree.leaves(c.state._replace(key=jax.random.key_data(c.state.key)))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert ns.fingerprint(net) == ns.fingerprint(BUILD["brunel"]())
    assert ns.fingerprint(net) != ns.fingerprint(ns.builders.brunel2000("C", scale=0.1, seed=3))


def test_refusals_name_what_differs(tmp_path):
    net = BUILD["brunel"]()
    r = ns.simulate(net, 10.0, key=3, progress=False)
    p = ns.save_checkpoint(tmp_path / "ck.npz", net, r)
    other_seed = ns.builders.brunel2000("C", scale=0.1, seed=3)             # same sizes, other connectivity
    with pytest.raises(ValueError, match=r"written for another network; its projections \(changed: \[.*\]\) differ"):
        ns.load_checkpoint(p, other_seed)
    bigger = ns.builders.brunel2000("C", scale=0.2, seed=2)
    with pytest.raises(ValueError, match="its populations .* differ"):
        ns.load_checkpoint(p, bigger)
    c = ns.load_checkpoint(p, net)
    with pytest.raises(ValueError, match="built for dt = 0.1 ms .* this run uses dt = 0.05 ms"):   # brunel2000's own dt
        ns.simulate(net, 10.0, dt=0.05, state=c.state, progress=False)
    song = BUILD["song"]()                                        # a network for any dt: the state's dt
    ps = ns.save_checkpoint(tmp_path / "song.npz", song, ns.simulate(song, 5.0, progress=False))
    with pytest.raises(ValueError, match="state was made for dt = 0.1 ms, but this run uses dt = 0.05 ms"):
        ns.simulate(song, 10.0, dt=0.05, state=ns.load_checkpoint(ps, song).state, progress=False)
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a neurosim checkpoint"):
        ns.load_checkpoint(tmp_path / "plain.npz", net)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a neurosim checkpoint"):
        ns.load_checkpoint(tmp_path / "junk.npz", net)
    with pytest.raises(ValueError, match="no such file"):
        ns.load_checkpoint(tmp_path / "missing.npz", net)
    with pytest.raises(ValueError, match="the directory .* does not exist"):
        ns.save_checkpoint(tmp_path / "nowhere" / "ck.npz", net, r)
    with pytest.raises(ValueError, match="state must be a SimResult or a NetworkState"):
        ns.save_checkpoint(tmp_path / "ck2.npz", net, {"t": 0})
    with pytest.raises(ValueError, match="state was made for another network"):
        ns.save_checkpoint(tmp_path / "ck3.npz", ns.builders.song2000(n_exc=20, n_inh=5), r)
