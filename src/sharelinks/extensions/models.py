"""Extensions: program-level reactions to events, such as Create Share Link on Event."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, String, Table

from sharelinks.db.metadata import JSONText, UTCDateTime, metadata

extensions = Table(
    "extensions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(40), nullable=False),
    Column("program_id", BigInteger, ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("trigger_events", JSONText, nullable=False),
    Column("key", String(255), nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
