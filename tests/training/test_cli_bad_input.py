"""Bad input through the real CLI: a counted bad row or a clear exit-2 message, never a traceback, and every
output location checked before any training (so nothing is half done)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contract import keys
from tests.conftest import python_m, run_training

# Appended to the shop's ~12,000 events: each line's reason and how the report must count it.
POISON = [
    ('"U0000001","I000001","view","2999-01-01T00:00:00Z",1,', "timestamp_out_of_range"),
    ('"U0000001","I000001","view","99999999999",1,', "timestamp_out_of_range"),
    ('"U0000001","I000001","view","1971-01-01",1,', "timestamp_out_of_range"),
    ('"U0000001","I000001","purchase","2026-05-01T00:00:00Z",1e308,5', "quantity_out_of_range"),
    ('"U0000001","I000001","purchase","2026-05-01T00:00:00Z",0,5', "quantity_out_of_range"),
    ('"U0000001","I000001","purchase","2026-05-01T00:00:00Z",1,1e308', "price_out_of_range"),
    ('"U0000001","I000001","purchase","2026-05-01T00:00:00Z",inf,5', "bad_quantity"),
    ('"U00\x01001","I000001","view","2026-05-01T00:00:00Z",1,', "bad_user_id"),
    ('"U0000001","I000001"', "too_few_fields"),
    ('"U0000001","I000001","view","2026-05-01T00:00:00Z",1,,extra', "too_many_fields"),
    ('"U0000001,"I000001",view,2026-05-01T00:00:00Z,1,', "unclosed_quote"),
]
UNDECODABLE = b'"U0000001","I\xff\xfe0001","view","2026-05-01T00:00:00Z",1,\n'


@pytest.fixture
def poisoned(shop_dir: Path, tmp_path: Path) -> tuple[Path, dict[str, list[int]]]:
    """The shop's events with every kind of bad row appended; reason -> the lines they are on."""
    base = (shop_dir / "events.csv").read_bytes()
    n_lines = base.count(b"\n")
    lines: dict[str, list[int]] = {}
    body = base
    for k, (row, reason) in enumerate(POISON):
        lines.setdefault(reason, []).append(n_lines + 1 + k)
        body += row.encode() + b"\n"
    lines["undecodable"] = [n_lines + 1 + len(POISON)]
    body += UNDECODABLE
    path = tmp_path / "events.csv"
    path.write_bytes(body)
    return path, lines


def test_every_bad_row_is_skipped_counted_and_located(poisoned, shop_dir: Path, tmp_path: Path) -> None:
    path, lines = poisoned
    res = run_training(shop_dir, "--events", str(path), "--report-dir", str(tmp_path / "rep"))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    events = json.loads((tmp_path / "rep" / "report.json").read_text())["inputs"]["events"]
    expected = {reason: len(at) for reason, at in lines.items()}
    assert events["skipped"] == expected
    base_rows = (shop_dir / "events.csv").read_bytes().count(b"\n") - 1
    assert events["rows_read"] == base_rows + len(POISON) + 1
    for reason in ("too_few_fields", "too_many_fields", "unclosed_quote", "undecodable"):
        assert events["bad_lines"][reason] == [f"{path}:{n}" for n in lines[reason]]
    assert "skipped:" in res.stdout and "bad lines:" in res.stdout


def test_too_many_bad_rows_stop_the_run_unless_the_limit_is_raised(shop_dir: Path, tmp_path: Path) -> None:
    good = (shop_dir / "events.csv").read_text().splitlines()
    text = "\n".join(good[:201] + ['"U1","I1"'] * 5) + "\n"  # 5 short rows of 205: 2.4%
    path = tmp_path / "events.csv"
    path.write_text(text)
    res = python_m("training", "run", "--events", str(path), "--items", str(shop_dir / "items.csv"), "--no-eval")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{path}: 5 of 205 rows are bad (too_few_fields 5; first bad lines: 202, 203, 204, 205, 206)" in res.stderr
    assert "more than --max-bad-rows 1%" in res.stderr
    loose = run_training(shop_dir, "--events", str(path), "--max-bad-rows", "5%")
    assert loose.returncode == 0, loose.stderr
    assert run_training(shop_dir, "--events", str(path), "--max-bad-rows", "5").returncode == 0


def test_duplicate_header_is_exit_2_naming_file_and_column(shop_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,event,timestamp,item_id\nu,i,view,2026-01-01,j\n")
    res = run_training(shop_dir, "--events", str(path))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{path}, column 'item_id': appears more than once in the header" in res.stderr


@pytest.mark.parametrize(
    ("column", "kind"),
    [(pa.array([["a"], ["b"]]), "list<element: string>"), (pa.array([{"x": 1}, {"x": 2}]), "struct<x: int64>")],
)
def test_parquet_nested_column_is_exit_2(shop_dir: Path, tmp_path: Path, column, kind: str) -> None:
    path = tmp_path / "events.parquet"
    base = {"user_id": ["u1", "u2"], "item_id": ["i1", "i2"], "event": ["view", "view"]}
    table = pa.table(base | {"timestamp": ["2026-01-01", "2026-01-02"]}).append_column("tags", column)
    pq.write_table(table, path)
    res = run_training(shop_dir, "--events", str(path))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{path}, column 'tags': has the nested type {kind}" in res.stderr


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--as-of", "2999-01-01"], "outside the plausible window 1990-01-01"),
        (["--as-of", "soon"], "not a date"),
        (["--history-half-life", "-3"], "--history-half-life: must be >= 0, got -3"),
        (["--recency-half-life-days", "0"], "--recency-half-life-days: must be > 0"),
        (["--max-bad-rows", "-1"], "--max-bad-rows"),
        (["--publish-wait", "nan"], "--publish-wait: must be a finite number"),
    ],
)
def test_bad_flags_are_argparse_errors(shop_dir: Path, flags: list[str], fragment: str) -> None:
    res = run_training(shop_dir, *flags)
    assert res.returncode == 2 and fragment in res.stderr and "Traceback" not in res.stderr


def test_as_of_before_the_data_is_exit_2(shop_dir: Path) -> None:
    res = run_training(shop_dir, "--as-of", "2000-01-01")
    assert res.returncode == 2 and "--as-of 2000-01-01T00:00:00+00:00 is before the first event" in res.stderr


def test_no_usable_events_is_exit_2(shop_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,event,timestamp\nu1,i1,like,2026-01-01\n")
    res = run_training(shop_dir, "--events", str(path), "--max-bad-rows", "100%")
    assert res.returncode == 2 and "no usable events" in res.stderr


def test_a_directory_as_events_says_so(shop_dir: Path) -> None:
    res = run_training(shop_dir, "--events", str(shop_dir))
    assert res.returncode == 2 and f"{shop_dir}: is a directory" in res.stderr


# -- every output location before training ---------------------------------------------------------------
def _fast_failure(res, started: float, code: int, fragment: str) -> None:
    assert res.returncode == code, res.stderr
    assert fragment in res.stderr and "Traceback" not in res.stderr
    assert "events:" not in res.stdout  # nothing was trained
    assert time.monotonic() - started < 30


def test_export_onto_a_file_fails_before_training(own_redis, shop_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "export"
    target.write_text("not a folder")
    started = time.monotonic()
    res = run_training(shop_dir, "--export", str(target), "--redis", own_redis.url)
    _fast_failure(res, started, 2, f"--export {target}: exists and is not a directory")
    assert own_redis.client().dbsize() == 0


def test_export_file_that_is_a_folder_fails_before_training(shop_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "export" / "recommendations.jsonl").mkdir(parents=True)
    started = time.monotonic()
    res = run_training(shop_dir, "--export", str(tmp_path / "export"))
    _fast_failure(res, started, 2, "'recommendations.jsonl' exists and is not a regular file")


def test_unwritable_report_dir_fails_before_publishing(own_redis, shop_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    started = time.monotonic()
    res = run_training(shop_dir, "--report-dir", str(blocker / "report"), "--redis", own_redis.url)
    _fast_failure(res, started, 2, f"--report-dir {blocker / 'report'}: cannot write there")
    assert own_redis.client().get(keys.ACTIVE) is None and own_redis.client().dbsize() == 0


def test_unreachable_redis_fails_before_training(shop_dir: Path) -> None:
    started = time.monotonic()
    res = run_training(shop_dir, "--redis", "redis://127.0.0.1:1/0")
    _fast_failure(res, started, 4, "cannot reach Redis at redis://127.0.0.1:1/0")


def test_events_inside_the_window_flags(shop_dir: Path, tmp_path: Path) -> None:
    events = pd.read_csv(shop_dir / "events.csv", dtype=str)
    cut = sorted(events["timestamp"])[len(events) // 2]
    res = run_training(shop_dir, "--latest-event", cut, "--max-bad-rows", "60%", "--report-dir", str(tmp_path / "rep"))
    assert res.returncode == 0, res.stderr
    skipped = json.loads((tmp_path / "rep" / "report.json").read_text())["inputs"]["events"]["skipped"]
    assert abs(skipped["timestamp_out_of_range"] - len(events) / 2) < 2
