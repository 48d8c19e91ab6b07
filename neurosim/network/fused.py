"""The fused engine: many simulation steps per call of one compiled kernel.

The scan engine (:func:`neurosim.network.run`) pays a fixed cost for every step: one
``lax.scan`` iteration, a handful of XLA thunks on the CPU, 6-8 us of host-driven loop control
on a GPU. For the networks it covers, the fused engine runs K steps inside one custom call
(``neurosim_fused_lif``, ``kernels/cpu/fused.cc`` and ``kernels/cuda/fused.cu``; operands in
``kernels/README.md``), with the step written once in C++/CUDA from the same equations:

    I     = sum over projections onto the neuron (network order) of
            g (E_rev - V) (conductance) or g (current), + the constant inputs
    V, s  = the LIF step of :mod:`neurosim.neurons.lif` (exact integration, refractory clamp)
    g     = g exp(-dt / tau) + (delayed spikes x CSR x w)    (exponential kinetics)

It covers networks whose populations are all :class:`~neurosim.neurons.LIF` (or spike
sources: :class:`~neurosim.inputs.PoissonSource` and :class:`~neurosim.inputs.RasterSource`,
CPU), whose projections use exponential or delta kinetics (current or conductance output) on a
stored CSR with a homogeneous or per-synapse weight and whole-step delays, whose modulators are
count-driven (the NALSM astrocyte, :func:`~neurosim.astrocytes.nalsm_astrocyte`, CPU), driven by
:class:`~neurosim.inputs.ConstantCurrent` and :class:`~neurosim.inputs.PoissonInput` inputs
(one rate and weight per input, below 12 spikes per step) and, on the CPU, by the *tabulated*
currents :class:`~neurosim.inputs.GaussianCurrent`, :class:`~neurosim.inputs.UniformCurrent` and
:class:`~neurosim.inputs.StepCurrent` (inputs whose current depends on the step and the key only:
their own ``current`` fills a table of every step of a kernel call, with the scan's keys, in a
``lax.scan`` before the call; drawing the numbers then costs what it costs the scan, ~7 ns per
Gaussian value), in float32, recording ``Spikes`` and
``Rate`` monitors, and ``Trace`` and ``Weights`` monitors that sample at least every
``MIN_SAMPLE_STEPS`` (100) steps (read between kernel calls). A projection may be plastic when its rule has a
:class:`~neurosim.plasticity.kernels.PairForm`: pair STDP (:func:`~neurosim.plasticity.stdp_pair`,
any weight dependence and trace kind) or astrocyte-modulated STDP
(:func:`~neurosim.astrocytes.astrocyte_stdp`, its amplitude a modulator's value), alone or chained
with :func:`~neurosim.plasticity.clip_weights`, event-driven: ``ALLOWED`` lists exactly what
the kernel implements. Plastic projections, Poisson inputs, spike sources and modulators run in the CPU kernel
(``neurosim_fused_lif_plastic``); on a GPU such networks take the scan. :func:`fused_plan` says
in plain words why a network is not covered; ``simulate(..., engine="auto")`` then takes the
scan engine.

Results equal the scan engine's: the CPU kernel performs the same float32 operations in the
same order (a synapse drive is summed in row order, then added to the decayed g, as the event
reference does; the pair-STDP update is the code of the scan's own STDP kernel; a Poisson count
compares the same counter-based uniform, :mod:`neurosim.inputs.draws`, against the same CDF
table), so spike trains, weights and traces are identical where the arithmetic is
(``tests/test_fused_learning.py`` checks COBA with plastic E -> E and Brunel's network bitwise).
Constant inputs onto one neuron are summed before they are added to the synaptic current (the
scan adds them one after the other, in input order among the Poisson inputs and tabulated
currents), which can differ in the last bit where a constant input precedes another input onto
the same neurons (listed after them, they sum as the scan sums them). On a GPU, the one-block kernel
(networks up to 2048 neurons) adds the drive the same way, summed in a nondeterministic order
(identical results for homogeneous weights); the grid-wide kernel of larger networks adds each
delivered weight into g directly, which differs from the scan by rounding. Measurements:
``docs/performance.md``.

State: :func:`run_fused` takes a :class:`~neurosim.network.NetworkState` and returns the one
the scan engine would have produced (neuron v and t_left, synapse g, delay buffers, t). The
``key`` is advanced as the scan advances it (one split per step) when the network has tabulated
currents, which draw from it; otherwise it is returned unchanged: no other covered input draws
from it (Poisson inputs draw from their own counter-based seed in ``state.inputs``), so it is never
used by these steps. A state can be continued by either engine.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .. import _kernels
from ..engines.base import Runner
from ..engines.chunks import (MIN_SAMPLE_STEPS, Chunk, sample_due, sampling_chunk, signature, spike_events,  # noqa: F401
                              spikes_and_rates)   # (spike_events: the kernel's bits)
from ..events import CSR
from ..events.csr import rows_are_unique
from ..inputs import (ConstantCurrent, GaussianCurrent, PoissonInput, PoissonSource, RasterSource, StepCurrent,
                      UniformCurrent)
from ..inputs.currents import POISSON_INVERSION_MAX, POISSON_TERMS, poisson_cdf
from ..neurons import LIF, LIFParams
from ..astrocytes.nalsm import CountForm
from ..plasticity.kernels import TRACES, PairForm
from ..plasticity.mechanism import Plasticity
from ..plasticity.modulators import Modulator, ModulatorState
from ..synapses import Synapse, SynapseParams
from .monitors import OBSERVERS, SAMPLED, Rate, Spikes
from .step import NetworkState, delay_depths, learns_delays, per_synapse_delays, sliced

TARGET, PLASTIC_TARGET = _kernels.TARGETS["fused"]
ENGINES = ("auto", "scan", "fused", "parallel")
# The tabulated currents (GaussianCurrent, ...) of one kernel call are computed before it: at most
# this many bytes of them, which bounds the steps per call of a network with such inputs
TABLE_BYTES = 32e6

# proj_i columns (kernels/README.md)
_PRE_OFF, _N_PRE, _POST_OFF, _N_POST, _G_OFF, _DEPTH, _DBUF_OFF, _INDPTR_OFF, _INDICES_OFF, _W_OFF, _W_PER_SYN, _COND = range(12)
_MAX_PROJECTIONS = 64   # the CUDA kernel keeps the projection table in shared memory
_INT32_MAX = 2**31 - 1



@dataclass(frozen=True, eq=False)
class FusedPlan:
    """What :func:`run_fused` needs, flattened once per network, platform and parameter
    shapes: the static operands of ``neurosim_fused_lif`` (``proj_i``, the concatenated CSR
    ``indptr`` / ``indices``) and where each population and projection lives in them. The
    parameter-dependent operands (``nparam``, ``proj_f``, per-synapse ``weights``) are
    computed from ``params`` at every call, inside the jitted function."""

    net: object
    dt: float
    platform: str                 # "cpu" or "cuda"
    pops: tuple                   # (name, offset, n) in network order
    projs: tuple                  # (name, post name, a, b, g_off, depth, per_synapse) in network order
    n: int                        # neurons, all populations
    g_size: int
    d_size: int
    uniform: bool                 # nparam is f32[7, 1] (one population, scalar parameters and inputs)
    proj_i: np.ndarray            # i32[P, 12]
    indptr: jax.Array             # i32, every projection's indptr
    indices: jax.Array            # i32, every projection's indices
    # plastic projections and Poisson inputs (neurosim_fused_lif_plastic, CPU): empty otherwise
    plastic: tuple = ()           # (name, projection index, n_pre, n_post, x_off, y_off, PairForm)
    poisson: tuple = ()           # (input name, post offset, n, g_off, conductance)
    tables: tuple = ()            # tabulated currents: (input name, network input index, post offset, n, g_off)
    pin_names: tuple = ()         # the inputs of pin_i's rows (Poisson and tabulated), in network order
    plas_i: np.ndarray | None = None     # i32[Q, 10]
    pin_i: np.ndarray | None = None      # i32[R, 4]
    columns: tuple = ()           # (rows, col_ptr, col_perm) concatenated over the plastic projections
    sources: tuple = ()           # PoissonSource populations: (name, offset, n)
    rasters: tuple = ()           # RasterSource populations: (name, offset, n)
    mods: tuple = ()              # count-driven modulators: (name, CountForm), network order
    mod_i: np.ndarray | None = None      # i32[R, 4]: modulator, offset, n, sign of each counted population
    n_traces: int = 0
    _fns: dict = field(default_factory=dict, repr=False)

    @property
    def extended(self) -> bool:
        """Whether the plan needs the plastic kernel (plastic projections or Poisson inputs)."""
        return bool(self.plastic or self.poisson or self.tables or self.sources or self.rasters or self.mods)

    @property
    def table_cols(self) -> int:
        """Values per step of the tabulated currents (their neurons, all inputs)."""
        return sum(t[3] for t in self.tables)

    @property
    def n_words(self) -> int:
        """32-bit words of one step's spike bits."""
        return (self.n + 31) // 32


def available(platform: str) -> bool:
    """Whether the fused kernel for ``platform`` ("cpu" or "cuda") is built and registered."""
    return _kernels.ready("fused", platform)


def run_platform() -> tuple[str | None, str | None]:
    """``(platform, reason)``: where a jitted call runs now ("cpu" or "cuda"), or None and why
    the fused engine has no kernel for it."""
    platform = _kernels.device_platform()
    if platform in ("cpu", "cuda"):
        return platform, None
    if platform == "rocm":
        return None, "the fused kernel is built for CUDA GPUs, and this GPU runs ROCm"
    return None, f"the fused kernel exists for CPUs and CUDA GPUs, not for {platform!r} devices"


def fused_plan(net, params: dict | None = None, dt: float = 0.1, monitors=(), *, platform: str | None = None):
    """A :class:`FusedPlan` for ``net`` (with ``params``, default ``net.params()``, at step
    ``dt`` ms, recording ``monitors``), or a string saying in plain words why the fused engine
    cannot run it. ``platform``: "cpu" or "cuda"; default where jitted code runs now."""
    params = net.params() if params is None else params
    if isinstance(monitors, (Spikes, Rate) + SAMPLED + OBSERVERS):
        monitors = [monitors]
    reason = _reason(net, params, monitors, dt)
    if reason:
        return reason
    if platform is None:
        platform, why = run_platform()
        if platform is None:
            return why
    if platform not in ("cpu", "cuda"):
        raise ValueError(f"platform must be 'cpu', 'cuda' or None, got {platform!r}")
    if not _kernels.ENABLED:
        return "compiled kernels are disabled (NEUROSIM_KERNELS=off)"
    if not available(platform):
        return (f"the compiled fused kernel for {platform} (neurosim/_lib/libfused_{platform}.so) is not available; "
                f"build it with `python -m neurosim._build`")

    # layout: populations concatenated in network order, then every projection's slices
    offsets, pops, n = {}, [], 0
    for p in net.populations:
        offsets[p.name] = n
        pops.append((p.name, n, p.n))
        n += p.n
    depths = delay_depths(net, dt)
    rows, projs = [], []
    g_off = d_off = ip_off = ix_off = w_off = 0
    for pr in net.projections:
        (pre, a_pre, b_pre), (post, a_post, b_post) = net._refs[pr.name]
        n_pre, n_post, nnz = b_pre - a_pre, b_post - a_post, pr.conn.nnz
        per_syn = (pr.plastic or np.shape(params.projections[pr.name].weights) == (nnz,)) and nnz > 0
        depth = depths[pr.name] - 1
        # conductance (bit 0); on the CPU, bit 1: it adds into a slice of its population (the scan
        # rounds such a term before adding the next one to it)
        is_sliced = sliced(net, net._refs[pr.name][1]) and platform == "cpu"
        # bit 2: no row repeats a postsynaptic neuron (the CPU kernel then delivers 16 synapses at a time)
        rows.append([offsets[pre] + a_pre, n_pre, offsets[post] + a_post, n_post, g_off, depth, d_off, ip_off,
                     ix_off, w_off if per_syn else 0, int(per_syn),
                     int(pr.synapse.output == "conductance") | (2 if is_sliced else 0) | (4 if _unique_rows(net, pr.conn) else 0)])
        projs.append((pr.name, post, a_post, b_post, g_off, depth, per_syn))
        g_off += n_post
        d_off += depth * n_pre
        ip_off += n_pre + 1
        ix_off += nnz
        w_off += nnz if per_syn else 0
    # Poisson inputs: their synapse state follows the projections' in g, then the slots of the
    # tabulated currents (a term with decay 0 whose g is the step's value; not part of the state)
    poisson, tables, pin_rows = [], [], {}
    for inp in net.inputs:
        if isinstance(inp.source, PoissonInput):
            ((tgt, a, b),) = net._refs[inp.name]
            cond = int(inp.source.synapse.output == "conductance") | (2 if sliced(net, net._refs[inp.name][0]) else 0)
            poisson.append((inp.name, offsets[tgt] + a, b - a, g_off, cond))
            pin_rows[inp.name] = [offsets[tgt] + a, b - a, g_off, cond]
            g_off += b - a
    for idx, inp in enumerate(net.inputs):
        if type(inp.source) in TABULATED:
            ((tgt, a, b),) = net._refs[inp.name]
            tables.append((inp.name, idx, offsets[tgt] + a, b - a, g_off))
            pin_rows[inp.name] = [offsets[tgt] + a, b - a, g_off, 4 | (2 if sliced(net, net._refs[inp.name][0]) else 0)]
            g_off += b - a
    pin_names = tuple(inp.name for inp in net.inputs if inp.name in pin_rows)   # the scan's term order
    # count-driven modulators, and the populations each counts
    mods = tuple((m.name, m.form) for m in net.modulators)
    mod_index = {name: k for k, (name, _) in enumerate(mods)}
    mod_rows = [[k, offsets[pop], net.population(pop).n, sign] for k, (_, form) in enumerate(mods)
                for sign, names in ((1, form.plus), (-1, form.minus)) for pop in names]
    # plastic projections: traces x (n_pre) then y (n_post) each, and their column indices
    plastic, plas_rows, t_off, c_off, cp_off = [], [], 0, 0, 0
    for q, pr in enumerate(net.projections):
        if pr.plastic:
            (_, a_pre, b_pre), (_, a_post, b_post) = net._refs[pr.name]
            n_pre, n_post = b_pre - a_pre, b_post - a_post
            form = pr.chain[0].rule.form
            plastic.append((pr.name, q, n_pre, n_post, t_off, t_off + n_pre, form))
            plas_rows.append([q, t_off, t_off + n_pre, c_off, cp_off, c_off, TRACES.index(form.trace), rows[q][_W_OFF]]
                             + [-1 if m is None else mod_index[m] for m in form.modulators])
            t_off += n_pre + n_post
            c_off += pr.conn.nnz
            cp_off += n_post + 1
    sources = tuple((p.name, offsets[p.name], p.n) for p in net.populations if isinstance(p.model, PoissonSource))
    rasters = tuple((p.name, offsets[p.name], p.n) for p in net.populations if type(p.model) is RasterSource)
    if (plastic or poisson or tables or sources or rasters or mods) and platform != "cpu":
        what = ("plastic projections" if plastic else "Poisson inputs" if poisson else "modulators" if mods
                else "noise or step currents" if tables else "spike-source populations")
        return (f"the network has {what}, which the fused kernel runs on CPUs only (neurosim_fused_lif_plastic); "
                f"on {platform} the scan engine runs them")
    if (plastic or poisson or tables or sources or rasters or mods) and not _kernels.ready("fused", "cpu"):
        return "the compiled fused kernel for cpu (neurosim/_lib/libfused_cpu.so) is not available"
    for what, value in (("neurons", n), ("synapse state entries", g_off), ("delay buffer entries", d_off),
                        ("indptr entries", ip_off), ("synapses", ix_off), ("per-synapse weights", w_off),
                        ("trace entries", t_off)):
        if value > _INT32_MAX:
            return f"the network has {value} {what}; the fused kernel addresses at most 2**31 - 1"
    uniform = len(net.populations) == 1 and not sources and not rasters and all(
        np.ndim(x) == 0 for x in params.neurons[net.populations[0].name]) and all(
        net._refs[inp.name][0][1:] == (0, net.populations[0].n)
        and np.ndim(params.inputs[inp.name].amplitude) == 0 for inp in net.inputs
        if isinstance(inp.source, ConstantCurrent))

    key = ("fused_csr", tuple(id(pr.conn) for pr in net.projections))
    cat = net._cache.get(key)
    if cat is None:
        if net.projections:
            indptr = jnp.concatenate([pr.conn.indptr for pr in net.projections])
            indices = jnp.concatenate([pr.conn.indices for pr in net.projections] + [jnp.zeros((1,), jnp.int32)])
        else:
            indptr = indices = jnp.zeros((1,), jnp.int32)
        cat = net._cache[key] = (indptr, indices)
    columns = ()
    if plastic:
        ckey = ("fused_columns", tuple(id(net.projections[q].conn) for _, q, *_ in plastic))
        columns = net._cache.get(ckey)
        if columns is None:
            conns = [net.projections[q].conn for _, q, *_ in plastic]
            # rows in column order (the presynaptic neuron of synapse col_perm[t]), read sequentially
            parts = [[c.rows[c.col_perm] for c in conns], [c.col_ptr for c in conns], [c.col_perm for c in conns]]
            columns = net._cache[ckey] = tuple(jnp.concatenate(x + [jnp.zeros((1,), jnp.int32)]) for x in parts)
    proj_i = np.asarray(rows, np.int32).reshape(len(rows), 12)
    plas_i = np.asarray(plas_rows, np.int32).reshape(len(plas_rows), 10)
    pin_i = np.asarray([pin_rows[name] for name in pin_names], np.int32).reshape(len(pin_names), 4)
    return FusedPlan(net, float(dt), platform, tuple(pops), tuple(projs), n, g_off, d_off, uniform, proj_i, *cat,
                     plastic=tuple(plastic), poisson=tuple(poisson), tables=tuple(tables), pin_names=pin_names,
                     plas_i=plas_i, pin_i=pin_i, columns=columns,
                     n_traces=t_off, sources=sources, rasters=rasters, mods=mods,
                     mod_i=np.asarray(mod_rows, np.int32).reshape(len(mod_rows), 4))


def _unique_rows(net, conn) -> bool:
    """Whether every row of ``conn`` lists its postsynaptic neurons in strictly increasing order
    (none twice), computed once per CSR."""
    key = ("fused_unique", id(conn))
    if key not in net._cache:
        net._cache[key] = rows_are_unique(conn)
    return net._cache[key]



# The allow-list: exactly the model configurations the kernel implements. A field or option
# not listed here (a new LIF parameter, say) makes a network ineligible, so it falls back to
# the scan instead of being silently ignored by the kernel (tests/test_fused.py checks these
# lists against the models).
ALLOWED = {
    "LIF.options": ("v_init", "surrogate", "detach_reset"),  # initial conditions (applied by init_state) and gradient-only options
    "LIFParams": ("v_rest", "v_reset", "v_th", "c_m", "g_l", "t_ref", "slope"),  # slope: surrogate only
    "Synapse.options": ("kinetics", "output", "g_init"),
    "Synapse.kinetics": ("exponential", "delta"),   # delta: exponential with decay 0 (g = the last drive)
    "Synapse.output": ("current", "conductance"),
    "SynapseParams": ("tau", "e_rev"),
    "ConstantCurrent.Params": ("amplitude",),
    "PoissonInput.options": ("n_sources", "synapse"),
    "PoissonSource.Params": ("rate_hz",),
    "PoissonInput.Params": ("rate_hz", "weight", "synapse"),
    # inputs whose current depends on the step and the key only (not on V, no state): tabulated
    # for every step of a kernel call by their own code, then read by the kernel
    "GaussianCurrent.options": (),
    "GaussianCurrent.Params": ("mean", "std"),
    "UniformCurrent.options": (),
    "UniformCurrent.Params": ("low", "high"),
    "StepCurrent.options": ("times_ms",),
    "StepCurrent.Params": ("amplitudes",),
    "Plasticity.options": ("rule", "clip_initial", "event_driven"),  # clip_initial: initial weights only
    # pair STDP (additive or weight-dependent) and astrocyte-modulated STDP, alone or clipped
    "Plasticity.forms": (PairForm,),
    "PairForm.traces": TRACES,
    "RasterSource.options": ("n_steps",),
    "Modulator.options": ("name", "tau", "size", "initial", "schedule", "drive", "drive_init", "form"),
    "Modulator.forms": (CountForm,),           # the NALSM astrocyte (neurosim.astrocytes.nalsm_astrocyte)
}


TABULATED = (GaussianCurrent, UniformCurrent, StepCurrent)


def _fields(obj) -> tuple:
    return tuple(f.name for f in dataclasses.fields(obj)) if dataclasses.is_dataclass(obj) else ()


def _reason(net, params, monitors, dt) -> str | None:
    """Why the fused engine cannot run this network and these monitors, or None."""
    if jax.dtypes.canonicalize_dtype(jnp.float64) == jnp.float64:
        return "64-bit mode (jax_enable_x64) is on, and the fused kernel computes in float32"
    if net.gap_junctions:
        return (f"gap junction {net.gap_junctions[0].name!r}: the fused kernel has no electrical synapses (a current "
                "read from presynaptic membrane potentials every step)")
    for pr in net.projections:
        if learns_delays(pr):
            return (f"projection {pr.name!r} learns its delays (max_delay_ms), which only the scan engine runs")
        if per_synapse_delays(pr):
            return (f"projection {pr.name!r} has per-synapse delays, which the fused kernel does not implement yet "
                    "(the scan and the native engine run them)")
    for p in net.populations:
        if type(p.model) is PoissonSource and PoissonSource.Params._fields == ALLOWED["PoissonSource.Params"] \
                and not _fields(p.model):
            continue
        if type(p.model) is RasterSource and _fields(p.model) == ALLOWED["RasterSource.options"] \
                and not RasterSource.Params._fields:
            continue
        if type(p.model) is not LIF:
            return (f"population {p.name!r} is a {type(p.model).__name__}; the fused kernel steps LIF neurons, "
                    "PoissonSource and RasterSource populations only")
        if _fields(p.model) != ALLOWED["LIF.options"] or LIFParams._fields != ALLOWED["LIFParams"]:
            return (f"population {p.name!r}: the LIF model has options {_fields(p.model)} and parameters "
                    f"{LIFParams._fields}; the fused kernel implements {ALLOWED['LIF.options']} and {ALLOWED['LIFParams']}")
    if len(net.projections) > _MAX_PROJECTIONS:
        return f"the network has {len(net.projections)} projections; the fused kernel takes at most {_MAX_PROJECTIONS}"
    for m in net.modulators:
        reason = _modulator_reason(m)
        if reason:
            return reason
    for pr in net.projections:
        where = f"projection {pr.name!r}"
        if not isinstance(pr.conn, CSR):
            return f"{where} uses {type(pr.conn).__name__} (procedural) connectivity; the fused kernel reads a stored CSR"
        if type(pr.synapse) is not Synapse:    # a subclass may override any method: the kernel runs Synapse's own
            what = f"a {type(pr.synapse).__name__}" if isinstance(pr.synapse, Synapse) else repr(pr.synapse)
            return (f"{where}: its synapse is {what}, not neurosim.synapses.Synapse itself; the fused kernel "
                    "runs Synapse's own code only (the native engine runs the model's own)")
        if _fields(pr.synapse) != ALLOWED["Synapse.options"] or SynapseParams._fields != ALLOWED["SynapseParams"]:
            return f"{where}: its synapse has options or parameters the fused kernel does not implement"
        if pr.synapse.kinetics not in ALLOWED["Synapse.kinetics"]:
            return (f"{where} has {pr.synapse.kinetics!r} synapse kinetics; the fused kernel has "
                    f"{' and '.join(ALLOWED['Synapse.kinetics'])} ones only")
        reason = _chain_reason(pr, where)
        if reason:
            return reason
        pp = params.projections[pr.name]
        if np.shape(pp.weights) not in ((), (pr.conn.nnz,)):
            return f"{where}: weights of shape {np.shape(pp.weights)} are neither one weight nor one per synapse"
        for f in ("tau", "e_rev"):
            if np.size(getattr(pp.synapse, f)) != 1:
                return f"{where}: synapse {f} has one value per neuron; the fused kernel takes one per projection"
    for inp in net.inputs:
        reason = _input_reason(inp, params.inputs[inp.name], dt)
        if reason:
            return reason
    for m in monitors:
        if isinstance(m, SAMPLED) and m.every < MIN_SAMPLE_STEPS:
            return (f"{type(m).__name__} monitors ({m.key!r}) sample every {m.every} step(s); the fused engine samples "
                    f"the state between kernel calls, at least {MIN_SAMPLE_STEPS} steps apart")
        if isinstance(m, OBSERVERS):
            return f"{type(m).__name__} monitors ({m.key!r}) are evaluated every step; the fused engine records Spikes and Rate"
    return None


def _modulator_reason(m) -> str | None:
    """Why the kernel cannot run a modulator, or None: it runs one global value whose only
    dynamics is a drive of a form in ``ALLOWED["Modulator.forms"]``."""
    where = f"modulator {m.name!r}"
    if type(m) is not Modulator or _fields(m) != ALLOWED["Modulator.options"]:
        return f"{where}: its options {_fields(m)} are not those the fused kernel implements"
    if not isinstance(m.form, ALLOWED["Modulator.forms"]) or m.drive != m.form.drive:
        return (f"{where} has a drive the fused kernel does not model (it runs the count-driven NALSM astrocyte, "
                "neurosim.astrocytes.nalsm_astrocyte, whose drive is its form's)")
    if m.tau is not None or m.schedule is not None or m.size is not None:
        return f"{where}: a decay, a schedule or one value per neuron, which the fused kernel does not model"
    return None


def _chain_reason(pr, where) -> str | None:
    """Why the kernel cannot run a projection's per-synapse mechanisms, or None: it runs none,
    or one event-driven :class:`~neurosim.plasticity.Plasticity` whose rule has a form of
    ``ALLOWED["Plasticity.forms"]`` (the scan runs that rule through the compiled pair-STDP
    kernel, which the fused kernel reproduces operation for operation)."""
    if not pr.chain:
        return None
    kinds = ", ".join(f"{m.kind} ({type(m).__name__})" for m in pr.chain)
    m = pr.chain[0]
    if len(pr.chain) > 1 or type(m) is not Plasticity:
        return f"{where} has {kinds}, which the fused kernel does not model"
    if _fields(m) != ALLOWED["Plasticity.options"]:
        return f"{where}: its Plasticity has options {_fields(m)}; the fused kernel implements {ALLOWED['Plasticity.options']}"
    if not isinstance(m.rule.form, ALLOWED["Plasticity.forms"]) or m.rule.form.trace not in ALLOWED["PairForm.traces"]:
        return (f"{where} has long-term plasticity by {m.rule.name}, which the fused kernel does not model (it runs "
                "pair STDP and astrocyte-modulated STDP, alone or followed by clip_weights)")
    if not m.event_driven:
        return f"{where}: Plasticity(event_driven=False) evaluates every synapse every step, which the fused kernel does not"
    if not getattr(pr.conn, "has_columns", False):
        return f"{where}: its CSR has no column index"
    return None


def _input_reason(inp, p, dt) -> str | None:
    """Why the kernel cannot run an input, or None: constant currents, and Poisson inputs with
    one rate and weight (and synapse parameters) and a per-step mean below the inversion limit."""
    src = inp.source
    if type(src) is ConstantCurrent and src.Params._fields == ALLOWED["ConstantCurrent.Params"]:
        return None
    where = f"input {inp.name!r}"
    if type(src) in TABULATED:
        kind = type(src).__name__
        if _fields(src) != ALLOWED[f"{kind}.options"] or src.Params._fields != ALLOWED[f"{kind}.Params"]:
            return f"{where}: its {kind} has options or parameters the fused kernel does not implement"
        return None
    if type(src) is not PoissonInput:
        return (f"{where} is a {type(src).__name__}; the fused kernel takes constant, Gaussian, uniform and step "
                "currents (ConstantCurrent, GaussianCurrent, UniformCurrent, StepCurrent) and Poisson inputs "
                "(PoissonInput)")
    if _fields(src) != ALLOWED["PoissonInput.options"] or src.Params._fields != ALLOWED["PoissonInput.Params"]:
        return f"{where}: its PoissonInput has options or parameters the fused kernel does not implement"
    syn = src.synapse
    if type(syn) is not Synapse:
        return f"{where}: its synapse is a {type(syn).__name__}, a subclass of Synapse; the fused kernel runs Synapse's only"
    if _fields(syn) != ALLOWED["Synapse.options"] or syn.kinetics not in ALLOWED["Synapse.kinetics"]:
        return f"{where}: its synapse has {syn.kinetics!r} kinetics; the fused kernel has exponential and delta ones"
    for name, x in (("rate_hz", p.rate_hz), ("weight", p.weight), ("synapse tau", p.synapse.tau),
                    ("synapse e_rev", p.synapse.e_rev)):
        if np.size(x) != 1:
            return f"{where}: {name} has one value per neuron; the fused kernel takes one per input"
    try:
        lam = float(np.asarray(src.mean_count(p, dt)))
    except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return f"{where}: its rate is traced (inside jit or grad), and the fused kernel needs its value"
    if not lam < POISSON_INVERSION_MAX:
        return (f"{where}: {lam:g} spikes per step on average; the fused kernel draws counts by inversion, below "
                f"{POISSON_INVERSION_MAX:g} per step (above, the scan's normal approximation)")
    return None


def state_reason(plan: FusedPlan, state: NetworkState) -> str | None:
    """Why ``state`` cannot be advanced by ``plan``'s kernel (wrong dtype or shape), or None."""
    sources = {name for name, _, _ in plan.sources}
    rasters = {name for name, _, _ in plan.rasters}
    for name, off, n in plan.pops:
        s = state.neurons.get(name)
        if name in sources:
            if getattr(s, "seed", None) is None or jnp.result_type(s.seed) != jnp.uint32 or np.shape(s.seed) != (2,):
                return f"state of population {name!r}: a PoissonSourceState with a uint32 seed of shape (2,) is needed"
            continue
        if name in rasters:
            r = getattr(s, "raster", None)
            if r is None or np.ndim(r) != 2 or np.shape(r)[1] != n or jnp.result_type(r) != jnp.float32:
                return f"state of population {name!r}: a RasterSourceState with a float32 (steps, {n}) raster is needed"
            continue
        for f in ("v", "t_left"):
            x = getattr(s, f, None)
            if x is None or np.shape(x) != (n,) or jnp.result_type(x) != jnp.float32:
                return f"state of population {name!r}: {f} must be a float32 array of shape ({n},)"
    for name, _, a, b, _, depth, _ in plan.projs:
        g = getattr(state.synapses.get(name), "g", None)
        if g is None or np.shape(g) != (b - a,) or jnp.result_type(g) != jnp.float32:
            return f"state of projection {name!r}: g must be a float32 array of shape ({b - a},)"
        buf = state.delays.get(name)
        if buf is None or np.shape(buf)[0] != depth or jnp.result_type(buf) != jnp.float32:
            return f"state of projection {name!r}: the delay buffer must be float32 with {depth} rows"
    for name, _, n, _, _ in plan.poisson:
        st = state.inputs.get(name)
        if getattr(st, "seed", None) is None or np.shape(st.seed) != (2,) or jnp.result_type(st.seed) != jnp.uint32:
            return f"state of input {name!r}: a PoissonInputState with a uint32 seed of shape (2,) is needed"
        if np.shape(st.g) != (n,) or jnp.result_type(st.g) != jnp.float32:
            return f"state of input {name!r}: g must be a float32 array of shape ({n},)"
    for name, q, n_pre, n_post, _, _, form in plan.plastic:
        w = state.weights.get(name)
        nnz = plan.net.projections[q].conn.nnz
        if w is None or np.shape(w) != (nnz,) or jnp.result_type(w) != jnp.float32:
            return f"state.weights[{name!r}] must be a float32 array of shape ({nnz},)"
        x, y = form.traces(state.dynamics[name]["plasticity"])
        if np.shape(x) != (n_pre,) or np.shape(y) != (n_post,):
            return f"state of the plasticity of {name!r}: traces of shapes ({n_pre},) and ({n_post},) are needed"
    for name, _ in plan.mods:
        ms = state.modulators.get(name)
        if not isinstance(ms, ModulatorState) or np.shape(ms.value) != () or len(ms.drive) != 2 or \
                any(np.shape(x) != () for x in ms.drive):
            return f"state of modulator {name!r}: a ModulatorState with a scalar value and drive state (a, prev) is needed"
    return None


# --------------------------------------------------------------------------- the call


def _decay(synapse, tau, dt):
    """exp(-dt / tau) as the scan's exponential kinetics compute it; 0 for delta kinetics (g = the
    last drive, which g * 0 + drive is exactly)."""
    if synapse.kinetics == "delta":
        return jnp.zeros((), jnp.float32)
    return jnp.exp(-dt / tau)


def _operands(plan: FusedPlan, params, state):
    """nparam f32[7, N or 1], proj_f f32[P, 4], weights f32[...] from ``params`` and, for plastic
    projections, ``state.weights`` (traced)."""
    dt, net = plan.dt, plan.net
    f32 = jnp.float32
    if plan.uniform:
        lp = params.neurons[plan.pops[0][0]]
        i_ext = jnp.zeros((), f32)
        for inp in net.inputs:
            if isinstance(inp.source, ConstantCurrent):
                i_ext = i_ext + jnp.asarray(params.inputs[inp.name].amplitude, f32)
        cols = [lp.v_rest, lp.v_reset, lp.v_th, 1.0 / lp.g_l, jnp.exp(-dt * lp.g_l / lp.c_m), lp.t_ref]
        nparam = jnp.stack([jnp.asarray(x, f32) for x in cols] + [i_ext]).reshape(7, 1)
    else:
        rows = [[] for _ in range(6)]
        source_names = {name for name, _, _ in plan.sources + plan.rasters}
        for name, _, n in plan.pops:
            lp = params.neurons[name]
            if name in source_names:   # the LIF update runs on them too, never spikes, and is overwritten
                cols = [0.0, 0.0, jnp.inf, 0.0, 0.0, 0.0]
            else:
                cols = [lp.v_rest, lp.v_reset, lp.v_th, 1.0 / lp.g_l, jnp.exp(-dt * lp.g_l / lp.c_m), lp.t_ref]
            for r, x in zip(rows, cols):
                r.append(jnp.broadcast_to(jnp.asarray(x, f32), (n,)))
        i_ext = jnp.zeros((plan.n,), f32)
        offsets = {name: off for name, off, _ in plan.pops}
        for inp in net.inputs:
            if not isinstance(inp.source, ConstantCurrent):
                continue
            ((tgt, a, b),) = net._refs[inp.name]
            amp = jnp.broadcast_to(jnp.asarray(params.inputs[inp.name].amplitude, f32), (b - a,))
            i_ext = i_ext.at[offsets[tgt] + a: offsets[tgt] + b].add(amp)
        nparam = jnp.stack([jnp.concatenate(r) for r in rows] + [i_ext])
    pf, ws = [], []
    for pr, (name, *_, per_syn) in zip(net.projections, plan.projs):
        pp = params.projections[name]
        tau = jnp.reshape(jnp.asarray(pp.synapse.tau, f32), ())
        e_rev = jnp.reshape(jnp.asarray(pp.synapse.e_rev, f32), ())
        w = jnp.asarray(state.weights[name] if pr.plastic else pp.weights, f32)
        if per_syn:
            ws.append(w)
            w = jnp.zeros((), f32)
        else:  # one weight (or a projection without synapses)
            w = jnp.reshape(w, ()) if w.ndim == 0 else jnp.zeros((), f32)
        pf.append(jnp.stack([_decay(pr.synapse, tau, dt), e_rev, w, jnp.zeros((), f32)]))
    proj_f = jnp.stack(pf) if pf else jnp.zeros((0, 4), f32)
    weights = jnp.concatenate(ws + [jnp.zeros((1,), f32)])
    return nparam, proj_f, weights


_TRACES, _MOD_STATE = 0, 16   # where traces and mod_state are among _extended_operands' operands


def _extended_operands(plan: FusedPlan, params, state):
    """The operands of neurosim_fused_lif_plastic after ``weights``: traces, plas_i, plas_f, rows,
    col_ptr, col_perm, pin_i, pin_f, pin_seed, pin_cdf (kernels/README.md)."""
    f32, dt, net = jnp.float32, plan.dt, plan.net
    traces, pl_f = [], []
    for name, q, _, _, _, _, form in plan.plastic:
        p = form.params(params.projections[name].dynamics["plasticity"])
        traces += list(form.traces(state.dynamics[name]["plasticity"]))
        o = form.opts
        a_plus, a_minus, dec_plus, dec_minus, jump_plus, jump_minus = form.coefficients(p, dt)
        pl_f.append(jnp.stack([jnp.asarray(x, f32).reshape(()) for x in (
            a_plus, a_minus, dec_plus, dec_minus, o.w_min, o.w_max, o.mu_plus, o.mu_minus, o.lo, o.hi, jump_plus,
            jump_minus)]))
    traces = jnp.concatenate([jnp.asarray(t, f32) for t in traces] + [jnp.zeros((1,), f32)])
    plas_f = jnp.stack(pl_f) if pl_f else jnp.zeros((0, 12), f32)
    pin_f, seeds, cdfs = [], [], []
    inputs = {inp.name: inp for inp in net.inputs}
    for name in plan.pin_names:
        inp = inputs[name]
        p = params.inputs[name]
        if type(inp.source) in TABULATED:   # a row of zeros: the kernel reads its values from the table
            pin_f.append(jnp.zeros((4,), f32))
            seeds.append(jnp.zeros((2,), jnp.uint32))
            cdfs.append(jnp.zeros((POISSON_TERMS,), f32))
            continue
        tau = jnp.reshape(jnp.asarray(p.synapse.tau, f32), ())
        pin_f.append(jnp.stack([_decay(inp.source.synapse, tau, dt), jnp.reshape(jnp.asarray(p.synapse.e_rev, f32), ()),
                                jnp.reshape(jnp.asarray(p.weight, f32), ()), jnp.zeros((), f32)]))
        seeds.append(jnp.asarray(state.inputs[name].seed, jnp.uint32))
        lam = jnp.maximum(jnp.reshape(jnp.asarray(inp.source.mean_count(p, dt), f32), ()), 0.0)
        cdfs.append(jnp.stack(poisson_cdf(lam)))
    pin_f = jnp.stack(pin_f) if pin_f else jnp.zeros((0, 4), f32)
    pin_seed = jnp.stack(seeds) if seeds else jnp.zeros((0, 2), jnp.uint32)
    pin_cdf = jnp.stack(cdfs) if cdfs else jnp.zeros((0, POISSON_TERMS), f32)
    cols = plan.columns if plan.columns else (jnp.zeros((1,), jnp.int32),) * 3
    # PoissonSource populations: (offset, n, step counter), their seeds, and p = rate dt per neuron
    src_i = jnp.asarray(np.asarray([[off, n] for _, off, n in plan.sources], np.int32).reshape(len(plan.sources), 2))
    src_t = jnp.stack([jnp.asarray(state.neurons[name].t, jnp.int32) for name, _, _ in plan.sources]) \
        if plan.sources else jnp.zeros((0,), jnp.int32)
    src_seed = jnp.stack([jnp.asarray(state.neurons[name].seed, jnp.uint32) for name, _, _ in plan.sources]) \
        if plan.sources else jnp.zeros((0, 2), jnp.uint32)
    src_p = jnp.concatenate([jnp.broadcast_to(jnp.asarray(params.neurons[name].rate_hz * dt * 1e-3, f32), (n,))
                             for name, _, n in plan.sources] + [jnp.zeros((1,), f32)])
    # count-driven modulators: [w, b, 1 / tau] and their state [value, a, prev]
    mod_f = jnp.asarray(np.asarray([[f.w, f.b, f.inv_tau] for _, f in plan.mods], np.float32).reshape(len(plan.mods), 3))
    mod_state = jnp.stack([jnp.stack([jnp.asarray(x, f32).reshape(()) for x in (
        state.modulators[name].value, *state.modulators[name].drive)]) for name, _ in plan.mods]) \
        if plan.mods else jnp.zeros((0, 3), f32)
    # RasterSource populations: (offset, n, rows) from the state's rasters, their clocks and rows
    rs = [state.neurons[name] for name, _, _ in plan.rasters]
    ras_i = jnp.asarray(np.asarray([[off, n, r.raster.shape[0]] for (_, off, n), r in zip(plan.rasters, rs)],
                                   np.int32).reshape(len(rs), 3))
    ras_t = jnp.stack([jnp.asarray(r.t, jnp.int32) for r in rs]) if rs else jnp.zeros((0,), jnp.int32)
    raster = jnp.concatenate([jnp.asarray(r.raster, f32).reshape(-1) for r in rs] + [jnp.zeros((1,), f32)])
    return (traces, jnp.asarray(plan.plas_i), plas_f, *cols, jnp.asarray(plan.pin_i), pin_f, pin_seed, pin_cdf,
            src_i, src_t, src_seed, src_p, jnp.asarray(plan.mod_i), mod_f, mod_state, ras_i, ras_t, raster)


def _flatten_state(plan: FusedPlan, state: NetworkState):
    sources = {name for name, _, _ in plan.sources + plan.rasters}
    z = {name: jnp.zeros((n,), jnp.float32) for name, _, n in plan.sources + plan.rasters}  # placeholders: no v
    v = jnp.concatenate([z[name] if name in sources else state.neurons[name].v for name, _, _ in plan.pops])
    t_left = jnp.concatenate([z[name] if name in sources else state.neurons[name].t_left for name, _, _ in plan.pops])
    # one padding entry each, so no operand is ever empty
    g = jnp.concatenate([state.synapses[p[0]].g for p in plan.projs] + [state.inputs[p[0]].g for p in plan.poisson]
                        + [jnp.zeros((t[3],), jnp.float32) for t in plan.tables] + [jnp.zeros((1,), jnp.float32)])
    dbuf = jnp.concatenate([state.delays[p[0]].reshape(-1) for p in plan.projs] + [jnp.zeros((1,), jnp.float32)])
    return v, t_left, g, dbuf


def _unflatten_state(plan: FusedPlan, state: NetworkState, n_steps, v, t_left, g, dbuf, extra=None):
    neurons = dict(state.neurons)
    sources = {name for name, _, _ in plan.sources + plan.rasters}
    for name, off, n in plan.pops:
        if name in sources:
            neurons[name] = state.neurons[name]._replace(t=state.neurons[name].t + jnp.asarray(n_steps, jnp.int32))
        else:
            neurons[name] = state.neurons[name]._replace(v=v[off:off + n], t_left=t_left[off:off + n])
    synapses, delays = dict(state.synapses), dict(state.delays)
    d_off = 0
    for name, _, a, b, g_off, depth, _ in plan.projs:
        synapses[name] = state.synapses[name]._replace(g=g[g_off:g_off + b - a])
        shape = state.delays[name].shape
        size = math.prod(shape)
        delays[name] = dbuf[d_off:d_off + size].reshape(shape)
        d_off += size
    inputs = dict(state.inputs)
    for name, _, n, g_off, _ in plan.poisson:
        inputs[name] = state.inputs[name]._replace(g=g[g_off:g_off + n])
    weights, dynamics, modulators = dict(state.weights), dict(state.dynamics), dict(state.modulators)
    if extra is not None:
        w, traces, mod_state = extra
        for name, q, n_pre, n_post, x_off, y_off, form in plan.plastic:
            w_off, nnz = int(plan.proj_i[q][_W_OFF]), plan.net.projections[q].conn.nnz
            weights[name] = w[w_off:w_off + nnz]
            dyn = dict(state.dynamics[name])
            dyn["plasticity"] = form.with_traces(dyn["plasticity"], traces[x_off:x_off + n_pre],
                                                 traces[y_off:y_off + n_post])
            dynamics[name] = dyn
        for k, (name, _) in enumerate(plan.mods):
            modulators[name] = ModulatorState(mod_state[k, 0], (mod_state[k, 1], mod_state[k, 2]))
    return state._replace(t=state.t + jnp.asarray(n_steps, state.t.dtype), neurons=neurons, synapses=synapses,
                          delays=delays, inputs=inputs, weights=weights, dynamics=dynamics, modulators=modulators)


def _tables(plan: FusedPlan, n_steps: int, params, state):
    """The tabulated currents of ``n_steps`` steps, f32[n_steps, plan.table_cols], each input's
    values computed by its own ``current`` as the scan's step calls it (with the key of that
    step, ``fold_in(sub, input index)``, ``key, sub = split(key)`` once per step), and the key
    after those steps. A ``lax.scan`` over the steps: a ``vmap`` over them draws the same numbers
    but runs threefry ~4x slower on a CPU."""
    f32 = jnp.float32
    inputs = {inp.name: inp for inp in plan.net.inputs}

    def one(carry, _):
        key, t = carry
        key, sub = jax.random.split(key)
        parts = []
        for name, idx, _, n, _ in plan.tables:
            _, i = inputs[name].source.current(params.inputs[name], state.inputs[name], t, plan.dt,
                                               jax.random.fold_in(sub, idx), jnp.zeros((n,), f32))
            parts.append(jnp.broadcast_to(jnp.asarray(i, f32), (n,)))
        return (key, t + 1), jnp.concatenate(parts)

    (key, _), table = jax.lax.scan(one, (state.key, jnp.asarray(state.t)), None, length=n_steps)
    return table, key


def _call(plan: FusedPlan, n_steps: int, params, state, indptr, indices):
    v, t_left, g, dbuf = _flatten_state(plan, state)
    nparam, proj_f, weights = _operands(plan, params, state)
    f32 = jax.ShapeDtypeStruct
    attrs = dict(n_steps=np.int64(n_steps), half_dt=np.float32(0.5 * plan.dt), dt=np.float32(plan.dt))
    head = (v, t_left, g, dbuf, jnp.asarray(state.t, jnp.int32), nparam, jnp.asarray(plan.proj_i), proj_f, indptr,
            indices, weights)
    if plan.extended:
        extra = _extended_operands(plan, params, state)
        traces, mod_state = extra[_TRACES], extra[_MOD_STATE]
        if plan.tables:
            table, key = _tables(plan, n_steps, params, state)
        else:   # the key is not used by these steps (module docstring)
            table, key = jnp.zeros((1, 1), jnp.float32), state.key
        out_types = tuple(f32(x.shape, jnp.float32) for x in (v, t_left, g, dbuf, weights, traces, mod_state)) + (
            f32((n_steps, plan.n_words), jnp.uint32),)
        # results 0-6 are operands v, t_left, g, dbuf, weights (10), traces and mod_state, updated in place
        aliases = {0: 0, 1: 1, 2: 2, 3: 3, len(head) - 1: 4, len(head) + _TRACES: 5, len(head) + _MOD_STATE: 6}
        call = jax.ffi.ffi_call(PLASTIC_TARGET, out_types, input_output_aliases=aliases)
        v, t_left, g, dbuf, weights, traces, mod_state, bits = call(*head, *extra, table, **attrs)
        new = _unflatten_state(plan, state, n_steps, v, t_left, g, dbuf, (weights, traces, mod_state))
        return new._replace(key=key), bits
    out_types = (f32(v.shape, jnp.float32), f32(t_left.shape, jnp.float32), f32(g.shape, jnp.float32),
                 f32(dbuf.shape, jnp.float32), f32((n_steps, plan.n_words), jnp.uint32))
    call = jax.ffi.ffi_call(TARGET, out_types, input_output_aliases={0: 0, 1: 1, 2: 2, 3: 3})
    v, t_left, g, dbuf, bits = call(v, t_left, g, dbuf, jnp.asarray(state.t, jnp.int32), nparam,
                                    jnp.asarray(plan.proj_i), proj_f, indptr, indices, weights,
                                    n_steps=np.int64(n_steps), half_dt=np.float32(0.5 * plan.dt),
                                    dt=np.float32(plan.dt))
    return _unflatten_state(plan, state, n_steps, v, t_left, g, dbuf), bits


def fused_fn(plan: FusedPlan, n_steps: int):
    """The jitted ``(params, state, indptr, indices) -> (state, bits)`` advancing
    ``n_steps``; ``bits`` is u32[n_steps, ceil(N / 32)], bit ``n % 32`` of word ``n // 32``
    neuron n's spike (populations concatenated in network order)."""
    fn = plan._fns.get(n_steps)
    if fn is None:
        fn = plan._fns[n_steps] = jax.jit(lambda p, s, ip, ix: _call(plan, n_steps, p, s, ip, ix))
    return fn


def run_fused(plan: FusedPlan, params: dict, state: NetworkState, n_steps: int):
    """Advance ``state`` by ``n_steps`` with the fused kernel: ``(state, bits)``, the state
    the scan engine would produce (the ``key`` advanced only with tabulated currents, see the
    module docstring) and the
    spike bits of every step (see :func:`fused_fn`; :func:`spike_events` decodes them)."""
    if not isinstance(plan, FusedPlan):
        raise ValueError(f"plan must be a FusedPlan from fused_plan(...), got {plan!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    reason = state_reason(plan, state)
    if reason:
        raise ValueError(reason)
    return fused_fn(plan, int(n_steps))(params, state, plan.indptr, plan.indices)


def spike_counts(plan: FusedPlan, bits, pop: str):
    """The number of spikes of population ``pop`` in each step of ``bits`` (the kernel's spike
    bits, :func:`fused_fn`): an int32 array (n_steps,), computed with jax (inside ``jit`` too)."""
    where = {name: (off, n) for name, off, n in plan.pops}
    if pop not in where:
        raise ValueError(f"spike_counts: the plan has no population {pop!r}; it has {sorted(where)}")
    off, n = where[pop]
    idx = np.arange(32 * plan.n_words)
    inside = ((idx >= off) & (idx < off + n)).reshape(plan.n_words, 32)
    mask = jnp.asarray((inside.astype(np.uint64) << np.arange(32, dtype=np.uint64)).sum(1).astype(np.uint32))
    bits = jnp.asarray(bits, jnp.uint32)
    mask = mask.reshape((1,) * (bits.ndim - 1) + (plan.n_words,))
    return jnp.sum(jax.lax.population_count(bits & mask), axis=-1, dtype=jnp.int32)


# --------------------------------------------------------------------------- simulate


class FusedEngine(Runner):
    """The fused kernel as an engine of :func:`neurosim.network.simulate.drive` (which writes the
    chunks, progress, timings and monitors once for every engine): chunks of up to 20,000
    steps, spikes decoded on the host from the kernel's spike bits; ``Trace`` and ``Weights``
    monitors read from the state at the chunk ends, the chunks cut at their sampling steps
    (every ``every`` steps, at least ``MIN_SAMPLE_STEPS``, and the end of the run)."""

    name = "fused"

    def __init__(self, plan: FusedPlan, monitors, n_steps: int, chunk_steps: int | None, max_chunk_bytes: float):
        self.fplan, self.n_steps = plan, n_steps
        longest = max(1, min(int(max_chunk_bytes // (4 * plan.n_words)), 20_000))
        if chunk_steps is None:
            chunk_steps = longest
        if plan.tables:   # the tabulated currents of a call: at most TABLE_BYTES
            longest = max(1, min(longest, int(TABLE_BYTES // (4 * max(plan.table_cols, 1)))))
            chunk_steps = min(chunk_steps, longest)
        # Trace and Weights monitors read the state at chunk ends: chunks of g steps at most
        # (g the gcd of their `every`), or a divisor of g when g is longer than a chunk may be
        self.sampled = [m for m in monitors if isinstance(m, SAMPLED)]
        if self.sampled:
            chunk_steps = sampling_chunk(min(chunk_steps, longest), [m.every for m in self.sampled])
        self.plan = [chunk_steps] * (n_steps // chunk_steps) + ([n_steps % chunk_steps] if n_steps % chunk_steps else [])
        self.spike_pops = sorted({m.pop for m in monitors if isinstance(m, Spikes)})
        self.rate_pops = sorted({m.pop for m in monitors if isinstance(m, Rate)})
        self.where = {name: (off, n) for name, off, n in plan.pops}

    @staticmethod
    def steps(item) -> int:
        return item

    def cache_key(self, item, params, state):
        return ("fused", self.fplan.platform, signature(params, state), self.fplan.dt, item)

    def compile(self, item, params, state):
        return item, fused_fn(self.fplan, item).lower(params, state, self.fplan.indptr, self.fplan.indices).compile()

    def run(self, fn, params, state, done):
        item, fn = fn
        state, bits = fn(params, state, self.fplan.indptr, self.fplan.indices)
        # the sampled monitors due at this chunk's end, done + item steps into the run
        end = done + item
        samples = {m.key: m.read(state) for m in self.sampled if sample_due(end, m.every, self.n_steps)}
        return state, ((bits if (self.spike_pops or self.rate_pops) else None), samples)

    def to_host(self, raw, item, done):
        bits, samples = raw
        sampled = {key: (np.full((1,), item, np.int64), np.asarray(value)[None]) for key, value in samples.items()}
        spikes, rates = spikes_and_rates(bits, item, self.where, self.spike_pops, self.rate_pops, self.fplan.dt)
        return Chunk(item, spikes, rates, sampled, {})


