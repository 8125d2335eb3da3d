"""Shared fixtures: a real redis-server on a free port, a small trained shop, the app, real gunicorn."""

from __future__ import annotations

import copy
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.harness import Gunicorn, RedisCluster3x3, RedisServer, free_port, service_env
from tools.harness import start_gunicorn as harness_start

ROOT = Path(__file__).resolve().parents[1]


def train_cmd(shop_dir: Path, *extra: str, evaluate: bool = False) -> list[str]:
    """`python -m training run` on the test shop (by default without evaluation), plus `extra` arguments."""
    base = [sys.executable, "-m", "training", "run", "--events", str(shop_dir / "events.csv")]
    base += ["--items", str(shop_dir / "items.csv"), "--quiet"]
    return base + ([] if evaluate else ["--no-eval"]) + list(extra)


def run_training(shop_dir: Path, *extra: str, evaluate: bool = False) -> subprocess.CompletedProcess:
    cmd = train_cmd(shop_dir, *extra, evaluate=evaluate)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def mutated(base: dict, path: list, value: object) -> dict:
    """A deep copy of `base` with the value at `path` replaced (or deleted when `value` is KeyError)."""
    data = copy.deepcopy(base)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def python_m(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m ARGS` from the project root, output captured."""
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis for tests that stop it or need it empty."""
    server = RedisServer(free_port(), tmp_path, persist=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster3x3]:
    """A real Redis Cluster (3 masters, 3 replicas) shared by the tests that do not break it."""
    with RedisCluster3x3(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[RedisCluster3x3]:
    """A private cluster for tests that kill its nodes."""
    with RedisCluster3x3(tmp_path / "cluster") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.datasets.synthetic import generate, write

    out = tmp_path_factory.mktemp("shop")
    write(generate(300, 120, seed=11), out)
    return out


OFFERS_YAML = """
holdout_pct: 20
max_offers_per_user: 2
offers:
  - offer_id: vip
    title: Early access
    target: {segments: [champions, loyal, potential_loyalists]}
    category: electronics
    discount_pct: 10
    cost_per_send: 0.01
    cost_per_redemption: 1
    budget: 1000
    valid_from: 2020-01-01
    valid_to: 2100-01-01
  - offer_id: everyone
    title: Ten percent off
    target: {min_clv: 0}
    discount_pct: 10
    cost_per_send: 0.01
    cost_per_redemption: 1
    budget: 2
    valid_from: 2020-01-01
    valid_to: 2100-01-01
  - offer_id: past
    title: Expired sale
    target: {min_clv: 0}
    discount_pct: 30
    cost_per_send: 0.01
    cost_per_redemption: 1
    budget: 100
    valid_from: 2020-01-01
    valid_to: 2020-02-01
  - offer_id: future
    title: Next year
    target: {min_clv: 0}
    discount_pct: 10
    cost_per_send: 0.01
    cost_per_redemption: 1
    budget: 100
    valid_from: 2099-01-01
    valid_to: 2100-01-01
"""


@pytest.fixture(scope="session")
def offers_file(shop_dir: Path) -> Path:
    path = shop_dir / "offers.yaml"
    path.write_text(OFFERS_YAML)
    return path


@pytest.fixture(scope="session")
def run_result(shop_dir: Path, offers_file: Path):
    """One real training run (evaluated on 500 users), with exclude-seen none so request-time filters matter."""
    from training.pipeline import RunConfig, run

    config = RunConfig(
        events=[shop_dir / "events.csv"],
        items=shop_dir / "items.csv",
        top_n=30,
        exclude_seen="none",
        progress=False,
        eval_users=500,
        offers=offers_file,
    )
    return run(config)


@pytest.fixture(scope="session")
def published(redis_server: RedisServer, run_result) -> str:
    from training.publish.redis_publisher import publish_result

    return publish_result(run_result, redis_server.url)


API_KEY = "test-key-123"


@pytest.fixture
def app(redis_server: RedisServer, published: str):
    from recsvc.app import create_app
    from recsvc.settings import Settings

    return create_app(Settings(redis_url=redis_server.url, version_cache_s=0, api_keys=(API_KEY, "other-key")))


@pytest.fixture
def client(app):
    return app.test_client()


def start_gunicorn(redis_url: str, tmp_path: Path, **env_extra: str) -> Gunicorn:
    """The service under gunicorn with short cache and retry periods, so tests see changes quickly."""
    run_dir = Path(tempfile.mkdtemp(prefix="gunicorn-", dir=tmp_path))
    env = service_env(
        redis_url,
        run_dir / "prometheus",
        WEB_CONCURRENCY="2",
        RECSVC_VERSION_CACHE_S="0.2",
        RECSVC_REDIS_RETRY_S="0.5",
        RECSVC_FALLBACK_REFRESH_S="2",
    )
    env.update(env_extra)
    return harness_start("recsvc.wsgi:app", env, log=run_dir / "gunicorn.log")


@pytest.fixture
def gunicorn(redis_server: RedisServer, published: str, tmp_path: Path) -> Iterator[Gunicorn]:
    g = start_gunicorn(redis_server.url, tmp_path)
    yield g
    g.stop()
