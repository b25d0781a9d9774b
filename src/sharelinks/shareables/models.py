from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table, UniqueConstraint

from sharelinks.db.metadata import JSONText, UTCDateTime, metadata

shareables = Table(
    "shareables",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("person_id", BigInteger, ForeignKey("persons.id", ondelete="CASCADE"), nullable=False),
    Column("program_id", BigInteger, ForeignKey("programs.id"), nullable=False, index=True),
    Column("key", String(255), nullable=False),
    Column("label", String(50), nullable=True),
    # As given (display case is kept) ...
    Column("code", String(50), nullable=False),
    # ... and lowercased: unique across the deployment, so any program domain resolves any code.
    Column("code_key", String(50), nullable=False, unique=True),
    Column("domain", String(260), nullable=False),
    Column("content", JSONText(), nullable=True),
    Column("data", JSONText(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Materialised click counters, updated per flush of the click buffer: stats never COUNT(*) clicks.
    Column("clicks", BigInteger, nullable=False, server_default="0"),
    Column("unique_visitors", BigInteger, nullable=False, server_default="0"),
    Column("qr_scans", BigInteger, nullable=False, server_default="0"),
    # One link per person and key: the database, not a read-then-write, makes create idempotent.
    UniqueConstraint("person_id", "key"),
)
