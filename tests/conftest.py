"""Shared fixtures: a real redis-server on a free port, a small trained shop, the app, real gunicorn."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RedisServer:
    port: int
    workdir: Path
    proc: subprocess.Popen | None = None
    persist: bool = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed: run `make setup` (apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "3600 1" if self.persist else "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis for tests that stop it or need it empty."""
    server = RedisServer(free_port(), tmp_path, persist=True)
    server.start()
    yield server
    server.stop()


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
    from training.publish import publish_result

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


@dataclass
class Gunicorn:
    proc: subprocess.Popen
    base: str
    log: Path

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.base + path, timeout=5, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_gunicorn(redis_url: str, tmp_path: Path, **env_extra: str) -> Gunicorn:
    port = free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    env = dict(
        os.environ,
        REDIS_URL=redis_url,
        RECSVC_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        RECSVC_VERSION_CACHE_S="0.2",
        RECSVC_REDIS_RETRY_S="0.5",
        RECSVC_FALLBACK_REFRESH_S="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / f"prom-{port}"),
    )
    env.update(env_extra)
    os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "recsvc.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    g = Gunicorn(proc, f"http://127.0.0.1:{port}", log)
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            if g.get("/healthz").status_code == 200:
                return g
        except requests.ConnectionError:
            time.sleep(0.05)
    g.stop()
    raise RuntimeError("gunicorn did not start")


@pytest.fixture
def gunicorn(redis_server: RedisServer, published: str, tmp_path: Path) -> Iterator[Gunicorn]:
    g = start_gunicorn(redis_server.url, tmp_path)
    yield g
    g.stop()
