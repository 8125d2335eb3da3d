"""Events read and validated by Spark, with the local loader's rules and report (training/data/loading.py).

Each file is read by Spark (any path it reads: local, hdfs://, s3a://; a folder is read as one dataset)
with every column as text. The value rules run on the executors through the local loader's own
`_clean_events` (contract/event_rules.py), one Arrow batch at a time: every batch emits its good rows
and one summary row per skip reason, so the counts in the report are data, never accumulators (a
retried task cannot count twice). Rows the CSV parser cannot split are classified the way the local
reader does (too few or too many fields, an unclosed quote, bytes that are not UTF-8) and their line
numbers found by a second pass over the file, only when there are any.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from training.data import columns as C
from training.data.loading import (
    CSV_SUFFIXES,
    LINES_KEPT,
    MALFORMED,
    PARQUET_SUFFIXES,
    InputRules,
    LoadReport,
    _check_bad_rows,
    _clean_events,
)
from training.failures import InputFileError

CORRUPT = "_corrupt_record"
REASON, COUNT, FILE, SEQ = "_reason", "_count", "_file", "_seq"
OUT_COLUMNS = (C.USER_ID, C.ITEM_ID, C.EVENT, C.TIMESTAMP, C.QUANTITY, C.PRICE, C.ORDER_ID)
SCHEMA = (
    f"{C.USER_ID} string, {C.ITEM_ID} string, {C.EVENT} string, {C.TIMESTAMP} timestamp, {C.QUANTITY} double, "
    f"{C.PRICE} double, {C.ORDER_ID} string, {SEQ} long, {FILE} int, {REASON} string, {COUNT} long"
)


def _scheme(path: str) -> str | None:
    return path.split("://", 1)[0] if "://" in path else None


def _local(path: str) -> Path | None:
    scheme = _scheme(path)
    if scheme is None:
        return Path(path)
    return Path(path.split("://", 1)[1]) if scheme == "file" else None


def _kind(path: str) -> str:
    """'csv' or 'parquet' from the name (a folder's name too: `events.parquet/` written by Spark)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in CSV_SUFFIXES:
        return "csv"
    local = _local(path)
    if local is not None and local.is_dir():
        raise InputFileError(
            path, "is a directory without a .csv or .parquet name (name the file, or a folder like events.parquet)"
        )
    raise InputFileError(path, f"unsupported file type '{suffix}' (use .csv or .parquet)")


def _check_exists(path: str) -> None:
    local = _local(path)
    if local is not None and not local.exists():
        raise InputFileError(path, "file not found")


def _unique(path: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputFileError(path, "appears more than once in the header", column=name)
        seen.add(name)


def _read_parquet(spark, path: str):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    try:
        df = spark.read.parquet(path)
    except Exception as exc:  # AnalysisException: missing path, not Parquet, duplicate columns
        raise _read_error(path, exc) from None
    _unique(path, [f.name.strip() for f in df.schema.fields])
    for f in df.schema.fields:
        if isinstance(f.dataType, (T.ArrayType, T.MapType, T.StructType)):
            raise InputFileError(
                path,
                f"has the nested type {f.dataType.simpleString()}; the contract takes text or number columns",
                column=f.name,
            )
    return df.select([F.col(f"`{f.name}`").cast("string").alias(f.name.strip()) for f in df.schema.fields])


def _header(spark, path: str, delimiter: str) -> list[str]:
    try:
        first = spark.read.text(path).first()
    except Exception as exc:
        raise _read_error(path, exc) from None
    if first is None or not first[0].strip():
        raise InputFileError(path, "file is empty (no header line)")
    line = first[0].lstrip("\ufeff")
    if "\ufffd" in line:
        raise InputFileError(path, "the header line is not UTF-8 text")
    return [n.strip() for n in next(csv.reader([line], delimiter=delimiter))]


def _read_csv(spark, path: str):
    delimiter = "\t" if path.lower().rstrip("/").endswith(".tsv") else ","
    names = _header(spark, path, delimiter)
    _unique(path, names)
    schema = ", ".join(f"`{n}` string" for n in names) + f", {CORRUPT} string"
    try:
        df = spark.read.csv(
            path,
            schema=schema,
            header=True,
            sep=delimiter,
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT,
            ignoreLeadingWhiteSpace=False,
            ignoreTrailingWhiteSpace=False,
            nullValue="",
            emptyValue="",
            escape='"',
        )
    except Exception as exc:
        raise _read_error(path, exc) from None
    return df, len(names), delimiter


def _read_error(path: str, exc: Exception) -> InputFileError:
    text = str(exc)
    if "PATH_NOT_FOUND" in text or "Path does not exist" in text:
        return InputFileError(path, "file not found")
    if "COLUMN_ALREADY_EXISTS" in text or "duplicate column" in text.lower():
        return InputFileError(path, "has a column more than once in its header")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return InputFileError(path, f"unreadable: {first[:300]}")


def _malformed_reason(line: str | None, n_fields: int, delimiter: str) -> str:
    """The local reader's names for a row the CSV parser could not split."""
    if line is None:
        return "unclosed_quote"
    if "\ufffd" in line:
        return "undecodable"
    try:
        row = next(csv.reader([line], delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration):
        return "unclosed_quote"
    return "too_few_fields" if len(row) < n_fields else "too_many_fields"


def _validator(file_index: int, columns: list[str], n_fields: int, delimiter: str, event_types, window):
    """mapInPandas function: good rows of a batch in the output schema, then one row per skip reason."""

    def validate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for raw in batches:
            report = LoadReport()
            if CORRUPT in raw.columns:
                bad = raw[CORRUPT].notna().to_numpy()
                if bad.any():
                    for line in raw.loc[bad, CORRUPT]:
                        report.skipped[_malformed_reason(line, n_fields, delimiter)] += 1
                    raw = raw.loc[~bad]
            seq = raw[SEQ]
            frame = _clean_events(raw[columns], report, set(event_types), window)
            out = pd.DataFrame({c: frame[c] if c in frame else None for c in OUT_COLUMNS})
            out[C.TIMESTAMP] = frame[C.TIMESTAMP]
            out[SEQ] = seq.loc[frame.index].to_numpy()
            out[FILE] = file_index
            out[REASON] = None
            out[COUNT] = 0
            if report.skipped:
                summary = pd.DataFrame({REASON: list(report.skipped), COUNT: list(report.skipped.values())})
                summary[FILE] = file_index
                out = pd.concat([out, summary], ignore_index=True)
            yield out.reset_index(drop=True)

    return validate


def _line_numbers(spark, path: str, reasons: dict[str, set[str]]) -> dict[str, list[int]]:
    """The first LINES_KEPT line numbers (1-based, header = 1) of the malformed rows of each reason."""
    wanted = {line: reason for reason, lines in reasons.items() for line in lines}
    if not wanted:
        return {}
    found = (
        spark.sparkContext.textFile(path)
        .zipWithIndex()
        .filter(lambda pair: pair[0] in wanted)
        .map(lambda pair: (wanted[pair[0]], pair[1] + 1))
        .takeOrdered(LINES_KEPT * len(reasons) * 4, key=lambda rl: rl[1])
    )
    out: dict[str, list[int]] = {}
    for reason, line in found:
        if len(out.setdefault(reason, [])) < LINES_KEPT:
            out[reason].append(line)
    return out


def load_events(
    spark,
    paths: Sequence[str | Path],
    event_types: Sequence[str] = C.EVENT_TYPES,
    rules: InputRules | None = None,
):
    """(events DataFrame, LoadReport): the validated events of every file, without exact duplicates.

    The DataFrame has the local loader's columns (order_id null where unknown) and `_seq`, the row's place
    in the input (file, then row): the local loader's tie order for events at the same time.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    rules = rules or InputRules()
    window = rules.window()
    report = LoadReport()
    parts = []
    has_orders = False
    for k, raw_path in enumerate(paths):
        path = str(raw_path)
        _check_exists(path)
        kind = _kind(path)
        n_fields, delimiter = 0, ","
        if kind == "parquet":
            df = _read_parquet(spark, path)
        else:
            df, n_fields, delimiter = _read_csv(spark, path)
        columns = [c for c in df.columns if c != CORRUPT]
        for col in C.EVENT_REQUIRED:
            if col not in columns:
                raise InputFileError(path, "required column is missing", column=col)
        has_orders = has_orders or C.ORDER_ID in columns
        df = df.withColumn(SEQ, F.monotonically_increasing_id() + F.lit(k << 54))
        part = df.mapInPandas(_validator(k, columns, n_fields, delimiter, event_types, window), SCHEMA)
        parts.append((path, kind, part.persist(StorageLevel.MEMORY_AND_DISK), df))
    counted = Counter()
    for path, kind, part, df in parts:
        summary = part.where(F.col(REASON).isNotNull()).groupBy(REASON).agg(F.sum(COUNT).alias("n")).collect()
        good = part.where(F.col(REASON).isNull()).count()
        skipped = Counter({r[REASON]: int(r["n"]) for r in summary})
        rows = good + sum(skipped.values())
        report.files.append(path)
        report.rows_read += rows
        before = Counter(report.skipped)
        report.skipped.update(skipped)
        malformed = {r: n for r, n in skipped.items() if r in MALFORMED}
        if malformed and kind == "csv":
            samples = _malformed_samples(df, n_fields, delimiter)
            for reason, lines in _line_numbers(spark, path, samples).items():
                for line in lines:
                    report.note_line(reason, path, line)
        _check_bad_rows(path, report, before, rows, rules)
        counted.update(skipped)
    union = parts[0][2]
    for _, _, part, _ in parts[1:]:
        union = union.unionByName(part)
    good = union.where(F.col(REASON).isNull()).drop(REASON, COUNT, FILE)
    keys = list(OUT_COLUMNS)
    deduped = good.groupBy(keys).agg(F.min(SEQ).alias(SEQ), F.count(F.lit(1)).alias("_n"))
    events = deduped.drop("_n").persist(StorageLevel.MEMORY_AND_DISK)
    kept = events.count()
    duplicates = good.count() - kept
    if duplicates:
        report.skipped["duplicate"] += duplicates
    report.rows_kept = kept
    for _, _, part, _ in parts:
        part.unpersist()
    if not has_orders:
        events = events.drop(C.ORDER_ID)
    return events, report


def _malformed_samples(df, n_fields: int, delimiter: str, per_reason: int = LINES_KEPT) -> dict[str, set[str]]:
    """A few malformed lines of each reason (their text, to find their line numbers)."""
    from pyspark.sql import functions as F

    rows = df.where(F.col(CORRUPT).isNotNull()).select(CORRUPT).limit(per_reason * 50).collect()
    out: dict[str, set[str]] = {}
    for r in rows:
        reason = _malformed_reason(r[0], n_fields, delimiter)
        if len(out.setdefault(reason, set())) < per_reason:
            out[reason].add(r[0])
    return out


def to_pandas(events) -> pd.DataFrame:
    """The events as the local loader returns them: sorted by time (ties in input order), UTC timestamps."""
    pdf = events.orderBy(C.TIMESTAMP, SEQ).drop(SEQ).toPandas()
    return restore_types(pdf)


def restore_types(pdf: pd.DataFrame) -> pd.DataFrame:
    """Spark's pandas frames as the local loader types them (UTC nanosecond times, str ids, order ids or None)."""
    ts = pd.to_datetime(pdf[C.TIMESTAMP])
    pdf[C.TIMESTAMP] = (ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")).dt.as_unit("ns")
    for col in (C.USER_ID, C.ITEM_ID, C.EVENT):
        pdf[col] = pdf[col].astype(str)
    for col in (C.QUANTITY, C.PRICE):
        pdf[col] = pdf[col].astype("float64")
    if C.ORDER_ID in pdf:
        pdf[C.ORDER_ID] = pdf[C.ORDER_ID].astype("string").astype(object)
    return pdf
