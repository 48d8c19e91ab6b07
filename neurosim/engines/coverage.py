"""Which engine runs which model: the coverage table of docs/engines.md, computed, not written.

Every model, input and mechanism of the library is placed, with its default options, in a small
network, and each engine is asked whether it can run that network (:func:`neurosim.engines.
verdicts`): the table is what the engines answer today, so it cannot drift from the code. A
test checks that docs/engines.md holds the table this module makes;
``python -m neurosim.engines.coverage --write docs/engines.md`` refreshes it.
"""
from __future__ import annotations

import argparse
import re
import sys

BEGIN = "<!-- coverage: begin (python -m neurosim.engines.coverage --write docs/engines.md) -->"
END = "<!-- coverage: end -->"


def _cases():
    """(kind, what, network factory): one small network per model of the library."""
    import jax.numpy as jnp

    import neurosim as ns
    from neurosim import inputs as I
    from neurosim.astrocytes import Astrocyte
    from neurosim.neurons import LIF, AdaptiveLIF, AdEx, HodgkinHuxley, Izhikevich
    from neurosim.neurons.multirate import MultiRate
    from neurosim.synapses import Synapse, SynapseParams, TsodyksMarkram

    def pop(model, n=8):
        return ns.Population("p", n, model)

    def one(model, inputs=()):
        return ns.Network([pop(model)], [], list(inputs))

    def drive():
        return ns.Input("drive", "p", I.ConstantCurrent(), I.ConstantCurrent.Params(200.0))

    def pair(modulators=(), **kw):
        conn = ns.events.fixed_probability(8, 8, 0.5, seed=0)
        proj = ns.Projection("pq", "p", "p", conn, kw.pop("weights", 1.0), **kw)
        return ns.Network([pop(LIF())], [proj], [drive()], modulators=list(modulators))

    def modulated():
        rule = ns.plasticity.chain(ns.plasticity.stdp_pair(), ns.plasticity.reward_modulated("dopamine"))
        return pair(plasticity=rule, modulators=[ns.plasticity.Modulator("dopamine")])

    def from_strings():
        """A neuron, a synapse and a rule written as equations (ns.equations)."""
        eq = ns.equations
        neuron = eq.Neuron("dv/dt = (g_l*(E_l - v) + I)/C : volt", threshold="v > -50*mV", reset="v = -60*mV",
                           params=dict(g_l="10*nS", E_l="-60*mV", C="200*pF"))
        synapse = eq.Synapse("dg/dt = -g/tau : siemens", on_pre="g += w", current_expr="g*(E - v_post)",
                             params=dict(tau="5*ms", E="0*mV"))
        rule = eq.rule("dx/dt = -x/tau : 1 (event-driven)\ndy/dt = -y/tau : 1 (event-driven)",
                       on_pre="x += 1; w -= a*y", on_post="y += 1; w += a*x", params=dict(tau="20*ms", a=0.01))
        return neuron, synapse, rule

    cases = [
        ("neuron", "LIF", lambda: one(LIF(), [drive()])),
        ("neuron", "AdaptiveLIF", lambda: one(AdaptiveLIF(), [drive()])),
        ("neuron", "Izhikevich (euler)", lambda: one(Izhikevich(), [drive()])),
        ("neuron", "Izhikevich (net_m)", lambda: one(Izhikevich("net_m"), [drive()])),
        ("neuron", "AdEx", lambda: one(AdEx(), [drive()])),
        ("neuron", "MultiRate(LIF)", lambda: one(MultiRate(LIF(), 2), [drive()])),
        ("neuron", "Astrocyte (Li-Rinzel)", lambda: one(Astrocyte())),
        ("neuron", "HodgkinHuxley", lambda: one(HodgkinHuxley(), [drive()])),
        ("neuron", "ns.equations.Neuron (from strings)", lambda: one(from_strings()[0], [drive()])),
        ("source", "PoissonSource", lambda: one(I.PoissonSource())),
        ("source", "SpikeTimes", lambda: one(I.SpikeTimes(times_ms=(1.0,), ids=(0,)))),
        ("source", "RasterSource", lambda: one(I.RasterSource())),
        ("synapse", "Synapse exponential, current", lambda: pair()),
        ("synapse", "Synapse exponential, conductance", lambda: pair(synapse=Synapse("exponential", "conductance"))),
        ("synapse", "Synapse alpha", lambda: pair(synapse=Synapse("alpha", "current"))),
        ("synapse", "Synapse delta", lambda: pair(synapse=Synapse("delta", "current"))),
        ("synapse", "a Synapse subclass", lambda: pair(synapse=type("MySynapse", (Synapse,), {})())),
        ("synapse", "ns.equations.Synapse (from strings)", lambda: pair(synapse=from_strings()[1])),
        ("input", "ConstantCurrent", lambda: one(LIF(), [drive()])),
        ("input", "GaussianCurrent", lambda: one(LIF(), [ns.Input("i", "p", I.GaussianCurrent(),
                                                                  I.GaussianCurrent.Params())])),
        ("input", "UniformCurrent", lambda: one(LIF(), [ns.Input("i", "p", I.UniformCurrent(),
                                                                 I.UniformCurrent.Params())])),
        ("input", "StepCurrent", lambda: one(LIF(), [ns.Input("i", "p", I.StepCurrent(times_ms=(0.0,)),
                                                              I.StepCurrent.Params(amplitudes=jnp.ones(1)))])),
        ("input", "PoissonInput", lambda: one(LIF(), [ns.Input("i", "p", I.PoissonInput(), I.PoissonInput.Params())])),
        ("mechanism", "TsodyksMarkram (STP)", lambda: pair(stp=TsodyksMarkram())),
        ("mechanism", "stdp_pair", lambda: pair(plasticity=ns.plasticity.stdp_pair())),
        ("mechanism", "stdp_triplet", lambda: pair(plasticity=ns.plasticity.stdp_triplet())),
        ("mechanism", "ns.equations.rule (pair STDP from strings)", lambda: pair(plasticity=from_strings()[2])),
        ("mechanism", "inhibitory_stdp", lambda: pair(plasticity=ns.plasticity.inhibitory_stdp())),
        ("mechanism", "synaptic_scaling", lambda: pair(plasticity=ns.plasticity.synaptic_scaling())),
        ("mechanism", "stdp_pair, normalize_incoming", lambda: pair(plasticity=ns.plasticity.chain(
            ns.plasticity.stdp_pair(), ns.plasticity.normalize_incoming(4.0)))),
        ("mechanism", "reward_modulated (a Modulator)", lambda: modulated()),
        ("mechanism", "Gliotransmission (tripartite)", lambda: ns.builders.tripartite(8)),
        ("connectivity", "JitConn (procedural)", lambda: ns.Network(
            [pop(LIF())], [ns.Projection("pq", "p", "p", ns.events.JitConn(8, 8, 0.5, seed=0), 1.0)], [drive()])),
        ("coupling", "GapJunction (electrical)", lambda: ns.Network(
            [pop(LIF())], [], [drive()], gap_junctions=[ns.network.GapJunction(
                "gj", "p", "p", ns.CSR.from_arrays(range(7), range(1, 8), 8, 8), 1.0, symmetric=True)])),
    ]
    _ = SynapseParams
    return cases


def table(dt: float = 0.1) -> list:
    """``(kind, what, {engine: "yes" | reason})`` for every case."""
    from . import verdicts
    from ..network.step import init_state

    rows = []
    for kind, what, make in _cases():
        net = make()
        params = net.params()
        vs = verdicts(net, params, dt, [], init_state(net, params, 0, dt))
        rows.append((kind, what, {v.engine: "yes" if v.ok else v.reason for v in vs}))
    return rows


def markdown(dt: float = 0.1) -> str:
    """The table as Markdown: one row per model, one column per engine (yes, or why not)."""
    rows = table(dt)
    engines = list(rows[0][2])
    out = ["| kind | model | " + " | ".join(engines) + " |", "|---|---|" + "---|" * len(engines)]
    for kind, what, v in rows:
        cells = [_cell(v[e]) for e in engines]
        out.append(f"| {kind} | {what} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _cell(text: str) -> str:
    if text == "yes":
        return "yes"
    text = re.sub(r"\s+", " ", text).replace("|", "\\|")
    return "no: " + (text if len(text) <= 160 else text[:157] + "...")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", metavar="PAGE", help="replace the table between the coverage markers of PAGE")
    args = ap.parse_args(argv)
    text = markdown()
    if not args.write:
        print(text)
        return 0
    with open(args.write) as f:
        page = f.read()
    if BEGIN not in page or END not in page:
        print(f"{args.write} has no coverage markers ({BEGIN} ... {END})", file=sys.stderr)
        return 1
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(args.write, "w") as f:
        f.write(head + BEGIN + "\n" + text + "\n" + END + tail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
