"""Settings, read once from the environment. One settings object for the whole process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SQLITE_FILE = "sharelinks.db"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def normalize_database_url(url: str) -> str:
    """Accept the URLs people paste (`postgres://`, `postgresql://`) and pin the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=lambda: f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_FILE}")
    # Request bodies above this are refused before parsing (413), so a client cannot make us buffer
    # arbitrary amounts of memory. Batch endpoints get their own, larger cap.
    max_body_bytes: int = 1 << 20
    max_batch_body_bytes: int = 16 << 20
    max_batch_items: int = 1000
    # Access tokens are looked up by hash; a short in-process cache keeps the database off the
    # request path. A revoked token stays usable in *other* processes for at most this long.
    token_cache_seconds: float = 5.0
    access_log: bool = True
    log_level: str = "INFO"
    # Extole requires an email before a person can get a share link (`person_not_rewardable`).
    require_email_for_shareables: bool = True

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls) -> Settings:
        defaults = cls()
        return cls(
            database_url=normalize_database_url(os.environ.get("SHARELINKS_DATABASE_URL") or defaults.database_url),
            max_body_bytes=_int("SHARELINKS_MAX_BODY_BYTES", defaults.max_body_bytes),
            max_batch_body_bytes=_int("SHARELINKS_MAX_BATCH_BODY_BYTES", defaults.max_batch_body_bytes),
            max_batch_items=_int("SHARELINKS_MAX_BATCH_ITEMS", defaults.max_batch_items),
            token_cache_seconds=float(os.environ.get("SHARELINKS_TOKEN_CACHE_SECONDS") or defaults.token_cache_seconds),
            access_log=_bool("SHARELINKS_ACCESS_LOG", defaults.access_log),
            log_level=os.environ.get("SHARELINKS_LOG_LEVEL") or defaults.log_level,
            require_email_for_shareables=_bool(
                "SHARELINKS_REQUIRE_EMAIL_FOR_SHAREABLES", defaults.require_email_for_shareables
            ),
        )
