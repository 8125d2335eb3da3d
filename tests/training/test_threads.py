"""ALS may use every CPU because implicit's factors do not depend on the thread count."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from training.threads import available_cpus, cpus, lend


def test_implicit_als_factors_are_the_same_at_any_thread_count() -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    rng = np.random.default_rng(3)
    m = sp.random(400, 150, density=0.05, random_state=3, format="csr", dtype=np.float32)
    m.data = np.log1p(rng.integers(1, 5, m.nnz)).astype(np.float32)
    factors = []
    for threads in (1, 2, 4):
        model = AlternatingLeastSquares(factors=16, iterations=5, random_state=7, num_threads=threads)
        model.fit(m, show_progress=False)
        factors.append((np.asarray(model.user_factors), np.asarray(model.item_factors)))
    for users, items in factors[1:]:
        np.testing.assert_array_equal(users, factors[0][0])
        np.testing.assert_array_equal(items, factors[0][1])


def test_the_libraries_get_the_cpus_this_process_may_use_less_those_lent() -> None:
    assert cpus() == available_cpus() >= 1
    busy = [True]
    lend(1, lambda: busy[0])
    assert cpus() == max(1, available_cpus() - 1)  # never none, even on one CPU
    busy[0] = False
    assert cpus() == available_cpus()  # given back once the borrower is done


def test_a_thread_working_beside_others_gets_its_share_only_inside() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from training.threads import at_most

    def inside() -> tuple[int, int]:
        with at_most(1):
            with at_most(4):  # nested: never more than the enclosing share
                nested = cpus()
            return cpus(), nested

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda _: inside(), range(4))) == [(1, 1)] * 4
    assert cpus() == available_cpus()  # other threads, and this one outside, are not held back
