"""The quality gate before activation, through the real CLI and a real Redis; /readyz of an empty catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract import keys
from tests.conftest import run_training, start_gunicorn
from training.publish.quality_gate import headline_model, headline_ndcg


@pytest.fixture
def header_only_items(tmp_path: Path, shop_dir: Path) -> Path:
    path = tmp_path / "items.csv"
    path.write_text((shop_dir / "items.csv").read_text().splitlines()[0] + "\n")
    return path


def _with_items(shop_dir: Path, items: Path, *extra: str):
    return run_training(shop_dir, "--items", str(items), *extra)


def test_empty_catalog_publishes_nothing_and_exits_5(own_redis, shop_dir, header_only_items, tmp_path) -> None:
    good = run_training(shop_dir, "--redis", own_redis.url)
    assert good.returncode == 0, good.stderr
    client = own_redis.client()
    active = client.get(keys.ACTIVE)
    before = sorted(client.scan_iter())
    res = _with_items(shop_dir, header_only_items, "--redis", own_redis.url, "--report-dir", str(tmp_path / "rep"))
    assert res.returncode == 5, res.stderr
    assert "quality gate failed: the catalog has 0 showable items (at least 1 required)" in res.stderr
    assert "Traceback" not in res.stderr
    assert client.get(keys.ACTIVE) == active and sorted(client.scan_iter()) == before
    gate = json.loads((tmp_path / "rep" / "report.json").read_text())["quality_gate"]
    assert gate["passed"] is False and gate["against_version"] == active.decode()
    failed = {c["name"] for c in gate["checks"] if not c["passed"]}
    assert failed == {"catalog_items", "catalog_vs_active"}


def test_forced_empty_catalog_is_published_but_not_ready(own_redis, shop_dir, header_only_items, tmp_path) -> None:
    res = _with_items(shop_dir, header_only_items, "--redis", own_redis.url, "--force")
    assert res.returncode == 0, res.stderr
    assert "quality gate: FAILED, published with --force" in res.stdout
    version = own_redis.client().get(keys.ACTIVE).decode()
    g = start_gunicorn(own_redis.url, tmp_path)
    try:
        ready = g.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not_ready", "reason": f"active version {version} has an empty catalog"}
    finally:
        g.stop()


def test_ndcg_collapse_against_the_active_version(own_redis, shop_dir) -> None:
    first = run_training(shop_dir, "--redis", own_redis.url, evaluate=True)
    assert first.returncode == 0, first.stderr
    client = own_redis.client()
    active = client.get(keys.ACTIVE).decode()
    metrics = json.loads(client.hget(keys.meta(active), "metrics"))
    model = headline_model(metrics, metrics)
    assert model == "ranking"  # the ranking stage serves by default: its served list is what is compared
    ndcg = headline_ndcg(metrics, model)
    assert ndcg is not None and ndcg > 0
    # The active version was (said to be) far better than what this run achieves: a collapse.
    metrics[model]["ndcg@10"] = ndcg * 2
    client.hset(keys.meta(active), "metrics", json.dumps(metrics))
    res = run_training(shop_dir, "--redis", own_redis.url, evaluate=True)
    assert res.returncode == 5
    assert f"ndcg@10 of ranking falls from {ndcg * 2:.4f} to {ndcg:.4f}" in res.stderr
    assert "at most 20% lower allowed" in res.stderr
    assert client.get(keys.ACTIVE).decode() == active
    # A looser limit lets it through.
    res = run_training(shop_dir, "--redis", own_redis.url, "--max-ndcg-drop", "0.6", evaluate=True)
    assert res.returncode == 0, res.stderr
    assert client.get(keys.ACTIVE).decode() != active and "quality gate: passed" in res.stdout


@pytest.mark.parametrize("flag", ["--max-ndcg-drop", "--min-full-lists", "--max-catalog-drop"])
def test_gate_flags_are_shares(shop_dir, flag: str) -> None:
    res = run_training(shop_dir, flag, "1.5")
    assert res.returncode == 2 and "must be between 0 and 1" in res.stderr


def test_headline_ndcg_reads_the_served_model() -> None:
    assert headline_ndcg({"hybrid": {"ndcg@10": 0.25}, "als": {"ndcg@10": 0.5}}) == 0.25
    assert headline_ndcg({}) is None and headline_ndcg(None) is None
    assert headline_ndcg({"hybrid": {"ndcg@10": float("nan")}}) is None
