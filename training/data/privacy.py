"""What a training run must respect before it learns anything: erased customers and opt-outs.

- Erased customers (the suppression list, `contract/erasure.py`): their events are dropped, whichever
  file they come from. The list holds keyed hashes; the run hashes its input ids with the same salt.
  It is read from Redis (`--redis`) or from a file written by `training forget --suppression-out`
  (`--suppress`); the report counts the dropped events.
- Consent: the latest statement wins, between those stored in Redis (PUT /v1/users/<id>/consent) and
  the users file's `consent` column (`profiling=no;marketing=yes`, with the statement's time in an
  optional `consent_at` column, else the file's modification time). Customers opted out of profiling
  are left out of the run altogether (no list, profile, CLV, segment or offer: their events are
  dropped like an erased customer's, but only while the opt-out stands); customers opted out of
  marketing are trained on but left out of offers and audiences (`marketable`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from contract import erasure, records
from training.data import columns as C
from training.data.loading import parse_timestamps, read_table
from training.failures import InputFileError

CONSENT = "consent"
CONSENT_AT = "consent_at"
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}
DROPPED_ERASED = "erased"
DROPPED_PROFILING = "profiling_opt_out"
log = logging.getLogger(__name__)


@dataclass
class PrivacyInput:
    """The suppression list (keyed hashes and their salt) and the stored consent statements."""

    salt: bytes | None = None
    suppressed: frozenset[str] = frozenset()
    statements: dict[str, records.Consent] = field(default_factory=dict)
    source: str = "none"  # where the suppression list came from: redis, a file, or none

    def is_suppressed(self, user_ids: pd.Series) -> pd.Series:
        """Per row: was this id erased? (each distinct id hashed once)"""
        if self.salt is None or not self.suppressed:
            return pd.Series(False, index=user_ids.index)
        distinct = user_ids.unique()
        hit = {u for u in distinct if erasure.user_hash(self.salt, str(u)) in self.suppressed}
        return user_ids.isin(hit)


@dataclass
class PrivacyReport:
    """What the run left out, for the report (counts only, never ids)."""

    suppression: str = "none"
    rows_read: int = 0
    rows_kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    users_dropped: dict[str, int] = field(default_factory=dict)
    marketing_opt_outs: int = 0
    file_statements: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# -- reading the suppression list and the stored statements ---------------------------------------------------
def from_redis(client) -> PrivacyInput:
    """The whole suppression list and every stored statement (contract/erasure.py, contract/consent.py)."""
    from contract import consent

    return PrivacyInput(
        salt=erasure.salt(client),
        suppressed=frozenset(erasure.suppression_list(client)),
        statements=consent.read_all(client),
        source="redis",
    )


def write_suppression_file(client, path: Path) -> int:
    """The suppression list (hashes and salt) as a file for runs that cannot reach Redis (`--suppress`).
    Keep it as you keep the training data: with the salt, an id can be checked against it."""
    salt = erasure.salt(client)
    hashes = sorted(erasure.suppression_list(client))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"salt": salt.hex() if salt else None, "hashes": hashes}) + "\n")
    return len(hashes)


def from_file(path: Path) -> PrivacyInput:
    try:
        data = json.loads(path.read_text())
        salt = bytes.fromhex(data["salt"]) if data["salt"] else None
        hashes = frozenset(str(h) for h in data["hashes"])
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputFileError(
            path, f"not a suppression list written by `training forget --suppression-out` ({exc})"
        ) from None
    return PrivacyInput(salt=salt, suppressed=hashes, source=f"file {path}")


# -- the users file's consent column --------------------------------------------------------------------------
def _cell(path: Path, row: int, text: str) -> tuple[bool, bool]:
    granted = {"profiling": True, "marketing": True}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, value = (x.strip().lower() for x in part.partition("="))
        where = f"row {row}: '{text}'"
        if not sep or name not in granted:
            raise InputFileError(path, f"{where}: expected purpose=yes|no with purpose profiling or marketing", CONSENT)
        if value not in _YES | _NO:
            raise InputFileError(path, f"{where}: '{name}' must be yes or no", CONSENT)
        granted[name] = value in _YES
    return granted["profiling"], granted["marketing"]


def file_statements(path: Path) -> dict[str, records.Consent]:
    """The users file's consent statements (users with an empty cell made none). A cell that cannot be read
    stops the run (exit code 2): an opt-out must never be skipped like a bad row."""
    frame = read_table(path)
    if CONSENT not in frame.columns or C.USER_ID not in frame.columns:
        return {}
    default_at = path.stat().st_mtime
    stated = parse_timestamps(frame[CONSENT_AT]) if CONSENT_AT in frame.columns else None
    out: dict[str, records.Consent] = {}
    for k, (user, text) in enumerate(zip(frame[C.USER_ID], frame[CONSENT])):
        if user is None or pd.isna(user) or not str(user).strip() or text is None or pd.isna(text) or not text.strip():
            continue
        row = k + 2  # the header is row 1
        if stated is not None and pd.notna(frame[CONSENT_AT].iloc[k]) and pd.isna(stated.iloc[k]):
            raise InputFileError(path, f"row {row}: not a date or time: '{frame[CONSENT_AT].iloc[k]}'", CONSENT_AT)
        at = stated.iloc[k].timestamp() if stated is not None and pd.notna(stated.iloc[k]) else default_at
        profiling, marketing = _cell(path, row, str(text))
        out[str(user).strip()] = records.Consent(profiling, marketing, at, source="users_file")
    return out


def merged(stored: dict[str, records.Consent], from_file: dict[str, records.Consent]) -> dict[str, records.Consent]:
    """Per user, the latest statement (a tie goes to the stored one: it was recorded as it was made)."""
    out = dict(stored)
    for user, s in from_file.items():
        if user not in out or s.stated_at > out[user].stated_at:
            out[user] = s
    return out


# -- applying it ----------------------------------------------------------------------------------------------
@dataclass
class Policy:
    """The resolved rules of one run: who is erased, and each user's consent in force."""

    privacy: PrivacyInput
    consent: dict[str, records.Consent]
    file_statements: dict[str, records.Consent]
    report: PrivacyReport

    def marketing_opt_outs(self) -> set[str]:
        return {u for u, c in self.consent.items() if not c.allows_offers}


def build_policy(privacy: PrivacyInput | None, users: Path | str | None) -> Policy:
    """The run's rules from the suppression list and stored statements (`privacy`) and the users file."""
    privacy = privacy or PrivacyInput()
    from_users = file_statements(Path(users)) if users else {}
    report = PrivacyReport(suppression=privacy.source, file_statements=len(from_users))
    return Policy(privacy, merged(privacy.statements, from_users), from_users, report)


def policy_of(config) -> Policy:
    """`config.privacy`, built from the users file alone when the caller (a test, a bench) set none."""
    if config.privacy is None:
        config.privacy = build_policy(None, config.users)
    return config.privacy


def apply(events: pd.DataFrame, config) -> tuple[pd.DataFrame, PrivacyReport]:
    """The events without erased customers and profiling opt-outs, and the report of what went."""
    policy = policy_of(config)
    report = policy.report
    report.rows_read = len(events)
    users = events[C.USER_ID]
    erased = policy.privacy.is_suppressed(users)
    refused = {u for u, c in policy.consent.items() if not c.profiling}
    opted_out = users.isin(refused) & ~erased
    report.skipped = {DROPPED_ERASED: int(erased.sum()), DROPPED_PROFILING: int(opted_out.sum())}
    report.users_dropped = {
        DROPPED_ERASED: int(users[erased].nunique()),
        DROPPED_PROFILING: int(users[opted_out].nunique()),
    }
    kept = events.loc[~(erased | opted_out)].reset_index(drop=True)
    report.rows_kept = len(kept)
    present = set(kept[C.USER_ID].unique())
    report.marketing_opt_outs = len(policy.marketing_opt_outs() & present)
    return kept, report


def marketable(customers, config):
    """The customers offers may go to: without those whose consent refuses marketing (or profiling)."""
    refused = policy_of(config).marketing_opt_outs()
    if customers is None or not refused:
        return customers
    profiles = customers.profiles
    return dataclasses.replace(customers, profiles=profiles[~profiles.index.astype(str).isin(refused)])


def record_file_statements(client, policy: Policy) -> int:
    """Record the users file's statements in Redis (each only if newer than the stored one), so the service
    honours them between runs too; returns how many were applied."""
    from contract import consent

    return consent.record_many(client, policy.file_statements) if policy.file_statements else 0


def late_erasures(client, version: str, result) -> int:
    """Before a publish switches: erase from its version the users erased since the run read its input
    (an erasure that arrived mid-publish must not be undone by it). Returns how many users.

    Every user a version names comes from the run's events (lists, purchases, profiles, offers); the
    user lists are added for results built without events (the publish bench)."""
    users = set(result.user_ids.tolist()) | set(result.purchased)
    if C.USER_ID in result.events:
        users.update(result.events[C.USER_ID].unique().tolist())
    erased = sorted(erasure.suppressed_among(client, (str(u) for u in users)))
    if erased:
        removed = erasure.erase_in_version(client, version, erased)
        log.info(
            "erased %d customers from version %s during its publish (%d records)",
            len(erased),
            version,
            sum(removed.values()),
        )
    return len(erased)
