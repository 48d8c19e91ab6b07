"""CUDA from the same lowering: a lowered model function (:func:`.lower.lower`) as a CUDA kernel,
one thread per element.

The statements are the ones the CPU program runs (the prelude's helpers are ``__host__
__device__``); only the loop becomes the grid. A kernel reads every input leaf, hoisted value and
writes every output leaf through its own pointer, in this order, in ``a`` (``void**`` in device
memory): per-element outputs may point at their inputs (element ``i`` is read before it is
written, by its own thread only); shared outputs (a step counter, a seed) must not, since thread 0
writes them while others may still read the old value: they go to separate buffers that the host
swaps in after the kernel.

A function over several spaces (a per-synapse mechanism, a modulator: :mod:`.spaces`) becomes
one kernel per segment (:func:`space_kernels_source`).

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
    nvcc's message if it does not compile. Float operations are fused only where the lowering
    writes ``std::fma`` (``-fmad=false``), as on the CPU."""
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


# Atomic maximum and minimum of floats (compare-and-swap on the bits), for sums' siblings.
ATOMICS = r"""
#ifdef __CUDACC__
template <class T> __device__ void ns_atomic_max(T* p, T v) { atomicMax(p, v); }
template <class T> __device__ void ns_atomic_min(T* p, T v) { atomicMin(p, v); }
__device__ void ns_atomic_max(float* p, float v) {
  int* a = (int*)p; int old = *a, assumed;
  do { assumed = old; old = atomicCAS(a, assumed, __float_as_int(ns_max(__int_as_float(assumed), v))); }
  while (assumed != old); }
__device__ void ns_atomic_min(float* p, float v) {
  int* a = (int*)p; int old = *a, assumed;
  do { assumed = old; old = atomicCAS(a, assumed, __float_as_int(ns_min(__int_as_float(assumed), v))); }
  while (assumed != old); }
__device__ void ns_atomic_max(double* p, double v) {
  unsigned long long* a = (unsigned long long*)p; unsigned long long old = *a, assumed;
  do { assumed = old; old = atomicCAS(a, assumed, __double_as_longlong(ns_max(__longlong_as_double(assumed), v))); }
  while (assumed != old); }
__device__ void ns_atomic_min(double* p, double v) {
  unsigned long long* a = (unsigned long long*)p; unsigned long long old = *a, assumed;
  do { assumed = old; old = atomicCAS(a, assumed, __double_as_longlong(ns_min(__longlong_as_double(assumed), v))); }
  while (assumed != old); }
#endif
"""


def space_kernels_source(u, name: str) -> str:
    """The CUDA translation unit of a function lowered over several spaces
    (:func:`.spaces.lower_spaces`): one kernel per segment, ``{name}_s{j}(void** a, int64_t n,
    const int64_t* visit)`` (a thread per element of the segment's space, or per entry of
    ``visit``; a segment of shared statements runs on one thread), launched in order. Sums over
    a space are atomic updates of a value in memory, which ``{name}_s{j}_init`` (one thread) sets
    first; shared values that later segments read pass through one-entry arrays; the outputs go
    to their own buffers, per-element ones where they are computed and shared ones in
    ``{name}_out`` (one thread, last). ``a`` holds, in order: every dynamic input (per-element
    arrays, shared ones), every hoisted value, the temporary arrays (:attr:`SpaceLowered.temps`,
    ``sizes[space]`` entries), the one-entry arrays of the shared values and sums, the outputs."""
    from .spaces import SpaceLowered

    if not isinstance(u, SpaceLowered):
        raise TypeError("space_kernels_source takes a function lowered by spaces.lower_spaces")
    decl, k = [], 0

    def slot(t: str, var: str, const=False):
        nonlocal k
        decl.append(f"{'const ' if const else ''}{t}* {var} = ({t}*)a[{k}];")
        k += 1

    loads = []
    for j, node in enumerate(u.inputs):
        if node.static:
            continue
        t = ctype(node.dtype)
        if node.elem:
            slot(t, node.array)
        else:
            slot(t, f"inp{j}", const=True)
            loads += [f"const {t} {nm} = inp{j}[{e}];" for e, nm in enumerate(node.names)]
    for h, node in enumerate(u.hoisted):
        t = ctype(node.dtype)
        if node.elem:
            slot(t, node.array, const=True)
        else:
            slot(t, f"hzp{h}", const=True)
            loads += [f"const {t} {nm} = hzp{h}[{e}];" for e, nm in enumerate(node.names)]
    for arr, (dt, _) in u.temps.items():
        slot(ctype(dt), arr)
    shared_vals = dict(u.cross)
    for node in u.outputs:
        if not node.elem and not node.static and node.seg >= 0:
            for nm in node.names:
                shared_vals.setdefault(nm, (node.dtype, node.seg))
    shared_vals.update(u.accumulators)
    for nm, (dt, _) in shared_vals.items():
        slot(ctype(dt), f"sv{nm}")
    out_writes, shared_out = {}, []
    for o, node in enumerate(u.outputs):
        t = ctype(node.dtype)
        slot(t, f"out{o}")
        if node.elem:
            where = node.seg if node.seg >= 0 and not node.after else None
            value = node.names[0] if where is not None or not node.array else f"{node.array}[i]"
            out_writes.setdefault(where, []).append((node.elem, f"out{o}[i] = {value};"))
        else:
            shared_out += [f"out{o}[{e}] = {nm};" for e, nm in enumerate(node.names)]
    lines = [PRELUDE, ATOMICS]

    def kernel(title, space, body, load_before: int, init=False):
        head = [f'extern "C" __global__ void {title}(void** a, int64_t n, const int64_t* visit) {{',
                "  const int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;"]
        if space is None or init:
            head.append("  if (v != 0) return;")
        else:
            head += ["  if (v >= n) return;", "  const int64_t i = visit ? visit[v] : v;"]
        cross = [f"const {ctype(dt)} {nm} = sv{nm}[0];" for nm, (dt, j) in shared_vals.items() if j < load_before]
        lines.extend(head + ["  " + x for x in decl + loads + cross + body] + ["}", ""])

    for j, seg in enumerate(u.segments):
        if not (seg.body or seg.pre):
            continue
        if seg.cuda_pre:
            kernel(f"{name}_s{j}_init", None, seg.cuda_pre, j, init=True)
        body = [seg.cuda.get(b, x) for b, x in enumerate(seg.body)]
        if seg.space is None:
            body += [f"sv{nm}[0] = {nm};" for nm, (dt, p) in shared_vals.items()
                     if p == j and nm not in u.accumulators]
            kernel(f"{name}_s{j}", None, body, j)
        else:
            body = list(seg.imports.values()) + body + list(seg.stores.values())
            body += [w for sp, w in out_writes.get(j, [])]
            kernel(f"{name}_s{j}", seg.space, body, j)
    for o, (sp, w) in enumerate(out_writes.get(None, [])):      # outputs given or summed, not computed here
        kernel(f"{name}_o{o}", sp, [w], len(u.segments))
    if shared_out:
        kernel(f"{name}_out", None, shared_out, len(u.segments))
    return "\n".join(lines)
