"""Every table, imported in one place so migrations and tests see the whole schema."""

from sharelinks.backfill.models import batch_jobs
from sharelinks.connectors.models import connectors, rate_buckets
from sharelinks.console.models import console_sessions, console_users
from sharelinks.db.nodes import id_nodes
from sharelinks.events.models import events
from sharelinks.extensions.models import extensions
from sharelinks.idempotency.models import idempotency_keys
from sharelinks.keys.models import security_keys
from sharelinks.links.models import click_daily, clicks
from sharelinks.persons.models import persons
from sharelinks.programs.models import program_domains, programs
from sharelinks.shareables.models import shareables
from sharelinks.tokens.models import tokens
from sharelinks.webhooks.models import webhook_attempts, webhook_messages, webhooks

__all__ = [
    "batch_jobs",
    "click_daily",
    "clicks",
    "connectors",
    "console_sessions",
    "console_users",
    "events",
    "extensions",
    "id_nodes",
    "idempotency_keys",
    "persons",
    "program_domains",
    "programs",
    "rate_buckets",
    "security_keys",
    "shareables",
    "tokens",
    "webhook_attempts",
    "webhook_messages",
    "webhooks",
]
