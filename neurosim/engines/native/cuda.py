"""CUDA from the same lowering: a lowered model function (:func:`.lower.lower`) as a CUDA kernel,
one thread per element.

The statements are the ones the CPU program runs (the prelude's helpers are ``__host__
__device__``); only the loop becomes the grid. A kernel reads every input leaf, hoisted value and
writes every output leaf through its own pointer, in this order, in ``a`` (``void**`` in device
memory): per-element outputs may point at their inputs (element ``i`` is read before it is
written, by its own thread only); shared outputs (a step counter, a seed) must not, since thread 0
writes them while others may still read the old value: they go to separate buffers that the host
swaps in after the kernel.

What exists today: the kernels, compiled by ``nvcc`` in the tests wherever nvcc is present (see
:func:`compile_check`). What does not: the CUDA step loop around them (delivery, delay rings,
spike bits) and a run on a GPU; the CPU program is the native engine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from .lower import PRELUDE, Lowered, ctype, ptype


def kernel_source(u: Lowered, name: str) -> str:
    """The CUDA translation unit of one kernel ``name`` running ``u`` on ``n`` elements."""
    lines, k = [], 0
    pre, reads, writes, post = [], [], [], []     # as program.unit_parts, with the grid for the loop

    def slot(dtype) -> str:
        nonlocal k
        expr = f"(({ptype(dtype)}*)a[{k}])"
        k += 1
        return expr

    for node in list(u.inputs) + list(u.hoisted):
        if node.static and node not in u.hoisted or (node.key and not u.draws):
            continue
        p, t = slot(node.dtype), ctype(node.dtype)
        if node.elem:
            reads.append(f"const {t} {node.names[0]} = {p}[i];")
        else:
            pre += [f"const {t} {name_} = {p}[{j}];" for j, name_ in enumerate(node.names)]
    for node in u.outputs:
        p = slot(node.dtype)
        if node.elem:
            writes.append(f"{p}[i] = {node.names[0]};")
        else:
            post += [f"{p}[{j}] = {name_};" for j, name_ in enumerate(node.names)]
    lines += [PRELUDE, f'extern "C" __global__ void {name}(void** a, int64_t n, int32_t t) {{',
              "  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;",
              "  if (i >= n) return;"]
    lines += ["  " + s for s in pre + u.shared + reads + u.body + writes]
    if post:
        lines += ["  if (i == 0) {  // shared outputs: to their own buffers (module docstring)"]
        lines += ["    " + s for s in post] + ["  }"]
    lines += ["}", ""]
    return "\n".join(lines)


def nvcc() -> str | None:
    path = os.environ.get("NVCC") or shutil.which("nvcc")
    if path is None and os.path.exists("/usr/local/cuda/bin/nvcc"):
        path = "/usr/local/cuda/bin/nvcc"
    return path


def compile_check(source: str) -> None:
    """Compile ``source`` with nvcc (an object file, thrown away); raises RuntimeError with
    nvcc's message if it does not compile. Float operations are not fused (``-fmad=false``),
    as on the CPU."""
    cc = nvcc()
    if cc is None:
        raise RuntimeError("nvcc was not found")
    with tempfile.TemporaryDirectory(prefix="neurosim-cuda-") as d:
        src = os.path.join(d, "k.cu")
        with open(src, "w") as f:
            f.write(source)
        done = subprocess.run([cc, "-std=c++17", "-O3", "-fmad=false", "-c", src, "-o", os.path.join(d, "k.o")],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nvcc did not compile the kernel:\n{done.stderr[-4000:]}")
