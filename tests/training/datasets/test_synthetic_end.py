"""`datasets synthetic --end now`: the demo's history ends today, so the README's live-events-then-retrain loop
(events stamped now) does not turn its customers `churned`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.conftest import python_m


def _churned_share(shop: Path, tmp_path: Path, *events: Path) -> float:
    rep = tmp_path / f"rep-{len(events)}-{shop.name}"
    res = python_m(
        "training", "run", "--events", *map(str, events), "--items", str(shop / "items.csv"), "--no-eval", "--quiet",
        "--report-dir", str(rep),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    segments = json.loads((rep / "report.json").read_text())["customers"]["segments"]
    sizes = {s["id"]: s["size"] for s in segments if s["id"].startswith("lifecycle.")}
    return sizes.get("lifecycle.churned", 0) / sum(sizes.values())


def _live_events(shop: Path, path: Path) -> Path:
    """A few events of known customers stamped now, as `export-events` writes them after the demo."""
    events = pd.read_csv(shop / "events.csv", dtype=str).drop_duplicates("user_id").head(20)
    events = events.assign(event="view", timestamp=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"))
    events.to_csv(path, index=False)
    return path


def test_history_ending_now_keeps_customers_alive_after_live_events(tmp_path: Path) -> None:
    shops = {}
    for name, extra in (("fixed", []), ("now", ["--end", "now"])):
        out = tmp_path / name
        res = python_m(
            "training", "datasets", "synthetic", "--out", str(out), "--users", "400", "--items", "80", *extra
        )
        assert res.returncode == 0, res.stderr
        shops[name] = out
    last = pd.to_datetime(pd.read_csv(shops["now"] / "events.csv")["timestamp"]).max()
    assert pd.Timedelta(0) < pd.Timestamp.now(tz="UTC") - last < pd.Timedelta(days=1)
    signup = pd.to_datetime(pd.read_csv(shops["now"] / "users.csv")["signup_date"], utc=True).max()
    assert signup <= pd.Timestamp.now(tz="UTC")

    now_shop = shops["now"]
    before = _churned_share(now_shop, tmp_path, now_shop / "events.csv")
    after = _churned_share(now_shop, tmp_path, now_shop / "events.csv", _live_events(now_shop, tmp_path / "live.csv"))
    assert abs(after - before) < 0.03
    # The fixed history (ends 2026-06-30) shows what the demo suffered: live events months later churn it.
    fixed = shops["fixed"]
    stale = _churned_share(fixed, tmp_path, fixed / "events.csv", _live_events(fixed, tmp_path / "live-fixed.csv"))
    assert stale > after + 0.1


def test_end_must_be_now_or_a_plausible_date(tmp_path: Path) -> None:
    res = python_m("training", "datasets", "synthetic", "--out", str(tmp_path), "--end", "3000-01-01")
    assert res.returncode == 2 and "--end" in res.stderr
