from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table

from sharelinks.db.metadata import UTCDateTime, metadata

programs = Table(
    "programs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("label", String(50), nullable=False, unique=True),
    Column("destination_url", String(2048), nullable=False),
    Column("fallback_url", String(2048), nullable=True),
    Column("code_style", String(10), nullable=False),
    # The query parameter that carries the advocate's code to the destination.
    Column("advocate_param", String(50), nullable=False, server_default="advocate_code"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# One host belongs to at most one program; position 0 is the program's primary domain.
program_domains = Table(
    "program_domains",
    metadata,
    Column("domain", String(260), primary_key=True),
    Column("program_id", BigInteger, ForeignKey("programs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
)
