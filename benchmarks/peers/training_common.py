"""What the training peer runners (spyx_training.py, snntorch_training.py) share: their
arguments and how a forward + backward call is timed. Standard library and numpy only: each
runner runs in its peer's own venv and never imports neurosim."""
from __future__ import annotations

import argparse
import time

import numpy as np


def arguments():
    """``--workload lif --neurons N --batch B --steps T --repeats R``, parsed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", choices=["lif"], default="lif")
    ap.add_argument("--neurons", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    return ap.parse_args()


def timed(call, repeats: int):
    """``(first value, median seconds, compile seconds)`` of ``call()`` (which must block until
    its result is ready): the first call's extra time over the median is compilation."""
    t0 = time.perf_counter()
    value = call()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    run_s = float(np.median(times))
    return value, run_s, max(first - run_s, 0.0)
