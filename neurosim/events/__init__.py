"""Stage 2 of a step: spikes x connectivity -> synaptic drive."""
from . import connect
from .connect import all_to_all, fixed_indegree, fixed_probability, from_arrays, one_to_one
from .csr import CSR, validate_csr
from .propagate import available_backends, default_capacity, propagate, register_backend
from .reference import event_matvec_reference, matvec_dense_reference

__all__ = [
    "CSR", "all_to_all", "available_backends", "connect", "default_capacity", "event_matvec_reference",
    "fixed_indegree", "fixed_probability", "from_arrays", "matvec_dense_reference", "one_to_one",
    "propagate", "register_backend", "validate_csr",
]
