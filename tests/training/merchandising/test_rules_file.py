"""`training run --rules`: a bad file stops the run (exit 2) naming the rule and field; a good one is published
with the version and becomes the active rule set."""

from __future__ import annotations

from contract import keys
from contract.rules import decode_stored
from tests.conftest import run_training


def test_a_bad_rules_file_stops_the_run_and_publishes_nothing(shop_dir, own_redis, tmp_path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {id: summer, type: boost, match: {brands: [x]}, weight: -1}\n")
    done = run_training(shop_dir, "--rules", str(bad), "--redis", own_redis.url)
    assert done.returncode == 2
    assert f"{bad}: rule 'summer' (rules[0]), field 'weight': must be > 0, got -1" in done.stderr
    assert own_redis.client().get(keys.ACTIVE) is None
    bad.write_text("rules: [unclosed\n")
    done = run_training(shop_dir, "--rules", str(bad))
    assert done.returncode == 2 and "not valid YAML" in done.stderr


def test_rules_are_published_with_the_version_and_become_active(shop_dir, own_redis, tmp_path) -> None:
    good = tmp_path / "rules.json"
    good.write_text('{"rules": [{"id": "m", "type": "margin", "weight": 0.5}]}')
    done = run_training(shop_dir, "--rules", str(good), "--redis", own_redis.url)
    assert done.returncode == 0, done.stderr
    client = own_redis.client()
    version = client.get(keys.ACTIVE).decode()
    stored = decode_stored(client.get(keys.RULES))
    assert [r.id for r in stored.rules] == ["m"] and version in stored.source
    assert decode_stored(client.get(keys.version_rules(version))).rules == stored.rules
    assert client.exists(keys.item_attributes(version), keys.content_index(version)) == 2
    # a later run without --rules leaves the active rules alone
    assert run_training(shop_dir, "--redis", own_redis.url).returncode == 0
    assert decode_stored(client.get(keys.RULES)).rules == stored.rules
