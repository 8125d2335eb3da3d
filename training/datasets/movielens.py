"""MovieLens-100k -> the event contract (rating >= 4 is a purchase, else a view)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from training.data import columns as C
from training.failures import InputFileError

GENRE_COLUMNS = 19


def _read(path: Path, sep: str, names: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise InputFileError(path, "file not found (expected the MovieLens-100k folder)")
    return pd.read_csv(path, sep=sep, names=names, header=None, encoding="latin-1", dtype=str)


def convert(src: str | Path, out: str | Path) -> dict[str, int]:
    """Write events.csv, items.csv and users.csv into `out`; returns row counts."""
    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ratings = _read(src / "u.data", "\t", ["user", "item", "rating", "ts"])
    genres = _read(src / "u.genre", "|", ["genre", "code"]).dropna()
    genre_names = list(genres.sort_values("code", key=lambda s: s.astype(int))["genre"])
    item_cols = ["item", "title", "release", "video_release", "url"] + [f"g{i}" for i in range(GENRE_COLUMNS)]
    movies = _read(src / "u.item", "|", item_cols)
    users = _read(src / "u.user", "|", ["user", "age", "gender", "occupation", "zip"])

    events = pd.DataFrame(
        {
            C.USER_ID: ratings["user"],
            C.ITEM_ID: ratings["item"],
            C.EVENT: ratings["rating"].astype(int).map(lambda r: C.PURCHASE if r >= 4 else C.VIEW),
            C.TIMESTAMP: ratings["ts"],
        }
    )
    flags = movies[[f"g{i}" for i in range(GENRE_COLUMNS)]].fillna("0").astype(int).to_numpy()
    tags = ["|".join(genre_names[j] for j in range(GENRE_COLUMNS) if row[j]) for row in flags]
    first = [t.split("|")[0] if t else "unknown" for t in tags]
    years = movies["release"].fillna("").str[-4:]
    items = pd.DataFrame(
        {
            C.ITEM_ID: movies["item"],
            C.TITLE: movies["title"].fillna(""),
            C.CATEGORY: first,
            C.TAGS: tags,
            C.DESCRIPTION: ("released " + years).where(years != "", ""),
        }
    )
    user_attrs = users.rename(columns={"user": C.USER_ID})
    events.to_csv(out / "events.csv", index=False)
    items.to_csv(out / "items.csv", index=False)
    user_attrs.to_csv(out / "users.csv", index=False)
    return {"events": len(events), "items": len(items), "users": len(user_attrs)}
