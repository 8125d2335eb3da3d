from __future__ import annotations

import pandas as pd
import pytest

from training.data.prepare import Prepared, prepare


@pytest.fixture
def checkerboard() -> Prepared:
    """Two tastes: users a* buy items r0..r4 (red), users b* buy b0..b4 (blue).

    User a0 has bought r0..r3 only, so the right next item for a0 is r4; b0 symmetric with b4.
    n0 is a new red item nobody has touched; only content can find it.
    """
    rows = []
    t = pd.Timestamp("2024-01-01", tz="UTC")
    for g in ("r", "b"):
        for u in range(8):
            user = f"{'a' if g == 'r' else 'b'}{u}"
            items = range(4) if u == 0 else range(5)
            for k, i in enumerate(items):
                rows.append((user, f"{g}{i}", "purchase", t + pd.Timedelta(hours=u * 10 + k)))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp"])
    catalog = [
        (f"{g}{i}", f"{'crimson red' if g == 'r' else 'navy blue'} shirt {i}", "red" if g == "r" else "blue")
        for g in ("r", "b")
        for i in range(5)
    ]
    catalog.append(("n0", "crimson red shirt new", "red"))
    items = pd.DataFrame(catalog, columns=["item_id", "title", "category"])
    for col in ("brand", "tags", "description"):
        items[col] = ""
    return prepare(events, items)
