"""IdMap.to_index is a lookup of each id on its own, whatever holds the ids (Arrow-backed column, object array,
list), with unknown and missing ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from training.data.idmap import IdMap

_IDS = st.text(alphabet="ab1é", max_size=3)


@given(st.lists(_IDS, min_size=0, max_size=30, unique=True), st.lists(_IDS | st.none(), max_size=60))
def test_to_index_looks_every_id_up(known: list[str], asked: list[str | None]) -> None:
    ids = IdMap(known)
    position = {k: n for n, k in enumerate(known)}
    expected = [position.get(a, -1) if a is not None else -1 for a in asked]
    holders = [asked, np.array(asked, dtype=object), pd.Series(asked, dtype="str"), pd.Series(asked, dtype=object)]
    for holder in holders:
        out = ids.to_index(holder, missing_ok=True)
        assert out.dtype == np.int64
        assert out.tolist() == expected


def test_unknown_ids_raise_unless_allowed() -> None:
    ids = IdMap(["a", "b"])
    assert ids.to_index(pd.Series(["b", "a", "b"], dtype="str")).tolist() == [1, 0, 1]
    with pytest.raises(KeyError, match="'zz'"):
        ids.to_index(["a", "zz"])
    assert ids.to_index(iter(["b", "zz"]), missing_ok=True).tolist() == [1, -1]
    assert ids.to_index([]).tolist() == []
