"""The native engine: each model's own JAX functions lowered to C++ and compiled into one program
per network. In the order data flows: ``lower`` (a model function -> C++ statements),
``program`` (the step loop around them), ``compiler`` (compile once, cache on disk), ``engine``
(the plan, the runner of ``simulate``'s driver). docs/engines.md tells the whole story."""
