"""Bulk writes for publishing: commands buffered per node and sent by one thread per node, in parallel.

redis-py's pipelines route, pack and parse in the calling thread, and its cluster pipeline visits the
masters one after another (10 us of routing per command before the first byte goes out: 2.7x slower
than this writer in docs/cluster.md). Here each master has its own sender thread and connection; the
thread keeps one batch in flight while it reads the replies of the previous one, and batches are
packed with hiredis. One Redis is a cluster of one node.

    with BulkWriter(client) as writer:
        for key, value in pairs:
            writer.add("SET", key, value)
    # leaving the block flushes and waits for every node, and raises the first error

A MOVED or ASK reply (a slot moved while publishing) is sent again through redis-py at the end.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

import hiredis
import redis
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError, ResponseError

from contract.connection import Client, is_cluster

Command = tuple


class BulkWriteError(redis.ConnectionError):
    """A node could not take its share of the writes (the publish fails; the previous version stays)."""


class BulkWriter:
    def __init__(
        self, client: Client, batch: int = 2000, depth: int = 2, before_batch: Callable[[], None] | None = None
    ) -> None:
        self.client = client
        self.batch = batch
        self.depth = depth  # batches queued per node before `add` waits
        self._before_batch = before_batch  # e.g. the publish lease's check: raises to stop writing
        self._route, self._connect = _routing(client)
        self._buffers: dict[str, list[Command]] = {}
        self._workers: dict[str, tuple[queue.Queue, threading.Thread]] = {}
        self._errors: list[BaseException] = []
        self._redirected: list[Command] = []
        self._lock = threading.Lock()
        self.commands = 0

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.close(raise_errors=exc_type is None)

    def add(self, *command: Any) -> None:
        """Queue one command (its first argument is the key it is routed by)."""
        self.add_many([command])

    def add_many(self, commands: Iterable[Command]) -> None:
        """Queue commands (the publish's inner loop: kept free of per-command calls it can do without)."""
        route, buffers, batch = self._route, self._buffers, self.batch
        for command in commands:
            if self._errors:
                raise self._errors[0]
            key = command[1]
            name = route(key if isinstance(key, bytes) else key.encode())
            buf = buffers.get(name)
            if buf is None:
                buf = buffers[name] = []
            buf.append(command)
            if len(buf) >= batch:
                self._submit(name, buf)
                buffers[name] = []

    def _submit(self, name: str, commands: list[Command]) -> None:
        if self._before_batch is not None:
            self._before_batch()
        worker = self._workers.get(name)
        if worker is None:
            q: queue.Queue = queue.Queue(maxsize=self.depth)
            t = threading.Thread(target=self._send, args=(name, q), name=f"publish-{name}", daemon=True)
            t.start()
            worker = self._workers[name] = (q, t)
        worker[0].put(commands)
        self.commands += len(commands)

    def _send(self, name: str, q: queue.Queue) -> None:
        conn = None
        pending: list[Command] | None = None
        failed = False
        while True:
            commands = q.get()
            if not failed:
                try:
                    if conn is None:
                        conn = self._connect(name)
                    if commands is not None:
                        conn.send_packed_command([b"".join([hiredis.pack_command(c) for c in commands])])
                    if pending is not None:
                        self._read(conn, pending)
                    pending = commands
                except Exception as exc:  # noqa: BLE001 - reported by close()
                    with self._lock:
                        self._errors.append(BulkWriteError(f"writing to {name}: {exc.__class__.__name__}: {exc}"))
                    failed = True
            if commands is None:  # the end: every batch before it has been read
                if conn is not None:
                    conn.disconnect()
                return

    def _read(self, conn: redis.Connection, commands: list[Command]) -> None:
        for c in commands:
            try:
                conn.read_response()
            except (MovedError, AskError):
                with self._lock:
                    self._redirected.append(c)
            except ResponseError as exc:
                with self._lock:
                    self._errors.append(exc)

    def close(self, raise_errors: bool = True) -> int:
        """Flush every buffer, wait for every node, resend redirected commands; returns commands written."""
        for name, buf in self._buffers.items():
            if buf:
                self._submit(name, buf)
        self._buffers = {}
        for q, _ in self._workers.values():
            q.put(None)
        for _, t in self._workers.values():
            t.join()
        self._workers = {}
        if self._redirected and not self._errors:
            for c in self._redirected:
                self.client.execute_command(*c)
            self._redirected = []
        if raise_errors and self._errors:
            raise self._errors[0]
        return self.commands


def _routing(client: Client) -> tuple[Callable[[bytes], str], Callable[[str], redis.Connection]]:
    """(key -> node name, node name -> a new connection to it) for one Redis or a cluster."""
    if not is_cluster(client):
        pool = client.connection_pool
        return (lambda key: "redis"), (lambda name: pool.make_connection())
    nodes = client.nodes_manager
    # The slot map as the publish starts; a slot that moves meanwhile answers MOVED and is sent again.
    owner = [nodes.get_node_from_slot(slot).name for slot in range(16384)]

    def route(key: bytes) -> str:
        return owner[key_slot(key)]

    def connect(name: str) -> redis.Connection:
        pool = client.get_redis_connection(client.get_node(node_name=name)).connection_pool
        return pool.connection_class(**pool.connection_kwargs)

    return route, connect
