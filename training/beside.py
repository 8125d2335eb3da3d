"""A function run in a fresh copy of the job's interpreter while the job goes on, on its own share of the CPUs.

The test-holdout evaluation fits the whole ranking stage a second time, on the training part; it needs
nothing the serving stage computes, and most of either is single-threaded Python and numpy (what the
job runs there: training/beside_work.py). The copy is
spawned, not forked: a process forked after an OpenMP library (implicit, LightGBM, faiss, scikit-learn's
k-means) has run a parallel region hangs in its next one (GNU libgomp keeps no state across fork;
tests/training/test_beside.py), and a caller cannot know what ran before. The arguments are pickled on
the way in (a few seconds for millions of events) and the result on the way back; where the memory for
a second working set is not there, the caller runs the function in sequence instead
(`training.pipeline.evaluation_beside`).

An exception in the copy is raised again in the parent with the copy's traceback as its cause; a copy
that dies without one (killed, out of memory) is a TrainingError naming its exit code. The copy ends
with its parent (Linux: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from training import threads
from training.failures import TrainingError


class RemoteTraceback(Exception):
    """The traceback of an exception raised in the copy (the cause of the one raised again)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0])


def _end_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _child(send, fn: Callable, args: tuple, kwargs: dict, cpus: int) -> None:
    _end_with_parent()
    threads.confine(cpus)
    t = time.perf_counter()
    try:
        value = fn(*args, **kwargs)
        message = ("ok", value, time.perf_counter() - t)
    except BaseException as exc:  # everything goes back to the parent, which decides
        text = "".join(traceback.format_exception(exc))
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # an exception that does not survive pickling arrives as its text
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        message = ("error", (exc, text), time.perf_counter() - t)
    send.send(message)
    send.close()


class Beside:
    """`fn(*args, **kwargs)` (all picklable) started in a fresh interpreter; `result()` waits for its value.

    The parent lends the copy `cpus` of its CPUs until the copy ends (`training.threads.cpus`)."""

    def __init__(self, fn: Callable, *args: Any, cpus: int = 1, name: str = "beside", **kwargs: Any) -> None:
        ctx = mp.get_context("spawn")
        self.name = name
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(send, fn, args, kwargs, cpus), name=name, daemon=True)
        self._proc.start()
        send.close()  # the parent's copy: the pipe then reports the child's end as end-of-file
        threads.lend(cpus, self._proc.is_alive)
        self.seconds: float | None = None

    def result(self, timeout: float | None = None) -> Any:
        """The copy's value (its exception raised again); TimeoutError after `timeout` seconds without one."""
        if timeout is not None and not self._recv.poll(timeout):
            raise TimeoutError(f"the {self.name} process gave no result in {timeout:g} s")
        try:
            status, value, self.seconds = self._recv.recv()
        except EOFError:
            self._proc.join()
            raise TrainingError(
                f"the {self.name} process ended without a result (exit code {self._proc.exitcode}; "
                "a negative code is the signal that killed it, e.g. -9 when the system ran out of memory)"
            ) from None
        finally:
            self._recv.close()
        self._proc.join()
        if status == "error":
            exc, text = value
            raise exc from RemoteTraceback(text)
        return value

    def cancel(self) -> None:
        """Stop the copy (the parent failed: its result is not wanted)."""
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join()
        self._recv.close()
