"""Read and validate the input contract (events, items, users) from CSV or Parquet files.

Bad rows are skipped and counted per reason: rows the CSV parser cannot split (too few or too many
fields, an unclosed quote, bytes that are not UTF-8; the first line numbers of each reason are kept) and
rows whose values break the contract (`contract.event_rules`: ids, event names, quantity and price
bounds, the plausible time window). A file whose bad rows exceed `InputRules.max_bad_rows`, or that is
wrong as a whole, raises `InputFileError`, which names the file and the column.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from contract import event_rules
from training.data import columns as C
from training.failures import BadInputError, InputFileError

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
# Event columns a Parquet file may hand over typed (numbers, timestamps) instead of as text: the same checks
# on the values, without printing and parsing them (12.6M events: load 44 -> ~20 s; the texts were 4.5 GB)
TYPED_EVENT_COLUMNS = frozenset({C.TIMESTAMP, C.QUANTITY, C.PRICE})
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}
LINES_KEPT = 5  # line numbers kept per reason in the report
MALFORMED = ("too_few_fields", "too_many_fields", "unclosed_quote", "undecodable")


@dataclass(frozen=True)
class BadRowLimit:
    """How many bad rows a file may have before the run stops: a share of its rows or a count."""

    fraction: float | None = 0.01
    count: int | None = None

    @classmethod
    def parse(cls, text: str) -> BadRowLimit:
        """'1%' or '0.5%' (of each file's rows) or '500' (rows); ValueError otherwise."""
        text = text.strip()
        if text.endswith("%"):
            value = float(text[:-1])
            if not 0 <= value <= 100 or not math.isfinite(value):
                raise ValueError(f"a percentage must be between 0% and 100%, got '{text}'")
            return cls(fraction=value / 100, count=None)
        count = int(text)
        if count < 0:
            raise ValueError(f"a count must be >= 0, got {count}")
        return cls(fraction=None, count=count)

    def allowed(self, rows: int) -> float:
        return self.fraction * rows if self.fraction is not None else float(self.count or 0)

    def __str__(self) -> str:
        return f"{self.fraction * 100:g}%" if self.fraction is not None else str(self.count)


@dataclass(frozen=True)
class InputRules:
    """How strictly the input is read: the plausible event-time window and the bad-row limit per file."""

    earliest: pd.Timestamp = pd.Timestamp(event_rules.EARLIEST_EVENT)
    latest: pd.Timestamp | None = None  # None: now plus event_rules.FILE_MAX_AHEAD_S, read when loading
    max_bad_rows: BadRowLimit | None = None  # None: no limit (the CLI's default is 1% of a file)

    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        latest = (
            self.latest
            if self.latest is not None
            else pd.Timestamp(event_rules.latest_event(event_rules.FILE_MAX_AHEAD_S))
        )
        return self.earliest, latest


@dataclass
class LoadReport:
    """What loading did to one kind of input: rows read, kept, skipped per reason (with the first lines of
    rows the parser could not split)."""

    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    bad_lines: dict[str, list[str]] = field(default_factory=dict)  # reason -> ["path:line", ...]

    def to_dict(self) -> dict:
        out = {
            "files": self.files,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "skipped": dict(sorted(self.skipped.items())),
        }
        if self.bad_lines:
            out["bad_lines"] = dict(sorted(self.bad_lines.items()))
        return out

    def note_line(self, reason: str, path: str | Path, line: int) -> None:
        kept = self.bad_lines.setdefault(reason, [])
        if len(kept) < LINES_KEPT:
            kept.append(f"{path}:{line}")


def read_table(path: str | Path, report: LoadReport | None = None, typed: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Read a CSV or Parquet file with every column as a string (nulls for empty cells), but the columns named
    in `typed` that a Parquet file holds as numbers or timestamps, which keep their type.

    CSV rows the parser cannot split are skipped and counted in `report`; without a report (a caller that
    cannot skip rows, like the consent statements of a users file) the first one is an InputFileError.
    """
    path = Path(path)
    if path.is_dir():
        raise InputFileError(path, "is a directory, not a file (name the CSV or Parquet file inside it)")
    if not path.is_file():
        raise InputFileError(path, "file not found")
    strict = report is None
    report = report if report is not None else LoadReport()
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            table = _read_parquet(path, typed)
        elif suffix in CSV_SUFFIXES:
            table = _read_csv(path, report)
        else:
            raise InputFileError(path, f"unsupported file type '{suffix}' (use .csv or .parquet)")
    except InputFileError:
        raise
    except (pa.ArrowException, OSError, UnicodeError, csv.Error) as exc:
        raise InputFileError(path, f"unreadable: {exc}") from exc
    if strict and report.bad_lines:
        reason, where = next(iter(report.bad_lines.items()))
        raise InputFileError(path, f"line {where[0].rsplit(':', 1)[1]}: a malformed row ({reason})")
    frame = table.to_pandas()
    frame.columns = [str(c).strip() for c in frame.columns]
    _unique_columns(path, list(frame.columns))
    return frame


def _unique_columns(path: Path, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputFileError(path, "appears more than once in the header", column=name)
        seen.add(name)


def _read_parquet(path: Path, typed: frozenset[str] = frozenset()) -> pa.Table:
    table = pq.read_table(path)
    _unique_columns(path, [f.name.strip() for f in table.schema])
    for f in table.schema:
        if pa.types.is_nested(f.type) or pa.types.is_dictionary(f.type) and pa.types.is_nested(f.type.value_type):
            raise InputFileError(
                path, f"has the nested type {f.type}; the contract takes text or number columns", column=f.name
            )

    def kept(f: pa.Field) -> bool:
        number = pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
        return f.name.strip() in typed and (number or pa.types.is_timestamp(f.type))

    return table.cast(pa.schema([f if kept(f) else pa.field(f.name, pa.string()) for f in table.schema]))


def _header(path: Path, delimiter: str) -> list[str]:
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        header = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(path, "the header line is not UTF-8 text") from None
    if not header.strip():
        raise InputFileError(path, "file is empty (no header line)")
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=delimiter))
    return [n.strip() for n in names]


def _csv_options(delimiter: str, names: list[str]) -> dict:
    return dict(
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True),
    )


def _read_csv(path: Path, report: LoadReport) -> pa.Table:
    """pyarrow reads a clean file at full speed; a file it cannot read whole (a row with the wrong number of
    fields, a stray quote, bytes that are not UTF-8) is read again record by record, skipping and counting
    the bad ones with their line numbers."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    names = _header(path, delimiter)
    _unique_columns(path, names)
    try:
        return pacsv.read_csv(path, **_csv_options(delimiter, names))
    except pa.ArrowInvalid:
        pass  # a bad record somewhere: find the bad records one by one
    good = _scan_records(path, delimiter, len(names), report)
    return pacsv.read_csv(io.BytesIO(good), **_csv_options(delimiter, names))


_SURROGATE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, as `surrogateescape` decodes them


def _scan_records(path: Path, delimiter: str, n_fields: int, report: LoadReport) -> bytes:
    """The file's good records re-encoded as clean CSV (header first); bad ones counted in `report`.

    One csv reader walks the lines; a record that spans several lines and has the wrong number of fields
    began with a quote that never closed: it is counted on its first line, and reading starts again on
    the next one.
    """
    text = path.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    lines = [line + "\n" for line in text.split("\n")]
    if text.endswith("\n"):
        lines.pop()
    undecodable = {k for k, line in enumerate(lines) if _SURROGATE.search(line)} if _SURROGATE.search(text) else set()
    out = io.StringIO()
    out.write(lines[0])

    def bad(reason: str, index: int) -> None:
        report.skipped[reason] += 1
        report.note_line(reason, path, index + 1)

    start = 1
    while start is not None and start < len(lines):
        reader = csv.reader((lines[k] for k in range(start, len(lines))), delimiter=delimiter, strict=True)
        first, resume = start, None
        try:
            for row in reader:
                end = start + reader.line_num  # one past the record's last line
                if not row:
                    pass  # a blank line
                elif undecodable and not undecodable.isdisjoint(range(first, end)):
                    bad("undecodable", first)
                elif end - first > 1 and len(row) != n_fields:
                    bad("unclosed_quote", first)  # a quote that never closed swallowed the lines after it
                    resume = first + 1
                    break
                elif len(row) < n_fields:
                    bad("too_few_fields", first)
                elif len(row) > n_fields:
                    bad("too_many_fields", first)
                else:
                    out.write("".join(lines[first:end]) if end - first > 1 else lines[first])
                first = end
        except csv.Error:  # a stray quote, or one still open at the end of the file
            bad("unclosed_quote", first)
            resume = first + 1
        start = resume
    return out.getvalue().encode("utf-8")


def _require(frame: pd.DataFrame, path: str | Path, required: Sequence[str]) -> None:
    for col in required:
        if col not in frame.columns:
            raise InputFileError(path, "required column is missing", column=col)


def _clean_str(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip().replace("", pd.NA)


def _bad_id(ids: pd.Series) -> np.ndarray:
    """Present ids that break the id rule (too long, control characters)."""
    too_long = ids.str.len() > event_rules.MAX_ID_LENGTH
    control = ids.str.contains(event_rules.CONTROL_CHARACTERS, regex=True)
    return (too_long | control).fillna(False).to_numpy(dtype=bool)


def parse_timestamps(values: pd.Series, window: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> pd.Series:
    """ISO-8601 strings or unix seconds as UTC datetimes; NaT where unparseable or outside `window` (default:
    the plausible window of events, 1990-01-01 to now + 1 day)."""
    return timestamps_in_window(values, window)[0]


def timestamps_in_window(
    values: pd.Series, window: tuple[pd.Timestamp, pd.Timestamp] | None = None
) -> tuple[pd.Series, np.ndarray]:
    """`parse_timestamps`, and the mask of values that parsed but fall outside the window."""
    earliest, latest = window if window is not None else InputRules().window()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    outside = np.zeros(len(values), dtype=bool)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        # a typed column (Parquet): naive times are UTC, as naive ISO strings are
        stamps = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        present = stamps.notna().to_numpy()
        inside = present & (stamps >= earliest).to_numpy() & (stamps <= latest).to_numpy()
        out.loc[inside] = stamps[inside].dt.as_unit("ns")
        return out, present & ~inside
    is_typed_number = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
    text = None if is_typed_number else _clean_str(values)
    numeric = values.astype("float64") if is_typed_number else pd.to_numeric(text, errors="coerce")
    is_num = numeric.notna().to_numpy()
    if is_num.any():
        secs = numeric[is_num].astype("float64")
        finite = np.isfinite(secs)
        inside = finite & (secs >= earliest.timestamp()) & (secs <= latest.timestamp())
        outside[np.flatnonzero(is_num)[(finite & ~inside).to_numpy()]] = True
        out.loc[secs.index[inside]] = pd.to_datetime(secs[inside], unit="s", utc=True).dt.as_unit("ns")
    rest = ~is_num & text.notna().to_numpy() if text is not None else np.zeros(len(values), dtype=bool)
    if rest.any():
        # Parsed at microsecond resolution (year 1 to 9999), compared with the window, then kept in ns.
        parsed = pd.to_datetime(text[rest], utc=True, errors="coerce", format="ISO8601")
        inside = parsed.notna() & (parsed >= earliest) & (parsed <= latest)
        outside[np.flatnonzero(rest)[(parsed.notna() & ~inside).to_numpy()]] = True
        out.loc[parsed.index[inside]] = parsed[inside].dt.as_unit("ns")
    return out, outside


def _parse_number(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers from strings (or a typed column); returns (values, mask of present-but-unparseable cells)."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        num = values.astype("float64")  # NaN is a missing cell; infinities are bad, as the text "inf" is
        return num, (num.notna() & ~np.isfinite(num.fillna(0.0))).to_numpy()
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


def _read_counted(
    path: str | Path, report: LoadReport, typed: frozenset[str] = frozenset()
) -> tuple[pd.DataFrame, Counter]:
    """The file's table and a snapshot of the report's counts before it (to tell this file's bad rows)."""
    before = Counter(report.skipped)
    raw = read_table(path, report, typed)
    report.files.append(str(path))
    report.rows_read += len(raw) + sum((report.skipped - before).values())
    return raw, before


def _check_bad_rows(path: str | Path, report: LoadReport, before: Counter, rows: int, rules: InputRules) -> None:
    """Stop when this file's bad rows (duplicates aside) exceed the limit: such a file is wrong as a whole."""
    if rules.max_bad_rows is None:
        return
    mine = {k: v for k, v in (report.skipped - before).items() if not k.startswith("duplicate")}
    bad = sum(mine.values())
    if bad and bad > rules.max_bad_rows.allowed(rows):
        detail = ", ".join(f"{reason} {n}" for reason, n in sorted(mine.items(), key=lambda kv: -kv[1]))
        lines = [x for reason in mine for x in report.bad_lines.get(reason, []) if x.startswith(f"{path}:")]
        where = f"; first bad lines: {', '.join(x.rsplit(':', 1)[1] for x in lines[:LINES_KEPT])}" if lines else ""
        raise InputFileError(
            path,
            f"{bad} of {rows} rows are bad ({detail}{where}), more than --max-bad-rows {rules.max_bad_rows}; "
            "fix the file or raise the limit",
        )


def load_events(
    paths: str | Path | Sequence[str | Path],
    event_types: Sequence[str] = C.EVENT_TYPES,
    rules: InputRules | None = None,
) -> tuple[pd.DataFrame, LoadReport]:
    """Load one or more event files into one validated frame sorted by timestamp.

    Columns out: user_id, item_id, event (str), timestamp (UTC), quantity (float), price (float, NaN
    when unknown), and order_id (str or None) when a file carries it.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rules = rules or InputRules()
    window = rules.window()
    report = LoadReport()
    frames = []
    for path in paths:
        rows_before = report.rows_read
        raw, before = _read_counted(path, report, TYPED_EVENT_COLUMNS)
        _require(raw, path, C.EVENT_REQUIRED)
        frames.append(_clean_events(raw, report, set(event_types), window))
        _check_bad_rows(path, report, before, report.rows_read - rows_before, rules)
    events = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    before = len(events)
    events = events.drop_duplicates(ignore_index=True)
    if before - len(events):
        report.skipped["duplicate"] += before - len(events)
    events = events.sort_values(C.TIMESTAMP, kind="stable", ignore_index=True)
    report.rows_kept = len(events)
    return events, report


def _numbers(
    frame: pd.DataFrame, raw: pd.DataFrame, col: str, high: float, positive: bool, report: LoadReport
) -> tuple[pd.DataFrame, pd.Series]:
    """A numeric column checked against its bounds: bad_X (not a number), negative_X, X_out_of_range."""
    num, unparseable = _parse_number(raw.loc[frame.index, col])
    frame = _skip(frame, unparseable, f"bad_{col}", report)
    num = num.loc[frame.index]
    frame = _skip(frame, (num < 0).to_numpy(), f"negative_{col}", report)
    num = num.loc[frame.index]
    out_of_range = (num > high) | (num == 0) if positive else num > high
    frame = _skip(frame, out_of_range.fillna(False).to_numpy(dtype=bool), f"{col}_out_of_range", report)
    return frame, num.loc[frame.index]


def _clean_events(
    raw: pd.DataFrame, report: LoadReport, event_types: set[str], window: tuple[pd.Timestamp, pd.Timestamp]
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            C.USER_ID: _clean_str(raw[C.USER_ID]),
            C.ITEM_ID: _clean_str(raw[C.ITEM_ID]),
            C.EVENT: _clean_str(raw[C.EVENT]).str.lower(),
        }
    )
    frame = _skip(frame, frame[C.USER_ID].isna().to_numpy(), "missing_user_id", report)
    frame = _skip(frame, _bad_id(frame[C.USER_ID]), "bad_user_id", report)
    frame = _skip(frame, frame[C.ITEM_ID].isna().to_numpy(), "missing_item_id", report)
    frame = _skip(frame, _bad_id(frame[C.ITEM_ID]), "bad_item_id", report)
    frame = _skip(frame, (~frame[C.EVENT].isin(event_types)).to_numpy(), "unknown_event", report)
    stamps, outside = timestamps_in_window(raw.loc[frame.index, C.TIMESTAMP], window)
    frame[C.TIMESTAMP] = stamps
    frame = _skip(frame, outside, "timestamp_out_of_range", report)
    frame = _skip(frame, frame[C.TIMESTAMP].isna().to_numpy(), "bad_timestamp", report)
    bounds = ((C.QUANTITY, 1.0, event_rules.MAX_QUANTITY, True), (C.PRICE, np.nan, event_rules.MAX_PRICE, False))
    for col, default, high, positive in bounds:
        if col in raw.columns:
            frame, num = _numbers(frame, raw, col, high, positive, report)
            frame[col] = num.fillna(default)
        else:
            frame[col] = default
    if C.ORDER_ID in raw.columns:  # optional: only files that carry it get the column (baskets by order)
        frame[C.ORDER_ID] = _clean_str(raw.loc[frame.index, C.ORDER_ID]).astype(object)
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


def load_items(path: str | Path, rules: InputRules | None = None) -> tuple[pd.DataFrame, LoadReport]:
    """Load the catalog; one row per item_id (the last row wins), text columns filled with ''."""
    rules = rules or InputRules()
    report = LoadReport()
    raw, before = _read_counted(path, report)
    _require(raw, path, C.ITEM_REQUIRED)
    frame = pd.DataFrame({C.ITEM_ID: _clean_str(raw[C.ITEM_ID])})
    frame = _skip(frame, frame[C.ITEM_ID].isna().to_numpy(), "missing_item_id", report)
    frame = _skip(frame, _bad_id(frame[C.ITEM_ID]), "bad_item_id", report)
    for col in (C.TITLE, C.CATEGORY, C.BRAND, C.DESCRIPTION, C.TAGS):
        if col in raw.columns:
            frame[col] = _clean_str(raw.loc[frame.index, col]).fillna("").astype(str)
        else:
            frame[col] = ""
    if C.PRICE in raw.columns:
        frame, num = _numbers(frame, raw, C.PRICE, event_rules.MAX_PRICE, False, report)
        frame[C.PRICE] = num
    else:
        frame[C.PRICE] = np.nan
    if C.MARGIN in raw.columns:  # optional; may be negative (a loss leader)
        num, unparseable = _parse_number(raw.loc[frame.index, C.MARGIN])
        frame = _skip(frame, unparseable, "bad_margin", report)
        frame[C.MARGIN] = num.loc[frame.index]
    else:
        frame[C.MARGIN] = np.nan
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
    _check_bad_rows(path, report, before, report.rows_read, rules)
    return frame, report


def load_users(path: str | Path, rules: InputRules | None = None) -> tuple[pd.DataFrame, LoadReport]:
    """Load optional user attributes: user_id plus any columns, kept as strings."""
    rules = rules or InputRules()
    report = LoadReport()
    raw, before = _read_counted(path, report)
    _require(raw, path, C.USER_REQUIRED)
    frame = raw.copy()
    frame[C.USER_ID] = _clean_str(frame[C.USER_ID])
    frame = _skip(frame, frame[C.USER_ID].isna().to_numpy(), "missing_user_id", report)
    frame = _skip(frame, _bad_id(frame[C.USER_ID]), "bad_user_id", report)
    frame[C.USER_ID] = frame[C.USER_ID].astype(str)
    frame = _skip(frame, frame.duplicated(C.USER_ID, keep="last").to_numpy(), "duplicate_user_id", report)
    frame = frame.reset_index(drop=True)
    report.rows_kept = len(frame)
    _check_bad_rows(path, report, before, report.rows_read, rules)
    return frame, report


def check_reference_date(as_of: pd.Timestamp | None, events: pd.DataFrame) -> None:
    """`--as-of` must not lie before the first event: RFM and CLV would count the future."""
    if as_of is None or events.empty:
        return
    first = events[C.TIMESTAMP].iloc[0]
    if as_of < first:
        raise BadInputError(f"--as-of {as_of.isoformat()} is before the first event ({first.isoformat()})")
