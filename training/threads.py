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
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_lent: list[tuple[int, Callable[[], bool]]] = []  # (CPUs, "is the borrower still working?")
_ceiling: int | None = None  # the CPUs a process started beside another may use
_thread = threading.local()  # .ceiling: the CPUs one of several threads working side by side may use


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
    share = getattr(_thread, "ceiling", None)
    if share is not None:
        n = min(n, share)
    return max(1, n)


@contextmanager
def at_most(n: int) -> Iterator[None]:
    """In this thread, while inside: the libraries use at most `n` CPUs (threads of a pool working side by
    side each take their share, instead of each asking for all of them)."""
    before = getattr(_thread, "ceiling", None)
    _thread.ceiling = max(1, n) if before is None else min(before, max(1, n))
    try:
        yield
    finally:
        _thread.ceiling = before


def lend(n: int, busy: Callable[[], bool]) -> None:
    """Leave `n` CPUs to another process while `busy()` is true."""
    _lent.append((n, busy))


def confine(n: int) -> None:
    """In a process started beside another: use at most `n` CPUs, and none of the parent's loans."""
    global _ceiling
    _lent.clear()
    _ceiling = max(1, n)
