"""Runner of benchmarks/training.py for snnTorch (runs in .peers/snntorch, never imports
neurosim): one Linear + one Leaky (LIF) layer, forward + backward of a spike-count loss over
``--steps`` steps, batch ``--batch``; median over ``--repeats``; prints one JSON line."""
from __future__ import annotations

import json
import math
import resource

import snntorch as snn
import torch
from snntorch import surrogate
from training_common import arguments, timed


def main():
    a = arguments()
    torch.manual_seed(0)
    n, beta = a.neurons, math.exp(-0.1)
    fc = torch.nn.Linear(n, n, bias=False)
    with torch.no_grad():
        fc.weight.normal_(0.0, 3.0 / math.sqrt(n))         # the same drive as neurosim's (1 - beta) W
    lif = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero", reset_delay=False,
                    spike_grad=surrogate.fast_sigmoid(slope=10))
    x = torch.randn(a.steps, a.batch, n) * 2.0

    def fwd_bwd():
        fc.zero_grad()
        mem = lif.init_leaky()
        count = 0.0
        for t in range(a.steps):
            spk, mem = lif(fc(x[t]), mem)
            count = count + spk
        loss = count.mean()
        loss.backward()
        return float(loss.detach())

    value, run_s, compile_s = timed(fwd_bwd, a.repeats)
    print(json.dumps({"tool": "snntorch", "workload": a.workload, "fwd_bwd_s": run_s, "compile_s": compile_s,
                      "value": value / a.steps, "dtype": "float32", "device": "cpu", "torch": torch.__version__,
                      "snntorch": snn.__version__, "neurons": n, "batch": a.batch, "steps": a.steps,
                      "threads": torch.get_num_threads(),
                      "peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
