"""The distal-reward network of Izhikevich (2007), "Solving the distal reward problem through
linkage of STDP and dopamine signaling", Cereb. Cortex 17:2443 (Fig. 1; the reference code
``daspnet.m``).

1000 Izhikevich neurons (800 regular-spiking E: a = 0.02, d = 8; 200 fast-spiking I: a = 0.1,
d = 2; b = 0.2, c = -65 for all), integrated as ``net.m`` does at dt = 1 ms (two 0.5 ms Euler
steps of v, one of u). Every neuron has 100 outgoing synapses (drawn without repetition here):
E onto any of the 1000, I onto E only; delta synapses (a spike adds its weight to the next
step's current), 1 ms delays; initial weights +1 (E) and -1 (I) mV. Noise: every neuron
receives ``13 (U[0, 1) - 0.5)`` each step. Only E synapses learn, by dopamine-modulated STDP::

    nearest-spike traces, 0.1 at a spike, x 0.95 per ms (tau = 19.5 ms)
    LTP at a postsynaptic spike: c += 0.1 x_pre;  LTD at a delivered presynaptic spike: c -= 0.15 y_post
    c decays with tau_c = 995 ms (x 0.99 every 10 ms);  ds/dt = (0.002 + d) c / (10 ms), s in [0, 4]
    dopamine: d decays with tau_d = 199.5 ms (x 0.995 per ms) and jumps by 0.5 at a reward

The rewarded synapse ``n1 -> n2`` starts at 0. When ``n2`` fires less than 20 ms after the
last spike of ``n1`` (strictly after it), a reward is scheduled 1-3 s later
(``1000 + ceil(2000 U)`` ms); while one is pending, further coincidences schedule nothing (the
reference code queues them; at ~1 reward per 20 s the two rarely differ). As in the reference,
the eligibility traces are released into the weights (and decayed) once every 10 ms
(``reward_modulated(..., every=10.0)``); between those steps only synapses of spiking neurons are
visited.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from .. import plasticity as pl
from ..events import from_arrays
from ..inputs import UniformCurrent
from ..network import Input, Network, Population, Projection
from ..neurons import Izhikevich, IzhikevichParams
from ..synapses import Synapse

N, N_E, M = 1000, 800, 100
REWARD_WINDOW_MS = 20.0


def reward_drive(n1: int, n2: int, amount: float = 0.5, enabled: bool = True):
    """The closed-loop drive of the dopamine modulator (module docstring): its state is
    ``(time of n1's last spike, time of the pending reward or -1)``, in ms."""
    def drive(state, spikes, t_ms, key):
        last_n1, reward_at = state
        s = spikes["neurons"]
        last_n1 = jnp.where(s[n1] > 0, t_ms, last_n1)
        hit = (s[n2] > 0) & (t_ms - last_n1 > 0) & (t_ms - last_n1 < REWARD_WINDOW_MS) & (reward_at < 0)
        delay = 1000.0 + jnp.ceil(2000.0 * jax.random.uniform(key, (), t_ms.dtype))
        reward_at = jnp.where(hit & enabled, t_ms + delay, reward_at)
        due = (reward_at >= 0) & (t_ms >= reward_at)
        return (last_n1, jnp.where(due, -1.0, reward_at)), jnp.where(due, amount, 0.0)
    return drive


def distal_reward(*, seed: int = 0, reward: bool = True, reward_amount: float = 0.5):
    """The network and the rewarded synapse: ``(net, syn_index)``, with ``syn_index`` the index of
    ``n1 -> n2`` among the plastic E synapses (projection ``"exc"``, CSR order)."""
    rng = np.random.default_rng(_checks.seed("seed", seed))
    pre = np.repeat(np.arange(N), M)
    post = np.concatenate([rng.choice(N if i < N_E else N_E, M, replace=False) for i in range(N)])
    exc = from_arrays(pre[: N_E * M], post[: N_E * M], N_E, N)
    inh = from_arrays(pre[N_E * M:] - N_E, post[N_E * M:], N - N_E, N_E)
    n1 = 0
    n2 = int(np.asarray(exc.indices)[0])
    k_star = 0   # CSR order: row 0's first synapse is n1 -> n2
    w0 = np.ones(exc.nnz, np.float32)
    w0[k_star] = 0.0
    a = np.r_[np.full(N_E, 0.02), np.full(N - N_E, 0.1)].astype(np.float32)
    d = np.r_[np.full(N_E, 8.0), np.full(N - N_E, 2.0)].astype(np.float32)
    params = IzhikevichParams(a=a, b=0.2, c=-65.0, d=d)
    pop = Population("neurons", N, Izhikevich(integrator="net_m"), params)
    tau_trace = -1.0 / np.log(0.95)
    rule = pl.chain(
        pl.stdp_pair(0.1, 0.15, tau_trace, tau_trace, traces="nearest"),
        pl.reward_modulated("dopamine", tau_c=-10.0 / np.log(0.99), lr=0.1, d_tonic=0.002,
                            every=10.0),
        pl.clip_weights(0.0, 4.0),
    )
    delta = Synapse("delta", "current")
    projs = [Projection("exc", ("neurons", 0, N_E), "neurons", exc, w0, delta, plasticity=rule),
             Projection("inh", ("neurons", N_E, N), ("neurons", 0, N_E), inh, -1.0, delta)]
    noise = Input("noise", "neurons", UniformCurrent(), UniformCurrent.Params(-6.5, 6.5))
    dopamine = pl.Modulator("dopamine", tau=-1.0 / np.log(0.995), drive=reward_drive(n1, n2, reward_amount, reward),
                            drive_init=(jnp.asarray(-1e9, jnp.float32), jnp.asarray(-1.0, jnp.float32)))
    return Network([pop], projs, [noise], modulators=[dopamine]), k_star
