from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from training.data.loading import TYPED_EVENT_COLUMNS, load_events, load_items, load_users, read_table
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


def _typed_and_text(tmp_path: Path, frame: pd.DataFrame) -> tuple[tuple, tuple]:
    """The same events loaded from a Parquet file with typed columns and from one with every column as text."""
    typed, text = tmp_path / "typed.parquet", tmp_path / "text.parquet"
    frame.to_parquet(typed)
    as_text = frame.copy()
    for col in frame.columns:
        as_text[col] = [
            None if pd.isna(v) else (v.isoformat() if isinstance(v, pd.Timestamp) else str(v)) for v in frame[col]
        ]
    as_text.to_parquet(text)
    raw = read_table(typed, typed=TYPED_EVENT_COLUMNS)  # the typed columns are not printed as text on the way
    assert all(pd.api.types.is_numeric_dtype(raw[c]) or pd.api.types.is_datetime64_any_dtype(raw[c]) for c in
               TYPED_EVENT_COLUMNS & set(frame.columns))  # fmt: skip
    assert pd.api.types.is_string_dtype(read_table(typed)["timestamp"])
    return load_events(typed), load_events(text)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", None])
def test_typed_parquet_columns_load_as_their_text_would(tmp_path: Path, zone: str | None) -> None:
    """Timestamps (aware or naive: UTC), quantities and prices a Parquet file holds typed are checked as their
    text would be: out of the window, missing, negative, zero and infinite values skipped under the same reasons."""
    stamps = pd.to_datetime(
        ["2024-01-01 10:00", "2024-01-02 11:30:15.25", "1980-05-01", None, "2024-01-03", "2024-01-04", "2024-01-05",
         "2024-01-06", "2024-01-07"],
        format="ISO8601",
    )  # fmt: skip
    if zone:
        stamps = stamps.tz_localize(zone)
    frame = pd.DataFrame(
        {
            "user_id": [f"u{k}" for k in range(9)],
            "item_id": ["i1"] * 9,
            "event": ["purchase"] * 9,
            "timestamp": stamps,
            "quantity": [1, 2, 1, 1, -3, 0, 1, 4, 2],
            "price": [9.5, None, 1.0, 1.0, 1.0, 1.0, float("inf"), -2.0, 1e12],
        }
    )
    (typed, typed_report), (text, text_report) = _typed_and_text(tmp_path, frame)
    pd.testing.assert_frame_equal(typed, text)
    assert typed_report.skipped == text_report.skipped == {
        "timestamp_out_of_range": 1, "bad_timestamp": 1, "negative_quantity": 1, "quantity_out_of_range": 1,
        "bad_price": 1, "negative_price": 1, "price_out_of_range": 1,
    }  # fmt: skip
    assert typed["timestamp"].iloc[1] == pd.Timestamp("2024-01-02 11:30:15.25", tz=zone or "UTC")


def test_typed_unix_seconds_load_as_their_text_would(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "item_id": ["i", "i", "i", "i"],
            "event": ["view"] * 4,
            "timestamp": [1704103200.5, 1704103300.0, 10.0, float("nan")],
            "quantity": [1.0, 2.0, 3.0, 4.0],
        }
    )
    (typed, typed_report), (text, text_report) = _typed_and_text(tmp_path, frame)
    pd.testing.assert_frame_equal(typed, text)
    assert typed_report.skipped == text_report.skipped == {"timestamp_out_of_range": 1, "bad_timestamp": 1}
    assert typed["timestamp"].iloc[0] == pd.Timestamp("2024-01-01T10:00:00.5Z")
