"""Neftci, Mostafa & Zenke (2019): surrogate-gradient learning in spiking networks, on sklearn's digits.

    python examples/frompapers/Neftci_2019.py --out DIR [--quick]

A spiking classifier built from ``neurosim.train``: 64 inputs (the 8 x 8 digit's pixels / 16,
Bernoulli rate-coded for 25 steps of 1 ms) -> a layer of LIF neurons (neurosim's LIF in
dimensionless units: tau_m = 10 ms, threshold 1, reset to 0, the reset detached from the
gradient; fast-sigmoid surrogate of scale 10) -> 10 leaky non-spiking readout units (tau 10 ms);
logits are the readout's maximum over time, the loss softmax cross-entropy, Adam, batch 128,
trained by ``neurosim.train.fit`` (one compiled program per epoch). The data: ``load_digits``,
stratified 80/20 split (random_state 0): 1437 training and 360 test images.

Checks (docs/papers.md section 10.1):

- 128 hidden neurons: test accuracy >= 93 % after 10 epochs and >= 95 % after 30 (mean over
  seeds);
- 32 hidden neurons, 30 epochs: the surrogate gradient reaches >= 92 % and >= 8 points more
  than the control without one (``surrogate="heaviside"``: the true derivative, zero almost
  everywhere, so only the readout learns), with at most half the control's training loss;
- under the control the hidden weights stay bit-identical, under the surrogate they change;
- the hidden layer fires 0.15-0.3 spikes per neuron per step.

Adam's learning rate is 5e-3 here; the hand-written loop of section 10.1 used 2e-3, with which
these layers reach 90-92 % after 10 epochs and 95.0 % after 30 (seed 0): the layers learn more
slowly at that rate than the hand-written loop did, a difference we have not traced (the
tests check that the layers' forward pass equals the written-out recurrence).

``--quick`` (the tests): one seed, 10 epochs; the 32-neuron comparison at 10 epochs needs only
a >= 5-point lead and a loss ratio <= 0.6. Measured (full run, 19.7 s): 128 hidden 96.7 / 95.3
/ 95.6 % after 10 epochs and 96.7 / 96.9 / 95.8 % after 30 (seeds 0 / 1 / 2); 32 hidden 92.5 %
with the surrogate against 77.5 % without, training losses 0.14 against 0.57; 0.235 spikes per
neuron per step. Writes ``DIR/Neftci_2019.png`` and ``DIR/Neftci_2019.json``; exits non-zero
when a check fails.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from matplotlib.figure import Figure

from neurosim import train
from neurosim.report import check
from neurosim.report import write as report_write

PAPER = ("Neftci, Mostafa & Zenke (2019), Surrogate gradient learning in spiking neural networks, "
         "IEEE Signal Processing Magazine 36(6):51")
N_STEPS = 25


def load():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    xtr, xte, ytr, yte = train_test_split(d.data / 16.0, d.target, test_size=0.2, stratify=d.target, random_state=0)
    return (jnp.asarray(xtr, jnp.float32), jnp.asarray(ytr)), (jnp.asarray(xte, jnp.float32), jnp.asarray(yte))


def encode(key, xb):
    return train.bernoulli(key, xb, N_STEPS)


def classifier(hidden: int, seed: int, surrogate: str = "fast_sigmoid"):
    rngs = nnx.Rngs(seed)
    neuron, params = train.lif(tau=10.0, scale=10.0, surrogate=surrogate)
    return train.SpikingNetwork(train.SpikingLayer(64, hidden, neuron=neuron, params=params, rngs=rngs),
                                train.LeakyReadout(hidden, 10, tau=10.0, rngs=rngs), dt=1.0)


def trained(hidden, seed, epochs, data, surrogate="fast_sigmoid"):
    (xtr, ytr), (xte, yte) = data
    net = classifier(hidden, seed, surrogate)
    w0 = np.asarray(net.layers[0].w[...]).copy()
    history = train.fit(net, xtr, ytr, encode=encode, epochs=epochs, batch_size=128, optimizer=optax.adam(5e-3),
                        validation=(xte, yte), key=seed, progress=False)
    return net, history, w0


def hidden_rate(net, x, key=0):
    out = net(encode(jax.random.key(key), x))
    return float(out.counts[0].mean() / N_STEPS)


def plot(path, runs128, sg32, zero32, net, x):
    fig = Figure(figsize=(12, 3.8))
    a, b, c = fig.subplots(1, 3)
    for seed, h in runs128:
        a.plot(h["epoch"], 100 * np.asarray(h["val_acc"]), label=f"seed {seed}")
    a.axhline(95, color="grey", ls=":")
    a.set(xlabel="epoch", ylabel="test accuracy (%)", title="128 LIF neurons", ylim=(50, 100))
    a.legend(fontsize=8)
    b.plot(sg32["epoch"], 100 * np.asarray(sg32["val_acc"]), label="surrogate (fast sigmoid)")
    b.plot(zero32["epoch"], 100 * np.asarray(zero32["val_acc"]), label="none (readout only)")
    b.set(xlabel="epoch", ylabel="test accuracy (%)", title="32 LIF neurons", ylim=(20, 100))
    b.legend(fontsize=8)
    out = train.SpikingNetwork(*net.layers, dt=1.0, record_spikes=True)(encode(jax.random.key(1), x[:1]))
    t, i = np.nonzero(np.asarray(out.spikes[0][:, 0]))
    c.plot(t, i, "|k", ms=3)
    c.set(xlabel="step (ms)", ylabel="hidden neuron", title="hidden spikes, one test digit")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="directory for the PNG and JSON")
    parser.add_argument("--quick", action="store_true", help="one seed, 10 epochs")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    data = load()
    seeds = (0,) if args.quick else (0, 1, 2)
    epochs = 10 if args.quick else 30
    runs128, nets = [], []
    for seed in seeds:
        net, h, _ = trained(128, seed, epochs, data)
        runs128.append((seed, h))
        nets.append(net)
        print(f"128 hidden, seed {seed}: test accuracy {100 * h['val_acc'][9]:.1f} % at epoch 10, "
              f"{100 * h['val_acc'][-1]:.1f} % at epoch {epochs}", flush=True)
    sg_net, sg32, sg_w0 = trained(32, 0, epochs, data)
    zero_net, zero32, zero_w0 = trained(32, 0, epochs, data, surrogate="heaviside")
    acc10 = float(np.mean([h["val_acc"][9] for _, h in runs128]))
    rate = float(np.mean([hidden_rate(n, data[1][0]) for n in nets]))
    lead = 100 * (sg32["val_acc"][-1] - zero32["val_acc"][-1])
    checks = [
        check("128 hidden: test accuracy after 10 epochs (%, mean over seeds)", 100 * acc10, ">= 93", acc10 >= 0.93),
        check("32 hidden: surrogate lead over no surrogate (points)", lead, ">= 5" if args.quick else ">= 8",
              lead >= (5 if args.quick else 8)),
        check("32 hidden: train loss, surrogate / none", sg32["loss"][-1] / zero32["loss"][-1],
              "<= 0.6" if args.quick else "<= 0.5", sg32["loss"][-1] <= (0.6 if args.quick else 0.5) * zero32["loss"][-1]),
        check("hidden weights unchanged without a surrogate (max |dW|)",
              float(np.abs(np.asarray(zero_net.layers[0].w[...]) - zero_w0).max()), "== 0",
              np.array_equal(np.asarray(zero_net.layers[0].w[...]), zero_w0)),
        check("hidden weights changed with the surrogate (max |dW|)",
              float(np.abs(np.asarray(sg_net.layers[0].w[...]) - sg_w0).max()), "> 0",
              not np.array_equal(np.asarray(sg_net.layers[0].w[...]), sg_w0)),
        check("hidden firing (spikes per neuron per step)", rate, "0.15-0.3", 0.15 <= rate <= 0.3),
    ]
    if not args.quick:
        acc30 = float(np.mean([h["val_acc"][-1] for _, h in runs128]))
        checks += [
            check("128 hidden: test accuracy after 30 epochs (%, mean over seeds)", 100 * acc30, ">= 95", acc30 >= 0.95),
            check("32 hidden: test accuracy with the surrogate after 30 epochs (%)", 100 * sg32["val_acc"][-1], ">= 92",
                  sg32["val_acc"][-1] >= 0.92),
        ]
    args.out.mkdir(parents=True, exist_ok=True)
    plot(args.out / "Neftci_2019.png", runs128, sg32, zero32, nets[0], data[1][0])
    report = {"paper": PAPER, "checks": checks, "runtime_s": time.perf_counter() - t0, "quick": bool(args.quick),
              "val_acc_128": {str(s): h["val_acc"] for s, h in runs128}, "val_acc_32_surrogate": sg32["val_acc"],
              "val_acc_32_none": zero32["val_acc"], "epoch_s": [h["time_s"] for _, h in runs128]}
    return report_write(args.out, "Neftci_2019", report)


if __name__ == "__main__":
    sys.exit(main())
