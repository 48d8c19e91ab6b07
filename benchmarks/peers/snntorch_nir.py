"""Write the snnTorch NIR fixture of tests/test_nir.py (runs in .peers/snntorch, never imports
neurosim): a Linear(10, 20) + Leaky(beta 0.9 per neuron, reset to zero, not delayed) network exported by
snnTorch's own ``export_to_nir``, and its output spikes on a fixed input.

    .peers/snntorch/bin/python benchmarks/peers/snntorch_nir.py --out tests/data
"""
from __future__ import annotations

import argparse
from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 20),
                              snn.Leaky(beta=torch.full((20,), 0.9), threshold=torch.ones(20), reset_mechanism="zero", reset_delay=False,
                                        init_hidden=True, output=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    rng = np.random.default_rng(1)
    x = (rng.random((100, 3, 10)) < 0.2).astype(np.float32)
    net[1].reset_hidden()
    spikes = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            spk, _ = net(torch.from_numpy(x[t]))
            spikes.append(spk.numpy())
    spikes = np.stack(spikes)
    graph = export_to_nir(net, torch.zeros(10))
    a.out.mkdir(parents=True, exist_ok=True)
    nir.write(a.out / "snntorch_lif.nir", graph)
    np.savez(a.out / "snntorch_lif_io.npz", x=x, spikes=spikes, snntorch=snn.__version__, torch=torch.__version__)
    print(f"wrote {a.out}/snntorch_lif.nir: {spikes.mean():.3f} spikes per neuron per step (snnTorch {snn.__version__})")


if __name__ == "__main__":
    main()
