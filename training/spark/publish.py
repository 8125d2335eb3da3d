"""Per-user lists written to Redis from the executors, into the version the driver began.

The driver holds the publish lease (renewed by its own thread) and makes the switch; each executor task
connects to the same Redis URL (one Redis or a cluster), encodes its partition's users exactly as
training/publish/redis_publisher.py does (indexed lists in the version's catalog positions with the
purchases the service filters appended, reason codes, "order again" lists; keys of contract/keys.py) and
sends them with the same bulk writer, which asks Redis before every batch whether the lease still holds
the driver's token: a publisher that lost its lease writes nothing more. A failed task fails the job; the
driver then deletes the partial version and the previous one stays active.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pandas as pd

from contract import codecs, keys
from contract.reasons import encode_reasons
from training.data import columns as C
from training.failures import TrainingError

# Fault injection for the failure tests (tests/training/spark): a task that has written this many users
# ends its Python worker abruptly, as a killed executor would. Unset in production.
CRASH_AFTER_ENV = "RECSVC_SPARK_CRASH_AFTER_USERS"
ROW_COLUMNS = (C.USER_ID, "items", "scores", "reasons", "again", "again_scores", "purchased")


class ExecutorPublishError(TrainingError):
    exit_code = 4


def _padded(rows: list, n: int, fill, dtype) -> np.ndarray:
    out = np.full((len(rows), max(n, 1)), fill, dtype=dtype)
    for k, values in enumerate(rows):
        values = list(values if values is not None else [])[:n]
        if values:
            out[k, : len(values)] = values
    return out


def encode_rows(version: str, rows: pd.DataFrame, positions, top_n: int, with_reasons: bool):
    """(key, value) pairs of a block of served rows, as redis_publisher._write_version writes them."""
    users = rows[C.USER_ID].astype(str).tolist()
    items = _padded(rows["items"].tolist(), top_n, "", object)
    scores = _padded(rows["scores"].tolist(), top_n, np.nan, np.float32)
    bought = [list(p) if p is not None else [] for p in rows["purchased"].tolist()]
    for user, blob in zip(users, positions.lists(items, scores, bought)):
        yield keys.recs(version, user), blob
    if with_reasons:
        for user, codes in zip(users, rows["reasons"].tolist()):
            yield keys.rec_reasons(version, user), encode_reasons([c for c in codes if c])
    for user, again, again_scores in zip(users, rows["again"].tolist(), rows["again_scores"].tolist()):
        if again is not None and len(again):
            yield keys.buy_again(version, user), codecs.encode_list(list(again), np.asarray(again_scores))


def _writer(url: str, version: str, token: str, batch: int, with_reasons: bool, top_n: int, catalog_ids: list):
    def write(partition: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from contract import connection
        from contract.publish_lock import _str
        from training.publish.bulk_writer import BulkWriter
        from training.publish.indexed_lists import CatalogPositions

        crash_after = int(os.environ.get(CRASH_AFTER_ENV, "0") or 0)
        positions = CatalogPositions(pd.DataFrame({"item_id": catalog_ids, "in_catalog": True}))
        client = connection.connect(url, timeout=60, connect_timeout=5)

        def lease_held() -> None:
            if _str(client.get(keys.PUBLISH_LEASE)) != token:
                raise ExecutorPublishError(f"the publish lease of version {version} is gone; this task stops writing")

        users = 0
        try:
            with BulkWriter(client, batch, before_batch=lease_held) as writer:
                for rows in partition:
                    if crash_after and users + len(rows) >= crash_after:
                        writer.add_many(
                            ("SET", k, v) for k, v in encode_rows(version, rows, positions, top_n, with_reasons)
                        )
                        writer.close(raise_errors=True)
                        os._exit(17)  # a killed executor: its part is half written
                    writer.add_many(
                        ("SET", k, v) for k, v in encode_rows(version, rows, positions, top_n, with_reasons)
                    )
                    users += len(rows)
        finally:
            client.close()
        yield pd.DataFrame({"users": [users], "commands": [writer.commands]})

    return write


def executor_writer(served, url: str, batch: int, with_reasons: bool, top_n: int, catalog, partitions: int):
    """`RunResult.user_lists_writer`: writes the covered users' lists from the executors; returns them."""
    from training.publish.redis_publisher import PublishError

    shown = catalog["in_catalog"].to_numpy(dtype=bool)
    catalog_ids = catalog["item_id"].to_numpy()[shown].astype(str).tolist()

    def run(pub) -> set[str]:
        rows = served.where("covered").select(*ROW_COLUMNS)
        try:
            # few, uneven partitions after the cogroup: spread the users before writing
            done = (
                rows.repartition(partitions)
                .mapInPandas(
                    _writer(url, pub.version, pub.lease.token, batch, with_reasons, top_n, catalog_ids),
                    "users long, commands long",
                )
                .toPandas()
            )
        except Exception as exc:
            text = [line for line in str(exc).strip().splitlines() if line.strip()]
            raise PublishError(
                "writing the per-user lists from the Spark executors failed (the previous version stays "
                f"active): {text[0][:300] if text else type(exc).__name__}"
            ) from None
        pub.commands += int(done["commands"].sum())
        return {r[0] for r in served.where("covered").select(C.USER_ID).collect()}

    return run
