"""Typed settings read from the environment inside the app factory; bad values fail at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from contract import connection


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got '{raw}'") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Typed service settings. `api_keys` never appear in repr, logs or errors."""

    redis_url: str
    redis_timeout_s: float = 0.25
    version_cache_s: float = 1.0
    fallback_refresh_s: float = 30.0
    redis_retry_s: float = 1.0
    local_cache_users: int = 50_000
    live_cache_users: int = 50_000
    access_log: bool = True
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        url = env.get("REDIS_URL", "").strip()
        if not url:
            raise SettingsError("REDIS_URL is required (e.g. redis://localhost:6379/0)")
        try:
            connection.parse(url)  # one Redis or a cluster (redis+cluster://HOST:PORT,HOST:PORT)
        except connection.UrlError as exc:
            raise SettingsError(f"REDIS_URL {exc}") from None
        level = env.get("RECSVC_LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"RECSVC_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got '{level}'")
        return cls(
            redis_url=url,
            redis_timeout_s=_float(env, "RECSVC_REDIS_TIMEOUT_S", 0.25, 0.01, 30),
            version_cache_s=_float(env, "RECSVC_VERSION_CACHE_S", 1.0, 0, 60),
            fallback_refresh_s=_float(env, "RECSVC_FALLBACK_REFRESH_S", 30.0, 1, 3600),
            redis_retry_s=_float(env, "RECSVC_REDIS_RETRY_S", 1.0, 0, 60),
            local_cache_users=int(_float(env, "RECSVC_LOCAL_CACHE_USERS", 50_000, 0, 10_000_000)),
            live_cache_users=int(_float(env, "RECSVC_LIVE_CACHE_USERS", 50_000, 0, 10_000_000)),
            log_level=level,
            api_keys=tuple(k.strip() for k in env.get("RECSVC_API_KEYS", "").split(",") if k.strip()),
            max_body_bytes=int(_float(env, "RECSVC_MAX_BODY_BYTES", 1_048_576, 1024, 100 * 2**20)),
            access_log=env.get("RECSVC_ACCESS_LOG", "1").strip().lower() not in ("0", "false", "no", "off"),
        )
