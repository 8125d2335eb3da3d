from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

from contract import keys
from recsvc.settings import Settings
from recsvc.store import Store
from tests.conftest import ROOT, python_m
from training.data.loading import load_events
from training.publish.stream_export import export_stream as export


def _fill(url: str, n: int, start: int = 0) -> None:
    store = Store(Settings(redis_url=url))
    now = time.time()
    for s in range(start, start + n, 1000):
        store.writes.ingest(
            [
                {
                    "user_id": f"u{k % 50}",
                    "item_id": f"i{k}",
                    "event": "purchase" if k % 7 == 0 else "view",
                    "timestamp": now - k,
                    "quantity": 1.0,
                    "price": 2.0 if k % 7 == 0 else None,
                }
                for k in range(s, min(start + n, s + 1000))
            ]
        )


def _rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_export_drains_the_stream_into_a_loadable_file(own_redis, tmp_path) -> None:
    _fill(own_redis.url, 2500)
    out = tmp_path / "live.csv"
    assert export(own_redis.url, out, batch=700) == {"written": 2500, "already_in_file": 0, "suppressed": 0}
    assert own_redis.client().xlen(keys.EVENTS_STREAM) == 0
    _fill(own_redis.url, 10, start=5000)
    assert export(own_redis.url, out)["written"] == 10
    rows = _rows(out)
    assert len(rows) == 2510 and len({r["event_id"] for r in rows}) == 2510
    events, report = load_events(out)
    assert report.rows_kept == 2510 and set(events.event) == {"view", "purchase"}


def test_crash_mid_export_loses_and_duplicates_nothing(own_redis, tmp_path) -> None:
    total = 30000
    _fill(own_redis.url, total)
    out = tmp_path / "live.csv"
    cmd = [
        sys.executable,
        "-m",
        "training",
        "export-events",
        "--redis",
        own_redis.url,
        "--out",
        str(out),
        "--batch",
        "20",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or out.stat().st_size < 200_000):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    remaining = own_redis.client().xlen(keys.EVENTS_STREAM)
    assert 0 < remaining < total, "the export was not interrupted mid-way"
    res = python_m(*cmd[2:], timeout=120)
    assert res.returncode == 0, res.stderr
    rows = _rows(out)
    ids = [r["event_id"] for r in rows]
    assert len(ids) == len(set(ids)) == total
    assert own_redis.client().xlen(keys.EVENTS_STREAM) == 0


def test_training_takes_several_event_files(shop_dir, tmp_path, own_redis) -> None:
    _fill(own_redis.url, 50)
    live = tmp_path / "live.csv"
    export(own_redis.url, live)
    res = python_m(
        "training",
        "run",
        "--events",
        str(shop_dir / "events.csv"),
        str(live),
        "--items",
        str(shop_dir / "items.csv"),
        "--no-eval",
        "--quiet",
        "--report-dir",
        str(tmp_path / "rep"),
    )
    assert res.returncode == 0, res.stderr
    assert "items appear in events but not in the catalog" in (tmp_path / "rep" / "report.md").read_text()
