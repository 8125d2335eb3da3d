"""`python -m training forget` and what follows an erasure: the next training run, the next export, files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from contract import keys
from recsvc.settings import Settings
from recsvc.store import Store
from tests.conftest import python_m, run_training
from tests.privacy_shop import ERASED, make_shop, traces

OTHER = "zq-stays-3Wq5"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shop(tmp_path_factory.mktemp("forget-shop"), renamed=(ERASED, OTHER))


def _events_of(shop: Path, user: str) -> int:
    events = pd.read_csv(shop / "events.csv", dtype=str)
    return int((events["user_id"] == user).sum())


def test_the_next_training_run_leaves_the_erased_customer_out_and_says_how_many_events(
    shop, own_redis, tmp_path
) -> None:
    assert run_training(shop, "--redis", own_redis.url).returncode == 0
    res = python_m("training", "forget", "--redis", own_redis.url, "--user", ERASED)
    assert res.returncode == 0, res.stderr
    # The shop's files still hold the customer: the run drops their events, and counts them.
    rerun = run_training(
        shop, "--redis", own_redis.url, "--export", str(tmp_path / "out"), "--report-dir", str(tmp_path / "rep")
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "privacy: left out {'erased': " in rerun.stdout and ERASED not in rerun.stdout + rerun.stderr
    report = json.loads((tmp_path / "rep" / "report.json").read_text())["inputs"]["privacy"]
    assert report["skipped"]["erased"] == _events_of(shop, ERASED) > 0
    assert report["users_dropped"]["erased"] == 1 and report["suppression"] == "redis"
    assert traces(own_redis.client(), ERASED) == []  # both versions, the new one included
    exported = (tmp_path / "out" / "recommendations.jsonl").read_text()
    assert ERASED not in exported and OTHER in exported


def test_a_run_without_redis_applies_the_exported_suppression_list(shop, own_redis, tmp_path) -> None:
    listed = tmp_path / "suppressed.json"
    res = python_m("training", "forget", "--redis", own_redis.url, "--user", ERASED, "--suppression-out", str(listed))
    assert res.returncode == 0, res.stderr
    assert ERASED not in listed.read_text()  # hashes and their salt, never ids
    run = run_training(
        shop, "--suppress", str(listed), "--export", str(tmp_path / "out"), "--report-dir", str(tmp_path / "r")
    )
    assert run.returncode == 0, run.stderr
    assert ERASED not in (tmp_path / "out" / "recommendations.jsonl").read_text()
    report = json.loads((tmp_path / "r" / "report.json").read_text())["inputs"]["privacy"]
    assert report["skipped"]["erased"] == _events_of(shop, ERASED) and report["suppression"].startswith("file")
    # Both sources at once is a flag error: the list comes from Redis when publishing.
    both = run_training(shop, "--suppress", str(listed), "--redis", own_redis.url)
    assert both.returncode == 2 and "--suppress is for runs without --redis" in both.stderr


def test_export_events_drops_what_erased_customers_do_afterwards(own_redis, tmp_path) -> None:
    store = Store(Settings(redis_url=own_redis.url))
    now = time.time()

    def event(user: str, k: int) -> dict:
        return {"user_id": user, "item_id": f"i{k}", "event": "view", "timestamp": now + k, "quantity": 1.0}

    store.writes.ingest([event(ERASED, 0), event(OTHER, 1)])
    python_m("training", "forget", "--redis", own_redis.url, "--user", ERASED)
    # Written straight to the stream (the service itself drops them: tests/recsvc/api/test_users.py), as
    # events accepted while the erasure ran would be.
    store.writes.ingest([event(ERASED, k) for k in range(2, 5)] + [event(OTHER, 5)])
    res = python_m("training", "export-events", "--redis", own_redis.url, "--out", str(tmp_path / "live.csv"))
    assert res.returncode == 0, res.stderr
    assert "dropped 3 events of erased customers" in res.stdout
    rows = pd.read_csv(tmp_path / "live.csv", dtype=str)
    assert rows["user_id"].tolist() == [OTHER, OTHER]
    assert own_redis.client().xlen(keys.EVENTS_STREAM) == 0


def test_forget_reads_ids_from_a_file_of_lines_or_a_table(own_redis, tmp_path) -> None:
    lines = tmp_path / "ids.txt"
    lines.write_text("a1\n\n  b2 \n")
    table = tmp_path / "ids.csv"
    table.write_text("user_id,reason\nc3,request\nd4,request\n")
    res = python_m(
        "training", "forget", "--redis", own_redis.url, "--users-file", str(lines), "--users-file", str(table)
    )
    assert res.returncode == 0, res.stderr  # argparse keeps the last --users-file
    assert own_redis.client().hlen(keys.SUPPRESSED) == 2
    res = python_m("training", "forget", "--redis", own_redis.url, "--users-file", str(lines), "--user", "e5")
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 3
    assert own_redis.client().hlen(keys.SUPPRESSED) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to erase"),
        (["--user", ""], "--user: an id is 1 to 256 characters"),
        (["--users-file", "/nope/ids.txt"], "/nope/ids.txt: file not found"),
        (["--users-file", "LONG"], "row 2: an id is at most 256 characters"),
    ],
)
def test_bad_forget_input_exits_2_naming_it(own_redis, tmp_path, args, message) -> None:
    if "LONG" in args:
        path = tmp_path / "ids.txt"
        path.write_text("ok\n" + "x" * 300 + "\n")
        args = ["--users-file", str(path)]
    res = python_m("training", "forget", "--redis", own_redis.url, *args)
    assert res.returncode == 2 and message in res.stderr
    assert own_redis.client().dbsize() == 0  # nothing erased, nothing created


def test_forget_without_redis_exits_4() -> None:
    res = python_m("training", "forget", "--redis", "redis://127.0.0.1:1/0", "--user", "x")
    assert res.returncode == 4 and "cannot reach Redis" in res.stderr
