"""Independent numpy/scipy reference implementations that neurosim models are tested against.

Import them as ``from reference.pinsky_rinzel import simulate`` (pytest puts ``tests/`` on the path).
"""
