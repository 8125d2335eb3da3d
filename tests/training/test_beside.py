"""A function in another interpreter beside the job: its value, its errors, its death and its share of the CPUs."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
import scipy.sparse as sp

from training import threads
from training.beside import Beside, RemoteTraceback
from training.failures import ModelFitError, TrainingError


def _total(values: list[int]) -> tuple[int, int]:
    return sum(values), os.getpid()


def test_the_copy_computes_on_the_parents_arguments_and_returns_its_value() -> None:
    job = Beside(_total, list(range(1000)))
    total, pid = job.result(timeout=120)
    assert total == 499500 and pid != os.getpid()
    assert job.seconds is not None and job.seconds >= 0


def _fit_als(threads_: int) -> np.ndarray:
    from implicit.cpu.als import AlternatingLeastSquares

    m = sp.random(2000, 300, density=0.05, random_state=3, format="csr", dtype=np.float32)
    model = AlternatingLeastSquares(factors=8, iterations=2, random_state=7, num_threads=threads_)
    model.fit(m, show_progress=False)
    return np.asarray(model.item_factors)


def test_openmp_works_in_the_copy_after_the_parent_used_it() -> None:
    # A forked copy hangs here (libgomp's pool does not survive fork): the reason the copy is spawned.
    here = _fit_als(2)
    there = Beside(_fit_als, 2, cpus=2).result(timeout=120)
    np.testing.assert_array_equal(here, there)


def _fail() -> None:
    raise ModelFitError("als: NaN factors")


def test_an_error_in_the_copy_is_raised_again_with_its_type_and_traceback() -> None:
    job = Beside(_fail)
    with pytest.raises(ModelFitError, match="NaN factors") as info:
        job.result(timeout=120)
    assert info.value.exit_code == 3
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "_fail" in str(info.value.__cause__)


class _Unpicklable(Exception):
    def __init__(self, a: str, b: str) -> None:  # pickling rebuilds it with one argument: it cannot come back
        super().__init__(f"{a} {b}")


def _fail_oddly() -> None:
    raise _Unpicklable("half", "open")


def test_an_error_that_cannot_travel_arrives_as_its_text() -> None:
    with pytest.raises(RuntimeError, match="_Unpicklable: half open"):
        Beside(_fail_oddly).result(timeout=120)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_copy_killed_without_a_result_is_a_training_error_with_its_exit_code() -> None:
    with pytest.raises(TrainingError, match=r"evaluation process ended without a result \(exit code -9"):
        Beside(_die, name="evaluation").result(timeout=120)


def _cpus_inside() -> int:
    return threads.cpus()


def _sleep() -> None:
    time.sleep(60)


@pytest.mark.skipif(threads.available_cpus() < 2, reason="needs two CPUs to share")
def test_the_copy_gets_its_share_of_the_cpus_and_gives_it_back() -> None:
    all_cpus = threads.available_cpus()
    assert threads.cpus() == all_cpus
    job = Beside(_cpus_inside, cpus=1)
    assert job.result(timeout=120) == 1  # the copy: its share only
    assert threads.cpus() == all_cpus  # the parent: every CPU again once the copy has ended
    sleeper = Beside(_sleep, cpus=1)
    assert threads.cpus() == all_cpus - 1  # while it works
    sleeper.cancel()
    assert threads.cpus() == all_cpus
