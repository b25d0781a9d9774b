from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Integer, String, Table

from sharelinks.db.metadata import JSONText, UTCDateTime, metadata

persons = Table(
    "persons",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("email", String(254), nullable=True),
    # Trimmed and lowercased: the identity. Unique, so two requests can never make two persons.
    Column("email_key", String(254), nullable=True, unique=True),
    Column("partner_user_id", String(255), nullable=True, unique=True),
    Column("first_name", String(50), nullable=True),
    Column("last_name", String(50), nullable=True),
    Column("picture_url", String(2048), nullable=True),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("data", JSONText(), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
