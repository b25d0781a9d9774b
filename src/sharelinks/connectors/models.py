"""Connectors: a vendor account (HubSpot, SFMC, Klaviyo, Iterable, Braze, Customer.io) that owns the
webhook delivering its share links, plus the token bucket all workers share for its rate limit."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, ForeignKey, String, Table, Text, UniqueConstraint

from sharelinks.db.metadata import JSONText, UTCDateTime, metadata

connectors = Table(
    "connectors",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("program_id", BigInteger, ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    # The vendor credentials as one sealed JSON document (AES-GCM, like security keys).
    Column("credentials", Text, nullable=False),
    Column("options", JSONText, nullable=False),
    Column("base_url", String(2048), nullable=True),
    # active | unauthorized (paused until the credentials change) | failing
    Column("status", String(20), nullable=False),
    Column("last_error", String(1000), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("name"),
)

rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("connector_id", BigInteger, ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
