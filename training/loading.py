"""Read and validate the input contract (events, items, users) from CSV or Parquet files.

Bad rows are skipped and counted per reason; a file that is wrong as a whole raises
`InputFileError`, which names the file and the column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from training import columns as C
from training.errors import InputFileError

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}


@dataclass
class LoadReport:
    """What loading did to one kind of input: rows read, kept, and skipped per reason."""

    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    skipped: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "skipped": dict(sorted(self.skipped.items())),
        }


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file with every column as a string (nulls for empty cells)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            table = pq.read_table(path)
            table = table.cast(pa.schema([pa.field(f.name, pa.string()) for f in table.schema]))
        elif suffix in CSV_SUFFIXES:
            with path.open("r", encoding="utf-8", errors="replace") as fh:
                header = fh.readline()
            if not header.strip():
                raise InputFileError(path, "file is empty (no header line)")
            delimiter = "\t" if suffix == ".tsv" else ","
            names = [h.strip().strip('"') for h in header.rstrip("\r\n").split(delimiter)]
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    strings_can_be_null=True,
                ),
            )
        else:
            raise InputFileError(path, f"unsupported file type '{suffix}' (use .csv or .parquet)")
    except InputFileError:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeError) as exc:
        raise InputFileError(path, f"unreadable: {exc}") from exc
    frame = table.to_pandas()
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _require(frame: pd.DataFrame, path: str | Path, required: Sequence[str]) -> None:
    for col in required:
        if col not in frame.columns:
            raise InputFileError(path, "required column is missing", column=col)


def _clean_str(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip().replace("", pd.NA)


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse ISO-8601 strings or unix seconds into UTC datetimes; NaT where unparseable."""
    text = _clean_str(values)
    numeric = pd.to_numeric(text, errors="coerce")
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    is_num = numeric.notna().to_numpy()
    if is_num.any():
        secs = numeric[is_num].astype("float64")
        ok = np.isfinite(secs) & (secs.abs() < 1e11)
        out.loc[secs.index[ok]] = pd.to_datetime(secs[ok], unit="s", utc=True)
    rest = ~is_num & text.notna().to_numpy()
    if rest.any():
        out.loc[rest] = pd.to_datetime(text[rest], utc=True, errors="coerce", format="ISO8601")
    return out


def _parse_number(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers from strings; returns (values, mask of present-but-unparseable cells)."""
    text = _clean_str(values)
    num = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = (text.notna() & (num.isna() | ~np.isfinite(num.fillna(0.0)))).to_numpy()
    return num, bad


def _skip(frame: pd.DataFrame, bad: np.ndarray, reason: str, report: LoadReport) -> pd.DataFrame:
    n = int(bad.sum())
    if n:
        report.skipped[reason] += n
        frame = frame.loc[~bad]
    return frame


def load_events(
    paths: str | Path | Sequence[str | Path], event_types: Sequence[str] = C.EVENT_TYPES
) -> tuple[pd.DataFrame, LoadReport]:
    """Load one or more event files into one validated frame sorted by timestamp.

    Columns out: user_id, item_id, event (str), timestamp (UTC), quantity (float), price (float, NaN
    when unknown).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    report = LoadReport()
    frames = []
    for path in paths:
        raw = read_table(path)
        _require(raw, path, C.EVENT_REQUIRED)
        report.files.append(str(path))
        report.rows_read += len(raw)
        frames.append(_clean_events(raw, report, set(event_types)))
    events = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    before = len(events)
    events = events.drop_duplicates(ignore_index=True)
    if before - len(events):
        report.skipped["duplicate"] += before - len(events)
    events = events.sort_values(C.TIMESTAMP, kind="stable", ignore_index=True)
    report.rows_kept = len(events)
    return events, report


def _clean_events(raw: pd.DataFrame, report: LoadReport, event_types: set[str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            C.USER_ID: _clean_str(raw[C.USER_ID]),
            C.ITEM_ID: _clean_str(raw[C.ITEM_ID]),
            C.EVENT: _clean_str(raw[C.EVENT]).str.lower(),
        }
    )
    frame = _skip(frame, frame[C.USER_ID].isna().to_numpy(), "missing_user_id", report)
    frame = _skip(frame, frame[C.ITEM_ID].isna().to_numpy(), "missing_item_id", report)
    frame = _skip(frame, (~frame[C.EVENT].isin(event_types)).to_numpy(), "unknown_event", report)
    frame[C.TIMESTAMP] = parse_timestamps(raw.loc[frame.index, C.TIMESTAMP])
    frame = _skip(frame, frame[C.TIMESTAMP].isna().to_numpy(), "bad_timestamp", report)
    for col, default in ((C.QUANTITY, 1.0), (C.PRICE, np.nan)):
        if col in raw.columns:
            num, unparseable = _parse_number(raw.loc[frame.index, col])
            frame = _skip(frame, unparseable, f"bad_{col}", report)
            num = num.loc[frame.index]
            frame = _skip(frame, (num < 0).to_numpy(), f"negative_{col}", report)
            frame[col] = num.loc[frame.index].fillna(default)
        else:
            frame[col] = default
    frame[C.EVENT] = frame[C.EVENT].astype(str)
    frame[C.USER_ID] = frame[C.USER_ID].astype(str)
    frame[C.ITEM_ID] = frame[C.ITEM_ID].astype(str)
    return frame


def _parse_bool(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    text = _clean_str(values).str.lower()
    out = pd.Series(True, index=values.index)
    out[text.isin(_FALSE).to_numpy()] = False
    bad = (text.notna() & ~text.isin(_TRUE | _FALSE)).to_numpy()
    return out, bad


def load_items(path: str | Path) -> tuple[pd.DataFrame, LoadReport]:
    """Load the catalog; one row per item_id (the last row wins), text columns filled with ''."""
    raw = read_table(path)
    _require(raw, path, C.ITEM_REQUIRED)
    report = LoadReport(files=[str(path)], rows_read=len(raw))
    frame = pd.DataFrame({C.ITEM_ID: _clean_str(raw[C.ITEM_ID])})
    frame = _skip(frame, frame[C.ITEM_ID].isna().to_numpy(), "missing_item_id", report)
    for col in (C.TITLE, C.CATEGORY, C.BRAND, C.DESCRIPTION, C.TAGS):
        if col in raw.columns:
            frame[col] = _clean_str(raw.loc[frame.index, col]).fillna("").astype(str)
        else:
            frame[col] = ""
    if C.PRICE in raw.columns:
        num, unparseable = _parse_number(raw.loc[frame.index, C.PRICE])
        frame = _skip(frame, unparseable, "bad_price", report)
        frame = _skip(frame, (num.loc[frame.index] < 0).to_numpy(), "negative_price", report)
        frame[C.PRICE] = num.loc[frame.index]
    else:
        frame[C.PRICE] = np.nan
    if C.AVAILABLE in raw.columns:
        avail, bad = _parse_bool(raw.loc[frame.index, C.AVAILABLE])
        frame[C.AVAILABLE] = avail
        frame = _skip(frame, bad, "bad_available", report)
    else:
        frame[C.AVAILABLE] = True
    frame[C.ITEM_ID] = frame[C.ITEM_ID].astype(str)
    frame[C.CATEGORY] = frame[C.CATEGORY].where(frame[C.CATEGORY] != "", "uncategorized")
    dup = frame.duplicated(C.ITEM_ID, keep="last").to_numpy()
    frame = _skip(frame, dup, "duplicate_item_id", report)
    frame = frame.reset_index(drop=True)
    report.rows_kept = len(frame)
    return frame, report


def load_users(path: str | Path) -> tuple[pd.DataFrame, LoadReport]:
    """Load optional user attributes: user_id plus any columns, kept as strings."""
    raw = read_table(path)
    _require(raw, path, C.USER_REQUIRED)
    report = LoadReport(files=[str(path)], rows_read=len(raw))
    frame = raw.copy()
    frame[C.USER_ID] = _clean_str(frame[C.USER_ID])
    frame = _skip(frame, frame[C.USER_ID].isna().to_numpy(), "missing_user_id", report)
    frame[C.USER_ID] = frame[C.USER_ID].astype(str)
    frame = _skip(frame, frame.duplicated(C.USER_ID, keep="last").to_numpy(), "duplicate_user_id", report)
    frame = frame.reset_index(drop=True)
    report.rows_kept = len(frame)
    return frame, report
