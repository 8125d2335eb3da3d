"""The Spark engine (`python -m training run --engine spark`) on a real local Spark (local[2]) and a real
Redis: it publishes a version equivalent to the local engine's, and a Spark job that fails mid-way leaves
the previous version active. Two local runs and two Spark runs serve every test of the module (a Spark
run costs a JVM start and a few hundred small jobs). Skipped only where pyspark cannot be imported; a
missing Java fails them (`make setup` installs it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from contract import codecs, keys, versions
from tests.conftest import ROOT, train_cmd
from tools.harness import RedisServer, free_port

pytest.importorskip("pyspark", reason="the Spark engine's tests need pyspark (the `spark` extra: make setup)")

# a 1 GB heap is plenty for these shops (the JVM peaks at 1.6 GB; at the job's default 4 GB it took 4.5 GB)
SPARK = ("--engine", "spark", "--spark-master", "local[2]", "--spark-conf", "spark.driver.memory=1g")
CRASH_AFTER_ENV = "RECSVC_SPARK_CRASH_AFTER_USERS"


def _lists(client: redis.Redis, version: str) -> dict[str, list[str]]:
    """Every user's published list (external ids) in `version`."""
    ids = list(codecs.decode_catalog(client.get(keys.catalog(version))))
    pattern = keys.recs(version, "*")
    head, tail = pattern.split("*")
    out = {}
    for key in client.scan_iter(match=pattern, count=1000):
        decoded = codecs.decode_indexed(client.get(key), ids)
        if decoded is not None:
            out[key.decode()[len(head) : len(key) - len(tail)]] = decoded[0]
    return out


def _start(
    shop: Path, out: Path, redis_url: str, *extra: str, env: dict | None = None, events: Path | None = None
) -> subprocess.Popen:
    cmd = train_cmd(shop, "--redis", redis_url, "--report-dir", str(out), "--force", *extra)
    if events is not None:  # the same events in another file
        cmd[cmd.index(str(shop / "events.csv"))] = str(events)
    full_env = os.environ | {"OPENBLAS_NUM_THREADS": "1"} | (env or {})
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)


def _finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=900)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _failure(done: subprocess.CompletedProcess) -> str:
    """What a failed run said: the first Java/Python error lines (a dying JVM buries them) and the tail."""
    causes = [line for line in done.stderr.splitlines() if re.search(r"(Error|Exception|Killed|memory)\b", line)]
    return "\n".join(causes[:40]) + "\n...\n" + done.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(shop_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Two Redis servers, each with the local engine's version (events from CSV); then, one after the other
    (two JVMs at once on a 2-core CI machine is what the one lost CI run had), the Spark engine's run on
    the first (the same events as Parquet) and a Spark run killed while its executors write on the second."""
    from training.datasets.synthetic import generate, write

    base = tmp_path_factory.mktemp("spark")
    # the shop of `shop_dir` again, its events as Parquet: Spark reads Parquet, the local run the CSV
    parquet = Path(write(generate(300, 120, seed=11), base / "parquet", fmt="parquet")["events"])
    servers = [RedisServer(free_port(), base / f"redis{k}").start() for k in range(2)]
    try:
        local = [_start(shop_dir, base / f"local{k}", s.url) for k, s in enumerate(servers)]
        for proc in local:
            done = _finish(proc)
            assert done.returncode == 0, _failure(done)
        clients = [redis.Redis.from_url(s.url) for s in servers]
        local_versions = [versions.active(c) for c in clients]
        spark = _finish(_start(shop_dir, base / "spark", servers[0].url, *SPARK, events=parquet))
        crashed = _finish(_start(shop_dir, base / "crashed", servers[1].url, *SPARK, env={CRASH_AFTER_ENV: "5"}))
        (base / "spark.stderr").write_text(spark.stderr)
        (base / "crashed.stderr").write_text(crashed.stderr)
        assert spark.returncode == 0, _failure(spark)
        yield {
            "client": clients[0],
            "local": (local_versions[0], json.loads((base / "local0" / "report.json").read_text())),
            "spark": (versions.active(clients[0]), json.loads((base / "spark" / "report.json").read_text())),
            "spark_stderr": spark.stderr,
            "crashed": crashed,
            "crashed_client": clients[1],
            "crashed_previous": local_versions[1],
        }
        for c in clients:
            c.close()
    finally:
        for s in servers:
            s.stop()


def test_spark_publishes_the_same_users_as_the_local_engine(runs) -> None:
    client = runs["client"]
    (local_version, _), (spark_version, _) = runs["local"], runs["spark"]
    assert local_version != spark_version
    local, spark = _lists(client, local_version), _lists(client, spark_version)
    assert len(local) > 100
    assert set(spark) == set(local)
    assert client.hget(keys.meta(spark_version), "users") == client.hget(keys.meta(local_version), "users")


def test_spark_lists_overlap_the_local_lists_at_10(runs) -> None:
    client = runs["client"]
    local, spark = _lists(client, runs["local"][0]), _lists(client, runs["spark"][0])
    overlaps = [
        len(set(local[u][:10]) & set(spark[u][:10])) / max(1, min(10, len(local[u]))) for u in local if local[u]
    ]
    mean = sum(overlaps) / len(overlaps)
    assert mean >= 0.9, f"mean overlap@10 {mean:.3f} over {len(overlaps)} users"


def test_spark_report_has_the_local_fields_and_its_engine(runs) -> None:
    (_, local), (_, spark) = runs["local"], runs["spark"]
    assert set(spark) - {"engine"} == set(local)
    assert set(spark["ranking"]) >= {"mode", "sources", "layout", "serving"}
    assert spark["ranking"]["mode"] == local["ranking"]["mode"]
    assert spark["ranking"]["serving"]["users"] == local["ranking"]["serving"]["users"]
    engine = spark["engine"]
    assert engine["name"] == "spark" and engine["master"] == "local[2]"
    assert engine["jvm_peak_rss_bytes"] > 0
    assert spark["model_version"] == runs["spark"][0]


def test_a_spark_job_failing_mid_way_leaves_the_previous_version_active(runs) -> None:
    crashed, client = runs["crashed"], runs["crashed_client"]
    assert crashed.returncode == 4, _failure(crashed)
    assert "from the Spark executors failed (the previous version stays active)" in crashed.stderr
    assert versions.active(client) == runs["crashed_previous"]
    # the failed version is gone: only the previous one is listed, and none of its keys is left
    states = {k.decode(): v.decode() for k, v in client.hgetall(keys.VERSION_STATE).items()}
    assert states == {runs["crashed_previous"]: keys.COMPLETE}
    assert all(runs["crashed_previous"] in k.decode() for k in client.scan_iter(match="recsvc:v:*", count=1000))


def test_spark_start_up_is_quiet(runs) -> None:
    noise = ("Setting default log level", "py4j.clientserver", "WARN ", "INFO org.apache")
    assert not [line for line in runs["spark_stderr"].splitlines() if any(n in line for n in noise)]


def test_engine_spark_without_java_is_a_clear_error(shop_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # the virtualenv's python, no java
    done = subprocess.run(train_cmd(shop_dir, *SPARK), cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "needs a Java runtime" in done.stderr


def test_spark_flags_need_engine_spark(shop_dir: Path) -> None:
    done = subprocess.run(
        train_cmd(shop_dir, "--spark-master", "local[2]"), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "--spark-master and --spark-conf need --engine spark" in done.stderr
