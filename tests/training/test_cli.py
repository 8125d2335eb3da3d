"""End to end through the real CLI on small synthetic data and real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import python_m as cli
from tests.conftest import run_training


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shop")
    res = cli("training", "datasets", "synthetic", "--out", str(out), "--users", "300", "--items", "120", "--seed", "7")
    assert res.returncode == 0, res.stderr
    return out


def test_run_exports_reports_and_excludes_purchases(shop: Path, tmp_path: Path) -> None:
    res = run_training(
        shop,
        "--users",
        str(shop / "users.csv"),
        "--export",
        str(tmp_path / "exp"),
        "--report-dir",
        str(tmp_path / "rep"),
        "--top-n",
        "15",
        "--exclude-seen",  # the default (auto) lets the ranking stage show items again; this policy never does
        "purchased",
        evaluate=True,
    )
    assert res.returncode == 0, res.stderr
    assert "ranking: main list" in res.stdout and "done in" in res.stdout
    assert "OpenBLAS" not in res.stderr
    lines = [json.loads(x) for x in (tmp_path / "exp" / "recommendations.jsonl").read_text().splitlines()]
    assert len(lines) == 300 or len(lines) == len({x["user_id"] for x in lines})
    first = lines[0]
    assert set(first) == {"user_id", "items"} and 0 < len(first["items"]) <= 15
    scores = [i["score"] for i in first["items"]]
    assert scores == sorted(scores, reverse=True)
    import pandas as pd

    ev = pd.read_csv(shop / "events.csv", dtype=str)
    bought = set(map(tuple, ev[ev.event == "purchase"][["user_id", "item_id"]].to_numpy()))
    items = pd.read_csv(shop / "items.csv", dtype=str)
    unavailable = set(items[items.available == "false"].item_id)
    for row in lines:
        for it in row["items"]:
            assert (row["user_id"], it["item_id"]) not in bought
            assert it["item_id"] not in unavailable
    sims = [json.loads(x) for x in (tmp_path / "exp" / "similar_items.jsonl").read_text().splitlines()]
    assert len(sims) == 120 and all(s["item_id"] not in {i["item_id"] for i in s["items"]} for s in sims)
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    lists = report["shop_evaluation"]["lists"]  # the ranking stage serves: its lists, sources and peers
    assert {"ranking: main list", "ranking: discover (never bought)", "popular_30d", "buy_again"} <= set(lists)
    assert any(name.startswith("source: ") for name in lists)
    for row in lists.values():
        assert {"precision@10", "recall@10", "ndcg@10", "map@10", "coverage@10"} <= set(row["all"]) & set(row["new"])
    assert lists["ranking: main list"]["all"]["ndcg@10"] > lists["popular_30d"]["all"]["ndcg@10"]
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<figcaption>ndcg@10 per model on the time holdout</figcaption>" in page and "<svg" in page


def test_the_hybrid_serves_and_is_evaluated_per_model_without_the_ranking_stage(shop: Path, tmp_path: Path) -> None:
    res = run_training(shop, "--no-ranking", "--report-dir", str(tmp_path / "rep"), evaluate=True)
    assert res.returncode == 0, res.stderr
    assert "hybrid" in res.stdout
    models = json.loads((tmp_path / "rep" / "report.json").read_text())["evaluation"]["models"]
    assert {"als", "itemknn", "ease", "content", "popularity", "hybrid"} <= set(models)
    for m in models.values():
        assert {"precision@10", "recall@10", "ndcg@10", "map@10", "coverage@10"} <= set(m)
    assert models["hybrid"]["ndcg@10"] > models["popularity"]["ndcg@10"]
    assert "## Offline evaluation" in (tmp_path / "rep" / "report.md").read_text()


def test_run_is_deterministic(shop: Path, tmp_path: Path) -> None:
    outs = []
    for k in range(2):
        res = run_training(shop, "--export", str(tmp_path / f"e{k}"))
        assert res.returncode == 0, res.stderr
        outs.append((tmp_path / f"e{k}" / "recommendations.jsonl").read_text())
    assert outs[0] == outs[1]


def test_bad_rows_reported_and_unknown_items_flagged(shop: Path, tmp_path: Path) -> None:
    events = (
        (shop / "events.csv").read_text()
        + "\n".join(
            [
                '"U0000001","I000001","like","2026-05-01T00:00:00Z",1,',
                '"U0000001","GHOST","view","2026-05-01T00:00:00Z",1,',
                '"U0000001","I000001","view","not a date",1,',
            ]
        )
        + "\n"
    )
    path = tmp_path / "events.csv"
    path.write_text(events)
    res = cli(
        "training",
        "run",
        "--events",
        str(path),
        "--items",
        str(shop / "items.csv"),
        "--report-dir",
        str(tmp_path / "rep"),
        "--no-eval",
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["inputs"]["events"]["skipped"] == {"unknown_event": 1, "bad_timestamp": 1}
    assert report["items_not_in_catalog"] == {"count": 1, "examples": ["GHOST"]}


@pytest.mark.parametrize(
    ("events_text", "fragment"),
    [("user_id,item_id,event\nu,i,view\n", "column 'timestamp'"), ("", "empty")],
)
def test_bad_file_exits_2_naming_file_and_column(shop: Path, tmp_path: Path, events_text: str, fragment: str) -> None:
    path = tmp_path / "broken.csv"
    path.write_text(events_text)
    res = cli("training", "run", "--events", str(path), "--items", str(shop / "items.csv"))
    assert res.returncode == 2
    assert str(path) in res.stderr and fragment in res.stderr


def test_bad_flags_exit_nonzero(shop: Path) -> None:
    res = run_training(shop, "--event-weights", "like=2")
    assert res.returncode == 2 and "unknown event type 'like'" in res.stderr
