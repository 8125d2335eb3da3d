"""unique_sorted is np.unique for integer arrays (any order, duplicates, empty, one value)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from training.arrays import unique_sorted


@given(arrays(np.int64, st.integers(0, 300), elements=st.integers(-(2**40), 2**40)))
def test_unique_sorted_is_np_unique(values: np.ndarray) -> None:
    out = unique_sorted(values)
    assert out.dtype == values.dtype
    np.testing.assert_array_equal(out, np.unique(values))


def test_unique_sorted_leaves_its_input_alone() -> None:
    values = np.array([3, 1, 3, 2], dtype=np.int64)
    assert unique_sorted(values).tolist() == [1, 2, 3]
    assert values.tolist() == [3, 1, 3, 2]
