from __future__ import annotations

import hmac
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import keys
from contract.records import Experiment, Variant
from recsvc.logic.assignment import assign
from recsvc.logic.attribution import plan
from recsvc.logic.recommendation_ids import RecommendationId, make_id, read_id
from tests.conftest import API_KEY, run_training

H = {"X-API-Key": API_KEY}
EXPERIMENTS_YAML = """
experiments:
  - experiment_id: home-recs
    variants:
      - {name: control, model: popularity, traffic: 50}
      - {name: treatment, model: current, traffic: 50}
    start: 2020-01-01
    end: 2100-01-01
    primary_metric: ctr
    min_users_per_variant: 50
"""


@settings(max_examples=30, deadline=None)
@given(exp=st.text(min_size=1, max_size=12), split=st.integers(5, 95))
def test_assignment_is_stable_and_follows_the_split(exp: str, split: int) -> None:
    variants = [Variant("a", "current", split), Variant("b", "current", 100 - split)]
    users = [f"u{k}" for k in range(4000)]
    first = [assign(exp, u, variants) for u in users]
    assert first == [assign(exp, u, variants) for u in users]
    share = first.count("a") / len(users)
    assert abs(share - split / 100) < 0.035  # 4.5 standard errors at n = 4000


def test_recommendation_ids_are_signed() -> None:
    secret = b"s" * 32
    token = make_id(secret, RecommendationId("e", "b", "u1", 1000), 7)
    assert read_id(secret, token) == RecommendationId("e", "b", "u1", 1000)
    assert read_id(b"x" * 32, token) is None
    assert read_id(secret, token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert read_id(secret, "garbage") is None


def test_ids_signed_before_the_blake2b_switch_still_read() -> None:
    secret = b"s" * 32
    body = make_id(secret, RecommendationId("e", "b", "u1", 1000), 7).partition(".")[0]
    legacy = f"{body}.{hmac.digest(secret, body.encode(), 'sha256').hex()[:20]}"
    assert read_id(secret, legacy) == RecommendationId("e", "b", "u1", 1000)
    assert read_id(b"x" * 32, legacy) is None


EXP = Experiment("e", [], "a", "2020-01-01", "2100-01-01", "ctr", attribution_window_days=7)
SECRET = b"k" * 32


def _token(user: str, ts: float, variant: str = "b") -> str:
    return make_id(SECRET, RecommendationId("e", variant, user, int(ts)), 1)


def test_attribution_edge_cases() -> None:
    now = time.time()
    tok = _token("u1", now)
    events = [
        {"user_id": "u1", "item_id": "i", "event": "impression", "timestamp": now, "recommendation_id": tok},
        {"user_id": "u1", "item_id": "i", "event": "click", "timestamp": now, "recommendation_id": tok},
        {"user_id": "u2", "item_id": "i", "event": "click", "timestamp": now, "recommendation_id": tok},  # other user
        {
            "user_id": "u1",
            "item_id": "i",
            "event": "click",
            "timestamp": now + 8 * 86400,
            "recommendation_id": tok,
        },  # expired
        {"user_id": "u1", "item_id": "i", "event": "purchase", "timestamp": now + 60, "price": 5.0, "quantity": 2},
        {"user_id": "u1", "item_id": "other", "event": "purchase", "timestamp": now + 60, "price": 5.0},  # not shown
        {"user_id": "u3", "item_id": "i", "event": "click", "timestamp": now, "recommendation_id": "forged.abc"},
    ]
    cmds = plan(events, [EXP], SECRET, {})
    names = [(c[0], c[1]) for c in cmds]
    assert ("SADD", keys.experiment_counter("e", "b", "users")) in names
    assert names.count(("INCR", keys.experiment_counter("e", "b", "clicks"))) == 1
    assert ("HINCRBY", keys.experiment_rejected("e")) in names
    rejected = [c[2] for c in cmds if c[0] == "HINCRBY"]
    assert sorted(rejected) == ["expired", "other_user"]
    revenue = [c for c in cmds if c[0] == "HINCRBYFLOAT"]
    assert revenue == [("HINCRBYFLOAT", keys.experiment_counter("e", "b", "revenue"), "u1", 10.0)]
    # a purchase without an id, by user and item, from an impression recorded earlier
    later = plan(
        [{"user_id": "u1", "item_id": "i", "event": "purchase", "timestamp": now + 3600, "price": 1.0}],
        [EXP],
        SECRET,
        {"u1": [("i", tok, now)]},
    )
    assert any(c[0] == "SADD" and c[1] == keys.experiment_counter("e", "b", "converters") for c in later)
    too_late = plan(
        [{"user_id": "u1", "item_id": "i", "event": "purchase", "timestamp": now + 9 * 86400}],
        [EXP],
        SECRET,
        {"u1": [("i", tok, now)]},
    )
    assert too_late == []


@pytest.fixture
def experiment_published(own_redis, shop_dir, tmp_path):
    """A private Redis with a version published together with a running experiment."""
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENTS_YAML)
    res = run_training(shop_dir, "--experiments", str(path), "--redis", own_redis.url)
    assert res.returncode == 0, res.stderr
    return own_redis.client().get(keys.ACTIVE).decode()


@pytest.fixture
def exp_client(own_redis, experiment_published):
    from recsvc.app import create_app
    from recsvc.settings import Settings

    return create_app(Settings(redis_url=own_redis.url, version_cache_s=0, api_keys=(API_KEY,))).test_client()


def test_responses_carry_variant_and_id_and_the_report_counts(exp_client, experiment_published, run_result) -> None:
    client = exp_client
    from tools.simulate import simulate

    exp = client.get("/v1/experiments").get_json()["experiments"][0]
    assert exp["experiment_id"] == "home-recs" and exp["status"] == "running"
    assert {v["version"] for v in exp["variants"]} == {None, experiment_published}
    user = str(run_result.user_ids[0])
    body = client.get(f"/v1/users/{user}/recommendations").get_json()
    assigned = client.get(f"/v1/experiments/home-recs/assignments/{user}").get_json()["variant"]
    assert body["variant"] == assigned and body["experiment_id"] == "home-recs" and body["recommendation_id"]
    assert body["source"] == ("popular" if assigned == "control" else "personalized")

    def get(path):
        return client.get(path).get_json()

    def post(path, b):
        return client.post(path, json=b, headers=H).status_code

    sent = simulate(get, post, "home-recs", "treatment", users=300, lift=1.0, ctr=0.1, buy=0.5, seed=3)
    report = client.get("/v1/experiments/home-recs/report").get_json()
    by_name = {v["variant"]: v for v in report["variants"]}
    for name, tally in sent.items():
        assert by_name[name]["users"] == tally["users"]
        assert by_name[name]["impressions"] == tally["impressions"]
        assert by_name[name]["clicks"] == tally["clicks"]
    assert report["horizon_reached"] and not report["sample_ratio_mismatch"]["mismatch"]
    treat = by_name["treatment"]
    assert treat["vs_control"]["ctr"]["difference"] > 0 and treat["verdict"] == "winner"


def test_unknown_experiment_404(client) -> None:
    resp = client.get("/v1/experiments/nope/report")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "unknown_experiment"


def test_experiments_need_a_complete_pinned_version(own_redis, shop_dir, tmp_path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENTS_YAML.replace("model: popularity", "model: 'version:does-not-exist'"))
    res = run_training(shop_dir, "--experiments", str(path), "--redis", own_redis.url)
    assert res.returncode == 4 and "variant 'control': version 'does-not-exist'" in res.stderr
    assert own_redis.client().get(keys.ACTIVE) is None  # nothing was published
