"""CDNOW purchase logs -> the event contract (every row is a purchase; price is the dollar value)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from training.data import columns as C
from training.failures import InputFileError


def read(path: str | Path) -> pd.DataFrame:
    """Sample (5 columns) or master (4 columns) file; returns customer, date, cds, value."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str)
    if raw.shape[1] == 5:
        raw = raw[[0, 2, 3, 4]]
    elif raw.shape[1] != 4:
        raise InputFileError(path, f"expected 4 or 5 whitespace-separated columns, got {raw.shape[1]}")
    raw.columns = ["customer", "date", "cds", "value"]
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d", utc=True, errors="coerce")
    if raw["date"].isna().any():
        bad = int(raw["date"].isna().idxmax())
        raise InputFileError(path, f"row {bad + 1}: date is not yyyymmdd")
    raw["value"] = raw["value"].astype(float)
    raw["cds"] = raw["cds"].astype(int)
    return raw


def convert(src: str | Path, out: str | Path) -> dict[str, int]:
    # Same-day purchases are one transaction in the CLV models; aggregating them here also keeps
    # identical rows (the log has some) from being dropped as exact duplicates by the loader.
    raw = read(src).groupby(["customer", "date"], as_index=False, sort=True)[["cds", "value"]].sum()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    events = pd.DataFrame(
        {
            C.USER_ID: raw["customer"].str.lstrip("0").replace("", "0"),
            C.ITEM_ID: "cd",
            C.EVENT: C.PURCHASE,
            C.TIMESTAMP: raw["date"].dt.strftime("%Y-%m-%dT00:00:00Z"),
            C.QUANTITY: 1,  # price is the day's dollar total
            C.PRICE: raw["value"],
        }
    )
    events.to_csv(out / "events.csv", index=False)
    items = pd.DataFrame({C.ITEM_ID: ["cd"], C.TITLE: ["CD"], C.CATEGORY: ["music"]})
    items.to_csv(out / "items.csv", index=False)
    return {"events": len(events), "customers": int(events[C.USER_ID].nunique())}
