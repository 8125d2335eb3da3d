"""An erasure that arrives while a publish is writing its version is not undone by that publish."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from contract import erasure, keys
from tests.conftest import ROOT, train_cmd
from tests.privacy_shop import ERASED, make_shop, traces


@pytest.fixture(scope="module")
def big_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shop(tmp_path_factory.mktemp("race-shop"), users=3000, items=300, seed=5, renamed=(ERASED,))


def test_an_erasure_during_a_publish_stays_erased_in_the_version_it_publishes(big_shop, own_redis) -> None:
    client = own_redis.client()
    # One command per round trip: the publish takes seconds, and the customer's keys are written throughout.
    cmd = train_cmd(big_shop, "--redis", own_redis.url, "--publish-batch", "1")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        version = None
        deadline = time.time() + 240
        while version is None and time.time() < deadline and proc.poll() is None:
            for v, state in client.hgetall(keys.VERSION_STATE).items():
                if state == keys.WRITING.encode() and client.exists(keys.recs(v.decode(), ERASED)):
                    version = v.decode()  # the customer's list is in; their purchases, profile, offers are not
            time.sleep(0.002)
        assert version is not None, "the publish never wrote the customer's list"
        erasure.erase(client, [ERASED], requested_by="test")
        still_writing = client.hget(keys.VERSION_STATE, version) == keys.WRITING.encode()
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert still_writing, "the publish ended before the erasure: the race did not happen"
    assert proc.returncode == 0, err
    assert client.get(keys.ACTIVE).decode() == version
    assert traces(client, ERASED) == []
    assert f"erased 1 customers from version {version} during its publish" in err  # it had written them again
    assert client.hget(keys.SUPPRESSED, erasure.user_hash(client.get(keys.PRIVACY_SALT), ERASED)) is not None
