"""Runner of benchmarks/training.py for Spyx (runs in .peers/spyx, never imports neurosim): one
``nnx.Linear`` (no bias) and one ``spyx.nn.LIF`` layer, forward + backward of a spike-count loss
over ``--steps`` steps, batch ``--batch``, through ``spyx.nn.run`` under ``jax.jit``; median over
``--repeats`` calls, compilation excluded; prints one JSON line.

Spyx's LIF is ``V <- beta V + x - threshold S`` with ``S = H(V - threshold)`` of the previous V
(a subtractive reset, not detached); neurosim's runner uses a detached reset to zero. The work
per step is the same: a (B, N) x (N, N) product, an elementwise update and the surrogate
(SuperSpike ``1 / (1 + k |x|)^2``, k = 10 as in neurosim's runner)."""
from __future__ import annotations

import json
import math
import resource

import jax
import spyx
import spyx.axn
import spyx.nn
from flax import nnx
from training_common import arguments, timed


def main():
    a = arguments()
    n, beta = a.neurons, math.exp(-0.1)
    model = spyx.nn.Sequential(
        nnx.Linear(n, n, use_bias=False, kernel_init=nnx.initializers.normal(3.0 / math.sqrt(n)), rngs=nnx.Rngs(0)),
        spyx.nn.LIF((n,), beta=beta, threshold=1.0, activation=spyx.axn.superspike(k=10.0), rngs=nnx.Rngs(1)))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    x = jax.random.normal(jax.random.key(0), (a.steps, a.batch, n)) * 2.0

    def loss(p):
        spikes, _ = spyx.nn.run(nnx.merge(graphdef, p, rest), x)
        return spikes.sum(0).mean()

    fn = jax.jit(jax.value_and_grad(loss))
    value, run_s, compile_s = timed(lambda: float(jax.block_until_ready(fn(params))[0]), a.repeats)
    mem = fn.lower(params).compile().memory_analysis()
    print(json.dumps({"tool": "spyx", "workload": a.workload, "fwd_bwd_s": run_s, "compile_s": compile_s,
                      "value": value / a.steps, "dtype": str(x.dtype), "device": jax.devices()[0].platform,
                      "spyx": spyx.__version__, "jax": jax.__version__, "neurons": n, "batch": a.batch,
                      "steps": a.steps, "xla_temp_mb": mem.temp_size_in_bytes / 2**20,
                      "peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
