"""`python -m tools bench quality --data DIR`: every model side by side on a time holdout.

DIR holds events.csv and items.csv in the contract (e.g. from `python -m training.datasets
movielens-100k`). The protocol: per user the last 20% of events by time are held out, items seen in
training are excluded from the ranking (`--exclude-seen interacted`), full ranking over all items.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path


def quality(data: Path, exclude_seen: str, seed: int, out: Path | None) -> int:
    from training.data.loading import load_events, load_items
    from training.evaluation.protocol import evaluate_on_test, split, tune_on_validation
    from training.pipeline import RunConfig
    from training.run_report import METRIC_COLUMNS, RunReport

    events_file = next((data / n for n in ("events.csv", "events.parquet") if (data / n).exists()), data / "events.csv")
    items_file = next((data / n for n in ("items.csv", "items.parquet") if (data / n).exists()), data / "items.csv")
    config = RunConfig(
        events=[events_file],
        items=items_file,
        exclude_seen=exclude_seen,
        seed=seed,
        eval_users=None,
        progress=sys.stderr.isatty(),
        evaluate_ranking=True,
    )
    events, _ = load_events(config.events)
    items, _ = load_items(config.items)
    start = time.perf_counter()
    train, test = split(events, config)
    tuning, tuning_report = tune_on_validation(train, items, config)
    run = RunReport(config=config.summary(), inputs={}, items_not_in_catalog={}, tuning=tuning_report)
    run.evaluation = evaluate_on_test(train, test, items, tuning, config)
    report = run.to_dict()
    ev = report["evaluation"]
    lines = [
        f"Data: {data} ({len(events)} events). {ev['split']}; {ev['users_evaluated']} users evaluated; "
        f"exclude-seen {exclude_seen}; seed {seed}; machine: {platform.machine()}, {platform.python_version()}.",
        "",
        "| model | " + " | ".join(METRIC_COLUMNS) + " | fit s |",
        "|---" * (len(METRIC_COLUMNS) + 2) + "|",
    ]
    for name, m in ev["models"].items():
        lines.append(
            f"| {name} | " + " | ".join(f"{m[c]:.4f}" for c in METRIC_COLUMNS) + f" | {m['fit_seconds']:.2f} |"
        )
    lines += [
        "",
        f"Chosen: {json.dumps(report['tuning']['chosen'])}",
        f"Blend weights: {report['tuning']['blend_weights']}, history shrink {report['tuning']['history_shrink']}",
        f"Tuning + evaluation wall time: {time.perf_counter() - start:.1f}s",
    ]
    text = "\n".join(lines)
    print(text)
    if out:
        out.write_text(json.dumps(report, indent=2, default=str))
    return 0
