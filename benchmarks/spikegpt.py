"""SpikeGPT-tiny training step: tokens per second and the memory of the backward pass.

    taskset -c 0 .venv/bin/python benchmarks/spikegpt.py [--repeats 5] [--out DIR]

Two workloads, each printing one JSON line per (tool, workload):

- ``train_step``: training steps (forward, backward, Adam) of a 4 x 128 character model,
  batches of 16 contexts of 128 tokens (the Zhu_2023.py configuration), on one core:
  ``neurosim_spiking`` (SpikingRWKV), ``neurosim_rwkv`` (the same model with the LIFs removed,
  ``spiking=False``), ``neurosim_spiking_chunk32`` (chunked BPTT, exact gradient, 32-token
  segments) and ``flax_gru`` (a plain flax nnx GRU language model of the same width and depth:
  embedding, 4 GRU layers of 128 with residual connections, LayerNorm, head). Each call runs 10
  steps under one ``jit``; the tools take turns, ``--repeats`` rounds, compilation excluded;
  ``tokens_per_s`` from the median call (``min_s``, ``median_s``: seconds per call).
- ``bptt_memory``: the temporary memory XLA allocates for one gradient of the spiking model
  (``jax.jit(...).lower(...).compile().memory_analysis().temp_size_in_bytes``: the buffers of
  the forward and backward pass, not the parameters or the inputs) at batch 8 for sequence
  lengths 64 .. 1024, whole (``full``), chunked with exact gradients (``chunk32``) and truncated
  (``truncated32``): see ``neurosim.train.lm_gradient``.

With ``--out DIR`` the lines go to ``DIR/spikegpt.json`` and the plot to ``DIR/spikegpt.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from neurosim.train import SpikingRWKV, lm_gradient, lm_loss, pydoc_topics, sample_contexts, sequence_loss

N_EMBD, N_LAYER, CONTEXT, BATCH, STEPS_PER_CALL = 128, 4, 128, 16, 10


class GRULanguageModel(nnx.Module):
    """The baseline: embedding, ``n_layer`` GRU layers (flax's GRUCell) with residual
    connections, LayerNorm, head."""

    def __init__(self, vocab: int, c: int, n_layer: int, *, rngs: nnx.Rngs):
        self.embed = nnx.Embed(vocab, c, rngs=rngs)
        self.cells = nnx.List([nnx.GRUCell(c, c, rngs=rngs) for _ in range(n_layer)])
        self.ln = nnx.LayerNorm(c, rngs=rngs)
        self.head = nnx.Linear(c, vocab, rngs=rngs)

    def __call__(self, tokens):
        x = self.embed(tokens)                                      # (B, T, C)
        for cell in self.cells:
            h0 = jnp.zeros((x.shape[0], x.shape[2]), x.dtype)
            _, h = jax.lax.scan(lambda h, x_t, cell=cell: cell(h, x_t), h0, jnp.swapaxes(x, 0, 1))
            x = x + jnp.swapaxes(h, 0, 1)
        return self.head(self.ln(x))


def n_params(model) -> int:
    return int(sum(np.size(a) for a in jax.tree.leaves(nnx.state(model, nnx.Param))))


def trainer(model, loss_of):
    """A jitted call of STEPS_PER_CALL Adam steps on given batches (S, B, T)."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    optimizer = optax.adam(1e-3)

    @jax.jit
    def call(params, opt_state, xs, ys):
        def body(carry, xy):
            p, o = carry
            loss, g = jax.value_and_grad(lambda q: loss_of(nnx.merge(graphdef, q, rest), *xy))(p)
            u, o = optimizer.update(g, o, p)
            return (optax.apply_updates(p, u), o), loss
        (p, o), losses = jax.lax.scan(body, (params, opt_state), (xs, ys))
        return p, o, losses

    return call, params, optimizer.init(params)


def train_step_lines(repeats: int, tokens) -> list:
    vocab = int(tokens.max()) + 1
    keys = jax.random.split(jax.random.key(0), STEPS_PER_CALL)
    xs, ys = jax.vmap(lambda k: sample_contexts(tokens, k, BATCH, CONTEXT))(keys)
    rnn = dict(n_embd=N_EMBD, n_layer=N_LAYER, context=CONTEXT)

    def rwkv_loss(m, x, y):
        return lm_loss(m(x).logits, y)

    def chunked_loss(m, x, y):
        return sequence_loss(m, x, y, bptt_chunk=32)[0]

    tools = {
        "neurosim_spiking": (SpikingRWKV(vocab, **rnn, rngs=nnx.Rngs(0)), rwkv_loss),
        "neurosim_rwkv": (SpikingRWKV(vocab, **rnn, spiking=False, rngs=nnx.Rngs(0)), rwkv_loss),
        "neurosim_spiking_chunk32": (SpikingRWKV(vocab, **rnn, rngs=nnx.Rngs(0)), chunked_loss),
        "flax_gru": (GRULanguageModel(vocab, N_EMBD, N_LAYER, rngs=nnx.Rngs(0)), lambda m, x, y: lm_loss(m(x), y)),
    }
    runs = {}
    for name, (model, loss_of) in tools.items():
        call, params, opt = trainer(model, loss_of)
        t0 = time.perf_counter()
        jax.block_until_ready(call(params, opt, xs, ys))
        runs[name] = dict(call=call, params=params, opt=opt, compile_s=time.perf_counter() - t0, times=[],
                          n_params=n_params(model))
    for _ in range(repeats):                         # the tools take turns: noise hits all alike
        for name, r in runs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(r["call"](r["params"], r["opt"], xs, ys))
            r["times"].append(time.perf_counter() - t0)
    lines = []
    base = statistics.median(runs["neurosim_spiking"]["times"])
    for name, r in runs.items():
        med = statistics.median(r["times"])
        lines.append(dict(tool=name, workload="train_step", n_embd=N_EMBD, n_layer=N_LAYER, context=CONTEXT,
                          batch=BATCH, steps_per_call=STEPS_PER_CALL, n_params=r["n_params"],
                          min_s=round(min(r["times"]), 4), median_s=round(med, 4),
                          tokens_per_s=round(STEPS_PER_CALL * BATCH * CONTEXT / med, 1),
                          ratio_vs_spiking=round(med / base, 3), compile_s=round(r["compile_s"], 2)))
    return lines


def memory_lines(vocab: int) -> list:
    lines = []
    for length in (64, 128, 256, 512, 1024):
        model = SpikingRWKV(vocab, n_embd=N_EMBD, n_layer=N_LAYER, context=length, rngs=nnx.Rngs(0))
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        x = jnp.zeros((8, length), jnp.int32)
        for mode, kw in (("full", {}), ("chunk32", dict(bptt_chunk=32)), ("truncated32", dict(bptt_chunk=32, truncate=True))):
            def grad_of(p, x, y, kw=kw):
                return lm_gradient(nnx.merge(graphdef, p, rest), x, y, **kw)
            stats = jax.jit(grad_of).lower(params, x, x).compile().memory_analysis()
            lines.append(dict(tool="neurosim_spiking", workload="bptt_memory", mode=mode, length=length, batch=8,
                              temp_bytes=int(stats.temp_size_in_bytes),
                              temp_mib=round(stats.temp_size_in_bytes / 2**20, 2)))
    return lines


def plot(lines, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [ln for ln in lines if ln["workload"] == "train_step"]
    a.barh([ln["tool"] for ln in steps], [ln["tokens_per_s"] / 1e3 for ln in steps], color="C0")
    a.set(xlabel="training throughput (thousand tokens / s, one core)",
          title=f"{N_LAYER} x {N_EMBD}, batch {BATCH} x {CONTEXT} tokens")
    for mode, marker in (("full", "o"), ("chunk32", "s"), ("truncated32", "^")):
        pts = [ln for ln in lines if ln["workload"] == "bptt_memory" and ln["mode"] == mode]
        b.plot([p["length"] for p in pts], [p["temp_mib"] for p in pts], marker=marker, label=mode)
    b.set(xscale="log", yscale="log", xlabel="sequence length (tokens)", ylabel="backward-pass memory (MiB)",
          title="one gradient of SpikingRWKV, batch 8")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workloads", default="train_step,bptt_memory")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    tokens = jnp.asarray(pydoc_topics().train)
    lines = []
    env = dict(machine=platform.processor() or platform.machine(), jax=jax.__version__, cores=len(os.sched_getaffinity(0)))
    if "train_step" in args.workloads:
        lines += train_step_lines(args.repeats, tokens)
    if "bptt_memory" in args.workloads:
        lines += memory_lines(int(tokens.max()) + 1)
    for ln in lines:
        ln.update(env)
        print(json.dumps(ln), flush=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "spikegpt.json"), "w") as f:
            f.writelines(json.dumps(ln) + "\n" for ln in lines)
        plot(lines, os.path.join(args.out, "spikegpt.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
