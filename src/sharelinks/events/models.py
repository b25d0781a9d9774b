from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table, UniqueConstraint

from sharelinks.db.metadata import JSONText, UTCDateTime, metadata

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False),
    Column("person_id", BigInteger, ForeignKey("persons.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("event_time", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False, index=True),
    Column("conversion_id", String(38), nullable=True),
    Column("data", JSONText(), nullable=False),
    # A repeated conversion_id for the same event name is the same event (Extole de-duplicates on it).
    UniqueConstraint("name", "conversion_id"),
)
