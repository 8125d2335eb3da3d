"""How many threads the CPU-bound libraries get, where more threads give the same result.

implicit's ALS solves each user's (and then each item's) least squares independently, with the Gram
matrix computed before the parallel loop, so its factors are identical at any thread count (checked:
bit for bit at one and two threads on a 60k x 20k shop); two threads fitted it 1.9x faster here.
LightGBM training and BLAS stay at one thread (training/ranking/ranker.py, training/candidates/cf.py):
their barriers made two threads slower on this shared two-core machine.

`cpus()` is asked at every call, not once at import: while another process works beside this one
(training/beside.py) each gets its share of the CPUs, and oversubscribed OpenMP threads spin against
each other (up to 9x slower here).
"""

from __future__ import annotations

import os
from collections.abc import Callable

_lent: list[tuple[int, Callable[[], bool]]] = []  # (CPUs, "is the borrower still working?")
_ceiling: int | None = None  # the CPUs a process started beside another may use


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, as a container or taskset sets it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def cpus() -> int:
    """CPUs this process's libraries may use now: the available ones, less those lent to a process
    working beside it (given back once it has finished), at most a borrower's own share."""
    _lent[:] = [(n, busy) for n, busy in _lent if busy()]
    n = available_cpus() - sum(n for n, _ in _lent)
    if _ceiling is not None:
        n = min(n, _ceiling)
    return max(1, n)


def lend(n: int, busy: Callable[[], bool]) -> None:
    """Leave `n` CPUs to another process while `busy()` is true."""
    _lent.append((n, busy))


def confine(n: int) -> None:
    """In a process started beside another: use at most `n` CPUs, and none of the parent's loans."""
    global _ceiling
    _lent.clear()
    _ceiling = max(1, n)
