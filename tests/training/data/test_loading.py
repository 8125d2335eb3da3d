from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from training.data.loading import load_events, load_items, load_users
from training.failures import InputFileError

HEADER = "user_id,item_id,event,timestamp,quantity,price\n"
GOOD = "u1,i1,view,2024-01-01T10:00:00Z,1,10\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",i1,view,2024-01-01T10:00:00Z,1,1", "missing_user_id"),
        ("u2,,view,2024-01-01T10:00:00Z,1,1", "missing_item_id"),
        ("u2,i1,like,2024-01-01T10:00:00Z,1,1", "unknown_event"),
        ("u2,i1,view,yesterday,1,1", "bad_timestamp"),
        ("u2,i1,view,,1,1", "bad_timestamp"),
        ("u2,i1,purchase,2024-01-01T10:00:00Z,1,-5", "negative_price"),
        ("u2,i1,purchase,2024-01-01T10:00:00Z,-1,5", "negative_quantity"),
        ("u2,i1,purchase,2024-01-01T10:00:00Z,lots,5", "bad_quantity"),
        ("u2,i1,purchase,2024-01-01T10:00:00Z,1,cheap", "bad_price"),
    ],
)
def test_bad_rows_are_skipped_and_counted(tmp_path: Path, row: str, reason: str) -> None:
    events, report = load_events(write(tmp_path, "e.csv", HEADER + GOOD + row + "\n"))
    assert len(events) == 1
    assert events.iloc[0]["user_id"] == "u1"
    assert report.skipped == {reason: 1}
    assert report.rows_read == 2 and report.rows_kept == 1


def test_exact_duplicates_dropped_and_timestamps_parsed(tmp_path: Path) -> None:
    text = HEADER + GOOD + GOOD + "u1,i2,purchase,1704103200,2,\n"
    events, report = load_events(write(tmp_path, "e.csv", text))
    assert report.skipped == {"duplicate": 1}
    assert list(events["item_id"]) == ["i1", "i2"]
    assert events["timestamp"].iloc[1] == pd.Timestamp("2024-01-01T10:00:00Z")
    assert events["quantity"].iloc[1] == 2.0 and pd.isna(events["price"].iloc[1])


def test_event_type_is_case_insensitive_and_optional_columns_default(tmp_path: Path) -> None:
    events, _ = load_events(write(tmp_path, "e.csv", "user_id,item_id,event,timestamp\nu1,i1, Purchase ,1704103200\n"))
    assert events.iloc[0]["event"] == "purchase"
    assert events.iloc[0]["quantity"] == 1.0


def test_several_files_and_parquet(tmp_path: Path) -> None:
    first = write(tmp_path, "a.csv", HEADER + GOOD)
    frame = pd.DataFrame({"user_id": ["u9"], "item_id": ["i9"], "event": ["cart"], "timestamp": ["2024-02-01"]})
    second = tmp_path / "b.parquet"
    frame.to_parquet(second)
    events, report = load_events([first, second])
    assert set(events["user_id"]) == {"u1", "u9"}
    assert report.files == [str(first), str(second)]


@pytest.mark.parametrize("missing", ["user_id", "item_id", "event", "timestamp"])
def test_missing_required_column_names_file_and_column(tmp_path: Path, missing: str) -> None:
    cols = ["user_id", "item_id", "event", "timestamp"]
    cols.remove(missing)
    path = write(tmp_path, "events.csv", ",".join(cols) + "\n" + ",".join("x" for _ in cols) + "\n")
    with pytest.raises(InputFileError) as err:
        load_events(path)
    assert str(path) in str(err.value) and f"'{missing}'" in str(err.value)
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("events.json", "{}", "unsupported file type"),
        ("events.csv", "", "empty"),
        ("events.parquet", "not parquet", "unreadable"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: str, fragment: str) -> None:
    with pytest.raises(InputFileError, match=fragment):
        load_events(write(tmp_path, name, content))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        load_events(tmp_path / "nope.csv")


def test_items_validation(tmp_path: Path) -> None:
    text = (
        "item_id,title,category,price,available,tags\n"
        "i1,Red shoe,shoes,10,true,red|leather\n"
        ",No id,shoes,1,true,\n"
        "i2,Bad price,shoes,-3,true,\n"
        "i3,Gone,,5,no,\n"
        "i1,Red shoe v2,shoes,12,true,\n"
    )
    items, report = load_items(write(tmp_path, "items.csv", text))
    assert report.skipped == {"missing_item_id": 1, "negative_price": 1, "duplicate_item_id": 1}
    assert list(items["item_id"]) == ["i3", "i1"]
    row = items.set_index("item_id")
    assert row.loc["i1", "title"] == "Red shoe v2"
    assert not row.loc["i3", "available"] and row.loc["i3", "category"] == "uncategorized"


def test_items_missing_title_column(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="'title'"):
        load_items(write(tmp_path, "items.csv", "item_id,category\ni1,a\n"))


def test_users_file(tmp_path: Path) -> None:
    users, report = load_users(write(tmp_path, "users.csv", "user_id,tier\nu1,gold\n,silver\nu1,basic\n"))
    assert list(users["user_id"]) == ["u1"] and users.iloc[0]["tier"] == "basic"
    assert report.skipped == {"missing_user_id": 1, "duplicate_user_id": 1}
