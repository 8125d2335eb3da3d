"""`python -m tools bench shop --data DIR --test-from DATE`: the shop protocol on a dataset, as a shop sees it.

Trains on the events before DATE and scores, over all test items and over items new to the customer:
the peers (popular in the last 30 days, buy-again, EASE), the training job's served lists with its
default flags (and other `--exclude-seen` policies with `--job`), and the ranking stage's main, discover
and order-again lists with each candidate source's own list and their recall on the test.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import pandas as pd

from training.data import columns as C
from training.data.loading import load_events, load_items
from training.evaluation import shop_protocol
from training.ranking.stage import StageConfig


def job_lists(train: pd.DataFrame, items_path: Path, exclude_seen: str | None, tmp: Path) -> dict[str, list[str]]:
    """Run the training job (`training.pipeline.run`, no evaluation) on the training events; its served lists."""
    from training.pipeline import RunConfig, run

    tmp.mkdir(parents=True, exist_ok=True)
    ev_path = tmp / "train_events.csv"
    out = train.copy()
    out[C.TIMESTAMP] = out[C.TIMESTAMP].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(ev_path, index=False)
    kw = {} if exclude_seen is None else {"exclude_seen": exclude_seen}
    result = run(RunConfig(events=[ev_path], items=items_path, progress=False, evaluate=False, **kw))
    return {str(u): [i for i in row if i] for u, row in zip(result.user_ids, result.rec_items)}


def main(data: Path, test_from: str, jobs: list[str], seed: int, out: Path | None, shortlist: int | None = None) -> int:
    events, _ = load_events(data / "events.csv")
    items, _ = load_items(data / "items.csv")
    s = shop_protocol.split(events, test_from)
    print(
        f"data {data}: train events {len(s.train)}, test customers {len(s.truth_all)}, "
        f"test pairs {sum(map(len, s.truth_all.values()))}, repeat share {s.repeat_share():.3f}; "
        f"machine {platform.machine()}, Python {platform.python_version()}"
    )
    rows: dict = {}
    seconds: dict[str, float] = {}
    for policy in jobs:
        t = time.perf_counter()
        lists = job_lists(s.train, data / "items.csv", None if policy == "default" else policy, Path("/tmp/shop_eval"))
        rows[f"job, --exclude-seen {policy}"] = shop_protocol.evaluate_lists(lists, s)
        seconds[f"job {policy}"] = time.perf_counter() - t
    t = time.perf_counter()
    config = None if shortlist is None else StageConfig(shortlist=shortlist or None)
    stage = shop_protocol.evaluate_stage(s, items, 100, seed, stage_config=config)
    seconds["stage + sources + peers"] = time.perf_counter() - t
    rows |= stage["lists"]
    print(shop_protocol.metrics_table(rows))
    print("seconds:", {k: round(v, 1) for k, v in seconds.items()})
    rec = stage["candidate_recall"]
    print(
        "candidate recall on the test (all / new):",
        {k: (round(v, 3), round(rec["new"].get(k, 0.0), 3)) for k, v in rec["all"].items()},
    )
    if out:
        out.write_text(json.dumps({"rows": rows, "seconds": seconds, "stage": stage["stage"]}, indent=2, default=str))
    return 0
