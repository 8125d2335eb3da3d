"""Consent in the training input: the users file's `consent` column and the statements stored in Redis,
the latest winning, through the real CLI and a real Redis."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from contract import consent, keys
from contract.records import Consent
from tests.conftest import run_training
from tests.privacy_shop import NO_MARKETING, NO_PROFILING, make_shop, offers_file, traces
from training.data.privacy import file_statements, merged
from training.failures import InputFileError

LATER_YES = "zq-later-8Bv4"  # opted out in the file, then in again through the API


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = make_shop(tmp_path_factory.mktemp("consent-shop"), renamed=(NO_PROFILING, NO_MARKETING, LATER_YES))
    offers_file(out)
    return out


def _users_file(shop: Path, folder: Path, cells: dict[str, str], consent_at: dict[str, str] | None = None) -> Path:
    users = pd.read_csv(shop / "users.csv", dtype=str, keep_default_na=False)
    users["consent"] = users["user_id"].map(cells).fillna("")
    if consent_at is not None:
        users["consent_at"] = users["user_id"].map(consent_at).fillna("")
    path = folder / "users.csv"
    users.to_csv(path, index=False)
    return path


def _audiences(client, version: str) -> set[str]:
    members = set()
    for key in client.scan_iter(match=f"recsvc:v:{version}:audience:*"):
        if client.type(key) == b"zset":
            members |= {m.decode() for m in client.zrange(key, 0, -1)}
    return members


def test_the_users_file_consent_column_leaves_opt_outs_out_of_profiles_lists_and_offers(
    shop, own_redis, tmp_path
) -> None:
    users = _users_file(shop, tmp_path, {NO_PROFILING: "profiling=no", NO_MARKETING: "marketing = No ; profiling=yes"})
    out, rep = tmp_path / "out", tmp_path / "rep"
    res = run_training(
        shop, "--users", str(users), "--offers", str(shop / "offers.yaml"), "--redis", own_redis.url,
        "--export", str(out), "--report-dir", str(rep),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    client = own_redis.client()
    version = client.get(keys.ACTIVE).decode()
    # Opted out of profiling: no list, profile, segment or offer; only the statement itself is kept.
    assert NO_PROFILING not in (out / "recommendations.jsonl").read_text()
    assert traces(client, NO_PROFILING) == sorted(
        [keys.consent(NO_PROFILING), f"{keys.CONSENT_USERS} (value)", f"{keys.opted_out('profiling')} (value)"]
    )
    # Opted out of marketing: trained on (a list, a profile), in no offer or audience.
    assert client.exists(keys.recs(version, NO_MARKETING), keys.profile(version, NO_MARKETING)) == 2
    assert client.get(keys.user_offers(version, NO_MARKETING)) is None
    audiences = _audiences(client, version)
    assert audiences and NO_MARKETING not in audiences and NO_PROFILING not in audiences
    report = json.loads((rep / "report.json").read_text())["inputs"]["privacy"]
    events = pd.read_csv(shop / "events.csv", dtype=str)
    assert report["skipped"]["profiling_opt_out"] == int((events["user_id"] == NO_PROFILING).sum())
    assert report["users_dropped"] == {"erased": 0, "profiling_opt_out": 1}
    assert report["marketing_opt_outs"] == 1 and report["file_statements"] == 2
    # The statements were recorded with the file's time, so the service honours them between runs too.
    assert consent.read(client, NO_MARKETING) == Consent(True, False, os.path.getmtime(users), "users_file")


def test_opt_outs_survive_retraining_and_the_latest_statement_wins(shop, own_redis, tmp_path) -> None:
    client = own_redis.client()
    consent.record(client, NO_PROFILING, Consent(profiling=False, marketing=True, stated_at=1_700_000_000.0))
    consent.record(client, LATER_YES, Consent(profiling=True, marketing=True, stated_at=1_800_000_000.0))
    # The file says the opposite of both, each time earlier than the API did: the API statements stand.
    users = _users_file(
        shop,
        tmp_path,
        {NO_PROFILING: "profiling=yes;marketing=yes", LATER_YES: "profiling=no", NO_MARKETING: "marketing=no"},
        {NO_PROFILING: "2023-01-01", LATER_YES: "2026-01-01T00:00:00Z", NO_MARKETING: ""},
    )
    res = run_training(shop, "--users", str(users), "--redis", own_redis.url, "--export", str(tmp_path / "o"))
    assert res.returncode == 0, res.stderr
    exported = (tmp_path / "o" / "recommendations.jsonl").read_text()
    assert NO_PROFILING not in exported and LATER_YES in exported and NO_MARKETING in exported
    assert consent.read(client, LATER_YES).profiling is True  # the older file statement was not recorded
    # A run without the users file still honours the stored statements.
    again = run_training(shop, "--redis", own_redis.url, "--export", str(tmp_path / "o2"))
    assert again.returncode == 0 and NO_PROFILING not in (tmp_path / "o2" / "recommendations.jsonl").read_text()


@pytest.mark.parametrize(
    ("cell", "column", "message"),
    [
        ("profiling=maybe", "consent", "row 3: 'profiling=maybe': 'profiling' must be yes or no"),
        ("email=no", "consent", "row 3: 'email=no': expected purpose=yes|no with purpose profiling or marketing"),
        ("no", "consent", "row 3: 'no': expected purpose=yes|no"),
        ("yesterday-ish", "consent_at", "row 3: not a date or time: 'yesterday-ish'"),
    ],
)
def test_a_consent_cell_that_cannot_be_read_stops_the_run(shop, tmp_path, cell, column, message) -> None:
    users = pd.read_csv(shop / "users.csv", dtype=str, keep_default_na=False)
    users["consent"] = ""
    users["consent_at"] = ""
    users.loc[1, column] = cell
    if column == "consent_at":
        users.loc[1, "consent"] = "profiling=no"
    path = tmp_path / "users.csv"
    users.to_csv(path, index=False)
    res = run_training(shop, "--users", str(path))
    assert res.returncode == 2
    assert f"{path}, column '{column}': {message}" in res.stderr
    with pytest.raises(InputFileError):
        file_statements(path)


def test_file_statements_without_a_time_date_from_the_file_and_a_tie_keeps_the_stored_one(tmp_path) -> None:
    path = tmp_path / "users.parquet"
    pd.DataFrame(
        {"user_id": ["a", "b", "c"], "consent": ["marketing=no", None, "profiling=no;marketing=no"]}
    ).to_parquet(path)
    os.utime(path, (1_000.0, 1_000.0))
    statements = file_statements(path)
    assert statements == {
        "a": Consent(True, False, 1_000.0, "users_file"),
        "c": Consent(False, False, 1_000.0, "users_file"),
    }
    stored = {"a": Consent(True, True, 1_000.0, "api"), "c": Consent(True, True, 999.0, "api")}
    assert merged(stored, statements) == {"a": stored["a"], "c": statements["c"]}
