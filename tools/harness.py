"""Real servers for tests and benchmarks: a redis-server on a free loopback port, a 3 x 3 Redis Cluster,
gunicorn serving an app.

One implementation shared by `tests/conftest.py` and `tools/bench/`, so both exercise the service the
way it is deployed (real processes, real sockets), never a stand-in.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests
from redis.crc import key_slot

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RedisServer:
    """A private redis-server; `persist` keeps RDB snapshots in `workdir` (restart tests)."""

    port: int
    workdir: Path
    proc: subprocess.Popen | None = None
    persist: bool = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed: run `make setup` (apt-get install redis-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "3600 1" if self.persist else ""]
            + ["--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(250):
            try:
                client.ping()
                return self
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


BUS_OFFSET = 10000  # a cluster node's bus listens on its port + 10000


class ClusterStartError(RuntimeError):
    """The cluster did not come up; the message carries the last state seen and the nodes' logs."""


@dataclass
class ClusterNode:
    port: int
    workdir: Path
    proc: subprocess.Popen | None = None
    frozen: bool = False  # SIGSTOPped: the kernel still accepts connections, nothing answers

    @property
    def name(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not self.frozen

    def client(self, timeout: float = 1.0) -> redis.Redis:
        """A plain (non-cluster) client of this one node."""
        return redis.Redis(port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout)

    def log_tail(self, lines: int = 10) -> str:
        path = self.workdir / "redis.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int) -> list[int]:
    """`count` free ports whose cluster bus port (port + 10000) is free as well."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port + BUS_OFFSET > 65535:  # the ephemeral range is usually 32768-60999: take a low one
            port = 20000 + port % 20000
        if port not in ports and _port_free(port) and _port_free(port + BUS_OFFSET):
            ports.append(port)
    return ports


@dataclass
class RedisCluster3x3:
    """Three masters with one replica each on free loopback ports, built by `redis-cli --cluster create`.

    Every node has its own directory (nodes.conf, dump file), no persistence, `--cluster-node-timeout
    2000` (a killed master's replica takes over after ~4 s), `cluster-require-full-coverage no` (the
    other masters keep serving while one is down: the production setting, docs/cluster.md) and
    `repl-diskless-sync-delay 0` (7.0 otherwise leaves replicas unsynced for 5 s). `start()` returns
    once the cluster is safe to fail over (`wait_healthy`)."""

    workdir: Path
    node_timeout_ms: int = 2000
    start_timeout_s: float = 30.0
    extra_args: tuple[str, ...] = ()
    nodes: list[ClusterNode] = field(default_factory=list)
    _replicas_at_kill: dict[int, list[int]] = field(default_factory=dict)

    def __enter__(self) -> RedisCluster3x3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """redis+cluster://127.0.0.1:p1,... with every node (any one that answers bootstraps a client)."""
        return "redis+cluster://" + ",".join(n.name for n in self.nodes)

    def start(self, attempts: int = 3) -> RedisCluster3x3:
        """Start and wait until healthy; a port taken meanwhile by another process is retried."""
        for attempt in range(attempts):
            try:
                self._start_once()
                return self
            except ClusterStartError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        return self

    def _start_once(self) -> None:
        exe, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if exe is None or cli is None:
            raise RuntimeError("redis-server and redis-cli are not installed: run `make setup`")
        deadline = time.monotonic() + self.start_timeout_s
        self.nodes = []
        for port in free_cluster_ports(6):
            d = self.workdir / str(port)
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            self.nodes.append(ClusterNode(port, d))
        for node in self.nodes:
            self._spawn(node)
        for node in self.nodes:
            self._wait_ping(node, deadline)
        create = subprocess.run(
            [cli, "--cluster", "create", *[n.name for n in self.nodes], "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=self.start_timeout_s,
        )
        if create.returncode != 0:
            raise ClusterStartError(f"redis-cli --cluster create failed: {create.stdout[-1500:]}{create.stderr}")
        self.wait_healthy(deadline - time.monotonic())

    def _spawn(self, node: ClusterNode) -> None:
        args = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(node.port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--cluster-require-full-coverage", "no",
            "--dir", str(node.workdir), "--dbfilename", f"dump-{node.port}.rdb",
            "--save", "", "--appendonly", "no", "--logfile", "redis.log",
            "--repl-diskless-sync-delay", "0",
            *self.extra_args,
        ]  # fmt: skip
        node.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wait_ping(self, node: ClusterNode, deadline: float) -> None:
        client = node.client(0.5)
        while True:
            if not node.alive:
                raise ClusterStartError(f"redis-server on {node.port} exited:\n{node.log_tail()}")
            try:
                client.ping()
                client.close()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise ClusterStartError(f"redis-server on {node.port} never answered") from None
                time.sleep(0.01)

    def stop(self) -> None:
        for node in self.nodes:
            if node.frozen and node.proc is not None:
                os.kill(node.proc.pid, signal.SIGCONT)
                node.frozen = False
            if node.alive:
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is not None:
                try:
                    node.proc.wait(5)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(5)
                node.proc = None

    # -- state ------------------------------------------------------------------------------------
    def node(self, port: int) -> ClusterNode:
        return next(n for n in self.nodes if n.port == port)

    def _any_live(self) -> redis.Redis:
        for node in self.nodes:
            if node.alive:
                client = node.client(0.5)
                try:
                    client.ping()
                    return client
                except redis.RedisError:
                    continue
        raise RuntimeError("no live cluster node")

    def topology(self, client: redis.Redis | None = None) -> dict[int, int | None]:
        """port -> its master's port (None for a master) in one node's CLUSTER NODES, failing nodes left out."""
        nodes = (client or self._any_live()).cluster("NODES")
        port_of = {v["node_id"]: int(k.rsplit(":", 1)[1]) for k, v in nodes.items()}
        out: dict[int, int | None] = {}
        for name, v in nodes.items():
            flags = v["flags"].split(",")
            if {"fail", "fail?", "noaddr", "handshake"} & set(flags):
                continue
            out[int(name.rsplit(":", 1)[1])] = None if "master" in flags else port_of.get(v["master_id"])
        return out

    def masters(self) -> list[int]:
        return sorted(p for p, m in self.topology().items() if m is None)

    def master_of(self, slot_or_key: int | str | bytes) -> int:
        """Port of the master serving a slot (or a key's slot)."""
        slot = slot_or_key if isinstance(slot_or_key, int) else key_slot(_bytes(slot_or_key))
        for start, end, master, *_ in self._any_live().execute_command("CLUSTER SLOTS"):
            if int(start) <= slot <= int(end):
                return int(master[1])
        raise LookupError(f"slot {slot} is not covered")

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        """Until every live node says cluster_state:ok, every replica's link is up, and every node's
        CLUSTER NODES and CLUSTER SLOTS agree: a replica's own INFO says `up` about a second before the
        other masters know it follows its master, and they only vote for a replica they know."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                problem = self._health_problem()
            except redis.RedisError as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            if not problem:
                return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n.port}\n{n.log_tail(8)}" for n in self.nodes)
                raise ClusterStartError(f"cluster not healthy after {timeout_s:.0f}s: {problem}\n{logs}")
            time.sleep(0.02)

    def _health_problem(self) -> str:
        live = [n for n in self.nodes if n.alive]
        views, slot_maps = set(), set()
        for node in live:
            c = node.client(0.5)
            try:
                if c.cluster("INFO").get("cluster_state") != "ok":
                    return f"{node.port}: cluster_state not ok"
                repl = c.info("replication")
                if repl.get("role") == "slave" and repl.get("master_link_status") != "up":
                    return f"{node.port}: master_link_status {repl.get('master_link_status')}"
                topo = self.topology(c)
                if set(topo) != {n.port for n in live}:
                    return f"{node.port} sees nodes {sorted(topo)}"
                views.add(tuple(sorted(topo.items())))
                slots = c.execute_command("CLUSTER SLOTS")
                slot_maps.add(tuple(sorted((int(s), int(e), int(m[1])) for s, e, m, *_ in slots)))
            finally:
                c.close()
        if len(views) != 1 or len(slot_maps) != 1:
            return "nodes disagree on roles or slots"
        masters = [p for p, m in next(iter(views)) if m is None]
        return "" if len(masters) == 3 else f"{len(masters)} masters"

    def wait_replicated(self, timeout_s: float = 10.0) -> None:
        """Until every replica has everything its master wrote (replication is asynchronous: a write
        acknowledged just before a kill may be lost otherwise)."""
        deadline = time.monotonic() + timeout_s
        for port in self.masters():
            client = self.node(port).client()
            while True:
                info = client.info("replication")
                offsets = [v["offset"] for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
                if offsets and all(o >= info["master_repl_offset"] for o in offsets):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replicas of {port} are behind: {offsets} < {info['master_repl_offset']}")
                time.sleep(0.02)
            client.close()

    # -- faults -----------------------------------------------------------------------------------
    def kill_master(self, slot_or_key: int | str | bytes, sig: int = signal.SIGKILL) -> int:
        """Send `sig` to the pid of the master serving a slot (or a key's slot); returns its port.
        SIGKILL: a crashed process (connections refused at once); SIGSTOP: a hung host (`resume`)."""
        port = self.master_of(slot_or_key)
        self._replicas_at_kill[port] = [p for p, m in self.topology().items() if m == port]
        node = self.node(port)
        os.kill(node.proc.pid, sig)
        if sig == signal.SIGSTOP:
            node.frozen = True
        else:
            node.proc.wait(5)
        return port

    def resume(self, port: int) -> None:
        node = self.node(port)
        if node.frozen:
            os.kill(node.proc.pid, signal.SIGCONT)
            node.frozen = False

    def wait_failover(self, killed_port: int, timeout_s: float = 20.0) -> int:
        """Until a replica of `killed_port` is master and the cluster is healthy; returns its port."""
        replicas = self._replicas_at_kill.get(killed_port, [])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                topo = self.topology()
                promoted = [p for p in replicas if p in topo and topo[p] is None]
                if promoted and not self._health_problem():
                    return promoted[0]
            except (redis.RedisError, RuntimeError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"no failover of {killed_port} within {timeout_s}s")

    def restart(self, port: int) -> None:
        """Start a killed node again with its nodes.conf: it rejoins (as a replica after a failover)."""
        node = self.node(port)
        if not node.alive:
            self._spawn(node)
            self._wait_ping(node, time.monotonic() + 10)


def _bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


@dataclass
class Gunicorn:
    proc: subprocess.Popen
    base: str
    log: Path | None

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.base + path, timeout=5, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_gunicorn(app: str, env: dict[str, str], log: Path | None = None, timeout_s: float = 30) -> Gunicorn:
    """gunicorn with the project's gunicorn.conf.py on a free port; returns once /healthz answers.

    `env` is the whole environment of the server; its output goes to `log` (discarded when None).
    """
    port = free_port()
    env = dict(env, RECSVC_BIND=f"127.0.0.1:{port}")
    out = log.open("w") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    server = Gunicorn(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = log.read_text()[-2000:] if log is not None else ""
            raise RuntimeError(f"gunicorn exited: {detail}")
        try:
            if server.get("/healthz").status_code == 200:
                return server
        except requests.RequestException:  # workers still importing
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"gunicorn ({app}) did not start")


def service_env(redis_url: str, prometheus_dir: Path, **extra: str) -> dict[str, str]:
    """The environment the service runs with here: this process's, plus Redis and the metrics folder."""
    prometheus_dir.mkdir(parents=True, exist_ok=True)
    return dict(os.environ, REDIS_URL=redis_url, PROMETHEUS_MULTIPROC_DIR=str(prometheus_dir)) | extra
