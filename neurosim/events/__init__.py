"""Stage 2 of a step: spikes x connectivity -> synaptic drive."""
from . import connect, delays, ops
from .connect import all_to_all, fixed_indegree, fixed_probability, from_arrays, one_to_one
from .csr import CSR, validate_csr
from .delays import normal_delays
from .jitconn import JitConn
from .propagate import available_backends, default_capacity, propagate, propagate_transposed, register_backend
from .reference import (
    csr_event_reference,
    csr_transposed_reference,
    event_matvec_reference,
    matvec_dense_reference,
    matvec_transposed_reference,
)

__all__ = [
    "CSR", "JitConn", "all_to_all", "available_backends", "connect", "csr_event_reference", "csr_transposed_reference",
    "default_capacity", "delays", "event_matvec_reference",
    "fixed_indegree", "fixed_probability", "from_arrays", "matvec_dense_reference", "matvec_transposed_reference",
    "normal_delays", "one_to_one", "ops", "propagate", "propagate_transposed", "register_backend", "validate_csr",
]
