#!/usr/bin/env bash
# Install the peer simulators used by benchmarks/coba.py, one virtual
# environment per peer under .peers/<tool>/ (git-ignored).
#
#   bash benchmarks/peers/install.sh            # all peers
#   bash benchmarks/peers/install.sh brian2 nest
#   FORCE=1 bash benchmarks/peers/install.sh    # rebuild venvs that already work
#
# Every peer is installed independently: a failure prints
#   bench-peers: <tool> FAILED to install (<reason>)
# and the script goes on; it always exits 0.  A peer whose venv already
# imports fine is skipped (idempotent).  Logs: .peers/<tool>.install.log
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS="${PEERS_DIR:-$ROOT/.peers}"
mkdir -p "$PEERS"

# Interpreters.  BrainPy 2.9 needs Python >= 3.12; Brian2 2.11 needs >= 3.13
# (on 3.12 pip falls back to Brian2 2.10.1).  The pyenv shims ("python3.12")
# are not reliable here, so the full pyenv paths come first.  PEER_PYTHON
# overrides the choice for every peer.
pick_python() {  # pick_python MIN_MINOR CANDIDATES...
    local min="$1" c; shift
    for c in "${PEER_PYTHON:-}" "$@" "$(command -v python3 2>/dev/null)"; do
        [ -n "$c" ] && [ -x "$c" ] && (cd /tmp && "$c" -c "import sys, venv, ensurepip; assert sys.version_info >= (3, $min)") \
            >/dev/null 2>&1 && { echo "$c"; return 0; }
    done
    return 1
}
PY312="$(pick_python 12 /root/.pyenv/versions/3.12.1/bin/python3.12 /root/.pyenv/versions/3.13.0/bin/python3.13 \
         "$(command -v python3.12 2>/dev/null)" "$(command -v python3.13 2>/dev/null)")" \
    || PY312="$(pick_python 10)" || PY312=""
PY313="$(pick_python 13 /root/.pyenv/versions/3.13.0/bin/python3.13 "$(command -v python3.13 2>/dev/null)")" \
    || PY313="$PY312"
py_brian2="$PY313"
py_brainpy="$PY312"
py_nest="$PY312"

# Per-peer package sets.  Versions: newest that install and run here (see
# benchmarks/README.md).  numpy is capped below 2.4 for Brian2 (papers.md:
# Brian 2.9 breaks with numpy 2.4; the cap is harmless for 2.11).
pkgs_brian2=(  "brian2" "numpy<2.4" "cython" "setuptools" "wheel" )
pkgs_brainpy=( "brainpy>=2.9" "brainevent" "brainstate" "numba" "jax[cpu]" "numpy" )
pkgs_nest=(    "nest-simulator" "numpy" )

check_brian2='import brian2, numpy, Cython, setuptools; print("brian2", brian2.__version__)'
check_brainpy='import brainpy, brainevent, numba, jax; print("brainpy", brainpy.__version__, "brainevent", brainevent.__version__, "jax", jax.__version__)'
check_nest='import os; os.environ["PYNEST_QUIET"]="1"; import nest; print("nest", nest.__version__)'

check() {  # check TOOL -> 0 if the venv imports fine
    local tool="$1" code
    eval "code=\$check_$tool"
    [ -x "$PEERS/$tool/bin/python" ] && \
        (cd /tmp && timeout 300 "$PEERS/$tool/bin/python" -c "$code") >>"$PEERS/$tool.install.log" 2>&1
}

install_one() {
    local tool="$1" log="$PEERS/$1.install.log" t0 t1 reason pkgs PY
    eval "pkgs=(\"\${pkgs_$tool[@]}\")"
    eval "PY=\$py_$tool"
    if [ -z "${FORCE:-}" ] && [ -x "$PEERS/$tool/bin/python" ] && check "$tool"; then
        echo "bench-peers: $tool already installed ($(tail -n 1 "$log")), skipped"
        return 0
    fi
    t0=$(date +%s)
    : >"$log"
    if [ -z "$PY" ]; then
        echo "bench-peers: $tool FAILED to install (no usable Python >= 3.10 found)"
        return 0
    fi
    echo "bench-peers: installing $tool (${pkgs[*]}) with $PY ..."
    rm -rf "${PEERS:?}/$tool"
    if ! "$PY" -m venv "$PEERS/$tool" >>"$log" 2>&1; then
        echo "bench-peers: $tool FAILED to install (could not create venv, see $log)"
        rm -rf "${PEERS:?}/$tool"
        return 0
    fi
    "$PEERS/$tool/bin/python" -m pip install -q --upgrade pip >>"$log" 2>&1
    if ! "$PEERS/$tool/bin/python" -m pip install "${pkgs[@]}" >>"$log" 2>&1; then
        reason="$(grep -E -i 'error' "$log" | tail -n 1 | cut -c1-200)"
        echo "bench-peers: $tool FAILED to install (pip: ${reason:-see $log})"
        rm -rf "${PEERS:?}/$tool"
        return 0
    fi
    if ! check "$tool"; then
        reason="$(tail -n 1 "$log" | cut -c1-200)"
        echo "bench-peers: $tool FAILED to install (import check: ${reason:-see $log})"
        rm -rf "${PEERS:?}/$tool"
        return 0
    fi
    t1=$(date +%s)
    "$PEERS/$tool/bin/python" -m pip freeze >"$PEERS/$tool.freeze.txt" 2>/dev/null
    echo "bench-peers: $tool installed in $((t1 - t0)) s ($(tail -n 1 "$log"))"
}

# ---------------------------------------------------------------- reservoirpy
# ReservoirPy, the echo-state-network peer of benchmarks/esn.py (pure Python
# on numpy/scipy: no compiler).  Same rules as the peers above: its own venv
# under .peers/reservoirpy, a failure is reported and not fatal, skipped when
# the venv already imports.  Run alone with:
#   bash benchmarks/peers/install.sh reservoirpy
py_reservoirpy="$PY312"
pkgs_reservoirpy=( "reservoirpy" "numpy" "scipy" )
check_reservoirpy='import reservoirpy, numpy, scipy; print("reservoirpy", reservoirpy.__version__, "numpy", numpy.__version__, "scipy", scipy.__version__)'
# ---------------------------------------------------------------- end reservoirpy

# ---------------------------------------------------------------- snntorch
# snnTorch, the PyTorch training peer of benchmarks/training.py.  torch is pinned
# to the CPU build 2.13.0 for Python 3.11 that this machine holds (any other
# torch request downloads a CUDA build of several GB).
py_snntorch="$(pick_python 11 /root/.pyenv/versions/3.11*/bin/python3.11 "$(command -v python3.11 2>/dev/null)")" || py_snntorch=""
pkgs_snntorch=( "torch==2.13.0" "snntorch" "numpy" "nir" "nirtorch" )   # nir: tests/test_nir.py's live export
check_snntorch='import torch, snntorch; print("snntorch", snntorch.__version__, "torch", torch.__version__)'
# ---------------------------------------------------------------- end snntorch

# ---------------------------------------------------------------- spyx
# Spyx, the JAX training peer of benchmarks/training.py (flax nnx layers, the
# whole loop under jax.jit).  Its own venv with its own jax, CPU wheels.
py_spyx="$PY312"
pkgs_spyx=( "spyx" "jax[cpu]" )
check_spyx='import spyx, jax, flax; print("spyx", spyx.__version__, "jax", jax.__version__, "flax", flax.__version__)'
# ---------------------------------------------------------------- end spyx

tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(brian2 brainpy nest reservoirpy snntorch spyx)
for t in "${tools[@]}"; do
    case "$t" in
        brian2|brainpy|nest|reservoirpy|snntorch|spyx) install_one "$t" ;;
        *) echo "bench-peers: unknown peer '$t' (known: brian2 brainpy nest reservoirpy snntorch spyx)" ;;
    esac
done
exit 0
