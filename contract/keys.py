"""The Redis key schema, shared by the writer (training.publish) and the readers (recsvc.store).

No other module builds a key. Every result lives under a version namespace; one pointer names the
active version, so switching versions is a single atomic step. Values are encoded by
`contract.codecs` (ranked lists, the catalog) and `contract.records` (typed records).

The same names serve one Redis and a Redis Cluster. On a cluster a key's slot is the hash of the part
between its first `{` and the next `}` (its hash tag), and a command or MULTI/EXEC may only touch
keys of one slot. The tags are chosen so that every read and every atomic write the programs do
stays in one slot:

- `{u:<user id>}`: everything one request reads for a user (their list and purchases, profile, offers,
  live state, impressions): one round trip to one node. The kind comes before the tag
  (`recsvc:recent:{u:42}`) so the client-side-caching prefixes still tell live state from
  impressions, and the version is not in the tag, so versioned and live keys share the slot.
- `{meta}`: the active pointer, the version list and states, experiments and the experiment secret
  (and any other control key, `control()`): a publish's switch is one MULTI/EXEC.
- `{v:<version>}`: a version's singletons (catalog, popular and trending lists, segments, campaigns,
  distributions, metadata): the fallback snapshot is one round trip.
- one tag per big collection (a segment's members, an offer's audiences, an experiment's counters,
  an offer's outcomes), so they spread over the nodes while each read stays on one node;
  similar-item lists have no tag and spread over every slot.
- the live event stream is sharded by user over `EVENT_SHARDS` streams on a cluster (one stream is
  one hot node); one Redis keeps the single stream `recsvc:events`.

No prefix in front of a tag holds a `{`, so a user's tag is the same in all of their keys whatever
the id contains.
"""

from __future__ import annotations

from redis.crc import key_slot

PREFIX = "recsvc"
META_TAG = "{meta}"


def control(name: str) -> str:
    """A control key: all of them share the `{meta}` slot, so they change together in one MULTI/EXEC."""
    return f"{PREFIX}:{META_TAG}:{name}"


ACTIVE = control("active")  # string: the active version
VERSIONS = control("versions")  # sorted set: version -> publish start (unix seconds)
VERSION_STATE = control("version_state")  # hash: version -> "writing" | "complete"
# string: token of the publisher writing now (SET NX PX, renewed while it writes; contract/publish_lock.py).
# Kept beside ACTIVE and VERSION_STATE: the fenced switch WATCHes it in the same MULTI/EXEC.
PUBLISH_LEASE = control("publish_lease")
WRITING = "writing"
COMPLETE = "complete"


def user_tag(user_id: str) -> str:
    return "{u:" + user_id + "}"


def _v(version: str) -> str:
    return f"{PREFIX}:v:{version}"


def _vt(version: str) -> str:
    """A version's singletons: one slot per version."""
    return f"{_v(version)}:{{v:{version}}}"


def version_pattern(version: str) -> str:
    """SCAN pattern matching every key of one version (on a cluster: on every master)."""
    return f"{_v(version)}:*"


def meta(version: str) -> str:
    """Hash: trained_at, published_at, metrics (JSON), counts."""
    return f"{_vt(version)}:meta"


def catalog(version: str) -> str:
    """One blob: every showable item's title, category and availability; its order is the index space
    of the version's indexed lists (contract.codecs.encode_indexed)."""
    return f"{_vt(version)}:catalog"


def recs(version: str, user_id: str) -> str:
    """The user's indexed ranked list and past purchases (contract.codecs.encode_indexed)."""
    return f"{_v(version)}:rec:{user_tag(user_id)}"


def rec_reasons(version: str, user_id: str) -> str:
    """msgpack list of the reason codes of the first items of the user's list (contract/reasons.py)."""
    return f"{_v(version)}:reasons:{user_tag(user_id)}"


def buy_again(version: str, user_id: str) -> str:
    """Ranked list of the user's own past purchases in the ranking stage's order ("order again")."""
    return f"{_v(version)}:again:{user_tag(user_id)}"


def similar(version: str, item_id: str) -> str:
    """An indexed ranked list; no tag: item lists spread over the whole cluster."""
    return f"{_v(version)}:sim:{item_id}"


def popular(version: str, category: str = "") -> str:
    """Popular list; category '' is the global list."""
    return f"{_vt(version)}:pop:{category}"


def trending(version: str, category: str = "") -> str:
    return f"{_vt(version)}:trend:{category}"


def item_attributes(version: str) -> str:
    """records.CatalogAttributes: brand, tags, price and margin per item, and how fresh the catalog was."""
    return f"{_vt(version)}:attrs"


def content_index(version: str) -> str:
    """The TF-IDF index of the catalog's texts (contract/content.py): similar items for new items."""
    return f"{_vt(version)}:content"


def bought_together(version: str, item_id: str) -> str:
    """records.BoughtTogether: the items most often in the same basket, with their association measures."""
    return f"{_v(version)}:fbt:{item_id}"


def new_arrivals(version: str, category: str = "") -> str:
    """Ranked list of the newest items (first seen most recently, never seen first); '' is the global list."""
    return f"{_vt(version)}:new:{category}"


def version_rules(version: str) -> str:
    """The business rules the version was published with (`training run --rules`), as a record of it."""
    return f"{_vt(version)}:rules"


def profile(version: str, user_id: str) -> str:
    """msgpack dict: segment, cluster, lifecycle stage, RFM and CLV of one customer."""
    return f"{_v(version)}:profile:{user_tag(user_id)}"


def segments(version: str) -> str:
    """msgpack list of every segment: id, name, kind, size, description, mean_clv."""
    return f"{_vt(version)}:segments"


def _segment_tag(version: str, segment_id: str) -> str:
    return f"{{v:{version}:seg:{segment_id}}}"


def segment_members(version: str, segment_id: str) -> str:
    """Sorted set of user ids (all scores 0): lexicographic order gives stable cursor pages."""
    return f"{_v(version)}:members:{_segment_tag(version, segment_id)}"


def segment_popular(version: str, segment_id: str) -> str:
    return f"{_v(version)}:segpop:{_segment_tag(version, segment_id)}"


def user_offers(version: str, user_id: str) -> str:
    """msgpack {"holdout": bool, "offers": [...]} for users with at least one assignment."""
    return f"{_v(version)}:offers:{user_tag(user_id)}"


def campaigns(version: str) -> str:
    """msgpack list of campaign summaries (audience, holdout, expected cost, budget)."""
    return f"{_vt(version)}:campaigns"


def _offer_tag(version: str, offer_id: str) -> str:
    return f"{{v:{version}:offer:{offer_id}}}"


def audience(version: str, offer_id: str, group: str) -> str:
    """Sorted set of user ids of one offer's treatment or holdout group (lexicographic pages)."""
    return f"{_v(version)}:audience:{_offer_tag(version, offer_id)}:{group}"


def audience_data(version: str, offer_id: str) -> str:
    """Hash user id -> msgpack {expected_value, items}."""
    return f"{_v(version)}:audience_data:{_offer_tag(version, offer_id)}"


def outcomes(offer_id: str) -> str:
    """Hash user id -> msgpack outcome. Not versioned: outcomes outlive model versions."""
    return f"{PREFIX}:outcomes:{{o:{offer_id}}}"


# -- live events ---------------------------------------------------------------------------------------
EVENT_SHARDS = 16  # streams on a cluster; their tags land on 16 distinct slots
RECENT_LENGTH = 50
RECENT_TTL_S = 30 * 86400
LIVE_BOUGHT_TTL_S = 180 * 86400


def event_stream(shard: int = 0, shards: int = 1) -> str:
    """Stream `shard` of `shards`: every ingested event, until `training export-events` drains it."""
    return f"{PREFIX}:events" if shards == 1 else f"{PREFIX}:events:{{s{shard}}}"


def event_shard(user_id: str, shards: int = 1) -> int:
    """The stream shard of a user's events (a function of the user: their events stay in order)."""
    return 0 if shards == 1 else key_slot(user_tag(user_id).encode()) % shards


def event_streams(shards: int = 1) -> list[str]:
    """Every stream shard (contract.connection.event_shards(client) says how many a deployment has)."""
    return [event_stream(k, shards) for k in range(shards)]


EVENTS_STREAM = event_stream()  # the stream of one Redis


def recent(user_id: str) -> str:
    """List, newest first: msgpack [event, item_id, unix seconds] of the user's last RECENT_LENGTH events."""
    return f"{PREFIX}:recent:{user_tag(user_id)}"


def live_bought(user_id: str) -> str:
    """Set of items the user bought since they were last trained on (excluded from their answers)."""
    return f"{PREFIX}:live_bought:{user_tag(user_id)}"


# A user's live state: the keys above and their consent statement (below).
LIVE_PREFIXES = (f"{PREFIX}:recent:", f"{PREFIX}:live_bought:", f"{PREFIX}:consent:")


def live_user(key: str) -> str | None:
    """The user id of a `recent`, `live_bought` or `consent` key; None for any other key."""
    for prefix in LIVE_PREFIXES:
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            if rest.startswith("{u:") and rest.endswith("}"):
                return rest[3:-1]
    return None


# Merchandising state that outlives versions: the live catalog overlay and the active business rules. Workers
# track the prefix (CLIENT TRACKING BCAST) and reload both on a change; MERCH_SEQ counts every write, read
# with the active pointer so a worker without invalidations still notices within its version cache period.
# On a cluster they share the `{meta}` slot with the active pointer (one round trip reads them all; one
# MULTI writes a change with its count); the kind comes before the tag, so the prefix still matches.
MERCH_PREFIX = f"{PREFIX}:merch:"
CATALOG_OVERLAY = f"{MERCH_PREFIX}{META_TAG}:overlay"  # hash item id -> records.ItemChange
RULES = f"{MERCH_PREFIX}{META_TAG}:rules"  # contract.rules.StoredRules: the active rule set, its source and time
MERCH_SEQ = f"{MERCH_PREFIX}{META_TAG}:seq"  # counter: incremented with every overlay or rules write

EXPERIMENTS = control("experiments")  # msgpack list of experiments, variant versions resolved
EXPERIMENT_SECRET = control("experiment_secret")  # MAC key of recommendation ids
IMPRESSIONS_LENGTH = 200


def impressions(user_id: str) -> str:
    """List, newest first: msgpack [item_id, recommendation_id, unix seconds] of recent impressions."""
    return f"{PREFIX}:impressions:{user_tag(user_id)}"


def experiment_counter(experiment_id: str, variant: str, name: str) -> str:
    """Per variant: users (set), impressions and clicks (counters), converters (set), revenue (hash)."""
    return f"{PREFIX}:exp:{{e:{experiment_id}}}:{variant}:{name}"


def experiment_rejected(experiment_id: str) -> str:
    """Hash: reason -> events with a recommendation id that were not attributed."""
    return f"{PREFIX}:exp:{{e:{experiment_id}}}:rejected"


def distributions(version: str) -> str:
    """msgpack {"clv": {"edges", "counts"}, "p_alive": {...}}: histograms for the dashboard."""
    return f"{_vt(version)}:distributions"


def user_keys(version: str, user_id: str) -> list[str]:
    """Every key of one user (one slot on a cluster: the tests check it)."""
    return [
        recs(version, user_id),
        rec_reasons(version, user_id),
        buy_again(version, user_id),
        profile(version, user_id),
        user_offers(version, user_id),
        recent(user_id),
        live_bought(user_id),
        impressions(user_id),
        consent(user_id),
    ]


# -- privacy: consent statements, erasures and their audit (docs/privacy.md) ---------------------------------
def consent(user_id: str) -> str:
    """msgpack Consent: the user's latest statement on profiling and marketing. Not versioned: it outlives
    retraining. Part of the user's live state (LIVE_PREFIXES), so workers cache it beside recent events."""
    return f"{PREFIX}:consent:{user_tag(user_id)}"


CONSENT_USERS = f"{PREFIX}:consent_users"  # sorted set: user id -> time of their latest statement (training reads it)
PURPOSES = ("profiling", "marketing")


def opted_out(purpose: str) -> str:
    """Set of user ids whose latest statement refuses `purpose` (counts for the dashboard)."""
    return f"{PREFIX}:opted_out:{purpose}"


PRIVACY_SALT = f"{PREFIX}:privacy_salt"  # key of the keyed hash of erased ids: created once, like the MAC key
SUPPRESSED = f"{PREFIX}:suppressed"  # hash: keyed hash of an erased id -> unix seconds of the erase
PRIVACY_AUDIT = f"{PREFIX}:privacy_audit"  # list, newest first: msgpack ErasureAudit (hashes, never ids)
OUTCOME_OFFERS = f"{PREFIX}:outcome_offers"  # set of offer ids with an outcomes hash (erase finds them all)
EXPERIMENT_VARIANTS = f"{PREFIX}:experiment_variants"  # set of "experiment\x00variant" with per-user counters


def experiment_variant_member(experiment_id: str, variant: str) -> str:
    return f"{experiment_id}\x00{variant}"
