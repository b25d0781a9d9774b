"""Settings, read once from the environment. One settings object for the whole process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SQLITE_FILE = "sharelinks.db"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


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
    # Master key for secrets at rest (security keys). Unset on SQLite: generated into
    # `secret_key_file` (beside the database, mode 0600) on first start. Required on PostgreSQL,
    # where every process must share it.
    secret_key: str | None = None
    secret_key_file: str | None = None
    # Outbound deliveries: the worker runs inside `serve` unless turned off (scale-out runs
    # `sharelinks worker` processes instead).
    run_worker: bool = True
    worker_concurrency: int = 64
    # A missed wake-up never loses work: the worker also looks for due deliveries this often.
    delivery_poll_seconds: float = 1.0
    # Longer than connect + total timeout, so a live request never loses its claim.
    delivery_lease_seconds: float = 90.0
    delivery_connect_timeout: float = 5.0
    delivery_total_timeout: float = 15.0
    # After a 429 or a timeout the next attempt waits at least this long (Svix's overload floor).
    delivery_overload_floor_seconds: float = 60.0
    dead_letter_retention_days: float = 7.0
    delivered_retention_days: float = 7.0
    # Private networks the worker may deliver to (comma-separated CIDRs); everything non-public is
    # refused otherwise. Tests and local demos set 127.0.0.0/8.
    webhook_allow_networks: str = ""
    # Where uploaded backfill files and their results are kept (default: beside the SQLite file,
    # else ./sharelinks-data).
    data_dir: str | None = None
    # Share links: how long the first-party cookie remembers the advocate's code, how often
    # buffered clicks are written (what `kill -9` can lose), and how long the click log keeps
    # them (0: for good; the per-link counters and the daily rollup are kept either way).
    advocate_cookie_days: float = 30.0
    click_flush_seconds: float = 1.0
    click_retention_days: float = 0.0

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
            secret_key=os.environ.get("SHARELINKS_SECRET_KEY") or None,
            secret_key_file=os.environ.get("SHARELINKS_SECRET_KEY_FILE") or None,
            run_worker=_bool("SHARELINKS_WORKER", defaults.run_worker),
            worker_concurrency=_int("SHARELINKS_WORKER_CONCURRENCY", defaults.worker_concurrency),
            delivery_poll_seconds=_float("SHARELINKS_DELIVERY_POLL_SECONDS", defaults.delivery_poll_seconds),
            delivery_lease_seconds=_float("SHARELINKS_DELIVERY_LEASE_SECONDS", defaults.delivery_lease_seconds),
            delivery_connect_timeout=_float("SHARELINKS_DELIVERY_CONNECT_TIMEOUT", defaults.delivery_connect_timeout),
            delivery_total_timeout=_float("SHARELINKS_DELIVERY_TOTAL_TIMEOUT", defaults.delivery_total_timeout),
            delivery_overload_floor_seconds=_float(
                "SHARELINKS_DELIVERY_OVERLOAD_FLOOR_SECONDS", defaults.delivery_overload_floor_seconds
            ),
            dead_letter_retention_days=_float(
                "SHARELINKS_DEAD_LETTER_RETENTION_DAYS", defaults.dead_letter_retention_days
            ),
            delivered_retention_days=_float("SHARELINKS_DELIVERED_RETENTION_DAYS", defaults.delivered_retention_days),
            webhook_allow_networks=os.environ.get("SHARELINKS_WEBHOOK_ALLOW_NETWORKS", ""),
            data_dir=os.environ.get("SHARELINKS_DATA_DIR") or None,
            advocate_cookie_days=_float("SHARELINKS_ADVOCATE_COOKIE_DAYS", defaults.advocate_cookie_days),
            click_flush_seconds=_float("SHARELINKS_CLICK_FLUSH_SECONDS", defaults.click_flush_seconds),
            click_retention_days=_float("SHARELINKS_CLICK_RETENTION_DAYS", defaults.click_retention_days),
        )

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database file, or None (PostgreSQL, or an in-memory database)."""
        if not self.is_sqlite:
            return None
        database = self.database_url.split("///", 1)[-1]
        return Path(database) if database and database != ":memory:" else None

    def resolved_data_dir(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir)
        database = self.sqlite_file
        return (database.parent if database else Path.cwd()) / "sharelinks-data"

    def resolved_secret_key_file(self) -> Path:
        """Where the generated master key lives: beside the SQLite file, else the current folder."""
        if self.secret_key_file:
            return Path(self.secret_key_file)
        database = self.sqlite_file
        return Path(f"{database}.secret") if database else Path.cwd() / "sharelinks.secret"
