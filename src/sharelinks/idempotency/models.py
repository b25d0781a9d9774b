"""Idempotency keys: the first answer to a POST that carried one, replayed to its repeats."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Table

from sharelinks.db.metadata import JSONText, UTCDateTime, metadata

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # SHA-256 (hex) of the credential and the key: neither is stored.
    Column("scope_hash", String(64), primary_key=True),
    # SHA-256 (hex) of the method, path, query and body: a key reused for another request is refused.
    Column("request_hash", String(64), nullable=False),
    # NULL while the first request is being answered; then the answer kept for its repeats.
    Column("status_code", Integer, nullable=True),
    Column("headers", JSONText, nullable=True),
    Column("body", LargeBinary, nullable=True),
    # Until when the first request holds the key: past it (a crashed process), a repeat takes over.
    Column("locked_until", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
)
