"""A heterogeneous Izhikevich spiking reservoir: the 1000-neuron network of Izhikevich (2003)
(``net.m``), as the reservoir of Yamada & Chao (2025), with optional current pulses (a cue,
stimulus channels) into random subsets.

Neurons (one population ``"reservoir"``: excitatory [0, n_exc), inhibitory [n_exc, n))::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I,    du/dt = a (b v - u)
    v >= 30 mV  ->  v <- c,  u <- u + d                 (v in mV, t in ms, I in mV/ms)

heterogeneous through one uniform number per neuron, r ~ U[0, 1]:

    excitatory (RS..CH):  a = 0.02,            b = 0.2,             c = -65 + 15 r^2,  d = 8 - 6 r^2
    inhibitory (FS..LTS): a = 0.02 + 0.08 r,   b = 0.25 - 0.05 r,   c = -65,           d = 2

Synapses: instantaneous ("delta" kinetics: a spike in step k adds its weight to the current of
step k + 1), weights ``S[post, pre] = w_exc U[0, 1]`` from excitatory and ``-w_inh U[0, 1]``
from inhibitory neurons (0.5 and 1 in net.m). ``p = 1`` is net.m's all-to-all wiring (self
connections included); ``p < 1`` keeps each synapse with probability ``p`` and divides the
weights by ``p`` so the mean input per neuron stays that of the dense network.

Noise: a white current redrawn every step (``GaussianCurrent``), std ``noise_exc`` = 5 for
excitatory and ``noise_inh`` = 2 for inhibitory neurons (net.m's thalamic input). Yamada & Chao
need the reservoir to carry elapsed time for hundreds of ms after a cue; papers.md 9 found that
net.m's noise makes the cue-locked trajectory fade within ~100 ms and suggests lowering it
(std 1-2) or a stronger, longer cue: both are arguments here.

Pulses: ``pulses = {name: (onset_ms, duration_ms)}`` adds, per name, an ``Input`` (a
``StepCurrent``) of ``pulse_amplitude`` (mV/ms, 20 by default) into a random ``pulse_fraction``
(20 %) of the neurons, drawn independently per pulse; ``IzhikevichReservoir.pulse_ids[name]``
lists them. The amplitudes are parameters (``params.inputs[name].amplitudes``, shape
(2, n): on, off), so a trial without a stimulus is the same compiled network with that row
set to zero.

Integration: the model's ``"net_m"`` scheme at dt = 1 ms (two 0.5-ms half steps for v, one
1-ms step for u), as in the paper; ``integrator="euler"`` with dt <= 0.1 ms otherwise.

References: E. M. Izhikevich, "Simple model of spiking neurons", IEEE Trans. Neural Netw.
14(6):1569-1572 (2003); Y. Yamada and Z. C. Chao, "Joint encoding of 'what' and 'when'
predictions through error-modulated plasticity in reservoir spiking networks",
arXiv:2510.14382 (2025) (the reservoir is heterogeneous Izhikevich; its sizes and inputs are
not retrievable here: these defaults are papers.md section 9's reconstruction).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _checks
from ..events import CSR, all_to_all
from ..inputs import GaussianCurrent, StepCurrent
from ..network import Input, Network, Population, Projection
from ..neurons import Izhikevich, IzhikevichParams
from ..synapses import Synapse


@dataclass(frozen=True, eq=False)
class IzhikevichReservoir:
    """What :func:`izhikevich_reservoir` builds: the network and the draws behind it."""

    network: Network
    n_exc: int
    n_inh: int
    r: np.ndarray          # (n,) the U[0, 1] number behind each neuron's parameters
    pulse_ids: dict        # pulse name -> (k,) indices of the neurons it drives
    seed: int

    @property
    def n(self) -> int:
        return self.n_exc + self.n_inh


def izhikevich_reservoir(
    n_exc: int = 800,
    n_inh: int = 200,
    *,
    p: float = 1.0,
    w_exc: float = 0.5,
    w_inh: float = 1.0,
    noise_exc: float = 5.0,
    noise_inh: float = 2.0,
    pulses: dict | None = None,
    pulse_fraction: float = 0.2,
    pulse_amplitude: float = 20.0,
    integrator: str = "net_m",
    seed: int = 0,
) -> IzhikevichReservoir:
    """Build the reservoir (module docstring). Everything is drawn from ``seed`` with numpy."""
    n_exc = _checks.count("izhikevich_reservoir: n_exc", n_exc, minimum=1)
    n_inh = _checks.count("izhikevich_reservoir: n_inh", n_inh, minimum=1)
    p = _checks.probability("izhikevich_reservoir: p", p)
    if p == 0.0:
        raise ValueError("izhikevich_reservoir: p must be > 0 (p = 0 leaves no recurrent synapse)")
    pulse_fraction = _checks.probability("izhikevich_reservoir: pulse_fraction", pulse_fraction)
    for name, value in (("w_exc", w_exc), ("w_inh", w_inh), ("noise_exc", noise_exc), ("noise_inh", noise_inh)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"izhikevich_reservoir: {name} must be a finite number >= 0, got {value!r}")
    if not np.isfinite(pulse_amplitude):
        raise ValueError(f"izhikevich_reservoir: pulse_amplitude must be finite, got {pulse_amplitude!r}")
    pulses = {} if pulses is None else dict(pulses)
    n = n_exc + n_inh
    rng = np.random.default_rng(_checks.seed("seed", seed))
    r = rng.random(n)
    exc = np.arange(n) < n_exc
    params = IzhikevichParams(
        a=np.where(exc, 0.02, 0.02 + 0.08 * r).astype(np.float32),
        b=np.where(exc, 0.2, 0.25 - 0.05 * r).astype(np.float32),
        c=np.where(exc, -65.0 + 15.0 * r**2, -65.0).astype(np.float32),
        d=np.where(exc, 8.0 - 6.0 * r**2, 2.0).astype(np.float32),
    )
    pop = Population("reservoir", n, Izhikevich(integrator=integrator), params)  # v(0) = -65 mV, u(0) = b v(0)

    delta = Synapse(kinetics="delta", output="current")
    projections = []
    for name, (lo, hi), scale in (("exc", (0, n_exc), w_exc), ("inh", (n_exc, n), -w_inh)):
        n_pre = hi - lo
        if p == 1.0:
            conn = all_to_all(n_pre, n)                                  # pre-major, post ascending
        else:
            keep = rng.random((n_pre, n)) < p
            conn = CSR.from_arrays(*np.nonzero(keep), n_pre, n)
        weights = (scale / p) * rng.random(conn.nnz)
        projections.append(Projection(name, ("reservoir", lo, hi), "reservoir", conn, weights.astype(np.float32), delta))

    inputs = [Input("noise", "reservoir", GaussianCurrent(),
                    GaussianCurrent.Params(mean=0.0, std=np.where(exc, noise_exc, noise_inh).astype(np.float32)))]
    pulse_ids = {}
    k = int(round(pulse_fraction * n))
    for name, spec in pulses.items():
        try:
            onset, duration = (float(x) for x in spec)
        except (TypeError, ValueError):
            raise ValueError(f"izhikevich_reservoir: pulses[{name!r}] must be (onset_ms, duration_ms), got {spec!r}") from None
        if not (np.isfinite(onset) and onset >= 0 and np.isfinite(duration) and duration > 0):
            raise ValueError(f"izhikevich_reservoir: pulses[{name!r}] needs onset_ms >= 0 and duration_ms > 0, got {spec!r}")
        ids = np.sort(rng.choice(n, size=k, replace=False))
        amp = np.zeros((2, n), np.float32)
        amp[0, ids] = pulse_amplitude
        inputs.append(Input(name, "reservoir", StepCurrent((onset, onset + duration)), StepCurrent.Params(amplitudes=amp)))
        pulse_ids[name] = ids
    net = Network([pop], projections, inputs)
    return IzhikevichReservoir(network=net, n_exc=n_exc, n_inh=n_inh, r=r, pulse_ids=pulse_ids, seed=seed)
