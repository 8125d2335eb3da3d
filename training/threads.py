"""How many threads the CPU-bound libraries get, where more threads give the same result.

implicit's ALS solves each user's (and then each item's) least squares independently, with the Gram
matrix computed before the parallel loop, so its factors are identical at any thread count (checked:
bit for bit at one and two threads on a 60k x 20k shop); two threads fitted it 1.9x faster here.
LightGBM training and BLAS stay at one thread (training/ranking/ranker.py, training/candidates/cf.py):
their barriers made two threads slower on this shared two-core machine.
"""

from __future__ import annotations

import os


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, as a container or taskset sets it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


ALS_THREADS = available_cpus()
