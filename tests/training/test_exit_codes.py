"""The README's exit codes, sub-command by sub-command, through the real CLI (one policy: 2 bad flag or
input, 4 Redis, 5 quality gate, 1 only for bugs). Codes 3 and 5 have their own tests (models, gate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import python_m

NO_REDIS = "redis://127.0.0.1:1/0"


def _cases(tmp: Path, shop: Path) -> list[tuple[list[str], int, str]]:
    views = tmp / "views.csv"
    views.write_text("user_id,item_id,event,timestamp\nu1,i1,view,2026-01-01\nu2,i1,view,2026-01-02\n")
    return [
        (["training", "run", "--events", str(views), "--items", str(shop / "items.csv"), "--no-eval"], 2,
         "too little history"),
        (["training", "run", "--events", str(shop / "events.csv"), "--items", str(shop / "items.csv"),
          "--experiments", str(tmp / "none.yaml")], 2, "none.yaml"),
        (["training", "versions", "--redis", NO_REDIS, "list"], 4, "cannot reach Redis"),
        (["training", "export-events", "--redis", NO_REDIS, "--out", str(tmp / "live.csv")], 4, "cannot reach Redis"),
        (["training", "clv", "--events", str(views), "--calibration-end", "2026-02-01", "--output",
          str(tmp / "clv.json")], 2, "no purchase events"),
        (["training", "datasets", "cdnow", "--src", str(tmp / "missing.txt"), "--out", str(tmp / "cd")], 2, ""),
        (["training", "datasets", "synthetic", "--out", str(tmp / "s"), "--users", "0"], 2, "--users"),
        (["training", "nope"], 2, "invalid choice"),
    ]  # fmt: skip


def test_every_sub_command_follows_the_exit_code_policy(tmp_path: Path, shop_dir: Path) -> None:
    for args, code, fragment in _cases(tmp_path, shop_dir):
        res = python_m(*args, timeout=120)
        assert res.returncode == code, (args, res.returncode, res.stderr[-500:])
        assert fragment in res.stderr and "Traceback" not in res.stderr, (args, res.stderr[-500:])


@pytest.mark.parametrize("tool", [["tools", "simulate"], ["tools", "bench", "nope"]])
def test_tools_share_the_policy(tool: list[str]) -> None:
    res = python_m(*tool, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr
