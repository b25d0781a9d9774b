"""Security keys (Security Center). The secret columns hold AES-GCM ciphertexts only."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, UniqueConstraint

from sharelinks.db.metadata import JSONText, UTCDateTime, metadata

security_keys = Table(
    "security_keys",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("type", String(20), nullable=False),
    Column("algorithm", String(40), nullable=False),
    Column("description", String(1000), nullable=True),
    Column("partner_key_id", String(255), nullable=True),
    Column("tags", JSONText, nullable=False),
    # Non-secret settings of the algorithm (header name, token URL, client id...).
    Column("options", JSONText, nullable=False),
    Column("secret", Text, nullable=False),
    # [{"secret": <sealed>, "valid_until": <iso>}]: older secrets still signing during a rotation.
    Column("retired_secrets", JSONText, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("name"),
)
