from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from sharelinks.db.metadata import UTCDateTime, metadata

tokens = Table(
    "access_tokens",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    # SHA-256 of the token: the token itself is shown once and never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(500), nullable=False),
    Column("type", String(20), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)
