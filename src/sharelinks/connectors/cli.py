"""`sharelinks connector`: set up a vendor in a minute, and get its template snippet."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from sharelinks.clitools import fail, migrated_database, out
from sharelinks.config import Settings
from sharelinks.connectors import service
from sharelinks.delivery.ssrf import NetworkPolicy
from sharelinks.http.body import Fields
from sharelinks.http.errors import ApiError
from sharelinks.keys.crypto import SecretBox

app = typer.Typer(help="Connectors: HubSpot, SFMC, Klaviyo, Iterable, Braze, Customer.io.", no_args_is_help=True)


def _pairs(values: list[str] | None) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for value in values or []:
        name, _, raw = value.partition("=")
        try:
            pairs[name] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pairs[name] = raw
    return pairs


@app.command("create")
def create(
    type: Annotated[str, typer.Option("--type", help="hubspot, sfmc, klaviyo, iterable, braze or customerio.")],
    name: Annotated[str, typer.Option(help="A name for the connector.")],
    program: Annotated[str, typer.Option(help="The program's label.")],
    credential: Annotated[list[str] | None, typer.Option(help="name=value, e.g. token=pat-na1-…; repeatable.")] = None,
    option: Annotated[list[str] | None, typer.Option(help="name=value, e.g. region=eu; repeatable.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Override the vendor host (a proxy, a fake).")] = None,
) -> None:
    """Create a connector (its key, webhook and payload are made for you)."""
    body = {"type": type, "name": name, "program_label": program, "credentials": _pairs(credential),
            "options": _pairs(option), "base_url": base_url}  # fmt: skip
    settings = Settings.from_env()
    db = migrated_database(settings)
    try:
        made = db.call(service.create, SecretBox.from_settings(settings), Fields(body),
                       NetworkPolicy(settings.webhook_allow_networks))  # fmt: skip
    except ApiError as error:
        fail(error)
    out.print(f"connector {made.id}: {made.vendor.title} for {made.program_label}")


@app.command("list")
def list_connectors() -> None:
    """List connectors and their status (never their credentials)."""
    db = migrated_database()
    table = Table("id", "type", "name", "program", "status", "last error")
    for c in db.call(service.list_connectors):
        table.add_row(str(c.id), c.type, c.name, c.program_label, c.status, c.last_error or "")
    out.print(table)


@app.command("snippet")
def snippet(connector_id: Annotated[str, typer.Argument(help="The connector's id.")]) -> None:
    """Print the template merge syntax, with the program's fallback URL."""
    db = migrated_database()
    try:
        found = db.call(service.snippet, connector_id)
    except ApiError as error:
        fail(error)
    for kind, text in found["snippets"].items():
        out.print(f"[bold]{kind}[/bold]")
        print(text)
