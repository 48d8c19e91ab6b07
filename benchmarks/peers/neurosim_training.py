"""Runner of benchmarks/training.py for neurosim's layers and for the same model written as a
hand-written pure-JAX loop (tool "jax"): prints one JSON line.

Workloads: ``lif`` (one Linear + one LIF layer, forward + backward of a spike-count loss over
``--steps`` steps, batch ``--batch``; median and min over ``--repeats`` calls, compilation
excluded; tool ``neurosim-bf16``: the layer's product in bfloat16, summed in float32) and
``digits`` (one training epoch of the Neftci_2019 classifier, 64 -> 128 LIF -> 10 readout, batch
128, 25 steps; median over epochs after the first).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

TAU, SCALE = 10.0, 10.0


def _spike(x):
    @jax.custom_jvp
    def f(x):
        return (x >= 0).astype(x.dtype)

    @f.defjvp
    def f_jvp(p, t):
        (x,), (dx,) = p, t
        return f(x), SCALE / (1 + SCALE * jnp.abs(x)) ** 2 * dx
    return f(x)


def hand_lif_counts(w, x, decay):
    """Pure JAX: V <- V_inf + (V - V_inf) decay, V_inf = x W, spike at 1, detached reset to 0."""
    def body(v, xt):
        i = xt @ w
        v = i + (v - i) * decay
        z = _spike(v - 1.0)
        v = v * (1 - jax.lax.stop_gradient(z))
        return v, z
    _, z = jax.lax.scan(body, jnp.zeros((x.shape[1], w.shape[1]), x.dtype), x)
    return z


def median_time(fn, args, repeats):
    """(median, min, compile) seconds of ``fn(*args)`` over ``repeats`` calls after the first."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.min(times)), compile_s


def lif_workload(tool, n, batch, steps, repeats):
    from flax import nnx
    from neurosim import train

    key = jax.random.key(0)
    x = jax.random.normal(key, (steps, batch, n)) * 2.0
    if tool.startswith("neurosim"):
        product = "bfloat16" if tool == "neurosim-bf16" else None
        layer = train.SpikingLayer(n, n, bias=False, w_std=3.0 / np.sqrt(n) / (1 - np.exp(-0.1)), product_dtype=product,
                                   rngs=nnx.Rngs(0))
        net = train.SpikingNetwork(layer, dt=1.0)
        graphdef, params, rest = nnx.split(net, nnx.Param, ...)
        fn = jax.jit(jax.value_and_grad(lambda p: nnx.merge(graphdef, p, rest)(x).counts[0].mean()))
        arg = params
    else:
        w = jax.random.normal(jax.random.key(1), (n, n)) * 3.0 / np.sqrt(n) / (1 - np.exp(-0.1))
        decay = float(np.exp(-1.0 / TAU))
        fn = jax.jit(jax.value_and_grad(lambda w: hand_lif_counts(w, x, decay).sum(0).mean()))
        arg = w
    run_s, min_s, compile_s = median_time(fn, (arg,), repeats)
    mem = fn.lower(arg).compile().memory_analysis()
    return {"fwd_bwd_s": run_s, "fwd_bwd_min_s": min_s, "compile_s": compile_s, "xla_temp_mb": mem.temp_size_in_bytes / 2**20,
            "value": float(fn(arg)[0])}


def digits_workload(tool, epochs):
    from flax import nnx
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from neurosim import train

    d = load_digits()
    xtr, _, ytr, _ = train_test_split(d.data / 16.0, d.target, test_size=0.2, stratify=d.target, random_state=0)
    x, y = jnp.asarray(xtr, jnp.float32), jnp.asarray(ytr)
    net = train.SpikingNetwork(train.SpikingLayer(64, 128, rngs=nnx.Rngs(0)), train.LeakyReadout(128, 10, rngs=nnx.Rngs(1)))
    opt = optax.adam(2e-3)
    if tool == "neurosim":
        h = train.fit(net, x, y, encode=lambda k, xb: train.bernoulli(k, xb, 25), epochs=epochs, batch_size=128,
                      optimizer=opt, progress=False)
        times = h["time_s"]
        return {"epoch_s": float(np.median(times[1:])), "compile_s": times[0] - float(np.median(times[1:])),
                "loss": h["loss"][-1]}
    h_, r_ = net.layers
    params = {"w1": h_.w[...], "b1": h_.b[...], "w2": r_.w[...], "b2": r_.b[...]}
    decay, k_out = float(np.exp(-1.0 / TAU)), float(np.exp(-1.0 / 10.0))

    def forward(p, xs):
        def body(c, xt):
            v, yv = c
            i = xt @ p["w1"] + p["b1"]
            v = i + (v - i) * decay
            z = _spike(v - 1.0)
            v = v * (1 - jax.lax.stop_gradient(z))
            yv = yv * k_out + z @ p["w2"] + p["b2"]
            return (v, yv), yv
        b = xs.shape[1]
        return jax.lax.scan(body, (jnp.zeros((b, 128)), jnp.zeros((b, 10))), xs)[1]

    def loss(p, xs, yb):
        return optax.softmax_cross_entropy_with_integer_labels(forward(p, xs).max(0), yb).mean()

    @jax.jit
    def epoch(p, s, key):
        nb = x.shape[0] // 128
        kp, ke = jax.random.split(key)
        order = jax.random.permutation(kp, x.shape[0])[: nb * 128].reshape(nb, 128)

        def body(c, item):
            p, s = c
            b, ib = item
            xs = (jax.random.uniform(jax.random.fold_in(ke, b), (25, 128, 64)) < x[ib]).astype(jnp.float32)
            v, g = jax.value_and_grad(loss)(p, xs, y[ib])
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), v
        (p, s), v = jax.lax.scan(body, (p, s), (jnp.arange(nb), order))
        return p, s, v

    s = opt.init(params)
    times = []
    for e in range(epochs):
        t0 = time.perf_counter()
        params, s, v = epoch(params, s, jax.random.key(e))
        jax.block_until_ready(v)
        times.append(time.perf_counter() - t0)
    return {"epoch_s": float(np.median(times[1:])), "compile_s": times[0] - float(np.median(times[1:])),
            "loss": float(v.mean())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", choices=["neurosim", "neurosim-bf16", "jax"], required=True)
    ap.add_argument("--workload", choices=["lif", "digits"], required=True)
    ap.add_argument("--neurons", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=6)
    a = ap.parse_args()
    if a.workload == "lif":
        out = lif_workload(a.tool, a.neurons, a.batch, a.steps, a.repeats)
        out.update(neurons=a.neurons, batch=a.batch, steps=a.steps)
    else:
        out = digits_workload(a.tool, a.epochs)
    out.update(tool=a.tool, workload=a.workload, dtype="float32" if a.tool != "neurosim-bf16" else "bfloat16 product", device=jax.devices()[0].platform,
               jax=jax.__version__, peak_mem_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
