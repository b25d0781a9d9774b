"""Clicks on share links, and the per-day rollup the stats read (never a COUNT(*) over clicks)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, Identity, Index, Integer, MetaData, String, Table

from sharelinks.db.metadata import JSONText, UTCDateTime, metadata

# The click log: one row per redirect (bots and repeats included, flagged), stored in blocks. A
# block holds the clicks of one flush (up to CLICKS_PER_BLOCK) as a JSON array of arrays (the
# `clicks` column below), so storing 500 clicks is one row of ~100 KB, not 500 rows of 12 values and
# their index entries: a stored click cost the writer 6.5-13 µs as a row (SQLite unpacking the JSON
# parameter, then the B-tree inserts) and competed with the redirects for the CPU; as part of a
# block, well under 1 µs. Nothing in the service reads clicks back (stats come from the counters
# and `click_daily`); for people and tools the view `clicks` (migration 0011) shows one row per
# click with the columns below. No foreign keys: a click outlives a deleted link.
CLICKS_PER_BLOCK = 500
click_blocks = Table(
    "click_blocks",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("click_count", Integer, nullable=False),
    # [[microseconds since the epoch, shareable_id, code, program_id, person_id, ip_hash,
    #   user_agent, referer, is_bot, via_qr, is_unique], ...]
    Column("clicks", JSONText, nullable=False),
    Index("ix_click_blocks_first_at", "first_at"),
)

# The view, for reading (it is not in `metadata`: the migrations create it, and the schema check
# compares tables only). `id` is the block's id * CLICK_ID_STRIDE + the click's place in it.
# ip_hash: keyed BLAKE2b (16 bytes, hex) of the IP with a salt that rotates daily and never leaves
# the process (HMAC-SHA256 in clicks stored before 2026-11-28; the same length).
# is_unique: counted, i.e. not a bot and not a repeat from the same visitor within the hour.
CLICK_ID_STRIDE = 10_000
clicks = Table(
    "clicks",
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("clicked_at", UTCDateTime, nullable=False),
    Column("shareable_id", BigInteger, nullable=True),
    Column("code", String(50), nullable=False),
    Column("program_id", BigInteger, nullable=True),
    Column("person_id", BigInteger, nullable=True),
    Column("ip_hash", String(32), nullable=False),
    Column("user_agent", String(512), nullable=True),
    Column("referer", String(1024), nullable=True),
    Column("is_bot", Boolean, nullable=False),
    Column("via_qr", Boolean, nullable=False),
    Column("is_unique", Boolean, nullable=False),
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
