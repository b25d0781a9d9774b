"""Webhook definitions, the outbox of messages to deliver, and the attempts made.

A message is written in the transaction of the change that caused it (the transactional outbox). Its
id is the `webhook-id` receivers dedupe on: it stays the same on every retry and replay.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from sharelinks.db.metadata import JSONText, UTCDateTime, metadata

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("type", String(20), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("method", String(10), nullable=False),
    Column("client_key_id", BigInteger, ForeignKey("security_keys.id"), nullable=True),
    Column("program_id", BigInteger, ForeignKey("programs.id", ondelete="CASCADE"), nullable=True),
    # Set when a connector owns this webhook: its vendor shapes, batches and authenticates requests.
    Column("connector_id", BigInteger, nullable=True),
    Column("event_types", JSONText, nullable=False),
    Column("payload_fields", JSONText, nullable=True),
    Column("payload_template", JSONText, nullable=True),
    Column("headers", JSONText, nullable=False),
    Column("retry_intervals", JSONText, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("description", String(1000), nullable=True),
    Column("tags", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("name"),
)

# Statuses: pending (never tried), retrying (failed, another attempt scheduled), delivered,
# dead_letter. A message being sent keeps its status and holds a lease (lease_until, worker_id).
DUE_STATUSES = ("pending", "retrying")
DUE_PREDICATE = text("status IN ('pending', 'retrying')")

webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("webhook_id", BigInteger, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_type", String(100), nullable=False),
    # What makes two messages the same (e.g. the share link's id): a repeated cause enqueues nothing.
    Column("dedupe_key", String(200), nullable=True),
    Column("event", JSONText, nullable=False),
    Column("email_key", String(254), nullable=True),
    Column("status", String(12), nullable=False),
    Column("trigger", String(10), nullable=False),
    Column("attempt_count", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("worker_id", String(40), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("webhook_id", "event_type", "dedupe_key"),
    Index(
        "ix_webhook_messages_due",
        "next_attempt_at",
        sqlite_where=DUE_PREDICATE,
        postgresql_where=DUE_PREDICATE,
    ),
    Index("ix_webhook_messages_webhook_id_created_at", "webhook_id", "created_at"),
    # For the retention purge. Partial, so the planner never prefers it for claiming due messages.
    Index(
        "ix_webhook_messages_finished_at",
        "finished_at",
        sqlite_where=text("finished_at IS NOT NULL"),
        postgresql_where=text("finished_at IS NOT NULL"),
    ),
    Index("ix_webhook_messages_email_key", "email_key"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", BigInteger, ForeignKey("webhook_messages.id", ondelete="CASCADE"), nullable=False),
    Column("webhook_id", BigInteger, nullable=False),
    Column("number", Integer, nullable=False),
    Column("trigger", String(10), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("method", String(10), nullable=False),
    Column("request_headers", JSONText, nullable=False),
    Column("request_body", Text, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_headers", JSONText, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("truncated", Boolean, nullable=False),
    Column("error", String(500), nullable=True),
    Column("duration_ms", Float, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Index("ix_webhook_attempts_message_id", "message_id"),
    Index("ix_webhook_attempts_webhook_id_started_at", "webhook_id", "started_at"),
)
