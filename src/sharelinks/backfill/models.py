"""Backfill jobs: one input file, processed in committed chunks so a job resumes exactly where it stopped."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, String, Table

from sharelinks.db.metadata import UTCDateTime, metadata

batch_jobs = Table(
    "batch_jobs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("program_id", BigInteger, ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    # pending | in_progress | done | failed | canceled
    Column("status", String(12), nullable=False),
    Column("input_path", String(4096), nullable=False),
    Column("input_format", String(8), nullable=False),
    Column("output_path", String(4096), nullable=False),
    Column("rejects_path", String(4096), nullable=False),
    # The webhook (or a connector's webhook) every row's link is pushed to, if any.
    Column("push_webhook_id", BigInteger, nullable=True),
    Column("fire_webhooks", Boolean, nullable=False),
    # Input records consumed and committed: where a resumed job continues.
    Column("rows_done", Integer, nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("succeeded", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("links_created", Integer, nullable=False),
    Column("links_reused", Integer, nullable=False),
    # Bytes of the result files' `.part` copies that belong to committed chunks (backfill.files).
    Column("output_bytes", BigInteger, nullable=False, server_default="0"),
    Column("rejects_bytes", BigInteger, nullable=False, server_default="0"),
    Column("error", String(1000), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
)
