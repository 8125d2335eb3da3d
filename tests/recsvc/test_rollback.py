"""A rollback rolls back everything: `versions activate OLD` through the real CLI, read by real gunicorn."""

from __future__ import annotations

import time

from contract import keys
from recsvc.logic.assignment import assign
from tests.conftest import python_m, run_training, start_gunicorn
from tests.recsvc.api.test_experiments import EXPERIMENTS_YAML


def _until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the service did not follow the rollback"
        time.sleep(0.05)


def test_current_arm_follows_the_active_version_after_a_rollback(own_redis, shop_dir, run_result, tmp_path) -> None:
    old = run_training(shop_dir, "--redis", own_redis.url)
    assert old.returncode == 0, old.stderr
    old_version = own_redis.client().get(keys.ACTIVE).decode()
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENTS_YAML)
    new = run_training(shop_dir, "--experiments", str(path), "--redis", own_redis.url)
    assert new.returncode == 0, new.stderr
    new_version = own_redis.client().get(keys.ACTIVE).decode()
    assert new_version != old_version

    from contract.records import Variant

    variants = [Variant("control", "popularity", 50), Variant("treatment", "current", 50)]
    user = next(str(u) for u in run_result.user_ids if assign("home-recs", str(u), variants) == "treatment")
    g = start_gunicorn(own_redis.url, tmp_path)
    try:

        def served() -> tuple[str, str, str]:
            recs = g.get(f"/v1/users/{user}/recommendations?n=5").json()
            model = g.get("/v1/model").json()["model_version"]
            return recs["variant"], recs["model_version"], model

        assert served() == ("treatment", new_version, new_version)
        rollback = python_m("training", "versions", "--redis", own_redis.url, "activate", old_version)
        assert rollback.returncode == 0, rollback.stderr
        _until(lambda: served() == ("treatment", old_version, old_version))
        report = g.get("/v1/experiments/home-recs/report").json()
        assert {v["variant"]: v["version"] for v in report["variants"]} == {"control": None, "treatment": old_version}
        listed = g.get("/v1/experiments").json()["experiments"][0]
        assert {v["name"]: v["version"] for v in listed["variants"]}["treatment"] == old_version
    finally:
        g.stop()
