"""The network workloads in neurosim (see networks_common.py); one JSON line.

    .venv/bin/python benchmarks/peers/neurosim_networks.py --workload izhikevich2003|adex \
        [--duration S] [--engine auto] [--device cpu|gpu]

izhikevich2003: ``neurosim.builders.izhikevich_reservoir()`` (net.m). adex: the COBA topology of
``neurosim.builders.ei_network`` (as ``neurosim.builders.coba`` builds it) with ``AdEx`` cells.
Runs ``simulate(net, duration, dt, engine=--engine, monitors=[Spikes])``; ``--engine`` is passed
through as given. ``build_s``: building the network plus simulate's own set-up; ``compile_s`` and
``run_s``: ``SimResult.timings`` (``run_s`` excludes the compile). Pinned to one core with XLA's
multi-threaded Eigen off, exactly as the COBA runner (``neurosim_coba._setup``).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import networks_common as W  # noqa: E402
from neurosim_coba import _setup  # noqa: E402


def izhikevich2003(ns, seed):
    res = ns.builders.izhikevich_reservoir(seed=seed)
    return res.network, "reservoir"


def adex(ns, seed):
    import numpy as np

    from neurosim.builders import ConstantDrive, FixedProbability, ei_network
    from neurosim.init import Uniform

    n = W.ADEX_N
    n_e = C.n_exc(n)
    exc = np.arange(n) < n_e
    per_neuron = {k: np.where(exc, W.ADEX_EXC[k], W.ADEX_INH[k]).astype(np.float32) for k in W.ADEX_EXC}
    net = ei_network(
        n_e, n - n_e, connectivity=FixedProbability(0.02), j_e=C.W_E * C.G_L_NS, j_i=C.W_I * C.G_L_NS,
        neuron=ns.neurons.AdEx(v_init=Uniform(C.V_RESET_MV, C.V_TH_MV)),
        neuron_params=ns.neurons.AdExParams(**W.ADEX_CELL, **per_neuron),
        exc_synapse=ns.synapses.Synapse("exponential", "conductance"),
        exc_params=ns.synapses.SynapseParams(tau=C.TAU_E_MS, e_rev=C.E_E_MV),
        inh_synapse=ns.synapses.Synapse("exponential", "conductance"),
        inh_params=ns.synapses.SynapseParams(tau=C.TAU_I_MS, e_rev=C.E_I_MV),
        drive=ConstantDrive(C.I_BG_PA), seed=seed,
    )
    return net, "neurons"


def main(argv=None):
    args = W.parse_args("neurosim network benchmark", argv,
                        add=lambda ap: ap.add_argument("--engine", default="auto",
                                                       help="simulate's engine, passed through as given"))
    threads = _setup(args)
    os.environ.setdefault("JAX_TRACEBACK_FILTERING", "off")   # an error's last stderr line names it
    with C.quiet_stdout():
        import jax
        import numpy as np

        import neurosim as ns

        if args.device == "gpu":
            jax.config.update("jax_default_device", jax.devices("gpu")[0])
        t0 = C.now()
        net, pop = (izhikevich2003 if args.workload == "izhikevich2003" else adex)(ns, args.seed)
        build_s = C.now() - t0
        res = ns.simulate(net, args.duration * 1e3, args.dt_ms, key=args.seed, monitors=[ns.Spikes(pop)],
                          engine=args.engine, progress=False)
        _, ids = res.spikes[pop]
        n_e = C.n_exc(args.n)
        t = res.timings
        dev = jax.devices(args.device)[0]
        device = C.cpu_device() if dev.platform == "cpu" else f"{dev.platform} ({dev.device_kind})"
        n_syn = sum(int(getattr(pr.conn, "nnz", 0)) for pr in net.projections)
    C.emit(C.result(
        "neurosim", args, build_s=build_s + t.get("build_s", 0.0), compile_s=t["compile_s"], run_s=t["run_s"],
        spikes_e=int(np.sum(ids < n_e)), spikes_i=int(np.sum(ids >= n_e)),
        version=f"neurosim {getattr(ns, '__version__', 'unknown')}, jax {jax.__version__}", threads=threads,
        device=device, workload=args.workload, engine=t["engine"], dt_ms=args.dt_ms, n_synapses=n_syn,
    ))


if __name__ == "__main__":
    main()
