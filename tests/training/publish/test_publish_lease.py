"""Two real `python -m training run --redis` processes publishing to one real Redis at once.

A publisher is frozen (SIGSTOP) while it writes its version, so the other one reaches its publish while
the first still owns a partial version: the second must wait for the lease and never delete the first
one's keys; a publisher frozen past its lease loses it and must not switch; a killed one stops blocking
once its lease expires.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from contract import keys
from contract.versions import list_versions
from tests.conftest import ROOT, python_m, train_cmd


def _start(shop_dir: Path, url: str, log: Path, *extra: str) -> subprocess.Popen:
    cmd = train_cmd(shop_dir, "--redis", url, *extra)
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)


def _writing(client) -> list[str]:
    return [v.decode() for v, s in client.hgetall(keys.VERSION_STATE).items() if s == keys.WRITING.encode()]


def _freeze_while_writing(proc: subprocess.Popen, client, timeout: float = 120) -> str:
    """SIGSTOP the publisher as soon as its version is 'writing'; returns that version."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _writing(client)
        if found:
            os.kill(proc.pid, signal.SIGSTOP)
            assert _writing(client) == found, "the publisher finished before it could be frozen"
            return found[0]
        assert proc.poll() is None, "the publisher exited before writing"
    raise AssertionError("the publisher never started writing")


def _wait_for_text(path: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        assert proc.poll() is None, path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"'{text}' never appeared in {path}: {path.read_text()}")


def _version_keys(client, version: str) -> int:
    return sum(1 for _ in client.scan_iter(match=keys.version_pattern(version), count=5000))


def _published(log: Path) -> str:
    line = next(x for x in log.read_text().splitlines() if x.startswith("published_version: "))
    return line.split(": ", 1)[1]


def test_second_publisher_waits_and_never_touches_the_first_ones_version(own_redis, shop_dir, tmp_path) -> None:
    client = own_redis.client()
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = _start(shop_dir, own_redis.url, log_a, "--publish-batch", "1", "--publish-lease-s", "60")
    procs = [a]
    try:
        version_a = _freeze_while_writing(a, client)
        partial = _version_keys(client, version_a)
        b = _start(shop_dir, own_redis.url, log_b, "--publish-wait", "120")
        procs.append(b)
        _wait_for_text(log_b, f"waiting up to 120s for the publish lease held by version {version_a}", b)
        time.sleep(1.0)  # B keeps waiting: nothing of A's is removed, B writes nothing
        assert _writing(client) == [version_a]
        assert _version_keys(client, version_a) == partial
        assert "removed stale partial version" not in log_b.read_text()
        os.kill(a.pid, signal.SIGCONT)
        assert a.wait(120) == 0, log_a.read_text()
        assert b.wait(120) == 0, log_b.read_text()
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
    version_b = _published(log_b)
    assert _published(log_a) == version_a != version_b
    assert client.get(keys.ACTIVE).decode() == version_b
    # Both versions are whole: the same inputs give the same number of keys.
    assert _version_keys(client, version_a) == _version_keys(client, version_b) > 100
    listed = {v["version"]: v for v in list_versions(client)}
    assert listed[version_a]["state"] == listed[version_b]["state"] == keys.COMPLETE
    assert listed[version_b]["active"]
    assert client.get(keys.PUBLISH_LEASE) is None


def test_publisher_that_lost_its_lease_cannot_switch(own_redis, shop_dir, tmp_path) -> None:
    client = own_redis.client()
    log_a = tmp_path / "a.log"
    a = _start(shop_dir, own_redis.url, log_a, "--publish-batch", "1", "--publish-lease-s", "1")
    try:
        version_a = _freeze_while_writing(a, client)
        # B starts while A is frozen past its lease: B takes over and clears A's partial version.
        b = subprocess.run(
            train_cmd(shop_dir, "--redis", own_redis.url, "--publish-wait", "60"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert b.returncode == 0, b.stderr
        assert f"removed stale partial version {version_a}" in b.stderr
        version_b = b.stdout.split("published_version: ")[1].split()[0]
        os.kill(a.pid, signal.SIGCONT)
        assert a.wait(120) == 4
    finally:
        if a.poll() is None:
            os.kill(a.pid, signal.SIGCONT)
            a.kill()
    out = log_a.read_text()
    assert "publish lease" in out and "was not activated" in out and "Traceback" not in out
    assert client.get(keys.ACTIVE).decode() == version_b
    assert _version_keys(client, version_a) == 0
    states = {k.decode() for k in client.hkeys(keys.VERSION_STATE)}
    assert states == {version_b}
    listed = list_versions(client)
    assert [v["version"] for v in listed] == [version_b] and listed[0]["active"]


def test_killed_publisher_blocks_only_until_its_lease_expires(own_redis, shop_dir, tmp_path, run_result) -> None:
    from training.publish.redis_publisher import publish_result

    client = own_redis.client()
    a = _start(shop_dir, own_redis.url, tmp_path / "a.log", "--publish-batch", "1", "--publish-lease-s", "3")
    version_a = _freeze_while_writing(a, client)
    a.kill()
    a.wait(10)
    assert client.get(keys.PUBLISH_LEASE) is not None  # the dead publisher's lease is still there
    started = time.monotonic()
    version = publish_result(run_result, own_redis.url, wait_s=30)
    assert time.monotonic() - started < 15
    assert client.get(keys.ACTIVE).decode() == version
    assert _version_keys(client, version_a) == 0 and client.hget(keys.VERSION_STATE, version_a) is None


def test_busy_lease_without_waiting_is_exit_4_and_changes_nothing(own_redis, shop_dir, run_result) -> None:
    from contract.publish_lock import PublishLease
    from training.publish.redis_publisher import publish_result

    first = publish_result(run_result, own_redis.url)
    client = own_redis.client()
    lease = PublishLease(client, "someone-else", ttl_s=60)
    lease.acquire()
    try:
        res = python_m(*train_cmd(shop_dir, "--redis", own_redis.url, "--publish-wait", "0")[2:])
    finally:
        lease.release()
    assert res.returncode == 4, res.stderr
    assert "another publish (version someone-else) holds the publish lease" in res.stderr
    assert client.get(keys.ACTIVE).decode() == first
    assert [v["version"] for v in list_versions(client)] == [first]


def test_orphan_entries_are_cleaned_and_the_active_version_is_always_listed(own_redis, run_result) -> None:
    from contract.versions import cleanup_stale
    from training.publish.redis_publisher import publish_result

    v = publish_result(run_result, own_redis.url)
    client = own_redis.client()
    # A `complete` entry whose keys are gone, and a version-list entry without a state.
    client.hset(keys.VERSION_STATE, "ghost", keys.COMPLETE)
    client.zadd(keys.VERSIONS, {"ghost": 1.0, "stray": 2.0})
    assert sorted(cleanup_stale(client)) == ["ghost", "stray"]
    assert {k.decode() for k in client.hkeys(keys.VERSION_STATE)} == {v}
    # Even when its list entry is lost, `versions list` shows the active version.
    client.zrem(keys.VERSIONS, v)
    res = python_m("training", "versions", "--redis", own_redis.url, "list")
    rows = [json.loads(x) for x in res.stdout.splitlines()]
    assert [(r["version"], r["state"], r["active"], r["published_at"]) for r in rows] == [(v, "complete", True, None)]


@pytest.mark.parametrize("keep", ["-1", "x"])
def test_prune_keep_must_be_a_count(own_redis, keep: str) -> None:
    res = python_m("training", "versions", "--redis", own_redis.url, "prune", "--keep", keep)
    assert res.returncode == 2 and "--keep" in res.stderr and "Traceback" not in res.stderr


def test_prune_never_deletes_the_version_a_live_publisher_writes(own_redis, run_result) -> None:
    from training.publish.redis_publisher import Publisher, publish_result

    active = publish_result(run_result, own_redis.url)
    client = own_redis.client()
    pub = Publisher(client, lease_ttl_s=60)
    pub.acquire()
    pub.begin()
    pub.write([(keys.catalog(pub.version), b"partial")], "catalog")

    def prune() -> subprocess.CompletedProcess:
        return python_m("training", "versions", "--redis", own_redis.url, "prune", "--keep", "1")

    try:
        assert prune().returncode == 0
        assert client.hget(keys.VERSION_STATE, pub.version) == keys.WRITING.encode()
        assert client.get(keys.catalog(pub.version)) == b"partial"
    finally:
        pub.release()
    out = prune()  # its publisher is gone: now it is a stale partial version
    assert out.returncode == 0 and pub.version in out.stdout
    assert client.get(keys.catalog(pub.version)) is None and client.get(keys.ACTIVE).decode() == active
