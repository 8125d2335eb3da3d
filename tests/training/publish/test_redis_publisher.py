from __future__ import annotations

import subprocess

import pytest

from contract import codecs, keys
from contract.versions import cleanup_stale, list_versions, prune
from tests.conftest import python_m
from training.failures import BadInputError
from training.publish.redis_publisher import PublishError, activate, publish_result


def test_publish_writes_everything_under_one_version(own_redis, run_result) -> None:
    v = publish_result(run_result, own_redis.url)
    c = own_redis.client()
    assert c.get(keys.ACTIVE).decode() == v
    user, item = str(run_result.user_ids[0]), str(run_result.item_ids[0])
    catalog_ids = list(codecs.decode_catalog(c.get(keys.catalog(v))))  # the index space of the lists
    ids, scores = codecs.decode_indexed(c.get(keys.recs(v, user)), catalog_ids)
    assert ids == [i for i in run_result.rec_items[0] if i]
    # half precision: 3 significant digits
    assert list(scores) == pytest.approx(list(run_result.rec_scores[0][: len(ids)]), rel=1e-3, abs=1e-4)
    similar = codecs.decode_indexed(c.get(keys.similar(v, item)), catalog_ids)[0]
    assert similar == [i for i in run_result.similar_items[0] if i]
    assert codecs.decode_list(c.get(keys.popular(v)))[0] == [i for i, _ in run_result.popular[""]]
    for buyer, bought in list(run_result.purchased.items())[:20]:  # a buyer's purchases travel in their list
        shown = [i for i in bought if i in catalog_ids]
        assert codecs.decode_bought(c.get(keys.recs(v, buyer)), catalog_ids) == shown
    assert len(codecs.decode_catalog(c.get(keys.catalog(v)))) == int(run_result.catalog.in_catalog.sum())
    assert c.hget(keys.meta(v), "users").decode() == str(len(run_result.user_ids))
    # Nothing outside the version namespace but the three control keys.
    others = {k.decode() for k in c.scan_iter() if not k.decode().startswith(f"{keys.PREFIX}:v:{v}:")}
    assert others == {keys.ACTIVE, keys.VERSIONS, keys.VERSION_STATE, keys.EXPERIMENT_SECRET}


def test_keep_prune_and_rollback(own_redis, run_result) -> None:
    versions = [publish_result(run_result, own_redis.url, keep=2) for _ in range(4)]
    c = own_redis.client()
    listed = list_versions(c)
    assert [v["version"] for v in listed] == versions[-2:]
    assert listed[-1]["active"] and all(v["state"] == keys.COMPLETE for v in listed)
    assert not list(c.scan_iter(match=keys.version_pattern(versions[0])))
    activate(c, versions[-2])
    assert c.get(keys.ACTIVE).decode() == versions[-2]
    with pytest.raises(BadInputError, match="not a complete"):
        activate(c, "nope")
    # The active (older) version survives pruning to one.
    assert prune(c, keep=1) == []
    assert prune(c, keep=0) == [versions[-1]]


def test_cleanup_only_touches_non_active_writing_versions(own_redis, run_result) -> None:
    v = publish_result(run_result, own_redis.url)
    c = own_redis.client()
    c.hset(keys.VERSION_STATE, "crashed", keys.WRITING)
    c.set(keys.recs("crashed", "u1"), b"x")
    assert cleanup_stale(c) == ["crashed"]
    assert c.get(keys.recs("crashed", "u1")) is None and c.get(keys.ACTIVE).decode() == v


def test_versions_cli(own_redis, run_result) -> None:
    v1 = publish_result(run_result, own_redis.url)
    v2 = publish_result(run_result, own_redis.url)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return python_m("training", "versions", "--redis", own_redis.url, *args, timeout=60)

    out = cli("list")
    assert out.returncode == 0 and v1 in out.stdout and v2 in out.stdout
    assert cli("activate", v1).returncode == 0
    assert own_redis.client().get(keys.ACTIVE).decode() == v1
    bad = cli("activate", "missing")
    assert bad.returncode == 2 and "not a complete published version" in bad.stderr
    assert cli("prune", "--keep", "1").returncode == 0


def test_unreachable_redis_is_a_clear_error(run_result) -> None:
    with pytest.raises(PublishError, match="cannot reach Redis"):
        publish_result(run_result, "redis://127.0.0.1:1/0")


def test_versions_served_by_running_experiments_survive_pruning(own_redis, run_result) -> None:
    from training.publish.experiments_file import parse

    c = own_redis.client()
    pinned = publish_result(run_result, own_redis.url)
    experiment = {
        "experiment_id": "e",
        "start": "2020-01-01",
        "end": "2100-01-01",
        "primary_metric": "ctr",
        "variants": [
            {"name": "old", "model": f"version:{pinned}", "traffic": 50},
            {"name": "new", "model": "current", "traffic": 50},
        ],
    }
    publish_result(run_result, own_redis.url, keep=1, experiments=parse({"experiments": [experiment]}))
    for _ in range(3):
        publish_result(run_result, own_redis.url, keep=1)
    assert c.hget(keys.VERSION_STATE, pinned) == keys.COMPLETE.encode()
    assert c.get(keys.catalog(pinned)) is not None
    # once the experiment has ended, the pinned version is pruned like any other
    ended = experiment | {"end": "2020-06-01"}
    publish_result(run_result, own_redis.url, keep=1, experiments=parse({"experiments": [ended]}))
    assert c.hget(keys.VERSION_STATE, pinned) is None
