"""JAX's persistent compilation cache, which ``import neurosim`` turns on (neurosim/_jax_cache.py):
where it goes, how it is turned off, that a user's own configuration is left alone, and that a
simulation's programs land there and are read back by the next process."""
import os
import subprocess
import sys

import jax
import pytest

from neurosim import _jax_cache

RUN = """
import logging, os, sys, jax, neurosim as ns
from neurosim.builders.vogels_abbott import coba
hits = []
class Hits(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("Persistent compilation cache hit"):
            hits.append(1)
logging.getLogger("jax").addHandler(Hits())
logging.getLogger("jax").setLevel(logging.DEBUG)
print(jax.config.jax_compilation_cache_dir)
net = coba(400, seed=1)
r = ns.simulate(net, 5.0, 0.1, monitors=[ns.Spikes("neurons")])
t, i = r.spikes["neurons"]
print(len(i), len(hits))
"""


def _run(env, code=RUN):
    env = {**{k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}, **env}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


def test_a_new_process_writes_the_programs_there_and_the_next_reads_them_back(tmp_path):
    where = tmp_path / "cache"
    first = _run({"NEUROSIM_JAX_CACHE": str(where)})
    assert first[0] == str(where) and first[2] == "0"     # nothing to read yet
    kept = [p.name for p in where.iterdir() if p.name.endswith("-cache")]
    assert len(kept) >= 2           # the engine's chunk and the initial state, at least
    second = _run({"NEUROSIM_JAX_CACHE": str(where)})
    assert second[:2] == first[:2]  # same spikes from the programs read back
    assert int(second[2]) >= len(kept)    # every program the first process kept was read back


@pytest.mark.parametrize("off", ["0", "off", "False", "no"])
def test_turned_off_by_the_variable(off, monkeypatch):
    monkeypatch.setenv("NEUROSIM_JAX_CACHE", off)
    assert _jax_cache.directory() is None


def test_the_default_directory_is_under_the_xdg_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("NEUROSIM_JAX_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _jax_cache.directory() == tmp_path / "neurosim" / "jax"


def test_a_directory_that_cannot_be_made_is_an_error_naming_the_variable(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("NEUROSIM_JAX_CACHE", str(blocker / "sub"))
    with pytest.raises(ValueError, match="NEUROSIM_JAX_CACHE=.*cannot be created.*0 to turn the compilation cache off"):
        _jax_cache.directory()


def test_a_cache_the_user_configured_is_left_alone(tmp_path, monkeypatch):
    before = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
    monkeypatch.setenv("NEUROSIM_JAX_CACHE", str(tmp_path / "ours"))
    try:
        jax.config.update("jax_compilation_cache_dir", str(tmp_path / "theirs"))
        assert _jax_cache.configure() is None
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "theirs")
    finally:
        jax.config.update("jax_compilation_cache_dir", before[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", before[1])
    out = _run({"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "env")}, "import jax, neurosim; print(jax.config.jax_compilation_cache_dir)")
    assert out == [str(tmp_path / "env")]     # jax's own variable wins
