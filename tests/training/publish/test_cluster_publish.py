"""Publishing, version management and the event export on a real 3 x 3 Redis Cluster."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis.crc import key_slot

from contract import codecs, connection, keys, versions
from recsvc.settings import Settings
from recsvc.store import Store
from tests.conftest import ROOT, python_m
from training.publish.redis_publisher import connect, publish_result
from training.publish.stream_export import export_stream


def _version_keys(client, version: str) -> set[bytes]:
    return set(connection.scan_all(client, keys.version_pattern(version)))


def test_a_publish_spreads_over_every_master_and_reads_back(redis_cluster, run_result) -> None:
    v = publish_result(run_result, redis_cluster.url)
    client = connect(redis_cluster.url)
    assert versions.active(client) == v and versions.state(client, v) == keys.COMPLETE
    catalog_ids = list(codecs.decode_catalog(client.get(keys.catalog(v))))
    for k, user in enumerate(run_result.user_ids[:50]):
        ids, _ = codecs.decode_indexed(client.get(keys.recs(v, str(user))), catalog_ids)
        assert ids == [i for i in run_result.rec_items[k] if i]
    held = [
        len(list(node.scan_iter(match=keys.version_pattern(v), count=1000))) for node in connection.primaries(client)
    ]
    assert len(held) == 3 and min(held) > sum(held) / 5, held  # every master holds a share
    assert sum(held) == len(_version_keys(client, v))


def test_versions_on_a_cluster(redis_cluster, run_result) -> None:
    url = redis_cluster.url
    first, second = publish_result(run_result, url), publish_result(run_result, url)
    client = connect(url)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return python_m("training", "versions", "--redis", url, *args, timeout=120)

    listed = cli("list")
    assert listed.returncode == 0 and first in listed.stdout and second in listed.stdout
    assert cli("activate", first).returncode == 0 and versions.active(client) == first
    bad = cli("activate", "missing")
    assert bad.returncode == 2 and "not a complete published version" in bad.stderr
    # a crashed publish's partial version, its keys on every master: removed, the active one kept
    client.hset(keys.VERSION_STATE, "crashed", keys.WRITING)
    for u in range(60):
        client.set(keys.recs("crashed", f"u{u}"), b"x")
    assert len(_version_keys(client, "crashed")) == 60
    pruned = cli("prune", "--keep", "1")
    assert pruned.returncode == 0 and "crashed" in pruned.stdout, pruned.stdout
    assert not _version_keys(client, "crashed") and versions.state(client, "crashed") is None
    assert versions.active(client) == first and _version_keys(client, first)
    listed = [v["version"] for v in versions.list_versions(client)]
    assert first in listed and second in listed  # keep 1 = the newest, plus the active one


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
                    "timestamp": now - 100_000 + k,
                    "quantity": 1.0,
                    "price": 2.0 if k % 7 == 0 else None,
                }
                for k in range(s, min(start + n, s + 1000))
            ]
        )


def _rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _stream_lengths(client) -> list[int]:
    return [client.xlen(s) for s in keys.event_streams(keys.EVENT_SHARDS)]


@pytest.fixture
def empty_streams(redis_cluster):
    client = connect(redis_cluster.url)
    for stream in keys.event_streams(keys.EVENT_SHARDS):
        client.delete(stream)
    return client


def test_live_events_are_sharded_and_exported_once(redis_cluster, empty_streams, tmp_path) -> None:
    _fill(redis_cluster.url, 2500)
    lengths = _stream_lengths(empty_streams)
    assert sum(lengths) == 2500 and sum(1 for n in lengths if n) > 8  # 50 users over 16 shards
    out = tmp_path / "live.csv"
    assert export_stream(redis_cluster.url, out, batch=300) == {"written": 2500, "already_in_file": 0, "suppressed": 0}
    assert _stream_lengths(empty_streams) == [0] * keys.EVENT_SHARDS
    rows = _rows(out)
    assert len({r["event_id"] for r in rows}) == 2500 and sorted(int(r["item_id"][1:]) for r in rows) == list(
        range(2500)
    )
    for user in {r["user_id"] for r in rows}:  # one user's events stay in order (one shard)
        mine = [int(r["item_id"][1:]) for r in rows if r["user_id"] == user]
        assert mine == sorted(mine)
    assert all(
        key_slot(keys.user_tag(r["user_id"]).encode()) % keys.EVENT_SHARDS == int(r["event_id"].split(":")[0])
        for r in rows
    )


def test_a_killed_export_loses_and_duplicates_nothing(redis_cluster, empty_streams, tmp_path) -> None:
    total = 20000
    _fill(redis_cluster.url, total)
    out = tmp_path / "live.csv"
    cmd = [sys.executable, "-m", "training", "export-events", "--redis", redis_cluster.url, "--out", str(out)]
    cmd += ["--batch", "20"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or out.stat().st_size < 150_000):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    remaining = sum(_stream_lengths(empty_streams))
    assert 0 < remaining < total, "the export was not interrupted mid-way"
    with out.open("a") as fh:
        fh.write("3:1-0,u1,half a li")  # and a torn last line on top
    res = python_m(*cmd[2:], timeout=180)
    assert res.returncode == 0, res.stderr
    ids = [r["event_id"] for r in _rows(out)]
    assert len(ids) == len(set(ids)) == total
    assert sum(_stream_lengths(empty_streams)) == 0


def test_entries_a_failover_brings_back_are_not_exported_twice(redis_cluster, empty_streams, tmp_path) -> None:
    """An XDEL the dead master acknowledged but never replicated: the entries come back with their ids."""
    _fill(redis_cluster.url, 300)
    shard = keys.event_shard("u1", keys.EVENT_SHARDS)
    stream = keys.event_stream(shard, keys.EVENT_SHARDS)
    kept = empty_streams.xrange(stream)
    out = tmp_path / "live.csv"
    export_stream(redis_cluster.url, out, batch=50)
    empty_streams.delete(stream)  # the promoted replica never saw the deletes (nor the stream's last id)
    for eid, fields in kept:
        empty_streams.xadd(stream, fields, id=eid)
    assert export_stream(redis_cluster.url, out, batch=50) == {
        "written": 0,
        "already_in_file": len(kept),
        "suppressed": 0,
    }
    assert len(_rows(out)) == 300 and empty_streams.xlen(stream) == 0


def test_cluster_urls_are_checked_as_flags() -> None:
    bad = python_m("training", "versions", "--redis", "redis+cluster://h:1/3", "list", timeout=60)
    assert bad.returncode == 2 and "database 0" in bad.stderr
    away = python_m("training", "versions", "--redis", "redis+cluster://user:pw@127.0.0.1:1", "list", timeout=60)
    assert away.returncode == 4 and "cannot reach Redis" in away.stderr and "pw" not in away.stderr
