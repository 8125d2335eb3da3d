"""Redis access for the service, split by concern and composed in one `Store` per app.

- `connection`: the Redis client (one Redis or a cluster, `cluster_routing`) and its failure policy
  (`RedisDown`).
- `snapshot`: the active version, its catalog, experiments and the fallback snapshot.
- `user_state`: a user's live state and cached lists, from the worker's caches or one round trip.
- `reads`: published results and counters; `writes`: live events and campaign outcomes.
- `catalog_overlay` + `merch`: the live catalog overlay and the business rules (with `snapshot`), and the
  merchandising lists (bought together, content index, trending, new arrivals).
- `privacy`: consent statements and erasures.
"""

from __future__ import annotations

from contract import keys
from recsvc.settings import Settings
from recsvc.store.connection import RedisDown, open_connection
from recsvc.store.merch import Merch
from recsvc.store.privacy import PrivacyStore
from recsvc.store.reads import PublishedReads
from recsvc.store.snapshot import EMPTY, Catalog, NoActiveVersion, Ranked, Snapshot, VersionView
from recsvc.store.user_state import UserStates
from recsvc.store.writes import Writes

__all__ = ["EMPTY", "Catalog", "NoActiveVersion", "Ranked", "RedisDown", "Snapshot", "Store"]


class Store:
    """Everything a request may read or write in Redis; views reach it through `recsvc.extensions`."""

    def __init__(self, settings: Settings) -> None:
        self.redis = open_connection(settings)
        self.versions = VersionView(self.redis, settings)
        # The live-state listener also tracks the catalog overlay and the rules (recsvc/store/catalog_overlay.py).
        self.users = UserStates(
            self.redis, self.versions, settings, {keys.MERCH_PREFIX: self.versions.merch.invalidate}
        )
        self.versions.merch.listener = self.users.live_cache
        self.reads = PublishedReads(self.redis, self.versions)
        self.merch = Merch(self.redis, self.versions)
        self.writes = Writes(self.redis, self.users)
        self.privacy = PrivacyStore(self.redis, self.users)
