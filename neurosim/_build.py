"""Build the compiled event kernels of ``kernels/`` into ``neurosim/_lib`` (no jax import here,
so ``setup.py`` can run it before jax is importable).

Every ``kernels/cpu/<name>.cc`` becomes ``neurosim/_lib/lib<name>_cpu.so`` (the machine's C++
compiler, ``$CXX`` or g++/clang++), and, where ``nvcc`` exists, every ``kernels/cuda/<name>.cu``
becomes ``lib<name>_cuda.so``. Each source is built on its own: one that fails to compile is
reported and skipped, the others are still built, and neurosim falls back to the pure-JAX
reference for whatever is missing (it warns once at run time).

    python -m neurosim._build [--cpu-only] [--quiet]      # rebuild in place
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ROOT / "kernels"
LIB = Path(__file__).resolve().parent / "_lib"

CXXFLAGS = ["-O3", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off",
            "-fno-math-errno"]
# sm_80 (A100) and sm_90 (H100/H200) machine code, and compute_90 PTX for newer GPUs.
NVCCFLAGS = ["-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC", "-fmad=false",
             "-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90",
             "-gencode", "arch=compute_90,code=compute_90"]


def ffi_include_dir() -> Path | None:
    """jaxlib's XLA FFI headers (``xla/ffi/api/ffi.h``), found without importing jax."""
    spec = importlib.util.find_spec("jaxlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    inc = Path(list(spec.submodule_search_locations)[0]) / "include"
    return inc if (inc / "xla" / "ffi" / "api" / "ffi.h").exists() else None


def _compiler(kind: str) -> str | None:
    if kind == "cpu":
        for c in (os.environ.get("CXX"), "g++", "c++", "clang++"):
            if c and shutil.which(c):
                return shutil.which(c)
        return None
    nvcc = os.environ.get("NVCC") or shutil.which("nvcc")
    if nvcc is None and Path("/usr/local/cuda/bin/nvcc").exists():
        nvcc = "/usr/local/cuda/bin/nvcc"
    return nvcc


def library_path(name: str, platform: str, lib_dir: Path = LIB) -> Path:
    return lib_dir / f"lib{name}_{platform}.so"


def build(out_dir: Path | str = LIB, *, cuda: bool = True, verbose: bool = True) -> dict:
    """Compile every kernel source; returns ``{"<name>_<platform>": "ok" | reason}``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    status = {}
    inc = ffi_include_dir()
    jobs = [("cpu", src) for src in sorted((KERNELS / "cpu").glob("*.cc"))]
    if cuda:
        jobs += [("cuda", src) for src in sorted((KERNELS / "cuda").glob("*.cu"))]
    for platform, src in jobs:
        key = f"{src.stem}_{platform}"
        compiler = _compiler(platform)
        if inc is None:
            status[key] = "jaxlib's XLA FFI headers not found (install jax first)"
        elif compiler is None:
            status[key] = "no C++ compiler found" if platform == "cpu" else "no nvcc found"
        else:
            target = library_path(src.stem, platform, out_dir)
            flags = CXXFLAGS if platform == "cpu" else NVCCFLAGS
            cmd = [compiler, *flags, f"-I{inc}", f"-I{KERNELS / 'include'}", str(src), "-o", str(target)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            status[key] = "ok" if proc.returncode == 0 else f"compile failed:\n{proc.stderr[-4000:]}"
        if verbose or status[key] != "ok":  # failures are always reported
            print(f"neurosim: kernel {key}: {status[key]}", file=sys.stderr)
    return status


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    status = build(cuda="--cpu-only" not in argv, verbose="--quiet" not in argv)
    return 0 if all(v == "ok" for v in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
