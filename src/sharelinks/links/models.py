"""Clicks on share links, and the per-day rollup the stats read (never a COUNT(*) over clicks)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, Identity, Index, Integer, String, Table

from sharelinks.db.metadata import UTCDateTime, metadata

# One row per redirect (bots and repeats included, flagged). No foreign keys: a click outlives a
# deleted link, and the click path never waits on a constraint check elsewhere. An append-only log:
# the database numbers the rows (SQLite's rowid, a PostgreSQL identity) and the only index is on the
# time, so a batch of clicks is written at the end of each B-tree, not into pages all over it (random
# keys and a per-link index made a click cost 15-35 µs to store; appended, about 3).
clicks = Table(
    "clicks",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True),
    Column("clicked_at", UTCDateTime, nullable=False),
    Column("shareable_id", BigInteger, nullable=True),
    Column("code", String(50), nullable=False),
    Column("program_id", BigInteger, nullable=True),
    Column("person_id", BigInteger, nullable=True),
    # HMAC-SHA256 of the IP with a salt that rotates daily and never leaves the process.
    Column("ip_hash", String(32), nullable=False),
    Column("user_agent", String(512), nullable=True),
    Column("referer", String(1024), nullable=True),
    Column("is_bot", Boolean, nullable=False),
    Column("via_qr", Boolean, nullable=False),
    # Counted: not a bot, and not a repeat from the same visitor within the hour.
    Column("is_unique", Boolean, nullable=False),
    Index("ix_clicks_clicked_at", "clicked_at"),
)

click_daily = Table(
    "click_daily",
    metadata,
    Column("shareable_id", BigInteger, primary_key=True, autoincrement=False),
    Column("day", Date, primary_key=True),
    Column("program_id", BigInteger, nullable=False),
    Column("clicks", Integer, nullable=False),
    Column("unique_visitors", Integer, nullable=False),
    Column("qr_scans", Integer, nullable=False),
    Index("ix_click_daily_program_id_day", "program_id", "day"),
)
