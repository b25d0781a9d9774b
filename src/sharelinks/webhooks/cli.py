"""`sharelinks webhooks`: definitions, the events report and replay from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from sharelinks.clitools import fail, migrated_database, out
from sharelinks.config import Settings
from sharelinks.delivery.ssrf import NetworkPolicy
from sharelinks.http.body import Fields
from sharelinks.http.dates import parse_iso8601
from sharelinks.http.errors import ApiError
from sharelinks.ids import parse_id
from sharelinks.webhooks import service

app = typer.Typer(help="Outbound webhooks.", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A name for the webhook.")],
    url: Annotated[str, typer.Option(help="The endpoint.")],
    key_id: Annotated[str | None, typer.Option(help="Security key id that authenticates or signs.")] = None,
    method: Annotated[str, typer.Option(help="POST, PUT or PATCH.")] = "POST",
    program: Annotated[str | None, typer.Option(help="Only this program's events.")] = None,
    field: Annotated[list[str] | None, typer.Option(help="Payload field; repeatable.")] = None,
    template: Annotated[str | None, typer.Option(help="Payload template (JSON with {{placeholders}}).")] = None,
    header: Annotated[list[str] | None, typer.Option(help="Extra header 'Name: value'; repeatable.")] = None,
    retry: Annotated[list[str] | None, typer.Option(help="Retry interval (ISO-8601); repeatable.")] = None,
) -> None:
    """Create a webhook for share_link_created."""
    body: dict[str, Any] = {"name": name, "url": url, "method": method, "client_key_id": key_id,
                            "program_label": program}  # fmt: skip
    if field:
        body["payload_fields"] = field
    if template:
        try:
            body["payload_template"] = orjson.loads(template)
        except orjson.JSONDecodeError:
            fail(ApiError("invalid_payload_template", message="--template is not valid JSON."))
    if header:
        body["headers"] = dict(h.split(":", 1) for h in header if ":" in h)
        body["headers"] = {k.strip(): v.strip() for k, v in body["headers"].items()}
    if retry:
        body["retry_intervals"] = retry
    settings = Settings.from_env()
    db = migrated_database(settings)
    try:
        created = db.call(service.create_from, Fields(body), NetworkPolicy(settings.webhook_allow_networks))
    except ApiError as error:
        fail(error)
    out.print(f"webhook {created.id}: {created.method} {created.url}")


@app.command("list")
def list_webhooks() -> None:
    """List webhooks with their delivery counts."""
    db = migrated_database()
    table = Table("id", "name", "url", "key", "enabled", "pending", "retrying", "delivered", "dead letter")
    for w in db.call(service.list_webhooks):
        counts = db.call(service.counts_by_status, w.id)
        table.add_row(str(w.id), w.name, w.url, str(w.client_key_id or ""), str(w.enabled),
                      *(str(counts[s]) for s in service.STATUSES))  # fmt: skip
    out.print(table)


@app.command("events")
def events(
    webhook_id: Annotated[str | None, typer.Option(help="Only this webhook.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, retrying, delivered or dead_letter.")] = None,
    email: Annotated[str | None, typer.Option(help="Only events for this email.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """The webhook events report."""
    db = migrated_database()
    where = service.ReportFilter(
        webhook_id=parse_id(webhook_id) if webhook_id else None, status=status, email=email, limit=limit
    )
    table = Table("event id", "webhook", "status", "email", "created", "attempts", "last status", "last error")
    for row, _attempts in db.call(service.report, where):
        table.add_row(str(row.id), row.webhook_name, row.status, row.event.get("email") or "",
                      row.created_at.isoformat(timespec="seconds"), str(row.attempt_count),
                      str(row.last_status_code or ""), row.last_error or "")  # fmt: skip
    out.print(table)


@app.command("replay")
def replay(
    webhook_id: Annotated[str, typer.Argument(help="The webhook's id.")],
    status: Annotated[str, typer.Option(help="Which messages to send again.")] = "dead_letter",
    since: Annotated[str | None, typer.Option(help="Created at or after (ISO-8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Created before (ISO-8601).")] = None,
) -> None:
    """Send a webhook's dead letters (or other messages) again, keeping their ids."""
    db = migrated_database()
    try:
        count = db.call(
            service.replay_many,
            webhook_id,
            status,
            parse_iso8601(since) if since else None,
            parse_iso8601(until) if until else None,
        )
    except ApiError as error:
        fail(error)
    out.print(f"queued {count} messages again")


@app.command("test")
def test(webhook_id: Annotated[str, typer.Argument(help="The webhook's id.")]) -> None:
    """Queue a sample Share Link Created to this webhook."""
    db = migrated_database()
    try:
        event_id = db.call(service.enqueue_test, webhook_id)
    except ApiError as error:
        fail(error)
    out.print(f"queued test event {event_id}")
